//! A target repository's `.squadron.toml`: the guardrail commands (format, lint, test), which
//! files are tests, the docs every agent reads, and the commands agents may run. Keys the file
//! leaves out (or the whole file, when absent) default from the kind of project found.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use crate::error::{ConfigError, KeyPath, Origin};
use crate::layering::{Provenance, deserialize_table, parse_table};

/// The settings file's name at the repository root.
pub const REPO_SETTINGS_FILE: &str = ".squadron.toml";

/// Guides every agent reads when present and the file names no `docs`.
const DEFAULT_DOCS: [&str; 4] = [
    "AGENTS.md",
    "CLAUDE.md",
    "ARCHITECTURE.md",
    "CONTRIBUTING.md",
];

/// A command as an argument vector; run without a shell.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CommandLine(Vec<String>);

impl CommandLine {
    /// A command from its arguments; `None` when empty.
    pub fn new<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Option<CommandLine> {
        let argv: Vec<String> = argv.into_iter().map(Into::into).collect();
        if argv.is_empty() {
            None
        } else {
            Some(CommandLine(argv))
        }
    }

    fn parse_words(text: &str) -> Option<CommandLine> {
        CommandLine::new(text.split_whitespace())
    }

    /// The program and its arguments.
    pub fn argv(&self) -> &[String] {
        &self.0
    }

    /// The argument vector with `{file}` replaced by `file`; a command without `{file}` runs
    /// as written (for formatters that format the whole tree).
    pub fn for_file(&self, file: &str) -> Vec<String> {
        self.0
            .iter()
            .map(|arg| arg.replace("{file}", file))
            .collect()
    }

    /// Whether `argv` is this command or this command with more arguments.
    pub fn is_prefix_of(&self, argv: &[String]) -> bool {
        argv.starts_with(&self.0)
    }
}

impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl<'de> Deserialize<'de> for CommandLine {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CommandVisitor;

        impl<'de> Visitor<'de> for CommandVisitor {
            type Value = CommandLine;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a command as a string (\"cargo test\") or a list ([\"cargo\", \"test\"])",
                )
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<CommandLine, E> {
                if text.contains(['"', '\'', '\\']) {
                    return Err(E::custom(
                        "quotes and backslashes are not interpreted in the string form; write the \
                         command as a list such as [\"sh\", \"-c\", \"make test\"]",
                    ));
                }
                CommandLine::parse_words(text)
                    .ok_or_else(|| E::custom("a command must not be empty"))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CommandLine, A::Error> {
                let mut argv = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    argv.push(arg);
                }
                CommandLine::new(argv)
                    .ok_or_else(|| de::Error::custom("a command must not be empty"))
            }
        }

        deserializer.deserialize_any(CommandVisitor)
    }
}

/// The kind of project found at the repository root, which sets the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ecosystem {
    /// `Cargo.toml`.
    Rust,
    /// `package.json`.
    Node,
    /// `pyproject.toml` or `setup.py`.
    Python,
    /// `go.mod`.
    Go,
}

impl Ecosystem {
    fn detect(root: &Path) -> Option<Ecosystem> {
        [
            ("Cargo.toml", Ecosystem::Rust),
            ("go.mod", Ecosystem::Go),
            ("pyproject.toml", Ecosystem::Python),
            ("setup.py", Ecosystem::Python),
            ("package.json", Ecosystem::Node),
        ]
        .into_iter()
        .find(|(marker, _)| root.join(marker).is_file())
        .map(|(_, ecosystem)| ecosystem)
    }

    fn defaults(self) -> Defaults {
        let words = |text: &str| CommandLine::parse_words(text);
        let strings = |items: &[&str]| {
            items
                .iter()
                .map(|item| (*item).to_owned())
                .collect::<Vec<_>>()
        };
        let commands = |items: &[&str]| {
            items
                .iter()
                .filter_map(|item| words(item))
                .collect::<Vec<_>>()
        };
        match self {
            Ecosystem::Rust => Defaults {
                format: words("cargo fmt"),
                lint: words("cargo clippy --all-targets --quiet"),
                test: words("cargo test"),
                test_globs: strings(&["tests/**", "**/tests/**", "benches/**"]),
                allowed_commands: commands(&[
                    "cargo check",
                    "cargo build",
                    "cargo tree",
                    "cargo metadata",
                ]),
            },
            Ecosystem::Node => Defaults {
                format: None,
                lint: None,
                test: words("npm test"),
                test_globs: strings(&[
                    "**/*.test.*",
                    "**/*.spec.*",
                    "**/__tests__/**",
                    "test/**",
                    "tests/**",
                ]),
                allowed_commands: commands(&["npm run"]),
            },
            Ecosystem::Python => Defaults {
                format: None,
                lint: None,
                test: words("python -m pytest"),
                test_globs: strings(&[
                    "tests/**",
                    "**/test_*.py",
                    "**/*_test.py",
                    "**/conftest.py",
                ]),
                allowed_commands: commands(&["python -m pytest"]),
            },
            Ecosystem::Go => Defaults {
                format: words("gofmt -w {file}"),
                lint: words("go vet ./..."),
                test: words("go test ./..."),
                test_globs: strings(&["**/*_test.go", "**/testdata/**"]),
                allowed_commands: commands(&["go build", "go vet"]),
            },
        }
    }
}

