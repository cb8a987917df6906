//! Review verdicts.

use std::fmt;

/// What a reviewer concluded about one head commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReviewVerdict {
    /// The change may merge as it is.
    Approved,
    /// The change needs work before it may merge.
    ChangesRequested,
}

impl ReviewVerdict {
    /// The verdict as stored and logged (`approved`, `changes-requested`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ReviewVerdict::Approved => "approved",
            ReviewVerdict::ChangesRequested => "changes-requested",
        }
    }

    /// Parses a verdict as [`ReviewVerdict::as_str`] writes it; `None` for an unknown one.
    pub fn from_name(name: &str) -> Option<ReviewVerdict> {
        [ReviewVerdict::Approved, ReviewVerdict::ChangesRequested]
            .into_iter()
            .find(|verdict| verdict.as_str() == name)
    }
}

impl fmt::Display for ReviewVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An inline comment a reviewer attaches to one line of the change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewComment {
    /// Path relative to the repository root.
    pub path: String,
    /// 1-based line in the head version of the file.
    pub line: u32,
    /// The comment text (Markdown).
    pub body: String,
}

/// A reviewer's whole review of one head commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    /// The verdict.
    pub verdict: ReviewVerdict,
    /// The review body (Markdown).
    pub summary: String,
    /// Inline comments.
    pub comments: Vec<ReviewComment>,
}
