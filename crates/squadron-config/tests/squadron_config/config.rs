//! Configuration layering, validation messages and secret handling.

use std::path::Path;

use squadron_config::{
    AgentCatalog, AgentErrorKind, AgentsConfig, Config, ConfigError, ConfigErrorKind, Env,
    SandboxMode, Secret,
};

const FILE: &str = "/x/squadron.toml";

fn load_file(text: &str) -> Result<Config, ConfigError> {
    Config::load_text(Some((Path::new(FILE), text)), &Env::new())
}

fn load_env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::load_text(None, &pairs.iter().copied().collect())
}

fn file_error(text: &str) -> String {
    load_file(text)
        .expect_err("the config must be refused")
        .to_string()
}

fn env_error(pairs: &[(&str, &str)]) -> String {
    load_env(pairs)
        .expect_err("the environment must be refused")
        .to_string()
}

#[test]
fn shipped_config_validates() {
    let config = Config::load(None, &Env::new()).expect("shipped defaults are valid");
    assert_eq!(config.limits.concurrency, 4);
    assert_eq!(config.limits.review_rounds, 3);
    assert_eq!(config.limits.ci_fix_rounds, 2, "apart from review rounds");
    assert_eq!(
        config.limits.conflict_rounds, 2,
        "apart from the other rounds"
    );
    assert_eq!(config.limits.check_report_wait_secs, 1800);
    assert_eq!(
        config.github.merge_method,
        squadron_core::ports::MergeMethod::Squash
    );
    assert_eq!(config.sandbox.mode, SandboxMode::Auto);
    assert_eq!(
        config.linear.api_url.as_str(),
        "https://api.linear.app/graphql"
    );
    assert!(config.repositories.is_empty());
    // Every shipped agent's model is a priced model of a shipped provider.
    AgentCatalog::shipped()
        .check_models(&config)
        .expect("shipped agents match shipped providers");
}

#[test]
fn a_file_overrides_defaults_and_the_environment_overrides_the_file() {
    let file = "[limits]\nconcurrency = 8\nreview_rounds = 5\n\n[github]\napi_url = \"https://ghe.example/api/v3\"\n";
    let env: Env = [("SQUADRON_LIMITS_CONCURRENCY", "2")].into_iter().collect();
    let config = Config::load_text(Some((Path::new(FILE), file)), &env).unwrap();
    assert_eq!(config.limits.concurrency, 2, "environment beats file");
    assert_eq!(config.limits.review_rounds, 5, "file beats defaults");
    assert_eq!(
        config.limits.max_estimate, 5,
        "defaults fill what the file leaves out"
    );
    assert_eq!(config.github.api_url.as_str(), "https://ghe.example/api/v3");
    assert_eq!(
        config.github.git_url.as_str(),
        "https://github.com/",
        "sibling keys of a table are kept"
    );
}

#[test]
fn load_reads_the_file_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("squadron.toml");
    std::fs::write(&path, "[sandbox]\nmode = \"bubblewrap\"\n").unwrap();
    let config = Config::load(Some(&path), &Env::new()).unwrap();
    assert_eq!(config.sandbox.mode, SandboxMode::Bubblewrap);

    let missing = dir.path().join("absent.toml");
    let error = Config::load(Some(&missing), &Env::new()).unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::Io);
    assert!(error.to_string().starts_with(&format!(
        "could not read config file {}: ",
        missing.display()
    )));
}

