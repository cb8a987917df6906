//! `ReadChecks`, `RerunChecks` and `FixChecks`: a red required check is read on the PR's
//! head and on the base branch's head (the scheduler decides whose failure it is), run
//! again once when it may be flaky, and otherwise handed to the Developer (and QA, when
//! the failure names test files) with what it reported and printed.

use squadron_config::{ChecksContext, FailedCheckContext, PromptName, Untrusted};
use squadron_core::effect::EffectKey;
use squadron_core::gate::CommitSha;
use squadron_core::ports::{CheckEvidence, CheckReport, CheckState, RerunOutcome};
use squadron_core::scheduler::{Event, FailedCheck, RefusedRerun};
use squadron_core::{Role, StepFailure};

use super::stop::StepResult;
use super::writers::{answer_test_change_requests, developer_and_qa};
use crate::effects;
use crate::log_events;
use crate::outcome::Outcome;
use crate::prompts::task_context;
use crate::shared::Shared;
use crate::squad::SquadCtx;

/// Reads each failed check on the pushed head and, when it still fails there, on the base
/// branch's head.
pub(crate) async fn read_checks(
    shared: &Shared,
    ctx: &mut SquadCtx,
    names: Vec<String>,
) -> StepResult {
    let head = pushed_head(shared, ctx).await?;
    let target = ctx.target(shared).await?;
    let host = &shared.services.code_host;
    let mut failed = Vec::new();
    for name in names {
        let on_head = host
            .read_check(&target.repo, head.as_str(), &name)
            .await
            .map_err(|error| StepFailure::port(format!("read check `{name}`"), &error))?;
        let Some(on_head) = on_head.filter(CheckReport::failed) else {
            continue;
        };
        let on_base = host
            .read_check(&target.repo, &target.base_branch, &name)
            .await
            .map_err(|error| {
                StepFailure::port(
                    format!("read check `{name}` on {}", target.base_branch),
                    &error,
                )
            })?;
        tracing::info!(
            squad = %ctx.squad, check = %name, head = %head.short(), attempts = on_head.attempts,
            base = ?on_base.as_ref().map(|base| (base.sha.short().to_owned(), base.state.clone())),
            "a required check fails on the PR's head"
        );
        failed.push(FailedCheck {
            head: on_head,
            base: on_base,
        });
    }
    Ok(vec![Outcome::Event(Event::ChecksRead {
        squad: ctx.squad.clone(),
        failed,
    })])
}

/// Asks the code host to run each check again, once per check and commit across restarts,
/// and notes each request in the squad's event log (a later pass makes it a flaky check).
pub(crate) async fn rerun_checks(
    shared: &Shared,
    ctx: &mut SquadCtx,
    checks: Vec<CheckReport>,
) -> StepResult {
    let target = ctx.target(shared).await?;
    let mut refused = Vec::new();
    for check in checks {
        let key = EffectKey::RerunCheck {
            squad: ctx.squad.clone(),
            check: check.name.clone(),
            sha: check.sha.clone(),
        };
        let repo = target.repo.clone();
        let result = effects::once(shared, &key, |_| async {
            // Asking twice is harmless (GitHub makes one more attempt), so an interrupted
            // request is simply made again.
            shared
                .services
                .code_host
                .rerun_check(&repo, &check)
                .await
                .map_err(|error| {
                    StepFailure::port(format!("run check `{}` again", check.name), &error)
                })
        })
        .await?;
        match result {
            RerunOutcome::Requested => {
                log_events::check_rerun(shared, &ctx.squad, &check.name, &check.sha).await;
            }
            RerunOutcome::NotRerunnable { reason } => {
                tracing::info!(squad = %ctx.squad, check = %check.name, %reason, "the check cannot be run again; it is the squad's to fix");
                refused.push(RefusedRerun {
                    check: check.name,
                    reason,
                });
            }
        }
    }
    Ok(vec![Outcome::Event(Event::ChecksRerun {
        squad: ctx.squad.clone(),
        refused,
    })])
}

/// The CI-fix round: the required checks failing on the head, with what they reported and
/// an excerpt of their logs, go to the Developer, and to QA when they name test files.
pub(crate) async fn fix_checks(shared: &Shared, ctx: &mut SquadCtx, round: u32) -> StepResult {
    let workspace = ctx.ensure_workspace(shared).await?;
    ctx.ensure_diagnosis(shared).await?;
    let head = pushed_head(shared, ctx).await?;
    let target = ctx.target(shared).await?;
    let host = &shared.services.code_host;
    let mut failures = Vec::new();
    for name in &shared.settings.required_checks {
        let report = host
            .read_check(&target.repo, head.as_str(), name)
            .await
            .map_err(|error| StepFailure::port(format!("read check `{name}`"), &error))?;
        let Some(report) = report.filter(CheckReport::failed) else {
            continue;
        };
        let evidence = host
            .read_check_evidence(&target.repo, &report)
            .await
            .map_err(|error| {
                StepFailure::port(format!("read why check `{name}` failed"), &error)
            })?;
        failures.push((report, evidence));
    }
    let max = shared.settings.scheduler.ci_fix_rounds;
    let checks_context = checks_context(&failures, &head, round, max);
    let qa_files = workspace.qa_files.paths();
    let qa_needed = failures.iter().any(|(_, evidence)| {
        evidence
            .annotations
            .iter()
            .any(|note| workspace.policy.test_globs.matches(&note.path))
            || qa_files.iter().any(|path| {
                evidence
                    .log
                    .as_deref()
                    .is_some_and(|log| log.contains(path.as_str()))
            })
    });
    let checks: Vec<&str> = failures
        .iter()
        .map(|(report, _)| report.name.as_str())
        .collect();
    // The scheduler noted the round in the event log before it started.
    tracing::info!(
        event = log_events::CI_FIX,
        squad = %ctx.squad, issue = %ctx.issue_key, round, max, ?checks, qa = qa_needed,
        "a CI-fix round: the failing checks go back to the agents"
    );
    let review_round = shared.settings.scheduler.max_review_rounds;
    let mut developer_task = task_context(ctx, Role::Developer, 0, review_round);
    let mut qa_task = task_context(ctx, Role::Qa, 0, review_round);
    developer_task.checks = Some(checks_context.clone());
    qa_task.checks = Some(checks_context);
    // Each writer goes on in its conversation with the round's brief, or (after a restart)
    // gets its task again with the brief appended.
    let brief = ctx
        .agents()?
        .prompts
        .render(PromptName::FixChecks, &developer_task)
        .map_err(|error| {
            StepFailure::needs_person("render the fix-checks prompt").caused_by(&error)
        })?;
    developer_and_qa(
        shared,
        ctx,
        (PromptName::Implement, &developer_task),
        qa_needed.then_some((PromptName::WriteTests, &qa_task)),
        Some(&brief),
    )
    .await?;
    answer_test_change_requests(shared, ctx, 0).await?;
    Ok(vec![Outcome::Event(Event::ChecksFixed {
        squad: ctx.squad.clone(),
        round,
    })])
}

