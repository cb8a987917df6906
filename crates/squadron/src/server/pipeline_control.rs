//! [`ServerControl`] over the real squad runtime: requests go to the [`PipelineHandle`],
//! reads come from the store, and every change of the runtime's live view is re-read from
//! the store and published to the event stream.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use squadron_core::merge_queue::MergeLane;
use squadron_core::ports::StoppedLane;
use squadron_core::{IssueKey, RunId, SquadId, Timestamp};
use squadron_pipeline::{
    CancelOutcome as PipelineCancel, FixRequest, GateTarget, Pipeline, PipelineError,
    PipelineErrorKind, PipelineHandle,
};
use squadron_store::SqlStore;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::control::{
    CancelOutcome, ClusterView, ControlError, ControlErrorKind, MetricsSnapshot, RunView,
    ServerControl, SquadDetail, SquadView,
};
use super::store_reads::StoreReads;

/// How many squad changes a slow event-stream client may fall behind before it is told to
/// resync.
pub(crate) const UPDATE_BUFFER: usize = 256;

/// The running pipeline behind the server.
pub struct PipelineControl {
    handle: PipelineHandle,
    reads: Arc<StoreReads>,
    updates: broadcast::Sender<SquadView>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    runtime: tokio::sync::Mutex<Option<JoinHandle<Result<(), PipelineError>>>>,
    feed: JoinHandle<()>,
}

impl std::fmt::Debug for PipelineControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineControl").finish_non_exhaustive()
    }
}

impl PipelineControl {
    /// Starts `pipeline` (which first resumes every unfinished squad from the store) and
    /// the feed that turns its live view into squad events. Call within a Tokio runtime.
    pub fn start(pipeline: Pipeline, store: Arc<SqlStore>) -> PipelineControl {
        Self::start_publishing(pipeline, store, broadcast::channel(UPDATE_BUFFER).0)
    }

    /// Like [`PipelineControl::start`], publishing squad changes on `updates` (a daemon
    /// whose event stream began before the runtime).
    pub fn start_publishing(
        pipeline: Pipeline,
        store: Arc<SqlStore>,
        updates: broadcast::Sender<SquadView>,
    ) -> PipelineControl {
        let handle = pipeline.handle();
        let reads = Arc::new(StoreReads::new(store));
        reads.follow_runtime(handle.progress());
        let (stop, stopped) = oneshot::channel::<()>();
        let runtime = tokio::spawn(pipeline.run(async move {
            // A dropped sender means the control is gone: stop as well.
            let _ = stopped.await;
        }));
        let feed = tokio::spawn(feed(handle.clone(), Arc::clone(&reads), updates.clone()));
        PipelineControl {
            handle,
            reads,
            updates,
            stop: Mutex::new(Some(stop)),
            runtime: tokio::sync::Mutex::new(Some(runtime)),
            feed,
        }
    }

    /// The running pipeline's handle.
    pub fn handle(&self) -> PipelineHandle {
        self.handle.clone()
    }

    /// Names the repository of each Linear team, so `/metrics` also counts per repository.
    pub fn know_repositories(&self, repositories: std::collections::BTreeMap<String, String>) {
        self.reads.know_repositories(repositories);
    }

    /// Waits for the runtime to end on its own (it stops only on [`ServerControl::shutdown`]
    /// or when it fails), so the daemon can exit when it dies. Resolves to its failure, if
    /// any; never resolves after [`ServerControl::shutdown`] took the runtime.
    pub fn stopped(
        self: &Arc<Self>,
    ) -> impl Future<Output = Option<PipelineError>> + Send + 'static {
        let control = Arc::clone(self);
        async move {
            let mut updates = control.handle.progress();
            // The progress channel closes when the runtime drops its sender, i.e. when
            // `Pipeline::run` returns.
            while updates.changed().await.is_ok() {}
            let mut runtime = control.runtime.lock().await;
            match runtime.take() {
                Some(task) => match task.await {
                    Ok(Ok(())) => None,
                    Ok(Err(error)) => Some(error),
                    Err(join) => Some(PipelineError::new(
                        PipelineErrorKind::Internal,
                        format!("run the squad runtime: it panicked ({join})"),
                    )),
                },
                None => std::future::pending().await,
            }
        }
    }
}

