//! `PrepareWorkspace`: the squad's worktree on its branch, the issue moved to started, and the
//! squad's chat thread opened.

use squadron_core::ports::{SquadChange, WorkflowTarget};
use squadron_core::scheduler::Event;

use super::publish::move_issue;
use super::stop::StepResult;
use crate::notify::{self, Subject};
use crate::outcome::Outcome;
use crate::shared::Shared;
use crate::squad::SquadCtx;

pub(crate) async fn prepare(shared: &Shared, ctx: &mut SquadCtx) -> StepResult {
    ctx.ensure_workspace(shared).await?;
    let path = ctx.prepared()?.path.display().to_string();
    let now = shared.services.clock.now();
    if let Err(error) = shared
        .services
        .store
        .change_squad(&ctx.squad, &SquadChange::Worktree(Some(path)), now)
        .await
    {
        tracing::warn!(squad = %ctx.squad, %error, "could not record the worktree path");
    }
    move_issue(shared, ctx, WorkflowTarget::Started).await?;
    notify::open_thread(shared, &Subject::of(ctx));
    Ok(vec![Outcome::Event(Event::Prepared {
        squad: ctx.squad.clone(),
    })])
}
