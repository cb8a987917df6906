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
            error_chain(&error)
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
    let root = workspace.worktree.root();
    let settings = workspace.sandbox.settings();
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
    git(root, settings, &["add", "--all"], &[]).await?;
    let staged = git_output(root, settings, &["diff", "--cached", "--quiet"], &[]).await?;
    if staged.success() {
        return Ok(CommitOutcome::NothingToCommit);
    }
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
    Ok(CommitOutcome::Committed {
        sha: head.stdout.trim().to_owned(),
    })
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

/// An error with its causes, for messages that leave the process as text.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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
