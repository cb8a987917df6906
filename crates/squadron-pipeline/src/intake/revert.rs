//! Revert intake: the revert of a merged squad's change, taken through review like any change
//! (`squadron revert` without `--now`, `/squad revert` in Slack). It is recorded in the store
//! as a run of one revert squad, with what it reverts in its event log, and the runtime that
//! runs the store's squads takes it up at its next tick (a daemon sharing its squads claims
//! it like any other), so the command that asks for it need not be that runtime.

use squadron_core::gate::CommitSha;
use squadron_core::ports::{AdmittedSquad, SquadRecord, Store};
use squadron_core::{Phase, Run, RunId, RunTrigger, Squad, SquadId, SquadKind, Timestamp};

use super::milestone::mint_run_id;
use crate::error::PipelineError;
use crate::revert::{RevertPlan, revert_branch};

/// A request to revert a merged squad's change through review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevertRequest {
    /// The merged squad, as the store records it.
    pub reverted: SquadRecord,
    /// Its merge commit on the base.
    pub merge_sha: CommitSha,
    /// Its PR's page, when known.
    pub pr_url: Option<String>,
    /// Why, as the person who asked wrote it.
    pub reason: Option<String>,
    /// Who asked: a Slack user id, or `cli`.
    pub requested_by: String,
}

/// What [`admit_revert`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevertAdmission {
    /// A revert run and its squad are recorded, queued.
    Recorded {
        /// The run.
        run: RunId,
        /// Its revert squad.
        squad: SquadId,
    },
    /// An unfinished revert squad of the same merge is recorded already: nothing new.
    Pending {
        /// Its run.
        run: RunId,
        /// The revert squad.
        squad: SquadId,
    },
}

/// Records the revert of `request.reverted`'s merge as a run of one queued revert squad on
/// the same issue, in one transaction with what it reverts; or finds the unfinished revert
/// squad of that merge recorded earlier.
pub async fn admit_revert(
    store: &dyn Store,
    request: &RevertRequest,
    now: Timestamp,
) -> Result<RevertAdmission, PipelineError> {
    let reverted = &request.reverted.squad;
    let unfinished = store
        .unfinished_squads()
        .await
        .map_err(|error| PipelineError::port("read the unfinished squads", error))?;
    for record in unfinished
        .iter()
        .filter(|record| record.squad.kind == SquadKind::Revert)
    {
        let events = store.events(&record.squad.id).await.map_err(|error| {
            PipelineError::port(format!("read the log of {}", record.squad.id), error)
        })?;
        if RevertPlan::of_events(&events).is_some_and(|plan| plan.reverted == reverted.id) {
            return Ok(RevertAdmission::Pending {
                run: record.squad.run_id.clone(),
                squad: record.squad.id.clone(),
            });
        }
    }
    let run = mint_run_id(store, now).await?;
    let issue = &reverted.issue;
    let id = SquadId::new(format!(
        "{run}-revert-{}",
        issue.as_str().to_ascii_lowercase()
    ));
    let branch = revert_branch(issue);
    let plan = RevertPlan {
        reverted: reverted.id.clone(),
        merge_sha: request.merge_sha.clone(),
        pr_url: request.pr_url.clone(),
        reason: request.reason.clone(),
        requested_by: request.requested_by.clone(),
    };
    let squad = AdmittedSquad {
        record: SquadRecord {
            squad: Squad {
                id: id.clone(),
                run_id: run.clone(),
                issue: issue.clone(),
                kind: SquadKind::Revert,
                phase: Phase::Queued,
                round: 0,
                pr: None,
                branch,
                worktree: None,
            },
            issue_id: request.reverted.issue_id.clone(),
            blocked_by: Vec::new(),
            starts_after: Vec::new(),
            created_at: now,
            updated_at: now,
        },
        events: vec![plan.payload()],
    };
    let record = Run {
        id: run.clone(),
        trigger: RunTrigger::Revert {
            issue: issue.clone(),
            requested_by: request.requested_by.clone(),
        },
        created_at: now,
    };
    store.admit_run(&record, &[squad]).await.map_err(|error| {
        PipelineError::port(format!("record run {run} to revert {issue}"), error)
    })?;
    tracing::info!(
        run = %run, squad = %id, issue = %issue, reverted = %reverted.id,
        merge = %request.merge_sha, requested_by = %request.requested_by, "revert squad admitted"
    );
    Ok(RevertAdmission::Recorded { run, squad: id })
}
