//! The squad scheduler, driven event by event without tokio, HTTP or a clock.

use std::collections::BTreeMap;
use std::time::Duration;

use squadron_core::event_payload::EventPayload;
use squadron_core::gate::{CommitSha, GateBlocker, GateDecision};
use squadron_core::merge_queue::{MergeLane, RebaseReason};
use squadron_core::ports::{Confidence, RepoRef};
use squadron_core::scheduler::{
    BudgetScope, CancelTarget, Command, DiagnosisSummary, Event, MergeRejection, PersistedSquad,
    Refusal, Scheduler, SchedulerConfig, SkippedSquad, SquadSpec, Verification,
};
use squadron_core::{
    FailureKind, IssueKey, Phase, PrNumber, Priority, ReviewVerdict, Role, RunId, SquadId,
    SquadKind, StepFailure, Timestamp, Usd,
};

const APPROVED: ReviewVerdict = ReviewVerdict::Approved;
const CHANGES: ReviewVerdict = ReviewVerdict::ChangesRequested;

fn id(name: &str) -> SquadId {
    SquadId::new(name)
}

fn spec(name: &str, blocked_by: &[&str]) -> SquadSpec {
    SquadSpec {
        id: id(name),
        issue: IssueKey::new(format!("ENG-{name}")),
        kind: SquadKind::Feature,
        priority: Priority::Medium,
        blocked_by: blocked_by.iter().map(|b| id(b)).collect(),
        after: Vec::new(),
        // A lane of its own, so squads merge independently unless a test puts them on one.
        lane: Some(lane(&format!("base-{name}"))),
        branch: format!("eng-{name}"),
    }
}

fn lane(base: &str) -> MergeLane {
    MergeLane {
        repo: RepoRef::new("acme", "shop"),
        base: base.to_owned(),
    }
}

/// A squad merging into `main`, the lane it shares with every other squad made here.
fn on_main(name: &str) -> SquadSpec {
    SquadSpec {
        lane: Some(lane("main")),
        ..spec(name, &[])
    }
}

/// The PR [`Harness::drive`] opens for a squad: its name's first letter counted from `a`
/// as 1, plus 6 (`a` opens #7).
fn pr_of(name: &str) -> PrNumber {
    PrNumber(u64::from(name.as_bytes()[0].saturating_sub(b'a')) + 7)
}

fn head() -> CommitSha {
    CommitSha::new("0a1b2c3d")
}

fn bug(name: &str) -> SquadSpec {
    SquadSpec {
        kind: SquadKind::BugFix,
        ..spec(name, &[])
    }
}

/// Commands as short lines, so a test states the whole expected output at once.
fn show(commands: &[Command]) -> Vec<String> {
    commands
        .iter()
        .map(|command| match command {
            Command::RecordPhase {
                squad,
                from,
                to,
                round,
                at,
            } => {
                format!("record {squad} {from} -> {to} r{round} @{}", at.as_millis())
            }
            Command::RecordNote {
                squad,
                note: EventPayload::CiFix { round, checks },
            } => format!("note {squad} ci-fix r{round} [{}]", checks.join(", ")),
            Command::RecordNote { squad, note } => format!("note {squad} {}", note.kind()),
            Command::PrepareWorkspace { squad } => format!("prepare {squad}"),
            Command::Diagnose { squad } => format!("diagnose {squad}"),
            Command::Implement { squad } => format!("implement {squad}"),
            Command::Verify {
                squad,
                rebase: None,
            } => format!("verify {squad}"),
            Command::Verify {
                squad,
                rebase: Some(reason),
            } => {
                format!("verify {squad} rebase {reason:?}")
            }
            Command::HandBack {
                squad,
                attempt,
                failure,
                rebased,
            } => format!(
                "hand-back {squad} #{attempt} {}{}{}",
                failure.what(),
                if failure.concerns_qa() {
                    " with QA"
                } else {
                    ""
                },
                rebased.map_or(String::new(), |reason| format!(" after rebase {reason:?}"))
            ),
            Command::OpenPr { squad } => format!("open-pr {squad}"),
            Command::Review { squad, round } => format!("review {squad} r{round}"),
            Command::Fix { squad, round } => format!("fix {squad} r{round}"),
            Command::EvaluateGate { squad } => format!("gate {squad}"),
            Command::ReadChecks { squad, names } => {
                format!("read-checks {squad} {}", names.join(","))
            }
            Command::RerunChecks { squad, checks } => {
                let names: Vec<&str> = checks.iter().map(|check| check.name.as_str()).collect();
                format!("rerun-checks {squad} {}", names.join(","))
            }
            Command::FixChecks { squad, round } => format!("fix-checks {squad} r{round}"),
            Command::ResolveConflicts { squad, round } => {
                format!("resolve-conflicts {squad} r{round}")
            }
            Command::Merge { squad } => format!("merge {squad}"),
            Command::TestBase {
                squad,
                lane,
                sha,
                previous,
            } => format!(
                "test-base {lane} at {sha} after {squad} (previous: {})",
                previous
                    .as_ref()
                    .map_or("none".to_owned(), |landed| landed.issue.to_string())
            ),
            Command::Retry {
                squad,
                attempt,
                delay,
                failure,
                command,
            } => format!(
                "retry {squad} #{attempt} in {}ms ({}: {failure}): {}",
                delay.as_millis(),
                failure.kind().name(),
                show(std::slice::from_ref(command))[0]
            ),
            Command::StopWork { squad } => format!("stop {squad}"),
            Command::CleanUp { squad } => format!("clean {squad}"),
            Command::RunFinished { run, summary } => format!("finished {run}: {summary}"),
        })
        .collect()
}

/// A scheduler plus a clock that advances one millisecond per event.
struct Harness {
    scheduler: Scheduler,
    now: i64,
    /// Each squad's last recorded phase and round, as the store would hold them: the
    /// scheduler keeps nothing of a finished run's squads.
    recorded: BTreeMap<SquadId, (Phase, u32)>,
}

impl Harness {
    fn new(concurrency: usize) -> Self {
        let config = SchedulerConfig {
            concurrency,
            ..SchedulerConfig::default()
        };
        Harness {
            scheduler: Scheduler::new(config),
            now: 0,
            recorded: BTreeMap::new(),
        }
    }

    fn with_config(config: SchedulerConfig) -> Self {
        Harness {
            scheduler: Scheduler::new(config),
            now: 0,
            recorded: BTreeMap::new(),
        }
    }

    fn try_send(&mut self, event: Event) -> Result<Vec<Command>, Refusal> {
        self.now += 1;
        let commands = self
            .scheduler
            .handle(event, Timestamp::from_millis(self.now))?;
        for command in &commands {
            if let Command::RecordPhase {
                squad, to, round, ..
            } = command
            {
                self.recorded.insert(squad.clone(), (to.clone(), *round));
            }
        }
        Ok(commands)
    }

    fn send(&mut self, event: Event) -> Vec<String> {
        let name = event.name();
        let commands = self
            .try_send(event)
            .unwrap_or_else(|refusal| panic!("{name}: {refusal}"));
        assert!(
            self.scheduler.slots_in_use() <= self.scheduler.config().concurrency,
            "never more squads working than the limit"
        );
        show(&commands)
    }

    fn admit(&mut self, squads: Vec<SquadSpec>) -> Vec<String> {
        self.send(Event::RunAdmitted {
            run: RunId::new("run"),
            squads,
            skipped: vec![],
        })
    }

    /// Where the squad stands: as scheduled, or as last recorded once its run finished.
    fn phase(&self, name: &str) -> String {
        match self.scheduler.squad(&id(name)) {
            Some(squad) => squad.phase.to_string(),
            None => self.ended(name).0.to_string(),
        }
    }

    fn round(&self, name: &str) -> u32 {
        match self.scheduler.squad(&id(name)) {
            Some(squad) => squad.round,
            None => self.ended(name).1,
        }
    }

    /// A squad the scheduler no longer holds: it must have ended.
    fn ended(&self, name: &str) -> &(Phase, u32) {
        let recorded = self
            .recorded
            .get(&id(name))
            .unwrap_or_else(|| panic!("{name} was never scheduled"));
        assert!(
            recorded.0.is_terminal(),
            "{name} is not scheduled but was last recorded {}",
            recorded.0
        );
        recorded
    }

