//! The tool registry: which tools an agent was given, and the dispatch that enforces it.
//!
//! The registry is built from the agent definition's tool list and the role. Each role gets
//! its own terminal tool; tools a role can never use (writing tools for read-only roles,
//! other roles' terminal tools, the Developer's `request_test_change`) are dropped even if
//! an agent file lists them. A model that names a tool it was not given gets a refusal as
//! the tool result.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use squadron_core::Role;
use squadron_core::ports::{ToolCall, ToolSpec};

use crate::command_tools;
use crate::file_tools;
use crate::guardrails::{absence, lint_before_finish, lints_per_write};
use crate::permissions::WriteScope;
use crate::sandbox::WorktreeAccess;
use crate::terminal::{self, TerminalCall};
use crate::test_requests;
use crate::tool_spec::{SpecContext, ToolName};
use crate::workspace::{RepoPolicy, SquadWorkspace};

/// The tools one agent may call, and what its turn has written that the whole-tree linter
/// has not seen yet.
#[derive(Clone, Debug)]
pub struct ToolRegistry {
    role: Role,
    write_scope: WriteScope,
    tools: Vec<ToolName>,
    lint_pending: Arc<AtomicBool>,
}

impl PartialEq for ToolRegistry {
    fn eq(&self, other: &Self) -> bool {
        (self.role, self.write_scope, &self.tools) == (other.role, other.write_scope, &other.tools)
    }
}

impl Eq for ToolRegistry {}

/// What a tool needs to know about who calls it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ToolContext<'a> {
    pub(crate) workspace: &'a SquadWorkspace,
    pub(crate) role: Role,
    pub(crate) write_scope: WriteScope,
    /// Set by a write that the whole-tree linter should see before the turn ends.
    pub(crate) lint_pending: &'a AtomicBool,
}

impl ToolContext<'_> {
    /// Read-only roles run commands against a read-only worktree.
    pub(crate) fn access(&self) -> WorktreeAccess {
        if self.write_scope == WriteScope::Nothing {
            WorktreeAccess::ReadOnly
        } else {
            WorktreeAccess::ReadWrite
        }
    }
}

/// The result of executing one tool call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Executed {
    /// Text for the `tool` message.
    Output {
        /// The text.
        content: String,
        /// Whether the call was refused or failed.
        is_error: bool,
    },
    /// A valid terminal call: the turn may end.
    Terminal(TerminalCall),
}

impl ToolRegistry {
    /// The registry for `role` given `granted` (from the agent file) and the agent file's
    /// `write_scope`, narrowed to what the role may ever do.
    pub fn new(role: Role, granted: &[ToolName], write_scope: WriteScope) -> Self {
        let write_scope = write_scope.narrowest(WriteScope::ceiling(role));
        let terminal = ToolName::terminal_for(role);
        let mut tools: Vec<ToolName> = Vec::new();
        for &tool in granted {
            let usable = if tool.is_terminal() {
                tool == terminal
            } else if let Some(only) = tool.only_for() {
                only == role
            } else {
                !(tool.writes() && write_scope == WriteScope::Nothing)
            };
            if !usable {
                tracing::warn!(%role, %tool, "dropping a tool the role may not use");
            } else if !tools.contains(&tool) {
                tools.push(tool);
            }
        }
        if !tools.contains(&terminal) {
            tools.push(terminal);
        }
        tools.sort();
        Self {
            role,
            write_scope,
            tools,
            lint_pending: Arc::default(),
        }
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The effective write scope.
    pub fn write_scope(&self) -> WriteScope {
        self.write_scope
    }

    /// The tools, in a stable order.
    pub fn tools(&self) -> &[ToolName] {
        &self.tools
    }

    /// The tool specifications, described for a repository whose guardrails are unknown.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|tool| tool.spec()).collect()
    }

    /// The tool specifications sent with every request of a turn in a repository with
    /// `policy`, where `finish` commits (`finish_commits`) or leaves committing to the
    /// runtime.
    pub fn specs_for(&self, policy: &RepoPolicy, finish_commits: bool) -> Vec<ToolSpec> {
        let writes = self.write_scope != WriteScope::Nothing;
        let (lint_per_write, lint_at_finish) = match &policy.lint {
            Some(lint) if lints_per_write(lint) => (Some(lint.clone()), None),
            Some(lint) => (None, writes.then(|| lint.clone())),
            None => (None, None),
        };
        let context = SpecContext {
            test: policy.test.clone(),
            test_one: policy.test_one.clone(),
            format: policy.format.clone(),
            lint_per_write,
            lint_at_finish,
            format_absent: (writes && policy.format.is_none()).then(|| absence(policy, "format")),
            lint_absent: (writes && policy.lint.is_none()).then(|| absence(policy, "lint")),
            finish_commits,
        };
        self.tools
            .iter()
            .map(|tool| tool.spec_in(&context))
            .collect()
    }

