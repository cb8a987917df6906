//! Prompt templates (minijinja) for the system prompt and each task, shipped compiled in and
//! overridable by a target repository's `prompts/` directory. Undefined variables are errors,
//! and untrusted text can only be printed fenced.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use crate::fence::{GUIDANCE_NOTE, UNTRUSTED_NOTE, fence};
use crate::prompt_context::{SystemContext, TaskContext};

/// A prompt template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PromptName {
    /// Wraps an agent's instructions into its system prompt ([`SystemContext`]).
    System,
    /// The Developer implements the issue ([`TaskContext`]).
    Implement,
    /// QA turns scenarios into tests.
    WriteTests,
    /// The Code Reviewer reviews the change.
    ReviewCode,
    /// The QA Specialist reviews the tests with the evidence.
    ReviewTests,
    /// A reviewer reviews again in its own conversation: what changed since its review.
    ReviewAgain,
    /// The Developer or QA addresses reviews.
    FixFromReview,
    /// The Developer or QA addresses reviews in its own conversation of its earlier work:
    /// the reviews, without the issue it was given already.
    FixAgain,
    /// The diagnostician investigates a bug report.
    Diagnose,
    /// The Developer or QA resolve the conflicts of the branch's change with a base that
    /// moved on.
    ResolveConflicts,
    /// The Developer or QA fix the required checks failing on the PR (a CI-fix round).
    FixChecks,
}

impl PromptName {
    /// Every template, in a stable order.
    pub const ALL: [PromptName; 11] = [
        PromptName::System,
        PromptName::Implement,
        PromptName::WriteTests,
        PromptName::ReviewCode,
        PromptName::ReviewTests,
        PromptName::ReviewAgain,
        PromptName::FixFromReview,
        PromptName::FixAgain,
        PromptName::Diagnose,
        PromptName::ResolveConflicts,
        PromptName::FixChecks,
    ];

    /// The template's name (`fix-from-review`).
    pub const fn as_str(self) -> &'static str {
        match self {
            PromptName::System => "system",
            PromptName::Implement => "implement",
            PromptName::WriteTests => "write-tests",
            PromptName::ReviewCode => "review-code",
            PromptName::ReviewTests => "review-tests",
            PromptName::ReviewAgain => "review-again",
            PromptName::FixFromReview => "fix-from-review",
            PromptName::FixAgain => "fix-again",
            PromptName::Diagnose => "diagnose",
            PromptName::ResolveConflicts => "resolve-conflicts",
            PromptName::FixChecks => "fix-checks",
        }
    }

    /// The template's file name in `prompts/` (`fix-from-review.md.j2`).
    pub fn file_name(self) -> String {
        format!("{}.md.j2", self.as_str())
    }

    fn shipped_source(self) -> &'static str {
        match self {
            PromptName::System => include_str!("../../../prompts/system.md.j2"),
            PromptName::Implement => include_str!("../../../prompts/implement.md.j2"),
            PromptName::WriteTests => include_str!("../../../prompts/write-tests.md.j2"),
            PromptName::ReviewCode => include_str!("../../../prompts/review-code.md.j2"),
            PromptName::ReviewTests => include_str!("../../../prompts/review-tests.md.j2"),
            PromptName::ReviewAgain => include_str!("../../../prompts/review-again.md.j2"),
            PromptName::FixFromReview => include_str!("../../../prompts/fix-from-review.md.j2"),
            PromptName::FixAgain => include_str!("../../../prompts/fix-again.md.j2"),
            PromptName::Diagnose => include_str!("../../../prompts/diagnose.md.j2"),
            PromptName::ResolveConflicts => {
                include_str!("../../../prompts/resolve-conflicts.md.j2")
            }
            PromptName::FixChecks => include_str!("../../../prompts/fix-checks.md.j2"),
        }
    }
}

impl fmt::Display for PromptName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a template was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromptSource {
    /// Compiled in from Squadron's `prompts/` directory.
    Shipped(PromptName),
    /// A file of the target repository's `prompts/` directory.
    Override(PathBuf),
}

impl fmt::Display for PromptSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromptSource::Shipped(name) => write!(f, "prompts/{} (shipped)", name.file_name()),
            PromptSource::Override(path) => write!(f, "{}", path.display()),
        }
    }
}

/// What kind of problem a template has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptErrorKind {
    /// The file could not be read.
    Io,
    /// The template does not parse.
    Syntax,
    /// Rendering failed: an undefined variable, a bad filter argument…
    Render,
}

/// A template that cannot be loaded or rendered, naming its file, line and the problem.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{file}{}: {problem}", line.map(|line| format!(":{line}")).unwrap_or_default())]
pub struct PromptError {
    /// The template's file.
    pub file: PromptSource,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The kind of problem.
    pub kind: PromptErrorKind,
    /// What is wrong.
    pub problem: String,
}