    /// Drives a started feature squad from `preparing` to the phase named `target`.
    fn drive(&mut self, name: &str, target: &str) {
        let squad = id(name);
        let path = [
            (
                "implementing",
                Event::Prepared {
                    squad: squad.clone(),
                },
            ),
            (
                "verifying",
                Event::Implemented {
                    squad: squad.clone(),
                },
            ),
            (
                "pr-open",
                Event::Verified {
                    squad: squad.clone(),
                    outcome: Verification::Passed,
                },
            ),
            (
                "reviewing",
                Event::PrOpened {
                    squad: squad.clone(),
                    pr: pr_of(name),
                },
            ),
            ("fixing", reviews(name, 1, APPROVED, CHANGES)),
            (
                "verifying-again",
                Event::Fixed {
                    squad: squad.clone(),
                    round: 1,
                },
            ),
            (
                "reviewing-again",
                Event::Verified {
                    squad: squad.clone(),
                    outcome: Verification::Passed,
                },
            ),
            ("approved", reviews(name, 2, APPROVED, APPROVED)),
            (
                "merging",
                Event::GateDecided {
                    squad: squad.clone(),
                    head: head(),
                    decision: GateDecision::Merge,
                },
            ),
            (
                "merged",
                Event::Merged {
                    squad: squad.clone(),
                    sha: CommitSha::new("abc1234def"),
                },
            ),
        ];
        if target == "preparing" {
            return;
        }
        for (reached, event) in path {
            self.send(event);
            if reached == target {
                return;
            }
        }
        panic!("no phase {target}");
    }
}

fn summary(confidence: Confidence) -> DiagnosisSummary {
    DiagnosisSummary {
        confidence,
        required: Confidence::Medium,
        hypothesis: "The total divides by zero.".to_owned(),
        plan: "Guard the empty case.\n".to_owned(),
    }
}

fn diagnosed(name: &str, confidence: Confidence) -> Event {
    Event::Diagnosed {
        squad: id(name),
        diagnosis: summary(confidence),
    }
}

fn reviews(name: &str, round: u32, code: ReviewVerdict, qa: ReviewVerdict) -> Event {
    Event::ReviewsCompleted {
        squad: id(name),
        round,
        code_reviewer: code,
        qa_specialist: qa,
    }
}

/// Phases a started feature squad passes through, as [`Harness::drive`] names them.
const WORKING: [&str; 10] = [
    "preparing",
    "implementing",
    "verifying",
    "pr-open",
    "reviewing",
    "fixing",
    "verifying-again",
    "reviewing-again",
    "approved",
    "merging",
];

mod ci;
mod conflicts;
mod hand_backs;
mod sharing;
mod stop_the_line;

mod transitions {
    use super::*;

    #[test]
    fn a_feature_squad_goes_from_queued_to_merged_recording_every_phase() {
        let mut h = Harness::new(2);
        assert_eq!(
            h.admit(vec![spec("a", &[])]),
            ["record a queued -> preparing r0 @1", "prepare a"]
        );
        let a = || id("a");
        let steps: Vec<(Event, &[&str])> = vec![
            (
                Event::Prepared { squad: a() },
                &["record a preparing -> implementing r0 @2", "implement a"],
            ),
            (
                Event::Implemented { squad: a() },
                &["record a implementing -> verifying r0 @3", "verify a"],
            ),
            (
                Event::Verified {
                    squad: a(),
                    outcome: Verification::Passed,
                },
                &["record a verifying -> pr-open r0 @4", "open-pr a"],
            ),
            (
                Event::PrOpened {
                    squad: a(),
                    pr: PrNumber(42),
                },
                &["record a pr-open -> reviewing r1 @5", "review a r1"],
            ),
            (
                reviews("a", 1, CHANGES, APPROVED),
                &["record a reviewing -> fixing r1 @6", "fix a r1"],
            ),
            (
                Event::Fixed {
                    squad: a(),
                    round: 1,
                },
                &["record a fixing -> verifying r2 @7", "verify a"],
            ),
            (
                Event::Verified {
                    squad: a(),
                    outcome: Verification::Passed,
                },
                &["record a verifying -> reviewing r2 @8", "review a r2"],
            ),
            (
                reviews("a", 2, APPROVED, APPROVED),
                &["record a reviewing -> approved r2 @9", "gate a"],
            ),
            (
                Event::GateDecided {
                    squad: a(),
                    head: head(),
                    decision: GateDecision::Merge,
                },
                &["record a approved -> merging r2 @10", "merge a"],
            ),
            (
                Event::Merged {
                    squad: a(),
                    sha: CommitSha::new("abc1234def"),
                },
                &[
                    "record a merging -> merged r2 @11",
                    "clean a",
                    "finished run: 1 merged",
                ],
            ),
        ];
        for (event, expected) in steps {
            let name = event.name();
            assert_eq!(h.send(event), expected, "after {name}");
        }
        assert!(
            h.scheduler.squad(&a()).is_none(),
            "the finished run's squad is the store's now"
        );
    }

    #[test]
    fn a_bug_fix_squad_diagnoses_before_implementing() {
        let mut h = Harness::new(2);
        h.admit(vec![bug("b"), bug("c")]);
        assert_eq!(
            h.send(Event::Prepared { squad: id("b") }),
            ["record b preparing -> diagnosing r0 @2", "diagnose b"]
        );
        assert_eq!(
            h.send(diagnosed("b", Confidence::High)),
            ["record b diagnosing -> implementing r0 @3", "implement b"]
        );
        h.send(Event::Prepared { squad: id("c") });
        let out = h.send(diagnosed("c", Confidence::Low));
        assert_eq!(
            out,
            [
                "record c diagnosing -> needs-human (the diagnosis is not confident enough to fix \
                 automatically: read the posted fix plan and decide how to proceed (confidence \
                 low, below the required medium). Hypothesis: The total divides by zero. Plan: \
                 Guard the empty case.) r0 @5",
                "clean c"
            ],
            "the reason carries the diagnosis, as the store records it"
        );
    }

    #[test]
    fn failed_verification_asks_a_person_with_the_failure() {
        let mut h = Harness::new(1);
        h.admit(vec![spec("a", &[])]);
        h.drive("a", "verifying");
        let out = h.send(Event::Verified {
            squad: id("a"),
            outcome: Verification::Failed("cargo test: 2 failed".into()),
        });
        assert_eq!(
            out[0],
            "record a verifying -> needs-human (verification failed: cargo test: 2 failed) r0 @4"
        );
        assert_eq!(out[1..], ["clean a", "finished run: 1 needs-human"]);
    }

    #[test]
    fn the_gate_waits_then_asks_again_on_a_later_tick() {
        let config = SchedulerConfig {
            concurrency: 1,
            gate_retry_after: Duration::from_millis(10),
            gate_wait_limit: Duration::from_millis(25),
            ..SchedulerConfig::default()
        };
        let mut h = Harness::with_config(config);
        h.admit(vec![spec("a", &[])]);
        h.drive("a", "approved");
        let wait = |h: &mut Harness| {
            h.send(Event::GateDecided {
                squad: id("a"),
                head: head(),
                decision: GateDecision::Blocked(vec![GateBlocker::CheckPending {
                    name: "ci".into(),
                }]),
            })
        };
        assert_eq!(
            wait(&mut h),
            Vec::<String>::new(),
            "a pending check waits quietly"
        );
        assert_eq!(
            h.send(Event::Tick),
            Vec::<String>::new(),
            "too early to ask again"
        );
        h.now += 10;
        assert_eq!(h.send(Event::Tick), ["gate a"]);
        assert_eq!(
            h.send(Event::Tick),
            Vec::<String>::new(),
            "one evaluation at a time"
        );
        h.send(Event::GateDecided {
            squad: id("a"),
            head: head(),
            decision: GateDecision::AskAgainShortly,
        });
        h.now += 20;
        let out = wait(&mut h);
        assert!(
            out[0].contains("needs-human (the merge gate kept waiting"),
            "{out:?}"
        );
        assert!(out[0].contains("required check `ci` is pending"), "{out:?}");
    }

    #[test]
    fn the_gate_sends_conflicts_to_rebase_and_other_blockers_to_a_person() {
        let mut h = Harness::new(2);
        h.admit(vec![spec("a", &[]), spec("b", &[])]);
        h.drive("a", "approved");
        h.drive("b", "approved");
        let out = h.send(Event::GateDecided {
            squad: id("a"),
            head: head(),
            decision: GateDecision::Blocked(vec![GateBlocker::NotMergeable]),
        });
        assert_eq!(
            out,
            [
                "record a approved -> verifying r2 @18",
                "verify a rebase Conflicts"
            ]
        );
        let out = h.send(Event::GateDecided {
            squad: id("b"),
            head: head(),
            decision: GateDecision::Blocked(vec![GateBlocker::ReviewerRequestedChanges {
                role: Role::CodeReviewer,
                login: "squad-reviewer".into(),
            }]),
        });
        assert_eq!(
            out[0],
            "record b approved -> needs-human (the merge gate refused the PR: blocked: code-reviewer (`squad-reviewer`) requested changes) r2 @19"
        );
    }

