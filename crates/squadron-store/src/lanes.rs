//! Stopped merge lanes (stop the line): recorded when the test command fails on the base
//! head a merge made, deleted when a person resumes the lane, read back by a restarted daemon
//! and by `status`.

use sqlx::any::AnyRow;
use squadron_core::gate::CommitSha;
use squadron_core::merge_queue::{LandedMerge, LaneStop, MergeLane};
use squadron_core::ports::{RepoRef, StoppedLane};
use squadron_core::{IssueKey, PrNumber, SquadId, Timestamp};

use crate::codec::{column, stored_count, timestamp};
use crate::error::{StoreError, StoreErrorKind};
use crate::store::SqlStore;

const COLUMNS: &str = "repo, base, failing_squad, failing_issue, failing_pr, failing_sha, \
                       previous_squad, previous_issue, previous_pr, previous_sha, output, \
                       stopped_at";

impl SqlStore {
    /// Records `stop`, replacing an older stop of the same lane (a lane stops once; a second
    /// record after a restart repeats the same stop).
    ///
    /// # Errors
    /// A database error.
    pub async fn stop_lane(&self, stop: &LaneStop, at: Timestamp) -> Result<(), StoreError> {
        let pr = |landed: Option<&LandedMerge>| -> Result<Option<i64>, StoreError> {
            landed
                .and_then(|landed| landed.pr)
                .map(|pr| stored_count(pr.0, "a PR number"))
                .transpose()
        };
        let previous = stop.previous.as_ref();
        sqlx::query(
            "INSERT INTO lane_stops (repo, base, failing_squad, failing_issue, failing_pr, \
             failing_sha, previous_squad, previous_issue, previous_pr, previous_sha, output, \
             stopped_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (repo, base) DO UPDATE SET failing_squad = excluded.failing_squad, \
             failing_issue = excluded.failing_issue, failing_pr = excluded.failing_pr, \
             failing_sha = excluded.failing_sha, previous_squad = excluded.previous_squad, \
             previous_issue = excluded.previous_issue, previous_pr = excluded.previous_pr, \
             previous_sha = excluded.previous_sha, output = excluded.output, \
             stopped_at = excluded.stopped_at",
        )
        .bind(stop.lane.repo.to_string())
        .bind(&stop.lane.base)
        .bind(stop.failing.squad.as_str())
        .bind(stop.failing.issue.as_str())
        .bind(pr(Some(&stop.failing))?)
        .bind(stop.failing.sha.as_str())
        .bind(previous.map(|landed| landed.squad.as_str().to_owned()))
        .bind(previous.map(|landed| landed.issue.as_str().to_owned()))
        .bind(pr(previous)?)
        .bind(previous.map(|landed| landed.sha.as_str().to_owned()))
        .bind(&stop.output)
        .bind(at.as_millis())
        .execute(&self.pool)
        .await
        .map_err(|error| {
            StoreError::database(format!("record the stop of {}", stop.lane), error)
        })?;
        Ok(())
    }

    /// Opens `lane` again; returns whether it was stopped.
    ///
    /// # Errors
    /// A database error.
    pub async fn resume_lane(&self, lane: &MergeLane) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM lane_stops WHERE repo = $1 AND base = $2")
            .bind(lane.repo.to_string())
            .bind(&lane.base)
            .execute(&self.pool)
            .await
            .map_err(|error| StoreError::database(format!("resume {lane}"), error))?;
        Ok(done.rows_affected() > 0)
    }

    /// Every stopped lane, by repository and base.
    ///
    /// # Errors
    /// A database error, or a row this version cannot read.
    pub async fn lane_stops(&self) -> Result<Vec<StoppedLane>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM lane_stops ORDER BY repo, base"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(|error| StoreError::database("read the stopped lanes", error))?;
        rows.iter().map(stopped_lane).collect()
    }
}

fn stopped_lane(row: &AnyRow) -> Result<StoppedLane, StoreError> {
    let repo: String = column(row, "repo")?;
    let (owner, name) = repo
        .split_once('/')
        .ok_or_else(|| StoreError::corrupt("repo", &repo))?;
    let lane = MergeLane {
        repo: RepoRef::new(owner, name),
        base: column(row, "base")?,
    };
    let failing = landed(row, "failing")?.ok_or_else(|| {
        StoreError::new(
            StoreErrorKind::Corrupt,
            format!("read the stop of {lane}: it names no failing merge"),
        )
    })?;
    Ok(StoppedLane {
        stop: LaneStop {
            lane,
            failing,
            previous: landed(row, "previous")?,
            output: column(row, "output")?,
        },
        at: timestamp(row, "stopped_at")?,
    })
}

/// The merge named by the `<prefix>_*` columns; `None` when they are empty.
fn landed(row: &AnyRow, prefix: &str) -> Result<Option<LandedMerge>, StoreError> {
    let squad: Option<String> = column(row, &format!("{prefix}_squad"))?;
    let issue: Option<String> = column(row, &format!("{prefix}_issue"))?;
    let sha: Option<String> = column(row, &format!("{prefix}_sha"))?;
    let pr_column = format!("{prefix}_pr");
    let pr: Option<i64> = column(row, &pr_column)?;
    let (Some(squad), Some(issue), Some(sha)) = (squad, issue, sha) else {
        return Ok(None);
    };
    let pr = pr
        .map(|pr| {
            u64::try_from(pr)
                .map(PrNumber)
                .map_err(|_| StoreError::corrupt(&pr_column, &pr.to_string()))
        })
        .transpose()?;
    Ok(Some(LandedMerge {
        squad: SquadId::new(squad),
        issue: IssueKey::new(issue),
        pr,
        sha: CommitSha::new(sha),
    }))
}
