//! The JSON the stand-in sends, shaped as OpenAI's published chat-completions description
//! says, and the checks it makes on requests before answering them.

use serde_json::{Value, json};

use crate::script::{Action, Reply, ScriptedUsage, ServerTraits, Step};

/// `created` of every reply: fixed, so recorded exchanges are reproducible.
const CREATED: u64 = 1_700_000_000;

/// The tool calls of `reply` as wire objects, with ids defaulted from `id_prefix`.
fn tool_calls(reply: &Reply, id_prefix: &str) -> Vec<Value> {
    reply
        .tool_calls
        .iter()
        .enumerate()
        .map(|(position, call)| {
            let id = call
                .id
                .clone()
                .unwrap_or_else(|| format!("{id_prefix}_{}", position + 1));
            json!({
                "id": id,
                "type": "function",
                "function": { "name": call.name, "arguments": call.arguments },
            })
        })
        .collect()
}

/// A `chat.completion` object for `reply`.
pub(crate) fn completion(
    reply: &Reply,
    model: &str,
    completion_id: &str,
    id_prefix: &str,
    request_bytes: usize,
) -> Value {
    let calls = tool_calls(reply, id_prefix);
    let mut message = json!({
        "role": "assistant",
        "content": reply.content,
        "refusal": null,
        "annotations": [],
    });
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let usage = reply
        .usage
        .unwrap_or_else(|| estimated_usage(request_bytes, reply_bytes(reply)));
    envelope(
        completion_id,
        model,
        json!([{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": reply.effective_finish_reason(),
        }]),
        &usage,
    )
}

/// A `chat.completion` whose message carries the tool calls of `reply` as JSON text in
/// `content`, the way some proxies forward a model's unparsed output.
pub(crate) fn tool_calls_in_content(reply: &Reply, model: &str, completion_id: &str) -> Value {
    let written: Vec<Value> = reply
        .tool_calls
        .iter()
        .map(|call| {
            let arguments = serde_json::from_str::<Value>(&call.arguments)
                .unwrap_or_else(|_| Value::String(call.arguments.clone()));
            json!({ "name": call.name, "arguments": arguments })
        })
        .collect();
    let content = match written.as_slice() {
        [single] => single.to_string(),
        _ => Value::Array(written).to_string(),
    };
    envelope(
        completion_id,
        model,
        json!([{
            "index": 0,
            "message": { "role": "assistant", "content": content, "refusal": null },
            "logprobs": null,
            "finish_reason": "stop",
        }]),
        &estimated_usage(0, content.len()),
    )
}

/// A 200 body without `choices`.
pub(crate) fn missing_choices(model: &str, completion_id: &str) -> Value {
    json!({
        "id": completion_id,
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
    })
}

/// An OpenAI error body.
pub(crate) fn error_body(message: &str, kind: &str, code: Option<&str>) -> Value {
    json!({ "error": { "message": message, "type": kind, "param": null, "code": code } })
}

fn envelope(completion_id: &str, model: &str, choices: Value, usage: &ScriptedUsage) -> Value {
    let mut usage_json = json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    });
    if let Some(cached) = usage.cached_tokens {
        usage_json["prompt_tokens_details"] = json!({ "cached_tokens": cached, "audio_tokens": 0 });
    }
    json!({
        "id": completion_id,
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": choices,
        "usage": usage_json,
        "service_tier": "default",
        "system_fingerprint": null,
    })
}

/// The size of what `reply` writes: its text and its tool calls.
fn reply_bytes(reply: &Reply) -> usize {
    reply.content.as_deref().map_or(0, str::len)
        + reply
            .tool_calls
            .iter()
            .map(|call| call.name.len() + call.arguments.len())
            .sum::<usize>()
}

