//! The workspaces port: the local git worktrees squads work in, and the fetches, pushes,
//! rebases and scratch checkouts around them.
//!
//! Every operation is safe to repeat after a restart: preparing reuses an existing worktree,
//! pushing a head the remote already has changes nothing, removing a missing worktree
//! succeeds.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::code_host::RepoRef;
use super::error::PortError;
use crate::domain::SquadId;
use crate::gate::CommitSha;

/// Where a squad works: which repository, and which branch off which base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorktreeRequest {
    /// The squad; names the worktree's directory.
    pub squad: SquadId,
    /// The repository on the code host.
    pub repo: RepoRef,
    /// The branch pull requests target (`main`).
    pub base_branch: String,
    /// The squad's branch (the tracker's suggested branch name).
    pub branch: String,
}

/// A worktree ready for work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedWorktree {
    /// Its directory.
    pub path: PathBuf,
    /// Its git directory, as the mirror records it. Every git command the daemon runs in the
    /// worktree is pointed at it: the worktree's own `.git` file is agent-writable and must
    /// never decide which repository (and whose config) the daemon's git obeys.
    pub git_dir: PathBuf,
    /// The base commit the branch starts from: the base tip for a new branch, the merge base
    /// with the base branch for a reused one.
    pub base_sha: CommitSha,
    /// The branch's current head.
    pub head_sha: CommitSha,
    /// The branch's tip on the remote, `None` when it was never pushed; the lease of the
    /// next push.
    pub remote_sha: Option<CommitSha>,
}

/// How a rebase onto the base branch's current tip ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RebaseOutcome {
    /// The branch now sits on the new base.
    Rebased {
        /// The new head.
        head: CommitSha,
        /// The base tip it sits on.
        base: CommitSha,
    },
    /// The branch already contains the base tip; nothing changed.
    UpToDate,
    /// The branch conflicts with the base; the rebase was abandoned and the worktree is as
    /// it was.
    Conflict {
        /// Files that conflict.
        paths: Vec<String>,
        /// The commits on the base since the branch forked from it, newest first (at most
        /// [`LANDED_SHOWN`]): what the branch conflicts with.
        landed: Vec<CommitSha>,
    },
}

/// A squad's head merged with the current tip of its base, made to be tested before the PR
/// merges: the head passed its tests alone, but the base may have moved on in a way the
/// change does not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MergeTrial {
    /// The head contains the base tip: the merge result is the head, already tested.
    UpToDate,
    /// A detached scratch worktree (not the squad's) holding the merge of the head and the
    /// base tip; remove it with [`Workspaces::remove`].
    Merged {
        /// The scratch worktree.
        path: PathBuf,
        /// The base tip merged in.
        base: CommitSha,
    },
    /// The head does not merge cleanly with the base tip; nothing was left behind.
    Conflict {
        /// Files that conflict.
        paths: Vec<String>,
    },
}

/// The most commits of the base a conflict names as landed since the branch forked.
pub const LANDED_SHOWN: usize = 50;

/// The branch's change merged into the base's current tip, uncommitted in the worktree, as
/// [`Workspaces::merge_onto_base`] left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictedMerge {
    /// The base tip the branch now sits on.
    pub base: CommitSha,
    /// Files left with conflict markers (or changed on one side and deleted on the other),
    /// sorted.
    pub conflicts: Vec<String>,
    /// Every file the uncommitted change touches, conflicting or not, sorted.
    pub changed: Vec<String>,
    /// The commits on the base since the branch forked from it, newest first (at most
    /// [`LANDED_SHOWN`]).
    pub landed: Vec<CommitSha>,
}

/// What a branch's own change is, whatever base it sits on: the stable patch id (as
/// `git patch-id --stable` computes it) of the diff from where the branch forked from its
/// base to its head. A rebase that applied cleanly keeps it; resolving a conflict or any
/// other edit changes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PatchId(String);

impl PatchId {
    /// The patch id in hex.
    pub fn new(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }

