//! `POST /webhooks/slack`: only requests signed by Slack within five minutes do anything;
//! `/squad fix` is acknowledged before the fix starts, its failures reach the person through
//! the command's response URL; `help`, bad usage, `status`, the Events API handshake and the
//! "Start fix squad" button.

use std::sync::Arc;
use std::time::Duration;

use squadron::server::{ControlError, ControlErrorKind};
use squadron_core::{Phase, Timestamp};
use squadron_pipeline::{FixRequest, SlackOrigin};
use squadron_standin_slack::{
    SignedRequest, SlashCommandRequest, StandinSlack, sign_interaction, start_fix_click_payload,
};
use tokio::sync::Notify;

use crate::support::{
    ClockAt, FakeControl, NOW, SLACK_SECRET, TestServer, json, secret, settings, squad,
};

/// The signing time of every request: the tests' fixed "now".
const SIGNED_AT: i64 = NOW.as_millis() / 1000;

async fn post_signed(server: &TestServer, request: &SignedRequest) -> reqwest::Response {
    let mut builder = server.client.post(server.url("/webhooks/slack"));
    for (name, value) in request.headers() {
        builder = builder.header(name, value);
    }
    builder
        .body(request.body.clone())
        .send()
        .await
        .expect("POST /webhooks/slack")
}

/// `/squad <text>` signed now with the app's secret.
fn command(text: &str) -> SignedRequest {
    SlashCommandRequest::new("/squad", text).sign(SLACK_SECRET, SIGNED_AT)
}

/// Waits for the next `start_fix` answer of the fake, bounded so a broken route fails.
async fn fix_answered(control: &FakeControl) {
    let answered = Arc::clone(&control.recorded().fix_answered);
    tokio::time::timeout(Duration::from_secs(10), answered.notified())
        .await
        .expect("the fix is started in the background");
}

