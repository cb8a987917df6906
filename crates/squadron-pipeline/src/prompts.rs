//! Prompts and agents for one squad: the system prompt rendered around each agent file, and
//! the task contexts with every piece of outside text marked untrusted (fenced on render).

use std::sync::Arc;

use squadron_config::{
    AgentContext, DiagnosisContext, EvidenceContext, IssueContext, PromptName, RepositoryContext,
    RevertContext, ReviewContext, ScenarioContext, SystemContext, TaskContext, Untrusted,
};
use squadron_core::ports::{ChatModel, SpendScope};
use squadron_core::{FailureKind, Role, StepFailure};
use squadron_harness::{AgentSpec, Diagnosis, Harness, KeptConversation, TurnFailure, TurnOutcome};
use tracing::Instrument;

use crate::log_events::{self, BUDGET_EXCEEDED};
use crate::shared::Shared;
use crate::squad::{ReviewReply, SquadCtx};

/// Why an agent's turn did not produce its result.
#[derive(Debug)]
pub(crate) enum TurnStop {
    /// A budget ran out: the squad stops as needs-human.
    Budget(squadron_harness::BudgetExceeded),
    /// The agent handed off without finishing: the squad stops as needs-human with this
    /// reason (the agent's hand-off), its work kept.
    HandedOff(String),
    /// Anything else: the step fails.
    Failed(StepFailure),
}

impl From<StepFailure> for TurnStop {
    fn from(failure: StepFailure) -> Self {
        TurnStop::Failed(failure)
    }
}

/// The repository part of every prompt.
pub(crate) fn repository_context(ctx: &SquadCtx) -> RepositoryContext {
    let (github, base_branch) = ctx.target.as_ref().map_or_else(
        || (String::new(), String::new()),
        |target| (target.repo.to_string(), target.base_branch.clone()),
    );
    RepositoryContext {
        github,
        base_branch,
        branch: ctx
            .issue
            .as_ref()
            .map(|issue| issue.branch_name.clone())
            .unwrap_or_default(),
        base_sha: ctx
            .worktree
            .as_ref()
            .map(|prepared| prepared.base_sha.to_string()),
        head_sha: None,
        test_command: ctx.test_command.clone(),
        test_globs: ctx.test_globs.clone(),
    }
}

