//! The turn loop: one agent working one task until it calls its terminal tool, hands off
//! (step limit, a call failing the same way again and again, no tool calls), runs out of
//! budget, or the model fails.
//!
//! The conversation grows at its end, so each request's prefix is byte-identical to the
//! previous request's and providers serve it from their prompt cache. Only the context
//! budget rewrites it: older tool results are elided in one batch when the prompt passes a
//! share of the model's window, and when that is not enough the conversation is condensed
//! into a hand-off the model writes; the system prompt and the task stay byte-identical
//! through both. A reply cut off at the output limit is asked for again with a higher limit
//! (after a condensation when the window left it too little room) before the model is told
//! to reply with less, unless it went round in a loop (a longer loop helps nobody) or, at the
//! speed the model wrote it, a longer one would not come within the call's timeout and the
//! turn's time for raised limits. Every message is persisted as it is appended, every billed call metered
//! (unusable replies included), and no call is made whose projected cost would pass a
//! budget.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use squadron_core::ports::model::UnusableReply;
use squadron_core::ports::{
    AgentRecorder, BilledUnusable, ChatMessage, ChatModel, ChatReply, ChatRequest, Clock,
    ContextOverflow, FinishReason, ModelLimits, PortError, PortErrorKind, ToolCall, UsageRecord,
};
use squadron_core::{Review, Role, SquadId, TokenPrices, TokenUsage, Usd};

use squadron_core::error_chain;

use crate::context::{ContextBudget, Conversation, KeptConversation};
use crate::guardrails::{CommitError, CommitOutcome, commit};
use crate::metering::{BudgetExceeded, check_budgets};
use crate::output_cap::OutputLimits;
use crate::registry::{Executed, ToolRegistry};
use crate::scratch::Scratch;
use crate::terminal::{Diagnosis, TerminalCall};
use crate::tokens::TokenCounter;
use crate::workspace::SquadWorkspace;
use squadron_config::{UNTRUSTED_NOTE, fence};

/// How a turn keeps going with a real model: its context budget, how much of a tool result
/// is shown, and when a turn that is going nowhere hands off.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TurnSettings {
    /// The share of the model's window (less room for the reply) a prompt may fill before
    /// older tool results are elided.
    pub context_share: f64,
    /// How much of one tool result the model is shown.
    pub tool_output: OutputLimits,
    /// Continuation turns after the step limit, each starting from a hand-off.
    pub continuations: u32,
    /// Steps before the limit at which the model is warned.
    pub warn_steps_before_limit: u32,
    /// The same failing call this many times gets a nudge to try something else.
    pub repeated_failure_nudge: u32,
    /// The same failing call this many times ends the turn with a hand-off.
    pub repeated_failure_stop: u32,
    /// Replies in a row without any tool call that end the turn with a hand-off.
    pub text_only_replies: u32,
    /// Unusable replies in a row that end the turn as failed.
    pub unusable_replies: u32,
}

impl Default for TurnSettings {
    /// The shipped configuration's `[agents]` settings.
    fn default() -> Self {
        Self::from(&squadron_config::AgentsConfig::default())
    }
}

/// One agent as the turn loop needs it.
#[derive(Clone, Debug)]
pub struct AgentSpec {
    /// The role.
    pub role: Role,
    /// `provider/model` as configured; the part after the first `/` goes to the provider.
    pub model: String,
    /// The system prompt (the agent file's body).
    pub system_prompt: String,
    /// The tools the agent was given.
    pub tools: ToolRegistry,
    /// Prices of the model, for metering.
    pub prices: TokenPrices,
    /// Model calls allowed in one turn (and again in each continuation).
    pub max_steps: u32,
    /// Whether `finish` commits the worktree (through the test guardrail).
    pub commit_on_finish: bool,
    /// Context budget, output caps and hand-off rules.
    pub turn: TurnSettings,
}

impl AgentSpec {
    /// The model name sent to the provider.
    pub fn provider_model(&self) -> &str {
        self.model
            .split_once('/')
            .map_or(self.model.as_str(), |(_, model)| model)
    }
}

/// How a turn ended.
#[derive(Debug)]
pub enum TurnOutcome {
    /// A writer called `finish`, and its work was committed (or there was nothing to commit,
    /// or committing was not asked for).
    Finished {
        /// The agent's summary.
        summary: String,
        /// The commit made, if any.
        commit: Option<String>,
    },
    /// A reviewer submitted its review.
    Reviewed(Review),
    /// The diagnostician submitted its diagnosis.
    Diagnosed(Diagnosis),
    /// The agent stopped short of its terminal tool; the hand-off says where it stands.
    HandedOff(HandOff),
    /// A budget would be passed by the next call: needs a human.
    BudgetExceeded(BudgetExceeded),
    /// The turn could not go on.
    Failed(TurnFailure),
}

/// Where an agent that stopped short of its terminal tool stands, for a person or the next
/// turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandOff {
    /// Why the turn stopped.
    pub reason: HandOffReason,
    /// The hand-off: the model's own (goal, done so far, files changed, what is left,
    /// failing tests) when it could write one, and the harness's record of the files written.
    pub summary: String,
}

/// Why a turn handed off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandOffReason {
    /// Every step of the turn and of its continuations was used.
    StepLimit {
        /// Model calls made in all.
        steps: u32,
        /// Continuations used.
        continuations: u32,
    },
    /// The same call kept failing the same way.
    RepeatedFailingCall {
        /// The tool called.
        tool: String,
        /// How many times.
        times: u32,
    },
    /// The model kept answering in text without calling any tool.
    NoToolCalls {
        /// Replies in a row.
        replies: u32,
    },
}

