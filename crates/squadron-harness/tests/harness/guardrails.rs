//! Guardrails on a real git repository: formatter and linter after writes, tests before
//! commits, commits authored per role and naming the issue.

use serde_json::json;
use squadron_core::{Role, Timestamp};
use squadron_harness::{
    CommitOutcome, Executed, SandboxMode, ToolName, ToolRegistry, WriteScope, commit,
};

use crate::support::{call, git, policy, repository, workspace_with};

#[tokio::test]
async fn formatter_and_linter_results_come_back_after_a_write() {
    let repo = repository();
    let mut policy = policy();
    // A real formatter of sorts: strips trailing whitespace from the file it is given.
    policy.format = Some("sed -i 's/[[:space:]]*$//' {file}".to_owned());
    policy.lint = Some("! grep -Hn TODO {files}".to_owned());
    let workspace = workspace_with(repo.path(), policy, SandboxMode::Auto).await;
    let developer = ToolRegistry::new(
        Role::Developer,
        &[ToolName::WriteFile],
        WriteScope::Anything,
    );
    let write = call(
        "w1",
        "write_file",
        json!({"path": "src/util.rs", "content": "pub fn util() {}   \n// TODO: more   \n"}),
    );
    let Executed::Output { content, is_error } = developer.execute(&workspace, &write).await else {
        panic!("terminal");
    };
    assert!(!is_error, "{content}");
    assert!(
        content.contains("formatter (`sed -i 's/[[:space:]]*$//' src/util.rs`): ok"),
        "{content}"
    );
    assert!(
        content.contains("linter (`! grep -Hn TODO src/util.rs`): FAILED"),
        "{content}"
    );
    assert!(content.contains("src/util.rs:2:// TODO: more"), "{content}");
    assert_eq!(
        std::fs::read_to_string(repo.path().join("src/util.rs")).unwrap(),
        "pub fn util() {}\n// TODO: more\n"
    );
}

#[tokio::test]
async fn a_commit_is_refused_while_tests_fail_and_made_once_they_pass() {
    let repo = repository();
    let workspace = workspace_with(repo.path(), policy(), SandboxMode::Auto).await;
    let head_before = git(repo.path(), &["rev-parse", "HEAD"]);
    std::fs::write(repo.path().join("src/extra.rs"), "// not the fix\n").unwrap();
    let at = Timestamp::from_millis(1_767_225_600_000);

    let refused = commit(&workspace, Role::Developer, "Try", at)
        .await
        .unwrap();
    let CommitOutcome::TestsFailed { output } = refused else {
        panic!("committed: {refused:?}")
    };
    assert_eq!(output.exit_code, Some(1));
    assert_eq!(git(repo.path(), &["rev-parse", "HEAD"]), head_before);

    std::fs::write(
        repo.path().join("src/lib.rs"),
        "pub fn answer() -> u32 {\n    42\n}\n",
    )
    .unwrap();
    let accepted = commit(
        &workspace,
        Role::Developer,
        "Return the answer\n\nIt was off by one.",
        at,
    )
    .await
    .unwrap();
    let CommitOutcome::Committed { sha } = accepted else {
        panic!("not committed: {accepted:?}")
    };
    assert_eq!(git(repo.path(), &["rev-parse", "HEAD"]).trim(), sha);
    let shown = git(
        repo.path(),
        &["log", "-1", "--format=%an <%ae>|%cn <%ce>|%at|%B"],
    );
    assert_eq!(
        shown.trim_end(),
        "Squadron Developer <developer@squadron.invalid>|Squadron Developer <developer@squadron.invalid>|1767225600|ENG-7: Return the answer\n\nIt was off by one.\n\nIssue: ENG-7\nSquadron-Role: developer"
    );
    assert_eq!(git(repo.path(), &["status", "--porcelain"]), "");
    let again = commit(&workspace, Role::Developer, "Again", at)
        .await
        .unwrap();
    assert_eq!(again, CommitOutcome::NothingToCommit);
}

#[tokio::test]
async fn repository_settings_become_the_policy() {
    let repo = repository();
    std::fs::write(
        repo.path().join(".squadron.toml"),
        "format = \"sed -i s/x/y/ {file}\"\ntest = \"grep -q 42 src/lib.rs\"\ntest_globs = [\"tests/**\"]\nallowed_commands = [\"cargo check\"]\n",
    )
    .unwrap();
    let settings = squadron_config::RepoSettings::load(repo.path()).unwrap();
    let policy = squadron_harness::RepoPolicy::from_settings(&settings).unwrap();
    assert_eq!(policy.test.as_deref(), Some("grep -q 42 src/lib.rs"));
    assert!(policy.test_globs.matches("tests/a.rs") && !policy.test_globs.matches("src/a.rs"));
    assert_eq!(policy.allowed_commands, ["cargo check"]);
    let workspace = workspace_with(repo.path(), policy, SandboxMode::Auto).await;
    let report = squadron_harness::after_write(&workspace, &["src/lib.rs".to_owned()]).await;
    assert!(
        report.contains("formatter (`sed -i s/x/y/ src/lib.rs`): ok"),
        "{report}"
    );
}

