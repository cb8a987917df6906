//! [`ServerControl`] for a daemon whose squad runtime may not be running yet: `squadron
//! serve` starts serving before GitHub answers (the runtime needs the reviewers'
//! identities to start), reads from the store meanwhile, refuses work with 503 saying why,
//! and hands everything to the runtime once it has started. Among daemons sharing a store,
//! one whose runtime does not run hands work to the daemon that runs the squads through the
//! store (`forwarding.rs`) instead of refusing it, and carries out what the others hand it
//! once its own runtime runs.

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_trait::async_trait;
use squadron_core::gate::GateTarget;
use squadron_core::lease::DaemonId;
use squadron_core::merge_queue::MergeLane;
use squadron_core::ports::{Clock, StoppedLane};
use squadron_core::{IssueKey, RunId, SquadId, Timestamp};
use squadron_pipeline::{FixRequest, Pipeline, PipelineError};
use squadron_store::SqlStore;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::control::{
    CancelOutcome, ClusterView, ControlError, ControlErrorKind, MetricsSnapshot, RunView,
    ServerControl, SquadDetail, SquadView,
};
use super::forwarding::{Answer, Forwarded, Forwarder, relay, store_feed};
use super::pipeline_control::{PipelineControl, UPDATE_BUFFER};
use super::store_reads::StoreReads;

/// Where the runtime stands.
enum Runtime {
    /// Not started; the text says why (for the 503 answers).
    Waiting(String),
    /// Running behind this control.
    Running(Arc<PipelineControl>),
    /// Shut down (or never started before the daemon stopped): nothing starts any more.
    Stopped,
}

/// The server's control while the runtime starts, and after.
pub struct DaemonControl {
    /// This daemon's id among those sharing the store.
    daemon: Option<DaemonId>,
    reads: StoreReads,
    store: Arc<SqlStore>,
    updates: broadcast::Sender<SquadView>,
    runtime: Mutex<Runtime>,
    started: watch::Sender<Option<Arc<PipelineControl>>>,
    /// Set when work this daemon does not run goes to the daemon that does.
    forwarder: OnceLock<Arc<Forwarder>>,
    /// The event stream's feed from the store and the relay of others' requests.
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// Where a request is carried out.
enum Route {
    /// By this daemon's runtime.
    Here(Arc<PipelineControl>),
    /// By the daemon that runs the squads, which answered this.
    There(Answer),
}

impl std::fmt::Debug for DaemonControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaemonControl").finish_non_exhaustive()
    }
}

