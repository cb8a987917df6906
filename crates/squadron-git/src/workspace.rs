//! The squads' git workspace: bare mirrors under `<data>/mirrors/<owner>/<name>.git`,
//! worktrees under `<data>/worktrees/<owner>/<name>/<dir>` (`<dir>` is the branch name here
//! and the squad id through [`crate::GitWorkspaces`]), found again after a restart by their
//! names, and detached scratch worktrees under `<data>/scratch/<owner>/<name>/`.

use std::path::{Path, PathBuf};

use git2::{
    BranchType, IndexAddOption, Oid, Repository, RepositoryOpenFlags, ResetType, StatusOptions,
    WorktreePruneOptions,
};

use crate::credentials::AccessToken;
use crate::error::GitError;
use crate::identity::CommitAuthor;
use crate::rebase::{self, ConflictedMerge, RebaseOutcome};
use crate::transport::{GitCli, PushOutcome, WorktreeStart};
use squadron_core::ports::LANDED_SHOWN;

/// A repository Squadron works on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositorySpec {
    /// `owner/name`.
    pub slug: String,
    /// The HTTPS clone URL, without credentials (`https://github.com/acme/shop.git`).
    pub clone_url: String,
    /// The branch squads start from and merge into (`main`).
    pub base_branch: String,
}

/// A squad's checkout of its issue branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SquadWorktree {
    pub slug: String,
    pub branch: String,
    pub base_branch: String,
    /// The directory agents work in.
    pub path: PathBuf,
    /// The worktree existed already (a restart) and was reused as it stood.
    pub reused: bool,
    mirror: PathBuf,
    remote: String,
    name: String,
}

impl SquadWorktree {
    /// The base branch's tip as the mirror last fetched it.
    fn base_tip(&self, git: &Repository) -> Result<Oid, GitError> {
        remote_tip(git, &self.base_branch).ok_or_else(|| GitError::UnknownBase {
            branch: self.base_branch.clone(),
            remote: self.remote.clone(),
        })
    }

    /// The worktree registered as `name` in `repo`'s mirror at `path`, found on disk rather
    /// than opened by [`Workspace::open_worktree`]; `branch` is the branch to push and
    /// rebase, `base_branch` the one to rebase onto.
    pub(crate) fn located(
        workspace: &Workspace,
        repo: &RepositorySpec,
        path: PathBuf,
        name: String,
        branch: String,
    ) -> Self {
        Self {
            slug: repo.slug.clone(),
            branch,
            base_branch: repo.base_branch.clone(),
            path,
            reused: true,
            mirror: workspace.mirror_path(repo),
            remote: repo.clone_url.clone(),
            name,
        }
    }
}

impl SquadWorktree {
    /// The worktree's repository, opened through the mirror's record of it.
    pub(crate) fn open(&self) -> Result<Repository, GitError> {
        open_registered(&self.mirror, &self.name, &self.path)
    }

    /// The worktree's own git directory (`<mirror>/worktrees/<name>`), from the mirror's
    /// record; what every git command the daemon runs in the worktree is pointed at.
    pub fn git_dir(&self) -> Result<PathBuf, GitError> {
        Ok(canonical(self.open()?.path()))
    }
}

/// A squad worktree known to its mirror, whose files may still have to be written
/// ([`Workspace::check_out`]).
#[derive(Debug)]
pub(crate) struct Registered {
    pub worktree: SquadWorktree,
    /// The files are there: a worktree reused after a restart.
    checked_out: bool,
}

/// What [`open_or_create`] found to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// The worktree exists with its files.
    Reuse,
    /// The worktree is registered but its checkout never finished (the daemon stopped
    /// between the two): write its files.
    CheckOut,
    /// Register a new worktree on the (now existing) local branch.
    Add,
}

/// Whether removing a worktree also deletes its local branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BranchDisposal {
    Keep,
    Delete,
}

