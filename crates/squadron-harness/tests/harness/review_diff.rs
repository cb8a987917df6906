//! The diff a reviewer is shown of what changed since its last review.

use squadron_core::gate::CommitSha;
use squadron_harness::diff_since;

use crate::support::{git, repository, workspace};

fn commit(root: &std::path::Path, path: &str, text: &str, message: &str) -> CommitSha {
    std::fs::write(root.join(path), text).unwrap();
    git(root, &["add", "--all"]);
    git(root, &["commit", "--quiet", "-m", message]);
    CommitSha::new(git(root, &["rev-parse", "HEAD"]).trim())
}

#[tokio::test]
async fn after_a_fix_the_diff_shows_every_change_since_the_reviewed_commit() {
    let repo = repository();
    let root = repo.path();
    let reviewed = commit(
        root,
        "src/lib.rs",
        "pub fn answer() -> u32 {\n    42\n}\n",
        "Answer",
    );
    commit(
        root,
        "src/extra.rs",
        "pub fn extra() {}\n",
        "Fix the review",
    );
    let workspace = workspace(root).await;

    let diff = diff_since(&workspace, &reviewed, &["src/lib.rs".to_owned()])
        .await
        .unwrap();

    assert_eq!(diff.files, ["src/extra.rs"]);
    assert!(diff.text.contains("+pub fn extra() {}"), "{}", diff.text);
}

#[tokio::test]
async fn after_a_rebase_the_diff_leaves_the_bases_own_changes_out() {
    let repo = repository();
    let root = repo.path();
    let base = git(root, &["rev-parse", "HEAD"]).trim().to_owned();
    git(root, &["checkout", "--quiet", "-b", "squad"]);
    let reviewed = commit(
        root,
        "src/lib.rs",
        "pub fn answer() -> u32 {\n    42\n}\n",
        "Answer",
    );
    // Another squad merged a change of its own into the base meanwhile.
    git(root, &["checkout", "--quiet", "-b", "newer-base", &base]);
    commit(
        root,
        "src/other.rs",
        "pub fn other() {}\n",
        "Another squad's change",
    );
    git(root, &["checkout", "--quiet", "squad"]);
    git(
        root,
        &["-c", "core.editor=true", "rebase", "--quiet", "newer-base"],
    );
    commit(
        root,
        "src/lib.rs",
        "pub fn answer() -> u32 {\n    43\n}\n",
        "Fix the review",
    );
    let workspace = workspace(root).await;

    let diff = diff_since(&workspace, &reviewed, &["src/lib.rs".to_owned()])
        .await
        .unwrap();

    assert_eq!(diff.files, ["src/lib.rs"]);
    assert!(diff.text.contains("+    43"), "{}", diff.text);
    assert!(!diff.text.contains("other"), "{}", diff.text);
}
