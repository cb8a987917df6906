//! The context budget of one turn: how full the model's window is, the eliding of older tool
//! results, and the condensed conversation that replaces a long one.
//!
//! The system prompt and the task, the first two messages, are never touched, so a provider's
//! prompt cache keeps serving them after any elision or condensation. Elision rewrites older
//! tool results in one batch, down to well under the threshold, so the prefix changes rarely
//! and stays byte-identical between batches. A conversation kept at the end of a turn
//! ([`KeptConversation`]) is continued by a later turn of the same agent with a follow-up
//! message, which condensation keeps beside the task: it is what the agent works on now.

use serde_json::{Value, json};
use squadron_core::ports::{ChatMessage, ModelLimits, ToolCall, ToolSpec};

use crate::tokens::TokenCounter;

/// How many of the latest tool results elision leaves whole: the model is usually working
/// on them.
const KEEP_RECENT_RESULTS: usize = 3;

/// Elision brings the prompt down to this share of the threshold, so that it is not needed
/// again at once.
const ELIDE_DOWN_TO: f64 = 0.6;

/// The share of the threshold that the most recent exchange may take to be kept after a
/// condensation.
const TAIL_SHARE: f64 = 0.3;

/// Tool results shorter than this are elided to a note without a scratch copy: calling the
/// tool again is as cheap as reading the copy.
pub(crate) const KEEP_WHOLE_BELOW: usize = 1024;

/// The budget of one model: its limits and the share of the window a prompt may fill before
/// older results are elided.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ContextBudget {
    /// The model's limits.
    pub limits: ModelLimits,
    /// The share of the window (less the reply's room) a prompt may fill.
    pub share: f64,
}

impl ContextBudget {
    /// Prompt tokens allowed before older tool results are elided.
    pub fn threshold(&self) -> u64 {
        let room = self
            .limits
            .context_window
            .saturating_sub(self.limits.max_output_tokens);
        (room as f64 * self.share.clamp(0.05, 1.0)) as u64
    }
}

/// One message of the conversation with what the budget needs to know about it.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) message: ChatMessage,
    pub(crate) tokens: u64,
    /// Where the whole text of a tool result is kept, if it was kept.
    pub(crate) whole_at: Option<String>,
    pub(crate) elided: bool,
}

/// The conversation of one turn, counted.
#[derive(Debug)]
pub(crate) struct Conversation {
    pub(crate) entries: Vec<Entry>,
    counter: TokenCounter,
    tool_tokens: u64,
    /// Provider-reported prompt tokens over our count at the last call: corrects our count
    /// towards the provider's own tokenizer (never below 1, so the estimate stays safe).
    calibration: f64,
    /// The index of the follow-up that continued a kept conversation: kept through
    /// condensation, after the task.
    follow_up: Option<usize>,
}

/// A conversation as a turn that ended with its terminal tool left it (older tool results
/// elided or condensed as they were sent), for a later turn of the same agent to continue:
/// its requests then start with every byte the earlier turn sent.
#[derive(Clone, Debug)]
pub struct KeptConversation {
    entries: Vec<Entry>,
    calibration: f64,
}

impl KeptConversation {
    /// The system prompt the conversation started with.
    pub fn system_prompt(&self) -> Option<&str> {
        match self.entries.first().map(|entry| &entry.message) {
            Some(ChatMessage::System { content }) => Some(content),
            _ => None,
        }
    }

    /// The messages, as the last request sent them, with the terminal call's answer.
    pub fn messages(&self) -> impl Iterator<Item = &ChatMessage> {
        self.entries.iter().map(|entry| &entry.message)
    }

