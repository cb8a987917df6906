//! Work made safe when a squad stops short of a merge: what its agents left uncommitted is
//! committed as work in progress and pushed, to the squad's branch or, when that branch
//! heads a PR whose head carries reviews (which must stay what was reviewed), to a `wip/`
//! branch beside it. Only then may its worktree go.

use squadron_core::effect::EffectKey;
use squadron_core::event_payload::EventPayload;
use squadron_core::gate::CommitSha;
use squadron_core::{Phase, StepFailure};
use squadron_harness::commit_work_in_progress;

use super::publish::push;
use crate::effects;
use crate::log_events::{self, WORK_SAVED};
use crate::shared::Shared;
use crate::squad::SquadCtx;

/// Where a stopped squad's work went.
#[derive(Debug)]
pub(crate) enum SavedWork {
    /// The squad made nothing to keep (no worktree, or no change over its base).
    Nothing,
    /// The work is on the remote.
    Pushed(SavedBranch),
    /// The work could not be pushed; the worktree must stay.
    Kept(StepFailure),
}

/// A branch holding a stopped squad's work.
#[derive(Clone, Debug)]
pub(crate) struct SavedBranch {
    /// The branch.
    pub branch: String,
    /// Its head.
    pub head: CommitSha,
    /// Whether uncommitted work was committed as work in progress.
    pub wip_commit: bool,
    /// Its web page, when the code host has one.
    pub url: Option<String>,
    /// Whether it is a `wip/` branch beside the PR's own.
    pub beside_pr: bool,
}

/// Commits what the squad's agents left uncommitted as work in progress and pushes the
/// squad's work, then records where it went in the squad's log.
pub(crate) async fn save_work(shared: &Shared, ctx: &mut SquadCtx, phase: &Phase) -> SavedWork {
    let saved = match try_save(shared, ctx, phase).await {
        Ok(Some(branch)) => SavedWork::Pushed(branch),
        Ok(None) => SavedWork::Nothing,
        Err(failure) => SavedWork::Kept(failure),
    };
    let payload = match &saved {
        SavedWork::Nothing => return saved,
        SavedWork::Pushed(branch) => EventPayload::WorkSaved {
            branch: branch.branch.clone(),
            head: branch.head.clone(),
            wip_commit: branch.wip_commit,
            beside_pr: branch.beside_pr,
            url: branch.url.clone(),
        },
        SavedWork::Kept(failure) => EventPayload::WorkNotSaved {
            error: failure.to_string(),
        },
    };
    match &saved {
        SavedWork::Pushed(branch) => tracing::info!(
            event = WORK_SAVED, run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key,
            branch = %branch.branch, head = branch.head.short(), wip_commit = branch.wip_commit,
            "the stopped squad's work is on the remote"
        ),
        SavedWork::Kept(failure) => tracing::warn!(
            event = WORK_SAVED, run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key,
            error = %failure, "could not push the stopped squad's work; keeping its worktree"
        ),
        SavedWork::Nothing => {}
    }
    log_events::append(shared, &ctx.squad, &payload).await;
    saved
}

async fn try_save(
    shared: &Shared,
    ctx: &mut SquadCtx,
    phase: &Phase,
) -> Result<Option<SavedBranch>, StepFailure> {
    if ctx.workspace.is_none() {
        // After a restart the worktree is known only to the store; without one the squad
        // never got to work.
        let recorded = shared
            .services
            .store
            .squad(&ctx.squad)
            .await
            .map_err(|error| StepFailure::port("read the squad's worktree", &error))?
            .squad
            .worktree;
        if recorded.is_none() {
            return Ok(None);
        }
    }
    let workspace = ctx.ensure_workspace(shared).await?;
    let why = phase
        .detail()
        .map_or_else(|| phase.to_string(), str::to_owned);
    let wip = commit_work_in_progress(&workspace, &why, shared.services.clock.now())
        .await
        .map_err(|error| {
            StepFailure::needs_person("commit the squad's work in progress").caused_by(&error)
        })?;
    let root = workspace.worktree.root().to_path_buf();
    let workspaces = &shared.services.workspaces;
    let head = workspaces.head(&root).await.map_err(|error| {
        StepFailure::port(format!("read the head of {}", ctx.issue_key), &error)
    })?;
    if head == ctx.prepared()?.base_sha {
        return Ok(None);
    }
    let target = ctx.target(shared).await?;
    let branch = ctx.issue(shared).await?.branch_name.clone();
    let beside_pr = head_carries_reviews(shared, ctx).await;
    let branch = if beside_pr {
        let wip_branch = format!("wip/{branch}/{}", head.short());
        let key = EffectKey::SaveWork {
            squad: ctx.squad.clone(),
            head: head.clone(),
        };
        let _: CommitSha = effects::once(shared, &key, |_| async {
            workspaces
                .push(&root, &wip_branch, None)
                .await
                .map_err(|error| StepFailure::port(format!("push {wip_branch}"), &error))
        })
        .await?;
        wip_branch
    } else {
        push(shared, ctx).await?;
        branch
    };
    let url = shared.services.code_host.branch_url(&target.repo, &branch);
    Ok(Some(SavedBranch {
        branch,
        head,
        wip_commit: wip.is_some(),
        url,
        beside_pr,
    }))
}

/// Whether the squad's PR head (what the remote branch holds) carries a review: then the
/// branch must not move, or the reviews would no longer be of its head. When the PR cannot
/// be read, it is taken to carry one.
async fn head_carries_reviews(shared: &Shared, ctx: &SquadCtx) -> bool {
    let (Some(pr), Some(target), Some(remote)) = (ctx.pr, &ctx.target, &ctx.remote_sha) else {
        return false;
    };
    match shared
        .services
        .code_host
        .read_feedback(&target.repo, pr)
        .await
    {
        Ok(feedback) => feedback
            .reviews
            .iter()
            .any(|review| &review.commit_id == remote),
        Err(error) => {
            tracing::warn!(squad = %ctx.squad, pr = pr.0, %error, "could not read the PR's reviews; keeping its head where it is");
            true
        }
    }
}
