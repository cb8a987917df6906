//! Requests one daemon received for work another daemon runs: the store-backed queue through
//! which any replica answers the API, the webhooks and Slack.
//!
//! The receiving daemon records a request ([`SqlStore::enqueue_request`]) and reads its answer
//! back ([`SqlStore::request_state`]); the daemon that runs the work takes requests for a
//! while ([`SqlStore::take_requests`], with `FOR UPDATE SKIP LOCKED` on PostgreSQL so takers
//! never share one), carries them out and writes the answer ([`SqlStore::answer_request`]). A
//! taker that dies leaves its requests to be taken again once its hold lapses, so every
//! request must be safe to carry out twice; the kinds and bodies are the daemon's to define.

use sqlx::any::AnyRow;
use squadron_core::lease::DaemonId;
use squadron_core::{IssueKey, Timestamp};

use crate::codec::{check_json, column, small_count, timestamp};
use crate::error::StoreError;
use crate::squads::terminal_phase_names;
use crate::store::SqlStore;

const REQUEST_COLUMNS: &str = "id, kind, body, received_by, received_at, attempts";

/// A recorded request, as its taker sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedRequest {
    /// Its id, in the order requests were recorded.
    pub id: i64,
    /// What it asks for, in the daemon's words.
    pub kind: String,
    /// Its JSON body.
    pub body: String,
    /// The daemon its caller reached.
    pub received_by: DaemonId,
    /// When that daemon recorded it.
    pub received_at: Timestamp,
    /// How often it was taken, this time included.
    pub attempts: u32,
}

/// Where a recorded request stands, as the daemon that received it sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestState {
    /// Nobody took it yet (or its taker's hold lapsed).
    Waiting,
    /// A daemon is carrying it out.
    Taken {
        /// The daemon.
        by: DaemonId,
    },
    /// Carried out: the answer's JSON.
    Answered(String),
    /// Not recorded (withdrawn, or answered long ago and forgotten).
    Gone,
}

