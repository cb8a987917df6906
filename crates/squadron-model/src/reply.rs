//! Reads a chat-completions reply body into a port [`ChatReply`], or says precisely why it
//! cannot be used.
//!
//! The body is read as loose JSON rather than async-openai's strict response types: a
//! strict parse fails as one opaque error on any deviation (an unknown `finish_reason`, a
//! missing `object`), while the harness needs to know which of the known failure classes it
//! met, and compatible servers legitimately omit fields the harness does not need.

use serde_json::Value;
use squadron_core::domain::TokenUsage;
use squadron_core::ports::model::UnusableReply;
use squadron_core::ports::{ChatReply, FinishReason, ToolCall};

/// Parses the body of a successful (HTTP 2xx) reply.
pub(crate) fn parse_reply(body: &[u8]) -> Result<ChatReply, UnusableReply> {
    let root: Value = serde_json::from_slice(body).map_err(|error| {
        UnusableReply::NotJson(format!("{error} (body starts with `{}`)", preview(body)))
    })?;
    if !root.is_object() {
        return Err(malformed("the body is not a JSON object"));
    }
    let model = required_str(&root, "model", "model")?.to_owned();
    let choice = match root.get("choices") {
        Some(Value::Array(choices)) => choices
            .first()
            .ok_or_else(|| malformed("`choices` is empty"))?,
        Some(_) => return Err(malformed("`choices` is not an array")),
        None => return Err(malformed("`choices` is missing")),
    };
    let message = match choice.get("message") {
        Some(message) if message.is_object() => message,
        _ => return Err(malformed("`choices[0].message` is missing")),
    };
    let content = match message.get("content") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            return Err(malformed(
                "`choices[0].message.content` is neither text nor null",
            ));
        }
    };
    let tool_calls = tool_calls(message)?;
    let finish_text = required_str(choice, "finish_reason", "choices[0].finish_reason")?;
    let usage = usage(&root)?;

    if tool_calls.is_empty()
        && let Some(tools) = content.as_deref().and_then(tool_calls_written_as_text)
    {
        return Err(UnusableReply::ToolCallsInContent { tools });
    }
    let finish_reason = match finish_text {
        "stop" => FinishReason::Stop,
        "tool_calls" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        "length" => {
            let looping = content.as_deref().is_some_and(loops)
                || tool_calls.iter().any(|call| loops(&call.arguments));
            return Err(UnusableReply::CutOff { looping });
        }
        other => return Err(UnusableReply::UnknownFinishReason(other.to_owned())),
    };
    if finish_reason == FinishReason::ToolCalls && tool_calls.is_empty() {
        return Err(malformed(
            "`finish_reason` is `tool_calls` but the message has no tool calls",
        ));
    }
    let has_text = content
        .as_deref()
        .is_some_and(|text| !text.trim().is_empty());
    if finish_reason == FinishReason::Stop && tool_calls.is_empty() && !has_text {
        return Err(UnusableReply::Empty);
    }
    let reasoning = ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|field| message.get(*field).and_then(Value::as_str))
        .filter(|text| !text.is_empty())
        .map(str::to_owned);
    Ok(ChatReply {
        content,
        tool_calls,
        finish_reason,
        usage,
        model,
        reasoning,
    })
}

/// The usage a 2xx body reports, if it reports one, whatever else is wrong with it: a
/// provider bills a reply the harness cannot use all the same.
pub(crate) fn billed_usage(body: &[u8]) -> Option<TokenUsage> {
    let root: Value = serde_json::from_slice(body).ok()?;
    usage(&root).ok()
}

fn tool_calls(message: &Value) -> Result<Vec<ToolCall>, UnusableReply> {
    let calls = match message.get("tool_calls") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(calls)) => calls,
        Some(_) => return Err(malformed("`choices[0].message.tool_calls` is not an array")),
    };
    calls
        .iter()
        .enumerate()
        .map(|(index, call)| {
            let at = format!("choices[0].message.tool_calls[{index}]");
            if let Some(kind) = call.get("type").and_then(Value::as_str)
                && kind != "function"
            {
                return Err(malformed(&format!(
                    "`{at}.type` is `{kind}`, not `function`"
                )));
            }
            let function = call
                .get("function")
                .filter(|function| function.is_object())
                .ok_or_else(|| malformed(&format!("`{at}.function` is missing")))?;
            Ok(ToolCall {
                id: required_str(call, "id", &format!("{at}.id"))?.to_owned(),
                name: required_str(function, "name", &format!("{at}.function.name"))?.to_owned(),
                arguments: required_str(
                    function,
                    "arguments",
                    &format!("{at}.function.arguments"),
                )?
                .to_owned(),
            })
        })
        .collect()
}

fn usage(root: &Value) -> Result<TokenUsage, UnusableReply> {
    let usage = root
        .get("usage")
        .filter(|usage| usage.is_object())
        .ok_or_else(|| malformed("`usage` is missing, so the call cannot be metered"))?;
    let count = |field: &str| {
        usage
            .get(field)
            .and_then(Value::as_u64)
            .ok_or_else(|| malformed(&format!("`usage.{field}` is missing or not a whole number")))
    };
    let cached = usage
        .get("prompt_tokens_details")
        .and_then(|details| details.get("cached_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Ok(TokenUsage {
        prompt: count("prompt_tokens")?,
        cached,
        completion: count("completion_tokens")?,
    })
}

