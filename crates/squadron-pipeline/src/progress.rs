//! The live view of every run and squad the runtime knows, published on a
//! `tokio::sync::watch` channel for the CLI's progress lines and the server's API.

use std::fmt;
use std::time::Duration;

use squadron_core::gate::{CommitSha, GateBlocker, GateDecision};
use squadron_core::merge_queue::MergeLane;
use squadron_core::{IssueKey, Phase, PrNumber, Role, RunId, SquadId, SquadKind, TokenUsage, Usd};

/// One squad as shown: issue, phase, who is at work, what it waits for, round, PR, tokens,
/// cost.
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
    /// The issues of its run that block it (Linear `blocks`), as admitted.
    pub blocked_by: Vec<IssueKey>,
    /// The agents in a turn for it right now, in the order they started.
    pub at_work: Vec<Role>,
    /// What it waits for, when it waits on something other than its own agents.
    pub waiting: Option<Waiting>,
}

/// What a squad waits for, beyond its own agents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// Queued until these issues of its run merge.
    Blockers(Vec<IssueKey>),
    /// Queued until the squads of these issues of its run end: they name some of the same
    /// files and go first.
    SharedFiles(Vec<IssueKey>),
    /// Queued for a free slot under the concurrency limit.
    Slot,
    /// Approved and in its base branch's merge lane, behind `ahead` merges.
    MergeLane {
        /// Merges before its own, the one in progress included.
        ahead: usize,
    },
    /// Approved, and held by the merge gate for these reasons (checks not green yet, a
    /// review missing or stale, …).
    Gate(Vec<GateBlocker>),
    /// Approved; the code host is still computing whether the PR merges cleanly.
    Mergeability,
    /// Approved and in a merge lane that stopped because the base's tests failed after
    /// `failing` merged (stop the line): nothing merges there until a person acts.
    LaneStopped {
        /// The stopped lane.
        lane: MergeLane,
        /// The merge after which the tests failed.
        failing: IssueKey,
    },
}

impl Waiting {
    /// What a squad in `phase` waits for: when queued, the blockers not merged yet
    /// (`open_blockers`) or else a slot; when approved, its place in the merge lane
    /// (`lane_ahead`, `None` when not in a lane) or else the gate's last answer.
    pub fn of(
        phase: &Phase,
        open_blockers: Vec<IssueKey>,
        lane_ahead: Option<usize>,
        gate: Option<&GateDecision>,
    ) -> Option<Waiting> {
        match phase {
            Phase::Queued if open_blockers.is_empty() => Some(Waiting::Slot),
            Phase::Queued => Some(Waiting::Blockers(open_blockers)),
            Phase::Approved => match (lane_ahead, gate) {
                (Some(ahead), _) if ahead > 0 => Some(Waiting::MergeLane { ahead }),
                (Some(_), _) | (None, None | Some(GateDecision::Merge)) => None,
                (None, Some(GateDecision::AskAgainShortly)) => Some(Waiting::Mergeability),
                (None, Some(GateDecision::Blocked(blockers))) => {
                    Some(Waiting::Gate(blockers.clone()))
                }
            },
            _ => None,
        }
    }

    /// A stable one-word name for machines: `blockers`, `shared-files`, `slot`,
    /// `merge-lane`, `gate`, `mergeability`, `lane-stopped`.
    pub fn kind(&self) -> &'static str {
        match self {
            Waiting::Blockers(_) => "blockers",
            Waiting::SharedFiles(_) => "shared-files",
            Waiting::Slot => "slot",
            Waiting::MergeLane { .. } => "merge-lane",
            Waiting::Gate(_) => "gate",
            Waiting::Mergeability => "mergeability",
            Waiting::LaneStopped { .. } => "lane-stopped",
        }
    }
}

/// The sentence every surface shows: `waits for ENG-1 to merge`.
impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Waiting::Blockers(blockers) => {
                f.write_str("waits for ")?;
                for (index, blocker) in blockers.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(blocker.as_str())?;
                }
                f.write_str(" to merge")
            }
            Waiting::SharedFiles(first) => {
                let names: Vec<&str> = first.iter().map(IssueKey::as_str).collect();
                write!(
                    f,
                    "waits for {} to finish: both name some of the same files",
                    names.join(", ")
                )
            }
            Waiting::Slot => f.write_str("waits for a free slot"),
            Waiting::MergeLane { ahead: 1 } => {
                f.write_str("waits in the merge lane behind 1 merge")
            }
            Waiting::MergeLane { ahead } => {
                write!(f, "waits in the merge lane behind {ahead} merges")
            }
            Waiting::Gate(blockers) => {
                f.write_str("waits at the merge gate: ")?;
                for (index, blocker) in blockers.iter().enumerate() {
                    if index > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{blocker}")?;
                }
                Ok(())
            }
            Waiting::Mergeability => f.write_str("waits for the code host to compute mergeability"),
            Waiting::LaneStopped { lane, failing } => write!(
                f,
                "waits: the merge lane {lane} stopped when the tests failed after {failing} \
                 merged (`squadron revert {failing}` or `squadron resume-lane {} {}`)",
                lane.repo, lane.base
            ),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(keys: &[&str]) -> Vec<IssueKey> {
        keys.iter().map(|key| IssueKey::from(*key)).collect()
    }

    #[test]
    fn a_queued_squad_waits_for_its_open_blockers_or_a_slot() {
        let waiting = Waiting::of(&Phase::Queued, keys(&["ENG-1", "ENG-2"]), None, None);
        assert_eq!(
            waiting.map(|waiting| waiting.to_string()).as_deref(),
            Some("waits for ENG-1, ENG-2 to merge")
        );
        assert_eq!(
            Waiting::of(&Phase::Queued, Vec::new(), None, None),
            Some(Waiting::Slot)
        );
    }

    #[test]
    fn an_approved_squad_waits_for_the_lane_before_the_gate() {
        let pending = GateDecision::Blocked(vec![GateBlocker::CheckPending {
            name: "ci".to_owned(),
        }]);
        let in_lane = Waiting::of(&Phase::Approved, Vec::new(), Some(2), Some(&pending));
        assert_eq!(in_lane, Some(Waiting::MergeLane { ahead: 2 }));
        assert_eq!(
            in_lane.map(|waiting| waiting.to_string()).as_deref(),
            Some("waits in the merge lane behind 2 merges")
        );
        let at_gate = Waiting::of(&Phase::Approved, Vec::new(), None, Some(&pending));
        assert_eq!(
            at_gate.as_ref().map(ToString::to_string).as_deref(),
            Some("waits at the merge gate: required check `ci` is pending")
        );
        assert_eq!(at_gate.map(|waiting| waiting.kind()), Some("gate"));
        assert_eq!(
            Waiting::of(
                &Phase::Approved,
                Vec::new(),
                None,
                Some(&GateDecision::AskAgainShortly)
            ),
            Some(Waiting::Mergeability)
        );
        assert_eq!(
            Waiting::of(&Phase::Approved, Vec::new(), Some(0), None),
            None
        );
    }

    #[test]
    fn a_working_or_ended_squad_waits_for_nothing() {
        for phase in [
            Phase::Implementing,
            Phase::Reviewing,
            Phase::Merging,
            Phase::Merged,
        ] {
            assert_eq!(Waiting::of(&phase, keys(&["ENG-1"]), Some(1), None), None);
        }
    }
}
