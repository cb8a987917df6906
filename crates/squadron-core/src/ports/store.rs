//! The store port: where the runtime records runs, squads, their event log and the
//! side-effect journal, so that a restarted daemon resumes every squad where it stood and
//! never repeats an external action.

use async_trait::async_trait;

use super::error::PortError;
use super::model::ChatMessage;
use super::recorder::{AgentRecorder, SpendScope};
use crate::domain::{
    IssueId, IssueKey, Phase, PrNumber, Role, Run, RunId, Squad, SquadId, Timestamp, TokenUsage,
    Usd,
};
use crate::effect::{EffectKey, EffectResult};
use crate::event_payload::EventPayload;
use crate::lease::Lease;
use crate::merge_queue::{LaneStop, MergeLane};

/// Where a run stands as a whole. The squads' phases say how each issue went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Squads are still working or waiting.
    Running,
    /// Every squad reached a terminal phase.
    Finished,
    /// A person stopped the run.
    Cancelled,
}

impl RunStatus {
    /// The status as stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a stored status; `None` for an unknown one.
    pub fn from_name(name: &str) -> Option<RunStatus> {
        [
            RunStatus::Running,
            RunStatus::Finished,
            RunStatus::Cancelled,
        ]
        .into_iter()
        .find(|status| status.as_str() == name)
    }
}

/// A run as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRecord {
    /// The run itself.
    pub run: Run,
    /// Where it stands.
    pub status: RunStatus,
    /// When its status last changed.
    pub updated_at: Timestamp,
}

/// A squad as recorded: the domain squad plus what the store keeps beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SquadRecord {
    /// The squad itself.
    pub squad: Squad,
    /// Linear's internal id of the squad's issue.
    pub issue_id: IssueId,
    /// Issues of the same run that must merge before this squad may start.
    pub blocked_by: Vec<IssueKey>,
    /// Issues of the same run whose squads name some of the same files and go first: this
    /// squad starts once each has ended.
    pub starts_after: Vec<IssueKey>,
    /// When the squad was created.
    pub created_at: Timestamp,
    /// When anything about the squad last changed.
    pub updated_at: Timestamp,
}

/// One squad of a run being admitted, with the events its log starts with after
/// [`SquadEvent::CREATED`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdmittedSquad {
    /// The squad: `Queued` when admitted, in its terminal phase when skipped.
    pub record: SquadRecord,
    /// Events to record with it, e.g. the comment still to post on its issue.
    pub events: Vec<EventPayload>,
}

/// One change to a squad's bookkeeping other than its phase. Each change is recorded in the
/// squad's event log together with the new value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SquadChange {
    /// A new review round started.
    Round(u32),
    /// The squad's PR was opened (or found on the code host while reconciling).
    Pr(PrNumber),
    /// The squad works on another branch.
    Branch(String),
    /// The worktree was created (`Some`) or removed (`None`).
    Worktree(Option<String>),
}

/// One entry of a squad's append-only event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SquadEvent {
    /// The squad.
    pub squad_id: SquadId,
    /// Position in the squad's log, from 1, without gaps.
    pub seq: u64,
    /// When it happened.
    pub at: Timestamp,
    /// What happened, e.g. [`SquadEvent::PHASE_CHANGED`] or a runtime-defined kind such as
    /// `review-verdict`.
    pub kind: String,
    /// Details as a JSON document, as stored.
    pub payload: String,
    /// The details as a typed value, when the kind is one of [`EventPayload`]'s and its
    /// document reads as one; `None` for the store's own kinds (phase changes, …).
    pub note: Option<EventPayload>,
    /// The squad's phase right after the event.
    pub phase: Phase,
    /// The squad's review round right after the event.
    pub round: u32,
}

impl SquadEvent {
    /// Kind of the first event of every squad.
    pub const CREATED: &'static str = "created";
    /// Kind of the event [`Store::set_phase`] appends; payload `{"from", "to", "detail"}`.
    pub const PHASE_CHANGED: &'static str = "phase-changed";
    /// Kind of the event [`Store::change_squad`] appends for [`SquadChange::Round`].
    pub const ROUND_CHANGED: &'static str = "round-changed";
    /// Kind of the event [`Store::change_squad`] appends for [`SquadChange::Pr`].
    pub const PR_LINKED: &'static str = "pr-linked";
    /// Kind of the event [`Store::change_squad`] appends for [`SquadChange::Branch`].
    pub const BRANCH_CHANGED: &'static str = "branch-changed";
    /// Kind of the event [`Store::change_squad`] appends for [`SquadChange::Worktree`].
    pub const WORKTREE_CHANGED: &'static str = "worktree-changed";
}

