//! Failures of local git work and of network transfers, sorted by kind.

use std::path::PathBuf;

use squadron_core::ports::{PortError, PortErrorKind};

/// How a caller should treat a [`GitError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GitErrorKind {
    /// A network transfer failed; worth retrying later.
    Transient,
    /// The remote refused the credentials.
    Auth,
    /// A value given by the caller or the configuration is unusable.
    Invalid,
    /// The worktree is not in the state the operation needs, or the remote moved.
    State,
    /// A worktree or commit the caller named does not exist.
    NotFound,
    /// Local git or file-system failure.
    Internal,
}

/// A failure of [`crate::Workspace`]; never contains a token.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{action} in `{}`", path.display())]
    Git {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("{action} in `{}`", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "run `{program}`; set the git program in the configuration if it is not on the standard path"
    )]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// `git fetch` or `git push` exited with an error; `stderr` is redacted.
    #[error("{action} `{remote}`: git said: {stderr}")]
    Transfer {
        action: &'static str,
        remote: String,
        stderr: String,
        auth: bool,
    },
    /// A local `git` command exited with an error.
    #[error("{action} in `{}`: git said: {stderr}", path.display())]
    Local {
        action: &'static str,
        path: PathBuf,
        stderr: String,
    },
    #[error("use branch name `{0}`: it is not a valid git branch name")]
    InvalidBranch(String),
    #[error(
        "find base branch `{branch}` on `{remote}`; check the repository's base branch in the configuration"
    )]
    UnknownBase { branch: String, remote: String },
    #[error("open the mirror of `{0}`: it has not been fetched yet; call `sync_mirror` first")]
    MirrorMissing(String),
    #[error("rebase `{}`: the worktree has uncommitted changes; commit or discard them first", path.display())]
    DirtyWorktree { path: PathBuf },
    #[error(
        "reuse worktree `{}` for branch `{wanted}`: it has {found} checked out; remove the worktree to start over",
        path.display()
    )]
    WorktreeOnOtherBranch {
        path: PathBuf,
        wanted: String,
        found: String,
    },
    #[error(
        "check out branch `{branch}`: it is already checked out in `{}`; remove that worktree first",
        path.display()
    )]
    BranchInUse { branch: String, path: PathBuf },
    #[error("use branch `{branch}` for a squad: it is the base branch, which only merges may move")]
    BaseBranchTarget { branch: String },
    #[error(
        "find repository `{0}`: it is not among the configured repositories; add it to the configuration"
    )]
    UnknownRepository(String),
    #[error("open worktree `{}`: it does not exist; prepare the squad's worktree again", path.display())]
    WorktreeMissing { path: PathBuf },
    #[error(
        "use `{}` as a worktree: it is not a worktree of any configured repository's mirror",
        path.display()
    )]
    NotAWorktree { path: PathBuf },
    #[error(
        "find the branch of worktree `{}`: its HEAD is detached; push and rebase only squad worktrees",
        path.display()
    )]
    DetachedHead { path: PathBuf },
    #[error("find commit `{sha}` in the mirror of `{slug}`; check the SHA or fetch first")]
    UnknownCommit { sha: String, slug: String },
    /// The remote branch is not where the lease expected; `actual` is `None` when the
    /// branch does not exist there.
    #[error(
        "push to `{branch}` on `{remote}`: the remote branch is at {}, not at {} as expected; re-read it and decide",
        actual.as_deref().unwrap_or("nothing (it does not exist)"),
        expected.as_deref().unwrap_or("nothing (a new branch)")
    )]
    LeaseRejected {
        branch: String,
        remote: String,
        expected: Option<String>,
        actual: Option<String>,
    },
    /// Reverting the commit conflicts with what the base changed since.
    #[error(
        "revert `{sha}` on `{}`: the revert conflicts with later changes in {paths}; revert it by hand",
        path.display()
    )]
    RevertConflict {
        sha: String,
        path: PathBuf,
        paths: String,
    },
    #[error("finish git work: the worker thread panicked")]
    Panicked,
}

impl GitError {
    pub fn kind(&self) -> GitErrorKind {
        match self {
            GitError::Transfer { auth: true, .. } => GitErrorKind::Auth,
            GitError::Transfer { .. } => GitErrorKind::Transient,
            GitError::InvalidBranch(_)
            | GitError::UnknownBase { .. }
            | GitError::Spawn { .. }
            | GitError::BaseBranchTarget { .. }
            | GitError::UnknownRepository(_)
            | GitError::NotAWorktree { .. }
            | GitError::DetachedHead { .. } => GitErrorKind::Invalid,
            GitError::MirrorMissing(_)
            | GitError::DirtyWorktree { .. }
            | GitError::WorktreeOnOtherBranch { .. }
            | GitError::BranchInUse { .. }
            | GitError::LeaseRejected { .. }
            | GitError::RevertConflict { .. } => GitErrorKind::State,
            GitError::WorktreeMissing { .. } | GitError::UnknownCommit { .. } => {
                GitErrorKind::NotFound
            }
            GitError::Git { .. }
            | GitError::Io { .. }
            | GitError::Local { .. }
            | GitError::Panicked => GitErrorKind::Internal,
        }
    }

    pub(crate) fn git(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(git2::Error) -> Self {
        let path = path.into();
        move |source| GitError::Git {
            action,
            path,
            source,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| GitError::Io {
            action,
            path,
            source,
        }
    }
}

impl From<GitError> for PortError {
    fn from(error: GitError) -> Self {
        let kind = match error.kind() {
            GitErrorKind::Transient => PortErrorKind::Transient,
            GitErrorKind::Auth => PortErrorKind::Auth,
            GitErrorKind::Invalid => PortErrorKind::Invalid,
            GitErrorKind::State => PortErrorKind::Conflict,
            GitErrorKind::NotFound => PortErrorKind::NotFound,
            GitErrorKind::Internal => PortErrorKind::Internal,
        };
        PortError::new(kind, error.to_string()).with_source(error)
    }
}
