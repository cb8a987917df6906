//! `POST /webhooks/linear` and `POST /webhooks/github`: only correctly signed, fresh
//! deliveries reach the runtime.

use std::time::Duration;

use squadron_core::gate::{CommitSha, GateTarget};
use squadron_core::ports::RepoRef;
use squadron_core::{IssueKey, Phase, PrNumber};

use crate::support::{
    FakeControl, GITHUB_SECRET, LINEAR_SECRET, NOW, TestServer, hmac_hex, json, secret, settings,
    squad,
};

/// A Linear delivery moving ENG-1 to a canceled state, sent at `sent_ms`.
fn canceled_issue(sent_ms: i64) -> String {
    serde_json::json!({
        "action": "update",
        "type": "Issue",
        "webhookTimestamp": sent_ms,
        "data": {
            "id": "uuid-ENG-1",
            "identifier": "ENG-1",
            "state": { "type": "canceled", "name": "Canceled" },
        },
    })
    .to_string()
}

async fn post_linear(
    server: &TestServer,
    body: &str,
    signature: Option<String>,
) -> reqwest::Response {
    let mut request = server
        .client
        .post(server.url("/webhooks/linear"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("Linear-Signature", signature);
    }
    request.send().await.expect("POST /webhooks/linear")
}

fn with_running_squad() -> std::sync::Arc<FakeControl> {
    let control = FakeControl::new();
    control.add_run(
        "run-1",
        vec![squad("run-1", "squad-a", "ENG-1", Phase::Implementing)],
    );
    control
}

#[tokio::test]
async fn a_signed_fresh_cancellation_cancels_the_issues_squad() {
    let control = with_running_squad();
    let server = TestServer::start(control.clone()).await;
    let body = canceled_issue(NOW.as_millis() - 5_000);

    let response = post_linear(
        &server,
        &body,
        Some(hmac_hex(LINEAR_SECRET, body.as_bytes())),
    )
    .await;
    let (status, answer) = json(response).await;

    assert_eq!(status, 200);
    assert_eq!(
        answer,
        serde_json::json!({ "outcome": "cancelled", "issue": "ENG-1", "squads": ["squad-a"] })
    );
    assert_eq!(control.recorded().cancelled, vec![IssueKey::from("ENG-1")]);
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_signed_delivery_about_something_else_is_acknowledged_and_ignored() {
    let control = with_running_squad();
    let server = TestServer::start(control.clone()).await;
    let body = serde_json::json!({
        "action": "create",
        "type": "Comment",
        "webhookTimestamp": NOW.as_millis(),
        "data": { "id": "c-1", "body": "hi" },
    })
    .to_string();

    let response = post_linear(
        &server,
        &body,
        Some(hmac_hex(LINEAR_SECRET, body.as_bytes())),
    )
    .await;
    let (status, answer) = json(response).await;

    assert_eq!(
        (status, answer),
        (200, serde_json::json!({ "outcome": "ignored" }))
    );
    assert!(control.recorded().cancelled.is_empty());
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn bad_linear_deliveries_get_401_and_cancel_nothing() {
    let control = with_running_squad();
    let server = TestServer::start(control.clone()).await;
    let fresh = canceled_issue(NOW.as_millis());
    let stale_sent = NOW - Duration::from_secs(120);
    let stale = canceled_issue(stale_sent.as_millis());
    let tampered = fresh.replace("ENG-1", "ENG-2");

    let cases = [
        (
            "wrong secret",
            fresh.clone(),
            Some(hmac_hex("not-the-secret", fresh.as_bytes())),
        ),
        (
            "tampered body",
            tampered,
            Some(hmac_hex(LINEAR_SECRET, fresh.as_bytes())),
        ),
        (
            "stale timestamp",
            stale.clone(),
            Some(hmac_hex(LINEAR_SECRET, stale.as_bytes())),
        ),
        ("missing header", fresh.clone(), None),
        (
            "not hex",
            fresh.clone(),
            Some("zz-not-a-signature".to_owned()),
        ),
    ];
    for (case, body, signature) in cases {
        let (status, answer) = json(post_linear(&server, &body, signature).await).await;
        assert_eq!(status, 401, "{case}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_signature", "{case}");
    }
    let (_, answer) = json(
        post_linear(
            &server,
            &stale,
            Some(hmac_hex(LINEAR_SECRET, stale.as_bytes())),
        )
        .await,
    )
    .await;
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("beyond 60 s"),
        "{answer}"
    );

    assert!(control.recorded().cancelled.is_empty(), "no side effect");
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn without_a_secret_webhooks_answer_503_naming_the_variable_and_accept_nothing() {
    let control = with_running_squad();
    let mut settings = settings();
    settings.linear_webhook = secret(None, "LINEAR_WEBHOOK_SECRET", "linear.webhook_secret_env");
    settings.github_webhook = secret(None, "GH_HOOK_SECRET", "github.webhook_secret_env");
    let server = TestServer::start_with(control.clone(), settings).await;

    let body = canceled_issue(NOW.as_millis());
    let (status, answer) = json(post_linear(&server, &body, None).await).await;
    assert_eq!(status, 503);
    assert_eq!(answer["error"]["code"], "webhook_secret_missing");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("set LINEAR_WEBHOOK_SECRET"), "{message}");
    assert!(message.contains("linear.webhook_secret_env"), "{message}");

    let response = server
        .client
        .post(server.url("/webhooks/github"))
        .header("X-GitHub-Event", "ping")
        .body("{}")
        .send()
        .await
        .unwrap();
    let (status, answer) = json(response).await;
    assert_eq!(status, 503);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("set GH_HOOK_SECRET")
    );

    assert!(control.recorded().cancelled.is_empty());
    assert!(control.recorded().reevaluated.is_empty());
    server.stop().await.expect("clean stop");
}

const REVIEW: &str = r#"{
    "action": "submitted",
    "review": { "user": { "login": "squadron-reviewer" }, "state": "approved" },
    "pull_request": { "number": 7 },
    "repository": { "name": "shop", "owner": { "login": "acme" } }
}"#;