    /// The patch id in hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PatchId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Local git worktrees, one per squad, over a mirror of each repository.
///
/// Errors use [`PortErrorKind::Conflict`](super::PortErrorKind::Conflict) when a push's lease
/// no longer holds (someone else moved the branch) and `Transient` for network failures.
#[async_trait]
pub trait Workspaces: Send + Sync {
    /// Fetches the repository's mirror and creates the squad's worktree on `branch` from
    /// the current base tip, or reuses the worktree (and branch) a previous attempt left.
    async fn prepare(&self, request: &WorktreeRequest) -> Result<PreparedWorktree, PortError>;

    /// The worktree's current head commit.
    async fn head(&self, worktree: &Path) -> Result<CommitSha, PortError>;

    /// Commits on the worktree's branch the revert of `commit` (of its first parent's side
    /// when it is a merge commit) as the Developer, with git's own message (`Revert
    /// "<subject>"`, `This reverts commit <sha>.`), and checks it out. A head that already
    /// reverts `commit` is left as it is. Returns the branch's head. A revert that collides
    /// with later changes fails as [`Conflict`](super::PortErrorKind::Conflict) naming the
    /// paths, a commit the repository lacks as `NotFound`.
    async fn commit_revert(
        &self,
        worktree: &Path,
        commit: &CommitSha,
    ) -> Result<CommitSha, PortError>;

    /// Pushes the worktree's head to `branch`, only if the remote branch is still at
    /// `expected_remote` (`None`: the branch must not exist yet). Pushing a head the remote
    /// already has is a success. Returns the pushed head.
    async fn push(
        &self,
        worktree: &Path,
        branch: &str,
        expected_remote: Option<&CommitSha>,
    ) -> Result<CommitSha, PortError>;

    /// Fetches and rebases the worktree's branch onto the current tip of `base_branch`.
    async fn rebase(&self, worktree: &Path, base_branch: &str) -> Result<RebaseOutcome, PortError>;

    /// Fetches, moves the worktree's branch to the current tip of `base_branch` and leaves
    /// the change `head` made since it forked from the base merged into the worktree,
    /// uncommitted, with conflict markers (diff3 style: base, where the branch forked, the
    /// branch) in the files both sides changed. Whatever the worktree held is discarded
    /// first, so repeating it starts afresh from `head` (the pushed branch).
    async fn merge_onto_base(
        &self,
        worktree: &Path,
        base_branch: &str,
        head: &CommitSha,
    ) -> Result<ConflictedMerge, PortError>;

    /// Fetches and says whether the worktree's head contains the current tip of
    /// `base_branch`.
    async fn contains_base_tip(
        &self,
        worktree: &Path,
        base_branch: &str,
    ) -> Result<bool, PortError>;

    /// Files added or modified by the commits from `base` to the worktree's head, relative to
    /// the repository root, sorted; deleted files are left out.
    async fn changed_files(
        &self,
        worktree: &Path,
        base: &CommitSha,
    ) -> Result<Vec<String>, PortError>;

    /// The [`PatchId`] of the change the commits from where `head` forked from `base` up to
    /// `head` make, both commits of the worktree's repository (an earlier head survives a
    /// rebase there).
    async fn patch_id(
        &self,
        worktree: &Path,
        base: &CommitSha,
        head: &CommitSha,
    ) -> Result<PatchId, PortError>;

    /// A detached scratch worktree of the same repository at commit `at`, for evidence runs
    /// and the base's tests after a merge; a commit the local copy lacks (one the code host
    /// made) is fetched first. Remove it with [`Workspaces::remove`].
    async fn scratch(&self, worktree: &Path, at: &CommitSha) -> Result<PathBuf, PortError>;

    /// Fetches `base_branch` and merges its tip into the worktree's head in a scratch
    /// worktree, leaving the squad's worktree and branch as they are.
    async fn merge_trial(
        &self,
        worktree: &Path,
        base_branch: &str,
    ) -> Result<MergeTrial, PortError>;

    /// Removes a worktree (a squad's or a scratch one); its branch stays. Removing a
    /// worktree that is already gone succeeds.
    async fn remove(&self, worktree: &Path) -> Result<(), PortError>;
}
