//! `Review`: both reviewers on the current head at once, with the test evidence for the QA
//! Specialist; each review is posted once under its reviewer's identity.

use squadron_config::{PromptName, TaskContext};
use squadron_core::StepFailure;
use squadron_core::effect::{EffectKey, PostedStatus, PostedVerdict};
use squadron_core::event_payload::EventPayload;
use squadron_core::gate::{CommitSha, ReviewState, StatusState};
use squadron_core::ports::{PostedReview, ReviewDelivery, SquadUpdate, StatusUpdate};
use squadron_core::scheduler::Event;
use squadron_core::{PrNumber, Review, ReviewVerdict, Role};
use squadron_harness::KeptConversation;
use tracing::Instrument;

use super::publish::update_pr_body;
use super::renewal;
use super::stop::{StepResult, Stop};
use crate::effects;
use crate::evidence;
use crate::log_events::{self, REVIEW_VERDICT};
use crate::notify::{self, Subject};
use crate::outcome::Outcome;
use crate::prompts::{TurnResult, review_turn, task_context};
use crate::review_memory;
use crate::shared::Shared;
use crate::squad::{ReviewThread, SquadCtx};

pub(crate) async fn review(shared: &Shared, ctx: &mut SquadCtx, round: u32) -> StepResult {
    let workspace = ctx.ensure_workspace(shared).await?;
    ctx.ensure_diagnosis(shared).await?;
    ctx.ensure_revert(shared).await?;
    let pr = ctx.pr.ok_or_else(|| {
        StepFailure::internal(format!("review {}: the squad has no PR", ctx.issue_key))
    })?;
    let target = ctx.target(shared).await?;
    let head = shared
        .services
        .workspaces
        .head(workspace.worktree.root())
        .await
        .map_err(|error| {
            StepFailure::port(format!("read the head of {}", ctx.issue_key), &error)
        })?;
    let base = ctx.prepared()?.base_sha.clone();
    let evidence = evidence::gather(shared, &workspace, &ctx.test_command, &base, &head).await;
    let evidence = match evidence {
        Ok(evidence) => {
            record_evidence(shared, ctx, pr, &head, round, &evidence).await;
            Some(evidence)
        }
        Err(error) => {
            tracing::warn!(squad = %ctx.squad, %error, "could not gather the test evidence; the QA Specialist reviews without it");
            None
        }
    };
    let max = shared.settings.scheduler.max_review_rounds;
    let mut code_task = task_context(ctx, Role::CodeReviewer, round, max);
    code_task.repository.head_sha = Some(head.to_string());
    let mut qa_task = task_context(ctx, Role::QaSpecialist, round, max);
    qa_task.repository.head_sha = Some(head.to_string());
    qa_task.evidence = evidence.as_ref().map(|evidence| evidence.context.clone());
    // A reviewer that reviewed an earlier commit is shown that review (after a fix or a rebase).
    let own_files = shared
        .services
        .workspaces
        .changed_files(&ctx.prepared()?.path, &base)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(squad = %ctx.squad, %error, "could not list the squad's changed files");
            Vec::new()
        });
    [code_task.previous_review, qa_task.previous_review] = review_memory::previous_reviews(
        shared,
        &ctx.squad,
        &workspace,
        (&target.repo, pr),
        &head,
        &own_files,
        [Role::CodeReviewer, Role::QaSpecialist],
    )
    .await;
    // After a restart, each reviewer's conversation of its last review is read back.
    for role in [Role::CodeReviewer, Role::QaSpecialist] {
        if !ctx.review_threads.contains_key(&role)
            && let Some(conversation) = shared.harness.kept(&ctx.squad, role).await
        {
            let thread = ReviewThread {
                conversation,
                summary: None,
                outcomes: Vec::new(),
            };
            ctx.review_threads.insert(role, thread);
        }
    }
    let ctx_ref = &*ctx;
    // A reviewer with a conversation of its last review goes on in it, told what changed.
    let again = |role, task: &TaskContext| {
        ctx_ref
            .review_threads
            .get(&role)
            .map(|thread| (&thread.conversation, follow_up(task, thread)))
    };
    let (code_again, qa_again) = (
        again(Role::CodeReviewer, &code_task),
        again(Role::QaSpecialist, &qa_task),
    );
    let (code_reviewer, qa_specialist) = tokio::join!(
        review_as(
            shared,
            ctx_ref,
            pr,
            &target.repo,
            &head,
            round,
            Role::CodeReviewer,
            PromptName::ReviewCode,
            &code_task,
            code_again.as_ref().map(|(kept, task)| (*kept, task)),
        )
        .instrument(log_events::role_span(Role::CodeReviewer)),
        review_as(
            shared,
            ctx_ref,
            pr,
            &target.repo,
            &head,
            round,
            Role::QaSpecialist,
            PromptName::ReviewTests,
            &qa_task,
            qa_again.as_ref().map(|(kept, task)| (*kept, task)),
        )
        .instrument(log_events::role_span(Role::QaSpecialist)),
    );
    let (code_reviewer, qa_specialist) = (code_reviewer?, qa_specialist?);
    // Each reviewer's next review continues this conversation; one whose review this process
    // did not run (posted before a restart) goes on with the one kept before.
    for (role, (_, conversation), task) in [
        (Role::CodeReviewer, &code_reviewer, &code_task),
        (Role::QaSpecialist, &qa_specialist, &qa_task),
    ] {
        match conversation {
            Some(conversation) => {
                let thread = ReviewThread {
                    conversation: conversation.clone(),
                    summary: shown_summary(task),
                    outcomes: outcomes(task),
                };
                ctx.review_threads.insert(role, thread);
            }
            None => {
                ctx.review_threads.remove(&role);
            }
        }
    }
    let (code_reviewer, qa_specialist) = (code_reviewer.0, qa_specialist.0);
    Ok(vec![Outcome::Event(Event::ReviewsCompleted {
        squad: ctx.squad.clone(),
        round,
        code_reviewer,
        qa_specialist,
    })])
}

