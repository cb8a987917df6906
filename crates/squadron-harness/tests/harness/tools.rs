//! Tools as the model sees them: results, refusals for every confinement and permission
//! rule, and invalid arguments answered with errors.

use serde_json::json;
use squadron_core::Role;
use squadron_harness::{Executed, TestChangeRequest, ToolName, ToolRegistry, WriteScope};

use crate::support::{call, developer, repository, run, workspace};

fn qa() -> ToolRegistry {
    ToolRegistry::new(
        Role::Qa,
        &[ToolName::ReadFile, ToolName::WriteFile, ToolName::EditFile],
        WriteScope::TestFiles,
    )
}

#[tokio::test]
async fn read_file_returns_numbered_fenced_lines_and_ranges() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "read_file",
        json!({"path": "src/lib.rs", "start_line": 2, "end_line": 2}),
    )
    .await;
    assert!(!is_error, "{content}");
    assert!(content.starts_with("<untrusted-data id=\""), "{content}");
    assert!(
        content.contains("source=\"file src/lib.rs lines 2-2 of 3\""),
        "{content}"
    );
    assert!(content.contains("\n2\t    41\n"), "{content}");
    assert!(!content.contains("pub fn answer"), "{content}");
}

#[tokio::test]
async fn list_and_search_skip_gitignored_files() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let (listed, _) = run(&developer(), &workspace, "list_files", json!({})).await;
    assert!(
        listed.contains("src/lib.rs\n") && listed.contains("tests/answer_test.rs\n"),
        "{listed}"
    );
    assert!(
        !listed.contains("target/build.log") && !listed.contains(".git/"),
        "{listed}"
    );
    let (globbed, _) = run(
        &developer(),
        &workspace,
        "list_files",
        json!({"glob": "src/**"}),
    )
    .await;
    assert!(globbed.contains("(1 files)"), "{globbed}");
    let (found, is_error) = run(
        &developer(),
        &workspace,
        "search_code",
        json!({"pattern": "answer"}),
    )
    .await;
    assert!(!is_error);
    assert!(
        found.contains("src/lib.rs:1: pub fn answer() -> u32 {"),
        "{found}"
    );
    assert!(!found.contains("build.log"), "{found}");
}

#[tokio::test]
async fn paths_escaping_the_worktree_are_refused() {
    let repo = repository();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "top secret").unwrap();
    std::os::unix::fs::symlink("/etc", repo.path().join("etc_link")).unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path().join("out_link")).unwrap();
    let workspace = workspace(repo.path()).await;
    let developer = developer();

    let (content, is_error) = run(
        &developer,
        &workspace,
        "read_file",
        json!({"path": "../secret.txt"}),
    )
    .await;
    assert!(is_error && content.contains("`..` is refused"), "{content}");
    let (content, is_error) = run(
        &developer,
        &workspace,
        "read_file",
        json!({"path": "/etc/passwd"}),
    )
    .await;
    assert!(
        is_error && content.contains("absolute paths are refused"),
        "{content}"
    );
    let (content, is_error) = run(
        &developer,
        &workspace,
        "read_file",
        json!({"path": "etc_link/passwd"}),
    )
    .await;
    assert!(
        is_error && content.contains("outside the repository through a symlink"),
        "{content}"
    );
    assert!(!content.contains("root:"), "{content}");
    // A new file through a symlinked directory is judged by its existing parent.
    let (content, is_error) = run(
        &developer,
        &workspace,
        "write_file",
        json!({"path": "out_link/new.txt", "content": "x"}),
    )
    .await;
    assert!(is_error && content.contains("symlink"), "{content}");
    assert!(!outside.path().join("new.txt").exists());
    let (content, is_error) = run(
        &developer,
        &workspace,
        "write_file",
        json!({"path": ".git/config", "content": "[core]"}),
    )
    .await;
    assert!(
        is_error && content.contains("`.git` directory is off limits"),
        "{content}"
    );
    let (content, is_error) = run(
        &developer,
        &workspace,
        "read_file",
        json!({"path": "src/../.git/config"}),
    )
    .await;
    assert!(is_error, "{content}");
}

