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

/// Every path with uncommitted changes (untracked files included), relative to the root.
/// Nested repositories are left alone: asking one for its status would run the programs
/// its own configuration names.
pub(crate) async fn changed_paths(
    worktree: &Worktree,
    settings: &SandboxSettings,
) -> Result<std::collections::BTreeSet<String>, GitError> {
    let status = git(
        worktree,
        settings,
        &[
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--ignore-submodules=all",
        ],
        &[],
    )
    .await?;
    let mut paths = std::collections::BTreeSet::new();
    let mut entries = status.stdout.split('\0');
    while let Some(entry) = entries.next() {
        let Some(path) = entry.get(3..) else { continue };
        paths.insert(path.to_owned());
        // A rename or copy is followed by the path it came from.
        let renamed = entry.starts_with(['R', 'C']) || matches!(entry.get(1..2), Some("R" | "C"));
        if renamed && let Some(from) = entries.next() {
            paths.insert(from.to_owned());
        }
    }
    Ok(paths)
}

/// Stages exactly `paths` (changes, additions and deletions), named literally in a file
/// rather than on the command line, so that any number fits.
///
/// Never `git add --all` over the whole tree: a pathspec that covers a nested repository
/// already recorded in the index makes git ask that repository for its status, and that
/// runs the clean filter its own (agent-written) configuration names, outside the sandbox.
pub(crate) async fn stage_paths(
    worktree: &Worktree,
    settings: &SandboxSettings,
    paths: &[String],
) -> Result<(), GitError> {
    if paths.is_empty() {
        return Ok(());
    }
    let mut list = Vec::new();
    for path in paths {
        list.extend_from_slice(path.as_bytes());
        list.push(0);
    }
    let file = tokio::task::spawn_blocking(move || -> std::io::Result<tempfile::NamedTempFile> {
        let mut file = tempfile::NamedTempFile::new()?;
        std::io::Write::write_all(&mut file, &list)?;
        Ok(file)
    })
    .await
    .map_err(|_| std::io::Error::other("the file task stopped unexpectedly"))
    .and_then(|file| file)
    .map_err(|source| GitError::Run {
        args: "add".to_owned(),
        source: SandboxError::Spawn {
            program: "git".to_owned(),
            source,
        },
    })?;
    let from_file = format!("--pathspec-from-file={}", file.path().display());
    git(
        worktree,
        settings,
        &["add", "--all", &from_file, "--pathspec-file-nul"],
        &[("GIT_LITERAL_PATHSPECS", "1".to_owned())],
    )
    .await
    .map(drop)
}

/// Stages every change in the worktree (see [`stage_paths`] for why not `git add --all`).
pub(crate) async fn stage_all(
    worktree: &Worktree,
    settings: &SandboxSettings,
) -> Result<(), GitError> {
    let paths: Vec<String> = changed_paths(worktree, settings)
        .await?
        .into_iter()
        .collect();
    stage_paths(worktree, settings, &paths).await
}
