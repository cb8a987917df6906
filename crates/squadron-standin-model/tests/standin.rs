//! The stand-in over real HTTP: script playback, routing, faults, refusals, recording.

use std::time::Duration;

use serde_json::{Value, json};
use squadron_standin_model::{Action, Reply, Script, ScriptBook, ScriptError, StandinModel};

const EXAMPLE: &str = r#"
[[script]]
name = "developer"
system_contains = "You are the Developer"

[[script.step]]
tool_calls = [
  { name = "read_file", arguments = { path = "src/lib.rs" } },
  { name = "list_files", arguments = { glob = "src/**" }, id = "call_fixed" },
]

[[script.step]]
fault = "rate_limited"
retry_after = "2"

[[script.step]]
delay_ms = 1500
content = "Done."
tool_calls = [{ name = "finish", raw_arguments = "{\"summary\": \"fixed\"}" }]
usage = { prompt_tokens = 1200, completion_tokens = 40, cached_tokens = 1024 }

[[script.step]]
content = "cut"
finish_reason = "length"

[[script]]
name = "reviewer"
model = "review-model"

[[script.step]]
content = "Looks good."
"#;

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn chat(model: &str, system: &str) -> Value {
    json!({ "model": model, "messages": [
        { "role": "system", "content": system },
        { "role": "user", "content": "Go." },
    ] })
}

async fn post(standin: &StandinModel, body: &Value) -> (u16, reqwest::header::HeaderMap, String) {
    let response = client()
        .post(format!("{}/chat/completions", standin.base_url()))
        .json(body)
        .send()
        .await
        .expect("request reaches the stand-in");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("body"))
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON body")
}

#[tokio::test(start_paused = true)]
async fn a_toml_script_plays_replies_faults_and_delays_in_order() {
    let book = ScriptBook::from_toml(EXAMPLE, "example").expect("example loads");
    let standin = StandinModel::start(book).await.expect("starts");
    let request = chat("dev-model", "You are the Developer of acme.");

    let (status, _, body) = post(&standin, &request).await;
    assert_eq!(status, 200);
    let reply = json_of(&body);
    assert_eq!(reply["object"], "chat.completion");
    assert_eq!(reply["model"], "dev-model");
    assert!(reply["id"].is_string() && reply["created"].is_u64());
    let choice = &reply["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([
            { "id": "call_developer_1_1", "type": "function",
              "function": { "name": "read_file", "arguments": "{\"path\":\"src/lib.rs\"}" } },
            { "id": "call_fixed", "type": "function",
              "function": { "name": "list_files", "arguments": "{\"glob\":\"src/**\"}" } },
        ])
    );
    assert!(reply["usage"]["prompt_tokens"].as_u64() > Some(0));
    assert!(reply["usage"].get("prompt_tokens_details").is_none());

    let (status, headers, body) = post(&standin, &request).await;
    assert_eq!(status, 429);
    assert_eq!(
        headers.get("retry-after").map(|value| value.as_bytes()),
        Some(&b"2"[..])
    );
    assert_eq!(json_of(&body)["error"]["code"], "rate_limit_exceeded");

    let started = tokio::time::Instant::now();
    let (_, _, body) = post(&standin, &request).await;
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "the delayed step answered early"
    );
    let reply = json_of(&body);
    assert_eq!(reply["choices"][0]["message"]["content"], "Done.");
    assert_eq!(
        reply["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"summary\": \"fixed\"}"
    );
    assert_eq!(
        reply["usage"],
        json!({ "prompt_tokens": 1200, "completion_tokens": 40, "total_tokens": 1240,
                "prompt_tokens_details": { "cached_tokens": 1024, "audio_tokens": 0 } })
    );

    let (_, _, body) = post(&standin, &request).await;
    assert_eq!(json_of(&body)["choices"][0]["finish_reason"], "length");
    assert_eq!(standin.unplayed_steps(), [("reviewer".to_owned(), 1)]);
}

#[tokio::test]
async fn concurrent_roles_each_get_their_own_script() {
    let book = ScriptBook::new()
        .with(
            Script::new("developer")
                .when_system_contains("Developer")
                .then(Action::Reply(Reply::text("dev 1"))),
        )
        .with(
            Script::new("reviewer")
                .when_model("review-model")
                .then(Action::Reply(Reply::text("review 1"))),
        )
        .with(
            Script::new("developer-2")
                .when_system_contains("Developer")
                .then(Action::Reply(Reply::text("x"))),
        );
    let standin = StandinModel::start(book).await.expect("starts");

    let review = chat("review-model", "You are the Code Reviewer.");
    let develop = chat("dev-model", "You are the Developer.");
    let (reviewed, developed) = tokio::join!(post(&standin, &review), post(&standin, &develop));

    assert_eq!(
        json_of(&reviewed.2)["choices"][0]["message"]["content"],
        "review 1"
    );
    assert_eq!(
        json_of(&developed.2)["choices"][0]["message"]["content"],
        "dev 1"
    );
    let recorded = standin.requests_for("reviewer");
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0].body, review,
        "the full request JSON is recorded"
    );
    assert_eq!(recorded[0].step, Some(1));
}

