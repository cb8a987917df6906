//! Model profiles and servers that differ: what is sent follows the profile, a refused
//! optional field is dropped and the call made again, reasoning text goes back to a model that
//! needs it, a context-length refusal is reported as such, and an unusable reply's usage is
//! kept.

use serde_json::json;
use squadron_core::ports::{
    BilledUnusable, ChatMessage, ChatModel, ContextOverflow, ModelLimits, PortErrorKind,
    TokenEncoding,
};
use squadron_model::{ModelProfile, OutputLimitField, ProviderRegistry, ToolChoice};
use squadron_standin_model::{
    Action, Reply, Script, ScriptedToolCall, ScriptedUsage, ServerTraits,
};

use crate::support::{adapter, read_file_tool, request, settings, standin};

fn read_call() -> ScriptedToolCall {
    ScriptedToolCall::new("read_file", &json!({ "path": "src/lib.rs" }))
}

fn o_series() -> ModelProfile {
    ModelProfile {
        tool_choice: ToolChoice::Required,
        output_limit_field: OutputLimitField::MaxCompletionTokens,
        reasoning_effort: Some("medium".to_owned()),
        ..ModelProfile::default()
    }
}

#[tokio::test]
async fn an_o_series_profile_sends_what_o_series_models_accept() {
    let standin = standin(
        Script::new("o4")
            .with_server(ServerTraits {
                rejects: vec!["parallel_tool_calls".into(), "max_tokens".into()],
                ..ServerTraits::default()
            })
            .then(Action::Reply(Reply::tool_calls([read_call()]))),
    )
    .await;
    let model = adapter(settings(&standin, 1).with_profile("scripted-model", o_series()));
    let mut request = request("s", "t");
    request.tools = vec![read_file_tool()];

    model.complete(&request).await.expect("a reply");

    let sent = standin.requests();
    assert_eq!(sent.len(), 1, "one call, nothing refused: {sent:#?}");
    assert_eq!(sent[0].body["tool_choice"], "required");
    assert_eq!(sent[0].body["max_completion_tokens"], 4096);
    assert_eq!(sent[0].body["reasoning_effort"], "medium");
    assert!(sent[0].body.get("parallel_tool_calls").is_none());
}

#[tokio::test]
async fn a_refused_optional_field_is_dropped_for_that_model_and_the_call_made_again() {
    let standin = standin(
        Script::new("o-series-unknown-to-the-config")
            .with_server(ServerTraits {
                rejects: vec!["parallel_tool_calls".into()],
                ..ServerTraits::default()
            })
            .then(Action::Reply(Reply::tool_calls([read_call()])))
            .then(Action::Reply(Reply::text("done"))),
    )
    .await;
    let profile = ModelProfile {
        parallel_tool_calls: true,
        ..ModelProfile::default()
    };
    let model = adapter(settings(&standin, 1).with_profile("scripted-model", profile));
    let mut request = request("s", "t");
    request.tools = vec![read_file_tool()];

    let reply = model.complete(&request).await.expect("recovered");
    assert_eq!(reply.tool_calls.len(), 1);
    model.complete(&request).await.expect("second call");

    let sent = standin.requests();
    assert_eq!(sent.len(), 3, "{sent:#?}");
    assert!(
        sent[0]
            .refused
            .as_deref()
            .is_some_and(|why| why.contains("parallel_tool_calls"))
    );
    assert!(sent[1].body.get("parallel_tool_calls").is_none());
    assert!(
        sent[2].body.get("parallel_tool_calls").is_none(),
        "the refusal is remembered for the model"
    );
}

#[tokio::test]
async fn reasoning_text_goes_back_to_a_model_that_requires_it() {
    let script = || {
        Script::new("deepseek")
            .with_server(ServerTraits {
                reasoning: true,
                ..ServerTraits::default()
            })
            .then(Action::Reply(Reply::tool_calls([read_call()])))
            .then(Action::Reply(Reply::text("done")))
    };
    for (echo, expect_ok) in [(Some("reasoning_content".to_owned()), true), (None, false)] {
        let standin = standin(script()).await;
        let profile = ModelProfile {
            echo_reasoning: echo,
            ..ModelProfile::default()
        };
        let model = adapter(settings(&standin, 1).with_profile("scripted-model", profile));
        let mut request = request("s", "t");
        request.tools = vec![read_file_tool()];
        let first = model.complete(&request).await.expect("first reply");
        assert_eq!(
            first.reasoning.as_deref(),
            Some("Reasoning of deepseek for step 1.")
        );
        request.messages.push(ChatMessage::Assistant {
            content: None,
            tool_calls: first.tool_calls.clone(),
            reasoning: first.reasoning.clone(),
        });
        request.messages.push(ChatMessage::Tool {
            tool_call_id: first.tool_calls[0].id.clone(),
            content: "text".to_owned(),
        });
        let second = model.complete(&request).await;
        assert_eq!(second.is_ok(), expect_ok, "{second:?}");
    }
}

#[tokio::test]
async fn a_context_length_refusal_is_reported_as_an_overflow_with_the_window() {
    let standin = standin(
        Script::new("small")
            .with_server(ServerTraits {
                context_window: Some(50),
                ..ServerTraits::default()
            })
            .then(Action::Reply(Reply::text("never"))),
    )
    .await;
    let model = adapter(settings(&standin, 3));
    let error = model
        .complete(&request(&"s".repeat(400), "t"))
        .await
        .expect_err("too big");
    assert_eq!(error.kind(), PortErrorKind::Invalid);
    let overflow = ContextOverflow::of(&error).expect("an overflow");
    assert_eq!(overflow.context_window, Some(50));
    assert_eq!(standin.requests().len(), 1, "not retried as if transient");
}

#[tokio::test]
async fn an_unusable_reply_keeps_the_usage_it_was_billed() {
    let standin =
        standin(Script::new("cut").then(
            Action::Reply(Reply::text("half a senten").finish_reason("length").usage(
                ScriptedUsage {
                    prompt_tokens: 900,
                    completion_tokens: 4096,
                    cached_tokens: None,
                },
            )),
        ))
        .await;
    let model = adapter(settings(&standin, 1));
    let error = model
        .complete(&request("s", "t"))
        .await
        .expect_err("cut off");
    let billed = BilledUnusable::of(&error).expect("billed");
    assert_eq!(billed.usage.map(|usage| usage.completion), Some(4096));
}

#[tokio::test]
async fn a_resolved_model_reports_its_profiles_limits() {
    let standin = standin(Script::new("any").then(Action::Reply(Reply::text("ok")))).await;
    let limits = ModelLimits {
        context_window: 128_000,
        max_output_tokens: 16_384,
        encoding: TokenEncoding::O200kBase,
    };
    let mut registry = ProviderRegistry::new();
    registry
        .add(
            settings(&standin, 1).with_profile(
                "gpt-4.1",
                ModelProfile {
                    limits,
                    ..ModelProfile::default()
                },
            ),
            std::sync::Arc::new(crate::support::FixedClock(
                squadron_core::domain::Timestamp::from_millis(0),
            )),
        )
        .expect("added");
    assert_eq!(
        registry
            .resolve("local/gpt-4.1")
            .unwrap()
            .chat_model
            .limits(),
        limits
    );
    assert_eq!(
        registry.resolve("local/other").unwrap().chat_model.limits(),
        ModelLimits::CONSERVATIVE
    );
}
