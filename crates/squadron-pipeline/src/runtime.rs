//! The runtime's loop: events in, the scheduler's commands out, each command executed as a
//! task that reports its outcome back over a channel. Phase changes are written to the store
//! before anything of the new phase happens. The scheduler decides everything about a
//! squad's lifecycle (merge lanes and gate waits included); this loop executes, reports and
//! keeps the live view.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use squadron_core::event_payload::EventPayload;
use squadron_core::ports::{RunStatus, SpendScope, SquadChange, SquadRecord};
use squadron_core::scheduler::{
    CancelTarget, Command, Event, PersistedSquad, RunSummary, Scheduler, SquadSpec,
};
use squadron_core::{
    Issue, IssueKey, Phase, Priority, RunId, RunTrigger, SquadId, SquadKind, Timestamp,
};
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};
use tracing::Instrument;

use crate::error::{PipelineError, PipelineErrorKind};
use crate::handle::{CancelOutcome, PipelineHandle, Request};
use crate::intake::{self, Admitted, FixAdmitted, FixRequest};
use crate::log_events::{self, PHASE_CHANGED, RETRY};
use crate::metrics;
use crate::outcome::{Outcome, ViewUpdate};
use crate::progress::{Progress, RunView, SquadView, Waiting};
use crate::services::{PipelineSettings, Services};
use crate::shared::Shared;
use crate::squad::{SharedCtx, SquadCtx};
use crate::steps;

/// The runtime. Build it with [`Pipeline::new`], take a [`PipelineHandle`] with
/// [`Pipeline::handle`], then drive it with [`Pipeline::run`].
pub struct Pipeline {
    shared: Arc<Shared>,
    requests_tx: mpsc::Sender<Request>,
    requests_rx: mpsc::Receiver<Request>,
    progress_tx: watch::Sender<Progress>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A runtime over `services` with `settings`; nothing runs until [`Pipeline::run`].
    pub fn new(services: Services, settings: PipelineSettings) -> Pipeline {
        let (requests_tx, requests_rx) = mpsc::channel(64);
        let (progress_tx, _) = watch::channel(Progress::default());
        Pipeline {
            shared: Shared::new(services, settings),
            requests_tx,
            requests_rx,
            progress_tx,
        }
    }

    /// A handle for starting and cancelling runs and watching progress. Calls made before
    /// [`Pipeline::run`] starts wait for it.
    pub fn handle(&self) -> PipelineHandle {
        PipelineHandle {
            requests: self.requests_tx.clone(),
            progress: self.progress_tx.subscribe(),
        }
    }

    /// Resumes every unfinished squad recorded in the store, then serves requests and runs
    /// squads until `shutdown` completes. On shutdown no new step starts; the agents' model
    /// calls in flight are dropped at once (their steps end, their work stays in the
    /// worktree); steps in flight get [`PipelineSettings::shutdown_grace`] to finish (their
    /// results are recorded), and are abandoned after it: their phase is recorded, so the
    /// next start repeats them.
    ///
    /// Fails when the store cannot be read at start, or when a failpoint killed the runtime
    /// (tests only).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), PipelineError> {
        let (outcomes_tx, outcomes_rx) = mpsc::unbounded_channel();
        let mut runtime = Runtime {
            shared: self.shared,
            scheduler: Scheduler::new(Default::default()),
            outcomes_tx,
            tasks: JoinSet::new(),
            running: HashMap::new(),
            views: BTreeMap::new(),
            order: Vec::new(),
            runs: Vec::new(),
            contexts: HashMap::new(),
            progress_tx: self.progress_tx,
            intaking: HashSet::new(),
            fixing: HashMap::new(),
            stopping: false,
        };
        // Keep a sender alive so the request channel never reports closed while running.
        let _requests_tx = self.requests_tx;
        let result = runtime.drive(self.requests_rx, outcomes_rx, shutdown).await;
        runtime.tasks.abort_all();
        if result.is_ok() {
            runtime
                .shared
                .chat
                .flush(runtime.shared.settings.shutdown_grace)
                .await;
        }
        result
    }
}

struct Runtime {
    shared: Arc<Shared>,
    scheduler: Scheduler,
    outcomes_tx: mpsc::UnboundedSender<Outcome>,
    tasks: JoinSet<()>,
    running: HashMap<SquadId, AbortHandle>,
    views: BTreeMap<SquadId, SquadView>,
    order: Vec<SquadId>,
    runs: Vec<RunView>,
    /// Each squad's working state between its steps.
    contexts: HashMap<SquadId, SharedCtx>,
    progress_tx: watch::Sender<Progress>,
    intaking: HashSet<String>,
    /// Fix requests whose squad is being recorded, by issue: later requests for the same
    /// issue wait for the same run.
    fixing: HashMap<IssueKey, Vec<FixReply>>,
    stopping: bool,
}

type FixReply = tokio::sync::oneshot::Sender<Result<RunId, PipelineError>>;

/// The runtime must stop at once, as if the process were killed (a failpoint fired).
#[derive(Debug)]
struct Killed(String);