/// `task` as a reviewer's next review in its own conversation shows it: the writer's summary
/// and the tests' failure output only when they changed since its last review saw them.
fn follow_up(task: &TaskContext, thread: &ReviewThread) -> TaskContext {
    let mut again = task.clone();
    if shown_summary(task) == thread.summary {
        again.developer_summary = None;
        again.qa_summary = None;
    }
    if let Some(previous) = again.previous_review.as_mut() {
        previous.evidence_unchanged = task.evidence.is_some() && outcomes(task) == thread.outcomes;
    }
    again
}

/// The writer's summary a reviewer of `task` is shown: QA's to the QA Specialist, the
/// Developer's to the Code Reviewer.
fn shown_summary(task: &TaskContext) -> Option<String> {
    let summary = if task.role == Role::QaSpecialist.as_str() {
        &task.qa_summary
    } else {
        &task.developer_summary
    };
    summary.as_ref().map(|summary| summary.raw().to_owned())
}

/// The new tests' outcomes in `task`'s evidence: name, on base, on head.
fn outcomes(task: &TaskContext) -> Vec<(String, String, String)> {
    task.evidence
        .iter()
        .flat_map(|evidence| &evidence.tests)
        .map(|test| {
            (
                test.name.clone(),
                test.on_base.clone(),
                test.on_head.clone(),
            )
        })
        .collect()
}

async fn record_evidence(
    shared: &Shared,
    ctx: &SquadCtx,
    pr: PrNumber,
    head: &CommitSha,
    round: u32,
    evidence: &evidence::Evidence,
) {
    update_pr_body(shared, ctx, Some(&evidence.markdown)).await;
    let Some(target) = &ctx.target else { return };
    let description = if evidence.convincing {
        "new tests fail on the base and pass on the head".to_owned()
    } else if !evidence.already_passing.is_empty() {
        format!(
            "{} test file(s) already pass on the base",
            evidence.already_passing.len()
        )
    } else {
        "no convincing test evidence".to_owned()
    };
    let status = StatusUpdate {
        context: "squadron/evidence".to_owned(),
        state: if evidence.convincing {
            StatusState::Success
        } else {
            StatusState::Failure
        },
        description: description.clone(),
    };
    let key = EffectKey::Evidence {
        squad: ctx.squad.clone(),
        round,
        head: head.clone(),
    };
    let code_host = &shared.services.code_host;
    let recorded = effects::once(shared, &key, |_| async {
        code_host
            .set_commit_status(&target.repo, head, Role::QaSpecialist, &status)
            .await
            .map(|()| PostedStatus {
                description: description.clone(),
            })
            .map_err(|error| {
                StepFailure::port(format!("record the test evidence on PR #{}", pr.0), &error)
            })
    })
    .await;
    if let Err(error) = recorded {
        tracing::warn!(squad = %ctx.squad, %error, "could not record the evidence status");
    }
    tracing::info!(
        run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key, pr = pr.0, round,
        convincing = evidence.convincing, already_passing = ?evidence.already_passing,
        "test evidence gathered"
    );
}

