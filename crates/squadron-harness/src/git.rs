//! The `git` command line, run by the harness itself (never by an agent) in the worktree with
//! a scrubbed environment: no user or system configuration, no hooks, no prompts.

use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

use crate::sandbox::{CommandOutput, SandboxError, SandboxSettings, run_limited};

/// Options that keep git from running anything configured in the repository or the host.
const SAFE_CONFIG: [&str; 10] = [
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "commit.gpgsign=false",
    "-c",
    "core.pager=cat",
    "-c",
    "color.ui=false",
];

/// A git failure.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git could not be run.
    #[error("run `git {args}`")]
    Run {
        /// The arguments.
        args: String,
        /// The cause.
        #[source]
        source: SandboxError,
    },
    /// git ran and failed.
    #[error("run `git {args}`: exit {exit_code:?}: {stderr}")]
    Failed {
        /// The arguments.
        args: String,
        /// The exit code.
        exit_code: Option<i32>,
        /// What git said.
        stderr: String,
    },
}

/// Runs `git args…` in `worktree`; `extra_env` adds variables such as author identities.
/// Returns the output whatever the exit code.
pub(crate) async fn git_output(
    worktree: &Path,
    settings: &SandboxSettings,
    args: &[&str],
    extra_env: &[(&str, String)],
) -> Result<CommandOutput, GitError> {
    let mut process = Command::new("git");
    process
        .args(SAFE_CONFIG)
        .args(args)
        .env_clear()
        .env("PATH", settings.path_env())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("HOME", "/nonexistent")
        .env("LANG", "C.UTF-8")
        .envs(
            extra_env
                .iter()
                .map(|(name, value)| (*name, value.as_str())),
        )
        .current_dir(worktree)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    run_limited(process, "git", settings)
        .await
        .map_err(|source| GitError::Run {
            args: args.join(" "),
            source,
        })
}

/// Runs `git args…` and fails unless it exits 0.
pub(crate) async fn git(
    worktree: &Path,
    settings: &SandboxSettings,
    args: &[&str],
    extra_env: &[(&str, String)],
) -> Result<CommandOutput, GitError> {
    let output = git_output(worktree, settings, args, extra_env).await?;
    if output.success() {
        Ok(output)
    } else {
        Err(GitError::Failed {
            args: args.join(" "),
            exit_code: output.exit_code,
            stderr: output.stderr.trim().to_owned(),
        })
    }
}