impl Runtime {
    async fn drive(
        &mut self,
        mut requests: mpsc::Receiver<Request>,
        mut outcomes: mpsc::UnboundedReceiver<Outcome>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), PipelineError> {
        tokio::pin!(shutdown);
        self.restore().await.map_err(|killed| killed.into_error())?;
        self.publish();
        let mut tick = tokio::time::interval(self.shared.settings.tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let grace = tokio::time::sleep(std::time::Duration::MAX / 4);
        tokio::pin!(grace);
        // Agents starting and ending turns change the live view between loop events.
        let mut at_work = self.shared.activity.changes();
        loop {
            // The scheduler may want a tick before the regular one (a gate to read again
            // after a short wait for mergeability).
            let deadline = self.scheduler.next_deadline().map(|at| {
                let wait = at.since(self.shared.services.clock.now());
                tokio::time::Instant::now() + wait
            });
            let step = tokio::select! {
                () = &mut shutdown, if !self.stopping => {
                    tracing::info!(in_flight = self.tasks.len(), "shutting down: no new steps start; waiting for the steps in flight");
                    self.stopping = true;
                    // Model calls can take minutes; the steps waiting on them end at once and
                    // resume on the next start, their work kept in the worktree.
                    self.shared.harness.interrupt();
                    grace.as_mut().reset(tokio::time::Instant::now() + self.shared.settings.shutdown_grace);
                    Ok(())
                }
                Some(request) = requests.recv(), if !self.stopping => {
                    self.request(request).await
                }
                Some(outcome) = outcomes.recv() => self.outcome(outcome).await,
                Some(joined) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    match joined {
                        Ok((id, ())) => self.running.retain(|_, handle| handle.id() != id),
                        Err(error) => {
                            let id = error.id();
                            self.running.retain(|_, handle| handle.id() != id);
                            if error.is_panic() {
                                tracing::error!(%error, "a step panicked; its squad stays in its recorded phase until the next start");
                            }
                        }
                    }
                    Ok(())
                }
                _ = tick.tick(), if !self.stopping => self.tick().await,
                () = sleep_until(deadline), if !self.stopping && deadline.is_some() => {
                    self.apply(Event::Tick).await
                }
                Ok(()) = at_work.changed() => Ok(()),
                () = &mut grace, if self.stopping => {
                    tracing::warn!(abandoned = self.tasks.len(), "shutdown grace is over: abandoning the steps in flight; they repeat on the next start");
                    self.tasks.abort_all();
                    break;
                }
            };
            step.map_err(Killed::into_error)?;
            self.publish();
            if self.stopping && self.tasks.is_empty() && outcomes.is_empty() {
                break;
            }
        }
        tracing::info!("the squad runtime stopped; every squad's state is recorded");
        Ok(())
    }

    /// Rebuilds the scheduler from the store's unfinished runs and resumes their squads. A
    /// runtime sharing its store resumes nothing here: its daemon hands it the squads it
    /// claims.
    async fn restore(&mut self) -> Result<(), Killed> {
        let shared = Arc::clone(&self.shared);
        let store = &shared.services.store;
        let now = shared.services.clock.now();
        let sharing = shared.settings.shares_squads;
        let unfinished = if sharing {
            Vec::new()
        } else {
            match store.unfinished_squads().await {
                Ok(squads) => squads,
                Err(error) => {
                    return Err(Killed(format!(
                        "read the unfinished squads from the store: {error}"
                    )));
                }
            }
        };
        let mut run_ids: Vec<RunId> = Vec::new();
        for record in &unfinished {
            if !run_ids.contains(&record.squad.run_id) {
                run_ids.push(record.squad.run_id.clone());
            }
        }
        let mut persisted = Vec::new();
        for run in &run_ids {
            let squads = self
                .run_squads(run)
                .await
                .map_err(|error| Killed(error.to_string()))?;
            let skipped = squads
                .iter()
                .filter(|record| matches!(record.squad.phase, Phase::Skipped(_)))
                .map(|record| record.squad.id.clone())
                .collect();
            intake::resume_comments(Arc::clone(&shared), skipped);
            for record in &squads {
                let (view, squad) = self.resumed(run, record, &squads).await;
                self.add_view(view);
                persisted.push(squad);
            }
        }
        self.report_usage(self.views.keys().cloned().collect())
            .await;
        // Runs whose squads all ended but whose status was never updated (killed in between).
        if !sharing && let Ok(runs) = store.runs().await {
            for record in runs {
                if record.status == RunStatus::Running && !run_ids.contains(&record.run.id) {
                    let _ = store
                        .set_run_status(&record.run.id, RunStatus::Finished, now)
                        .await;
                }
            }
        }
        if !persisted.is_empty() {
            tracing::info!(
                runs = run_ids.len(),
                squads = unfinished.len(),
                "resuming unfinished squads from the store"
            );
        }
        let config = self.shared.settings.scheduler.clone();
        match Scheduler::restore(config.clone(), persisted, now) {
            Ok((scheduler, commands)) => {
                self.scheduler = scheduler;
                self.follow_lane_stops().await?;
                self.execute(commands).await
            }
            Err(refusal) => {
                tracing::error!(%refusal, "could not resume the recorded squads; starting without them");
                self.scheduler = Scheduler::new(config);
                Ok(())
            }
        }
    }

