//! The tools agents may be given: their names, descriptions and JSON-schema parameters.

use std::fmt;
use std::str::FromStr;

use serde_json::{Value, json};
use squadron_core::Role;
use squadron_core::ports::ToolSpec;

/// Every tool the harness knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ToolName {
    /// Read a file, optionally a line range.
    ReadFile,
    /// List files, gitignore-aware, optionally filtered by a glob.
    ListFiles,
    /// Search file contents with a regular expression.
    SearchCode,
    /// Create or overwrite a file.
    WriteFile,
    /// Replace one exact, unique piece of text in a file.
    EditFile,
    /// Run the repository's test command.
    RunTests,
    /// Run a command the repository allows.
    RunCommand,
    /// Show the diff of the worktree.
    GitDiff,
    /// Show recent commits.
    GitLog,
    /// Ask QA to change a test QA wrote (the Developer's way to dispute a test).
    RequestTestChange,
    /// End a writer's turn with a summary.
    Finish,
    /// End a reviewer's turn with a verdict.
    SubmitReview,
    /// End the diagnostician's turn with a diagnosis.
    SubmitDiagnosis,
}

impl ToolName {
    /// Every tool, in the order they are offered to models.
    pub const ALL: [ToolName; 13] = [
        ToolName::ReadFile,
        ToolName::ListFiles,
        ToolName::SearchCode,
        ToolName::WriteFile,
        ToolName::EditFile,
        ToolName::RunTests,
        ToolName::RunCommand,
        ToolName::GitDiff,
        ToolName::GitLog,
        ToolName::RequestTestChange,
        ToolName::Finish,
        ToolName::SubmitReview,
        ToolName::SubmitDiagnosis,
    ];

