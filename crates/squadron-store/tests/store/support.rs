//! Test databases for both backends and sample records.
//!
//! SQLite tests get a fresh file in a temporary directory. PostgreSQL tests run when
//! `SQUADRON_TEST_POSTGRES_URL` is set; each gets its own schema (selected through the
//! connection's `search_path`), dropped afterwards, so tests run in parallel without seeing
//! each other.

use std::future::Future;
use std::panic;
use std::path::PathBuf;

use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, ConnectOptions, Connection, Executor};
use squadron_core::ports::SquadRecord;
use squadron_core::{
    IssueId, IssueKey, Phase, Run, RunId, RunTrigger, Squad, SquadId, SquadKind, Timestamp,
};
use squadron_store::{SqlStore, StoreLocation};
use tempfile::TempDir;

/// The environment variable naming the PostgreSQL server for tests (CI always sets it).
pub const POSTGRES_URL_VAR: &str = "SQUADRON_TEST_POSTGRES_URL";

/// Set to `1` to skip the PostgreSQL tests on a machine without a server (never in CI).
pub const WITHOUT_POSTGRES_VAR: &str = "SQUADRON_TEST_WITHOUT_POSTGRES";

/// The server's URL; `None` only when the PostgreSQL tests were explicitly turned off.
fn postgres_url() -> Option<String> {
    if let Ok(url) = std::env::var(POSTGRES_URL_VAR) {
        return Some(url);
    }
    if std::env::var(WITHOUT_POSTGRES_VAR).as_deref() == Ok("1") {
        eprintln!("notice: {WITHOUT_POSTGRES_VAR}=1; skipping this PostgreSQL test");
        return None;
    }
    panic!(
        "{POSTGRES_URL_VAR} is not set: point it at a PostgreSQL server \
         (scripts/test defaults it to postgres://postgres@127.0.0.1:5432/test), \
         or set {WITHOUT_POSTGRES_VAR}=1 to skip the PostgreSQL tests"
    );
}

/// One test's database: open it as often as the test needs.
#[derive(Clone, Debug)]
pub struct TestDb {
    location: StoreLocation,
    /// A URL for raw connections that bypass the store, to plant bad data.
    raw_url: String,
}

impl TestDb {
    /// Opens the store (running migrations, as every open does).
    pub async fn open(&self) -> SqlStore {
        SqlStore::open(&self.location)
            .await
            .expect("open the test store")
    }

    /// Runs one statement past the store, returning the error text if it fails.
    pub async fn execute_raw(&self, sql: &'static str) -> Result<u64, String> {
        let mut connection = raw_connection(&self.raw_url).await;
        let result = connection
            .execute(sql)
            .await
            .map(|done| done.rows_affected());
        let _ = connection.close().await;
        result.map_err(|error| error.to_string())
    }

    /// Reads one text value past the store.
    pub async fn query_text(&self, sql: &'static str) -> String {
        let mut connection = raw_connection(&self.raw_url).await;
        let value: String = sqlx::query_scalar(sql)
            .fetch_one(&mut connection)
            .await
            .expect(sql);
        let _ = connection.close().await;
        value
    }
}

async fn raw_connection(url: &str) -> AnyConnection {
    sqlx::any::install_default_drivers();
    let options: AnyConnectOptions = url.parse().expect("test URL parses");
    options.connect().await.expect("raw test connection")
}

/// Runs `test` against a fresh SQLite database in a temporary directory.
pub async fn run_on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = TempDir::new().expect("temporary directory");
    let path = dir.path().join("store.db");
    let db = TestDb {
        raw_url: format!("sqlite://{}?mode=rw", path.display()),
        location: StoreLocation::Sqlite(path),
    };
    run_isolated(test(db)).await;
    drop(dir);
}

/// Runs `test` against a fresh schema of the PostgreSQL server named by
/// [`POSTGRES_URL_VAR`]. Without it the test fails, so a missing server is never mistaken for
/// a pass; [`WITHOUT_POSTGRES_VAR`]`=1` opts out explicitly and says so.
pub async fn run_on_postgres<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(base_url) = postgres_url() else {
        return;
    };
    let schema = format!("squadron_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = raw_connection(&base_url).await;
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .expect("create the test schema");
    let separator = if base_url.contains('?') { '&' } else { '?' };
    let url = format!("{base_url}{separator}options=-c%20search_path%3D{schema}");
    let db = TestDb {
        location: StoreLocation::Postgres(url.clone()),
        raw_url: url,
    };
    let outcome = tokio::spawn(test(db)).await;
    admin
        .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .await
        .expect("drop the test schema");
    let _ = admin.close().await;
    if let Err(error) = outcome {
        panic::resume_unwind(error.into_panic());
    }
}

async fn run_isolated(test: impl Future<Output = ()> + Send + 'static) {
    if let Err(error) = tokio::spawn(test).await {
        panic::resume_unwind(error.into_panic());
    }
}

/// A SQLite location in a directory that does not exist yet.
pub fn missing_dir_location(dir: &TempDir) -> (PathBuf, StoreLocation) {
    let path = dir.path().join("not").join("yet").join("there.db");
    (path.clone(), StoreLocation::Sqlite(path))
}

/// A point in time, `n` seconds into the test's timeline.
pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + seconds * 1000)
}

/// A milestone run.
pub fn milestone_run(id: &str, created: Timestamp) -> Run {
    Run {
        id: RunId::from(id),
        trigger: RunTrigger::Milestone {
            url: format!("https://linear.app/acme/project/checkout-{id}/overview"),
        },
        created_at: created,
    }
}

/// A queued feature squad of `run` working `issue`.
pub fn queued_squad(id: &str, run: &str, issue: &str, created: Timestamp) -> SquadRecord {
    SquadRecord {
        squad: Squad {
            id: SquadId::from(id),
            run_id: RunId::from(run),
            issue: IssueKey::from(issue),
            kind: SquadKind::Feature,
            phase: Phase::Queued,
            round: 0,
            pr: None,
            branch: format!("feature/{}", issue.to_lowercase()),
            worktree: None,
        },
        issue_id: IssueId::from(format!("uuid-{issue}")),
        blocked_by: Vec::new(),
        starts_after: Vec::new(),
        created_at: created,
        updated_at: created,
    }
}

/// A store holding run `r1` with squad `s1` (issue `ENG-1`), queued.
pub async fn store_with_squad(db: &TestDb) -> SqlStore {
    store_with_squads(db, 1).await
}

/// A store holding run `r1` with `n` queued squads `s1`…`sn` working `ENG-1`…`ENG-n`, the
/// later ones created later.
pub async fn store_with_squads(db: &TestDb, n: i64) -> SqlStore {
    let store = db.open().await;
    store
        .create_run(&milestone_run("r1", at(0)))
        .await
        .expect("create run");
    for i in 1..=n {
        store
            .create_squad(&queued_squad(
                &format!("s{i}"),
                "r1",
                &format!("ENG-{i}"),
                at(i),
            ))
            .await
            .expect("create squad");
    }
    store
}
