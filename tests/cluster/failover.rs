//! `squadron serve` replicas on one store (PostgreSQL when `SQUADRON_TEST_POSTGRES_URL` is
//! set, each test in a schema of its own; else the stand-ins' SQLite file): one runs the
//! squads, the others serve reads, refuse work naming the active one, and take over when it
//! is killed or stopped; one paused past its lease is fenced out and exits when it wakes.

use std::collections::BTreeMap;
use std::time::Duration;

use nix::sys::signal::Signal;
use sqlx::{ConnectOptions, Connection, Executor};

use crate::support::{Serve, Standins};

/// The lease the replicas hold the store with: short, so takeovers happen within seconds.
const LEASE_SECS: &str = "3";

/// Where the replicas keep their state.
struct Database {
    /// `DATABASE_URL` for the replicas; `None`: the stand-ins' SQLite file.
    url: Option<String>,
}

impl Database {
    async fn new() -> Database {
        let Ok(base) = std::env::var("SQUADRON_TEST_POSTGRES_URL") else {
            return Database { url: None };
        };
        sqlx::any::install_default_drivers();
        let schema = format!("squadron_cluster_{}", uuid::Uuid::new_v4().simple());
        let options: sqlx::any::AnyConnectOptions = base.parse().expect("a PostgreSQL URL");
        let mut admin = options.connect().await.expect("connect to PostgreSQL");
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .await
            .expect("create the test schema");
        let _ = admin.close().await;
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
        Database { url: Some(url) }
    }

    fn env<'a>(&'a self, id: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut env = vec![
            ("SQUADRON_SERVER_DAEMON_ID", id),
            ("SQUADRON_SERVER_LEASE_SECS", LEASE_SECS),
        ];
        if let Some(url) = &self.url {
            env.push(("DATABASE_URL", url.as_str()));
        }
        env
    }
}

/// Polls `check` every 200 ms until it returns `Some`, for at most `limit`.
async fn until<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Who runs the squads, as `serve` answers.
async fn runner(serve: &Serve) -> Option<String> {
    serve.get("/api/daemons").await["runtime"]["daemon"]
        .as_str()
        .map(str::to_owned)
}

/// Who runs the squads and what each daemon does, as `serve` answers.
async fn duties(serve: &Serve) -> BTreeMap<String, String> {
    let seen = serve.get("/api/daemons").await;
    seen["daemons"]
        .as_array()
        .expect("daemons")
        .iter()
        .map(|daemon| {
            (
                daemon["id"].as_str().unwrap_or_default().to_owned(),
                daemon["duty"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Waits until `serve` says `daemon` runs the squads.
async fn until_runner(serve: &Serve, daemon: &str, limit: Duration) {
    until(&format!("{daemon} runs the squads"), limit, || async {
        (runner(serve).await.as_deref() == Some(daemon)).then_some(())
    })
    .await;
}

/// Checks that `standby` refuses work, naming `active`.
async fn refuses_work_naming(standby: &Serve, active: &str, url: &serde_json::Value) {
    let (status, refused) = standby.post("/api/runs", url).await;
    assert_eq!(status, 503, "a standby refuses work: {refused:#}");
    let said = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        said.contains("standing by") && said.contains(&format!("`{active}`")),
        "it names the daemon that runs the squads: {said}"
    );
}

#[tokio::test]
async fn a_standby_takes_over_when_the_active_daemon_is_killed_or_hands_over_on_sigterm() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let standins = Standins::start(&["--issues", "1"]);
    let database = Database::new().await;
    let url = serde_json::json!({ "url": standins.project_url() });

    let a = standins.serve(&database.env("replica-a"));
    until_runner(&a, "replica-a", Duration::from_secs(30)).await;
    let b = standins.serve(&database.env("replica-b"));
    refuses_work_naming(&b, "replica-a", &url).await;
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
    let c = standins.serve(&database.env("replica-c"));
    refuses_work_naming(&c, "replica-b", &url).await;

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
    let a = standins.serve(&database.env("replica-a"));
    until_runner(&a, "replica-a", Duration::from_secs(30)).await;
    let b = standins.serve(&database.env("replica-b"));
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
