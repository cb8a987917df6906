//! Refusals: events the scheduler will not act on, with what it knows about why.
//!
//! A refused event changes nothing. Refusals are expected in normal operation (a step's
//! late result for a squad that was cancelled meanwhile), so the runtime logs them and
//! carries on.

use crate::domain::{IssueKey, Phase, RunId, SquadId};
use crate::gate::CommitSha;
use crate::merge_queue::MergeLane;

/// Why the scheduler refused an event or a restore.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The event names a squad the scheduler does not track.
    #[error(
        "handle `{event}` for squad {squad}: no such squad is scheduled (unknown, or its run \
         finished)"
    )]
    UnknownSquad {
        /// The squad named.
        squad: SquadId,
        /// The event's name.
        event: &'static str,
    },
    /// The event names a run the scheduler does not track.
    #[error("handle `{event}` for run {run}: no such run is scheduled (unknown, or it finished)")]
    UnknownRun {
        /// The run named.
        run: RunId,
        /// The event's name.
        event: &'static str,
    },
    /// The event makes no sense in the squad's current phase.
    #[error(
        "handle `{event}` for squad {squad} ({issue}): it is {phase}, where `{event}` is not expected"
    )]
    IllegalTransition {
        /// The squad.
        squad: SquadId,
        /// Its issue.
        issue: IssueKey,
        /// Its current phase.
        phase: Phase,
        /// The event's name.
        event: &'static str,
    },
    /// The event reports on a review round other than the squad's current one.
    #[error(
        "handle `{event}` for squad {squad} ({issue}): it reports round {reported} but the squad is in round {round}"
    )]
    StaleRound {
        /// The squad.
        squad: SquadId,
        /// Its issue.
        issue: IssueKey,
        /// The squad's current round.
        round: u32,
        /// The round the event reported.
        reported: u32,
        /// The event's name.
        event: &'static str,
    },
    /// Every squad of the run has already ended.
    #[error("handle `{event}` for run {run}: every squad of it has already ended")]
    RunAlreadyFinished {
        /// The run.
        run: RunId,
        /// The event's name.
        event: &'static str,
    },
    /// The run was admitted before.
    #[error("admit run {run}: it was already admitted")]
    RunAlreadyAdmitted {
        /// The run.
        run: RunId,
    },
    /// A squad id appears twice.
    #[error("admit squad {squad}: a squad with this id is already scheduled")]
    DuplicateSquad {
        /// The squad.
        squad: SquadId,
    },
    /// A squad is blocked by a squad that is not part of its run.
    #[error(
        "admit squad {squad}: its blocker {blocker} is not a squad of the same run; pass only blockers admitted or skipped in that run"
    )]
    UnknownBlocker {
        /// The blocked squad.
        squad: SquadId,
        /// The blocker it names.
        blocker: SquadId,
    },
    /// A base test's result for a head the lane is not testing.
    #[error("record the base test of {sha} on {lane}: the lane is not testing that head")]
    NotTestingBase {
        /// The lane.
        lane: MergeLane,
        /// The head reported.
        sha: CommitSha,
    },
    /// A lane asked to resume is not stopped.
    #[error("resume the merge lane {lane}: it is not stopped")]
    LaneNotStopped {
        /// The lane.
        lane: MergeLane,
    },
}
