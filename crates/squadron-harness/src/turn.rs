//! The turn loop: one agent working one task until it calls its terminal tool, runs out of
//! steps or budget, or the model fails.
//!
//! The conversation only ever grows at its end: earlier messages are never reordered or
//! rewritten, so each request's prefix is byte-identical to the previous request and
//! providers can serve it from their prompt cache. Every message is persisted as it is
//! appended, and every call's usage is metered.

use std::sync::Arc;

use squadron_core::ports::model::UnusableReply;
use squadron_core::ports::{
    AgentRecorder, ChatMessage, ChatModel, ChatRequest, Clock, FinishReason, PortError,
    PortErrorKind, UsageRecord,
};
use squadron_core::{Review, Role, TokenPrices, TokenUsage, Usd};

use squadron_core::error_chain;

use crate::guardrails::{CommitError, CommitOutcome, commit};
use crate::metering::{BudgetExceeded, check_budgets};
use crate::registry::{Executed, ToolRegistry};
use crate::terminal::{Diagnosis, TerminalCall};
use crate::workspace::SquadWorkspace;
use squadron_config::{UNTRUSTED_NOTE, fence};

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
    /// Model calls allowed in one turn.
    pub max_steps: u32,
    /// Whether `finish` commits the worktree (through the test guardrail).
    pub commit_on_finish: bool,
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
    /// The agent used all its steps without calling its terminal tool.
    StepLimitReached {
        /// The steps used.
        steps: u32,
    },
    /// A budget was spent before the next call: needs a human.
    BudgetExceeded(BudgetExceeded),
    /// The turn could not go on.
    Failed(TurnFailure),
}

/// Why a turn failed.
#[derive(Debug, thiserror::Error)]
pub enum TurnFailure {
    /// The model's replies could not be used, even after being told why.
    #[error("get a usable reply from {model}: {first}; after being told, it replied: {second}")]
    UnusableReply {
        /// The model.
        model: String,
        /// The first problem.
        first: String,
        /// The problem with the retry.
        second: String,
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
    /// Model calls made.
    pub steps: u32,
    /// Tokens used by this turn.
    pub usage: TokenUsage,
    /// Cost of this turn.
    pub cost: Usd,
}

/// Runs turns. Shared by every agent of every squad.
#[derive(Clone)]
pub struct Harness {
    recorder: Arc<dyn AgentRecorder>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness").finish_non_exhaustive()
    }
}

/// The conversation of one turn, persisted as it grows.
struct Transcript<'a> {
    messages: Vec<ChatMessage>,
    recorder: &'a dyn AgentRecorder,
    clock: &'a dyn Clock,
    workspace: &'a SquadWorkspace,
    role: Role,
}

impl Transcript<'_> {
    async fn push(&mut self, message: ChatMessage) -> Result<(), TurnFailure> {
        self.recorder
            .append_message(
                &self.workspace.squad_id,
                self.role,
                &message,
                self.clock.now(),
            )
            .await
            .map_err(TurnFailure::Recorder)?;
        self.messages.push(message);
        Ok(())
    }

    async fn tool(&mut self, tool_call_id: &str, content: String) -> Result<(), TurnFailure> {
        self.push(ChatMessage::Tool {
            tool_call_id: tool_call_id.to_owned(),
            content,
        })
        .await
    }
}

/// What the loop does after one reply's tool calls.
enum Next {
    Continue,
    End(TurnOutcome),
}

impl Harness {
    /// A harness persisting through `recorder` and reading time from `clock`.
    pub fn new(recorder: Arc<dyn AgentRecorder>, clock: Arc<dyn Clock>) -> Self {
        Self { recorder, clock }
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
        let mut report = TurnReport {
            outcome: TurnOutcome::StepLimitReached { steps: 0 },
            steps: 0,
            usage: TokenUsage::default(),
            cost: Usd::ZERO,
        };
        let outcome = self
            .drive(model, workspace, agent, task_prompt, &mut report)
            .await;
        report.outcome = outcome.unwrap_or_else(TurnOutcome::Failed);
        tracing::info!(
            squad = %workspace.squad_id, role = %agent.role, steps = report.steps,
            cost = %report.cost, outcome = ?report.outcome, "turn ended"
        );
        report
    }

