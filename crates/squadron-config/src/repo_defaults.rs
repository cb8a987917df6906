//! The guardrail commands a repository gets when its `.squadron.toml` leaves them out: picked
//! from the kind of project at its root and from the programs installed on the `PATH` its
//! commands run with, so a default never names a formatter or linter that is not there.

use std::path::{Path, PathBuf};

use crate::command_line::CommandLine;

/// The kind of project found at the repository root, which sets the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ecosystem {
    /// `Cargo.toml`.
    Rust,
    /// `package.json`.
    Node,
    /// `pyproject.toml`, `setup.py`, `setup.cfg` or `requirements.txt`.
    Python,
    /// `go.mod`.
    Go,
}

impl Ecosystem {
    pub(crate) fn detect(root: &Path) -> Option<Ecosystem> {
        [
            ("Cargo.toml", Ecosystem::Rust),
            ("go.mod", Ecosystem::Go),
            ("pyproject.toml", Ecosystem::Python),
            ("setup.py", Ecosystem::Python),
            ("setup.cfg", Ecosystem::Python),
            ("package.json", Ecosystem::Node),
            ("requirements.txt", Ecosystem::Python),
        ]
        .into_iter()
        .find(|(marker, _)| regular_file(&root.join(marker)))
        .map(|(_, ecosystem)| ecosystem)
    }

    /// The ecosystem's name, as shown to people.
    pub const fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Rust => "Rust",
            Ecosystem::Node => "JavaScript",
            Ecosystem::Python => "Python",
            Ecosystem::Go => "Go",
        }
    }
}

/// Programs installed on the `PATH` a repository's commands run with.
#[derive(Clone, Debug)]
pub struct Installed {
    dirs: Vec<PathBuf>,
}

impl Installed {
    /// The programs of a `PATH` value (`/usr/bin:/bin`).
    pub fn on_path(path: &str) -> Installed {
        Installed {
            dirs: path
                .split(':')
                .filter(|dir| !dir.is_empty())
                .map(PathBuf::from)
                .collect(),
        }
    }

    /// Whether `program` is an executable file in one of the directories.
    pub fn has(&self, program: &str) -> bool {
        use std::os::unix::fs::PermissionsExt;
        self.dirs.iter().any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
    }
}

/// A guardrail command with the file extensions it applies to (empty: every file).
#[derive(Clone, Debug, Default)]
pub(crate) struct Guard {
    pub command: Option<CommandLine>,
    pub extensions: Vec<String>,
    /// Why there is no command, when a usual one is missing.
    pub missing: Option<String>,
}

impl Guard {
    fn some(words: &str, extensions: &[&str]) -> Guard {
        Guard {
            command: CommandLine::parse_words(words),
            extensions: extensions.iter().map(|ext| (*ext).to_owned()).collect(),
            missing: None,
        }
    }

    fn missing(why: impl Into<String>) -> Guard {
        Guard {
            command: None,
            extensions: Vec::new(),
            missing: Some(why.into()),
        }
    }
}

/// Everything a repository's settings default to.
#[derive(Default)]
pub(crate) struct Defaults {
    pub format: Guard,
    pub lint: Guard,
    pub test: Option<CommandLine>,
    pub test_one: Option<CommandLine>,
    pub test_globs: Vec<String>,
    pub allowed_commands: Vec<CommandLine>,
}

const RUST: &[&str] = &["rs"];
const PYTHON: &[&str] = &["py", "pyi"];
const GO: &[&str] = &["go"];
const SCRIPT: &[&str] = &["js", "jsx", "mjs", "cjs", "ts", "tsx", "mts", "cts"];