async fn post_github(
    server: &TestServer,
    event: Option<&str>,
    body: &str,
    signature: Option<String>,
) -> reqwest::Response {
    let mut request = server
        .client
        .post(server.url("/webhooks/github"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(event) = event {
        request = request.header("X-GitHub-Event", event);
    }
    if let Some(signature) = signature {
        request = request.header("X-Hub-Signature-256", signature);
    }
    request.send().await.expect("POST /webhooks/github")
}

fn github_signature(secret: &str, body: &str) -> Option<String> {
    Some(format!("sha256={}", hmac_hex(secret, body.as_bytes())))
}

#[tokio::test]
async fn a_signed_review_makes_the_runtime_reevaluate_that_pr() {
    let control = FakeControl::new();
    let server = TestServer::start(control.clone()).await;

    let response = post_github(
        &server,
        Some("pull_request_review"),
        REVIEW,
        github_signature(GITHUB_SECRET, REVIEW),
    )
    .await;
    let (status, answer) = json(response).await;

    assert_eq!(status, 202);
    assert_eq!(answer, serde_json::json!({ "reevaluating": 1 }));
    assert_eq!(
        control.recorded().reevaluated,
        vec![GateTarget::PullRequest {
            repo: RepoRef::new("acme", "shop"),
            pr: PrNumber(7),
        }]
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_push_and_a_status_name_the_branch_and_the_commit() {
    let control = FakeControl::new();
    let server = TestServer::start(control.clone()).await;
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let push = format!(
        r#"{{"ref": "refs/heads/main", "after": "{sha}",
            "repository": {{"name": "shop", "owner": {{"login": "acme"}}}}}}"#
    );
    let status = format!(
        r#"{{"sha": "{sha}", "context": "ci/test", "state": "success",
            "repository": {{"name": "shop", "owner": {{"login": "acme"}}}}}}"#
    );

    for (event, body) in [("push", &push), ("status", &status)] {
        let response = post_github(
            &server,
            Some(event),
            body,
            github_signature(GITHUB_SECRET, body),
        )
        .await;
        assert_eq!(response.status(), 202, "{event}");
    }
    let ping = "{}";
    let response = post_github(
        &server,
        Some("ping"),
        ping,
        github_signature(GITHUB_SECRET, ping),
    )
    .await;
    assert_eq!(
        json(response).await,
        (202, serde_json::json!({ "reevaluating": 0 }))
    );

    assert_eq!(
        control.recorded().reevaluated,
        vec![
            GateTarget::Branch {
                repo: RepoRef::new("acme", "shop"),
                branch: "main".into(),
            },
            GateTarget::Commit {
                repo: RepoRef::new("acme", "shop"),
                sha: CommitSha::new(sha),
            },
        ]
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn bad_github_deliveries_are_refused_and_reevaluate_nothing() {
    let control = FakeControl::new();
    let server = TestServer::start(control.clone()).await;
    let tampered = REVIEW.replace("\"number\": 7", "\"number\": 8");

    let unauthorized = [
        (
            "wrong secret",
            REVIEW.to_owned(),
            github_signature("not-the-secret", REVIEW),
        ),
        (
            "tampered body",
            tampered,
            github_signature(GITHUB_SECRET, REVIEW),
        ),
        ("missing header", REVIEW.to_owned(), None),
        (
            "sha1 header",
            REVIEW.to_owned(),
            Some(format!(
                "sha1={}",
                hmac_hex(GITHUB_SECRET, REVIEW.as_bytes())
            )),
        ),
    ];
    for (case, body, signature) in unauthorized {
        let response = post_github(&server, Some("pull_request_review"), &body, signature).await;
        let (status, answer) = json(response).await;
        assert_eq!(status, 401, "{case}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_signature", "{case}");
    }

    // Signed, but not the JSON the event promises: the sender is genuine, the body is not
    // usable, so 400 rather than 401.
    let broken = r#"{"action": "submitted"}"#;
    let response = post_github(
        &server,
        Some("pull_request_review"),
        broken,
        github_signature(GITHUB_SECRET, broken),
    )
    .await;
    let (status, answer) = json(response).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], "invalid_delivery");

    assert!(control.recorded().reevaluated.is_empty(), "no side effect");
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn an_oversized_delivery_is_refused_with_413_before_it_is_verified() {
    let control = FakeControl::new();
    let mut settings = settings();
    settings.webhook_body_limit = 1024;
    let server = TestServer::start_with(control.clone(), settings).await;
    let body = format!(r#"{{"padding": "{}"}}"#, "x".repeat(4096));

    let response = post_github(
        &server,
        Some("ping"),
        &body,
        github_signature(GITHUB_SECRET, &body),
    )
    .await;
    let (status, answer) = json(response).await;

    assert_eq!(status, 413);
    assert_eq!(answer["error"]["code"], "body_too_large");
    assert!(control.recorded().reevaluated.is_empty());
    server.stop().await.expect("clean stop");
}