/// One message of an agent's transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranscriptEntry {
    /// The squad.
    pub squad_id: SquadId,
    /// The agent's role.
    pub role: Role,
    /// Position in the squad's transcript (all roles interleaved), from 1.
    pub seq: u64,
    /// When the message was recorded.
    pub at: Timestamp,
    /// The message.
    pub message: ChatMessage,
}

/// Usage summed over many model calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageTotals {
    /// How many calls.
    pub calls: u64,
    /// Tokens used.
    pub usage: TokenUsage,
    /// What they cost.
    pub cost: Usd,
}

/// State of one journaled side effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JournalStatus {
    /// An attempt began and has not been reported done or failed: it may or may not have
    /// reached the outside world.
    Pending,
    /// The effect happened; the entry's result says what it produced.
    Done,
    /// The last attempt is known not to have happened; a new attempt may begin.
    Failed,
}

impl JournalStatus {
    /// The status as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            JournalStatus::Pending => "pending",
            JournalStatus::Done => "done",
            JournalStatus::Failed => "failed",
        }
    }

    /// Parses a stored status; `None` for an unknown one.
    pub fn from_name(name: &str) -> Option<JournalStatus> {
        [
            JournalStatus::Pending,
            JournalStatus::Done,
            JournalStatus::Failed,
        ]
        .into_iter()
        .find(|status| status.as_str() == name)
    }
}

/// One side effect in the journal, keyed by its idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    /// The idempotency key, e.g. `squad/<id>/open-pr`.
    pub key: String,
    /// The squad it belongs to, if any (run-level effects have none).
    pub squad_id: Option<SquadId>,
    /// What kind of effect, e.g. `open-pr`.
    pub kind: String,
    /// Where it stands.
    pub status: JournalStatus,
    /// How many attempts began, the current one included.
    pub attempts: u32,
    /// What a done effect produced (e.g. the PR number), or why the last attempt failed.
    pub result: Option<String>,
    /// When the first attempt began.
    pub created_at: Timestamp,
    /// When the status last changed.
    pub updated_at: Timestamp,
}

/// A stopped merge lane as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoppedLane {
    /// Why it stopped.
    pub stop: LaneStop,
    /// When.
    pub at: Timestamp,
}

/// The answer to [`Store::journal_begin`]; `R` is the recorded result of a done effect (the
/// store's text, or the typed [`EffectResult`] the port reads it as).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JournalBegin<R = EffectResult> {
    /// The caller holds the effect: perform it, then report it done or failed.
    Begun {
        /// Which attempt this is, from 1 (greater after failed attempts).
        attempt: u32,
    },
    /// The effect already happened; do not repeat it. Carries its recorded result.
    AlreadyDone(R),
    /// An earlier attempt began and never reported back (another worker holds it, or the
    /// process died mid-effect): reconcile with the outside world before acting.
    InProgress(JournalEntry),
}

/// Persistent state of runs and squads. Every phase change and every external side effect
/// goes through it first, which is what makes restarts safe.
///
/// Errors use [`PortErrorKind::Conflict`](super::PortErrorKind::Conflict) when the stored
/// state is not what the caller expected, `NotFound` for unknown ids and `Invalid` for input
/// the store refuses.
#[async_trait]
pub trait Store: AgentRecorder + Send + Sync {
    /// Records a new run with status [`RunStatus::Running`].
    async fn create_run(&self, run: &Run) -> Result<(), PortError>;

    /// One run.
    async fn run(&self, id: &RunId) -> Result<RunRecord, PortError>;

    /// Every run, newest first.
    async fn runs(&self) -> Result<Vec<RunRecord>, PortError>;

    /// Changes a run's status.
    async fn set_run_status(
        &self,
        id: &RunId,
        status: RunStatus,
        at: Timestamp,
    ) -> Result<(), PortError>;

    /// Records a new squad of an existing run and starts its event log with
    /// [`SquadEvent::CREATED`].
    async fn create_squad(&self, squad: &SquadRecord) -> Result<(), PortError>;

    /// Records a new run (status [`RunStatus::Running`]) and every one of its squads, each
    /// log started with [`SquadEvent::CREATED`] and its events, in one transaction: a crash
    /// leaves either the whole admission or nothing, never a run with some of its squads.
    async fn admit_run(&self, run: &Run, squads: &[AdmittedSquad]) -> Result<(), PortError>;

