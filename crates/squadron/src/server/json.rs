//! The JSON shapes of runs, squads and daemons the API, the event stream, the dashboard and
//! `squadron status --json` share.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use squadron_core::event_payload::EventPayload;
use squadron_core::lease::{Lease, LeaseSubject};
use squadron_core::ports::{ChatMessage, JournalEntry, SquadEvent, TranscriptEntry};
use squadron_core::{RunTrigger, Timestamp, Usd};
use squadron_store::{DaemonRecord, DaemonState};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::control::{RunView, SquadDetail, SquadView};
use super::links::PageLinks;
use crate::labels::{at_work, at_work_now, waits_for};

/// Longest message text the squad page receives; the rest is `squadron logs`'s.
const MESSAGE_LIMIT: usize = 16 * 1024;

/// One squad: issue, phase, who is at work and what it waits for (as its runtime knows,
/// when it runs here), round, PR and its page, tokens, cost (as a number and as the one
/// money text every surface shows) and age.
pub fn squad_json(view: &SquadView, now: Timestamp, links: &PageLinks) -> Value {
    let record = &view.record;
    let squad = &record.squad;
    let usage = &view.usage;
    let (at_work, waiting) = match &view.live {
        Some(live) => (
            at_work_now(&squad.phase, &live.at_work),
            live.waiting.as_ref(),
        ),
        None => (at_work(&squad.phase).to_owned(), None),
    };
    let waits_for = match waiting {
        Some(waiting) => Some(waiting.to_string()),
        None => view.gate_hold.clone(),
    };
    let waiting = match waiting {
        Some(waiting) => Some(waiting.kind()),
        None => view.gate_hold.as_ref().map(|_| "gate"),
    };
    json!({
        "id": squad.id.as_str(),
        "run_id": squad.run_id.as_str(),
        "issue": squad.issue.as_str(),
        "phase": squad.phase.name(),
        "detail": squad.phase.detail(),
        "terminal": squad.phase.is_terminal(),
        "at_work": at_work,
        "waits_for": waits_for,
        "title": view.live.as_ref().map(|live| live.title.as_str()).filter(|title| !title.is_empty()),
        "waiting": waiting,
        "round": squad.round,
        "pr": squad.pr.map(|pr| pr.0),
        "pr_url": squad.pr.and_then(|pr| links.pull_request(&squad.issue, pr)),
        "branch": squad.branch,
        "blocked_by": record.blocked_by.iter().map(|key| key.as_str()).collect::<Vec<_>>(),
        "starts_after": record.starts_after.iter().map(|key| key.as_str()).collect::<Vec<_>>(),
        "model_calls": usage.calls,
        "tokens": {
            "prompt": usage.usage.prompt,
            "cached": usage.usage.cached,
            "completion": usage.usage.completion,
            "total": usage.usage.total(),
        },
        "cost_usd": usage.cost.as_dollars(),
        "cost": usage.cost.to_string(),
        "age_seconds": now.since(record.created_at).as_secs(),
        "created_at": rfc3339(record.created_at),
        "updated_at": rfc3339(record.updated_at),
    })
}

/// What started a run, as JSON (`status --json` and the API share it).
pub fn trigger_json(trigger: &RunTrigger) -> Value {
    match trigger {
        RunTrigger::Milestone { url } => json!({ "kind": "milestone", "url": url }),
        RunTrigger::Fix {
            issue,
            requested_by,
            slack_channel,
        } => json!({
            "kind": "fix",
            "issue": issue.as_str(),
            "requested_by": requested_by,
            "slack_channel": slack_channel,
        }),
        RunTrigger::Revert {
            issue,
            requested_by,
        } => json!({
            "kind": "revert",
            "issue": issue.as_str(),
            "requested_by": requested_by,
        }),
    }
}

