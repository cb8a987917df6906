//! The tools that change files as the model uses them: several edits in one call, every
//! occurrence, CRLF files, the closest text when `old` is not found, and deleting and moving
//! files within the role's write scope.

use serde_json::json;
use squadron_core::Role;
use squadron_harness::{ToolName, ToolRegistry, WriteScope};

use crate::support::{repository, run, workspace};

fn writer(role: Role, scope: WriteScope) -> ToolRegistry {
    ToolRegistry::new(
        role,
        &[
            ToolName::ReadFile,
            ToolName::WriteFile,
            ToolName::EditFile,
            ToolName::DeleteFile,
            ToolName::MoveFile,
        ],
        scope,
    )
}

fn developer() -> ToolRegistry {
    writer(Role::Developer, WriteScope::Anything)
}

fn qa() -> ToolRegistry {
    writer(Role::Qa, WriteScope::TestFiles)
}

fn read(root: &std::path::Path, relative: &str) -> String {
    std::fs::read_to_string(root.join(relative)).unwrap()
}

#[tokio::test]
async fn several_edits_apply_in_one_call_or_none_does() {
    let repo = repository();
    let root = repo.path();
    std::fs::write(
        root.join("src/cart.rs"),
        "pub fn total(items: &[u32]) -> u32 {\n    let total = items.iter().sum();\n    total\n}\n\npub fn count(items: &[u32]) -> usize {\n    items.len()\n}\n",
    )
    .unwrap();
    let workspace = workspace(root).await;
    let before = read(root, "src/cart.rs");

    // The second edit does not match: nothing is written, and the reply says which edit.
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "edit_file",
        json!({"path": "src/cart.rs", "edits": [
            {"old": "u32 {", "new": "u64 {", "replace_all": true},
            {"old": "items.length()", "new": "items.len() as u64"}
        ]}),
    )
    .await;
    assert!(is_error, "{content}");
    assert!(
        content.contains("edit 2 of 2: `old` was not found in `src/cart.rs`"),
        "{content}"
    );
    assert!(content.contains("Nothing was changed"), "{content}");
    assert_eq!(read(root, "src/cart.rs"), before);

    let (content, is_error) = run(
        &developer(),
        &workspace,
        "edit_file",
        json!({"path": "src/cart.rs", "edits": [
            {"old": "&[u32]", "new": "&[u64]", "replace_all": true},
            {"old": "-> u32 {", "new": "-> u64 {"}
        ]}),
    )
    .await;
    assert!(!is_error, "{content}");
    assert!(
        content.starts_with("Made 2 edits to `src/cart.rs`"),
        "{content}"
    );
    let after = read(root, "src/cart.rs");
    assert_eq!(after.matches("&[u64]").count(), 2);
    assert!(after.contains("-> u64 {") && !after.contains("u32"));

    // Without replace_all an ambiguous `old` is refused, naming where it occurs.
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "edit_file",
        json!({"path": "src/cart.rs", "old": "items", "new": "lines"}),
    )
    .await;
    assert!(is_error, "{content}");
    assert!(
        content.contains("`old` occurs 4 times in `src/cart.rs` (starting on lines 1, 2, 6, 7)"),
        "{content}"
    );
}

#[tokio::test]
async fn a_crlf_file_is_edited_with_plain_newlines_and_stays_crlf() {
    let repo = repository();
    let root = repo.path();
    std::fs::write(root.join("src/win.rs"), "fn a() {\r\n    1\r\n}\r\n").unwrap();
    let workspace = workspace(root).await;
    // What read_file shows (lines without \r), copied into `old`, matches across lines.
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "edit_file",
        json!({"path": "src/win.rs", "old": "fn a() {\n    1\n}", "new": "fn a() {\n    2\n}\n\nfn b() {}"}),
    )
    .await;
    assert!(!is_error, "{content}");
    assert_eq!(
        std::fs::read(root.join("src/win.rs")).unwrap(),
        b"fn a() {\r\n    2\r\n}\r\n\r\nfn b() {}\r\n"
    );
}

#[tokio::test]
async fn text_not_found_comes_back_with_the_closest_lines() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "edit_file",
        json!({"path": "src/lib.rs", "old": "pub fn answer() -> u32 {\n  41\n}", "new": "x"}),
    )
    .await;
    assert!(is_error, "{content}");
    assert!(
        content.contains(
            "The closest text is on lines 1-3 (it differs from `old` only in whitespace or indentation)"
        ),
        "{content}"
    );
    assert!(
        content.contains("source=\"file src/lib.rs lines 1-3\""),
        "{content}"
    );
    assert!(content.contains("\n    41\n"), "{content}");
}