impl std::fmt::Display for HandOffReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandOffReason::StepLimit {
                steps,
                continuations,
            } => write!(
                f,
                "it used all its steps ({steps} model calls over {} turns) without finishing",
                continuations + 1
            ),
            HandOffReason::RepeatedFailingCall { tool, times } => write!(
                f,
                "it made the same failing `{tool}` call {times} times without changing anything"
            ),
            HandOffReason::NoToolCalls { replies } => write!(
                f,
                "it answered in text {replies} times in a row without calling a tool"
            ),
        }
    }
}

/// Why a turn failed.
#[derive(Debug, thiserror::Error)]
pub enum TurnFailure {
    /// The model's replies could not be used, even after being told why.
    #[error("get a usable reply from {model}: {first}; after being told, it still replied: {last}")]
    UnusableReply {
        /// The model.
        model: String,
        /// The first problem.
        first: String,
        /// The problem with the last retry.
        last: String,
    },
    /// The conversation does not fit the model's window even condensed.
    #[error(
        "fit the conversation into {model}'s context window: {message}; even condensed to the \
         system prompt, the task and a hand-off it does not fit, so give the model a larger \
         window (context_window in its configuration) or shorten the agent's prompt"
    )]
    ContextExhausted {
        /// The model.
        model: String,
        /// The provider's last word.
        message: String,
    },
    /// The model call failed (the adapter already retried transient failures).
    #[error("call {model} ({kind:?}): {message}")]
    Model {
        /// The model.
        model: String,
        /// How the port classified it.
        kind: PortErrorKind,
        /// The error with its causes.
        message: String,
    },
    /// The harness was interrupted (the daemon is shutting down): the model call in flight
    /// was dropped; the work stays in the worktree.
    #[error(
        "finish the turn: the daemon is shutting down, so the model call in flight was cancelled"
    )]
    Interrupted,
    /// The transcript or usage could not be persisted.
    #[error("persist the transcript or usage")]
    Recorder(#[source] PortError),
    /// The harness could not commit.
    #[error("commit the agent's work")]
    Commit(#[source] CommitError),
}

/// A finished turn: how it ended and what it used.
#[derive(Debug)]
pub struct TurnReport {
    /// How the turn ended.
    pub outcome: TurnOutcome,
    /// Model calls made (hand-off and condensation calls included).
    pub steps: u32,
    /// Tokens used by this turn.
    pub usage: TokenUsage,
    /// Cost of this turn.
    pub cost: Usd,
    /// Times older tool results were elided.
    pub elisions: u32,
    /// Times the conversation was condensed into a hand-off.
    pub condensations: u32,
    /// Continuation turns started after the step limit.
    pub continuations: u32,
    /// The conversation as it stood when the agent called its terminal tool, for a later
    /// turn of the same agent to continue ([`Harness::continue_turn`]); `None` after any
    /// other end.
    pub conversation: Option<KeptConversation>,
}

/// How a turn begins.
#[derive(Clone, Copy, Debug)]
enum Start<'a> {
    /// A fresh conversation: the system prompt, then this task.
    Task(&'a str),
    /// A kept conversation, continued with this follow-up.
    Continue(&'a KeptConversation, &'a str),
}

/// Runs turns. Shared by every agent of every squad.
#[derive(Clone)]
pub struct Harness {
    recorder: Arc<dyn AgentRecorder>,
    clock: Arc<dyn Clock>,
    /// Set once by [`Harness::interrupt`]: every model call in flight is dropped.
    stop: Arc<tokio::sync::watch::Sender<bool>>,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness").finish_non_exhaustive()
    }
}

/// How many times its own output limit a model whose replies are cut off may be given: each
/// cut-off reply is billed, so a model that never stops is not asked ever longer.
const MAX_OUTPUT_RAISE: u64 = 4;

/// The share of a call's timeout that a reply asked for at a raised limit may be expected to
/// take, at the speed the cut-off reply was written.
const RAISED_REPLY_TIMEOUT_SHARE: f64 = 0.8;

/// The time a turn may spend on calls at a raised output limit when the model's adapter has
/// no timeout to measure it by (with one, that timeout is the bound).
const RAISED_LIMIT_TIME: Duration = Duration::from_secs(600);

/// What the model is asked when the conversation is condensed or a turn hands off.
pub const HANDOFF_REQUEST: &str = "Stop working for a moment and write a hand-off for whoever continues this task (it may be you, with only this hand-off and the task). Do not call any tool. Use exactly these headings:\n## Goal\n## Done so far\n## Files changed\n## What is left\n## Failing tests\nBe specific: name files, functions, commands and error messages. Write only what the conversation shows.";

/// The persisted, budgeted conversation of one turn.
struct Transcript<'a> {
    conversation: Conversation,
    /// Paths written or edited in this turn, whatever was condensed since.
    written: Vec<String>,
    recorder: &'a dyn AgentRecorder,
    clock: &'a dyn Clock,
    workspace: &'a SquadWorkspace,
    role: Role,
}

