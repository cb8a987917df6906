//! How domain values map to columns and back. Reading back never panics: a value this
//! version does not know becomes a [`StoreErrorKind::Corrupt`](crate::StoreErrorKind) error
//! naming the column and the value.

use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;
use squadron_core::ports::{ChatMessage, ToolCall};
use squadron_core::{IssueKey, Phase, Role, SquadKind, Timestamp};

use crate::error::{StoreError, StoreErrorKind};

/// Reads one column, naming it in the error.
pub(crate) fn column<'r, T>(row: &'r AnyRow, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(name)
        .map_err(|error| StoreError::database(format!("read column `{name}`"), error))
}

/// Reads a BIGINT column holding Unix milliseconds.
pub(crate) fn timestamp(row: &AnyRow, name: &str) -> Result<Timestamp, StoreError> {
    column::<i64>(row, name).map(Timestamp::from_millis)
}

/// Reads a BIGINT column holding a count that cannot be negative.
pub(crate) fn count(row: &AnyRow, name: &str) -> Result<u64, StoreError> {
    let value: i64 = column(row, name)?;
    u64::try_from(value).map_err(|_| StoreError::corrupt(name, &value.to_string()))
}

/// Reads a BIGINT column holding a small count, such as a review round.
pub(crate) fn small_count(row: &AnyRow, name: &str) -> Result<u32, StoreError> {
    let value: i64 = column(row, name)?;
    u32::try_from(value).map_err(|_| StoreError::corrupt(name, &value.to_string()))
}

/// A count as stored; counts past `i64::MAX` are refused rather than wrapped.
pub(crate) fn stored_count(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| {
        StoreError::new(
            StoreErrorKind::Invalid,
            format!("store {what} {value}: it is too large"),
        )
    })
}

/// Rebuilds a phase from its name and detail columns.
pub(crate) fn phase(row: &AnyRow, name: &str, detail: &str) -> Result<Phase, StoreError> {
    let stored: String = column(row, name)?;
    let detail: Option<String> = column(row, detail)?;
    Phase::from_parts(&stored, detail.as_deref()).ok_or_else(|| StoreError::corrupt(name, &stored))
}

/// Reads a role column.
pub(crate) fn role(row: &AnyRow, name: &str) -> Result<Role, StoreError> {
    let stored: String = column(row, name)?;
    stored
        .parse()
        .map_err(|_| StoreError::corrupt(name, &stored))
}

/// A squad kind as stored.
pub(crate) const fn squad_kind_name(kind: SquadKind) -> &'static str {
    match kind {
        SquadKind::Feature => "feature",
        SquadKind::BugFix => "bug-fix",
        SquadKind::Revert => "revert",
    }
}

/// Reads a squad kind column.
pub(crate) fn squad_kind(row: &AnyRow, name: &str) -> Result<SquadKind, StoreError> {
    let stored: String = column(row, name)?;
    [SquadKind::Feature, SquadKind::BugFix, SquadKind::Revert]
        .into_iter()
        .find(|kind| squad_kind_name(*kind) == stored)
        .ok_or_else(|| StoreError::corrupt(name, &stored))
}

/// Issue keys as a JSON array.
pub(crate) fn issue_keys_json(keys: &[IssueKey]) -> String {
    Value::from(keys.iter().map(IssueKey::as_str).collect::<Vec<_>>()).to_string()
}

/// Reads a JSON array of issue keys.
pub(crate) fn issue_keys(row: &AnyRow, name: &str) -> Result<Vec<IssueKey>, StoreError> {
    let stored: String = column(row, name)?;
    serde_json::from_str::<Vec<String>>(&stored)
        .map(|keys| keys.into_iter().map(IssueKey::from).collect())
        .map_err(|_| StoreError::corrupt(name, &stored))
}

/// Refuses text that is not one JSON document.
pub(crate) fn check_json(payload: &str, what: &str) -> Result<(), StoreError> {
    serde_json::from_str::<Value>(payload)
        .map(|_| ())
        .map_err(|error| {
            StoreError::new(
                StoreErrorKind::Invalid,
                format!("store {what}: it is not JSON: {error}"),
            )
            .with_source(error)
        })
}

/// A chat message split into the transcript's columns.
pub(crate) struct MessageColumns {
    pub(crate) kind: &'static str,
    pub(crate) content: Option<String>,
    pub(crate) tool_calls: Option<String>,
    pub(crate) tool_call_id: Option<String>,
}

/// Splits a message into columns; tool calls become a JSON array of `{id, name, arguments}`.
pub(crate) fn message_columns(message: &ChatMessage) -> MessageColumns {
    match message {
        ChatMessage::System { content } => MessageColumns {
            kind: "system",
            content: Some(content.clone()),
            tool_calls: None,
            tool_call_id: None,
        },
        ChatMessage::User { content } => MessageColumns {
            kind: "user",
            content: Some(content.clone()),
            tool_calls: None,
            tool_call_id: None,
        },
        ChatMessage::Assistant {
            content,
            tool_calls,
            ..
        } => MessageColumns {
            kind: "assistant",
            content: content.clone(),
            tool_calls: Some(
                Value::from(
                    tool_calls
                        .iter()
                        .map(|call| {
                            json!({"id": call.id, "name": call.name, "arguments": call.arguments})
                        })
                        .collect::<Vec<_>>(),
                )
                .to_string(),
            ),
            tool_call_id: None,
        },
        ChatMessage::Tool { tool_call_id, content } => MessageColumns {
            kind: "tool",
            content: Some(content.clone()),
            tool_calls: None,
            tool_call_id: Some(tool_call_id.clone()),
        },
    }
}

/// Rebuilds a message from the transcript's columns.
pub(crate) fn message(row: &AnyRow) -> Result<ChatMessage, StoreError> {
    let kind: String = column(row, "message_kind")?;
    let content: Option<String> = column(row, "content")?;
    let required = |value: Option<String>, name: &str| {
        value.ok_or_else(|| StoreError::corrupt(name, &format!("NULL in a {kind} message")))
    };
    Ok(match kind.as_str() {
        "system" => ChatMessage::System {
            content: required(content, "content")?,
        },
        "user" => ChatMessage::User {
            content: required(content, "content")?,
        },
        "assistant" => {
            let stored = required(column(row, "tool_calls")?, "tool_calls")?;
            ChatMessage::Assistant {
                content,
                tool_calls: tool_calls(&stored)?,
                reasoning: None,
            }
        }
        "tool" => ChatMessage::Tool {
            tool_call_id: required(column(row, "tool_call_id")?, "tool_call_id")?,
            content: required(content, "content")?,
        },
        _ => return Err(StoreError::corrupt("message_kind", &kind)),
    })
}

fn tool_calls(stored: &str) -> Result<Vec<ToolCall>, StoreError> {
    let corrupt = || StoreError::corrupt("tool_calls", stored);
    let Value::Array(calls) = serde_json::from_str(stored).map_err(|_| corrupt())? else {
        return Err(corrupt());
    };
    calls
        .iter()
        .map(|call| {
            let field = |name: &str| call.get(name).and_then(Value::as_str).map(str::to_owned);
            Some(ToolCall {
                id: field("id")?,
                name: field("name")?,
                arguments: field("arguments")?,
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(corrupt)
}
