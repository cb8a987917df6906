//! The terminal tools that end a turn, and the typed results they carry.

use serde::Deserialize;
use squadron_core::ports::Confidence;
use squadron_core::{Review, ReviewComment, ReviewVerdict};

use crate::confine::Worktree;

/// The diagnostician's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnosis {
    /// What causes the bug.
    pub hypothesis: String,
    /// How to fix it.
    pub plan: String,
    /// How sure the diagnostician is.
    pub confidence: Confidence,
    /// The files involved, relative to the repository root.
    pub files: Vec<String>,
}

/// A terminal tool call with valid arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TerminalCall {
    /// `finish(summary)`.
    Finish {
        /// What the writer did.
        summary: String,
    },
    /// `submit_review(…)`.
    Review(Review),
    /// `submit_diagnosis(…)`.
    Diagnosis(Diagnosis),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FinishArgs {
    summary: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewArgs {
    verdict: VerdictArg,
    summary: String,
    comments: Vec<CommentArgs>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum VerdictArg {
    Approve,
    RequestChanges,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentArgs {
    path: String,
    line: u32,
    body: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiagnosisArgs {
    hypothesis: String,
    plan: String,
    confidence: ConfidenceArg,
    files: Vec<String>,
}

/// `confidence` as the model writes it.
#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ConfidenceArg {
    Low,
    Medium,
    High,
}

impl From<ConfidenceArg> for Confidence {
    fn from(arg: ConfidenceArg) -> Confidence {
        match arg {
            ConfidenceArg::Low => Confidence::Low,
            ConfidenceArg::Medium => Confidence::Medium,
            ConfidenceArg::High => Confidence::High,
        }
    }
}

pub(crate) fn parse_finish(arguments: &str) -> Result<TerminalCall, String> {
    let args: FinishArgs = parse(arguments)?;
    if args.summary.trim().is_empty() {
        return Err("`summary` is empty: say what you did and why".to_owned());
    }
    Ok(TerminalCall::Finish {
        summary: args.summary,
    })
}

pub(crate) fn parse_review(arguments: &str, worktree: &Worktree) -> Result<TerminalCall, String> {
    let args: ReviewArgs = parse(arguments)?;
    let mut comments = Vec::with_capacity(args.comments.len());
    for (index, comment) in args.comments.into_iter().enumerate() {
        let path = worktree
            .resolve(&comment.path)
            .map_err(|refusal| format!("comment {}: failed to {refusal}", index + 1))?;
        if comment.line == 0 {
            return Err(format!(
                "comment {}: `line` is 1-based; 0 names no line",
                index + 1
            ));
        }
        if comment.body.trim().is_empty() {
            return Err(format!("comment {}: `body` is empty", index + 1));
        }
        comments.push(ReviewComment {
            path: path.relative().to_owned(),
            line: comment.line,
            body: comment.body,
        });
    }
    let verdict = match args.verdict {
        VerdictArg::Approve => ReviewVerdict::Approved,
        VerdictArg::RequestChanges => ReviewVerdict::ChangesRequested,
    };
    Ok(TerminalCall::Review(Review {
        verdict,
        summary: args.summary,
        comments,
    }))
}

pub(crate) fn parse_diagnosis(
    arguments: &str,
    worktree: &Worktree,
) -> Result<TerminalCall, String> {
    let args: DiagnosisArgs = parse(arguments)?;
    let files = args
        .files
        .iter()
        .map(|file| {
            worktree
                .resolve(file)
                .map(|path| path.relative().to_owned())
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|refusal| format!("`files`: failed to {refusal}"))?;
    Ok(TerminalCall::Diagnosis(Diagnosis {
        hypothesis: args.hypothesis,
        plan: args.plan,
        confidence: args.confidence.into(),
        files,
    }))
}

/// Parses tool arguments, turning a serde error into a message for the model.
pub(crate) fn parse<T: for<'de> Deserialize<'de>>(arguments: &str) -> Result<T, String> {
    let arguments = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    serde_json::from_str(arguments).map_err(|error| format!("invalid arguments: {error}"))
}
