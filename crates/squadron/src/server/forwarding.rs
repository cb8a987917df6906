//! Any replica answers. Of the daemons sharing a store one runs the squads; the others still
//! take the API's runs, Slack's `/squad fix`, Linear's cancellations and GitHub's deliveries.
//! A daemon that does not run the squads records such a request in the store's request queue
//! ([`Forwarder`]) and, except for GitHub's deliveries (whose sender wants no answer), waits
//! for the answer to give its caller; the daemon that runs the squads takes the queue every
//! [`RELAY_EVERY`] and carries each request out through its own runtime ([`relay`]). Every
//! request is safe to carry out twice (a run or fix of the same milestone or issue returns the
//! unfinished one, a cancellation or re-evaluation repeats harmlessly), so one whose taker
//! died is simply taken again.
//!
//! When the daemons share the squads, each works runs and fixes itself, but a Linear
//! cancellation or a GitHub delivery concerns squads other daemons may hold: the receiving
//! daemon carries it out for its own squads and records it for each daemon holding squads it
//! concerns, addressed to that daemon, which takes it at its next relay round.
//!
//! A daemon that does not run the squads also feeds its event stream from the store
//! ([`store_feed`]), so the dashboard of any replica shows the squads moving.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use squadron_core::gate::{CommitSha, GateTarget};
use squadron_core::lease::{DaemonId, LeaseSubject};
use squadron_core::ports::{Clock, RepoRef};
use squadron_core::{IssueKey, PrNumber, RunId, SquadId, Timestamp};
use squadron_pipeline::{FixRequest, SlackOrigin};
use squadron_store::{QueuedRequest, RequestState, SqlStore};
use tokio::sync::broadcast;
use tracing::{debug, info, warn};

use super::control::{ControlError, ControlErrorKind, ServerControl, SquadView};
use super::store_reads::StoreReads;

/// How often the daemon that runs the squads takes recorded requests.
pub(crate) const RELAY_EVERY: Duration = Duration::from_millis(500);
/// How long a taker holds a request before another daemon may take it (it died meanwhile).
const HOLD: Duration = Duration::from_secs(30);
/// How often one request may be taken before it is answered with a failure: each taker
/// stopped before answering, so the request itself is the likely cause.
const MAX_ATTEMPTS: u32 = 3;
/// How many requests one take claims.
const TAKE_AT_ONCE: usize = 16;
/// How long answered requests are kept (for a caller reading its answer late).
const KEEP_ANSWERED: Duration = Duration::from_secs(600);
/// How long the receiving daemon waits for the runner to take a request before it
/// withdraws it and says so: many of the runner's takes, well within a client's timeout.
const TAKE_WITHIN: Duration = Duration::from_secs(10);
/// How long it then waits for the answer: within `server.request_timeout_secs`' default.
const ANSWER_WITHIN: Duration = Duration::from_secs(25);
/// How often the receiving daemon reads whether its request was answered.
const POLL_ANSWER: Duration = Duration::from_millis(100);
/// How often a daemon that does not run the squads reads them for its event stream.
const STORE_FEED_EVERY: Duration = Duration::from_secs(2);

/// A request for the daemon that runs the squads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Forwarded {
    /// `POST /api/runs`.
    StartRun { url: String },
    /// `/squad fix` in Slack.
    StartFix(FixRequest),
    /// An issue canceled in Linear.
    CancelIssue(IssueKey),
    /// A GitHub delivery naming PRs whose gate should be asked again.
    Reevaluate(GateTarget),
}

/// What the daemon that runs the squads answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The run started (or the unfinished one of the same milestone or issue).
    Run(RunId),
    /// The squads asked to stop.
    Cancelled(Vec<SquadId>),
    /// Done, nothing to report (a re-evaluation), or recorded without waiting.
    Done,
}

impl Answer {
    /// The run this answer names; any other answer to a start is a bug.
    pub(crate) fn run_id(self, what: &str) -> Result<RunId, ControlError> {
        match self {
            Answer::Run(run) => Ok(run),
            other => Err(unexpected(what, &other)),
        }
    }

    /// The squads this answer names as cancelled; any other answer to a cancellation is a bug.
    pub(crate) fn cancelled(self, what: &str) -> Result<Vec<SquadId>, ControlError> {
        match self {
            Answer::Cancelled(squads) => Ok(squads),
            other => Err(unexpected(what, &other)),
        }
    }
}