/// Roughly four bytes per token, the usual rule of thumb; at least one token each way.
fn estimated_usage(request_bytes: usize, reply_bytes: usize) -> ScriptedUsage {
    let tokens = |bytes: usize| u64::try_from(bytes.div_ceil(4).max(1)).unwrap_or(u64::MAX);
    ScriptedUsage {
        prompt_tokens: tokens(request_bytes),
        completion_tokens: tokens(reply_bytes),
        cached_tokens: None,
    }
}

/// Checks `body` against the request rules a real endpoint enforces, returning the message
/// OpenAI would answer with HTTP 400.
pub(crate) fn check_request(body: &Value) -> Result<(), String> {
    let object = body
        .as_object()
        .ok_or("the request body must be a JSON object")?;
    match object.get("model") {
        Some(Value::String(model)) if !model.is_empty() => {}
        _ => return Err("you must provide a model parameter".to_owned()),
    }
    if object.get("stream").and_then(Value::as_bool) == Some(true) {
        return Err("the stand-in does not stream: send `stream: false` or omit it".to_owned());
    }
    let messages = match object.get("messages") {
        Some(Value::Array(messages)) if !messages.is_empty() => messages,
        _ => return Err("'messages' must be a non-empty array".to_owned()),
    };
    check_messages(messages)?;
    if let Some(tools) = object.get("tools") {
        let tools = tools.as_array().ok_or("'tools' must be an array")?;
        for (index, tool) in tools.iter().enumerate() {
            if tool["type"] != "function" || !tool["function"]["name"].is_string() {
                return Err(format!(
                    "tools[{index}] must be {{\"type\": \"function\", \"function\": {{\"name\": …}}}}"
                ));
            }
            if let Some(parameters) = tool["function"].get("parameters")
                && !parameters.is_object()
            {
                return Err(format!(
                    "tools[{index}].function.parameters must be a JSON object"
                ));
            }
        }
    }
    Ok(())
}

/// Roles are known, and every tool call is answered by a `tool` message right after the
/// assistant message that made it, as OpenAI requires.
fn check_messages(messages: &[Value]) -> Result<(), String> {
    let mut unanswered: Vec<String> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let role = message["role"].as_str().unwrap_or("");
        if role != "tool" && !unanswered.is_empty() {
            return Err(format!(
                "an assistant message with 'tool_calls' must be followed by tool messages \
                 responding to each 'tool_call_id'; messages[{index}] comes before answers \
                 to: {}",
                unanswered.join(", ")
            ));
        }
        match role {
            "system" | "developer" | "user" => {
                if !message["content"].is_string() && !message["content"].is_array() {
                    return Err(format!("messages[{index}].content must be a string"));
                }
            }
            "assistant" => {
                if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
                    for call in calls {
                        let id = call["id"]
                            .as_str()
                            .ok_or(format!("messages[{index}].tool_calls[].id is missing"))?;
                        unanswered.push(id.to_owned());
                    }
                }
                let has_content = message["content"].is_string();
                if !has_content && unanswered.is_empty() {
                    return Err(format!(
                        "messages[{index}]: an assistant message needs content or tool_calls"
                    ));
                }
            }
            "tool" => {
                let id = message["tool_call_id"]
                    .as_str()
                    .ok_or(format!("messages[{index}].tool_call_id is missing"))?;
                let Some(position) = unanswered.iter().position(|open| open == id) else {
                    return Err(format!(
                        "messages with role 'tool' must be a response to a preceding message \
                         with 'tool_calls'; messages[{index}] answers unknown id `{id}`"
                    ));
                };
                unanswered.remove(position);
                if !message["content"].is_string() {
                    return Err(format!("messages[{index}].content must be a string"));
                }
            }
            other => return Err(format!("messages[{index}].role `{other}` is not supported")),
        }
    }
    if unanswered.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "tool calls without answers at the end of 'messages': {}",
            unanswered.join(", ")
        ))
    }
}

/// OpenAI's answer to a prompt larger than the model's window.
pub(crate) fn context_length_exceeded(requested: usize, window: usize) -> Value {
    with_param(
        error_body(
            &format!(
                "This model's maximum context length is {window} tokens. However, your messages \
                 resulted in {requested} tokens. Please reduce the length of the messages."
            ),
            "invalid_request_error",
            Some("context_length_exceeded"),
        ),
        "messages",
    )
}

