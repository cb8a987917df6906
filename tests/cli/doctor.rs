//! `squadron doctor` on the shipped configuration and on broken ones.

use crate::support::Sandbox;

#[test]
fn doctor_passes_on_the_shipped_config_and_warns_about_missing_credentials() {
    let sandbox = Sandbox::new();
    let outcome = sandbox.run(&["doctor", "--offline"], &[]);
    assert_eq!(
        outcome.code(),
        0,
        "{}\n{}",
        outcome.stdout(),
        outcome.stderr()
    );
    let out = outcome.stdout();
    for check in ["config", "agents", "prompts", "store", "sandbox"] {
        let line = out
            .lines()
            .find(|line| line.split_whitespace().nth(1) == Some(check))
            .unwrap_or_else(|| panic!("no `{check}` line in:\n{out}"));
        assert!(!line.starts_with("FAIL"), "{line}");
    }
    assert!(out.contains("LINEAR_API_KEY is not set"), "{out}");
    assert!(
        out.contains("GITHUB_TOKEN_CODE_REVIEWER is not set"),
        "{out}"
    );
    assert!(out.contains("0 failures"), "{out}");
}

#[test]
fn doctor_counts_either_linear_credential_as_enough() {
    let sandbox = Sandbox::new();
    let outcome = sandbox.run(
        &["doctor", "--offline"],
        &[("LINEAR_OAUTH_TOKEN", "lin_oauth_x")],
    );
    assert_eq!(outcome.code(), 0);
    let out = outcome.stdout();
    assert!(!out.contains("LINEAR_API_KEY is not set"), "{out}");
    assert!(
        !out.contains("lin_oauth_x"),
        "a secret value is never printed:\n{out}"
    );
}

#[test]
fn a_bad_value_in_a_config_file_fails_naming_the_file_key_and_value() {
    let sandbox = Sandbox::new();
    let file = sandbox.write("squadron.toml", "[limits]\nconcurrency = 0\n");
    let outcome = sandbox.run(
        &["doctor", "--offline", "--config", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(outcome.code(), 1, "{}", outcome.stdout());
    let fail = outcome
        .stdout()
        .lines()
        .find(|line| line.starts_with("FAIL"))
        .map(str::to_owned);
    let fail = fail.unwrap_or_else(|| panic!("no failed check:\n{}", outcome.stdout()));
    assert!(fail.contains("limits.concurrency"), "{fail}");
    assert!(fail.contains("= 0"), "{fail}");
    assert!(fail.contains("squadron.toml"), "{fail}");
}

#[test]
fn a_bad_value_in_the_environment_fails_naming_the_variable() {
    let sandbox = Sandbox::new();
    let outcome = sandbox.run(
        &["doctor", "--offline"],
        &[("SQUADRON_GITHUB_MERGE_METHOD", "octopus")],
    );
    assert_eq!(outcome.code(), 1, "{}", outcome.stdout());
    let out = outcome.stdout();
    assert!(out.contains("SQUADRON_GITHUB_MERGE_METHOD"), "{out}");
    assert!(out.contains("octopus"), "{out}");
}

#[test]
fn other_commands_refuse_a_bad_config_with_the_config_exit_code() {
    let sandbox = Sandbox::new();
    let file = sandbox.write("squadron.toml", "[limits]\nconcurency = 2\n");
    let outcome = sandbox.run(&["status", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(outcome.code(), 78);
    assert!(
        outcome.stderr().contains("concurency"),
        "{}",
        outcome.stderr()
    );
}

#[test]
fn a_malformed_agent_override_fails_doctor_naming_its_path() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.path().join("repo/agents")).unwrap();
    sandbox.write(
        "repo/agents/developer.md",
        "---\nname: developer\nmodel: [unclosed\n---\nbody\n",
    );
    let repo = sandbox.path().join("repo");
    let outcome = sandbox.run(
        &["doctor", "--offline", "--repo", repo.to_str().unwrap()],
        &[],
    );
    assert_eq!(outcome.code(), 1, "{}", outcome.stdout());
    let out = outcome.stdout();
    let fail = out
        .lines()
        .find(|line| line.starts_with("FAIL"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        fail.contains("agents") && fail.contains("developer.md"),
        "{fail}"
    );
}

#[test]
fn help_lists_only_commands_that_work() {
    let sandbox = Sandbox::new();
    let outcome = sandbox.run(&["--help"], &[]);
    assert_eq!(outcome.code(), 0);
    let help = outcome.stdout();
    for command in ["doctor", "status", "logs"] {
        assert!(help.contains(command), "{help}");
    }
    let version = sandbox.run(&["--version"], &[]);
    assert!(
        version.stdout().starts_with("squadron "),
        "{}",
        version.stdout()
    );
}
