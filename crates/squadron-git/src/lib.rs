//! Local git for squads: one bare mirror per configured repository, one worktree per squad
//! on the branch, commits authored per role, rebases onto the moving base branch,
//! and fetch/push through the `git` CLI with credentials the daemon alone holds.
//!
//! Architecture invariant: tokens arrive as [`AccessToken`] parameters and reach git only
//! through environment variables of the child process (`GIT_CONFIG_*`); they are never put
//! on a command line, in a URL, in a config file or in an error message. This crate reads
//! no environment variables of its own.

mod credentials;
mod error;
mod identity;
mod rebase;
mod transport;
mod workspace;
mod workspaces;

pub use credentials::AccessToken;
pub use error::{GitError, GitErrorKind};
pub use identity::CommitAuthor;
pub use rebase::{ConflictedMerge, RebaseOutcome};
pub use transport::PushOutcome;
pub use workspace::{BranchDisposal, RepositorySpec, SquadWorktree, Workspace};
pub use workspaces::{FoundRevert, GitWorkspaces, reverted_commits};
