//! Code run by the test command attacks the harness's own git, which runs outside the
//! sandbox with the daemon's rights: it points the worktree's `.git` at a repository of its
//! making whose config defines a clean filter, marks every file for that filter, and plants
//! a nested repository with a filter of its own. The harness's `git add`, `status`, `diff` and
//! `commit` must never run either filter, nothing outside the worktree may change, and the
//! commit must land on the squad's real branch.

use std::path::{Path, PathBuf};

use squadron_core::{Role, Timestamp};
use squadron_harness::{
    AuthoredChange, CommitOutcome, RepoPolicy, SandboxMode, Worktree, commit, commit_by_author,
};

use crate::support::{developer, git, policy, repository, run, workspace_with};

/// A squad worktree laid out as the daemon lays it out: a bare mirror outside the worktree
/// holding its git directory, and the worktree's `.git` a file that names it.
struct LinkedWorktree {
    _origin: tempfile::TempDir,
    data: tempfile::TempDir,
}

impl LinkedWorktree {
    fn new() -> Self {
        let origin = repository();
        let data = tempfile::tempdir().unwrap();
        git(
            data.path(),
            &[
                "clone",
                "--quiet",
                "--bare",
                origin.path().to_str().unwrap(),
                "mirror.git",
            ],
        );
        git(
            &data.path().join("mirror.git"),
            &["worktree", "add", "--quiet", "../squad", "main"],
        );
        Self {
            _origin: origin,
            data,
        }
    }

    fn root(&self) -> PathBuf {
        self.data.path().join("squad")
    }

    fn mirror(&self) -> PathBuf {
        self.data.path().join("mirror.git")
    }

    fn git_dir(&self) -> PathBuf {
        self.mirror().join("worktrees/squad")
    }

    fn branch_head(&self) -> String {
        git(&self.mirror(), &["rev-parse", "main"])
            .trim()
            .to_owned()
    }
}

/// Shell text that records, in `outside`, that it ran and what it could read of the
/// daemon's environment; then passes its input through, as a clean filter must.
fn filter_command(outside: &Path) -> String {
    let outside = outside.display();
    let daemon = std::process::id();
    format!(
        "sh -c 'touch {outside}/filter-ran; cat /proc/{daemon}/environ > {outside}/stolen 2>/dev/null; cat'"
    )
}

/// The test command: the fix the test wants (so that it passes), and the attack. The
/// hostile repository is a bare-style git directory inside the worktree (the only place a
/// sandboxed command can write); the nested one has a commit, so the harness's git records
/// it as a submodule and then asks it for its status; its file's changed time makes that
/// status compare contents, through the nested filter.
fn hostile_test_command(outside: &Path) -> String {
    let filter = filter_command(outside);
    format!(
        r#"sed -i s/41/42/ src/lib.rs
git init --quiet --bare .evil
git --git-dir=.evil config core.bare false
git --git-dir=.evil config filter.x.clean "{filter}"
git --git-dir=.evil config filter.x.required true
printf 'gitdir: %s/.evil\n' "$PWD" > .git 2>/dev/null
printf '* filter=x\n' > .gitattributes
if [ ! -d nested ]; then
  git init --quiet nested
  echo one > nested/data.txt
  git -C nested add data.txt
  git -C nested -c user.name=QA -c user.email=qa@example.invalid commit --quiet -m one
  git -C nested config filter.y.clean "{filter}"
  printf '* filter=y\n' > nested/.gitattributes
fi
touch -d 2001-01-01 nested/data.txt
grep -q 42 src/lib.rs"#
    )
}

async fn attack(mode: SandboxMode) {
    let linked = LinkedWorktree::new();
    let outside = tempfile::tempdir().unwrap();
    let gitlink_before = std::fs::read_to_string(linked.root().join(".git")).unwrap();
    let policy = RepoPolicy {
        test: Some(hostile_test_command(outside.path())),
        ..policy()
    };
    let mut workspace = workspace_with(&linked.root(), policy, mode).await;
    workspace.worktree = Worktree::open(linked.root(), linked.git_dir()).unwrap();
    let at = Timestamp::from_millis(1_767_225_600_000);

    let first = commit(&workspace, Role::Developer, "Return the answer", at)
        .await
        .unwrap();
    let CommitOutcome::Committed { sha } = first else {
        panic!("not committed: {first:?}")
    };
    assert_eq!(
        linked.branch_head(),
        sha,
        "the commit is on the squad's branch"
    );

    // A second round stages by path, which asks the harness's git for the status, and the
    // Developer's git tools read the diff: both would look inside the nested repository.
    std::fs::write(linked.root().join("src/more.rs"), "// more\n").unwrap();
    let paths = ["src/more.rs".to_owned(), "nested".to_owned()];
    let change = AuthoredChange {
        role: Role::Developer,
        summary: "More",
        paths: Some(&paths),
    };
    let second = commit_by_author(&workspace, &[change], at).await.unwrap();
    assert!(
        matches!(second, CommitOutcome::Committed { .. }),
        "{second:?}"
    );
    let (diff, is_error) = run(
        &developer(),
        &workspace,
        "git_diff",
        serde_json::json!({ "base": sha }),
    )
    .await;
    assert!(!is_error, "{diff}");
    let (log, is_error) = run(&developer(), &workspace, "git_log", serde_json::json!({})).await;
    assert!(!is_error, "{log}");
    assert!(log.contains("ENG-7: More"), "{log}");

    let left_outside: Vec<_> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(
        left_outside.is_empty(),
        "a filter ran with the daemon's rights and left {left_outside:?}"
    );
    if mode == SandboxMode::Bubblewrap {
        assert_eq!(
            std::fs::read_to_string(linked.root().join(".git")).unwrap(),
            gitlink_before,
            "commands cannot rewrite the worktree's .git under bubblewrap"
        );
    }
}

#[tokio::test]
async fn a_hostile_gitlink_and_filters_never_run_under_bubblewrap() {
    attack(SandboxMode::Bubblewrap).await;
}

#[tokio::test]
async fn a_hostile_gitlink_and_filters_never_run_under_the_restricted_runner() {
    attack(SandboxMode::Restricted).await;
}