    /// The name models and agent files use.
    pub const fn as_str(self) -> &'static str {
        match self {
            ToolName::ReadFile => "read_file",
            ToolName::ListFiles => "list_files",
            ToolName::SearchCode => "search_code",
            ToolName::WriteFile => "write_file",
            ToolName::EditFile => "edit_file",
            ToolName::RunTests => "run_tests",
            ToolName::RunCommand => "run_command",
            ToolName::GitDiff => "git_diff",
            ToolName::GitLog => "git_log",
            ToolName::RequestTestChange => "request_test_change",
            ToolName::Finish => "finish",
            ToolName::SubmitReview => "submit_review",
            ToolName::SubmitDiagnosis => "submit_diagnosis",
        }
    }

    /// Whether the tool changes files.
    pub const fn writes(self) -> bool {
        matches!(self, ToolName::WriteFile | ToolName::EditFile)
    }

    /// The only role that may ever be given the tool, if it is limited to one.
    pub const fn only_for(self) -> Option<Role> {
        match self {
            // Only the Developer works beside QA and may not change QA's tests.
            ToolName::RequestTestChange => Some(Role::Developer),
            _ => None,
        }
    }

    /// Whether calling the tool ends the turn.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            ToolName::Finish | ToolName::SubmitReview | ToolName::SubmitDiagnosis
        )
    }

    /// The tool that ends `role`'s turn.
    pub const fn terminal_for(role: Role) -> ToolName {
        match role {
            Role::Developer | Role::Qa => ToolName::Finish,
            Role::CodeReviewer | Role::QaSpecialist => ToolName::SubmitReview,
            Role::Diagnostician => ToolName::SubmitDiagnosis,
        }
    }

    /// The specification sent to the model.
    pub fn spec(self) -> ToolSpec {
        let (description, parameters) = self.description_and_schema();
        ToolSpec {
            name: self.as_str().to_owned(),
            description: description.to_owned(),
            parameters: parameters.to_string(),
        }
    }

    fn description_and_schema(self) -> (&'static str, Value) {
        let path =
            json!({"type": "string", "description": "Path relative to the repository root."});
        match self {
            ToolName::ReadFile => (
                "Read a text file. Lines come numbered as `<n>\\t<text>`; the numbers are not part of the file. Large files are cut at a size cap: ask for a line range.",
                object(
                    json!({
                        "path": path,
                        "start_line": {"type": "integer", "minimum": 1, "description": "First line to read (1-based)."},
                        "end_line": {"type": "integer", "minimum": 1, "description": "Last line to read, inclusive."}
                    }),
                    &["path"],
                ),
            ),
            ToolName::ListFiles => (
                "List files under a directory, skipping what .gitignore ignores.",
                object(
                    json!({
                        "path": {"type": "string", "description": "Directory relative to the repository root; default the root."},
                        "glob": {"type": "string", "description": "Only paths matching this glob, e.g. `src/**/*.rs`."}
                    }),
                    &[],
                ),
            ),
            ToolName::SearchCode => (
                "Search file contents with a regular expression (Rust regex syntax). Returns `path:line: text` for each match, capped.",
                object(
                    json!({
                        "pattern": {"type": "string", "description": "Regular expression."},
                        "path": {"type": "string", "description": "Directory to search; default the root."},
                        "glob": {"type": "string", "description": "Only files matching this glob."}
                    }),
                    &["pattern"],
                ),
            ),
            ToolName::WriteFile => (
                "Create or overwrite a file with the given content. The formatter and linter run afterwards and their results are returned.",
                object(
                    json!({"path": path, "content": {"type": "string"}}),
                    &["path", "content"],
                ),
            ),
            ToolName::EditFile => (
                "Replace exactly one occurrence of `old` with `new` in a file. `old` must match the file byte for byte and occur exactly once. The formatter and linter run afterwards.",
                object(
                    json!({"path": path, "old": {"type": "string"}, "new": {"type": "string"}}),
                    &["path", "old", "new"],
                ),
            ),
            ToolName::RunTests => (
                "Run the repository's test command and return its output.",
                object(json!({}), &[]),
            ),
            ToolName::RunCommand => (
                "Run one command the repository allows (no shell: no pipes, redirections or `;`). Runs sandboxed without network.",
                object(
                    json!({"command": {"type": "string", "description": "The command line, e.g. `cargo check`."}}),
                    &["command"],
                ),
            ),
            ToolName::GitDiff => (
                "Show the diff of the worktree against HEAD, or against a base revision.",
                object(
                    json!({
                        "base": {"type": "string", "description": "Revision to compare with, e.g. `main` or `HEAD~1`."},
                        "path": {"type": "string", "description": "Limit to this path."}
                    }),
                    &[],
                ),
            ),
            ToolName::GitLog => (
                "Show recent commits, newest first.",
                object(
                    json!({
                        "max_count": {"type": "integer", "minimum": 1, "maximum": 200},
                        "path": {"type": "string", "description": "Only commits touching this path."}
                    }),
                    &[],
                ),
            ),
            ToolName::RequestTestChange => (
                "Ask QA to change a test you may not edit because QA wrote it. QA judges the request after your turn and changes the test only if you are right; you are told the outcome through the next task.",
                object(
                    json!({
                        "path": {"type": "string", "description": "The test file, relative to the repository root."},
                        "reason": {"type": "string", "description": "What is wrong with the test and what it should assert instead."}
                    }),
                    &["path", "reason"],
                ),
            ),
            ToolName::Finish => (
                "End your turn. The harness runs the tests and commits your changes; if the tests fail the commit is refused and you get the failure back.",
                object(
                    json!({"summary": {"type": "string", "description": "What you did and why."}}),
                    &["summary"],
                ),
            ),
            ToolName::SubmitReview => (
                "End your review with a verdict, a summary and inline comments.",
                object(
                    json!({
                        "verdict": {"type": "string", "enum": ["approve", "request_changes"]},
                        "summary": {"type": "string"},
                        "comments": {
                            "type": "array",
                            "items": object(
                                json!({
                                    "path": {"type": "string"},
                                    "line": {"type": "integer", "minimum": 1},
                                    "body": {"type": "string"}
                                }),
                                &["path", "line", "body"],
                            )
                        }
                    }),
                    &["verdict", "summary", "comments"],
                ),
            ),
            ToolName::SubmitDiagnosis => (
                "End the diagnosis with a hypothesis of the cause, a fix plan, your confidence and the files involved.",
                object(
                    json!({
                        "hypothesis": {"type": "string"},
                        "plan": {"type": "string"},
                        "confidence": {"type": "string", "enum": ["low", "medium", "high"]},
                        "files": {"type": "array", "items": {"type": "string"}}
                    }),
                    &["hypothesis", "plan", "confidence", "files"],
                ),
            ),
        }
    }
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false
    })
}

impl fmt::Display for ToolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tool name that is not one of [`ToolName::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "parse tool name `{0}`: expected one of read_file, list_files, search_code, write_file, edit_file, run_tests, run_command, git_diff, git_log, request_test_change, finish, submit_review, submit_diagnosis"
)]
pub struct UnknownTool(pub String);

impl FromStr for ToolName {
    type Err = UnknownTool;

    fn from_str(s: &str) -> Result<Self, UnknownTool> {
        ToolName::ALL
            .into_iter()
            .find(|tool| tool.as_str() == s)
            .ok_or_else(|| UnknownTool(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_is_a_closed_object() {
        for tool in ToolName::ALL {
            let schema: Value = serde_json::from_str(&tool.spec().parameters).unwrap();
            assert_eq!(schema["type"], "object", "{tool}");
            assert_eq!(schema["additionalProperties"], false, "{tool}");
            assert_eq!(tool.as_str().parse::<ToolName>(), Ok(tool));
        }
    }
}