#[tokio::test]
async fn concurrent_squads_of_one_role_are_told_apart_by_their_task() {
    let book = ScriptBook::from_toml(
        r#"
[[script]]
name = "developer-eng-2"
system_contains = "Developer"
task_contains = "implement ENG-2"

[[script.step]]
content = "working on ENG-2"

[[script]]
name = "developer-eng-3"
system_contains = "Developer"
task_contains = "implement ENG-3"

[[script.step]]
content = "working on ENG-3"
"#,
        "squads",
    )
    .expect("loads");
    let standin = StandinModel::start(book).await.expect("starts");
    let task = |issue: &str| {
        json!({ "model": "dev-model", "messages": [
            { "role": "system", "content": "You are the Developer." },
            { "role": "user", "content": format!("# Task: implement {issue}") },
            { "role": "user", "content": "implement ENG-2" },
        ] })
    };

    let (eng_3, eng_2) = (task("ENG-3"), task("ENG-2"));
    let (third, second) = tokio::join!(post(&standin, &eng_3), post(&standin, &eng_2));

    assert_eq!(
        json_of(&third.2)["choices"][0]["message"]["content"],
        "working on ENG-3",
        "only the first user message counts, so a later message naming ENG-2 changes nothing"
    );
    assert_eq!(
        json_of(&second.2)["choices"][0]["message"]["content"],
        "working on ENG-2"
    );
    let (status, _, body) = post(&standin, &task("ENG-4")).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("no stand-in script matches") && body.contains("developer-eng-2"),
        "{body}"
    );
    assert!(standin.unplayed_steps().is_empty());
}

#[tokio::test]
async fn a_script_whose_steps_ran_out_gives_way_to_the_next_that_matches() {
    let book = ScriptBook::new()
        .with(
            Script::new("first-round")
                .when_task_contains("review ENG-4")
                .then(Action::Reply(Reply::text("request changes"))),
        )
        .with(
            Script::new("later-rounds")
                .when_task_contains("review ENG-4")
                .then(Action::Reply(Reply::text("approve"))),
        );
    let standin = StandinModel::start(book).await.expect("starts");
    let review = || {
        json!({ "model": "m", "messages": [
            { "role": "system", "content": "You are the Code Reviewer." },
            { "role": "user", "content": "review ENG-4" },
        ] })
    };
    let mut answers = Vec::new();
    for _ in 0..3 {
        let (status, _, text) = post(&standin, &review()).await;
        answers.push((status, text));
    }
    let content = |text: &str| json_of(text)["choices"][0]["message"]["content"].clone();
    assert_eq!(content(&answers[0].1), "request changes");
    assert_eq!(content(&answers[1].1), "approve");
    // When every matching script has run out, the first one says so.
    assert_eq!(answers[2].0, 400);
    assert!(
        answers[2]
            .1
            .contains("stand-in script `first-round` has no step 2 (it has 1)"),
        "{}",
        answers[2].1
    );
}

#[tokio::test]
async fn asked_contains_finds_a_step_asked_in_a_fresh_task_or_a_continued_conversation() {
    let book = ScriptBook::from_toml(
        r##"
[[script]]
name = "implement"
task_contains = "# Task: implement ENG-4\n"

[[script.step]]
content = "implemented"

[[script]]
name = "fix-round-1"
asked_contains = "address the reviews of ENG-4 (round 1 of"

[[script.step]]
content = "fixed"

[[script.step]]
content = "fixed afresh"
"##,
        "fix rounds",
    )
    .expect("loads");
    let standin = StandinModel::start(book).await.expect("starts");
    let implement = json!({ "model": "m", "messages": [
        { "role": "system", "content": "You are the Developer." },
        { "role": "user", "content": "# Task: implement ENG-4\n" },
    ] });
    // The fix round goes on in the implementation's conversation, whose task is unchanged.
    let continued = json!({ "model": "m", "messages": [
        { "role": "system", "content": "You are the Developer." },
        { "role": "user", "content": "# Task: implement ENG-4\n" },
        { "role": "assistant", "content": "implemented" },
        { "role": "user", "content": "# Task: address the reviews of ENG-4 (round 1 of 3)" },
    ] });
    // After a restart the same round is a fresh conversation.
    let fresh = json!({ "model": "m", "messages": [
        { "role": "system", "content": "You are the Developer." },
        { "role": "user", "content": "# Task: address the reviews of ENG-4 (round 1 of 3)" },
    ] });
    let mut answers = Vec::new();
    for body in [&implement, &continued, &fresh] {
        let (status, _, text) = post(&standin, body).await;
        assert_eq!(status, 200, "{text}");
        answers.push(json_of(&text)["choices"][0]["message"]["content"].clone());
    }
    assert_eq!(answers, ["implemented", "fixed", "fixed afresh"]);
    assert!(standin.unplayed_steps().is_empty());
}

