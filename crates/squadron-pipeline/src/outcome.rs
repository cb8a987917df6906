//! What a step's task reports back to the runtime's loop: events for the scheduler, merge-lane
//! traffic, intake results and updates of the live view.

use squadron_core::scheduler::Event;
use squadron_core::{Issue, IssueKey, PrNumber, RunId, SquadId};

use crate::error::PipelineError;
use crate::handle::GateTarget;
use crate::intake::{Admitted, FixAdmitted, FixRequest};

/// What a task reports back to the loop.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// An event for the scheduler.
    Event(Event),
    /// The gate let the PR through: it joins its base's merge lane.
    GatePassed {
        squad: SquadId,
        pr: PrNumber,
        base: String,
    },
    /// The ticket holder's merge attempt ended; `event` reports it to the scheduler.
    MergeAttempted {
        squad: SquadId,
        landed: bool,
        event: Event,
    },
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
    /// The gate read the squad's PR: what code-host events concern it.
    GateRead { squad: SquadId, watch: GateWatch },
}

/// What identifies a squad's PR in code-host events, as its last gate read saw it.
#[derive(Clone, Debug)]
pub(crate) struct GateWatch {
    pub repo: squadron_core::ports::RepoRef,
    pub pr: PrNumber,
    pub branch: String,
    pub base_branch: String,
    pub head: squadron_core::gate::CommitSha,
}

impl GateWatch {
    pub(crate) fn concerned_by(&self, target: &GateTarget) -> bool {
        match target {
            GateTarget::PullRequest { repo, pr } => *repo == self.repo && *pr == self.pr,
            GateTarget::Commit { repo, sha } => *repo == self.repo && *sha == self.head,
            GateTarget::Branch { repo, branch } => {
                *repo == self.repo && (*branch == self.branch || *branch == self.base_branch)
            }
        }
    }
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