    /// The squads of `run` as recorded; the run is shown from now on.
    async fn run_squads(&mut self, run: &RunId) -> Result<Vec<SquadRecord>, PipelineError> {
        let store = &self.shared.services.store;
        if let Some(view) = self.runs.iter_mut().find(|view| &view.id == run) {
            view.finished = false;
        } else {
            let record = store
                .run(run)
                .await
                .map_err(|error| PipelineError::port(format!("read run {run}"), error))?;
            self.runs.push(RunView {
                id: run.clone(),
                url: trigger_url(&record.run.trigger),
                finished: false,
            });
        }
        store
            .squads_of_run(run)
            .await
            .map_err(|error| PipelineError::port(format!("read the squads of run {run}"), error))
    }

    /// The view and the scheduler's record of `record`, a squad of `run` among `squads`
    /// (the run's), as the store has it.
    async fn resumed(
        &self,
        run: &RunId,
        record: &SquadRecord,
        squads: &[SquadRecord],
    ) -> (SquadView, PersistedSquad) {
        let squad = &record.squad;
        let id_of = |key: &IssueKey| {
            squads
                .iter()
                .find(|other| &other.squad.issue == key)
                .map(|other| other.squad.id.clone())
        };
        // The rounds it spent, as its event log notes them: the limits hold across restarts.
        let (mut ci_fix_rounds, mut conflict_rounds) = (0, 0);
        if !squad.phase.is_terminal() {
            let events = self.shared.services.store.events(&squad.id).await;
            match events {
                Ok(events) => {
                    for note in events.iter().filter_map(|event| event.note.as_ref()) {
                        match note {
                            EventPayload::CiFix { round, .. } => {
                                ci_fix_rounds = ci_fix_rounds.max(*round);
                            }
                            EventPayload::ConflictRound { round, .. } => {
                                conflict_rounds = conflict_rounds.max(*round);
                            }
                            _ => {}
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(squad = %squad.id, %error, "could not read the rounds the squad spent; counting from its phase");
                }
            }
        }
        let time_to_merge = if squad.kind == SquadKind::BugFix && squad.phase == Phase::Merged {
            self.shared
                .services
                .store
                .events(&squad.id)
                .await
                .ok()
                .and_then(|events| metrics::time_to_merge(&events))
        } else {
            None
        };
        let view = SquadView {
            run: run.clone(),
            squad: squad.id.clone(),
            issue: squad.issue.clone(),
            kind: squad.kind,
            title: String::new(),
            phase: squad.phase.clone(),
            round: squad.round,
            pr: squad.pr,
            pr_url: None,
            merged_sha: None,
            approved_by: Vec::new(),
            tokens: Default::default(),
            cost: Default::default(),
            time_to_merge,
            blocked_by: record
                .blocked_by
                .iter()
                .filter(|key| id_of(key).is_some())
                .cloned()
                .collect(),
            at_work: Vec::new(),
            waiting: None,
        };
        let persisted = PersistedSquad {
            run: run.clone(),
            spec: SquadSpec {
                id: squad.id.clone(),
                issue: squad.issue.clone(),
                kind: squad.kind,
                priority: Priority::None,
                blocked_by: record.blocked_by.iter().filter_map(id_of).collect(),
                after: record.starts_after.iter().filter_map(id_of).collect(),
                // Issue keys are `<team>-<number>`.
                lane: squad
                    .issue
                    .as_str()
                    .rsplit_once('-')
                    .and_then(|(team, _)| self.shared.settings.lane_of(team)),
                branch: squad.branch.clone(),
            },
            phase: squad.phase.clone(),
            round: squad.round,
            pr: squad.pr,
            ci_fix_rounds,
            conflict_rounds,
        };
        (view, persisted)
    }

    /// Brings the spending shown for `squads` up to date from the store.
    async fn report_usage(&self, squads: Vec<SquadId>) {
        for squad in squads {
            let totals = self
                .shared
                .services
                .store
                .usage_totals(&SpendScope::Squad(squad.clone()))
                .await
                .unwrap_or_default();
            let _ = self
                .outcomes_tx
                .send(Outcome::View(squad, ViewUpdate::Usage(totals)));
        }
    }

    /// Schedules `squads`, claimed by this daemon, from their recorded state, with the
    /// ended blockers each waited on so the scheduler knows how those ended. The outer
    /// error stops the runtime (a failpoint); the inner one is the caller's.
    async fn adopt(
        &mut self,
        squads: Vec<SquadId>,
    ) -> Result<Result<Vec<SquadId>, PipelineError>, Killed> {
        let loaded = self.load_adopted(squads).await;
        let (adopted, persisted) = match loaded {
            Ok(loaded) => loaded,
            Err(error) => return Ok(Err(error)),
        };
        if !adopted.is_empty() {
            tracing::info!(squads = ?adopted, "working the squads this daemon claimed");
        }
        self.report_usage(adopted.clone()).await;
        let now = self.shared.services.clock.now();
        let commands = self.scheduler.adopt(persisted, now);
        self.execute(commands).await?;
        Ok(Ok(adopted))
    }

    async fn load_adopted(
        &mut self,
        squads: Vec<SquadId>,
    ) -> Result<(Vec<SquadId>, Vec<PersistedSquad>), PipelineError> {
        let store = Arc::clone(&self.shared.services.store);
        let mut by_run: BTreeMap<RunId, Vec<SquadId>> = BTreeMap::new();
        for id in squads {
            if self.scheduler.squad(&id).is_some() {
                continue;
            }
            let record = store
                .squad(&id)
                .await
                .map_err(|error| PipelineError::port(format!("read squad {id}"), error))?;
            by_run.entry(record.squad.run_id).or_default().push(id);
        }
        let mut adopted = Vec::new();
        let mut persisted = Vec::new();
        for (run, wanted) in by_run {
            let squads = self.run_squads(&run).await?;
            for record in squads.iter().filter(|r| wanted.contains(&r.squad.id)) {
                let ended_blockers = squads.iter().filter(|blocker| {
                    record.blocked_by.contains(&blocker.squad.issue)
                        && blocker.squad.phase.is_terminal()
                });
                for blocker in ended_blockers {
                    let (_, context) = self.resumed(&run, blocker, &squads).await;
                    persisted.push(context);
                }
                let (view, squad) = self.resumed(&run, record, &squads).await;
                self.add_view(view);
                persisted.push(squad);
                adopted.push(record.squad.id.clone());
            }
        }
        Ok((adopted, persisted))
    }

    /// Forgets `squads`, whose leases this daemon lost, and the queued squads waiting on
    /// them; stops their steps in flight.
    async fn let_go(&mut self, squads: Vec<SquadId>) -> Result<Vec<SquadId>, Killed> {
        let now = self.shared.services.clock.now();
        let mut gone = Vec::new();
        for squad in squads {
            let (forgotten, commands) = self.scheduler.let_go(&squad, now);
            for id in &forgotten {
                if let Some(step) = self.running.remove(id) {
                    step.abort();
                }
                self.views.remove(id);
                self.order.retain(|other| other != id);
                self.contexts.remove(id);
            }
            if !forgotten.is_empty() {
                tracing::warn!(squads = ?forgotten, "no longer working squads whose lease this daemon lost");
            }
            gone.extend(forgotten);
            self.execute(commands).await?;
        }
        Ok(gone)
    }

    /// The regular tick: the store's stopped lanes and recorded reverts followed, then the
    /// scheduler's deadlines.
    async fn tick(&mut self) -> Result<(), Killed> {
        self.follow_lane_stops().await?;
        self.take_up_reverts().await?;
        self.apply(Event::Tick).await
    }

    /// Takes up, at every tick, the revert squads another command recorded in the store
    /// since the runtime started (`squadron revert`, `/squad revert`): the store's squads
    /// are this runtime's to run. A runtime sharing its store claims them like any squad.
    async fn take_up_reverts(&mut self) -> Result<(), Killed> {
        if self.shared.settings.shares_squads {
            return Ok(());
        }
        let unfinished = match self.shared.services.store.unfinished_squads().await {
            Ok(unfinished) => unfinished,
            Err(error) => {
                tracing::warn!(%error, "could not read the unfinished squads to find new reverts");
                return Ok(());
            }
        };
        let recorded: Vec<SquadId> = unfinished
            .into_iter()
            .filter(|record| record.squad.kind == SquadKind::Revert)
            .map(|record| record.squad.id)
            .filter(|id| self.scheduler.squad(id).is_none())
            .collect();
        if recorded.is_empty() {
            return Ok(());
        }
        match self.adopt(recorded).await? {
            Ok(taken) => {
                tracing::info!(squads = ?taken, "taking up the reverts recorded in the store")
            }
            Err(error) => {
                tracing::warn!(%error, "could not take up the reverts recorded in the store")
            }
        }
        Ok(())
    }

    /// Follows the store's record of stopped lanes (stop the line), at start and at every
    /// tick: holds the lanes recorded as stopped (before a restart, or by another daemon
    /// sharing the store), and opens the lanes a person resumed (`squadron resume-lane`, the
    /// control API and a merged revert delete the record).
    async fn follow_lane_stops(&mut self) -> Result<(), Killed> {
        let recorded = match self.shared.services.store.lane_stops().await {
            Ok(recorded) => recorded,
            Err(error) => {
                tracing::warn!(%error, "could not read the stopped merge lanes");
                return Ok(());
            }
        };
        for stopped in &recorded {
            let held = self
                .scheduler
                .lane_stops()
                .any(|stop| stop.lane == stopped.stop.lane);
            if !held {
                tracing::warn!(lane = %stopped.stop.lane, failing = %stopped.stop.failing.issue, "the merge lane is recorded as stopped; nothing merges there until a person resumes it");
                self.scheduler.restore_stop(stopped.stop.clone());
            }
        }
        let resumed: Vec<_> = self
            .scheduler
            .lane_stops()
            .filter(|stop| !recorded.iter().any(|kept| kept.stop.lane == stop.lane))
            .map(|stop| stop.lane.clone())
            .collect();
        for lane in resumed {
            tracing::info!(%lane, "the merge lane was resumed by a person");
            self.apply(Event::LaneResumed { lane }).await?;
        }
        Ok(())
    }

    async fn request(&mut self, request: Request) -> Result<(), Killed> {
        match request {
            Request::StartRun { url, reply } => {
                if let Some(run) = self
                    .runs
                    .iter()
                    .find(|run| !run.finished && run.url.as_deref() == Some(url.as_str()))
                {
                    tracing::info!(run = %run.id, %url, "a run for this URL is unfinished; resuming it");
                    let _ = reply.send(Ok(run.id.clone()));
                    return Ok(());
                }
                if self.shared.settings.shares_squads
                    && let Some(run) = self.recorded_run_for(&url).await
                {
                    tracing::info!(run = %run, %url, "a run for this URL is unfinished in the store; answering with it");
                    let _ = reply.send(Ok(run));
                    return Ok(());
                }
                if !self.intaking.insert(url.clone()) {
                    let _ = reply.send(Err(PipelineError::new(
                        PipelineErrorKind::Invalid,
                        format!("start a run for {url}: one is being started right now"),
                    )));
                    return Ok(());
                }
                let shared = Arc::clone(&self.shared);
                let outcomes = self.outcomes_tx.clone();
                self.tasks.spawn(async move {
                    let outcome = match intake::admit_run(&shared, &url).await {
                        Ok(mut admitted) => {
                            admitted.reply = Some(reply);
                            Outcome::Admitted(Box::new(admitted))
                        }
                        Err(error) => Outcome::IntakeFailed { url, error, reply },
                    };
                    let _ = outcomes.send(outcome);
                });
            }
            Request::StartFix { request, reply } => {
                let shared = Arc::clone(&self.shared);
                let outcomes = self.outcomes_tx.clone();
                self.tasks.spawn(async move {
                    let outcome = match intake::fetch_issue(&shared, &request).await {
                        Ok(issue) => Outcome::FixFetched {
                            request,
                            issue: Box::new(issue),
                            reply,
                        },
                        Err(error) => Outcome::FixFailed {
                            issue: None,
                            error,
                            reply: Some(reply),
                        },
                    };
                    let _ = outcomes.send(outcome);
                });
            }
            Request::CancelIssue { issue, reply } => {
                let targets: Vec<SquadId> = self
                    .scheduler
                    .squads()
                    .filter(|squad| *squad.issue == issue && !squad.phase.is_terminal())
                    .map(|squad| squad.id.clone())
                    .collect();
                let cancelled = self.cancel(targets).await?;
                let _ = reply.send(cancelled);
            }
            Request::Reevaluate { target, reply } => {
                let asked = self.scheduler.concerned_by(&target);
                if asked.is_empty() {
                    tracing::debug!(
                        ?target,
                        "a code-host event concerns no squad waiting for its gate"
                    );
                } else {
                    tracing::info!(?target, squads = ?asked, "a code-host event concerns waiting gates: asking them again");
                }
                self.apply(Event::CodeHostChanged { target }).await?;
                let _ = reply.send(asked);
            }
            // The live view shows the change before the caller hears of it.
            Request::Adopt { squads, reply } => {
                let adopted = self.adopt(squads).await?;
                self.publish();
                let _ = reply.send(adopted);
            }
            Request::LetGo { squads, reply } => {
                let gone = self.let_go(squads).await?;
                self.publish();
                let _ = reply.send(gone);
            }
        }
        Ok(())
    }

    /// The unfinished run recorded for `url`, by any daemon sharing the store.
    async fn recorded_run_for(&self, url: &str) -> Option<RunId> {
        let runs = self.shared.services.store.runs().await.ok()?;
        runs.into_iter()
            .find(|record| {
                record.status == RunStatus::Running
                    && trigger_url(&record.run.trigger).as_deref() == Some(url)
            })
            .map(|record| record.run.id)
    }

    async fn cancel(&mut self, targets: Vec<SquadId>) -> Result<CancelOutcome, Killed> {
        if targets.is_empty() {
            return Ok(CancelOutcome::NothingToCancel);
        }
        for squad in &targets {
            tracing::info!(squad = %squad, "cancel requested");
            self.apply(Event::CancelRequested {
                target: CancelTarget::Squad(squad.clone()),
            })
            .await?;
        }
        Ok(CancelOutcome::Cancelled { squads: targets })
    }

    async fn outcome(&mut self, outcome: Outcome) -> Result<(), Killed> {
        match outcome {
            Outcome::Event(event) => self.apply(event).await?,
            Outcome::Admitted(admitted) => {
                let Admitted {
                    url,
                    run,
                    views,
                    event,
                    comments,
                    reply,
                } = *admitted;
                // The run and every squad are recorded; a kill here must resume exactly them.
                failpoint(&format!(
                    "{}::admitted",
                    self.shared.settings.failpoint_scope
                ))?;
                intake::post_comments(Arc::clone(&self.shared), comments);
                self.intaking.remove(&url);
                self.runs.push(RunView {
                    id: run.clone(),
                    url: Some(url),
                    finished: false,
                });
                if self.shared.settings.shares_squads {
                    // The daemons sharing the store claim the admitted squads from it.
                    if let Event::RunAdmitted { squads, .. } = &event
                        && squads.is_empty()
                    {
                        self.record_run_finished(&run).await;
                    }
                } else {
                    for view in views {
                        self.add_view(view);
                    }
                    self.apply(event).await?;
                }
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(run));
                }
            }
            Outcome::FixFetched {
                request,
                issue,
                reply,
            } => self.fix_fetched(request, *issue, reply),
            Outcome::FixAdmitted(issue, admitted) => {
                let FixAdmitted { run, view, event } = *admitted;
                self.runs.push(RunView {
                    id: run.clone(),
                    url: None,
                    finished: false,
                });
                if !self.shared.settings.shares_squads {
                    self.add_view(view);
                    self.apply(event).await?;
                }
                for reply in self.fixing.remove(&issue).unwrap_or_default() {
                    let _ = reply.send(Ok(run.clone()));
                }
            }
            Outcome::FixFailed {
                issue,
                error,
                reply,
            } => {
                tracing::warn!(issue = ?issue, %error, "could not start a fix squad");
                let waiting = issue
                    .and_then(|issue| self.fixing.remove(&issue))
                    .unwrap_or_default();
                for waiting in waiting {
                    let _ = waiting.send(Err(PipelineError::new(error.kind(), error.to_string())));
                }
                if let Some(reply) = reply {
                    let _ = reply.send(Err(error));
                }
            }
            Outcome::IntakeFailed { url, error, reply } => {
                self.intaking.remove(&url);
                tracing::warn!(%url, %error, "could not start a run");
                let _ = reply.send(Err(error));
            }
            Outcome::View(squad, update) => {
                if let Some(view) = self.views.get_mut(&squad) {
                    match update {
                        ViewUpdate::Title(title) => view.title = title,
                        ViewUpdate::PrUrl(url) => view.pr_url = Some(url),
                        ViewUpdate::Usage(totals) => {
                            view.tokens = totals.usage;
                            view.cost = totals.cost;
                        }
                        ViewUpdate::Merged { sha, approved_by } => {
                            view.merged_sha = Some(sha);
                            view.approved_by = approved_by;
                        }
                        ViewUpdate::TimeToMerge(elapsed) => view.time_to_merge = Some(elapsed),
                    }
                }
            }
        }
        Ok(())
    }