/// The prompt templates, ready to render.
#[derive(Debug)]
pub struct PromptLibrary {
    env: Environment<'static>,
    sources: BTreeMap<PromptName, (PromptSource, String)>,
    ignored: Vec<PathBuf>,
}

impl PromptLibrary {
    /// The shipped templates alone.
    pub fn shipped() -> PromptLibrary {
        // Invariant: the shipped templates parse; `every_template_renders` guards it.
        PromptLibrary::load(None).expect("the shipped prompts/*.md.j2 templates are valid")
    }

    /// Loads every template: `<override_dir>/<name>.md.j2` when that file exists, else the
    /// shipped one. Other files in `override_dir` are listed in
    /// [`PromptLibrary::ignored_files`].
    pub fn load(override_dir: Option<&Path>) -> Result<PromptLibrary, PromptError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build();
        // Invariant: the default delimiters with whitespace flags always form a valid syntax.
        env.set_syntax(syntax.expect("default delimiters are a valid syntax"));
        env.add_filter("fence", |text: String, source: String| {
            fence(&source, &text)
        });
        env.add_global("untrusted_note", UNTRUSTED_NOTE);
        env.add_global("guidance_note", GUIDANCE_NOTE);

        let mut sources = BTreeMap::new();
        for name in PromptName::ALL {
            let path = override_dir
                .map(|dir| dir.join(name.file_name()))
                .filter(|path| path.is_file());
            let (source, text) = match path {
                Some(path) => {
                    let text = std::fs::read_to_string(&path).map_err(|error| PromptError {
                        file: PromptSource::Override(path.clone()),
                        line: None,
                        kind: PromptErrorKind::Io,
                        problem: format!("could not read the file: {error}"),
                    })?;
                    (PromptSource::Override(path), text)
                }
                None => (
                    PromptSource::Shipped(name),
                    name.shipped_source().to_owned(),
                ),
            };
            env.add_template_owned(name.as_str(), text.clone())
                .map_err(|error| explain(&error, &source, &text, PromptErrorKind::Syntax))?;
            sources.insert(name, (source, text));
        }

        let mut ignored = Vec::new();
        if let Some(dir) = override_dir
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            for entry in entries.flatten() {
                let known = PromptName::ALL
                    .iter()
                    .any(|name| entry.file_name().to_str() == Some(&name.file_name()));
                if !known {
                    ignored.push(entry.path());
                }
            }
        }
        ignored.sort();
        Ok(PromptLibrary {
            env,
            sources,
            ignored,
        })
    }

    /// Renders `name` with `context` ([`SystemContext`] for `system`, [`TaskContext`] for the
    /// tasks, or any value of the same shape).
    pub fn render(
        &self,
        name: PromptName,
        context: &impl Serialize,
    ) -> Result<String, PromptError> {
        let (source, text) = &self.sources[&name];
        let template = self
            .env
            .get_template(name.as_str())
            .map_err(|error| explain(&error, source, text, PromptErrorKind::Render))?;
        template
            .render(minijinja::Value::from(minijinja::value::Serde(context)))
            .map_err(|error| explain(&error, source, text, PromptErrorKind::Render))
    }

    /// Renders every template with the example contexts, so an override that refers to a
    /// variable that does not exist is caught before a squad needs it.
    pub fn check(&self) -> Result<(), PromptError> {
        let system = SystemContext::example();
        let task = TaskContext::example();
        for name in PromptName::ALL {
            match name {
                PromptName::System => self.render(name, &system)?,
                _ => self.render(name, &task)?,
            };
        }
        Ok(())
    }

    /// Where `name` was read from.
    pub fn source(&self, name: PromptName) -> &PromptSource {
        &self.sources[&name].0
    }

    /// Files of the override directory that are not templates Squadron knows.
    pub fn ignored_files(&self) -> &[PathBuf] {
        &self.ignored
    }
}

/// A minijinja error as a [`PromptError`], quoting the offending template line because
/// minijinja does not name the undefined variable itself.
fn explain(
    error: &minijinja::Error,
    source: &PromptSource,
    text: &str,
    kind: PromptErrorKind,
) -> PromptError {
    let line = error.line();
    let mut problem = error.kind().to_string();
    if let Some(detail) = error.detail() {
        problem = format!("{problem}: {detail}");
    }
    if let Some(quoted) = line.and_then(|line| text.lines().nth(line.saturating_sub(1))) {
        problem = format!("{problem} in `{}`", quoted.trim());
    }
    PromptError {
        file: source.clone(),
        line,
        kind,
        problem,
    }
}
