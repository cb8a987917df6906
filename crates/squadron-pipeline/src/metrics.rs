//! Delivery metrics the runtime records in the squads' event logs, and how to read them
//! back: the time from a bug-fix trigger to its merge (time to restore service), a revert of
//! a squad's merge, and every fact [`squad_facts`] gathers for the core's
//! [`DeliveryReport`](squadron_core::delivery::DeliveryReport).

use std::time::Duration;

use squadron_core::delivery::{MergeFacts, SquadFacts};
use squadron_core::event_payload::EventPayload;
use squadron_core::ports::{SquadEvent, SquadRecord};
use squadron_core::{Phase, SquadKind, Timestamp, Usd};

/// The time from a fix's trigger to its merge, from the squad's event log (`None` when the
/// squad is no merged bug fix). Readers such as `/metrics` use it over the store.
pub fn time_to_merge(events: &[SquadEvent]) -> Option<Duration> {
    events.iter().rev().find_map(|event| match &event.note {
        Some(EventPayload::TimeToMerge { elapsed }) => Some(*elapsed),
        _ => None,
    })
}

/// The [`EventPayload::TimeToMerge`] of a fix triggered at `triggered` and merged at
/// `merged`, to the millisecond as the log keeps it, with the duration it carries.
pub(crate) fn time_to_merge_payload(
    triggered: Timestamp,
    merged: Timestamp,
) -> (EventPayload, Duration) {
    let elapsed = merged.since(triggered);
    let elapsed = Duration::from_millis(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
    (EventPayload::TimeToMerge { elapsed }, elapsed)
}

/// What the store recorded of one squad, as the delivery metrics need it: its phases from
/// the event log, its merge, its bug fix's time to restore, a revert of its merge, and the
/// PR pages its diagnosis blames. `pr_url` is the PR page its open-PR step journaled,
/// `repository` where the squad's team is configured to work, `cost` what its model calls
/// cost.
pub fn squad_facts(
    record: &SquadRecord,
    cost: Usd,
    events: &[SquadEvent],
    pr_url: Option<String>,
    repository: Option<String>,
) -> SquadFacts {
    let squad = &record.squad;
    let phases: Vec<(Timestamp, Phase)> = events
        .iter()
        .filter(|event| {
            event.kind == SquadEvent::CREATED || event.kind == SquadEvent::PHASE_CHANGED
        })
        .map(|event| (event.at, event.phase.clone()))
        .collect();
    let merged_at = phases
        .iter()
        .rev()
        .find(|(_, phase)| *phase == Phase::Merged)
        .map(|(at, _)| *at);
    let merge = merged_at.zip(squad.pr).map(|(at, pr)| MergeFacts {
        at,
        pr,
        url: pr_url,
    });
    SquadFacts {
        squad: squad.id.clone(),
        run: squad.run_id.clone(),
        issue: squad.issue.clone(),
        repository,
        kind: squad.kind,
        admitted_at: record.created_at,
        phases,
        merge,
        review_rounds: squad.round,
        cost,
        time_to_restore: match squad.kind {
            SquadKind::BugFix => time_to_merge(events),
            SquadKind::Feature | SquadKind::Revert => None,
        },
        reverted_at: events
            .iter()
            .find(|event| event.note.as_ref().is_some_and(EventPayload::is_revert))
            .map(|event| event.at),
        blames: events
            .iter()
            .filter_map(|event| match &event.note {
                Some(EventPayload::Diagnosis {
                    hypothesis, plan, ..
                }) => Some([hypothesis, plan]),
                _ => None,
            })
            .flatten()
            .flat_map(|text| pull_request_urls(text))
            .collect(),
        flaky_checks: u32::try_from(
            events
                .iter()
                .filter(|event| matches!(event.note, Some(EventPayload::FlakyCheck { .. })))
                .count(),
        )
        .unwrap_or(u32::MAX),
    }
}

/// Every pull-request page (`http(s)://…/pull/<n>`) named in `text`, as written, without
/// trailing punctuation.
fn pull_request_urls(text: &str) -> Vec<String> {
    let stops = |c: char| c.is_whitespace() || "\"'<>()[]{}`,;|".contains(c);
    let mut urls = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("http") {
        let candidate = &rest[start..];
        let end = candidate.find(stops).unwrap_or(candidate.len());
        let url = candidate[..end].trim_end_matches(['.', ':', '!', '?']);
        rest = &candidate[end.max(4)..];
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            continue;
        }
        let Some((_, number)) = url.rsplit_once("/pull/") else {
            continue;
        };
        if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
            urls.push(url.to_owned());
        }
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_request_urls_are_found_in_prose_and_json() {
        let text = r#"{"hypothesis":"The crash started with https://github.com/acme/shop/pull/12.","plan":"Undo (see http://ghe.local/a/b/pull/3), not https://github.com/acme/shop/issues/4 nor https://x/pull/5a"}"#;
        assert_eq!(
            pull_request_urls(text),
            vec![
                "https://github.com/acme/shop/pull/12".to_owned(),
                "http://ghe.local/a/b/pull/3".to_owned(),
            ]
        );
    }
}