    /// One squad.
    async fn squad(&self, id: &SquadId) -> Result<SquadRecord, PortError>;

    /// The squads of one run, in creation order.
    async fn squads_of_run(&self, run_id: &RunId) -> Result<Vec<SquadRecord>, PortError>;

    /// Squads not in a terminal phase, oldest first: what a restarted daemon resumes.
    async fn unfinished_squads(&self) -> Result<Vec<SquadRecord>, PortError>;

    /// Moves a squad from `expected_from` to `to` and appends [`SquadEvent::PHASE_CHANGED`]
    /// in one transaction. Refuses with a conflict, changing nothing, when the stored phase
    /// (name and detail) is not `expected_from`.
    async fn set_phase(
        &self,
        id: &SquadId,
        expected_from: &Phase,
        to: &Phase,
        at: Timestamp,
    ) -> Result<SquadEvent, PortError>;

    /// Applies one bookkeeping change and appends its event in one transaction.
    async fn change_squad(
        &self,
        id: &SquadId,
        change: &SquadChange,
        at: Timestamp,
    ) -> Result<SquadEvent, PortError>;

    /// Notes `payload` in a squad's event log, under its kind.
    async fn record_event(
        &self,
        id: &SquadId,
        payload: &EventPayload,
        at: Timestamp,
    ) -> Result<SquadEvent, PortError>;

    /// A squad's event log, in order.
    async fn events(&self, id: &SquadId) -> Result<Vec<SquadEvent>, PortError>;

    /// A squad's transcript (every role interleaved, in order), optionally for one role.
    async fn transcript(
        &self,
        id: &SquadId,
        role: Option<Role>,
    ) -> Result<Vec<TranscriptEntry>, PortError>;

    /// Usage summed over `scope`.
    async fn usage_totals(&self, scope: &SpendScope) -> Result<UsageTotals, PortError>;

    /// Usage summed over `scope`, per role, in [`Role::ALL`] order; roles without calls are
    /// left out.
    async fn usage_by_role(
        &self,
        scope: &SpendScope,
    ) -> Result<Vec<(Role, UsageTotals)>, PortError>;

    /// Claims the side effect `key` (of its squad, if any) before performing it. Atomic: of
    /// any number of callers racing on one key, exactly one gets [`JournalBegin::Begun`]. A
    /// key whose last attempt failed may begin again. Reusing a key for another squad or
    /// kind is a conflict.
    async fn journal_begin(
        &self,
        key: &EffectKey,
        at: Timestamp,
    ) -> Result<JournalBegin, PortError>;

    /// Reports a begun (or reconciled in-progress) effect done with its result.
    async fn journal_complete(
        &self,
        key: &EffectKey,
        result: &EffectResult,
        at: Timestamp,
    ) -> Result<(), PortError>;

    /// Reports that a begun effect did not happen, so a later attempt may begin.
    async fn journal_fail(
        &self,
        key: &EffectKey,
        error: &str,
        at: Timestamp,
    ) -> Result<(), PortError>;

    /// What the effect `key` produced, if it is done.
    async fn journal_result(&self, key: &EffectKey) -> Result<Option<EffectResult>, PortError>;

    /// Records that a merge lane stopped (stop the line), replacing an older record of the
    /// same lane. Written before the scheduler hears of the stop, so a restart keeps it.
    async fn stop_lane(&self, stop: &LaneStop, at: Timestamp) -> Result<(), PortError>;

    /// Opens a stopped lane again; returns whether it was stopped.
    async fn resume_lane(&self, lane: &MergeLane) -> Result<bool, PortError>;

    /// Every stopped lane.
    async fn lane_stops(&self) -> Result<Vec<StoppedLane>, PortError>;

    /// Takes `lane` for this daemon among the daemons sharing the store, at `at`, so that no
    /// other daemon merges into its base until it is released: claimed, or renewed when this
    /// daemon holds it already. `None` when this daemon holds it now (a store worked by one
    /// daemon alone needs no lane of its own: its scheduler's lanes are the store's), else
    /// the lease of the daemon that holds it. A daemon that lost the lane learns it here.
    async fn take_merge_lane(
        &self,
        lane: &MergeLane,
        at: Timestamp,
    ) -> Result<Option<Lease>, PortError>;

    /// Releases `lane` if this daemon holds it, so another daemon's squads may merge.
    async fn release_merge_lane(&self, lane: &MergeLane, at: Timestamp) -> Result<(), PortError>;
}
