//! Whole runs: milestones merged in blocked-by order, the review-round cap, budgets, a long
//! failing test log handed back capped, cancellation, a restart from the store mid-run, and a
//! gate asked again by a webhook.

use std::sync::Arc;
use std::time::Duration;

use squadron_core::gate::{CommitStatus, StatusState};
use squadron_core::ports::{ChatMessage, RepoRef, Store, WorkflowTarget};
use squadron_core::{IssueKey, Phase, PrNumber, Role, RunId, SquadId, Usd};
use squadron_pipeline::{
    CancelOutcome, GateTarget, Pipeline, PipelineHandle, PipelineSettings, SquadView,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::{DISPUTE, ReviewScript, TAMPER_CALL, URL, World, issue, unrefined_issue};

const LIMIT: Duration = Duration::from_secs(180);

pub(crate) struct Running {
    pub(crate) handle: PipelineHandle,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), squadron_pipeline::PipelineError>>,
    store: Arc<squadron_store::SqlStore>,
}

pub(crate) fn start(world: &World, settings: PipelineSettings) -> Running {
    let pipeline = Pipeline::new(world.services(), settings);
    let handle = pipeline.handle();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(pipeline.run(async move {
        let _ = stopped.await;
    }));
    Running {
        handle,
        stop,
        task,
        store: world.store.clone(),
    }
}

/// Starts a run with `settings` and `failpoint` (a phase boundary, `<scope>::<phase>`)
/// armed with `actions` (`1*return`: the first squad to pass it kills the runtime); returns
/// the run once it is killed, with the failpoint disarmed again.
async fn run_until_killed(
    world: &World,
    settings: PipelineSettings,
    failpoint: &str,
    actions: &str,
) -> RunId {
    fail::cfg(failpoint, actions).unwrap();
    let running = start(world, settings);
    let run = running.handle.start_run(URL).await.unwrap();
    let killed = tokio::time::timeout(LIMIT, running.task)
        .await
        .unwrap()
        .unwrap();
    assert!(killed.is_err(), "the failpoint killed the runtime");
    fail::remove(failpoint);
    run
}

pub(crate) async fn finish(running: Running, run: &RunId) -> Vec<SquadView> {
    let squads = tokio::time::timeout(LIMIT, running.handle.wait_run(run))
        .await
        .expect("the run finishes in time")
        .expect("the runtime keeps running");
    crate::support::assert_store_agrees(&running.store, run, &squads).await;
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
    squads
}

