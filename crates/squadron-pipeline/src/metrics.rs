//! Delivery metrics the runtime records in the squads' event logs, and how to read them
//! back: today the time from a bug-fix trigger to its merge (time to restore service).

use std::time::Duration;

use squadron_core::Timestamp;
use squadron_core::ports::SquadEvent;

/// Kind of the event-log entry holding a bug fix's time from trigger to merge; its payload
/// is `{"millis": <n>}`.
pub const TIME_TO_MERGE_EVENT: &str = "time-to-merge";

/// The time from a fix's trigger to its merge, from the squad's event log (`None` when the
/// squad is no merged bug fix). Readers such as `/metrics` use it over the store.
pub fn time_to_merge(events: &[SquadEvent]) -> Option<Duration> {
    events
        .iter()
        .rev()
        .find(|event| event.kind == TIME_TO_MERGE_EVENT)
        .and_then(|event| payload_duration(&event.payload))
}

/// The duration a [`TIME_TO_MERGE_EVENT`] payload carries.
pub(crate) fn payload_duration(payload: &str) -> Option<Duration> {
    serde_json::from_str::<serde_json::Value>(payload)
        .ok()?
        .get("millis")
        .and_then(serde_json::Value::as_u64)
        .map(Duration::from_millis)
}

/// The payload of a [`TIME_TO_MERGE_EVENT`] for a fix triggered at `triggered` and merged
/// at `merged`,
/// with the duration it carries.
pub(crate) fn time_to_merge_payload(triggered: Timestamp, merged: Timestamp) -> (String, Duration) {
    let elapsed = merged.since(triggered);
    let millis = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    (serde_json::json!({ "millis": millis }).to_string(), elapsed)
}
