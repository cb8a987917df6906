//! `EvaluateGate`: the merge gate over the code host's own PR state, and whether an approved
//! PR is up to date with its base. The step only reads and reports; the scheduler decides
//! when to read again and hands out the merge lane.

use squadron_core::StepFailure;
use squadron_core::event_payload::EventPayload;
use squadron_core::gate::{CommitSha, GateDecision, GatePolicy, MergeGate, PullRequestState};
use squadron_core::merge_queue::{BaseRelation, RecheckVerdict};
use squadron_core::scheduler::Event;

use super::stop::StepResult;
use crate::log_events;
use crate::outcome::Outcome;
use crate::shared::Shared;
use crate::squad::SquadCtx;

pub(crate) async fn evaluate_gate(shared: &Shared, ctx: &mut SquadCtx) -> StepResult {
    let workspace = ctx.ensure_workspace(shared).await?;
    let pr = ctx.pr.ok_or_else(|| {
        StepFailure::internal(format!(
            "evaluate the gate of {}: the squad has no PR",
            ctx.issue_key
        ))
    })?;
    let target = ctx.target(shared).await?;
    let snapshot = shared
        .services
        .code_host
        .read_snapshot(&target.repo, pr)
        .await
        .map_err(|error| StepFailure::port(format!("read PR #{}", pr.0), &error))?;
    let decided = |head, decision| {
        Ok(vec![Outcome::Event(Event::GateDecided {
            squad: ctx.squad.clone(),
            head,
            decision,
        })])
    };
    if snapshot.state == PullRequestState::Merged {
        // Merged before a restart: the merge step finds it merged and records it.
        return decided(snapshot.head_sha.clone(), GateDecision::Merge);
    }
    let root = workspace.worktree.root();
    let head = shared
        .services
        .workspaces
        .head(root)
        .await
        .map_err(|error| {
            StepFailure::port(format!("read the head of {}", ctx.issue_key), &error)
        })?;
    let policy = GatePolicy {
        pushed_sha: head.clone(),
        base_branch: target.base_branch.clone(),
        reviewers: shared.settings.review_mode.reviewers.clone(),
        required_checks: shared.settings.required_checks.clone(),
    };
    let decision = MergeGate::evaluate(&snapshot, &policy);
    if decision != GateDecision::Merge {
        let (name, reasons) = decision_and_reasons(&decision);
        log_events::gate_decided(shared, &ctx.squad, name, &reasons, Some(&head)).await;
        return decided(head, decision);
    }
    record_flaky_checks(shared, ctx, &head).await;
    let relation = BaseRelation {
        mergeable: snapshot.mergeable,
    };
    let verdict = relation.verdict();
    let reasons: Vec<String> = match verdict {
        RecheckVerdict::Proceed => Vec::new(),
        RecheckVerdict::Rebase(reason) => vec![reason.describe(&target.base_branch)],
        RecheckVerdict::AskAgain => vec![MERGEABILITY_PENDING.to_owned()],
    };
    let decision = match verdict {
        RecheckVerdict::Proceed => "merge",
        RecheckVerdict::Rebase(_) => "rebase",
        RecheckVerdict::AskAgain => "wait",
    };
    log_events::gate_decided(shared, &ctx.squad, decision, &reasons, Some(&head)).await;
    match verdict {
        RecheckVerdict::Proceed => decided(head, GateDecision::Merge),
        RecheckVerdict::Rebase(reason) => Ok(vec![Outcome::Event(Event::RebaseRequired {
            squad: ctx.squad.clone(),
            reason,
        })]),
        RecheckVerdict::AskAgain => decided(head, GateDecision::AskAgainShortly),
    }
}

/// Checks the squad asked to run again on `head` pass now (the gate let the PR through):
/// each counts once as a flaky check. The squad's event log is the memory, so a restart in
/// between loses nothing.
async fn record_flaky_checks(shared: &Shared, ctx: &SquadCtx, head: &CommitSha) {
    let events = match shared.services.store.events(&ctx.squad).await {
        Ok(events) => events,
        Err(error) => {
            tracing::warn!(squad = %ctx.squad, %error, "could not read the event log to count flaky checks");
            return;
        }
    };
    let mut recorded = Vec::new();
    let mut rerun = Vec::new();
    for event in &events {
        match &event.note {
            Some(EventPayload::FlakyCheck { check, sha }) if sha == head => recorded.push(check),
            Some(EventPayload::CheckRerun { check, sha }) if sha == head => rerun.push(check),
            _ => {}
        }
    }
    rerun.dedup();
    for check in rerun.iter().filter(|check| !recorded.contains(check)) {
        log_events::flaky_check(shared, &ctx.squad, check, head).await;
    }
}

/// Why the gate asks again shortly.
const MERGEABILITY_PENDING: &str = "the code host has not computed mergeability yet";

/// A gate decision as recorded: its name (`merge`, `wait`, `blocked`) and every reason.
fn decision_and_reasons(decision: &GateDecision) -> (&'static str, Vec<String>) {
    match decision {
        GateDecision::Merge => ("merge", Vec::new()),
        GateDecision::AskAgainShortly => ("wait", vec![MERGEABILITY_PENDING.to_owned()]),
        GateDecision::Blocked(blockers) => (
            "blocked",
            blockers.iter().map(ToString::to_string).collect(),
        ),
    }
}
