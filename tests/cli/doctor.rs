//! `squadron doctor` on the shipped configuration and on broken ones.

use crate::support::Sandbox;

/// Every credential a run needs on the shipped configuration, with dummy values.
const REQUIRED: [(&str, &str); 5] = [
    ("LINEAR_API_KEY", "lin_api_x"),
    ("GITHUB_TOKEN_DEVELOPER", "tok-dev"),
    ("GITHUB_TOKEN_CODE_REVIEWER", "tok-review"),
    ("GITHUB_TOKEN_QA_SPECIALIST", "tok-qa"),
    ("OPENAI_API_KEY", "sk-x"),
];

#[test]
fn doctor_fails_naming_each_required_credential_that_is_unset() {
    let sandbox = Sandbox::new();
    let outcome = sandbox.run(&["doctor", "--offline"], &[]);
    let out = outcome.stdout();
    assert_eq!(outcome.code(), 1, "{out}\n{}", outcome.stderr());
    for check in ["config", "agents", "prompts", "store", "sandbox"] {
        assert!(!line(&out, check).starts_with("FAIL"), "{out}");
    }
    let failed: String = out
        .split("\n")
        .skip_while(|line| !line.starts_with("FAIL  credentials"))
        .take_while(|line| !line.starts_with("ok") && !line.starts_with("warn"))
        .collect::<Vec<_>>()
        .join("\n");
    for variable in [
        "LINEAR_API_KEY is not set",
        "GITHUB_TOKEN_CODE_REVIEWER is not set",
        "OPENAI_API_KEY is not set",
    ] {
        assert!(failed.contains(variable), "{variable} fails:\n{out}");
    }
    // Secrets only `serve` and Slack need are warnings, not failures.
    assert!(!failed.contains("SLACK_BOT_TOKEN"), "{out}");
    assert!(out.contains("SLACK_BOT_TOKEN is not set"), "{out}");
    assert!(!sandbox.database().exists(), "doctor creates no store");
}

#[test]
fn doctor_passes_offline_once_every_required_credential_is_set() {
    let sandbox = Sandbox::new();
    let outcome = sandbox.run(&["doctor", "--offline"], &REQUIRED);
    let out = outcome.stdout();
    assert_eq!(outcome.code(), 0, "{out}\n{}", outcome.stderr());
    assert!(out.contains("0 failures"), "{out}");
    assert!(line(&out, "store").contains("does not exist yet"), "{out}");
}

#[test]
fn doctor_counts_either_linear_credential_as_enough() {
    let sandbox = Sandbox::new();
    let mut env: Vec<(&str, &str)> = REQUIRED[1..].to_vec();
    env.push(("LINEAR_OAUTH_TOKEN", "lin_oauth_x"));
    let outcome = sandbox.run(&["doctor", "--offline"], &env);
    assert_eq!(outcome.code(), 0, "{}", outcome.stdout());
    let out = outcome.stdout();
    assert!(!out.contains("LINEAR_API_KEY is not set"), "{out}");
    assert!(
        !out.contains("lin_oauth_x"),
        "a secret value is never printed:\n{out}"
    );
}

