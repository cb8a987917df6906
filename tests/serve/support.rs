//! The server under test on a loopback port, in front of an in-memory fake runtime that
//! records every request it gets.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use squadron::server::{
    CancelOutcome, ControlError, ControlErrorKind, MetricsSnapshot, Readiness, RunView, ServeError,
    Server, ServerControl, ServerSettings, SquadDetail, SquadView, WebhookSecret,
};
use squadron_config::Secret;
use squadron_core::gate::GateTarget;
use squadron_core::ports::{
    Clock, RunRecord, RunStatus, SquadEvent, SquadRecord, TranscriptEntry, UsageTotals,
};
use squadron_core::{
    IssueId, IssueKey, Phase, PrNumber, Run, RunId, RunTrigger, Squad, SquadId, SquadKind,
    Timestamp,
};
use squadron_pipeline::FixRequest;
use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast, oneshot};
use tokio::task::JoinHandle;

/// The fixed "now" of every test: 2023-11-14T22:13:20Z.
pub const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);
pub const LINEAR_SECRET: &str = "linear-webhook-secret";
pub const GITHUB_SECRET: &str = "github-webhook-secret";
pub const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const PROJECT_URL: &str = "https://linear.app/acme/project/checkout-v2-a5e6ddb5d475/overview";

pub struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        NOW
    }
}

/// A clock stopped at a given instant.
pub struct ClockAt(pub Timestamp);

impl Clock for ClockAt {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// Everything the fake runtime was asked, and what it answers.
#[derive(Default)]
pub struct Recorded {
    pub runs: Vec<RunView>,
    pub started: Vec<String>,
    /// Every fix asked for, in order.
    pub fixes: Vec<FixRequest>,
    pub refuse_fix: Option<ControlError>,
    /// When set, `start_fix` records the request, signals the first and waits for the
    /// second, as the runtime does while it reads the issue from Linear.
    pub fix_gate: Option<(Arc<Notify>, Arc<Notify>)>,
    /// Signalled after each `start_fix` answered.
    pub fix_answered: Arc<Notify>,
    pub cancelled: Vec<IssueKey>,
    pub reevaluated: Vec<GateTarget>,
    pub unhealthy: Option<String>,
    pub refuse_start: Option<ControlError>,
    pub metrics: MetricsSnapshot,
    pub shutdowns: u32,
    /// Every call in order, to check what happened before the shutdown.
    pub calls: Vec<&'static str>,
    /// When set, `start_run` signals the first and then waits for the second.
    pub start_gate: Option<(Arc<Notify>, Arc<Notify>)>,
    /// What every squad's page shows as its event log and transcript.
    pub events: Vec<SquadEvent>,
    pub transcript: Vec<TranscriptEntry>,
    /// The merge lanes stop the line stopped.
    pub lane_stops: Vec<squadron_core::ports::StoppedLane>,
}

/// An in-memory runtime: runs and squads live in a list, changes go out on a channel.
pub struct FakeControl {
    recorded: Mutex<Recorded>,
    updates: broadcast::Sender<SquadView>,
}

impl FakeControl {
    pub fn new() -> Arc<FakeControl> {
        Arc::new(FakeControl {
            recorded: Mutex::new(Recorded::default()),
            updates: broadcast::channel(16).0,
        })
    }

    pub fn recorded(&self) -> MutexGuard<'_, Recorded> {
        self.recorded.lock().expect("fake control lock")
    }

    /// Adds a run with the given squads, as the runtime would have recorded it.
    pub fn add_run(&self, id: &str, squads: Vec<SquadView>) {
        self.recorded().runs.push(RunView {
            run: RunRecord {
                run: Run {
                    id: RunId::from(id),
                    trigger: RunTrigger::Milestone {
                        url: PROJECT_URL.to_owned(),
                    },
                    created_at: NOW - Duration::from_secs(600),
                },
                status: RunStatus::Running,
                updated_at: NOW - Duration::from_secs(60),
            },
            squads,
        });
    }

    /// Publishes a squad change, as the runtime does after each recorded step.
    pub fn publish(&self, view: SquadView) -> usize {
        self.updates.send(view).unwrap_or(0)
    }

    pub fn receivers(&self) -> usize {
        self.updates.receiver_count()
    }
}