fn words(text: &str) -> Option<CommandLine> {
    CommandLine::parse_words(text)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn commands(items: &[&str]) -> Vec<CommandLine> {
    items.iter().filter_map(|item| words(item)).collect()
}

/// The defaults of `ecosystem` for the repository at `root`, given what is installed.
pub(crate) fn defaults(ecosystem: Ecosystem, root: &Path, installed: &Installed) -> Defaults {
    match ecosystem {
        Ecosystem::Rust => rust(root, installed),
        Ecosystem::Node => node(root, installed),
        Ecosystem::Python => python(root, installed),
        Ecosystem::Go => go(installed),
    }
}

fn not_installed(program: &str, role: &str) -> Guard {
    Guard::missing(format!(
        "no {role}: `{program}` is not installed on the commands' PATH"
    ))
}

fn rust(root: &Path, installed: &Installed) -> Defaults {
    // `cargo fmt <file>` is refused by cargo; rustfmt formats one file, given the edition
    // the way `cargo fmt` passes it.
    let format = if installed.has("rustfmt") {
        Guard::some(
            &format!("rustfmt --edition {} {{file}}", rust_edition(root)),
            RUST,
        )
    } else {
        not_installed("rustfmt", "formatter")
    };
    // Clippy checks whole crates, so it runs once when a writer finishes, not per file.
    let lint = if installed.has("cargo-clippy") {
        Guard::some("cargo clippy --all-targets --quiet", RUST)
    } else {
        not_installed("cargo-clippy", "linter")
    };
    Defaults {
        format,
        lint,
        test: words("cargo test"),
        test_one: words("cargo test -- {selector}"),
        test_globs: strings(&["tests/**", "**/tests/**", "benches/**"]),
        allowed_commands: commands(&["cargo check", "cargo build", "cargo tree", "cargo metadata"]),
    }
}

/// The edition of the crate (or workspace) at `root`, as `cargo fmt` would pass it.
fn rust_edition(root: &Path) -> String {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok());
    let table = |value: Option<&toml::Value>| value.and_then(toml::Value::as_table).cloned();
    let workspace_edition = manifest
        .as_ref()
        .and_then(|manifest| table(manifest.get("workspace")))
        .and_then(|workspace| table(workspace.get("package")))
        .and_then(|package| package.get("edition")?.as_str().map(str::to_owned));
    let package = manifest
        .as_ref()
        .and_then(|manifest| table(manifest.get("package")));
    match package {
        Some(package) => match package.get("edition") {
            Some(toml::Value::String(edition)) => edition.clone(),
            // `edition.workspace = true`.
            Some(toml::Value::Table(_)) => workspace_edition.unwrap_or_else(|| "2021".to_owned()),
            // Cargo's own default for a package that names no edition.
            _ => "2015".to_owned(),
        },
        // A virtual workspace: its shared edition, else the one most crates use today.
        None => workspace_edition.unwrap_or_else(|| "2021".to_owned()),
    }
}

fn node(root: &Path, installed: &Installed) -> Defaults {
    let manifest: Option<serde_json::Value> = std::fs::read_to_string(root.join("package.json"))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    let declares = |package: &str| {
        manifest.as_ref().is_some_and(|manifest| {
            ["dependencies", "devDependencies"]
                .iter()
                .any(|section| manifest[section].get(package).is_some())
        })
    };
    let test_script = manifest
        .as_ref()
        .and_then(|manifest| manifest["scripts"]["test"].as_str())
        .map(str::to_owned);
    let npx = installed.has("npx");
    // Formatters and linters a package declares run from its own node_modules, offline.
    let format = if declares("prettier") && npx {
        Guard::some(
            "npx --no-install prettier --write --ignore-unknown {file}",
            &[],
        )
    } else if declares("prettier") {
        not_installed("npx", "formatter")
    } else {
        Guard::missing("no formatter: the package does not declare prettier")
    };
    let lint = if declares("eslint") && npx {
        Guard::some("npx --no-install eslint {files}", SCRIPT)
    } else if declares("eslint") {
        not_installed("npx", "linter")
    } else {
        Guard::missing("no linter: the package does not declare eslint")
    };
    let (test, test_one) = match test_script.as_deref().map(str::trim) {
        None => (words("node --test"), words("node --test {selector}")),
        Some(script) if script.starts_with("node --test") => {
            (words("npm test"), words("node --test {selector}"))
        }
        Some(script) if script.starts_with("jest") => {
            (words("npm test"), words("npx --no-install jest {selector}"))
        }
        Some(script) if script.starts_with("vitest") => (
            words("npm test"),
            words("npx --no-install vitest run {selector}"),
        ),
        Some(script) if script.starts_with("mocha") => (
            words("npm test"),
            words("npx --no-install mocha {selector}"),
        ),
        Some(_) => (words("npm test"), words("npm test -- {selector}")),
    };
    Defaults {
        format,
        lint,
        test,
        test_one,
        test_globs: strings(&[
            "**/*.test.*",
            "**/*.spec.*",
            "**/__tests__/**",
            "test/**",
            "tests/**",
        ]),
        allowed_commands: commands(&["npm run"]),
    }
}