/// The tool names, when `content` is nothing but tool calls written as JSON: one call
/// object, an array of them, or `{"tool_calls": [...]}`, possibly in a Markdown code fence
/// or `<tool_call>` tags, as models do when the server does not parse their tool calls.
fn tool_calls_written_as_text(content: &str) -> Option<Vec<String>> {
    let mut text = content.trim();
    if let Some(inner) = text.strip_prefix("```") {
        let inner = inner.strip_prefix("json").unwrap_or(inner);
        text = inner.strip_suffix("```").unwrap_or(inner).trim();
    }
    if let Some(inner) = text.strip_prefix("<tool_call>") {
        text = inner.strip_suffix("</tool_call>").unwrap_or(inner).trim();
    }
    let value: Value = serde_json::from_str(text).ok()?;
    let candidates: Vec<&Value> = match &value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(object) => match object.get("tool_calls") {
            Some(Value::Array(items)) => items.iter().collect(),
            _ => vec![&value],
        },
        _ => return None,
    };
    let names = candidates
        .iter()
        .map(|candidate| written_call_name(candidate))
        .collect::<Option<Vec<_>>>()?;
    (!names.is_empty()).then_some(names)
}

fn written_call_name(candidate: &Value) -> Option<String> {
    let call = candidate
        .get("function")
        .filter(|function| function.is_object())
        .unwrap_or(candidate);
    let name = call.get("name")?.as_str()?;
    (call.get("arguments").is_some() || call.get("parameters").is_some()).then(|| name.to_owned())
}

/// How much of a cut-off text's end is searched for a loop.
const LOOP_WINDOW: usize = 4096;

/// The shortest run of repetition at a text's end that counts as a loop, in bytes; shorter
/// runs (a row of dashes, a few similar lines) are ordinary writing.
const LOOP_MIN_BYTES: usize = 256;

/// How many times a passage must stand in a row at the end to count as a loop.
const LOOP_MIN_TIMES: usize = 4;

/// Whether `text`, a reply cut off at the token limit, went round in a loop up to the cut:
/// its end is one passage (of up to a quarter of [`LOOP_WINDOW`]) repeated byte for byte at
/// least [`LOOP_MIN_TIMES`] times and over at least [`LOOP_MIN_BYTES`]. A model that loops
/// writes the same thing until the limit stops it, so the repetition reaches the cut.
pub(crate) fn loops(text: &str) -> bool {
    let bytes = text.as_bytes();
    let tail = &bytes[bytes.len().saturating_sub(LOOP_WINDOW)..];
    (1..=tail.len() / LOOP_MIN_TIMES).any(|period| {
        // The length of the longest end of `tail` that repeats with this period.
        let repeating = tail
            .iter()
            .rev()
            .zip(tail.iter().rev().skip(period))
            .take_while(|(later, earlier)| later == earlier)
            .count()
            + period;
        repeating >= LOOP_MIN_BYTES.max(period * LOOP_MIN_TIMES)
    })
}

fn required_str<'a>(object: &'a Value, field: &str, path: &str) -> Result<&'a str, UnusableReply> {
    object
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(&format!("`{path}` is missing or not text")))
}

fn malformed(problem: &str) -> UnusableReply {
    UnusableReply::Malformed(problem.to_owned())
}

/// The start of a body for an error message, on one line.
pub(crate) fn preview(body: &[u8]) -> String {
    const LIMIT: usize = 120;
    let text = String::from_utf8_lossy(body);
    let mut shown: String = text
        .chars()
        .take(LIMIT)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > LIMIT {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_tool_calls_written_in_every_common_wrapping() {
        let cases = [
            r#"{"name": "read_file", "arguments": {"path": "a"}}"#,
            r#"[{"name": "read_file", "arguments": {}}, {"name": "finish", "parameters": {}}]"#,
            "```json\n{\"name\": \"read_file\", \"arguments\": {}}\n```",
            "<tool_call>{\"name\": \"read_file\", \"arguments\": {}}</tool_call>",
            r#"{"tool_calls": [{"function": {"name": "read_file", "arguments": "{}"}}]}"#,
        ];
        for case in cases {
            let names = tool_calls_written_as_text(case);
            assert_eq!(
                names
                    .as_ref()
                    .and_then(|names| names.first())
                    .map(String::as_str),
                Some("read_file"),
                "{case}"
            );
        }
    }

    #[test]
    fn leaves_ordinary_text_and_json_answers_alone() {
        for case in [
            "Done, the fix is in.",
            r#"{"summary": "ok"}"#,
            "[1, 2]",
            r#"{"name": "x"}"#,
        ] {
            assert_eq!(tool_calls_written_as_text(case), None, "{case}");
        }
    }

    #[test]
    fn a_text_repeating_itself_up_to_the_cut_loops() {
        let intro = "I will look at the repository first.\n";
        let looping = [
            // A sentence over and over, cut mid-word.
            format!(
                "{intro}{}I will rea",
                "I will read the file to understand it. ".repeat(40)
            ),
            // Blank lines to the limit.
            format!("{intro}{}", "\n".repeat(600)),
            // A long paragraph three times and then some, inside tool-call arguments.
            format!(
                "{{\"path\": \"a.py\", \"content\": \"{}",
                "def f():\\n    return g()\\n\\n".repeat(30)
            ),
        ];
        for text in &looping {
            assert!(loops(text), "{text}");
        }
    }

    #[test]
    fn long_varied_text_cut_off_does_not_loop() {
        let numbered: String = (1..=200)
            .map(|n| format!("    assert total({n}) == {}\n", n * 3))
            .collect();
        let separators = format!("# Notes\n{}\nsome text", "-".repeat(80));
        let short_repeat = "ab ab ab ab ab ab".to_owned();
        for text in [numbered, separators, short_repeat] {
            assert!(!loops(&text), "{text}");
        }
    }
}
