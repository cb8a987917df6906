//! Guardrails the agent cannot skip: the formatter and linter after every write, and the
//! test command before every commit. Commits are made here, by the harness, authored per
//! role and naming the issue.

use squadron_core::{Role, Timestamp};

use crate::git::{GitError, git, git_output};
use crate::sandbox::{CommandOutput, SandboxCommand, SandboxError};
use crate::workspace::SquadWorkspace;
use squadron_config::fence;

/// What a commit attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The change was committed.
    Committed {
        /// The new commit's id.
        sha: String,
    },
    /// The worktree had no changes.
    NothingToCommit,
    /// The test command failed, so nothing was committed.
    TestsFailed {
        /// The failing run.
        output: CommandOutput,
    },
}

/// A failure of the harness's own machinery while committing (not the agent's fault).
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The test command could not be run at all.
    #[error("run the test command `{command}`")]
    Tests {
        /// The command.
        command: String,
        /// The cause.
        #[source]
        source: SandboxError,
    },
    /// git failed.
    #[error(transparent)]
    Git(#[from] GitError),
}

/// The git identity a role commits under, e.g. `Squadron Developer <developer@squadron.invalid>`.
pub fn commit_identity(role: Role) -> (String, String) {
    let name = match role {
        Role::Developer => "Developer",
        Role::Qa => "QA",
        Role::CodeReviewer => "Code Reviewer",
        Role::QaSpecialist => "QA Specialist",
        Role::Diagnostician => "Diagnostician",
    };
    (
        format!("Squadron {name}"),
        format!("{}@squadron.invalid", role.as_str()),
    )
}

/// Runs the formatter on `relative` and then the linter, and describes both for the tool
/// result. Missing commands are reported as not configured.
pub async fn after_write(workspace: &SquadWorkspace, relative: &str) -> String {
    let policy = &workspace.policy;
    let mut report = String::new();
    match &policy.format {
        Some(format) => {
            let quoted =
                shlex::try_quote(relative).map_or_else(|_| relative.to_owned(), |q| q.into_owned());
            // `'{file}'` is how a placeholder comes out of quoting an argv into shell text.
            let line = if format.contains("{file}") {
                format
                    .replace("'{file}'", &quoted)
                    .replace("{file}", &quoted)
            } else {
                format!("{format} {quoted}")
            };
            report.push_str(&run_guardrail(workspace, "formatter", &line).await);
        }
        None => report.push_str("formatter: not configured for this repository\n"),
    }
    match &policy.lint {
        Some(lint) => report.push_str(&run_guardrail(workspace, "linter", lint).await),
        None => report.push_str("linter: not configured for this repository\n"),
    }
    report
}

async fn run_guardrail(workspace: &SquadWorkspace, what: &str, line: &str) -> String {
    let command = SandboxCommand::Shell(line.to_owned());
    match workspace
        .sandbox
        .run(workspace.worktree.root(), &command)
        .await
    {
        Ok(output)
            if output.success()
                && output.stdout.trim().is_empty()
                && output.stderr.trim().is_empty() =>
        {
            format!("{what} (`{line}`): ok\n")
        }
        Ok(output) => {
            let verdict = if output.success() { "ok" } else { "FAILED" };
            format!(
                "{what} (`{line}`): {verdict}\n{}\n",
                fence(&format!("{what} output"), &output.render())
            )
        }
        Err(error) => format!(
            "{what} (`{line}`): could not run: {}\n",
            squadron_core::error_chain(&error)
        ),
    }
}

/// Runs the test command and, if it passes, commits every change in the worktree as `role`
/// with a message naming the issue. A failing run commits nothing.
pub async fn commit(
    workspace: &SquadWorkspace,
    role: Role,
    summary: &str,
    at: Timestamp,
) -> Result<CommitOutcome, CommitError> {
    let change = AuthoredChange {
        role,
        summary,
        paths: None,
    };
    commit_by_author(workspace, &[change], at).await
}

/// One commit of [`commit_by_author`]: whose work it is and which of the changes.
#[derive(Clone, Copy, Debug)]
pub struct AuthoredChange<'a> {
    /// The author.
    pub role: Role,
    /// What the work was, for the commit message.
    pub summary: &'a str,
    /// The paths (relative to the worktree's root) it takes; `None` takes every change
    /// still uncommitted.
    pub paths: Option<&'a [String]>,
}

