//! What one squad's agents share: the worktree, the sandbox, the repository's guardrail
//! policy, the record of QA's files, the Developer's test-change requests, and the budgets.

use std::sync::Arc;

use squadron_core::{IssueKey, RunId, SquadId, Usd};

use crate::confine::Worktree;
use crate::permissions::{PathGlobs, QaFiles, TestGlobs};
use crate::sandbox::Sandbox;
use crate::test_requests::TestChangeRequests;

/// The target repository's guardrail policy (from its `.squadron.toml`). Commands are shell
/// lines run in the sandbox; placeholders in them are filled with shell-quoted values.
#[derive(Clone, Debug, Default)]
pub struct RepoPolicy {
    /// Formatter run on each written file: `{file}` is replaced by the file's path; a command
    /// without it runs as written (it formats the whole tree).
    pub format: Option<String>,
    /// Extensions (`rs`) of the files the formatter applies to; empty: every file.
    pub format_extensions: Vec<String>,
    /// Linter: with `{files}` it runs after each write on the written files; without, it
    /// checks the whole tree, so it runs once when a writer calls `finish`.
    pub lint: Option<String>,
    /// Extensions of the files the linter applies to; empty: every file.
    pub lint_extensions: Vec<String>,
    /// Test command line, run by `run_tests` and before every commit.
    pub test: Option<String>,
    /// The test command narrowed to some tests: `{selector}` is replaced by the test names or
    /// paths given to `run_tests`.
    pub test_one: Option<String>,
    /// Which files are tests (the only files QA may write).
    pub test_globs: TestGlobs,
    /// Paths no agent may change, besides those Squadron always protects.
    pub protected: PathGlobs,
    /// Command prefixes `run_command` accepts, e.g. `cargo check` or `npm run build`.
    pub allowed_commands: Vec<String>,
    /// Why a usual guardrail is missing (a formatter that is not installed…), told to agents
    /// instead of a bare "not configured".
    pub notes: Vec<String>,
    /// Run once per worktree before any agent (installing dependencies…).
    pub setup: Option<String>,
    /// Whether the setup command may reach the network.
    pub setup_network: bool,
}

/// Spending limits; `None` means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Budgets {
    /// Limit for this squad.
    pub squad: Option<Usd>,
    /// Limit for the whole run.
    pub run: Option<Usd>,
}

/// Everything a squad's agents share. Cheap to clone: clones share the sandbox, the QA record and the requests.
#[derive(Clone, Debug)]
pub struct SquadWorkspace {
    /// The run the squad belongs to.
    pub run_id: RunId,
    /// The squad.
    pub squad_id: SquadId,
    /// The issue the squad works on; named in every commit message.
    pub issue: IssueKey,
    /// The squad's worktree.
    pub worktree: Worktree,
    /// How commands run.
    pub sandbox: Arc<Sandbox>,
    /// The repository's guardrails.
    pub policy: Arc<RepoPolicy>,
    /// Files QA wrote in this squad.
    pub qa_files: QaFiles,
    /// The Developer's pending requests for QA to change a test.
    pub test_change_requests: TestChangeRequests,
    /// Spending limits.
    pub budgets: Budgets,
}
