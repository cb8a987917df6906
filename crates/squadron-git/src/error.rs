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
    /// The worktree is not in the state the operation needs.
    State,
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
    #[error("finish git work: the worker thread panicked")]
    Panicked,
}

impl GitError {
    pub fn kind(&self) -> GitErrorKind {
        match self {
            GitError::Transfer { auth: true, .. } => GitErrorKind::Auth,
            GitError::Transfer { .. } => GitErrorKind::Transient,
            GitError::InvalidBranch(_) | GitError::UnknownBase { .. } | GitError::Spawn { .. } => {
                GitErrorKind::Invalid
            }
            GitError::MirrorMissing(_) | GitError::DirtyWorktree { .. } => GitErrorKind::State,
            GitError::Git { .. } | GitError::Io { .. } | GitError::Panicked => {
                GitErrorKind::Internal
            }
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
            GitErrorKind::Internal => PortErrorKind::Internal,
        };
        PortError::new(kind, error.to_string()).with_source(error)
    }
}
