//! The agent harness: runs one agent's turn on any OpenAI-compatible model through the
//! [`ChatModel`](squadron_core::ports::ChatModel) port, with the tools its role was given,
//! confined to the squad's worktree, commands sandboxed, guardrails enforced, untrusted text
//! fenced, and every call persisted and metered.
//!
//! Architecture invariant: this crate depends on `squadron-core` and `squadron-config` only;
//! it never talks to a provider, the store or git hosting directly.

pub mod confine;
pub mod confined_io;
pub mod context;
pub mod guardrails;
pub mod metering;
pub mod output_cap;
pub mod permissions;
pub mod registry;
pub mod review_diff;
pub mod sandbox;
pub mod scratch;
pub mod terminal;
pub mod test_requests;
pub mod tokens;
pub mod tool_spec;
pub mod turn;
pub mod wip;
pub mod workspace;
pub mod write_rules;

mod command_tools;
mod file_tools;
mod from_config;
mod git;

pub use confine::{ConfinedPath, PathRefusal, Worktree};
pub use confined_io::{ConfinedFile, FileContents, FileError, FileHead};
pub use from_config::{RepositorySandboxError, repository_sandbox};

pub use context::{ContextBudget, KeptConversation};
pub use git::GitError;
pub use guardrails::{
    AuthoredChange, CommitError, CommitOutcome, GUARDRAIL_OUTPUT_CAP, LintReport, after_write,
    commit, commit_by_author, commit_identity, lint_before_finish, lints_per_write, run_setup,
    run_setup_in,
};
pub use metering::{BudgetExceeded, check_budgets};
pub use output_cap::OutputLimits;
pub use permissions::{
    InvalidGlob, PathGlobs, QaFiles, QaFilesJournal, QaVersion, TestGlobs, WriteRefusal,
    WriteScope, check_write,
};
pub use registry::{Executed, ToolRegistry};
pub use review_diff::{DiffSince, diff_since};
pub use sandbox::{
    CommandOutput, Network, Sandbox, SandboxCommand, SandboxError, SandboxKind, SandboxMode,
    SandboxSettings, WorktreeAccess,
};
pub use scratch::Scratch;
pub use terminal::{Diagnosis, TerminalCall};
pub use test_requests::{TestChangeRequest, TestChangeRequests};
pub use tokens::TokenCounter;
pub use tool_spec::{SpecContext, ToolName, UnknownTool};
pub use turn::{
    AgentSpec, HANDOFF_REQUEST, HandOff, HandOffReason, Harness, TurnFailure, TurnOutcome,
    TurnReport, TurnSettings,
};
pub use wip::commit_work_in_progress;
pub use workspace::{Budgets, RepoPolicy, SquadWorkspace};
pub use write_rules::{BrokenRule, Restored, WriteBreach, adopt_merged_tests, describe_breaches};
