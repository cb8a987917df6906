//! What a step's task reports back to the runtime's loop: events for the scheduler, intake
//! results and updates of the live view.

use squadron_core::scheduler::Event;
use squadron_core::{Issue, IssueKey, RunId, SquadId};

use crate::error::PipelineError;
use crate::intake::{Admitted, FixAdmitted, FixRequest};

/// What a task reports back to the loop.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// An event for the scheduler.
    Event(Event),
    /// A run's intake finished.
    Admitted(Box<Admitted>),
    /// The issue of a fix request was read.
    FixFetched {
        request: FixRequest,
        issue: Box<Issue>,
        reply: tokio::sync::oneshot::Sender<Result<RunId, PipelineError>>,
    },
    /// A fix run and its squad are recorded.
    FixAdmitted(IssueKey, Box<FixAdmitted>),
    /// A fix request failed: before its issue was known (with its reply), or while
    /// recording it (the replies wait under the issue).
    FixFailed {
        issue: Option<IssueKey>,
        error: PipelineError,
        reply: Option<tokio::sync::oneshot::Sender<Result<RunId, PipelineError>>>,
    },
    /// A run's intake failed.
    IntakeFailed {
        url: String,
        error: PipelineError,
        reply: tokio::sync::oneshot::Sender<Result<RunId, PipelineError>>,
    },
    /// Something to show about a squad.
    View(SquadId, ViewUpdate),
}

/// A change to a squad's view that no phase change carries.
#[derive(Debug)]
pub(crate) enum ViewUpdate {
    Title(String),
    PrUrl(String),
    Usage(squadron_core::ports::UsageTotals),
    Merged {
        sha: squadron_core::gate::CommitSha,
        approved_by: Vec<String>,
    },
    TimeToMerge(std::time::Duration),
}