/// Publishes every squad whose live view changed, re-read from the store so the event
/// carries the same shape as `/api/squads`.
async fn feed(
    handle: PipelineHandle,
    reads: Arc<StoreReads>,
    updates: broadcast::Sender<SquadView>,
) {
    let mut progress = handle.progress();
    let mut seen: HashMap<SquadId, squadron_pipeline::SquadView> = HashMap::new();
    loop {
        let mut changed: Vec<SquadId> = Vec::new();
        for view in &progress.borrow_and_update().squads {
            if seen.get(&view.squad) != Some(view) {
                seen.insert(view.squad.clone(), view.clone());
                changed.push(view.squad.clone());
            }
        }
        for id in changed {
            match reads.squad(&id).await {
                // No receivers is fine: nobody watches the stream right now.
                Ok(view) => drop(updates.send(view)),
                Err(error) => debug!(squad = %id, %error, "could not re-read a changed squad"),
            }
        }
        if progress.changed().await.is_err() {
            return;
        }
    }
}

#[async_trait]
impl ServerControl for PipelineControl {
    async fn start_run(&self, url: &str) -> Result<RunId, ControlError> {
        self.handle.start_run(url).await.map_err(control_error)
    }

    async fn start_fix(&self, request: FixRequest) -> Result<RunId, ControlError> {
        self.handle.start_fix(request).await.map_err(control_error)
    }

    async fn run(&self, id: &RunId) -> Result<RunView, ControlError> {
        self.reads.run(id).await
    }

    async fn squads(&self) -> Result<Vec<SquadView>, ControlError> {
        self.reads.squads().await
    }

    async fn runs(&self) -> Result<Vec<RunView>, ControlError> {
        self.reads.runs().await
    }

    async fn squad_detail(&self, id: &SquadId) -> Result<SquadDetail, ControlError> {
        self.reads.squad_detail(id).await
    }

    async fn cancel_issue(&self, issue: &IssueKey) -> Result<CancelOutcome, ControlError> {
        let cancelled = match self
            .handle
            .cancel_issue(issue)
            .await
            .map_err(control_error)?
        {
            PipelineCancel::Cancelled { squads } => squads,
            PipelineCancel::NothingToCancel => Vec::new(),
        };
        Ok(CancelOutcome { cancelled })
    }

    async fn reevaluate(&self, target: &GateTarget) -> Result<(), ControlError> {
        let asked = self
            .handle
            .reevaluate(target.clone())
            .await
            .map_err(control_error)?;
        debug!(?target, ?asked, "asked the merge gate again");
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<SquadView> {
        self.updates.subscribe()
    }

    async fn health(&self) -> Result<(), ControlError> {
        self.reads.health().await
    }

    async fn metrics(&self, now: Timestamp) -> Result<MetricsSnapshot, ControlError> {
        self.reads.metrics(now).await
    }

    async fn cluster(&self) -> Result<ClusterView, ControlError> {
        // The runtime alone (the demo's daemon) is not registered as a daemon.
        self.reads.cluster(None).await
    }

    async fn lane_stops(&self) -> Result<Vec<StoppedLane>, ControlError> {
        self.reads.lane_stops().await
    }

    async fn resume_lane(&self, lane: &MergeLane) -> Result<StoppedLane, ControlError> {
        self.reads.resume_lane(lane).await
    }

    async fn shutdown(&self) {
        if let Some(stop) = self
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = stop.send(());
        }
        let Some(task) = self.runtime.lock().await.take() else {
            return;
        };
        match task.await {
            Ok(Ok(())) => info!("the squad runtime checkpointed its work and stopped"),
            Ok(Err(failure)) => warn!(error = %failure, "the squad runtime stopped with an error"),
            Err(join) => error!(error = %join, "the squad runtime panicked while stopping"),
        }
        self.feed.abort();
    }
}

/// A runtime failure in the server's terms.
fn control_error(error: PipelineError) -> ControlError {
    let kind = match error.kind() {
        PipelineErrorKind::Invalid => ControlErrorKind::Invalid,
        PipelineErrorKind::NotFound => ControlErrorKind::NotFound,
        // Refused credentials are the operator's to fix; the request itself was fine.
        PipelineErrorKind::Transient | PipelineErrorKind::Stopped | PipelineErrorKind::Auth => {
            ControlErrorKind::Unavailable
        }
        PipelineErrorKind::Internal => ControlErrorKind::Internal,
    };
    ControlError::new(kind, squadron_core::error_chain(&error))
}
