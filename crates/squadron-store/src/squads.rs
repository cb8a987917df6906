//! Squads and their append-only event log. Every change to a squad is written together with
//! the event that records it, in one transaction.

use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection};
use squadron_core::event_payload::EventPayload;
use squadron_core::lease::LeaseSubject;
use squadron_core::ports::{AdmittedSquad, SquadChange, SquadEvent, SquadRecord};
use squadron_core::{IssueId, IssueKey, Phase, PrNumber, Run, RunId, Squad, SquadId, Timestamp};

use crate::codec::{
    check_json, column, count, issue_keys, issue_keys_json, phase, small_count, squad_kind,
    squad_kind_name, stored_count, timestamp,
};
use crate::error::{StoreError, StoreErrorKind};
use crate::event_payloads;
use crate::leases::Fence;
use crate::store::SqlStore;

/// Columns read into a [`SquadRecord`], qualified so joins can use them.
pub(crate) const SQUAD_COLUMNS: &str = "squads.id, squads.run_id, squads.issue_key, \
     squads.issue_id, squads.kind, squads.phase, squads.phase_detail, squads.round, \
     squads.pr_number, squads.branch, squads.worktree, squads.blocked_by, squads.starts_after, \
     squads.created_at, squads.updated_at";

const EVENT_COLUMNS: &str = "squad_id, seq, at, kind, payload, phase, phase_detail, round";