    /// The issue of a fix request is known: answers with the unfinished fix squad's run
    /// when there is one, else records a new run (requests for the same issue arriving
    /// meanwhile wait for it).
    fn fix_fetched(&mut self, request: FixRequest, issue: Issue, reply: FixReply) {
        let working = self
            .views
            .values()
            .find(|view| view.issue == issue.key && !view.phase.is_terminal());
        if let Some(view) = working {
            let answer = if view.kind == SquadKind::BugFix {
                tracing::info!(run = %view.run, issue = %issue.key, "a fix squad for this issue is unfinished; answering with its run");
                Ok(view.run.clone())
            } else {
                Err(PipelineError::new(
                    PipelineErrorKind::Invalid,
                    format!(
                        "start a fix squad for {}: squad {} of run {} is working on the issue \
                         already; cancel it first to fix the issue as a bug",
                        issue.key, view.squad, view.run
                    ),
                ))
            };
            let _ = reply.send(answer);
            return;
        }
        if let Some(waiting) = self.fixing.get_mut(&issue.key) {
            waiting.push(reply);
            return;
        }
        self.fixing.insert(issue.key.clone(), vec![reply]);
        let shared = Arc::clone(&self.shared);
        let outcomes = self.outcomes_tx.clone();
        self.tasks.spawn(async move {
            let key = issue.key.clone();
            let outcome = match intake::admit_fix(&shared, &request, &issue).await {
                Ok(admitted) => Outcome::FixAdmitted(key, Box::new(admitted)),
                Err(error) => Outcome::FixFailed {
                    issue: Some(key),
                    error,
                    reply: None,
                },
            };
            let _ = outcomes.send(outcome);
        });
    }

