//! Shared helpers: a wall clock, git in a scratch repository, the sample repository's test
//! command, and the real prompts and agents the pipeline gives each role.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use squadron::demo::{SAMPLE_REPO, sample_repo_files};
use squadron_config::{
    AgentCatalog, IssueContext, PromptLibrary, PromptName, RepositoryContext, ReviewCommentContext,
    ReviewContext, ScenarioContext, TaskContext, Untrusted,
};
use squadron_core::acceptance::parse_acceptance_criteria;
use squadron_core::ports::{AgentRecorder, ChatMessage, Clock, PortError, SpendScope, UsageRecord};
use squadron_core::{Review, Role, SquadId, Timestamp, TokenPrices, Usd};
use squadron_harness::{AgentSpec, TurnSettings};

/// The time on the wall, as the binary reads it.
#[derive(Debug)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Timestamp {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_millis();
        Timestamp::from_millis(i64::try_from(millis).expect("a time in range"))
    }
}

/// Keeps nothing and reports nothing spent: these tests check code, not metering.
#[derive(Debug, Default)]
pub struct NoRecorder;

#[async_trait]
impl AgentRecorder for NoRecorder {
    async fn append_message(
        &self,
        _squad: &SquadId,
        _role: Role,
        _message: &ChatMessage,
        _at: Timestamp,
    ) -> Result<(), PortError> {
        Ok(())
    }

    async fn record_usage(&self, _record: &UsageRecord) -> Result<(), PortError> {
        Ok(())
    }

    async fn spent(&self, _scope: &SpendScope) -> Result<Usd, PortError> {
        Ok(Usd::ZERO)
    }
}

/// Runs git in `dir` with no user or system configuration; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=Demo",
            "-c",
            "user.email=demo@example.invalid",
        ])
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A fresh git repository holding the sample repository's first commit on `main`.
pub fn sample_checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a scratch directory");
    for (path, content) in sample_repo_files() {
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().expect("files live in the repository"))
            .expect("create the file's directory");
        std::fs::write(file, content).expect("write a sample file");
    }
    git(dir.path(), &["init", "--quiet"]);
    git(dir.path(), &["add", "--all"]);
    git(
        dir.path(),
        &["commit", "--quiet", "-m", "Sample repository"],
    );
    dir
}

/// Runs the sample repository's own test command; returns whether it passed and its output.
pub fn sample_tests(dir: &Path) -> (bool, String) {
    let output = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests", "-t", "."])
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The shipped agent of `role`, as the pipeline runs it: writers finish without
/// committing, since Developer and QA share the worktree and the runtime commits for both.
pub fn agent(role: Role) -> AgentSpec {
    let catalog = AgentCatalog::load(None).expect("the shipped agents load");
    let mut spec = AgentSpec::from_definition(
        catalog.get(role),
        TokenPrices::default(),
        20,
        TurnSettings::default(),
    );
    spec.commit_on_finish = false;
    spec
}

/// One issue of the demo's Linear workspace, as the task prompts show it.
pub fn issue_context(identifier: &str) -> IssueContext {
    let workspace = squadron::demo::Scenario::Milestone.linear_workspace();
    let issue = workspace
        .issues
        .iter()
        .find(|issue| issue.identifier == identifier)
        .unwrap_or_else(|| panic!("the demo has no issue {identifier}"));
    let description = issue.description.clone().unwrap_or_default();
    let scenarios = parse_acceptance_criteria(&description)
        .into_iter()
        .map(|scenario| {
            let mut text = format!("Scenario: {}", scenario.name);
            for step in &scenario.steps {
                text.push_str(&format!("\n  {} {}", step.keyword, step.text));
            }
            ScenarioContext {
                text: Untrusted::new(format!("scenario {}", scenario.id), text),
                id: scenario.id,
            }
        })
        .collect();
    IssueContext {
        identifier: identifier.to_owned(),
        url: format!("https://linear.app/acme/issue/{identifier}"),
        title: Untrusted::new("issue title", issue.title.clone()),
        description: Untrusted::new("issue description", description),
        scenarios,
    }
}

/// The task prompt the shipped template `name` gives `role` for `identifier` in `round`.
pub fn task(
    name: PromptName,
    role: Role,
    identifier: &str,
    round: u32,
    reviews: &[Review],
) -> String {
    let context = TaskContext {
        role: role.as_str().to_owned(),
        issue: issue_context(identifier),
        repository: RepositoryContext {
            github: SAMPLE_REPO.to_owned(),
            base_branch: "main".to_owned(),
            branch: format!("eng/{}", identifier.to_lowercase()),
            base_sha: None,
            head_sha: None,
            test_command: "python3 -m unittest discover -s tests -t .".to_owned(),
            test_globs: vec!["tests/**".to_owned()],
        },
        round,
        max_rounds: 5,
        reviews: reviews
            .iter()
            .map(|review| ReviewContext {
                reviewer: "code-reviewer".to_owned(),
                verdict: review.verdict.to_string(),
                body: Untrusted::new("review", review.summary.clone()),
                comments: review
                    .comments
                    .iter()
                    .map(|comment| ReviewCommentContext {
                        path: comment.path.clone(),
                        line: Some(comment.line),
                        body: Untrusted::new("review comment", comment.body.clone()),
                    })
                    .collect(),
            })
            .collect(),
        previous_review: None,
        diagnosis: None,
        evidence: None,
        developer_summary: None,
        qa_summary: None,
        conflict: None,
        checks: None,
        revert: None,
    };
    PromptLibrary::shipped()
        .render(name, &context)
        .expect("the shipped prompt renders")
}

/// A shared recorder for harnesses.
pub fn recorder() -> Arc<dyn AgentRecorder> {
    Arc::new(NoRecorder)
}

/// `squadron --config FILE demo --model standin/<model> --keep <dir>/state` run by the model
/// stand-in at `base_url` (one attempt per call, `timeout_secs` each, a 1024-token output
/// limit), its configuration written to `dir` and its home in `home`.
pub fn demo_with_model(
    base_url: &str,
    model: &str,
    timeout_secs: u64,
    dir: &Path,
    home: &Path,
) -> Command {
    let config = dir.join("models.toml");
    std::fs::write(
        &config,
        format!(
            r#"[providers.standin]
base_url = "{base_url}"
kind = "generic"
timeout_secs = {timeout_secs}
max_attempts = 1

[providers.standin.models."{model}"]
input = 1.0
cached_input = 0.5
output = 2.0
context_window = 32768
max_output_tokens = 1024
"#
        ),
    )
    .expect("write the model configuration");
    let mut command = Command::new(env!("CARGO_BIN_EXE_squadron"));
    command
        .arg("--config")
        .arg(&config)
        .args(["demo", "--model", &format!("standin/{model}"), "--keep"])
        .arg(dir.join("state"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("SQUADRON_LOG_FORMAT", "json")
        .env("NO_COLOR", "1");
    command
}
