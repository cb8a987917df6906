//! Requests as sent, replies as read: tool calls, text, usage.

use serde_json::json;
use squadron_core::domain::TokenUsage;
use squadron_core::ports::{ChatMessage, ChatModel, FinishReason, ToolCall};
use squadron_standin_model::{Action, Reply, Script, ScriptedToolCall, ScriptedUsage};

use crate::support::{adapter, request, settings, standin};

fn developer_script() -> Script {
    Script::new("developer")
        .when_system_contains("You are the Developer")
        .then(Action::Reply(Reply::tool_calls([
            ScriptedToolCall::new("read_file", &json!({ "path": "src/lib.rs" })),
            ScriptedToolCall::new("read_file", &json!({ "path": "Cargo.toml" }))
                .with_id("call_fixed"),
        ])))
        .then(Action::Reply(Reply::text("Done.").usage(ScriptedUsage {
            prompt_tokens: 1200,
            completion_tokens: 40,
            cached_tokens: Some(1024),
        })))
}

#[tokio::test]
async fn tool_calls_come_back_with_ids_names_and_arguments_and_results_go_out_in_order() {
    let standin = standin(developer_script()).await;
    let model = adapter(settings(&standin, 1));
    let mut request = request("You are the Developer.", "Fix the bug.");

    let first = model.complete(&request).await.expect("first reply");
    assert_eq!(first.finish_reason, FinishReason::ToolCalls);
    assert_eq!(first.content, None);
    assert_eq!(first.model, "scripted-model");
    assert_eq!(
        first.tool_calls,
        [
            ToolCall {
                id: "call_developer_1_1".to_owned(),
                name: "read_file".to_owned(),
                arguments: r#"{"path":"src/lib.rs"}"#.to_owned(),
            },
            ToolCall {
                id: "call_fixed".to_owned(),
                name: "read_file".to_owned(),
                arguments: r#"{"path":"Cargo.toml"}"#.to_owned(),
            },
        ]
    );

    request.messages.push(ChatMessage::Assistant {
        content: None,
        tool_calls: first.tool_calls.clone(),
        reasoning: None,
    });
    for call in &first.tool_calls {
        request.messages.push(ChatMessage::Tool {
            tool_call_id: call.id.clone(),
            content: format!("contents of {}", call.arguments),
        });
    }
    let second = model.complete(&request).await.expect("second reply");
    assert_eq!(second.finish_reason, FinishReason::Stop);
    assert_eq!(second.content.as_deref(), Some("Done."));
    assert!(second.tool_calls.is_empty());
    assert_eq!(standin.unplayed_steps(), []);

    let sent = standin.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].path, "/v1/chat/completions");
    assert_eq!(
        sent[0].authorization, None,
        "no key configured, so no Authorization header"
    );
    let tools = json!([{
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Reads a file of the worktree.",
            "parameters": {
                "type": "object",
                "properties": { "path": { "type": "string" } },
                "required": ["path"],
            },
        },
    }]);
    assert_eq!(
        sent[1].body,
        json!({
            "model": "scripted-model",
            "messages": [
                { "role": "system", "content": "You are the Developer." },
                { "role": "user", "content": "Fix the bug." },
                { "role": "assistant", "tool_calls": [
                    { "type": "function", "id": "call_developer_1_1",
                      "function": { "name": "read_file", "arguments": "{\"path\":\"src/lib.rs\"}" } },
                    { "type": "function", "id": "call_fixed",
                      "function": { "name": "read_file", "arguments": "{\"path\":\"Cargo.toml\"}" } },
                ] },
                { "role": "tool", "tool_call_id": "call_developer_1_1",
                  "content": "contents of {\"path\":\"src/lib.rs\"}" },
                { "role": "tool", "tool_call_id": "call_fixed",
                  "content": "contents of {\"path\":\"Cargo.toml\"}" },
            ],
            "tools": tools,
            "tool_choice": "auto",
            "max_tokens": 4096,
        })
    );
}

#[tokio::test]
async fn a_growing_conversation_is_sent_with_a_byte_identical_prefix() {
    let standin = standin(developer_script()).await;
    let model = adapter(settings(&standin, 1));
    let mut request = request("You are the Developer.", "Fix the bug.");
    let first = model.complete(&request).await.expect("first reply");
    request.messages.push(ChatMessage::Assistant {
        content: None,
        tool_calls: first.tool_calls.clone(),
        reasoning: None,
    });
    for call in &first.tool_calls {
        request.messages.push(ChatMessage::Tool {
            tool_call_id: call.id.clone(),
            content: "ok".to_owned(),
        });
    }
    model.complete(&request).await.expect("second reply");

    let sent = standin.requests();
    let (earlier, later) = (&sent[0].raw_body, &sent[1].raw_body);
    let end_of_messages = earlier
        .find(r#"}],"model""#)
        .expect("messages come first in the body")
        + 1;
    assert!(
        later.starts_with(&earlier[..end_of_messages]),
        "{earlier}\n{later}"
    );
}

#[tokio::test]
async fn usage_is_mapped_with_and_without_cached_tokens() {
    let script = Script::new("any")
        .then(Action::Reply(Reply::text("first").usage(ScriptedUsage {
            prompt_tokens: 1200,
            completion_tokens: 40,
            cached_tokens: Some(1024),
        })))
        .then(Action::Reply(Reply::text("second").usage(ScriptedUsage {
            prompt_tokens: 300,
            completion_tokens: 20,
            cached_tokens: None,
        })));
    let standin = standin(script).await;
    let model = adapter(settings(&standin, 1));
    let request = request("You are QA.", "Write tests.");

    let cached = model.complete(&request).await.expect("reply with details");
    assert_eq!(
        cached.usage,
        TokenUsage {
            prompt: 1200,
            cached: 1024,
            completion: 40
        }
    );
    let uncached = model
        .complete(&request)
        .await
        .expect("reply without details");
    assert_eq!(
        uncached.usage,
        TokenUsage {
            prompt: 300,
            cached: 0,
            completion: 20
        }
    );
}

#[tokio::test]
async fn the_api_key_is_sent_as_a_bearer_token() {
    let standin = standin(Script::new("any").then(Action::Reply(Reply::text("hi")))).await;
    let model = adapter(settings(&standin, 1).with_api_key("sk-test"));
    model.complete(&request("s", "t")).await.expect("reply");
    assert_eq!(
        standin.requests()[0].authorization.as_deref(),
        Some("Bearer sk-test")
    );
}
