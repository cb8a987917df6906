//! The daemons sharing a store: each `squadron serve` registers under its stable id, beats
//! while it runs and says when it stops, so every replica (and `squadron status`) can show
//! the whole cluster, and a second daemon cannot start under an id that a live one uses:
//! leases are held in a daemon's name, so two processes with one name would both believe
//! they hold the same work.

use std::time::Duration;

use sqlx::any::AnyRow;
use squadron_core::Timestamp;
use squadron_core::lease::DaemonId;

use crate::codec::{column, timestamp};
use crate::error::{StoreError, StoreErrorKind};
use crate::store::SqlStore;

const DAEMON_COLUMNS: &str = "id, host, pid, started_at, heartbeat_at, lease_ms, stopped_at";

/// One daemon as registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonRecord {
    /// Its stable id.
    pub id: DaemonId,
    /// The host it runs on.
    pub host: String,
    /// Its process id on that host.
    pub pid: u32,
    /// When it started.
    pub started_at: Timestamp,
    /// Its last heartbeat.
    pub heartbeat_at: Timestamp,
    /// How long it may stay silent before others see it gone: the length of its leases.
    pub lease: Duration,
    /// When it stopped, if it said so.
    pub stopped_at: Option<Timestamp>,
}

/// Where a registered daemon stands, as others see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DaemonState {
    /// It beat within its lease.
    Running,
    /// It has not beaten for longer than its lease and did not say it stopped: killed,
    /// paused or cut off. Its leases lapsed and other daemons take its work over.
    Silent,
    /// It stopped and said so.
    Stopped,
}

impl DaemonState {
    /// The state as shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            DaemonState::Running => "running",
            DaemonState::Silent => "silent",
            DaemonState::Stopped => "stopped",
        }
    }
}

impl DaemonRecord {
    /// Where the daemon stands at `now`.
    pub fn state(&self, now: Timestamp) -> DaemonState {
        if self.stopped_at.is_some() {
            DaemonState::Stopped
        } else if now.since(self.heartbeat_at) > self.lease {
            DaemonState::Silent
        } else {
            DaemonState::Running
        }
    }
}

impl SqlStore {
    /// Registers the daemon `id` (process `pid` on `host`, holding leases of `lease`) as
    /// started at `at`. A daemon restarting under its id replaces its old record.
    ///
    /// # Errors
    /// [`StoreErrorKind::Conflict`] when another process registered under `id` beat within
    /// its lease and did not stop: it is alive, and sharing its id would let both work the
    /// same squads.
    pub async fn register_daemon(
        &self,
        id: &DaemonId,
        host: &str,
        pid: u32,
        at: Timestamp,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let what = || format!("register daemon `{id}`");
        // The update only replaces a record that is stopped, silent, or this very process,
        // so two daemons starting under one id cannot both succeed.
        let updated = sqlx::query(
            "UPDATE daemons SET host = $2, pid = $3, started_at = $4, heartbeat_at = $4, \
             lease_ms = $5, stopped_at = NULL WHERE id = $1 AND (stopped_at IS NOT NULL \
             OR heartbeat_at + lease_ms < $4 OR (host = $2 AND pid = $3))",
        )
        .bind(id.as_str())
        .bind(host)
        .bind(i64::from(pid))
        .bind(at.as_millis())
        .bind(lease_ms)
        .execute(&self.pool)
        .await
        .map_err(|error| StoreError::database(what(), error))?;
        if updated.rows_affected() == 1 {
            return Ok(());
        }
        let inserted = sqlx::query(
            "INSERT INTO daemons (id, host, pid, started_at, heartbeat_at, lease_ms, stopped_at) \
             VALUES ($1, $2, $3, $4, $4, $5, NULL) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(host)
        .bind(i64::from(pid))
        .bind(at.as_millis())
        .bind(lease_ms)
        .execute(&self.pool)
        .await
        .map_err(|error| StoreError::database(what(), error))?;
        if inserted.rows_affected() == 1 {
            return Ok(());
        }
        let holder = self
            .daemons()
            .await?
            .into_iter()
            .find(|daemon| &daemon.id == id)
            .map_or_else(String::new, |daemon| {
                format!(
                    " by process {} on {}, last heard from at {}",
                    daemon.pid, daemon.host, daemon.heartbeat_at
                )
            });
        Err(StoreError::new(
            StoreErrorKind::Conflict,
            format!(
                "{}: the id is in use{holder}; give each daemon its own id \
                 (`server.daemon_id` or --daemon-id)",
                what()
            ),
        ))
    }

    /// Records a heartbeat of the daemon `id` at `at`.
    ///
    /// # Errors
    /// [`StoreErrorKind::NotFound`] when `id` is not registered or was replaced by another
    /// process since (then this one must stop working).
    pub async fn daemon_heartbeat(
        &self,
        id: &DaemonId,
        pid: u32,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE daemons SET heartbeat_at = $3 \
             WHERE id = $1 AND pid = $2 AND stopped_at IS NULL",
        )
        .bind(id.as_str())
        .bind(i64::from(pid))
        .bind(at.as_millis())
        .execute(&self.pool)
        .await
        .map_err(|error| StoreError::database(format!("beat as daemon `{id}`"), error))?;
        if updated.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::new(
                StoreErrorKind::NotFound,
                format!("beat as daemon `{id}`: it is not registered as this running process"),
            ))
        }
    }

    /// Records that the daemon `id` stopped at `at`.
    pub async fn daemon_stopped(
        &self,
        id: &DaemonId,
        pid: u32,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE daemons SET stopped_at = $3, heartbeat_at = $3 \
             WHERE id = $1 AND pid = $2 AND stopped_at IS NULL",
        )
        .bind(id.as_str())
        .bind(i64::from(pid))
        .bind(at.as_millis())
        .execute(&self.pool)
        .await
        .map_err(|error| StoreError::database(format!("stop daemon `{id}`"), error))?;
        Ok(())
    }

    /// Every daemon ever registered, by id.
    pub async fn daemons(&self) -> Result<Vec<DaemonRecord>, StoreError> {
        let sql = format!("SELECT {DAEMON_COLUMNS} FROM daemons ORDER BY id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(|error| StoreError::database("list daemons", error))?
            .iter()
            .map(daemon_record)
            .collect()
    }
}

fn daemon_record(row: &AnyRow) -> Result<DaemonRecord, StoreError> {
    let pid: i64 = column(row, "pid")?;
    let lease_ms: i64 = column(row, "lease_ms")?;
    Ok(DaemonRecord {
        id: DaemonId::new(column::<String>(row, "id")?),
        host: column(row, "host")?,
        pid: u32::try_from(pid).map_err(|_| StoreError::corrupt("pid", &pid.to_string()))?,
        started_at: timestamp(row, "started_at")?,
        heartbeat_at: timestamp(row, "heartbeat_at")?,
        lease: Duration::from_millis(
            u64::try_from(lease_ms)
                .map_err(|_| StoreError::corrupt("lease_ms", &lease_ms.to_string()))?,
        ),
        stopped_at: column::<Option<i64>>(row, "stopped_at")?.map(Timestamp::from_millis),
    })
}
