//! Work kept safe when a squad stops short of a merge: whatever its agents left uncommitted
//! becomes one clearly marked work-in-progress commit, without running the tests (they may
//! well fail: the work is unfinished), so it can be pushed before the worktree goes.

use squadron_core::{Role, Timestamp};

use crate::git::{GitError, git, git_output, stage_all};
use crate::guardrails::commit_identity;
use crate::workspace::SquadWorkspace;
use crate::write_rules::{Restored, check_staged};

/// Commits every uncommitted change in the squad's worktree as the Developer, with a
/// subject starting `WIP` and a body saying `why` the squad stopped. Returns the new head,
/// or `None` when nothing was left uncommitted.
pub async fn commit_work_in_progress(
    workspace: &SquadWorkspace,
    why: &str,
    at: Timestamp,
) -> Result<Option<String>, GitError> {
    let root = &workspace.worktree;
    let settings = workspace.sandbox.settings();
    stage_all(root, settings).await?;
    // Unfinished work is still held to the write rules: what breaks them is put back (QA's
    // version, the committed one) and only then committed.
    let breaches = check_staged(workspace).await?;
    if !breaches.is_empty() {
        for breach in &breaches {
            tracing::warn!(issue = %workspace.issue, %breach, "work in progress breaks the write rules");
        }
        // From a clean index again: the put-back files replace what was staged.
        git(root, settings, &["reset", "--quiet"], &[]).await?;
        stage_all(root, settings).await?;
        for breach in &breaches {
            if matches!(breach.restored, Restored::Failed(_)) {
                let pathspec = format!(":(literal){}", breach.path);
                git(root, settings, &["reset", "--quiet", "--", &pathspec], &[]).await?;
            }
        }
    }
    let staged = git_output(root, settings, &["diff", "--cached", "--quiet"], &[]).await?;
    if staged.success() {
        return Ok(None);
    }
    let (name, email) = commit_identity(Role::Developer);
    let date = format!("@{} +0000", at.as_millis().div_euclid(1000));
    let identity = [
        ("GIT_AUTHOR_NAME", name.clone()),
        ("GIT_AUTHOR_EMAIL", email.clone()),
        ("GIT_AUTHOR_DATE", date.clone()),
        ("GIT_COMMITTER_NAME", name),
        ("GIT_COMMITTER_EMAIL", email),
        ("GIT_COMMITTER_DATE", date),
    ];
    let message = wip_message(&workspace.issue.to_string(), why);
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

/// `WIP ENG-1: work in progress, not verified`, then why the squad stopped and trailers.
fn wip_message(issue: &str, why: &str) -> String {
    format!(
        "WIP {issue}: work in progress, not verified\n\n\
         Squadron stopped working on {issue} before its work was finished and committed what \
         its agents had left uncommitted, untested, so that nothing is lost.\n\n\
         Why it stopped: {}\n\nIssue: {issue}\nSquadron-Role: developer\nSquadron-Wip: true\n",
        why.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_says_wip_and_why() {
        let message = wip_message("ENG-7", "failed to read PR #3: 502 Bad Gateway\n");
        assert!(message.starts_with("WIP ENG-7: "), "{message}");
        assert!(
            message.contains("Why it stopped: failed to read PR #3: 502 Bad Gateway\n"),
            "{message}"
        );
        assert!(message.ends_with("Squadron-Wip: true\n"), "{message}");
    }
}
