//! Domain types shared by every crate.

pub mod failure;
pub mod ids;
pub mod issue;
pub mod money;
pub mod review;
pub mod role;
pub mod run;
pub mod squad;
pub mod time;

pub use failure::{FailureKind, StepFailure};
pub use ids::{IssueId, IssueKey, MilestoneId, ProjectId, RunId, SquadId};
pub use issue::{
    Attachment, BlockingIssue, Issue, IssueState, Milestone, MilestoneStatus, Priority, Project,
    StateType,
};
pub use money::{TokenPrices, TokenUsage, Usd};
pub use review::{Review, ReviewComment, ReviewVerdict};
pub use role::{Role, UnknownRole};
pub use run::{Run, RunTrigger};
pub use squad::{Phase, PrNumber, Squad, SquadKind};
pub use time::Timestamp;
