//! Turns a port [`ChatRequest`] into the chat-completions request body, using async-openai's
//! wire types so the shape is the one OpenAI publishes, then shapes it to the model's
//! [`ModelProfile`] (which optional fields to send, reasoning echoed back, cache
//! breakpoints, extra fields).

use std::collections::BTreeSet;

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, ChatCompletionTool, ChatCompletionTools,
    CreateChatCompletionRequest, FunctionCall, FunctionObject,
};
use serde_json::{Map, Value, json};
use squadron_core::ports::{ChatMessage, ChatRequest, PortError, PortErrorKind, ToolSpec};

use crate::profile::{CacheStyle, Droppable, ModelProfile, OutputLimitField, ToolChoice};

/// How many of the latest messages carry a cache breakpoint besides the system prompt
/// (Anthropic allows four in all): the newest one, and the one before so that the previous
/// call's cached prefix is read back.
const RECENT_BREAKPOINTS: usize = 2;

/// The JSON body for `request` as `profile` shapes it, without the fields in `dropped` (ones
/// the server refused before). Serialisation is deterministic, so a conversation that only
/// grows yields bodies whose message prefix is byte-identical (providers cache such prefixes).
pub(crate) fn request_body(
    request: &ChatRequest,
    profile: &ModelProfile,
    dropped: &BTreeSet<Droppable>,
) -> Result<Map<String, Value>, PortError> {
    let tools = request
        .tools
        .iter()
        .map(tool)
        .collect::<Result<Vec<ChatCompletionTools>, PortError>>()?;
    let has_tools = !tools.is_empty();
    let body = CreateChatCompletionRequest {
        model: request.model.clone(),
        messages: request.messages.iter().map(message).collect(),
        tools: has_tools.then_some(tools),
        ..CreateChatCompletionRequest::default()
    };
    let mut body = match serde_json::to_value(&body) {
        Ok(Value::Object(body)) => body,
        Ok(_) => {
            return Err(PortError::new(
                PortErrorKind::Internal,
                "serialise the chat-completions request: it is not a JSON object",
            ));
        }
        Err(source) => {
            return Err(PortError::new(
                PortErrorKind::Internal,
                "serialise the chat-completions request",
            )
            .with_source(source));
        }
    };
    let keep = |field: Droppable| !dropped.contains(&field);
    // OpenAI refuses `tool_choice` and `parallel_tool_calls` when no tools are given.
    if has_tools {
        let choice = match profile.tool_choice {
            ToolChoice::Auto => Some("auto"),
            ToolChoice::Required => Some("required"),
            ToolChoice::Omit => None,
        };
        if let Some(choice) = choice.filter(|_| keep(Droppable::ToolChoice)) {
            body.insert("tool_choice".to_owned(), json!(choice));
        }
        if profile.parallel_tool_calls && keep(Droppable::ParallelToolCalls) {
            body.insert("parallel_tool_calls".to_owned(), json!(true));
        }
    }
    let limit_field = match profile.output_limit_field {
        OutputLimitField::MaxTokens if !keep(Droppable::MaxTokens) => {
            OutputLimitField::MaxCompletionTokens
        }
        other => other,
    };
    if let Some(field) = limit_field.field() {
        let limit = request
            .max_output_tokens
            .unwrap_or(profile.limits.max_output_tokens);
        body.insert(field.to_owned(), json!(limit));
    }
    if let Some(temperature) = profile.temperature.filter(|_| keep(Droppable::Temperature)) {
        body.insert("temperature".to_owned(), json!(temperature));
    }
    if let Some(effort) = profile
        .reasoning_effort
        .as_ref()
        .filter(|_| keep(Droppable::ReasoningEffort))
    {
        body.insert("reasoning_effort".to_owned(), json!(effort));
    }
    if let (Some(field), Some(Value::Array(messages))) =
        (&profile.echo_reasoning, body.get_mut("messages"))
    {
        echo_reasoning(messages, &request.messages, field);
    }
    if profile.cache == CacheStyle::Breakpoints
        && let Some(Value::Array(messages)) = body.get_mut("messages")
    {
        add_breakpoints(messages);
    }
    for (key, value) in &profile.extra_body {
        merge(&mut body, key, value);
    }
    Ok(body)
}

/// Puts each assistant message's reasoning back under `field`, as DeepSeek requires during
/// a tool-calling exchange.
fn echo_reasoning(wire: &mut [Value], messages: &[ChatMessage], field: &str) {
    for (wire, message) in wire.iter_mut().zip(messages) {
        if let ChatMessage::Assistant {
            reasoning: Some(reasoning),
            ..
        } = message
        {
            wire[field] = json!(reasoning);
        }
    }
}

/// Marks the system prompt and the latest non-assistant messages as cache breakpoints, the
/// way Anthropic's models (behind OpenRouter or LiteLLM) are told what to cache.
fn add_breakpoints(messages: &mut [Value]) {
    let system = messages
        .iter()
        .position(|message| message["role"] == "system");
    let mut marked: Vec<usize> = system.into_iter().collect();
    marked.extend(
        messages
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, message)| message["role"] != "assistant")
            .map(|(index, _)| index)
            .filter(|index| Some(*index) != system)
            .take(RECENT_BREAKPOINTS),
    );
    for index in marked {
        let message = &mut messages[index];
        if let Some(text) = message["content"].as_str().map(str::to_owned) {
            message["content"] = json!([{
                "type": "text",
                "text": text,
                "cache_control": {"type": "ephemeral"},
            }]);
        }
    }
}