impl Transcript<'_> {
    async fn record(&self, message: &ChatMessage) -> Result<(), TurnFailure> {
        self.recorder
            .append_message(
                &self.workspace.squad_id,
                self.role,
                message,
                self.clock.now(),
            )
            .await
            .map_err(TurnFailure::Recorder)
    }

    async fn push(&mut self, message: ChatMessage) -> Result<(), TurnFailure> {
        self.record(&message).await?;
        self.conversation.push(message, None);
        Ok(())
    }

    async fn tool(
        &mut self,
        tool_call_id: &str,
        content: String,
        whole_at: Option<String>,
    ) -> Result<(), TurnFailure> {
        let message = ChatMessage::Tool {
            tool_call_id: tool_call_id.to_owned(),
            content,
        };
        self.record(&message).await?;
        self.conversation.push(message, whole_at);
        Ok(())
    }
}

/// What the loop does after one reply's tool calls.
enum Next {
    Continue,
    End(TurnOutcome),
}

/// Counters of a turn that is going nowhere.
#[derive(Default)]
struct Stalls {
    /// Per call (tool and exact arguments): failures since it last succeeded.
    failing: BTreeMap<(String, String), u32>,
    text_only: u32,
    unusable: Vec<String>,
    overflows: u32,
    /// The server refused a raised output limit: cut-off replies are not asked again with one.
    raise_refused: bool,
    /// The last call asked again, with a raised limit, for a reply that was cut off.
    raising: bool,
    /// Time spent on asking cut-off replies again at raised output limits.
    raised_time: Duration,
}

