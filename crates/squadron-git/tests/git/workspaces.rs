//! The core `Workspaces` port through `GitWorkspaces`, against the stand-in GitHub over real
//! HTTP and real git: prepare and reuse after a restart, pushes with lease, rebases,
//! changed files, scratch worktrees, merge trials and removal.

use std::path::Path;

use squadron_core::SquadId;
use squadron_core::gate::CommitSha;
use squadron_core::ports::{
    MergeTrial, PortErrorKind, PreparedWorktree, RebaseOutcome, RepoRef, Workspaces,
    WorktreeRequest,
};
use squadron_git::{AccessToken, GitWorkspaces, RepositorySpec};

use super::{BRANCH, Fixture, SLUG, TOKEN, developer, files_containing};

const SQUAD: &str = "squad-7";

fn repo() -> RepoRef {
    RepoRef::new("acme", "shop")
}

fn port(fx: &Fixture) -> GitWorkspaces {
    GitWorkspaces::new(
        fx.workspace(),
        [(repo(), (fx.spec.clone(), fx.token.clone()))],
    )
}

fn request(squad: &str, branch: &str) -> WorktreeRequest {
    WorktreeRequest {
        squad: SquadId::new(squad),
        repo: repo(),
        base_branch: "main".to_owned(),
        branch: branch.to_owned(),
    }
}

/// Writes `files` into the worktree at `path` and commits them as the Developer.
async fn commit(port: &GitWorkspaces, path: &Path, files: &[(&str, &str)]) -> CommitSha {
    for (file, content) in files {
        let target = path.join(file);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).expect("parent dir");
        }
        std::fs::write(target, content).expect("write");
    }
    let worktree = port.find_worktree(path).await.expect("squad worktree");
    let sha = port
        .workspace()
        .commit_all(&worktree, &developer(), "ENG-1", "Work")
        .await
        .expect("commit")
        .expect("something to commit");
    CommitSha::new(sha)
}

fn main_head(fx: &Fixture) -> CommitSha {
    CommitSha::new(
        fx.standin
            .branch_head(SLUG, "main")
            .expect("main")
            .expect("main exists"),
    )
}

