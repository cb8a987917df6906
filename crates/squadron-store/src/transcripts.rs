//! Agent transcripts, message by message, so a squad's conversation can be read back (by
//! `squadron logs`) or resumed after a restart.

use sqlx::any::AnyRow;
use squadron_core::lease::LeaseSubject;
use squadron_core::ports::{ChatMessage, TranscriptEntry};
use squadron_core::{Role, SquadId, Timestamp};

use crate::codec::{column, count, message, message_columns, role, stored_count, timestamp};
use crate::error::StoreError;
use crate::leases::Fence;
use crate::store::SqlStore;

impl SqlStore {
    /// Appends one message to the squad's transcript; returns its sequence number, which
    /// orders all roles' messages of the squad.
    pub async fn append_message(
        &self,
        squad_id: &SquadId,
        role: Role,
        message: &ChatMessage,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let what = || format!("record a {role} message of squad `{squad_id}`");
        let columns = message_columns(message);
        // An agent of a daemon that lost the squad stops at its next message.
        let fence = self.fence(&LeaseSubject::Squad(squad_id.clone()))?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|error| StoreError::database(what(), error))?;
        // As for events, the counter on the squad's row serializes concurrent appends.
        let sql = format!(
            "UPDATE squads SET last_message_seq = last_message_seq + 1 WHERE id = $1{} \
             RETURNING last_message_seq",
            Fence::condition(fence.as_ref(), 2)
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(squad_id.as_str());
        let query = Fence::bind(fence.as_ref(), query);
        let Some(row) = query
            .fetch_optional(&mut *tx)
            .await
            .map_err(|error| StoreError::database(what(), error))?
        else {
            drop(tx);
            return Err(self.refusal(squad_id, fence.as_ref()).await);
        };
        let seq = count(&row, "last_message_seq")?;
        sqlx::query(
            "INSERT INTO transcript_messages (squad_id, seq, role, at, message_kind, content, \
             tool_calls, tool_call_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(squad_id.as_str())
        .bind(stored_count(seq, "message sequence number")?)
        .bind(role.as_str())
        .bind(at.as_millis())
        .bind(columns.kind)
        .bind(columns.content)
        .bind(columns.tool_calls)
        .bind(columns.tool_call_id)
        .execute(&mut *tx)
        .await
        .map_err(|error| StoreError::database(what(), error))?;
        tx.commit()
            .await
            .map_err(|error| StoreError::database(what(), error))?;
        Ok(seq)
    }

    /// A squad's transcript in order (every role interleaved), or one role's part of it.
    pub async fn transcript(
        &self,
        squad_id: &SquadId,
        role: Option<Role>,
    ) -> Result<Vec<TranscriptEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT squad_id, seq, role, at, message_kind, content, tool_calls, tool_call_id \
             FROM transcript_messages WHERE squad_id = $1 AND ($2 IS NULL OR role = $2) \
             ORDER BY seq",
        )
        .bind(squad_id.as_str())
        .bind(role.map(Role::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(|error| {
            StoreError::database(format!("read the transcript of squad `{squad_id}`"), error)
        })?;
        rows.iter().map(transcript_entry).collect()
    }
}

impl SqlStore {
    /// Keeps `conversation` as the one `role` of the squad goes on with, replacing the one
    /// kept before.
    ///
    /// # Errors
    /// [`StoreErrorKind::Fenced`](crate::StoreErrorKind::Fenced) when this handle's daemon
    /// does not hold the squad's lease; a database error.
    pub async fn keep_conversation(
        &self,
        squad_id: &SquadId,
        role: Role,
        conversation: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let what = || format!("keep the {role}'s conversation of squad `{squad_id}`");
        // Like the transcript: a daemon that lost the squad cannot replace the conversation
        // its successor goes on with. The lease check is part of the statement.
        let fence = self.fence(&LeaseSubject::Squad(squad_id.clone()))?;
        let sql = format!(
            "INSERT INTO kept_conversations (squad_id, role, conversation, kept_at) \
             SELECT $1, $2, $3, $4 WHERE 1 = 1{} \
             ON CONFLICT (squad_id, role) DO UPDATE SET \
             conversation = excluded.conversation, kept_at = excluded.kept_at",
            Fence::condition(fence.as_ref(), 5)
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(squad_id.as_str())
            .bind(role.as_str())
            .bind(conversation)
            .bind(at.as_millis());
        let kept = Fence::bind(fence.as_ref(), query)
            .execute(&self.pool)
            .await
            .map_err(|error| StoreError::database(what(), error))?;
        if kept.rows_affected() == 0 {
            return Err(self.refusal(squad_id, fence.as_ref()).await);
        }
        Ok(())
    }

    /// The conversation last kept for `role` of the squad.
    ///
    /// # Errors
    /// A database error.
    pub async fn kept_conversation(
        &self,
        squad_id: &SquadId,
        role: Role,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT conversation FROM kept_conversations WHERE squad_id = $1 AND role = $2",
        )
        .bind(squad_id.as_str())
        .bind(role.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| {
            StoreError::database(
                format!("read the {role}'s kept conversation of squad `{squad_id}`"),
                error,
            )
        })?;
        row.map(|row| column(&row, "conversation")).transpose()
    }
}

fn transcript_entry(row: &AnyRow) -> Result<TranscriptEntry, StoreError> {
    Ok(TranscriptEntry {
        squad_id: SquadId::from(column::<String>(row, "squad_id")?),
        role: role(row, "role")?,
        seq: count(row, "seq")?,
        at: timestamp(row, "at")?,
        message: message(row)?,
    })
}
