//! Stop the line: after each merge its lane stays held while the base head is tested; a
//! failure stops the lane (no more merges there, waiting squads say why, the run is not
//! finished before its last base test) until a person resumes it.

use super::*;
use squadron_core::merge_queue::BaseVerdict;

fn stopping() -> Harness {
    Harness::with_config(SchedulerConfig {
        concurrency: 3,
        test_base_after_merge: true,
        ..SchedulerConfig::default()
    })
}

fn merge_sha(name: &str) -> CommitSha {
    CommitSha::new(format!("{name}{name}{name}"))
}

/// The commands as [`show`] has them, without their times: these tests are about order.
fn timeless(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .map(|line| match line.rsplit_once(" @") {
            Some((command, at)) if at.parse::<u64>().is_ok() => command.to_owned(),
            _ => line,
        })
        .collect()
}

fn send(h: &mut Harness, event: Event) -> Vec<String> {
    timeless(h.send(event))
}

fn approved_to_lane(h: &mut Harness, name: &str) -> Vec<String> {
    send(
        h,
        Event::GateDecided {
            squad: id(name),
            head: head(),
            decision: GateDecision::Merge,
        },
    )
}

fn merged(h: &mut Harness, name: &str) -> Vec<String> {
    send(
        h,
        Event::Merged {
            squad: id(name),
            sha: merge_sha(name),
        },
    )
}

fn tested(h: &mut Harness, name: &str, verdict: BaseVerdict) -> Result<Vec<String>, Refusal> {
    h.try_send(Event::BaseTested {
        lane: lane("main"),
        sha: merge_sha(name),
        verdict,
    })
    .map(|commands| timeless(show(&commands)))
}

/// `a` merged and its base passed; `b` merged and its base head is being tested; `c` waits
/// in the lane.
fn b_under_test() -> Harness {
    let mut h = stopping();
    h.admit(vec![on_main("a"), on_main("b"), on_main("c")]);
    for name in ["a", "b", "c"] {
        h.drive(name, "approved");
    }
    approved_to_lane(&mut h, "a");
    approved_to_lane(&mut h, "b");
    approved_to_lane(&mut h, "c");
    assert_eq!(
        merged(&mut h, "a"),
        [
            "record a merging -> merged r2",
            "test-base acme/shop:main at aaa after a (previous: none)"
        ],
        "the lane stays held and a keeps its worktree while the base is tested"
    );
    assert_eq!(
        tested(&mut h, "a", BaseVerdict::Passed).unwrap(),
        ["clean a", "record b approved -> merging r2", "merge b"]
    );
    assert_eq!(
        merged(&mut h, "b"),
        [
            "record b merging -> merged r2",
            "test-base acme/shop:main at bbb after b (previous: ENG-a)"
        ],
        "the test names the merge before it"
    );
    h
}

#[test]
fn nothing_merges_while_the_new_base_head_is_tested() {
    let mut h = b_under_test();
    assert_eq!(h.phase("c"), "approved");
    assert_eq!(h.scheduler.squad(&id("c")).unwrap().lane_position, Some(0));
    assert_eq!(send(&mut h, Event::Tick), Vec::<String>::new());
}

#[test]
fn a_failing_base_stops_the_lane_naming_both_merges_until_a_person_resumes_it() {
    let mut h = b_under_test();
    let out = tested(&mut h, "b", BaseVerdict::Failed("1 failed".into())).unwrap();
    assert_eq!(out, ["clean b"], "c does not get the ticket");
    let stops: Vec<_> = h.scheduler.lane_stops().cloned().collect();
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].lane, lane("main"));
    assert_eq!(stops[0].failing.issue.as_str(), "ENG-b");
    assert_eq!(stops[0].failing.pr, Some(pr_of("b")));
    assert_eq!(stops[0].failing.sha, merge_sha("b"));
    assert_eq!(
        stops[0]
            .previous
            .as_ref()
            .map(|landed| landed.issue.as_str()),
        Some("ENG-a")
    );
    assert_eq!(stops[0].output, "1 failed");

    let c = h.scheduler.squad(&id("c")).unwrap();
    assert_eq!(c.lane_position, Some(0));
    assert_eq!(
        c.lane_stopped.map(|stop| stop.failing.issue.as_str()),
        Some("ENG-b"),
        "a waiting squad says why it waits"
    );
    assert_eq!(send(&mut h, Event::Tick), Vec::<String>::new());

    assert_eq!(
        send(&mut h, Event::LaneResumed { lane: lane("main") }),
        ["record c approved -> merging r2", "merge c"]
    );
    assert_eq!(h.scheduler.lane_stops().count(), 0);
    assert!(h.scheduler.squad(&id("c")).unwrap().lane_stopped.is_none());
}

