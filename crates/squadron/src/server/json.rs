//! The JSON shapes of runs and squads the API, the event stream and the dashboard share.

use serde_json::{Value, json};
use squadron_core::RunTrigger;
use squadron_core::Timestamp;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::control::{RunView, SquadView};

/// One squad: issue, phase, round, PR, tokens, cost and age (seconds since it was admitted).
pub fn squad_json(view: &SquadView, now: Timestamp) -> Value {
    let record = &view.record;
    let squad = &record.squad;
    let usage = &view.usage;
    json!({
        "id": squad.id.as_str(),
        "run_id": squad.run_id.as_str(),
        "issue": squad.issue.as_str(),
        "phase": squad.phase.name(),
        "detail": squad.phase.detail(),
        "terminal": squad.phase.is_terminal(),
        "round": squad.round,
        "pr": squad.pr.map(|pr| pr.0),
        "branch": squad.branch,
        "blocked_by": record.blocked_by.iter().map(|key| key.as_str()).collect::<Vec<_>>(),
        "model_calls": usage.calls,
        "tokens": {
            "prompt": usage.usage.prompt,
            "cached": usage.usage.cached,
            "completion": usage.usage.completion,
            "total": usage.usage.total(),
        },
        "cost_usd": usage.cost.as_dollars(),
        "age_seconds": now.since(record.created_at).as_secs(),
        "created_at": rfc3339(record.created_at),
        "updated_at": rfc3339(record.updated_at),
    })
}

/// One run with its squads.
pub fn run_json(view: &RunView, now: Timestamp) -> Value {
    let record = &view.run;
    let trigger = match &record.run.trigger {
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
    };
    let squads: Vec<Value> = view
        .squads
        .iter()
        .map(|squad| squad_json(squad, now))
        .collect();
    json!({
        "id": record.run.id.as_str(),
        "trigger": trigger,
        "status": record.status.as_str(),
        "created_at": rfc3339(record.run.created_at),
        "updated_at": rfc3339(record.updated_at),
        "squads": squads,
    })
}

/// A timestamp as RFC 3339 in UTC, e.g. `2026-11-21T01:06:34.123Z`.
fn rfc3339(at: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.as_millis()) * 1_000_000)
        .ok()
        .and_then(|time| time.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{}ms", at.as_millis()))
}