impl Harness {
    /// A harness persisting through `recorder` and reading time from `clock`.
    pub fn new(recorder: Arc<dyn AgentRecorder>, clock: Arc<dyn Clock>) -> Self {
        Self {
            recorder,
            clock,
            stop: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }

    /// Ends every turn of this harness (and of its clones) at its model call in flight or
    /// its next one, as [`TurnFailure::Interrupted`]: a daemon shutting down does not wait
    /// for replies that may take minutes. A tool call in progress completes, so what the
    /// agent wrote stays in the worktree for the step to resume on the next start.
    pub fn interrupt(&self) {
        self.stop.send_replace(true);
    }

    /// Persists `kept` as the conversation `role`'s next turn goes on with, for a restarted
    /// daemon; a store that fails only costs the continuation, so it is not the turn's end.
    async fn keep(&self, workspace: &SquadWorkspace, role: Role, kept: &KeptConversation) {
        let squad = &workspace.squad_id;
        let at = self.clock.now();
        if let Err(error) = self
            .recorder
            .keep_conversation(squad, role, &kept.encode(), at)
            .await
        {
            tracing::warn!(%squad, %role, error = %error_chain(&error), "could not keep the agent's conversation; after a restart its next turn starts afresh");
        }
    }

    /// The conversation `role` of the squad kept at the end of its last finished turn, as
    /// the store holds it (after a restart); `None` when there is none or it cannot be read.
    pub async fn kept(&self, squad: &SquadId, role: Role) -> Option<KeptConversation> {
        match self.recorder.kept_conversation(squad, role).await {
            Ok(text) => text.as_deref().and_then(KeptConversation::decode),
            Err(error) => {
                tracing::warn!(%squad, %role, error = %error_chain(&error), "could not read the agent's kept conversation; its next turn starts afresh");
                None
            }
        }
    }

    /// Whether [`Harness::interrupt`] was called: no turn of this harness makes another
    /// model call.
    pub fn is_interrupted(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves once [`Harness::interrupt`] was called (at once when it was).
    pub async fn interrupted(&self) {
        let mut stop = self.stop.subscribe();
        // The sender lives as long as `self`, so this only returns when it says stop.
        let _ = stop.wait_for(|stopped| *stopped).await;
    }

    /// `model`'s reply to `request`, unless the harness is interrupted first.
    async fn call(
        &self,
        model: &dyn ChatModel,
        request: &ChatRequest,
    ) -> Result<Result<ChatReply, PortError>, TurnFailure> {
        tokio::select! {
            biased;
            () = self.interrupted() => Err(TurnFailure::Interrupted),
            reply = model.complete(request) => Ok(reply),
        }
    }

    /// Runs one turn of `agent` on `task_prompt` against `model`. Never panics on model
    /// behaviour; the outcome says what happened.
    pub async fn run_turn(
        &self,
        model: &dyn ChatModel,
        workspace: &SquadWorkspace,
        agent: &AgentSpec,
        task_prompt: &str,
    ) -> TurnReport {
        self.turn(model, workspace, agent, Start::Task(task_prompt))
            .await
    }

    /// Runs one turn of `agent` that continues `earlier` (kept by an earlier turn of the same
    /// agent) with `follow_up`, so that every request starts with what the earlier turn sent
    /// and a provider's prompt cache serves it. The caller checks that `earlier` began with
    /// this agent's system prompt ([`Harness::can_continue`]).
    pub async fn continue_turn(
        &self,
        model: &dyn ChatModel,
        workspace: &SquadWorkspace,
        agent: &AgentSpec,
        earlier: &KeptConversation,
        follow_up: &str,
    ) -> TurnReport {
        self.turn(model, workspace, agent, Start::Continue(earlier, follow_up))
            .await
    }

    /// Whether `earlier` started with the system prompt `agent` would be given now, so that
    /// continuing it keeps the agent's instructions as they are.
    pub fn can_continue(agent: &AgentSpec, earlier: &KeptConversation) -> bool {
        earlier.system_prompt() == Some(system_prompt(agent).as_str())
    }

    async fn turn(
        &self,
        model: &dyn ChatModel,
        workspace: &SquadWorkspace,
        agent: &AgentSpec,
        start: Start<'_>,
    ) -> TurnReport {
        let mut report = TurnReport {
            outcome: TurnOutcome::Failed(TurnFailure::Model {
                model: agent.model.clone(),
                kind: PortErrorKind::Internal,
                message: "the turn did not start".to_owned(),
            }),
            steps: 0,
            usage: TokenUsage::default(),
            cost: Usd::ZERO,
            elisions: 0,
            condensations: 0,
            continuations: 0,
            conversation: None,
        };
        let outcome = self
            .drive(model, workspace, agent, start, &mut report)
            .await;
        report.outcome = outcome.unwrap_or_else(TurnOutcome::Failed);
        tracing::info!(
            squad = %workspace.squad_id, role = %agent.role, steps = report.steps,
            cost = %report.cost, elisions = report.elisions,
            condensations = report.condensations, continuations = report.continuations,
            outcome = ?report.outcome, "turn ended"
        );
        report
    }

    async fn meter(
        &self,
        workspace: &SquadWorkspace,
        agent: &AgentSpec,
        usage: TokenUsage,
        report: &mut TurnReport,
    ) -> Result<(), TurnFailure> {
        let cost = usage.cost(&agent.prices);
        report.usage += usage;
        report.cost += cost;
        let record = UsageRecord {
            run_id: workspace.run_id.clone(),
            squad_id: workspace.squad_id.clone(),
            role: agent.role,
            model: agent.model.clone(),
            usage,
            cost,
            at: self.clock.now(),
        };
        self.recorder
            .record_usage(&record)
            .await
            .map_err(TurnFailure::Recorder)
    }

    /// The most a call with a prompt of `prompt_tokens` can cost.
    fn projected_cost(agent: &AgentSpec, limits: &ModelLimits, prompt_tokens: u64) -> Usd {
        TokenUsage {
            prompt: prompt_tokens,
            cached: 0,
            completion: limits.max_output_tokens,
        }
        .cost(&agent.prices)
    }

    async fn drive(
        &self,
        model: &dyn ChatModel,
        workspace: &SquadWorkspace,
        agent: &AgentSpec,
        start: Start<'_>,
        report: &mut TurnReport,
    ) -> Result<TurnOutcome, TurnFailure> {
        let mut budget = ContextBudget {
            limits: model.limits(),
            share: agent.turn.context_share,
        };
        let tools = agent
            .tools
            .specs_for(&workspace.policy, agent.commit_on_finish);
        let mut transcript = Transcript {
            conversation: Conversation::new(TokenCounter::new(budget.limits.encoding), &tools),
            written: Vec::new(),
            recorder: self.recorder.as_ref(),
            clock: self.clock.as_ref(),
            workspace,
            role: agent.role,
        };
        let scratch = Scratch::beside(workspace.worktree.root());
        match start {
            Start::Task(task_prompt) => {
                transcript
                    .push(ChatMessage::System {
                        content: system_prompt(agent),
                    })
                    .await?;
                transcript
                    .push(ChatMessage::User {
                        content: task_prompt.to_owned(),
                    })
                    .await?;
            }
            Start::Continue(earlier, follow_up) => {
                // The earlier messages are in the transcript already.
                let message = ChatMessage::User {
                    content: follow_up.to_owned(),
                };
                transcript.record(&message).await?;
                transcript.conversation.resume(earlier, message);
            }
        }
        let mut stalls = Stalls::default();
        let mut segment_steps: u32 = 0;
        loop {
            if segment_steps >= agent.max_steps {
                if report.continuations >= agent.turn.continuations {
                    let summary = self
                        .hand_off(model, workspace, agent, &mut transcript, &budget, report)
                        .await?;
                    let reason = HandOffReason::StepLimit {
                        steps: report.steps,
                        continuations: report.continuations,
                    };
                    return Ok(TurnOutcome::HandedOff(HandOff { reason, summary }));
                }
                let summary = self
                    .hand_off(model, workspace, agent, &mut transcript, &budget, report)
                    .await?;
                report.continuations += 1;
                segment_steps = 0;
                // The time spent on raised limits is the whole turn's, continuations included.
                stalls = Stalls {
                    raised_time: stalls.raised_time,
                    ..Stalls::default()
                };
                let message = ChatMessage::User {
                    content: format!(
                        "You used all {} steps of your turn; this is continuation {} of {}. The conversation so far was replaced by this hand-off:\n{}\nGo on from there: work through your tools and call `{}` when you are done.",
                        agent.max_steps,
                        report.continuations,
                        agent.turn.continuations,
                        fence("hand-off", &summary),
                        terminal_name(&agent.tools)
                    ),
                };
                transcript.record(&message).await?;
                transcript.conversation.restart(message);
                continue;
            }
            if let Some(outcome) = self
                .keep_within_window(model, workspace, agent, &mut transcript, &budget, report)
                .await?
            {
                return Ok(outcome);
            }
            let projected = Self::projected_cost(
                agent,
                &budget.limits,
                transcript.conversation.prompt_tokens(),
            );
            if let Some(exceeded) = check_budgets(self.recorder.as_ref(), workspace, projected)
                .await
                .map_err(TurnFailure::Recorder)?
            {
                return Ok(TurnOutcome::BudgetExceeded(exceeded));
            }
            report.steps += 1;
            segment_steps += 1;
            let request = ChatRequest {
                model: agent.provider_model().to_owned(),
                messages: transcript.conversation.messages(),
                tools: tools.clone(),
                max_output_tokens: Some(budget.limits.max_output_tokens),
            };
            let started = tokio::time::Instant::now();
            let answer = self.call(model, &request).await?;
            let took = started.elapsed();
            if stalls.raising {
                stalls.raised_time += took;
            }
            let reply = match answer {
                Ok(reply) => reply,
                Err(error) => {
                    if let Some(outcome) = self
                        .after_error(
                            model,
                            workspace,
                            agent,
                            &mut transcript,
                            &mut budget,
                            report,
                            &mut stalls,
                            (&error, took),
                        )
                        .await?
                    {
                        return Ok(outcome);
                    }
                    continue;
                }
            };
            stalls.unusable.clear();
            stalls.overflows = 0;
            stalls.raising = false;
            transcript.conversation.calibrate(reply.usage.prompt);
            self.meter(workspace, agent, reply.usage, report).await?;
            transcript
                .push(ChatMessage::Assistant {
                    content: reply.content.clone(),
                    tool_calls: reply.tool_calls.clone(),
                    reasoning: reply.reasoning.clone(),
                })
                .await?;
            if reply.tool_calls.is_empty() {
                stalls.text_only += 1;
                if stalls.text_only >= agent.turn.text_only_replies {
                    let reason = HandOffReason::NoToolCalls {
                        replies: stalls.text_only,
                    };
                    let summary = self
                        .hand_off(model, workspace, agent, &mut transcript, &budget, report)
                        .await?;
                    return Ok(TurnOutcome::HandedOff(HandOff { reason, summary }));
                }
                transcript
                    .push(ChatMessage::User {
                        content: text_only_nudge(&reply, agent),
                    })
                    .await?;
                continue;
            }
            stalls.text_only = 0;
            match self
                .run_tool_calls(
                    &mut transcript,
                    &scratch,
                    workspace,
                    agent,
                    &reply.tool_calls,
                    &mut stalls,
                )
                .await?
            {
                Next::End(outcome) => {
                    let kept = transcript.conversation.keep();
                    self.keep(workspace, agent.role, &kept).await;
                    report.conversation = Some(kept);
                    return Ok(outcome);
                }
                Next::Continue => {}
            }
            if let Some((tool, times)) = worst_repeat(&stalls) {
                if times >= agent.turn.repeated_failure_stop {
                    let reason = HandOffReason::RepeatedFailingCall { tool, times };
                    let summary = self
                        .hand_off(model, workspace, agent, &mut transcript, &budget, report)
                        .await?;
                    return Ok(TurnOutcome::HandedOff(HandOff { reason, summary }));
                }
                if times == agent.turn.repeated_failure_nudge {
                    transcript
                        .push(ChatMessage::User {
                            content: format!(
                                "You have now made the same `{tool}` call {times} times with the same arguments, and it failed each time. Repeating it will not help: read the error, then change the code or the arguments, or try another approach."
                            ),
                        })
                        .await?;
                }
            }
            let left = agent.max_steps.saturating_sub(segment_steps);
            if left == agent.turn.warn_steps_before_limit && left > 0 {
                transcript
                    .push(ChatMessage::User {
                        content: format!(
                            "{left} steps left in this turn. Get to a state you can hand over, and call `{}` if you are done.",
                            terminal_name(&agent.tools)
                        ),
                    })
                    .await?;
            }
        }
    }

    /// Elides older tool results when the next prompt would pass the threshold, and condenses
    /// when that is not enough.
    async fn keep_within_window(
        &self,
        model: &dyn ChatModel,
        workspace: &SquadWorkspace,
        agent: &AgentSpec,
        transcript: &mut Transcript<'_>,
        budget: &ContextBudget,
        report: &mut TurnReport,
    ) -> Result<Option<TurnOutcome>, TurnFailure> {
        let threshold = budget.threshold();
        if transcript.conversation.prompt_tokens() <= threshold {
            return Ok(None);
        }
        if transcript.conversation.elide_for(budget) > 0 {
            report.elisions += 1;
            tracing::info!(
                squad = %workspace.squad_id, role = %agent.role,
                tokens = transcript.conversation.prompt_tokens(), threshold,
                "elided older tool results to stay within the context window"
            );
        }
        if transcript.conversation.prompt_tokens() <= threshold {
            return Ok(None);
        }
        self.condense(model, workspace, agent, transcript, budget, report)
            .await?;
        if transcript.conversation.prompt_tokens() > budget.limits.context_window {
            return Err(TurnFailure::ContextExhausted {
                model: agent.model.clone(),
                message: format!(
                    "the system prompt, task and hand-off alone take about {} tokens of a {}-token window",
                    transcript.conversation.prompt_tokens(),
                    budget.limits.context_window
                ),
            });
        }
        Ok(None)
    }

    /// Asks the model for a hand-off of the conversation so far (without tools), metering
    /// the call; when it cannot write one, the harness's own record stands in. The harness
    /// adds the files written in this turn, which it knows better than the model.
    async fn hand_off(
        &self,
        model: &dyn ChatModel,
        workspace: &SquadWorkspace,
        agent: &AgentSpec,
        transcript: &mut Transcript<'_>,
        budget: &ContextBudget,
        report: &mut TurnReport,
    ) -> Result<String, TurnFailure> {
        let messages = transcript
            .conversation
            .handoff_input(budget, HANDOFF_REQUEST);
        let request = ChatRequest {
            model: agent.provider_model().to_owned(),
            messages,
            tools: Vec::new(),
            max_output_tokens: Some(budget.limits.max_output_tokens),
        };
        let projected = Self::projected_cost(
            agent,
            &budget.limits,
            transcript.conversation.prompt_tokens(),
        );
        let affordable = check_budgets(self.recorder.as_ref(), workspace, projected)
            .await
            .map_err(TurnFailure::Recorder)?
            .is_none();
        let written = if affordable {
            report.steps += 1;
            match self.call(model, &request).await? {
                Ok(reply) => {
                    self.meter(workspace, agent, reply.usage, report).await?;
                    reply.content.filter(|text| !text.trim().is_empty())
                }
                Err(error) => {
                    if let Some(usage) = BilledUnusable::of(&error).and_then(|billed| billed.usage)
                    {
                        self.meter(workspace, agent, usage, report).await?;
                    }
                    tracing::warn!(
                        squad = %workspace.squad_id, role = %agent.role,
                        error = %error_chain(&error), "the model could not write a hand-off"
                    );
                    None
                }
            }
        } else {
            None
        };
        let mut summary = written.unwrap_or_else(|| {
            "(The model did not write a hand-off; the harness's record follows.)".to_owned()
        });
        summary.push_str(&files_written(&transcript.written));
        Ok(summary)
    }

    /// Condenses the conversation into a hand-off, keeping system prompt and task.
    async fn condense(
        &self,
        model: &dyn ChatModel,
        workspace: &SquadWorkspace,
        agent: &AgentSpec,
        transcript: &mut Transcript<'_>,
        budget: &ContextBudget,
        report: &mut TurnReport,
    ) -> Result<(), TurnFailure> {
        let summary = self
            .hand_off(model, workspace, agent, transcript, budget, report)
            .await?;
        let message = ChatMessage::User {
            content: condensed_note(&summary, agent),
        };
        transcript.record(&message).await?;
        transcript.conversation.condense(message, budget);
        report.condensations += 1;
        tracing::info!(
            squad = %workspace.squad_id, role = %agent.role,
            tokens = transcript.conversation.prompt_tokens(),
            "condensed the conversation into a hand-off to stay within the context window"
        );
        Ok(())
    }

    /// Handles a failed call (that took `took`): an unusable reply is shown to the model (and
    /// metered), a context overflow condenses, anything else ends the turn.
    #[expect(
        clippy::too_many_arguments,
        reason = "one turn's state, passed down once"
    )]
    async fn after_error(
        &self,
        model: &dyn ChatModel,
        workspace: &SquadWorkspace,
        agent: &AgentSpec,
        transcript: &mut Transcript<'_>,
        budget: &mut ContextBudget,
        report: &mut TurnReport,
        stalls: &mut Stalls,
        (error, took): (&PortError, Duration),
    ) -> Result<Option<TurnOutcome>, TurnFailure> {
        let asked_again = std::mem::take(&mut stalls.raising);
        if let Some(overflow) = ContextOverflow::of(error) {
            stalls.overflows += 1;
            if stalls.overflows > 2 {
                return Err(TurnFailure::ContextExhausted {
                    model: agent.model.clone(),
                    message: overflow.message.clone(),
                });
            }
            // The provider knows the window better than the configuration does.
            if let Some(window) = overflow
                .context_window
                .filter(|window| *window < budget.limits.context_window)
            {
                tracing::warn!(
                    model = %agent.model, configured = budget.limits.context_window, window,
                    "the provider's context window is smaller than configured; using its figure"
                );
                budget.limits.context_window = window;
                budget.limits.max_output_tokens = budget.limits.max_output_tokens.min(window / 4);
            }
            self.condense(model, workspace, agent, transcript, budget, report)
                .await?;
            return Ok(None);
        }
        if let Some(problem) = UnusableReply::of(error) {
            if let Some(usage) = BilledUnusable::of(error).and_then(|billed| billed.usage) {
                self.meter(workspace, agent, usage, report).await?;
            }
            let cut_off = matches!(problem, UnusableReply::CutOff { .. });
            // A reply that went round in a loop is not asked again at a higher limit, which
            // would only buy a longer loop: it is an unusable reply like any other.
            let looping = *problem == UnusableReply::CutOff { looping: true };
            if cut_off
                && !looping
                && self
                    .make_room_for_reply(
                        model, workspace, agent, transcript, budget, report, stalls, took,
                    )
                    .await?
            {
                return Ok(None);
            }
            let problem = problem.to_string();
            stalls.unusable.push(problem.clone());
            if stalls.unusable.len() >= agent.turn.unusable_replies as usize {
                return Err(TurnFailure::UnusableReply {
                    model: agent.model.clone(),
                    first: stalls.unusable.first().cloned().unwrap_or_default(),
                    last: problem,
                });
            }
            let content = if looping {
                looping_note(budget.limits.max_output_tokens)
            } else if cut_off {
                cut_off_note(budget.limits.max_output_tokens)
            } else {
                format!(
                    "Your last reply could not be used: {problem}. Reply again, calling your tools through the tool-calling interface (never as JSON written in the message text), and keep the reply short enough to finish."
                )
            };
            transcript.push(ChatMessage::User { content }).await?;
            return Ok(None);
        }
        let own_limit = model.limits().max_output_tokens;
        let refused = error.kind() == PortErrorKind::Invalid;
        // A reply asked for again at a raised limit that did not come in time (after the
        // adapter's own tries) would take longer still: no step retry asks it again.
        let too_slow = asked_again && error.kind() == PortErrorKind::Transient;
        if (refused || too_slow) && budget.limits.max_output_tokens > own_limit {
            // The server takes no reply that long, or the model cannot write one in time:
            // back to the model's own limit, and the model is asked for a shorter reply.
            tracing::warn!(
                squad = %workspace.squad_id, role = %agent.role, model = %agent.model,
                raised = budget.limits.max_output_tokens, own_limit,
                error = %error_chain(error),
                "a call at a raised output limit failed; asking the model for a shorter reply instead"
            );
            budget.limits.max_output_tokens = own_limit;
            stalls.raise_refused = true;
            let content = cut_off_note(own_limit);
            transcript.push(ChatMessage::User { content }).await?;
            return Ok(None);
        }
        Err(TurnFailure::Model {
            model: agent.model.clone(),
            kind: error.kind(),
            message: error_chain(error),
        })
    }