    async fn apply(&mut self, event: Event) -> Result<(), Killed> {
        let now = self.shared.services.clock.now();
        let name = event.name();
        match self.scheduler.handle(event, now) {
            Ok(commands) => self.execute(commands).await,
            Err(refusal) => {
                tracing::info!(event = name, %refusal, "the scheduler refused an event; carrying on");
                Ok(())
            }
        }
    }

    async fn execute(&mut self, commands: Vec<Command>) -> Result<(), Killed> {
        for command in commands {
            match command {
                Command::RecordPhase {
                    squad,
                    from,
                    to,
                    round,
                    at,
                } => self.record_phase(&squad, &from, &to, round, at).await?,
                Command::RecordNote { squad, note } => {
                    log_events::append(&self.shared, &squad, &note).await;
                }
                Command::StopWork { squad } => {
                    if let Some(handle) = self.running.remove(&squad) {
                        tracing::info!(squad = %squad, "stopping the squad's step in flight");
                        handle.abort();
                    }
                }
                Command::CleanUp { squad } => self.spawn_cleanup(&squad),
                Command::RunFinished { run, summary } => self.run_finished(&run, &summary).await,
                Command::Retry {
                    squad,
                    attempt,
                    delay,
                    failure,
                    command,
                } => {
                    tracing::info!(
                        event = RETRY, squad = %squad, what = command.name(), attempt,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        kind = failure.kind().name(), error = %failure,
                        "retrying a failed step after a backoff"
                    );
                    let why = format!("{}: {failure}", failure.kind().name());
                    log_events::retried(&self.shared, &squad, command.name(), attempt, &why).await;
                    if self.stopping {
                        tracing::info!(squad = %squad, "not retrying a step during shutdown; it resumes on the next start");
                    } else {
                        self.spawn_step_after(&squad, *command, delay);
                    }
                }
                work => {
                    let Some(squad) = work.squad().cloned() else {
                        continue;
                    };
                    if self.stopping {
                        tracing::info!(squad = %squad, "not starting a step during shutdown; it resumes on the next start");
                    } else {
                        self.spawn_step(&squad, work);
                    }
                }
            }
        }
        Ok(())
    }

