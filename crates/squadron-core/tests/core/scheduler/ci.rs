//! Red required checks: read on the head and the base's head, then a person (pre-existing),
//! one re-run (flaky suspect) or a bounded CI-fix round; checks that never report are named
//! after the configured wait.

use super::*;
use squadron_core::ports::{CheckOrigin, CheckReport, CheckState};
use squadron_core::scheduler::{FailedCheck, RefusedRerun};

fn check(sha: &str, state: CheckState, attempts: u32) -> CheckReport {
    CheckReport {
        name: "test".into(),
        sha: CommitSha::new(sha.repeat(40)),
        state,
        attempts,
        origin: CheckOrigin::ActionsJob {
            check_run_id: 1,
            check_suite_id: 2,
        },
        title: Some("Tests failed".into()),
        summary: None,
        text: None,
        annotation_count: 0,
        details_url: None,
    }
}

fn failed() -> CheckState {
    CheckState::Failed {
        outcome: "failure".into(),
    }
}

fn red_check() -> Event {
    Event::GateDecided {
        squad: id("a"),
        head: head(),
        decision: GateDecision::Blocked(vec![GateBlocker::CheckFailed {
            name: "test".into(),
            outcome: "failure",
        }]),
    }
}

fn read(head: CheckReport, base: Option<CheckReport>) -> Event {
    Event::ChecksRead {
        squad: id("a"),
        failed: vec![FailedCheck { head, base }],
    }
}

fn approved_squad(config: SchedulerConfig) -> Harness {
    let mut h = Harness::with_config(SchedulerConfig {
        concurrency: 1,
        ..config
    });
    h.admit(vec![spec("a", &[])]);
    h.drive("a", "approved");
    h
}

#[test]
fn a_red_check_is_read_on_the_head_and_the_base_before_anything_else() {
    let mut h = approved_squad(SchedulerConfig::default());
    assert_eq!(h.send(red_check()), ["read-checks a test"]);
    assert_eq!(h.phase("a"), "approved", "nothing touched while reading");
    assert_eq!(
        h.send(Event::Tick),
        Vec::<String>::new(),
        "the gate is not asked again meanwhile"
    );
}

#[test]
fn a_check_red_on_the_base_head_goes_to_a_person_untouched() {
    let mut h = approved_squad(SchedulerConfig::default());
    h.send(red_check());
    let out = h.send(read(check("a", failed(), 1), Some(check("b", failed(), 1))));
    assert_eq!(
        out,
        [
            "record a approved -> needs-human (required check `test` also fails on the base \
             head bbbbbbb (failure): Tests failed: the failure predates this PR, so the squad \
             changed nothing; fix the base branch first, then ask the squad to go on) r2 @11",
            "clean a",
            "finished run: 1 needs-human"
        ]
    );
}

#[test]
fn a_first_failure_is_run_again_once_and_a_pass_merges() {
    let mut h = approved_squad(SchedulerConfig::default());
    h.send(red_check());
    let green_base = Some(check("b", CheckState::Passed, 1));
    assert_eq!(
        h.send(read(check("a", failed(), 1), green_base.clone())),
        ["rerun-checks a test"]
    );
    assert_eq!(
        h.send(Event::ChecksRerun {
            squad: id("a"),
            refused: vec![],
        }),
        ["gate a"],
        "the gate looks at the new run at once"
    );
    let out = h.send(Event::GateDecided {
        squad: id("a"),
        head: head(),
        decision: GateDecision::Merge,
    });
    assert_eq!(out, ["record a approved -> merging r2 @13", "merge a"]);
}

#[test]
fn a_check_failing_again_after_its_rerun_gets_a_ci_fix_round_then_a_re_review() {
    let mut h = approved_squad(SchedulerConfig::default());
    h.send(red_check());
    let green_base = Some(check("b", CheckState::Passed, 1));
    h.send(read(check("a", failed(), 1), green_base.clone()));
    h.send(Event::ChecksRerun {
        squad: id("a"),
        refused: vec![],
    });
    h.send(red_check());
    // The new attempt may not be listed yet: the squad's own memory of the re-run counts.
    assert_eq!(
        h.send(read(check("a", failed(), 1), green_base.clone())),
        [
            "note a ci-fix r1 [test]",
            "record a approved -> fixing-checks r2 @14",
            "fix-checks a r1"
        ]
    );
    assert_eq!(
        h.send(Event::ChecksFixed {
            squad: id("a"),
            round: 1,
        }),
        ["record a fixing-checks -> verifying r2 @15", "verify a"]
    );
    assert_eq!(
        h.send(Event::Verified {
            squad: id("a"),
            outcome: Verification::Passed,
        }),
        ["record a verifying -> reviewing r2 @16", "review a r2"],
        "both reviewers review the fixed head, in the same review round"
    );
    h.send(reviews("a", 2, APPROVED, APPROVED));
    assert_eq!(h.phase("a"), "approved");
    // The fixed head's own first failure is a flaky suspect again.
    h.send(red_check());
    assert_eq!(
        h.send(read(check("c", failed(), 1), green_base)),
        ["rerun-checks a test"]
    );
}