    #[test]
    fn a_rejected_merge_rebases_or_rereviews_and_old_approvals_do_not_count() {
        let mut h = Harness::new(3);
        h.admit(vec![spec("a", &[]), spec("b", &[]), spec("c", &[])]);
        for name in ["a", "b", "c"] {
            h.drive(name, "merging");
        }
        let out = h.send(Event::MergeRejected {
            squad: id("a"),
            rejection: MergeRejection::NeedsRebase(RebaseReason::Behind),
        });
        assert_eq!(out[1], "verify a rebase Behind");
        assert_eq!(
            h.send(Event::Verified {
                squad: id("a"),
                outcome: Verification::Passed
            })[1],
            "review a r2",
            "the rebased head is reviewed again within its round"
        );
        assert_eq!(
            h.send(Event::MergeRejected {
                squad: id("b"),
                rejection: MergeRejection::HeadMoved
            })[1],
            "review b r2"
        );
        let out = h.send(Event::MergeRejected {
            squad: id("c"),
            rejection: MergeRejection::Refused("branch protection requires a signed commit".into()),
        });
        assert!(out[0].contains("needs-human (the code host refused the merge: branch protection"));
    }

    #[test]
    fn an_approved_squad_behind_its_base_rebases() {
        let mut h = Harness::new(1);
        h.admit(vec![spec("a", &[])]);
        h.drive("a", "approved");
        let out = h.send(Event::RebaseRequired {
            squad: id("a"),
            reason: RebaseReason::Behind,
        });
        assert_eq!(out[1], "verify a rebase Behind");
        assert_eq!(h.phase("a"), "verifying");
    }

    #[test]
    fn a_bug_in_squadron_fails_the_squad_in_every_working_phase() {
        for target in WORKING {
            let mut h = Harness::new(1);
            h.admit(vec![spec("a", &[]), spec("b", &[])]);
            h.drive("a", target);
            let out = h.send(Event::StepFailed {
                squad: id("a"),
                failure: StepFailure::internal("push refused"),
            });
            assert!(
                out[0].ends_with(&format!(
                    "-> failed (failed to push refused) r{} @{}",
                    h.round("a"),
                    h.now
                )),
                "{target}: {out:?}"
            );
            assert_eq!(
                out[1..],
                [
                    "clean a",
                    &format!("record b queued -> preparing r0 @{}", h.now),
                    "prepare b"
                ],
                "{target}: the slot goes to the next squad"
            );
        }
    }

    #[test]
    fn a_step_an_agent_handed_off_leaves_the_squad_to_a_person_in_every_working_phase() {
        for target in WORKING {
            let mut h = Harness::new(1);
            h.admit(vec![spec("a", &[]), spec("b", &[])]);
            h.drive("a", target);
            let out = h.send(Event::StepNeedsHuman {
                squad: id("a"),
                reason: "the developer used all its steps".into(),
            });
            assert!(
                out[0].ends_with(&format!(
                    "-> needs-human (the developer used all its steps) r{} @{}",
                    h.round("a"),
                    h.now
                )),
                "{target}: {out:?}"
            );
            assert_eq!(
                out[1..],
                [
                    "clean a",
                    &format!("record b queued -> preparing r0 @{}", h.now),
                    "prepare b"
                ],
                "{target}: the slot goes to the next squad"
            );
        }
    }

    #[test]
    fn budget_overruns_stop_a_squad_or_a_whole_run() {
        let mut h = Harness::new(1);
        h.admit(vec![spec("a", &[]), spec("b", &[])]);
        h.drive("a", "implementing");
        let out = h.send(Event::BudgetExceeded {
            scope: BudgetScope::Squad(id("a")),
            spent: Usd::from_dollars(5.5),
            limit: Usd::from_dollars(5.0),
        });
        assert!(
            out[0].contains("needs-human (the squad is over budget: spent $5.5000 of $5.0000"),
            "{out:?}"
        );
        assert_eq!(
            out[1..4],
            ["stop a", "clean a", "record b queued -> preparing r0 @3"]
        );
        let out = h.send(Event::BudgetExceeded {
            scope: BudgetScope::Run(RunId::new("run")),
            spent: Usd::from_dollars(20.0),
            limit: Usd::from_dollars(20.0),
        });
        assert_eq!(out.len(), 4, "{out:?}");
        assert!(out[0].contains("the run is over budget"));
        assert_eq!(out[3], "finished run: 2 needs-human");
    }
}

mod retries {
    use super::*;

    fn policy_of(attempts: u32) -> SchedulerConfig {
        SchedulerConfig {
            concurrency: 1,
            retry: squadron_core::scheduler::RetryPolicy {
                attempts,
                base_delay: Duration::from_millis(100),
                max_delay: Duration::from_millis(300),
                jitter_seed: 42,
            },
            ..SchedulerConfig::default()
        }
    }

    fn transient(doing: &str) -> Event {
        Event::StepFailed {
            squad: id("a"),
            failure: StepFailure::new(FailureKind::Transient, doing).because("502 Bad Gateway"),
        }
    }

    /// The command a squad works on in each working phase, as [`show`] prints it.
    fn command_in(target: &str) -> &'static str {
        match target {
            "preparing" => "prepare a",
            "implementing" => "implement a",
            "verifying" | "verifying-again" => "verify a",
            "pr-open" => "open-pr a",
            "reviewing" => "review a r1",
            "reviewing-again" => "review a r2",
            "fixing" => "fix a r1",
            "approved" => "gate a",
            "merging" => "merge a",
            other => panic!("no phase {other}"),
        }
    }

    /// The milliseconds a `retry` line waits.
    fn delay_of(line: &str) -> u64 {
        let rest = line.split(" in ").nth(1).expect("a delay");
        rest.split("ms")
            .next()
            .expect("ms")
            .parse()
            .expect("a number")
    }

    #[test]
    fn a_transient_failure_retries_the_same_command_then_asks_a_person_naming_it() {
        for target in WORKING {
            let mut h = Harness::with_config(policy_of(3));
            h.admit(vec![spec("a", &[])]);
            h.drive("a", target);
            let phase = h.phase("a");
            let command = command_in(target);
            let mut delays = Vec::new();
            for attempt in 2..=3 {
                let out = h.send(transient("read PR #7"));
                assert_eq!(out.len(), 1, "{target}: only the retry: {out:?}");
                assert!(
                    out[0].starts_with(&format!("retry a #{attempt} in "))
                        && out[0].ends_with(&format!(
                            "(transient: read PR #7: 502 Bad Gateway): {command}"
                        )),
                    "{target}: {out:?}"
                );
                assert_eq!(h.phase("a"), phase, "{target}: the phase stays");
                delays.push(delay_of(&out[0]));
            }
            assert!(
                (50..=100).contains(&delays[0]) && (100..=200).contains(&delays[1]),
                "{target}: the backoff doubles, with jitter in its upper half: {delays:?}"
            );
            let out = h.send(transient("read PR #7"));
            assert_eq!(
                out,
                [
                    format!(
                        "record a {phase} -> needs-human (the {step} step failed 3 time(s) in a \
                         row (transient); the last attempt failed to read PR #7: 502 Bad \
                         Gateway) r{} @{}",
                        h.round("a"),
                        h.now,
                        step = command
                            .split(' ')
                            .next()
                            .map(|step| match step {
                                "gate" => "evaluate-gate",
                                "fix" => "fix",
                                other => other,
                            })
                            .unwrap_or_default(),
                    ),
                    "clean a".to_owned(),
                    "finished run: 1 needs-human".to_owned(),
                ],
                "{target}"
            );
        }
    }

    #[test]
    fn a_rebase_is_retried_as_a_rebase() {
        let mut h = Harness::with_config(policy_of(3));
        h.admit(vec![spec("a", &[])]);
        h.drive("a", "approved");
        h.send(Event::RebaseRequired {
            squad: id("a"),
            reason: RebaseReason::Behind,
        });
        let out = h.send(transient("fetch the base"));
        assert!(out[0].ends_with(": verify a rebase Behind"), "{out:?}");
    }

    #[test]
    fn attempts_count_afresh_for_each_new_command() {
        let mut h = Harness::with_config(policy_of(2));
        h.admit(vec![spec("a", &[])]);
        let out = h.send(transient("move ENG-a to started"));
        assert!(out[0].starts_with("retry a #2"), "{out:?}");
        h.send(Event::Prepared { squad: id("a") });
        let out = h.send(transient("call the model"));
        assert!(
            out[0].starts_with("retry a #2") && out[0].ends_with("implement a"),
            "one failure of the new step is retried: {out:?}"
        );
        let out = h.send(transient("call the model"));
        assert!(
            out[0].contains("-> needs-human (the implement step failed 2 time(s)"),
            "{out:?}"
        );
    }

    #[test]
    fn conflicts_retry_and_refusals_go_to_a_person_at_once() {
        let mut h = Harness::with_config(policy_of(3));
        h.admit(vec![spec("a", &[])]);
        let out = h.send(Event::StepFailed {
            squad: id("a"),
            failure: StepFailure::new(FailureKind::Conflict, "push ENG-a"),
        });
        assert!(
            out[0].starts_with("retry a #2") && out[0].contains("(conflict: push ENG-a)"),
            "{out:?}"
        );
        let out = h.send(Event::StepFailed {
            squad: id("a"),
            failure: StepFailure::needs_person("read issue ENG-a").because("401 Unauthorized"),
        });
        assert_eq!(
            out[0],
            "record a preparing -> needs-human (failed to read issue ENG-a: 401 Unauthorized) r0 @3"
        );
    }

    #[test]
    fn a_rate_limit_waits_at_least_as_long_as_the_service_asked() {
        let mut h = Harness::with_config(policy_of(3));
        h.admit(vec![spec("a", &[])]);
        let out = h.send(Event::StepFailed {
            squad: id("a"),
            failure: StepFailure::new(
                FailureKind::RateLimited {
                    retry_after: Duration::from_secs(30),
                },
                "read PR #7",
            ),
        });
        assert!(
            out[0].starts_with("retry a #2 in 30000ms (rate-limited"),
            "{out:?}"
        );
    }

    #[test]
    fn a_cancelled_squad_is_not_retried() {
        let mut h = Harness::with_config(policy_of(3));
        // `b` keeps the run, and with it `a`, scheduled.
        h.admit(vec![spec("a", &[]), spec("b", &[])]);
        h.send(Event::CancelRequested {
            target: CancelTarget::Squad(id("a")),
        });
        let refused = h.try_send(transient("move ENG-a to started"));
        assert!(
            matches!(refused, Err(Refusal::IllegalTransition { .. })),
            "{refused:?}"
        );
    }
}

