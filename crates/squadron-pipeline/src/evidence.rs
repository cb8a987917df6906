//! Evidence for the QA Specialist: the squad's added or changed test files run against the
//! base commit (each should fail there: it tests behaviour the base lacks) and the head
//! (where all should pass). Test files that already pass on the base prove nothing about
//! the change, and are pointed out.

use std::path::Path;

use squadron_config::{EvidenceContext, TestEvidence, Untrusted};
use squadron_core::gate::CommitSha;
use squadron_core::{FailureKind, StepFailure};
use squadron_harness::{CommandOutput, SandboxCommand, SquadWorkspace, Worktree};

use crate::shared::Shared;

/// Output kept of each run for the prompt.
const OUTPUT_CAP: usize = 4000;

/// Bytes of one test file brought over from the head; a larger one is no test a reviewer
/// reads, and reading it whole would only load the daemon.
const TEST_FILE_CAP: u64 = 4 * 1024 * 1024;

/// The evidence of one head.
#[derive(Debug)]
pub(crate) struct Evidence {
    /// For the QA Specialist's prompt.
    pub context: EvidenceContext,
    /// Test files that pass on the base commit already.
    pub already_passing: Vec<String>,
    /// Whether every new test fails on the base and the suite passes on the head.
    pub convincing: bool,
    /// The PR body section.
    pub markdown: String,
}

/// Runs the evidence for `head` of the squad's worktree, branched from `base`.
pub(crate) async fn gather(
    shared: &Shared,
    workspace: &SquadWorkspace,
    test_command: &str,
    base: &CommitSha,
    head: &CommitSha,
) -> Result<Evidence, StepFailure> {
    let workspaces = &shared.services.workspaces;
    let root = workspace.worktree.root();
    let changed = workspaces
        .changed_files(root, base)
        .await
        .map_err(|error| {
            StepFailure::port(
                format!("list the files changed since {}", base.short()),
                &error,
            )
        })?;
    let tests: Vec<String> = changed
        .into_iter()
        .filter(|path| workspace.policy.test_globs.matches(path))
        .collect();
    let on_head = run_tests(workspace, root, test_command).await?;
    let head_passed = on_head.success();
    let mut rows = Vec::new();
    let mut base_output = String::new();
    if !tests.is_empty() {
        let scratch = workspaces.scratch(root, base).await.map_err(|error| {
            StepFailure::port(
                format!("check out the base {} for evidence", base.short()),
                &error,
            )
        })?;
        let result = run_on_base(workspace, &scratch, test_command, &tests).await;
        if let Err(error) = workspaces.remove(&scratch).await {
            tracing::warn!(path = %scratch.display(), %error, "could not remove a scratch worktree");
        }
        for (file, output) in result? {
            let on_base = if output.success() { "passed" } else { "failed" };
            if !output.success() && base_output.len() < OUTPUT_CAP {
                base_output.push_str(&format!("== {file}\n{}\n", cap(&output.render())));
            }
            rows.push(TestEvidence {
                // Agent-chosen file names reach the QA Specialist's prompt in a table.
                name: squadron_config::inline_name(&file),
                on_base: on_base.to_owned(),
                on_head: if head_passed { "passed" } else { "failed" }.to_owned(),
            });
        }
    }
    let already_passing: Vec<String> = rows
        .iter()
        .filter(|row| row.on_base == "passed")
        .map(|row| row.name.clone())
        .collect();
    let convincing = head_passed && !rows.is_empty() && already_passing.is_empty();
    let markdown = markdown(&rows, &already_passing, head_passed, base, head);
    Ok(Evidence {
        context: EvidenceContext {
            base_sha: base.to_string(),
            head_sha: head.to_string(),
            tests: rows,
            base_output: Untrusted::new("test output on base", base_output),
            head_output: Untrusted::new(
                "test output on head",
                if head_passed {
                    String::new()
                } else {
                    cap(&on_head.render())
                },
            ),
        },
        already_passing,
        convincing,
        markdown,
    })
}

/// Runs the test command in `scratch` (at the base) once per test file, with only that
/// file brought over from the head, restoring the scratch tree after each run.
async fn run_on_base(
    workspace: &SquadWorkspace,
    scratch: &Path,
    test_command: &str,
    tests: &[String],
) -> Result<Vec<(String, CommandOutput)>, StepFailure> {
    let mut results = Vec::new();
    for file in tests {
        let target = scratch.join(file);
        let original = tokio::fs::read(&target).await.ok();
        let contents = head_test_file(&workspace.worktree, file).await?;
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|error| local(format!("create {}", parent.display()), &error))?;
        }
        tokio::fs::write(&target, contents)
            .await
            .map_err(|error| local(format!("write {}", target.display()), &error))?;
        let output = run_tests(workspace, scratch, test_command).await;
        let restored = match original {
            Some(original) => tokio::fs::write(&target, original).await,
            None => tokio::fs::remove_file(&target).await,
        };
        restored.map_err(|error| local(format!("restore {}", target.display()), &error))?;
        results.push((file.clone(), output?));
    }
    Ok(results)
}