#[derive(Default)]
struct Defaults {
    format: Option<CommandLine>,
    lint: Option<CommandLine>,
    test: Option<CommandLine>,
    test_globs: Vec<String>,
    allowed_commands: Vec<CommandLine>,
}

/// `.squadron.toml` as written; every key optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    format: Option<CommandLine>,
    lint: Option<CommandLine>,
    test: Option<CommandLine>,
    test_globs: Option<Vec<String>>,
    docs: Option<Vec<String>>,
    allowed_commands: Option<Vec<CommandLine>>,
}

/// A target repository's guardrail settings, validated.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RepoSettings {
    /// Formatter run after every write; `{file}` in it is replaced by the written file.
    pub format: Option<CommandLine>,
    /// Linter run after every write.
    pub lint: Option<CommandLine>,
    /// The full test command, run by `run_tests` and before every commit.
    pub test: CommandLine,
    /// Globs (relative to the root, `**` crosses directories) of test files: the only files QA
    /// may write.
    pub test_globs: Vec<String>,
    /// Documents (files or directories, relative to the root) loaded for every agent.
    pub docs: Vec<PathBuf>,
    /// Commands `run_command` accepts: a command is allowed when it starts with one of these.
    pub allowed_commands: Vec<CommandLine>,
    /// The settings file, when the repository has one.
    pub file: Option<PathBuf>,
    /// The kind of project found, which supplied the defaults.
    pub ecosystem: Option<Ecosystem>,
    test_matcher: GlobSet,
}

impl RepoSettings {
    /// Reads `<worktree_root>/.squadron.toml` when present; keys it leaves out default from
    /// the project found at the root (`Cargo.toml`, `package.json`, `pyproject.toml`, `go.mod`).
    pub fn load(worktree_root: &Path) -> Result<RepoSettings, ConfigError> {
        let path = worktree_root.join(REPO_SETTINGS_FILE);
        let text = if path.is_file() {
            Some(
                std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?,
            )
        } else {
            None
        };
        RepoSettings::from_text(worktree_root, text.as_deref())
    }

    /// Like [`RepoSettings::load`] with the file's text in hand (`None`: no file).
    pub fn from_text(
        worktree_root: &Path,
        text: Option<&str>,
    ) -> Result<RepoSettings, ConfigError> {
        let path = worktree_root.join(REPO_SETTINGS_FILE);
        let origin = Origin::File(path.clone());
        let raw = match text {
            Some(text) => {
                let table = parse_table(text, origin.clone())?;
                deserialize_table::<RawSettings>(&table, &Provenance::whole_file(origin.clone()))?
            }
            None => RawSettings {
                format: None,
                lint: None,
                test: None,
                test_globs: None,
                docs: None,
                allowed_commands: None,
            },
        };
        let ecosystem = Ecosystem::detect(worktree_root);
        let defaults = ecosystem.map(Ecosystem::defaults).unwrap_or_default();
        let invalid = |key: KeyPath, value: String, expected: String| ConfigError::InvalidValue {
            key,
            value,
            origin: origin.clone(),
            expected,
        };

        let Some(test) = raw.test.or(defaults.test) else {
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

        let test_globs = raw.test_globs.unwrap_or(defaults.test_globs);
        let mut matcher = GlobSetBuilder::new();
        for (index, glob) in test_globs.iter().enumerate() {
            let key = KeyPath::new(["test_globs"]).index(index);
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
        let test_matcher = matcher.build().map_err(|error| {
            invalid(
                KeyPath::new(["test_globs"]),
                format!("{test_globs:?}"),
                format!("cannot be compiled: {error}"),
            )
        })?;

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
                .filter(|doc| worktree_root.join(doc).is_file())
                .collect(),
        };

        Ok(RepoSettings {
            format: raw.format.or(defaults.format),
            lint: raw.lint.or(defaults.lint),
            test,
            test_globs,
            docs,
            allowed_commands: raw.allowed_commands.unwrap_or(defaults.allowed_commands),
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
}