    async fn record_phase(
        &mut self,
        squad: &SquadId,
        from: &Phase,
        to: &Phase,
        round: u32,
        at: Timestamp,
    ) -> Result<(), Killed> {
        let store = &self.shared.services.store;
        let view = self.views.get(squad).cloned();
        if view.as_ref().is_some_and(|view| view.round != round)
            && let Err(error) = store
                .change_squad(squad, &SquadChange::Round(round), at)
                .await
        {
            tracing::error!(squad = %squad, %error, "could not record the review round");
        }
        if let Err(error) = store.set_phase(squad, from, to, at).await {
            // A conflict means the store is already past `from` (a repeated step after a
            // restart); anything else is a store failure the next start will repair.
            let stored = store
                .squad(squad)
                .await
                .ok()
                .map(|record| record.squad.phase);
            if stored.as_ref() != Some(to) {
                tracing::error!(squad = %squad, from = %from, to = %to, %error, "could not record a phase change");
            }
        }
        let pr = self.scheduler.squad(squad).and_then(|status| status.pr);
        if let Some(view) = self.views.get_mut(squad) {
            view.phase = to.clone();
            view.round = round;
            view.pr = pr.or(view.pr);
            // Logged by the loop, outside any squad's task: the squad's fields go on the line
            // itself (readers such as the e2e tests look for them there).
            tracing::info!(
                event = PHASE_CHANGED, run = %view.run, squad = %squad, issue = %view.issue,
                phase = to.name(), from = from.name(), round, pr = view.pr.map(|pr| pr.0),
                detail = to.detail(), "phase changed"
            );
        }
        // A squad that held a slot is told about by its clean-up, once its work is safe;
        // one that never started (blocked, in a cycle) had no work to keep.
        if let Phase::NeedsHuman(reason) = to
            && !from.holds_slot()
            && let Some(view) = self.views.get(squad).cloned()
        {
            let shared = Arc::clone(&self.shared);
            let ctx = self.last_ctx(&view);
            let reason = reason.clone();
            let span = view_span(&view);
            self.tasks.spawn(
                async move {
                    let ctx = ctx.lock().await;
                    let nothing = steps::SavedWork::Nothing;
                    steps::post_needs_human(&shared, &ctx, &view, &reason, &nothing).await;
                }
                .instrument(span),
            );
        }
        failpoint(&format!(
            "{}::{}",
            self.shared.settings.failpoint_scope,
            to.name()
        ))
    }