/// A task context for `role` in `round`, without reviews or evidence; a bug fix's diagnosis
/// (call [`SquadCtx::ensure_diagnosis`] first) stands in for the refined issue's scenarios.
pub(crate) fn task_context(ctx: &SquadCtx, role: Role, round: u32, max_rounds: u32) -> TaskContext {
    let issue = ctx.issue.as_ref();
    let identifier = ctx.issue_key.to_string();
    let scenarios = issue
        .map(|issue| {
            issue
                .acceptance_criteria
                .iter()
                .map(|scenario| {
                    let mut text = format!("Scenario: {}", scenario.name);
                    for step in &scenario.steps {
                        text.push_str(&format!("\n  {} {}", step.keyword, step.text));
                    }
                    ScenarioContext {
                        id: scenario.id.clone(),
                        text: Untrusted::new(format!("scenario {}", scenario.id), text),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    TaskContext {
        role: role.as_str().to_owned(),
        issue: IssueContext {
            identifier,
            url: issue.map(|issue| issue.url.clone()).unwrap_or_default(),
            title: Untrusted::new(
                "issue title",
                issue.map(|issue| issue.title.clone()).unwrap_or_default(),
            ),
            description: Untrusted::new(
                "issue description",
                issue
                    .map(|issue| issue.description.clone())
                    .unwrap_or_default(),
            ),
            scenarios,
        },
        repository: repository_context(ctx),
        round,
        max_rounds,
        reviews: Vec::<ReviewContext>::new(),
        previous_review: None,
        diagnosis: ctx.diagnosis.as_ref().map(|diagnosis| DiagnosisContext {
            hypothesis: Untrusted::new("diagnosis hypothesis", diagnosis.hypothesis.clone()),
            plan: Untrusted::new("diagnosis plan", diagnosis.plan.clone()),
            confidence: diagnosis.confidence.as_str().to_owned(),
            files: diagnosis.files.clone(),
        }),
        evidence: None::<EvidenceContext>,
        // The reviewers read the writers' latest word: their answer to the last review round
        // when there is one, else their summary of the implementation.
        developer_summary: latest(ctx, |reply| &reply.developer, &ctx.developer_summary)
            .map(|summary| Untrusted::new("developer summary", summary.to_owned())),
        qa_summary: latest(ctx, |reply| &reply.qa, &ctx.qa_summary)
            .map(|summary| Untrusted::new("qa summary", summary.to_owned())),
        conflict: None,
        checks: None,
        revert: ctx.revert.as_ref().map(|plan| RevertContext {
            merge_sha: plan.merge_sha.to_string(),
            pr_url: plan.pr_url.clone(),
            reason: plan
                .reason
                .as_ref()
                .map(|reason| Untrusted::new("revert reason", reason.clone())),
            requested_by: plan.requested_by.clone(),
        }),
    }
}

/// The latest of a writer's answers to the review rounds, else its first summary.
fn latest<'a>(
    ctx: &'a SquadCtx,
    answer: impl Fn(&'a ReviewReply) -> &'a Option<String>,
    first: &'a Option<String>,
) -> Option<&'a str> {
    ctx.review_replies
        .iter()
        .rev()
        .find_map(|reply| answer(reply).as_deref())
        .or(first.as_deref())
}

/// The agent of `role` for this squad: its file's tools and write scope, its system prompt
/// rendered around its instructions with the repository, and its model.
pub(crate) fn agent(
    shared: &Shared,
    ctx: &SquadCtx,
    role: Role,
    changed: &[String],
) -> Result<(AgentSpec, Arc<dyn ChatModel>), StepFailure> {
    let squad = ctx.agents()?;
    let setup = squad.agents.get(&role).ok_or_else(|| {
        StepFailure::needs_person(format!(
            "run the {role}: no agent is configured for that role"
        ))
    })?;
    let definition = &setup.definition;
    let system = SystemContext {
        agent: AgentContext {
            role: role.as_str().to_owned(),
            instructions: definition.instructions.clone(),
            tools: definition
                .tools
                .iter()
                .map(|tool| tool.as_str().to_owned())
                .collect(),
            terminal_tool: definition.terminal_tool().as_str().to_owned(),
        },
        repository: repository_context(ctx),
        docs: Vec::new(),
        docs_left_out: Vec::new(),
        guidance_elsewhere: Vec::new(),
        docs_cap_bytes: 0,
    };
    let system = match &ctx.guidance {
        Some(guidance) => system.with_instructions(&guidance.instructions_for(changed)),
        None => system,
    };
    let system_prompt = squad
        .prompts
        .render(PromptName::System, &system)
        .map_err(|error| {
            StepFailure::needs_person(format!("render the {role}'s system prompt"))
                .caused_by(&error)
        })?;
    let mut spec = AgentSpec::from_definition(
        definition,
        setup.prices,
        shared.settings.agent_turn_limit,
        shared.settings.turn,
    );
    spec.system_prompt = system_prompt;
    // Writers finish without committing: Developer and QA share one worktree, so the
    // runtime commits once both are done, through the same test guardrail.
    spec.commit_on_finish = false;
    Ok((spec, Arc::clone(&setup.model)))
}

/// The files the squad's change touches so far (and, for a bug fix, those its diagnosis
/// names), which pick the nested guidance an agent is shown.
async fn files_in_play(shared: &Shared, ctx: &SquadCtx) -> Vec<String> {
    let mut files = ctx
        .diagnosis
        .as_ref()
        .map(|diagnosis| diagnosis.files.clone())
        .unwrap_or_default();
    if let Some(prepared) = &ctx.worktree {
        match shared
            .services
            .workspaces
            .changed_files(&prepared.path, &prepared.base_sha)
            .await
        {
            Ok(changed) => files.extend(changed),
            Err(error) => {
                tracing::warn!(squad = %ctx.squad, %error, "could not list the changed files; agents get the root guidance only");
            }
        }
    }
    files.sort();
    files.dedup();
    files
}

/// What a finished turn produced.
pub(crate) enum TurnResult {
    /// A writer's summary.
    Finished(String),
    /// A reviewer's review.
    Reviewed(squadron_core::Review),
    /// The diagnostician's diagnosis.
    Diagnosed(Diagnosis),
}

/// Renders `prompt` with `task` and runs one fresh turn of `role` inside its `role` span.
pub(crate) async fn run_turn(
    shared: &Shared,
    ctx: &SquadCtx,
    role: Role,
    prompt: PromptName,
    task: &TaskContext,
    extra: Option<&str>,
) -> Result<TurnResult, TurnStop> {
    turn_continuing(shared, ctx, role, (prompt, task, extra), None)
        .instrument(log_events::role_span(role))
        .await
        .map(|(result, _)| result)
}

/// A reviewer's turn that continues `earlier`, the conversation of its previous review, with
/// the `review-again` prompt rendered from its own task context (what changed since); see
/// [`turn_continuing`].
pub(crate) async fn review_turn(
    shared: &Shared,
    ctx: &SquadCtx,
    role: Role,
    prompt: PromptName,
    task: &TaskContext,
    earlier: Option<(&KeptConversation, &TaskContext)>,
) -> Result<(TurnResult, Option<KeptConversation>), TurnStop> {
    let again =
        earlier.map(|(earlier, again)| (earlier, FollowUp::Prompt(PromptName::ReviewAgain, again)));
    turn_continuing(shared, ctx, role, (prompt, task, None), again).await
}

/// What a turn that goes on in the agent's own conversation is told.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FollowUp<'a> {
    /// A prompt rendered with its own task context.
    Prompt(PromptName, &'a TaskContext),
    /// A text as it is.
    Text(&'a str),
}

/// A turn of `role` that continues `again`'s conversation, the agent's own of its last turn,
/// with its follow-up when that conversation began with the system prompt the agent has now
/// (the guidance shown follows the files the change touches); otherwise a fresh turn on
/// `prompt` with `task` and `extra`. Returns what the turn produced and its conversation, to
/// continue next time.
pub(crate) async fn turn_continuing(
    shared: &Shared,
    ctx: &SquadCtx,
    role: Role,
    (prompt, task, extra): (PromptName, &TaskContext, Option<&str>),
    again: Option<(&KeptConversation, FollowUp<'_>)>,
) -> Result<(TurnResult, Option<KeptConversation>), TurnStop> {
    // Shown as at work in the live view until the turn ends, however it ends.
    let _at_work = shared.activity.enter(&ctx.squad, role);
    let changed = files_in_play(shared, ctx).await;
    let (spec, model) = agent(shared, ctx, role, &changed)?;
    let workspace = ctx.workspace.clone().ok_or_else(|| {
        StepFailure::internal(format!("run the {role}: the worktree was not prepared"))
    })?;
    let render = |prompt: PromptName, task: &TaskContext| {
        ctx.agents()?.prompts.render(prompt, task).map_err(|error| {
            StepFailure::needs_person(format!("render the {prompt} prompt for the {role}"))
                .caused_by(&error)
        })
    };
    let earlier = again.filter(|(earlier, _)| {
        let same = Harness::can_continue(&spec, earlier);
        if !same {
            tracing::info!(squad = %ctx.squad, role = %role, "the agent's system prompt changed since its last turn; it starts a fresh conversation");
        }
        same
    });
    let report = match earlier {
        Some((earlier, follow_up)) => {
            let follow_up = match follow_up {
                FollowUp::Prompt(prompt, again) => render(prompt, again)?,
                FollowUp::Text(text) => text.to_owned(),
            };
            shared
                .harness
                .continue_turn(model.as_ref(), &workspace, &spec, earlier, &follow_up)
                .await
        }
        None => {
            let mut task_prompt = render(prompt, task)?;
            if let Some(extra) = extra {
                task_prompt.push_str("\n\n");
                task_prompt.push_str(extra);
            }
            shared
                .harness
                .run_turn(model.as_ref(), &workspace, &spec, &task_prompt)
                .await
        }
    };
    tracing::info!(
        steps = report.steps,
        tokens = report.usage.total(),
        cost = %report.cost,
        continued = earlier.is_some(),
        "agent turn ended"
    );
    let result = match report.outcome {
        TurnOutcome::Finished { summary, .. } => TurnResult::Finished(summary),
        TurnOutcome::Reviewed(review) => TurnResult::Reviewed(review),
        TurnOutcome::Diagnosed(diagnosis) => TurnResult::Diagnosed(diagnosis),
        TurnOutcome::HandedOff(handoff) => {
            return Err(TurnStop::HandedOff(format!(
                "the {role} agent stopped: {}. Its hand-off:\n{}",
                handoff.reason, handoff.summary
            )));
        }
        TurnOutcome::BudgetExceeded(exceeded) => {
            let scope = match &exceeded.scope {
                SpendScope::Squad(_) => "squad",
                SpendScope::Run(_) => "run",
            };
            tracing::warn!(
                event = BUDGET_EXCEEDED, scope, spent = %exceeded.spent,
                budget = %exceeded.budget, "budget exceeded: the squad stops before its next model call"
            );
            return Err(TurnStop::Budget(exceeded));
        }
        TurnOutcome::Failed(failure) => {
            return Err(TurnStop::Failed(turn_failure(role, &failure)));
        }
    };
    Ok((result, report.conversation))
}

/// A failed turn as a step failure: a model call or a recording that failed keeps its
/// port's kind (a model that timed out is worth another attempt); a model that cannot
/// give usable replies or fit its window needs a person to change its configuration; a
/// commit that fails is a bug.
fn turn_failure(role: Role, failure: &TurnFailure) -> StepFailure {
    let kind = match failure {
        TurnFailure::Model { kind, .. } => FailureKind::from(*kind),
        // Shutting down: the step resumes on the next start.
        TurnFailure::Interrupted => FailureKind::Transient,
        TurnFailure::Recorder(error) => FailureKind::from(error),
        TurnFailure::UnusableReply { .. } | TurnFailure::ContextExhausted { .. } => {
            FailureKind::NeedsPerson
        }
        TurnFailure::Commit(_) => FailureKind::Internal,
    };
    StepFailure::new(kind, format!("run the {role}")).caused_by(failure)
}