/// Mirrors and worktrees under one data directory; see the module docs for the layout.
#[derive(Clone, Debug)]
pub struct Workspace {
    data_dir: PathBuf,
    cli: GitCli,
}

impl Workspace {
    /// A workspace under `data_dir` using the `git` program found on the standard path.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self::with_git_program(data_dir, PathBuf::from("git"))
    }

    /// A workspace whose network transfers run `git_program`.
    pub fn with_git_program(data_dir: impl Into<PathBuf>, git_program: PathBuf) -> Self {
        Self {
            data_dir: data_dir.into(),
            cli: GitCli::new(git_program),
        }
    }

    /// Where the bare mirror of `repo` lives.
    pub fn mirror_path(&self, repo: &RepositorySpec) -> PathBuf {
        self.data_dir
            .join("mirrors")
            .join(format!("{}.git", repo.slug))
    }

    fn worktree_root(&self, repo: &RepositorySpec) -> PathBuf {
        self.data_dir.join("worktrees").join(&repo.slug)
    }

    /// Where detached scratch worktrees of `repo` live.
    pub(crate) fn scratch_root(&self, repo: &RepositorySpec) -> PathBuf {
        self.data_dir.join("scratch").join(&repo.slug)
    }

    /// Creates the mirror on first use and fetches every branch of the remote into
    /// `refs/remotes/origin/*`; returns the base branch's tip. Two fetches into one mirror
    /// at once fail on git's ref locks: callers serialise them ([`crate::GitWorkspaces`]
    /// does, per repository).
    pub async fn sync_mirror(
        &self,
        repo: &RepositorySpec,
        token: &AccessToken,
    ) -> Result<String, GitError> {
        let mirror = self.mirror_path(repo);
        let url = repo.clone_url.clone();
        let path = mirror.clone();
        blocking(move || prepare_mirror(&path, &url)).await?;
        self.cli.fetch(&mirror, &repo.clone_url, token).await?;
        let base = repo.base_branch.clone();
        let remote = repo.clone_url.clone();
        blocking(move || {
            let git = Repository::open_bare(&mirror)
                .map_err(GitError::git("open the mirror", &mirror))?;
            remote_tip(&git, &base)
                .map(|oid| oid.to_string())
                .ok_or(GitError::UnknownBase {
                    branch: base,
                    remote,
                })
        })
        .await
    }

    /// The squad's worktree on `branch`: the existing one after a restart, else a new one
    /// on the existing local or remote branch, else on a new branch from the base tip of
    /// the last [`Self::sync_mirror`].
    pub async fn open_worktree(
        &self,
        repo: &RepositorySpec,
        branch: &str,
    ) -> Result<SquadWorktree, GitError> {
        self.open_named_worktree(repo, branch, branch).await
    }

    /// Like [`Self::open_worktree`], with the directory named after `label` (made safe for
    /// git) instead of the branch.
    pub(crate) async fn open_named_worktree(
        &self,
        repo: &RepositorySpec,
        branch: &str,
        label: &str,
    ) -> Result<SquadWorktree, GitError> {
        let registered = self.register_worktree(repo, branch, label).await?;
        self.check_out(registered).await
    }

    /// The first half of [`Self::open_named_worktree`], the half that writes to the mirror
    /// and so must not run beside another write to it: finds the squad's worktree or
    /// registers a new one, without writing its files yet.
    pub(crate) async fn register_worktree(
        &self,
        repo: &RepositorySpec,
        branch: &str,
        label: &str,
    ) -> Result<Registered, GitError> {
        check_branch_name(branch)?;
        let name = worktree_name(label);
        let worktree = SquadWorktree {
            slug: repo.slug.clone(),
            branch: branch.to_owned(),
            base_branch: repo.base_branch.clone(),
            path: self.worktree_root(repo).join(&name),
            reused: false,
            mirror: self.mirror_path(repo),
            remote: repo.clone_url.clone(),
            name,
        };
        let (worktree, plan) = blocking(move || open_or_create(worktree)).await?;
        if plan == Plan::Add {
            let local = worktree.branch.clone();
            self.cli
                .add_worktree(
                    &worktree.mirror,
                    &worktree.path,
                    WorktreeStart::Branch(&local),
                )
                .await?;
        }
        let checked_out = plan == Plan::Reuse;
        let worktree = blocking(move || {
            // git names a worktree after its directory unless that name is taken; ours
            // must be the name, since every later operation finds the worktree by it.
            worktree.open()?;
            Ok(worktree)
        })
        .await?;
        Ok(Registered {
            worktree,
            checked_out,
        })
    }

    /// The second half of [`Self::open_named_worktree`]: writes the files of a newly
    /// registered worktree. It touches only that worktree's index and files, so it needs
    /// no lock on the mirror and checkouts of one repository run side by side.
    pub(crate) async fn check_out(
        &self,
        registered: Registered,
    ) -> Result<SquadWorktree, GitError> {
        let Registered {
            worktree,
            checked_out,
        } = registered;
        if !checked_out {
            let git_dir = worktree.git_dir()?;
            self.cli.check_out(&git_dir, &worktree.path).await?;
        }
        Ok(worktree)
    }

    /// Registers a scratch worktree at `path` in `mirror`, detached at the commit `sha`,
    /// without its files ([`Self::check_out_detached`] writes them).
    pub(crate) async fn add_detached(
        &self,
        mirror: &Path,
        path: &Path,
        sha: &str,
    ) -> Result<(), GitError> {
        self.cli
            .add_worktree(mirror, path, WorktreeStart::Detached(sha))
            .await
    }

    /// Writes the files of the scratch worktree at `path`, found through `mirror`'s record.
    pub(crate) async fn check_out_detached(
        &self,
        mirror: &Path,
        path: &Path,
    ) -> Result<(), GitError> {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (at_mirror, at_path) = (mirror.to_path_buf(), path.to_path_buf());
        let git_dir = blocking(move || {
            Ok(canonical(
                open_registered(&at_mirror, &name, &at_path)?.path(),
            ))
        })
        .await?;
        self.cli.check_out(&git_dir, path).await
    }

    /// Every squad worktree of `repo` on disk, for a restarted daemon to pick up.
    pub async fn list_worktrees(
        &self,
        repo: &RepositorySpec,
    ) -> Result<Vec<SquadWorktree>, GitError> {
        let mirror = self.mirror_path(repo);
        let root = self.worktree_root(repo);
        let repo = repo.clone();
        blocking(move || {
            if !mirror.exists() {
                return Ok(Vec::new());
            }
            let git = Repository::open_bare(&mirror)
                .map_err(GitError::git("open the mirror", &mirror))?;
            let names = git
                .worktrees()
                .map_err(GitError::git("list worktrees", &mirror))?;
            let mut found = Vec::new();
            for name in names.iter().flatten().flatten() {
                let path = root.join(name);
                let Ok(checkout) = open_registered(&mirror, name, &path) else {
                    continue;
                };
                let Some(branch) = checkout
                    .head()
                    .ok()
                    .and_then(|h| h.shorthand().ok().map(str::to_owned))
                else {
                    continue;
                };
                found.push(SquadWorktree {
                    slug: repo.slug.clone(),
                    branch,
                    base_branch: repo.base_branch.clone(),
                    path,
                    reused: true,
                    mirror: mirror.clone(),
                    remote: repo.clone_url.clone(),
                    name: name.to_owned(),
                });
            }
            Ok(found)
        })
        .await
    }

    /// Stages every change in the worktree (new, modified, deleted; ignored files stay
    /// out) and commits it as `author` with the subject `<issue>: <summary>`. Returns the
    /// new commit, or `None` when there was nothing to commit.
    pub async fn commit_all(
        &self,
        worktree: &SquadWorktree,
        author: &CommitAuthor,
        issue: &str,
        summary: &str,
    ) -> Result<Option<String>, GitError> {
        let path = worktree.path.clone();
        let author = author.clone();
        let message = format!("{issue}: {summary}\n");
        let mirror = worktree.mirror.clone();
        let name = worktree.name.clone();
        blocking(move || {
            let fail = |action| GitError::git(action, &path);
            let git = open_registered(&mirror, &name, &path)?;
            let mut index = git.index().map_err(fail("read the index"))?;
            index
                .add_all(["*"], IndexAddOption::DEFAULT, None)
                .map_err(fail("stage changes"))?;
            index
                .update_all(["*"], None)
                .map_err(fail("stage deletions"))?;
            index.write().map_err(fail("write the index"))?;
            let tree = index.write_tree().map_err(fail("write the tree"))?;
            let parent = git
                .head()
                .and_then(|h| h.peel_to_commit())
                .map_err(fail("read HEAD"))?;
            if parent.tree_id() == tree {
                return Ok(None);
            }
            let tree = git.find_tree(tree).map_err(fail("read the tree"))?;
            let signature = author.signature().map_err(fail("build the signature"))?;
            let oid = git
                .commit(
                    Some("HEAD"),
                    &signature,
                    &signature,
                    &message,
                    &tree,
                    &[&parent],
                )
                .map_err(fail("commit"))?;
            Ok(Some(oid.to_string()))
        })
        .await
    }

    /// Commits on the worktree's branch the revert of `sha` (of its first parent's side
    /// when it is a merge commit) as `author`, with git's own message (`Revert "<subject>"`,
    /// `This reverts commit <sha>.`), and checks it out. A branch whose head already reverts
    /// `sha` is left as it is, so a repeated revert adds nothing. Returns the branch's head.
    pub async fn commit_revert(
        &self,
        worktree: &SquadWorktree,
        author: &CommitAuthor,
        sha: &str,
    ) -> Result<String, GitError> {
        let path = worktree.path.clone();
        let author = author.clone();
        let mirror = worktree.mirror.clone();
        let name = worktree.name.clone();
        let slug = worktree.slug.clone();
        let sha = sha.to_owned();
        blocking(move || {
            let fail = |action| GitError::git(action, &path);
            let git = open_registered(&mirror, &name, &path)?;
            let unknown = || GitError::UnknownCommit {
                sha: sha.clone(),
                slug: slug.clone(),
            };
            let oid = Oid::from_str(&sha).map_err(|_| unknown())?;
            let reverted = git.find_commit(oid).map_err(|_| unknown())?;
            let head = git
                .head()
                .and_then(|h| h.peel_to_commit())
                .map_err(fail("read HEAD"))?;
            let marker = format!("This reverts commit {sha}.");
            if head
                .message()
                .is_ok_and(|message| message.contains(&marker))
            {
                return Ok(head.id().to_string());
            }
            let mainline = if reverted.parent_count() > 1 { 1 } else { 0 };
            let mut index = git
                .revert_commit(&reverted, &head, mainline, None)
                .map_err(fail("revert the commit"))?;
            if index.has_conflicts() {
                let paths: Vec<String> = index
                    .conflicts()
                    .map_err(fail("read the conflicts"))?
                    .filter_map(Result::ok)
                    .filter_map(|conflict| conflict.our.or(conflict.their))
                    .map(|entry| String::from_utf8_lossy(&entry.path).into_owned())
                    .collect();
                return Err(GitError::RevertConflict {
                    sha,
                    path,
                    paths: paths.join(", "),
                });
            }
            let tree = index.write_tree_to(&git).map_err(fail("write the tree"))?;
            let tree = git.find_tree(tree).map_err(fail("read the tree"))?;
            let subject = reverted.summary().ok().flatten().unwrap_or_default();
            let message = format!("Revert \"{subject}\"\n\n{marker}\n");
            let signature = author.signature().map_err(fail("build the signature"))?;
            let oid = git
                .commit(
                    Some("HEAD"),
                    &signature,
                    &signature,
                    &message,
                    &tree,
                    &[&head],
                )
                .map_err(fail("commit the revert"))?;
            let commit = git
                .find_object(oid, None)
                .map_err(fail("read the revert"))?;
            git.reset(&commit, ResetType::Hard, None)
                .map_err(fail("check out the revert"))?;
            Ok(oid.to_string())
        })
        .await
    }

    /// The commit the worktree's branch points at.
    pub async fn head(&self, worktree: &SquadWorktree) -> Result<String, GitError> {
        let worktree = worktree.clone();
        blocking(move || {
            let path = &worktree.path;
            let git = worktree.open()?;
            let head = git
                .head()
                .and_then(|h| h.peel_to_commit())
                .map_err(GitError::git("read HEAD", path))?;
            Ok(head.id().to_string())
        })
        .await
    }

    /// Where the remote branch stood at the last fetch or push, if it exists there.
    pub async fn remote_head(&self, worktree: &SquadWorktree) -> Result<Option<String>, GitError> {
        let mirror = worktree.mirror.clone();
        let branch = worktree.branch.clone();
        blocking(move || {
            let git = Repository::open_bare(&mirror)
                .map_err(GitError::git("open the mirror", &mirror))?;
            Ok(remote_tip(&git, &branch).map(|oid| oid.to_string()))
        })
        .await
    }

    /// Pushes the worktree's head to the squad branch with lease semantics: the remote
    /// branch moves only if it is at `expected_remote` (`None`: the branch must not exist on
    /// the remote yet).
    pub async fn push(
        &self,
        worktree: &SquadWorktree,
        token: &AccessToken,
        expected_remote: Option<&str>,
    ) -> Result<PushOutcome, GitError> {
        // The commit is read once and pushed by SHA, so the reported SHA is exactly the one
        // that landed even if the worktree moves on meanwhile.
        let sha = self.head(worktree).await?;
        let pushed = self
            .cli
            .push(
                &worktree.mirror,
                &worktree.remote,
                &sha,
                &worktree.branch,
                expected_remote,
                token,
            )
            .await?;
        if !pushed {
            return Ok(PushOutcome::LeaseRejected);
        }
        Ok(PushOutcome::Pushed { sha })
    }

    /// Replays the squad branch onto the base tip of the last [`Self::sync_mirror`]. On
    /// conflicts nothing changes and the conflicting paths are reported.
    pub async fn rebase_onto_base(
        &self,
        worktree: &SquadWorktree,
        committer: &CommitAuthor,
    ) -> Result<RebaseOutcome, GitError> {
        let worktree = worktree.clone();
        let committer = committer.clone();
        blocking(move || {
            let path = &worktree.path;
            let fail = |action| GitError::git(action, path);
            let git = worktree.open()?;
            let mut options = StatusOptions::new();
            options
                .include_untracked(true)
                .include_ignored(false)
                .exclude_submodules(true);
            if !git
                .statuses(Some(&mut options))
                .map_err(fail("read the status"))?
                .is_empty()
            {
                return Err(GitError::DirtyWorktree { path: path.clone() });
            }
            let onto = worktree.base_tip(&git)?;
            let head = git
                .head()
                .and_then(|h| h.peel_to_commit())
                .map_err(fail("read HEAD"))?
                .id();
            if head == onto
                || git
                    .graph_descendant_of(head, onto)
                    .map_err(fail("compare with the base"))?
            {
                return Ok(RebaseOutcome::UpToDate {
                    head: head.to_string(),
                });
            }
            match rebase::replay(&git, onto, head, &committer).map_err(fail("replay commits"))? {
                Err(paths) => Ok(RebaseOutcome::Conflicts {
                    paths,
                    landed: rebase::landed(&git, onto, head, LANDED_SHOWN)
                        .map_err(fail("list the base's new commits"))?,
                }),
                Ok(tip) => {
                    let commit = git
                        .find_object(tip, None)
                        .map_err(fail("read the rebased tip"))?;
                    // HEAD is the branch, so a hard reset moves the branch and the files.
                    git.reset(&commit, ResetType::Hard, None)
                        .map_err(fail("check out the rebased tip"))?;
                    Ok(RebaseOutcome::Rebased {
                        head: tip.to_string(),
                        base: onto.to_string(),
                    })
                }
            }
        })
        .await
    }

    /// Moves the squad branch to the base tip of the last [`Self::sync_mirror`] and leaves
    /// the change `head` made since it forked from the base in the worktree, uncommitted,
    /// with conflict markers where both sides changed the same lines. Whatever the worktree
    /// held is discarded, so a repeated call starts afresh from `head`.
    pub async fn merge_onto_base(
        &self,
        worktree: &SquadWorktree,
        head: &str,
    ) -> Result<ConflictedMerge, GitError> {
        let worktree = worktree.clone();
        let head = head.to_owned();
        blocking(move || {
            let path = &worktree.path;
            let fail = |action| GitError::git(action, path);
            let git = worktree.open()?;
            let onto = worktree.base_tip(&git)?;
            let head = Oid::from_str(&head).map_err(fail("read the branch head"))?;
            let short = |oid: Oid| oid.to_string().chars().take(12).collect::<String>();
            let base_label = format!("{} ({})", worktree.base_branch, short(onto));
            let branch_label = format!("{} ({})", worktree.branch, short(head));
            let labels = [
                base_label.as_str(),
                "where the branch forked",
                branch_label.as_str(),
            ];
            rebase::merge_onto(&git, onto, head, labels, LANDED_SHOWN)
                .map_err(fail("merge the branch onto the base"))
        })
        .await
    }

    /// Removes the worktree's directory and git's record of it; with
    /// [`BranchDisposal::Delete`] also the local branch (the remote branch stays).
    pub async fn remove_worktree(
        &self,
        worktree: &SquadWorktree,
        branch: BranchDisposal,
    ) -> Result<(), GitError> {
        let worktree = worktree.clone();
        blocking(move || {
            let mirror = &worktree.mirror;
            let git =
                Repository::open_bare(mirror).map_err(GitError::git("open the mirror", mirror))?;
            if let Ok(registered) = git.find_worktree(&worktree.name) {
                let mut options = WorktreePruneOptions::new();
                options.valid(true).locked(true).working_tree(true);
                registered
                    .prune(Some(&mut options))
                    .map_err(GitError::git("prune the worktree", mirror))?;
            }
            if worktree.path.exists() {
                std::fs::remove_dir_all(&worktree.path).map_err(GitError::io(
                    "delete the worktree directory",
                    &worktree.path,
                ))?;
            }
            if branch == BranchDisposal::Delete
                && let Ok(mut local) = git.find_branch(&worktree.branch, BranchType::Local)
            {
                local
                    .delete()
                    .map_err(GitError::git("delete the local branch", mirror))?;
            }
            Ok(())
        })
        .await
    }
}

