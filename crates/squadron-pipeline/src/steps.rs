//! The steps: one function per scheduler command, each executed idempotently (after a
//! restart the scheduler re-issues the command of a squad's recorded phase) and reporting
//! its outcome as runtime [`Outcome`]s.

use squadron_config::{PromptName, ReviewCommentContext, ReviewContext, fence};
use squadron_core::gate::{
    CommitSha, GateDecision, GatePolicy, MergeGate, PullRequestState, ReviewState, StatusState,
};
use squadron_core::merge_queue::RebaseReason;
use squadron_core::merge_queue::{BaseRelation, RecheckVerdict};
use squadron_core::ports::{
    JournalBegin, MergeOutcome, PostedReview, PullRequestRequest, ReviewDelivery, SpendScope,
    SquadChange, SquadUpdate, StatusUpdate, WorkflowTarget,
};
use squadron_core::scheduler::{BudgetScope, Command, Event, MergeRejection, Verification};
use squadron_core::{PrNumber, Review, ReviewVerdict, Role, SquadId, SquadKind};
use squadron_harness::{AuthoredChange, CommitOutcome, commit_by_author};
use tracing::Instrument;

use crate::diagnose;
use crate::effects;
use crate::evidence;
use crate::log_events::{
    self, GATE_DECISION, MERGED, RETRY, REVIEW_VERDICT, TEST_CHANGE_REQUESTED,
};
use crate::metrics;
use crate::notify::{self, Subject};
use crate::progress::SquadView;
use crate::prompts::{TurnResult, TurnStop, run_turn, task_context, turn};
use crate::runtime::{GateWatch, Outcome, Shared, ViewUpdate};
use crate::squad::SquadCtx;

/// Why a step stopped short.
enum Stop {
    Failed(String),
    Budget(squadron_harness::BudgetExceeded),
}

impl From<String> for Stop {
    fn from(message: String) -> Self {
        Stop::Failed(message)
    }
}

impl From<TurnStop> for Stop {
    fn from(stop: TurnStop) -> Self {
        match stop {
            TurnStop::Budget(exceeded) => Stop::Budget(exceeded),
            TurnStop::Failed(message) => Stop::Failed(message),
        }
    }
}

type StepResult = Result<Vec<Outcome>, Stop>;

/// The squad a command is for; `None` for `RunFinished`.
pub(crate) fn squad_of(command: &Command) -> Option<&SquadId> {
    match command {
        Command::RecordPhase { squad, .. }
        | Command::PrepareWorkspace { squad }
        | Command::Diagnose { squad }
        | Command::Implement { squad }
        | Command::Verify { squad, .. }
        | Command::OpenPr { squad }
        | Command::Review { squad, .. }
        | Command::Fix { squad, .. }
        | Command::EvaluateGate { squad }
        | Command::Merge { squad }
        | Command::StopWork { squad }
        | Command::CleanUp { squad } => Some(squad),
        Command::RunFinished { .. } => None,
    }
}

/// Runs one work command for the squad and returns what to report.
pub(crate) async fn run(shared: &Shared, ctx: &mut SquadCtx, command: Command) -> Vec<Outcome> {
    let name = command_name(&command);
    tracing::debug!(squad = %ctx.squad, issue = %ctx.issue_key, step = name, "step started");
    let result = match command {
        Command::PrepareWorkspace { .. } => prepare(shared, ctx).await,
        Command::Implement { .. } => implement(shared, ctx).await,
        Command::Verify { rebase, .. } => verify(shared, ctx, rebase).await,
        Command::OpenPr { .. } => open_pr(shared, ctx).await,
        Command::Review { round, .. } => review(shared, ctx, round).await,
        Command::Fix { round, .. } => fix(shared, ctx, round).await,
        Command::EvaluateGate { .. } => evaluate_gate(shared, ctx).await,
        Command::Merge { .. } => {
            return merge(shared, ctx).await;
        }
        Command::Diagnose { .. } => diagnose::diagnose(shared, ctx).await.map_err(Stop::from),
        Command::RecordPhase { .. }
        | Command::StopWork { .. }
        | Command::CleanUp { .. }
        | Command::RunFinished { .. } => Ok(Vec::new()),
    };
    match result {
        Ok(outcomes) => outcomes,
        Err(stop) => vec![Outcome::Event(stop_event(ctx, name, stop))],
    }
}

fn stop_event(ctx: &SquadCtx, step: &str, stop: Stop) -> Event {
    match stop {
        Stop::Failed(error) => {
            tracing::warn!(run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key, step, %error, "step failed");
            Event::StepFailed {
                squad: ctx.squad.clone(),
                error: format!("failed to {error}"),
            }
        }
        Stop::Budget(exceeded) => {
            // The turn that met the budget logged it, in its role's span.
            let scope = match exceeded.scope {
                SpendScope::Squad(squad) => BudgetScope::Squad(squad),
                SpendScope::Run(run) => BudgetScope::Run(run),
            };
            Event::BudgetExceeded {
                scope,
                spent: exceeded.spent,
                limit: exceeded.budget,
            }
        }
    }
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::RecordPhase { .. } => "record-phase",
        Command::PrepareWorkspace { .. } => "prepare",
        Command::Diagnose { .. } => "diagnose",
        Command::Implement { .. } => "implement",
        Command::Verify { .. } => "verify",
        Command::OpenPr { .. } => "open-pr",
        Command::Review { .. } => "review",
        Command::Fix { .. } => "fix",
        Command::EvaluateGate { .. } => "evaluate-gate",
        Command::Merge { .. } => "merge",
        Command::StopWork { .. } => "stop-work",
        Command::CleanUp { .. } => "clean-up",
        Command::RunFinished { .. } => "run-finished",
    }
}