/// Runs the test command once on the worktree as it stands and, if it passes, commits
/// `changes` in order, each as its author (e.g. QA's test files as QA, then the rest as the
/// Developer). A change with nothing left to commit makes no commit. A failing run commits
/// nothing. Returns the head after the last commit.
pub async fn commit_by_author(
    workspace: &SquadWorkspace,
    changes: &[AuthoredChange<'_>],
    at: Timestamp,
) -> Result<CommitOutcome, CommitError> {
    let root = workspace.worktree.root();
    if let Some(test) = &workspace.policy.test {
        let output = workspace
            .sandbox
            .run(root, &SandboxCommand::Shell(test.clone()))
            .await
            .map_err(|source| CommitError::Tests {
                command: test.clone(),
                source,
            })?;
        if !output.success() {
            return Ok(CommitOutcome::TestsFailed { output });
        }
    } else {
        tracing::warn!(issue = %workspace.issue, "committing without tests: the repository configures no test command");
    }
    let mut head = None;
    for change in changes {
        if let Some(sha) = commit_change(workspace, change, at).await? {
            head = Some(sha);
        }
    }
    Ok(head.map_or(CommitOutcome::NothingToCommit, |sha| {
        CommitOutcome::Committed { sha }
    }))
}

/// Stages `change`'s paths (or everything) and commits them as its role; `None` when
/// nothing of it was left to commit.
async fn commit_change(
    workspace: &SquadWorkspace,
    change: &AuthoredChange<'_>,
    at: Timestamp,
) -> Result<Option<String>, CommitError> {
    let root = workspace.worktree.root();
    let settings = workspace.sandbox.settings();
    match change.paths {
        None => {
            git(root, settings, &["add", "--all"], &[]).await?;
        }
        Some(paths) => {
            // Only paths with changes: naming an unchanged path that no longer exists
            // would make `git add` fail.
            let changed = changed_paths(workspace).await?;
            let pathspecs: Vec<String> = paths
                .iter()
                .filter(|path| changed.contains(*path))
                .map(|path| format!(":(literal){path}"))
                .collect();
            if pathspecs.is_empty() {
                return Ok(None);
            }
            let mut args = vec!["add", "--all", "--"];
            args.extend(pathspecs.iter().map(String::as_str));
            git(root, settings, &args, &[]).await?;
        }
    }
    let staged = git_output(root, settings, &["diff", "--cached", "--quiet"], &[]).await?;
    if staged.success() {
        return Ok(None);
    }
    let (role, summary) = (change.role, change.summary);
    let (name, email) = commit_identity(role);
    let date = format!("@{} +0000", at.as_millis().div_euclid(1000));
    let identity = [
        ("GIT_AUTHOR_NAME", name.clone()),
        ("GIT_AUTHOR_EMAIL", email.clone()),
        ("GIT_AUTHOR_DATE", date.clone()),
        ("GIT_COMMITTER_NAME", name),
        ("GIT_COMMITTER_EMAIL", email),
        ("GIT_COMMITTER_DATE", date),
    ];
    let message = commit_message(&workspace.issue.to_string(), role, summary);
    git(
        root,
        settings,
        &["commit", "--quiet", "--no-verify", "--message", &message],
        &identity,
    )
    .await?;
    let head = git(root, settings, &["rev-parse", "HEAD"], &[]).await?;
    Ok(Some(head.stdout.trim().to_owned()))
}

/// Every path with uncommitted changes (untracked files included), relative to the root.
async fn changed_paths(
    workspace: &SquadWorkspace,
) -> Result<std::collections::BTreeSet<String>, CommitError> {
    let status = git(
        workspace.worktree.root(),
        workspace.sandbox.settings(),
        &["status", "--porcelain=v1", "-z", "--untracked-files=all"],
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

/// `ENG-1: <first line of the summary>`, the rest of the summary as the body, and trailers
/// naming the issue and role.
fn commit_message(issue: &str, role: Role, summary: &str) -> String {
    let summary = summary.trim();
    let mut lines = summary.lines();
    let first = lines.next().unwrap_or("").trim();
    let subject: String = if first.is_empty() {
        format!("{issue}: work by the {role}")
    } else {
        let mut subject = format!("{issue}: {first}");
        if subject.chars().count() > 72 {
            subject = subject.chars().take(71).collect::<String>() + "…";
        }
        subject
    };
    let body = lines.collect::<Vec<_>>().join("\n");
    let body = body.trim();
    let mut message = subject;
    message.push_str("\n\n");
    if !body.is_empty() {
        message.push_str(body);
        message.push_str("\n\n");
    }
    message.push_str(&format!("Issue: {issue}\nSquadron-Role: {role}\n"));
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_message_names_issue_and_role() {
        let message = commit_message("ENG-7", Role::Developer, "Add login\n\nWith a form.");
        assert_eq!(
            message,
            "ENG-7: Add login\n\nWith a form.\n\nIssue: ENG-7\nSquadron-Role: developer\n"
        );
    }
}