/// A worktree name git accepts (no slashes) made from a branch name or squad id.
pub(crate) fn worktree_name(label: &str) -> String {
    let name: String = label
        .chars()
        .enumerate()
        .map(|(i, c)| {
            // A leading dot would allow `.` and `..`, which name no directory of ours.
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') || (c == '.' && i > 0) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        "-".to_owned()
    } else {
        name
    }
}

pub(crate) fn remote_tip(git: &Repository, branch: &str) -> Option<Oid> {
    git.refname_to_id(&format!("refs/remotes/origin/{branch}"))
        .ok()
}

fn prepare_mirror(path: &Path, url: &str) -> Result<(), GitError> {
    let git = match Repository::open_bare(path) {
        Ok(git) => git,
        Err(_) => {
            std::fs::create_dir_all(path)
                .map_err(GitError::io("create the mirror directory", path))?;
            Repository::init_bare(path).map_err(GitError::git("create the mirror", path))?
        }
    };
    match git.find_remote("origin") {
        Ok(remote) if remote.url().ok() == Some(url) => Ok(()),
        Ok(_) => git
            .remote_set_url("origin", url)
            .map_err(GitError::git("update the mirror's remote", path)),
        Err(_) => git
            .remote_with_fetch("origin", url, "+refs/heads/*:refs/remotes/origin/*")
            .map(|_| ())
            .map_err(GitError::git("add the mirror's remote", path)),
    }
}

fn open_or_create(mut worktree: SquadWorktree) -> Result<(SquadWorktree, Plan), GitError> {
    let mirror = worktree.mirror.clone();
    let fail = |action| GitError::git(action, &mirror);
    if !mirror.exists() {
        return Err(GitError::MirrorMissing(worktree.slug));
    }
    let git = Repository::open_bare(&mirror).map_err(fail("open the mirror"))?;
    let local = format!("refs/heads/{}", worktree.branch);
    if let Ok(existing) = git.find_worktree(&worktree.name) {
        if existing.validate().is_ok() && worktree.path.exists() {
            let found = checked_out_ref(&git, &existing);
            if found.as_deref() != Some(local.as_str()) {
                return Err(GitError::WorktreeOnOtherBranch {
                    path: worktree.path,
                    wanted: worktree.branch,
                    found: found.map_or_else(
                        || "a detached HEAD".to_owned(),
                        |r| format!("`{}`", r.trim_start_matches("refs/heads/")),
                    ),
                });
            }
            worktree.reused = true;
            let checkout = worktree.open()?;
            restore_gitlink(&worktree.path, &canonical(checkout.path()))?;
            // The checkout writes the index last, so a worktree without one was registered
            // and never (or not wholly) checked out.
            let plan = if checkout.path().join("index").exists() {
                Plan::Reuse
            } else {
                Plan::CheckOut
            };
            return Ok((worktree, plan));
        }
        // The directory vanished (or was never completed): forget it and start afresh.
        let mut options = WorktreePruneOptions::new();
        options.valid(true).locked(true).working_tree(true);
        existing
            .prune(Some(&mut options))
            .map_err(fail("prune a stale worktree"))?;
    }
    if worktree.path.exists() {
        std::fs::remove_dir_all(&worktree.path).map_err(GitError::io(
            "clear a leftover worktree directory",
            &worktree.path,
        ))?;
    }
    // git refuses a second checkout of a branch; say which worktree holds it.
    let names = git.worktrees().map_err(fail("list worktrees"))?;
    for name in names.iter().flatten().flatten() {
        if let Ok(other) = git.find_worktree(name)
            && checked_out_ref(&git, &other).as_deref() == Some(local.as_str())
        {
            return Err(GitError::BranchInUse {
                branch: worktree.branch,
                path: other.path().to_path_buf(),
            });
        }
    }
    if git.find_reference(&local).is_err() {
        let start = remote_tip(&git, &worktree.branch)
            .or_else(|| remote_tip(&git, &worktree.base_branch))
            .ok_or_else(|| GitError::UnknownBase {
                branch: worktree.base_branch.clone(),
                remote: worktree.remote.clone(),
            })?;
        git.reference(&local, start, false, "squadron: start squad branch")
            .map_err(fail("create the branch"))?;
    }
    if let Some(parent) = worktree.path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(GitError::io("create the worktree directory", parent))?;
    }
    Ok((worktree, Plan::Add))
}

