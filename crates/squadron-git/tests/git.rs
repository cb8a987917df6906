//! The workspace against a stand-in GitHub over real HTTP and real git: mirrors,
//! worktrees, commits, pushes with lease, rebases and removal; the `Workspaces` port in
//! `git/workspaces.rs`.

use std::path::Path;

use squadron_core::Role;
use squadron_git::{
    AccessToken, BranchDisposal, CommitAuthor, GitErrorKind, PushOutcome, RebaseOutcome,
    RepositorySpec, Workspace,
};
use squadron_standin_github::GithubStandin;

#[path = "git/workspaces.rs"]
mod workspaces;

const SLUG: &str = "acme/shop";
const TOKEN: &str = "ghs_developer_secret_4711";
const BRANCH: &str = "alice/eng-1-login";

struct Fixture {
    standin: GithubStandin,
    data: tempfile::TempDir,
    spec: RepositorySpec,
    token: AccessToken,
}

impl Fixture {
    async fn new() -> Self {
        let standin = GithubStandin::start().await.expect("stand-in starts");
        standin.add_user("dev-bot", TOKEN).expect("user");
        standin
            .create_repo(
                SLUG,
                "main",
                &[
                    ("README.md", "# Shop\n"),
                    ("src/lib.rs", "one\ntwo\nthree\n"),
                ],
            )
            .expect("repository");
        let spec = RepositorySpec {
            slug: SLUG.to_owned(),
            clone_url: standin.clone_url(SLUG),
            base_branch: "main".to_owned(),
        };
        Self {
            standin,
            data: tempfile::tempdir().expect("data dir"),
            spec,
            token: AccessToken::new(TOKEN),
        }
    }

    fn workspace(&self) -> Workspace {
        Workspace::new(self.data.path())
    }
}

fn developer() -> CommitAuthor {
    CommitAuthor::for_role(Role::Developer)
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            hits.push(path.display().to_string());
        }
    }
    hits
}