    /// The working state of the squad `view` shows, created on first use.
    fn ctx(&mut self, view: &SquadView) -> SharedCtx {
        Arc::clone(
            self.contexts
                .entry(view.squad.clone())
                .or_insert_with(|| SquadCtx::for_view(view)),
        )
    }

    /// The working state of the ended squad `view` shows, for its last task (its clean-up,
    /// or the summary of a squad that never started): the runtime keeps it no longer, so a
    /// daemon that runs for months holds the working state of its live squads only.
    fn last_ctx(&mut self, view: &SquadView) -> SharedCtx {
        self.contexts
            .remove(&view.squad)
            .unwrap_or_else(|| SquadCtx::for_view(view))
    }

    fn spawn_step(&mut self, squad: &SquadId, command: Command) {
        self.spawn_step_after(squad, command, std::time::Duration::ZERO);
    }

    /// Runs a step once `delay` has passed (a retry's backoff). The wait belongs to the
    /// step's task, so stopping the squad's work cancels a pending retry too.
    fn spawn_step_after(&mut self, squad: &SquadId, command: Command, delay: std::time::Duration) {
        let Some(view) = self.views.get(squad).cloned() else {
            tracing::error!(squad = %squad, "no view of the squad; cannot run its step");
            return;
        };
        let pr = self.scheduler.squad(squad).and_then(|status| status.pr);
        let span = log_events::squad_span(
            &view.run,
            squad,
            &view.issue,
            &view.phase,
            view.round,
            pr.or(view.pr),
        );
        let shared = Arc::clone(&self.shared);
        let ctx = self.ctx(&view);
        let outcomes = self.outcomes_tx.clone();
        let step = async move {
            // A retry waiting out its backoff when the runtime starts shutting down, or a step
            // that had not begun, is not run: its phase is recorded, so the next start runs it.
            tokio::select! {
                biased;
                () = shared.harness.interrupted() => {}
                () = tokio::time::sleep(delay) => {}
            }
            if shared.harness.is_interrupted() {
                tracing::info!(squad = %view.squad, "not starting a step during shutdown; it resumes on the next start");
                return;
            }
            let mut ctx = ctx.lock().await;
            if ctx.pr.is_none() {
                ctx.pr = pr;
            }
            let stepped = steps::run(&shared, &mut ctx, command).await;
            // The view is brought up to date before the step's outcomes are sent: an outcome
            // may end the squad and with it the run, and whoever waits for the run reads the
            // views at once (a squad that spent tokens must not be reported at zero).
            if let Some(issue) = &ctx.issue {
                let _ = outcomes.send(Outcome::View(
                    view.squad.clone(),
                    ViewUpdate::Title(issue.title.clone()),
                ));
            }
            if let Ok(totals) = shared
                .services
                .store
                .usage_totals(&SpendScope::Squad(view.squad.clone()))
                .await
            {
                let _ = outcomes.send(Outcome::View(view.squad.clone(), ViewUpdate::Usage(totals)));
            }
            for outcome in stepped {
                let _ = outcomes.send(outcome);
            }
        };
        let handle = self.tasks.spawn(step.instrument(span));
        if let Some(previous) = self.running.insert(squad.clone(), handle) {
            // The scheduler issues one step at a time per squad; the handle of a step that
            // is ending is only dropped, never aborted, so it reports its outcome.
            drop(previous);
        }
    }