fn unexpected(what: &str, answer: &Answer) -> ControlError {
    ControlError::new(
        ControlErrorKind::Internal,
        format!("{what}: the daemon that runs the squads answered {answer:?}"),
    )
}

impl Forwarded {
    fn kind(&self) -> &'static str {
        match self {
            Forwarded::StartRun { .. } => "start-run",
            Forwarded::StartFix(_) => "start-fix",
            Forwarded::CancelIssue(_) => "cancel-issue",
            Forwarded::Reevaluate(_) => "reevaluate",
        }
    }

    fn body(&self) -> Value {
        match self {
            Forwarded::StartRun { url } => json!({ "url": url }),
            Forwarded::StartFix(request) => json!({
                "issue": request.issue,
                "requested_by": request.requested_by,
                "slack": request.slack.as_ref().map(|slack| json!({
                    "channel": slack.channel,
                    "thread_ts": slack.thread_ts,
                })),
            }),
            Forwarded::CancelIssue(issue) => json!({ "issue": issue.as_str() }),
            Forwarded::Reevaluate(target) => match target {
                GateTarget::PullRequest { repo, pr } => {
                    json!({ "owner": repo.owner, "repo": repo.name, "pr": pr.0 })
                }
                GateTarget::Commit { repo, sha } => {
                    json!({ "owner": repo.owner, "repo": repo.name, "sha": sha.as_str() })
                }
                GateTarget::Branch { repo, branch } => {
                    json!({ "owner": repo.owner, "repo": repo.name, "branch": branch })
                }
            },
        }
    }

    /// Reads a request back; `None` for a kind or body this version does not know.
    fn decode(kind: &str, body: &str) -> Option<Forwarded> {
        let body: Value = serde_json::from_str(body).ok()?;
        let text = |name: &str| body[name].as_str().map(str::to_owned);
        Some(match kind {
            "start-run" => Forwarded::StartRun { url: text("url")? },
            "start-fix" => Forwarded::StartFix(FixRequest {
                issue: text("issue")?,
                requested_by: text("requested_by")?,
                slack: match &body["slack"] {
                    Value::Null => None,
                    slack => Some(SlackOrigin {
                        channel: slack["channel"].as_str()?.to_owned(),
                        thread_ts: slack["thread_ts"].as_str().map(str::to_owned),
                    }),
                },
            }),
            "cancel-issue" => Forwarded::CancelIssue(IssueKey::from(text("issue")?.as_str())),
            "reevaluate" => {
                let repo = RepoRef::new(text("owner")?, text("repo")?);
                Forwarded::Reevaluate(if let Some(pr) = body["pr"].as_u64() {
                    GateTarget::PullRequest {
                        repo,
                        pr: PrNumber(pr),
                    }
                } else if let Some(sha) = text("sha") {
                    GateTarget::Commit {
                        repo,
                        sha: CommitSha::new(sha),
                    }
                } else {
                    GateTarget::Branch {
                        repo,
                        branch: text("branch")?,
                    }
                })
            }
            _ => return None,
        })
    }

    /// Carries the request out through `control`, the runtime of this daemon.
    async fn carry_out(self, control: &dyn ServerControl) -> Result<Answer, ControlError> {
        Ok(match self {
            Forwarded::StartRun { url } => Answer::Run(control.start_run(&url).await?),
            Forwarded::StartFix(request) => Answer::Run(control.start_fix(request).await?),
            Forwarded::CancelIssue(issue) => {
                Answer::Cancelled(control.cancel_issue(&issue).await?.cancelled)
            }
            Forwarded::Reevaluate(target) => {
                control.reevaluate(&target).await?;
                Answer::Done
            }
        })
    }
}

/// An answer as stored.
fn encode_answer(answer: &Result<Answer, ControlError>) -> Value {
    match answer {
        Ok(Answer::Run(run)) => json!({ "run_id": run.as_str() }),
        Ok(Answer::Cancelled(squads)) => {
            let squads: Vec<&str> = squads.iter().map(SquadId::as_str).collect();
            json!({ "cancelled": squads })
        }
        Ok(Answer::Done) => json!({ "done": true }),
        Err(error) => json!({ "error": {
            "kind": match error.kind() {
                ControlErrorKind::NotFound => "not_found",
                ControlErrorKind::Invalid => "invalid",
                ControlErrorKind::Unavailable => "unavailable",
                ControlErrorKind::Internal => "internal",
            },
            "message": error.message(),
        }}),
    }
}