fn python(root: &Path, installed: &Installed) -> Defaults {
    let python = if installed.has("python3") || !installed.has("python") {
        "python3"
    } else {
        "python"
    };
    let format = if installed.has("ruff") {
        Guard::some("ruff format --quiet {file}", PYTHON)
    } else if installed.has("black") {
        Guard::some("black --quiet {file}", PYTHON)
    } else {
        Guard::missing(
            "no formatter: neither `ruff` nor `black` is installed on the commands' PATH",
        )
    };
    let lint = if installed.has("ruff") {
        Guard::some("ruff check --quiet {files}", PYTHON)
    } else if installed.has("flake8") {
        Guard::some("flake8 {files}", PYTHON)
    } else {
        Guard::missing("no linter: neither `ruff` nor `flake8` is installed on the commands' PATH")
    };
    let (test, test_one) = if uses_pytest(root) {
        (
            format!("{python} -m pytest -q"),
            format!("{python} -m pytest -q {{selector}}"),
        )
    } else {
        (
            format!("{python} -m unittest"),
            format!("{python} -m unittest {{selector}}"),
        )
    };
    Defaults {
        format,
        lint,
        test: words(&test),
        test_one: words(&test_one),
        test_globs: strings(&[
            "tests/**",
            "test/**",
            "**/test_*.py",
            "**/*_test.py",
            "**/conftest.py",
        ]),
        allowed_commands: commands(&[&format!("{python} -m pytest")]),
    }
}

/// Whether the project says it is tested with pytest (its configuration, a conftest, or a
/// declared dependency); otherwise its tests are run with the standard library's unittest.
fn uses_pytest(root: &Path) -> bool {
    let mentions = |file: &str, needle: &str| {
        let path = root.join(file);
        regular_file(&path) && std::fs::read_to_string(path).is_ok_and(|text| text.contains(needle))
    };
    regular_file(&root.join("pytest.ini"))
        || regular_file(&root.join("conftest.py"))
        || regular_file(&root.join("tests/conftest.py"))
        || mentions("pyproject.toml", "pytest")
        || mentions("setup.cfg", "[tool:pytest]")
        || mentions("tox.ini", "[pytest]")
        || mentions("requirements.txt", "pytest")
        || mentions("requirements-dev.txt", "pytest")
}

fn go(installed: &Installed) -> Defaults {
    let format = if installed.has("gofmt") {
        Guard::some("gofmt -w {file}", GO)
    } else {
        not_installed("gofmt", "formatter")
    };
    let lint = if installed.has("go") {
        Guard::some("go vet ./...", GO)
    } else {
        not_installed("go", "linter")
    };
    Defaults {
        format,
        lint,
        test: words("go test ./..."),
        test_one: words("go test ./... -run {selector}"),
        test_globs: strings(&["**/*_test.go", "**/testdata/**"]),
        allowed_commands: commands(&["go build", "go vet"]),
    }
}

/// A regular file, not a symlink, FIFO or directory: the root of a checkout may hold anything
/// an agent once committed.
pub(crate) fn regular_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rust_edition_comes_from_the_package_or_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        for (text, edition) in [
            ("[package]\nname = \"a\"\nedition = \"2024\"\n", "2024"),
            ("[package]\nname = \"a\"\n", "2015"),
            (
                "[workspace.package]\nedition = \"2021\"\n[package]\nname = \"a\"\nedition.workspace = true\n",
                "2021",
            ),
            (
                "[workspace]\nmembers = []\n[workspace.package]\nedition = \"2024\"\n",
                "2024",
            ),
        ] {
            std::fs::write(&manifest, text).unwrap();
            assert_eq!(rust_edition(dir.path()), edition, "{text}");
        }
    }
}