impl SqlStore {
    /// Records a new squad of an existing run and starts its event log with
    /// [`SquadEvent::CREATED`] at `created_at`.
    pub async fn create_squad(&self, record: &SquadRecord) -> Result<(), StoreError> {
        let squad = &record.squad;
        let what = || format!("record squad `{}` for {}", squad.id, squad.issue);
        // A run's squads are created by whoever holds its intake.
        let fence = self.fence(&LeaseSubject::Intake(squad.run_id.clone()))?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|error| StoreError::database(what(), error))?;
        if !insert_squad(&mut tx, record, &[], fence.as_ref()).await? {
            drop(tx);
            return Err(self.refusal(&squad.id, fence.as_ref()).await);
        }
        tx.commit()
            .await
            .map_err(|error| StoreError::database(what(), error))
    }

    /// Records a new run and all of its squads, each log started with
    /// [`SquadEvent::CREATED`] and then its events, in one transaction.
    ///
    /// A daemon whose writes are fenced squad by squad claims the run's intake for the
    /// admission and releases it after.
    pub async fn admit_run(&self, run: &Run, squads: &[AdmittedSquad]) -> Result<(), StoreError> {
        let claimed = self.claim_intake(&run.id, run.created_at).await?;
        let admitted = self.record_admission(run, squads).await;
        if claimed {
            self.release_lease(&LeaseSubject::Intake(run.id.clone()), run.created_at)
                .await?;
        }
        admitted
    }

    async fn record_admission(
        &self,
        run: &Run,
        squads: &[AdmittedSquad],
    ) -> Result<(), StoreError> {
        let what = || format!("record the admission of run `{}`", run.id);
        let fence = self.fence(&LeaseSubject::Intake(run.id.clone()))?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|error| StoreError::database(what(), error))?;
        crate::runs::insert_run(&mut tx, run).await?;
        for squad in squads {
            if squad.record.squad.run_id != run.id {
                return Err(StoreError::new(
                    StoreErrorKind::Invalid,
                    format!(
                        "{}: squad `{}` belongs to run `{}`",
                        what(),
                        squad.record.squad.id,
                        squad.record.squad.run_id
                    ),
                ));
            }
            if !insert_squad(&mut tx, &squad.record, &squad.events, fence.as_ref()).await? {
                drop(tx);
                return Err(self.refusal(&squad.record.squad.id, fence.as_ref()).await);
            }
        }
        tx.commit()
            .await
            .map_err(|error| StoreError::database(what(), error))
    }

    /// One squad.
    pub async fn squad(&self, id: &SquadId) -> Result<SquadRecord, StoreError> {
        let sql = format!("SELECT {SQUAD_COLUMNS} FROM squads WHERE squads.id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|error| StoreError::database(format!("read squad `{id}`"), error))?
            .ok_or_else(|| squad_not_found(id))?;
        squad_record(&row)
    }

    /// The squads of one run, in creation order.
    pub async fn squads_of_run(&self, run_id: &RunId) -> Result<Vec<SquadRecord>, StoreError> {
        let sql = format!(
            "SELECT {SQUAD_COLUMNS} FROM squads WHERE squads.run_id = $1 \
             ORDER BY squads.created_at, squads.id"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(run_id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(|error| StoreError::database(format!("list squads of run `{run_id}`"), error))?
            .iter()
            .map(squad_record)
            .collect()
    }

    /// Squads not in a terminal phase, oldest first: what a restarted daemon resumes.
    pub async fn unfinished_squads(&self) -> Result<Vec<SquadRecord>, StoreError> {
        let terminal = terminal_phase_names();
        let placeholders: Vec<String> = (1..=terminal.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT {SQUAD_COLUMNS} FROM squads WHERE squads.phase NOT IN ({}) \
             ORDER BY squads.created_at, squads.id",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for name in terminal {
            query = query.bind(name);
        }
        query
            .fetch_all(&self.pool)
            .await
            .map_err(|error| StoreError::database("list unfinished squads", error))?
            .iter()
            .map(squad_record)
            .collect()
    }

    /// Moves a squad from `expected_from` to `to` and appends [`SquadEvent::PHASE_CHANGED`]
    /// in one transaction. Refuses with [`StoreErrorKind::Conflict`], changing nothing, when
    /// the stored phase (name and detail) is not `expected_from`.
    pub async fn set_phase(
        &self,
        id: &SquadId,
        expected_from: &Phase,
        to: &Phase,
        at: Timestamp,
    ) -> Result<SquadEvent, StoreError> {
        let what = || format!("move squad `{id}` from {expected_from} to {to}");
        let fence = self.fence(&LeaseSubject::Squad(id.clone()))?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|error| StoreError::database(what(), error))?;
        // The guard on the current phase makes the check and the change one atomic step: of
        // two writers starting from the same phase, the second finds it changed.
        let sql = format!(
            "UPDATE squads SET phase = $1, phase_detail = $2, updated_at = $3 \
             WHERE id = $4 AND phase = $5 AND phase_detail IS NOT DISTINCT FROM $6{}",
            Fence::condition(fence.as_ref(), 7)
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to.name())
            .bind(to.detail())
            .bind(at.as_millis())
            .bind(id.as_str())
            .bind(expected_from.name())
            .bind(expected_from.detail());
        let query = Fence::bind(fence.as_ref(), query);
        let updated = query
            .execute(&mut *tx)
            .await
            .map_err(|error| StoreError::database(what(), error))?;
        if updated.rows_affected() == 0 {
            drop(tx);
            if let Some(fence) = &fence
                && let Some(refusal) = self.fence_refusal(fence).await?
            {
                return Err(refusal);
            }
            let current = self.squad(id).await?.squad.phase;
            return Err(StoreError::new(
                StoreErrorKind::Conflict,
                format!("{}: it is {current} now", what()),
            ));
        }
        let payload = json!({
            "from": expected_from.name(),
            "to": to.name(),
            "detail": to.detail(),
        });
        let Some(event) = insert_event(
            &mut tx,
            id,
            SquadEvent::PHASE_CHANGED,
            &payload.to_string(),
            at,
            fence.as_ref(),
        )
        .await?
        else {
            drop(tx);
            return Err(self.refusal(id, fence.as_ref()).await);
        };
        tx.commit()
            .await
            .map_err(|error| StoreError::database(what(), error))?;
        Ok(event)
    }

    /// Applies one bookkeeping change and appends its event in one transaction.
    pub async fn change_squad(
        &self,
        id: &SquadId,
        change: &SquadChange,
        at: Timestamp,
    ) -> Result<SquadEvent, StoreError> {
        let (sql, kind, payload) = match change {
            SquadChange::Round(round) => (
                "UPDATE squads SET round = $1, updated_at = $2 WHERE id = $3",
                SquadEvent::ROUND_CHANGED,
                json!({ "round": round }),
            ),
            SquadChange::Pr(pr) => (
                "UPDATE squads SET pr_number = $1, updated_at = $2 WHERE id = $3",
                SquadEvent::PR_LINKED,
                json!({ "pr": pr.0 }),
            ),
            SquadChange::Branch(branch) => (
                "UPDATE squads SET branch = $1, updated_at = $2 WHERE id = $3",
                SquadEvent::BRANCH_CHANGED,
                json!({ "branch": branch }),
            ),
            SquadChange::Worktree(worktree) => (
                "UPDATE squads SET worktree = $1, updated_at = $2 WHERE id = $3",
                SquadEvent::WORKTREE_CHANGED,
                json!({ "worktree": worktree }),
            ),
        };
        let what = || format!("record {kind} of squad `{id}`");
        let fence = self.fence(&LeaseSubject::Squad(id.clone()))?;
        let query = sqlx::query::<Any>(sql);
        let query = match change {
            SquadChange::Round(round) => query.bind(i64::from(*round)),
            SquadChange::Pr(pr) => query.bind(stored_count(pr.0, "PR number")?),
            SquadChange::Branch(branch) => query.bind(branch.clone()),
            SquadChange::Worktree(worktree) => query.bind(worktree.clone()),
        };
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|error| StoreError::database(what(), error))?;
        let updated = query
            .bind(at.as_millis())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|error| StoreError::database(what(), error))?;
        if updated.rows_affected() == 0 {
            return Err(squad_not_found(id));
        }
        // The event's own statement checks the lease, so the change above commits only
        // with it.
        let Some(event) =
            insert_event(&mut tx, id, kind, &payload.to_string(), at, fence.as_ref()).await?
        else {
            drop(tx);
            return Err(self.refusal(id, fence.as_ref()).await);
        };
        tx.commit()
            .await
            .map_err(|error| StoreError::database(what(), error))?;
        Ok(event)
    }

    /// Appends an event to a squad's log; `payload` must be a JSON document.
    pub async fn append_event(
        &self,
        id: &SquadId,
        kind: &str,
        payload: &str,
        at: Timestamp,
    ) -> Result<SquadEvent, StoreError> {
        check_json(payload, &format!("the payload of {kind} event"))?;
        let what = || format!("append {kind} event to squad `{id}`");
        let fence = self.fence(&LeaseSubject::Squad(id.clone()))?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|error| StoreError::database(what(), error))?;
        let Some(event) = insert_event(&mut tx, id, kind, payload, at, fence.as_ref()).await?
        else {
            drop(tx);
            return Err(self.refusal(id, fence.as_ref()).await);
        };
        tx.commit()
            .await
            .map_err(|error| StoreError::database(what(), error))?;
        Ok(event)
    }

    /// Notes `payload` in a squad's event log, under its kind, as its stored document.
    pub async fn record_event(
        &self,
        id: &SquadId,
        payload: &EventPayload,
        at: Timestamp,
    ) -> Result<SquadEvent, StoreError> {
        let document = event_payloads::encode(payload);
        self.append_event(id, payload.kind(), &document, at).await
    }

    /// A squad's event log, in order.
    pub async fn events(&self, id: &SquadId) -> Result<Vec<SquadEvent>, StoreError> {
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM squad_events WHERE squad_id = $1 ORDER BY seq");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(|error| StoreError::database(format!("read events of squad `{id}`"), error))?;
        if rows.is_empty() {
            // Every squad has its creation event, so no rows means no squad.
            return Err(squad_not_found(id));
        }
        rows.iter().map(squad_event).collect()
    }

    /// Why a write for squad `id` guarded by `fence` matched no row: the lease, when that is
    /// the reason, else no such squad.
    pub(crate) async fn refusal(&self, id: &SquadId, fence: Option<&Fence>) -> StoreError {
        if let Some(fence) = fence {
            match self.fence_refusal(fence).await {
                Ok(Some(refusal)) | Err(refusal) => return refusal,
                Ok(None) => {}
            }
        }
        squad_not_found(id)
    }
}

