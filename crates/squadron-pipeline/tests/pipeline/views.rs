//! The live view of a run as the runtime knows it: which agents are in a turn, what a
//! blocked squad and an approved one wait for; and the gate's decisions as the squad's event
//! log keeps them, one entry per change rather than one per read.

use std::time::Duration;

use serde_json::Value;
use squadron_core::gate::{CommitStatus, GateBlocker, StatusState};
use squadron_core::{IssueKey, Phase, Role};
use squadron_pipeline::{Progress, SquadView, Waiting};
use tokio::sync::watch;

use crate::runs::{finish, start};
use crate::support::{ReviewScript, URL, World, issue};

const LIMIT: Duration = Duration::from_secs(180);

fn squad<'a>(progress: &'a Progress, issue: &str) -> &'a SquadView {
    find(progress, issue).unwrap_or_else(|| panic!("{issue} is in the view: {progress:#?}"))
}

fn find<'a>(progress: &'a Progress, issue: &str) -> Option<&'a SquadView> {
    progress
        .squads
        .iter()
        .find(|squad| squad.issue.as_str() == issue)
}

/// The view once `ready` holds for it.
async fn until(
    progress: &mut watch::Receiver<Progress>,
    what: &str,
    ready: impl Fn(&Progress) -> bool,
) -> Progress {
    let seen = tokio::time::timeout(LIMIT, progress.wait_for(|progress| ready(progress)))
        .await
        .map(|seen| seen.map(|seen| seen.clone()));
    match seen {
        Ok(seen) => seen.expect("the runtime keeps running"),
        Err(_) => panic!("{what}: not seen in time: {:#?}", progress.borrow()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_view_says_who_is_at_work_and_what_each_squad_waits_for() {
    let world = World::new(vec![issue(1, &[]), issue(2, &[1])], ReviewScript::default()).await;
    // Hold every model call, so agents are caught mid-turn.
    let permits = world.gate.available_permits();
    world.gate.forget_permits(permits);
    let mut settings = world.settings("live-view");
    settings.required_checks = vec!["ci".to_owned()];
    let running = start(&world, settings);
    let run = running.handle.start_run(URL).await.unwrap();
    let mut progress = running.handle.progress();

    let seen = until(&mut progress, "ENG-1's Developer at work", |progress| {
        find(progress, "ENG-1").is_some_and(|squad| squad.at_work.contains(&Role::Developer))
    })
    .await;
    assert_eq!(squad(&seen, "ENG-1").phase, Phase::Implementing);
    assert_eq!(squad(&seen, "ENG-1").waiting, None);
    let blocked = squad(&seen, "ENG-2");
    assert!(blocked.at_work.is_empty(), "{blocked:?}");
    assert_eq!(
        blocked.waiting,
        Some(Waiting::Blockers(vec![IssueKey::from("ENG-1")]))
    );
    assert_eq!(
        blocked.waiting.as_ref().map(ToString::to_string).as_deref(),
        Some("waits for ENG-1 to merge")
    );

    // Approved, but `ci` has not reported: the gate holds it, and nobody is at work.
    world.gate.add_permits(permits);
    let seen = until(&mut progress, "ENG-1 held by the gate", |progress| {
        find(progress, "ENG-1").is_some_and(|squad| matches!(squad.waiting, Some(Waiting::Gate(_))))
    })
    .await;
    let held = squad(&seen, "ENG-1");
    assert_eq!(held.phase, Phase::Approved);
    assert!(held.at_work.is_empty(), "{held:?}");
    assert_eq!(
        held.waiting,
        Some(Waiting::Gate(vec![GateBlocker::CheckMissing {
            name: "ci".to_owned()
        }]))
    );

    // The gate reads the PR again and again while `ci` is missing; then it reports green.
    for _ in 0..3 {
        tokio::time::timeout(LIMIT, world.code_host.snapshot_read.notified())
            .await
            .expect("the gate reads the PR again");
    }
    world.code_host.checks.lock().unwrap().push(CommitStatus {
        context: "ci".to_owned(),
        state: StatusState::Success,
        creator: None,
    });
    let squads = finish(running, &run).await;
    for ended in &squads {
        assert_eq!(ended.phase, Phase::Merged, "{ended:?}");
        assert!(
            ended.at_work.is_empty() && ended.waiting.is_none(),
            "{ended:?}"
        );
    }

    // ENG-1's log: the wait for `ci` once, however often the gate read it, then the merge.
    let first = squads
        .iter()
        .find(|squad| squad.issue.as_str() == "ENG-1")
        .unwrap();
    let decisions: Vec<Value> = world
        .store
        .events(&first.squad)
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event.kind == "gate-decision")
        .map(|event| serde_json::from_str(&event.payload).unwrap())
        .collect();
    assert_eq!(decisions.len(), 2, "{decisions:#?}");
    assert_eq!(decisions[0]["decision"], "blocked");
    assert_eq!(
        decisions[0]["reasons"],
        serde_json::json!(["required check `ci` has not reported on the head commit"])
    );
    assert_eq!(decisions[1]["decision"], "merge");
    assert_eq!(decisions[1]["reasons"], serde_json::json!([]));
    assert!(
        decisions.iter().all(|decision| decision["head"]
            .as_str()
            .is_some_and(|head| head.len() == 40)),
        "each decision names the head it read: {decisions:#?}"
    );
}