mod retention {
    use super::*;

    fn run_of(name: &str) -> Event {
        Event::RunAdmitted {
            run: RunId::new(format!("run-{name}")),
            squads: vec![spec(name, &[])],
            skipped: vec![],
        }
    }

    #[test]
    fn the_scheduler_keeps_nothing_of_the_squads_of_finished_runs() {
        let mut h = Harness::new(2);
        let names = ["a", "b", "c", "d", "e", "f"];
        for name in names {
            h.send(run_of(name));
            h.drive(name, "merged");
            assert_eq!(h.phase(name), "merged");
            assert_eq!(
                h.scheduler.squads().count(),
                0,
                "after {name} merged no squad is held"
            );
        }
        // One that ends another way, beside one still working, is let go alike.
        h.send(Event::RunAdmitted {
            run: RunId::new("run-g"),
            squads: vec![spec("g", &[]), spec("h", &["g"])],
            skipped: vec![],
        });
        h.drive("g", "implementing");
        h.send(Event::StepNeedsHuman {
            squad: id("g"),
            reason: "the developer stopped".into(),
        });
        assert_eq!(h.phase("g"), "needs-human (the developer stopped)");
        assert!(
            h.phase("h").starts_with("needs-human (blocked by ENG-g"),
            "{}",
            h.phase("h")
        );
        assert_eq!(h.scheduler.squads().count(), 0);
        // A run admitted afterwards is scheduled as ever.
        let out = h.send(run_of("z"));
        assert_eq!(out, ["record z queued -> preparing r0 @70", "prepare z"]);
        assert_eq!(h.scheduler.squads().count(), 1);
    }
}

mod review_rounds {
    use super::*;

    #[test]
    fn the_round_cap_ends_the_squad_with_a_summary() {
        let mut h = Harness::new(1);
        h.admit(vec![spec("a", &[])]);
        h.drive("a", "reviewing-again");
        h.send(reviews("a", 2, CHANGES, APPROVED));
        h.send(Event::Fixed {
            squad: id("a"),
            round: 2,
        });
        h.send(Event::Verified {
            squad: id("a"),
            outcome: Verification::Passed,
        });
        assert_eq!(h.round("a"), 3);
        let out = h.send(reviews("a", 3, APPROVED, CHANGES));
        assert_eq!(
            out[0],
            "record a reviewing -> needs-human (review round 3 of 3 ended with changes still requested (code-reviewer: approved, qa-specialist: changes-requested): read the PR's reviews and finish it by hand) r3 @12"
        );
    }

    #[test]
    fn only_rounds_that_asked_for_changes_count_toward_the_cap() {
        let mut h = Harness::with_config(SchedulerConfig {
            max_review_rounds: 2,
            ..SchedulerConfig::default()
        });
        h.admit(vec![spec("a", &[])]);
        h.drive("a", "reviewing");
        // Approved, then rebased twice because other squads merged first: the rebased heads
        // are reviewed again within round 1.
        for _ in 0..2 {
            h.send(reviews("a", 1, APPROVED, APPROVED));
            h.send(Event::RebaseRequired {
                squad: id("a"),
                reason: RebaseReason::Behind,
            });
            let out = h.send(Event::Verified {
                squad: id("a"),
                outcome: Verification::Passed,
            });
            assert_eq!(out[1], "review a r1");
        }
        h.send(reviews("a", 1, CHANGES, APPROVED));
        assert_eq!(h.phase("a"), "fixing", "one change round of two so far");
        h.send(Event::Fixed {
            squad: id("a"),
            round: 1,
        });
        h.send(Event::Verified {
            squad: id("a"),
            outcome: Verification::Passed,
        });
        assert_eq!(h.round("a"), 2);
        let out = h.send(reviews("a", 2, APPROVED, CHANGES));
        assert!(
            out[0].contains("needs-human (review round 2 of 2 ended with changes"),
            "{out:?}"
        );
    }

    #[test]
    fn approval_in_the_last_round_still_merges() {
        let mut h = Harness::with_config(SchedulerConfig {
            max_review_rounds: 2,
            ..SchedulerConfig::default()
        });
        h.admit(vec![spec("a", &[])]);
        h.drive("a", "approved");
        assert_eq!(h.round("a"), 2);
        assert_eq!(h.phase("a"), "approved");
    }

    #[test]
    fn a_cap_of_one_allows_no_fixing() {
        let mut h = Harness::with_config(SchedulerConfig {
            max_review_rounds: 1,
            ..SchedulerConfig::default()
        });
        h.admit(vec![spec("a", &[])]);
        h.drive("a", "reviewing");
        h.send(reviews("a", 1, CHANGES, CHANGES));
        assert!(h.phase("a").starts_with("needs-human (review round 1 of 1"));
    }
}

mod refusals {
    use super::*;

    /// Every event a squad can receive, for squad `a` in round 1.
    fn all_events() -> Vec<Event> {
        let a = id("a");
        vec![
            Event::Prepared { squad: a.clone() },
            Event::Diagnosed {
                squad: a.clone(),
                diagnosis: summary(Confidence::High),
            },
            Event::Implemented { squad: a.clone() },
            Event::Verified {
                squad: a.clone(),
                outcome: Verification::Passed,
            },
            Event::PrOpened {
                squad: a.clone(),
                pr: PrNumber(1),
            },
            reviews("a", 1, APPROVED, APPROVED),
            Event::Fixed {
                squad: a.clone(),
                round: 1,
            },
            Event::GateDecided {
                squad: a.clone(),
                head: head(),
                decision: GateDecision::Merge,
            },
            Event::Merged {
                squad: a.clone(),
                sha: CommitSha::new("abc"),
            },
            Event::MergeRejected {
                squad: a.clone(),
                rejection: MergeRejection::HeadMoved,
            },
            Event::RebaseRequired {
                squad: a.clone(),
                reason: RebaseReason::Behind,
            },
            Event::StepFailed {
                squad: a.clone(),
                failure: StepFailure::internal("x"),
            },
            Event::CancelRequested {
                target: CancelTarget::Squad(a.clone()),
            },
            Event::BudgetExceeded {
                scope: BudgetScope::Squad(a),
                spent: Usd::ZERO,
                limit: Usd::ZERO,
            },
        ]
    }

    /// Which events each phase accepts; everything else must be refused untouched.
    fn accepted(phase: &str, event: &str) -> bool {
        let always = ["cancel-requested", "budget-exceeded"];
        let working = phase != "queued" && phase != "merged";
        let specific: &[&str] = match phase {
            "preparing" => &["prepared"],
            "implementing" => &["implemented"],
            "verifying" => &["verified"],
            "pr-open" => &["pr-opened"],
            "reviewing" => &["reviews-completed"],
            "fixing" => &["fixed"],
            "approved" => &["gate-decided", "rebase-required"],
            "merging" => &["merged", "merge-rejected", "rebase-required"],
            _ => &[],
        };
        phase != "merged"
            && (always.contains(&event)
                || specific.contains(&event)
                || (working && event == "step-failed"))
    }