/// The worktree registered as `name` in `mirror`, opened through the mirror's record of its
/// git directory and never through the worktree's `.git` file: commands agents run in the
/// worktree can rewrite that file to point at a repository of their own making, whose
/// config and HEAD would then steer the daemon's git work. Refused unless the record says
/// the worktree lives at `path`.
pub(crate) fn open_registered(
    mirror: &Path,
    name: &str,
    path: &Path,
) -> Result<Repository, GitError> {
    if !path.exists() {
        return Err(GitError::WorktreeMissing {
            path: path.to_path_buf(),
        });
    }
    let not_ours = || GitError::NotAWorktree {
        path: path.to_path_buf(),
    };
    let git = Repository::open_bare(mirror).map_err(GitError::git("open the mirror", mirror))?;
    let registered = git.find_worktree(name).map_err(|_| not_ours())?;
    if !same_place(registered.path(), path) {
        return Err(not_ours());
    }
    let checkout = open_git_dir(&git, name).map_err(GitError::git("open the worktree", path))?;
    // The work tree is the path just checked against the record, whatever a config says.
    checkout
        .set_workdir(path, false)
        .map_err(GitError::git("open the worktree", path))?;
    Ok(checkout)
}

/// Opens the git directory the mirror `git` keeps for its worktree `name` as it is, with no
/// search and no `.git` appended. `Repository::open_from_worktree` is no substitute: libgit2
/// opens that through the worktree's `.git` file.
pub(crate) fn open_git_dir(git: &Repository, name: &str) -> Result<Repository, git2::Error> {
    let git_dir = git.path().join("worktrees").join(name);
    Repository::open_ext(
        &git_dir,
        RepositoryOpenFlags::NO_SEARCH | RepositoryOpenFlags::NO_DOTGIT,
        std::iter::empty::<&std::ffi::OsStr>(),
    )
}