async fn prepare(shared: &Shared, ctx: &mut SquadCtx) -> StepResult {
    ctx.ensure_workspace(shared).await?;
    let path = ctx.prepared()?.path.display().to_string();
    let now = shared.services.clock.now();
    if let Err(error) = shared
        .services
        .store
        .change_squad(&ctx.squad, &SquadChange::Worktree(Some(path)), now)
        .await
    {
        tracing::warn!(squad = %ctx.squad, %error, "could not record the worktree path");
    }
    move_issue(shared, ctx, WorkflowTarget::Started, "started").await?;
    notify::open_thread(shared, &Subject::of(ctx)).await;
    Ok(vec![Outcome::Event(Event::Prepared {
        squad: ctx.squad.clone(),
    })])
}

async fn move_issue(
    shared: &Shared,
    ctx: &SquadCtx,
    target: WorkflowTarget,
    name: &str,
) -> Result<(), String> {
    let key = format!("{}/move/{name}", ctx.squad);
    let tracker = &shared.services.tracker;
    effects::once(shared, &key, Some(&ctx.squad), "move-issue", |_| async {
        tracker
            .move_issue(&ctx.issue_key, target)
            .await
            .map(|outcome| format!("{outcome:?}"))
            .map_err(|error| format!("move {} to {target}: {error}", ctx.issue_key))
    })
    .await
    .map(drop)
}

async fn implement(shared: &Shared, ctx: &mut SquadCtx) -> StepResult {
    ctx.ensure_workspace(shared).await?;
    ctx.ensure_diagnosis(shared).await?;
    let max = shared.settings.scheduler.max_review_rounds;
    let developer_task = task_context(ctx, Role::Developer, 0, max);
    let qa_task = task_context(ctx, Role::Qa, 0, max);
    let (developer, qa) = developer_and_qa(
        shared,
        ctx,
        (PromptName::Implement, &developer_task),
        Some((PromptName::WriteTests, &qa_task)),
        None,
    )
    .await?;
    ctx.keep_summaries(developer, qa);
    answer_test_change_requests(shared, ctx, 0).await?;
    Ok(vec![Outcome::Event(Event::Implemented {
        squad: ctx.squad.clone(),
    })])
}

