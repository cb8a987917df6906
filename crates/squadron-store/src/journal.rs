//! The side-effect journal: every external action (open a PR, post a review, merge) is
//! claimed here under an idempotency key before it is performed, so that it happens once
//! even across crashes, restarts and several daemons.

use sqlx::any::AnyRow;
use squadron_core::lease::LeaseSubject;
use squadron_core::ports::{JournalBegin, JournalEntry, JournalStatus};
use squadron_core::{SquadId, Timestamp};

use crate::codec::{column, small_count, timestamp};
use crate::error::{StoreError, StoreErrorKind};
use crate::leases::Fence;
use crate::squads::squad_not_found;
use crate::store::SqlStore;

const ENTRY_COLUMNS: &str =
    "idempotency_key, squad_id, kind, status, attempts, result, created_at, updated_at";

/// How often `journal_begin` re-reads a key whose state changed under it before giving up.
/// Each round needs another caller to fail the key in between, so three is already unusual.
const BEGIN_ROUNDS: usize = 3;

impl SqlStore {
    /// Claims the side effect `key` before performing it.
    ///
    /// Of any number of callers racing on one key (in one process or many), exactly one gets
    /// [`JournalBegin::Begun`]; the others see [`JournalBegin::InProgress`] or, once it is
    /// done, [`JournalBegin::AlreadyDone`]. A key whose last attempt failed may begin again.
    /// Reusing a key for another squad or kind is a [`StoreErrorKind::Conflict`].
    pub async fn journal_begin(
        &self,
        key: &str,
        squad_id: Option<&SquadId>,
        kind: &str,
        at: Timestamp,
    ) -> Result<JournalBegin<String>, StoreError> {
        let what = || format!("begin side effect `{key}`");
        // A squad's effects begin only under its lease: a daemon that lost the squad cannot
        // claim an effect, so it never performs one.
        let fence = match squad_id {
            Some(id) => self.fence(&LeaseSubject::Squad(id.clone()))?,
            None => None,
        };
        for _ in 0..BEGIN_ROUNDS {
            // The primary key decides the race: a second insert of the key waits for the
            // first to commit and then inserts nothing. The lease check, when there is one,
            // is part of the same statement.
            let sql = format!(
                "INSERT INTO side_effects (idempotency_key, squad_id, kind, status, attempts, \
                 result, created_at, updated_at, holder, fence) \
                 SELECT $1, $2, $3, $4, 1, NULL, $5, $5, $6, $7 WHERE 1 = 1{} \
                 ON CONFLICT (idempotency_key) DO NOTHING",
                Fence::condition(fence.as_ref(), 8)
            );
            let query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(key)
                .bind(squad_id.map(SquadId::as_str))
                .bind(kind)
                .bind(JournalStatus::Pending.as_str())
                .bind(at.as_millis())
                .bind(fence.as_ref().map(|fence| fence.holder.clone()))
                .bind(fence.as_ref().map(|fence| fence.token));
            let query = Fence::bind(fence.as_ref(), query);
            let inserted =
                query
                    .execute(&self.pool)
                    .await
                    .map_err(|error| match (&error, squad_id) {
                        (sqlx::Error::Database(db), Some(id)) if db.is_foreign_key_violation() => {
                            squad_not_found(id)
                        }
                        _ => StoreError::database(what(), error),
                    })?;
            if inserted.rows_affected() == 1 {
                return Ok(JournalBegin::Begun { attempt: 1 });
            }
            if let Some(fence) = &fence
                && let Some(refusal) = self.fence_refusal(fence).await?
            {
                return Err(refusal);
            }

            let existing = self.journal_entry(key).await?.ok_or_else(|| {
                StoreError::new(
                    StoreErrorKind::Database,
                    format!("{}: the key was neither inserted nor found", what()),
                )
            })?;
            if existing.squad_id.as_ref() != squad_id || existing.kind != kind {
                return Err(StoreError::new(
                    StoreErrorKind::Conflict,
                    format!(
                        "{}: the key already belongs to effect `{}` of {} (an idempotency \
                         key names exactly one effect)",
                        what(),
                        existing.kind,
                        existing
                            .squad_id
                            .map_or_else(|| "no squad".to_owned(), |id| format!("squad `{id}`")),
                    ),
                ));
            }
            match existing.status {
                JournalStatus::Done => {
                    return Ok(JournalBegin::AlreadyDone(
                        existing.result.unwrap_or_default(),
                    ));
                }
                JournalStatus::Pending => return Ok(JournalBegin::InProgress(existing)),
                JournalStatus::Failed => {
                    // A failed attempt may be retried; the status guard lets exactly one of
                    // several retrying callers take it.
                    let sql = format!(
                        "UPDATE side_effects SET status = $1, attempts = attempts + 1, \
                         result = NULL, updated_at = $2, holder = $5, fence = $6 \
                         WHERE idempotency_key = $3 AND status = $4{} RETURNING attempts",
                        Fence::condition(fence.as_ref(), 7)
                    );
                    let query = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(JournalStatus::Pending.as_str())
                        .bind(at.as_millis())
                        .bind(key)
                        .bind(JournalStatus::Failed.as_str())
                        .bind(fence.as_ref().map(|fence| fence.holder.clone()))
                        .bind(fence.as_ref().map(|fence| fence.token));
                    let query = Fence::bind(fence.as_ref(), query);
                    let retried = query
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|error| StoreError::database(what(), error))?;
                    if let Some(row) = retried {
                        return Ok(JournalBegin::Begun {
                            attempt: small_count(&row, "attempts")?,
                        });
                    }
                    if let Some(fence) = &fence
                        && let Some(refusal) = self.fence_refusal(fence).await?
                    {
                        return Err(refusal);
                    }
                    // Someone else retried first; read the key again.
                }
            }
        }
        Err(StoreError::new(
            StoreErrorKind::Unavailable,
            format!(
                "{}: its state kept changing under concurrent attempts",
                what()
            ),
        ))
    }

    /// Reports a begun (or reconciled in-progress) effect done with its result. Completing a
    /// key that is not pending is a [`StoreErrorKind::Conflict`].
    pub async fn journal_complete(
        &self,
        key: &str,
        result: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.journal_finish(key, JournalStatus::Done, result, at)
            .await
    }

    /// Reports that a begun effect did not happen, so that a later attempt may begin.
    pub async fn journal_fail(
        &self,
        key: &str,
        error: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.journal_finish(key, JournalStatus::Failed, error, at)
            .await
    }

    /// One journal entry, if the key was ever begun.
    pub async fn journal_entry(&self, key: &str) -> Result<Option<JournalEntry>, StoreError> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM side_effects WHERE idempotency_key = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|error| StoreError::database(format!("read side effect `{key}`"), error))?
            .as_ref()
            .map(journal_entry)
            .transpose()
    }

    /// The journal entries of one squad, oldest first.
    pub async fn journal_entries(
        &self,
        squad_id: &SquadId,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM side_effects WHERE squad_id = $1 \
             ORDER BY created_at, idempotency_key"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(squad_id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(|error| {
                StoreError::database(format!("read side effects of squad `{squad_id}`"), error)
            })?
            .iter()
            .map(journal_entry)
            .collect()
    }

    async fn journal_finish(
        &self,
        key: &str,
        status: JournalStatus,
        result: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let what = || format!("mark side effect `{key}` {}", status.as_str());
        // Under leases, only the squad's holder reports its effects; a daemon that lost the
        // squad leaves the entry pending for the new holder to reconcile.
        let fence = match &self.fences {
            Some(_) => match self
                .journal_entry(key)
                .await?
                .and_then(|entry| entry.squad_id)
            {
                Some(id) => self.fence(&LeaseSubject::Squad(id))?,
                None => None,
            },
            None => None,
        };
        let sql = format!(
            "UPDATE side_effects SET status = $1, result = $2, updated_at = $3 \
             WHERE idempotency_key = $4 AND status = $5{}",
            Fence::condition(fence.as_ref(), 6)
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(status.as_str())
            .bind(result)
            .bind(at.as_millis())
            .bind(key)
            .bind(JournalStatus::Pending.as_str());
        let query = Fence::bind(fence.as_ref(), query);
        let updated = query
            .execute(&self.pool)
            .await
            .map_err(|error| StoreError::database(what(), error))?;
        if updated.rows_affected() == 1 {
            return Ok(());
        }
        if let Some(fence) = &fence
            && let Some(refusal) = self.fence_refusal(fence).await?
        {
            return Err(refusal);
        }
        Err(match self.journal_entry(key).await? {
            None => StoreError::new(
                StoreErrorKind::NotFound,
                format!("{}: the key was never begun", what()),
            ),
            Some(entry) => StoreError::new(
                StoreErrorKind::Conflict,
                format!("{}: it is {}, not pending", what(), entry.status.as_str()),
            ),
        })
    }
}

fn journal_entry(row: &AnyRow) -> Result<JournalEntry, StoreError> {
    let status: String = column(row, "status")?;
    Ok(JournalEntry {
        key: column(row, "idempotency_key")?,
        squad_id: column::<Option<String>>(row, "squad_id")?.map(SquadId::from),
        kind: column(row, "kind")?,
        status: JournalStatus::from_name(&status)
            .ok_or_else(|| StoreError::corrupt("status", &status))?,
        attempts: small_count(row, "attempts")?,
        result: column(row, "result")?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
}
