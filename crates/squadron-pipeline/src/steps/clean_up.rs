//! `CleanUp`: an ended squad's work made safe, a person told when one must look, and then its
//! worktree removed (its branches and PR stay). A worktree whose work could not be pushed is
//! kept: removing it would throw the work away.

use squadron_core::Phase;
use squadron_core::ports::SquadChange;

use super::needs_human::{notify_failed, post_needs_human};
use super::save_work::{SavedWork, save_work};
use crate::progress::SquadView;
use crate::shared::Shared;
use crate::squad::{SharedCtx, SquadCtx};

/// Saves the ended squad's work unless it merged, tells people when it needs one, and
/// removes its worktree unless it is kept for a person or holds work not on the remote;
/// then forgets the squad's last gate decision (the runtime lets its context go).
pub(crate) async fn clean_up(shared: &Shared, ctx: &SharedCtx, view: &SquadView, keep: bool) {
    let mut ctx = ctx.lock().await;
    make_safe_and_remove(shared, &mut ctx, view, keep).await;
    shared.activity.forget(&view.squad);
}

async fn make_safe_and_remove(shared: &Shared, ctx: &mut SquadCtx, view: &SquadView, keep: bool) {
    let saved = if view.phase == Phase::Merged {
        SavedWork::Nothing
    } else {
        save_work(shared, ctx, &view.phase).await
    };
    match &view.phase {
        Phase::NeedsHuman(reason) => post_needs_human(shared, ctx, view, reason, &saved).await,
        Phase::Failed(error) => {
            post_needs_human(
                shared,
                ctx,
                view,
                &format!("the squad failed: {error}"),
                &saved,
            )
            .await;
            notify_failed(shared, ctx, view, error);
        }
        _ => {}
    }
    if keep {
        tracing::info!(squad = %view.squad, issue = %view.issue, "keeping the worktree for a person to inspect");
        return;
    }
    if let SavedWork::Kept(failure) = &saved {
        tracing::warn!(squad = %view.squad, issue = %view.issue, error = %failure, "keeping the worktree: its work is not on the remote");
        return;
    }
    let path = match &ctx.worktree {
        Some(prepared) => Some(prepared.path.clone()),
        None => shared
            .services
            .store
            .squad(&view.squad)
            .await
            .ok()
            .and_then(|record| record.squad.worktree.map(std::path::PathBuf::from)),
    };
    let Some(path) = path else { return };
    if let Err(error) = shared.services.workspaces.remove(&path).await {
        tracing::warn!(squad = %view.squad, path = %path.display(), %error, "could not remove the worktree");
        return;
    }
    // Whole tool outputs kept for the agents live beside the worktree: they go with it.
    if let Err(error) = squadron_harness::Scratch::beside(&path).remove() {
        tracing::warn!(squad = %view.squad, path = %path.display(), %error, "could not remove the squad's scratch files");
    }
    ctx.forget_worktree();
    let now = shared.services.clock.now();
    if let Err(error) = shared
        .services
        .store
        .change_squad(&view.squad, &SquadChange::Worktree(None), now)
        .await
    {
        tracing::warn!(squad = %view.squad, %error, "could not record the worktree's removal");
    }
    tracing::info!(squad = %view.squad, issue = %view.issue, "worktree removed");
}
