//! Words every surface uses for a squad (the live progress, `status`, the dashboard), so
//! that the terminal and the browser say the same thing.

use squadron_core::event_payload::EventPayload;
use squadron_core::merge_queue::LandedMerge;
use squadron_core::ports::{SquadEvent, StoppedLane};
use squadron_core::{IssueKey, Phase, Role};
use squadron_pipeline::Waiting;

/// Who is at work, as the runtime knows it: the agents in a turn (`roles`), else what the
/// phase runs without an agent (the test command, the merge); empty while waiting.
pub fn at_work_now(phase: &Phase, roles: &[Role]) -> String {
    if roles.is_empty() {
        return match phase {
            Phase::Preparing | Phase::Verifying | Phase::PrOpen | Phase::Merging => {
                at_work(phase).to_owned()
            }
            _ => String::new(),
        };
    }
    let has = |role: Role| roles.contains(&role);
    if roles.len() == 2 && has(Role::CodeReviewer) && has(Role::QaSpecialist) {
        return "reviewers".to_owned();
    }
    if roles.len() == 2 && has(Role::Developer) && has(Role::Qa) {
        return "developer, QA".to_owned();
    }
    roles
        .iter()
        .map(|role| match role {
            Role::Qa => "QA",
            other => other.as_str(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why the merge gate holds a squad, from the last gate decision in its event log (for a
/// squad whose runtime is another process): `waits at the merge gate: …`; nothing when the
/// last decision let it through.
pub fn gate_hold(events: &[SquadEvent]) -> Option<String> {
    let (decision, reasons) = events.iter().rev().find_map(|event| match &event.note {
        Some(EventPayload::GateDecision {
            decision, reasons, ..
        }) => Some((decision, reasons)),
        _ => None,
    })?;
    if !matches!(decision.as_str(), "blocked" | "wait") {
        return None;
    }
    Some(format!("waits at the merge gate: {}", reasons.join("; ")))
}

/// The checks that were flaky for a squad (failed, then passed when run again on the same
/// commit), from its event log: `` `test` on 3f4e5d6 ``, in the order they were found.
pub fn flaky_checks(events: &[SquadEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match &event.note {
            Some(EventPayload::FlakyCheck { check, sha }) => {
                Some(format!("`{check}` on {}", sha.short()))
            }
            _ => None,
        })
        .collect()
}

/// What a squad waits for in a dozen characters, for a narrow column: `after ENG-1`,
/// `for a slot`, `in merge lane`, `at merge gate`, `mergeability`, `lane stopped`; after
/// squads naming the same files, `after ENG-1` or `2 share files`.
pub fn waits_briefly(waiting: &Waiting) -> String {
    match waiting {
        Waiting::Blockers(blockers) => match blockers.as_slice() {
            [blocker] => format!("after {blocker}"),
            _ => format!("{} blockers", blockers.len()),
        },
        Waiting::SharedFiles(first) => match first.as_slice() {
            [first] => format!("after {first}"),
            _ => format!("{} share files", first.len()),
        },
        Waiting::Slot => "for a slot".to_owned(),
        Waiting::MergeLane { .. } => "in merge lane".to_owned(),
        Waiting::Gate(_) => "at merge gate".to_owned(),
        Waiting::Mergeability => "mergeability".to_owned(),
        Waiting::LaneStopped { .. } => "lane stopped".to_owned(),
    }
}

/// Who works in `phase`, as far as the phase alone tells (for a squad no runtime here
/// runs); empty while queued and once ended.
pub fn at_work(phase: &Phase) -> &'static str {
    match phase {
        Phase::Preparing => "worktree",
        Phase::Diagnosing => "diagnostician",
        Phase::Implementing | Phase::Fixing | Phase::FixingChecks | Phase::ResolvingConflicts => {
            "developer, QA"
        }
        Phase::Verifying => "test command",
        Phase::PrOpen => "pull request",
        Phase::Reviewing => "reviewers",
        Phase::Approved => "merge queue",
        Phase::Merging => "merge gate",
        Phase::Queued
        | Phase::Merged
        | Phase::NeedsHuman(_)
        | Phase::Failed(_)
        | Phase::Cancelled
        | Phase::Skipped(_) => "",
    }
}

/// What a squad in `phase` waits for as far as the store tells (for a squad no runtime
/// here runs): for a queued one, the blockers that have not merged, then the squads naming
/// the same files it starts after (`starts_after`) that have not ended, else a free slot
/// (`phase_of` gives the phase of an issue's squad in the run); nothing in any other phase.
pub fn waits_for<'a>(
    phase: &Phase,
    blocked_by: &[IssueKey],
    starts_after: &[IssueKey],
    phase_of: impl Fn(&IssueKey) -> Option<&'a Phase>,
) -> Option<Waiting> {
    if *phase != Phase::Queued {
        return None;
    }
    let open: Vec<IssueKey> = blocked_by
        .iter()
        .filter(|blocker| phase_of(blocker) != Some(&Phase::Merged))
        .cloned()
        .collect();
    let first: Vec<IssueKey> = starts_after
        .iter()
        .filter(|first| !phase_of(first).is_some_and(Phase::is_terminal))
        .cloned()
        .collect();
    if open.is_empty() && !first.is_empty() {
        return Some(Waiting::SharedFiles(first));
    }
    Waiting::of(phase, open, None, None)
}

/// A stopped merge lane as the API and `status --json` show it: the lane, the merge after
/// which the base's tests failed, the one before it, when, and the sentence people read.
pub fn stopped_lane_json(stopped: &StoppedLane) -> serde_json::Value {
    let stop = &stopped.stop;
    let landed = |landed: &LandedMerge| {
        serde_json::json!({
            "squad": landed.squad.as_str(),
            "issue": landed.issue.as_str(),
            "pr": landed.pr.map(|pr| pr.0),
            "sha": landed.sha.as_str(),
        })
    };
    serde_json::json!({
        "repo": stop.lane.repo.to_string(),
        "base": stop.lane.base,
        "failing": landed(&stop.failing),
        "previous": stop.previous.as_ref().map(landed),
        "stopped_at": crate::server::rfc3339(stopped.at),
        "summary": squadron_pipeline::lane_stop_summary(stop),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_squad_waits_for_its_unmerged_blockers_then_shared_files_or_a_slot() {
        let blockers = [IssueKey::from("ENG-1"), IssueKey::from("ENG-2")];
        let merged = Phase::Merged;
        let cancelled = Phase::Cancelled;
        let reviewing = Phase::Reviewing;
        let phase_of = |issue: &IssueKey| match issue.as_str() {
            "ENG-1" => Some(&merged),
            "ENG-3" => Some(&cancelled),
            "ENG-4" => Some(&reviewing),
            _ => None,
        };
        let text = |blockers: &[IssueKey], first: &[IssueKey]| {
            waits_for(&Phase::Queued, blockers, first, phase_of).map(|waiting| waiting.to_string())
        };
        let first = [IssueKey::from("ENG-3"), IssueKey::from("ENG-4")];
        assert_eq!(
            text(&blockers, &first).as_deref(),
            Some("waits for ENG-2 to merge")
        );
        assert_eq!(
            text(&blockers[..1], &first).as_deref(),
            Some("waits for ENG-4 to finish: both name some of the same files")
        );
        assert_eq!(
            text(&blockers[..1], &first[..1]).as_deref(),
            Some("waits for a free slot")
        );
        assert_eq!(
            waits_for(&Phase::Reviewing, &blockers, &first, phase_of),
            None
        );
        assert_eq!(waits_for(&Phase::Approved, &[], &[], phase_of), None);
        assert_eq!(at_work(&Phase::Reviewing), "reviewers");
    }

    #[test]
    fn what_a_squad_waits_for_fits_a_narrow_column() {
        let briefly = [
            Waiting::Blockers(vec![IssueKey::from("ENG-123")]),
            Waiting::Blockers(vec![IssueKey::from("ENG-1"), IssueKey::from("ENG-2")]),
            Waiting::SharedFiles(vec![IssueKey::from("ENG-4")]),
            Waiting::SharedFiles(vec![IssueKey::from("ENG-1"), IssueKey::from("ENG-2")]),
            Waiting::Slot,
            Waiting::MergeLane { ahead: 3 },
            Waiting::Gate(Vec::new()),
            Waiting::Mergeability,
            Waiting::LaneStopped {
                lane: squadron_core::merge_queue::MergeLane {
                    repo: squadron_core::ports::RepoRef::new("acme", "shop"),
                    base: "main".into(),
                },
                failing: IssueKey::from("ENG-2"),
            },
        ]
        .iter()
        .map(waits_briefly)
        .collect::<Vec<_>>();
        assert_eq!(
            briefly,
            [
                "after ENG-123",
                "2 blockers",
                "after ENG-4",
                "2 share files",
                "for a slot",
                "in merge lane",
                "at merge gate",
                "mergeability",
                "lane stopped"
            ]
        );
        assert!(
            briefly.iter().all(|text| text.len() <= 13),
            "the live view's column"
        );
    }

    #[test]
    fn the_agents_in_a_turn_say_who_is_at_work() {
        let reviewers = [Role::QaSpecialist, Role::CodeReviewer];
        assert_eq!(at_work_now(&Phase::Reviewing, &reviewers), "reviewers");
        assert_eq!(
            at_work_now(&Phase::Reviewing, &[Role::CodeReviewer]),
            "code-reviewer"
        );
        assert_eq!(
            at_work_now(&Phase::Implementing, &[Role::Qa, Role::Developer]),
            "developer, QA"
        );
        assert_eq!(at_work_now(&Phase::Fixing, &[Role::Qa]), "QA");
        assert_eq!(at_work_now(&Phase::Verifying, &[]), "test command");
        // Between turns, or waiting: nobody, rather than a guess from the phase.
        assert_eq!(at_work_now(&Phase::Implementing, &[]), "");
        assert_eq!(at_work_now(&Phase::Approved, &[]), "");
    }
}