/// A turn of the Developer and, when `qa` is given, one of QA at the same time in the same
/// worktree: the harness confines QA to test files and the Developer to the rest. Returns
/// the summaries of the turns that finished.
async fn developer_and_qa(
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

async fn verify(shared: &Shared, ctx: &mut SquadCtx, rebase: Option<RebaseReason>) -> StepResult {
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
                format!(
                    "rebase {} onto {}: {error}",
                    ctx.issue_key, target.base_branch
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
            squadron_core::ports::RebaseOutcome::Conflict { paths } => {
                return Ok(verified(
                    ctx,
                    Verification::Failed(format!(
                        "the branch conflicts with {} in {}: resolve the conflicts by hand",
                        target.base_branch,
                        paths.join(", ")
                    )),
                ));
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
                format!(
                    "commit the squad's work: {}",
                    squadron_core::error_chain(&error)
                )
            })?;
        let CommitOutcome::TestsFailed { output } = outcome else {
            break;
        };
        let rendered = output.render();
        if attempt == attempts {
            let tail: String = rendered
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
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
        tracing::info!(
            event = RETRY,
            what = "tests",
            attempt = attempt + 1,
            qa = qa_at_fault,
            "tests fail; handing the failure back to the agents"
        );
        let extra = format!(
            "## The test command fails\nThe harness ran the test command before committing and it failed. Fix the cause, run the tests, then call `finish`.\n{}",
            fence("test output", &rendered)
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
    let head = workspaces
        .head(&root)
        .await
        .map_err(|error| format!("read the head of {}: {error}", ctx.issue_key))?;
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

/// Hands the test-change requests the Developer made in its last turn to QA, who judges
/// each one and changes a test only where the request is right; the requests are cleared
/// either way. Nothing happens when there are none.
async fn answer_test_change_requests(
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

fn verified(ctx: &SquadCtx, outcome: Verification) -> Vec<Outcome> {
    tracing::info!(run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key, ?outcome, "verified");
    vec![Outcome::Event(Event::Verified {
        squad: ctx.squad.clone(),
        outcome,
    })]
}

/// Pushes the worktree's head with a lease on what the remote branch is known to hold.
async fn push(shared: &Shared, ctx: &mut SquadCtx) -> Result<CommitSha, String> {
    let root = ctx.prepared()?.path.clone();
    let workspaces = &shared.services.workspaces;
    let head = workspaces
        .head(&root)
        .await
        .map_err(|error| format!("read the head of {}: {error}", ctx.issue_key))?;
    if ctx.remote_sha.as_ref() == Some(&head) {
        return Ok(head);
    }
    let branch = ctx.issue(shared).await?.branch_name.clone();
    let key = format!("{}/push/{head}", ctx.squad);
    let lease = ctx.remote_sha.clone();
    effects::once(shared, &key, Some(&ctx.squad), "push", |_| async {
        workspaces
            .push(&root, &branch, lease.as_ref())
            .await
            .map(|sha| sha.to_string())
            .map_err(|error| format!("push {branch}: {error}"))
    })
    .await?;
    tracing::info!(run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key, head = head.short(), "pushed");
    ctx.remote_sha = Some(head.clone());
    Ok(head)
}

fn pr_body(ctx: &SquadCtx, evidence: Option<&str>, needs_human: Option<&str>) -> String {
    let mut body = String::new();
    if let Some(issue) = &ctx.issue {
        body.push_str(&format!(
            "Resolves [{}]({}): {}\n\n",
            issue.key, issue.url, issue.title
        ));
    }
    if let Some(reason) = needs_human {
        body.push_str(&format!("> **Needs a person:** {reason}\n\n"));
    }
    body.push_str("### Summary\n");
    body.push_str(
        ctx.developer_summary
            .as_deref()
            .unwrap_or("(no summary recorded)"),
    );
    body.push_str("\n\n### Tests\n");
    body.push_str(ctx.qa_summary.as_deref().unwrap_or("(no summary recorded)"));
    if let Some(diagnosis) = &ctx.diagnosis {
        body.push_str(&format!(
            "\n\n### Diagnosis (confidence: {})\n{}\n\n**Fix plan:** {}",
            diagnosis.confidence,
            diagnosis.hypothesis.trim(),
            diagnosis.plan.trim()
        ));
    }
    let scenarios = ctx
        .issue
        .as_ref()
        .map(|issue| issue.acceptance_criteria.as_slice())
        .unwrap_or_default();
    if !scenarios.is_empty() || ctx.diagnosis.is_none() {
        body.push_str("\n\n### Acceptance criteria\n");
        for scenario in scenarios {
            body.push_str(&format!("- [ ] {}: {}\n", scenario.id, scenario.name));
        }
    } else {
        body.push('\n');
    }
    if let Some(evidence) = evidence {
        body.push('\n');
        body.push_str(evidence);
    }
    body.push_str("\n_Opened by Squadron._\n");
    body
}

/// Logs a gate decision other than merge: wait (with what it waits for) or blocked, with
/// every reason.
fn log_gate_decision(decision: &GateDecision) {
    let (name, reasons) = match decision {
        GateDecision::Merge => ("merge", String::new()),
        GateDecision::AskAgainShortly => (
            "wait",
            "the code host has not computed mergeability yet".to_owned(),
        ),
        GateDecision::Blocked(blockers) => (
            "blocked",
            blockers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        ),
    };
    tracing::info!(
        event = GATE_DECISION,
        decision = name,
        reasons,
        "gate decided"
    );
}

async fn update_pr_body(shared: &Shared, ctx: &SquadCtx, evidence: Option<&str>) {
    let (Some(pr), Some(target)) = (ctx.pr, ctx.target.as_ref()) else {
        return;
    };
    let body = pr_body(ctx, evidence, None);
    if let Err(error) = shared
        .services
        .code_host
        .update_pull_request_body(&target.repo, pr, &body)
        .await
    {
        tracing::warn!(squad = %ctx.squad, pr = pr.0, %error, "could not update the PR body");
    }
}

async fn open_pr(shared: &Shared, ctx: &mut SquadCtx) -> StepResult {
    ctx.ensure_workspace(shared).await?;
    push(shared, ctx).await?;
    let target = ctx.target(shared).await?;
    let issue = ctx.issue(shared).await?.clone();
    let request = PullRequestRequest {
        head_branch: issue.branch_name.clone(),
        base_branch: target.base_branch.clone(),
        title: format!("{}: {}", issue.key, issue.title),
        body: pr_body(ctx, None, None),
    };
    let key = format!("{}/open-pr", ctx.squad);
    let code_host = &shared.services.code_host;
    let result = effects::once(shared, &key, Some(&ctx.squad), "open-pr", |_| async {
        code_host
            .find_or_create_pull_request(&target.repo, &request)
            .await
            .map(|pr| format!("{} {}", pr.number.0, pr.url))
            .map_err(|error| format!("open the PR of {}: {error}", issue.key))
    })
    .await?;
    let (number, url) = result
        .split_once(' ')
        .and_then(|(number, url)| Some((PrNumber(number.parse().ok()?), url.to_owned())))
        .ok_or_else(|| format!("read the journaled PR of {}: `{result}`", issue.key))?;
    let now = shared.services.clock.now();
    if let Err(error) = shared
        .services
        .store
        .change_squad(&ctx.squad, &SquadChange::Pr(number), now)
        .await
    {
        tracing::warn!(squad = %ctx.squad, %error, "could not record the PR");
    }
    ctx.pr = Some(number);
    ctx.pr_url = Some(url.clone());
    log_events::record_pr(number);
    tracing::info!(run = %ctx.run, squad = %ctx.squad, issue = %issue.key, pr = number.0, %url, "PR open");
    let link_key = format!("{}/link-pr", ctx.squad);
    let tracker = &shared.services.tracker;
    let title = request.title.clone();
    effects::once(shared, &link_key, Some(&ctx.squad), "link-pr", |_| async {
        tracker
            .link_pull_request(&issue.key, &url, &title)
            .await
            .map(|outcome| format!("{outcome:?}"))
            .map_err(|error| format!("link the PR on {}: {error}", issue.key))
    })
    .await?;
    move_issue(shared, ctx, WorkflowTarget::InReview, "in-review").await?;
    notify::post(
        shared,
        &Subject::of(ctx),
        "pr-opened",
        SquadUpdate::PullRequestOpened {
            number,
            url: url.clone(),
            title,
        },
    )
    .await;
    Ok(vec![
        Outcome::View(ctx.squad.clone(), ViewUpdate::PrUrl(url)),
        Outcome::Event(Event::PrOpened {
            squad: ctx.squad.clone(),
            pr: number,
        }),
    ])
}

async fn review(shared: &Shared, ctx: &mut SquadCtx, round: u32) -> StepResult {
    let workspace = ctx.ensure_workspace(shared).await?;
    ctx.ensure_diagnosis(shared).await?;
    let pr = ctx
        .pr
        .ok_or_else(|| format!("review {}: the squad has no PR", ctx.issue_key))?;
    let target = ctx.target(shared).await?;
    let head = shared
        .services
        .workspaces
        .head(workspace.worktree.root())
        .await
        .map_err(|error| format!("read the head of {}: {error}", ctx.issue_key))?;
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
    let ctx_ref = &*ctx;
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
            &code_task
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
            &qa_task
        )
        .instrument(log_events::role_span(Role::QaSpecialist)),
    );
    let (code_reviewer, qa_specialist) = (code_reviewer?, qa_specialist?);
    Ok(vec![Outcome::Event(Event::ReviewsCompleted {
        squad: ctx.squad.clone(),
        round,
        code_reviewer,
        qa_specialist,
    })])
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
    let key = format!("{}/evidence/{round}/{}", ctx.squad, head.short());
    let code_host = &shared.services.code_host;
    let recorded = effects::once(shared, &key, Some(&ctx.squad), "evidence", |_| async {
        code_host
            .set_commit_status(&target.repo, head, Role::QaSpecialist, &status)
            .await
            .map(|()| description.clone())
            .map_err(|error| format!("record the test evidence on PR #{}: {error}", pr.0))
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
    task: &squadron_config::TaskContext,
) -> Result<ReviewVerdict, Stop> {
    let key = format!("{}/review/{round}/{role}", ctx.squad);
    let store = &shared.services.store;
    if let Ok(Some(entry)) = store.journal_entry(&key).await
        && entry.status == squadron_core::ports::JournalStatus::Done
        && let Some(result) = entry.result
    {
        let verdict = parse_verdict(&result);
        // Killed between posting and telling the thread: tell it now (journaled, so once).
        notify_verdict(shared, ctx, round, role, verdict).await;
        return Ok(verdict);
    }
    let review = match turn(shared, ctx, role, prompt, task, None).await? {
        TurnResult::Reviewed(review) => review,
        TurnResult::Finished(_) | TurnResult::Diagnosed(_) => {
            return Err(Stop::Failed(format!(
                "get the {role}'s review: it finished without submitting one"
            )));
        }
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
    effects::once(
        shared,
        &key,
        Some(&ctx.squad),
        "review",
        |reconciling| async move {
            if reconciling
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
                return Ok(format!("{} {}", verdict.as_str(), found.id));
            }
            post_review(code_host.as_ref(), repo, pr, role, head, review, delivery)
                .await
                .map(|id| format!("{} {id}", verdict.as_str()))
        },
    )
    .await?;
    let now = shared.services.clock.now();
    let payload = serde_json::json!({
        "round": round, "role": role.as_str(), "verdict": verdict.as_str(), "head": head.as_str(),
    });
    if let Err(error) = store
        .append_event(&ctx.squad, "review-verdict", &payload.to_string(), now)
        .await
    {
        tracing::warn!(squad = %ctx.squad, %error, "could not log the review verdict");
    }
    tracing::info!(
        event = REVIEW_VERDICT,
        verdict = verdict.as_str(),
        comments,
        "review verdict"
    );
    notify_verdict(shared, ctx, round, role, verdict).await;
    Ok(verdict)
}

async fn notify_verdict(
    shared: &Shared,
    ctx: &SquadCtx,
    round: u32,
    role: Role,
    verdict: ReviewVerdict,
) {
    notify::post(
        shared,
        &Subject::of(ctx),
        &format!("review-{round}-{role}"),
        SquadUpdate::ReviewVerdict {
            reviewer: role,
            verdict,
            round,
        },
    )
    .await;
}

async fn post_review(
    code_host: &dyn squadron_core::ports::CodeHost,
    repo: &squadron_core::ports::RepoRef,
    pr: PrNumber,
    role: Role,
    head: &CommitSha,
    review: &Review,
    delivery: ReviewDelivery,
) -> Result<u64, String> {
    let posted = code_host
        .post_review(repo, pr, role, head, review, delivery)
        .await
        .map_err(|error| format!("post the {role}'s review on PR #{}: {error}", pr.0))?;
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
                .map_err(|error| format!("post the {role}'s review on PR #{}: {error}", pr.0))?
            {
                PostedReview::Posted { review_id } => Ok(review_id),
                PostedReview::SelfApprovalRefused => Err(format!(
                    "post the {role}'s review on PR #{}: the code host refused it twice",
                    pr.0
                )),
            }
        }
    }
}

fn parse_verdict(result: &str) -> ReviewVerdict {
    if result.starts_with(ReviewVerdict::Approved.as_str()) {
        ReviewVerdict::Approved
    } else {
        ReviewVerdict::ChangesRequested
    }
}

async fn fix(shared: &Shared, ctx: &mut SquadCtx, round: u32) -> StepResult {
    let workspace = ctx.ensure_workspace(shared).await?;
    ctx.ensure_diagnosis(shared).await?;
    let pr = ctx
        .pr
        .ok_or_else(|| format!("fix {}: the squad has no PR", ctx.issue_key))?;
    let target = ctx.target(shared).await?;
    let feedback = shared
        .services
        .code_host
        .read_feedback(&target.repo, pr)
        .await
        .map_err(|error| format!("read the reviews of PR #{}: {error}", pr.0))?;
    let head = shared
        .services
        .workspaces
        .head(workspace.worktree.root())
        .await
        .map_err(|error| format!("read the head of {}: {error}", ctx.issue_key))?;
    let identities = shared.settings.review_mode.identities.as_ref();
    let reviewer_of = |login: &str| match identities {
        Some(ids) if ids.qa_specialist == login => Role::QaSpecialist.as_str().to_owned(),
        Some(ids) if ids.code_reviewer == login => Role::CodeReviewer.as_str().to_owned(),
        _ => login.to_owned(),
    };
    let on_head: Vec<_> = feedback
        .reviews
        .iter()
        .filter(|review| review.commit_id == head && review.state.is_opinion())
        .collect();
    let mut reviews = Vec::new();
    let mut qa_needed = false;
    for review in &on_head {
        let reviewer = reviewer_of(&review.author);
        let comments: Vec<ReviewCommentContext> = feedback
            .review_comments
            .iter()
            .filter(|comment| comment.review_id == Some(review.id))
            .map(|comment| {
                if workspace.policy.test_globs.matches(&comment.path) {
                    qa_needed = true;
                }
                ReviewCommentContext {
                    path: comment.path.clone(),
                    line: comment.line,
                    body: squadron_config::Untrusted::new("review comment", comment.body.clone()),
                }
            })
            .collect();
        let changes = review.state == ReviewState::ChangesRequested;
        if changes && reviewer == Role::QaSpecialist.as_str() {
            qa_needed = true;
        }
        reviews.push(ReviewContext {
            reviewer: reviewer.clone(),
            verdict: if changes {
                "changes_requested"
            } else {
                "approved"
            }
            .to_owned(),
            body: squadron_config::Untrusted::new(
                format!("review by {reviewer}"),
                review.body.clone(),
            ),
            comments,
        });
    }
    tracing::info!(
        run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key, pr = pr.0, round,
        reviews = reviews.len(), qa = qa_needed, "fixing review findings"
    );
    let max = shared.settings.scheduler.max_review_rounds;
    let mut developer_task = task_context(ctx, Role::Developer, round, max);
    developer_task.reviews = reviews.clone();
    let mut qa_task = task_context(ctx, Role::Qa, round, max);
    qa_task.reviews = reviews;
    let (developer, qa) = developer_and_qa(
        shared,
        ctx,
        (PromptName::FixFromReview, &developer_task),
        qa_needed.then_some((PromptName::FixFromReview, &qa_task)),
        None,
    )
    .await?;
    ctx.keep_summaries(developer, qa);
    answer_test_change_requests(shared, ctx, round).await?;
    Ok(vec![Outcome::Event(Event::Fixed {
        squad: ctx.squad.clone(),
        round,
    })])
}

async fn evaluate_gate(shared: &Shared, ctx: &mut SquadCtx) -> StepResult {
    let workspace = ctx.ensure_workspace(shared).await?;
    let pr = ctx.pr.ok_or_else(|| {
        format!(
            "evaluate the gate of {}: the squad has no PR",
            ctx.issue_key
        )
    })?;
    let target = ctx.target(shared).await?;
    let branch = ctx.issue(shared).await?.branch_name.clone();
    let snapshot = shared
        .services
        .code_host
        .read_snapshot(&target.repo, pr)
        .await
        .map_err(|error| format!("read PR #{}: {error}", pr.0))?;
    let gate_passed = || {
        Ok(vec![Outcome::GatePassed {
            squad: ctx.squad.clone(),
            pr,
            base: target.base_branch.clone(),
        }])
    };
    if snapshot.state == PullRequestState::Merged {
        // Merged before a restart: the merge step finds it merged and records it.
        return gate_passed();
    }
    let root = workspace.worktree.root();
    let head = shared
        .services
        .workspaces
        .head(root)
        .await
        .map_err(|error| format!("read the head of {}: {error}", ctx.issue_key))?;
    let watch = Outcome::GateRead {
        squad: ctx.squad.clone(),
        watch: GateWatch {
            repo: target.repo.clone(),
            pr,
            branch,
            base_branch: target.base_branch.clone(),
            head: head.clone(),
        },
    };
    let policy = GatePolicy {
        pushed_sha: head,
        reviewers: shared.settings.review_mode.reviewers.clone(),
        required_checks: shared.settings.required_checks.clone(),
    };
    let decision = MergeGate::evaluate(&snapshot, &policy);
    if decision != GateDecision::Merge {
        log_gate_decision(&decision);
        return Ok(vec![
            watch,
            Outcome::Event(Event::GateDecided {
                squad: ctx.squad.clone(),
                decision,
            }),
        ]);
    }
    let contains_base_tip = shared
        .services
        .workspaces
        .contains_base_tip(root, &target.base_branch)
        .await
        .map_err(|error| {
            format!(
                "compare {} with {}: {error}",
                ctx.issue_key, target.base_branch
            )
        })?;
    let relation = BaseRelation {
        mergeable: snapshot.mergeable,
        contains_base_tip,
    };
    let verdict = relation.verdict();
    let reasons = match verdict {
        RecheckVerdict::Proceed => String::new(),
        RecheckVerdict::Rebase(RebaseReason::Behind) => {
            format!("the branch is behind {}", target.base_branch)
        }
        RecheckVerdict::Rebase(RebaseReason::Conflicts) => {
            format!("the branch conflicts with {}", target.base_branch)
        }
        RecheckVerdict::AskAgain => "the code host has not computed mergeability yet".to_owned(),
    };
    let decision = match verdict {
        RecheckVerdict::Proceed => "merge",
        RecheckVerdict::Rebase(_) => "rebase",
        RecheckVerdict::AskAgain => "wait",
    };
    tracing::info!(event = GATE_DECISION, decision, reasons, "gate decided");
    match verdict {
        RecheckVerdict::Proceed => gate_passed(),
        RecheckVerdict::Rebase(reason) => Ok(vec![Outcome::Event(Event::RebaseRequired {
            squad: ctx.squad.clone(),
            reason,
        })]),
        RecheckVerdict::AskAgain => Ok(vec![
            watch,
            Outcome::Event(Event::GateDecided {
                squad: ctx.squad.clone(),
                decision: GateDecision::AskAgainShortly,
            }),
        ]),
    }
}

/// Merges the ticket holder's PR guarded by its head, or finds it merged already. Always
/// reports a [`Outcome::MergeAttempted`] so the merge lane is freed.
async fn merge(shared: &Shared, ctx: &mut SquadCtx) -> Vec<Outcome> {
    let squad = ctx.squad.clone();
    match try_merge(shared, ctx).await {
        Ok((event, landed, extra)) => {
            let mut outcomes = extra;
            outcomes.push(Outcome::MergeAttempted {
                squad,
                landed,
                event,
            });
            outcomes
        }
        Err(stop) => vec![Outcome::MergeAttempted {
            squad,
            landed: false,
            event: stop_event(ctx, "merge", stop),
        }],
    }
}

async fn try_merge(
    shared: &Shared,
    ctx: &mut SquadCtx,
) -> Result<(Event, bool, Vec<Outcome>), Stop> {
    let workspace = ctx.ensure_workspace(shared).await?;
    let pr = ctx
        .pr
        .ok_or_else(|| format!("merge {}: the squad has no PR", ctx.issue_key))?;
    let target = ctx.target(shared).await?;
    let code_host = &shared.services.code_host;
    let store = &shared.services.store;
    let root = workspace.worktree.root();
    let head = shared
        .services
        .workspaces
        .head(root)
        .await
        .map_err(|error| format!("read the head of {}: {error}", ctx.issue_key))?;
    let key = format!("{}/merge", ctx.squad);
    let now = shared.services.clock.now();
    let begin = store
        .journal_begin(&key, Some(&ctx.squad), "merge", now)
        .await
        .map_err(|error| format!("journal `{key}`: {error}"))?;
    let snapshot = code_host
        .read_snapshot(&target.repo, pr)
        .await
        .map_err(|error| format!("read PR #{}: {error}", pr.0))?;
    let approved_by: Vec<String> = snapshot
        .reviews
        .iter()
        .filter(|review| {
            review.state == ReviewState::Approved && review.commit_id == snapshot.head_sha
        })
        .map(|review| review.author.clone())
        .collect();
    let sha = match begin {
        JournalBegin::AlreadyDone(sha) => CommitSha::new(sha),
        JournalBegin::Begun { .. } | JournalBegin::InProgress(_)
            if snapshot.state == PullRequestState::Merged =>
        {
            // Merged before the result was recorded: reconcile instead of merging again.
            let sha = snapshot.head_sha.clone();
            complete(shared, &key, sha.as_str()).await?;
            sha
        }
        JournalBegin::Begun { .. } | JournalBegin::InProgress(_) => {
            let outcome = code_host
                .merge(&target.repo, pr, &head, shared.settings.merge_method)
                .await;
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(error) => {
                    let _ = store
                        .journal_fail(&key, &error.to_string(), shared.services.clock.now())
                        .await;
                    return Err(Stop::Failed(format!("merge PR #{}: {error}", pr.0)));
                }
            };
            match outcome {
                MergeOutcome::Merged { sha } => {
                    complete(shared, &key, sha.as_str()).await?;
                    sha
                }
                MergeOutcome::NotMergeable { message } | MergeOutcome::HeadChanged { message } => {
                    let _ = store
                        .journal_fail(&key, &message, shared.services.clock.now())
                        .await;
                    let rejection = reread_rejection(shared, ctx, pr, &head, &message).await?;
                    tracing::info!(
                        run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key, pr = pr.0,
                        %message, ?rejection, "the code host did not merge; re-decided"
                    );
                    return Ok((
                        Event::MergeRejected {
                            squad: ctx.squad.clone(),
                            rejection,
                        },
                        false,
                        Vec::new(),
                    ));
                }
            }
        }
    };
    tracing::info!(event = MERGED, sha = %sha, approved_by = ?approved_by, "merged");
    move_issue(shared, ctx, WorkflowTarget::Done, "done").await?;
    let mut outcomes = vec![Outcome::View(
        ctx.squad.clone(),
        ViewUpdate::Merged {
            sha: sha.clone(),
            approved_by,
        },
    )];
    if ctx.kind == SquadKind::BugFix
        && let Some(elapsed) = record_time_to_merge(shared, ctx).await
    {
        outcomes.push(Outcome::View(
            ctx.squad.clone(),
            ViewUpdate::TimeToMerge(elapsed),
        ));
    }
    let url = match &ctx.pr_url {
        Some(url) => url.clone(),
        None => journaled_pr_url(shared, &ctx.squad)
            .await
            .unwrap_or_default(),
    };
    notify::post(
        shared,
        &Subject::of(ctx),
        "merged",
        SquadUpdate::Merged {
            number: pr,
            url,
            sha: sha.to_string(),
        },
    )
    .await;
    Ok((
        Event::Merged {
            squad: ctx.squad.clone(),
            sha,
        },
        true,
        outcomes,
    ))
}

/// Records a bug fix's time from its trigger (the run's creation) to its merge, once; a
/// restart that finds the merge recorded finds this recorded too.
async fn record_time_to_merge(shared: &Shared, ctx: &SquadCtx) -> Option<std::time::Duration> {
    let store = &shared.services.store;
    let triggered = match store.run(&ctx.run).await {
        Ok(record) => record.run.created_at,
        Err(error) => {
            tracing::warn!(squad = %ctx.squad, %error, "could not read the run to time the fix");
            return None;
        }
    };
    let key = format!("{}/time-to-merge", ctx.squad);
    let (payload, elapsed) = metrics::time_to_merge_payload(triggered, shared.services.clock.now());
    let recorded = effects::once(shared, &key, Some(&ctx.squad), "metric", |_| async {
        store
            .append_event(
                &ctx.squad,
                metrics::TIME_TO_MERGE_EVENT,
                &payload,
                shared.services.clock.now(),
            )
            .await
            .map(|_| payload.clone())
            .map_err(|error| format!("record the time to merge of {}: {error}", ctx.squad))
    })
    .await;
    match recorded {
        Ok(payload) => {
            // After a restart the journal holds the time measured at the merge.
            let elapsed = metrics::payload_duration(&payload).unwrap_or(elapsed);
            tracing::info!(run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key, seconds = elapsed.as_secs(), "fix merged: time from trigger to merge recorded");
            Some(elapsed)
        }
        Err(error) => {
            tracing::warn!(squad = %ctx.squad, %error, "could not record the time to merge");
            None
        }
    }
}

/// The PR's page as the open-PR step journaled it (`<number> <url>`), after a restart.
async fn journaled_pr_url(shared: &Shared, squad: &SquadId) -> Option<String> {
    let entry = shared
        .services
        .store
        .journal_entry(&format!("{squad}/open-pr"))
        .await
        .ok()
        .flatten()?;
    let result = entry.result?;
    result.split_once(' ').map(|(_, url)| url.to_owned())
}

async fn complete(shared: &Shared, key: &str, result: &str) -> Result<(), String> {
    shared
        .services
        .store
        .journal_complete(key, result, shared.services.clock.now())
        .await
        .map_err(|error| format!("journal `{key}` as done: {error}"))
}

/// After a 405 or 409, reads the PR again and decides what the refusal means.
async fn reread_rejection(
    shared: &Shared,
    ctx: &SquadCtx,
    pr: PrNumber,
    head: &CommitSha,
    message: &str,
) -> Result<MergeRejection, String> {
    let target = ctx
        .target
        .as_ref()
        .ok_or_else(|| format!("merge {}: no repository", ctx.issue_key))?;
    let snapshot = shared
        .services
        .code_host
        .read_snapshot(&target.repo, pr)
        .await
        .map_err(|error| format!("read PR #{}: {error}", pr.0))?;
    if &snapshot.head_sha != head {
        return Ok(MergeRejection::HeadMoved);
    }
    if snapshot.mergeable == Some(false) {
        return Ok(MergeRejection::NeedsRebase(RebaseReason::Conflicts));
    }
    let root = ctx.prepared()?.path.clone();
    let contains = shared
        .services
        .workspaces
        .contains_base_tip(&root, &target.base_branch)
        .await
        .map_err(|error| format!("compare with {}: {error}", target.base_branch))?;
    if !contains {
        return Ok(MergeRejection::NeedsRebase(RebaseReason::Behind));
    }
    Ok(MergeRejection::Refused(message.to_owned()))
}

/// Tells the issue and the PR that a person must look, once.
pub(crate) async fn post_needs_human(shared: &Shared, view: &SquadView, reason: &str) {
    let marker = format!("needs-human-{}", view.squad);
    let key = format!("{}/comment/{marker}", view.issue);
    let tracker = &shared.services.tracker;
    let mut body = format!(
        "Squadron stopped working on {} and needs a person: {reason}",
        view.issue
    );
    if let Some(url) = &view.pr_url {
        body.push_str(&format!("\n\nPull request: {url}"));
    }
    let posted = effects::once(shared, &key, Some(&view.squad), "comment", |_| async {
        tracker
            .comment_once(&view.issue, &marker, &body)
            .await
            .map(|outcome| format!("{outcome:?}"))
            .map_err(|error| format!("comment on {}: {error}", view.issue))
    })
    .await;
    if let Err(error) = posted {
        tracing::warn!(squad = %view.squad, %error, "could not post the needs-human summary on the issue");
    }
    let ctx = shared.squad(view);
    let ctx = ctx.lock().await;
    notify::post(
        shared,
        &subject_of(&ctx, view),
        "needs-human",
        SquadUpdate::NeedsHuman {
            reason: reason.to_owned(),
        },
    )
    .await;
    if let (Some(pr), Some(target)) = (ctx.pr.or(view.pr), ctx.target.as_ref()) {
        let body = pr_body(&ctx, None, Some(reason));
        if let Err(error) = shared
            .services
            .code_host
            .update_pull_request_body(&target.repo, pr, &body)
            .await
        {
            tracing::warn!(squad = %view.squad, %error, "could not post the needs-human summary on the PR");
        }
    }
    tracing::info!(run = %view.run, squad = %view.squad, issue = %view.issue, pr = view.pr.map(|pr| pr.0), %reason, "needs a person");
}

/// Tells the squad's thread that it failed: a person must look, as after needs-human.
pub(crate) async fn notify_failed(shared: &Shared, view: &SquadView, error: &str) {
    let ctx = shared.squad(view);
    let ctx = ctx.lock().await;
    notify::post(
        shared,
        &subject_of(&ctx, view),
        "needs-human",
        SquadUpdate::NeedsHuman {
            reason: format!("the squad failed: {error}"),
        },
    )
    .await;
}

/// The squad as its thread shows it, with the view's title when the issue was not read.
fn subject_of(ctx: &SquadCtx, view: &SquadView) -> Subject {
    let mut subject = Subject::of(ctx);
    if subject.title.is_empty() {
        subject.title = view.title.clone();
    }
    subject
}

/// Removes a squad's worktree (its branch and PR stay), unless it is kept for a person.
pub(crate) async fn clean_up(shared: &Shared, view: &SquadView, keep: bool) {
    if keep {
        tracing::info!(squad = %view.squad, issue = %view.issue, "keeping the worktree for a person to inspect");
        return;
    }
    let ctx = shared.squad(view);
    let mut ctx = ctx.lock().await;
    let path = match &ctx.worktree {
        Some(prepared) => Some(prepared.path.clone()),
        None => shared
            .services
            .store
            .squad(&view.squad)
            .await
            .ok()
            .and_then(|record| record.squad.worktree.map(std::path::PathBuf::from)),
    };
    let Some(path) = path else { return };
    if let Err(error) = shared.services.workspaces.remove(&path).await {
        tracing::warn!(squad = %view.squad, path = %path.display(), %error, "could not remove the worktree");
        return;
    }
    ctx.forget_worktree();
    let now = shared.services.clock.now();
    if let Err(error) = shared
        .services
        .store
        .change_squad(&view.squad, &SquadChange::Worktree(None), now)
        .await
    {
        tracing::warn!(squad = %view.squad, %error, "could not record the worktree's removal");
    }
    tracing::info!(squad = %view.squad, issue = %view.issue, "worktree removed");
}
