//! `Verify`: an optional rebase onto the base, then the test command and the write rules
//! before the commit; what fails there is reported for the scheduler to hand back to the
//! agents (`HandBack`) or give to a person. A squad with a PR pushes the verified head.

use squadron_core::Role;
use squadron_core::StepFailure;
use squadron_core::merge_queue::RebaseReason;
use squadron_core::scheduler::{Event, HandBack, RebaseConflict, Verification};
use squadron_harness::{
    AuthoredChange, BrokenRule, CommitOutcome, Scratch, commit_by_author, describe_breaches,
};

use super::conflicts::landed_changes;
use super::publish::{push, update_pr_body};
use super::stop::StepResult;
use crate::outcome::Outcome;
use crate::shared::Shared;
use crate::squad::SquadCtx;

pub(crate) async fn verify(
    shared: &Shared,
    ctx: &mut SquadCtx,
    rebase: Option<RebaseReason>,
) -> StepResult {
    let workspace = ctx.ensure_workspace(shared).await?;
    ctx.ensure_diagnosis(shared).await?;
    let root = workspace.worktree.root().to_path_buf();
    let workspaces = &shared.services.workspaces;
    let target = ctx.target(shared).await?;
    if let Some(reason) = rebase {
        let outcome = workspaces
            .rebase(&root, &target.base_branch)
            .await
            .map_err(|error| {
                StepFailure::port(
                    format!("rebase {} onto {}", ctx.issue_key, target.base_branch),
                    &error,
                )
            })?;
        tracing::info!(squad = %ctx.squad, issue = %ctx.issue_key, ?reason, ?outcome, "rebased onto the base");
        match outcome {
            squadron_core::ports::RebaseOutcome::Rebased { head, base } => {
                if let Some(prepared) = ctx.worktree.as_mut() {
                    prepared.base_sha = base;
                    prepared.head_sha = head;
                }
            }
            squadron_core::ports::RebaseOutcome::UpToDate => {}
            squadron_core::ports::RebaseOutcome::Conflict { paths, landed } => {
                // The scheduler decides whether the squad resolves them; a person who gets
                // them is told which PRs they meet.
                let landed = landed_changes(shared, ctx, &landed)
                    .await
                    .into_iter()
                    .map(|landed| landed.change)
                    .collect();
                let conflict = RebaseConflict {
                    base_branch: target.base_branch.clone(),
                    paths,
                    landed,
                };
                return Ok(verified(ctx, Verification::Conflicts(conflict)));
            }
        }
    }
    let summary = ctx
        .developer_summary
        .clone()
        .unwrap_or_else(|| format!("Implement {}", ctx.issue_key));
    let qa_summary = ctx
        .qa_summary
        .clone()
        .unwrap_or_else(|| format!("Test {}", ctx.issue_key));
    let now = shared.services.clock.now();
    // The tests run once on the whole tree; then QA's files are committed as QA and the
    // rest as the Developer, so the branch shows who wrote what.
    let qa_paths = workspace.qa_files.paths();
    let changes = [
        AuthoredChange {
            role: Role::Qa,
            summary: &qa_summary,
            paths: Some(&qa_paths),
        },
        AuthoredChange {
            role: Role::Developer,
            summary: &summary,
            paths: None,
        },
    ];
    let outcome = commit_by_author(&workspace, &changes, now)
        .await
        .map_err(|error| StepFailure::needs_person("commit the squad's work").caused_by(&error))?;
    match outcome {
        CommitOutcome::TestsFailed { output } => {
            let rendered = output.render();
            // Failures go back to whoever can fix them: the Developer always, QA as well
            // when one of its test files shows up in the failure.
            let qa = qa_paths.iter().any(|path| rendered.contains(path.as_str()));
            let tail = last_lines(&rendered, 20);
            // Bounded as a tool result is: a long test log would otherwise fill a fresh
            // turn's prompt before the agent has done anything.
            let (output, _) = Scratch::beside(&root).bound(
                Role::Developer,
                rendered,
                shared.settings.turn.tool_output,
            );
            let failure = HandBack::TestsFailed { output, tail, qa };
            return Ok(verified(ctx, Verification::HandBack(failure)));
        }
        CommitOutcome::Refused { breaches } => {
            for breach in &breaches {
                tracing::warn!(squad = %ctx.squad, issue = %ctx.issue_key, %breach, "a change breaks the write rules");
            }
            let failure = HandBack::WriteRulesBroken {
                paths: breaches.iter().map(|breach| breach.path.clone()).collect(),
                breaches: describe_breaches(&breaches),
                qa: breaches
                    .iter()
                    .any(|breach| breach.broken == BrokenRule::NotQasTest),
            };
            return Ok(verified(ctx, Verification::HandBack(failure)));
        }
        CommitOutcome::Committed { .. } | CommitOutcome::NothingToCommit => {}
    }
    let head = workspaces.head(&root).await.map_err(|error| {
        StepFailure::port(format!("read the head of {}", ctx.issue_key), &error)
    })?;
    let base = ctx.prepared()?.base_sha.clone();
    if head == base {
        return Ok(verified(
            ctx,
            Verification::Failed(
                "the agents changed nothing: the branch has no commit over the base".to_owned(),
            ),
        ));
    }
    if let Some(prepared) = ctx.worktree.as_mut() {
        prepared.head_sha = head;
    }
    if ctx.pr.is_some() {
        push(shared, ctx).await?;
        update_pr_body(shared, ctx, None).await;
    }
    Ok(verified(ctx, Verification::Passed))
}

/// The last `count` lines of `text`.
pub(super) fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

fn verified(ctx: &SquadCtx, outcome: Verification) -> Vec<Outcome> {
    tracing::info!(run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key, ?outcome, "verified");
    vec![Outcome::Event(Event::Verified {
        squad: ctx.squad.clone(),
        outcome,
    })]
}