#[async_trait]
impl ServerControl for FakeControl {
    async fn start_run(&self, url: &str) -> Result<RunId, ControlError> {
        let gate = self.recorded().start_gate.clone();
        if let Some((entered, release)) = gate {
            entered.notify_one();
            release.notified().await;
        }
        let mut recorded = self.recorded();
        recorded.calls.push("start_run");
        if let Some(error) = recorded.refuse_start.clone() {
            return Err(error);
        }
        recorded.started.push(url.to_owned());
        let id = format!("run-{}", recorded.started.len());
        drop(recorded);
        self.add_run(&id, Vec::new());
        Ok(RunId::new(id))
    }

    async fn start_fix(&self, request: FixRequest) -> Result<RunId, ControlError> {
        let (gate, answered) = {
            let mut recorded = self.recorded();
            recorded.calls.push("start_fix");
            recorded.fixes.push(request);
            (
                recorded.fix_gate.clone(),
                Arc::clone(&recorded.fix_answered),
            )
        };
        if let Some((entered, release)) = gate {
            entered.notify_one();
            release.notified().await;
        }
        let answer = {
            let recorded = self.recorded();
            match recorded.refuse_fix.clone() {
                Some(error) => Err(error),
                None => Ok(RunId::new(format!("fix-{}", recorded.fixes.len()))),
            }
        };
        answered.notify_one();
        answer
    }

    async fn run(&self, id: &RunId) -> Result<RunView, ControlError> {
        self.recorded()
            .runs
            .iter()
            .find(|view| &view.run.run.id == id)
            .cloned()
            .ok_or_else(|| {
                ControlError::new(ControlErrorKind::NotFound, format!("find run `{id}`"))
            })
    }

    async fn squads(&self) -> Result<Vec<SquadView>, ControlError> {
        Ok(self
            .recorded()
            .runs
            .iter()
            .flat_map(|run| run.squads.clone())
            .collect())
    }

    async fn runs(&self) -> Result<Vec<RunView>, ControlError> {
        Ok(self.recorded().runs.iter().rev().cloned().collect())
    }

    async fn squad_detail(&self, id: &SquadId) -> Result<SquadDetail, ControlError> {
        let recorded = self.recorded();
        let squad = recorded
            .runs
            .iter()
            .flat_map(|run| run.squads.iter())
            .find(|view| &view.record.squad.id == id)
            .cloned()
            .ok_or_else(|| {
                ControlError::new(ControlErrorKind::NotFound, format!("find squad `{id}`"))
            })?;
        let run = recorded
            .runs
            .iter()
            .find(|run| run.run.run.id == squad.record.squad.run_id)
            .map(|run| run.run.clone());
        Ok(SquadDetail {
            squad,
            run,
            events: recorded.events.clone(),
            transcript: recorded.transcript.clone(),
            usage_by_role: Vec::new(),
            side_effects: Vec::new(),
        })
    }

    async fn cancel_issue(&self, issue: &IssueKey) -> Result<CancelOutcome, ControlError> {
        let mut recorded = self.recorded();
        recorded.cancelled.push(issue.clone());
        let cancelled = recorded
            .runs
            .iter()
            .flat_map(|run| &run.squads)
            .filter(|view| {
                &view.record.squad.issue == issue && !view.record.squad.phase.is_terminal()
            })
            .map(|view| view.record.squad.id.clone())
            .collect();
        Ok(CancelOutcome { cancelled })
    }

