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
    /// Replace exact pieces of text in a file.
    EditFile,
    /// Delete a file.
    DeleteFile,
    /// Move or rename a file.
    MoveFile,
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
    pub const ALL: [ToolName; 15] = [
        ToolName::ReadFile,
        ToolName::ListFiles,
        ToolName::SearchCode,
        ToolName::WriteFile,
        ToolName::EditFile,
        ToolName::DeleteFile,
        ToolName::MoveFile,
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
            ToolName::DeleteFile => "delete_file",
            ToolName::MoveFile => "move_file",
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
        matches!(
            self,
            ToolName::WriteFile | ToolName::EditFile | ToolName::DeleteFile | ToolName::MoveFile
        )
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

    /// The specification sent to the model, described for a repository whose guardrails are
    /// unknown (see [`ToolName::spec_in`]).
    pub fn spec(self) -> ToolSpec {
        self.spec_in(&SpecContext::default())
    }

    /// The specification sent to the model, with descriptions that say what this
    /// repository's guardrails and this turn's `finish` really do.
    pub fn spec_in(self, context: &SpecContext) -> ToolSpec {
        let (description, parameters) = self.description_and_schema(context);
        ToolSpec {
            name: self.as_str().to_owned(),
            description,
            parameters: parameters.to_string(),
        }
    }

    fn description_and_schema(self, context: &SpecContext) -> (String, Value) {
        let path =
            json!({"type": "string", "description": "Path relative to the repository root."});
        let after_write = context.after_write();
        let (description, schema): (&str, Value) = match self {
            ToolName::ReadFile => (
                "Read a text file, 300 lines at a time unless `limit` says otherwise. Lines come numbered as `<n>\\t<text>`; the numbers are not part of the file. A tool output that was cut names the `scratch:` path where it is kept whole: read that path the same way.",
                object(
                    json!({
                        "path": {"type": "string", "description": "Path relative to the repository root, or a `scratch:` path named in a cut tool output."},
                        "offset": {"type": "integer", "minimum": 1, "description": "First line to read (1-based); default 1."},
                        "limit": {"type": "integer", "minimum": 1, "description": "How many lines to read; default 300."}
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
            ToolName::WriteFile => {
                return (
                    format!(
                        "Create a file, or overwrite one with the given content. Prefer `edit_file` for changes to an existing file.{after_write}"
                    ),
                    object(
                        json!({"path": path, "content": {"type": "string", "description": "The whole new content of the file."}}),
                        &["path", "content"],
                    ),
                );
            }
            ToolName::EditFile => {
                let edit = json!({
                    "old": {"type": "string", "description": "Text to replace, exactly as in the file, whitespace included (read_file's line numbers are not part of it)."},
                    "new": {"type": "string", "description": "The text to put in its place."},
                    "replace_all": {"type": "boolean", "description": "Replace every occurrence; by default `old` must occur exactly once."}
                });
                let mut properties = edit.clone();
                properties["path"] = path;
                properties["edits"] = json!({
                    "type": "array",
                    "minItems": 1,
                    "description": "Several replacements instead of `old`/`new`: applied in order, each to the result of the previous one; all succeed or the file is left unchanged.",
                    "items": object(edit, &["old", "new"])
                });
                return (
                    format!(
                        "Replace text in an existing file: `old` by `new`, where `old` must occur exactly once unless `replace_all` is set; or give `edits` to make several replacements in one call. Line endings are kept: in a file with CRLF line endings write `old` and `new` with plain newlines. When `old` is not found you are shown the closest text in the file.{after_write}"
                    ),
                    object(properties, &["path"]),
                );
            }
            ToolName::DeleteFile => (
                "Delete a file you may write (a symlink is deleted itself, never what it points to; directories are refused). Directories left empty are removed.",
                object(json!({"path": path}), &["path"]),
            ),
            ToolName::MoveFile => {
                return (
                    format!(
                        "Move or rename a file you may write to a path you may write that does not exist yet; missing directories are created.{after_write}"
                    ),
                    object(
                        json!({
                            "from": {"type": "string", "description": "The file to move, relative to the repository root."},
                            "to": {"type": "string", "description": "Its new path, relative to the repository root."}
                        }),
                        &["from", "to"],
                    ),
                );
            }
            ToolName::RunTests => return context.run_tests(),
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
            ToolName::Finish => return context.finish(),
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
        };
        (description.to_owned(), schema)
    }
}

/// What the descriptions of one turn's tools say about the repository and the turn: its
/// commands, whether `run_tests` can narrow, and what `finish` does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecContext {
    /// The full test command.
    pub test: Option<String>,
    /// The narrowed test command, with `{selector}`.
    pub test_one: Option<String>,
    /// The formatter run on written files.
    pub format: Option<String>,
    /// The linter run on written files (it has `{files}`).
    pub lint_per_write: Option<String>,
    /// The linter run once before a writer's turn ends (it checks the whole tree).
    pub lint_at_finish: Option<String>,
    /// Why no formatter runs after a write (`none configured for this repository`), when
    /// the repository has none.
    pub format_absent: Option<String>,
    /// Why no linter runs, when the repository has none.
    pub lint_absent: Option<String>,
    /// Whether `finish` commits through the test guardrail (otherwise the runtime commits
    /// after the turn).
    pub finish_commits: bool,
}

impl SpecContext {
    /// What the write tools' descriptions say about the guardrails run after a write: said
    /// once here rather than repeated in every write's result.
    fn after_write(&self) -> String {
        let mut text = self.guardrails_run();
        if let Some(why) = &self.format_absent {
            text.push_str(&format!(" No formatter runs: {why}."));
        }
        if let Some(lint) = &self.lint_at_finish {
            text.push_str(&format!(
                " The linter (`{lint}`) checks the whole project, so it runs once when you call `finish`, not after each write."
            ));
        }
        if let Some(why) = &self.lint_absent {
            text.push_str(&format!(" No linter runs: {why}."));
        }
        text
    }

    fn guardrails_run(&self) -> String {
        match (&self.format, &self.lint_per_write) {
            (Some(format), Some(lint)) => format!(
                " Afterwards the harness formats the file (`{format}`) and lints it (`{lint}`), and returns both results."
            ),
            (Some(format), None) => format!(
                " Afterwards the harness formats the file (`{format}`) and returns the result."
            ),
            (None, Some(lint)) => {
                format!(" Afterwards the harness lints the file (`{lint}`) and returns the result.")
            }
            (None, None) => String::new(),
        }
    }

    fn run_tests(&self) -> (String, Value) {
        let whole = self.test.as_deref().map_or_else(
            || "the repository's test command".to_owned(),
            |test| format!("`{test}`"),
        );
        match &self.test_one {
            Some(test_one) => (
                format!(
                    "Run the repository's tests and return their output: the whole suite ({whole}), or only the tests `selector` names (`{test_one}`), which is quicker while you work. The whole suite runs anyway before your work is committed."
                ),
                object(
                    json!({"selector": {"type": "string", "description": "Test names or test file paths, separated by spaces, as the test runner takes them."}}),
                    &[],
                ),
            ),
            None => (
                format!("Run the repository's whole test suite ({whole}) and return its output."),
                object(json!({}), &[]),
            ),
        }
    }

    fn finish(&self) -> (String, Value) {
        let tests = self
            .test
            .as_deref()
            .map_or_else(|| "the test command".to_owned(), |test| format!("`{test}`"));
        let mut description = if self.finish_commits {
            format!(
                "End your turn with a summary. The harness runs the whole test suite ({tests}) and commits your changes; if the tests fail nothing is committed, you get the failures back and your turn goes on."
            )
        } else {
            format!(
                "End your turn with a summary of what you did and why. Your changes are committed after your turn, once the whole test suite ({tests}) passes; failures come back to you as a new task."
            )
        };
        if let Some(lint) = &self.lint_at_finish {
            description.push_str(&format!(
                " If you changed files the linter covers, it first checks the project once (`{lint}`); when it finds problems you get them back, and you call `finish` again."
            ));
        }
        (
            description,
            object(
                json!({"summary": {"type": "string", "description": "What you did and why, and anything left for a person."}}),
                &["summary"],
            ),
        )
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
    "parse tool name `{0}`: expected one of read_file, list_files, search_code, write_file, edit_file, delete_file, move_file, run_tests, run_command, git_diff, git_log, request_test_change, finish, submit_review, submit_diagnosis"
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