#[tokio::test]
async fn files_are_deleted_within_the_write_scope_only() {
    let repo = repository();
    let root = repo.path();
    std::fs::create_dir_all(root.join("src/old/deep")).unwrap();
    std::fs::write(root.join("src/old/deep/legacy.rs"), "// legacy\n").unwrap();
    std::fs::write(root.join(".squadron.toml"), "test = \"true\"\n").unwrap();
    std::os::unix::fs::symlink("lib.rs", root.join("src/alias.rs")).unwrap();
    let workspace = workspace(root).await;

    let (content, is_error) = run(
        &developer(),
        &workspace,
        "delete_file",
        json!({"path": "src/old/deep/legacy.rs"}),
    )
    .await;
    assert!(!is_error, "{content}");
    assert_eq!(content, "Deleted `src/old/deep/legacy.rs`.");
    // The directories it leaves empty go too; the rest stays.
    assert!(!root.join("src/old").exists());
    assert!(root.join("src/lib.rs").exists());

    for (registry, path, refusal) in [
        (qa(), "src/lib.rs", "QA may only write test files"),
        (developer(), ".squadron.toml", "which no agent may change"),
        (
            developer(),
            "src",
            "it is a directory, not a regular file: delete files one at a time",
        ),
        (developer(), "src/missing.rs", "it does not exist"),
        (
            writer(Role::CodeReviewer, WriteScope::Nothing),
            "src/lib.rs",
            "not available: the code-reviewer is read-only",
        ),
    ] {
        let (content, is_error) =
            run(&registry, &workspace, "delete_file", json!({"path": path})).await;
        assert!(is_error && content.contains(refusal), "{path}: {content}");
    }
    // A symlink is deleted itself, never what it points at.
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "delete_file",
        json!({"path": "src/alias.rs"}),
    )
    .await;
    assert!(!is_error, "{content}");
    assert!(root.join("src/lib.rs").exists());
    assert!(std::fs::symlink_metadata(root.join("src/alias.rs")).is_err());

    // QA deletes its own test; the Developer may not delete one QA wrote.
    let (content, is_error) = run(
        &qa(),
        &workspace,
        "write_file",
        json!({"path": "tests/cart_test.rs", "content": "// test\n"}),
    )
    .await;
    assert!(!is_error, "{content}");
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "delete_file",
        json!({"path": "tests/cart_test.rs"}),
    )
    .await;
    assert!(
        is_error && content.contains("only QA may change it"),
        "{content}"
    );
    let (content, is_error) = run(
        &qa(),
        &workspace,
        "delete_file",
        json!({"path": "tests/cart_test.rs"}),
    )
    .await;
    assert!(!is_error, "{content}");
}

#[tokio::test]
async fn files_move_within_the_write_scope_and_keep_their_author() {
    let repo = repository();
    let root = repo.path();
    let workspace = workspace(root).await;

    let (content, is_error) = run(
        &developer(),
        &workspace,
        "move_file",
        json!({"from": "src/lib.rs", "to": "src/answer/mod.rs"}),
    )
    .await;
    assert!(!is_error, "{content}");
    assert!(
        content.starts_with("Moved `src/lib.rs` to `src/answer/mod.rs`."),
        "{content}"
    );
    // The repository has no formatter: the write tools' descriptions say so, once.
    assert!(!content.contains("formatter"), "{content}");
    assert_eq!(
        read(root, "src/answer/mod.rs"),
        "pub fn answer() -> u32 {\n    41\n}\n"
    );
    assert!(!root.join("src/lib.rs").exists());

    let (content, is_error) = run(
        &developer(),
        &workspace,
        "move_file",
        json!({"from": "src/answer/mod.rs", "to": ".gitignore"}),
    )
    .await;
    assert!(
        is_error && content.contains("move to `.gitignore`: it exists already"),
        "{content}"
    );
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "move_file",
        json!({"from": "src/answer/mod.rs", "to": "tests/answer_mod.rs"}),
    )
    .await;
    assert!(
        is_error && content.contains("only QA writes test files"),
        "{content}"
    );

    // QA moves its tests only among test files, and stays their author.
    let (content, is_error) = run(
        &qa(),
        &workspace,
        "move_file",
        json!({"from": "tests/answer_test.rs", "to": "src/answer_test_helpers.rs"}),
    )
    .await;
    assert!(
        is_error && content.contains("QA may only write test files"),
        "{content}"
    );
    let (content, is_error) = run(
        &qa(),
        &workspace,
        "move_file",
        json!({"from": "tests/answer_test.rs", "to": "tests/answer/main_test.rs"}),
    )
    .await;
    assert!(!is_error, "{content}");
    assert!(workspace.qa_files.contains("tests/answer/main_test.rs"));
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "edit_file",
        json!({"path": "tests/answer/main_test.rs", "old": "the test", "new": "a test"}),
    )
    .await;
    assert!(
        is_error && content.contains("only QA may change it"),
        "{content}"
    );
    let (content, is_error) = run(
        &developer(),
        &workspace,
        "move_file",
        json!({"from": "src/answer/mod.rs", "to": ".github/workflows/x.yml"}),
    )
    .await;
    assert!(
        is_error && content.contains("which no agent may change"),
        "{content}"
    );
}
