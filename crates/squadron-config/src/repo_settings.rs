//! A target repository's `.squadron.toml`: the guardrail commands (format, lint, test and
//! the narrowed `test_one`), which files are tests, the docs every agent reads, the commands
//! agents may run, and what its commands need from the host (`[sandbox]`). Keys the file
//! leaves out (or the whole file, when absent) default from the kind of project found and
//! the programs installed on the commands' `PATH`.

use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use crate::command_line::{CommandLine, FILE_PLACEHOLDER, FILES_PLACEHOLDER, SELECTOR_PLACEHOLDER};
use crate::error::{ConfigError, KeyPath, Origin};
use crate::layering::{Provenance, deserialize_table, parse_table};
use crate::repo_defaults::{Defaults, Ecosystem, Guard, Installed, defaults, regular_file};
use crate::repo_sandbox::{HostEnvironment, RawSandbox, RepoSandbox, resolve};

/// The settings file's name at the repository root.
pub const REPO_SETTINGS_FILE: &str = ".squadron.toml";

/// Guides every agent reads when present and the file names no `docs`.
const DEFAULT_DOCS: [&str; 4] = [
    "AGENTS.md",
    "CLAUDE.md",
    "ARCHITECTURE.md",
    "CONTRIBUTING.md",
];

/// Bytes of project instructions the system prompt holds unless the file says otherwise.
pub const DEFAULT_DOCS_MAX_BYTES: usize = 32 * 1024;
/// The range `docs_max_bytes` may take.
const DOCS_MAX_BYTES_RANGE: std::ops::RangeInclusive<usize> = 1024..=512 * 1024;

/// Compiles the globs of `key`, each relative to the repository root (`**` crosses
/// directories, `*` does not).
fn compile_globs(
    key: &str,
    globs: &[String],
    invalid: &impl Fn(KeyPath, String, String) -> ConfigError,
) -> Result<GlobSet, ConfigError> {
    let mut matcher = GlobSetBuilder::new();
    for (index, glob) in globs.iter().enumerate() {
        let key = KeyPath::new([key]).index(index);
        if glob.starts_with('/') || glob.split('/').any(|part| part == "..") {
            return Err(invalid(
                key,
                format!("{glob:?}"),
                "must be relative to the repository root, without `..`".to_owned(),
            ));
        }
        let compiled = GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|error| {
                invalid(
                    key,
                    format!("{glob:?}"),
                    format!("is not a valid glob: {}", error.kind()),
                )
            })?;
        matcher.add(compiled);
    }
    matcher.build().map_err(|error| {
        invalid(
            KeyPath::new([key]),
            format!("{globs:?}"),
            format!("cannot be compiled: {error}"),
        )
    })
}

/// `.squadron.toml` as written; every key optional.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    format: Option<CommandLine>,
    format_extensions: Option<Vec<String>>,
    lint: Option<CommandLine>,
    lint_extensions: Option<Vec<String>>,
    test: Option<CommandLine>,
    test_one: Option<CommandLine>,
    test_globs: Option<Vec<String>>,
    protected: Option<Vec<String>>,
    docs: Option<Vec<String>>,
    docs_max_bytes: Option<usize>,
    allowed_commands: Option<Vec<CommandLine>>,
    sandbox: Option<RawSandbox>,
}

/// A target repository's guardrail settings, validated.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RepoSettings {
    /// Formatter run on each written file: `{file}` in it is replaced by the file; without
    /// `{file}` it runs as written (a formatter of the whole tree).
    pub format: Option<CommandLine>,
    /// Extensions (`rs`) of the files the formatter applies to; empty: every file.
    pub format_extensions: Vec<String>,
    /// Linter: with `{files}` it runs after each write on the written files; without, it
    /// checks the whole tree, so it runs once when a writer finishes.
    pub lint: Option<CommandLine>,
    /// Extensions of the files the linter applies to; empty: every file.
    pub lint_extensions: Vec<String>,
    /// The full test command, run by `run_tests` and before every commit.
    pub test: CommandLine,
    /// The test command narrowed to some tests: `{selector}` is replaced by the test names or
    /// paths an agent gives `run_tests`.
    pub test_one: Option<CommandLine>,
    /// Globs (relative to the root, `**` crosses directories) of test files: the only files QA
    /// may write.
    pub test_globs: Vec<String>,
    /// Globs of files no agent may change, besides those Squadron always protects (its own
    /// settings, agents and prompts, the CI workflows, `AGENTS.md` and `CLAUDE.md`).
    pub protected: Vec<String>,
    /// Documents (files or directories, relative to the root) loaded for every agent.
    pub docs: Vec<PathBuf>,
    /// Bytes of project instructions a system prompt holds at most.
    pub docs_max_bytes: usize,
    /// Commands `run_command` accepts: a command is allowed when it starts with one of these.
    pub allowed_commands: Vec<CommandLine>,
    /// What the repository's commands need from the host.
    pub sandbox: RepoSandbox,
    /// What was left out and why (a formatter that is not installed, a variable the host
    /// does not set), for `doctor` and the log.
    pub notes: Vec<String>,
    /// The settings file, when the repository has one.
    pub file: Option<PathBuf>,
    /// The kind of project found, which supplied the defaults.
    pub ecosystem: Option<Ecosystem>,
    test_matcher: GlobSet,
}