fn developer_writer() -> ToolRegistry {
    ToolRegistry::new(
        Role::Developer,
        &[ToolName::WriteFile, ToolName::EditFile, ToolName::Finish],
        WriteScope::Anything,
    )
}

async fn output_of(
    registry: &ToolRegistry,
    workspace: &squadron_harness::SquadWorkspace,
    call: squadron_core::ports::ToolCall,
) -> (String, bool) {
    match registry.execute(workspace, &call).await {
        Executed::Output { content, is_error } => (content, is_error),
        Executed::Terminal(terminal) => panic!("ended the turn: {terminal:?}"),
    }
}

#[tokio::test]
async fn the_formatter_formats_the_written_file_of_its_language_and_says_when_it_changed_it() {
    let repo = repository();
    let mut policy = policy();
    // A formatter of the written file only, like rustfmt or gofmt -w.
    policy.format = Some("sed -i 's/[[:space:]]*$//' {file}".to_owned());
    policy.format_extensions = vec!["rs".to_owned()];
    let workspace = workspace_with(repo.path(), policy, SandboxMode::Auto).await;
    let developer = developer_writer();
    let (content, _) = output_of(
        &developer,
        &workspace,
        call(
            "w1",
            "write_file",
            json!({"path": "src/a.rs", "content": "fn a() {}   \n"}),
        ),
    )
    .await;
    assert!(
        content.contains("The formatter changed `src/a.rs`: read it again"),
        "{content}"
    );
    let (content, _) = output_of(
        &developer,
        &workspace,
        call(
            "w2",
            "write_file",
            json!({"path": "src/b.rs", "content": "fn b() {}\n"}),
        ),
    )
    .await;
    assert!(!content.contains("The formatter changed"), "{content}");
    // Other files are not handed to it, and are left as written.
    let (content, _) = output_of(
        &developer,
        &workspace,
        call(
            "w3",
            "write_file",
            json!({"path": "notes.md", "content": "keep   \n"}),
        ),
    )
    .await;
    assert!(
        content.contains("formatter: not run on `notes.md` (it formats .rs files)"),
        "{content}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path().join("notes.md")).unwrap(),
        "keep   \n"
    );
}

#[tokio::test]
async fn a_per_file_linter_sees_only_the_written_files_and_its_output_is_bounded() {
    let repo = repository();
    let mut policy = policy();
    // Prints the files it is given, then a flood of findings.
    policy.lint = Some("echo linted: {files}; yes finding | head -c 200000; exit 1".to_owned());
    policy.lint_extensions = vec!["rs".to_owned()];
    let workspace = workspace_with(repo.path(), policy, SandboxMode::Auto).await;
    let (content, _) = output_of(
        &developer_writer(),
        &workspace,
        call(
            "w1",
            "write_file",
            json!({"path": "src/my file.rs", "content": "fn a() {}\n"}),
        ),
    )
    .await;
    assert!(content.contains("linted: src/my file.rs\n"), "{content}");
    assert!(
        content.contains("linter (`echo linted: 'src/my file.rs';"),
        "{content}"
    );
    assert!(content.contains("bytes left out"), "{content}");
    assert!(
        content.len() < squadron_harness::GUARDRAIL_OUTPUT_CAP + 1024,
        "{}",
        content.len()
    );
}