    /// Makes room for a reply cut off at the output limit (after `took`), the conversation
    /// unchanged where it can be: when the prompt left the reply less of the window than the
    /// limit, the conversation is condensed; otherwise the same request is made again with
    /// the limit doubled, up to what the window leaves and [`MAX_OUTPUT_RAISE`] times the
    /// model's own limit (its prompt byte-identical, so a provider's cache still serves it),
    /// and up to what the model writes, at the speed it wrote the cut-off reply, within
    /// [`RAISED_REPLY_TIMEOUT_SHARE`] of a call's timeout and within what is left of the
    /// turn's time for raised limits (one timeout, or [`RAISED_LIMIT_TIME`]). False when
    /// none of this is possible: the model is then asked for less.
    #[expect(
        clippy::too_many_arguments,
        reason = "one turn's state, passed down once"
    )]
    async fn make_room_for_reply(
        &self,
        model: &dyn ChatModel,
        workspace: &SquadWorkspace,
        agent: &AgentSpec,
        transcript: &mut Transcript<'_>,
        budget: &mut ContextBudget,
        report: &mut TurnReport,
        stalls: &mut Stalls,
        took: Duration,
    ) -> Result<bool, TurnFailure> {
        let limit = budget.limits.max_output_tokens;
        let room = budget
            .limits
            .context_window
            .saturating_sub(transcript.conversation.prompt_tokens());
        if room < limit {
            if stalls.overflows >= 2 {
                return Ok(false);
            }
            stalls.overflows += 1;
            tracing::info!(
                squad = %workspace.squad_id, role = %agent.role, room, limit,
                "a reply was cut off where the window ends; condensing the conversation"
            );
            self.condense(model, workspace, agent, transcript, budget, report)
                .await?;
            return Ok(true);
        }
        let ceiling = model
            .limits()
            .max_output_tokens
            .saturating_mul(MAX_OUTPUT_RAISE);
        let timeout = model.request_timeout();
        let in_time = in_time(limit, took, timeout, stalls.raised_time);
        let raised = limit.saturating_mul(2).min(room).min(ceiling).min(in_time);
        if stalls.raise_refused || raised <= limit {
            if in_time <= limit {
                tracing::info!(
                    squad = %workspace.squad_id, role = %agent.role, limit,
                    took_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
                    timeout_s = timeout.map(|timeout| timeout.as_secs()),
                    raised_s = stalls.raised_time.as_secs(),
                    "a reply was cut off at the output limit, and a longer one would not come in time; asking for less"
                );
            }
            return Ok(false);
        }
        tracing::info!(
            squad = %workspace.squad_id, role = %agent.role, limit, raised,
            "a reply was cut off at the output limit; asking again with a higher one"
        );
        budget.limits.max_output_tokens = raised;
        stalls.raising = true;
        Ok(true)
    }

    /// Runs one reply's tool calls, capping each result (the whole kept in scratch) and
    /// counting calls that keep failing the same way.
    async fn run_tool_calls(
        &self,
        transcript: &mut Transcript<'_>,
        scratch: &Scratch,
        workspace: &SquadWorkspace,
        agent: &AgentSpec,
        calls: &[ToolCall],
        stalls: &mut Stalls,
    ) -> Result<Next, TurnFailure> {
        for (index, call) in calls.iter().enumerate() {
            let terminal = match agent.tools.execute(workspace, call).await {
                Executed::Output { content, is_error } => {
                    let key = (call.name.clone(), call.arguments.clone());
                    if is_error {
                        *stalls.failing.entry(key).or_default() += 1;
                    } else {
                        stalls.failing.remove(&key);
                        if let Some(path) = written_path(call)
                            && !transcript.written.contains(&path)
                        {
                            transcript.written.push(path);
                        }
                    }
                    let (content, whole_at) =
                        scratch.bound(agent.role, content, agent.turn.tool_output);
                    transcript.tool(&call.id, content, whole_at).await?;
                    continue;
                }
                Executed::Terminal(terminal) => terminal,
            };
            let (ack, outcome) = match terminal {
                TerminalCall::Finish { summary } if agent.commit_on_finish => {
                    let at = self.clock.now();
                    match commit(workspace, agent.role, &summary, at).await {
                        Ok(CommitOutcome::Committed { sha }) => (
                            format!("Tests passed; committed {sha}. Your turn is over."),
                            TurnOutcome::Finished {
                                summary,
                                commit: Some(sha),
                            },
                        ),
                        Ok(CommitOutcome::NothingToCommit) => (
                            "Nothing to commit: the worktree has no changes. Your turn is over."
                                .to_owned(),
                            TurnOutcome::Finished {
                                summary,
                                commit: None,
                            },
                        ),
                        Ok(CommitOutcome::TestsFailed { output }) => {
                            let key = (call.name.clone(), String::new());
                            *stalls.failing.entry(key).or_default() += 1;
                            let content = format!(
                                "refused: the tests fail, so nothing was committed and your turn goes on. Fix the failures, then call `finish` again.\n{}",
                                fence("test output", &output.render())
                            );
                            let (content, whole_at) =
                                scratch.bound(agent.role, content, agent.turn.tool_output);
                            transcript.tool(&call.id, content, whole_at).await?;
                            continue;
                        }
                        Ok(CommitOutcome::Refused { breaches }) => {
                            let key = (call.name.clone(), String::new());
                            *stalls.failing.entry(key).or_default() += 1;
                            let content = format!(
                                "refused: nothing was committed and your turn goes on.\n{}\nThen call `finish` again.",
                                crate::write_rules::describe_breaches(&breaches)
                            );
                            transcript.tool(&call.id, content, None).await?;
                            continue;
                        }
                        Err(error) => return Err(TurnFailure::Commit(error)),
                    }
                }
                TerminalCall::Finish { summary } => (
                    "Recorded. Your turn is over.".to_owned(),
                    TurnOutcome::Finished {
                        summary,
                        commit: None,
                    },
                ),
                TerminalCall::Review(review) => (
                    "Review recorded. Your turn is over.".to_owned(),
                    TurnOutcome::Reviewed(review),
                ),
                TerminalCall::Diagnosis(diagnosis) => (
                    "Diagnosis recorded. Your turn is over.".to_owned(),
                    TurnOutcome::Diagnosed(diagnosis),
                ),
            };
            transcript.tool(&call.id, ack, None).await?;
            // Every call gets an answer, so the transcript stays a valid conversation.
            for skipped in &calls[index + 1..] {
                let content = format!("not run: the turn ended with `{}`", call.name);
                transcript.tool(&skipped.id, content, None).await?;
            }
            return Ok(Next::End(outcome));
        }
        Ok(Next::Continue)
    }
}

