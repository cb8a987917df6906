//! What the HTTP server asks of the pipeline runtime, as one narrow trait.
//!
//! The server never reaches the scheduler, the store or the adapters directly: every route
//! goes through [`ServerControl`], so tests drive the whole server with an in-memory fake
//! and `squadron serve` plugs in the real runtime.

use async_trait::async_trait;
use squadron_core::delivery::DeliveryReport;
use squadron_core::gate::GateTarget;
use squadron_core::lease::{DaemonId, Lease};
use squadron_core::merge_queue::MergeLane;
use squadron_core::ports::{
    JournalEntry, RunRecord, SquadEvent, SquadRecord, StoppedLane, TranscriptEntry, UsageTotals,
};
use squadron_core::{IssueKey, Role, RunId, SquadId, Timestamp};
use squadron_pipeline::{FixRequest, Waiting};
use squadron_store::DaemonRecord;
use tokio::sync::broadcast;

/// The pipeline runtime as the server sees it.
#[async_trait]
pub trait ServerControl: Send + Sync {
    /// Starts a run for a milestone URL the server already checked to be a Linear project
    /// URL, and returns its id once the run is recorded; the work goes on in the background.
    async fn start_run(&self, url: &str) -> Result<RunId, ControlError>;

    /// Starts a bug-fix squad on one issue (its key or Linear URL): reads the issue and
    /// returns the run's id once its squad is recorded, or the unfinished fix of the same
    /// issue. Fails with [`ControlErrorKind::NotFound`] for an issue the tracker does not
    /// know. Slow (it reads the tracker): the Slack route calls it after acknowledging.
    async fn start_fix(&self, request: FixRequest) -> Result<RunId, ControlError>;

    /// One run and its squads.
    async fn run(&self, id: &RunId) -> Result<RunView, ControlError>;

    /// Every squad, newest run first, in creation order within a run.
    async fn squads(&self) -> Result<Vec<SquadView>, ControlError>;

    /// Every run with its squads, newest first.
    async fn runs(&self) -> Result<Vec<RunView>, ControlError>;

    /// One squad with its event log, transcript, usage per role and side effects.
    async fn squad_detail(&self, id: &SquadId) -> Result<SquadDetail, ControlError>;

    /// Cancels the unfinished squads working `issue` (the issue was canceled in Linear).
    async fn cancel_issue(&self, issue: &IssueKey) -> Result<CancelOutcome, ControlError>;

    /// Asks the runtime to re-evaluate promptly the PRs `target` names (a review, check or
    /// push arrived), instead of waiting for its next poll.
    async fn reevaluate(&self, target: &GateTarget) -> Result<(), ControlError>;

    /// A feed of squad changes from now on. A receiver that falls behind gets
    /// [`broadcast::error::RecvError::Lagged`] and should re-read [`ServerControl::squads`].
    fn subscribe(&self) -> broadcast::Receiver<SquadView>;

    /// Checks that the store answers.
    async fn health(&self) -> Result<(), ControlError>;

    /// The figures `/metrics` reports beyond what [`ServerControl::squads`] shows, over the
    /// history up to `now`.
    async fn metrics(&self, now: Timestamp) -> Result<MetricsSnapshot, ControlError>;

    /// The daemons sharing the store, and which one this is.
    async fn cluster(&self) -> Result<ClusterView, ControlError>;

    /// The merge lanes stop the line stopped, by repository and base.
    async fn lane_stops(&self) -> Result<Vec<StoppedLane>, ControlError>;

    /// Opens a stopped merge lane and returns what had stopped it; fails with
    /// [`ControlErrorKind::NotFound`] when the lane is not stopped. The runtime holding the
    /// lane lets its next PR merge at its next tick.
    async fn resume_lane(&self, lane: &MergeLane) -> Result<StoppedLane, ControlError>;

    /// Stops starting new work and checkpoints in-flight work into the store; returns once
    /// nothing is left unrecorded. Squads left unfinished resume at the next start.
    async fn shutdown(&self);
}

