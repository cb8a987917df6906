//! Test fixtures: an in-memory recorder, a fixed clock, a scripted in-memory model, and a
//! small real git repository wired into a squad workspace.

use std::collections::VecDeque;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use squadron_core::ports::{
    AgentRecorder, ChatMessage, ChatModel, ChatReply, ChatRequest, Clock, ModelLimits, PortError,
    SpendScope, ToolCall, UsageRecord,
};
use squadron_core::{IssueKey, Role, RunId, SquadId, Timestamp, Usd};
use squadron_harness::{
    Budgets, Executed, QaFiles, RepoPolicy, Sandbox, SandboxMode, SandboxSettings, SquadWorkspace,
    TestChangeRequests, TestGlobs, ToolName, ToolRegistry, Worktree, WriteScope,
};

/// Records everything in memory; `spent` sums recorded costs plus a preset amount.
#[derive(Debug, Default)]
pub struct MemoryRecorder {
    pub messages: Mutex<Vec<(SquadId, Role, ChatMessage)>>,
    pub usage: Mutex<Vec<UsageRecord>>,
    pub preset_spend: Mutex<Usd>,
}

impl MemoryRecorder {
    pub fn messages(&self) -> Vec<ChatMessage> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, message)| message.clone())
            .collect()
    }

    pub fn usage(&self) -> Vec<UsageRecord> {
        self.usage.lock().unwrap().clone()
    }
}

#[async_trait]
impl AgentRecorder for MemoryRecorder {
    async fn append_message(
        &self,
        squad_id: &SquadId,
        role: Role,
        message: &ChatMessage,
        _at: Timestamp,
    ) -> Result<(), PortError> {
        self.messages
            .lock()
            .unwrap()
            .push((squad_id.clone(), role, message.clone()));
        Ok(())
    }

    async fn record_usage(&self, record: &UsageRecord) -> Result<(), PortError> {
        self.usage.lock().unwrap().push(record.clone());
        Ok(())
    }

    async fn spent(&self, scope: &SpendScope) -> Result<Usd, PortError> {
        let recorded: Usd = self
            .usage
            .lock()
            .unwrap()
            .iter()
            .filter(|record| match scope {
                SpendScope::Squad(squad) => &record.squad_id == squad,
                SpendScope::Run(run) => &record.run_id == run,
            })
            .map(|record| record.cost)
            .sum();
        Ok(recorded + *self.preset_spend.lock().unwrap())
    }
}

/// Always the same instant.
#[derive(Debug)]
pub struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(1_767_225_600_000)
    }
}

/// An in-memory model that plays replies in order and keeps every request.
#[derive(Default)]
pub struct FakeModel {
    pub replies: Mutex<VecDeque<Result<ChatReply, PortError>>>,
    pub requests: Mutex<Vec<ChatRequest>>,
    pub limits: ModelLimits,
}

impl FakeModel {
    pub fn new(replies: impl IntoIterator<Item = Result<ChatReply, PortError>>) -> Self {
        Self {
            replies: Mutex::new(replies.into_iter().collect()),
            requests: Mutex::default(),
            limits: ModelLimits::CONSERVATIVE,
        }
    }

    /// This model with `limits` (a small output limit makes calls cheap to project).
    pub fn with_limits(mut self, limits: ModelLimits) -> Self {
        self.limits = limits;
        self
    }
}

#[async_trait]
impl ChatModel for FakeModel {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatReply, PortError> {
        self.requests.lock().unwrap().push(request.clone());
        self.replies.lock().unwrap().pop_front().unwrap_or_else(|| {
            Err(PortError::new(
                squadron_core::ports::PortErrorKind::Internal,
                "script ran out",
            ))
        })
    }

    fn limits(&self) -> ModelLimits {
        self.limits
    }
}

pub fn call(id: &str, name: &str, arguments: serde_json::Value) -> ToolCall {
    ToolCall {
        id: id.to_owned(),
        name: name.to_owned(),
        arguments: arguments.to_string(),
    }
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.invalid",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A repository with `src/lib.rs`, a test file, an ignored file and one commit.
pub fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::create_dir_all(root.join("tests")).unwrap();
    std::fs::write(
        root.join("src/lib.rs"),
        "pub fn answer() -> u32 {\n    41\n}\n",
    )
    .unwrap();
    std::fs::write(root.join("tests/answer_test.rs"), "// the test\n").unwrap();
    std::fs::write(root.join(".gitignore"), "target/\n").unwrap();
    std::fs::create_dir_all(root.join("target")).unwrap();
    std::fs::write(root.join("target/build.log"), "answer\n").unwrap();
    git(root, &["init", "--quiet"]);
    git(root, &["add", "--all"]);
    git(root, &["commit", "--quiet", "-m", "Initial commit"]);
    dir
}

pub fn policy() -> RepoPolicy {
    RepoPolicy {
        test: Some("grep -q 42 src/lib.rs".to_owned()),
        test_globs: TestGlobs::new(&["tests/**".to_owned(), "**/*_test.rs".to_owned()]).unwrap(),
        allowed_commands: vec!["cargo check".to_owned()],
        ..RepoPolicy::default()
    }
}

pub async fn sandbox(mode: SandboxMode) -> Arc<Sandbox> {
    Arc::new(Sandbox::detect(SandboxSettings::new(mode)).await.unwrap())
}

pub async fn workspace_with(root: &Path, policy: RepoPolicy, mode: SandboxMode) -> SquadWorkspace {
    SquadWorkspace {
        run_id: RunId::new("run-1"),
        squad_id: SquadId::new("squad-1"),
        issue: IssueKey::new("ENG-7"),
        worktree: Worktree::open(root, root.join(".git")).unwrap(),
        sandbox: sandbox(mode).await,
        policy: Arc::new(policy),
        qa_files: QaFiles::default(),
        test_change_requests: TestChangeRequests::default(),
        budgets: Budgets::default(),
    }
}

pub async fn workspace(root: &Path) -> SquadWorkspace {
    workspace_with(root, policy(), SandboxMode::Auto).await
}

/// The Developer with every file, git and test tool.
pub fn developer() -> ToolRegistry {
    ToolRegistry::new(
        Role::Developer,
        &[
            ToolName::ReadFile,
            ToolName::ListFiles,
            ToolName::SearchCode,
            ToolName::WriteFile,
            ToolName::EditFile,
            ToolName::RunTests,
            ToolName::GitDiff,
            ToolName::GitLog,
            ToolName::RequestTestChange,
        ],
        WriteScope::Anything,
    )
}

/// Executes one tool call and returns its text and whether it was an error.
pub async fn run(
    registry: &ToolRegistry,
    workspace: &SquadWorkspace,
    name: &str,
    arguments: serde_json::Value,
) -> (String, bool) {
    match registry
        .execute(workspace, &call("c1", name, arguments))
        .await
    {
        Executed::Output { content, is_error } => (content, is_error),
        Executed::Terminal(terminal) => panic!("unexpected terminal call {terminal:?}"),
    }
}