#[test]
fn a_base_that_could_not_be_tested_lets_the_lane_go_on() {
    let mut h = b_under_test();
    let out = tested(&mut h, "b", BaseVerdict::Untested("no test command".into())).unwrap();
    assert_eq!(
        out,
        ["clean b", "record c approved -> merging r2", "merge c"]
    );
}

#[test]
fn results_for_heads_the_lane_is_not_testing_and_resuming_a_running_lane_are_refused() {
    let mut h = b_under_test();
    assert_eq!(
        tested(&mut h, "a", BaseVerdict::Failed("late".into())),
        Err(Refusal::NotTestingBase {
            lane: lane("main"),
            sha: merge_sha("a"),
        })
    );
    assert_eq!(
        h.try_send(Event::LaneResumed { lane: lane("main") }),
        Err(Refusal::LaneNotStopped { lane: lane("main") })
    );
    assert_eq!(h.scheduler.lane_stops().count(), 0, "nothing changed");
}

#[test]
fn a_run_finishes_only_once_its_last_merge_base_is_tested() {
    let mut h = stopping();
    h.admit(vec![on_main("a")]);
    h.drive("a", "approved");
    approved_to_lane(&mut h, "a");
    let out = merged(&mut h, "a");
    assert!(
        !out.iter().any(|line| line.starts_with("finished")),
        "{out:?}"
    );
    assert_eq!(
        tested(&mut h, "a", BaseVerdict::Failed("boom".into())).unwrap(),
        ["clean a", "finished run: 1 merged"]
    );
}

#[test]
fn a_stop_recorded_before_a_restart_holds_the_lane_again() {
    let mut h = b_under_test();
    tested(&mut h, "b", BaseVerdict::Failed("1 failed".into())).unwrap();
    let stop = h.scheduler.lane_stops().next().cloned().unwrap();

    let persisted = PersistedSquad {
        run: RunId::new("run"),
        spec: on_main("c"),
        phase: Phase::Approved,
        round: 2,
        pr: Some(pr_of("c")),
        ci_fix_rounds: 0,
        conflict_rounds: 0,
    };
    let (scheduler, commands) = Scheduler::restore(
        SchedulerConfig {
            test_base_after_merge: true,
            ..SchedulerConfig::default()
        },
        vec![persisted],
        Timestamp::from_millis(100),
    )
    .unwrap();
    assert_eq!(timeless(show(&commands)), ["gate c"]);
    let mut h = Harness {
        scheduler,
        now: 100,
        recorded: BTreeMap::new(),
    };
    h.scheduler.restore_stop(stop);
    assert_eq!(approved_to_lane(&mut h, "c"), Vec::<String>::new());
    assert_eq!(
        h.scheduler
            .squad(&id("c"))
            .unwrap()
            .lane_stopped
            .map(|stop| stop.previous.as_ref().unwrap().issue.as_str()),
        Some("ENG-a")
    );
    assert_eq!(
        send(&mut h, Event::LaneResumed { lane: lane("main") }),
        ["record c approved -> merging r2", "merge c"]
    );
}

#[test]
fn without_stop_the_line_a_merge_frees_its_lane_at_once() {
    let mut h = Harness::new(2);
    h.admit(vec![on_main("a")]);
    h.drive("a", "approved");
    approved_to_lane(&mut h, "a");
    let out = merged(&mut h, "a");
    assert_eq!(
        out,
        [
            "record a merging -> merged r2",
            "clean a",
            "finished run: 1 merged"
        ]
    );
}

