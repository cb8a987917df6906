//! The issue tracker port: resolve a pasted milestone URL, read issues, and keep the tracker
//! in step with the squads (comments, workflow states, pull-request links).
//!
//! Linear is the one implementation today. Every write is idempotent across restarts: an
//! implementation checks the tracker's own state (a hidden marker in comment bodies, the
//! issue's current state, its attachments) before writing, and reports what it found.

use std::fmt;

use async_trait::async_trait;

use super::error::PortError;
use crate::domain::{Issue, IssueKey, Milestone, Project};

/// Why a milestone was chosen as the one to work on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MilestoneChoice {
    /// The pasted URL named it (`#milestone-<id>`).
    NamedInUrl,
    /// The URL named none; this is the first by sort order whose status is not done.
    FirstNotDone,
}

impl fmt::Display for MilestoneChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MilestoneChoice::NamedInUrl => "named in the URL",
            MilestoneChoice::FirstNotDone => {
                "the URL names no milestone; this is the first by sort order that is not done"
            }
        })
    }
}

/// A resolved milestone with every issue in it.
#[derive(Clone, Debug, PartialEq)]
pub struct MilestoneIntake {
    /// The project the URL named.
    pub project: Project,
    /// All milestones of the project, by sort order.
    pub milestones: Vec<Milestone>,
    /// The milestone to work on.
    pub milestone: Milestone,
    /// Why that one.
    pub choice: MilestoneChoice,
    /// Every issue of the milestone, in the tracker's order.
    pub issues: Vec<Issue>,
}

/// Where a squad's progress moves its issue; the tracker maps each to one of the issue's
/// team's workflow states (found by type, names configurable per team).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorkflowTarget {
    /// The squad started.
    Started,
    /// The squad's pull request is open for review.
    InReview,
    /// The pull request merged.
    Done,
    /// The merge was reverted: the issue goes back to its started state from wherever it
    /// is, the one move that goes backwards.
    Reopened,
}

impl fmt::Display for WorkflowTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WorkflowTarget::Started => "started",
            WorkflowTarget::InReview => "in review",
            WorkflowTarget::Done => "done",
            WorkflowTarget::Reopened => "reopened",
        })
    }
}

/// What an idempotent write found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// The write was made.
    Applied,
    /// The tracker already showed it (a restart, or a person did it); nothing was written.
    AlreadyDone,
}

/// The issue tracker, as the pipeline uses it.
#[async_trait]
pub trait IssueTracker: Send + Sync {
    /// Resolves a pasted project URL to its active milestone and that milestone's issues.
    async fn resolve_milestone(&self, project_url: &str) -> Result<MilestoneIntake, PortError>;

    /// Reads one issue by its identifier (`ENG-123`) or its URL.
    async fn fetch_issue(&self, issue: &str) -> Result<Issue, PortError>;

    /// Posts `body` on the issue unless a comment carrying `marker` is already there.
    async fn comment_once(
        &self,
        issue: &IssueKey,
        marker: &str,
        body: &str,
    ) -> Result<SyncOutcome, PortError>;

    /// Moves the issue to its team's state for `target`, unless it is already there.
    async fn move_issue(
        &self,
        issue: &IssueKey,
        target: WorkflowTarget,
    ) -> Result<SyncOutcome, PortError>;

    /// Links a pull request to the issue, unless that URL is already attached.
    async fn link_pull_request(
        &self,
        issue: &IssueKey,
        url: &str,
        title: &str,
    ) -> Result<SyncOutcome, PortError>;
}