#[test]
fn environment_variables_set_every_kind_of_value() {
    let config = load_env(&[
        ("SQUADRON_LINEAR_API_URL", "http://127.0.0.1:4000/graphql"),
        ("SQUADRON_GITHUB_API_URL", "http://127.0.0.1:4001"),
        ("SQUADRON_GITHUB_REQUIRED_CHECKS", "ci, lint ,"),
        ("SQUADRON_GITHUB_KEEP_WORKTREES_ON_NEEDS_HUMAN", "false"),
        ("SQUADRON_GITHUB_TEST_MERGE_RESULT", "false"),
        ("SQUADRON_LIMITS_BUDGET_PER_SQUAD_USD", "2.5"),
        ("SQUADRON_LINEAR_STATES_IN_REVIEW", "Code Review"),
        (
            "SQUADRON_PROVIDERS_OPENAI_BASE_URL",
            "http://127.0.0.1:4002/v1",
        ),
        (
            "SQUADRON_STORE_DATABASE_URL",
            "postgres://u:hunter2@127.0.0.1:5432/test",
        ),
        ("SQUADRON_CONFIG", "/ignored/because/the/binary/reads/it"),
        ("HOME", "/root"),
    ])
    .unwrap();
    assert_eq!(
        config.linear.api_url.as_str(),
        "http://127.0.0.1:4000/graphql"
    );
    assert_eq!(config.github.api_url.as_str(), "http://127.0.0.1:4001/");
    assert_eq!(config.github.required_checks, ["ci", "lint"]);
    assert!(!config.github.keep_worktrees_on_needs_human);
    assert!(!config.github.test_merge_result);
    assert_eq!(config.limits.budget_per_squad_usd, 2.5);
    assert_eq!(config.linear.states.in_review, "Code Review");
    assert_eq!(
        config.providers["openai"].base_url.as_str(),
        "http://127.0.0.1:4002/v1"
    );
    assert_eq!(
        config.store.database_url.as_ref().map(Secret::expose),
        Some("postgres://u:hunter2@127.0.0.1:5432/test")
    );
}

#[test]
fn out_of_range_values_name_file_key_value_and_range() {
    assert_eq!(
        file_error("[limits]\nconcurrency = 0\n"),
        "limits.concurrency = 0 in /x/squadron.toml: must be between 1 and 64"
    );
    assert_eq!(
        file_error("[limits]\nreview_rounds = 21\n"),
        "limits.review_rounds = 21 in /x/squadron.toml: must be between 1 and 20"
    );
    assert_eq!(
        file_error("[limits]\nci_fix_rounds = 11\n"),
        "limits.ci_fix_rounds = 11 in /x/squadron.toml: must be between 0 and 10"
    );
    assert_eq!(
        file_error("[limits]\nconflict_rounds = 11\n"),
        "limits.conflict_rounds = 11 in /x/squadron.toml: must be between 0 and 10"
    );
    assert_eq!(
        file_error("[limits]\ncheck_report_wait_secs = 0\n"),
        "limits.check_report_wait_secs = 0 in /x/squadron.toml: must be between 1 and 604800"
    );
    assert_eq!(
        file_error("[retries]\nattempts = 0\n"),
        "retries.attempts = 0 in /x/squadron.toml: must be between 1 and 100"
    );
    assert_eq!(
        file_error("[retries]\nbase_delay_ms = 200000\n"),
        "retries.base_delay_ms = 200000 in /x/squadron.toml: must be between 0 and 120000"
    );
    assert_eq!(
        file_error("[sandbox]\noutput_cap_bytes = 10\n"),
        "sandbox.output_cap_bytes = 10 in /x/squadron.toml: must be between 1024 and 67108864"
    );
    assert_eq!(
        file_error("[diagnosis]\nmin_confidence = \"certain\"\n"),
        "diagnosis.min_confidence = \"certain\" in /x/squadron.toml: must be \"low\", \"medium\" or \"high\""
    );
    assert_eq!(
        file_error("[limits]\nbudget_per_squad_usd = 50.0\nbudget_per_run_usd = 20.0\n"),
        "limits.budget_per_run_usd = 20 in /x/squadron.toml: must be at least limits.budget_per_squad_usd (50), \
         or no squad could spend its budget"
    );
    assert_eq!(
        file_error(
            "[providers.openai.models.\"gpt-4.1\"]\ninput = -1.0\ncached_input = 0.5\noutput = 8.0\n"
        ),
        "providers.openai.models.\"gpt-4.1\".input = -1 in /x/squadron.toml: must be a price in US dollars per \
         million tokens, from 0 to 10000"
    );
}

