//! `squadron logs <squad>`: one squad's event log and agent transcript.

use std::process::ExitCode;

use serde_json::{Value, json};
use squadron_core::ports::{ChatMessage, SquadEvent, TranscriptEntry};
use squadron_store::SquadLog;

use crate::cli::{GlobalArgs, LogsArgs};
use crate::commands::status::squad_record_json;
use crate::context::{Context, store_error};
use crate::error::CliError;
use crate::format::rfc3339;

/// Prints the squad's events, then its transcript, oldest first.
pub async fn run(global: &GlobalArgs, args: &LogsArgs) -> Result<ExitCode, CliError> {
    let context = Context::load(global)?;
    let Some(store) = context.open_existing_store().await? else {
        return Err(CliError::user(format!(
            "failed to find squad `{}`: nothing has run on this machine yet",
            args.squad
        ))
        .with_hint("start a run with `squadron run <Linear project URL>`, or point --database-url at the daemon's store"));
    };
    let log = store.squad_log(&args.squad).await.map_err(store_error);
    store.close().await;
    let log = log?;
    if args.json {
        crate::output::println(&format!("{:#}", log_json(&log)))?;
    } else {
        crate::output::print(&log_text(&log))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn log_text(log: &SquadLog) -> String {
    let squad = &log.record.squad;
    let mut text = format!(
        "Squad {} · {} · {} · round {}{}\n\nEvents\n",
        squad.id,
        squad.issue,
        squad.phase,
        squad.round,
        squad.pr.map(|pr| format!(" · PR {pr}")).unwrap_or_default(),
    );
    if log.events.is_empty() {
        text.push_str("  (none)\n");
    }
    for event in &log.events {
        text.push_str(&event_line(event));
    }
    text.push_str("\nTranscript\n");
    if log.transcript.is_empty() {
        text.push_str("  (none)\n");
    }
    for entry in &log.transcript {
        text.push_str(&transcript_block(entry));
    }
    text
}

fn event_line(event: &SquadEvent) -> String {
    format!(
        "  {:>4}  {}  {:<16} {:<13} round {}  {}\n",
        event.seq,
        rfc3339(event.at),
        event.kind,
        event.phase.name(),
        event.round,
        event.payload,
    )
}

fn transcript_block(entry: &TranscriptEntry) -> String {
    let header = format!("  {:>4}  {}  {}", entry.seq, rfc3339(entry.at), entry.role);
    let body = match &entry.message {
        ChatMessage::System { content } => format!("system:\n{}", indent(content)),
        ChatMessage::User { content } => format!("user:\n{}", indent(content)),
        ChatMessage::Assistant {
            content,
            tool_calls,
            ..
        } => {
            let mut body = String::from("assistant:\n");
            if let Some(content) = content {
                body.push_str(&indent(content));
            }
            for call in tool_calls {
                body.push_str(&indent(&format!(
                    "→ {}({}) [{}]",
                    call.name, call.arguments, call.id
                )));
            }
            body
        }
        ChatMessage::Tool {
            tool_call_id,
            content,
        } => {
            format!("tool result [{tool_call_id}]:\n{}", indent(content))
        }
    };
    format!("{header} {body}\n")
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("        {line}\n"))
        .collect()
}

fn log_json(log: &SquadLog) -> Value {
    let events: Vec<Value> = log
        .events
        .iter()
        .map(|event| {
            json!({
                "seq": event.seq,
                "at": rfc3339(event.at),
                "kind": event.kind,
                "phase": event.phase.name(),
                "round": event.round,
                // Payloads are JSON documents; keep them structured when they parse.
                "payload": serde_json::from_str::<Value>(&event.payload)
                    .unwrap_or_else(|_| Value::String(event.payload.clone())),
            })
        })
        .collect();
    let transcript: Vec<Value> = log.transcript.iter().map(transcript_json).collect();
    json!({
        "squad": squad_record_json(&log.record),
        "events": events,
        "transcript": transcript,
    })
}

fn transcript_json(entry: &TranscriptEntry) -> Value {
    let message = match &entry.message {
        ChatMessage::System { content } => json!({ "role": "system", "content": content }),
        ChatMessage::User { content } => json!({ "role": "user", "content": content }),
        ChatMessage::Assistant {
            content,
            tool_calls,
            ..
        } => json!({
            "role": "assistant",
            "content": content,
            "tool_calls": tool_calls
                .iter()
                .map(|call| json!({ "id": call.id, "name": call.name, "arguments": call.arguments }))
                .collect::<Vec<_>>(),
        }),
        ChatMessage::Tool {
            tool_call_id,
            content,
        } => {
            json!({ "role": "tool", "tool_call_id": tool_call_id, "content": content })
        }
    };
    json!({
        "seq": entry.seq,
        "at": rfc3339(entry.at),
        "agent": entry.role.as_str(),
        "message": message,
    })
}
