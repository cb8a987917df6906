//! Three `squadron serve` replicas on one PostgreSQL store against `squadron demo --standins
//! --issues 12`: the milestone is started through a standby's API, the daemon running the
//! squads is killed with SIGKILL mid-run, the one that takes over is paused with SIGSTOP for
//! longer than the lease and then resumed; the last one finishes the run. Every issue is
//! merged exactly once, GitHub saw one PR per issue, one review per reviewer per round and no
//! second merge, and the store's event log shows no squad written by two daemons at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use nix::sys::signal::Signal;
use squadron_core::SquadId;
use squadron_store::{SqlStore, StoreLocation};

use crate::support::{Database, Serve, Standins, duties, runner, until, until_runner};

/// The milestone's size.
const ISSUES: usize = 12;
/// The replicas' lease: short, so the test takes minutes, yet long enough that a loaded
/// two-core machine does not miss a heartbeat (a third of it).
const LEASE_SECS: &str = "6";
/// How long the last replica may take to claim the paused one's lease: the lease, a
/// heartbeat, PostgreSQL ending the paused daemon's open transaction (5 s) and slack for a
/// loaded machine. The pause lasts until it did, so always longer than the lease.
const PAUSE: Duration = Duration::from_secs(45);
/// How long the whole milestone may take on a loaded machine.
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// The run as `serve` shows it.
async fn run_view(serve: &Serve, run: &str) -> serde_json::Value {
    serve.get(&format!("/api/runs/{run}")).await
}

/// How many events of `squads` the daemon `holder` wrote.
async fn events_written_by(store: &SqlStore, squads: &[SquadId], holder: &str) -> usize {
    let mut written = 0;
    for squad in squads {
        if let Ok(writers) = store.event_writers(squad).await {
            written += writers
                .iter()
                .filter(|writer| {
                    writer
                        .holder
                        .as_ref()
                        .is_some_and(|id| id.as_str() == holder)
                })
                .count();
        }
    }
    written
}