#[test]
fn agent_turn_settings_default_to_the_shipped_file_and_are_checked() {
    let shipped = Config::load(None, &Env::new()).unwrap();
    assert_eq!(
        shipped.agents,
        AgentsConfig::default(),
        "the code's defaults are the shipped file's"
    );
    let config = load_file(
        "[agents]\ncontext_share = 0.5\ntool_output_bytes = 4096\ntool_output_lines = 100\ncontinuations = 0\n",
    )
    .unwrap();
    assert_eq!(config.agents.context_share, 0.5);
    assert_eq!(config.agents.tool_output_bytes, 4096);
    assert_eq!(config.agents.tool_output_lines, 100);
    assert_eq!(config.agents.continuations, 0);
    assert_eq!(config.agents.repeated_failure_stop, 5, "the rest stays");
    assert_eq!(
        file_error("[agents]\ncontext_share = 1.5\n"),
        "agents.context_share = 1.5 in /x/squadron.toml: must be a share of the context window \
         between 0.1 and 1.0"
    );
    assert_eq!(
        file_error("[agents]\ntool_output_bytes = 100\n"),
        "agents.tool_output_bytes = 100 in /x/squadron.toml: must be between 1024 and 1048576"
    );
    assert_eq!(
        file_error("[agents]\nrepeated_failure_nudge = 5\nrepeated_failure_stop = 4\n"),
        "agents.repeated_failure_stop = 4 in /x/squadron.toml: must be above \
         agents.repeated_failure_nudge (5), so the agent is nudged before its turn ends"
    );
}

#[test]
fn a_bad_value_from_the_environment_names_the_variable() {
    assert_eq!(
        env_error(&[("SQUADRON_LIMITS_CONCURRENCY", "0")]),
        "limits.concurrency = 0 from environment variable SQUADRON_LIMITS_CONCURRENCY: must be between 1 and 64"
    );
    assert_eq!(
        env_error(&[("SQUADRON_LIMITS_CONCURRENCY", "four")]),
        "limits.concurrency = \"four\" from environment variable SQUADRON_LIMITS_CONCURRENCY: must be a whole number"
    );
    assert_eq!(
        env_error(&[("SQUADRON_GITHUB_KEEP_WORKTREES_ON_NEEDS_HUMAN", "yes")]),
        "github.keep_worktrees_on_needs_human = \"yes\" from environment variable \
         SQUADRON_GITHUB_KEEP_WORKTREES_ON_NEEDS_HUMAN: must be `true` or `false`"
    );
    assert_eq!(
        env_error(&[("SQUADRON_SANDBOX_MODE", "docker")]),
        "sandbox.mode = \"docker\" from environment variable SQUADRON_SANDBOX_MODE: unknown variant `docker`, \
         expected one of `auto`, `bubblewrap`, `restricted`"
    );
}

