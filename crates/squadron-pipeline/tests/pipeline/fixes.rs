//! Bug fixes: a Sentry stub diagnosed, fixed, reviewed and merged with its chat thread
//! told; a diagnosis too unsure to act on; a restart after the diagnosis; an unknown issue;
//! a chat that refuses every post; a chat that holds every post.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use squadron_core::ports::{Clock, SquadUpdate, Store, WorkflowTarget};
use squadron_core::{Phase, ReviewVerdict, Role, RunId, SquadKind};
use squadron_pipeline::{
    FixRequest, Pipeline, PipelineErrorKind, PipelineHandle, PipelineSettings, SlackOrigin,
    SquadView, time_to_merge,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::{ReviewScript, TestClock, World, sentry_stub};

const LIMIT: Duration = Duration::from_secs(180);
const PLAN: &str = "Treat a missing items list as empty in total()";
const HYPOTHESIS: &str = "has no items list when it is empty";

struct Running {
    handle: PipelineHandle,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), squadron_pipeline::PipelineError>>,
    store: Arc<squadron_store::SqlStore>,
}

fn start(world: &World, settings: PipelineSettings) -> Running {
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

async fn finish(running: Running, run: &RunId) -> SquadView {
    let mut squads = tokio::time::timeout(LIMIT, running.handle.wait_run(run))
        .await
        .expect("the fix finishes in time")
        .expect("the runtime keeps running");
    crate::support::assert_store_agrees(&running.store, run, &squads).await;
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
    assert_eq!(squads.len(), 1, "a fix run has one squad: {squads:?}");
    squads.remove(0)
}

fn from_slack(issue: &str, thread_ts: Option<&str>) -> FixRequest {
    FixRequest {
        issue: issue.to_owned(),
        requested_by: "U2CERLKJA".to_owned(),
        slack: Some(SlackOrigin {
            channel: "C024BE91L".to_owned(),
            thread_ts: thread_ts.map(str::to_owned),
        }),
    }
}

fn diagnosis_comments(world: &World, issue: &str) -> Vec<String> {
    world
        .tracker
        .comments_on(issue)
        .into_iter()
        .filter(|body| body.contains("Squadron's diagnosis"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentry_stub_is_diagnosed_fixed_and_merged_with_every_step_told_in_its_thread() {
    let world = World::new(vec![sentry_stub(7)], ReviewScript::default()).await;
    let running = start(&world, world.settings("fix-merged"));
    let run = running
        .handle
        .start_fix(from_slack("ENG-7", None))
        .await
        .unwrap();
    let again = running
        .handle
        .start_fix(from_slack("ENG-7", None))
        .await
        .unwrap();
    assert_eq!(
        again, run,
        "a second trigger answers with the unfinished fix"
    );
    let squad = finish(running, &run).await;

    assert_eq!(squad.phase, Phase::Merged, "{:?}", squad.phase);
    assert_eq!(squad.kind, SquadKind::BugFix);
    assert!(world.merged_file("ENG-7"), "the fix is on main");
    assert_eq!(world.tracker.state("ENG-7"), Some(WorkflowTarget::Done));
    let mut approvers = squad.approved_by.clone();
    approvers.sort();
    assert_eq!(approvers, ["cr-bot", "qa-bot"]);

    // The diagnostician saw the trace placed in the repository, fenced as data.
    let diagnose = world.models[&Role::Diagnostician].tasks();
    assert_eq!(diagnose.len(), 1, "diagnosed once");
    let prompt = &diagnose[0];
    assert!(prompt.contains("# Task: diagnose ENG-7"), "{prompt}");
    assert!(
        prompt.contains("/app/src/shop/cart.py:2 in total -> repository file `src/shop/cart.py`"),
        "{prompt}"
    );
    assert!(prompt.contains("-> library or runtime code"), "{prompt}");
    assert!(prompt.contains("Sentry issue: SHOP-7A"), "{prompt}");
    let frames_at = prompt.find("Frames, in the order").unwrap();
    let fence_at = prompt[..frames_at].rfind("<untrusted-data").unwrap();
    assert!(
        !prompt[fence_at..frames_at].contains("</untrusted-data"),
        "the frames are inside a fence"
    );

    // The plan stands in for the missing scenarios; QA writes a regression test.
    let developer = world.models[&Role::Developer].tasks();
    assert!(developer[0].contains(PLAN), "{}", developer[0]);
    let qa = world.models[&Role::Qa].tasks();
    assert!(
        qa[0].contains("write a regression test for the bug"),
        "{}",
        qa[0]
    );

    let comments = diagnosis_comments(&world, "ENG-7");
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(comments[0].contains("confidence: high") && comments[0].contains(PLAN));
    let body = world.code_host.prs.lock().unwrap()[0].body.clone();
    assert!(body.contains("### Diagnosis (confidence: high)"), "{body}");

    // One thread in the channel the fix was asked from, every update in it, in order.
    let posts = world.notifier.posts();
    let opening = &posts[0];
    assert!(opening.update.is_none() && opening.thread.is_none());
    assert_eq!(opening.channel, "C024BE91L");
    for post in &posts[1..] {
        assert_eq!(
            post.thread.as_deref(),
            Some(opening.ts.as_str()),
            "{post:?}"
        );
    }
    assert_eq!(
        world.notifier.update_kinds(),
        ["diagnosis", "pr-opened", "review", "review", "merged"]
    );
    let verdicts: Vec<_> = posts
        .iter()
        .filter_map(|post| match &post.update {
            Some(SquadUpdate::ReviewVerdict { verdict, round, .. }) => Some((*verdict, *round)),
            _ => None,
        })
        .collect();
    assert_eq!(verdicts, [(ReviewVerdict::Approved, 1); 2]);
    assert!(matches!(
        &posts.last().unwrap().update,
        Some(SquadUpdate::Merged { url, .. }) if url.contains("/pull/")
    ));

    // Time from trigger to merge is shown and recorded for /metrics.
    let shown = squad
        .time_to_merge
        .expect("the view shows the time to merge");
    let events = world.store.events(&squad.squad).await.unwrap();
    assert_eq!(time_to_merge(&events), Some(shown));
    let created = world.store.run(&run).await.unwrap().run.created_at;
    assert!(shown <= TestClock.now().since(created));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diagnosis_below_the_required_confidence_stops_for_a_person_without_a_pr() {
    let world = World::new(vec![sentry_stub(8)], ReviewScript::default()).await;
    *world.models[&Role::Diagnostician]
        .confidence
        .lock()
        .unwrap() = "low";
    let running = start(&world, world.settings("fix-unsure"));
    // Started from a button on a message: the squad reports in that message's thread.
    let run = running
        .handle
        .start_fix(from_slack("ENG-8", Some("1699999999.000100")))
        .await
        .unwrap();
    let squad = finish(running, &run).await;

    let Phase::NeedsHuman(reason) = &squad.phase else {
        panic!("needs a person: {:?}", squad.phase);
    };
    assert!(reason.contains("not confident enough"), "{reason}");
    assert!(reason.contains("below the required medium"), "{reason}");
    assert!(
        squad.tokens.total() > 0 && squad.cost > squadron_core::Usd::ZERO,
        "the diagnosis's spending is shown when the squad ends with it: {:?}",
        squad.tokens
    );
    assert!(
        reason.contains(HYPOTHESIS) && reason.contains(PLAN),
        "{reason}"
    );
    assert!(world.code_host.prs.lock().unwrap().is_empty(), "no PR");
    assert!(
        world.models[&Role::Developer].tasks().is_empty(),
        "nobody implements an unsure plan"
    );

    let comments = world.tracker.comments_on("ENG-8");
    assert_eq!(diagnosis_comments(&world, "ENG-8").len(), 1, "{comments:?}");
    assert!(
        comments
            .iter()
            .any(|body| body.contains("needs a person") && body.contains(HYPOTHESIS)),
        "{comments:?}"
    );
    let posts = world.notifier.posts();
    assert!(
        posts
            .iter()
            .all(|post| post.thread.as_deref() == Some("1699999999.000100")),
        "no new thread: {posts:?}"
    );
    assert_eq!(world.notifier.update_kinds(), ["diagnosis", "needs-human"]);
    assert!(matches!(
        &posts[1].update,
        Some(SquadUpdate::NeedsHuman { reason }) if reason.contains(HYPOTHESIS)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_restarted_after_the_diagnosis_neither_diagnoses_nor_posts_it_again() {
    let world = World::new(vec![sentry_stub(9)], ReviewScript::default()).await;
    let scope = "fix-restart";
    let failpoint = format!("{scope}::implementing");
    let killed = |running: Running| async move {
        // Holding `stop` keeps the runtime from being asked to shut down.
        let Running { task, stop, .. } = running;
        let stopped = tokio::time::timeout(LIMIT, task).await.unwrap().unwrap();
        assert!(stopped.is_err(), "the failpoint killed the runtime");
        drop(stop);
    };
    fail::cfg(&failpoint, "return").unwrap();
    let running = start(&world, world.settings(scope));
    let run = running
        .handle
        .start_fix(from_slack("ENG-9", None))
        .await
        .unwrap();
    killed(running).await;
    // Rewind the squad to where a kill right after the diagnosis was posted leaves it:
    // diagnosing, with the diagnosis, the comment and the thread post all recorded.
    let squad = world.store.squads_of_run(&run).await.unwrap()[0]
        .squad
        .id
        .clone();
    world
        .store
        .set_phase(
            &squad,
            &Phase::Implementing,
            &Phase::Diagnosing,
            TestClock.now(),
        )
        .await
        .unwrap();
    // This runtime resumes the diagnosis and dies entering implementation again, so the
    // next one starts from the store with nothing cached.
    killed(start(&world, world.settings(scope))).await;
    fail::remove(&failpoint);

    let running = start(&world, world.settings(scope));
    let again = running
        .handle
        .start_fix(from_slack("ENG-9", None))
        .await
        .unwrap();
    assert_eq!(
        again, run,
        "the same trigger after a restart resumes the fix"
    );
    let view = finish(running, &run).await;
    assert_eq!(view.phase, Phase::Merged, "{:?}", view.phase);
    assert_eq!(
        world.models[&Role::Diagnostician].tasks().len(),
        1,
        "diagnosed once"
    );
    assert_eq!(diagnosis_comments(&world, "ENG-9").len(), 1);
    let openings = world
        .notifier
        .posts()
        .iter()
        .filter(|post| post.update.is_none())
        .count();
    assert_eq!(openings, 1, "one thread");
    let posts = world.notifier.posts();
    let keys: std::collections::HashSet<&str> =
        posts.iter().map(|post| post.key.as_str()).collect();
    assert_eq!(keys.len(), posts.len(), "no key posted twice: {posts:?}");
    assert_eq!(
        world.notifier.update_kinds(),
        ["diagnosis", "pr-opened", "review", "review", "merged"]
    );
    // The implementation after the restart followed the plan read back from the store.
    let developer = world.models[&Role::Developer].tasks();
    assert!(!developer.is_empty());
    assert!(developer.iter().all(|task| task.contains(PLAN)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_issue_is_not_found_and_starts_nothing() {
    let world = World::new(vec![sentry_stub(1)], ReviewScript::default()).await;
    let running = start(&world, world.settings("fix-unknown"));
    let error = running
        .handle
        .start_fix(from_slack("ENG-404", None))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), PipelineErrorKind::NotFound);
    assert!(error.to_string().contains("ENG-404"), "{error}");
    assert!(
        world.store.runs().await.unwrap().is_empty(),
        "no run recorded"
    );
    assert!(running.handle.snapshot().squads.is_empty());
    assert!(world.notifier.posts().is_empty());
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_for_an_issue_a_milestone_squad_works_on_is_refused_saying_what_to_do() {
    let world = World::new(vec![crate::support::issue(1, &[])], ReviewScript::default()).await;
    let running = start(&world, world.settings("fix-busy"));
    let run = running.handle.start_run(crate::support::URL).await.unwrap();
    let error = running
        .handle
        .start_fix(from_slack("ENG-1", None))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), PipelineErrorKind::Invalid);
    let squad = &running.handle.snapshot().squads_of(&run)[0];
    assert_eq!(
        error.to_string(),
        format!(
            "start a fix squad for ENG-1: squad {} of run {run} is working on the issue \
             already; cancel it first to fix the issue as a bug",
            squad.squad
        )
    );
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_that_refuses_every_post_does_not_stop_the_fix() {
    let world = World::new(vec![sentry_stub(5)], ReviewScript::default()).await;
    world.notifier.failing.store(true, Ordering::Relaxed);
    // Started from the command line: the squad reports in the configured channel.
    let mut settings = world.settings("fix-chat-down");
    settings.notify_channel = Some("#squadron".to_owned());
    let running = start(&world, settings);
    let run = running
        .handle
        .start_fix(FixRequest {
            issue: "ENG-5".to_owned(),
            requested_by: "cli".to_owned(),
            slack: None,
        })
        .await
        .unwrap();
    let squad = finish(running, &run).await;

    assert_eq!(squad.phase, Phase::Merged, "{:?}", squad.phase);
    assert!(world.notifier.posts().is_empty());
    let store: Arc<dyn Store> = world.store.clone();
    let failures: Vec<String> = store
        .events(&squad.squad)
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event.kind == "notify-failed")
        .map(|event| event.payload)
        .collect();
    assert!(
        failures.iter().any(|payload| payload.contains("#squadron")),
        "the failed posts are in the squad's log: {failures:?}"
    );
}

/// Slack takes about one post a second per channel and may be slow to answer: the squad's
/// steps never wait for the chat. With every post held, the fix still goes all the way to
/// its merge; once the chat answers, the thread gets every update, once and in order,
/// before the runtime stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_that_holds_every_post_neither_holds_the_fix_back_nor_loses_an_update() {
    let world = World::new(vec![sentry_stub(6)], ReviewScript::default()).await;
    world.notifier.hold();
    let running = start(&world, world.settings("fix-chat-held"));
    let run = running
        .handle
        .start_fix(from_slack("ENG-6", None))
        .await
        .unwrap();
    let mut squads = tokio::time::timeout(LIMIT, running.handle.wait_run(&run))
        .await
        .expect("the fix finishes in time")
        .expect("the runtime keeps running");
    let squad = squads.remove(0);

    assert_eq!(squad.phase, Phase::Merged, "{:?}", squad.phase);
    assert!(
        world.notifier.posts().is_empty(),
        "the fix merged while the chat held every post"
    );
    assert_eq!(
        world.notifier.waited.load(Ordering::SeqCst),
        1,
        "one post at a time waits for the chat: the squad's posts queue behind it"
    );

    world.notifier.release();
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
    let posts = world.notifier.posts();
    let opening = &posts[0];
    assert!(opening.update.is_none() && opening.thread.is_none());
    assert!(
        posts[1..]
            .iter()
            .all(|post| post.thread.as_deref() == Some(opening.ts.as_str())),
        "{posts:?}"
    );
    assert_eq!(
        world.notifier.update_kinds(),
        ["diagnosis", "pr-opened", "review", "review", "merged"]
    );
    let keys: std::collections::BTreeSet<&str> =
        posts.iter().map(|post| post.key.as_str()).collect();
    assert_eq!(keys.len(), posts.len(), "no post made twice: {posts:?}");
}