/// A stored answer read back, as the receiving daemon's caller gets it.
fn decode_answer(text: &str, runner: Option<&DaemonId>) -> Result<Answer, ControlError> {
    let answer: Value = serde_json::from_str(text).map_err(|error| {
        ControlError::new(
            ControlErrorKind::Internal,
            format!("read the answer of another daemon: {error}"),
        )
    })?;
    if let Some(run) = answer["run_id"].as_str() {
        return Ok(Answer::Run(RunId::from(run)));
    }
    if let Some(squads) = answer["cancelled"].as_array() {
        return Ok(Answer::Cancelled(
            squads
                .iter()
                .filter_map(Value::as_str)
                .map(SquadId::from)
                .collect(),
        ));
    }
    if let Some(error) = answer.get("error") {
        let kind = match error["kind"].as_str() {
            Some("not_found") => ControlErrorKind::NotFound,
            Some("invalid") => ControlErrorKind::Invalid,
            Some("unavailable") => ControlErrorKind::Unavailable,
            _ => ControlErrorKind::Internal,
        };
        let message = error["message"].as_str().unwrap_or("no reason given");
        // The caller sees the runner's own words; an operator also learns where they came from.
        let message = match runner {
            Some(runner) => format!("{message} (answered by daemon `{runner}`)"),
            None => message.to_owned(),
        };
        return Err(ControlError::new(kind, message));
    }
    Ok(Answer::Done)
}

/// The receiving side: records requests for the daemon that runs the squads, or, when the
/// daemons share the squads, for the daemons holding the squads a request concerns.
pub(crate) struct Forwarder {
    daemon: DaemonId,
    /// The store without this daemon's fences: requests are nobody's squad.
    store: Arc<SqlStore>,
    clock: Arc<dyn Clock>,
    /// Whether the daemons share the squads: requests are then addressed to their holders.
    sharing: bool,
}

impl Forwarder {
    pub(crate) fn new(daemon: DaemonId, store: Arc<SqlStore>, clock: Arc<dyn Clock>) -> Forwarder {
        Forwarder {
            daemon,
            store,
            clock,
            sharing: false,
        }
    }

    /// A forwarder for daemons sharing the squads: each request goes to the daemons holding
    /// the squads it concerns, addressed to each.
    pub(crate) fn sharing(
        daemon: DaemonId,
        store: Arc<SqlStore>,
        clock: Arc<dyn Clock>,
    ) -> Forwarder {
        Forwarder {
            sharing: true,
            ..Forwarder::new(daemon, store, clock)
        }
    }

    /// Whether the daemons share the squads.
    pub(crate) fn shares_squads(&self) -> bool {
        self.sharing
    }

    /// The other daemons holding unfinished squads of `issue` (of any issue for `None`),
    /// when the daemons share the squads; none otherwise, or when the store does not answer.
    pub(crate) async fn holders_elsewhere(&self, issue: Option<&IssueKey>) -> Vec<DaemonId> {
        if !self.sharing {
            return Vec::new();
        }
        match self
            .store
            .squad_holders_besides(&self.daemon, issue, self.clock.now())
            .await
        {
            Ok(holders) => holders,
            Err(error) => {
                warn!(%error, "could not read which daemons hold the squads; answering here alone");
                Vec::new()
            }
        }
    }

    pub(crate) fn daemon(&self) -> &DaemonId {
        &self.daemon
    }

