//! `squadron serve` replicas on one store (PostgreSQL when `SQUADRON_TEST_POSTGRES_URL` is
//! set, each test in a schema of its own; else the stand-ins' SQLite file): one runs the
//! squads, the others serve reads, hand work to the active one, and take over when it is
//! killed or stopped; one paused past its lease is fenced out and exits when it wakes.

use std::collections::BTreeMap;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::{Database, Serve, Standins, duties, runner, until, until_runner};

/// Checks that `standby` takes work for the daemon that runs the squads, `active`: the run
/// it answers with is the one `active` recorded.
async fn hands_work_to(standby: &Serve, active: &Serve, url: &serde_json::Value) {
    let (status, started) = standby.post("/api/runs", url).await;
    assert_eq!(
        status, 202,
        "a standby takes work for the active daemon: {started:#}"
    );
    let run = started["run_id"].as_str().expect("a run id");
    let recorded = active.get(&format!("/api/runs/{run}")).await;
    assert_eq!(recorded["id"], run, "{recorded:#}");
}

#[tokio::test]
async fn a_standby_takes_over_when_the_active_daemon_is_killed_or_hands_over_on_sigterm() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let standins = Standins::start(&["--issues", "1"]);
    let database = Database::new().await;
    let url = serde_json::json!({ "url": standins.project_url() });

    let a = standins.serve(&database.standby_env_short("replica-a"));
    until_runner(&a, "replica-a", Duration::from_secs(30)).await;
    let b = standins.serve(&database.standby_env_short("replica-b"));
    hands_work_to(&b, &a, &url).await;
    assert_eq!(
        duties(&b).await,
        BTreeMap::from([
            ("replica-a".to_owned(), "runs the squads".to_owned()),
            ("replica-b".to_owned(), "stands by".to_owned()),
        ])
    );

    // Killed: nothing is handed over, yet the standby on its host sees the process gone.
    a.kill();
    until_runner(&b, "replica-b", Duration::from_secs(15)).await;
    let c = standins.serve(&database.standby_env_short("replica-c"));
    hands_work_to(&c, &b, &url).await;

    // SIGTERM: the active daemon checkpoints and releases; the standby starts at once.
    assert_eq!(b.terminate(), Some(0));
    until_runner(&c, "replica-c", Duration::from_secs(5)).await;
    // Its runtime starts once it holds the store (it resolves the reviewers first).
    let started = until("replica-c takes work", Duration::from_secs(30), || async {
        let (status, answer) = c.post("/api/runs", &url).await;
        (status != 503).then_some((status, answer))
    })
    .await;
    assert_eq!(
        started.0, 202,
        "the new active daemon takes work: {:#}",
        started.1
    );
    let duties = duties(&c).await;
    assert_eq!(duties["replica-c"], "runs the squads", "{duties:?}");
    assert_eq!(c.terminate(), Some(0));
}

#[tokio::test]
async fn a_daemon_paused_past_its_lease_is_fenced_out_and_stops_when_it_wakes() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let standins = Standins::start(&["--issues", "1"]);
    let database = Database::new().await;
    let a = standins.serve(&database.standby_env_short("replica-a"));
    until_runner(&a, "replica-a", Duration::from_secs(30)).await;
    let b = standins.serve(&database.standby_env_short("replica-b"));
    until("replica-b stands by", Duration::from_secs(15), || async {
        (duties(&b).await.get("replica-b").map(String::as_str) == Some("stands by")).then_some(())
    })
    .await;

    // Paused, its process still there: only the lease's lapse lets replica-b in.
    a.signal(Signal::SIGSTOP);
    until_runner(&b, "replica-b", Duration::from_secs(20)).await;
    let seen = b.get("/api/daemons").await;
    assert_eq!(seen["runtime"]["token"], 2, "a new fencing token: {seen:#}");
    a.signal(Signal::SIGCONT);
    let (code, log) = a.wait();
    assert_eq!(
        code,
        Some(75),
        "woken past its lease it stops, to be started again as a standby:\n{}",
        log.join("\n")
    );
    assert!(
        log.iter()
            .any(|line| line.contains("lost the squad runtime to another daemon")),
        "{}",
        log.join("\n")
    );
    assert_eq!(runner(&b).await.as_deref(), Some("replica-b"));
    assert_eq!(b.terminate(), Some(0));
}
