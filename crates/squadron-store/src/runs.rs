//! Runs: what started them and where they stand.

use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use squadron_core::ports::{RunRecord, RunStatus};
use squadron_core::{IssueKey, Run, RunId, RunTrigger, Timestamp};

use crate::codec::{column, timestamp};
use crate::error::{StoreError, StoreErrorKind};
use crate::store::SqlStore;

const RUN_COLUMNS: &str = "id, trigger_kind, trigger_url, trigger_issue, requested_by, \
                           slack_channel, status, created_at, updated_at";

impl SqlStore {
    /// Records a new run with status [`RunStatus::Running`]; a second run with the same id
    /// is a conflict.
    pub async fn create_run(&self, run: &Run) -> Result<(), StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|error| StoreError::database(format!("record run `{}`", run.id), error))?;
        insert_run(&mut conn, run).await
    }

    /// One run.
    pub async fn run(&self, id: &RunId) -> Result<RunRecord, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|error| StoreError::database(format!("read run `{id}`"), error))?
            .ok_or_else(|| run_not_found(id))?;
        run_record(&row)
    }

    /// Every run, newest first.
    pub async fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY created_at DESC, id DESC");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(|error| StoreError::database("list runs", error))?
            .iter()
            .map(run_record)
            .collect()
    }

    /// Changes a run's status.
    pub async fn set_run_status(
        &self,
        id: &RunId,
        status: RunStatus,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let result = sqlx::query("UPDATE runs SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(status.as_str())
            .bind(at.as_millis())
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(|error| {
                StoreError::database(format!("set run `{id}` to {}", status.as_str()), error)
            })?;
        if result.rows_affected() == 0 {
            return Err(run_not_found(id));
        }
        Ok(())
    }
}

pub(crate) fn run_not_found(id: &RunId) -> StoreError {
    StoreError::new(
        StoreErrorKind::NotFound,
        format!("find run `{id}`: no such run is recorded"),
    )
}

fn run_record(row: &AnyRow) -> Result<RunRecord, StoreError> {
    let kind: String = column(row, "trigger_kind")?;
    let required = |name: &str| -> Result<String, StoreError> {
        column::<Option<String>>(row, name)?
            .ok_or_else(|| StoreError::corrupt(name, &format!("NULL in a {kind} run")))
    };
    let trigger = match kind.as_str() {
        "milestone" => RunTrigger::Milestone {
            url: required("trigger_url")?,
        },
        "fix" => RunTrigger::Fix {
            issue: IssueKey::from(required("trigger_issue")?),
            requested_by: required("requested_by")?,
            slack_channel: column(row, "slack_channel")?,
        },
        "revert" => RunTrigger::Revert {
            issue: IssueKey::from(required("trigger_issue")?),
            requested_by: required("requested_by")?,
        },
        _ => return Err(StoreError::corrupt("trigger_kind", &kind)),
    };
    let status: String = column(row, "status")?;
    Ok(RunRecord {
        run: Run {
            id: RunId::from(column::<String>(row, "id")?),
            trigger,
            created_at: timestamp(row, "created_at")?,
        },
        status: RunStatus::from_name(&status)
            .ok_or_else(|| StoreError::corrupt("status", &status))?,
        updated_at: timestamp(row, "updated_at")?,
    })
}

/// Inserts `run` with status [`RunStatus::Running`] on `conn` (inside the caller's
/// transaction, when it has one).
pub(crate) async fn insert_run(conn: &mut AnyConnection, run: &Run) -> Result<(), StoreError> {
    let (kind, url, issue, requested_by, slack_channel) = match &run.trigger {
        RunTrigger::Milestone { url } => ("milestone", Some(url.as_str()), None, None, None),
        RunTrigger::Fix {
            issue,
            requested_by,
            slack_channel,
        } => (
            "fix",
            None,
            Some(issue.as_str()),
            Some(requested_by.as_str()),
            slack_channel.as_deref(),
        ),
        RunTrigger::Revert {
            issue,
            requested_by,
        } => (
            "revert",
            None,
            Some(issue.as_str()),
            Some(requested_by.as_str()),
            None,
        ),
    };
    sqlx::query(
        "INSERT INTO runs (id, trigger_kind, trigger_url, trigger_issue, requested_by, \
         slack_channel, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(run.id.as_str())
    .bind(kind)
    .bind(url)
    .bind(issue)
    .bind(requested_by)
    .bind(slack_channel)
    .bind(RunStatus::Running.as_str())
    .bind(run.created_at.as_millis())
    .execute(&mut *conn)
    .await
    .map_err(|error| StoreError::database(format!("record run `{}`", run.id), error))?;
    Ok(())
}
