//! Read models for the CLI: `squadron status` (squads with their usage totals) and
//! `squadron logs <squad>` (one squad's events and transcript, found by id or issue key).

use squadron_core::RunId;
use squadron_core::ports::{SquadEvent, SquadRecord, TranscriptEntry, UsageTotals};

use crate::error::{StoreError, StoreErrorKind};
use crate::squads::{SQUAD_COLUMNS, squad_record};
use crate::store::SqlStore;
use crate::usage::{USAGE_SUMS, usage_totals};

/// One line of `squadron status`: a squad and what its model calls used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SquadOverview {
    /// The squad.
    pub record: SquadRecord,
    /// Its usage so far.
    pub usage: UsageTotals,
}

/// Everything `squadron logs <squad>` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SquadLog {
    /// The squad.
    pub record: SquadRecord,
    /// Its event log, in order.
    pub events: Vec<SquadEvent>,
    /// Its transcript, every role interleaved, in order.
    pub transcript: Vec<TranscriptEntry>,
}

impl SqlStore {
    /// Squads with their usage totals, newest run first and in creation order within a run;
    /// only `run`'s squads when given.
    pub async fn squad_overviews(
        &self,
        run: Option<&RunId>,
    ) -> Result<Vec<SquadOverview>, StoreError> {
        let filter = if run.is_some() {
            "WHERE squads.run_id = $1"
        } else {
            ""
        };
        // Grouping by both primary keys lets PostgreSQL accept every other column of the two
        // tables in the select list and the ordering.
        let sql = format!(
            "SELECT {SQUAD_COLUMNS}, {USAGE_SUMS} FROM squads \
             JOIN runs ON runs.id = squads.run_id \
             LEFT JOIN model_usage ON model_usage.squad_id = squads.id \
             {filter} \
             GROUP BY squads.id, runs.id \
             ORDER BY runs.created_at DESC, runs.id DESC, squads.created_at, squads.id"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(run) = run {
            query = query.bind(run.as_str());
        }
        query
            .fetch_all(&self.pool)
            .await
            .map_err(|error| StoreError::database("list squads with their usage", error))?
            .iter()
            .map(|row| {
                Ok(SquadOverview {
                    record: squad_record(row)?,
                    usage: usage_totals(row)?,
                })
            })
            .collect()
    }

    /// The squad a user names: by squad id, or else by issue key (any letter case), taking
    /// the squad of the newest run that worked the issue.
    pub async fn find_squad(&self, id_or_issue_key: &str) -> Result<SquadRecord, StoreError> {
        let sql = format!(
            "SELECT {SQUAD_COLUMNS} FROM squads JOIN runs ON runs.id = squads.run_id \
             WHERE squads.id = $1 OR UPPER(squads.issue_key) = UPPER($1) \
             ORDER BY CASE WHEN squads.id = $1 THEN 0 ELSE 1 END, \
             runs.created_at DESC, runs.id DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id_or_issue_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|error| {
                StoreError::database(format!("find squad `{id_or_issue_key}`"), error)
            })?
            .ok_or_else(|| {
                StoreError::new(
                    StoreErrorKind::NotFound,
                    format!(
                        "find squad `{id_or_issue_key}`: no squad has that id or issue key \
                         (`squadron status` lists them)"
                    ),
                )
            })?;
        squad_record(&row)
    }

    /// One squad's record, event log and transcript, found as [`SqlStore::find_squad`] does.
    pub async fn squad_log(&self, id_or_issue_key: &str) -> Result<SquadLog, StoreError> {
        let record = self.find_squad(id_or_issue_key).await?;
        let events = self.events(&record.squad.id).await?;
        let transcript = self.transcript(&record.squad.id, None).await?;
        Ok(SquadLog {
            record,
            events,
            transcript,
        })
    }
}
