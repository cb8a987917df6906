//! A revert squad's own work. Its implementation is the revert commit of the reverted merge,
//! made without an agent (the Developer has nothing to write); its PR is then verified,
//! reviewed by both reviewers and merged through the gate like any change. Once it merged,
//! the issue is reopened with a comment linking the revert, the change failure is recorded on
//! the reverted squad (where the delivery metrics count it) and the reverted squad's chat
//! thread is told.

use squadron_core::effect::EffectKey;
use squadron_core::event_payload::EventPayload;
use squadron_core::gate::CommitSha;
use squadron_core::ports::{PortErrorKind, SquadUpdate, SyncOutcome, WorkflowTarget};
use squadron_core::scheduler::Event;
use squadron_core::{PrNumber, StepFailure};

use super::stop::StepResult;
use crate::effects;
use crate::notify::{self, Subject};
use crate::outcome::Outcome;
use crate::revert::RevertPlan;
use crate::shared::Shared;
use crate::squad::SquadCtx;

/// The revert squad's plan; call [`SquadCtx::ensure_revert`] first.
fn plan(ctx: &SquadCtx) -> Result<RevertPlan, StepFailure> {
    ctx.revert.clone().ok_or_else(|| {
        StepFailure::internal(format!(
            "use the revert plan of {}: it was not read",
            ctx.squad
        ))
    })
}

/// Commits the revert of the reverted merge on the squad's branch (once: a head that already
/// reverts it is kept). A revert that collides with what merged since goes to a person.
pub(crate) async fn implement(shared: &Shared, ctx: &mut SquadCtx) -> StepResult {
    let workspace = ctx.ensure_workspace(shared).await?;
    ctx.ensure_revert(shared).await?;
    let plan = plan(ctx)?;
    let doing = format!(
        "revert the merge {} of {}",
        plan.merge_sha.short(),
        ctx.issue_key
    );
    let head = shared
        .services
        .workspaces
        .commit_revert(workspace.worktree.root(), &plan.merge_sha)
        .await
        .map_err(|error| match error.kind() {
            PortErrorKind::Conflict | PortErrorKind::NotFound | PortErrorKind::Invalid => {
                StepFailure::needs_person(doing.clone()).because(format!(
                    "{error}; revert it by hand, or with `squadron revert --now` once it applies"
                ))
            }
            _ => StepFailure::port(doing.clone(), &error),
        })?;
    tracing::info!(
        run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key, reverted = %plan.reverted,
        merge = %plan.merge_sha, head = head.short(), "revert committed"
    );
    ctx.keep_summaries(
        Some(format!(
            "Reverts {}: git's revert of its merge commit `{}`, no other change.",
            ctx.issue_key, plan.merge_sha
        )),
        None,
    );
    Ok(vec![Outcome::Event(Event::Implemented {
        squad: ctx.squad.clone(),
    })])
}

/// What follows the revert's merge as `sha`: the issue reopened with a comment linking the
/// revert PR `pr` at `url`, the change failure recorded on the reverted squad, and its chat
/// thread told. Each part is done once, also when the merge step runs again.
pub(crate) async fn after_merge(
    shared: &Shared,
    ctx: &mut SquadCtx,
    pr: PrNumber,
    url: &str,
    sha: &CommitSha,
) -> Result<(), StepFailure> {
    ctx.ensure_revert(shared).await?;
    let plan = plan(ctx)?;
    let tracker = &shared.services.tracker;
    let issue = ctx.issue_key.clone();
    let reopen = EffectKey::MoveIssue {
        squad: ctx.squad.clone(),
        target: WorkflowTarget::Reopened,
    };
    let _: SyncOutcome = effects::once(shared, &reopen, |_| async {
        tracker
            .move_issue(&issue, WorkflowTarget::Reopened)
            .await
            .map_err(|error| StepFailure::port(format!("reopen {issue}"), &error))
    })
    .await?;
    // The marker `squadron revert --now` uses too: one comment per reverted merge.
    let marker = format!("squadron:revert:{}", plan.merge_sha);
    let why = plan
        .reason
        .as_deref()
        .map(|reason| format!("\n\nWhy: {reason}"))
        .unwrap_or_default();
    let body = format!(
        "Squadron reverted this issue's change: the revert {url} was reviewed and merged as \
         `{sha}`. The issue is open again.{why}"
    );
    let comment = EffectKey::Comment {
        issue: issue.clone(),
        marker: marker.clone(),
        squad: Some(ctx.squad.clone()),
    };
    let _: SyncOutcome = effects::once(shared, &comment, |_| async {
        tracker
            .comment_once(&issue, &marker, &body)
            .await
            .map_err(|error| StepFailure::port(format!("comment on {issue}"), &error))
    })
    .await?;
    record_change_failure(shared, &plan, pr, url).await?;
    notify::post(
        shared,
        &Subject::about(ctx, plan.reverted.clone()),
        "reverted",
        SquadUpdate::Reverted {
            number: pr,
            url: url.to_owned(),
            merged_sha: Some(sha.to_string()),
            reason: plan.reason.clone(),
        },
    );
    tracing::info!(
        run = %ctx.run, squad = %ctx.squad, issue = %issue, reverted = %plan.reverted,
        sha = %sha, "revert merged: the issue is reopened and the change failure recorded"
    );
    Ok(())
}

/// Records in the reverted squad's log that its merge was reverted, unless it says so
/// already (`squadron revert --now` or an earlier attempt recorded it).
async fn record_change_failure(
    shared: &Shared,
    plan: &RevertPlan,
    pr: PrNumber,
    url: &str,
) -> Result<(), StepFailure> {
    let store = &shared.services.store;
    let reverted = &plan.reverted;
    let events = store
        .events(reverted)
        .await
        .map_err(|error| StepFailure::port(format!("read the log of {reverted}"), &error))?;
    if events
        .iter()
        .any(|event| event.note.as_ref().is_some_and(EventPayload::is_revert))
    {
        return Ok(());
    }
    let payload = EventPayload::Reverted {
        pr,
        url: url.to_owned(),
        reverted_sha: plan.merge_sha.clone(),
        now: false,
    };
    store
        .record_event(reverted, &payload, shared.services.clock.now())
        .await
        .map(drop)
        .map_err(|error| StepFailure::port(format!("record the revert of {reverted}"), &error))
}
