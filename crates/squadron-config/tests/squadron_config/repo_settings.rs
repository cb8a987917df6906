//! A target repository's `.squadron.toml`: defaults, overrides and errors naming file and key.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use squadron_config::{ConfigErrorKind, Ecosystem, Env, HostEnvironment, RepoSettings};

fn argv(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn shown(command: Option<&squadron_config::CommandLine>) -> Option<String> {
    command.map(ToString::to_string)
}

/// A directory holding executables named `programs`, to stand for a `PATH`.
fn bin_dir(programs: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for program in programs {
        let path = dir.path().join(program);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

/// A host whose commands' `PATH` is `bin` alone.
fn host_with(bin: &Path) -> HostEnvironment {
    HostEnvironment {
        env: Env::new(),
        default_path: bin.display().to_string(),
        reserved_variables: BTreeSet::new(),
        reserved_dirs: Vec::new(),
    }
}

#[test]
fn without_a_file_a_rust_project_gets_cargo_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"x\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("AGENTS.md"), "Conventions.").unwrap();
    let bin = bin_dir(&["rustfmt", "cargo-clippy"]);
    let settings = RepoSettings::load_with(dir.path(), &host_with(bin.path())).unwrap();
    assert_eq!(settings.ecosystem, Some(Ecosystem::Rust));
    assert_eq!(settings.file, None);
    assert_eq!(settings.test.argv(), argv("cargo test"));
    // `cargo fmt <file>` is refused by cargo: rustfmt formats the one file, with the
    // crate's edition, as `cargo fmt` would pass it.
    assert_eq!(
        shown(settings.format.as_ref()).as_deref(),
        Some("rustfmt --edition 2021 {file}")
    );
    assert_eq!(settings.format_extensions, ["rs"]);
    // Clippy checks whole crates: it runs once when a writer finishes.
    assert_eq!(
        shown(settings.lint.as_ref()).as_deref(),
        Some("cargo clippy --all-targets --quiet")
    );
    assert!(!settings.lints_per_write());
    assert_eq!(
        shown(settings.test_one.as_ref()).as_deref(),
        Some("cargo test -- {selector}")
    );
    assert_eq!(settings.notes, Vec::<String>::new());
    assert_eq!(settings.docs, [Path::new("AGENTS.md")]);
    assert!(settings.is_test_file(Path::new("tests/cart.rs")));
    assert!(settings.is_test_file(Path::new("crates/shop/tests/cart.rs")));
    assert!(!settings.is_test_file(Path::new("src/cart.rs")));
    assert!(settings.allows(&argv("cargo check --all-targets")));
    assert!(!settings.allows(&argv("curl https://example.com")));
}

#[test]
fn without_a_file_or_a_known_project_the_test_command_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let error = RepoSettings::load(dir.path()).unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::MissingKey);
    let file = dir.path().join(".squadron.toml");
    assert_eq!(
        error.to_string(),
        format!(
            "test is missing in {0}: no Cargo.toml, package.json, pyproject.toml, setup.py or go.mod was found to \
             guess it from; add `test = \"<your test command>\"` to {0}",
            file.display()
        )
    );
}

#[test]
fn the_file_sets_commands_globs_docs_and_allowed_commands() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    let text = "format = \"prettier --write {file}\"\nlint = [\"npm\", \"run\", \"lint\"]\ntest = \"npm test\"\n\
                test_one = \"npx jest {selector}\"\n\
                test_globs = [\"src/**/*.test.ts\"]\nprotected = [\"deploy/**\"]\ndocs = [\"docs\"]\n\
                allowed_commands = [\"npx tsc --noEmit\"]\n";
    std::fs::write(dir.path().join(".squadron.toml"), text).unwrap();
    let settings = RepoSettings::load(dir.path()).unwrap();
    assert_eq!(settings.file, Some(dir.path().join(".squadron.toml")));
    assert_eq!(
        settings.format.as_ref().unwrap().for_file("src/a.ts"),
        argv("prettier --write src/a.ts")
    );
    assert_eq!(settings.lint.as_ref().unwrap().argv(), argv("npm run lint"));
    assert_eq!(
        shown(settings.test_one.as_ref()).as_deref(),
        Some("npx jest {selector}")
    );
    assert!(settings.is_test_file(Path::new("src/cart/cart.test.ts")));
    assert!(!settings.is_test_file(Path::new("src/cart/cart.ts")));
    assert_eq!(settings.protected, ["deploy/**"]);
    assert_eq!(settings.docs, [Path::new("docs")]);
    assert!(settings.allows(&argv("npx tsc --noEmit")));
    assert!(!settings.allows(&argv("npx tsc")));
}

