//! Network transfers through the `git` CLI: a scrubbed environment, no prompts, and the
//! token handed over only as an `http.extraHeader` in `GIT_CONFIG_*` variables of the child.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use crate::credentials::AccessToken;
use crate::error::GitError;

/// A fixed search path for the child: the daemon's own `PATH` is not passed on.
const CHILD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a push with lease did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The remote branch now points at `sha`.
    Pushed { sha: String },
    /// The remote branch was not at the expected SHA (someone else pushed, or the branch
    /// exists when it was expected not to); nothing changed.
    LeaseRejected,
}

#[derive(Clone, Debug)]
pub(crate) struct GitCli {
    program: PathBuf,
}

impl GitCli {
    pub(crate) fn new(program: PathBuf) -> Self {
        Self { program }
    }

    fn command(&self, git_dir: &Path, token: &AccessToken) -> Command {
        let mut command = Command::new(&self.program);
        command
            .env_clear()
            .env("PATH", CHILD_PATH)
            .env("LC_ALL", "C")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_COUNT", "2")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env("GIT_CONFIG_VALUE_0", token.authorization_header())
            // No helper may store or supply credentials behind the daemon's back.
            .env("GIT_CONFIG_KEY_1", "credential.helper")
            .env("GIT_CONFIG_VALUE_1", "")
            .arg("--git-dir")
            .arg(git_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs `command`; returns whether it succeeded and its redacted output.
    async fn run(
        &self,
        mut command: Command,
        token: &AccessToken,
    ) -> Result<(bool, String), GitError> {
        let output = command.output().await.map_err(|source| GitError::Spawn {
            program: self.program.display().to_string(),
            source,
        })?;
        let text = token.redact(&format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
        Ok((output.status.success(), text))
    }

    /// `git fetch --prune origin` in the mirror.
    pub(crate) async fn fetch(
        &self,
        mirror: &Path,
        remote: &str,
        token: &AccessToken,
    ) -> Result<(), GitError> {
        let mut command = self.command(mirror, token);
        command.args(["fetch", "--prune", "--quiet", "origin"]);
        let (ok, text) = self.run(command, token).await?;
        if ok {
            Ok(())
        } else {
            Err(transfer_error("fetch from", remote, &text))
        }
    }

    /// `git push --force-with-lease=refs/heads/<branch>:<expected> origin
    /// <source>:refs/heads/<branch>`: the remote branch moves to `source` (a SHA or a local
    /// ref) only if it still points at `expected` (`None`: must not exist).
    pub(crate) async fn push(
        &self,
        mirror: &Path,
        remote: &str,
        source: &str,
        branch: &str,
        expected: Option<&str>,
        token: &AccessToken,
    ) -> Result<bool, GitError> {
        let refname = format!("refs/heads/{branch}");
        let mut command = self.command(mirror, token);
        command
            .args(["push", "--porcelain", "--no-verify"])
            .arg(format!(
                "--force-with-lease={refname}:{}",
                expected.unwrap_or_default()
            ))
            .arg("origin")
            .arg(format!("{source}:{refname}"));
        let (ok, text) = self.run(command, token).await?;
        if ok {
            return Ok(true);
        }
        if text.contains("stale info") || text.contains("[rejected]") {
            return Ok(false);
        }
        Err(transfer_error("push to", remote, &text))
    }
}

fn transfer_error(action: &'static str, remote: &str, text: &str) -> GitError {
    let stderr = text.trim().to_owned();
    let auth = stderr.contains("Authentication failed")
        || stderr.contains("could not read Username")
        || stderr.contains("403")
        || stderr.contains("401");
    GitError::Transfer {
        action,
        remote: remote.to_owned(),
        stderr,
        auth,
    }
}
