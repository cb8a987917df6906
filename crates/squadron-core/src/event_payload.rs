//! What the runtime notes in a squad's event log beside its phase changes, as typed values:
//! the store crate alone knows their stored JSON (a [`SquadEvent`](crate::ports::SquadEvent)'s
//! `payload`), and each one's kind is named here once.

use crate::effect::EffectKey;
use crate::gate::CommitSha;

/// One note in a squad's event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventPayload {
    /// The merge gate decided.
    GateDecision {
        /// `merge`, `wait`, `blocked` or `rebase`.
        decision: String,
        /// Every reason, as people read them.
        reasons: Vec<String>,
        /// The head the gate read, if it read one.
        head: Option<CommitSha>,
    },
    /// Something is tried again.
    Retry {
        /// What: a side effect's kind, a step's command, `tests`, …
        what: String,
        /// Which attempt this is, from 2.
        attempt: u32,
        /// Why the last attempt did not do.
        why: String,
    },
    /// A failed required check was asked to run again on the same commit (suspected flaky).
    CheckRerun {
        /// The check's name.
        check: String,
        /// The commit.
        sha: CommitSha,
    },
    /// A required check that failed and was run again passed on the same commit.
    FlakyCheck {
        /// The check's name.
        check: String,
        /// The commit.
        sha: CommitSha,
    },
    /// A CI-fix round started: the failing checks went back to the agents.
    CiFix {
        /// The round.
        round: u32,
        /// The failing checks' names.
        checks: Vec<String>,
    },
    /// A conflict-resolution round started: a rebase stopped on conflicts and they went to
    /// the agents.
    ConflictRound {
        /// The round.
        round: u32,
        /// The conflicting files.
        files: Vec<String>,
        /// The issues of the PRs on the base the branch conflicts with.
        landed: Vec<String>,
    },
    /// A post to the squad's chat thread failed; the squad carried on.
    NotifyFailed {
        /// The post.
        key: EffectKey,
        /// Why it failed.
        error: String,
    },
}

impl EventPayload {
    /// Kind of [`EventPayload::GateDecision`].
    pub const GATE_DECISION: &'static str = "gate-decision";
    /// Kind of [`EventPayload::Retry`].
    pub const RETRY: &'static str = "retry";
    /// Kind of [`EventPayload::CheckRerun`].
    pub const CHECK_RERUN: &'static str = "check-rerun";
    /// Kind of [`EventPayload::FlakyCheck`].
    pub const FLAKY_CHECK: &'static str = "flaky-check";
    /// Kind of [`EventPayload::CiFix`].
    pub const CI_FIX: &'static str = "ci-fix";
    /// Kind of [`EventPayload::ConflictRound`].
    pub const CONFLICT_ROUND: &'static str = "conflict-round";
    /// Kind of [`EventPayload::NotifyFailed`].
    pub const NOTIFY_FAILED: &'static str = "notify-failed";

    /// The event's kind, as the log records it and readers filter on.
    pub const fn kind(&self) -> &'static str {
        match self {
            EventPayload::GateDecision { .. } => Self::GATE_DECISION,
            EventPayload::Retry { .. } => Self::RETRY,
            EventPayload::CheckRerun { .. } => Self::CHECK_RERUN,
            EventPayload::FlakyCheck { .. } => Self::FLAKY_CHECK,
            EventPayload::CiFix { .. } => Self::CI_FIX,
            EventPayload::ConflictRound { .. } => Self::CONFLICT_ROUND,
            EventPayload::NotifyFailed { .. } => Self::NOTIFY_FAILED,
        }
    }
}
