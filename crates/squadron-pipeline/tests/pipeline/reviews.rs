//! Reviews with memory: a reviewer's next round goes on in its own conversation and shows it
//! its findings, each marked by whether the code changed since, and the diff since the commit
//! it reviewed, also after a restart (the conversation is kept in the store); the Developer's
//! fix round goes on in its conversation of the implementation with the reviews, and its
//! answer joins the PR body beside its first summary.

use std::time::Duration;

use squadron_core::ports::ChatMessage;
use squadron_core::{Phase, Role, RunId};
use squadron_pipeline::{Pipeline, PipelineHandle, PipelineSettings, SquadView};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::{ReviewScript, URL, World, issue};

const LIMIT: Duration = Duration::from_secs(180);

struct Running {
    handle: PipelineHandle,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), squadron_pipeline::PipelineError>>,
    store: std::sync::Arc<squadron_store::SqlStore>,
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

async fn finish(running: Running, run: &RunId) -> Vec<SquadView> {
    let squads = tokio::time::timeout(LIMIT, running.handle.wait_run(run))
        .await
        .expect("the run finishes in time")
        .expect("the runtime keeps running");
    crate::support::assert_store_agrees(&running.store, run, &squads).await;
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
    squads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_is_shown_its_own_findings_and_the_change_since_in_its_next_round() {
    let script = ReviewScript {
        reject_first: vec!["ENG-1".to_owned()],
        ..ReviewScript::default()
    };
    let world = World::new(vec![issue(1, &[])], script).await;
    let running = start(&world, world.settings("memory"));
    let run = running.handle.start_run(URL).await.unwrap();
    let squads = finish(running, &run).await;
    assert_eq!(squads[0].phase, Phase::Merged, "{:?}", squads[0].phase);

    let reviewer = world.models[&Role::CodeReviewer].tasks();
    assert_eq!(reviewer.len(), 2, "one review per round");
    assert!(
        reviewer[0].starts_with("# Task: review the code of ENG-1 (round 1 of"),
        "{}",
        reviewer[0]
    );
    let second = &reviewer[1];
    for expected in [
        "# Review again: round 2 of",
        "since your review of `",
        "(round 1: changes_requested)",
        "- `src/eng-1.txt` line 1: changed since: check the change addresses it",
        "Files changed since `",
        "`src/eng-1.txt`",
        "+fixed",
        "Go through your previous review",
    ] {
        assert!(
            second.contains(expected),
            "missing {expected:?} in:\n{second}"
        );
    }
    // The Developer answered the round with the summary the reviewer already read: it is not
    // sent again.
    assert!(
        !second.contains("## The Developer's latest summary"),
        "{second}"
    );
    // The second review goes on in the first one's conversation: every message the first
    // review sent comes first, unchanged, so a provider's prompt cache serves it.
    let openings = world.models[&Role::CodeReviewer].openings();
    let (first, next) = (&openings[0], &openings[1]);
    assert_eq!(next[..first.len()], first[..], "{next:#?}");
    assert!(
        next.iter().any(|message| matches!(
            message,
            ChatMessage::Assistant { tool_calls, .. }
                if tool_calls.iter().any(|call| call.name == "submit_review")
        )),
        "the first review is part of the second's conversation: {next:#?}"
    );

    let specialist = world.models[&Role::QaSpecialist].tasks();
    assert!(
        specialist[1].contains("(round 1: approved)")
            && specialist[1].contains("## Evidence: the new tests on base and on head"),
        "{}",
        specialist[1]
    );

    // The PR keeps the Developer's summary of the implementation and adds its answer to the
    // round's review.
    let body = world.code_host.prs.lock().unwrap()[0].body.clone();
    for expected in [
        "### Summary\ndeveloper work on ENG-1\n",
        "### Changes since review round 1\ndeveloper work on ENG-1\n",
    ] {
        assert!(body.contains(expected), "missing {expected:?} in:\n{body}");
    }
    assert!(!body.contains("review round 2"), "{body}");

    // The Developer's fix round goes on in its conversation of the implementation.
    let fix = fix_goes_on_in_the_implementation(&world);
    for expected in [
        "## Review by the code-reviewer: changes_requested",
        "Please name the file better.",
        "### `src/eng-1.txt` line 1",
        "Say more.",
    ] {
        assert!(fix.contains(expected), "missing {expected:?} in:\n{fix}");
    }
}

/// The Developer's fix round: every message its implementation sent comes first, unchanged,
/// then the reviews, without the issue it was given already. Returns the fix round's task.
fn fix_goes_on_in_the_implementation(world: &World) -> String {
    let developer = world.models[&Role::Developer].tasks();
    let (index, fix) = developer
        .iter()
        .enumerate()
        .find(|(_, task)| task.contains("address the reviews"))
        .expect("the Developer had a fix round");
    assert!(
        fix.starts_with("# Task: address the reviews of ENG-1 (round 1 of"),
        "{fix}"
    );
    assert!(!fix.contains("Scenario: feature 1 works"), "{fix}");
    let openings = world.models[&Role::Developer].openings();
    let (implementing, fixing) = (&openings[index - 1], &openings[index]);
    assert!(
        matches!(&implementing[1], ChatMessage::User { content } if content.starts_with("# Task: implement ENG-1")),
        "{implementing:#?}"
    );
    assert_eq!(
        fixing[..implementing.len()],
        implementing[..],
        "{fixing:#?}"
    );
    assert!(
        fixing.iter().any(|message| matches!(
            message,
            ChatMessage::Assistant { tool_calls, .. }
                if tool_calls.iter().any(|call| call.name == "finish")
        )),
        "the implementation is part of the fix round's conversation: {fixing:#?}"
    );
    fix.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_each_agent_goes_on_with_the_conversation_it_kept() {
    let script = ReviewScript {
        reject_first: vec!["ENG-1".to_owned()],
        ..ReviewScript::default()
    };
    let world = World::new(vec![issue(1, &[])], script).await;
    let scope = "memory-restart";
    let failpoint = format!("{scope}::fixing");
    fail::cfg(&failpoint, "return").unwrap();
    let running = start(&world, world.settings(scope));
    let run = running.handle.start_run(URL).await.unwrap();
    // Holding `stop` keeps the runtime from being asked to shut down.
    let Running { task, stop, .. } = running;
    let stopped = tokio::time::timeout(LIMIT, task).await.unwrap().unwrap();
    assert!(stopped.is_err(), "the failpoint killed the runtime");
    drop(stop);
    fail::remove(&failpoint);

    let running = start(&world, world.settings(scope));
    let resumed = running.handle.start_run(URL).await.unwrap();
    assert_eq!(resumed, run, "the same URL resumes the unfinished run");
    let squads = finish(running, &run).await;
    assert_eq!(squads[0].phase, Phase::Merged, "{:?}", squads[0].phase);
    // The conversations outlived the runtime in the store: the Developer's fix round goes on
    // in its implementation, and round 2 of each review in the reviewer's round 1.
    fix_goes_on_in_the_implementation(&world);
    for role in [Role::CodeReviewer, Role::QaSpecialist] {
        let reviewer = world.models[&role].tasks();
        assert_eq!(reviewer.len(), 2, "one review per round");
        assert!(
            reviewer[1].starts_with("# Review again: round 2 of"),
            "{}",
            reviewer[1]
        );
        let openings = world.models[&role].openings();
        assert!(
            openings[1].iter().any(|message| matches!(
                message,
                ChatMessage::Assistant { tool_calls, .. }
                    if tool_calls.iter().any(|call| call.name == "submit_review")
            )),
            "the {role}'s first review is part of its second: {:#?}",
            openings[1]
        );
    }
}

/// The merge train: two squads of one base are approved on their first heads. The first
/// merges; this code host requires up-to-date branches, so the second is rebased onto the
/// new base. Its own change came through identical, so each reviewer identity renews its
/// approval on the new head, naming the commit it approved, without a model call; the
/// second then merges on those approvals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_rebase_renews_both_approvals_without_a_model_call() {
    let world = World::new(vec![issue(1, &[]), issue(2, &[])], ReviewScript::default()).await;
    let running = start(&world, world.settings("train"));
    let run = running.handle.start_run(URL).await.unwrap();
    let squads = finish(running, &run).await;
    for squad in &squads {
        assert_eq!(
            squad.phase,
            Phase::Merged,
            "{}: {:?}",
            squad.issue,
            squad.phase
        );
    }

    for role in [Role::CodeReviewer, Role::QaSpecialist] {
        assert_eq!(
            world.models[&role].tasks().len(),
            2,
            "the {role} model reviewed each squad once"
        );
    }
    let reviews = world.code_host.reviews.lock().unwrap().clone();
    let merges = world.code_host.merges.lock().unwrap().clone();
    assert_eq!(merges.len(), 2);
    let (second_pr, second_head) = &merges[1];
    let renewals: Vec<_> = reviews
        .iter()
        .filter(|(pr, review)| {
            pr == second_pr
                && review
                    .body
                    .starts_with("Approval renewed without a new review")
        })
        .map(|(_, review)| review)
        .collect();
    let mut renewed_by: Vec<&str> = renewals
        .iter()
        .map(|review| review.author.as_str())
        .collect();
    renewed_by.sort_unstable();
    assert_eq!(renewed_by, ["cr-bot", "qa-bot"], "{reviews:?}");
    for renewal in &renewals {
        assert_eq!(
            renewal.commit_id.as_str(),
            second_head,
            "on the merged head"
        );
        let approved = reviews
            .iter()
            .find(|(pr, earlier)| {
                pr == second_pr
                    && earlier.author == renewal.author
                    && earlier.commit_id != renewal.commit_id
            })
            .map(|(_, earlier)| earlier.commit_id.clone())
            .expect("the model's approval of the first head");
        assert!(
            renewal.body.contains(approved.as_str()),
            "names the approved commit: {}",
            renewal.body
        );
    }
}