/// One run with its squads (each with its issue's page and, while queued, what it waits
/// for), its totals and its budget.
pub fn run_json(view: &RunView, now: Timestamp, links: &PageLinks, budget: Option<Usd>) -> Value {
    let record = &view.run;
    let trigger = trigger_json(&record.run.trigger);
    let squads: Vec<Value> = view
        .squads
        .iter()
        .map(|squad| {
            let mut value = squad_json(squad, now, links);
            value["issue_url"] = json!(links.issue(&record.run.trigger, &squad.record.squad.issue));
            let record = &squad.record;
            if squad.live.is_some() || squad.gate_hold.is_some() {
                return value;
            }
            // No runtime here runs it: what the store tells, its blockers.
            let waiting = waits_for(
                &record.squad.phase,
                &record.blocked_by,
                &record.starts_after,
                |key| {
                    view.squads
                        .iter()
                        .find(|other| &other.record.squad.issue == key)
                        .map(|other| &other.record.squad.phase)
                },
            );
            value["waits_for"] = json!(waiting.as_ref().map(ToString::to_string));
            value["waiting"] = json!(waiting.as_ref().map(|waiting| waiting.kind()));
            value
        })
        .collect();
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for squad in &view.squads {
        *outcomes.entry(squad.record.squad.phase.name()).or_default() += 1;
    }
    let tokens: u64 = view
        .squads
        .iter()
        .map(|squad| squad.usage.usage.total())
        .sum();
    let cost = Usd::from_micros(
        view.squads
            .iter()
            .map(|squad| squad.usage.cost.as_micros())
            .sum(),
    );
    let finished = !view.squads.is_empty()
        && view
            .squads
            .iter()
            .all(|squad| squad.record.squad.phase.is_terminal());
    json!({
        "id": record.run.id.as_str(),
        "trigger": trigger,
        "status": record.status.as_str(),
        "finished": finished,
        "created_at": rfc3339(record.run.created_at),
        "updated_at": rfc3339(
            view.squads
                .iter()
                .map(|squad| squad.record.updated_at)
                .max()
                .unwrap_or(record.updated_at)
        ),
        "totals": {
            "squads": view.squads.len(),
            "outcomes": outcomes,
            "tokens": tokens,
            "cost_usd": cost.as_dollars(),
            "cost": cost.to_string(),
        },
        "budget": budget.map(|limit| budget_json(limit, cost)),
        "squads": squads,
    })
}

/// One squad with everything its page shows: the event log (payloads as JSON), the
/// reviews with their verdicts and head commits, the transcript, usage per role, the
/// journaled side effects with their attempts, and its spending against `budget`.
pub fn squad_detail_json(
    detail: &SquadDetail,
    now: Timestamp,
    links: &PageLinks,
    budget: Option<Usd>,
) -> Value {
    let mut squad = squad_json(&detail.squad, now, links);
    squad["issue_url"] = json!(
        detail
            .run
            .as_ref()
            .and_then(|run| links.issue(&run.run.trigger, &detail.squad.record.squad.issue))
    );
    let events: Vec<Value> = detail.events.iter().map(event_json).collect();
    let reviews: Vec<Value> = detail
        .events
        .iter()
        .filter_map(|event| match &event.note {
            Some(EventPayload::ReviewVerdict {
                round,
                role,
                verdict,
                head,
                ..
            }) => Some(json!({
                "round": round,
                "role": role.as_str(),
                "verdict": verdict.as_str(),
                "head": head.as_str(),
                "at": rfc3339(event.at),
            })),
            _ => None,
        })
        .collect();
    let usage: Vec<Value> = detail
        .usage_by_role
        .iter()
        .map(|(role, totals)| {
            json!({
                "role": role.as_str(),
                "calls": totals.calls,
                "tokens": totals.usage.total(),
                "cost_usd": totals.cost.as_dollars(),
                "cost": totals.cost.to_string(),
            })
        })
        .collect();
    let effects: Vec<Value> = detail.side_effects.iter().map(effect_json).collect();
    let spent = detail.squad.usage.cost;
    squad["budget"] = json!(budget.map(|limit| budget_json(limit, spent)));
    json!({
        "squad": squad,
        "events": events,
        "reviews": reviews,
        "transcript": detail.transcript.iter().map(transcript_json).collect::<Vec<_>>(),
        "usage_by_role": usage,
        "side_effects": effects,
    })
}

