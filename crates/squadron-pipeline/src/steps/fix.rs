//! `Fix`: the Developer (and QA, for findings on tests) work through the round's review
//! findings, read back from the code host.

use squadron_config::{PromptName, ReviewCommentContext, ReviewContext};
use squadron_core::Role;
use squadron_core::gate::ReviewState;
use squadron_core::scheduler::Event;

use super::stop::StepResult;
use super::writers::{answer_test_change_requests, developer_and_qa};
use crate::outcome::Outcome;
use crate::prompts::task_context;
use crate::shared::Shared;
use crate::squad::SquadCtx;

pub(crate) async fn fix(shared: &Shared, ctx: &mut SquadCtx, round: u32) -> StepResult {
    let workspace = ctx.ensure_workspace(shared).await?;
    ctx.ensure_diagnosis(shared).await?;
    let pr = ctx
        .pr
        .ok_or_else(|| format!("fix {}: the squad has no PR", ctx.issue_key))?;
    let target = ctx.target(shared).await?;
    let feedback = shared
        .services
        .code_host
        .read_feedback(&target.repo, pr)
        .await
        .map_err(|error| format!("read the reviews of PR #{}: {error}", pr.0))?;
    let head = shared
        .services
        .workspaces
        .head(workspace.worktree.root())
        .await
        .map_err(|error| format!("read the head of {}: {error}", ctx.issue_key))?;
    let identities = shared.settings.review_mode.identities.as_ref();
    let reviewer_of = |login: &str| match identities {
        Some(ids) if ids.qa_specialist == login => Role::QaSpecialist.as_str().to_owned(),
        Some(ids) if ids.code_reviewer == login => Role::CodeReviewer.as_str().to_owned(),
        _ => login.to_owned(),
    };
    let on_head: Vec<_> = feedback
        .reviews
        .iter()
        .filter(|review| review.commit_id == head && review.state.is_opinion())
        .collect();
    let mut reviews = Vec::new();
    let mut qa_needed = false;
    for review in &on_head {
        let reviewer = reviewer_of(&review.author);
        let comments: Vec<ReviewCommentContext> = feedback
            .review_comments
            .iter()
            .filter(|comment| comment.review_id == Some(review.id))
            .map(|comment| {
                if workspace.policy.test_globs.matches(&comment.path) {
                    qa_needed = true;
                }
                ReviewCommentContext {
                    path: comment.path.clone(),
                    line: comment.line,
                    body: squadron_config::Untrusted::new("review comment", comment.body.clone()),
                }
            })
            .collect();
        let changes = review.state == ReviewState::ChangesRequested;
        if changes && reviewer == Role::QaSpecialist.as_str() {
            qa_needed = true;
        }
        reviews.push(ReviewContext {
            reviewer: reviewer.clone(),
            verdict: if changes {
                "changes_requested"
            } else {
                "approved"
            }
            .to_owned(),
            body: squadron_config::Untrusted::new(
                format!("review by {reviewer}"),
                review.body.clone(),
            ),
            comments,
        });
    }
    tracing::info!(
        run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key, pr = pr.0, round,
        reviews = reviews.len(), qa = qa_needed, "fixing review findings"
    );
    let max = shared.settings.scheduler.max_review_rounds;
    let mut developer_task = task_context(ctx, Role::Developer, round, max);
    developer_task.reviews = reviews.clone();
    let mut qa_task = task_context(ctx, Role::Qa, round, max);
    qa_task.reviews = reviews;
    let (developer, qa) = developer_and_qa(
        shared,
        ctx,
        (PromptName::FixFromReview, &developer_task),
        qa_needed.then_some((PromptName::FixFromReview, &qa_task)),
        None,
    )
    .await?;
    ctx.keep_summaries(developer, qa);
    answer_test_change_requests(shared, ctx, round).await?;
    Ok(vec![Outcome::Event(Event::Fixed {
        squad: ctx.squad.clone(),
        round,
    })])
}