    fn tool_list(&self) -> String {
        self.tools
            .iter()
            .map(|tool| tool.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Executes one call: refuses tools not granted, reports invalid arguments as errors.
    pub async fn execute(&self, workspace: &SquadWorkspace, call: &ToolCall) -> Executed {
        let refuse = |content: String| Executed::Output {
            content,
            is_error: true,
        };
        let Ok(tool) = call.name.parse::<ToolName>() else {
            return refuse(format!(
                "refused: there is no tool `{}`; your tools are: {}",
                call.name,
                self.tool_list()
            ));
        };
        if !self.tools.contains(&tool) {
            let reason = if tool.writes() && self.write_scope == WriteScope::Nothing {
                format!("the {} is read-only and cannot change files", self.role)
            } else if let Some(only) = tool.only_for()
                && only != self.role
            {
                format!("only the {only} may use it")
            } else {
                format!("it was not given to the {}", self.role)
            };
            return refuse(format!(
                "refused: `{tool}` is not available: {reason}; your tools are: {}",
                self.tool_list()
            ));
        }
        let context = ToolContext {
            workspace,
            role: self.role,
            write_scope: self.write_scope,
            lint_pending: &self.lint_pending,
        };
        let arguments = call.arguments.as_str();
        let result = match tool {
            ToolName::ReadFile => file_tools::read_file(&context, arguments).await,
            ToolName::ListFiles => file_tools::list_files(&context, arguments).await,
            ToolName::SearchCode => file_tools::search_code(&context, arguments).await,
            ToolName::WriteFile => file_tools::write_file(&context, arguments).await,
            ToolName::EditFile => file_tools::edit_file(&context, arguments).await,
            ToolName::DeleteFile => file_tools::delete_file(&context, arguments).await,
            ToolName::MoveFile => file_tools::move_file(&context, arguments).await,
            ToolName::RunTests => command_tools::run_tests(&context, arguments).await,
            ToolName::RunCommand => command_tools::run_command(&context, arguments).await,
            ToolName::GitDiff => command_tools::git_diff(&context, arguments).await,
            ToolName::GitLog => command_tools::git_log(&context, arguments).await,
            ToolName::RequestTestChange => test_requests::request_test_change(&context, arguments),
            ToolName::Finish => {
                let finish = terminal::parse_finish(arguments);
                if finish.is_ok()
                    && let Some(findings) = self.lint_once(workspace).await
                {
                    return Executed::Output {
                        content: findings,
                        is_error: true,
                    };
                }
                return terminal_result(finish, tool);
            }
            ToolName::SubmitReview => {
                return terminal_result(
                    terminal::parse_review(arguments, &workspace.worktree),
                    tool,
                );
            }
            ToolName::SubmitDiagnosis => {
                return terminal_result(
                    terminal::parse_diagnosis(arguments, &workspace.worktree),
                    tool,
                );
            }
        };
        match result {
            Ok(content) => Executed::Output {
                is_error: matches!(tool, ToolName::RunTests | ToolName::RunCommand)
                    && command_tools::reports_failure(&content),
                content,
            },
            Err(message) => refuse(format!("error from `{tool}`: {message}")),
        }
    }
}

impl ToolRegistry {
    /// Runs the whole-tree linter when this turn wrote files it checks and it has not run
    /// since; its findings (to fix before calling `finish` again) when it did not pass.
    async fn lint_once(&self, workspace: &SquadWorkspace) -> Option<String> {
        if !self.lint_pending.swap(false, Ordering::SeqCst) {
            return None;
        }
        let report = lint_before_finish(workspace).await?;
        if report.clean {
            return None;
        }
        Some(format!(
            "not finished yet: the linter checks the whole project once before your turn ends, and it reported problems. Fix those in code you changed, then call `finish` again; if a finding is not yours to fix, call `finish` again and name it in your summary.\n{}",
            report.text
        ))
    }
}

fn terminal_result(parsed: Result<TerminalCall, String>, tool: ToolName) -> Executed {
    match parsed {
        Ok(call) => Executed::Terminal(call),
        Err(message) => Executed::Output {
            content: format!(
                "error from `{tool}`: {message}; call `{tool}` again with valid arguments"
            ),
            is_error: true,
        },
    }
}