/// A test file's bytes as the head holds them, read through the worktree's confined reader:
/// the file is agent-written, and a symlink to `/dev/zero` or `/proc/self/environ` must
/// bring over neither an endless read nor the daemon's environment.
async fn head_test_file(head: &Worktree, file: &str) -> Result<Vec<u8>, StepFailure> {
    head.read_file(file, TEST_FILE_CAP)
        .await
        .map(|contents| contents.bytes)
        .map_err(|error| {
            // The file is the agents': one the confined reader refuses is theirs to fix.
            StepFailure::needs_person(format!("read test file {file} from the head"))
                .caused_by(&error)
        })
}

/// Runs the repository's test command (`test_command` when it configures none) in `dir`,
/// in the squad's sandbox, as the guardrails run it in the squad's worktree.
pub(crate) async fn run_tests(
    workspace: &SquadWorkspace,
    dir: &Path,
    test_command: &str,
) -> Result<CommandOutput, StepFailure> {
    let command = workspace
        .policy
        .test
        .clone()
        .unwrap_or_else(|| test_command.to_owned());
    workspace
        .sandbox
        .run(dir, &SandboxCommand::Shell(command.clone()))
        .await
        .map_err(|error| local(format!("run the test command `{command}`"), &error))
}

/// A failure of this machine (its file system, its sandbox): worth another try.
fn local(doing: String, error: &dyn std::error::Error) -> StepFailure {
    StepFailure::new(FailureKind::Transient, doing).caused_by(error)
}

fn cap(text: &str) -> String {
    if text.len() <= OUTPUT_CAP {
        return text.to_owned();
    }
    let mut start = text.len() - OUTPUT_CAP;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

fn markdown(
    rows: &[TestEvidence],
    already_passing: &[String],
    head_passed: bool,
    base: &CommitSha,
    head: &CommitSha,
) -> String {
    let mut text = format!(
        "### Test evidence\nThe squad's new or changed test files, run on the base `{}` and on the head `{}`:\n\n",
        base.short(),
        head.short()
    );
    if rows.is_empty() {
        text.push_str("The squad added or changed no test files.\n");
    } else {
        text.push_str("| test file | on base | on head |\n|---|---|---|\n");
        for row in rows {
            text.push_str(&format!(
                "| `{}` | {} | {} |\n",
                row.name, row.on_base, row.on_head
            ));
        }
    }
    if !already_passing.is_empty() {
        text.push_str(&format!(
            "\n**Already passing on the base:** {} — these tests do not show that the change \
             does anything.\n",
            already_passing
                .iter()
                .map(|file| format!("`{file}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !head_passed {
        text.push_str("\n**The test suite fails on the head.**\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn test_files_are_read_only_as_regular_files_inside_the_worktree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::create_dir_all(root.join("tests")).unwrap();
        std::fs::write(
            root.join("tests/cart_test.sh"),
            "grep -q done src/cart.txt\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("cart_test.sh", root.join("tests/alias_test.sh")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", root.join("tests/zero_test.sh")).unwrap();
        std::os::unix::fs::symlink("/proc/self/environ", root.join("tests/environ_test.sh"))
            .unwrap();
        let sparse = std::fs::File::create(root.join("tests/huge_test.sh")).unwrap();
        sparse.set_len(3 * 1024 * 1024 * 1024).unwrap();
        let head = Worktree::open(root, root.join(".git")).unwrap();

        assert_eq!(
            head_test_file(&head, "tests/alias_test.sh").await.unwrap(),
            b"grep -q done src/cart.txt\n"
        );
        let zero = head_test_file(&head, "tests/zero_test.sh")
            .await
            .unwrap_err()
            .to_string();
        assert!(zero.contains("outside the repository"), "{zero}");
        let environ = head_test_file(&head, "tests/environ_test.sh")
            .await
            .unwrap_err()
            .to_string();
        assert!(environ.contains("outside the repository"), "{environ}");
        let huge = head_test_file(&head, "tests/huge_test.sh")
            .await
            .unwrap_err();
        assert_eq!(
            huge.kind(),
            FailureKind::NeedsPerson,
            "the agents' file to fix"
        );
        let huge = huge.to_string();
        assert!(huge.contains("3221225472 bytes"), "{huge}");
    }
}