impl DaemonControl {
    /// A control of the daemon `daemon` over `store` whose runtime has not started, for the
    /// reason `waiting`.
    pub fn waiting(
        daemon: Option<DaemonId>,
        store: Arc<SqlStore>,
        waiting: impl Into<String>,
    ) -> Arc<DaemonControl> {
        Arc::new(DaemonControl {
            daemon,
            reads: StoreReads::new(Arc::clone(&store)),
            store,
            updates: broadcast::channel(UPDATE_BUFFER).0,
            runtime: Mutex::new(Runtime::Waiting(waiting.into())),
            started: watch::channel(None).0,
            forwarder: OnceLock::new(),
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Lets this daemon answer while another runs the squads of the store: work it is
    /// asked for goes to that daemon through the store, its event stream follows the squads
    /// in the store, and once its own runtime runs it carries out what the others hand it.
    /// Call within a Tokio runtime, on a control made with a daemon id; without one it does
    /// nothing.
    pub fn forward_to_runner(self: &Arc<Self>, clock: Arc<dyn Clock>) {
        let Some(daemon) = self.daemon.clone() else {
            return;
        };
        let forwarder = Forwarder::new(daemon, Arc::clone(&self.store), clock);
        if self.forwarder.set(Arc::new(forwarder)).is_err() {
            return;
        }
        let control = Arc::downgrade(self);
        let feed = tokio::spawn(store_feed(
            StoreReads::new(Arc::clone(&self.store)),
            self.updates.clone(),
            move || control.upgrade().is_none_or(|control| control.is_running()),
        ));
        self.tasks().push(feed);
        if let Runtime::Running(control) = &*self.runtime() {
            self.start_relay(Arc::clone(control));
        }
    }

    /// Lets this daemon answer for the squads other daemons hold when the daemons share
    /// the squads: a cancellation or a GitHub delivery it receives also goes, through the
    /// store, to each daemon holding squads it concerns, and once its own runtime runs it
    /// carries out what the others address to it. Call within a Tokio runtime, on a control
    /// made with a daemon id; without one it does nothing.
    pub fn answer_for_holders(&self, clock: Arc<dyn Clock>) {
        let Some(daemon) = self.daemon.clone() else {
            return;
        };
        let forwarder = Forwarder::sharing(daemon, Arc::clone(&self.store), clock);
        if self.forwarder.set(Arc::new(forwarder)).is_err() {
            return;
        }
        if let Runtime::Running(control) = &*self.runtime() {
            self.start_relay(Arc::clone(control));
        }
    }

    /// With the squads shared, records `request` for every other daemon holding squads of
    /// `issue` (of any issue for `None`), and with `wait` gathers their answers.
    async fn to_holders(
        &self,
        issue: Option<&IssueKey>,
        request: &Forwarded,
        wait: bool,
    ) -> Vec<Result<Answer, ControlError>> {
        let Some(forwarder) = self.forwarder.get() else {
            return Vec::new();
        };
        let holders = forwarder.holders_elsewhere(issue).await;
        futures::future::join_all(
            holders
                .iter()
                .map(|holder| forwarder.forward(request.clone(), holder, wait)),
        )
        .await
    }

    fn shares_squads(&self) -> bool {
        self.forwarder
            .get()
            .is_some_and(|forwarder| forwarder.shares_squads())
    }

    fn start_relay(&self, control: Arc<PipelineControl>) {
        let Some(forwarder) = self.forwarder.get() else {
            return;
        };
        let relay = tokio::spawn(relay(
            forwarder.daemon().clone(),
            Arc::clone(&self.store),
            forwarder.clock(),
            control,
        ));
        self.tasks().push(relay);
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Names the repository of each Linear team, so `/metrics` also counts per repository.
    pub fn know_repositories(&self, repositories: std::collections::BTreeMap<String, String>) {
        self.reads.know_repositories(repositories);
    }

    /// Says why the runtime is still not running (shown in 503 answers).
    pub fn still_waiting(&self, why: impl Into<String>) {
        let mut runtime = self.runtime();
        if let Runtime::Waiting(reason) = &mut *runtime {
            *reason = why.into();
        }
    }

    /// Starts `pipeline` behind this control (it first resumes every unfinished squad).
    /// Returns false, dropping the pipeline unstarted, when the daemon is already stopping.
    pub fn start(&self, pipeline: Pipeline) -> bool {
        let mut runtime = self.runtime();
        if matches!(*runtime, Runtime::Stopped) {
            return false;
        }
        self.reads.follow_runtime(pipeline.handle().progress());
        let control = Arc::new(PipelineControl::start_publishing(
            pipeline,
            Arc::clone(&self.store),
            self.updates.clone(),
        ));
        *runtime = Runtime::Running(Arc::clone(&control));
        drop(runtime);
        self.start_relay(Arc::clone(&control));
        self.started.send_replace(Some(control));
        true
    }

    /// The runtime's handle once it has started; `None` when the daemon stops first.
    pub async fn started_runtime(&self) -> Option<squadron_pipeline::PipelineHandle> {
        let mut started = self.started.subscribe();
        let control = started.wait_for(Option::is_some).await.ok()?;
        control.as_ref().map(|control| control.handle())
    }

    /// Whether the runtime runs.
    pub fn is_running(&self) -> bool {
        matches!(*self.runtime(), Runtime::Running(_))
    }

    /// Resolves when the runtime, once started, ends on its own (with its failure, if
    /// any); never while it has not started or after a shutdown.
    pub fn stopped(
        self: &Arc<Self>,
    ) -> impl Future<Output = Option<PipelineError>> + Send + 'static {
        let mut started = self.started.subscribe();
        async move {
            let control = loop {
                if let Some(control) = started.borrow_and_update().clone() {
                    break control;
                }
                if started.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            control.stopped().await
        }
    }

    fn runtime(&self) -> std::sync::MutexGuard<'_, Runtime> {
        self.runtime.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// This daemon's runtime when it runs; else, when another daemon runs the squads and
    /// this one forwards, that daemon's answer to `request` (with `wait`; without, once it
    /// is recorded); else the 503 that says why nothing runs here.
    async fn route(
        &self,
        what: &str,
        request: impl FnOnce() -> Forwarded,
        wait: bool,
    ) -> Result<Route, ControlError> {
        let refusal = match self.running(what) {
            Ok(control) => return Ok(Route::Here(control)),
            Err(refusal) => refusal,
        };
        let Some(forwarder) = self.forwarder.get() else {
            return Err(refusal);
        };
        if matches!(*self.runtime(), Runtime::Stopped) {
            return Err(refusal);
        }
        let Some(runner) = forwarder.runner_elsewhere().await else {
            return Err(refusal);
        };
        forwarder
            .forward(request(), &runner, wait)
            .await
            .map(Route::There)
    }

    /// The running runtime, or the 503 that says why there is none.
    fn running(&self, what: &str) -> Result<Arc<PipelineControl>, ControlError> {
        match &*self.runtime() {
            Runtime::Running(control) => Ok(Arc::clone(control)),
            Runtime::Waiting(why) => Err(ControlError::new(
                ControlErrorKind::Unavailable,
                format!("{what}: the squad runtime has not started yet: {why}"),
            )),
            Runtime::Stopped => Err(ControlError::new(
                ControlErrorKind::Unavailable,
                format!("{what}: the daemon is shutting down"),
            )),
        }
    }
}

#[async_trait]
impl ServerControl for DaemonControl {
    async fn start_run(&self, url: &str) -> Result<RunId, ControlError> {
        let what = "start the run";
        let request = || Forwarded::StartRun {
            url: url.to_owned(),
        };
        match self.route(what, request, true).await? {
            Route::Here(control) => control.start_run(url).await,
            Route::There(answer) => answer.run_id(what),
        }
    }

    async fn start_fix(&self, request: FixRequest) -> Result<RunId, ControlError> {
        let what = "start the fix";
        let forwarded = || Forwarded::StartFix(request.clone());
        match self.route(what, forwarded, true).await? {
            Route::Here(control) => control.start_fix(request).await,
            Route::There(answer) => answer.run_id(what),
        }
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
        let what = "cancel the squads";
        if self.shares_squads() {
            // This daemon's squads of the issue, and those the other daemons hold.
            let request = Forwarded::CancelIssue(issue.clone());
            let here = async {
                match self.running(what) {
                    Ok(control) => control.cancel_issue(issue).await,
                    // No runtime, no squads held here.
                    Err(_) => Ok(CancelOutcome {
                        cancelled: Vec::new(),
                    }),
                }
            };
            let (here, elsewhere) =
                futures::future::join(here, self.to_holders(Some(issue), &request, true)).await;
            let mut cancelled = here?.cancelled;
            for answer in elsewhere {
                cancelled.extend(answer.and_then(|answer| answer.cancelled(what))?);
            }
            return Ok(CancelOutcome { cancelled });
        }
        let request = || Forwarded::CancelIssue(issue.clone());
        match self.route(what, request, true).await? {
            Route::Here(control) => control.cancel_issue(issue).await,
            Route::There(answer) => Ok(CancelOutcome {
                cancelled: answer.cancelled(what)?,
            }),
        }
    }

    async fn reevaluate(&self, target: &GateTarget) -> Result<(), ControlError> {
        if self.shares_squads() {
            // The squads the delivery concerns may be held anywhere: every daemon holding
            // squads asks its gates again (one holding none concerned asks nothing).
            let request = Forwarded::Reevaluate(target.clone());
            for recorded in self.to_holders(None, &request, false).await {
                recorded?;
            }
            return match self.running("re-evaluate the merge gate") {
                Ok(control) => control.reevaluate(target).await,
                Err(_) => Ok(()),
            };
        }
        // GitHub wants no answer: recorded is enough, the runner asks the gate soon.
        let request = || Forwarded::Reevaluate(target.clone());
        match self
            .route("re-evaluate the merge gate", request, false)
            .await?
        {
            Route::Here(control) => control.reevaluate(target).await,
            Route::There(_) => Ok(()),
        }
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
        self.reads.cluster(self.daemon.clone()).await
    }

    async fn lane_stops(&self) -> Result<Vec<StoppedLane>, ControlError> {
        self.reads.lane_stops().await
    }

    async fn resume_lane(&self, lane: &MergeLane) -> Result<StoppedLane, ControlError> {
        self.reads.resume_lane(lane).await
    }

    async fn shutdown(&self) {
        for task in self.tasks().drain(..) {
            task.abort();
        }
        let previous = std::mem::replace(&mut *self.runtime(), Runtime::Stopped);
        if let Runtime::Running(control) = previous {
            control.shutdown().await;
        }
    }
}