impl RepoSettings {
    /// Reads `<worktree_root>/.squadron.toml` when present, on a host that offers nothing
    /// (see [`RepoSettings::load_with`]).
    pub fn load(worktree_root: &Path) -> Result<RepoSettings, ConfigError> {
        RepoSettings::load_with(worktree_root, &HostEnvironment::bare())
    }

    /// Reads `<worktree_root>/.squadron.toml` when present; keys it leaves out default from
    /// the project found at the root (`Cargo.toml`, `package.json`, `pyproject.toml`,
    /// `go.mod`) and from the programs on the `PATH` the repository's commands get on `host`.
    pub fn load_with(
        worktree_root: &Path,
        host: &HostEnvironment,
    ) -> Result<RepoSettings, ConfigError> {
        let path = worktree_root.join(REPO_SETTINGS_FILE);
        let text = if regular_file(&path) {
            Some(
                std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?,
            )
        } else {
            None
        };
        RepoSettings::from_text_with(worktree_root, text.as_deref(), host)
    }

    /// Like [`RepoSettings::load`] with the file's text in hand (`None`: no file).
    pub fn from_text(
        worktree_root: &Path,
        text: Option<&str>,
    ) -> Result<RepoSettings, ConfigError> {
        RepoSettings::from_text_with(worktree_root, text, &HostEnvironment::bare())
    }

