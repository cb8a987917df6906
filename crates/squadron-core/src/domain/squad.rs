//! Squads and the phases they move through.

use std::fmt;

use super::ids::{IssueKey, RunId, SquadId};

/// Where a squad stands. The scheduler owns the legal moves between phases.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Admitted, waiting for a slot or for its blockers to merge.
    Queued,
    /// Preparing its worktree and moving the issue to started.
    Preparing,
    /// Bug-fix squads only: the diagnostician investigates first.
    Diagnosing,
    /// Developer and QA work in the worktree.
    Implementing,
    /// Guardrails and the test command run before the commit.
    Verifying,
    /// The branch is pushed and the PR is open.
    PrOpen,
    /// Both reviewers review the current head.
    Reviewing,
    /// Developer (and QA) address review findings.
    Fixing,
    /// Developer (and QA for test files) fix a required check that fails because of the PR.
    FixingChecks,
    /// Developer (and QA for test files) resolve the conflicts of the branch's change with a
    /// base that moved on (another PR landed on the same lines).
    ResolvingConflicts,
    /// Both reviewers approved the current head; waiting for the merge queue.
    Approved,
    /// The merge queue is merging the PR.
    Merging,
    /// Terminal: the PR merged.
    Merged,
    /// Terminal: a person must look; the reason says why.
    NeedsHuman(String),
    /// Terminal: an error the squad could not recover from.
    Failed(String),
    /// Terminal: cancelled by a person or by the tracker.
    Cancelled,
    /// Terminal: never started; the reason says why.
    Skipped(String),
}

impl Phase {
    /// The phase's name as stored and shown, without its reason (`needs-human`).
    pub const fn name(&self) -> &'static str {
        match self {
            Phase::Queued => "queued",
            Phase::Preparing => "preparing",
            Phase::Diagnosing => "diagnosing",
            Phase::Implementing => "implementing",
            Phase::Verifying => "verifying",
            Phase::PrOpen => "pr-open",
            Phase::Reviewing => "reviewing",
            Phase::Fixing => "fixing",
            Phase::FixingChecks => "fixing-checks",
            Phase::ResolvingConflicts => "resolving-conflicts",
            Phase::Approved => "approved",
            Phase::Merging => "merging",
            Phase::Merged => "merged",
            Phase::NeedsHuman(_) => "needs-human",
            Phase::Failed(_) => "failed",
            Phase::Cancelled => "cancelled",
            Phase::Skipped(_) => "skipped",
        }
    }

    /// The reason or error carried by a terminal phase.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Phase::NeedsHuman(text) | Phase::Failed(text) | Phase::Skipped(text) => Some(text),
            _ => None,
        }
    }

    /// Rebuilds a phase from its stored name and detail; `None` for an unknown name.
    pub fn from_parts(name: &str, detail: Option<&str>) -> Option<Phase> {
        let detail = || detail.unwrap_or_default().to_owned();
        Some(match name {
            "queued" => Phase::Queued,
            "preparing" => Phase::Preparing,
            "diagnosing" => Phase::Diagnosing,
            "implementing" => Phase::Implementing,
            "verifying" => Phase::Verifying,
            "pr-open" => Phase::PrOpen,
            "reviewing" => Phase::Reviewing,
            "fixing" => Phase::Fixing,
            "fixing-checks" => Phase::FixingChecks,
            "resolving-conflicts" => Phase::ResolvingConflicts,
            "approved" => Phase::Approved,
            "merging" => Phase::Merging,
            "merged" => Phase::Merged,
            "needs-human" => Phase::NeedsHuman(detail()),
            "failed" => Phase::Failed(detail()),
            "cancelled" => Phase::Cancelled,
            "skipped" => Phase::Skipped(detail()),
            _ => return None,
        })
    }

    /// Whether the squad has ended.
    pub const fn is_terminal(&self) -> bool {
        matches!(
            self,
            Phase::Merged
                | Phase::NeedsHuman(_)
                | Phase::Failed(_)
                | Phase::Cancelled
                | Phase::Skipped(_)
        )
    }

    /// Whether the squad holds one of the run's concurrency slots in this phase.
    pub const fn holds_slot(&self) -> bool {
        !self.is_terminal() && !matches!(self, Phase::Queued)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.detail() {
            Some(detail) => write!(f, "{} ({detail})", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

/// What kind of work a squad does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SquadKind {
    /// A refined issue of a milestone.
    Feature,
    /// A bug fix that starts with a diagnosis.
    BugFix,
    /// The revert of an earlier squad's merge (`squadron revert`): no agent writes, the
    /// revert commit is the change, both reviewers review it like any change, and it may
    /// merge through a merge lane stop the line stopped, being the way out.
    Revert,
}

/// A pull request number on the code host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrNumber(pub u64);

impl fmt::Display for PrNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One squad as recorded: which issue, where it stands, and where its work lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Squad {
    /// Id.
    pub id: SquadId,
    /// The run it belongs to.
    pub run_id: RunId,
    /// The issue it works.
    pub issue: IssueKey,
    /// Feature or bug fix.
    pub kind: SquadKind,
    /// Current phase.
    pub phase: Phase,
    /// Review round, starting at 0 before the first review.
    pub round: u32,
    /// The PR, once open.
    pub pr: Option<PrNumber>,
    /// The branch it works on.
    pub branch: String,
    /// The worktree path, once created.
    pub worktree: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_round_trip_through_their_stored_parts() {
        let phases = [
            Phase::Queued,
            Phase::Preparing,
            Phase::Diagnosing,
            Phase::Implementing,
            Phase::Verifying,
            Phase::PrOpen,
            Phase::Reviewing,
            Phase::Fixing,
            Phase::FixingChecks,
            Phase::ResolvingConflicts,
            Phase::Approved,
            Phase::Merging,
            Phase::Merged,
            Phase::NeedsHuman("round cap".into()),
            Phase::Failed("push refused".into()),
            Phase::Cancelled,
            Phase::Skipped("no scenarios".into()),
        ];
        for phase in phases {
            assert_eq!(
                Phase::from_parts(phase.name(), phase.detail()),
                Some(phase.clone())
            );
        }
        assert_eq!(Phase::from_parts("waiting", None), None);
    }
}