    pub(crate) fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.clock)
    }

    /// The daemon that runs (or ran, and is being taken over from) the squads, when it is
    /// not this one.
    pub(crate) async fn runner_elsewhere(&self) -> Option<DaemonId> {
        match self.store.lease(&LeaseSubject::Runtime).await {
            Ok(Some(lease)) if lease.holder != self.daemon => Some(lease.holder),
            Ok(_) => None,
            Err(error) => {
                debug!(%error, "could not read who runs the squads");
                None
            }
        }
    }

    /// Records `request` for `runner`; with `wait`, waits for its answer: first for a taker
    /// (withdrawing it when none comes within [`TAKE_WITHIN`]), then for the answer.
    pub(crate) async fn forward(
        &self,
        request: Forwarded,
        runner: &DaemonId,
        wait: bool,
    ) -> Result<Answer, ControlError> {
        let kind = request.kind();
        let what = format!("hand the {kind} request to daemon `{runner}`, which runs the squads");
        let unavailable = |error: squadron_store::StoreError| {
            ControlError::new(ControlErrorKind::Unavailable, format!("{what}: {error}"))
        };
        let id = self
            .store
            .enqueue_request(
                kind,
                &request.body().to_string(),
                &self.daemon,
                // One daemon runs the squads: whichever does when it is taken (it may be
                // being taken over). Shared: the holder alone.
                self.sharing.then_some(runner),
                self.clock.now(),
            )
            .await
            .map_err(unavailable)?;
        info!(request = id, kind, runner = %runner, "recorded a request for the daemon that runs the squads");
        if !wait {
            return Ok(Answer::Done);
        }
        let start = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(POLL_ANSWER).await;
            let now = self.clock.now();
            match self
                .store
                .request_state(id, now)
                .await
                .map_err(unavailable)?
            {
                RequestState::Answered(answer) => return decode_answer(&answer, Some(runner)),
                RequestState::Gone => {
                    return Err(ControlError::new(
                        ControlErrorKind::Internal,
                        format!("{what}: request {id} was deleted before it was answered"),
                    ));
                }
                RequestState::Waiting if start.elapsed() >= TAKE_WITHIN => {
                    if self
                        .store
                        .withdraw_request(id, now)
                        .await
                        .map_err(unavailable)?
                    {
                        return Err(ControlError::new(
                            ControlErrorKind::Unavailable,
                            format!(
                                "{what}: it took nothing within {}s (it may be starting, or \
                                 stopped and being taken over); nothing was done, ask again",
                                TAKE_WITHIN.as_secs()
                            ),
                        ));
                    }
                }
                RequestState::Taken { by } if start.elapsed() >= ANSWER_WITHIN => {
                    return Err(ControlError::new(
                        ControlErrorKind::Unavailable,
                        format!(
                            "{what}: daemon `{by}` took it but did not answer within {}s; it is \
                             still being carried out, so check `/api/runs` before asking again",
                            ANSWER_WITHIN.as_secs()
                        ),
                    ));
                }
                RequestState::Waiting | RequestState::Taken { .. } => {}
            }
        }
    }
}

/// The daemon that runs the squads (every daemon, when they share the squads): takes the
/// recorded requests it may take every [`RELAY_EVERY`] and carries each out through
/// `control` in a task of its own, until aborted.
pub(crate) async fn relay(
    daemon: DaemonId,
    store: Arc<SqlStore>,
    clock: Arc<dyn Clock>,
    control: Arc<dyn ServerControl>,
) {
    let mut rounds: u64 = 0;
    loop {
        tokio::time::sleep(RELAY_EVERY).await;
        rounds += 1;
        let now = clock.now();
        let taken = match store
            .take_requests(&daemon, now, after(now, HOLD), TAKE_AT_ONCE)
            .await
        {
            Ok(taken) => taken,
            Err(error) => {
                warn!(%error, "could not take the requests other daemons recorded; trying again");
                continue;
            }
        };
        for request in taken {
            tokio::spawn(carry_out(
                daemon.clone(),
                Arc::clone(&store),
                Arc::clone(&clock),
                Arc::clone(&control),
                request,
            ));
        }
        // About once a minute.
        if rounds.is_multiple_of(120) {
            if let Err(error) = store
                .forget_answered_requests(before(now, KEEP_ANSWERED))
                .await
            {
                debug!(%error, "could not delete old answered requests");
            }
            if let Err(error) = store
                .forget_unclaimed_addressed_requests(before(now, KEEP_ANSWERED))
                .await
            {
                debug!(%error, "could not delete requests for daemons that stopped");
            }
        }
    }
}

async fn carry_out(
    daemon: DaemonId,
    store: Arc<SqlStore>,
    clock: Arc<dyn Clock>,
    control: Arc<dyn ServerControl>,
    request: QueuedRequest,
) {
    let answer = if request.attempts > MAX_ATTEMPTS {
        Err(ControlError::new(
            ControlErrorKind::Internal,
            format!(
                "carry out the {} request: {} daemons took it and stopped before answering",
                request.kind, MAX_ATTEMPTS
            ),
        ))
    } else {
        match Forwarded::decode(&request.kind, &request.body) {
            Some(forwarded) => forwarded.carry_out(control.as_ref()).await,
            None => Err(ControlError::new(
                ControlErrorKind::Invalid,
                format!(
                    "read the {} request: this version of Squadron does not know it",
                    request.kind
                ),
            )),
        }
    };
    info!(
        request = request.id,
        kind = %request.kind,
        from = %request.received_by,
        ok = answer.is_ok(),
        "answered a request another daemon received"
    );
    match store
        .answer_request(
            request.id,
            &daemon,
            &encode_answer(&answer).to_string(),
            clock.now(),
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => debug!(request = request.id, "another daemon took the request over"),
        Err(error) => warn!(request = request.id, %error, "could not write a request's answer"),
    }
}