/// A merged squad's change taken back, as `squadron revert` takes it: what `/squad revert`
/// asks of the daemon (`Server::with_reverts`). It needs no squad runtime, so any daemon
/// sharing the store carries it out itself.
#[async_trait]
pub trait Reverts: Send + Sync {
    /// Opens a PR reverting the merge of `issue`'s newest squad, to be reviewed like any
    /// change, reopens the issue and records the change failure; `requested_by` names who
    /// asked. Returns what was done, in a sentence. Slow (Git, GitHub, Linear): the Slack
    /// route calls it after acknowledging.
    async fn revert(&self, issue: &IssueKey, requested_by: &str) -> Result<String, ControlError>;
}

/// The daemons sharing the store, as `/api/daemons` shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterView {
    /// The daemon answering, when it registered with the store (`squadron serve` does).
    pub this: Option<DaemonId>,
    /// Every daemon ever registered, by id.
    pub daemons: Vec<DaemonRecord>,
    /// The lease of the daemon that runs (or last ran) the squads of the store.
    pub runtime: Option<Lease>,
    /// Every lease of the store (the runtime's, each squad's, …), live or not.
    pub leases: Vec<Lease>,
}

/// A squad with what its model calls used so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SquadView {
    /// The squad as recorded.
    pub record: SquadRecord,
    /// Its usage so far.
    pub usage: UsageTotals,
    /// What the runtime running it knows beyond the store, when that runtime is this
    /// daemon's; `None` for a squad of another replica, or an ended one.
    pub live: Option<LiveSquad>,
    /// Without `live`: why the merge gate holds it, from its event log.
    pub gate_hold: Option<String>,
}

/// What only the runtime running a squad knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveSquad {
    /// Its issue's title, once read.
    pub title: String,
    /// The agents in a turn right now.
    pub at_work: Vec<Role>,
    /// What it waits for, beyond its own agents.
    pub waiting: Option<Waiting>,
}

/// A run with its squads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunView {
    /// The run as recorded.
    pub run: RunRecord,
    /// Its squads, in creation order.
    pub squads: Vec<SquadView>,
}

/// Everything recorded about one squad, for its page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SquadDetail {
    /// The squad with its usage.
    pub squad: SquadView,
    /// Its run, when it could be read.
    pub run: Option<RunRecord>,
    /// Its event log, oldest first.
    pub events: Vec<SquadEvent>,
    /// Every agent message, oldest first.
    pub transcript: Vec<TranscriptEntry>,
    /// What each role's model calls used.
    pub usage_by_role: Vec<(Role, UsageTotals)>,
    /// Its journaled side effects (PR, pushes, reviews, merge), with their attempts.
    pub side_effects: Vec<JournalEntry>,
}

/// What a cancellation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelOutcome {
    /// The squads asked to stop; empty when no unfinished squad works the issue.
    pub cancelled: Vec<SquadId>,
}

/// Figures for `/metrics` that need the store's history.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// Usage of every run so far, per role; roles without calls may be left out.
    pub usage_by_role: Vec<(Role, UsageTotals)>,
    /// Delivery metrics over the whole history: merges, lead times, change failures, time
    /// to restore, flow, load and distribution, in total and per repository.
    pub delivery: DeliveryReport,
}

/// Why the runtime could not do what a route asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ControlError {
    kind: ControlErrorKind,
    message: String,
}

/// The kind of a [`ControlError`], which decides the HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlErrorKind {
    /// The run or squad does not exist (404).
    NotFound,
    /// The request cannot be carried out as given, e.g. the milestone cannot be resolved
    /// (400).
    Invalid,
    /// The runtime or the store cannot take requests now (shutting down, store down): try
    /// again later (503).
    Unavailable,
    /// A bug or an unexpected failure (500).
    Internal,
}

impl ControlError {
    /// A failure of `kind`; `message` is a lowercase fragment naming what failed, e.g.
    /// "find run `r-1`: no such run".
    pub fn new(kind: ControlErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The failure's kind.
    pub fn kind(&self) -> ControlErrorKind {
        self.kind
    }

    /// What failed.
    pub fn message(&self) -> &str {
        &self.message
    }
}