#[tokio::test]
async fn three_replicas_merge_a_milestone_once_through_a_kill_and_a_pause_past_the_lease() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut standins = Standins::start(&["--issues", &ISSUES.to_string()]);
    let database = Database::new().await;
    let url = database
        .url
        .clone()
        .expect("the replica test needs PostgreSQL: set SQUADRON_TEST_POSTGRES_URL");
    let store = SqlStore::open(&StoreLocation::Postgres(url))
        .await
        .expect("open the replicas' store");

    let mut replicas: BTreeMap<&str, Serve> = BTreeMap::new();
    replicas.insert(
        "replica-a",
        standins.serve(&database.env_with_lease("replica-a", LEASE_SECS)),
    );
    until_runner(&replicas["replica-a"], "replica-a", Duration::from_secs(60)).await;
    for id in ["replica-b", "replica-c"] {
        replicas.insert(id, standins.serve(&database.env_with_lease(id, LEASE_SECS)));
    }
    until("b and c stand by", Duration::from_secs(30), || async {
        let duties = duties(&replicas["replica-a"]).await;
        (duties.get("replica-b").map(String::as_str) == Some("stands by")
            && duties.get("replica-c").map(String::as_str) == Some("stands by"))
        .then_some(())
    })
    .await;

    // Started through a standby, carried out by replica-a.
    let (status, started) = replicas["replica-b"]
        .post(
            "/api/runs",
            &serde_json::json!({ "url": standins.project_url() }),
        )
        .await;
    assert_eq!(status, 202, "{started:#}");
    let run = started["run_id"].as_str().expect("a run id").to_owned();
    let squads: Vec<SquadId> = run_view(&replicas["replica-b"], &run).await["squads"]
        .as_array()
        .expect("squads")
        .iter()
        .map(|squad| SquadId::from(squad["id"].as_str().expect("a squad id")))
        .collect();
    assert_eq!(squads.len(), ISSUES, "every generated issue is admitted");

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
    let phases: BTreeMap<String, String> = finished["squads"]
        .as_array()
        .expect("squads")
        .iter()
        .map(|squad| {
            (
                squad["issue"].as_str().unwrap_or_default().to_owned(),
                squad["phase"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(phases.len(), ISSUES, "{finished:#}");
    let unmerged: Vec<&serde_json::Value> = finished["squads"]
        .as_array()
        .expect("squads")
        .iter()
        .filter(|squad| squad["phase"] != "merged")
        .collect();
    assert!(
        unmerged.is_empty(),
        "every admitted issue merged: {phases:#?}\nthe others, with why: {unmerged:#?}"
    );

    // The event log: every event carries its writer and token; a squad's tokens never go
    // back, and each token is one daemon's, so no two daemons wrote one squad at once.
    let mut writers_seen = BTreeSet::new();
    for squad in &squads {
        let writers = store.event_writers(squad).await.expect("the event log");
        let mut newest = 0;
        let mut holders: BTreeMap<u64, String> = BTreeMap::new();
        for writer in &writers {
            let holder = writer
                .holder
                .as_ref()
                .unwrap_or_else(|| panic!("event {} of {squad} has no writer", writer.seq));
            let token = writer
                .token
                .unwrap_or_else(|| panic!("event {} of {squad} has no token", writer.seq))
                .get();
            assert!(
                token >= newest,
                "event {} of {squad} was written with token {token} after token {newest}: \
                 {writers:#?}",
                writer.seq
            );
            newest = token;
            let first = holders
                .entry(token)
                .or_insert_with(|| holder.as_str().to_owned());
            assert_eq!(
                first,
                holder.as_str(),
                "token {token} belongs to one daemon"
            );
            writers_seen.insert(holder.as_str().to_owned());
        }
    }
    assert!(
        writers_seen.contains("replica-a") && writers_seen.contains(last),
        "the killed and the last replica worked on the squads: {writers_seen:?}"
    );

    // What GitHub saw.
    let last_replica = replicas.remove(last).expect("the last replica");
    assert_eq!(last_replica.terminate(), Some(0));
    let record_path = standins.record_path();
    let (code, stderr) = standins.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&record_path).expect("the stand-ins write what GitHub saw"),
    )
    .expect("standins.json is JSON");
    let pulls = record["pulls"].as_array().expect("pulls");
    let branches: BTreeSet<&str> = pulls
        .iter()
        .map(|pull| pull["head_ref"].as_str().expect("a head branch"))
        .collect();
    assert_eq!(pulls.len(), ISSUES, "one PR per issue: {record:#}");
    assert_eq!(branches.len(), ISSUES, "one PR per issue: {record:#}");
    for pull in pulls {
        assert_eq!(pull["merged"], true, "{pull:#}");
        let mut reviews: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for review in pull["reviews"].as_array().expect("reviews") {
            *reviews
                .entry((
                    review["user"].as_str().expect("a login"),
                    review["commit_id"].as_str().expect("a commit"),
                ))
                .or_default() += 1;
        }
        assert!(
            reviews.values().all(|count| *count == 1),
            "one review per reviewer per round (head commit): {pull:#}"
        );
        let reviewers: BTreeSet<&str> = reviews.keys().map(|(user, _)| *user).collect();
        assert_eq!(
            reviewers,
            BTreeSet::from(["squadron-code-reviewer", "squadron-qa-specialist"]),
            "{pull:#}"
        );
    }
    let merges = record["merges"].as_array().expect("merges");
    let merged: BTreeSet<u64> = merges
        .iter()
        .map(|merge| merge["number"].as_u64().expect("a PR number"))
        .collect();
    assert_eq!(merges.len(), ISSUES, "no second merge: {record:#}");
    assert_eq!(merged.len(), ISSUES, "every PR merged once: {record:#}");
}
