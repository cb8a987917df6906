//! `Verify`: an optional rebase onto the base, then the test command before the commit, with
//! failing tests handed back to the agents a bounded number of times; a squad with a PR
//! pushes the verified head.

use squadron_config::PromptName;
use squadron_config::fence;
use squadron_core::Role;
use squadron_core::StepFailure;
use squadron_core::merge_queue::RebaseReason;
use squadron_core::scheduler::{Event, RebaseConflict, Verification};
use squadron_harness::{
    AuthoredChange, BrokenRule, CommitOutcome, Scratch, WriteBreach, commit_by_author,
    describe_breaches,
};

use super::conflicts::landed_changes;
use super::publish::{push, update_pr_body};
use super::stop::StepResult;
use super::writers::{answer_test_change_requests, developer_and_qa};
use crate::log_events::{self, RETRY};
use crate::outcome::Outcome;
use crate::prompts::task_context;
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
    let attempts = shared.settings.verify_attempts;
    let summary = ctx
        .developer_summary
        .clone()
        .unwrap_or_else(|| format!("Implement {}", ctx.issue_key));
    let qa_summary = ctx
        .qa_summary
        .clone()
        .unwrap_or_else(|| format!("Test {}", ctx.issue_key));
    for attempt in 0..=attempts {
        let now = shared.services.clock.now();
        // The tests run once on the whole tree; then QA's files are committed as QA and
        // the rest as the Developer, so the branch shows who wrote what.
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
            .map_err(|error| {
                StepFailure::needs_person("commit the squad's work").caused_by(&error)
            })?;
        let output = match outcome {
            CommitOutcome::TestsFailed { output } => output,
            CommitOutcome::Refused { breaches } => {
                if attempt == attempts {
                    let paths: Vec<&str> =
                        breaches.iter().map(|breach| breach.path.as_str()).collect();
                    return Ok(verified(
                        ctx,
                        Verification::Failed(format!(
                            "the agents' changes still break the write rules after {attempts} attempts to fix them: {}",
                            paths.join(", ")
                        )),
                    ));
                }
                hand_back_breaches(shared, ctx, &breaches, attempt).await?;
                continue;
            }
            CommitOutcome::Committed { .. } | CommitOutcome::NothingToCommit => break,
        };
        let rendered = output.render();
        if attempt == attempts {
            let tail = last_lines(&rendered, 20);
            return Ok(verified(
                ctx,
                Verification::Failed(format!(
                    "the tests still fail after {attempts} attempts to fix them: {tail}"
                )),
            ));
        }
        // Failures go back to whoever can fix them: the Developer always, QA as well when
        // one of its test files shows up in the failure.
        let qa_at_fault = workspace
            .qa_files
            .paths()
            .iter()
            .any(|path| rendered.contains(path.as_str()));
        // `attempt` counts from 0; the run the agents' fix leads to is run number
        // `attempt + 2`.
        tracing::info!(
            event = RETRY,
            what = "tests",
            attempt = attempt + 2,
            qa = qa_at_fault,
            "tests fail; handing the failure back to the agents"
        );
        let why = if qa_at_fault {
            "the test command failed; the Developer and QA fix it"
        } else {
            "the test command failed; the Developer fixes it"
        };
        log_events::retried(shared, &ctx.squad, "tests", attempt + 2, why).await;
        // Bounded as a tool result is: a long test log would otherwise fill a fresh turn's
        // prompt before the agent has done anything.
        let (shown, _) = Scratch::beside(&root).bound(
            Role::Developer,
            rendered,
            shared.settings.turn.tool_output,
        );
        // After a rebase for a failing merge the change passed alone: say what is new.
        let moved = if rebase == Some(RebaseReason::MergeFailsTests) {
            format!(
                "Your change passed its tests alone, but {} moved on since: the branch was rebased onto it, and together they fail. ",
                target.base_branch
            )
        } else {
            String::new()
        };
        let extra = format!(
            "## The test command fails\n{moved}The harness ran the test command before committing and it failed. Fix the cause, run the tests, then call `finish`.\n{}",
            fence("test output", &shown)
        );
        let max = shared.settings.scheduler.max_review_rounds;
        let developer_task = task_context(ctx, Role::Developer, 0, max);
        let qa_task = task_context(ctx, Role::Qa, 0, max);
        developer_and_qa(
            shared,
            ctx,
            (PromptName::Implement, &developer_task),
            qa_at_fault.then_some((PromptName::WriteTests, &qa_task)),
            Some(&extra),
        )
        .await?;
        answer_test_change_requests(shared, ctx, 0).await?;
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

/// Tells the writers which of their changes broke the write rules (they were put back) and
/// lets them redo their work within the rules: the Developer always, QA too when a test
/// file was refused (it may have written one through a command).
async fn hand_back_breaches(
    shared: &Shared,
    ctx: &mut SquadCtx,
    breaches: &[WriteBreach],
    attempt: u32,
) -> Result<(), super::stop::Stop> {
    let qa_concerned = breaches
        .iter()
        .any(|breach| breach.broken == BrokenRule::NotQasTest);
    for breach in breaches {
        tracing::warn!(squad = %ctx.squad, issue = %ctx.issue_key, %breach, "a change breaks the write rules");
    }
    let why =
        "the change breaks the write rules; the files were put back and the agents redo their work";
    log_events::retried(shared, &ctx.squad, "write-rules", attempt + 2, why).await;
    let extra = format!(
        "## Your changes were refused\n{}\nThen call `finish`.",
        describe_breaches(breaches)
    );
    let max = shared.settings.scheduler.max_review_rounds;
    let developer_task = task_context(ctx, Role::Developer, 0, max);
    let qa_task = task_context(ctx, Role::Qa, 0, max);
    developer_and_qa(
        shared,
        ctx,
        (PromptName::Implement, &developer_task),
        qa_concerned.then_some((PromptName::WriteTests, &qa_task)),
        Some(&extra),
    )
    .await?;
    answer_test_change_requests(shared, ctx, 0).await?;
    Ok(())
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
