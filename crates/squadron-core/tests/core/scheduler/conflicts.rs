//! Rebases that stop on conflicts: a bounded number of conflict-resolution rounds, each
//! verified and reviewed again by both reviewers, then a person told the files and the PRs
//! they meet.

use super::*;
use squadron_core::scheduler::{LandedChange, RebaseConflict};

fn approved_squad(conflict_rounds: u32) -> Harness {
    let mut h = Harness::with_config(SchedulerConfig {
        concurrency: 1,
        conflict_rounds,
        ..SchedulerConfig::default()
    });
    h.admit(vec![spec("a", &[])]);
    h.drive("a", "approved");
    h
}

fn no_longer_mergeable() -> Event {
    Event::GateDecided {
        squad: id("a"),
        head: head(),
        decision: GateDecision::Blocked(vec![GateBlocker::NotMergeable]),
    }
}

fn conflicts() -> Event {
    Event::Verified {
        squad: id("a"),
        outcome: Verification::Conflicts(RebaseConflict {
            base_branch: "main".into(),
            paths: vec!["ledger/rates.py".into()],
            landed: vec![LandedChange {
                issue: IssueKey::new("ENG-1"),
                title: "Rates in cents".into(),
                pr_url: Some("https://github.com/acme/shop/pull/1".into()),
            }],
        }),
    }
}

fn resolved(round: u32) -> Event {
    Event::ConflictsResolved {
        squad: id("a"),
        round,
    }
}

fn passed() -> Event {
    Event::Verified {
        squad: id("a"),
        outcome: Verification::Passed,
    }
}

#[test]
fn a_conflicting_rebase_is_resolved_verified_and_reviewed_again_in_the_same_round() {
    let mut h = approved_squad(2);
    assert_eq!(
        h.send(no_longer_mergeable()),
        [
            "record a approved -> verifying r2 @10",
            "verify a rebase Conflicts"
        ]
    );
    assert_eq!(
        h.send(conflicts()),
        [
            "record a verifying -> resolving-conflicts r2 @11",
            "resolve-conflicts a r1"
        ]
    );
    assert_eq!(
        h.send(resolved(1)),
        [
            "record a resolving-conflicts -> verifying r2 @12",
            "verify a"
        ],
        "the resolution is tested, committed and pushed first"
    );
    assert_eq!(
        h.send(passed()),
        ["record a verifying -> reviewing r2 @13", "review a r2"],
        "a resolved patch is reviewed by both reviewers again"
    );
    h.send(reviews("a", 2, APPROVED, APPROVED));
    assert_eq!(h.phase("a"), "approved");
    assert_eq!(h.round("a"), 2, "no reviewer asked for the resolution");
}

#[test]
fn conflict_rounds_are_bounded_and_the_person_is_told_the_files_and_the_other_pr() {
    let mut h = approved_squad(1);
    h.send(no_longer_mergeable());
    h.send(conflicts());
    h.send(resolved(1));
    h.send(passed());
    h.send(reviews("a", 2, APPROVED, APPROVED));
    // Another PR lands on the same lines while the resolved head waits.
    assert_eq!(
        h.send(no_longer_mergeable()),
        [
            "record a approved -> verifying r2 @15",
            "verify a rebase Conflicts"
        ]
    );
    assert_eq!(
        h.send(conflicts()),
        [
            "record a verifying -> needs-human (the branch conflicts with main again after \
             conflict-resolution round 1 of 1, in `ledger/rates.py`, changed by ENG-1 \"Rates \
             in cents\" (https://github.com/acme/shop/pull/1): rebase it onto main and resolve \
             the conflicts by hand) r2 @16",
            "clean a",
            "finished run: 1 needs-human"
        ]
    );
}

#[test]
fn with_conflict_rounds_off_a_conflict_goes_to_a_person_at_once() {
    let mut h = approved_squad(0);
    h.send(no_longer_mergeable());
    let out = h.send(conflicts());
    assert_eq!(
        out[0],
        "record a verifying -> needs-human (the branch conflicts with main in \
         `ledger/rates.py`, changed by ENG-1 \"Rates in cents\" \
         (https://github.com/acme/shop/pull/1), and conflict-resolution rounds are off \
         (`limits.conflict_rounds = 0`): rebase it onto main and resolve the conflicts by hand) \
         r2 @11"
    );
}

#[test]
fn a_resolution_reported_for_another_round_is_refused() {
    let mut h = approved_squad(2);
    h.send(no_longer_mergeable());
    h.send(conflicts());
    assert!(matches!(
        h.try_send(resolved(2)),
        Err(Refusal::StaleRound {
            round: 1,
            reported: 2,
            ..
        })
    ));
    assert_eq!(h.phase("a"), "resolving-conflicts");
}

#[test]
fn a_squad_restored_mid_resolution_resolves_again_and_goes_on() {
    let squads = vec![PersistedSquad {
        run: RunId::new("run"),
        spec: spec("a", &[]),
        phase: Phase::ResolvingConflicts,
        round: 2,
        pr: Some(PrNumber(9)),
        ci_fix_rounds: 0,
        conflict_rounds: 0,
    }];
    let (mut scheduler, commands) = Scheduler::restore(
        SchedulerConfig::default(),
        squads,
        Timestamp::from_millis(100),
    )
    .unwrap();
    assert_eq!(show(&commands), ["resolve-conflicts a r1"]);
    let out = scheduler
        .handle(resolved(1), Timestamp::from_millis(101))
        .unwrap();
    assert_eq!(
        show(&out),
        [
            "record a resolving-conflicts -> verifying r2 @101",
            "verify a"
        ]
    );
}