#[tokio::test]
async fn read_only_roles_cannot_write() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    // Even an agent file that grants write_file to a reviewer does not make it write.
    let reviewer = ToolRegistry::new(
        Role::CodeReviewer,
        &[ToolName::ReadFile, ToolName::WriteFile, ToolName::Finish],
        WriteScope::Anything,
    );
    assert_eq!(
        reviewer.tools(),
        [ToolName::ReadFile, ToolName::SubmitReview]
    );
    for (tool, arguments) in [
        (
            "write_file",
            json!({"path": "src/lib.rs", "content": "hacked"}),
        ),
        (
            "edit_file",
            json!({"path": "src/lib.rs", "old": "41", "new": "42"}),
        ),
    ] {
        let (content, is_error) = run(&reviewer, &workspace, tool, arguments).await;
        assert!(is_error, "{content}");
        assert!(content.contains("code-reviewer is read-only"), "{content}");
    }
    let diagnostician = ToolRegistry::new(
        Role::Diagnostician,
        &[ToolName::EditFile],
        WriteScope::Anything,
    );
    let (content, is_error) = run(
        &diagnostician,
        &workspace,
        "edit_file",
        json!({"path": "src/lib.rs", "old": "41", "new": "42"}),
    )
    .await;
    assert!(is_error && content.contains("read-only"), "{content}");
    assert!(
        std::fs::read_to_string(repo.path().join("src/lib.rs"))
            .unwrap()
            .contains("41")
    );
}

#[tokio::test]
async fn qa_writes_only_test_files() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let (content, is_error) = run(
        &qa(),
        &workspace,
        "write_file",
        json!({"path": "src/lib.rs", "content": "pub fn answer() -> u32 { 42 }\n"}),
    )
    .await;
    assert!(is_error, "{content}");
    assert!(
        content.contains("QA may only write test files (matching tests/**, **/*_test.rs)"),
        "{content}"
    );
    assert!(
        std::fs::read_to_string(repo.path().join("src/lib.rs"))
            .unwrap()
            .contains("41")
    );
    let (content, is_error) = run(
        &qa(),
        &workspace,
        "write_file",
        json!({"path": "tests/login_test.rs", "content": "#[test] fn login() {}\n"}),
    )
    .await;
    assert!(!is_error, "{content}");
    assert_eq!(workspace.qa_files.paths(), ["tests/login_test.rs"]);
}

#[tokio::test]
async fn developer_cannot_change_what_qa_wrote() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let (_, is_error) = run(
        &qa(),
        &workspace,
        "write_file",
        json!({"path": "tests/login_test.rs", "content": "assert!(login());\n"}),
    )
    .await;
    assert!(!is_error);
    // The developer's workspace is a clone: it shares the QA record.
    let developer_workspace = workspace.clone();
    for (tool, arguments) in [
        (
            "edit_file",
            json!({"path": "tests/login_test.rs", "old": "login()", "new": "true"}),
        ),
        (
            "write_file",
            json!({"path": "./tests/login_test.rs", "content": ""}),
        ),
    ] {
        let (content, is_error) = run(&developer(), &developer_workspace, tool, arguments).await;
        assert!(is_error, "{content}");
        assert!(
            content.contains("QA wrote this test in this squad"),
            "{content}"
        );
    }
    let test = std::fs::read_to_string(repo.path().join("tests/login_test.rs")).unwrap();
    assert_eq!(test, "assert!(login());\n");
    // Tests QA did not write in this squad are QA's all the same.
    let (content, is_error) = run(
        &developer(),
        &developer_workspace,
        "edit_file",
        json!({"path": "tests/answer_test.rs", "old": "the test", "new": "the old test"}),
    )
    .await;
    assert!(is_error, "{content}");
    assert!(
        content.contains(
            "only QA writes test files; to add or change a test, ask QA with `request_test_change`"
        ),
        "{content}"
    );
}