    async fn drive(
        &self,
        model: &dyn ChatModel,
        workspace: &SquadWorkspace,
        agent: &AgentSpec,
        task_prompt: &str,
        report: &mut TurnReport,
    ) -> Result<TurnOutcome, TurnFailure> {
        let mut transcript = Transcript {
            messages: Vec::new(),
            recorder: self.recorder.as_ref(),
            clock: self.clock.as_ref(),
            workspace,
            role: agent.role,
        };
        let system = format!("{}\n\n{UNTRUSTED_NOTE}", agent.system_prompt.trim_end());
        transcript
            .push(ChatMessage::System { content: system })
            .await?;
        transcript
            .push(ChatMessage::User {
                content: task_prompt.to_owned(),
            })
            .await?;
        let tools = agent
            .tools
            .specs_for(&workspace.policy, agent.commit_on_finish);
        let mut unusable: Option<String> = None;
        loop {
            if report.steps >= agent.max_steps {
                return Ok(TurnOutcome::StepLimitReached {
                    steps: report.steps,
                });
            }
            if let Some(exceeded) = check_budgets(self.recorder.as_ref(), workspace)
                .await
                .map_err(TurnFailure::Recorder)?
            {
                return Ok(TurnOutcome::BudgetExceeded(exceeded));
            }
            report.steps += 1;
            let request = ChatRequest {
                model: agent.provider_model().to_owned(),
                messages: transcript.messages.clone(),
                tools: tools.clone(),
            };
            let reply = match model.complete(&request).await {
                Ok(reply) => reply,
                Err(error) if UnusableReply::of(&error).is_some() => {
                    let problem = error_chain(&error);
                    if let Some(first) = unusable {
                        return Err(TurnFailure::UnusableReply {
                            model: agent.model.clone(),
                            first,
                            second: problem,
                        });
                    }
                    let content = format!(
                        "Your last reply could not be used: {problem}. Reply again, calling your tools through the tool-calling interface (never as JSON written in the message text), and keep the reply short enough to finish."
                    );
                    transcript.push(ChatMessage::User { content }).await?;
                    unusable = Some(problem);
                    continue;
                }
                Err(error) => {
                    return Err(TurnFailure::Model {
                        model: agent.model.clone(),
                        kind: error.kind(),
                        message: error_chain(&error),
                    });
                }
            };
            unusable = None;
            let cost = reply.usage.cost(&agent.prices);
            report.usage += reply.usage;
            report.cost += cost;
            let usage = UsageRecord {
                run_id: workspace.run_id.clone(),
                squad_id: workspace.squad_id.clone(),
                role: agent.role,
                model: agent.model.clone(),
                usage: reply.usage,
                cost,
                at: self.clock.now(),
            };
            self.recorder
                .record_usage(&usage)
                .await
                .map_err(TurnFailure::Recorder)?;
            transcript
                .push(ChatMessage::Assistant {
                    content: reply.content.clone(),
                    tool_calls: reply.tool_calls.clone(),
                    reasoning: reply.reasoning.clone(),
                })
                .await?;
            if reply.tool_calls.is_empty() {
                let terminal = agent.tools.tools().iter().find(|tool| tool.is_terminal());
                let cut = if reply.finish_reason == FinishReason::Length {
                    "Your reply was cut off at the length limit. "
                } else {
                    ""
                };
                let content = format!(
                    "{cut}Work only through your tools. When you are done, call `{}`.",
                    terminal.map_or("finish", |tool| tool.as_str())
                );
                transcript.push(ChatMessage::User { content }).await?;
                continue;
            }
            if let Next::End(outcome) = self
                .run_tool_calls(&mut transcript, workspace, agent, &reply.tool_calls)
                .await?
            {
                return Ok(outcome);
            }
        }
    }

    async fn run_tool_calls(
        &self,
        transcript: &mut Transcript<'_>,
        workspace: &SquadWorkspace,
        agent: &AgentSpec,
        calls: &[squadron_core::ports::ToolCall],
    ) -> Result<Next, TurnFailure> {
        for (index, call) in calls.iter().enumerate() {
            let terminal = match agent.tools.execute(workspace, call).await {
                Executed::Output { content, .. } => {
                    transcript.tool(&call.id, content).await?;
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
                            let content = format!(
                                "refused: the tests fail, so nothing was committed and your turn goes on. Fix the failures, then call `finish` again.\n{}",
                                fence("test output", &output.render())
                            );
                            transcript.tool(&call.id, content).await?;
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
            transcript.tool(&call.id, ack).await?;
            // Every call gets an answer, so the transcript stays a valid conversation.
            for skipped in &calls[index + 1..] {
                let content = format!("not run: the turn ended with `{}`", call.name);
                transcript.tool(&skipped.id, content).await?;
            }
            return Ok(Next::End(outcome));
        }
        Ok(Next::Continue)
    }
}
