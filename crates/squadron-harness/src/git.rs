//! The `git` command line, run by the harness itself (never by an agent) on a squad's
//! worktree, outside the sandbox and with the daemon's rights. It therefore trusts nothing
//! the worktree holds: the git directory and work tree are named on the command line from
//! the daemon's own record (a rewritten `.git` file is never consulted), no system, global
//! or host configuration is read, and every setting that makes git run a program (hooks,
//! fsmonitor, pagers, editors, credential helpers, signing, external diff and textconv,
//! submodule recursion, lazy fetches) is switched off. Filter, diff and merge drivers need a
//! command in the git directory's configuration, which the sandbox cannot write.

use std::process::Stdio;

use tokio::process::Command;

use crate::confine::Worktree;
use crate::sandbox::{CommandOutput, SandboxError, SandboxSettings, run_limited};

/// `-c` settings that keep git from running any program named by configuration. Given on
/// the command line, they override every configuration file git reads.
const SAFE_CONFIG: &[&str] = &[
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.pager=cat",
    "core.editor=false",
    "sequence.editor=false",
    "core.askPass=",
    "core.sshCommand=false",
    "core.attributesFile=/dev/null",
    "credential.helper=",
    "diff.external=",
    "diff.ignoreSubmodules=all",
    "status.submoduleSummary=false",
    "submodule.recurse=false",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "log.showSignature=false",
    "gpg.program=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "protocol.allow=never",
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

/// Runs `git args…` on `worktree`; `extra_env` adds variables such as author identities.
/// Returns the output whatever the exit code.
pub(crate) async fn git_output(
    worktree: &Worktree,
    settings: &SandboxSettings,
    args: &[&str],
    extra_env: &[(&str, String)],
) -> Result<CommandOutput, GitError> {
    let mut process = Command::new("git");
    for setting in SAFE_CONFIG {
        process.args(["-c", setting]);
    }
    process
        .arg("--git-dir")
        .arg(worktree.git_dir())
        .arg("--work-tree")
        .arg(worktree.root())
        .args(args)
        .env_clear()
        .env("PATH", settings.path_env())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_ATTR_NOSYSTEM", "1")
        .env("GIT_NO_LAZY_FETCH", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("HOME", "/nonexistent")
        .env("LANG", "C.UTF-8")
        .envs(
            extra_env
                .iter()
                .map(|(name, value)| (*name, value.as_str())),
        )
        .current_dir(worktree.root())
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
    worktree: &Worktree,
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
