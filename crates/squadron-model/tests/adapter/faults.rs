//! Transient failures retried as configured, and unusable replies reported by class.

use std::time::Duration;

use serde_json::json;
use squadron_core::ports::model::UnusableReply;
use squadron_core::ports::{ChatModel, PortErrorKind, ToolSpec};
use squadron_model::ProviderSettings;
use squadron_standin_model::{Action, Reply, Script, ScriptedToolCall};
use tokio::time::Instant;

use crate::support::{adapter, request, settings, standin};

fn rate_limited(retry_after: &str) -> Action {
    Action::RateLimited {
        retry_after: Some(retry_after.to_owned()),
    }
}

#[tokio::test(start_paused = true)]
async fn a_429_is_retried_after_the_seconds_retry_after_asks_for() {
    let standin = standin(
        Script::new("any")
            .then(rate_limited("2"))
            .then(Action::Reply(Reply::text("ok"))),
    )
    .await;
    let model = adapter(settings(&standin, 3));
    let started = Instant::now();

    let reply = model
        .complete(&request("s", "t"))
        .await
        .expect("reply after the retry");

    assert_eq!(reply.content.as_deref(), Some("ok"));
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited only {:?}",
        started.elapsed()
    );
    assert_eq!(standin.requests().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_429_is_retried_after_the_http_date_retry_after_names() {
    // Three seconds after the fixed clock's now (08:49:37).
    let standin = standin(
        Script::new("any")
            .then(rate_limited("Sun, 06 Nov 1994 08:49:40 GMT"))
            .then(Action::Reply(Reply::text("ok"))),
    )
    .await;
    let model = adapter(settings(&standin, 2));
    let started = Instant::now();

    model
        .complete(&request("s", "t"))
        .await
        .expect("reply after the retry");

    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "waited only {:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_pauses_other_calls_to_the_same_provider() {
    let standin = standin(
        Script::new("any")
            .then(rate_limited("3"))
            .then(Action::Reply(Reply::text("first")))
            .then(Action::Reply(Reply::text("second"))),
    )
    .await;
    let model = adapter(settings(&standin, 2));
    let started = Instant::now();
    let first = tokio::spawn({
        let model = model.clone();
        async move { model.complete(&request("s", "t")).await }
    });
    while standin.requests().is_empty() {
        tokio::task::yield_now().await;
    }
    // Let the first call read its 429 (and pause the provider) before the second starts.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let second = model
        .complete(&request("s", "t"))
        .await
        .expect("second call");

    assert!(second.content.is_some());
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "second call went out at {:?}",
        started.elapsed()
    );
    first.await.expect("task joins").expect("first call");
}

