//! Any replica answers: a daemon standing by takes a run over its API, a GitHub delivery, a
//! Linear cancellation and Slack's `/squad fix`, hands each to the daemon that runs the squads through the store, and
//! gives its caller that daemon's answer; its event stream shows the squads the other one
//! works. A foreground `squadron run` is refused a store a daemon runs. When the daemons share
//! the squads, a GitHub delivery or a Linear cancellation reaching one daemon reaches the
//! daemon holding the squads it concerns.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use squadron_standin_slack::SlashCommandRequest;

use squadron_core::lease::LeaseSubject;

use crate::support::{
    Database, RUN_LIMIT, Serve, Standins, describe, duties, replicas_store, start_milestone_of,
    until, until_runner,
};

/// The GitHub webhook secret both replicas are given.
const GITHUB_SECRET: &str = "cluster-github-webhook-secret";
/// The Linear webhook secret both replicas are given.
const LINEAR_SECRET: &str = "cluster-linear-webhook-secret";

/// The hex HMAC-SHA256 of `body` under `secret`, as GitHub and Linear sign deliveries.
fn hmac_hex(secret: &str, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `serve` logged that it carried out a `kind` request `from` received.
fn answered_for(serve: &Serve, kind: &str, from: &str) -> Option<serde_json::Value> {
    serve
        .logged(|fields| {
            fields["message"] == "answered a request another daemon received"
                && fields["kind"] == kind
                && fields["from"] == from
        })
        .into_iter()
        .next()
}

/// Delivers to `serve`, signed, GitHub's news of an approving review of PR #1 of the
/// sample repository.
async fn deliver_review(serve: &Serve) -> reqwest::Response {
    let (owner, name) = squadron::demo::SAMPLE_REPO
        .split_once('/')
        .expect("owner/name");
    let delivery = serde_json::json!({
        "action": "submitted",
        "review": { "id": 1, "state": "approved", "user": { "login": "someone" } },
        "pull_request": { "number": 1 },
        "repository": { "name": name, "owner": { "login": owner } },
    })
    .to_string();
    reqwest::Client::new()
        .post(format!("http://{}/webhooks/github", serve.address))
        .header("x-github-event", "pull_request_review")
        .header(
            "x-hub-signature-256",
            format!("sha256={}", hmac_hex(GITHUB_SECRET, &delivery)),
        )
        .header("content-type", "application/json")
        .body(delivery)
        .send()
        .await
        .expect("deliver to the daemon")
}

/// Delivers to `serve`, signed, Linear's news that the issue `identifier` was canceled.
async fn cancel_in_linear(serve: &Serve, identifier: &str) -> reqwest::Response {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    let cancellation = serde_json::json!({
        "action": "update",
        "type": "Issue",
        "webhookTimestamp": u64::try_from(now_ms).expect("millis fit"),
        "data": {
            "id": format!("issue-{identifier}"),
            "identifier": identifier,
            "state": { "type": "canceled" },
        },
    })
    .to_string();
    reqwest::Client::new()
        .post(format!("http://{}/webhooks/linear", serve.address))
        .header("linear-signature", hmac_hex(LINEAR_SECRET, &cancellation))
        .header("content-type", "application/json")
        .body(cancellation)
        .send()
        .await
        .expect("deliver to the daemon")
}

/// Reads server-sent events from `stream` until one `squad` event's data satisfies `wanted`.
async fn next_squad_event(
    stream: &mut reqwest::Response,
    buffer: &mut String,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let name = event.lines().find_map(|line| line.strip_prefix("event:"));
            let data = event.lines().find_map(|line| line.strip_prefix("data:"));
            if let (Some(" squad" | "squad"), Some(data)) = (name, data) {
                let squad: serde_json::Value =
                    serde_json::from_str(data.trim()).expect("a squad's JSON");
                if wanted(&squad) {
                    return squad;
                }
            }
        }
        let chunk = stream
            .chunk()
            .await
            .expect("read the event stream")
            .expect("the event stream stays open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// A loopback listener standing in for a Slack `response_url`: returns its URL and the
/// bodies posted to it.
async fn response_url() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (posted, replies) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/reply",
        axum::routing::post(move |body: String| {
            let posted = posted.clone();
            async move {
                let _ = posted.send(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let address = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/reply"), replies)
}

#[tokio::test]
async fn a_standby_hands_runs_webhooks_and_fixes_to_the_daemon_that_runs_the_squads() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let standins = Standins::start(&["--issues", "2"]);
    let database = Database::new().await;
    let with_secret = |id| {
        let mut env = database.standby_env(id, "30");
        env.push(("GITHUB_WEBHOOK_SECRET", GITHUB_SECRET));
        env.push(("LINEAR_WEBHOOK_SECRET", LINEAR_SECRET));
        env
    };
    let a = standins.serve(&with_secret("replica-a"));
    until_runner(&a, "replica-a", Duration::from_secs(30)).await;
    let b = standins.serve(&with_secret("replica-b"));
    until("replica-b stands by", Duration::from_secs(15), || async {
        (duties(&b).await.get("replica-b").map(String::as_str) == Some("stands by")).then_some(())
    })
    .await;

    // A foreground run on the same store would work the squads alongside replica-a.
    let mut run_env: Vec<(&str, &str)> = Vec::new();
    if let Some(url) = &database.url {
        run_env.push(("DATABASE_URL", url.as_str()));
    }
    let refused = standins.squadron_with(&["run", &standins.project_url()], &run_env);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && said.contains("daemon `replica-a` runs the squads"),
        "a foreground run refuses a store a daemon runs: {}",
        describe(&refused)
    );

    let mut events = reqwest::get(format!("http://{}/api/events", b.address))
        .await
        .expect("open replica-b's event stream");
    let mut buffer = String::new();

    // A run started through the standby is recorded by the daemon that runs the squads.
    let url = serde_json::json!({ "url": standins.project_url() });
    let (status, started) = b.post("/api/runs", &url).await;
    assert_eq!(status, 202, "the standby takes the run: {started:#}");
    let run_id = started["run_id"].as_str().expect("a run id").to_owned();
    let recorded = a.get(&format!("/api/runs/{run_id}")).await;
    assert_eq!(recorded["totals"]["squads"], 2, "{recorded:#}");
    assert!(
        answered_for(&a, "start-run", "replica-b").is_some(),
        "replica-a carried the run out for replica-b"
    );
    let (status, again) = b.post("/api/runs", &url).await;
    assert_eq!(status, 202, "{again:#}");
    assert_eq!(
        again["run_id"],
        run_id.as_str(),
        "the unfinished run, not a second one"
    );

    // The standby's event stream follows the squads the other daemon works.
    let seen = tokio::time::timeout(
        Duration::from_secs(30),
        next_squad_event(&mut events, &mut buffer, |squad| {
            squad["run_id"] == run_id.as_str()
        }),
    )
    .await
    .expect("replica-b's stream shows a squad of the run");
    assert!(
        seen["issue"]
            .as_str()
            .is_some_and(|issue| issue.starts_with("ENG-")),
        "{seen:#}"
    );

    // A GitHub delivery reaching the standby reaches the daemon that runs the squads.
    let answer = deliver_review(&b).await;
    assert_eq!(answer.status().as_u16(), 202);
    let answer: serde_json::Value = answer.json().await.expect("a JSON answer");
    assert_eq!(answer["reevaluating"], 1, "{answer:#}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while answered_for(&a, "reevaluate", "replica-b").is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica-a asks the gate again for replica-b's delivery; its requests: {:#?}\nreplica-b's: {:#?}",
            a.logged(|fields| fields["request"].is_number()),
            b.logged(|fields| fields["request"].is_number()),
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Linear's cancellation of an issue no squad works, through the standby: the runner's
    // answer (nothing to cancel) is the standby's.
    let answer = cancel_in_linear(&b, "ENG-404").await;
    assert_eq!(answer.status().as_u16(), 200);
    let answer: serde_json::Value = answer.json().await.expect("a JSON answer");
    assert_eq!(
        answer,
        serde_json::json!({ "outcome": "cancelled", "issue": "ENG-404", "squads": [] })
    );
    assert!(
        answered_for(&a, "cancel-issue", "replica-b").is_some(),
        "replica-a looked for the issue's squads"
    );

    // `/squad fix` through the standby: the runner's answer (no such issue) reaches the
    // person through the command's response URL.
    let (reply_to, mut replies) = response_url().await;
    let secret = standins
        .env
        .get("SQUADRON_DEMO_SLACK_SIGNING_SECRET")
        .expect("the script exports the Slack signing secret");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let command = SlashCommandRequest::new("/squad", "fix ENG-404")
        .with_response_url(&reply_to)
        .sign(secret, i64::try_from(now).expect("seconds fit"));
    let mut request = reqwest::Client::new().post(format!("http://{}/webhooks/slack", b.address));
    for (header, value) in command.headers() {
        request = request.header(header, value);
    }
    let ack = request
        .body(command.body.clone())
        .send()
        .await
        .expect("post the command to replica-b");
    assert_eq!(ack.status().as_u16(), 200, "acknowledged at once");
    let reply = tokio::time::timeout(Duration::from_secs(30), replies.recv())
        .await
        .expect("a reply within 30 s")
        .expect("a reply");
    assert!(
        reply.contains("ENG-404"),
        "the reply names the issue: {reply}"
    );
    let fix = answered_for(&a, "start-fix", "replica-b").expect("replica-a read the issue");
    assert_eq!(fix["fields"]["ok"], false, "{fix:#}");

    // The run ends on replica-a, and replica-b shows it merged.
    let finished = until("the run ends", Duration::from_secs(240), || async {
        let run = b.get(&format!("/api/runs/{run_id}")).await;
        (run["finished"] == true).then_some(run)
    })
    .await;
    let phases: Vec<&str> = finished["squads"]
        .as_array()
        .expect("squads")
        .iter()
        .map(|squad| squad["phase"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(phases, ["merged", "merged"], "{finished:#}");
    assert_eq!(a.terminate(), Some(0));
    assert_eq!(b.terminate(), Some(0));
}

#[tokio::test]
async fn a_delivery_or_cancellation_reaching_one_sharing_daemon_reaches_the_squads_holder() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let standins = Standins::start(&["--issues", "2"]);
    let database = Database::new().await;
    let store = replicas_store(&database).await;
    let with_secrets = |id| {
        // The default on PostgreSQL: the daemons share the squads.
        let mut env = database.env_with_lease(id, "30");
        env.push(("GITHUB_WEBHOOK_SECRET", GITHUB_SECRET));
        env.push(("LINEAR_WEBHOOK_SECRET", LINEAR_SECRET));
        env
    };
    let replicas = [
        ("replica-a", standins.serve(&with_secrets("replica-a"))),
        ("replica-b", standins.serve(&with_secrets("replica-b"))),
    ];
    let (_, squads) = start_milestone_of(&replicas[0].1, &standins, 2).await;

    // Whichever daemon claims a squad first holds it; the other hears of it.
    let (squad, holder) = until("a daemon holds a squad", RUN_LIMIT, || async {
        let leases = store.leases().await.expect("leases");
        let now = squadron_core::Timestamp::from_millis(
            i64::try_from(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("after 1970")
                    .as_millis(),
            )
            .expect("millis fit"),
        );
        leases.into_iter().find_map(|lease| match lease.subject {
            LeaseSubject::Squad(squad) if lease.expires_at > now && squads.contains(&squad) => {
                Some((squad, lease.holder.to_string()))
            }
            _ => None,
        })
    })
    .await;
    let (holding, other) = if replicas[0].0 == holder {
        (&replicas[0], &replicas[1])
    } else {
        (&replicas[1], &replicas[0])
    };
    let issue = store.squad(&squad).await.expect("the squad").squad.issue;

    // A GitHub delivery to the other daemon has the holder ask its gates again at once.
    let answer = deliver_review(&other.1).await;
    assert_eq!(answer.status().as_u16(), 202);
    until(
        &format!("{holder} asks its gates again for {}'s delivery", other.0),
        Duration::from_secs(5),
        || async { answered_for(&holding.1, "reevaluate", other.0).map(|_| ()) },
    )
    .await;

    // Linear's cancellation of the held squad's issue, through the other daemon: the holder
    // stops the squad and the other answers with it.
    let answer = cancel_in_linear(&other.1, issue.as_str()).await;
    assert_eq!(answer.status().as_u16(), 200);
    let answer: serde_json::Value = answer.json().await.expect("a JSON answer");
    assert_eq!(
        answer["squads"],
        serde_json::json!([squad.as_str()]),
        "{answer:#}"
    );
    assert!(answered_for(&holding.1, "cancel-issue", other.0).is_some());
    until("the squad is cancelled", RUN_LIMIT, || async {
        let phase = store.squad(&squad).await.expect("the squad").squad.phase;
        (phase == squadron_core::Phase::Cancelled).then_some(())
    })
    .await;
}
