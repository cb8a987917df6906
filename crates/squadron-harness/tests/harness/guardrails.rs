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
    policy.lint = Some("! grep -rn TODO src".to_owned());
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
        content.contains("linter (`! grep -rn TODO src`): FAILED"),
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
    let report = squadron_harness::after_write(&workspace, "src/lib.rs").await;
    assert!(
        report.contains("formatter (`sed -i s/x/y/ src/lib.rs`): ok"),
        "{report}"
    );
}