#[tokio::test]
async fn a_whole_project_linter_runs_once_before_the_turn_ends() {
    let repo = repository();
    let mut policy = policy();
    policy.lint = Some("! grep -rn TODO src".to_owned());
    policy.lint_extensions = vec!["rs".to_owned()];
    let workspace = workspace_with(repo.path(), policy, SandboxMode::Auto).await;
    let developer = developer_writer();
    let finish = || call("f", "finish", json!({"summary": "Done."}));

    // Nothing written yet: `finish` ends the turn without linting.
    assert!(matches!(
        developer.execute(&workspace, &finish()).await,
        Executed::Terminal(_)
    ));

    let (content, _) = output_of(
        &developer,
        &workspace,
        call(
            "w1",
            "write_file",
            json!({"path": "src/a.rs", "content": "// TODO: later\n"}),
        ),
    )
    .await;
    // The whole-project linter is described once, with the write tools, not in each result.
    assert_eq!(content, "Wrote `src/a.rs` (15 bytes).\n");
    let specs = developer.specs_for(&workspace.policy, true);
    let write = specs
        .iter()
        .find(|spec| spec.name == "write_file")
        .expect("write_file");
    assert!(
        write.description.contains("The linter (`! grep -rn TODO src`) checks the whole project, so it runs once when you call `finish`, not after each write."),
        "{}",
        write.description
    );
    let (content, is_error) = output_of(&developer, &workspace, finish()).await;
    assert!(is_error, "{content}");
    assert!(
        content.starts_with("not finished yet: the linter checks the whole project"),
        "{content}"
    );
    assert!(content.contains("src/a.rs:1:// TODO: later"), "{content}");

    // Fixed: the next `finish` lints again and ends the turn.
    let (content, _) = output_of(
        &developer,
        &workspace,
        call(
            "w2",
            "edit_file",
            json!({"path": "src/a.rs", "old": "TODO: later", "new": "done"}),
        ),
    )
    .await;
    assert!(content.contains("Edited `src/a.rs`"), "{content}");
    assert!(matches!(
        developer.execute(&workspace, &finish()).await,
        Executed::Terminal(_)
    ));

    // Findings the agent chooses to leave: the second `finish` ends the turn.
    let (_, _) = output_of(
        &developer,
        &workspace,
        call(
            "w3",
            "write_file",
            json!({"path": "src/b.rs", "content": "// TODO: upstream\n"}),
        ),
    )
    .await;
    let (_, is_error) = output_of(&developer, &workspace, finish()).await;
    assert!(is_error);
    assert!(matches!(
        developer.execute(&workspace, &finish()).await,
        Executed::Terminal(_)
    ));
}

#[tokio::test]
async fn run_tests_narrows_to_a_selector_through_the_repositorys_template() {
    let repo = repository();
    let mut policy = policy();
    policy.test = Some("echo whole suite".to_owned());
    policy.test_one = Some("printf 'selected <%s>\\n' {selector}".to_owned());
    let workspace = workspace_with(repo.path(), policy, SandboxMode::Auto).await;
    let tests = ToolRegistry::new(Role::Developer, &[ToolName::RunTests], WriteScope::Anything);
    let run = |arguments: serde_json::Value| call("t", "run_tests", arguments);

    let (content, is_error) = output_of(&tests, &workspace, run(json!({}))).await;
    assert!(!is_error && content.contains("whole suite"), "{content}");
    // Each word reaches the runner as one argument; shell syntax stays text.
    let (content, is_error) = output_of(
        &tests,
        &workspace,
        run(json!({"selector": "cart::total tests/a;b.rs $(id)"})),
    )
    .await;
    assert!(!is_error, "{content}");
    assert!(
        content.contains("selected <cart::total>\nselected <tests/a;b.rs>\nselected <$(id)>\n"),
        "{content}"
    );
    let (content, is_error) = output_of(
        &tests,
        &workspace,
        run(json!({"selector": "--config evil"})),
    )
    .await;
    assert!(
        is_error && content.contains("looks like an option"),
        "{content}"
    );

    let mut without = crate::support::policy();
    without.test_one = None;
    let workspace = workspace_with(repo.path(), without, SandboxMode::Auto).await;
    let (content, is_error) = output_of(&tests, &workspace, run(json!({"selector": "cart"}))).await;
    assert!(
        is_error && content.contains("has no command to run some of its tests (`test_one`"),
        "{content}"
    );
}

#[test]
fn tool_descriptions_say_what_this_repository_and_turn_really_do() {
    let mut policy = policy();
    policy.test = Some("cargo test".to_owned());
    policy.test_one = Some("cargo test -- {selector}".to_owned());
    policy.format = Some("rustfmt --edition 2021 {file}".to_owned());
    policy.lint = Some("cargo clippy --all-targets --quiet".to_owned());
    let developer = ToolRegistry::new(
        Role::Developer,
        &[
            ToolName::EditFile,
            ToolName::DeleteFile,
            ToolName::MoveFile,
            ToolName::RunTests,
            ToolName::Finish,
        ],
        WriteScope::Anything,
    );
    let describe = |finish_commits: bool| {
        developer
            .specs_for(&policy, finish_commits)
            .into_iter()
            .map(|spec| {
                format!(
                    "## {}\n{}\n{}\n",
                    spec.name, spec.description, spec.parameters
                )
            })
            .collect::<String>()
    };
    insta::assert_snapshot!("developer-tools-rust", describe(false));
    let committing = describe(true);
    assert!(committing.contains("commits your changes; if the tests fail nothing is committed"));
    // Without `test_one`, run_tests takes no selector and says so.
    policy.test_one = None;
    let specs = developer.specs_for(&policy, false);
    let run_tests = specs.iter().find(|spec| spec.name == "run_tests").unwrap();
    assert_eq!(
        run_tests.parameters,
        r#"{"additionalProperties":false,"properties":{},"required":[],"type":"object"}"#
    );
}
