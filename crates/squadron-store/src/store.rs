//! Opening the store: connecting to SQLite or PostgreSQL through sqlx's `Any` driver, with
//! the connection settings each backend needs, and running its migrations.
//!
//! One SQL dialect serves both backends: TEXT ids, BIGINT Unix-millisecond times and
//! micro-USD amounts, `$n` parameters, `ON CONFLICT` and `RETURNING`, which SQLite and
//! PostgreSQL both understand. Only the schema (migrations) is written per backend.

use std::borrow::Cow;
use std::fs;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, ConnectOptions, Connection, Executor, SqlSafeStr};

use crate::error::{StoreError, StoreErrorKind};
use crate::leases::FenceBook;
use crate::location::StoreLocation;

/// How long a SQLite connection waits for another writer before giving up. Writes are short,
/// so this only runs out when something holds the database far longer than Squadron would.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a PostgreSQL session may sit inside a transaction without a statement. Store
/// transactions last milliseconds; only a stalled process exceeds this.
const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(5);

/// A statement slower than this is logged, at info level: on a busy machine it is load,
/// not a fault.
const SLOW_STATEMENT: Duration = Duration::from_secs(1);

/// How long taking a connection from the pool may take before the operation fails as
/// unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections per pool. SQLite serializes writers anyway; PostgreSQL is shared with other
/// daemons, so a handful per daemon is plenty for squads that mostly wait on models.
const MAX_CONNECTIONS: u32 = 8;

/// The store on SQLite or PostgreSQL. Cheap to clone: clones share one connection pool.
#[derive(Clone, Debug)]
pub struct SqlStore {
    pub(crate) pool: AnyPool,
    location: StoreLocation,
    /// The daemon this handle writes for and the lease tokens it holds; `None` for a store
    /// used by one process without leases.
    pub(crate) fences: Option<Arc<FenceBook>>,
}

impl SqlStore {
    /// Opens (creating if needed) the database at `location` and brings its schema up to
    /// date. A SQLite file's missing parent directories are created.
    pub async fn open(location: &StoreLocation) -> Result<SqlStore, StoreError> {
        sqlx::any::install_default_drivers();
        let options = match location {
            StoreLocation::Sqlite(path) => {
                if let Some(parent) = path
                    .parent()
                    .filter(|parent| !parent.as_os_str().is_empty())
                {
                    fs::create_dir_all(parent).map_err(|error| {
                        open_error(
                            location,
                            format!(
                                "cannot create directory {}: {error} (check its permissions or \
                                 choose another path)",
                                parent.display()
                            ),
                        )
                        .with_source(error)
                    })?;
                }
                let sqlite = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true);
                AnyConnectOptions::from_url(&sqlite.to_url_lossy())
            }
            StoreLocation::Postgres(url) => AnyConnectOptions::from_str(url),
        }
        .map_err(|error| {
            open_error(location, format!("the location is not valid: {error}")).with_source(error)
        })?;

        // sqlx reports a statement slower than a second as a warning; on a busy machine that
        // is load, not a fault, and a warning would land on a foreground command's screen.
        let options = options.log_slow_statements(log::LevelFilter::Info, SLOW_STATEMENT);

        // One direct connection first: its error says what is wrong (refused, unknown host,
        // bad password) where the pool would retry until its timeout and say only that.
        let mut first = options.connect().await.map_err(|error| {
            let hint = match location {
                StoreLocation::Sqlite(_) => "check that the file is a SQLite database and writable",
                StoreLocation::Postgres(_) => {
                    "check that PostgreSQL is running and reachable and that the URL's user, \
                     password and database are right"
                }
            };
            open_error(location, format!("{error} ({hint})")).with_source(error)
        })?;
        if let StoreLocation::Sqlite(_) = location {
            // WAL lets readers (`squadron status`) work while the daemon writes. The setting
            // is stored in the file, so setting it once here covers every connection.
            first
                .execute("PRAGMA journal_mode = WAL")
                .await
                .map_err(|error| {
                    open_error(location, format!("cannot switch to WAL mode: {error}"))
                        .with_source(error)
                })?;
        }
        // Closing is best effort: the connection did its job.
        let _ = first.close().await;