    #[test]
    fn events_that_make_no_sense_in_a_phase_are_refused_and_change_nothing() {
        let mut checked = 0;
        for target in [
            "queued",
            "preparing",
            "implementing",
            "verifying",
            "pr-open",
            "reviewing",
            "fixing",
            "approved",
            "merging",
            "merged",
        ] {
            for event in all_events() {
                let mut h = Harness::new(1);
                // `later` keeps the run, and with it `a`, scheduled once `a` merged.
                h.admit(vec![
                    spec("blocker", &[]),
                    spec("a", &["blocker"]),
                    spec("later", &["a"]),
                ]);
                if target != "queued" {
                    h.drive("blocker", "merged");
                    h.drive("a", target);
                }
                let name = event.name();
                // Round 1 is the current round where fixing and reviewing are reached.
                let round_ok = !matches!(target, "reviewing" | "fixing") || h.round("a") == 1;
                let before = h.phase("a");
                let result = h.try_send(event);
                if accepted(target, name) && round_ok {
                    assert!(result.is_ok(), "{target} should accept {name}: {result:?}");
                    continue;
                }
                let refusal = result.expect_err(&format!("{target} must refuse {name}"));
                assert_eq!(
                    h.phase("a"),
                    before,
                    "{target}/{name}: a refusal changes nothing"
                );
                let Refusal::IllegalTransition {
                    squad,
                    phase,
                    event,
                    ..
                } = &refusal
                else {
                    panic!("{target}/{name}: {refusal:?}");
                };
                assert_eq!(
                    (squad.as_str(), phase.name(), *event),
                    ("a", before.split(' ').next().unwrap_or_default(), name)
                );
                let message = refusal.to_string();
                assert!(
                    message.contains("squad a (ENG-a)") && message.contains(name),
                    "{message}"
                );
                checked += 1;
            }
        }
        assert!(checked > 100, "the table covers most pairs ({checked})");
    }

    #[test]
    fn a_late_result_after_cancellation_is_refused() {
        let mut h = Harness::new(1);
        // `b` keeps the run, and with it `a`, scheduled.
        h.admit(vec![spec("a", &[]), spec("b", &[])]);
        h.drive("a", "implementing");
        h.send(Event::CancelRequested {
            target: CancelTarget::Squad(id("a")),
        });
        let refusal = h
            .try_send(Event::Implemented { squad: id("a") })
            .unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "handle `implemented` for squad a (ENG-a): it is cancelled, where `implemented` is not expected"
        );
    }

    #[test]
    fn unknown_squads_runs_and_stale_rounds_are_refused() {
        let mut h = Harness::new(1);
        h.admit(vec![spec("a", &[])]);
        h.drive("a", "reviewing-again");
        let cases = [
            (
                Event::Prepared { squad: id("ghost") },
                "handle `prepared` for squad ghost: no such squad is scheduled (unknown, or its run \
                 finished)",
            ),
            (
                Event::CancelRequested {
                    target: CancelTarget::Run(RunId::new("other")),
                },
                "handle `cancel-requested` for run other: no such run is scheduled (unknown, or it \
                 finished)",
            ),
            (
                reviews("a", 1, APPROVED, APPROVED),
                "handle `reviews-completed` for squad a (ENG-a): it reports round 1 but the squad is in round 2",
            ),
            (
                Event::RunAdmitted {
                    run: RunId::new("run"),
                    squads: vec![],
                    skipped: vec![],
                },
                "admit run run: it was already admitted",
            ),
            (
                Event::RunAdmitted {
                    run: RunId::new("r2"),
                    squads: vec![spec("a", &[])],
                    skipped: vec![],
                },
                "admit squad a: a squad with this id is already scheduled",
            ),
            (
                Event::RunAdmitted {
                    run: RunId::new("r3"),
                    squads: vec![spec("x", &["a"])],
                    skipped: vec![],
                },
                "admit squad x: its blocker a is not a squad of the same run; pass only blockers admitted or skipped in that run",
            ),
        ];
        for (event, message) in cases {
            let refusal = h.try_send(event).unwrap_err();
            assert_eq!(refusal.to_string(), message);
        }
        assert_eq!(h.scheduler.squads().count(), 1, "nothing was admitted");
        assert_eq!(h.phase("a"), "reviewing");
    }

    #[test]
    fn a_finished_run_cannot_be_cancelled_again() {
        let mut h = Harness::new(1);
        h.admit(vec![spec("a", &[])]);
        h.send(Event::CancelRequested {
            target: CancelTarget::Run(RunId::new("run")),
        });
        let refusal = h.try_send(Event::CancelRequested {
            target: CancelTarget::Run(RunId::new("run")),
        });
        assert!(
            matches!(refusal, Err(Refusal::UnknownRun { .. })),
            "the finished run was let go: {refusal:?}"
        );
        let late = h.try_send(Event::Implemented { squad: id("a") });
        assert_eq!(
            late.unwrap_err().to_string(),
            "handle `implemented` for squad a: no such squad is scheduled (unknown, or its run \
             finished)"
        );
    }
}

mod concurrency {
    use super::*;

    #[test]
    fn never_more_than_the_limit_and_the_next_starts_when_one_ends() {
        let mut h = Harness::new(2);
        let out = h.admit((1..=5).map(|n| spec(&n.to_string(), &[])).collect());
        assert_eq!(
            out,
            [
                "record 1 queued -> preparing r0 @1",
                "prepare 1",
                "record 2 queued -> preparing r0 @1",
                "prepare 2"
            ]
        );
        assert_eq!(h.scheduler.slots_in_use(), 2);
        h.drive("1", "approved");
        assert_eq!(
            h.phase("3"),
            "queued",
            "approved squads still hold their slot"
        );
        let out = h.send(Event::StepFailed {
            squad: id("2"),
            failure: StepFailure::internal("boom"),
        });
        assert_eq!(
            out[2..],
            ["record 3 queued -> preparing r0 @10", "prepare 3"]
        );
        let out = h.send(Event::CancelRequested {
            target: CancelTarget::Squad(id("1")),
        });
        assert_eq!(
            out[3..],
            ["record 4 queued -> preparing r0 @11", "prepare 4"]
        );
        let out = h.send(Event::CancelRequested {
            target: CancelTarget::Squad(id("5")),
        });
        assert_eq!(
            out,
            ["record 5 queued -> cancelled r0 @12"],
            "a queued squad holds no slot"
        );
        assert_eq!(h.scheduler.slots_in_use(), 2);
    }

    #[test]
    fn urgent_issues_start_first_then_admission_order() {
        let mut h = Harness::new(2);
        let with = |name, priority| SquadSpec {
            priority,
            ..spec(name, &[])
        };
        let out = h.admit(vec![
            with("low", Priority::Low),
            with("none", Priority::None),
            with("urgent", Priority::Urgent),
            with("high1", Priority::High),
            with("high2", Priority::High),
        ]);
        assert_eq!(
            out.iter()
                .filter(|line| line.starts_with("prepare"))
                .collect::<Vec<_>>(),
            ["prepare urgent", "prepare high1"]
        );
        h.send(Event::StepFailed {
            squad: id("urgent"),
            failure: StepFailure::internal("x"),
        });
        h.send(Event::StepFailed {
            squad: id("high1"),
            failure: StepFailure::internal("x"),
        });
        assert_eq!(
            (h.phase("high2").as_str(), h.phase("low").as_str()),
            ("preparing", "preparing")
        );
        assert_eq!(h.phase("none"), "queued", "no priority sorts last");
    }

    #[test]
    fn the_limit_spans_runs() {
        let mut h = Harness::new(1);
        h.admit(vec![spec("a", &[])]);
        let out = h.send(Event::RunAdmitted {
            run: RunId::new("fix"),
            squads: vec![bug("b")],
            skipped: vec![],
        });
        assert_eq!(out, Vec::<String>::new());
        let out = h.send(Event::StepFailed {
            squad: id("a"),
            failure: StepFailure::internal("x"),
        });
        assert_eq!(
            out[2..],
            [
                "record b queued -> preparing r0 @3",
                "prepare b",
                "finished run: 1 failed"
            ]
        );
    }
}

mod blocked_by {
    use super::*;

    #[test]
    fn a_blocked_squad_waits_for_its_blocker_to_merge() {
        let mut h = Harness::new(3);
        let out = h.admit(vec![spec("b", &["a"]), spec("a", &[])]);
        assert_eq!(
            out,
            ["record a queued -> preparing r0 @1", "prepare a"],
            "b waits despite free slots"
        );
        h.drive("a", "merging");
        let out = h.send(Event::Merged {
            squad: id("a"),
            sha: CommitSha::new("f00"),
        });
        assert_eq!(
            out,
            [
                "record a merging -> merged r2 @11",
                "clean a",
                "record b queued -> preparing r0 @11",
                "prepare b"
            ]
        );
    }

