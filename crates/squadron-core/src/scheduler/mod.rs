//! The squad scheduler: a sans-IO state machine, `handle(event, now) -> Vec<Command>`.
//!
//! The async runtime runs each [`Command`] through the ports and reports the outcome back
//! as an [`Event`]; the [`Scheduler`] decides what happens next. It owns every legal move
//! between [`Phase`](crate::domain::Phase)s, the concurrency limit, blocked-by ordering,
//! the review-round cap, retries of failed steps, the merge gate's waits and re-asks, the
//! merge lanes per base branch and restoring after a restart, so all of it is testable
//! without tokio, HTTP or a clock.

mod command;
mod event;
mod machine;
mod refusal;
mod retry;

pub use command::{Command, RunSummary, SquadOutcome};
pub use event::{
    BudgetScope, CancelTarget, DiagnosisSummary, Event, FailedCheck, HandBack, LandedChange,
    MergeRejection, RebaseConflict, RefusedRerun, SkippedSquad, SquadSpec, Verification,
};
pub use machine::{PersistedSquad, Scheduler, SchedulerConfig, SquadStatus};
pub use refusal::Refusal;
pub use retry::RetryPolicy;