#[test]
fn malformed_formats_say_what_is_valid() {
    assert_eq!(
        file_error("[linear]\napi_url = \"api.linear.app\"\n"),
        "linear.api_url = \"api.linear.app\" in /x/squadron.toml: must be an absolute URL starting with http:// or \
         https:// (relative URL without a base)"
    );
    assert_eq!(
        file_error("[github]\nmerge_method = \"fast-forward\"\n"),
        "github.merge_method = \"fast-forward\" in /x/squadron.toml: must be \"merge\", \"squash\" or \"rebase\""
    );
    assert_eq!(
        file_error("[repositories.ENG]\ngithub = \"acme\"\n"),
        "repositories.ENG.github = \"acme\" in /x/squadron.toml: must be a GitHub repository as `owner/repo` \
         (letters, digits, `-`, `_`, `.`), e.g. \"acme/shop\""
    );
    assert_eq!(
        file_error("[repositories.eng]\ngithub = \"acme/shop\"\n"),
        "repositories.eng = \"eng\" in /x/squadron.toml: the table name must be a Linear team key: uppercase \
         letters and digits, such as ENG (the ENG of ENG-123)"
    );
    assert_eq!(
        file_error("[repositories.ENG]\ngithub = \"acme/shop\"\nbase = \"feature..x\"\n"),
        "repositories.ENG.base = \"feature..x\" in /x/squadron.toml: must be a git branch name such as \"main\""
    );
    assert_eq!(
        file_error("[server]\nlisten = \"localhost\"\n"),
        "server.listen = \"localhost\" in /x/squadron.toml: must be an IP address and port such as \
         \"127.0.0.1:8080\" or \"[::1]:8080\""
    );
    assert_eq!(
        file_error("[limits]\nconcurrency = \"4\"\n"),
        "limits.concurrency = \"4\" in /x/squadron.toml: invalid type: string \"4\", expected a whole number of at \
         least 0"
    );
    assert_eq!(
        file_error("[repositories.ENG]\nbase = \"main\"\n"),
        "repositories.ENG.github is missing in /x/squadron.toml: add `github = …`"
    );
}

#[test]
fn a_secret_pasted_where_a_variable_name_belongs_is_refused_without_echoing_it() {
    let message = file_error("[github]\ndeveloper_token_env = \"ghp_abcdefSECRET123\"\n");
    assert!(!message.contains("SECRET"), "{message}");
    assert_eq!(
        message,
        "github.developer_token_env = [hidden, 19 characters] in /x/squadron.toml: must be the NAME of an \
         environment variable (uppercase letters, digits and `_`, e.g. LINEAR_API_KEY) that holds the secret, \
         never the secret itself"
    );
    let message = env_error(&[("SQUADRON_STORE_DATABASE_URL", "mysql://root:hunter2@db/x")]);
    assert!(!message.contains("hunter2"), "{message}");
    assert_eq!(
        message,
        "store.database_url = [redacted] from environment variable SQUADRON_STORE_DATABASE_URL: must be a \
         postgres://, postgresql:// or sqlite: URL"
    );
}

#[test]
fn unknown_keys_are_errors_listing_the_valid_keys() {
    let error = load_file("[limits]\nconcurency = 3\n").unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::UnknownKey);
    assert_eq!(
        error.to_string(),
        "unknown key `limits.concurency` in /x/squadron.toml: expected one of `concurrency`, `review_rounds`, \
         `max_estimate`, `require_estimate`, `budget_per_squad_usd`, `budget_per_run_usd`, `agent_turn_limit`, `ci_fix_rounds`, \
         `conflict_rounds`, `check_report_wait_secs`"
    );
    assert_eq!(
        file_error("[slak]\nchannel = \"x\"\n"),
        "unknown key `slak` in /x/squadron.toml: expected one of `linear`, `github`, `slack`, `providers`, \
         `profiles`, `agents`, `limits`, `retries`, `repositories`, `sandbox`, `store`, `diagnosis`, `server`"
    );
    assert_eq!(
        env_error(&[("SQUADRON_SLACK_CHANEL", "#x")]),
        "unknown environment variable SQUADRON_SLACK_CHANEL: expected one of `SQUADRON_SLACK_API_URL`, \
         `SQUADRON_SLACK_BOT_TOKEN_ENV`, `SQUADRON_SLACK_SIGNING_SECRET_ENV`, `SQUADRON_SLACK_CHANNEL`, \
         `SQUADRON_SLACK_FIX_USERS`, `SQUADRON_SLACK_FIX_CHANNELS`"
    );
    assert_eq!(
        env_error(&[("SQUADRON_REPOSITORIES_ENG", "acme/shop")]),
        "unknown environment variable SQUADRON_REPOSITORIES_ENG: expected `[repositories]` cannot be set from \
         the environment; set it in a config file"
    );
}

