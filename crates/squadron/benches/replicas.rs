//! Squads per minute and store round trips per squad for 1, 2 and 3 `squadron serve` replicas
//! on one PostgreSQL database, on the demo's zero-latency scripted model: a generated
//! milestone (`squadron demo --standins --issues N`, default 12) started through the last
//! replica's API and followed until every squad ended. Each replica count gets a fresh
//! database, so PostgreSQL's own counters (`pg_stat_database`: committed and rolled back
//! transactions, one per statement outside an explicit transaction) count exactly the
//! cluster's store traffic from the start of the run to its end, standbys included.
//! Prints figures; asserts nothing.
//!
//! `SQUADRON_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!  cargo bench -p squadron --bench replicas` (`SQUADRON_BENCH_ISSUES` sets N;
//! the replicas share the squads, as they do on PostgreSQL by default;
//! `SQUADRON_BENCH_SHARE_SQUADS=false` has one run them all while the others stand by,
//! `server.share_squads = false`).

use std::time::{Duration, Instant};

use sqlx::{ConnectOptions, Connection, Executor};

#[path = "../../../tests/cluster/support.rs"]
#[expect(
    dead_code,
    reason = "the replica tests' helpers, of which the bench uses a few"
)]
mod support;

use support::{Serve, Standins};

/// The replicas' lease: the default, so no takeover happens under load.
const LEASE_SECS: &str = "30";
/// How long one milestone may take before the bench gives up on that replica count.
const RUN_LIMIT: Duration = Duration::from_secs(1800);

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`. Test runners (`cargo test --all-targets`, nextest's
    // `--list`) run bench binaries too: list no tests and run nothing for them.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Ok(server) = std::env::var("SQUADRON_TEST_POSTGRES_URL") else {
        eprintln!(
            "set SQUADRON_TEST_POSTGRES_URL to a PostgreSQL server the bench may create databases on"
        );
        std::process::exit(2);
    };
    let issues: usize = std::env::var("SQUADRON_BENCH_ISSUES")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(12);
    let share = std::env::var("SQUADRON_BENCH_SHARE_SQUADS").map_or(true, |value| value != "false");
    println!(
        "{}",
        if share {
            "the replicas share the squads"
        } else {
            "one replica runs the squads"
        }
    );
    println!("replicas  squads  minutes  squads/min  store round trips  per squad");
    for replicas in 1..=3 {
        match measure(&server, replicas, issues, share).await {
            Ok(figures) => println!(
                "{replicas:>8}  {:>6}  {:>7.2}  {:>10.2}  {:>17}  {:>9.0}",
                figures.squads,
                figures.elapsed.as_secs_f64() / 60.0,
                figures.squads as f64 / (figures.elapsed.as_secs_f64() / 60.0),
                figures.round_trips,
                figures.round_trips as f64 / figures.squads as f64,
            ),
            Err(why) => println!("{replicas:>8}  no figure: {why}"),
        }
    }
}

struct Figures {
    squads: usize,
    elapsed: Duration,
    round_trips: i64,
}

async fn measure(
    server: &str,
    replicas: usize,
    issues: usize,
    share: bool,
) -> Result<Figures, String> {
    let database = BenchDatabase::create(server).await?;
    let standins = Standins::start(&["--issues", &issues.to_string()]);
    let ids: Vec<String> = (1..=replicas).map(|n| format!("bench-{n}")).collect();
    let mut serves: Vec<Serve> = Vec::new();
    for id in &ids {
        serves.push(standins.serve(&[
            ("DATABASE_URL", database.url.as_str()),
            ("SQUADRON_SERVER_DAEMON_ID", id.as_str()),
            ("SQUADRON_SERVER_LEASE_SECS", LEASE_SECS),
            (
                "SQUADRON_SERVER_SHARE_SQUADS",
                if share { "true" } else { "false" },
            ),
        ]));
    }
    if share {
        for (serve, id) in serves.iter().zip(&ids) {
            wait_until_ready(serve, id).await?;
        }
    } else {
        wait_until_running(&serves[0], &ids[0]).await?;
    }
    // A standby when there are several: it hands the run to the first.
    let entry = serves.last().expect("at least one replica");

    let before = database.round_trips().await?;
    let started = Instant::now();
    let (status, answer) = entry
        .post(
            "/api/runs",
            &serde_json::json!({ "url": standins.project_url() }),
        )
        .await;
    if status != 202 {
        return Err(format!("the run was not started ({status}): {answer}"));
    }
    let run = answer["run_id"].as_str().unwrap_or_default().to_owned();
    let squads = loop {
        if started.elapsed() > RUN_LIMIT {
            return Err(format!("the run did not end within {RUN_LIMIT:?}"));
        }
        let view = entry.get(&format!("/api/runs/{run}")).await;
        if view["finished"] == true {
            break view["squads"].as_array().map_or(0, Vec::len);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let elapsed = started.elapsed();
    let round_trips = database.round_trips().await? - before;
    for serve in serves.into_iter().rev() {
        let _ = serve.terminate();
    }
    drop(standins);
    database.drop_database().await;
    if squads == 0 {
        return Err("the run admitted no squad".to_owned());
    }
    Ok(Figures {
        squads,
        elapsed,
        round_trips,
    })
}

/// Waits until `serve`, the daemon `runner`, runs the squads and its runtime takes work.
async fn wait_until_running(serve: &Serve, runner: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let daemons = serve.get("/api/daemons").await;
        if daemons["runtime"]["daemon"] == runner && ready(serve).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("{runner} did not start running the squads"))
}

/// Waits until the runtime of `serve`, the daemon `id`, takes work.
async fn wait_until_ready(serve: &Serve, id: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if ready(serve).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("{id} did not start its runtime"))
}

/// Whether `serve` answers `/readyz` with success.
async fn ready(serve: &Serve) -> bool {
    reqwest::get(format!("http://{}/readyz", serve.address))
        .await
        .map(|answer| answer.status().is_success())
        .unwrap_or(false)
}

/// A database of its own on the server, so its counters are the bench's alone.
struct BenchDatabase {
    /// The server's URL with the maintenance database, for creating, reading and dropping.
    admin: String,
    name: String,
    /// The replicas' `DATABASE_URL`.
    url: String,
}

impl BenchDatabase {
    async fn create(server: &str) -> Result<BenchDatabase, String> {
        sqlx::any::install_default_drivers();
        let name = format!("squadron_bench_{}", uuid::Uuid::new_v4().simple());
        let with_database = |database: &str| -> Result<String, String> {
            // postgres://user@host:port/<database>[?options]
            let (scheme, rest) = server
                .split_once("://")
                .ok_or_else(|| format!("{server}: not a URL"))?;
            let (authority, after) = rest.split_once('/').unwrap_or((rest, ""));
            let query = after.split_once('?').map(|(_, query)| query);
            Ok(match query {
                Some(query) => format!("{scheme}://{authority}/{database}?{query}"),
                None => format!("{scheme}://{authority}/{database}"),
            })
        };
        let admin = with_database("postgres")?;
        let url = with_database(&name)?;
        let database = BenchDatabase { admin, name, url };
        database
            .execute(&format!("CREATE DATABASE {}", database.name))
            .await?;
        Ok(database)
    }

    /// Transactions committed and rolled back in the database so far, once PostgreSQL has
    /// flushed the backends' counters.
    async fn round_trips(&self) -> Result<i64, String> {
        // Backends flush their statistics at most once a second while busy.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut admin = self.connect().await?;
        // Without this, a session keeps serving the snapshot of its first read.
        let _ = admin.execute("SELECT pg_stat_clear_snapshot()").await;
        let count: i64 = sqlx::query_scalar(
            "SELECT (xact_commit + xact_rollback)::BIGINT FROM pg_stat_database WHERE datname = $1",
        )
        .bind(&self.name)
        .fetch_one(&mut admin)
        .await
        .map_err(|error| format!("read the database's counters: {error}"))?;
        let _ = admin.close().await;
        Ok(count)
    }

    async fn drop_database(&self) {
        if let Err(error) = self
            .execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await
        {
            eprintln!("notice: could not drop {}: {error}", self.name);
        }
    }

    async fn connect(&self) -> Result<sqlx::AnyConnection, String> {
        let options: sqlx::any::AnyConnectOptions = self
            .admin
            .parse()
            .map_err(|error| format!("{}: {error}", self.admin))?;
        options
            .connect()
            .await
            .map_err(|error| format!("connect to {}: {error}", self.admin))
    }

    async fn execute(&self, statement: &str) -> Result<(), String> {
        let mut admin = self.connect().await?;
        let done = admin
            .execute(sqlx::AssertSqlSafe(statement.to_owned()))
            .await
            .map(|_| ())
            .map_err(|error| format!("{statement}: {error}"));
        let _ = admin.close().await;
        done
    }
}
