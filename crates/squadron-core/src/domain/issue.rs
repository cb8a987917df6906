//! Issues, milestones and projects as Squadron needs them from the issue tracker.

use super::ids::{IssueId, IssueKey, MilestoneId, ProjectId};
use crate::acceptance::Scenario;

/// The kind of workflow state an issue is in (Linear's `WorkflowState.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StateType {
    /// Not yet sorted.
    Triage,
    /// Known but not planned.
    Backlog,
    /// Planned, not started.
    Unstarted,
    /// In progress (including in review).
    Started,
    /// Done.
    Completed,
    /// Dropped.
    Canceled,
    /// Closed as a duplicate of another issue.
    Duplicate,
}

impl StateType {
    /// Linear's name for the type.
    pub const fn as_str(self) -> &'static str {
        match self {
            StateType::Triage => "triage",
            StateType::Backlog => "backlog",
            StateType::Unstarted => "unstarted",
            StateType::Started => "started",
            StateType::Completed => "completed",
            StateType::Canceled => "canceled",
            StateType::Duplicate => "duplicate",
        }
    }

    /// Parses Linear's name for the type.
    pub fn parse(name: &str) -> Option<StateType> {
        Some(match name {
            "triage" => StateType::Triage,
            "backlog" => StateType::Backlog,
            "unstarted" => StateType::Unstarted,
            "started" => StateType::Started,
            "completed" => StateType::Completed,
            "canceled" => StateType::Canceled,
            "duplicate" => StateType::Duplicate,
            _ => return None,
        })
    }

    /// Whether no more work is expected on an issue in this state.
    pub const fn is_closed(self) -> bool {
        matches!(
            self,
            StateType::Completed | StateType::Canceled | StateType::Duplicate
        )
    }
}

/// A workflow state: its team-specific name and its kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueState {
    /// The state's display name, e.g. `In Review`.
    pub name: String,
    /// What kind of state it is.
    pub kind: StateType,
}

/// Linear's priority scale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// No priority set (Linear's 0).
    #[default]
    None,
    /// Linear's 1.
    Urgent,
    /// Linear's 2.
    High,
    /// Linear's 3.
    Medium,
    /// Linear's 4.
    Low,
}

impl Priority {
    /// Maps Linear's numeric priority; unknown numbers mean no priority.
    pub fn from_linear(value: i64) -> Priority {
        match value {
            1 => Priority::Urgent,
            2 => Priority::High,
            3 => Priority::Medium,
            4 => Priority::Low,
            _ => Priority::None,
        }
    }

    /// Sort rank: urgent first, no priority last.
    pub const fn rank(self) -> u8 {
        match self {
            Priority::Urgent => 0,
            Priority::High => 1,
            Priority::Medium => 2,
            Priority::Low => 3,
            Priority::None => 4,
        }
    }
}

/// A file or link attached to an issue (Sentry links arrive this way).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The attachment's title.
    pub title: String,
    /// Where it points.
    pub url: String,
    /// The integration that created it, when known (e.g. `sentry`).
    pub source: Option<String>,
}

/// One issue of the tracker, with everything a squad needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    /// Internal id.
    pub id: IssueId,
    /// Human identifier, `ENG-123`.
    pub key: IssueKey,
    /// Title.
    pub title: String,
    /// Description (Markdown); untrusted text.
    pub description: String,
    /// Acceptance scenarios parsed from the description.
    pub acceptance_criteria: Vec<Scenario>,
    /// Estimate in the team's points, when set.
    pub estimate: Option<f64>,
    /// Priority.
    pub priority: Priority,
    /// Current workflow state.
    pub state: IssueState,
    /// Label names.
    pub labels: Vec<String>,
    /// The git branch name the tracker suggests for this issue.
    pub branch_name: String,
    /// Link to the issue.
    pub url: String,
    /// Key of the team owning the issue (`ENG`); maps to a repository.
    pub team_key: String,
    /// Issues that block this one (inverse `blocks` relations).
    pub blocked_by: Vec<BlockingIssue>,
    /// Attachments.
    pub attachments: Vec<Attachment>,
}

/// An issue that blocks another, with enough to decide whether it still blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockingIssue {
    /// Internal id.
    pub id: IssueId,
    /// Human identifier.
    pub key: IssueKey,
    /// Its state kind when the relation was read.
    pub state: StateType,
}

/// Linear's milestone progress status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MilestoneStatus {
    /// All issues done.
    Done,
    /// The next milestone to work on.
    Next,
    /// Past its target date.
    Overdue,
    /// Not started.
    Unstarted,
}

/// A project milestone.
#[derive(Clone, Debug, PartialEq)]
pub struct Milestone {
    /// Internal id.
    pub id: MilestoneId,
    /// Display name.
    pub name: String,
    /// Position among the project's milestones.
    pub sort_order: f64,
    /// Progress status.
    pub status: MilestoneStatus,
}

/// A tracker project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    /// Internal id.
    pub id: ProjectId,
    /// Display name.
    pub name: String,
    /// The 12-hex slug id at the end of project URLs.
    pub slug_id: String,
    /// Link to the project.
    pub url: String,
}