#[test]
fn invalid_toml_names_the_file_line_and_column() {
    let error = load_file("[limits]\nconcurrency = = 3\n").unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::Syntax);
    let message = error.to_string();
    assert!(
        message.starts_with("invalid TOML in /x/squadron.toml at line 2, column "),
        "{message}"
    );
}

#[test]
fn secrets_are_redacted_in_debug_and_display() {
    let secret = Secret::new("lin_api_TOPSECRET");
    assert_eq!(format!("{secret}"), "[redacted]");
    assert_eq!(format!("{secret:?}"), "[redacted]");
    assert_eq!(secret.expose(), "lin_api_TOPSECRET");

    let env: Env = [
        ("LINEAR_API_KEY", "lin_api_TOPSECRET"),
        ("GITHUB_TOKEN_DEVELOPER", "ghp_TOPSECRET"),
        ("OPENAI_API_KEY", "sk-TOPSECRET"),
        (
            "SQUADRON_STORE_DATABASE_URL",
            "postgres://u:TOPSECRET@127.0.0.1/test",
        ),
    ]
    .into_iter()
    .collect();
    let config = Config::load(None, &env).unwrap();
    let secrets = config.resolve_secrets(&env);
    assert_eq!(
        secrets.linear_api_key.as_ref().map(Secret::expose),
        Some("lin_api_TOPSECRET")
    );
    assert_eq!(
        secrets.provider_api_key("openai").map(Secret::expose),
        Some("sk-TOPSECRET")
    );
    assert!(
        secrets.provider_api_key("local").is_none(),
        "the local provider needs no key"
    );
    let dumped = format!("{secrets:?} {config:?}");
    assert!(
        !dumped.contains("TOPSECRET"),
        "a secret leaked into Debug output: {dumped}"
    );
}

#[test]
fn unset_secrets_are_listed_with_the_variable_to_set() {
    let config = Config::shipped();
    let env: Env = [("LINEAR_API_KEY", "k"), ("SLACK_BOT_TOKEN", "  ")]
        .into_iter()
        .collect();
    let secrets = config.resolve_secrets(&env);
    let missing: Vec<&str> = secrets
        .missing
        .iter()
        .map(|missing| missing.env_var.as_str())
        .collect();
    assert!(!missing.contains(&"LINEAR_API_KEY"));
    assert!(
        missing.contains(&"SLACK_BOT_TOKEN"),
        "a blank variable counts as unset"
    );
    assert!(missing.contains(&"GITHUB_TOKEN_CODE_REVIEWER"));
    let reviewer = secrets
        .missing
        .iter()
        .find(|missing| missing.env_var == "GITHUB_TOKEN_CODE_REVIEWER")
        .unwrap();
    assert_eq!(
        reviewer.to_string(),
        "GITHUB_TOKEN_CODE_REVIEWER is not set: set it to the GitHub token of the Code Reviewer identity (the \
         variable is named by github.code_reviewer_token_env)"
    );
}

#[test]
fn team_state_overrides_replace_only_the_names_given() {
    let config = load_file("[linear.team_states.OPS]\nin_review = \"Peer Review\"\n").unwrap();
    let ops = config.linear.states_for("OPS");
    assert_eq!(ops.in_review, "Peer Review");
    assert_eq!(ops.done, "Done");
    assert_eq!(config.linear.states_for("ENG").in_review, "In Review");
}

#[test]
fn repositories_map_team_keys_to_github_repositories() {
    let config = load_file("[repositories.ENG]\ngithub = \"acme/shop\"\n\n[repositories.OPS]\ngithub = \"acme/infra\"\nbase = \"trunk\"\n").unwrap();
    let eng = config.repository("ENG").unwrap();
    assert_eq!(
        (eng.github.owner(), eng.github.name(), eng.base.as_str()),
        ("acme", "shop", "main")
    );
    assert_eq!(config.repository("OPS").unwrap().base, "trunk");
    assert_eq!(
        config.github.clone_url(&eng.github),
        "https://github.com/acme/shop.git"
    );
}