pub(crate) fn same_place(a: &Path, b: &Path) -> bool {
    canonical(a) == canonical(b)
}

/// `path` with symbolic links resolved; for a path that no longer exists, its parent's
/// resolved form joined with its name.
pub(crate) fn canonical(path: &Path) -> PathBuf {
    if let Ok(resolved) = path.canonicalize() {
        return resolved;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => parent
            .canonicalize()
            .map_or_else(|_| path.to_path_buf(), |parent| parent.join(name)),
        _ => path.to_path_buf(),
    }
}

/// Writes the worktree's `.git` file afresh, as git writes it (naming `git_dir`), whatever
/// a command left in its place: the daemon's git never reads it, but git run in the sandbox
/// does. The old entry is removed first, so nothing is written through a symlink.
fn restore_gitlink(path: &Path, git_dir: &Path) -> Result<(), GitError> {
    let gitlink = path.join(".git");
    let fail = || GitError::io("restore the worktree's .git file", &gitlink);
    match std::fs::symlink_metadata(&gitlink) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&gitlink).map_err(fail())?,
        Ok(_) => std::fs::remove_file(&gitlink).map_err(fail())?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(fail()(error)),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&gitlink)
        .map_err(fail())?;
    std::io::Write::write_all(
        &mut file,
        format!("gitdir: {}\n", git_dir.display()).as_bytes(),
    )
    .map_err(fail())
}

/// The ref a worktree's HEAD names (`refs/heads/<branch>`), `None` when it is detached or
/// unreadable.
fn checked_out_ref(git: &Repository, worktree: &git2::Worktree) -> Option<String> {
    let checkout = open_git_dir(git, worktree.name().ok().flatten()?).ok()?;
    let head = checkout.find_reference("HEAD").ok()?;
    head.symbolic_target().ok().flatten().map(str::to_owned)
}

pub(crate) fn check_branch_name(branch: &str) -> Result<(), GitError> {
    if git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        Ok(())
    } else {
        Err(GitError::InvalidBranch(branch.to_owned()))
    }
}

/// Runs blocking git work off the async runtime's threads.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, GitError> + Send + 'static,
) -> Result<T, GitError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| GitError::Panicked)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worktree_names_replace_slashes_and_keep_the_rest() {
        assert_eq!(
            worktree_name("alice/eng-123-fix-login"),
            "alice-eng-123-fix-login"
        );
        assert_eq!(worktree_name("eng-7_v2.1"), "eng-7_v2.1");
        assert_eq!(worktree_name(".."), "-.");
        assert_eq!(worktree_name(""), "-");
    }
}