/// A revert squad `name` of its own run, on `main`, driven to `approved`: prepared, its
/// revert committed, verified, its PR opened and approved by both reviewers in round 1.
fn revert_approved(h: &mut Harness, name: &str) {
    h.send(Event::RunAdmitted {
        run: RunId::new(format!("revert-{name}")),
        squads: vec![SquadSpec {
            kind: SquadKind::Revert,
            ..on_main(name)
        }],
        skipped: vec![],
    });
    let squad = id(name);
    for event in [
        Event::Prepared {
            squad: squad.clone(),
        },
        Event::Implemented {
            squad: squad.clone(),
        },
        Event::Verified {
            squad: squad.clone(),
            outcome: Verification::Passed,
        },
        Event::PrOpened {
            squad: squad.clone(),
            pr: pr_of(name),
        },
        reviews(name, 1, APPROVED, APPROVED),
    ] {
        h.send(event);
    }
    assert_eq!(h.phase(name), "approved");
}

#[test]
fn a_revert_merges_through_the_stopped_lane_and_its_passing_base_resumes_the_lane() {
    let mut h = b_under_test();
    tested(&mut h, "b", BaseVerdict::Failed("1 failed".into())).unwrap();
    revert_approved(&mut h, "r");
    assert_eq!(
        approved_to_lane(&mut h, "r"),
        ["record r approved -> merging r1", "merge r"],
        "the revert goes before c, which keeps waiting in the stopped lane"
    );
    assert_eq!(h.phase("c"), "approved");
    assert!(h.scheduler.squad(&id("c")).unwrap().lane_stopped.is_some());
    assert_eq!(
        merged(&mut h, "r"),
        [
            "record r merging -> merged r1",
            "test-base acme/shop:main at rrr after r (previous: ENG-b)",
        ]
    );
    assert_eq!(
        tested(&mut h, "r", BaseVerdict::Passed).unwrap(),
        [
            "clean r",
            "record c approved -> merging r2",
            "merge c",
            "finished revert-r: 1 merged"
        ],
        "the suite holds again: the lane resumes and c merges"
    );
    assert_eq!(h.scheduler.lane_stops().count(), 0);
}

#[test]
fn a_revert_whose_base_still_fails_keeps_the_lane_stopped_naming_it() {
    let mut h = b_under_test();
    tested(&mut h, "b", BaseVerdict::Failed("1 failed".into())).unwrap();
    revert_approved(&mut h, "r");
    approved_to_lane(&mut h, "r");
    merged(&mut h, "r");
    assert_eq!(
        tested(&mut h, "r", BaseVerdict::Failed("still 1 failed".into())).unwrap(),
        ["clean r", "finished revert-r: 1 merged"]
    );
    let stop = h.scheduler.lane_stops().next().cloned().unwrap();
    assert_eq!(stop.failing.issue.as_str(), "ENG-r");
    assert_eq!(h.phase("c"), "approved", "c still waits");
}

#[test]
fn a_revert_the_reviewers_do_not_approve_goes_to_a_person() {
    let mut h = stopping();
    h.send(Event::RunAdmitted {
        run: RunId::new("revert"),
        squads: vec![SquadSpec {
            kind: SquadKind::Revert,
            ..on_main("r")
        }],
        skipped: vec![],
    });
    let squad = id("r");
    h.send(Event::Prepared {
        squad: squad.clone(),
    });
    assert_eq!(
        h.phase("r"),
        "implementing",
        "the revert commit is its implementation"
    );
    h.send(Event::Implemented {
        squad: squad.clone(),
    });
    h.send(Event::Verified {
        squad: squad.clone(),
        outcome: Verification::Passed,
    });
    h.send(Event::PrOpened {
        squad,
        pr: pr_of("r"),
    });
    h.send(reviews("r", 1, APPROVED, CHANGES));
    let phase = h.phase("r");
    assert!(
        phase.starts_with("needs-human") && phase.contains("did not approve the revert"),
        "{phase}"
    );
}
