//! The repository's setup command (`[sandbox] setup` in its `.squadron.toml`): run in each
//! prepared worktree before any agent works there, with the network only when the repository
//! allows it, and told in the squad's event log so `squadron logs` shows what it printed.

use squadron_harness::{GUARDRAIL_OUTPUT_CAP, SquadWorkspace, run_setup};

use squadron_core::event_payload::EventPayload;
use squadron_core::{IssueKey, SquadId, StepFailure};

use crate::log_events;
use crate::shared::Shared;

/// Bytes of the setup command's output kept in the event log (head and tail).
const KEPT_OUTPUT: usize = 4 * GUARDRAIL_OUTPUT_CAP;

/// Runs the setup command, if the repository has one, and records it; a setup that fails
/// (or cannot run) fails the step: no agent could build or test in such a worktree.
pub(crate) async fn run_once(
    shared: &Shared,
    squad: &SquadId,
    issue: &IssueKey,
    workspace: &SquadWorkspace,
) -> Result<(), StepFailure> {
    let Some(result) = run_setup(workspace).await else {
        return Ok(());
    };
    let command = workspace.policy.setup.clone().unwrap_or_default();
    let output = result.map_err(|error| {
        StepFailure::needs_person(format!("run the repository's setup command `{command}`"))
            .caused_by(&error)
    })?;
    let passed = output.success();
    let rendered = output.render();
    let kept = squadron_harness::guardrails::bounded(&rendered, KEPT_OUTPUT);
    let payload = EventPayload::Setup {
        command: command.clone(),
        network: workspace.policy.setup_network,
        passed,
        exit_code: output.exit_code,
        elapsed: output.elapsed,
        output: kept,
    };
    log_events::append(shared, squad, &payload).await;
    tracing::info!(
        %squad, %issue, command = %command, passed,
        elapsed_ms = output.elapsed.as_millis(), "setup command ran"
    );
    if passed {
        Ok(())
    } else {
        let tail: Vec<&str> = rendered.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Err(StepFailure::needs_person(format!(
            "run the repository's setup command `{command}`: it failed, so no agent could work in this worktree (the whole output is in `squadron logs`):\n{}",
            tail.join("\n")
        )))
    }
}
