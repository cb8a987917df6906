//! Three `squadron serve` replicas on one PostgreSQL store told not to share its squads
//! (`server.share_squads = false`: one runs them, the others stand by) against `squadron
//! demo --standins --issues 12`: the milestone is started through a standby's API, the daemon running the
//! squads is killed with SIGKILL mid-run, the one that takes over is paused with SIGSTOP for
//! longer than the lease and then resumed; the last one finishes the run. Every issue is
//! merged exactly once, GitHub saw one PR per issue, one review per reviewer per round and no
//! second merge, and the store's event log shows no squad written by two daemons at once.

use std::collections::BTreeMap;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::{
    Database, MILESTONE_ISSUES, REPLICA_LEASE_SECS, RUN_LIMIT, Serve, Standins,
    assert_every_issue_merged, assert_github_saw_each_issue_once, duties, events_written_by,
    github_record, replicas_store, run_view, runner, start_milestone, until, until_runner,
    writers_of,
};

/// How long the last replica may take to claim the paused one's lease: the lease, a
/// heartbeat, PostgreSQL ending the paused daemon's open transaction (5 s) and slack for a
/// loaded machine. The pause lasts until it did, so always longer than the lease.
const PAUSE: Duration = Duration::from_secs(45);

#[tokio::test]
async fn standby_replicas_merge_a_milestone_once_through_a_kill_and_a_pause_past_the_lease() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut standins = Standins::start(&["--issues", &MILESTONE_ISSUES.to_string()]);
    let database = Database::new().await;
    let store = replicas_store(&database).await;

    let mut replicas: BTreeMap<&str, Serve> = BTreeMap::new();
    replicas.insert(
        "replica-a",
        standins.serve(&database.standby_env("replica-a", REPLICA_LEASE_SECS)),
    );
    until_runner(&replicas["replica-a"], "replica-a", Duration::from_secs(60)).await;
    for id in ["replica-b", "replica-c"] {
        replicas.insert(
            id,
            standins.serve(&database.standby_env(id, REPLICA_LEASE_SECS)),
        );
    }
    until("b and c stand by", Duration::from_secs(30), || async {
        let duties = duties(&replicas["replica-a"]).await;
        (duties.get("replica-b").map(String::as_str) == Some("stands by")
            && duties.get("replica-c").map(String::as_str) == Some("stands by"))
        .then_some(())
    })
    .await;

    // Started through a standby, carried out by replica-a.
    let (run, squads) = start_milestone(&replicas["replica-b"], &standins).await;

    // Mid-run: PRs are open, the milestone is not merged.
    until("replica-a opened a PR", RUN_LIMIT, || async {
        let view = run_view(&replicas["replica-b"], &run).await;
        let squads = view["squads"].as_array().cloned().unwrap_or_default();
        squads
            .iter()
            .any(|squad| !squad["pr"].is_null())
            .then_some(())
    })
    .await;
    assert_ne!(
        run_view(&replicas["replica-b"], &run).await["finished"],
        true,
        "the kill must land mid-run"
    );
    replicas.remove("replica-a").expect("replica-a").kill();

    // Whichever standby takes over is paused once it has worked on the squads.
    let second = until("a standby takes over", Duration::from_secs(60), || async {
        let now = runner(&replicas["replica-b"]).await;
        now.filter(|id| id != "replica-a")
    })
    .await;
    let second: &str = if second == "replica-b" {
        "replica-b"
    } else {
        "replica-c"
    };
    let last: &str = if second == "replica-b" {
        "replica-c"
    } else {
        "replica-b"
    };
    until(
        &format!("{second} writes for the squads"),
        RUN_LIMIT,
        || async { (events_written_by(&store, &squads, second).await > 0).then_some(()) },
    )
    .await;
    let view = run_view(&replicas[last], &run).await;
    assert_ne!(view["finished"], true, "the pause must land mid-run");
    replicas[second].signal(Signal::SIGSTOP);
    until_runner(&replicas[last], last, PAUSE).await;
    until(
        &format!("{last} writes for the squads"),
        RUN_LIMIT,
        || async { (events_written_by(&store, &squads, last).await > 0).then_some(()) },
    )
    .await;
    let paused = replicas.remove(second).expect("the paused replica");
    paused.signal(Signal::SIGCONT);
    let (code, log) = paused.wait();
    assert_eq!(
        code,
        Some(75),
        "{second}, woken past its lease, stops:\n{}",
        log.join("\n")
    );

    // The last replica finishes the milestone.
    let finished = until("the milestone is merged", RUN_LIMIT, || async {
        let view = run_view(&replicas[last], &run).await;
        (view["finished"] == true).then_some(view)
    })
    .await;
    assert_every_issue_merged(&finished, MILESTONE_ISSUES);

    let writers_seen = writers_of(&store, &squads).await;
    assert!(
        writers_seen.contains("replica-a") && writers_seen.contains(last),
        "the killed and the last replica worked on the squads: {writers_seen:?}"
    );

    // What GitHub saw.
    let last_replica = replicas.remove(last).expect("the last replica");
    assert_eq!(last_replica.terminate(), Some(0));
    let record = github_record(&mut standins);
    assert_github_saw_each_issue_once(&record, MILESTONE_ISSUES);
}