    /// Like [`RepoSettings::load_with`] with the file's text in hand (`None`: no file).
    pub fn from_text_with(
        worktree_root: &Path,
        text: Option<&str>,
        host: &HostEnvironment,
    ) -> Result<RepoSettings, ConfigError> {
        let path = worktree_root.join(REPO_SETTINGS_FILE);
        let origin = Origin::File(path.clone());
        let raw = match text {
            Some(text) => {
                let table = parse_table(text, origin.clone())?;
                deserialize_table::<RawSettings>(&table, &Provenance::whole_file(origin.clone()))?
            }
            None => RawSettings::default(),
        };
        let invalid = |key: KeyPath, value: String, expected: String| ConfigError::InvalidValue {
            key,
            value,
            origin: origin.clone(),
            expected,
        };
        let sandbox = resolve(raw.sandbox.unwrap_or_default(), host, &origin)?;
        let installed = Installed::on_path(sandbox.path(host));
        let ecosystem = Ecosystem::detect(worktree_root);
        let defaults = ecosystem
            .map(|ecosystem| defaults(ecosystem, worktree_root, &installed))
            .unwrap_or_default();
        let Defaults {
            format: default_format,
            lint: default_lint,
            test: default_test,
            test_one: default_test_one,
            test_globs: default_test_globs,
            allowed_commands: default_allowed,
        } = defaults;
        let mut notes: Vec<String> = sandbox
            .withheld_env
            .iter()
            .map(|withheld| format!("sandbox.pass_env {withheld}"))
            .collect();

        // A `test_one` of the file's own goes with its own `test`; the ecosystem's default
        // narrows the ecosystem's default test command only.
        let test_defaulted = raw.test.is_none() || raw.test == default_test;
        let Some(test) = raw.test.or(default_test) else {
            return Err(ConfigError::MissingKey {
                key: KeyPath::new(["test"]),
                origin: origin.clone(),
                expected: format!(
                    "no Cargo.toml, package.json, pyproject.toml, setup.py or go.mod was found to guess it from; \
                     add `test = \"<your test command>\"` to {}",
                    path.display()
                ),
            });
        };
        let test_one = match (raw.test_one, test_defaulted) {
            (Some(test_one), _) => {
                if !test_one.mentions(SELECTOR_PLACEHOLDER) {
                    return Err(invalid(
                        KeyPath::new(["test_one"]),
                        format!("{:?}", test_one.to_string()),
                        "must contain `{selector}`, where the test names or paths go, e.g. \"cargo test -- {selector}\"".to_owned(),
                    ));
                }
                Some(test_one)
            }
            (None, true) => default_test_one,
            (None, false) => None,
        };
        if let Some(format) = &raw.format
            && format.mentions(FILES_PLACEHOLDER)
        {
            return Err(invalid(
                KeyPath::new(["format"]),
                format!("{:?}", format.to_string()),
                "formats one file at a time: write `{file}` where the file goes".to_owned(),
            ));
        }
        let mut format = guard(raw.format, default_format, &installed, "format", &mut notes);
        let mut lint = guard(raw.lint, default_lint, &installed, "lint", &mut notes);
        for (key, extensions, guard) in [
            ("format_extensions", raw.format_extensions, &mut format),
            ("lint_extensions", raw.lint_extensions, &mut lint),
        ] {
            let Some(extensions) = extensions else {
                continue;
            };
            for (index, extension) in extensions.iter().enumerate() {
                let plain = !extension.is_empty()
                    && extension
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !plain {
                    return Err(invalid(
                        KeyPath::new([key]).index(index),
                        format!("{extension:?}"),
                        "must be a file extension without the dot, such as \"py\"".to_owned(),
                    ));
                }
            }
            guard.extensions = extensions;
        }

        let test_globs = raw.test_globs.unwrap_or(default_test_globs);
        let test_matcher = compile_globs("test_globs", &test_globs, &invalid)?;
        let protected = raw.protected.unwrap_or_default();
        compile_globs("protected", &protected, &invalid)?;

        let docs = match raw.docs {
            Some(docs) => {
                let mut checked = Vec::new();
                for (index, doc) in docs.iter().enumerate() {
                    let key = KeyPath::new(["docs"]).index(index);
                    let relative = Path::new(doc);
                    let inside = !doc.is_empty()
                        && relative
                            .components()
                            .all(|part| matches!(part, Component::Normal(_) | Component::CurDir));
                    if !inside {
                        return Err(invalid(
                            key,
                            format!("{doc:?}"),
                            "must be a path inside the repository, relative to its root".to_owned(),
                        ));
                    }
                    if !worktree_root.join(relative).exists() {
                        return Err(invalid(
                            key,
                            format!("{doc:?}"),
                            "does not exist in the repository; fix the path or remove it"
                                .to_owned(),
                        ));
                    }
                    checked.push(relative.to_owned());
                }
                checked
            }
            None => DEFAULT_DOCS
                .iter()
                .map(PathBuf::from)
                .filter(|doc| regular_file(&worktree_root.join(doc)))
                .collect(),
        };
        let docs_max_bytes = raw.docs_max_bytes.unwrap_or(DEFAULT_DOCS_MAX_BYTES);
        if !DOCS_MAX_BYTES_RANGE.contains(&docs_max_bytes) {
            return Err(invalid(
                KeyPath::new(["docs_max_bytes"]),
                docs_max_bytes.to_string(),
                format!(
                    "must be between {} and {} bytes",
                    DOCS_MAX_BYTES_RANGE.start(),
                    DOCS_MAX_BYTES_RANGE.end()
                ),
            ));
        }

        Ok(RepoSettings {
            format: format.command,
            format_extensions: format.extensions,
            lint: lint.command,
            lint_extensions: lint.extensions,
            test,
            test_one,
            test_globs,
            protected,
            docs,
            docs_max_bytes,
            allowed_commands: raw.allowed_commands.unwrap_or(default_allowed),
            sandbox,
            notes,
            file: text.map(|_| path),
            ecosystem,
            test_matcher,
        })
    }

    /// Whether `relative` (a path from the repository root, `/`-separated) is a test file.
    pub fn is_test_file(&self, relative: &Path) -> bool {
        self.test_matcher.is_match(relative)
    }

    /// Whether `run_command` may run `argv`.
    pub fn allows(&self, argv: &[String]) -> bool {
        self.allowed_commands
            .iter()
            .any(|allowed| allowed.is_prefix_of(argv))
    }

    /// Whether the linter checks the written files after each write (it has `{files}`), as
    /// opposed to the whole tree once when a writer finishes.
    pub fn lints_per_write(&self) -> bool {
        self.lint
            .as_ref()
            .is_some_and(|lint| lint.mentions(FILES_PLACEHOLDER) || lint.mentions(FILE_PLACEHOLDER))
    }
}

/// The file's command for a guardrail, else the default; notes a default that is missing and
/// a configured program that is not installed.
fn guard(
    configured: Option<CommandLine>,
    default: Guard,
    installed: &Installed,
    key: &str,
    notes: &mut Vec<String>,
) -> Guard {
    match configured {
        Some(command) => {
            let program = command.program();
            if !program.contains('/') && !installed.has(program) {
                notes.push(format!(
                    "{key}: `{program}` is not installed on the commands' PATH, so `{command}` will fail"
                ));
            }
            Guard {
                command: Some(command),
                extensions: Vec::new(),
                missing: None,
            }
        }
        None => {
            if let Some(missing) = &default.missing {
                notes.push(format!("{key}: {missing}"));
            }
            default
        }
    }
}
