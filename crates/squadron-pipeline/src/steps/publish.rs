//! What several steps publish: the issue's workflow state, the branch pushed with a lease, and
//! the PR body kept current.

use squadron_core::effect::EffectKey;
use squadron_core::gate::CommitSha;
use squadron_core::ports::WorkflowTarget;
use squadron_core::{SquadKind, StepFailure};

use super::pr_text::pr_body;
use crate::effects;
use crate::shared::Shared;
use crate::squad::SquadCtx;

pub(crate) async fn move_issue(
    shared: &Shared,
    ctx: &SquadCtx,
    target: WorkflowTarget,
) -> Result<(), StepFailure> {
    // A revert squad works an issue whose change merged: the issue stays where it is until
    // the revert merges and reopens it (`steps::revert`).
    if ctx.kind == SquadKind::Revert {
        return Ok(());
    }
    let key = EffectKey::MoveIssue {
        squad: ctx.squad.clone(),
        target,
    };
    let tracker = &shared.services.tracker;
    effects::once(shared, &key, |_| async {
        tracker
            .move_issue(&ctx.issue_key, target)
            .await
            .map_err(|error| {
                StepFailure::port(format!("move {} to {target}", ctx.issue_key), &error)
            })
    })
    .await
    .map(drop)
}

/// Pushes the worktree's head with a lease on what the remote branch is known to hold.
pub(crate) async fn push(shared: &Shared, ctx: &mut SquadCtx) -> Result<CommitSha, StepFailure> {
    let root = ctx.prepared()?.path.clone();
    let workspaces = &shared.services.workspaces;
    let head = workspaces.head(&root).await.map_err(|error| {
        StepFailure::port(format!("read the head of {}", ctx.issue_key), &error)
    })?;
    if ctx.remote_sha.as_ref() == Some(&head) {
        return Ok(head);
    }
    let branch = ctx.issue(shared).await?.branch_name.clone();
    let key = EffectKey::Push {
        squad: ctx.squad.clone(),
        head: head.clone(),
    };
    let lease = ctx.remote_sha.clone();
    let _: CommitSha = effects::once(shared, &key, |_| async {
        workspaces
            .push(&root, &branch, lease.as_ref())
            .await
            .map_err(|error| StepFailure::port(format!("push {branch}"), &error))
    })
    .await?;
    tracing::info!(run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key, head = head.short(), "pushed");
    ctx.remote_sha = Some(head.clone());
    Ok(head)
}

pub(crate) async fn update_pr_body(shared: &Shared, ctx: &SquadCtx, evidence: Option<&str>) {
    let (Some(pr), Some(target)) = (ctx.pr, ctx.target.as_ref()) else {
        return;
    };
    let body = pr_body(ctx, evidence, None);
    if let Err(error) = shared
        .services
        .code_host
        .update_pull_request_body(&target.repo, pr, &body)
        .await
    {
        tracing::warn!(squad = %ctx.squad, pr = pr.0, %error, "could not update the PR body");
    }
}
