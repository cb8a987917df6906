//! What changed since a reviewer's last review: the diff from the commit it reviewed to the
//! worktree's head, and which of its line comments the change touched.

use squadron_core::gate::CommitSha;

use crate::git::{GitError, git, git_output};
use crate::workspace::SquadWorkspace;

/// Lines of context git prints around each change: a comment within this many lines of an
/// edit counts as touched by it, as a person reading the diff would see it.
const CONTEXT_LINES: u32 = 3;

/// The change from `since` to the head commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffSince {
    /// Files added, modified or deleted, sorted.
    pub files: Vec<String>,
    /// The unified diff, as git prints it.
    pub text: String,
    /// Whether output beyond the cap was dropped.
    pub truncated: bool,
}

/// Runs `git diff since HEAD` in the squad's worktree (committed work only: a review is
/// always of a commit). When `since` is no ancestor of the head, the branch was rebased since:
/// the base's own changes then sit between the two, so only `own_files` (the files the squad's
/// branch changes) are compared and the reviewer reads the squad's change, not the base's.
pub async fn diff_since(
    workspace: &SquadWorkspace,
    since: &CommitSha,
    own_files: &[String],
) -> Result<DiffSince, GitError> {
    let root = &workspace.worktree;
    let settings = workspace.sandbox.settings();
    let ancestry = git_output(
        root,
        settings,
        &["merge-base", "--is-ancestor", since.as_str(), "HEAD"],
        &[],
    )
    .await?;
    let rebased = !ancestry.success();
    let paths: Vec<&str> = if rebased {
        own_files.iter().map(String::as_str).collect()
    } else {
        Vec::new()
    };
    let mut name_args = vec![
        "diff",
        "--no-renames",
        "--name-only",
        "-z",
        since.as_str(),
        "HEAD",
        "--",
    ];
    name_args.extend(&paths);
    let names = git(root, settings, &name_args, &[]).await?;
    let mut files: Vec<String> = names
        .stdout
        .split('\0')
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    files.sort();
    let context = format!("--unified={CONTEXT_LINES}");
    let mut diff_args = vec![
        "diff",
        "--no-ext-diff",
        "--no-textconv",
        "--no-renames",
        &context,
        since.as_str(),
        "HEAD",
        "--",
    ];
    diff_args.extend(&paths);
    let output = git(root, settings, &diff_args, &[]).await?;
    Ok(DiffSince {
        files,
        text: output.stdout,
        truncated: output.truncated,
    })
}

/// Whether `diff` (from [`diff_since`]) changes `path` near `line` of the reviewed version,
/// or, without a line, anywhere in `path`.
pub fn touches(diff: &str, path: &str, line: Option<u32>) -> bool {
    let mut in_file = false;
    for text in diff.lines() {
        if let Some(rest) = text.strip_prefix("diff --git ") {
            in_file = rest
                .split_once(" b/")
                .is_some_and(|(old, _)| old.strip_prefix("a/") == Some(path));
            continue;
        }
        if !in_file {
            continue;
        }
        let Some(hunk) = text.strip_prefix("@@ -") else {
            continue;
        };
        let Some(line) = line else { return true };
        let old = hunk.split_whitespace().next().unwrap_or_default();
        let (start, count) = match old.split_once(',') {
            Some((start, count)) => (start.parse::<u32>(), count.parse::<u32>()),
            None => (old.parse::<u32>(), Ok(1)),
        };
        if let (Ok(start), Ok(count)) = (start, count) {
            // The hunk's old range already holds the context lines around the edit.
            let end = start + count.max(1);
            if (start..end).contains(&line) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::touches;

    const DIFF: &str = "diff --git a/src/cart.rs b/src/cart.rs
index 1111111..2222222 100644
--- a/src/cart.rs
+++ b/src/cart.rs
@@ -10,7 +10,7 @@ impl Cart {
     fn total(&self) -> Money {
         let mut total = Money::ZERO;
         for item in &self.items {
-            total += item.price as f64;
+            total += item.price;
         }
         total
     }
diff --git a/src/new.rs b/src/new.rs
new file mode 100644
--- /dev/null
+++ b/src/new.rs
@@ -0,0 +1 @@
+pub fn new() {}
";

    #[test]
    fn a_comment_near_an_edit_is_touched_and_one_far_from_it_is_not() {
        assert!(touches(DIFF, "src/cart.rs", Some(13)));
        assert!(touches(DIFF, "src/cart.rs", Some(10)));
        assert!(touches(DIFF, "src/cart.rs", Some(16)));
        assert!(!touches(DIFF, "src/cart.rs", Some(17)));
        assert!(!touches(DIFF, "src/cart.rs", Some(2)));
    }

    #[test]
    fn a_comment_without_a_line_is_touched_by_any_change_to_its_file() {
        assert!(touches(DIFF, "src/cart.rs", None));
        assert!(!touches(DIFF, "src/pricing.rs", None));
        assert!(!touches(DIFF, "src/pricing.rs", Some(1)));
    }

    #[test]
    fn a_file_created_since_touches_no_comment_of_the_reviewed_version() {
        assert!(!touches(DIFF, "src/new.rs", Some(1)));
        assert!(!touches(DIFF, "cart.rs", Some(13)));
    }
}
