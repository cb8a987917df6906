//! The lane holder's merge result, tested before it merges: its head merged with the base's
//! current tip in a scratch worktree (never the squad's), with the guardrails' test command
//! in the squad's sandbox. The head passed its tests alone; a base that moved on since may
//! still break it, and then the squad fixes it instead of the base being broken.

use squadron_core::StepFailure;
use squadron_core::gate::CommitSha;
use squadron_core::merge_queue::RebaseReason;
use squadron_core::ports::MergeTrial;
use squadron_core::scheduler::MergeRejection;
use squadron_harness::SquadWorkspace;

use super::verify::last_lines;
use crate::evidence::run_tests;
use crate::log_events;
use crate::shared::Shared;
use crate::squad::SquadCtx;

/// Lines of the failing test output kept in the rejection (the fix round runs the tests
/// again and hands the agents the whole output).
const FAILURE_LINES: usize = 20;

/// Tests `head` of the squad's worktree merged with the base's current tip. `None` when it
/// may merge: the head already contains the tip, or the merge passes the test command (or
/// the repository configures none, as for commits, or `github.test_merge_result` is off);
/// else why it must not.
pub(crate) async fn test_merge_result(
    shared: &Shared,
    ctx: &SquadCtx,
    workspace: &SquadWorkspace,
    base_branch: &str,
    head: &CommitSha,
) -> Result<Option<MergeRejection>, StepFailure> {
    let Some(test) = workspace.policy.test.as_deref() else {
        return Ok(None);
    };
    if !shared.settings.test_merge_result {
        return Ok(None);
    }
    let workspaces = &shared.services.workspaces;
    let trial = workspaces
        .merge_trial(workspace.worktree.root(), base_branch)
        .await
        .map_err(|error| {
            StepFailure::port(
                format!("merge {} with {base_branch} to test it", ctx.issue_key),
                &error,
            )
        })?;
    let reason = match trial {
        MergeTrial::UpToDate => return Ok(None),
        MergeTrial::Conflict { .. } => RebaseReason::Conflicts,
        MergeTrial::Merged { path, base } => {
            let output = run_tests(workspace, &path, test).await;
            if let Err(error) = workspaces.remove(&path).await {
                tracing::warn!(path = %path.display(), %error, "could not remove a scratch worktree");
            }
            let output = output?;
            if output.success() {
                tracing::info!(squad = %ctx.squad, base = %base.short(), "the head merged with the base passes the tests");
                return Ok(None);
            }
            let failure = format!(
                "`{test}` fails on {} merged with {base_branch} at {}: {}",
                head.short(),
                base.short(),
                last_lines(&output.render(), FAILURE_LINES)
            );
            record(
                shared,
                ctx,
                RebaseReason::MergeFailsTests,
                base_branch,
                head,
            )
            .await;
            return Ok(Some(MergeRejection::MergeFailsTests(failure)));
        }
    };
    record(shared, ctx, reason, base_branch, head).await;
    Ok(Some(MergeRejection::NeedsRebase(reason)))
}

/// Logs the trial's verdict as a gate decision, which the squad's page shows.
async fn record(
    shared: &Shared,
    ctx: &SquadCtx,
    reason: RebaseReason,
    base_branch: &str,
    head: &CommitSha,
) {
    let reasons = [reason.describe(base_branch)];
    log_events::gate_decided(shared, &ctx.squad, "rebase", &reasons, Some(head)).await;
}