#[tokio::test(start_paused = true)]
async fn calls_in_flight_are_bounded_per_provider() {
    let slow = || Action::Reply(Reply::text("slow"));
    let script = Script::new("any")
        .then_after(Duration::from_secs(1), slow())
        .then_after(Duration::from_secs(1), slow());
    let standin = standin(script).await;
    let model = adapter(ProviderSettings {
        max_concurrent_requests: 1,
        ..settings(&standin, 1)
    });
    let started = Instant::now();

    let request = request("s", "t");
    let (a, b) = tokio::join!(model.complete(&request), model.complete(&request));

    a.expect("first call");
    b.expect("second call");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "calls overlapped: {:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_500_is_retried_after_backoff_then_succeeds() {
    let standin = standin(
        Script::new("any")
            .then(Action::ServerError { status: 500 })
            .then(Action::Reply(Reply::text("ok"))),
    )
    .await;
    let model = adapter(settings(&standin, 3));
    let started = Instant::now();

    let reply = model
        .complete(&request("s", "t"))
        .await
        .expect("reply after the retry");

    assert_eq!(reply.content.as_deref(), Some("ok"));
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(standin.requests().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_slow_reply_times_out_and_is_retried() {
    let script = Script::new("any")
        .then_after(
            Duration::from_secs(30),
            Action::Reply(Reply::text("too late")),
        )
        .then(Action::Reply(Reply::text("in time")));
    let standin = standin(script).await;
    let model = adapter(ProviderSettings {
        request_timeout: Duration::from_secs(1),
        ..settings(&standin, 2)
    });

    let reply = model
        .complete(&request("s", "t"))
        .await
        .expect("reply after the timeout");

    assert_eq!(reply.content.as_deref(), Some("in time"));
}

#[tokio::test(start_paused = true)]
async fn tries_are_bounded_and_the_error_names_endpoint_status_and_tries() {
    let script = Script::new("any")
        .then(Action::ServerError { status: 503 })
        .then(Action::ServerError { status: 503 })
        .then(Action::ServerError { status: 503 })
        .then(Action::Reply(Reply::text("never reached")));
    let standin = standin(script).await;
    let model = adapter(settings(&standin, 3));

    let error = model
        .complete(&request("s", "t"))
        .await
        .expect_err("gives up");

    assert_eq!(error.kind(), PortErrorKind::Transient);
    let message = error.to_string();
    assert!(
        message.contains(&format!("{}/chat/completions", standin.base_url())),
        "{message}"
    );
    assert!(message.contains("503"), "{message}");
    assert!(message.contains("3 tries"), "{message}");
    // The advice names the setting as the configuration spells it.
    assert!(
        message.contains("raise `max_attempts` in [providers.local]"),
        "{message}"
    );
    assert_eq!(standin.requests().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn connection_errors_are_retried_then_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let model = adapter(ProviderSettings {
        retry: squadron_model::RetryPolicy {
            max_tries: 2,
            ..squadron_model::RetryPolicy::default()
        },
        ..ProviderSettings::new("gone", format!("http://{address}/v1"))
    });

    let error = model
        .complete(&request("s", "t"))
        .await
        .expect_err("nobody listens");

    assert_eq!(error.kind(), PortErrorKind::Transient);
    let message = error.to_string();
    assert!(
        message.contains("connection error") && message.contains("2 tries"),
        "{message}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_the_cap_fails_at_once() {
    let standin = standin(
        Script::new("any")
            .then(rate_limited("3600"))
            .then(Action::Reply(Reply::text("ok"))),
    )
    .await;
    let model = adapter(settings(&standin, 5));

    let error = model
        .complete(&request("s", "t"))
        .await
        .expect_err("too long to wait");

    assert!(error.to_string().contains("3600 s"), "{error}");
    assert_eq!(standin.requests().len(), 1);
}

#[tokio::test]
async fn a_refused_request_is_not_retried() {
    // The script has no steps, so the stand-in refuses with HTTP 400.
    let standin = standin(Script::new("empty")).await;
    let model = adapter(settings(&standin, 5));

    let error = model
        .complete(&request("s", "t"))
        .await
        .expect_err("refused");

    assert_eq!(error.kind(), PortErrorKind::Invalid);
    assert!(
        error.to_string().contains("HTTP 400") && error.to_string().contains("has no step 1"),
        "{error}"
    );
    assert_eq!(standin.requests().len(), 1);
}

#[tokio::test]
async fn tool_parameters_that_are_not_json_are_refused_before_sending() {
    let standin = standin(Script::new("any").then(Action::Reply(Reply::text("ok")))).await;
    let model = adapter(settings(&standin, 1));
    let mut request = request("s", "t");
    request.tools.push(ToolSpec {
        name: "broken".to_owned(),
        description: String::new(),
        parameters: "{not json".to_owned(),
    });

    let error = model.complete(&request).await.expect_err("refused");

    assert_eq!(error.kind(), PortErrorKind::Invalid);
    assert!(error.to_string().contains("tool `broken`"), "{error}");
    assert!(standin.requests().is_empty());
}

#[tokio::test]
async fn each_unusable_reply_is_a_clear_error_of_its_class() {
    let read = ScriptedToolCall::new("read_file", &json!({ "path": "a.rs" }));
    type IsClass = fn(&UnusableReply) -> bool;
    let cases: Vec<(Action, IsClass, &str)> = vec![
        (
            Action::ToolCallsInContent(Reply::tool_calls([read.clone()])),
            |class| matches!(class, UnusableReply::ToolCallsInContent { tools } if tools == &["read_file"]),
            "as JSON text in `content`",
        ),
        (
            Action::Reply(Reply::text("hmm").finish_reason("eos")),
            |class| *class == UnusableReply::UnknownFinishReason("eos".to_owned()),
            "unknown finish_reason `eos`",
        ),
        (
            Action::Reply(Reply::text("half a sent").finish_reason("length")),
            |class| *class == UnusableReply::CutOff { looping: false },
            "cut off at the token limit",
        ),
        (
            Action::MissingFields,
            |class| matches!(class, UnusableReply::Malformed(problem) if problem.contains("`choices` is missing")),
            "`choices` is missing",
        ),
        (
            Action::InvalidJson,
            |class| matches!(class, UnusableReply::NotJson(_)),
            "not valid JSON",
        ),
        (
            Action::Reply(Reply::text("")),
            |class| *class == UnusableReply::Empty,
            "neither text nor tool calls",
        ),
    ];
    let script = cases
        .iter()
        .fold(Script::new("malformed"), |script, (action, _, _)| {
            script.then(action.clone())
        })
        // Some servers send tool calls with `finish_reason: stop`: still usable.
        .then(Action::Reply(
            Reply::tool_calls([read]).finish_reason("stop"),
        ));
    let standin = standin(script).await;
    let model = adapter(settings(&standin, 3));
    let request = request("s", "t");

    for (action, is_class, phrase) in &cases {
        let error = model.complete(&request).await.expect_err("unusable reply");
        assert_eq!(error.kind(), PortErrorKind::Invalid, "{action:?}");
        let class = UnusableReply::of(&error).unwrap_or_else(|| panic!("{action:?} gave {error}"));
        assert!(is_class(class), "{action:?} gave {class:?}");
        let message = error.to_string();
        assert!(
            message.contains(phrase) && message.contains("model provider `local`"),
            "{message}"
        );
    }
    let reply = model
        .complete(&request)
        .await
        .expect("tool calls are usable");
    assert_eq!(reply.tool_calls.len(), 1);
    assert_eq!(
        standin.requests().len(),
        cases.len() + 1,
        "unusable replies are not retried"
    );
}