/// The call failing most often without success since, and how often.
fn worst_repeat(stalls: &Stalls) -> Option<(String, u32)> {
    stalls
        .failing
        .iter()
        .max_by_key(|(_, times)| **times)
        .map(|((tool, _), times)| (tool.clone(), *times))
}

/// The system message `agent` is given: its prompt and the note on untrusted text.
fn system_prompt(agent: &AgentSpec) -> String {
    format!("{}\n\n{UNTRUSTED_NOTE}", agent.system_prompt.trim_end())
}

fn terminal_name(tools: &ToolRegistry) -> &'static str {
    tools
        .tools()
        .iter()
        .find(|tool| tool.is_terminal())
        .map_or("finish", |tool| tool.as_str())
}

fn text_only_nudge(reply: &ChatReply, agent: &AgentSpec) -> String {
    let cut = if reply.finish_reason == FinishReason::Length {
        "Your reply was cut off at the length limit. "
    } else {
        ""
    };
    format!(
        "{cut}Work only through your tools. When you are done, call `{}`.",
        terminal_name(&agent.tools)
    )
}

/// The most tokens a model that wrote a cut-off reply of `limit` tokens in `took` can be
/// expected to write in one call before `timeout` (its [`RAISED_REPLY_TIMEOUT_SHARE`]),
/// and in what is left of the turn's time for calls at raised limits after `spent` (one
/// timeout, or [`RAISED_LIMIT_TIME`] without one). Unbounded when the speed is unknown.
fn in_time(limit: u64, took: Duration, timeout: Option<Duration>, spent: Duration) -> u64 {
    if took.is_zero() || limit == 0 {
        return u64::MAX;
    }
    let per_token = took.as_secs_f64() / limit as f64;
    let tokens = |time: Duration| (time.as_secs_f64() / per_token) as u64;
    let left = tokens(timeout.unwrap_or(RAISED_LIMIT_TIME).saturating_sub(spent));
    match timeout {
        Some(timeout) => left.min(tokens(timeout.mul_f64(RAISED_REPLY_TIMEOUT_SHARE))),
        None => left,
    }
}

