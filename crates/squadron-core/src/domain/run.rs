//! Runs: one pasted milestone URL or one fix trigger, and the squads it starts.

use super::ids::{IssueKey, RunId};
use super::time::Timestamp;

/// What started a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunTrigger {
    /// A developer pasted a project URL (CLI `run` or `POST /api/runs`).
    Milestone {
        /// The URL as pasted.
        url: String,
    },
    /// A bug fix started from Slack or `squadron fix`.
    Fix {
        /// The issue to fix.
        issue: IssueKey,
        /// Who asked (a Slack user or `cli`).
        requested_by: String,
        /// The Slack channel to report to, when started from Slack.
        slack_channel: Option<String>,
    },
    /// The revert of a squad's merge, taken through review (`squadron revert` without
    /// `--now`, or `/squad revert` in Slack).
    Revert {
        /// The issue whose merge is reverted.
        issue: IssueKey,
        /// Who asked (a Slack user or `cli`).
        requested_by: String,
    },
}

/// One run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// Id.
    pub id: RunId,
    /// What started it.
    pub trigger: RunTrigger,
    /// When it was created.
    pub created_at: Timestamp,
}
