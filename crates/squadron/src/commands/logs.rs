//! `squadron logs <squad>`: one squad's event log and agent transcript, filtered by role and
//! event kind, and with `--follow` kept open as new entries are recorded.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};
use squadron_core::Role;
use squadron_core::ports::{ChatMessage, SquadEvent, TranscriptEntry};
use squadron_store::{SqlStore, SquadLog};
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::{GlobalArgs, LogsArgs};
use crate::commands::status::squad_record_json;
use crate::context::{Context, store_error};
use crate::error::CliError;
use crate::format::rfc3339;

/// How often `--follow` looks for new entries.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// Prints the squad's events, then its transcript, oldest first, keeping only the roles and
/// event kinds asked for; with `--follow`, then prints new entries as they are recorded
/// until the squad ends or Ctrl-C.
pub async fn run(global: &GlobalArgs, args: &LogsArgs) -> Result<ExitCode, CliError> {
    let context = Context::load(global)?;
    let Some(store) = context.open_existing_store().await? else {
        return Err(CliError::user(format!(
            "failed to find squad `{}`: nothing has run on this machine yet",
            args.squad
        ))
        .with_hint("start a run with `squadron run <Linear project URL>`, or point --database-url at the daemon's store"));
    };
    let outcome = show(&store, args).await;
    store.close().await;
    outcome.map(|()| ExitCode::SUCCESS)
}

async fn show(store: &SqlStore, args: &LogsArgs) -> Result<(), CliError> {
    let filter = Filter {
        roles: args.role.clone(),
        kinds: args.kind.clone(),
    };
    let mut log = store.squad_log(&args.squad).await.map_err(store_error)?;
    filter.apply(&mut log);
    if args.json {
        return crate::output::println(&format!("{:#}", log_json(&log)));
    }
    crate::output::print(&log_text(&log))?;
    if args.follow {
        follow(store, log, &filter).await?;
    }
    Ok(())
}

/// Which entries to show.
#[derive(Debug)]
struct Filter {
    /// Transcript entries of these roles only (all when empty).
    roles: Vec<Role>,
    /// Events of these kinds only (all when empty).
    kinds: Vec<String>,
}

impl Filter {
    fn keeps_event(&self, event: &SquadEvent) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|kind| kind == &event.kind)
    }

    fn keeps_entry(&self, entry: &TranscriptEntry) -> bool {
        self.roles.is_empty() || self.roles.contains(&entry.role)
    }

    fn apply(&self, log: &mut SquadLog) {
        log.events.retain(|event| self.keeps_event(event));
        log.transcript.retain(|entry| self.keeps_entry(entry));
    }
}

/// Prints entries recorded after `shown` as they come, oldest first, until the squad has
/// ended (after printing its last entries) or Ctrl-C.
async fn follow(store: &SqlStore, shown: SquadLog, filter: &Filter) -> Result<(), CliError> {
    let id = shown.record.squad.id.clone();
    let mut last_event = shown.events.last().map_or(0, |event| event.seq);
    let mut last_entry = shown.transcript.last().map_or(0, |entry| entry.seq);
    let mut ended = shown.record.squad.phase.is_terminal();
    crate::output::println(&format!(
        "\nFollowing {} (Ctrl-C to stop)…",
        shown.record.squad.issue
    ))?;
    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|error| CliError::internal(format!("failed to listen for Ctrl-C: {error}")))?;
    loop {
        if ended {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(FOLLOW_EVERY) => {}
            _ = interrupt.recv() => return Ok(()),
        }
        let record = store.squad(&id).await.map_err(store_error)?;
        ended = record.squad.phase.is_terminal();
        let events = store.events(&id).await.map_err(store_error)?;
        let entries = store.transcript(&id, None).await.map_err(store_error)?;
        let mut text = String::new();
        // Both logs interleaved by time, so the page reads as it happened.
        let mut new_events = events
            .iter()
            .filter(|event| event.seq > last_event && filter.keeps_event(event))
            .peekable();
        let mut new_entries = entries
            .iter()
            .filter(|entry| entry.seq > last_entry && filter.keeps_entry(entry))
            .peekable();
        loop {
            let event_first = match (new_events.peek(), new_entries.peek()) {
                (Some(event), Some(entry)) => event.at <= entry.at,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if event_first {
                if let Some(event) = new_events.next() {
                    text.push_str(&event_line(event));
                }
            } else if let Some(entry) = new_entries.next() {
                text.push_str(&transcript_block(entry));
            }
        }
        last_event = events.last().map_or(last_event, |event| event.seq);
        last_entry = entries.last().map_or(last_entry, |entry| entry.seq);
        if ended {
            text.push_str(&format!(
                "{} ended: {}\n",
                record.squad.issue, record.squad.phase
            ));
        }
        crate::output::print(&text)?;
    }
    Ok(())
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