#[test]
fn an_agent_model_must_name_a_configured_priced_model() {
    let agents = AgentCatalog::shipped();
    let config = load_file(
        "[providers.openai.models.\"gpt-4.1\"]\ninput = 1.0\ncached_input = 1.0\noutput = 1.0\n",
    )
    .unwrap();
    agents.check_models(&config).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let developer = AgentCatalog::shipped();
    let shipped = developer.get(squadron_core::Role::Developer);
    let text = format!(
        "---\nname: developer\ndescription: d\nmodel: vllm/qwen\ntools: [finish]\nwrites: code\n---\n{}\n",
        shipped.instructions
    );
    std::fs::write(dir.path().join("developer.md"), text).unwrap();
    let overridden = AgentCatalog::load(Some(dir.path())).unwrap();
    let error = overridden.check_models(&config).unwrap_err();
    assert_eq!(error.kind, AgentErrorKind::UnknownModel);
    assert_eq!(
        error.to_string(),
        format!(
            "{}: model `vllm/qwen` names provider `vllm`, which is not configured (configured: one of `local`, \
             `openai`); add [providers.vllm] to the configuration or use one of those",
            dir.path().join("developer.md").display()
        )
    );

    let unpriced =
        load_file("[providers.vllm]\nbase_url = \"http://127.0.0.1:8000/v1\"\n").unwrap();
    let error = overridden.check_models(&unpriced).unwrap_err();
    assert!(error.problem.starts_with("model `vllm/qwen` has no prices in the configuration; add [providers.vllm.models.\"qwen\"]"), "{error}");
}

#[test]
fn every_variable_that_carries_a_secret_is_named() {
    let names = Config::shipped().secret_variable_names();
    for name in [
        "LINEAR_API_KEY",
        "LINEAR_OAUTH_TOKEN",
        "LINEAR_WEBHOOK_SECRET",
        "GITHUB_TOKEN_DEVELOPER",
        "GITHUB_TOKEN_CODE_REVIEWER",
        "GITHUB_TOKEN_QA_SPECIALIST",
        "GITHUB_WEBHOOK_SECRET",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "OPENAI_API_KEY",
        "DATABASE_URL",
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
}

#[test]
fn a_daemon_id_comes_from_the_file_or_the_environment_and_has_no_spaces() {
    assert_eq!(load_env(&[]).expect("defaults").server.daemon_id, None);
    assert_eq!(
        load_env(&[("SQUADRON_SERVER_DAEMON_ID", "replica-2")])
            .expect("an id from the environment")
            .server
            .daemon_id
            .as_deref(),
        Some("replica-2")
    );
    assert_eq!(
        file_error("[server]\ndaemon_id = \"replica one\"\n"),
        "server.daemon_id = \"replica one\" in /x/squadron.toml: must be 1 to 100 characters \
         without spaces, e.g. \"replica-1\"; leave it unset for the host name and process id"
    );
}

#[test]
fn daemons_share_the_squads_of_a_postgresql_store_unless_told_otherwise() {
    let defaults = load_env(&[]).expect("defaults").server;
    assert_eq!(defaults.share_squads, None);
    assert!(defaults.shares_squads(true), "PostgreSQL: shared");
    assert!(
        !defaults.shares_squads(false),
        "SQLite: one daemon runs them"
    );

    let opted_out = load_env(&[("SQUADRON_SERVER_SHARE_SQUADS", "false")])
        .expect("an opt-out from the environment")
        .server;
    assert!(!opted_out.shares_squads(true));
    let opted_in = load_file("[server]\nshare_squads = true\n")
        .expect("an opt-in in the file")
        .server;
    assert!(opted_in.shares_squads(false));
}