    fn spawn_cleanup(&mut self, squad: &SquadId) {
        let Some(view) = self.views.get(squad).cloned() else {
            return;
        };
        let keep = matches!(view.phase, Phase::NeedsHuman(_))
            && self.shared.settings.keep_worktrees_on_needs_human;
        let shared = Arc::clone(&self.shared);
        let ctx = self.last_ctx(&view);
        let span = view_span(&view);
        self.tasks.spawn(
            async move {
                steps::clean_up(&shared, &ctx, &view, keep).await;
            }
            .instrument(span),
        );
    }

    async fn run_finished(&mut self, run: &RunId, summary: &RunSummary) {
        if self.shared.settings.shares_squads {
            // This daemon's squads of the run ended; others may still work the rest.
            match self.shared.services.store.squads_of_run(run).await {
                Ok(squads) if squads.iter().all(|record| record.squad.phase.is_terminal()) => {}
                Ok(_) => {
                    tracing::info!(run = %run, "this daemon's squads of the run ended; other daemons work the rest");
                    return;
                }
                Err(error) => {
                    tracing::error!(run = %run, %error, "could not read whether the run finished");
                    return;
                }
            }
        }
        self.record_run_finished(run).await;
        // Every ended squad's working state was let go with its clean-up; what is still
        // held belongs to squads of other runs.
        tracing::info!(run = %run, summary = %summary, working_states = self.contexts.len(), "run finished");
    }

    async fn record_run_finished(&mut self, run: &RunId) {
        let now = self.shared.services.clock.now();
        if let Err(error) = self
            .shared
            .services
            .store
            .set_run_status(run, RunStatus::Finished, now)
            .await
        {
            tracing::error!(run = %run, %error, "could not record the run as finished");
        }
        if let Some(view) = self.runs.iter_mut().find(|view| &view.id == run) {
            view.finished = true;
        }
    }

    fn add_view(&mut self, view: SquadView) {
        if !self.views.contains_key(&view.squad) {
            self.order.push(view.squad.clone());
        }
        self.views.insert(view.squad.clone(), view);
    }

    fn publish(&self) {
        let progress = Progress {
            runs: self.runs.clone(),
            squads: self
                .order
                .iter()
                .filter_map(|id| self.views.get(id))
                .map(|view| SquadView {
                    at_work: self.shared.activity.at_work(&view.squad),
                    waiting: self.waiting(view),
                    ..view.clone()
                })
                .collect(),
        };
        self.progress_tx.send_if_modified(|current| {
            if *current == progress {
                false
            } else {
                *current = progress;
                true
            }
        });
    }
}

impl Runtime {
    /// What the squad `view` shows waits for, from its blockers' phases and, as the
    /// scheduler has it, the squads naming the same files it starts after, its place in the
    /// merge lane and the gate's last answer.
    fn waiting(&self, view: &SquadView) -> Option<Waiting> {
        let open_blockers: Vec<IssueKey> = view
            .blocked_by
            .iter()
            .filter(|blocker| {
                !self.views.values().any(|other| {
                    other.run == view.run
                        && &other.issue == *blocker
                        && other.phase == Phase::Merged
                })
            })
            .cloned()
            .collect();
        let status = self.scheduler.squad(&view.squad);
        let first = self.scheduler.waits_after(&view.squad);
        if view.phase == Phase::Queued && open_blockers.is_empty() && !first.is_empty() {
            return Some(Waiting::SharedFiles(first.into_iter().cloned().collect()));
        }
        if let Some(stop) = status.and_then(|status| status.lane_stopped) {
            return Some(Waiting::LaneStopped {
                lane: stop.lane.clone(),
                failing: stop.failing.issue.clone(),
            });
        }
        Waiting::of(
            &view.phase,
            open_blockers,
            status.and_then(|status| status.lane_position),
            status.and_then(|status| status.gate),
        )
    }
}

impl Killed {
    fn into_error(self) -> PipelineError {
        PipelineError::new(PipelineErrorKind::Stopped, self.0)
    }
}

/// The `squad` span of a task for the squad `view` shows.
fn view_span(view: &SquadView) -> tracing::Span {
    log_events::squad_span(
        &view.run,
        &view.squad,
        &view.issue,
        &view.phase,
        view.round,
        view.pr,
    )
}

/// Sleeps until `deadline`; never wakes without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The milestone URL a run was started from.
fn trigger_url(trigger: &RunTrigger) -> Option<String> {
    match trigger {
        RunTrigger::Milestone { url } => Some(url.clone()),
        RunTrigger::Fix { .. } | RunTrigger::Revert { .. } => None,
    }
}

/// A failpoint at a phase boundary (`<scope>::<phase>`): with the `failpoints` feature,
/// tests configure it to `return` and the runtime stops at once, as if killed.
fn failpoint(name: &str) -> Result<(), Killed> {
    fail::fail_point!(name, |_| Err(Killed(format!(
        "run on: killed at failpoint `{name}`"
    ))));
    let _ = name;
    Ok(())
}