#[expect(
    clippy::too_many_arguments,
    reason = "one reviewer's whole review round, spelled out"
)]
async fn review_as(
    shared: &Shared,
    ctx: &SquadCtx,
    pr: PrNumber,
    repo: &squadron_core::ports::RepoRef,
    head: &CommitSha,
    round: u32,
    role: Role,
    prompt: PromptName,
    task: &TaskContext,
    earlier: Option<(&KeptConversation, &TaskContext)>,
) -> Result<(ReviewVerdict, Option<KeptConversation>), Stop> {
    let key = review_memory::review_key(&ctx.squad, round, role, head);
    if let Ok(Some(PostedVerdict { verdict, .. })) = effects::recorded(shared, &key).await {
        // Killed between posting and telling the thread: tell it now (journaled, so once).
        notify_verdict(shared, ctx, round, role, head, verdict);
        return Ok((verdict, None));
    }
    let base = ctx.prepared()?.base_sha.clone();
    let (review, conversation) = match renewal::renewable(shared, ctx, role, &base, head).await {
        Some(renewal) => {
            tracing::info!(
                squad = %ctx.squad, %role, approved = %renewal.approved, %head, patch = %renewal.patch,
                "the rebase left the approved change identical: renewing the approval without a model call"
            );
            let base_branch = ctx
                .target
                .as_ref()
                .map_or("the base branch", |target| target.base_branch.as_str());
            (
                renewal::renewal_review(&renewal, head, base_branch, &base),
                None,
            )
        }
        None => match review_turn(shared, ctx, role, prompt, task, earlier).await? {
            (TurnResult::Reviewed(review), conversation) => (review, conversation),
            (TurnResult::Finished(_) | TurnResult::Diagnosed(_), _) => {
                return Err(Stop::Failed(StepFailure::needs_person(format!(
                    "get the {role}'s review: it finished without submitting one"
                ))));
            }
        },
    };
    let verdict = review.verdict;
    let comments = review.comments.len();
    let code_host = &shared.services.code_host;
    let delivery = shared.settings.review_mode.delivery;
    let login = shared
        .settings
        .review_mode
        .identities
        .as_ref()
        .map(|ids| match role {
            Role::QaSpecialist => ids.qa_specialist.clone(),
            _ => ids.code_reviewer.clone(),
        });
    let review = &review;
    let posted: PostedVerdict = effects::once(shared, &key, |attempt| async move {
        if attempt.may_have_happened()
            && let Some(login) = &login
            && let Ok(feedback) = code_host.read_feedback(repo, pr).await
            && let Some(found) = feedback
                .reviews
                .iter()
                .find(|entry| &entry.author == login && &entry.commit_id == head)
        {
            let verdict = if found.state == ReviewState::Approved {
                ReviewVerdict::Approved
            } else {
                ReviewVerdict::ChangesRequested
            };
            return Ok(PostedVerdict {
                verdict,
                review_id: Some(found.id),
            });
        }
        post_review(code_host.as_ref(), repo, pr, role, head, review, delivery)
            .await
            .map(|id| PostedVerdict {
                verdict,
                review_id: Some(id),
            })
    })
    .await?;
    let payload = EventPayload::ReviewVerdict {
        round,
        role,
        verdict,
        head: head.clone(),
        review_id: posted.review_id,
    };
    log_events::append(shared, &ctx.squad, &payload).await;
    tracing::info!(
        event = REVIEW_VERDICT,
        verdict = verdict.as_str(),
        comments,
        "review verdict"
    );
    notify_verdict(shared, ctx, round, role, head, verdict);
    Ok((verdict, conversation))
}

fn notify_verdict(
    shared: &Shared,
    ctx: &SquadCtx,
    round: u32,
    role: Role,
    head: &CommitSha,
    verdict: ReviewVerdict,
) {
    notify::post(
        shared,
        &Subject::of(ctx),
        &format!("review-{round}-{role}-{}", head.short()),
        SquadUpdate::ReviewVerdict {
            reviewer: role,
            verdict,
            round,
        },
    );
}

async fn post_review(
    code_host: &dyn squadron_core::ports::CodeHost,
    repo: &squadron_core::ports::RepoRef,
    pr: PrNumber,
    role: Role,
    head: &CommitSha,
    review: &Review,
    delivery: ReviewDelivery,
) -> Result<u64, StepFailure> {
    let posted = code_host
        .post_review(repo, pr, role, head, review, delivery)
        .await
        .map_err(|error| {
            StepFailure::port(format!("post the {role}'s review on PR #{}", pr.0), &error)
        })?;
    match posted {
        PostedReview::Posted { review_id } => Ok(review_id),
        PostedReview::SelfApprovalRefused => {
            tracing::warn!(role = %role, pr = pr.0, "the code host refused a self-approval; posting the verdict as a comment with a status");
            match code_host
                .post_review(
                    repo,
                    pr,
                    role,
                    head,
                    review,
                    ReviewDelivery::CommentWithStatus,
                )
                .await
                .map_err(|error| {
                    StepFailure::port(format!("post the {role}'s review on PR #{}", pr.0), &error)
                })? {
                PostedReview::Posted { review_id } => Ok(review_id),
                PostedReview::SelfApprovalRefused => Err(StepFailure::needs_person(format!(
                    "post the {role}'s review on PR #{}: the code host refused it twice",
                    pr.0
                ))),
            }
        }
    }
}
