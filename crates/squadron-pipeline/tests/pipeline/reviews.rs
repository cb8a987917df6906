//! Reviews with memory: a reviewer's next round shows it its own findings, each marked by
//! whether the code changed since, and the diff since the commit it reviewed; the Developer's
//! fix round carries the issue and its scenarios with the reviews, and its answer joins the
//! PR body beside its first summary.

use std::time::Duration;

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
}

fn start(world: &World, settings: PipelineSettings) -> Running {
    let pipeline = Pipeline::new(world.services(), settings);
    let handle = pipeline.handle();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(pipeline.run(async move {
        let _ = stopped.await;
    }));
    Running { handle, stop, task }
}

async fn finish(running: Running, run: &RunId) -> Vec<SquadView> {
    let squads = tokio::time::timeout(LIMIT, running.handle.wait_run(run))
        .await
        .expect("the run finishes in time")
        .expect("the runtime keeps running");
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
        !reviewer[0].contains("Your previous review"),
        "{}",
        reviewer[0]
    );
    let second = &reviewer[1];
    for expected in [
        "## Your previous review (round 1, on `",
        "`): changes_requested",
        "Please name the file better.",
        "### `src/eng-1.txt` line 1: changed since: check the change addresses it",
        "Say more.",
        "Files changed since `",
        "`src/eng-1.txt`",
        "+fixed",
        "4. This is round 2: go through your previous review above.",
    ] {
        assert!(
            second.contains(expected),
            "missing {expected:?} in:\n{second}"
        );
    }

    let specialist = world.models[&Role::QaSpecialist].tasks();
    assert!(
        specialist[1].contains("## Your previous review (round 1, on `")
            && specialist[1].contains("`): approved"),
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

    let developer = world.models[&Role::Developer].tasks();
    let fix = developer
        .iter()
        .find(|task| task.contains("address the reviews"))
        .expect("the Developer had a fix round");
    for expected in [
        "Feature 1.",
        "### AC-1",
        "Scenario: feature 1 works",
        "## Review by the code-reviewer: changes_requested",
        "Please name the file better.",
        "### `src/eng-1.txt` line 1",
        "Say more.",
    ] {
        assert!(fix.contains(expected), "missing {expected:?} in:\n{fix}");
    }
}
