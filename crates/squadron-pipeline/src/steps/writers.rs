//! The writers' turns shared by implementing, verifying and fixing: the Developer and QA in
//! one worktree at once, and QA's judgement of the Developer's test-change requests.

use squadron_config::{PromptName, TaskContext, fence};
use squadron_core::Role;
use squadron_core::event_payload::{EventPayload, TestChangeRequest};
use squadron_harness::KeptConversation;
use tracing::Instrument;

use super::stop::Stop;
use crate::log_events::{self, TEST_CHANGE_REQUESTED};
use crate::prompts::{FollowUp, TurnResult, TurnStop, task_context, turn_continuing};
use crate::shared::Shared;
use crate::squad::SquadCtx;

/// A turn of the Developer and, when `qa` is given, one of QA at the same time in the same
/// worktree: the harness confines QA to test files and the Developer to the rest. Returns
/// the summaries of the turns that finished.
///
/// A writer that finished a turn before goes on in that conversation (its system prompt and
/// first task sent again byte for byte, so a provider's prompt cache serves them): a review
/// round is told in `fix-again`, anything else by `extra` alone; after a restart the
/// conversation is read back from the store. A writer with no such conversation (its first
/// turn), or whose system prompt changed, starts afresh on its prompt with `extra` appended.
pub(crate) async fn developer_and_qa(
    shared: &Shared,
    ctx: &mut SquadCtx,
    developer: (PromptName, &TaskContext),
    qa: Option<(PromptName, &TaskContext)>,
    extra: Option<&str>,
) -> Result<(Option<String>, Option<String>), TurnStop> {
    restore_thread(shared, ctx, Role::Developer).await;
    if qa.is_some() {
        restore_thread(shared, ctx, Role::Qa).await;
    }
    let ctx_ref = &*ctx;
    let developer_turn = writer_turn(shared, ctx_ref, Role::Developer, developer, extra);
    let (developer, qa) = match qa {
        Some(qa) => {
            let qa_turn = writer_turn(shared, ctx_ref, Role::Qa, qa, extra);
            let (developer, qa) = tokio::join!(developer_turn, qa_turn);
            (developer, Some(qa))
        }
        None => (developer_turn.await, None),
    };
    // A writer whose turn finished keeps its conversation even when the other's failed.
    let developer = keep_thread(ctx, Role::Developer, developer);
    let qa = qa.map(|qa| keep_thread(ctx, Role::Qa, qa)).transpose();
    let (developer, qa) = (developer?, qa?);
    let summary = |result: TurnResult| match result {
        TurnResult::Finished(summary) => Some(summary),
        TurnResult::Reviewed(_) | TurnResult::Diagnosed(_) => None,
    };
    Ok((summary(developer), qa.and_then(summary)))
}

/// One writer's turn in its `role` span, continuing its conversation where it has one.
async fn writer_turn(
    shared: &Shared,
    ctx: &SquadCtx,
    role: Role,
    (prompt, task): (PromptName, &TaskContext),
    extra: Option<&str>,
) -> Result<(TurnResult, Option<KeptConversation>), TurnStop> {
    let follow_up = match (prompt, extra) {
        (PromptName::FixFromReview, _) => Some(FollowUp::Prompt(PromptName::FixAgain, task)),
        (_, Some(extra)) => Some(FollowUp::Text(extra)),
        (_, None) => None,
    };
    let again = ctx.writer_threads.get(&role).zip(follow_up);
    turn_continuing(shared, ctx, role, (prompt, task, extra), again)
        .instrument(log_events::role_span(role))
        .await
}

/// Reads back the conversation `role` kept before a restart, when this process has none.
async fn restore_thread(shared: &Shared, ctx: &mut SquadCtx, role: Role) {
    if ctx.writer_threads.contains_key(&role) {
        return;
    }
    if let Some(kept) = shared.harness.kept(&ctx.squad, role).await {
        ctx.writer_threads.insert(role, kept);
    }
}

/// Keeps the conversation of `role`'s finished turn for its next one, and forgets an older
/// one when the turn ended without one to keep.
fn keep_thread(
    ctx: &mut SquadCtx,
    role: Role,
    turn: Result<(TurnResult, Option<KeptConversation>), TurnStop>,
) -> Result<TurnResult, TurnStop> {
    turn.map(|(result, conversation)| {
        match conversation {
            Some(conversation) => ctx.writer_threads.insert(role, conversation),
            None => ctx.writer_threads.remove(&role),
        };
        result
    })
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
    let payload = EventPayload::TestChangeRequested {
        round,
        requests: requests
            .iter()
            .map(|request| TestChangeRequest {
                path: request.path.clone(),
                reason: request.reason.clone(),
            })
            .collect(),
    };
    log_events::append(shared, &ctx.squad, &payload).await;
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
    restore_thread(shared, ctx, Role::Qa).await;
    let turn = writer_turn(
        shared,
        ctx,
        Role::Qa,
        (PromptName::WriteTests, &task),
        Some(&extra),
    )
    .await;
    if let TurnResult::Finished(summary) = keep_thread(ctx, Role::Qa, turn)? {
        ctx.qa_summary = Some(summary);
    }
    Ok(())
}