/// Polls the stand-in until a reply reached the response URL (the server posts it from a
/// background task, so there is no event to await).
async fn first_reply(slack: &StandinSlack) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(reply) = slack.responses().into_iter().next() {
            return reply.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reply reached the response URL"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn slacks_documented_request_passes_verification() {
    // Slack's example: a slash command with no text, which is a request for help.
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let control = FakeControl::new();
    let server = TestServer::start_at(
        control.clone(),
        settings(),
        Arc::new(ClockAt(Timestamp::from_millis(1_531_420_618_000 + 30_000))),
    )
    .await;

    let response = server
        .client
        .post(server.url("/webhooks/slack"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", "1531420618")
        .header(
            "x-slack-signature",
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        )
        .body(body)
        .send()
        .await
        .expect("POST");
    let (status, answer) = json(response).await;

    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["response_type"], "ephemeral");
    let text = answer["text"].as_str().unwrap_or_default();
    assert!(text.contains("`/webhook-collect fix <ENG-123"), "{text}");
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn requests_not_signed_by_slack_now_are_refused_with_401_and_do_nothing() {
    let control = FakeControl::new();
    let server = TestServer::start(control.clone()).await;
    let fix = command("fix ENG-1");
    let wrong_secret =
        SlashCommandRequest::new("/squad", "fix ENG-1").sign("not-the-secret", SIGNED_AT);
    let mut tampered = fix.clone();
    tampered.body = tampered.body.replace("ENG-1", "ENG-2");
    let stale = SlashCommandRequest::new("/squad", "fix ENG-1").sign(SLACK_SECRET, SIGNED_AT - 301);
    let from_the_future =
        SlashCommandRequest::new("/squad", "fix ENG-1").sign(SLACK_SECRET, SIGNED_AT + 301);

    let mut cases: Vec<(&str, reqwest::RequestBuilder)> = Vec::new();
    for (name, request) in [
        ("wrong secret", &wrong_secret),
        ("tampered body", &tampered),
        ("timestamp 301 s old", &stale),
        ("timestamp 301 s ahead", &from_the_future),
    ] {
        let mut builder = server.client.post(server.url("/webhooks/slack"));
        for (header, value) in request.headers() {
            builder = builder.header(header, value);
        }
        cases.push((name, builder.body(request.body.clone())));
    }
    let without = |skipped: &str| {
        let mut builder = server.client.post(server.url("/webhooks/slack"));
        for (header, value) in fix.headers() {
            if header != skipped {
                builder = builder.header(header, value);
            }
        }
        builder.body(fix.body.clone())
    };
    cases.push(("no signature", without("x-slack-signature")));
    cases.push(("no timestamp", without("x-slack-request-timestamp")));

    for (name, request) in cases {
        let (status, answer) = json(request.send().await.expect("POST")).await;
        assert_eq!(status, 401, "{name}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_signature", "{name}");
    }
    assert!(
        control.recorded().calls.is_empty(),
        "nothing reached the runtime: {:?}",
        control.recorded().calls
    );

    // The same request, correctly signed and fresh, does start the fix.
    let (status, _) = json(post_signed(&server, &fix).await).await;
    assert_eq!(status, 200);
    fix_answered(&control).await;
    assert_eq!(control.recorded().calls, ["start_fix"]);
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn without_a_signing_secret_every_request_is_refused_with_503_naming_the_variable() {
    let control = FakeControl::new();
    let mut unsigned = settings();
    unsigned.slack_signing = secret(None, "SLACK_SIGNING_SECRET", "slack.signing_secret_env");
    let server = TestServer::start_with(control.clone(), unsigned).await;

    let (status, answer) = json(post_signed(&server, &command("fix ENG-1")).await).await;

    assert_eq!(status, 503, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("SLACK_SIGNING_SECRET") && message.contains("slack.signing_secret_env"),
        "{message}"
    );
    assert!(control.recorded().calls.is_empty());
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn fix_is_acknowledged_in_the_channel_before_the_fix_starts() {
    let control = FakeControl::new();
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    control.recorded().fix_gate = Some((Arc::clone(&entered), Arc::clone(&release)));
    let server = TestServer::start(control.clone()).await;

    // The fake holds `start_fix` until released, as the runtime does while Linear is slow:
    // the acknowledgement must not wait for it.
    let started = std::time::Instant::now();
    let (status, answer) = json(post_signed(&server, &command("fix eng-42")).await).await;
    let elapsed = started.elapsed();

    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        serde_json::json!({ "response_type": "in_channel", "text": "Fix squad for ENG-42 starting…" })
    );
    assert!(
        elapsed < Duration::from_secs(1),
        "acknowledged after {elapsed:?}"
    );
    tokio::time::timeout(Duration::from_secs(10), entered.notified())
        .await
        .expect("the fix starts in the background");
    assert_eq!(
        control.recorded().fixes,
        [FixRequest {
            issue: "ENG-42".to_owned(),
            requested_by: "U2CERLKJA".to_owned(),
            slack: Some(SlackOrigin {
                channel: "C0SQUADRON".to_owned(),
                thread_ts: None,
            }),
        }]
    );
    release.notify_one();
    fix_answered(&control).await;
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn an_issue_given_by_url_is_looked_up_by_its_url() {
    let control = FakeControl::new();
    let server = TestServer::start(control.clone()).await;
    let url = "https://linear.app/acme/issue/ENG-7/crash-on-export";

    let (status, answer) =
        json(post_signed(&server, &command(&format!("fix <{url}>"))).await).await;
    fix_answered(&control).await;

    assert_eq!(status, 200);
    assert_eq!(answer["text"], "Fix squad for ENG-7 starting…");
    assert_eq!(control.recorded().fixes[0].issue, url);
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn an_unknown_issue_is_reported_to_the_person_through_the_response_url() {
    let slack = StandinSlack::start()
        .await
        .expect("the Slack stand-in starts");
    let control = FakeControl::new();
    control.recorded().refuse_fix = Some(ControlError::new(
        ControlErrorKind::NotFound,
        "find issue ENG-404: the tracker has no such issue",
    ));
    let server = TestServer::start(control.clone()).await;
    let request = SlashCommandRequest::new("/squad", "fix ENG-404")
        .with_response_url(&slack.response_url("cmd-1"))
        .sign(SLACK_SECRET, SIGNED_AT);

    let (status, answer) = json(post_signed(&server, &request).await).await;
    let reply = first_reply(&slack).await;

    assert_eq!(status, 200);
    assert_eq!(answer["response_type"], "in_channel");
    assert_eq!(reply["response_type"], "ephemeral", "{reply}");
    let text = reply["text"].as_str().unwrap_or_default();
    assert!(text.contains("Linear has no issue `ENG-404`"), "{text}");
    assert_eq!(slack.responses()[0].id, "cmd-1");
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_fix_the_runtime_cannot_start_is_reported_with_the_reason() {
    let slack = StandinSlack::start()
        .await
        .expect("the Slack stand-in starts");
    let control = FakeControl::new();
    control.recorded().refuse_fix = Some(ControlError::new(
        ControlErrorKind::Invalid,
        "start a fix squad for OPS-3: no repository is configured for team OPS",
    ));
    let server = TestServer::start(control.clone()).await;
    let request = SlashCommandRequest::new("/squad", "fix OPS-3")
        .with_response_url(&slack.response_url("cmd-2"))
        .sign(SLACK_SECRET, SIGNED_AT);

    let (status, _) = json(post_signed(&server, &request).await).await;
    let reply = first_reply(&slack).await;

    assert_eq!(status, 200);
    assert_eq!(reply["response_type"], "ephemeral");
    let text = reply["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("could not start a fix squad for OPS-3")
            && text.contains("no repository is configured for team OPS"),
        "{text}"
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn help_and_bad_usage_get_an_ephemeral_usage_and_start_nothing() {
    let control = FakeControl::new();
    let server = TestServer::start(control.clone()).await;

    for (text, expected) in [
        ("help", "starts and follows Squadron's bug-fix squads"),
        ("", "starts and follows Squadron's bug-fix squads"),
        ("fix", "`/squad fix` needs the issue to fix"),
        ("fix checkout", "`checkout` is not a Linear issue"),
        ("fix ENG-1 ENG-2", "takes at most one issue"),
        ("deploy ENG-1", "Usage:"),
    ] {
        let (status, answer) = json(post_signed(&server, &command(text)).await).await;
        assert_eq!(status, 200, "`{text}`: {answer}");
        assert_eq!(answer["response_type"], "ephemeral", "`{text}`");
        let reply = answer["text"].as_str().unwrap_or_default();
        assert!(reply.contains(expected), "`{text}`: {reply}");
        assert!(
            reply.contains("`/squad fix <ENG-123 | Linear issue URL>`"),
            "`{text}` shows the usage: {reply}"
        );
    }
    assert!(control.recorded().calls.is_empty());
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn status_lists_the_squads_at_work_or_one_issues_squad() {
    let control = FakeControl::new();
    let mut reviewing = squad("run-1", "squad-a", "ENG-1", Phase::Reviewing);
    reviewing.record.squad.round = 2;
    let mut diagnosing = squad("run-1", "squad-b", "ENG-3", Phase::Diagnosing);
    diagnosing.record.squad.pr = None;
    control.add_run(
        "run-1",
        vec![
            reviewing,
            squad("run-1", "squad-c", "ENG-2", Phase::Merged),
            diagnosing,
        ],
    );
    let server = TestServer::start(control.clone()).await;
    let text = |answer: &serde_json::Value| answer["text"].as_str().unwrap_or_default().to_owned();

    let (status, all) = json(post_signed(&server, &command("status")).await).await;
    assert_eq!(status, 200);
    assert_eq!(all["response_type"], "ephemeral");
    assert_eq!(
        text(&all),
        "2 squads at work:\n• *ENG-1*: reviewing, round 2, PR #7\n• *ENG-3*: diagnosing, round 1, no PR yet\n1 squad has ended."
    );

    let (_, one) = json(post_signed(&server, &command("status ENG-2")).await).await;
    assert_eq!(text(&one), "• *ENG-2*: merged, round 1, PR #7");

    let (_, none) = json(post_signed(&server, &command("status eng-9")).await).await;
    assert!(
        text(&none).contains("No squad has worked on ENG-9 yet"),
        "{none}"
    );

    let idle = FakeControl::new();
    idle.add_run(
        "run-0",
        vec![squad("run-0", "squad-z", "ENG-8", Phase::Merged)],
    );
    let idle_server = TestServer::start(idle).await;
    let (_, nothing) = json(post_signed(&idle_server, &command("status")).await).await;
    assert!(
        text(&nothing).starts_with("No squad is working right now. 1 squad has ended."),
        "{nothing}"
    );
    idle_server.stop().await.expect("clean stop");
    assert!(control.recorded().fixes.is_empty());
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_events_api_handshake_echoes_the_challenge() {
    let control = FakeControl::new();
    let server = TestServer::start(control.clone()).await;
    let body = serde_json::json!({
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    })
    .to_string();
    let signed = SignedRequest::sign(SLACK_SECRET, SIGNED_AT, body);

    let response = server
        .client
        .post(server.url("/webhooks/slack"))
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", &signed.timestamp)
        .header("x-slack-signature", &signed.signature)
        .body(signed.body.clone())
        .send()
        .await
        .expect("POST");
    let (status, answer) = json(response).await;

    assert_eq!(status, 200);
    assert_eq!(
        answer,
        serde_json::json!({ "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" })
    );
    assert!(control.recorded().calls.is_empty());
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_start_fix_button_starts_a_fix_reporting_in_the_buttons_thread() {
    let control = FakeControl::new();
    let server = TestServer::start(control.clone()).await;
    let payload = start_fix_click_payload("ENG-5", "C0ALERTS", "1700000000.000200", "U0ONCALL");
    let signed = sign_interaction(SLACK_SECRET, SIGNED_AT, &payload);

    let response = post_signed(&server, &signed).await;
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    fix_answered(&control).await;

    assert_eq!(status, 200);
    assert_eq!(body, "", "a click is answered with an empty 200");
    assert_eq!(
        control.recorded().fixes,
        [FixRequest {
            issue: "ENG-5".to_owned(),
            requested_by: "U0ONCALL".to_owned(),
            slack: Some(SlackOrigin {
                channel: "C0ALERTS".to_owned(),
                thread_ts: Some("1700000000.000200".to_owned()),
            }),
        }]
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_signed_request_slack_would_not_send_is_refused_with_400() {
    let control = FakeControl::new();
    let server = TestServer::start(control.clone()).await;
    let signed = SignedRequest::sign(SLACK_SECRET, SIGNED_AT, "hello=world".to_owned());

    let (status, answer) = json(post_signed(&server, &signed).await).await;

    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_delivery");
    assert!(control.recorded().calls.is_empty());
    server.stop().await.expect("clean stop");
}