    #[test]
    fn a_chain_ends_in_order_when_its_head_fails() {
        let mut h = Harness::new(3);
        h.admit(vec![
            spec("a", &[]),
            spec("b", &["a"]),
            spec("c", &["b"]),
            spec("free", &[]),
        ]);
        let out = h.send(Event::StepFailed {
            squad: id("a"),
            failure: StepFailure::internal("push refused"),
        });
        assert_eq!(
            out,
            [
                "record a preparing -> failed (failed to push refused) r0 @2",
                "clean a",
                "record b queued -> needs-human (blocked by ENG-a, which ended failed (failed to push refused): resolve ENG-a first, then start this issue again) r0 @2",
                "record c queued -> needs-human (blocked by ENG-b, which ended needs-human (blocked by ENG-a, which ended failed (failed to push refused): resolve ENG-a first, then start this issue again): resolve ENG-b first, then start this issue again) r0 @2",
            ]
        );
        assert_eq!(h.phase("free"), "preparing");
    }

    #[test]
    fn a_chain_runs_one_after_another_when_each_merges() {
        let mut h = Harness::new(3);
        h.admit(vec![spec("c", &["b"]), spec("b", &["a"]), spec("a", &[])]);
        for name in ["a", "b", "c"] {
            assert_eq!(
                h.phase(name),
                "preparing",
                "{name} starts once its blocker merged"
            );
            assert_eq!(h.scheduler.slots_in_use(), 1);
            h.drive(name, "merged");
        }
    }

    #[test]
    fn any_ending_other_than_merged_releases_dependents_to_a_person() {
        fn cancel(h: &mut Harness) {
            h.send(Event::CancelRequested {
                target: CancelTarget::Squad(id("a")),
            });
        }
        fn fail_verification(h: &mut Harness) {
            h.drive("a", "verifying");
            h.send(Event::Verified {
                squad: id("a"),
                outcome: Verification::Failed("lint".into()),
            });
        }
        fn fail_step(h: &mut Harness) {
            h.send(Event::StepFailed {
                squad: id("a"),
                failure: StepFailure::internal("e"),
            });
        }
        /// How the blocker ends, and the phase name the dependent's reason must show.
        type Ending = (&'static str, fn(&mut Harness));
        let endings: [Ending; 3] = [
            ("cancelled", cancel),
            ("needs-human", fail_verification),
            ("failed", fail_step),
        ];
        for (ending, end) in endings {
            let mut h = Harness::new(2);
            h.admit(vec![spec("a", &[]), spec("b", &["a"])]);
            end(&mut h);
            assert!(
                h.phase("b").starts_with(&format!(
                    "needs-human (blocked by ENG-a, which ended {ending}"
                )),
                "{ending}: {}",
                h.phase("b")
            );
        }
    }

    #[test]
    fn a_squad_blocked_by_a_skipped_issue_needs_a_person_at_once() {
        let mut h = Harness::new(2);
        let out = h.send(Event::RunAdmitted {
            run: RunId::new("run"),
            squads: vec![spec("b", &["a"])],
            skipped: vec![SkippedSquad {
                id: id("a"),
                issue: IssueKey::new("ENG-a"),
                reason: "no scenarios".into(),
            }],
        });
        assert_eq!(
            out,
            [
                "record a queued -> skipped (no scenarios) r0 @1",
                "record b queued -> needs-human (blocked by ENG-a, which ended skipped (no scenarios): resolve ENG-a first, then start this issue again) r0 @1",
                "finished run: 1 needs-human, 1 skipped",
            ]
        );
    }

    #[test]
    fn a_cycle_of_blockers_is_reported_instead_of_waiting_forever() {
        let mut h = Harness::new(2);
        let out = h.admit(vec![
            spec("a", &["b"]),
            spec("b", &["a"]),
            spec("c", &["a"]),
        ]);
        assert_eq!(
            out[0],
            "record a queued -> needs-human (its blocked-by relations form a cycle (ENG-a → ENG-b → ENG-a): remove one of them in the tracker) r0 @1"
        );
        assert!(out[1].starts_with("record b queued -> needs-human (its blocked-by relations form a cycle (ENG-b → ENG-a → ENG-b)"));
        assert!(out[2].starts_with("record c queued -> needs-human (blocked by ENG-a"));
        assert_eq!(out[3], "finished run: 3 needs-human");
    }
}

mod cancellation {
    use super::*;

    #[test]
    fn cancel_works_in_every_phase_and_stops_work_in_flight() {
        for target in WORKING {
            let mut h = Harness::new(1);
            h.admit(vec![spec("a", &[])]);
            h.drive("a", target);
            let from = h.phase("a");
            let out = h.send(Event::CancelRequested {
                target: CancelTarget::Squad(id("a")),
            });
            assert_eq!(
                out,
                [
                    format!("record a {from} -> cancelled r{} @{}", h.round("a"), h.now),
                    "stop a".to_owned(),
                    "clean a".to_owned(),
                    "finished run: 1 cancelled".to_owned(),
                ],
                "{target}"
            );
        }
    }

    #[test]
    fn cancelling_a_run_cancels_every_unfinished_squad_once() {
        let mut h = Harness::new(1);
        h.admit(vec![spec("a", &[]), spec("b", &[]), spec("c", &[])]);
        h.drive("a", "merged");
        let out = h.send(Event::CancelRequested {
            target: CancelTarget::Run(RunId::new("run")),
        });
        assert_eq!(
            out,
            [
                "record b preparing -> cancelled r0 @12",
                "stop b",
                "clean b",
                "record c queued -> cancelled r0 @12",
                "finished run: 1 merged, 2 cancelled",
            ]
        );
    }
}

mod shared_files {
    use super::*;

    /// A squad whose issue names some of the same files as `first`'s, which go first.
    pub(super) fn after(name: &str, first: &[&str]) -> SquadSpec {
        SquadSpec {
            after: first.iter().map(|f| id(f)).collect(),
            ..spec(name, &[])
        }
    }

    #[test]
    fn a_squad_naming_the_same_files_starts_once_the_first_ended_while_others_run() {
        let mut h = Harness::new(3);
        let out = h.admit(vec![spec("a", &[]), after("b", &["a"]), spec("c", &[])]);
        assert_eq!(
            out,
            [
                "record a queued -> preparing r0 @1",
                "prepare a",
                "record c queued -> preparing r0 @1",
                "prepare c"
            ],
            "b waits despite a free slot; c shares nothing and runs"
        );
        assert_eq!(h.scheduler.waits_after(&id("b")), [&IssueKey::new("ENG-a")]);
        h.drive("a", "merging");
        assert_eq!(h.phase("b"), "queued");
        let out = h.send(Event::Merged {
            squad: id("a"),
            sha: CommitSha::new("f00"),
        });
        assert_eq!(
            out[2..],
            ["record b queued -> preparing r0 @11", "prepare b"]
        );
        assert!(h.scheduler.waits_after(&id("b")).is_empty());
    }

    #[test]
    fn a_first_squad_ending_without_a_merge_lets_the_second_start() {
        let mut h = Harness::new(2);
        h.admit(vec![spec("a", &[]), after("b", &["a"])]);
        let out = h.send(Event::CancelRequested {
            target: CancelTarget::Squad(id("a")),
        });
        assert!(
            out.contains(&"record b queued -> preparing r0 @2".to_owned()),
            "{out:?}"
        );
    }

    #[test]
    fn a_squad_to_start_after_must_be_of_the_run() {
        let mut h = Harness::new(2);
        let refused = h
            .scheduler
            .handle(
                Event::RunAdmitted {
                    run: RunId::new("run"),
                    squads: vec![after("b", &["elsewhere"])],
                    skipped: Vec::new(),
                },
                Timestamp::from_millis(1),
            )
            .unwrap_err();
        assert!(
            matches!(refused, Refusal::UnknownBlocker { .. }),
            "{refused:?}"
        );
    }
}

mod restore {
    use super::*;

    fn persisted(name: &str, blocked_by: &[&str], phase: Phase, round: u32) -> PersistedSquad {
        PersistedSquad {
            run: RunId::new("run"),
            spec: spec(name, blocked_by),
            phase,
            round,
            pr: (round > 0).then_some(PrNumber(9)),
            ci_fix_rounds: 0,
            conflict_rounds: 0,
        }
    }

    #[test]
    fn a_squad_naming_the_same_files_waits_again_after_a_restart() {
        let after = shared_files::after;
        let squads = vec![
            persisted("a", &[], Phase::Implementing, 0),
            PersistedSquad {
                spec: after("b", &["a"]),
                ..persisted("b", &[], Phase::Queued, 0)
            },
            PersistedSquad {
                spec: after("c", &["done"]),
                ..persisted("c", &[], Phase::Queued, 0)
            },
            persisted("done", &[], Phase::Merged, 0),
        ];
        let (scheduler, commands) = Scheduler::restore(
            SchedulerConfig::default(),
            squads,
            Timestamp::from_millis(5),
        )
        .unwrap();
        assert_eq!(
            show(&commands),
            [
                "implement a",
                "record c queued -> preparing r0 @5",
                "prepare c"
            ]
        );
        assert_eq!(scheduler.waits_after(&id("b")), [&IssueKey::new("ENG-a")]);
    }