fn settings_error(text: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("go.mod"), "module x\n").unwrap();
    let file = dir.path().join(".squadron.toml").display().to_string();
    let error = RepoSettings::from_text(dir.path(), Some(text))
        .unwrap_err()
        .to_string();
    (file, error)
}

#[test]
fn errors_name_the_file_the_key_and_the_value() {
    let (file, error) = settings_error("tests = \"go test ./...\"\n");
    assert_eq!(
        error,
        format!(
            "unknown key `tests` in {file}: expected one of `format`, `format_extensions`, `lint`, \
             `lint_extensions`, `test`, `test_one`, `test_globs`, `protected`, `docs`, \
             `docs_max_bytes`, `allowed_commands`, `sandbox`"
        )
    );
    let (file, error) = settings_error("protected = [\"deploy/**\", \"../ops/**\"]\n");
    assert_eq!(
        error,
        format!(
            "protected[1] = \"../ops/**\" in {file}: must be relative to the repository root, without `..`"
        )
    );
    let (file, error) = settings_error("test_globs = [\"**/*_test.go\", \"a/[b\"]\n");
    assert!(
        error.starts_with(&format!(
            "test_globs[1] = \"a/[b\" in {file}: is not a valid glob"
        )),
        "{error}"
    );
    let (file, error) = settings_error("docs = [\"../secrets.txt\"]\n");
    assert_eq!(
        error,
        format!(
            "docs[0] = \"../secrets.txt\" in {file}: must be a path inside the repository, relative to its root"
        )
    );
    let (file, error) = settings_error("docs = [\"ADR\"]\n");
    assert_eq!(
        error,
        format!(
            "docs[0] = \"ADR\" in {file}: does not exist in the repository; fix the path or remove it"
        )
    );
    let (file, error) = settings_error("test = \"sh -c 'go test'\"\n");
    assert!(
        error.starts_with(&format!(
            "test = \"sh -c 'go test'\" in {file}: quotes and backslashes"
        )),
        "{error}"
    );
    let (file, error) = settings_error("test = []\n");
    assert_eq!(
        error,
        format!("test = [] in {file}: a command must not be empty")
    );
    let (file, error) = settings_error("test_one = \"go test ./...\"\n");
    assert_eq!(
        error,
        format!(
            "test_one = \"go test ./...\" in {file}: must contain `{{selector}}`, where the test names or \
             paths go, e.g. \"cargo test -- {{selector}}\""
        )
    );
    let (file, error) = settings_error("format = \"gofmt -w {files}\"\n");
    assert!(
        error.starts_with(&format!(
            "format = \"gofmt -w {{files}}\" in {file}: formats one file"
        )),
        "{error}"
    );
    let (file, error) = settings_error("docs_max_bytes = 10\n");
    assert_eq!(
        error,
        format!("docs_max_bytes = 10 in {file}: must be between 1024 and 524288 bytes")
    );
}

#[test]
fn keys_the_file_leaves_out_default_from_the_project() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("go.mod"), "module x\n").unwrap();
    let bin = bin_dir(&["gofmt", "go"]);
    let settings = RepoSettings::from_text_with(
        dir.path(),
        Some("test = \"make test\"\n"),
        &host_with(bin.path()),
    )
    .unwrap();
    assert_eq!(settings.test.argv(), argv("make test"));
    assert_eq!(
        settings.format.as_ref().unwrap().for_file("a.go"),
        argv("gofmt -w a.go")
    );
    assert!(settings.is_test_file(Path::new("pkg/cart/cart_test.go")));
    // Go's `test_one` narrows `go test ./...`, not the file's own `make test`.
    assert_eq!(settings.test_one, None);
}

