//! `CleanUp`: an ended squad's worktree removed (its branch and PR stay).

use squadron_core::ports::SquadChange;

use crate::progress::SquadView;
use crate::shared::Shared;
use crate::squad::SharedCtx;

/// Removes a squad's worktree (its branch and PR stay), unless it is kept for a person.
pub(crate) async fn clean_up(shared: &Shared, ctx: &SharedCtx, view: &SquadView, keep: bool) {
    if keep {
        tracing::info!(squad = %view.squad, issue = %view.issue, "keeping the worktree for a person to inspect");
        return;
    }
    let mut ctx = ctx.lock().await;
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
