//! The Slack stand-in over loopback: token checks, recording with threads, Slack's refusals,
//! and the request signer against Slack's documented example.

use serde_json::{Value, json};
use squadron_standin_slack::{SlashCommandRequest, StandinSlack, slack_signature};

async fn post(standin: &StandinSlack, token: Option<&str>, body: Value) -> (u16, Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut request = reqwest::Client::new()
        .post(format!("{}/chat.postMessage", standin.api_url()))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("stand-in answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON answer"))
}

#[tokio::test]
async fn only_the_bot_token_may_post() {
    let standin = StandinSlack::start().await.expect("starts");
    let body = json!({ "channel": "C1", "text": "hi" });
    let (status, answer) = post(&standin, None, body.clone()).await;
    assert_eq!(
        (status, answer),
        (200, json!({ "ok": false, "error": "not_authed" }))
    );
    let (_, answer) = post(&standin, Some("xoxb-wrong"), body).await;
    assert_eq!(answer, json!({ "ok": false, "error": "invalid_auth" }));
    assert!(standin.messages().is_empty());
    assert_eq!(standin.request_count(), 2);
}

#[tokio::test]
async fn messages_are_recorded_with_their_threads() {
    let standin = StandinSlack::start().await.expect("starts");
    let token = Some(StandinSlack::BOT_TOKEN);
    let (_, parent) = post(
        &standin,
        token,
        json!({ "channel": "C1", "text": "started" }),
    )
    .await;
    assert_eq!(parent["ok"], true);
    let parent_ts = parent["ts"].as_str().expect("ts").to_owned();
    let (_, reply) = post(
        &standin,
        token,
        json!({ "channel": "C1", "text": "merged", "thread_ts": parent_ts,
                "blocks": [{ "type": "section", "text": { "type": "mrkdwn", "text": "merged" } }] }),
    )
    .await;
    assert_ne!(reply["ts"], parent["ts"]);
    post(
        &standin,
        token,
        json!({ "channel": "C2", "text": "elsewhere" }),
    )
    .await;

    let threads = standin.threads();
    assert_eq!(threads.len(), 2);
    let thread = standin.thread("C1", &parent_ts).expect("thread");
    assert_eq!(thread.parent.text.as_deref(), Some("started"));
    assert_eq!(thread.replies.len(), 1);
    assert_eq!(
        thread.replies[0].thread_ts.as_deref(),
        Some(parent_ts.as_str())
    );
    assert!(
        thread.replies[0]
            .blocks
            .as_ref()
            .is_some_and(Value::is_array)
    );
    assert!(threads[1].replies.is_empty());
}

#[tokio::test]
async fn it_answers_slacks_refusals() {
    let standin = StandinSlack::start().await.expect("starts");
    let token = Some(StandinSlack::BOT_TOKEN);
    let (_, answer) = post(&standin, token, json!({ "channel": "C1" })).await;
    assert_eq!(answer["error"], "no_text");
    standin.remove_channel("C9");
    let (_, answer) = post(&standin, token, json!({ "channel": "C9", "text": "x" })).await;
    assert_eq!(answer["error"], "channel_not_found");

    standin.rate_limit_next(1, 30);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .post(format!("{}/chat.postMessage", standin.api_url()))
        .bearer_auth(StandinSlack::BOT_TOKEN)
        .json(&json!({ "channel": "C1", "text": "x" }))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("30")
    );
    let (_, answer) = post(&standin, token, json!({ "channel": "C1", "text": "x" })).await;
    assert_eq!(answer["ok"], true, "the rate limit lasts one call");
    assert_eq!(
        standin.refusals(),
        ["no_text", "channel_not_found", "ratelimited"]
    );
}

#[test]
fn the_signer_reproduces_slacks_documented_example() {
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    assert_eq!(
        slack_signature("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", body),
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    );
}

#[test]
fn a_slash_command_is_form_encoded_and_signed_like_slacks() {
    let signed = SlashCommandRequest::new("/squad", "fix ENG-123").sign("secret", 1_700_000_000);
    assert!(
        signed.body.contains("&command=%2Fsquad&text=fix+ENG-123&"),
        "{}",
        signed.body
    );
    assert_eq!(signed.timestamp, "1700000000");
    assert_eq!(
        signed.signature,
        slack_signature("secret", "1700000000", &signed.body)
    );
    let headers = signed.headers();
    assert_eq!(
        headers[0],
        (
            "content-type",
            "application/x-www-form-urlencoded".to_owned()
        )
    );
}

#[tokio::test]
async fn replies_to_a_response_url_are_recorded_under_its_id() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let standin = StandinSlack::start().await.expect("starts");
    let command = SlashCommandRequest::new("/squad", "fix ENG-1")
        .with_response_url(&standin.response_url("cmd-1"));
    assert!(
        command.form_body().contains(&format!(
            "response_url={}",
            url_encode(&standin.response_url("cmd-1"))
        )),
        "{}",
        command.form_body()
    );
    let client = reqwest::Client::new();
    let reply = json!({ "response_type": "ephemeral", "text": "no such issue" });
    let accepted = client
        .post(&command.response_url)
        .json(&reply)
        .send()
        .await
        .expect("stand-in answers");
    assert_eq!(accepted.status(), 200);
    let refused = client
        .post(standin.response_url("cmd-2"))
        .body("not json")
        .send()
        .await
        .expect("stand-in answers");
    assert_eq!(refused.status(), 400);

    let responses = standin.responses();
    assert_eq!(responses.len(), 1, "{responses:?}");
    assert_eq!(responses[0].id, "cmd-1");
    assert_eq!(responses[0].body, reply);
    assert_eq!(standin.refusals(), ["invalid_payload"]);
}

fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