#[test]
fn formatters_and_linters_default_only_to_what_is_installed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
    let nothing = bin_dir(&[]);
    let settings = RepoSettings::load_with(dir.path(), &host_with(nothing.path())).unwrap();
    assert_eq!(settings.format, None);
    assert_eq!(settings.lint, None);
    assert_eq!(
        settings.notes,
        [
            "format: no formatter: `rustfmt` is not installed on the commands' PATH",
            "lint: no linter: `cargo-clippy` is not installed on the commands' PATH",
        ]
    );

    // Python: ruff formats and lints the changed files; without pytest in sight the standard
    // library's unittest runs the tests, with python3.
    let python = tempfile::tempdir().unwrap();
    std::fs::write(
        python.path().join("pyproject.toml"),
        "[project]\nname = \"shop\"\n",
    )
    .unwrap();
    let bin = bin_dir(&["python3", "ruff"]);
    let settings = RepoSettings::load_with(python.path(), &host_with(bin.path())).unwrap();
    assert_eq!(settings.ecosystem, Some(Ecosystem::Python));
    assert_eq!(
        shown(settings.format.as_ref()).as_deref(),
        Some("ruff format --quiet {file}")
    );
    assert_eq!(
        shown(settings.lint.as_ref()).as_deref(),
        Some("ruff check --quiet {files}")
    );
    assert!(settings.lints_per_write());
    assert_eq!(settings.test.to_string(), "python3 -m unittest");
    assert_eq!(
        shown(settings.test_one.as_ref()).as_deref(),
        Some("python3 -m unittest {selector}")
    );
    std::fs::write(python.path().join("conftest.py"), "").unwrap();
    let black = bin_dir(&["python3", "black"]);
    let settings = RepoSettings::load_with(python.path(), &host_with(black.path())).unwrap();
    assert_eq!(settings.test.to_string(), "python3 -m pytest -q");
    assert_eq!(
        shown(settings.format.as_ref()).as_deref(),
        Some("black --quiet {file}")
    );

    // JavaScript: the package's own prettier and eslint, through npx without installing;
    // `node --test` narrows to files.
    let node = tempfile::tempdir().unwrap();
    std::fs::write(
        node.path().join("package.json"),
        r#"{"name":"cart","scripts":{"test":"node --test"},"devDependencies":{"prettier":"3.3.0","eslint":"9.0.0"}}"#,
    )
    .unwrap();
    let bin = bin_dir(&["node", "npm", "npx"]);
    let settings = RepoSettings::load_with(node.path(), &host_with(bin.path())).unwrap();
    assert_eq!(settings.test.to_string(), "npm test");
    assert_eq!(
        shown(settings.test_one.as_ref()).as_deref(),
        Some("node --test {selector}")
    );
    assert_eq!(
        shown(settings.format.as_ref()).as_deref(),
        Some("npx --no-install prettier --write --ignore-unknown {file}")
    );
    assert_eq!(
        shown(settings.lint.as_ref()).as_deref(),
        Some("npx --no-install eslint {files}")
    );

    // The file narrows a default linter to the files it names.
    let settings = RepoSettings::from_text_with(
        python.path(),
        Some("lint_extensions = [\"py\"]\nformat = \"black {file}\"\nformat_extensions = [\"py\", \"pyi\"]\n"),
        &host_with(bin.path()),
    )
    .unwrap();
    assert_eq!(settings.lint_extensions, ["py"]);
    assert_eq!(settings.format_extensions, ["py", "pyi"]);

    // A configured program that is not installed is noted, not silently dropped.
    let settings = RepoSettings::from_text_with(
        dir.path(),
        Some("format = \"taplo fmt {file}\"\n"),
        &host_with(nothing.path()),
    )
    .unwrap();
    assert_eq!(
        settings.notes[0],
        "format: `taplo` is not installed on the commands' PATH, so `taplo fmt {file}` will fail"
    );
}

fn sandbox_host(data_dir: &Path) -> HostEnvironment {
    HostEnvironment {
        env: Env::new()
            .with("RUSTUP_HOME", "/opt/rustup")
            .with("CARGO_HOME", "/opt/cargo")
            .with("HOME", "/home/ops")
            .with("NPM_REGISTRY", "https://ci:hunter2@npm.example.com/")
            .with("DATABASE_URL", "sqlite:/var/lib/squadron/db")
            .with("GITHUB_TOKEN_DEVELOPER", "ghp_secret"),
        default_path: "/usr/bin:/bin".to_owned(),
        reserved_variables: BTreeSet::from(["DATABASE_URL".to_owned(), "GH_PAT".to_owned()]),
        reserved_dirs: vec![data_dir.to_owned()],
    }
}