fn view<'a>(squads: &'a [SquadView], issue: &str) -> &'a SquadView {
    squads
        .iter()
        .find(|squad| squad.issue.as_str() == issue)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_milestone_merges_every_refined_issue_in_blocked_by_order() {
    let script = ReviewScript {
        reject_first: vec!["ENG-3".to_owned()],
        ..ReviewScript::default()
    };
    let world = World::new(
        vec![
            issue(1, &[]),
            issue(2, &[1]),
            issue(3, &[]),
            unrefined_issue(4),
        ],
        script,
    )
    .await;
    let running = start(&world, world.settings("milestone"));
    let run = running.handle.start_run(URL).await.unwrap();
    let squads = finish(running, &run).await;

    for key in ["ENG-1", "ENG-2", "ENG-3"] {
        let squad = view(&squads, key);
        assert_eq!(squad.phase, Phase::Merged, "{key}: {:?}", squad.phase);
        assert!(squad.merged_sha.is_some(), "{key} has its merge commit");
        let mut approvers = squad.approved_by.clone();
        approvers.sort();
        assert_eq!(
            approvers,
            ["cr-bot", "qa-bot"],
            "{key} approved by both reviewers"
        );
        assert!(
            squad.tokens.total() > 0 && squad.cost > Usd::ZERO,
            "{key} is metered"
        );
        assert!(world.merged_file(key), "{key}'s change is on main");
        assert_eq!(world.tracker.state(key), Some(WorkflowTarget::Done));
    }
    // ENG-3 needed a fix round; squads whose base moved while they waited were rebased and
    // reviewed again within their round, which does not count toward the cap.
    assert_eq!(view(&squads, "ENG-3").round, 2);
    assert_eq!(view(&squads, "ENG-1").round, 1);
    assert_eq!(view(&squads, "ENG-2").round, 1);
    assert!(
        world
            .code_host
            .reviews
            .lock()
            .unwrap()
            .iter()
            .any(|(_, review)| {
                review.state == squadron_core::gate::ReviewState::ChangesRequested
            })
    );
    assert!(matches!(view(&squads, "ENG-4").phase, Phase::Skipped(_)));
    assert_eq!(
        world.tracker.comments_on("ENG-4").len(),
        1,
        "the skipped issue says why"
    );

    // ENG-2 is blocked by ENG-1: its squad starts only once ENG-1 merged.
    let history = world.code_host.history.lock().unwrap().clone();
    let at = |entry: &str| history.iter().position(|seen| seen == entry).unwrap();
    assert!(at("merged eng-1") < at("created eng-2"), "{history:?}");
    // Every squad's evidence was recorded: its new test fails on the base.
    let statuses = world.code_host.statuses.lock().unwrap().clone();
    assert!(
        statuses
            .iter()
            .any(|(_, status)| status.context == "squadron/evidence"
                && status.description.contains("fail on the base"))
    );
    // Worktrees of merged squads are gone.
    let records = world.store.squads_of_run(&run).await.unwrap();
    assert!(records.iter().all(|record| record.squad.worktree.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_squad_still_rejected_at_the_round_cap_needs_a_person() {
    let script = ReviewScript {
        always_reject: vec!["ENG-1".to_owned()],
        ..ReviewScript::default()
    };
    let world = World::new(vec![issue(1, &[])], script).await;
    let mut settings = world.settings("round-cap");
    settings.scheduler.max_review_rounds = 2;
    let running = start(&world, settings);
    let run = running.handle.start_run(URL).await.unwrap();
    let squads = finish(running, &run).await;

    let squad = view(&squads, "ENG-1");
    assert!(
        matches!(&squad.phase, Phase::NeedsHuman(reason) if reason.contains("round 2 of 2")),
        "{:?}",
        squad.phase
    );
    assert_eq!(squad.round, 2);
    let stored = world.store.squads_of_run(&run).await.unwrap();
    assert_eq!(
        stored[0].squad.phase, squad.phase,
        "the store keeps the scheduler's reason word for word"
    );
    assert!(world.code_host.merges.lock().unwrap().is_empty());
    let comments = world.tracker.comments_on("ENG-1");
    assert!(
        comments.iter().any(|body| body.contains("needs a person")),
        "{comments:?}"
    );
    let body = world.code_host.prs.lock().unwrap()[0].body.clone();
    assert!(body.contains("Needs a person"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_squad_over_budget_stops_before_its_next_model_call() {
    let world = World::new(vec![issue(1, &[])], ReviewScript::default()).await;
    let mut settings = world.settings("budget");
    // One reply costs $0.013: the second call of the first turn is refused.
    settings.budgets.squad = Some(Usd::from_dollars(0.01));
    let running = start(&world, settings);
    let run = running.handle.start_run(URL).await.unwrap();
    let squads = finish(running, &run).await;

    let squad = view(&squads, "ENG-1");
    assert!(
        matches!(&squad.phase, Phase::NeedsHuman(reason) if reason.contains("over budget")),
        "{:?}",
        squad.phase
    );
    assert!(
        world.code_host.prs.lock().unwrap().is_empty(),
        "no PR without finished work"
    );
    assert!(
        world
            .tracker
            .comments_on("ENG-1")
            .iter()
            .any(|body| body.contains("over budget"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_an_issue_mid_run_stops_its_squad_and_removes_its_worktree() {
    let world = World::new(vec![issue(1, &[])], ReviewScript::default()).await;
    // Hold every model call, so the squad is caught mid-turn.
    let permits = world.gate.available_permits();
    world.gate.forget_permits(permits);
    let running = start(&world, world.settings("cancel"));
    let run = running.handle.start_run(URL).await.unwrap();
    let mut progress = running.handle.progress();
    tokio::time::timeout(
        LIMIT,
        progress.wait_for(|progress| {
            progress
                .squads
                .iter()
                .any(|squad| squad.phase == Phase::Implementing)
        }),
    )
    .await
    .unwrap()
    .unwrap();

    let outcome = running
        .handle
        .cancel_issue(&IssueKey::new("ENG-1"))
        .await
        .unwrap();
    assert!(matches!(outcome, CancelOutcome::Cancelled { ref squads } if squads.len() == 1));
    let squads = finish(running, &run).await;
    assert_eq!(view(&squads, "ENG-1").phase, Phase::Cancelled);
    let again = {
        let running = start(&world, world.settings("cancel"));
        let outcome = running
            .handle
            .cancel_issue(&IssueKey::new("ENG-1"))
            .await
            .unwrap();
        let _ = running.stop.send(());
        running.task.await.unwrap().unwrap();
        outcome
    };
    assert_eq!(
        again,
        CancelOutcome::NothingToCancel,
        "an ended squad is not cancelled twice"
    );
    // The worktree is removed asynchronously after the cancel; the store says so at the end.
    let worktrees = world.dir.path().join("worktrees");
    let left: Vec<_> = std::fs::read_dir(&worktrees)
        .map(|dir| dir.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "worktrees left: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_cancels_the_model_calls_in_flight_and_the_squad_resumes_on_the_next_start() {
    let world = World::new(vec![issue(1, &[])], ReviewScript::default()).await;
    // Hold every model call: the agents wait for replies that do not come.
    let permits = world.gate.available_permits();
    world.gate.forget_permits(permits);
    let settings = world.settings("shutdown");
    assert!(settings.shutdown_grace >= Duration::from_secs(60));
    let running = start(&world, settings);
    let run = running.handle.start_run(URL).await.unwrap();
    let mut progress = running.handle.progress();
    tokio::time::timeout(
        LIMIT,
        progress.wait_for(|progress| {
            progress
                .squads
                .iter()
                .any(|squad| squad.phase == Phase::Implementing)
        }),
    )
    .await
    .unwrap()
    .unwrap();

    // The runtime stops well within its grace: the calls in flight are dropped.
    let _ = running.stop.send(());
    tokio::time::timeout(Duration::from_secs(30), running.task)
        .await
        .expect("the runtime stops without waiting for the model")
        .unwrap()
        .unwrap();

    world.gate.add_permits(permits);
    let running = start(&world, world.settings("shutdown"));
    let resumed = running.handle.start_run(URL).await.unwrap();
    assert_eq!(resumed, run, "the same URL resumes the unfinished run");
    let squads = finish(running, &run).await;
    assert_eq!(view(&squads, "ENG-1").phase, Phase::Merged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_killed_mid_review_resumes_from_the_store_without_repeating_side_effects() {
    let script = ReviewScript {
        reject_first: vec!["ENG-2".to_owned()],
        ..ReviewScript::default()
    };
    let world = World::new(
        vec![issue(1, &[]), issue(2, &[]), unrefined_issue(3)],
        script,
    )
    .await;
    let scope = "restart";
    // Kill the runtime the second time any squad enters review: one squad has a PR, a
    // review round and perhaps a merge behind it, the other is mid-flight.
    let failpoint = format!("{scope}::reviewing");
    let run = run_until_killed(&world, world.settings(scope), &failpoint, "1*off->1*return").await;

    let running = start(&world, world.settings(scope));
    let resumed = running.handle.start_run(URL).await.unwrap();
    assert_eq!(resumed, run, "the same URL resumes the unfinished run");
    let squads = finish(running, &run).await;
    for key in ["ENG-1", "ENG-2"] {
        assert_eq!(view(&squads, key).phase, Phase::Merged, "{key}");
    }
    let created = world.code_host.created.lock().unwrap().clone();
    assert_eq!(created.len(), 2, "one PR per branch: {created:?}");
    for ((pr, login, head), count) in world.code_host.review_counts() {
        assert_eq!(count, 1, "PR {pr} reviewed twice by {login} on {head}");
    }
    assert_eq!(
        world.code_host.merges.lock().unwrap().len(),
        2,
        "each PR merged once"
    );
    assert_eq!(
        world.tracker.comments_on("ENG-3").len(),
        1,
        "the skip comment is posted once"
    );
    let store: Arc<dyn Store> = world.store.clone();
    for record in store.squads_of_run(&run).await.unwrap() {
        let opened = squadron_core::effect::EffectKey::OpenPr {
            squad: record.squad.id,
        };
        let entry = world
            .store
            .journal_entry(&opened.to_string())
            .await
            .unwrap();
        if let Some(entry) = entry {
            assert_eq!(entry.status, squadron_core::ports::JournalStatus::Done);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ci_fix_rounds_a_squad_spent_still_count_after_a_restart() {
    let world = World::new(vec![issue(1, &[])], ReviewScript::default()).await;
    // `test` fails on every commit of the PR and passes on main: the PR's own failure, which
    // the fake cannot run again.
    let failing = |state| CommitStatus {
        context: "test".to_owned(),
        state,
        creator: None,
    };
    world
        .code_host
        .checks
        .lock()
        .unwrap()
        .push(failing(StatusState::Failure));
    *world.code_host.main_checks.lock().unwrap() = Some(vec![failing(StatusState::Success)]);
    let scope = "ci-fix-restart";
    let settings = || {
        let mut settings = world.settings(scope);
        settings.required_checks = vec!["test".to_owned()];
        settings.scheduler.ci_fix_rounds = 1;
        settings
    };
    // Killed when the squad is approved again after its one CI-fix round.
    let failpoint = format!("{scope}::approved");
    let run = run_until_killed(&world, settings(), &failpoint, "1*off->1*return").await;

    let running = start(&world, settings());
    assert_eq!(running.handle.start_run(URL).await.unwrap(), run);
    let squads = finish(running, &run).await;
    let phase = view(&squads, "ENG-1").phase.to_string();
    assert!(
        phase.contains("CI-fix round 1 of 1 left required check `test` failing"),
        "the round spent before the restart counts: {phase}"
    );
    let ci_fix_turns = world.models[&Role::Developer]
        .tasks()
        .iter()
        .filter(|task| task.contains("## A required check fails on the pull request"))
        .count();
    assert_eq!(ci_fix_turns, 1, "one CI-fix round in all");
    let store: Arc<dyn Store> = world.store.clone();
    let squad = store.squads_of_run(&run).await.unwrap()[0].squad.id.clone();
    let noted: Vec<u32> = store
        .events(&squad)
        .await
        .unwrap()
        .iter()
        .filter_map(|event| match &event.note {
            Some(squadron_core::event_payload::EventPayload::CiFix { round, checks }) => {
                assert_eq!(checks, &["test".to_owned()]);
                Some(*round)
            }
            _ => None,
        })
        .collect();
    assert_eq!(noted, [1], "the round is noted once, before it started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_right_after_admission_resumes_exactly_the_admitted_issues() {
    let world = World::new(
        vec![issue(1, &[]), issue(2, &[1]), unrefined_issue(3)],
        ReviewScript::default(),
    )
    .await;
    let scope = "admission";
    // Killed once the admission is recorded, before the scheduler or Linear heard of it.
    fail::cfg(format!("{scope}::admitted"), "1*return").unwrap();
    let running = start(&world, world.settings(scope));
    // The reply never comes: the runtime stops first.
    let _ = running.handle.start_run(URL).await;
    let killed = tokio::time::timeout(LIMIT, running.task)
        .await
        .unwrap()
        .unwrap();
    assert!(killed.is_err(), "the failpoint killed the runtime");
    fail::remove(format!("{scope}::admitted"));
    assert!(
        world.tracker.comments_on("ENG-3").is_empty(),
        "killed before the skip comment"
    );

    let running = start(&world, world.settings(scope));
    let run = running.handle.start_run(URL).await.unwrap();
    let squads = finish(running, &run).await;
    let store: Arc<dyn Store> = world.store.clone();
    let runs = store.runs().await.unwrap();
    assert_eq!(
        runs.len(),
        1,
        "the recorded run resumed, no second admission"
    );
    for key in ["ENG-1", "ENG-2"] {
        assert_eq!(view(&squads, key).phase, Phase::Merged, "{key}");
    }
    assert!(
        matches!(view(&squads, "ENG-3").phase, Phase::Skipped(_)),
        "{:?}",
        view(&squads, "ENG-3").phase
    );
    let created = world.code_host.created.lock().unwrap().clone();
    assert_eq!(
        created.len(),
        2,
        "no PR for the unrefined issue: {created:?}"
    );
    assert!(
        world
            .models
            .values()
            .all(|model| model.tasks().iter().all(|task| !task.contains("ENG-3"))),
        "no agent worked on the unrefined issue"
    );
    // Posted after the restart, from the comment recorded with the admission; then once.
    while world.tracker.comments_on("ENG-3").is_empty() {
        tokio::time::timeout(LIMIT, world.tracker.commented.notified())
            .await
            .expect("the skip comment is posted after the restart");
    }
    assert_eq!(world.tracker.comments_on("ENG-3").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_developer_still_cannot_rewrite_qas_test() {
    let script = ReviewScript {
        reject_first: vec!["ENG-1".to_owned()],
        ..ReviewScript::default()
    };
    let world = World::new(vec![issue(1, &[])], script).await;
    world.models[&Role::Developer]
        .tampers
        .lock()
        .unwrap()
        .push("ENG-1".to_owned());
    let scope = "qa-record";
    // Killed as the squad enters review: QA's test is committed, the record of it stored,
    // and everything the runtime held in memory is lost.
    let failpoint = format!("{scope}::reviewing");
    let run = run_until_killed(&world, world.settings(scope), &failpoint, "1*return").await;

    let running = start(&world, world.settings(scope));
    running.handle.start_run(URL).await.unwrap();
    let squads = finish(running, &run).await;
    assert_eq!(view(&squads, "ENG-1").phase, Phase::Merged);
    let store: Arc<dyn Store> = world.store.clone();
    let squad = &store.squads_of_run(&run).await.unwrap()[0].squad.id;
    let answers: Vec<String> = store
        .transcript(squad, Some(Role::Developer))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|entry| match entry.message {
            ChatMessage::Tool {
                tool_call_id,
                content,
            } if tool_call_id == TAMPER_CALL => Some(content),
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), 1, "the Developer tried once: {answers:?}");
    assert!(
        answers[0].contains("QA wrote this test in this squad and only QA may change it"),
        "the restarted squad still knows QA's files: {}",
        answers[0]
    );
    assert_eq!(
        world.file_on("main", "tests/eng-1.sh"),
        "grep -q done src/eng-1.txt",
        "QA's test is what was merged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_reevaluation_merges_a_squad_waiting_for_its_checks_without_waiting_for_a_tick() {
    let world = World::new(vec![issue(1, &[])], ReviewScript::default()).await;
    let mut settings = world.settings("reevaluate");
    // The gate would be asked again only after an hour: only the re-evaluation can merge
    // the squad within the test's time.
    settings.tick_every = Duration::from_secs(3600);
    settings.scheduler.gate_retry_after = Duration::from_secs(3600);
    settings.required_checks = vec!["ci".to_owned()];
    let running = start(&world, settings);
    let run = running.handle.start_run(URL).await.unwrap();
    let other_repo = GateTarget::PullRequest {
        repo: RepoRef::new("acme", "elsewhere"),
        pr: PrNumber(1),
    };

    // The gate reads the PR while `ci` has not reported: the squad waits.
    tokio::time::timeout(LIMIT, world.code_host.snapshot_read.notified())
        .await
        .expect("the gate reads the PR");
    world.code_host.checks.lock().unwrap().push(CommitStatus {
        context: "ci".to_owned(),
        state: StatusState::Success,
        creator: None,
    });
    assert_eq!(
        running.handle.reevaluate(other_repo).await.unwrap(),
        Vec::<SquadId>::new(),
        "a PR of another repository concerns no squad"
    );
    let asked = running
        .handle
        .reevaluate(GateTarget::PullRequest {
            repo: RepoRef::new("acme", "shop"),
            pr: PrNumber(1),
        })
        .await
        .unwrap();
    assert_eq!(
        asked.len(),
        1,
        "the waiting squad is asked again: {asked:?}"
    );

    let squads = tokio::time::timeout(Duration::from_secs(60), running.handle.wait_run(&run))
        .await
        .expect("the squad merges without waiting for the next tick")
        .unwrap();
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
    assert_eq!(view(&squads, "ENG-1").phase, Phase::Merged);
    assert_eq!(world.code_host.merges.lock().unwrap().len(), 1);

    // Once the squad ended, the same event is a no-op.
    let running = start(&world, world.settings("reevaluate"));
    let asked = running
        .handle
        .reevaluate(GateTarget::Branch {
            repo: RepoRef::new("acme", "shop"),
            branch: "eng-1".to_owned(),
        })
        .await
        .unwrap();
    assert!(asked.is_empty(), "{asked:?}");
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qas_tests_are_committed_as_qa_and_the_developers_work_as_the_developer() {
    let world = World::new(vec![issue(1, &[])], ReviewScript::default()).await;
    let running = start(&world, world.settings("authors"));
    let run = running.handle.start_run(URL).await.unwrap();
    let squads = finish(running, &run).await;
    assert_eq!(view(&squads, "ENG-1").phase, Phase::Merged);

    let commits = world.commits_on("main");
    let by = |author: &str| -> Vec<String> {
        commits
            .iter()
            .filter(|(name, _)| name == author)
            .flat_map(|(_, files)| files.clone())
            .collect()
    };
    assert_eq!(
        by("Squadron QA <qa@squadron.invalid>"),
        ["tests/eng-1.sh"],
        "{commits:?}"
    );
    assert_eq!(
        by("Squadron Developer <developer@squadron.invalid>"),
        ["src/eng-1.txt"],
        "{commits:?}"
    );
    // QA's tests come first: the Developer's commit is the head.
    assert_eq!(
        commits[0].0,
        "Squadron Developer <developer@squadron.invalid>"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developers_test_change_request_goes_to_qa_whose_change_is_committed_as_qa() {
    let world = World::new(vec![issue(1, &[])], ReviewScript::default()).await;
    world.models[&Role::Developer]
        .disputes
        .lock()
        .unwrap()
        .push("ENG-1".to_owned());
    let running = start(&world, world.settings("test-change"));
    let run = running.handle.start_run(URL).await.unwrap();
    let squads = finish(running, &run).await;
    let squad = view(&squads, "ENG-1");
    assert_eq!(squad.phase, Phase::Merged, "{:?}", squad.phase);

    // QA got one extra turn, and its task carries the Developer's request.
    let asked: Vec<String> = world.models[&Role::Qa]
        .tasks()
        .into_iter()
        .filter(|task| task.contains("The Developer asks you to change tests"))
        .collect();
    assert_eq!(asked.len(), 1, "{asked:#?}");
    assert!(
        asked[0].contains(&format!("1. `tests/eng-1.sh`: {DISPUTE}")),
        "{}",
        asked[0]
    );

    // QA's changed test is what merged, committed as QA; the Developer never touched it.
    assert_eq!(
        world.file_on("main", "tests/eng-1.sh"),
        format!("grep -q done src/eng-1.txt # {DISPUTE}")
    );
    let commits = world.commits_on("main");
    for (author, files) in &commits {
        if files.iter().any(|file| file == "tests/eng-1.sh") {
            assert_eq!(author, "Squadron QA <qa@squadron.invalid>", "{commits:?}");
        }
    }

    let store: Arc<dyn Store> = world.store.clone();
    let requested: Vec<String> = store
        .events(&squad.squad)
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event.kind == "test-change-requested")
        .map(|event| event.payload)
        .collect();
    assert_eq!(requested.len(), 1, "{requested:?}");
    assert!(requested[0].contains("tests/eng-1.sh"), "{requested:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_failing_test_log_goes_back_to_the_developer_capped_and_its_copy_goes_with_the_worktree()
 {
    let world = World::new(vec![issue(1, &[])], ReviewScript::default()).await;
    // A test that fails after some 5,000 lines of noise, its verdict on the very last line.
    world.add_to_main(&[(
        "tests/noisy.sh",
        "seq 1 5000 | sed 's/^/noise line /'\necho 'FAIL: totals differ by one cent'\nexit 1\n",
    )]);
    let mut settings = world.settings("noisy");
    settings.scheduler.verify_hand_backs = 1;
    settings.keep_worktrees_on_needs_human = false;
    let running = start(&world, settings);
    let run = running.handle.start_run(URL).await.unwrap();
    let squads = finish(running, &run).await;

    let Phase::NeedsHuman(reason) = &view(&squads, "ENG-1").phase else {
        panic!("{:?}", view(&squads, "ENG-1").phase)
    };
    assert!(
        reason.contains("FAIL: totals differ by one cent"),
        "{reason}"
    );
    let tasks = world.models[&Role::Developer].tasks();
    let retry = tasks
        .iter()
        .find(|task| task.contains("## The test command fails"))
        .expect("the failure goes back to the Developer");
    let limits = squadron_harness::OutputLimits::default();
    assert!(
        retry.len() < tasks[0].len() + limits.max_bytes + 2048,
        "the test log is capped in the prompt: {} bytes",
        retry.len()
    );
    assert!(retry.contains("noise line 1\n"), "its head is shown");
    assert!(
        retry.contains("FAIL: totals differ by one cent"),
        "its tail, with the verdict, is shown"
    );
    assert!(
        retry.contains("scratch:developer-"),
        "it says where the whole log is"
    );
    // The whole log was kept beside the worktree, and went when the worktree was removed.
    let worktrees = world.dir.path().join("worktrees");
    let left: Vec<_> = std::fs::read_dir(&worktrees)
        .map(|dir| dir.flatten().map(|entry| entry.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left beside the worktrees: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developer_that_never_finishes_leaves_the_squad_to_a_person_with_its_hand_off_and_work() {
    let world = World::new(vec![issue(1, &[])], ReviewScript::default()).await;
    world.models[&Role::Developer]
        .stalls
        .lock()
        .unwrap()
        .push("ENG-1".to_owned());
    let mut settings = world.settings("stalls");
    settings.agent_turn_limit = 3;
    settings.turn.continuations = 1;
    let running = start(&world, settings);
    let run = running.handle.start_run(URL).await.unwrap();
    let squads = finish(running, &run).await;

    let squad = view(&squads, "ENG-1");
    let Phase::NeedsHuman(reason) = &squad.phase else {
        panic!("needs a person, not {:?}", squad.phase)
    };
    assert!(
        reason.starts_with(
            "the developer agent stopped: it used all its steps (8 model calls over 2 turns) without finishing. Its hand-off:\n## Goal\nImplement ENG-1."
        ),
        "{reason}"
    );
    assert!(
        reason.ends_with("Files written in this turn (harness record): src/eng-1.txt."),
        "{reason}"
    );
    assert!(
        world
            .tracker
            .comments_on("ENG-1")
            .iter()
            .any(|body| body.contains("needs a person") && body.contains("## What is left")),
        "the issue says where the work stands"
    );
    assert!(world.code_host.prs.lock().unwrap().is_empty(), "no PR");
    // The Developer's work stays in the worktree, kept for the person.
    let worktree = world
        .dir
        .path()
        .join("worktrees")
        .join(squad.squad.as_str());
    assert_eq!(
        std::fs::read_to_string(worktree.join("src/eng-1.txt")).unwrap(),
        "done\n"
    );
    assert!(squad.tokens.total() > 0, "the turn's usage is recorded");
}
