//! Which lines of a PR a review may comment on, and folding the rest into the review body.
//!
//! GitHub accepts an inline comment only on a line that appears in the PR's diff; one
//! comment outside it fails the whole review with 422. So comments on other lines go into
//! the body, where nothing is lost.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use squadron_core::ReviewComment;

/// Lines of the head version that appear in each file's diff (added or context lines).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommentableLines {
    files: BTreeMap<String, BTreeSet<u32>>,
}

impl CommentableLines {
    /// Adds one file's unified-diff `patch` as GitHub's files endpoint returns it.
    pub fn add_patch(&mut self, path: &str, patch: &str) {
        let lines = self.files.entry(path.to_owned()).or_default();
        let mut next_new_line: Option<u32> = None;
        for line in patch.lines() {
            if let Some(hunk) = line.strip_prefix("@@") {
                next_new_line = hunk_new_start(hunk);
                continue;
            }
            let Some(current) = next_new_line else {
                continue;
            };
            match line.as_bytes().first() {
                Some(b'+') | Some(b' ') | None => {
                    lines.insert(current);
                    next_new_line = Some(current + 1);
                }
                // Removed lines and "\ No newline at end of file" have no head line.
                _ => {}
            }
        }
    }

    /// Whether `line` of `path` may carry an inline comment.
    pub fn contains(&self, path: &str, line: u32) -> bool {
        self.files
            .get(path)
            .is_some_and(|lines| lines.contains(&line))
    }
}

/// The `+c,d` start of a hunk header ` -a,b +c,d @@ …`.
fn hunk_new_start(header: &str) -> Option<u32> {
    let new_range = header
        .split_whitespace()
        .find_map(|part| part.strip_prefix('+'))?;
    new_range.split(',').next()?.parse().ok()
}

/// A review split into what GitHub accepts inline and the body carrying the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoldedReview<'a> {
    /// The body, with comments on lines outside the diff appended.
    pub body: String,
    /// Comments on lines inside the diff.
    pub inline: Vec<&'a ReviewComment>,
}

/// Splits `comments` into inline ones and ones folded into `summary`.
pub fn fold_comments<'a>(
    summary: &str,
    comments: &'a [ReviewComment],
    commentable: &CommentableLines,
) -> FoldedReview<'a> {
    let (inline, outside): (Vec<_>, Vec<_>) = comments
        .iter()
        .partition(|comment| commentable.contains(&comment.path, comment.line));
    let mut body = summary.trim_end().to_owned();
    if !outside.is_empty() {
        body.push_str("\n\n#### Comments on lines outside the diff\n");
        for comment in outside {
            // Writing into a String cannot fail.
            let _ = write!(
                body,
                "\n- `{}` line {}: {}",
                comment.path,
                comment.line,
                comment.body.trim()
            );
        }
        body.push('\n');
    }
    FoldedReview { body, inline }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCH: &str = "@@ -1,4 +1,5 @@\n fn main() {\n-    old();\n+    new();\n+    more();\n }\n@@ -20,2 +21,3 @@ impl Foo {\n     a();\n+    b();\n }\n\\ No newline at end of file";

    fn commentable() -> CommentableLines {
        let mut lines = CommentableLines::default();
        lines.add_patch("src/main.rs", PATCH);
        lines
    }

    #[test]
    fn added_and_context_lines_of_every_hunk_are_commentable() {
        let lines = commentable();
        for line in [1, 2, 3, 4, 21, 22, 23] {
            assert!(lines.contains("src/main.rs", line), "line {line}");
        }
        for line in [5, 6, 20, 24] {
            assert!(!lines.contains("src/main.rs", line), "line {line}");
        }
        assert!(!lines.contains("src/other.rs", 1));
    }

    #[test]
    fn comments_outside_the_diff_are_folded_into_the_body() {
        let comments = vec![
            ReviewComment {
                path: "src/main.rs".into(),
                line: 3,
                body: "name this".into(),
            },
            ReviewComment {
                path: "src/main.rs".into(),
                line: 40,
                body: "unrelated".into(),
            },
            ReviewComment {
                path: "README.md".into(),
                line: 1,
                body: "document it".into(),
            },
        ];
        let folded = fold_comments("Needs work.\n", &comments, &commentable());
        assert_eq!(folded.inline, vec![&comments[0]]);
        assert_eq!(
            folded.body,
            "Needs work.\n\n#### Comments on lines outside the diff\n\n- `src/main.rs` line 40: unrelated\n- `README.md` line 1: document it\n"
        );
    }

    #[test]
    fn a_review_with_only_inline_comments_keeps_its_body() {
        let comments = vec![ReviewComment {
            path: "src/main.rs".into(),
            line: 22,
            body: "ok".into(),
        }];
        let folded = fold_comments("Looks good.", &comments, &commentable());
        assert_eq!(folded.body, "Looks good.");
        assert_eq!(folded.inline.len(), 1);
    }
}
