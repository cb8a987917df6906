//! An issue cancelled in Linear while its squad works: the signed Linear webhook reaches
//! `squadron serve`, the squad stops mid-step and opens no PR, and the other squad of the
//! run merges as usual.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use squadron::demo::{DemoLimits, SAMPLE_REPO};

use crate::generated::{Behaviour, milestone_of};
use crate::support::Rig;

const WEBHOOK_SECRET: &str = "linear-webhook-secret";

/// Kills the daemon when the test ends, whatever happened.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `squadron serve` on a free port; returns it with its address, read from its
/// `serving` log line.
fn serve(rig: &Rig) -> (Daemon, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_squadron"))
        .args(["serve", "--log-format", "json", "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", rig.dir())
        .env("SQUADRON_CONFIG", rig.dir().join("squadron.toml"))
        .env("LINEAR_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .envs(rig.world.secrets_env())
        .current_dir(rig.dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start squadron serve");
    let stderr = child.stderr.take().expect("piped stderr");
    let (lines, log) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let daemon = Daemon(child);
    loop {
        let line = log
            .recv_timeout(Duration::from_secs(60))
            .expect("the daemon logs its address within 60 s");
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if let Some(address) = parsed["fields"]["address"].as_str() {
            // Keep draining the log so the daemon never blocks on a full pipe.
            std::thread::spawn(move || for _ in log.iter() {});
            return (daemon, address.to_owned());
        }
    }
}

/// Waits, polling the stand-in, until `ready` holds (an external process is being watched,
/// so there is no event to await); fails after 60 s.
async fn until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issue_cancelled_in_linear_mid_run_stops_its_squad_and_only_its_squad() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rig = Rig::start(
        milestone_of(&[Behaviour::Stalled, Behaviour::Approve]),
        DemoLimits::default(),
    )
    .await;
    let (_daemon, address) = serve(&rig);
    let client = reqwest::Client::new();
    let started = client
        .post(format!("http://{address}/api/runs"))
        .json(&serde_json::json!({ "url": rig.world.project_url() }))
        .send()
        .await
        .expect("POST /api/runs");
    assert_eq!(started.status(), 202);

    // ENG-1's Developer is now inside its (stalled) model call.
    until("ENG-1's Developer calls the model", || {
        !rig.world.model.requests_for("developer-ENG-1").is_empty()
    })
    .await;
    let issue_id = rig.world.linear.with_workspace(|workspace| {
        workspace
            .issues
            .iter()
            .find(|issue| issue.identifier == "ENG-1")
            .map(|issue| issue.id.clone())
            .expect("ENG-1 exists")
    });
    let sent_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    let body = serde_json::json!({
        "action": "update",
        "type": "Issue",
        "webhookTimestamp": sent_at,
        "data": { "id": issue_id, "identifier": "ENG-1", "state": { "type": "canceled", "name": "Canceled" } },
    })
    .to_string();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(WEBHOOK_SECRET.as_bytes())
        .expect("any key length");
    mac.update(body.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let delivered = client
        .post(format!("http://{address}/webhooks/linear"))
        .header("content-type", "application/json")
        .header("linear-signature", signature)
        .body(body)
        .send()
        .await
        .expect("POST /webhooks/linear");
    assert_eq!(delivered.status(), 200);

    // ENG-2 merges; ENG-1 ends cancelled with no PR.
    until("ENG-2 merges", || {
        rig.world
            .github
            .merges(SAMPLE_REPO)
            .map(|merges| merges.len())
            .unwrap_or(0)
            == 1
    })
    .await;
    let squads: serde_json::Value = client
        .get(format!("http://{address}/api/squads"))
        .send()
        .await
        .expect("GET /api/squads")
        .json()
        .await
        .expect("JSON");
    let phase_of = |issue: &str| {
        squads
            .as_array()
            .or_else(|| squads["squads"].as_array())
            .and_then(|list| list.iter().find(|squad| squad["issue"] == issue))
            .map(|squad| squad["phase"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(
        phase_of("ENG-1").as_deref(),
        Some("cancelled"),
        "{squads:#}"
    );
    assert_eq!(phase_of("ENG-2").as_deref(), Some("merged"), "{squads:#}");
    let pulls = rig.pulls();
    assert_eq!(pulls.len(), 1, "only ENG-2 opened a PR: {pulls:?}");
    assert!(pulls[0].title.contains("ENG-2") || pulls[0].head_ref.to_lowercase().contains("eng-2"));
    assert_eq!(
        rig.world.model.requests_for("developer-ENG-1").len(),
        1,
        "the cancelled squad made no model call after the one in flight"
    );
}
