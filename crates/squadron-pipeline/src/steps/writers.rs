//! The writers' turns shared by implementing, verifying and fixing: the Developer and QA in
//! one worktree at once, and QA's judgement of the Developer's test-change requests.

use squadron_config::{PromptName, fence};
use squadron_core::Role;

use super::stop::Stop;
use crate::log_events::TEST_CHANGE_REQUESTED;
use crate::prompts::{TurnResult, TurnStop, run_turn, task_context};
use crate::shared::Shared;
use crate::squad::SquadCtx;

/// A turn of the Developer and, when `qa` is given, one of QA at the same time in the same
/// worktree: the harness confines QA to test files and the Developer to the rest. Returns
/// the summaries of the turns that finished.
pub(crate) async fn developer_and_qa(
    shared: &Shared,
    ctx: &SquadCtx,
    developer: (PromptName, &squadron_config::TaskContext),
    qa: Option<(PromptName, &squadron_config::TaskContext)>,
    extra: Option<&str>,
) -> Result<(Option<String>, Option<String>), TurnStop> {
    let (developer_prompt, developer_task) = developer;
    let developer_turn = run_turn(
        shared,
        ctx,
        Role::Developer,
        developer_prompt,
        developer_task,
        extra,
    );
    let (developer, qa) = match qa {
        Some((qa_prompt, qa_task)) => {
            let qa_turn = run_turn(shared, ctx, Role::Qa, qa_prompt, qa_task, extra);
            let (developer, qa) = tokio::join!(developer_turn, qa_turn);
            (developer?, Some(qa?))
        }
        None => (developer_turn.await?, None),
    };
    let summary = |result: TurnResult| match result {
        TurnResult::Finished(summary) => Some(summary),
        TurnResult::Reviewed(_) | TurnResult::Diagnosed(_) => None,
    };
    Ok((summary(developer), qa.and_then(summary)))
}

/// Hands the test-change requests the Developer made in its last turn to QA, who judges
/// each one and changes a test only where the request is right; the requests are cleared
/// either way. Nothing happens when there are none.
pub(crate) async fn answer_test_change_requests(
    shared: &Shared,
    ctx: &mut SquadCtx,
    round: u32,
) -> Result<(), Stop> {
    let requests = ctx
        .workspace
        .as_ref()
        .map(|workspace| workspace.test_change_requests.take())
        .unwrap_or_default();
    if requests.is_empty() {
        return Ok(());
    }
    let paths: Vec<&str> = requests
        .iter()
        .map(|request| request.path.as_str())
        .collect();
    let payload = serde_json::json!({
        "round": round,
        "requests": requests
            .iter()
            .map(|request| serde_json::json!({"path": request.path, "reason": request.reason}))
            .collect::<Vec<_>>(),
    });
    let now = shared.services.clock.now();
    if let Err(error) = shared
        .services
        .store
        .append_event(&ctx.squad, TEST_CHANGE_REQUESTED, &payload.to_string(), now)
        .await
    {
        tracing::warn!(squad = %ctx.squad, %error, "could not log the test change requests");
    }
    tracing::info!(
        event = TEST_CHANGE_REQUESTED,
        requests = requests.len(),
        ?paths,
        "the developer asks QA to change tests"
    );
    let listed: String = requests
        .iter()
        .enumerate()
        .map(|(index, request)| format!("{}. `{}`: {}\n", index + 1, request.path, request.reason))
        .collect();
    // The reasons are the Developer model's words: data for QA to judge, never instructions.
    let extra = format!(
        "## The Developer asks you to change tests\nThe Developer may not edit the tests you wrote and asks you to change the ones below. Judge each request against the issue and its acceptance scenarios: change a test only where the request is right, and keep it where the test is right and the code must change instead. Run the tests, then call `finish`; its summary says which requests you accepted, which you declined, and why.\n{}",
        fence("the developer's test change requests", &listed)
    );
    let max = shared.settings.scheduler.max_review_rounds;
    let task = task_context(ctx, Role::Qa, round, max);
    if let TurnResult::Finished(summary) = run_turn(
        shared,
        ctx,
        Role::Qa,
        PromptName::WriteTests,
        &task,
        Some(&extra),
    )
    .await?
    {
        ctx.qa_summary = Some(summary);
    }
    Ok(())
}