        let is_sqlite = matches!(location, StoreLocation::Sqlite(_));
        let pool = AnyPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if is_sqlite {
                        // Per-connection settings; sqlx sets them too, but the store's
                        // correctness depends on them, so they are stated here.
                        connection.execute("PRAGMA foreign_keys = ON").await?;
                        let busy =
                            format!("PRAGMA busy_timeout = {}", SQLITE_BUSY_TIMEOUT.as_millis());
                        connection.execute(sqlx::AssertSqlSafe(busy)).await?;
                    } else {
                        // A fenced write holds its lease row FOR SHARE until it commits. A
                        // daemon paused (SIGSTOP) inside a transaction would keep every other
                        // daemon from taking its lease over; PostgreSQL ends such a session.
                        let idle = format!(
                            "SET idle_in_transaction_session_timeout = {}",
                            IDLE_IN_TRANSACTION.as_millis()
                        );
                        connection.execute(sqlx::AssertSqlSafe(idle)).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|error| open_error(location, error.to_string()).with_source(error))?;

        migrator(location).run(&pool).await.map_err(|error| {
            open_error(
                location,
                format!(
                    "cannot bring its schema up to date: {error} (a database written by a \
                     newer Squadron needs that version)"
                ),
            )
            .with_source(error)
        })?;
        tracing::debug!(store = %location, "store open");
        Ok(SqlStore {
            pool,
            location: location.clone(),
            fences: None,
        })
    }

    /// Where the store lives (a password in a URL shows as `***`).
    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// Whether the store is PostgreSQL, where statements may lock rows (`FOR SHARE`,
    /// `FOR UPDATE SKIP LOCKED`) that SQLite, one writer at a time, has no syntax for.
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.location, StoreLocation::Postgres(_))
    }

    /// Closes every connection, waiting for operations in flight.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn open_error(location: &StoreLocation, reason: String) -> StoreError {
    StoreError::new(
        StoreErrorKind::Open,
        format!(
            "open the {} store at {location}: {reason}",
            location.backend()
        ),
    )
}

/// The migrations of `location`'s backend, embedded in the binary so it needs no files at
/// run time. Both backends share version numbers: version N means the same schema on both.
fn migrator(location: &StoreLocation) -> Migrator {
    let sources: &[(i64, &str, &'static str)] = match location {
        StoreLocation::Sqlite(_) => &[
            (
                1,
                "initial",
                include_str!("../migrations/sqlite/0001_initial.sql"),
            ),
            (
                2,
                "leases",
                include_str!("../migrations/sqlite/0002_leases.sql"),
            ),
            (
                3,
                "daemons",
                include_str!("../migrations/sqlite/0003_daemons.sql"),
            ),
            (
                4,
                "daemon leases",
                include_str!("../migrations/sqlite/0004_daemon_leases.sql"),
            ),
            (
                5,
                "requests",
                include_str!("../migrations/sqlite/0005_requests.sql"),
            ),
            (
                6,
                "lane stops",
                include_str!("../migrations/sqlite/0006_lane_stops.sql"),
            ),
            (
                7,
                "kept conversations",
                include_str!("../migrations/sqlite/0007_kept_conversations.sql"),
            ),
            (
                8,
                "starts after",
                include_str!("../migrations/sqlite/0008_starts_after.sql"),
            ),
            (
                9,
                "addressed requests",
                include_str!("../migrations/sqlite/0009_addressed_requests.sql"),
            ),
        ],
        StoreLocation::Postgres(_) => &[
            (
                1,
                "initial",
                include_str!("../migrations/postgres/0001_initial.sql"),
            ),
            (
                2,
                "leases",
                include_str!("../migrations/postgres/0002_leases.sql"),
            ),
            (
                3,
                "daemons",
                include_str!("../migrations/postgres/0003_daemons.sql"),
            ),
            (
                4,
                "daemon leases",
                include_str!("../migrations/postgres/0004_daemon_leases.sql"),
            ),
            (
                5,
                "requests",
                include_str!("../migrations/postgres/0005_requests.sql"),
            ),
            (
                6,
                "lane stops",
                include_str!("../migrations/postgres/0006_lane_stops.sql"),
            ),
            (
                7,
                "kept conversations",
                include_str!("../migrations/postgres/0007_kept_conversations.sql"),
            ),
            (
                8,
                "starts after",
                include_str!("../migrations/postgres/0008_starts_after.sql"),
            ),
            (
                9,
                "addressed requests",
                include_str!("../migrations/postgres/0009_addressed_requests.sql"),
            ),
        ],
    };
    Migrator::with_migrations(
        sources
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}
