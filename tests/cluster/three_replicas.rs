//! Three `squadron serve` replicas on one PostgreSQL store, sharing its squads as they do by
//! default, against `squadron demo --standins --issues 12`: the milestone is
//! started through one replica's API and every replica claims its share of the squads; one
//! that worked on them is killed with SIGKILL mid-run and another paused with SIGSTOP for
//! longer than the lease, then resumed. Every issue is merged exactly once, GitHub saw one PR
//! per issue, one review per reviewer per round and no second merge, and the store's event log
//! shows the squads written by more than one daemon, never a squad by two at once.

use std::collections::BTreeMap;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::{
    Database, MILESTONE_ISSUES, REPLICA_LEASE_SECS, RUN_LIMIT, Serve, Standins,
    assert_every_issue_merged, assert_github_saw_each_issue_once, duties, events_written_by,
    github_record, replicas_store, run_view, start_milestone, until, writers_of,
};

/// How long a replica stays paused: past its lease, a heartbeat of the others, and
/// PostgreSQL ending the paused daemon's open transaction (5 s).
const PAUSE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn three_replicas_share_a_milestones_squads_through_a_kill_and_a_pause_past_the_lease() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut standins = Standins::start(&["--issues", &MILESTONE_ISSUES.to_string()]);
    let database = Database::new().await;
    let store = replicas_store(&database).await;

    let mut replicas: BTreeMap<&str, Serve> = BTreeMap::new();
    for id in ["replica-a", "replica-b", "replica-c"] {
        replicas.insert(
            id,
            standins.serve(&database.env_with_lease(id, REPLICA_LEASE_SECS)),
        );
    }
    until("the replicas run", Duration::from_secs(60), || async {
        let daemons = replicas["replica-a"].get("/api/daemons").await;
        let running = daemons["daemons"]
            .as_array()
            .map(|daemons| {
                daemons
                    .iter()
                    .filter(|daemon| daemon["state"] == "running")
                    .count()
            })
            .unwrap_or_default();
        (running == 3).then_some(())
    })
    .await;

    let (run, squads) = start_milestone(&replicas["replica-b"], &standins).await;

    // The squads spread: two replicas work on them before anything is stopped.
    let working = until("two replicas work on squads", RUN_LIMIT, || async {
        let mut working = Vec::new();
        for id in ["replica-a", "replica-b", "replica-c"] {
            if events_written_by(&store, &squads, id).await > 0 {
                working.push(id);
            }
        }
        (working.len() >= 2).then_some(working)
    })
    .await;
    let shown = duties(&replicas["replica-c"]).await;
    assert!(
        shown.values().any(|duty| duty.starts_with("holds ")),
        "the daemons show the squads they hold: {shown:?}"
    );
    assert_ne!(
        run_view(&replicas["replica-c"], &run).await["finished"],
        true,
        "the kill must land mid-run"
    );
    let killed = working[0];
    let paused = working[1];
    let last = ["replica-a", "replica-b", "replica-c"]
        .into_iter()
        .find(|id| *id != killed && *id != paused)
        .expect("a third replica");
    replicas.remove(killed).expect("the killed replica").kill();
    replicas[paused].signal(Signal::SIGSTOP);
    tokio::time::sleep(PAUSE).await;
    replicas[paused].signal(Signal::SIGCONT);

    let finished = until("the milestone is merged", RUN_LIMIT, || async {
        let view = run_view(&replicas[last], &run).await;
        (view["finished"] == true).then_some(view)
    })
    .await;
    assert_every_issue_merged(&finished, MILESTONE_ISSUES);
    let writers = writers_of(&store, &squads).await;
    assert!(
        writers.contains(killed) && writers.contains(paused) && writers.len() >= 2,
        "the squads were worked on by several replicas: {writers:?}"
    );

    // The squads the killed and the paused replica held went on with other daemons, under
    // newer tokens.
    let mut taken_over = 0;
    for squad in &squads {
        let writers = store.event_writers(squad).await.expect("the event log");
        if writers
            .iter()
            .any(|writer| writer.token.is_some_and(|token| token.get() > 1))
        {
            taken_over += 1;
        }
    }
    assert!(taken_over > 0, "no squad was taken over");

    for id in [paused, last] {
        let replica = replicas.remove(id).expect("a running replica");
        assert_eq!(replica.terminate(), Some(0), "{id} stops cleanly");
    }
    let record = github_record(&mut standins);
    assert_github_saw_each_issue_once(&record, MILESTONE_ISSUES);
}
