//! Guardrails the agent cannot skip: the formatter and linter after every write, and the
//! test command before every commit. Commits are made here, by the harness, authored per
//! role and naming the issue.

use squadron_core::{Role, Timestamp};

use crate::git::{GitError, changed_paths, git, git_output, stage_paths};
use crate::sandbox::{CommandOutput, Network, SandboxCommand, SandboxError, WorktreeAccess};
use crate::workspace::SquadWorkspace;
use crate::write_rules::{WriteBreach, check_staged, enforce_on_worktree, unstage};
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
    /// Files of the change break the roles' write rules: they were put back and nothing
    /// was committed.
    Refused {
        /// Each file and what became of it.
        breaches: Vec<WriteBreach>,
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

/// Bytes of one guardrail's output handed to the agent: its head and its tail.
pub const GUARDRAIL_OUTPUT_CAP: usize = 8 * 1024;

/// Placeholders of the repository's command lines, as the settings write them.
const FILE: &str = "{file}";
const FILES: &str = "{files}";
const SELECTOR: &str = "{selector}";

/// `line` (shell text) with `placeholder` replaced by `values`, each shell-quoted. Quoting
/// an argument vector into shell text turns `{file}` into `'{file}'`, so both forms are
/// replaced.
pub(crate) fn fill(line: &str, placeholder: &str, values: &[String]) -> String {
    let quoted: Vec<String> = values
        .iter()
        .map(|value| {
            shlex::try_quote(value).map_or_else(|_| value.clone(), |quoted| quoted.into_owned())
        })
        .collect();
    let joined = quoted.join(" ");
    line.replace(&format!("'{placeholder}'"), &joined)
        .replace(placeholder, &joined)
}

/// The test command narrowed to `selector` (test names or paths, separated by spaces);
/// `Err` says why the selector cannot be used.
pub(crate) fn narrowed_test(test_one: &str, selector: &str) -> Result<String, String> {
    let words: Vec<String> = selector.split_whitespace().map(str::to_owned).collect();
    if words.is_empty() {
        return Err(
            "`selector` is empty: name tests or test files, or leave it out to run the whole suite"
                .to_owned(),
        );
    }
    if words.len() > 50 {
        return Err(format!(
            "`selector` names {} tests; name at most 50, or run the whole suite",
            words.len()
        ));
    }
    if let Some(word) = words.iter().find(|word| word.starts_with('-')) {
        return Err(format!(
            "`{word}` in `selector` looks like an option; the selector holds test names or paths only"
        ));
    }
    if words.iter().any(|word| word.chars().any(char::is_control)) {
        return Err("`selector` holds control characters".to_owned());
    }
    Ok(fill(test_one, SELECTOR, &words))
}

/// Whether the linter checks the written files after each write (it names `{files}`), as
/// opposed to the whole tree once before a writer's turn ends.
pub fn lints_per_write(lint: &str) -> bool {
    lint.contains(FILES) || lint.contains(FILE)
}

/// Whether `file` has one of `extensions` (every file does when there are none).
pub(crate) fn applies_to(extensions: &[String], file: &str) -> bool {
    extensions.is_empty()
        || std::path::Path::new(file)
            .extension()
            .and_then(|ext| ext.to_str())
            .is_some_and(|ext| extensions.iter().any(|wanted| wanted == ext))
}

/// Whether writing `files` leaves work for the linter that runs before `finish`.
pub(crate) fn lint_pending_after(policy: &crate::workspace::RepoPolicy, files: &[String]) -> bool {
    policy
        .lint
        .as_deref()
        .is_some_and(|lint| !lints_per_write(lint))
        && files
            .iter()
            .any(|file| applies_to(&policy.lint_extensions, file))
}

fn extensions_shown(extensions: &[String]) -> String {
    extensions
        .iter()
        .map(|ext| format!(".{ext}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a guardrail is absent, from the repository's notes (`format: no formatter: …`):
/// `none configured for this repository` or `none (no formatter: …)`.
pub(crate) fn absence(policy: &crate::workspace::RepoPolicy, key: &str) -> String {
    let prefix = format!("{key}: ");
    policy
        .notes
        .iter()
        .find_map(|note| note.strip_prefix(&prefix))
        .map_or_else(
            || "none configured for this repository".to_owned(),
            |why| format!("none ({why})"),
        )
}

/// Runs the formatter on each written file and then the per-file linter on them, and
/// describes what they did for the tool result. `written` are paths relative to the worktree
/// root. What does not change from one write to the next (a guardrail the repository lacks, a
/// whole-project linter that runs at `finish`) is said once, in the write tools'
/// descriptions, not in every result.
pub async fn after_write(workspace: &SquadWorkspace, written: &[String]) -> String {
    let policy = &workspace.policy;
    let mut report = String::new();
    if let Some(format) = &policy.format {
        for file in written {
            if !applies_to(&policy.format_extensions, file) {
                report.push_str(&format!(
                    "formatter: not run on `{file}` (it formats {} files)\n",
                    extensions_shown(&policy.format_extensions)
                ));
                continue;
            }
            let line = if format.contains(FILE) {
                fill(format, FILE, std::slice::from_ref(file))
            } else {
                format.clone()
            };
            let before = read_regular(workspace, file).await;
            report.push_str(&run_guardrail(workspace, "formatter", &line).await.0);
            if before.is_some() && read_regular(workspace, file).await != before {
                report.push_str(&format!(
                    "The formatter changed `{file}`: read it again before you edit it.\n"
                ));
            }
        }
    }
    if let Some(lint) = policy.lint.as_deref().filter(|lint| lints_per_write(lint)) {
        let files: Vec<String> = written
            .iter()
            .filter(|file| applies_to(&policy.lint_extensions, file))
            .cloned()
            .collect();
        if files.is_empty() {
            report.push_str(&format!(
                "linter: not run (it checks {} files)\n",
                extensions_shown(&policy.lint_extensions)
            ));
        } else {
            let line = fill(&fill(lint, FILES, &files), FILE, &files);
            report.push_str(&run_guardrail(workspace, "linter", &line).await.0);
        }
    }
    report
}

/// Runs the repository's setup command in the worktree (writable, with the network when
/// the repository allows it), once before any agent; `None` when it has none.
pub async fn run_setup(workspace: &SquadWorkspace) -> Option<Result<CommandOutput, SandboxError>> {
    run_setup_in(workspace, workspace.worktree.root()).await
}

/// Runs the repository's setup command as [`run_setup`] does, in `dir`: a scratch checkout
/// of the same repository.
pub async fn run_setup_in(
    workspace: &SquadWorkspace,
    dir: &std::path::Path,
) -> Option<Result<CommandOutput, SandboxError>> {
    let setup = workspace.policy.setup.as_deref()?;
    let network = if workspace.policy.setup_network {
        Network::Allowed
    } else {
        Network::Isolated
    };
    Some(
        workspace
            .sandbox
            .run_with_network(
                dir,
                &SandboxCommand::Shell(setup.to_owned()),
                WorktreeAccess::ReadWrite,
                network,
            )
            .await,
    )
}

/// What the linter said before a writer's turn ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LintReport {
    /// Whether it passed without findings.
    pub clean: bool,
    /// Its account, for the tool result.
    pub text: String,
}

/// Runs the whole-tree linter once (the one without `{files}`), for a writer about to finish.
pub async fn lint_before_finish(workspace: &SquadWorkspace) -> Option<LintReport> {
    let lint = workspace.policy.lint.as_deref()?;
    if lints_per_write(lint) {
        return None;
    }
    let (text, clean) = run_guardrail(workspace, "linter", lint).await;
    Some(LintReport { clean, text })
}

/// The file's bytes when it is a regular file (never a symlink or a FIFO a command left in
/// its place), at most ten times the read-file cap: opened relative to the worktree's
/// directory handle, following no symlink, without blocking, never by a name checked first.
async fn read_regular(workspace: &SquadWorkspace, file: &str) -> Option<Vec<u8>> {
    workspace
        .worktree
        .read_nofollow(file, crate::file_tools::READ_CAP as u64 * 10)
        .await
        .ok()
}

/// The head and the tail of `text` within `cap` bytes, saying how much was left out.
pub fn bounded(text: &str, cap: usize) -> String {
    if text.len() <= cap {
        return text.to_owned();
    }
    let head_end = floor_boundary(text, cap * 3 / 4);
    let tail_start = ceil_boundary(text, text.len() - cap / 4);
    format!(
        "{}\n… {} bytes left out …\n{}",
        &text[..head_end],
        tail_start - head_end,
        &text[tail_start..]
    )
}

fn floor_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

fn ceil_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index += 1;
    }
    index
}

/// Runs one guardrail command and describes it; the flag says whether it passed silently.
async fn run_guardrail(workspace: &SquadWorkspace, what: &str, line: &str) -> (String, bool) {
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
            (format!("{what} (`{line}`): ok\n"), true)
        }
        Ok(output) => {
            let verdict = if output.success() { "ok" } else { "FAILED" };
            let text = format!(
                "{what} (`{line}`): {verdict}\n{}\n",
                fence(
                    &format!("{what} output"),
                    &bounded(&output.render(), GUARDRAIL_OUTPUT_CAP)
                )
            );
            (text, false)
        }
        Err(error) => (
            format!(
                "{what} (`{line}`): could not run: {}\n",
                squadron_core::error_chain(&error)
            ),
            false,
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
/// nothing. The change is held against the roles' write rules before the tests, after them
/// (the test command runs agent-written code) and before each commit; files that break
/// them are put back and nothing more is committed. Returns the head after the last commit.
pub async fn commit_by_author(
    workspace: &SquadWorkspace,
    changes: &[AuthoredChange<'_>],
    at: Timestamp,
) -> Result<CommitOutcome, CommitError> {
    let root = workspace.worktree.root();
    let breaches = enforce_on_worktree(workspace).await?;
    if !breaches.is_empty() {
        return Ok(CommitOutcome::Refused { breaches });
    }
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
    let breaches = enforce_on_worktree(workspace).await?;
    if !breaches.is_empty() {
        return Ok(CommitOutcome::Refused { breaches });
    }
    let mut head = None;
    for change in changes {
        match commit_change(workspace, change, at).await? {
            ChangeCommitted::Nothing => {}
            ChangeCommitted::Commit(sha) => head = Some(sha),
            ChangeCommitted::Refused(breaches) => {
                return Ok(CommitOutcome::Refused { breaches });
            }
        }
    }
    Ok(head.map_or(CommitOutcome::NothingToCommit, |sha| {
        CommitOutcome::Committed { sha }
    }))
}

/// What one author's commit came to.
enum ChangeCommitted {
    Nothing,
    Commit(String),
    Refused(Vec<WriteBreach>),
}

/// Stages `change`'s paths (or everything), holds what is staged against the write rules
/// and commits it as its role.
async fn commit_change(
    workspace: &SquadWorkspace,
    change: &AuthoredChange<'_>,
    at: Timestamp,
) -> Result<ChangeCommitted, CommitError> {
    let root = &workspace.worktree;
    let settings = workspace.sandbox.settings();
    // Only paths with changes: naming an unchanged path that no longer exists would make
    // `git add` fail.
    let changed = changed_paths(root, settings).await?;
    let paths: Vec<String> = match change.paths {
        None => changed.into_iter().collect(),
        Some(paths) => paths
            .iter()
            .filter(|path| changed.contains(*path))
            .cloned()
            .collect(),
    };
    if paths.is_empty() {
        return Ok(ChangeCommitted::Nothing);
    }
    stage_paths(root, settings, &paths).await?;
    // What is staged is what is committed: the last word on the write rules. Nothing should
    // break them here (the worktree was checked after the tests), unless something still
    // running changed it since.
    let breaches = check_staged(workspace).await?;
    if !breaches.is_empty() {
        unstage(workspace).await?;
        return Ok(ChangeCommitted::Refused(breaches));
    }
    let staged = git_output(
        root,
        settings,
        &["diff", "--cached", "--quiet", "--no-ext-diff"],
        &[],
    )
    .await?;
    if staged.success() {
        return Ok(ChangeCommitted::Nothing);
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
    Ok(ChangeCommitted::Commit(head.stdout.trim().to_owned()))
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
