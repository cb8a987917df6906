//! A target repository's `.squadron.toml`: defaults, overrides and errors naming file and key.

use std::path::Path;

use squadron_config::{ConfigErrorKind, Ecosystem, RepoSettings};

fn argv(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn without_a_file_a_rust_project_gets_cargo_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
    std::fs::write(dir.path().join("AGENTS.md"), "Conventions.").unwrap();
    let settings = RepoSettings::load(dir.path()).unwrap();
    assert_eq!(settings.ecosystem, Some(Ecosystem::Rust));
    assert_eq!(settings.file, None);
    assert_eq!(settings.test.argv(), argv("cargo test"));
    assert_eq!(
        settings.format.as_ref().map(ToString::to_string).as_deref(),
        Some("cargo fmt")
    );
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
                test_globs = [\"src/**/*.test.ts\"]\ndocs = [\"docs\"]\nallowed_commands = [\"npx tsc --noEmit\"]\n";
    std::fs::write(dir.path().join(".squadron.toml"), text).unwrap();
    let settings = RepoSettings::load(dir.path()).unwrap();
    assert_eq!(settings.file, Some(dir.path().join(".squadron.toml")));
    assert_eq!(
        settings.format.as_ref().unwrap().for_file("src/a.ts"),
        argv("prettier --write src/a.ts")
    );
    assert_eq!(settings.lint.as_ref().unwrap().argv(), argv("npm run lint"));
    assert!(settings.is_test_file(Path::new("src/cart/cart.test.ts")));
    assert!(!settings.is_test_file(Path::new("src/cart/cart.ts")));
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
            "unknown key `tests` in {file}: expected one of `format`, `lint`, `test`, `test_globs`, `docs`, \
             `allowed_commands`"
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
}

#[test]
fn keys_the_file_leaves_out_default_from_the_project() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("go.mod"), "module x\n").unwrap();
    let settings = RepoSettings::from_text(dir.path(), Some("test = \"make test\"\n")).unwrap();
    assert_eq!(settings.test.argv(), argv("make test"));
    assert_eq!(
        settings.format.as_ref().unwrap().for_file("a.go"),
        argv("gofmt -w a.go")
    );
    assert!(settings.is_test_file(Path::new("pkg/cart/cart_test.go")));
}