    #[test]
    fn every_unfinished_squad_resumes_its_phase() {
        let squads = vec![
            persisted("prep", &[], Phase::Preparing, 0),
            persisted("impl", &[], Phase::Implementing, 0),
            persisted("review", &[], Phase::Reviewing, 2),
            persisted("fix", &[], Phase::Fixing, 1),
            persisted("ok", &[], Phase::Approved, 1),
            persisted("merge", &[], Phase::Merging, 3),
            persisted("done", &[], Phase::Merged, 1),
            persisted("after-done", &["done"], Phase::Queued, 0),
            persisted("waits", &["merge"], Phase::Queued, 0),
        ];
        let config = SchedulerConfig {
            concurrency: 7,
            ..SchedulerConfig::default()
        };
        let (mut scheduler, commands) =
            Scheduler::restore(config, squads, Timestamp::from_millis(100)).unwrap();
        assert_eq!(
            show(&commands),
            [
                "prepare prep",
                "implement impl",
                "review review r2",
                "fix fix r1",
                "gate ok",
                "merge merge",
                "record after-done queued -> preparing r0 @100",
                "prepare after-done",
            ]
        );
        assert_eq!(scheduler.slots_in_use(), 7);
        // The restored scheduler carries on: the merge releases the blocked squad.
        let out = scheduler
            .handle(
                Event::Merged {
                    squad: id("merge"),
                    sha: CommitSha::new("1"),
                },
                Timestamp::from_millis(101),
            )
            .unwrap();
        assert_eq!(
            show(&out)[2..],
            ["record waits queued -> preparing r0 @101", "prepare waits"]
        );
        let out = scheduler
            .handle(
                reviews("review", 2, APPROVED, APPROVED),
                Timestamp::from_millis(102),
            )
            .unwrap();
        assert_eq!(
            show(&out),
            ["record review reviewing -> approved r2 @102", "gate review"]
        );
    }

    #[test]
    fn restore_ends_what_can_no_longer_proceed_and_reports_finished_runs() {
        let squads = vec![
            persisted("a", &[], Phase::Failed("boom".into()), 0),
            persisted("b", &["a"], Phase::Queued, 0),
        ];
        let (_, commands) = Scheduler::restore(
            SchedulerConfig::default(),
            squads,
            Timestamp::from_millis(5),
        )
        .unwrap();
        assert_eq!(
            show(&commands),
            [
                "record b queued -> needs-human (blocked by ENG-a, which ended failed (boom): resolve ENG-a first, then start this issue again) r0 @5",
                "finished run: 1 needs-human, 1 failed",
            ]
        );
    }

    #[test]
    fn restore_respects_the_limit_and_refuses_inconsistent_input() {
        let squads = vec![
            persisted("a", &[], Phase::Verifying, 0),
            persisted("b", &[], Phase::Queued, 0),
        ];
        let config = SchedulerConfig {
            concurrency: 1,
            ..SchedulerConfig::default()
        };
        let (scheduler, commands) =
            Scheduler::restore(config, squads, Timestamp::from_millis(1)).unwrap();
        assert_eq!(show(&commands), ["verify a"]);
        assert_eq!(
            scheduler.squad(&id("b")).map(|s| s.phase.clone()),
            Some(Phase::Queued)
        );

        let unknown = Scheduler::restore(
            SchedulerConfig::default(),
            vec![persisted("a", &["zz"], Phase::Queued, 0)],
            Timestamp::default(),
        );
        assert!(matches!(unknown, Err(Refusal::UnknownBlocker { .. })));
        let twice = vec![
            persisted("a", &[], Phase::Queued, 0),
            persisted("a", &[], Phase::Queued, 0),
        ];
        let duplicate = Scheduler::restore(SchedulerConfig::default(), twice, Timestamp::default());
        assert!(matches!(duplicate, Err(Refusal::DuplicateSquad { .. })));
    }
}

/// Merge lanes per base branch and the merge gate's waits and re-asks, all owned by the
/// scheduler: the runtime only reads the gate and merges when told.
mod merge_lanes {
    use super::*;
    use squadron_core::gate::GateTarget;

    fn shop() -> RepoRef {
        RepoRef::new("acme", "shop")
    }

    fn decided(name: &str, decision: GateDecision) -> Event {
        Event::GateDecided {
            squad: id(name),
            head: head(),
            decision,
        }
    }

    fn pending_check() -> GateDecision {
        GateDecision::Blocked(vec![GateBlocker::CheckPending { name: "ci".into() }])
    }

    fn changed(target: GateTarget) -> Event {
        Event::CodeHostChanged { target }
    }

    fn lane_position(h: &Harness, name: &str) -> Option<usize> {
        h.scheduler.squad(&id(name)).unwrap().lane_position
    }

    /// Two approved squads of one base: `a` at the head of its lane, `b` behind it.
    fn two_in_one_lane() -> Harness {
        let mut h = Harness::new(2);
        h.admit(vec![on_main("a"), on_main("b")]);
        h.drive("a", "approved");
        h.drive("b", "approved");
        assert_eq!(
            h.send(decided("a", GateDecision::Merge)),
            ["record a approved -> merging r2 @18", "merge a"]
        );
        assert_eq!(
            h.send(decided("b", GateDecision::Merge)),
            Vec::<String>::new(),
            "b waits in the lane while a merges"
        );
        assert_eq!(h.phase("b"), "approved");
        assert_eq!(lane_position(&h, "a"), Some(0));
        assert_eq!(lane_position(&h, "b"), Some(1));
        h
    }

    #[test]
    fn a_landed_merge_hands_the_lane_to_the_next_squad_as_it_is() {
        let mut h = two_in_one_lane();
        let out = h.send(Event::Merged {
            squad: id("a"),
            sha: CommitSha::new("feed"),
        });
        assert_eq!(
            out,
            [
                "record a merging -> merged r2 @20",
                "clean a",
                "record b approved -> merging r2 @20",
                "merge b"
            ],
            "the merge train: b merges its approved head unless the code host refuses it"
        );
        assert_eq!(lane_position(&h, "b"), Some(0), "b holds the lane");
    }

    #[test]
    fn squads_of_different_bases_merge_side_by_side() {
        let mut h = Harness::new(2);
        h.admit(vec![on_main("a"), spec("b", &[])]);
        h.drive("a", "approved");
        h.drive("b", "approved");
        h.send(decided("a", GateDecision::Merge));
        assert_eq!(
            h.send(decided("b", GateDecision::Merge)),
            ["record b approved -> merging r2 @19", "merge b"]
        );
    }

    #[test]
    fn a_refused_or_failed_merge_frees_the_lane_for_the_next_squad() {
        let mut h = two_in_one_lane();
        let out = h.send(Event::MergeRejected {
            squad: id("a"),
            rejection: MergeRejection::Refused("branch protection".into()),
        });
        assert!(
            out[0].starts_with("record a merging -> needs-human"),
            "{out:?}"
        );
        assert_eq!(
            out[1..],
            ["clean a", "record b approved -> merging r2 @20", "merge b"],
            "the base did not move: b keeps its reading and merges"
        );

        let mut h = two_in_one_lane();
        let out = h.send(Event::StepFailed {
            squad: id("a"),
            failure: StepFailure::new(FailureKind::Transient, "merge PR #7"),
        });
        assert!(out[0].starts_with("retry a #2"), "{out:?}");
        assert_eq!(out.len(), 1, "a merge tried again keeps its lane: {out:?}");
        assert_eq!(lane_position(&h, "b"), Some(1));
    }

    #[test]
    fn a_rebase_during_the_merge_lane_leaves_it_and_lets_the_next_squad_merge() {
        // The lane holder must be rebased: it leaves the lane and the next squad merges.
        let mut h = two_in_one_lane();
        let out = h.send(Event::MergeRejected {
            squad: id("a"),
            rejection: MergeRejection::NeedsRebase(RebaseReason::Behind),
        });
        assert_eq!(
            out,
            [
                "record a merging -> verifying r2 @20",
                "verify a rebase Behind",
                "record b approved -> merging r2 @20",
                "merge b"
            ]
        );
        assert_eq!(lane_position(&h, "a"), None);
        // Rebased, verified and approved again, it queues behind b.
        h.send(Event::Verified {
            squad: id("a"),
            outcome: Verification::Passed,
        });
        h.send(reviews("a", 2, APPROVED, APPROVED));
        assert_eq!(
            h.send(decided("a", GateDecision::Merge)),
            Vec::<String>::new()
        );
        assert_eq!(lane_position(&h, "a"), Some(1));

        // A squad waiting in the lane that must be rebased leaves it; the lane holder's
        // merge then re-checks nobody.
        let mut h = two_in_one_lane();
        assert_eq!(
            h.send(Event::RebaseRequired {
                squad: id("b"),
                reason: RebaseReason::Conflicts,
            }),
            [
                "record b approved -> verifying r2 @20",
                "verify b rebase Conflicts"
            ]
        );
        assert_eq!(lane_position(&h, "b"), None);
        let out = h.send(Event::Merged {
            squad: id("a"),
            sha: CommitSha::new("feed"),
        });
        assert_eq!(out, ["record a merging -> merged r2 @21", "clean a"]);
    }