#[tokio::test]
async fn the_developers_test_change_request_is_recorded_for_qa() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let reason = "AC-2 says the total is 0 for an empty cart, the test expects None";
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "request_test_change",
        json!({"path": "./tests/cart_test.rs", "reason": reason}),
    )
    .await;
    assert!(!is_error, "{content}");
    assert!(content.contains("QA will be asked"), "{content}");
    // A clone shares the list, as the pipeline's copy of the workspace does.
    assert_eq!(
        workspace.clone().test_change_requests.take(),
        [TestChangeRequest {
            path: "tests/cart_test.rs".to_owned(),
            reason: reason.to_owned(),
        }]
    );
    assert!(workspace.test_change_requests.pending().is_empty());
}

#[tokio::test]
async fn only_the_developer_may_request_test_changes() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let arguments = json!({"path": "tests/cart_test.rs", "reason": "wrong"});
    let qa = ToolRegistry::new(
        Role::Qa,
        &[ToolName::ReadFile, ToolName::RequestTestChange],
        WriteScope::TestFiles,
    );
    let reviewer = ToolRegistry::new(
        Role::CodeReviewer,
        &[ToolName::ReadFile, ToolName::RequestTestChange],
        WriteScope::Nothing,
    );
    for (registry, role) in [(qa, "qa"), (reviewer, "code-reviewer")] {
        assert!(
            !registry.tools().contains(&ToolName::RequestTestChange),
            "{role} was given it"
        );
        let (content, is_error) = run(
            &registry,
            &workspace,
            "request_test_change",
            arguments.clone(),
        )
        .await;
        assert!(is_error, "{content}");
        assert!(
            content
                .contains("`request_test_change` is not available: only the developer may use it"),
            "{content}"
        );
    }
    assert!(workspace.test_change_requests.pending().is_empty());
}

#[tokio::test]
async fn a_test_change_request_must_name_a_test_inside_the_worktree() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let developer = developer();
    for (path, refusal) in [
        ("../other/tests/cart_test.rs", "`..` is refused"),
        ("/etc/passwd", "absolute paths are refused"),
        ("src/lib.rs", "`src/lib.rs` is not a test file"),
    ] {
        let (content, is_error) = run(
            &developer,
            &workspace,
            "request_test_change",
            json!({"path": path, "reason": "it asserts the wrong total"}),
        )
        .await;
        assert!(is_error && content.contains(refusal), "{path}: {content}");
    }
    let (content, is_error) = run(
        &developer,
        &workspace,
        "request_test_change",
        json!({"path": "tests/cart_test.rs", "reason": "  "}),
    )
    .await;
    assert!(
        is_error && content.contains("`reason` is empty"),
        "{content}"
    );
    assert!(workspace.test_change_requests.pending().is_empty());
}

#[tokio::test]
async fn tools_not_granted_and_unknown_tools_are_refused() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "run_command",
        json!({"command": "cargo check"}),
    )
    .await;
    assert!(is_error, "{content}");
    assert!(
        content.contains("`run_command` is not available: it was not given to the developer"),
        "{content}"
    );
    let (content, is_error) = run(&developer(), &workspace, "delete_repo", json!({})).await;
    assert!(
        is_error && content.contains("there is no tool `delete_repo`"),
        "{content}"
    );
}

#[tokio::test]
async fn commands_the_repository_does_not_allow_are_refused() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let registry = ToolRegistry::new(
        Role::Developer,
        &[ToolName::RunCommand],
        WriteScope::Anything,
    );
    let (content, is_error) = run(
        &registry,
        &workspace,
        "run_command",
        json!({"command": "rm -rf src"}),
    )
    .await;
    assert!(is_error, "{content}");
    assert!(content.contains("`rm -rf src` is not allowed; this repository allows commands starting with `cargo check`"), "{content}");
    assert!(repo.path().join("src/lib.rs").exists());
}