#[test]
fn the_sandbox_table_passes_toolchains_through_and_never_a_secret() {
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
    let data = tempfile::tempdir().unwrap();
    let toolchain = tempfile::tempdir().unwrap();
    std::fs::create_dir(toolchain.path().join("bin")).unwrap();
    std::fs::write(
        toolchain.path().join("credentials.toml"),
        "[registry]\ntoken = \"x\"\n",
    )
    .unwrap();
    let text = format!(
        "[sandbox]\npass_env = [\"RUSTUP_HOME\", \"CARGO_HOME\", \"NPM_REGISTRY\", \"JAVA_HOME\"]\n\
         env = {{ CI = \"true\", PATH = \"${{CARGO_HOME}}/bin:{0}/bin:/usr/bin:/bin\" }}\n\
         mounts = [\"{0}\", \"{0}\"]\ncaches = [\"CARGO_TARGET_DIR\"]\nsetup = \"cargo fetch\"\n",
        toolchain.path().display()
    );
    let host = sandbox_host(data.path());
    let settings = RepoSettings::from_text_with(repo.path(), Some(&text), &host).unwrap();
    let sandbox = &settings.sandbox;
    let toolchain_bin = format!(
        "/opt/cargo/bin:{}/bin:/usr/bin:/bin",
        toolchain.path().display()
    );
    assert_eq!(
        sandbox
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        [
            ("CARGO_HOME", "/opt/cargo"),
            ("CI", "true"),
            ("PATH", toolchain_bin.as_str()),
            ("RUSTUP_HOME", "/opt/rustup"),
        ]
    );
    assert_eq!(sandbox.path(&host), toolchain_bin);
    assert_eq!(
        sandbox.withheld_env,
        [
            "NPM_REGISTRY: its value holds a password (user:password@ in a URL), so it is withheld",
            "JAVA_HOME: not set on this host",
        ]
    );
    assert_eq!(sandbox.mounts, [toolchain.path().to_owned()]);
    assert_eq!(sandbox.masked, [toolchain.path().join("credentials.toml")]);
    assert_eq!(sandbox.caches, ["CARGO_TARGET_DIR"]);
    assert_eq!(
        shown(sandbox.setup.as_ref()).as_deref(),
        Some("cargo fetch")
    );
    assert!(sandbox.setup_network);
    assert_eq!(
        settings.notes[0],
        "sandbox.pass_env NPM_REGISTRY: its value holds a password (user:password@ in a URL), so it is withheld"
    );

    let (off, _) = sandbox_error(
        data.path(),
        "[sandbox]\nsetup = \"npm ci\"\nsetup_network = false\n",
    );
    assert!(!off.unwrap().sandbox.setup_network);
}

fn sandbox_error(data_dir: &Path, text: &str) -> (Result<RepoSettings, String>, String) {
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("go.mod"), "module x\n").unwrap();
    let file = repo.path().join(".squadron.toml").display().to_string();
    let result = RepoSettings::from_text_with(repo.path(), Some(text), &sandbox_host(data_dir))
        .map_err(|error| error.to_string());
    (result, file)
}