/// Spending against a budget, in numbers and in the one money text.
fn budget_json(limit: Usd, spent: Usd) -> Value {
    json!({
        "limit_usd": limit.as_dollars(),
        "limit": limit.to_string(),
        "spent_usd": spent.as_dollars(),
        "exceeded": spent > limit,
    })
}

fn event_json(event: &SquadEvent) -> Value {
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
}

fn effect_json(entry: &JournalEntry) -> Value {
    json!({
        "key": entry.key,
        "kind": entry.kind,
        "status": entry.status.as_str(),
        "attempts": entry.attempts,
        "result": entry.result.as_deref().map(|text| capped(text, 2048)),
        "created_at": rfc3339(entry.created_at),
        "updated_at": rfc3339(entry.updated_at),
    })
}

fn transcript_json(entry: &TranscriptEntry) -> Value {
    let message = match &entry.message {
        ChatMessage::System { content } => {
            json!({ "role": "system", "content": capped(content, MESSAGE_LIMIT) })
        }
        ChatMessage::User { content } => {
            json!({ "role": "user", "content": capped(content, MESSAGE_LIMIT) })
        }
        ChatMessage::Assistant {
            content,
            tool_calls,
            reasoning,
        } => json!({
            "role": "assistant",
            "content": content.as_deref().map(|text| capped(text, MESSAGE_LIMIT)),
            "reasoning": reasoning.as_deref().map(|text| capped(text, MESSAGE_LIMIT)),
            "tool_calls": tool_calls
                .iter()
                .map(|call| json!({
                    "id": call.id,
                    "name": call.name,
                    "arguments": capped(&call.arguments, MESSAGE_LIMIT),
                }))
                .collect::<Vec<_>>(),
        }),
        ChatMessage::Tool {
            tool_call_id,
            content,
        } => json!({
            "role": "tool",
            "tool_call_id": tool_call_id,
            "content": capped(content, MESSAGE_LIMIT),
        }),
    };
    json!({
        "seq": entry.seq,
        "at": rfc3339(entry.at),
        "agent": entry.role.as_str(),
        "message": message,
    })
}

/// `text` cut to about `limit` bytes on a character boundary, saying how much was left out.
fn capped(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n… {} more bytes (`squadron logs` shows everything)",
        &text[..end],
        text.len() - end
    )
}

/// A timestamp as RFC 3339 in UTC, e.g. `2026-11-21T01:06:34.123Z`.
pub fn rfc3339(at: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.as_millis()) * 1_000_000)
        .ok()
        .and_then(|time| time.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{}ms", at.as_millis()))
}

/// One daemon sharing the store: its id, where it runs, its state at `now` (silent once it
/// missed its lease's length of heartbeats) and its duty given the store's `leases`.
pub fn daemon_json(daemon: &DaemonRecord, leases: &[Lease], now: Timestamp) -> Value {
    json!({
        "id": daemon.id.as_str(),
        "host": daemon.host,
        "pid": daemon.pid,
        "state": daemon.state(now).as_str(),
        "duty": daemon_duty(daemon, leases, now),
        "started_at": rfc3339(daemon.started_at),
        "heartbeat_at": rfc3339(daemon.heartbeat_at),
        "stopped_at": daemon.stopped_at.map(rfc3339),
    })
}

/// What a daemon does for the store at `now`, from the store's `leases`: runs its squads (it
/// holds the live runtime lease), holds squads of its own (the daemons share the squads),
/// stands by, or nothing (stopped or silent).
pub fn daemon_duty(daemon: &DaemonRecord, leases: &[Lease], now: Timestamp) -> String {
    let held = || {
        leases
            .iter()
            .filter(|lease| lease.holder == daemon.id && lease.is_live(now))
    };
    let squads = held()
        .filter(|lease| matches!(lease.subject, LeaseSubject::Squad(_)))
        .count();
    if held().any(|lease| lease.subject == LeaseSubject::Runtime) {
        "runs the squads".to_owned()
    } else if squads > 0 {
        format!("holds {squads} squad{}", if squads == 1 { "" } else { "s" })
    } else if daemon.state(now) == DaemonState::Running {
        "stands by".to_owned()
    } else {
        "-".to_owned()
    }
}
