//! The live view of every run and squad the runtime knows, published on a
//! `tokio::sync::watch` channel for the CLI's progress lines and the server's API.

use std::time::Duration;

use squadron_core::gate::CommitSha;
use squadron_core::{IssueKey, Phase, PrNumber, RunId, SquadId, SquadKind, TokenUsage, Usd};

/// One squad as shown: issue, phase, round, PR, tokens, cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SquadView {
    /// Its run.
    pub run: RunId,
    /// The squad.
    pub squad: SquadId,
    /// Its issue (`ENG-123`).
    pub issue: IssueKey,
    /// A milestone's feature or a bug fix (which starts with a diagnosis).
    pub kind: SquadKind,
    /// The issue's title, once read.
    pub title: String,
    /// Where it stands; terminal phases carry their reason.
    pub phase: Phase,
    /// Its review round (0 before the first review).
    pub round: u32,
    /// Its PR, once open.
    pub pr: Option<PrNumber>,
    /// The PR's page, once open.
    pub pr_url: Option<String>,
    /// The commit its merge produced on the base branch.
    pub merged_sha: Option<CommitSha>,
    /// Logins whose approvals on the merged head let it merge.
    pub approved_by: Vec<String>,
    /// Tokens its agents used.
    pub tokens: TokenUsage,
    /// What they cost.
    pub cost: Usd,
    /// Bug fixes only: the time from the fix trigger to the merge (time to restore).
    pub time_to_merge: Option<Duration>,
}

/// One run as shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunView {
    /// The run.
    pub id: RunId,
    /// The milestone URL it was started from, when it was.
    pub url: Option<String>,
    /// Whether every squad of it has ended.
    pub finished: bool,
}

/// Everything the runtime knows, replaced as a whole on every change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Runs, oldest first.
    pub runs: Vec<RunView>,
    /// Squads, in admission order within each run.
    pub squads: Vec<SquadView>,
}

impl Progress {
    /// The squads of one run.
    pub fn squads_of(&self, run: &RunId) -> Vec<SquadView> {
        self.squads
            .iter()
            .filter(|squad| &squad.run == run)
            .cloned()
            .collect()
    }

    /// One run, if known.
    pub fn run(&self, run: &RunId) -> Option<&RunView> {
        self.runs.iter().find(|view| &view.id == run)
    }

    /// The newest squad working `issue`, if any.
    pub fn squad_for_issue(&self, issue: &IssueKey) -> Option<&SquadView> {
        self.squads.iter().rev().find(|squad| &squad.issue == issue)
    }
}