/// Feeds `updates` with every squad that changed in the store, every [`STORE_FEED_EVERY`]
/// while `local` says this daemon's own runtime does not feed them, until aborted.
pub(crate) async fn store_feed(
    reads: StoreReads,
    updates: broadcast::Sender<SquadView>,
    local: impl Fn() -> bool + Send + 'static,
) {
    let mut seen: HashMap<SquadId, SquadView> = HashMap::new();
    loop {
        tokio::time::sleep(STORE_FEED_EVERY).await;
        if local() {
            // The runtime's own feed publishes; start afresh if it ever stops.
            seen.clear();
            continue;
        }
        // Nobody listens: skip the reads.
        if updates.receiver_count() == 0 {
            continue;
        }
        let squads = match reads.squads().await {
            Ok(squads) => squads,
            Err(error) => {
                debug!(%error, "could not read the squads for the event stream");
                continue;
            }
        };
        for view in squads {
            if seen.get(&view.record.squad.id) != Some(&view) {
                seen.insert(view.record.squad.id.clone(), view.clone());
                // No receivers is fine: nobody watches the stream right now.
                drop(updates.send(view));
            }
        }
    }
}

fn after(at: Timestamp, span: Duration) -> Timestamp {
    Timestamp::from_millis(at.as_millis().saturating_add(millis(span)))
}

fn before(at: Timestamp, span: Duration) -> Timestamp {
    Timestamp::from_millis(at.as_millis().saturating_sub(millis(span)))
}

fn millis(span: Duration) -> i64 {
    i64::try_from(span.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_reads_back_as_recorded() {
        let repo = RepoRef::new("acme", "shop");
        let requests = [
            Forwarded::StartRun {
                url: "https://linear.app/acme/project/x-1/overview".to_owned(),
            },
            Forwarded::StartFix(FixRequest {
                issue: "ENG-7".to_owned(),
                requested_by: "U1".to_owned(),
                slack: Some(SlackOrigin {
                    channel: "C1".to_owned(),
                    thread_ts: Some("1.2".to_owned()),
                }),
            }),
            Forwarded::StartFix(FixRequest {
                issue: "ENG-8".to_owned(),
                requested_by: "cli".to_owned(),
                slack: None,
            }),
            Forwarded::CancelIssue(IssueKey::from("ENG-9")),
            Forwarded::Reevaluate(GateTarget::PullRequest {
                repo: repo.clone(),
                pr: PrNumber(12),
            }),
            Forwarded::Reevaluate(GateTarget::Commit {
                repo: repo.clone(),
                sha: CommitSha::new("abc123"),
            }),
            Forwarded::Reevaluate(GateTarget::Branch {
                repo,
                branch: "main".to_owned(),
            }),
        ];
        for request in requests {
            let body = request.body().to_string();
            assert_eq!(
                Forwarded::decode(request.kind(), &body).as_ref(),
                Some(&request),
                "{body}"
            );
        }
        assert_eq!(Forwarded::decode("launch-rockets", "{}"), None);
    }

    #[test]
    fn answers_read_back_with_their_kind_and_the_runner_named_on_failures() {
        let runner = DaemonId::new("replica-a");
        for answer in [
            Ok(Answer::Run(RunId::from("r-1"))),
            Ok(Answer::Cancelled(vec![
                SquadId::from("s-1"),
                SquadId::from("s-2"),
            ])),
            Ok(Answer::Done),
        ] {
            let text = encode_answer(&answer).to_string();
            assert_eq!(decode_answer(&text, Some(&runner)), answer);
        }
        let refused = Err(ControlError::new(
            ControlErrorKind::NotFound,
            "read issue `ENG-404`: no such issue",
        ));
        let text = encode_answer(&refused).to_string();
        let read = decode_answer(&text, Some(&runner)).expect_err("a failure");
        assert_eq!(read.kind(), ControlErrorKind::NotFound);
        assert_eq!(
            read.message(),
            "read issue `ENG-404`: no such issue (answered by daemon `replica-a`)"
        );
    }
}