async fn prepared(port: &GitWorkspaces) -> PreparedWorktree {
    port.prepare(&request(SQUAD, BRANCH))
        .await
        .expect("prepare")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_worktree_is_named_by_squad_and_its_pushed_commit_lands_on_the_remote() {
    let fx = Fixture::new().await;
    let port = port(&fx);
    let base = main_head(&fx);

    let worktree = prepared(&port).await;
    assert_eq!(
        worktree.path.file_name().and_then(|n| n.to_str()),
        Some(SQUAD)
    );
    assert_eq!(worktree.base_sha, base);
    assert_eq!(
        worktree.head_sha, base,
        "a new branch starts at the base tip"
    );
    assert_eq!(worktree.remote_sha, None);
    assert_eq!(
        std::fs::read_to_string(worktree.path.join("README.md")).expect("checked out"),
        "# Shop\n"
    );

    let sha = commit(&port, &worktree.path, &[("login.rs", "fn login() {}\n")]).await;
    assert_eq!(port.head(&worktree.path).await.expect("head"), sha);
    let pushed = port
        .push(&worktree.path, BRANCH, worktree.remote_sha.as_ref())
        .await
        .expect("push");
    assert_eq!(pushed, sha);
    assert_eq!(
        fx.standin.branch_head(SLUG, BRANCH).expect("branch"),
        Some(sha.to_string())
    );
    assert_eq!(
        fx.standin
            .file_at(SLUG, BRANCH, "login.rs")
            .expect("file")
            .as_deref(),
        Some("fn login() {}\n")
    );
    assert_eq!(
        fx.standin
            .commit(SLUG, sha.as_str())
            .expect("commit")
            .parents,
        vec![base.to_string()]
    );
    assert_eq!(
        files_containing(fx.data.path(), TOKEN.as_bytes()),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_daemon_reuses_the_worktree_and_reports_the_same_base() {
    let fx = Fixture::new().await;
    let before = port(&fx);
    let first = prepared(&before).await;
    let work = commit(&before, &first.path, &[("a.txt", "a\n")]).await;
    drop(before);

    // Another squad's work lands on main while this daemon is down.
    let moved = fx
        .standin
        .commit_files(SLUG, "main", &[("other.txt", "other\n")], "Other squad")
        .expect("main moves");

    let after = port(&fx);
    let again = prepared(&after).await;
    assert_eq!(again.path, first.path);
    assert_eq!(again.head_sha, work, "the unpushed commit is still there");
    assert_eq!(
        again.base_sha, first.base_sha,
        "the base is where the branch forked, not the new tip {moved}"
    );
    assert_eq!(again.remote_sha, None);
    assert!(!again.path.join("other.txt").exists());

    let pushed = after.push(&again.path, BRANCH, None).await.expect("push");
    let third = port(&fx);
    let once_more = prepared(&third).await;
    assert_eq!(
        once_more.remote_sha,
        Some(pushed),
        "the lease of the next push"
    );
}

/// A daemon stopped between registering a worktree and writing its files leaves a worktree
/// without an index: the next prepare writes the files instead of handing agents an empty
/// checkout whose every file looks deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worktree_whose_checkout_was_cut_short_is_checked_out_on_the_next_prepare() {
    let fx = Fixture::new().await;
    let port = port(&fx);
    let first = prepared(&port).await;
    std::fs::remove_file(first.git_dir.join("index")).expect("the index goes");
    std::fs::remove_file(first.path.join("src/lib.rs")).expect("a file goes");

    let again = prepared(&port).await;
    assert_eq!(again.path, first.path);
    assert_eq!(again.head_sha, first.head_sha);
    assert_eq!(
        std::fs::read_to_string(again.path.join("src/lib.rs")).expect("checked out"),
        "one\ntwo\nthree\n"
    );
    let worktree = port.find_worktree(&again.path).await.expect("worktree");
    let nothing = port
        .workspace()
        .commit_all(&worktree, &developer(), "ENG-1", "Nothing")
        .await
        .expect("commit");
    assert_eq!(
        nothing, None,
        "the checkout matches its branch: no change to commit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_push_succeeds_and_a_stale_lease_is_a_conflict() {
    let fx = Fixture::new().await;
    let port = port(&fx);
    let worktree = prepared(&port).await;
    let first = commit(&port, &worktree.path, &[("a.txt", "a\n")]).await;
    port.push(&worktree.path, BRANCH, None)
        .await
        .expect("first push");
    // A restart that lost the record of the first push retries with the old lease.
    let repeated = port
        .push(&worktree.path, BRANCH, None)
        .await
        .expect("the remote already has this head");
    assert_eq!(repeated, first);
    let repeated = port
        .push(&worktree.path, BRANCH, Some(&worktree.base_sha))
        .await
        .expect("the remote already has this head");
    assert_eq!(repeated, first);

    let theirs = fx
        .standin
        .commit_files(SLUG, BRANCH, &[("b.txt", "b\n")], "Someone else")
        .expect("someone else pushes");
    commit(&port, &worktree.path, &[("a.txt", "aa\n")]).await;
    let error = port
        .push(&worktree.path, BRANCH, Some(&first))
        .await
        .expect_err("the lease no longer holds");
    assert_eq!(error.kind(), PortErrorKind::Conflict, "{error}");
    assert!(error.to_string().contains(&theirs), "{error}");
    assert!(!format!("{error} {error:?}").contains(TOKEN));
    assert_eq!(
        fx.standin.branch_head(SLUG, BRANCH).expect("branch"),
        Some(theirs),
        "a rejected push changes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_is_rebased_onto_a_base_that_moved_and_then_contains_its_tip() {
    let fx = Fixture::new().await;
    let port = port(&fx);
    let worktree = prepared(&port).await;
    commit(&port, &worktree.path, &[("a.txt", "a\n")]).await;
    let remote = port.push(&worktree.path, BRANCH, None).await.expect("push");
    assert!(
        port.contains_base_tip(&worktree.path, "main")
            .await
            .expect("contains")
    );
    assert_eq!(
        port.rebase(&worktree.path, "main").await.expect("rebase"),
        RebaseOutcome::UpToDate
    );

    let merged = fx
        .standin
        .commit_files(SLUG, "main", &[("b.txt", "b\n")], "Another squad merged")
        .expect("main moves");
    assert!(
        !port
            .contains_base_tip(&worktree.path, "main")
            .await
            .expect("contains"),
        "the fetch sees the new tip"
    );
    let RebaseOutcome::Rebased { head, base } =
        port.rebase(&worktree.path, "main").await.expect("rebase")
    else {
        panic!("expected a rebase");
    };
    assert_eq!(base.as_str(), merged);
    assert_eq!(port.head(&worktree.path).await.expect("head"), head);
    assert!(worktree.path.join("a.txt").exists() && worktree.path.join("b.txt").exists());
    assert!(
        port.contains_base_tip(&worktree.path, "main")
            .await
            .expect("contains")
    );

    let pushed = port
        .push(&worktree.path, BRANCH, Some(&remote))
        .await
        .expect("a rewritten branch pushes under its lease");
    assert_eq!(pushed, head);
    assert_eq!(
        fx.standin
            .commit(SLUG, head.as_str())
            .expect("commit")
            .parents,
        vec![merged]
    );
}

/// `git diff base...head | git patch-id --stable` in the worktree's git directory.
fn git_patch_id(git_dir: &Path, base: &CommitSha, head: &CommitSha) -> String {
    let diff = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(["diff", "--no-color", &format!("{base}...{head}")])
        .output()
        .expect("git diff");
    let mut patch_id = std::process::Command::new("git")
        .args(["patch-id", "--stable"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("git patch-id");
    std::io::Write::write_all(&mut patch_id.stdin.take().expect("stdin"), &diff.stdout)
        .expect("feed the diff");
    let output = patch_id.wait_with_output().expect("patch id");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .expect("a patch id")
        .to_owned()
}

/// The merge train renews approvals after a rebase only when the branch's own change is
/// the same: a clean rebase keeps the patch id, a change resolved differently does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_rebase_keeps_the_patch_id_and_a_changed_patch_gets_another() {
    let fx = Fixture::new().await;
    let port = port(&fx);
    let worktree = prepared(&port).await;
    let old_base = worktree.base_sha.clone();
    let old_head = commit(
        &port,
        &worktree.path,
        &[("src/lib.rs", "one\nTWO\nthree\n")],
    )
    .await;
    let approved = port
        .patch_id(&worktree.path, &old_base, &old_head)
        .await
        .expect("patch id");

    fx.standin
        .commit_files(
            SLUG,
            "main",
            &[("README.md", "# Shop, moved\n")],
            "Another squad",
        )
        .expect("main moves");
    let RebaseOutcome::Rebased { head, base } =
        port.rebase(&worktree.path, "main").await.expect("rebase")
    else {
        panic!("expected a rebase");
    };
    assert_ne!(head, old_head, "the rebase made new commits");
    let rebased = port
        .patch_id(&worktree.path, &base, &head)
        .await
        .expect("patch id");
    assert_eq!(rebased, approved, "the same change on another base");
    assert_eq!(
        approved.as_str(),
        git_patch_id(&worktree.git_dir, &base, &head),
        "what `git patch-id --stable` says, so a person can check it"
    );
    assert_eq!(
        port.patch_id(&worktree.path, &old_base, &old_head)
            .await
            .expect("the approved head is still known"),
        approved
    );

    let changed = commit(&port, &worktree.path, &[("src/lib.rs", "one\nTWO\n3\n")]).await;
    assert_ne!(
        port.patch_id(&worktree.path, &base, &changed)
            .await
            .expect("patch id"),
        approved,
        "another change"
    );
    let unknown = CommitSha::new("0123456789012345678901234567890123456789");
    let error = port
        .patch_id(&worktree.path, &base, &unknown)
        .await
        .expect_err("no such commit");
    assert_eq!(error.kind(), PortErrorKind::NotFound, "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebase_onto_a_conflicting_base_names_the_paths_and_changes_nothing() {
    let fx = Fixture::new().await;
    let port = port(&fx);
    let worktree = prepared(&port).await;
    let mine = commit(
        &port,
        &worktree.path,
        &[("src/lib.rs", "one\nMINE\nthree\n")],
    )
    .await;
    fx.standin
        .commit_files(
            SLUG,
            "main",
            &[("src/lib.rs", "one\nTHEIRS\nthree\n")],
            "Another squad merged",
        )
        .expect("main moves");

    assert_eq!(
        port.rebase(&worktree.path, "main").await.expect("rebase"),
        RebaseOutcome::Conflict {
            paths: vec!["src/lib.rs".to_owned()],
            landed: vec![main_head(&fx)],
        }
    );
    assert_eq!(port.head(&worktree.path).await.expect("head"), mine);
    assert_eq!(
        std::fs::read_to_string(worktree.path.join("src/lib.rs")).expect("read"),
        "one\nMINE\nthree\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_trial_holds_the_head_merged_with_the_moved_base_and_leaves_the_branch_alone() {
    let fx = Fixture::new().await;
    let port = port(&fx);
    let worktree = prepared(&port).await;
    let mine = commit(
        &port,
        &worktree.path,
        &[("src/lib.rs", "one\nMINE\nthree\n")],
    )
    .await;
    assert_eq!(
        port.merge_trial(&worktree.path, "main")
            .await
            .expect("trial"),
        MergeTrial::UpToDate,
        "nothing to merge while the base stands still"
    );

    let moved = fx
        .standin
        .commit_files(SLUG, "main", &[("b.txt", "b\n")], "Another squad merged")
        .expect("main moves");
    let MergeTrial::Merged { path, base } = port
        .merge_trial(&worktree.path, "main")
        .await
        .expect("trial")
    else {
        panic!("expected a merge");
    };
    assert_eq!(base.as_str(), moved);
    assert_ne!(path, worktree.path, "a scratch worktree, not the squad's");
    assert_eq!(
        std::fs::read_to_string(path.join("src/lib.rs")).expect("the squad's file"),
        "one\nMINE\nthree\n"
    );
    assert_eq!(
        std::fs::read_to_string(path.join("b.txt")).expect("the base's file"),
        "b\n"
    );
    assert_eq!(port.head(&worktree.path).await.expect("head"), mine);
    assert!(
        !worktree.path.join("b.txt").exists(),
        "the squad's worktree is untouched"
    );
    port.remove(&path).await.expect("remove the scratch");
    assert!(!path.exists());

    fx.standin
        .commit_files(
            SLUG,
            "main",
            &[("src/lib.rs", "one\nTHEIRS\nthree\n")],
            "A conflicting change merged",
        )
        .expect("main moves");
    assert_eq!(
        port.merge_trial(&worktree.path, "main")
            .await
            .expect("trial"),
        MergeTrial::Conflict {
            paths: vec!["src/lib.rs".to_owned()]
        }
    );
    assert_eq!(port.head(&worktree.path).await.expect("head"), mine);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_change_is_merged_onto_the_base_with_markers_and_again_from_scratch() {
    let fx = Fixture::new().await;
    fx.standin
        .commit_files(
            SLUG,
            "main",
            &[
                ("src/lib.rs", "one\ntwo\nthree\n"),
                ("src/shared.rs", "a\nb\nc\nd\ne\nf\n"),
                ("docs/old.md", "old\n"),
            ],
            "Start",
        )
        .expect("main");
    let port = port(&fx);
    let worktree = prepared(&port).await;
    std::fs::remove_file(worktree.path.join("docs/old.md")).expect("delete");
    let mine = commit(
        &port,
        &worktree.path,
        &[
            ("src/lib.rs", "one\nMINE\nthree\n"),
            ("src/shared.rs", "A\nb\nc\nd\ne\nf\n"),
            ("src/new.rs", "new\n"),
        ],
    )
    .await;
    fx.standin
        .commit_files(
            SLUG,
            "main",
            &[
                ("src/lib.rs", "one\nTHEIRS\nthree\n"),
                ("src/shared.rs", "a\nb\nc\nd\ne\nF\n"),
            ],
            "Another squad merged",
        )
        .expect("main moves");
    let landed = main_head(&fx);
    let short = |sha: &CommitSha| sha.as_str()[..12].to_owned();
    let marked = format!(
        "one\n<<<<<<< main ({})\nTHEIRS\n||||||| where the branch forked\ntwo\n=======\nMINE\n>>>>>>> {BRANCH} ({})\nthree\n",
        short(&landed),
        short(&mine)
    );

    for attempt in 1..=2 {
        let merged = port
            .merge_onto_base(&worktree.path, "main", &mine)
            .await
            .expect("merge");
        assert_eq!(merged.base, landed, "attempt {attempt}");
        assert_eq!(merged.conflicts, vec!["src/lib.rs".to_owned()]);
        assert_eq!(
            merged.changed,
            ["docs/old.md", "src/lib.rs", "src/new.rs", "src/shared.rs"].map(str::to_owned)
        );
        assert_eq!(merged.landed, vec![landed.clone()]);
        assert_eq!(port.head(&worktree.path).await.expect("head"), landed);
        let read = |file: &str| std::fs::read_to_string(worktree.path.join(file)).ok();
        assert_eq!(read("src/lib.rs").as_deref(), Some(marked.as_str()));
        assert_eq!(
            read("src/shared.rs").as_deref(),
            Some("A\nb\nc\nd\ne\nF\n"),
            "both sides' changes to other lines merge"
        );
        assert_eq!(read("src/new.rs").as_deref(), Some("new\n"));
        assert_eq!(read("docs/old.md"), None, "the branch deleted it");
        assert_eq!(
            read("stray.txt"),
            None,
            "an earlier attempt's files are gone"
        );
        // A half-done resolution, then the step starts over.
        std::fs::write(worktree.path.join("src/lib.rs"), "half\n").expect("write");
        std::fs::write(worktree.path.join("stray.txt"), "x\n").expect("write");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_files_are_exactly_the_squads_added_and_modified_paths() {
    let fx = Fixture::new().await;
    fx.standin
        .commit_files(SLUG, "main", &[("docs/guide.md", "v1\n")], "Docs")
        .expect("main has docs");
    let port = port(&fx);
    let worktree = prepared(&port).await;
    commit(
        &port,
        &worktree.path,
        &[
            ("tests/test_login.py", "def test_login(): ...\n"),
            ("README.md", "# Shop\nNow with login.\n"),
        ],
    )
    .await;
    std::fs::remove_file(worktree.path.join("src/lib.rs")).expect("delete");
    commit(
        &port,
        &worktree.path,
        &[("src/login.rs", "fn login() {}\n")],
    )
    .await;
    fx.standin
        .commit_files(
            SLUG,
            "main",
            &[("other.txt", "other\n"), ("docs/guide.md", "v2\n")],
            "Another squad",
        )
        .expect("main moves");

    let expected = vec![
        "README.md".to_owned(),
        "src/login.rs".to_owned(),
        "tests/test_login.py".to_owned(),
    ];
    assert_eq!(
        port.changed_files(&worktree.path, &worktree.base_sha)
            .await
            .expect("changed files"),
        expected
    );
    assert!(
        !port
            .contains_base_tip(&worktree.path, "main")
            .await
            .expect("fetch")
    );
    assert_eq!(
        port.changed_files(&worktree.path, &main_head(&fx))
            .await
            .expect("changed files since the newer base"),
        expected,
        "files the base gained after the fork are not the squad's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scratch_worktree_holds_the_base_without_the_squads_work_until_removed() {
    let fx = Fixture::new().await;
    let port = port(&fx);
    let worktree = prepared(&port).await;
    let head = commit(
        &port,
        &worktree.path,
        &[
            ("tests/test_login.py", "def test_login(): ...\n"),
            ("README.md", "# Shop\nNow with login.\n"),
        ],
    )
    .await;

    let scratch = port
        .scratch(&worktree.path, &worktree.base_sha)
        .await
        .expect("scratch");
    assert_ne!(scratch, worktree.path);
    assert_eq!(
        port.head(&scratch).await.expect("scratch head"),
        worktree.base_sha
    );
    assert_eq!(
        std::fs::read_to_string(scratch.join("README.md")).expect("base file"),
        "# Shop\n"
    );
    assert!(scratch.join("src/lib.rs").exists());
    assert!(!scratch.join("tests/test_login.py").exists());
    let detached = git2::Repository::open(&scratch).expect("open scratch");
    assert!(detached.head_detached().expect("head"));
    let mirror = git2::Repository::open_bare(fx.workspace().mirror_path(&fx.spec)).expect("mirror");
    let branches: Vec<String> = mirror
        .branches(Some(git2::BranchType::Local))
        .expect("branches")
        .map(|b| {
            b.expect("branch")
                .0
                .name()
                .expect("name")
                .expect("utf-8")
                .to_owned()
        })
        .collect();
    assert_eq!(
        branches,
        vec![BRANCH.to_owned()],
        "no helper branch is left"
    );

    // An evidence run at the head next to the one at the base.
    let at_head = port.scratch(&worktree.path, &head).await.expect("scratch");
    assert_ne!(at_head, scratch);
    assert!(at_head.join("tests/test_login.py").exists());

    port.remove(&scratch).await.expect("remove scratch");
    assert!(!scratch.exists());
    port.remove(&scratch)
        .await
        .expect("removing again succeeds");
    port.remove(&at_head).await.expect("remove scratch");
    assert_eq!(
        port.head(&worktree.path)
            .await
            .expect("squad worktree intact"),
        head
    );
    assert!(worktree.path.join("tests/test_login.py").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_squad_worktree_keeps_its_branch_for_the_next_prepare() {
    let fx = Fixture::new().await;
    let port = port(&fx);
    let worktree = prepared(&port).await;
    let work = commit(&port, &worktree.path, &[("a.txt", "a\n")]).await;

    port.remove(&worktree.path).await.expect("remove");
    assert!(!worktree.path.exists());
    port.remove(&worktree.path)
        .await
        .expect("removing a missing worktree succeeds");

    let again = prepared(&port).await;
    assert_eq!(again.path, worktree.path);
    assert_eq!(again.head_sha, work, "the branch stayed");
    assert_eq!(again.base_sha, worktree.base_sha);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_and_requests_outside_the_configuration_are_refused_untouched() {
    let fx = Fixture::new().await;
    let port = port(&fx);
    let stranger = tempfile::tempdir().expect("dir");
    std::fs::write(stranger.path().join("keep.txt"), "mine\n").expect("write");

    let error = port.remove(stranger.path()).await.expect_err("not ours");
    assert_eq!(error.kind(), PortErrorKind::Invalid, "{error}");
    assert!(
        stranger.path().join("keep.txt").exists(),
        "nothing was deleted"
    );
    let error = port
        .push(stranger.path(), BRANCH, None)
        .await
        .expect_err("not ours");
    assert_eq!(error.kind(), PortErrorKind::Invalid, "{error}");

    let mut unknown = request(SQUAD, BRANCH);
    unknown.repo = RepoRef::new("acme", "elsewhere");
    let error = port.prepare(&unknown).await.expect_err("not configured");
    assert_eq!(error.kind(), PortErrorKind::Invalid);
    assert!(error.to_string().contains("acme/elsewhere"), "{error}");

    let error = port
        .prepare(&request(SQUAD, "main"))
        .await
        .expect_err("the base branch is not a squad branch");
    assert_eq!(error.kind(), PortErrorKind::Invalid, "{error}");

    let worktree = prepared(&port).await;
    let error = port
        .push(&worktree.path, "main", Some(&worktree.base_sha))
        .await
        .expect_err("never push to the base");
    assert_eq!(error.kind(), PortErrorKind::Invalid, "{error}");
    let missing = worktree.path.join("nope");
    let error = port.head(&missing).await.expect_err("missing");
    assert_eq!(error.kind(), PortErrorKind::NotFound, "{error}");
    let unknown = CommitSha::new("0123456789abcdef0123456789abcdef01234567");
    let error = port
        .scratch(&worktree.path, &unknown)
        .await
        .expect_err("no such commit");
    assert_eq!(error.kind(), PortErrorKind::NotFound, "{error}");
    assert!(error.to_string().contains(unknown.as_str()), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn squads_of_one_repository_prepare_side_by_side() {
    let fx = Fixture::new().await;
    let port = port(&fx);
    let (first, second) = (
        request("squad-1", "eng-1-login"),
        request("squad-2", "eng-2-logout"),
    );
    let (one, two) = tokio::join!(port.prepare(&first), port.prepare(&second));
    let (one, two) = (one.expect("first squad"), two.expect("second squad"));
    assert_ne!(one.path, two.path);
    assert_eq!(one.base_sha, two.base_sha);

    let error = port
        .prepare(&request("squad-3", "eng-1-login"))
        .await
        .expect_err("a branch is checked out once");
    assert_eq!(error.kind(), PortErrorKind::Conflict, "{error}");
    assert!(error.to_string().contains("squad-1"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_an_auth_error_that_never_shows_the_token() {
    let fx = Fixture::new().await;
    let wrong = "ghs_wrong_secret_0815";
    let spec = RepositorySpec {
        slug: SLUG.to_owned(),
        clone_url: fx.spec.clone_url.clone(),
        base_branch: "main".to_owned(),
    };
    let port = GitWorkspaces::new(fx.workspace(), [(repo(), (spec, AccessToken::new(wrong)))]);
    let error = port
        .prepare(&request(SQUAD, BRANCH))
        .await
        .expect_err("refused");
    assert_eq!(error.kind(), PortErrorKind::Auth, "{error}");
    assert!(!format!("{error} {error:?}").contains(wrong));
    assert_eq!(
        files_containing(fx.data.path(), wrong.as_bytes()),
        Vec::<String>::new()
    );
}

/// A worktree's `.git` file is agent-writable: pointed at a repository of the agent's
/// making (another history, another HEAD), it must not change what the daemon reads, pushes
/// or hands to the harness as the git directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_gitlink_changes_nothing_the_daemon_reads_or_pushes() {
    let fx = Fixture::new().await;
    let port = port(&fx);
    let worktree = prepared(&port).await;
    assert_eq!(
        worktree.git_dir,
        fx.workspace()
            .mirror_path(&fx.spec)
            .join("worktrees")
            .join(SQUAD)
            .canonicalize()
            .expect("the mirror keeps the worktree's git directory"),
    );
    let sha = commit(&port, &worktree.path, &[("login.rs", "fn login() {}\n")]).await;

    let hostile = tempfile::tempdir().expect("dir");
    let output = std::process::Command::new("git")
        .args(["init", "--quiet", "--bare"])
        .arg(hostile.path())
        .output()
        .expect("git init");
    assert!(output.status.success());
    std::fs::write(hostile.path().join("HEAD"), "ref: refs/heads/elsewhere\n")
        .expect("hostile HEAD");
    std::fs::write(
        worktree.path.join(".git"),
        format!("gitdir: {}\n", hostile.path().display()),
    )
    .expect("rewrite the gitlink");

    assert_eq!(port.head(&worktree.path).await.expect("head"), sha);
    assert_eq!(
        port.changed_files(&worktree.path, &worktree.base_sha)
            .await
            .expect("changed files"),
        vec!["login.rs".to_owned()]
    );
    let pushed = port.push(&worktree.path, BRANCH, None).await.expect("push");
    assert_eq!(pushed, sha);
    assert_eq!(
        fx.standin.branch_head(SLUG, BRANCH).expect("branch"),
        Some(sha.to_string())
    );
    let again = port
        .prepare(&request(SQUAD, BRANCH))
        .await
        .expect("prepare again");
    assert_eq!(again.git_dir, worktree.git_dir);
    assert_eq!(again.head_sha, sha);
    assert_eq!(
        std::fs::read_to_string(worktree.path.join(".git")).expect("gitlink"),
        format!("gitdir: {}\n", worktree.git_dir.display()),
        "preparing again puts the gitlink back for git run in the sandbox"
    );
}