#[test]
fn doctor_fails_when_linear_and_github_do_not_answer_and_offline_skips_them() {
    // A port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .to_string();
    let sandbox = Sandbox::new();
    let mut env: Vec<(&str, &str)> = REQUIRED.to_vec();
    let url = format!("http://{closed}/");
    env.push(("SQUADRON_LINEAR_API_URL", &url));
    env.push(("SQUADRON_GITHUB_API_URL", &url));
    let outcome = sandbox.run(&["doctor"], &env);
    let out = outcome.stdout();
    assert_eq!(outcome.code(), 1, "{out}\n{}", outcome.stderr());
    assert!(line(&out, "linear").starts_with("FAIL"), "{out}");
    assert!(line(&out, "github").starts_with("FAIL"), "{out}");

    let offline = sandbox.run(&["doctor", "--offline"], &env);
    assert_eq!(offline.code(), 0, "{}", offline.stdout());
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

/// Environment pointing `doctor` at stand-ins with the given GitHub role tokens.
fn service_env(linear: &str, github: &str, tokens: [&str; 3]) -> Vec<(String, String)> {
    vec![
        ("SQUADRON_LINEAR_API_URL".into(), linear.into()),
        ("SQUADRON_GITHUB_API_URL".into(), github.into()),
        (
            "LINEAR_API_KEY".into(),
            squadron_standin_linear::StandinLinear::API_KEY.into(),
        ),
        ("GITHUB_TOKEN_DEVELOPER".into(), tokens[0].into()),
        ("GITHUB_TOKEN_CODE_REVIEWER".into(), tokens[1].into()),
        ("GITHUB_TOKEN_QA_SPECIALIST".into(), tokens[2].into()),
        ("OPENAI_API_KEY".into(), "sk-x".into()),
    ]
}

/// A model stand-in that answers the doctor's probe with the tool call it asks for.
async fn probe_model() -> squadron_standin_model::StandinModel {
    let mut script = squadron_standin_model::Script::new("probe");
    for _ in 0..8 {
        script = script.then(squadron_standin_model::Action::Reply(
            squadron_standin_model::Reply::tool_calls([
                squadron_standin_model::ScriptedToolCall::new(
                    "report",
                    &serde_json::json!({"ok": true}),
                ),
            ]),
        ));
    }
    squadron_standin_model::StandinModel::start(
        squadron_standin_model::ScriptBook::new().with(script),
    )
    .await
    .expect("model stand-in")
}

async fn standins() -> (
    squadron_standin_linear::StandinLinear,
    squadron_standin_github::GithubStandin,
) {
    let mut workspace = squadron_standin_linear::Workspace::new("acme");
    workspace.add_team("ENG", "Engineering");
    let linear = squadron_standin_linear::StandinLinear::start(workspace)
        .await
        .expect("Linear stand-in");
    let github = squadron_standin_github::GithubStandin::start()
        .await
        .expect("GitHub stand-in");
    for (login, token) in [
        ("dev-bot", "tok-dev"),
        ("review-bot", "tok-review"),
        ("qa-bot", "tok-qa"),
    ] {
        github.add_user(login, token).expect("add user");
    }
    (linear, github)
}

fn line<'a>(out: &'a str, check: &str) -> &'a str {
    out.lines()
        .find(|line| line.split_whitespace().nth(1) == Some(check))
        .unwrap_or_else(|| panic!("no `{check}` line in:\n{out}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_resolves_three_distinct_identities_as_the_strong_mode() {
    let (linear, github) = standins().await;
    let sandbox = Sandbox::new();
    let env = service_env(
        &linear.endpoint(),
        github.base_url(),
        ["tok-dev", "tok-review", "tok-qa"],
    );
    let model = probe_model().await;
    let mut env = env;
    env.push((
        "SQUADRON_PROVIDERS_OPENAI_BASE_URL".into(),
        model.base_url(),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let outcome = sandbox.run(&["doctor"], &env);
    let out = outcome.stdout();
    assert_eq!(outcome.code(), 0, "{out}\n{}", outcome.stderr());
    assert!(line(&out, "linear").starts_with("ok"), "{out}");
    let github_line = line(&out, "github");
    assert!(github_line.starts_with("ok"), "{out}");
    assert!(
        github_line.contains("dev-bot")
            && github_line.contains("review-bot")
            && github_line.contains("qa-bot"),
        "{out}"
    );
    assert!(!out.contains("tok-dev"), "tokens are never printed:\n{out}");
    let model_line = line(&out, "model");
    assert!(
        model_line.starts_with("ok") && model_line.contains("calls tools natively"),
        "the doctor probes the agents' model:\n{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_warns_when_a_reviewer_shares_the_developers_identity() {
    let (linear, github) = standins().await;
    let sandbox = Sandbox::new();
    let env = service_env(
        &linear.endpoint(),
        github.base_url(),
        ["tok-dev", "tok-dev", "tok-qa"],
    );
    let model = probe_model().await;
    let mut env = env;
    env.push((
        "SQUADRON_PROVIDERS_OPENAI_BASE_URL".into(),
        model.base_url(),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let outcome = sandbox.run(&["doctor"], &env);
    let out = outcome.stdout();
    assert_eq!(
        outcome.code(),
        0,
        "a weaker mode is a warning, not a failure:\n{out}"
    );
    assert!(line(&out, "github").starts_with("warn"), "{out}");
    assert!(out.contains("GitHub refuses self-approval"), "{out}");
    assert!(out.contains("strong mode"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_fails_on_refused_credentials() {
    let (linear, github) = standins().await;
    linear.revoke_keys();
    let sandbox = Sandbox::new();
    let env = service_env(
        &linear.endpoint(),
        github.base_url(),
        ["tok-dev", "wrong", "tok-qa"],
    );
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let outcome = sandbox.run(&["doctor"], &env);
    let out = outcome.stdout();
    assert_eq!(outcome.code(), 1, "{out}");
    assert!(line(&out, "linear").starts_with("FAIL"), "{out}");
    assert!(line(&out, "github").starts_with("FAIL"), "{out}");
}

/// `tests/samples/<name>` copied into the sandbox and committed, with `edit` applied after.
fn sample_repo(sandbox: &Sandbox, name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/samples")
        .join(name);
    let repo = sandbox.path().join(name);
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(&source)
        .arg(&repo)
        .status()
        .unwrap();
    assert!(status.success());
    for (path, text) in files {
        std::fs::write(repo.join(path), text).unwrap();
    }
    for args in [
        &["init", "--quiet"][..],
        &["add", "--all"],
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.invalid",
            "commit",
            "--quiet",
            "-m",
            "sample",
        ],
    ] {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }
    repo
}

#[test]
fn doctor_runs_a_repositorys_setup_and_tests_on_its_committed_head() {
    let sandbox = Sandbox::new();
    let repo = sample_repo(
        &sandbox,
        "python-package",
        &[(
            ".squadron.toml",
            "lint = \"python3 -m py_compile {files}\"\nlint_extensions = [\"py\"]\n\
             [sandbox]\nsetup = [\"sh\", \"-c\", \"echo installing; touch .installed\"]\nsetup_network = false\n",
        )],
    );
    // An uncommitted break is not what squads would see.
    std::fs::write(repo.join("tests/test_broken.py"), "raise SystemExit(3)\n").unwrap();
    let outcome = sandbox.run(
        &["doctor", "--offline", "--repo", repo.to_str().unwrap()],
        &REQUIRED,
    );
    let out = outcome.stdout();
    assert!(
        line(&out, "repo")
            .contains("test: python3 -m unittest; test one: python3 -m unittest {selector}"),
        "{out}"
    );
    assert!(line(&out, "repo-setup").starts_with("ok"), "{out}");
    assert!(
        line(&out, "repo-tests").contains("`python3 -m unittest` passed in"),
        "{out}"
    );
    assert!(
        !repo.join(".installed").exists(),
        "doctor changed the checkout"
    );

    // A committed failure fails doctor, with the failing output.
    let broken = sample_repo(
        &sandbox,
        "js-package",
        &[(
            "test/broken.test.js",
            "require('node:test')('breaks', () => { throw new Error('boom-4711'); });\n",
        )],
    );
    let outcome = sandbox.run(
        &["doctor", "--offline", "--repo", broken.to_str().unwrap()],
        &REQUIRED,
    );
    let out = outcome.stdout();
    assert_eq!(outcome.code(), 1, "{out}");
    let tests = out
        .split("\n")
        .skip_while(|line| !line.starts_with("FAIL  repo-tests"))
        .take(42)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        tests.contains("`npm test` failed on the committed head") && tests.contains("boom-4711"),
        "{out}"
    );
}