    #[test]
    fn a_merge_result_failing_the_tests_is_a_ci_fix_round_on_the_rebased_branch_never_a_merge() {
        let mut h = two_in_one_lane();
        let fails = || Event::MergeRejected {
            squad: id("a"),
            rejection: MergeRejection::MergeFailsTests("`make test` fails: test_total".into()),
        };
        assert_eq!(
            h.send(fails()),
            [
                "note a ci-fix r1 []",
                "record a merging -> verifying r2 @20",
                "verify a rebase MergeFailsTests",
                "record b approved -> merging r2 @20",
                "merge b"
            ],
            "a fixes its branch brought up to date; the lane goes on with b"
        );
        h.send(Event::Merged {
            squad: id("b"),
            sha: CommitSha::new("feed"),
        });
        // Each fix is verified, reviewed in the same round and merged through the lane again,
        // until the CI-fix rounds are spent.
        let mut again = || {
            h.send(Event::Verified {
                squad: id("a"),
                outcome: Verification::Passed,
            });
            h.send(reviews("a", 2, APPROVED, APPROVED));
            let out = h.send(decided("a", GateDecision::Merge));
            assert_eq!(out[1..], ["merge a"], "{out:?}");
            h.send(fails())
        };
        let out = again();
        assert_eq!(out[0], "note a ci-fix r2 []", "round 2 of 2, noted first");
        assert_eq!(out[2], "verify a rebase MergeFailsTests");
        let out = again();
        assert!(
            out[0].starts_with("record a merging -> needs-human")
                && out[0].contains(
                    "the PR merged with the current main fails the test command and 2 of 2 CI-fix \
                 rounds are spent"
                )
                && out[0].contains("test_total"),
            "{out:?}"
        );
    }

    #[test]
    fn a_cancelled_squad_leaves_its_lane() {
        let mut h = two_in_one_lane();
        h.send(Event::CancelRequested {
            target: CancelTarget::Squad(id("b")),
        });
        assert_eq!(lane_position(&h, "b"), None);
        let out = h.send(Event::CancelRequested {
            target: CancelTarget::Squad(id("a")),
        });
        assert_eq!(out[1..], ["stop a", "clean a", "finished run: 2 cancelled"]);
    }

    #[test]
    fn a_webhook_during_a_gate_read_asks_again_right_after_that_read() {
        let mut h = Harness::new(1);
        h.admit(vec![on_main("a")]);
        h.drive("a", "approved");
        let review = GateTarget::PullRequest {
            repo: shop(),
            pr: pr_of("a"),
        };
        assert_eq!(h.scheduler.concerned_by(&review), [id("a")]);
        assert_eq!(
            h.send(changed(review.clone())),
            Vec::<String>::new(),
            "the gate is being read: no second read at the same time"
        );
        assert_eq!(
            h.send(decided("a", pending_check())),
            ["gate a"],
            "the read may have missed the change: read again at once"
        );
        assert_eq!(
            h.send(decided("a", pending_check())),
            Vec::<String>::new(),
            "nothing new arrived: wait"
        );
        assert_eq!(
            h.send(changed(review)),
            ["gate a"],
            "a waiting gate is read at once"
        );
    }

    #[test]
    fn a_webhook_asks_again_only_the_squads_whose_pr_it_names() {
        let mut h = Harness::new(2);
        h.admit(vec![on_main("a"), on_main("b")]);
        h.drive("a", "approved");
        h.drive("b", "approved");
        h.send(decided("a", pending_check()));
        h.send(Event::GateDecided {
            squad: id("b"),
            head: CommitSha::new("b0b0"),
            decision: pending_check(),
        });
        let asked = |h: &mut Harness, target: GateTarget| h.send(changed(target));
        let other_repo = RepoRef::new("acme", "elsewhere");
        assert_eq!(
            asked(
                &mut h,
                GateTarget::PullRequest {
                    repo: other_repo.clone(),
                    pr: pr_of("a")
                }
            ),
            Vec::<String>::new(),
            "the same number in another repository"
        );
        assert_eq!(
            asked(
                &mut h,
                GateTarget::Commit {
                    repo: shop(),
                    sha: CommitSha::new("b0b0")
                }
            ),
            ["gate b"],
            "a check on b's head as the gate read it"
        );
        h.send(decided("b", pending_check()));
        assert_eq!(
            asked(
                &mut h,
                GateTarget::Branch {
                    repo: shop(),
                    branch: "eng-a".into()
                }
            ),
            ["gate a"],
            "a push to a's branch"
        );
        h.send(decided("a", pending_check()));
        assert_eq!(
            asked(
                &mut h,
                GateTarget::Branch {
                    repo: shop(),
                    branch: "main".into()
                }
            ),
            ["gate a", "gate b"],
            "a push to their base concerns both"
        );
        h.send(decided("a", GateDecision::Merge));
        assert_eq!(
            h.scheduler.concerned_by(&GateTarget::PullRequest {
                repo: shop(),
                pr: pr_of("a")
            }),
            Vec::<SquadId>::new(),
            "a merging squad's gate is not asked again"
        );
    }

    #[test]
    fn uncomputed_mergeability_is_read_again_after_1_2_4_8_seconds_then_the_normal_interval() {
        let mut h = Harness::new(1);
        h.admit(vec![on_main("a")]);
        h.drive("a", "approved");
        let mut waits = Vec::new();
        for _ in 0..6 {
            assert_eq!(
                h.send(decided("a", GateDecision::AskAgainShortly)),
                Vec::<String>::new()
            );
            let deadline = h.scheduler.next_deadline().expect("a read is due later");
            waits.push(deadline.as_millis() - h.now);
            h.now = deadline.as_millis() - 1;
            assert_eq!(h.send(Event::Tick), ["gate a"]);
            assert_eq!(h.scheduler.next_deadline(), None, "the read is in flight");
        }
        assert_eq!(waits, [1000, 2000, 4000, 8000, 30_000, 30_000]);

        // Another answer in between starts the short waits afresh.
        h.send(decided("a", pending_check()));
        assert_eq!(
            h.scheduler.next_deadline().unwrap().as_millis() - h.now,
            30_000
        );
        h.now += 30_000;
        h.send(Event::Tick);
        h.send(decided("a", GateDecision::AskAgainShortly));
        assert_eq!(
            h.scheduler.next_deadline().unwrap().as_millis() - h.now,
            1000
        );
    }

    #[test]
    fn the_live_view_learns_why_the_gate_waits_from_the_scheduler() {
        let h = two_in_one_lane();
        let b = h.scheduler.squad(&id("b")).unwrap();
        assert_eq!((b.lane_position, b.gate), (Some(1), None));

        let mut h = Harness::new(2);
        h.admit(vec![on_main("a"), on_main("b")]);
        h.drive("a", "approved");
        h.drive("b", "approved");
        h.send(decided("a", GateDecision::Merge));
        h.send(decided("b", GateDecision::AskAgainShortly));
        let b = h.scheduler.squad(&id("b")).unwrap();
        assert_eq!(b.lane_position, None);
        assert_eq!(b.gate, Some(&GateDecision::AskAgainShortly));
    }

    #[test]
    fn squads_merging_before_a_restart_hold_their_lane_again() {
        let persisted = |name: &str, phase: Phase| PersistedSquad {
            run: RunId::new("run"),
            spec: on_main(name),
            phase,
            round: 1,
            pr: Some(pr_of(name)),
            ci_fix_rounds: 0,
            conflict_rounds: 0,
        };
        let squads = vec![
            persisted("a", Phase::Merging),
            persisted("b", Phase::Merging),
            persisted("c", Phase::Approved),
        ];
        let (mut scheduler, commands) = Scheduler::restore(
            SchedulerConfig::default(),
            squads,
            Timestamp::from_millis(1),
        )
        .unwrap();
        assert_eq!(
            show(&commands),
            ["merge a", "gate c"],
            "b's merge waits for a's to settle"
        );
        let out = scheduler
            .handle(
                Event::GateDecided {
                    squad: id("c"),
                    head: head(),
                    decision: GateDecision::Merge,
                },
                Timestamp::from_millis(2),
            )
            .unwrap();
        assert!(out.is_empty(), "{:?}", show(&out));
        let out = scheduler
            .handle(
                Event::Merged {
                    squad: id("a"),
                    sha: CommitSha::new("feed"),
                },
                Timestamp::from_millis(3),
            )
            .unwrap();
        assert_eq!(
            show(&out),
            ["record a merging -> merged r1 @3", "clean a", "merge b"],
            "c waits in the lane behind b, unchanged"
        );
        assert_eq!(scheduler.squad(&id("c")).unwrap().lane_position, Some(1));
    }
}
