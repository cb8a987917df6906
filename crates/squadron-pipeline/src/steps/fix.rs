//! `Fix`: the Developer (and QA, for findings on tests) work through the round's review
//! findings, read back from the code host.

use squadron_config::{PromptName, ReviewCommentContext, ReviewContext};
use squadron_core::effect::PostedVerdict;
use squadron_core::gate::{CommitSha, ReviewState};
use squadron_core::ports::PullRequestFeedback;
use squadron_core::scheduler::Event;
use squadron_core::{ReviewVerdict, Role, StepFailure};

use super::stop::StepResult;
use super::writers::{answer_test_change_requests, developer_and_qa};
use crate::effects;
use crate::outcome::Outcome;
use crate::prompts::task_context;
use crate::review_memory::{self, PostedReview};
use crate::shared::Shared;
use crate::squad::{ReviewReply, SquadCtx};

pub(crate) async fn fix(shared: &Shared, ctx: &mut SquadCtx, round: u32) -> StepResult {
    let workspace = ctx.ensure_workspace(shared).await?;
    ctx.ensure_diagnosis(shared).await?;
    let pr = ctx.pr.ok_or_else(|| {
        StepFailure::internal(format!("fix {}: the squad has no PR", ctx.issue_key))
    })?;
    let target = ctx.target(shared).await?;
    let feedback = shared
        .services
        .code_host
        .read_feedback(&target.repo, pr)
        .await
        .map_err(|error| StepFailure::port(format!("read the reviews of PR #{}", pr.0), &error))?;
    let head = shared
        .services
        .workspaces
        .head(workspace.worktree.root())
        .await
        .map_err(|error| {
            StepFailure::port(format!("read the head of {}", ctx.issue_key), &error)
        })?;
    let mut reviews = Vec::new();
    let mut qa_needed = false;
    for (role, verdict, posted) in round_reviews(shared, ctx, round, &head, &feedback).await? {
        let reviewer = role.as_str();
        let comments: Vec<ReviewCommentContext> = posted
            .comments
            .iter()
            .map(|comment| {
                if workspace.policy.test_globs.matches(&comment.path) {
                    qa_needed = true;
                }
                ReviewCommentContext {
                    path: squadron_config::inline_name(&comment.path),
                    line: comment.line,
                    body: squadron_config::Untrusted::new("review comment", comment.body.clone()),
                }
            })
            .collect();
        if verdict == ReviewVerdict::ChangesRequested && role == Role::QaSpecialist {
            qa_needed = true;
        }
        reviews.push(ReviewContext {
            reviewer: reviewer.to_owned(),
            verdict: review_memory::verdict_text(verdict).to_owned(),
            body: squadron_config::Untrusted::new(
                format!("review by {reviewer}"),
                posted.review.body.clone(),
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
    // The Developer's summary of the implementation stays; the answer to this round is kept
    // beside it (once, if the step runs again).
    ctx.review_replies.retain(|reply| reply.round != round);
    ctx.review_replies.push(ReviewReply {
        round,
        developer,
        qa,
    });
    answer_test_change_requests(shared, ctx, round).await?;
    Ok(vec![Outcome::Event(Event::Fixed {
        squad: ctx.squad.clone(),
        round,
    })])
}

/// Each reviewer's review of `round`, found by the id the squad recorded when it posted it,
/// so a single identity's comment-only reviews count as much as real ones. Reviews the journal
/// does not name (a store that lost them) are looked for on `head` by the reviewers' logins.
async fn round_reviews<'a>(
    shared: &Shared,
    ctx: &SquadCtx,
    round: u32,
    head: &CommitSha,
    feedback: &'a PullRequestFeedback,
) -> Result<Vec<(Role, ReviewVerdict, PostedReview<'a>)>, StepFailure> {
    let identities = shared.settings.review_mode.identities.as_ref();
    let mut found = Vec::new();
    for role in [Role::CodeReviewer, Role::QaSpecialist] {
        let key = review_memory::review_key(&ctx.squad, round, role, head);
        let recorded = effects::recorded::<PostedVerdict>(shared, &key)
            .await?
            .and_then(|recorded| {
                let posted = review_memory::find(feedback, recorded.review_id?)?;
                Some((recorded.verdict, posted))
            });
        if let Some((verdict, posted)) = recorded {
            found.push((role, verdict, posted));
            continue;
        }
        let login = identities.map(|ids| match role {
            Role::QaSpecialist => ids.qa_specialist.as_str(),
            _ => ids.code_reviewer.as_str(),
        });
        let on_head = feedback.reviews.iter().rev().find(|review| {
            Some(review.author.as_str()) == login
                && &review.commit_id == head
                && matches!(
                    review.state,
                    ReviewState::Approved | ReviewState::ChangesRequested
                )
        });
        if let Some(review) = on_head {
            tracing::warn!(squad = %ctx.squad, role = %role, round, "the journal does not name this review; using the reviewer's latest review of the head");
            let verdict = if review.state == ReviewState::Approved {
                ReviewVerdict::Approved
            } else {
                ReviewVerdict::ChangesRequested
            };
            if let Some(posted) = review_memory::find(feedback, review.id) {
                found.push((role, verdict, posted));
            }
        }
    }
    Ok(found)
}
