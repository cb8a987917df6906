//! Words every surface uses for a squad (the live progress, `status`, the dashboard), so
//! that the terminal and the browser say the same thing.

use squadron_core::{IssueKey, Phase};

/// Who works in `phase`, as far as the phase tells; empty while queued and once ended.
pub fn at_work(phase: &Phase) -> &'static str {
    match phase {
        Phase::Preparing => "worktree",
        Phase::Diagnosing => "diagnostician",
        Phase::Implementing | Phase::Fixing => "developer, QA",
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

/// What a squad in `phase` waits for: for a queued one, the blockers that have not merged
/// (`merged` says which have), else a free slot; nothing in any other phase.
pub fn waits_for(
    phase: &Phase,
    blocked_by: &[IssueKey],
    merged: impl Fn(&IssueKey) -> bool,
) -> Option<String> {
    if *phase != Phase::Queued {
        return None;
    }
    let open: Vec<&str> = blocked_by
        .iter()
        .filter(|blocker| !merged(blocker))
        .map(IssueKey::as_str)
        .collect();
    Some(if open.is_empty() {
        "waits for a free slot".to_owned()
    } else {
        format!("waits for {} to merge", open.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_squad_waits_for_its_unmerged_blockers_or_a_slot() {
        let blockers = [IssueKey::from("ENG-1"), IssueKey::from("ENG-2")];
        let merged = |issue: &IssueKey| issue.as_str() == "ENG-1";
        assert_eq!(
            waits_for(&Phase::Queued, &blockers, merged).as_deref(),
            Some("waits for ENG-2 to merge")
        );
        assert_eq!(
            waits_for(&Phase::Queued, &blockers[..1], merged).as_deref(),
            Some("waits for a free slot")
        );
        assert_eq!(waits_for(&Phase::Reviewing, &blockers, merged), None);
        assert_eq!(at_work(&Phase::Reviewing), "reviewers");
    }
}