/// The head the squad pushed: the commit the gate and the checks look at.
async fn pushed_head(shared: &Shared, ctx: &mut SquadCtx) -> Result<CommitSha, StepFailure> {
    let workspace = ctx.ensure_workspace(shared).await?;
    shared
        .services
        .workspaces
        .head(workspace.worktree.root())
        .await
        .map_err(|error| StepFailure::port(format!("read the head of {}", ctx.issue_key), &error))
}

/// What the writers are told in a CI-fix round (the `fix-checks` template's `checks`):
/// which checks fail on which commit, and for each what it reported and printed, as untrusted
/// text since CI output is anybody's.
pub(crate) fn checks_context(
    failures: &[(CheckReport, CheckEvidence)],
    head: &CommitSha,
    round: u32,
    max: u32,
) -> ChecksContext {
    let checks = failures
        .iter()
        .map(|(report, evidence)| {
            let outcome = match &report.state {
                CheckState::Failed { outcome } => outcome.clone(),
                CheckState::Passed => "passed".to_owned(),
                CheckState::Pending => "pending".to_owned(),
            };
            let mut said = String::new();
            for part in [&report.title, &report.summary, &report.text]
                .into_iter()
                .flatten()
            {
                said.push_str(part.trim());
                said.push('\n');
            }
            for note in &evidence.annotations {
                let line = note.line.map(|line| format!(":{line}")).unwrap_or_default();
                said.push_str(&format!(
                    "{} {}{line}: {}\n",
                    note.level, note.path, note.message
                ));
            }
            FailedCheckContext {
                name: report.name.clone(),
                outcome,
                commit: report.sha.short().to_owned(),
                details_url: report.details_url.clone(),
                output: (!said.is_empty()).then(|| Untrusted::new("check output", said)),
                log: evidence
                    .log
                    .as_ref()
                    .map(|log| Untrusted::new("check log excerpt", log.clone())),
            }
        })
        .collect();
    ChecksContext {
        round,
        max_rounds: max,
        head_sha: head.short().to_owned(),
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use squadron_config::{PromptLibrary, TaskContext};
    use squadron_core::ports::{CheckAnnotation, CheckOrigin};

    fn brief(failures: &[(CheckReport, CheckEvidence)], round: u32) -> String {
        let mut task = TaskContext::example();
        let head = CommitSha::new("3f4e5d6c7b8a99887766554433221100ffeeddcc");
        task.checks = Some(checks_context(failures, &head, round, 2));
        PromptLibrary::shipped()
            .render(PromptName::FixChecks, &task)
            .unwrap()
    }

    #[test]
    fn the_brief_names_each_failing_check_its_commit_and_fences_what_it_printed() {
        let report = CheckReport {
            name: "test".into(),
            sha: CommitSha::new("3f4e5d6c7b8a99887766554433221100ffeeddcc"),
            state: CheckState::Failed {
                outcome: "failure".into(),
            },
            attempts: 1,
            origin: CheckOrigin::ActionsJob {
                check_run_id: 7,
                check_suite_id: 8,
            },
            title: Some("Tests failed".into()),
            summary: Some("Process completed with exit code 1.".into()),
            text: None,
            annotation_count: 1,
            details_url: Some("https://github.com/acme/shop/actions/runs/1/job/7".into()),
        };
        let evidence = CheckEvidence {
            annotations: vec![CheckAnnotation {
                path: "ledger/rates.py".into(),
                line: Some(4),
                level: "failure".into(),
                message: "AssertionError: 100 != 1000".into(),
            }],
            log: Some(
                "FAIL: test_rate (tests.test_rates.RateTest)\nAssertionError: 100 != 1000\n##[error]Process completed with exit code 1.\n"
                    .into(),
            ),
        };
        insta::assert_snapshot!(brief(&[(report, evidence)], 1));
    }

    #[test]
    fn checks_that_pass_by_now_leave_nothing_to_fix() {
        let brief = brief(&[], 2);
        assert!(brief.contains("pass now (CI-fix\nround 2 of 2)"), "{brief}");
    }
}