#[tokio::test]
async fn a_commit_pushed_from_a_worktree_lands_on_the_remote_branch_and_the_token_stays_off_disk() {
    let fx = Fixture::new().await;
    let workspace = fx.workspace();
    let base = workspace
        .sync_mirror(&fx.spec, &fx.token)
        .await
        .expect("mirror");
    assert_eq!(
        Some(base.clone()),
        fx.standin.branch_head(SLUG, "main").expect("main")
    );

    let worktree = workspace
        .open_worktree(&fx.spec, BRANCH)
        .await
        .expect("worktree");
    assert!(!worktree.reused);
    std::fs::write(worktree.path.join("login.rs"), "fn login() {}\n").expect("write");
    let sha = workspace
        .commit_all(&worktree, &developer(), "ENG-1", "Add login")
        .await
        .expect("commit");
    let sha = sha.expect("a change was committed");
    assert_eq!(
        workspace
            .commit_all(&worktree, &developer(), "ENG-1", "Nothing")
            .await
            .expect("no-op"),
        None
    );

    let pushed = workspace
        .push(&worktree, &fx.token, None)
        .await
        .expect("push");
    assert_eq!(pushed, PushOutcome::Pushed { sha: sha.clone() });
    assert_eq!(
        fx.standin.branch_head(SLUG, BRANCH).expect("branch"),
        Some(sha.clone())
    );
    let commit = fx.standin.commit(SLUG, &sha).expect("commit");
    assert_eq!(
        (commit.author_name.as_str(), commit.author_email.as_str()),
        ("Squadron Developer", "developer@squadron.invalid")
    );
    assert_eq!(commit.message, "ENG-1: Add login\n");
    assert_eq!(commit.parents, vec![base]);
    assert_eq!(
        workspace.remote_head(&worktree).await.expect("remote head"),
        Some(sha)
    );

    assert_eq!(
        files_containing(fx.data.path(), TOKEN.as_bytes()),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_push_whose_lease_no_longer_holds_is_rejected_and_changes_nothing() {
    let fx = Fixture::new().await;
    let workspace = fx.workspace();
    workspace
        .sync_mirror(&fx.spec, &fx.token)
        .await
        .expect("mirror");
    let worktree = workspace
        .open_worktree(&fx.spec, BRANCH)
        .await
        .expect("worktree");
    std::fs::write(worktree.path.join("a.txt"), "a\n").expect("write");
    let first = workspace
        .commit_all(&worktree, &developer(), "ENG-1", "First")
        .await
        .expect("commit")
        .expect("sha");
    workspace
        .push(&worktree, &fx.token, None)
        .await
        .expect("push");

    let theirs = fx
        .standin
        .commit_files(SLUG, BRANCH, &[("b.txt", "b\n")], "Someone else")
        .expect("other push");
    std::fs::write(worktree.path.join("a.txt"), "aa\n").expect("write");
    workspace
        .commit_all(&worktree, &developer(), "ENG-1", "Second")
        .await
        .expect("commit");
    let outcome = workspace
        .push(&worktree, &fx.token, Some(&first))
        .await
        .expect("push answers");
    assert_eq!(outcome, PushOutcome::LeaseRejected);
    assert_eq!(
        fx.standin.branch_head(SLUG, BRANCH).expect("branch"),
        Some(theirs)
    );

    let again = workspace
        .push(&worktree, &fx.token, None)
        .await
        .expect("push answers");
    assert_eq!(
        again,
        PushOutcome::LeaseRejected,
        "an existing remote branch fails an empty lease"
    );
}

#[tokio::test]
async fn a_refused_token_gives_an_auth_error_that_never_shows_the_token() {
    let fx = Fixture::new().await;
    let wrong = "ghs_wrong_secret_0815";
    let error = fx
        .workspace()
        .sync_mirror(&fx.spec, &AccessToken::new(wrong))
        .await
        .expect_err("refused");
    assert_eq!(error.kind(), GitErrorKind::Auth, "{error}");
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(wrong), "{shown}");
    assert!(
        shown.contains(&fx.spec.clone_url),
        "the error names the remote: {shown}"
    );
    assert_eq!(
        files_containing(fx.data.path(), wrong.as_bytes()),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_restarted_workspace_reuses_the_worktree_and_its_unpushed_commit() {
    let fx = Fixture::new().await;
    let before = fx.workspace();
    before
        .sync_mirror(&fx.spec, &fx.token)
        .await
        .expect("mirror");
    let worktree = before
        .open_worktree(&fx.spec, BRANCH)
        .await
        .expect("worktree");
    std::fs::write(worktree.path.join("a.txt"), "a\n").expect("write");
    let sha = before
        .commit_all(&worktree, &developer(), "ENG-1", "Work")
        .await
        .expect("commit")
        .expect("sha");
    drop(before);

    let after = fx.workspace();
    after
        .sync_mirror(&fx.spec, &fx.token)
        .await
        .expect("mirror again");
    let listed = after.list_worktrees(&fx.spec).await.expect("list");
    assert_eq!(
        listed.iter().map(|w| w.branch.as_str()).collect::<Vec<_>>(),
        vec![BRANCH]
    );
    let reopened = after.open_worktree(&fx.spec, BRANCH).await.expect("reopen");
    assert!(reopened.reused);
    assert_eq!(reopened.path, worktree.path);
    assert_eq!(after.head(&reopened).await.expect("head"), sha);
}

#[tokio::test]
async fn a_branch_is_rebased_onto_a_moved_base() {
    let fx = Fixture::new().await;
    let workspace = fx.workspace();
    workspace
        .sync_mirror(&fx.spec, &fx.token)
        .await
        .expect("mirror");
    let worktree = workspace
        .open_worktree(&fx.spec, BRANCH)
        .await
        .expect("worktree");
    std::fs::write(worktree.path.join("a.txt"), "a\n").expect("write");
    workspace
        .commit_all(&worktree, &developer(), "ENG-1", "Mine")
        .await
        .expect("commit");
    assert!(matches!(
        workspace
            .rebase_onto_base(&worktree, &developer())
            .await
            .expect("rebase"),
        RebaseOutcome::UpToDate { .. }
    ));

    let new_base = fx
        .standin
        .commit_files(SLUG, "main", &[("b.txt", "b\n")], "Theirs")
        .expect("base moves");
    workspace
        .sync_mirror(&fx.spec, &fx.token)
        .await
        .expect("fetch");
    let RebaseOutcome::Rebased { head, .. } = workspace
        .rebase_onto_base(&worktree, &developer())
        .await
        .expect("rebase")
    else {
        panic!("expected a rebase");
    };
    assert_eq!(workspace.head(&worktree).await.expect("head"), head);
    assert!(worktree.path.join("a.txt").exists() && worktree.path.join("b.txt").exists());
    let pushed = workspace
        .push(&worktree, &fx.token, None)
        .await
        .expect("push");
    assert_eq!(pushed, PushOutcome::Pushed { sha: head.clone() });
    assert_eq!(
        fx.standin.commit(SLUG, &head).expect("commit").parents,
        vec![new_base]
    );
}

#[tokio::test]
async fn a_conflicting_rebase_reports_the_paths_and_leaves_the_branch_alone() {
    let fx = Fixture::new().await;
    let workspace = fx.workspace();
    workspace
        .sync_mirror(&fx.spec, &fx.token)
        .await
        .expect("mirror");
    let worktree = workspace
        .open_worktree(&fx.spec, BRANCH)
        .await
        .expect("worktree");
    std::fs::write(worktree.path.join("src/lib.rs"), "one\nMINE\nthree\n").expect("write");
    let mine = workspace
        .commit_all(&worktree, &developer(), "ENG-1", "Mine")
        .await
        .expect("commit")
        .expect("sha");
    fx.standin
        .commit_files(
            SLUG,
            "main",
            &[("src/lib.rs", "one\nTHEIRS\nthree\n")],
            "Theirs",
        )
        .expect("base");
    workspace
        .sync_mirror(&fx.spec, &fx.token)
        .await
        .expect("fetch");

    let outcome = workspace
        .rebase_onto_base(&worktree, &developer())
        .await
        .expect("rebase answers");
    let landed = fx
        .standin
        .branch_head(SLUG, "main")
        .expect("main")
        .expect("main exists");
    assert_eq!(
        outcome,
        RebaseOutcome::Conflicts {
            paths: vec!["src/lib.rs".to_owned()],
            landed: vec![landed],
        }
    );
    assert_eq!(workspace.head(&worktree).await.expect("head"), mine);
    assert_eq!(
        std::fs::read_to_string(worktree.path.join("src/lib.rs")).expect("read"),
        "one\nMINE\nthree\n"
    );
}

#[tokio::test]
async fn a_removed_worktree_is_gone_and_a_new_one_starts_fresh() {
    let fx = Fixture::new().await;
    let workspace = fx.workspace();
    workspace
        .sync_mirror(&fx.spec, &fx.token)
        .await
        .expect("mirror");
    let worktree = workspace
        .open_worktree(&fx.spec, BRANCH)
        .await
        .expect("worktree");
    std::fs::write(worktree.path.join("a.txt"), "a\n").expect("write");
    workspace
        .commit_all(&worktree, &developer(), "ENG-1", "Mine")
        .await
        .expect("commit");

    workspace
        .remove_worktree(&worktree, BranchDisposal::Delete)
        .await
        .expect("remove");
    assert!(!worktree.path.exists());
    assert!(
        workspace
            .list_worktrees(&fx.spec)
            .await
            .expect("list")
            .is_empty()
    );
    let fresh = workspace
        .open_worktree(&fx.spec, BRANCH)
        .await
        .expect("fresh worktree");
    assert!(!fresh.reused);
    assert!(
        !fresh.path.join("a.txt").exists(),
        "the deleted branch's commit is gone"
    );
}