impl SqlStore {
    /// Records a request of `kind` with the JSON `body`, received by `daemon` at `at`, for
    /// the daemon `to` alone (it holds the squads the request concerns), or for whichever
    /// daemon takes it; returns its id.
    ///
    /// # Errors
    /// [`StoreErrorKind::Invalid`](crate::StoreErrorKind::Invalid) when `body` is not JSON; a database error otherwise.
    pub async fn enqueue_request(
        &self,
        kind: &str,
        body: &str,
        daemon: &DaemonId,
        to: Option<&DaemonId>,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        check_json(body, "request body")?;
        let row = sqlx::query(
            "INSERT INTO requests (kind, body, received_by, received_at, addressed_to) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(kind)
        .bind(body)
        .bind(daemon.as_str())
        .bind(at.as_millis())
        .bind(to.map(DaemonId::as_str))
        .fetch_one(&self.pool)
        .await
        .map_err(|error| StoreError::database(format!("record a {kind} request"), error))?;
        column(&row, "id")
    }

    /// Takes, for `taker` until `until`, up to `limit` unanswered requests nobody holds
    /// (never taken, or whose taker's hold lapsed by `now`) that are addressed to `taker` or
    /// to nobody in particular, oldest first.
    ///
    /// # Errors
    /// A database error.
    pub async fn take_requests(
        &self,
        taker: &DaemonId,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<QueuedRequest>, StoreError> {
        // The candidates are locked until the update commits; other takers skip them rather
        // than wait and then take them a second time.
        let lock = if self.is_postgres() {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE requests SET taken_by = $1, taken_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM requests WHERE answered_at IS NULL \
             AND (taken_until IS NULL OR taken_until <= $3) \
             AND (addressed_to IS NULL OR addressed_to = $1) ORDER BY id LIMIT $4{lock}) \
             RETURNING {REQUEST_COLUMNS}"
        );
        let mut taken = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(taker.as_str())
            .bind(until.as_millis())
            .bind(now.as_millis())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(|error| StoreError::database("take recorded requests", error))?
            .iter()
            .map(queued_request)
            .collect::<Result<Vec<_>, _>>()?;
        taken.sort_by_key(|request| request.id);
        Ok(taken)
    }

    /// Writes the JSON `answer` to request `id`, which `taker` took, at `at`. Returns
    /// `false` when `taker` no longer holds it (its hold lapsed and another daemon took it,
    /// or it was answered).
    ///
    /// # Errors
    /// [`StoreErrorKind::Invalid`](crate::StoreErrorKind::Invalid) when `answer` is not JSON; a database error otherwise.
    pub async fn answer_request(
        &self,
        id: i64,
        taker: &DaemonId,
        answer: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        check_json(answer, "request answer")?;
        let updated = sqlx::query(
            "UPDATE requests SET answer = $3, answered_at = $4 \
             WHERE id = $1 AND taken_by = $2 AND answered_at IS NULL",
        )
        .bind(id)
        .bind(taker.as_str())
        .bind(answer)
        .bind(at.as_millis())
        .execute(&self.pool)
        .await
        .map_err(|error| StoreError::database(format!("answer request {id}"), error))?;
        Ok(updated.rows_affected() == 1)
    }

    /// Where request `id` stands at `now`.
    ///
    /// # Errors
    /// A database error.
    pub async fn request_state(&self, id: i64, now: Timestamp) -> Result<RequestState, StoreError> {
        let row = sqlx::query("SELECT taken_by, taken_until, answer FROM requests WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|error| StoreError::database(format!("read request {id}"), error))?;
        let Some(row) = row else {
            return Ok(RequestState::Gone);
        };
        if let Some(answer) = column::<Option<String>>(&row, "answer")? {
            return Ok(RequestState::Answered(answer));
        }
        let taken_by = column::<Option<String>>(&row, "taken_by")?;
        let taken_until = column::<Option<i64>>(&row, "taken_until")?;
        Ok(match (taken_by, taken_until) {
            (Some(by), Some(until)) if until > now.as_millis() => RequestState::Taken {
                by: DaemonId::new(by),
            },
            _ => RequestState::Waiting,
        })
    }

    /// Withdraws request `id` if no daemon holds it at `now`; `false` when one took it
    /// (then its answer is coming) or it was answered.
    ///
    /// # Errors
    /// A database error.
    pub async fn withdraw_request(&self, id: i64, now: Timestamp) -> Result<bool, StoreError> {
        let deleted = sqlx::query(
            "DELETE FROM requests WHERE id = $1 AND answered_at IS NULL \
             AND (taken_until IS NULL OR taken_until <= $2)",
        )
        .bind(id)
        .bind(now.as_millis())
        .execute(&self.pool)
        .await
        .map_err(|error| StoreError::database(format!("withdraw request {id}"), error))?;
        Ok(deleted.rows_affected() == 1)
    }

    /// Deletes the requests addressed to a daemon and left untaken since before `before`:
    /// their daemon stopped, and whoever took its squads over reads their gates afresh.
    /// Returns how many.
    ///
    /// # Errors
    /// A database error.
    pub async fn forget_unclaimed_addressed_requests(
        &self,
        before: Timestamp,
    ) -> Result<u64, StoreError> {
        let deleted = sqlx::query(
            "DELETE FROM requests WHERE addressed_to IS NOT NULL AND taken_by IS NULL \
             AND received_at < $1",
        )
        .bind(before.as_millis())
        .execute(&self.pool)
        .await
        .map_err(|error| StoreError::database("forget untaken addressed requests", error))?;
        Ok(deleted.rows_affected())
    }

    /// Deletes the requests answered before `before`; returns how many.
    ///
    /// # Errors
    /// A database error.
    pub async fn forget_answered_requests(&self, before: Timestamp) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM requests WHERE answered_at < $1")
            .bind(before.as_millis())
            .execute(&self.pool)
            .await
            .map_err(|error| StoreError::database("forget answered requests", error))?;
        Ok(deleted.rows_affected())
    }
}

impl SqlStore {
    /// The daemons other than `daemon` holding a live lease at `now` on an unfinished squad,
    /// of the issue `issue` or of any: where a cancellation or a code host's news of those
    /// squads must go when the daemons share them.
    ///
    /// # Errors
    /// A database error.
    pub async fn squad_holders_besides(
        &self,
        daemon: &DaemonId,
        issue: Option<&IssueKey>,
        now: Timestamp,
    ) -> Result<Vec<DaemonId>, StoreError> {
        let terminal = terminal_phase_names();
        let placeholders: Vec<String> = (4..4 + terminal.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT DISTINCT leases.holder FROM leases JOIN squads \
             ON leases.subject = 'squad:' || squads.id \
             WHERE leases.expires_at > $1 AND leases.holder <> $2 \
             AND ($3 = '' OR squads.issue_key = $3) AND squads.phase NOT IN ({}) \
             ORDER BY leases.holder",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now.as_millis())
            .bind(daemon.as_str())
            .bind(issue.map_or("", IssueKey::as_str));
        for name in terminal {
            query = query.bind(name);
        }
        query
            .fetch_all(&self.pool)
            .await
            .map_err(|error| StoreError::database("read who holds the squads", error))?
            .iter()
            .map(|row| column::<String>(row, "holder").map(DaemonId::new))
            .collect()
    }
}

fn queued_request(row: &AnyRow) -> Result<QueuedRequest, StoreError> {
    Ok(QueuedRequest {
        id: column(row, "id")?,
        kind: column(row, "kind")?,
        body: column(row, "body")?,
        received_by: DaemonId::new(column::<String>(row, "received_by")?),
        received_at: timestamp(row, "received_at")?,
        attempts: small_count(row, "attempts")?,
    })
}
