//! An issue cancelled in Linear while its squad works: the signed Linear webhook reaches
//! `squadron serve`, the squad stops mid-step and opens no PR, and the other squad of the
//! run merges as usual.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use squadron::demo::{DemoLimits, SAMPLE_REPO};

use crate::support::{Rig, until};
use squadron::demo::generated::{Behaviour, milestone_of};

const WEBHOOK_SECRET: &str = "linear-webhook-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issue_cancelled_in_linear_mid_run_stops_its_squad_and_only_its_squad() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rig = Rig::start(
        milestone_of(&[Behaviour::Stalled, Behaviour::Approve]),
        DemoLimits::default(),
    )
    .await;
    let (_daemon, address) = rig.serve(&[("LINEAR_WEBHOOK_SECRET", WEBHOOK_SECRET)]);
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
    // GitHub merges before the runtime records it: read the squads once ENG-2 shows merged.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let squads = loop {
        let squads: serde_json::Value = client
            .get(format!("http://{address}/api/squads"))
            .send()
            .await
            .expect("GET /api/squads")
            .json()
            .await
            .expect("JSON");
        let list = squads.as_array().or_else(|| squads["squads"].as_array());
        let merged = list.is_some_and(|list| {
            list.iter()
                .any(|squad| squad["issue"] == "ENG-2" && squad["phase"] == "merged")
        });
        if merged || tokio::time::Instant::now() >= deadline {
            break squads;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
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
