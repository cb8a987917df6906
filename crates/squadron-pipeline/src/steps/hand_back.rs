//! `HandBack`: what verification found failing (the test command, the write rules) goes
//! back to the Developer, and to QA when it concerns QA's tests, to fix before the scheduler
//! has the branch verified again. The scheduler bounds how often.

use squadron_config::{PromptName, fence};
use squadron_core::Role;
use squadron_core::merge_queue::RebaseReason;
use squadron_core::scheduler::{Event, HandBack};

use super::stop::StepResult;
use super::writers::{answer_test_change_requests, developer_and_qa};
use crate::log_events::{self, RETRY};
use crate::outcome::Outcome;
use crate::prompts::task_context;
use crate::shared::Shared;
use crate::squad::SquadCtx;

/// Runs the writers on hand-back `attempt` (from 1) of `failure` and reports it done.
pub(crate) async fn hand_back(
    shared: &Shared,
    ctx: &mut SquadCtx,
    attempt: u32,
    failure: HandBack,
    rebased: Option<RebaseReason>,
) -> StepResult {
    ctx.ensure_workspace(shared).await?;
    ctx.ensure_diagnosis(shared).await?;
    let qa = failure.concerns_qa();
    let what = failure.what();
    // The verification the agents' work leads to is attempt `attempt + 1`.
    let again = attempt + 1;
    let (why, extra) = match &failure {
        HandBack::TestsFailed { output, .. } => {
            tracing::info!(
                event = RETRY,
                what,
                attempt = again,
                qa,
                "tests fail; handing the failure back to the agents"
            );
            let why = if qa {
                "the test command failed; the Developer and QA fix it"
            } else {
                "the test command failed; the Developer fixes it"
            };
            // After a rebase for a failing merge the change passed alone: say what is new.
            let moved = if rebased == Some(RebaseReason::MergeFailsTests) {
                let base = ctx.target(shared).await?.base_branch.clone();
                format!(
                    "Your change passed its tests alone, but {base} moved on since: the branch was rebased onto it, and together they fail. "
                )
            } else {
                String::new()
            };
            let extra = format!(
                "## The test command fails\n{moved}The harness ran the test command before committing and it failed. Fix the cause, run the tests, then call `finish`.\n{}",
                fence("test output", output)
            );
            (why, extra)
        }
        HandBack::WriteRulesBroken { breaches, .. } => {
            tracing::info!(
                event = RETRY,
                what,
                attempt = again,
                qa,
                "the change breaks the write rules; handing it back to the agents"
            );
            let why = "the change breaks the write rules; the files were put back and the agents redo their work";
            let extra = format!("## Your changes were refused\n{breaches}\nThen call `finish`.");
            (why, extra)
        }
    };
    log_events::retried(shared, &ctx.squad, what, again, why).await;
    let max = shared.settings.scheduler.max_review_rounds;
    let developer_task = task_context(ctx, Role::Developer, 0, max);
    let qa_task = task_context(ctx, Role::Qa, 0, max);
    developer_and_qa(
        shared,
        ctx,
        (PromptName::Implement, &developer_task),
        qa.then_some((PromptName::WriteTests, &qa_task)),
        Some(&extra),
    )
    .await?;
    answer_test_change_requests(shared, ctx, 0).await?;
    Ok(vec![Outcome::Event(Event::HandedBack {
        squad: ctx.squad.clone(),
        attempt,
    })])
}