    async fn reevaluate(&self, target: &GateTarget) -> Result<(), ControlError> {
        self.recorded().reevaluated.push(target.clone());
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<SquadView> {
        self.updates.subscribe()
    }

    async fn health(&self) -> Result<(), ControlError> {
        match &self.recorded().unhealthy {
            Some(reason) => Err(ControlError::new(
                ControlErrorKind::Unavailable,
                reason.clone(),
            )),
            None => Ok(()),
        }
    }

    async fn metrics(&self, _now: Timestamp) -> Result<MetricsSnapshot, ControlError> {
        Ok(self.recorded().metrics.clone())
    }

    /// A daemon alone, registered with no store of daemons (the cluster suite covers them).
    async fn cluster(&self) -> Result<squadron::server::ClusterView, ControlError> {
        Ok(squadron::server::ClusterView {
            this: None,
            daemons: Vec::new(),
            runtime: None,
            leases: Vec::new(),
        })
    }

    async fn lane_stops(&self) -> Result<Vec<squadron_core::ports::StoppedLane>, ControlError> {
        Ok(self.recorded().lane_stops.clone())
    }

    async fn resume_lane(
        &self,
        lane: &squadron_core::merge_queue::MergeLane,
    ) -> Result<squadron_core::ports::StoppedLane, ControlError> {
        let mut recorded = self.recorded();
        let index = recorded
            .lane_stops
            .iter()
            .position(|stopped| stopped.stop.lane == *lane)
            .ok_or_else(|| {
                ControlError::new(
                    ControlErrorKind::NotFound,
                    format!("resume the merge lane {lane}: it is not stopped"),
                )
            })?;
        Ok(recorded.lane_stops.remove(index))
    }

    async fn shutdown(&self) {
        let mut recorded = self.recorded();
        recorded.shutdowns += 1;
        recorded.calls.push("shutdown");
    }
}

/// A squad of run `run` on `issue` in `phase`.
pub fn squad(run: &str, id: &str, issue: &str, phase: Phase) -> SquadView {
    SquadView {
        record: SquadRecord {
            squad: Squad {
                id: SquadId::from(id),
                run_id: RunId::from(run),
                issue: IssueKey::from(issue),
                kind: SquadKind::Feature,
                phase,
                round: 1,
                pr: Some(PrNumber(7)),
                branch: format!("squadron/{}", issue.to_lowercase()),
                worktree: None,
            },
            issue_id: IssueId::from(format!("uuid-{issue}")),
            blocked_by: Vec::new(),
            starts_after: Vec::new(),
            created_at: NOW - Duration::from_secs(300),
            updated_at: NOW - Duration::from_secs(10),
        },
        usage: UsageTotals::default(),
        live: None,
        gate_hold: None,
    }
}

/// Both secrets configured, default limits.
pub fn settings() -> ServerSettings {
    ServerSettings::new(
        secret(
            Some(LINEAR_SECRET),
            "LINEAR_WEBHOOK_SECRET",
            "linear.webhook_secret_env",
        ),
        secret(
            Some(GITHUB_SECRET),
            "GITHUB_WEBHOOK_SECRET",
            "github.webhook_secret_env",
        ),
        secret(
            Some(SLACK_SECRET),
            "SLACK_SIGNING_SECRET",
            "slack.signing_secret_env",
        ),
    )
}

pub fn secret(value: Option<&str>, env_var: &str, config_key: &str) -> WebhookSecret {
    WebhookSecret {
        value: value.map(Secret::new),
        env_var: env_var.to_owned(),
        config_key: config_key.to_owned(),
    }
}

/// A server running on an ephemeral loopback port.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl TestServer {
    pub async fn start(control: Arc<FakeControl>) -> TestServer {
        TestServer::start_with(control, settings()).await
    }

    pub async fn start_with(control: Arc<FakeControl>, settings: ServerSettings) -> TestServer {
        TestServer::start_at(control, settings, Arc::new(FixedClock)).await
    }

    /// A server reporting `readiness` on `/readyz`.
    pub async fn start_ready(
        control: Arc<FakeControl>,
        settings: ServerSettings,
        readiness: Readiness,
    ) -> TestServer {
        TestServer::start_server(control, settings, Arc::new(FixedClock), readiness).await
    }

    /// A server whose webhooks are checked against `clock`.
    pub async fn start_at(
        control: Arc<FakeControl>,
        settings: ServerSettings,
        clock: Arc<dyn Clock>,
    ) -> TestServer {
        TestServer::start_server(control, settings, clock, Readiness::new()).await
    }

    async fn start_server(
        control: Arc<FakeControl>,
        settings: ServerSettings,
        clock: Arc<dyn Clock>,
        readiness: Readiness,
    ) -> TestServer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = Server::new(control, clock, settings).with_readiness(readiness);
        let task = tokio::spawn(squadron::server::run(
            squadron::server::Listeners::shared(listener),
            server,
            async move {
                let _ = stopped.await;
            },
        ));
        TestServer {
            base,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn post_json(&self, path: &str, body: &str) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("POST")
    }

    /// Signals shutdown, as SIGTERM does in the daemon.
    pub fn begin_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Signals shutdown and waits (bounded) for the server to finish.
    pub async fn stop(mut self) -> Result<(), ServeError> {
        self.begin_stop();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops within 10 s")
            .expect("the server task does not panic")
    }
}

/// A response's status and JSON body.
pub async fn json(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("body is not JSON ({error}): {text}"));
    (status, value)
}

/// Hex HMAC-SHA256 of `body` under `secret`.
pub fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}