#[tokio::test]
async fn requests_a_real_endpoint_would_refuse_get_a_400_and_are_recorded() {
    let book = ScriptBook::new().with(
        Script::new("only")
            .when_model("m")
            .then(Action::Reply(Reply::text("one"))),
    );
    let standin = StandinModel::start(book).await.expect("starts");
    let unanswered = json!({ "model": "m", "messages": [
        { "role": "user", "content": "Go." },
        { "role": "assistant", "content": null, "tool_calls": [
            { "id": "call_1", "type": "function", "function": { "name": "read_file", "arguments": "{}" } } ] },
        { "role": "user", "content": "Well?" },
    ] });
    let cases = [
        (unanswered, "must be followed by tool messages"),
        (json!({ "model": "m", "messages": [] }), "non-empty array"),
        (
            chat("other", "s"),
            "no stand-in script matches this request (model `other`; scripts loaded: only)",
        ),
    ];
    for (body, phrase) in &cases {
        let (status, _, text) = post(&standin, body).await;
        assert_eq!(status, 400, "{body}");
        let message = json_of(&text)["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.contains(phrase), "{message}");
    }
    assert_eq!(post(&standin, &chat("m", "s")).await.0, 200);
    let (status, _, text) = post(&standin, &chat("m", "s")).await;
    assert_eq!(status, 400);
    assert!(
        text.contains("stand-in script `only` has no step 2 (it has 1)"),
        "{text}"
    );

    let recorded = standin.requests();
    assert_eq!(recorded.len(), 5);
    assert!(
        recorded[0]
            .refused
            .as_deref()
            .is_some_and(|why| why.contains("tool messages"))
    );
    assert_eq!(recorded[3].refused, None);
}

#[tokio::test]
async fn malformed_reply_faults_send_what_they_promise() {
    let calls = [squadron_standin_model::ScriptedToolCall::new(
        "read_file",
        &json!({ "path": "a" }),
    )];
    let script = Script::new("faults")
        .then(Action::ToolCallsInContent(Reply::tool_calls(calls)))
        .then(Action::MissingFields)
        .then(Action::InvalidJson)
        .then(Action::ServerError { status: 503 });
    let standin = StandinModel::start(ScriptBook::new().with(script))
        .await
        .expect("starts");
    let request = chat("m", "s");

    let (_, _, in_content) = post(&standin, &request).await;
    let message = &json_of(&in_content)["choices"][0]["message"];
    assert!(message.get("tool_calls").is_none());
    assert_eq!(
        json_of(message["content"].as_str().unwrap_or_default()),
        json!({ "name": "read_file", "arguments": { "path": "a" } })
    );

    let (status, _, missing) = post(&standin, &request).await;
    assert_eq!(status, 200);
    assert!(json_of(&missing).get("choices").is_none());

    let (_, _, invalid) = post(&standin, &request).await;
    assert!(serde_json::from_str::<Value>(&invalid).is_err());

    let (status, _, _) = post(&standin, &request).await;
    assert_eq!(status, 503);
}

#[test]
fn script_mistakes_are_reported_with_script_step_and_fix() {
    let contradictory = r#"
        [[script]]
        name = "qa"
        [[script.step]]
        content = "fine"
        [[script.step]]
        fault = "rate_limited"
        content = "also text"
    "#;
    let error = ScriptBook::from_toml(contradictory, "qa.toml").expect_err("contradiction");
    assert!(matches!(error, ScriptError::Step { step: 2, .. }));
    assert!(
        error
            .to_string()
            .contains("step 2 of script `qa` in `qa.toml`"),
        "{error}"
    );
    assert!(error.to_string().contains("remove `content`"), "{error}");

    let typo = "[[script]]\nname = \"qa\"\n[[script.step]]\ncontnet = \"x\"\n";
    let error = ScriptBook::from_toml(typo, "typo.toml").expect_err("unknown field");
    assert!(
        matches!(error, ScriptError::Parse { .. }) && error.to_string().contains("contnet"),
        "{error}"
    );
}