#[test]
fn the_sandbox_table_refuses_secrets_and_mounts_that_expose_the_host() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".ssh")).unwrap();
    std::fs::create_dir(home.path().join(".cargo")).unwrap();
    let refused = |text: String| sandbox_error(data.path(), &text);
    let cases: Vec<(String, String)> = vec![
        (
            "[sandbox]\npass_env = [\"GITHUB_TOKEN_DEVELOPER\"]\n".to_owned(),
            "sandbox.pass_env[0] = \"GITHUB_TOKEN_DEVELOPER\" in {file}: looks like a credential (TOKEN, KEY, \
             SECRET, PASSWORD, AUTH…); commands never see credentials"
                .to_owned(),
        ),
        (
            "[sandbox]\npass_env = [\"DATABASE_URL\"]\n".to_owned(),
            "sandbox.pass_env[0] = \"DATABASE_URL\" in {file}: carries one of Squadron's own secrets or settings; \
             commands never see it"
                .to_owned(),
        ),
        (
            "[sandbox]\nenv = { HOME = \"/root\" }\n".to_owned(),
            "sandbox.env.HOME = \"/root\" in {file}: is set by the sandbox itself (to a private temp directory)"
                .to_owned(),
        ),
        (
            "[sandbox]\nmounts = [\"opt/node\"]\n".to_owned(),
            "sandbox.mounts[0] = \"opt/node\" in {file}: must be an absolute path (or start with `~/` or `${NAME}`)"
                .to_owned(),
        ),
        (
            "[sandbox]\nmounts = [\"/\"]\n".to_owned(),
            "sandbox.mounts[0] = \"/\" in {file}: mounts the whole file system; name the toolchain's own directories"
                .to_owned(),
        ),
        (
            "[sandbox]\nmounts = [\"~/.ssh\"]\n".to_owned(),
            "sandbox.mounts[0] = \"~/.ssh\" in {file}: is inside `.ssh`, which holds credentials; name the \
             toolchain's directory instead"
                .to_owned(),
        ),
        (
            format!("[sandbox]\nmounts = [\"{}\"]\n", home.path().display()),
            format!(
                "sandbox.mounts[0] = \"{}\" in {{file}}: contains `.ssh`, which holds credentials; mount the \
                 toolchain's own directories (e.g. ~/.rustup and ~/.cargo rather than ~)",
                home.path().display()
            ),
        ),
        (
            format!("[sandbox]\nmounts = [\"{}\"]\n", data.path().join("mirrors").display()),
            format!(
                "sandbox.mounts[0] = \"{}\" in {{file}}: cannot be used on this host: No such file or directory (os error 2)",
                data.path().join("mirrors").display()
            ),
        ),
        (
            format!("[sandbox]\nmounts = [\"{}\"]\n", data.path().display()),
            format!(
                "sandbox.mounts[0] = \"{0}\" in {{file}}: overlaps Squadron's data directory {1}, which holds the \
                 store and every squad's worktree",
                data.path().display(),
                data.path().canonicalize().unwrap().display()
            ),
        ),
        (
            "[sandbox]\nmounts = [\"${GH_PAT}/bin\"]\n".to_owned(),
            "sandbox.mounts[0] = \"${GH_PAT}/bin\" in {file}: names ${GH_PAT}, which carries one of Squadron's own \
             secrets or settings; commands never see it"
                .to_owned(),
        ),
        (
            "[sandbox]\nenv = { REGISTRY = \"${NPM_REGISTRY}\" }\n".to_owned(),
            "sandbox.env.REGISTRY = \"${NPM_REGISTRY}\" in {file}: expands to a value holding a password \
             (user:password@ in a URL); commands never see credentials"
                .to_owned(),
        ),
        (
            "lint = \"ruff check {files}\"\nlint_extensions = [\".py\"]\n".to_owned(),
            "lint_extensions[0] = \".py\" in {file}: must be a file extension without the dot, such as \"py\""
                .to_owned(),
        ),
        (
            "[sandbox]\ncaches = [\"PATH\"]\n".to_owned(),
            "sandbox.caches[0] = \"PATH\" in {file}: names a variable that is already set by pass_env, env or \
             another cache (or is PATH)"
                .to_owned(),
        ),
    ];
    for (text, expected) in cases {
        let (result, file) = refused(text.clone());
        let error = result.err().unwrap_or_else(|| panic!("accepted: {text}"));
        assert_eq!(error, expected.replace("{file}", &file), "{text}");
    }
    // `~/` expands from the host's HOME, a toolchain directory next to `.ssh` is fine.
    let mut host = sandbox_host(data.path());
    host.env = host.env.with("HOME", home.path().display().to_string());
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("go.mod"), "module x\n").unwrap();
    let settings = RepoSettings::from_text_with(
        repo.path(),
        Some("[sandbox]\nmounts = [\"~/.cargo\"]\n"),
        &host,
    )
    .unwrap();
    assert_eq!(
        settings.sandbox.mounts,
        [PathBuf::from(format!("{}/.cargo", home.path().display()))]
    );
}