    /// The conversation as JSON text for a store, read back by [`KeptConversation::decode`].
    pub fn encode(&self) -> String {
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|entry| {
                json!({
                    "message": encode_message(&entry.message),
                    "whole_at": entry.whole_at,
                    "elided": entry.elided,
                })
            })
            .collect();
        json!({ "calibration": self.calibration, "entries": entries }).to_string()
    }

    /// A conversation [`KeptConversation::encode`] wrote; `None` for any other text. Its
    /// tokens are counted again when it is continued.
    pub fn decode(text: &str) -> Option<Self> {
        let root: Value = serde_json::from_str(text).ok()?;
        let entries = root["entries"]
            .as_array()?
            .iter()
            .map(|entry| {
                Some(Entry {
                    message: decode_message(&entry["message"])?,
                    tokens: 0,
                    whole_at: entry["whole_at"].as_str().map(str::to_owned),
                    elided: entry["elided"].as_bool()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            entries,
            calibration: root["calibration"].as_f64()?.clamp(1.0, 4.0),
        })
    }
}

fn encode_message(message: &ChatMessage) -> Value {
    match message {
        ChatMessage::System { content } => json!({ "role": "system", "content": content }),
        ChatMessage::User { content } => json!({ "role": "user", "content": content }),
        ChatMessage::Assistant {
            content,
            tool_calls,
            reasoning,
        } => json!({
            "role": "assistant",
            "content": content,
            "tool_calls": tool_calls
                .iter()
                .map(|call| json!({ "id": call.id, "name": call.name, "arguments": call.arguments }))
                .collect::<Vec<_>>(),
            "reasoning": reasoning,
        }),
        ChatMessage::Tool {
            tool_call_id,
            content,
        } => json!({ "role": "tool", "tool_call_id": tool_call_id, "content": content }),
    }
}

fn decode_message(value: &Value) -> Option<ChatMessage> {
    let text = |name: &str| value[name].as_str().map(str::to_owned);
    Some(match value["role"].as_str()? {
        "system" => ChatMessage::System {
            content: text("content")?,
        },
        "user" => ChatMessage::User {
            content: text("content")?,
        },
        "assistant" => ChatMessage::Assistant {
            content: text("content"),
            tool_calls: value["tool_calls"]
                .as_array()?
                .iter()
                .map(|call| {
                    Some(ToolCall {
                        id: call["id"].as_str()?.to_owned(),
                        name: call["name"].as_str()?.to_owned(),
                        arguments: call["arguments"].as_str()?.to_owned(),
                    })
                })
                .collect::<Option<Vec<_>>>()?,
            reasoning: text("reasoning"),
        },
        "tool" => ChatMessage::Tool {
            tool_call_id: text("tool_call_id")?,
            content: text("content")?,
        },
        _ => return None,
    })
}

impl Conversation {
    pub(crate) fn new(counter: TokenCounter, tools: &[ToolSpec]) -> Self {
        let tool_tokens = tools
            .iter()
            .map(|tool| {
                counter.text(&tool.name)
                    + counter.text(&tool.description)
                    + counter.text(&tool.parameters)
                    + 8
            })
            .sum();
        Self {
            entries: Vec::new(),
            counter,
            tool_tokens,
            calibration: 1.0,
            follow_up: None,
        }
    }

    /// Continues `kept` with `follow_up`, counted with this conversation's counter (the model
    /// may count differently from the one that kept it).
    pub(crate) fn resume(&mut self, kept: &KeptConversation, follow_up: ChatMessage) {
        self.entries = kept.entries.clone();
        for entry in &mut self.entries {
            entry.tokens = self.counter.message(&entry.message);
        }
        self.calibration = kept.calibration;
        self.follow_up = Some(self.entries.len());
        self.push(follow_up, None);
    }

    /// The conversation as it stands, to continue later.
    pub(crate) fn keep(&self) -> KeptConversation {
        KeptConversation {
            entries: self.entries.clone(),
            calibration: self.calibration,
        }
    }

    pub(crate) fn push(&mut self, message: ChatMessage, whole_at: Option<String>) {
        let tokens = self.counter.message(&message);
        self.entries.push(Entry {
            message,
            tokens,
            whole_at,
            elided: false,
        });
    }

    pub(crate) fn messages(&self) -> Vec<ChatMessage> {
        self.entries
            .iter()
            .map(|entry| entry.message.clone())
            .collect()
    }

    fn counted(&self) -> u64 {
        self.entries.iter().map(|entry| entry.tokens).sum::<u64>() + self.tool_tokens
    }

    /// The prompt's tokens as the provider will probably count them.
    pub(crate) fn prompt_tokens(&self) -> u64 {
        (self.counted() as f64 * self.calibration).ceil() as u64
    }

    /// Learns from the provider's count of the prompt just sent.
    pub(crate) fn calibrate(&mut self, reported_prompt_tokens: u64) {
        let counted = self.counted();
        if counted > 0 && reported_prompt_tokens > 0 {
            self.calibration = (reported_prompt_tokens as f64 / counted as f64).clamp(1.0, 4.0);
        }
    }

    /// Replaces older tool results by one-line notes, oldest first, until the prompt is at
    /// most `target` tokens or only the latest few results are left whole. Returns how many
    /// were elided.
    pub(crate) fn elide(&mut self, target: u64, keep_recent: usize) -> usize {
        let results: Vec<usize> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, entry)| matches!(entry.message, ChatMessage::Tool { .. }))
            .map(|(index, _)| index)
            .collect();
        let elidable = results.len().saturating_sub(keep_recent);
        let mut elided = 0;
        for &index in &results[..elidable] {
            if self.prompt_tokens() <= target {
                break;
            }
            if self.entries[index].elided {
                continue;
            }
            let note = self.elision_note(index);
            let ChatMessage::Tool { tool_call_id, .. } = &self.entries[index].message else {
                continue;
            };
            let message = ChatMessage::Tool {
                tool_call_id: tool_call_id.clone(),
                content: note,
            };
            self.entries[index].tokens = self.counter.message(&message);
            self.entries[index].message = message;
            self.entries[index].elided = true;
            elided += 1;
        }
        elided
    }

    /// Elides what [`Conversation::elide`] would for a prompt over `budget`'s threshold.
    pub(crate) fn elide_for(&mut self, budget: &ContextBudget) -> usize {
        let target = (budget.threshold() as f64 * ELIDE_DOWN_TO) as u64;
        self.elide(target, KEEP_RECENT_RESULTS)
    }

    fn call_answered(&self, index: usize) -> Option<&ToolCall> {
        let ChatMessage::Tool { tool_call_id, .. } = &self.entries[index].message else {
            return None;
        };
        self.entries[..index]
            .iter()
            .rev()
            .find_map(|entry| match &entry.message {
                ChatMessage::Assistant { tool_calls, .. } => {
                    tool_calls.iter().find(|call| &call.id == tool_call_id)
                }
                _ => None,
            })
    }

    fn elision_note(&self, index: usize) -> String {
        let entry = &self.entries[index];
        let ChatMessage::Tool { content, .. } = &entry.message else {
            return String::new();
        };
        let what = self.call_answered(index).map_or_else(
            || "a tool call".to_owned(),
            |call| format!("`{}` {}", call.name, one_line(&call.arguments, 160)),
        );
        let lines = content.lines().count();
        match &entry.whole_at {
            Some(path) => format!(
                "[elided to save context: the result of {what} ({lines} lines, {} bytes); it is kept whole in `{path}`, read it with read_file if you need it again]",
                content.len()
            ),
            None => format!(
                "[elided to save context: the result of {what} ({lines} lines, {} bytes); call the tool again if you need it]",
                content.len()
            ),
        }
    }

    /// The input for the model's hand-off: system prompt, task and every later message with
    /// all tool results elided, the oldest exchanges dropped until it fits `budget`'s
    /// threshold with room for `request`.
    pub(crate) fn handoff_input(&self, budget: &ContextBudget, request: &str) -> Vec<ChatMessage> {
        let mut copy = Conversation {
            entries: self.entries.clone(),
            counter: self.counter,
            tool_tokens: 0,
            calibration: self.calibration,
            follow_up: None,
        };
        copy.elide(0, 0);
        let room = budget
            .threshold()
            .saturating_sub(self.counter.text(request) + 16);
        while copy.prompt_tokens() > room && copy.entries.len() > 2 {
            let end = copy.exchange_end(2);
            copy.entries.drain(2..end);
        }
        let mut messages = copy.messages();
        messages.push(ChatMessage::User {
            content: request.to_owned(),
        });
        messages
    }

    /// The index after the exchange starting at `start`: one message, and for an assistant
    /// message with tool calls, the tool results that answer it.
    fn exchange_end(&self, start: usize) -> usize {
        let mut end = start + 1;
        if matches!(self.entries[start].message, ChatMessage::Assistant { .. }) {
            while end < self.entries.len()
                && matches!(self.entries[end].message, ChatMessage::Tool { .. })
            {
                end += 1;
            }
        }
        end.min(self.entries.len())
    }

    /// Replaces everything after the system prompt and the task (and the follow-up a
    /// continued conversation works on) by `handoff`, followed by the latest exchange when it
    /// fits comfortably (so the model sees where it was). The first two messages are kept as
    /// they were, byte for byte.
    pub(crate) fn condense(&mut self, handoff: ChatMessage, budget: &ContextBudget) {
        let tail_start = self.entries.iter().rposition(
            |entry| matches!(&entry.message, ChatMessage::Assistant { tool_calls, .. } if !tool_calls.is_empty()),
        );
        let tail: Vec<Entry> = match tail_start {
            Some(start) if start >= 2 && self.exchange_end(start) == self.entries.len() => {
                let tail = self.entries[start..].to_vec();
                let tokens: u64 = tail.iter().map(|entry| entry.tokens).sum();
                if (tokens as f64) <= budget.threshold() as f64 * TAIL_SHARE {
                    tail
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        };
        self.keep_task_only();
        self.push(handoff, None);
        self.entries.extend(tail);
    }

    /// Forgets everything after the system prompt and the task (and the follow-up), for a
    /// continuation turn.
    pub(crate) fn restart(&mut self, handoff: ChatMessage) {
        self.keep_task_only();
        self.push(handoff, None);
    }

    /// Drops every message after the task but the follow-up, if there is one.
    fn keep_task_only(&mut self) {
        let follow_up = self
            .follow_up
            .filter(|index| *index >= 2)
            .and_then(|index| self.entries.get(index).cloned());
        self.entries.truncate(2);
        self.follow_up = follow_up.map(|entry| {
            self.entries.push(entry);
            2
        });
    }
}

fn one_line(text: &str, limit: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > limit {
        let cut: String = flat.chars().take(limit).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use squadron_core::ports::{ChatMessage, ModelLimits, TokenEncoding};

    use super::{ContextBudget, Conversation, KeptConversation};
    use crate::tokens::TokenCounter;

    fn user(text: &str) -> ChatMessage {
        ChatMessage::User {
            content: text.to_owned(),
        }
    }

    #[test]
    fn a_kept_conversation_reads_back_as_it_was_encoded() {
        let counter = TokenCounter::new(TokenEncoding::Estimate);
        let mut conversation = Conversation::new(counter, &[]);
        conversation.push(
            ChatMessage::System {
                content: "system".to_owned(),
            },
            None,
        );
        conversation.push(user("task"), None);
        conversation.push(
            ChatMessage::Assistant {
                content: None,
                tool_calls: vec![squadron_core::ports::ToolCall {
                    id: "call_1".to_owned(),
                    name: "read_file".to_owned(),
                    arguments: "{\"path\":\"a\"}".to_owned(),
                }],
                reasoning: Some("thinking".to_owned()),
            },
            None,
        );
        conversation.push(
            ChatMessage::Tool {
                tool_call_id: "call_1".to_owned(),
                content: "text".to_owned(),
            },
            Some("scratch:developer-1.txt".to_owned()),
        );
        let kept = conversation.keep();
        let read = KeptConversation::decode(&kept.encode()).expect("reads back");
        assert_eq!(
            read.messages().collect::<Vec<_>>(),
            kept.messages().collect::<Vec<_>>()
        );
        assert_eq!(
            read.entries[3].whole_at.as_deref(),
            Some("scratch:developer-1.txt")
        );
        assert!(KeptConversation::decode("{}").is_none());
    }

    #[test]
    fn a_continued_conversation_keeps_its_follow_up_through_condensation() {
        let counter = TokenCounter::new(TokenEncoding::Estimate);
        let mut first = Conversation::new(counter, &[]);
        first.push(
            ChatMessage::System {
                content: "system".to_owned(),
            },
            None,
        );
        first.push(user("task"), None);
        first.push(user("earlier work"), None);
        let kept = first.keep();
        let mut next = Conversation::new(counter, &[]);
        next.resume(&kept, user("round 2"));
        next.push(user("later work"), None);
        let budget = ContextBudget {
            limits: ModelLimits::CONSERVATIVE,
            share: 0.5,
        };
        next.condense(user("hand-off"), &budget);
        next.restart(user("continuation"));
        let texts: Vec<ChatMessage> = next.messages();
        assert_eq!(
            texts,
            [
                ChatMessage::System {
                    content: "system".to_owned()
                },
                user("task"),
                user("round 2"),
                user("continuation"),
            ]
        );
    }
}