#[tokio::test]
async fn invalid_arguments_are_errors_for_the_model() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "read_file",
        json!({"paht": "src/lib.rs"}),
    )
    .await;
    assert!(
        is_error && content.contains("invalid arguments: unknown field `paht`"),
        "{content}"
    );
    let registry = developer();
    let broken = squadron_core::ports::ToolCall {
        id: "c2".to_owned(),
        name: "read_file".to_owned(),
        arguments: "{not json".to_owned(),
    };
    let Executed::Output { content, is_error } = registry.execute(&workspace, &broken).await else {
        panic!("terminal");
    };
    assert!(
        is_error && content.contains("invalid arguments"),
        "{content}"
    );
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "search_code",
        json!({"pattern": "(unclosed"}),
    )
    .await;
    assert!(
        is_error && content.contains("invalid regular expression"),
        "{content}"
    );
}

#[tokio::test]
async fn edit_file_requires_exactly_one_match() {
    let repo = repository();
    std::fs::write(repo.path().join("src/twice.rs"), "let a = 1;\nlet a = 1;\n").unwrap();
    let workspace = workspace(repo.path()).await;
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "edit_file",
        json!({"path": "src/lib.rs", "old": "43", "new": "44"}),
    )
    .await;
    assert!(
        is_error && content.contains("`old` was not found in `src/lib.rs`"),
        "{content}"
    );
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "edit_file",
        json!({"path": "src/twice.rs", "old": "let a = 1;", "new": "let b = 2;"}),
    )
    .await;
    assert!(
        is_error && content.contains("`old` occurs 2 times in `src/twice.rs`"),
        "{content}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path().join("src/twice.rs")).unwrap(),
        "let a = 1;\nlet a = 1;\n"
    );
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "edit_file",
        json!({"path": "src/lib.rs", "old": "41", "new": "42"}),
    )
    .await;
    assert!(!is_error, "{content}");
    assert!(
        std::fs::read_to_string(repo.path().join("src/lib.rs"))
            .unwrap()
            .contains("42")
    );
}

#[tokio::test]
async fn git_views_show_changes_and_history() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    std::fs::write(
        repo.path().join("src/lib.rs"),
        "pub fn answer() -> u32 {\n    42\n}\n",
    )
    .unwrap();
    std::fs::write(repo.path().join("src/new.rs"), "// new\n").unwrap();
    let (diff, is_error) = run(&developer(), &workspace, "git_diff", json!({})).await;
    assert!(!is_error, "{diff}");
    assert!(diff.contains("-    41\n+    42\n"), "{diff}");
    assert!(diff.contains("src/new.rs"), "{diff}");
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "git_diff",
        json!({"base": "--output=/tmp/x"}),
    )
    .await;
    assert!(
        is_error && content.contains("is not a revision name"),
        "{content}"
    );
    let (log, is_error) = run(&developer(), &workspace, "git_log", json!({"max_count": 5})).await;
    assert!(!is_error, "{log}");
    assert!(
        log.contains("Test <test@example.invalid>\n    Initial commit"),
        "{log}"
    );
}

#[tokio::test]
async fn reviews_are_checked_before_they_end_a_turn() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let reviewer = ToolRegistry::new(
        Role::QaSpecialist,
        &[ToolName::ReadFile],
        WriteScope::Nothing,
    );
    let bad = call(
        "r1",
        "submit_review",
        json!({"verdict": "approve", "summary": "ok", "comments": [{"path": "../x", "line": 1, "body": "b"}]}),
    );
    let Executed::Output { content, is_error } = reviewer.execute(&workspace, &bad).await else {
        panic!("accepted a comment outside the repository");
    };
    assert!(
        is_error && content.contains("comment 1") && content.contains("`..` is refused"),
        "{content}"
    );
    let good = call(
        "r2",
        "submit_review",
        json!({"verdict": "request_changes", "summary": "Needs a test", "comments": [{"path": "src/lib.rs", "line": 2, "body": "Why 41?"}]}),
    );
    let Executed::Terminal(squadron_harness::TerminalCall::Review(review)) =
        reviewer.execute(&workspace, &good).await
    else {
        panic!("review not accepted");
    };
    assert_eq!(
        review.verdict,
        squadron_core::ReviewVerdict::ChangesRequested
    );
    assert_eq!(review.comments[0].path, "src/lib.rs");
}