#[test]
fn ci_fix_rounds_are_bounded_apart_from_review_rounds() {
    let mut h = approved_squad(SchedulerConfig {
        ci_fix_rounds: 1,
        max_review_rounds: 2,
        ..SchedulerConfig::default()
    });
    let green_base = Some(check("b", CheckState::Passed, 1));
    h.send(red_check());
    assert_eq!(
        h.send(read(check("a", failed(), 2), green_base.clone())),
        [
            "note a ci-fix r1 [test]",
            "record a approved -> fixing-checks r2 @11",
            "fix-checks a r1"
        ],
        "someone re-ran it already: no second re-run"
    );
    h.send(Event::ChecksFixed {
        squad: id("a"),
        round: 1,
    });
    h.send(Event::Verified {
        squad: id("a"),
        outcome: Verification::Passed,
    });
    h.send(reviews("a", 2, APPROVED, APPROVED));
    assert_eq!(h.round("a"), 2, "a CI fix is no review round");
    h.send(red_check());
    let out = h.send(read(check("c", failed(), 2), green_base));
    assert_eq!(
        out[0],
        "record a approved -> needs-human (CI-fix round 1 of 1 left required check `test` \
         failing: read the check's output on the PR and finish it by hand) r2 @16"
    );
    assert!(
        h.try_send(Event::ChecksFixed {
            squad: id("a"),
            round: 1,
        })
        .is_err(),
        "an ended squad takes no CI fix"
    );
}

#[test]
fn a_check_that_cannot_be_run_again_is_the_squads_to_fix() {
    let mut h = approved_squad(SchedulerConfig::default());
    h.send(red_check());
    h.send(read(check("a", failed(), 1), None));
    let out = h.send(Event::ChecksRerun {
        squad: id("a"),
        refused: vec![RefusedRerun {
            check: "test".into(),
            reason: "`test` is a commit status".into(),
        }],
    });
    assert_eq!(
        out,
        [
            "note a ci-fix r1 [test]",
            "record a approved -> fixing-checks r2 @12",
            "fix-checks a r1"
        ]
    );
}

#[test]
fn with_ci_fix_rounds_off_an_own_failure_goes_to_a_person() {
    let mut h = approved_squad(SchedulerConfig {
        ci_fix_rounds: 0,
        ..SchedulerConfig::default()
    });
    h.send(red_check());
    let out = h.send(read(check("a", failed(), 2), None));
    assert!(
        out[0].contains("CI-fix rounds are off (`limits.ci_fix_rounds = 0`)"),
        "{out:?}"
    );
}

#[test]
fn checks_that_passed_meanwhile_send_the_squad_back_to_the_gate() {
    let mut h = approved_squad(SchedulerConfig::default());
    h.send(red_check());
    assert_eq!(
        h.send(Event::ChecksRead {
            squad: id("a"),
            failed: vec![],
        }),
        ["gate a"]
    );
}

#[test]
fn a_red_check_beside_a_conflict_is_rebased_first_and_beside_a_refusal_goes_to_a_person() {
    let mut h = approved_squad(SchedulerConfig::default());
    let out = h.send(Event::GateDecided {
        squad: id("a"),
        head: head(),
        decision: GateDecision::Blocked(vec![
            GateBlocker::CheckFailed {
                name: "test".into(),
                outcome: "failure",
            },
            GateBlocker::Draft,
        ]),
    });
    assert!(
        out[0].contains("needs-human (the merge gate refused the PR"),
        "{out:?}"
    );
}

#[test]
fn a_required_check_that_never_reports_is_named_after_the_wait() {
    let mut h = approved_squad(SchedulerConfig {
        gate_retry_after: Duration::from_millis(100),
        check_report_wait: Duration::from_millis(30),
        gate_wait_limit: Duration::from_secs(3600),
        ..SchedulerConfig::default()
    });
    let missing = || Event::GateDecided {
        squad: id("a"),
        head: head(),
        decision: GateDecision::Blocked(vec![GateBlocker::CheckMissing { name: "e2e".into() }]),
    };
    assert_eq!(h.send(missing()), Vec::<String>::new());
    h.now += 29;
    assert_eq!(
        h.send(Event::Tick),
        ["gate a"],
        "asked again when the wait ends, before the usual pause"
    );
    let out = h.send(missing());
    assert_eq!(
        out[0],
        "record a approved -> needs-human (required check `e2e` never reported on the PR's \
         head after 0 seconds: no workflow or app runs it for this branch. Make the workflow \
         run on `pull_request` for the base branch (or install the app that reports it), or \
         remove it from `github.required_checks` if it is not meant to gate merges) r2 @41"
    );
}

#[test]
fn the_ci_fix_rounds_spent_survive_a_restart() {
    let restored = |spent: u32| {
        let squad = PersistedSquad {
            run: RunId::new("run"),
            spec: spec("a", &[]),
            phase: Phase::Approved,
            round: 2,
            pr: Some(PrNumber(7)),
            ci_fix_rounds: spent,
            conflict_rounds: 0,
        };
        let config = SchedulerConfig {
            ci_fix_rounds: 1,
            ..SchedulerConfig::default()
        };
        let (scheduler, commands) =
            Scheduler::restore(config, vec![squad], Timestamp::from_millis(1)).unwrap();
        assert_eq!(show(&commands), ["gate a"]);
        let mut h = Harness {
            scheduler,
            now: 1,
            recorded: BTreeMap::new(),
        };
        h.send(red_check());
        h.send(read(
            check("a", failed(), 2),
            Some(check("b", CheckState::Passed, 1)),
        ))
    };
    assert_eq!(
        restored(1)[0],
        "record a approved -> needs-human (CI-fix round 1 of 1 left required check `test` \
         failing: read the check's output on the PR and finish it by hand) r2 @3",
        "the round spent before the restart counts"
    );
    assert_eq!(
        restored(0),
        [
            "note a ci-fix r1 [test]",
            "record a approved -> fixing-checks r2 @3",
            "fix-checks a r1"
        ],
        "none spent: the squad gets its round"
    );
}
