//! Verification's hand-backs: failing tests and broken write rules go back to the agents a
//! bounded number of times per verification, each time verified again, and then a person
//! gets the squad with what still fails. The scheduler decides; the runtime only runs them.

use super::*;
use squadron_core::scheduler::HandBack;

fn verifying_squad(hand_backs: u32) -> Harness {
    let mut h = Harness::with_config(SchedulerConfig {
        concurrency: 1,
        verify_hand_backs: hand_backs,
        ..SchedulerConfig::default()
    });
    h.admit(vec![spec("a", &[])]);
    h.drive("a", "verifying");
    h
}

fn tests_fail(qa: bool) -> Event {
    Event::Verified {
        squad: id("a"),
        outcome: Verification::HandBack(HandBack::TestsFailed {
            output: "noise\nFAIL: totals differ by one cent\n".into(),
            tail: "FAIL: totals differ by one cent".into(),
            qa,
        }),
    }
}

fn rules_broken() -> Event {
    Event::Verified {
        squad: id("a"),
        outcome: Verification::HandBack(HandBack::WriteRulesBroken {
            paths: vec!["tests/test_totals.py".into()],
            breaches: "`tests/test_totals.py` is QA's test".into(),
            qa: false,
        }),
    }
}

fn handed_back(attempt: u32) -> Event {
    Event::HandedBack {
        squad: id("a"),
        attempt,
    }
}

fn passed() -> Event {
    Event::Verified {
        squad: id("a"),
        outcome: Verification::Passed,
    }
}

#[test]
fn failing_tests_go_back_to_the_agents_and_the_branch_is_verified_again() {
    let mut h = verifying_squad(2);
    assert_eq!(
        h.send(tests_fail(false)),
        ["hand-back a #1 tests"],
        "the squad stays in verifying: no phase change"
    );
    assert_eq!(h.send(handed_back(1)), ["verify a"]);
    assert_eq!(h.send(tests_fail(true)), ["hand-back a #2 tests with QA"]);
    assert_eq!(h.send(handed_back(2)), ["verify a"]);
    assert_eq!(
        h.send(passed()),
        ["record a verifying -> pr-open r0 @8", "open-pr a"]
    );
}

#[test]
fn hand_backs_are_bounded_and_the_person_is_told_what_still_fails() {
    let mut h = verifying_squad(1);
    h.send(tests_fail(false));
    h.send(handed_back(1));
    assert_eq!(
        h.send(tests_fail(false)),
        [
            "record a verifying -> needs-human (verification failed: the tests still fail after \
             1 attempts to fix them: FAIL: totals differ by one cent) r0 @6",
            "clean a",
            "finished run: 1 needs-human"
        ]
    );
}

#[test]
fn broken_write_rules_go_back_and_count_against_the_same_limit() {
    let mut h = verifying_squad(2);
    assert_eq!(h.send(rules_broken()), ["hand-back a #1 write-rules"]);
    h.send(handed_back(1));
    assert_eq!(h.send(tests_fail(false)), ["hand-back a #2 tests"]);
    h.send(handed_back(2));
    let out = h.send(rules_broken());
    assert_eq!(
        out[0],
        "record a verifying -> needs-human (verification failed: the agents' changes still \
         break the write rules after 2 attempts to fix them: tests/test_totals.py) r0 @8"
    );
}

#[test]
fn with_hand_backs_off_a_failing_verification_goes_to_a_person_at_once() {
    let mut h = verifying_squad(0);
    let out = h.send(tests_fail(false));
    assert!(
        out[0].contains("-> needs-human (verification failed"),
        "{out:?}"
    );
}

#[test]
fn each_verification_gets_its_own_hand_backs() {
    let mut h = verifying_squad(1);
    h.send(tests_fail(false));
    h.send(handed_back(1));
    h.send(passed());
    h.send(Event::PrOpened {
        squad: id("a"),
        pr: pr_of("a"),
    });
    h.send(reviews("a", 1, APPROVED, CHANGES));
    h.send(Event::Fixed {
        squad: id("a"),
        round: 1,
    });
    assert_eq!(h.phase("a"), "verifying");
    assert_eq!(
        h.send(tests_fail(false)),
        ["hand-back a #1 tests"],
        "the fix's verification starts afresh"
    );
}

#[test]
fn a_hand_back_after_a_rebase_for_a_failing_merge_says_so() {
    let mut h = Harness::with_config(SchedulerConfig {
        concurrency: 1,
        ..SchedulerConfig::default()
    });
    h.admit(vec![spec("a", &[])]);
    h.drive("a", "approved");
    h.send(Event::RebaseRequired {
        squad: id("a"),
        reason: RebaseReason::MergeFailsTests,
    });
    assert_eq!(
        h.send(tests_fail(false)),
        ["hand-back a #1 tests after rebase MergeFailsTests"]
    );
    assert_eq!(
        h.send(handed_back(1)),
        ["verify a"],
        "the branch is not rebased again"
    );
    assert_eq!(
        h.send(tests_fail(false)),
        ["hand-back a #2 tests after rebase MergeFailsTests"]
    );
}

#[test]
fn a_hand_back_fails_and_is_retried_like_any_step() {
    let mut h = verifying_squad(2);
    h.send(tests_fail(false));
    let out = h.send(Event::StepFailed {
        squad: id("a"),
        failure: StepFailure::new(FailureKind::Transient, "call the model"),
    });
    assert!(
        out[0].starts_with("retry a #2") && out[0].ends_with(": hand-back a #1 tests"),
        "{out:?}"
    );
}

#[test]
fn a_report_of_another_hand_back_is_refused() {
    let mut h = verifying_squad(2);
    h.send(tests_fail(false));
    assert!(matches!(
        h.try_send(handed_back(2)),
        Err(Refusal::StaleRound {
            round: 1,
            reported: 2,
            ..
        })
    ));
    assert_eq!(
        h.send(handed_back(1)),
        ["verify a"],
        "the refusal changed nothing"
    );
}