/// What a model whose reply went round in a loop until it was cut off at `limit` tokens is
/// asked.
fn looping_note(limit: u64) -> String {
    format!(
        "Your last reply went round in a loop: it repeated the same text until it was cut off at the output limit ({limit} tokens), and could not be used. Do not repeat yourself. Reply again with one tool call that moves the task on, and keep any text short."
    )
}

/// What a model whose reply was cut off at `limit` tokens, with no more room to give it, is
/// asked.
fn cut_off_note(limit: u64) -> String {
    format!(
        "Your last reply was cut off at the output limit ({limit} tokens) and could not be used. Reply again with less in one reply: write a large file in parts (`write_file` with its first part, then `edit_file` to add the rest), make one tool call at a time, and keep any text short."
    )
}

fn condensed_note(summary: &str, agent: &AgentSpec) -> String {
    format!(
        "The conversation grew too long for the model's context window, so everything between your task and now was condensed into this hand-off:\n{}\nGo on from there: work through your tools and call `{}` when you are done.",
        fence("hand-off", summary),
        terminal_name(&agent.tools)
    )
}

/// The path a successful `write_file` or `edit_file` call changed.
fn written_path(call: &ToolCall) -> Option<String> {
    if !matches!(call.name.as_str(), "write_file" | "edit_file") {
        return None;
    }
    serde_json::from_str::<serde_json::Value>(&call.arguments)
        .ok()
        .and_then(|arguments| arguments["path"].as_str().map(str::to_owned))
}

/// The harness's record of the files the agent wrote or edited in this turn.
fn files_written(paths: &[String]) -> String {
    if paths.is_empty() {
        "\n\nFiles written in this turn (harness record): none.".to_owned()
    } else {
        format!(
            "\n\nFiles written in this turn (harness record): {}.",
            paths.join(", ")
        )
    }
}