/// `body` with `error.param` naming the offending request field, as OpenAI sends it.
fn with_param(mut body: Value, param: &str) -> Value {
    body["error"]["param"] = Value::String(param.to_owned());
    body
}

/// Applies the script's server rules to a request, returning the error body a server that
/// behaves so would answer with HTTP 400.
pub(crate) fn check_server_traits(
    server: &ServerTraits,
    body: &Value,
    request_bytes: usize,
) -> Result<(), Value> {
    for field in &server.rejects {
        if body.get(field).is_some() {
            return Err(with_param(
                error_body(
                    &format!("Unsupported parameter: '{field}' is not supported with this model."),
                    "invalid_request_error",
                    Some("unsupported_parameter"),
                ),
                field,
            ));
        }
    }
    if let Some(window) = server.context_window {
        let tokens = request_bytes.div_ceil(4);
        let window = usize::try_from(window).unwrap_or(usize::MAX);
        if tokens > window {
            return Err(context_length_exceeded(tokens, window));
        }
    }
    if server.reasoning {
        let messages = body["messages"].as_array().map_or(&[][..], Vec::as_slice);
        for (index, message) in messages.iter().enumerate() {
            let calls_tools = message["role"] == "assistant"
                && message["tool_calls"]
                    .as_array()
                    .is_some_and(|calls| !calls.is_empty());
            let echoed = message["reasoning_content"]
                .as_str()
                .is_some_and(|text| !text.is_empty());
            if calls_tools && !echoed {
                return Err(error_body(
                    &format!(
                        "Missing `reasoning_content` field in the assistant message at message \
                         index {index}. The reasoning_content of an assistant message that made \
                         tool calls must be passed back in the following requests."
                    ),
                    "invalid_request_error",
                    Some("invalid_request_error"),
                ));
            }
        }
    }
    Ok(())
}

/// `step` as a server whose replies take `server.reply_tokens` answers a request with a
/// smaller output limit: its reply cut off at that limit, or `None` when it fits.
pub(crate) fn cut_off(server: &ServerTraits, body: &Value, step: &Step) -> Option<Step> {
    let needed = server.reply_tokens?;
    let limit = ["max_tokens", "max_completion_tokens"]
        .iter()
        .find_map(|field| body[*field].as_u64())?;
    let Action::Reply(reply) = &step.action else {
        return None;
    };
    if limit >= needed {
        return None;
    }
    let mut cut = reply.clone();
    for call in &mut cut.tool_calls {
        let mut end = call.arguments.len() / 2;
        while !call.arguments.is_char_boundary(end) {
            end -= 1;
        }
        call.arguments.truncate(end);
    }
    cut.finish_reason = Some("length".to_owned());
    cut.usage = Some(ScriptedUsage {
        prompt_tokens: (body.to_string().len() as u64).div_ceil(4),
        completion_tokens: limit,
        cached_tokens: None,
    });
    Some(Step {
        delay: step.delay,
        action: Action::Reply(cut),
        held_until: step.held_until.clone(),
    })
}

/// `step` as a server generating at `server.tokens_per_second` answers it: later by the time
/// its completion tokens take to write (the reported usage, else `server.reply_tokens`, else
/// an estimate from the reply's size).
pub(crate) fn paced(server: &ServerTraits, mut step: Step) -> Step {
    let (Some(speed), Action::Reply(reply)) = (server.tokens_per_second, &step.action) else {
        return step;
    };
    let tokens = reply
        .usage
        .map(|usage| usage.completion_tokens)
        .or(server.reply_tokens)
        .unwrap_or_else(|| estimated_usage(0, reply_bytes(reply)).completion_tokens);
    step.delay += std::time::Duration::from_secs_f64(tokens as f64 / speed.max(1) as f64);
    step
}