/// Merges `value` into `body[key]`: objects key by key (so `options.num_ctx` joins other
/// options), anything else replaced.
fn merge(body: &mut Map<String, Value>, key: &str, value: &Value) {
    match (body.get_mut(key), value) {
        (Some(Value::Object(existing)), Value::Object(extra)) => {
            for (inner_key, inner_value) in extra {
                merge(existing, inner_key, inner_value);
            }
        }
        _ => {
            body.insert(key.to_owned(), value.clone());
        }
    }
}

fn tool(spec: &ToolSpec) -> Result<ChatCompletionTools, PortError> {
    let parameters: Value = serde_json::from_str(&spec.parameters).map_err(|source| {
        PortError::new(
            PortErrorKind::Invalid,
            format!(
                "send tool `{}`: its parameters are not a JSON Schema in JSON text",
                spec.name
            ),
        )
        .with_source(source)
    })?;
    Ok(ChatCompletionTools::Function(ChatCompletionTool {
        function: FunctionObject {
            name: spec.name.clone(),
            description: Some(spec.description.clone()),
            parameters: Some(parameters),
            strict: None,
        },
    }))
}

fn message(message: &ChatMessage) -> ChatCompletionRequestMessage {
    match message {
        ChatMessage::System { content } => {
            ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
                content: ChatCompletionRequestSystemMessageContent::Text(content.clone()),
                name: None,
            })
        }
        ChatMessage::User { content } => {
            ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                content: ChatCompletionRequestUserMessageContent::Text(content.clone()),
                name: None,
            })
        }
        ChatMessage::Assistant {
            content,
            tool_calls,
            ..
        } => {
            let calls = tool_calls
                .iter()
                .map(|call| {
                    ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                        id: call.id.clone(),
                        function: FunctionCall {
                            name: call.name.clone(),
                            arguments: call.arguments.clone(),
                        },
                    })
                })
                .collect::<Vec<_>>();
            ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                content: content
                    .clone()
                    .map(ChatCompletionRequestAssistantMessageContent::Text),
                tool_calls: (!calls.is_empty()).then_some(calls),
                ..ChatCompletionRequestAssistantMessage::default()
            })
        }
        ChatMessage::Tool {
            tool_call_id,
            content,
        } => ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
            content: ChatCompletionRequestToolMessageContent::Text(content.clone()),
            tool_call_id: tool_call_id.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use squadron_core::ports::{ModelLimits, TokenEncoding, ToolCall};

    fn request() -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![
                ChatMessage::System {
                    content: "sys".into(),
                },
                ChatMessage::User {
                    content: "task".into(),
                },
                ChatMessage::Assistant {
                    content: None,
                    tool_calls: vec![ToolCall {
                        id: "c1".into(),
                        name: "read_file".into(),
                        arguments: "{}".into(),
                    }],
                    reasoning: Some("thinking".into()),
                },
                ChatMessage::Tool {
                    tool_call_id: "c1".into(),
                    content: "text".into(),
                },
            ],
            tools: vec![ToolSpec {
                name: "read_file".into(),
                description: "reads".into(),
                parameters: "{\"type\":\"object\"}".into(),
            }],
            max_output_tokens: None,
        }
    }

    #[test]
    fn a_profile_decides_every_optional_field() {
        let profile = ModelProfile {
            limits: ModelLimits {
                context_window: 1000,
                max_output_tokens: 77,
                encoding: TokenEncoding::Estimate,
            },
            parallel_tool_calls: true,
            tool_choice: ToolChoice::Required,
            temperature: Some(0.5),
            output_limit_field: OutputLimitField::MaxCompletionTokens,
            reasoning_effort: Some("high".into()),
            echo_reasoning: Some("reasoning_content".into()),
            cache: CacheStyle::Breakpoints,
            extra_body: json!({"options": {"num_ctx": 8192}})
                .as_object()
                .cloned()
                .unwrap(),
        };
        let body = Value::Object(request_body(&request(), &profile, &BTreeSet::new()).unwrap());
        assert_eq!(body["tool_choice"], "required");
        assert_eq!(body["parallel_tool_calls"], true);
        assert_eq!(body["max_completion_tokens"], 77);
        assert!(body.get("max_tokens").is_none());
        assert_eq!(body["temperature"], 0.5);
        assert_eq!(body["reasoning_effort"], "high");
        assert_eq!(body["options"]["num_ctx"], 8192);
        assert_eq!(body["messages"][2]["reasoning_content"], "thinking");
        // A call may ask for another output limit than the model's own.
        let raised = ChatRequest {
            max_output_tokens: Some(154),
            ..request()
        };
        let body = request_body(&raised, &profile, &BTreeSet::new()).unwrap();
        assert_eq!(body["max_completion_tokens"], 154);
        assert_eq!(
            body["messages"][0]["content"][0]["cache_control"]["type"],
            "ephemeral"
        );
        assert_eq!(body["messages"][1]["content"][0]["text"], "task");
        assert_eq!(body["messages"][3]["content"][0]["text"], "text");

        let dropped = BTreeSet::from([Droppable::ParallelToolCalls, Droppable::Temperature]);
        let body = Value::Object(request_body(&request(), &profile, &dropped).unwrap());
        assert!(body.get("parallel_tool_calls").is_none());
        assert!(body.get("temperature").is_none());
    }

    #[test]
    fn the_default_profile_sends_only_what_every_server_accepts() {
        let body = request_body(&request(), &ModelProfile::default(), &BTreeSet::new()).unwrap();
        let mut keys: Vec<&str> = body.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["max_tokens", "messages", "model", "tool_choice", "tools"]
        );
        assert!(body["messages"][2].get("reasoning_content").is_none());
        assert_eq!(body["messages"][0]["content"], "sys");
    }
}