/// Inserts one squad inside `tx` and starts its log with [`SquadEvent::CREATED`] and then
/// `events`; `false` when the fence refused the write (the caller
/// rolls back and says why).
async fn insert_squad(
    tx: &mut AnyConnection,
    record: &SquadRecord,
    events: &[EventPayload],
    fence: Option<&Fence>,
) -> Result<bool, StoreError> {
    let squad = &record.squad;
    let what = || format!("record squad `{}` for {}", squad.id, squad.issue);
    let pr = squad
        .pr
        .map(|pr| stored_count(pr.0, "PR number"))
        .transpose()?;
    sqlx::query(
        "INSERT INTO squads (id, run_id, issue_key, issue_id, kind, phase, phase_detail, \
         round, pr_number, branch, worktree, blocked_by, starts_after, last_event_seq, \
         last_message_seq, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, 0, $14, $15)",
    )
    .bind(squad.id.as_str())
    .bind(squad.run_id.as_str())
    .bind(squad.issue.as_str())
    .bind(record.issue_id.as_str())
    .bind(squad_kind_name(squad.kind))
    .bind(squad.phase.name())
    .bind(squad.phase.detail())
    .bind(i64::from(squad.round))
    .bind(pr)
    .bind(squad.branch.as_str())
    .bind(squad.worktree.as_deref())
    .bind(issue_keys_json(&record.blocked_by))
    .bind(issue_keys_json(&record.starts_after))
    .bind(record.created_at.as_millis())
    .bind(record.updated_at.as_millis())
    .execute(&mut *tx)
    .await
    .map_err(|error| match error {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            crate::runs::run_not_found(&squad.run_id)
        }
        error => StoreError::database(what(), error),
    })?;
    let payload = json!({
        "issue": squad.issue.as_str(),
        "kind": squad_kind_name(squad.kind),
        "branch": squad.branch,
    });
    let created = std::iter::once((SquadEvent::CREATED, payload.to_string()));
    let events = events
        .iter()
        .map(|payload| (payload.kind(), event_payloads::encode(payload)));
    for (kind, payload) in created.chain(events) {
        check_json(
            &payload,
            &format!("the {kind} event of squad `{}`", squad.id),
        )?;
        let event = insert_event(tx, &squad.id, kind, &payload, record.created_at, fence).await?;
        if event.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Appends one event inside `tx`. Taking the next sequence number from the squad's row locks
/// that row until commit, so concurrent appends to one squad get consecutive numbers on both
/// backends, and the event carries the squad's phase and round as the same transaction sees
/// them. With a `fence`, the same statement checks the lease, and the event records who
/// wrote it with which token. `None` when no row matched: no such squad, or the fence
/// refused the write (the caller rolls back and says which).
async fn insert_event(
    tx: &mut AnyConnection,
    id: &SquadId,
    kind: &str,
    payload: &str,
    at: Timestamp,
    fence: Option<&Fence>,
) -> Result<Option<SquadEvent>, StoreError> {
    let what = || format!("append {kind} event to squad `{id}`");
    let sql = format!(
        "UPDATE squads SET last_event_seq = last_event_seq + 1, updated_at = $1 WHERE id = $2{} \
         RETURNING last_event_seq, phase, phase_detail, round",
        Fence::condition(fence, 3)
    );
    let query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(at.as_millis())
        .bind(id.as_str());
    let query = Fence::bind(fence, query);
    let Some(row) = query
        .fetch_optional(&mut *tx)
        .await
        .map_err(|error| StoreError::database(what(), error))?
    else {
        return Ok(None);
    };
    let event = SquadEvent {
        squad_id: id.clone(),
        seq: count(&row, "last_event_seq")?,
        at,
        kind: kind.to_owned(),
        payload: payload.to_owned(),
        note: event_payloads::decode(kind, payload),
        phase: phase(&row, "phase", "phase_detail")?,
        round: small_count(&row, "round")?,
    };
    sqlx::query(
        "INSERT INTO squad_events (squad_id, seq, at, kind, payload, phase, phase_detail, round, \
         holder, fence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(id.as_str())
    .bind(stored_count(event.seq, "event sequence number")?)
    .bind(at.as_millis())
    .bind(kind)
    .bind(payload)
    .bind(event.phase.name())
    .bind(event.phase.detail())
    .bind(i64::from(event.round))
    .bind(fence.map(|fence| fence.holder.clone()))
    .bind(fence.map(|fence| fence.token))
    .execute(&mut *tx)
    .await
    .map_err(|error| StoreError::database(what(), error))?;
    Ok(Some(event))
}

/// The names of the terminal phases. They come from the domain, so a new terminal phase
/// needs no SQL edit.
pub(crate) fn terminal_phase_names() -> [&'static str; 5] {
    let terminal = [
        Phase::Merged,
        Phase::NeedsHuman(String::new()),
        Phase::Failed(String::new()),
        Phase::Cancelled,
        Phase::Skipped(String::new()),
    ];
    debug_assert!(terminal.iter().all(Phase::is_terminal));
    terminal.map(|phase| phase.name())
}

pub(crate) fn squad_not_found(id: &SquadId) -> StoreError {
    StoreError::new(
        StoreErrorKind::NotFound,
        format!("find squad `{id}`: no such squad is recorded"),
    )
}

/// Reads a row selected with [`SQUAD_COLUMNS`].
pub(crate) fn squad_record(row: &AnyRow) -> Result<SquadRecord, StoreError> {
    let pr = column::<Option<i64>>(row, "pr_number")?
        .map(|pr| {
            u64::try_from(pr)
                .map(PrNumber)
                .map_err(|_| StoreError::corrupt("pr_number", &pr.to_string()))
        })
        .transpose()?;
    Ok(SquadRecord {
        squad: Squad {
            id: SquadId::from(column::<String>(row, "id")?),
            run_id: RunId::from(column::<String>(row, "run_id")?),
            issue: IssueKey::from(column::<String>(row, "issue_key")?),
            kind: squad_kind(row, "kind")?,
            phase: phase(row, "phase", "phase_detail")?,
            round: small_count(row, "round")?,
            pr,
            branch: column(row, "branch")?,
            worktree: column(row, "worktree")?,
        },
        issue_id: IssueId::from(column::<String>(row, "issue_id")?),
        blocked_by: issue_keys(row, "blocked_by")?,
        starts_after: issue_keys(row, "starts_after")?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
}

fn squad_event(row: &AnyRow) -> Result<SquadEvent, StoreError> {
    let kind: String = column(row, "kind")?;
    let payload: String = column(row, "payload")?;
    Ok(SquadEvent {
        squad_id: SquadId::from(column::<String>(row, "squad_id")?),
        seq: count(row, "seq")?,
        at: timestamp(row, "at")?,
        note: event_payloads::decode(&kind, &payload),
        kind,
        payload,
        phase: phase(row, "phase", "phase_detail")?,
        round: small_count(row, "round")?,
    })
}
