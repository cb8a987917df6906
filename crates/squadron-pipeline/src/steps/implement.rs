//! `Implement`: the Developer and QA work on the issue (or a bug fix's plan) together in the
//! squad's worktree.

use squadron_config::PromptName;
use squadron_core::Role;
use squadron_core::scheduler::Event;

use super::stop::StepResult;
use super::writers::{answer_test_change_requests, developer_and_qa};
use crate::outcome::Outcome;
use crate::prompts::task_context;
use crate::shared::Shared;
use crate::squad::SquadCtx;

pub(crate) async fn implement(shared: &Shared, ctx: &mut SquadCtx) -> StepResult {
    ctx.ensure_workspace(shared).await?;
    ctx.ensure_diagnosis(shared).await?;
    let max = shared.settings.scheduler.max_review_rounds;
    let developer_task = task_context(ctx, Role::Developer, 0, max);
    let qa_task = task_context(ctx, Role::Qa, 0, max);
    let (developer, qa) = developer_and_qa(
        shared,
        ctx,
        (PromptName::Implement, &developer_task),
        Some((PromptName::WriteTests, &qa_task)),
        None,
    )
    .await?;
    ctx.keep_summaries(developer, qa);
    answer_test_change_requests(shared, ctx, 0).await?;
    Ok(vec![Outcome::Event(Event::Implemented {
        squad: ctx.squad.clone(),
    })])
}
