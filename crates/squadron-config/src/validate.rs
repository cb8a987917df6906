//! Checks of a deserialized [`Config`] that types alone cannot express: ranges, names and
//! formats, and relations between keys.

use std::fmt::Display;

use crate::config::{Config, ProviderConfig};
use crate::error::{ConfigError, KeyPath};
use crate::layering::Provenance;
use crate::profiles::ProfilesConfig;

/// Most squads one daemon runs at once.
pub const MAX_CONCURRENCY: u32 = 64;

/// The longest wait between two attempts of a step that `[retries] max_delay_ms` allows.
const MAX_RETRY_DELAY_MS: u64 = 60 * 60 * 1000;

/// Validates `config`; the first problem found is returned, naming where it was written.
pub(crate) fn validate(config: &Config, provenance: &Provenance) -> Result<(), ConfigError> {
    let check = Checker { provenance };

    let linear = &config.linear;
    check.env_name(&["linear", "api_key_env"], &linear.api_key_env)?;
    check.env_name(&["linear", "oauth_token_env"], &linear.oauth_token_env)?;
    check.env_name(
        &["linear", "webhook_secret_env"],
        &linear.webhook_secret_env,
    )?;
    check.non_blank(&["linear", "states", "started"], &linear.states.started)?;
    check.non_blank(&["linear", "states", "in_review"], &linear.states.in_review)?;
    check.non_blank(&["linear", "states", "done"], &linear.states.done)?;
    for (team, overrides) in &linear.team_states {
        check.team_key(&["linear", "team_states", team])?;
        for (name, value) in [
            ("started", &overrides.started),
            ("in_review", &overrides.in_review),
            ("done", &overrides.done),
        ] {
            if let Some(value) = value {
                check.non_blank(&["linear", "team_states", team, name], value)?;
            }
        }
    }

    let github = &config.github;
    check.env_name(
        &["github", "developer_token_env"],
        &github.developer_token_env,
    )?;
    check.env_name(
        &["github", "code_reviewer_token_env"],
        &github.code_reviewer_token_env,
    )?;
    check.env_name(
        &["github", "qa_specialist_token_env"],
        &github.qa_specialist_token_env,
    )?;
    check.env_name(
        &["github", "webhook_secret_env"],
        &github.webhook_secret_env,
    )?;
    for (index, name) in github.required_checks.iter().enumerate() {
        let key = KeyPath::new(["github", "required_checks"]).index(index);
        if name.trim().is_empty() {
            return Err(check.invalid(
                key,
                format!("{name:?}"),
                "must be the name of a check, not blank",
            ));
        }
        if github.required_checks[..index].contains(name) {
            return Err(check.invalid(
                key,
                format!("{name:?}"),
                "is listed twice; list each check once",
            ));
        }
    }

    let slack = &config.slack;
    check.env_name(&["slack", "bot_token_env"], &slack.bot_token_env)?;
    check.env_name(&["slack", "signing_secret_env"], &slack.signing_secret_env)?;
    check.env_name(
        &["server", "control_token_env"],
        &config.server.control_token_env,
    )?;
    let server = &config.server;
    check.range(
        &["server", "header_read_timeout_secs"],
        server.header_read_timeout_secs,
        1,
        600,
    )?;
    check.range(
        &["server", "request_timeout_secs"],
        server.request_timeout_secs,
        1,
        3_600,
    )?;
    check.range(
        &["server", "max_connections"],
        server.max_connections,
        16,
        1_000_000,
    )?;
    check.range(&["server", "lease_secs"], server.lease_secs, 3, 600)?;
    if let Some(channel) = &slack.channel {
        check.non_blank(&["slack", "channel"], channel)?;
    }
    if let Some(id) = &server.daemon_id
        && (id.is_empty()
            || id.len() > 100
            || id.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(check.invalid(
            KeyPath::new(["server", "daemon_id"]),
            format!("{id:?}"),
            "must be 1 to 100 characters without spaces, e.g. \"replica-1\"; leave it unset for \
             the host name and process id",
        ));
    }

    if config.providers.is_empty() {
        return Err(check.invalid(
            KeyPath::new(["providers"]),
            "{}",
            "must configure at least one model provider, e.g. [providers.openai] base_url = \"https://api.openai.com/v1\"",
        ));
    }
    for (name, provider) in &config.providers {
        check.provider(name, provider, &config.profiles)?;
        for model in provider.models.keys() {
            let Some(profile) = config.model_profile(name, model) else {
                continue;
            };
            let key = KeyPath::new(["providers", name, "models", model, "context_window"]);
            if !(1024..=100_000_000).contains(&profile.context_window) {
                return Err(check.invalid(
                    key,
                    profile.context_window,
                    "must be the model's context window in tokens, from 1024",
                ));
            }
            if profile.max_output_tokens == 0 || profile.max_output_tokens >= profile.context_window
            {
                return Err(check.invalid(
                    KeyPath::new(["providers", name, "models", model, "max_output_tokens"]),
                    profile.max_output_tokens,
                    format!(
                        "must be at least 1 and less than the model's context window ({})",
                        profile.context_window
                    ),
                ));
            }
        }
    }

    if let Some(model) = &config.agents.model {
        let reference = crate::agents::ModelRef::parse(model).map_err(|problem| {
            check.invalid(
                KeyPath::new(["agents", "model"]),
                format!("{model:?}"),
                problem,
            )
        })?;
        let priced = config
            .providers
            .get(reference.provider())
            .is_some_and(|provider| provider.models.contains_key(reference.model()));
        if !priced {
            return Err(check.invalid(
                KeyPath::new(["agents", "model"]),
                format!("{model:?}"),
                format!(
                    "must name a configured provider and a model priced under it, as [providers.{}.models.\"{}\"]",
                    reference.provider(),
                    reference.model()
                ),
            ));
        }
    }

    check.agents(&config.agents)?;

    let limits = &config.limits;
    check.range(
        &["limits", "concurrency"],
        limits.concurrency,
        1,
        MAX_CONCURRENCY,
    )?;
    check.range(&["limits", "review_rounds"], limits.review_rounds, 1, 20)?;
    check.range(&["limits", "max_estimate"], limits.max_estimate, 1, 1000)?;
    check.range(&["limits", "ci_fix_rounds"], limits.ci_fix_rounds, 0, 10)?;
    check.range(
        &["limits", "conflict_rounds"],
        limits.conflict_rounds,
        0,
        10,
    )?;
    check.range(
        &["limits", "check_report_wait_secs"],
        limits.check_report_wait_secs,
        1,
        7 * 24 * 60 * 60,
    )?;
    check.range(
        &["limits", "agent_turn_limit"],
        limits.agent_turn_limit,
        1,
        1000,
    )?;
    check.money(
        &["limits", "budget_per_squad_usd"],
        limits.budget_per_squad_usd,
    )?;
    check.money(&["limits", "budget_per_run_usd"], limits.budget_per_run_usd)?;
    if limits.budget_per_run_usd < limits.budget_per_squad_usd {
        return Err(check.invalid(
            KeyPath::new(["limits", "budget_per_run_usd"]),
            limits.budget_per_run_usd,
            format!(
                "must be at least limits.budget_per_squad_usd ({}), or no squad could spend its budget",
                limits.budget_per_squad_usd
            ),
        ));
    }

    let retries = &config.retries;
    check.range(&["retries", "attempts"], retries.attempts, 1, 100)?;
    check.range(
        &["retries", "max_delay_ms"],
        retries.max_delay_ms,
        0,
        MAX_RETRY_DELAY_MS,
    )?;
    check.range(
        &["retries", "base_delay_ms"],
        retries.base_delay_ms,
        0,
        retries.max_delay_ms,
    )?;

    for (team, repository) in &config.repositories {
        check.team_key(&["repositories", team])?;
        check.branch(&["repositories", team, "base"], &repository.base)?;
    }

    let sandbox = &config.sandbox;
    check.range(
        &["sandbox", "command_timeout_secs"],
        sandbox.command_timeout_secs,
        1,
        86_400,
    )?;
    check.range(
        &["sandbox", "output_cap_bytes"],
        sandbox.output_cap_bytes,
        1024,
        64 * 1024 * 1024,
    )?;
    if sandbox.max_processes != 0 {
        check.range(
            &["sandbox", "max_processes"],
            sandbox.max_processes,
            64,
            4_194_304,
        )?;
    }
    if sandbox.max_memory_mib != 0 {
        check.range(
            &["sandbox", "max_memory_mib"],
            sandbox.max_memory_mib,
            256,
            16 * 1024 * 1024,
        )?;
    }

    if let Some(url) = &config.store.database_url {
        let url = url.expose();
        let valid = ["postgres://", "postgresql://", "sqlite:"]
            .iter()
            .any(|scheme| url.starts_with(scheme));
        if !valid {
            return Err(check.invalid(
                KeyPath::new(["store", "database_url"]),
                "[redacted]",
                "must be a postgres://, postgresql:// or sqlite: URL",
            ));
        }
    }
    if let Some(path) = &config.store.sqlite_path
        && path.as_os_str().is_empty()
    {
        return Err(check.invalid(
            KeyPath::new(["store", "sqlite_path"]),
            "\"\"",
            "must be a file path; leave it unset for the platform data directory",
        ));
    }

    if let Some(path) = &config.store.data_dir
        && path.as_os_str().is_empty()
    {
        return Err(check.invalid(
            KeyPath::new(["store", "data_dir"]),
            "\"\"",
            "must be a directory path; leave it unset for the platform data directory",
        ));
    }
    Ok(())
}

struct Checker<'a> {
    provenance: &'a Provenance,
}

impl Checker<'_> {
    fn invalid(
        &self,
        key: KeyPath,
        value: impl Display,
        expected: impl Into<String>,
    ) -> ConfigError {
        ConfigError::InvalidValue {
            origin: self.provenance.origin_of(&key),
            key,
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    fn range<T: PartialOrd + Display + Copy>(
        &self,
        key: &[&str],
        value: T,
        min: T,
        max: T,
    ) -> Result<(), ConfigError> {
        if value < min || value > max {
            return Err(self.invalid(
                KeyPath::new(key.iter().copied()),
                value,
                format!("must be between {min} and {max}"),
            ));
        }
        Ok(())
    }

    /// `[agents]`: the turn settings within ranges a real model can work with.
    fn agents(&self, agents: &crate::config::AgentsConfig) -> Result<(), ConfigError> {
        if !(agents.context_share.is_finite()
            && agents.context_share >= 0.1
            && agents.context_share <= 1.0)
        {
            return Err(self.invalid(
                KeyPath::new(["agents", "context_share"]),
                agents.context_share,
                "must be a share of the context window between 0.1 and 1.0",
            ));
        }
        self.range(
            &["agents", "tool_output_bytes"],
            agents.tool_output_bytes,
            1024,
            1024 * 1024,
        )?;
        self.range(
            &["agents", "tool_output_lines"],
            agents.tool_output_lines,
            20,
            100_000,
        )?;
        self.range(&["agents", "continuations"], agents.continuations, 0, 20)?;
        self.range(
            &["agents", "warn_steps_before_limit"],
            agents.warn_steps_before_limit,
            0,
            100,
        )?;
        self.range(
            &["agents", "repeated_failure_nudge"],
            agents.repeated_failure_nudge,
            2,
            100,
        )?;
        if agents.repeated_failure_stop <= agents.repeated_failure_nudge {
            return Err(self.invalid(
                KeyPath::new(["agents", "repeated_failure_stop"]),
                agents.repeated_failure_stop,
                format!(
                    "must be above agents.repeated_failure_nudge ({}), so the agent is nudged before its turn ends",
                    agents.repeated_failure_nudge
                ),
            ));
        }
        self.range(
            &["agents", "repeated_failure_stop"],
            agents.repeated_failure_stop,
            3,
            100,
        )?;
        self.range(
            &["agents", "text_only_replies"],
            agents.text_only_replies,
            1,
            100,
        )?;
        self.range(
            &["agents", "unusable_replies"],
            agents.unusable_replies,
            1,
            100,
        )
    }

    fn money(&self, key: &[&str], value: f64) -> Result<(), ConfigError> {
        if !(value.is_finite() && value > 0.0 && value <= 1_000_000.0) {
            return Err(self.invalid(
                KeyPath::new(key.iter().copied()),
                value,
                "must be an amount of US dollars above 0 and at most 1000000",
            ));
        }
        Ok(())
    }

    fn non_blank(&self, key: &[&str], value: &str) -> Result<(), ConfigError> {
        if value.trim().is_empty() {
            return Err(self.invalid(
                KeyPath::new(key.iter().copied()),
                format!("{value:?}"),
                "must not be blank",
            ));
        }
        Ok(())
    }

    /// Keys ending in `_env` name a variable; a value that is not a variable name may be the
    /// secret itself pasted by mistake, so it is never echoed.
    fn env_name(&self, key: &[&str], value: &str) -> Result<(), ConfigError> {
        let valid = value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
            && value
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(self.invalid(
                KeyPath::new(key.iter().copied()),
                format!("[hidden, {} characters]", value.chars().count()),
                "must be the NAME of an environment variable (uppercase letters, digits and `_`, e.g. \
                 LINEAR_API_KEY) that holds the secret, never the secret itself",
            ));
        }
        Ok(())
    }

    fn team_key(&self, key: &[&str]) -> Result<(), ConfigError> {
        let team = key.last().copied().unwrap_or_default();
        let valid = team.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && team
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !valid {
            let path = KeyPath::new(key.iter().copied());
            return Err(ConfigError::InvalidValue {
                origin: self.provenance.origin_of(&path),
                value: format!("{team:?}"),
                key: path,
                expected: "the table name must be a Linear team key: uppercase letters and digits, such as ENG \
                           (the ENG of ENG-123)"
                    .to_owned(),
            });
        }
        Ok(())
    }

    /// A branch name git accepts, checked by the rules of `git check-ref-format` that matter.
    fn branch(&self, key: &[&str], value: &str) -> Result<(), ConfigError> {
        let forbidden = |c: char| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')
        };
        let valid = !value.is_empty()
            && !value.chars().any(forbidden)
            && !value.starts_with(['-', '/', '.'])
            && !value.ends_with(['/', '.'])
            && !value.ends_with(".lock")
            && !value.contains("..")
            && !value.contains("//")
            && !value.contains("@{");
        if !valid {
            return Err(self.invalid(
                KeyPath::new(key.iter().copied()),
                format!("{value:?}"),
                "must be a git branch name such as \"main\"",
            ));
        }
        Ok(())
    }

    fn provider(
        &self,
        name: &str,
        provider: &ProviderConfig,
        profiles: &ProfilesConfig,
    ) -> Result<(), ConfigError> {
        let valid_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid_name {
            let path = KeyPath::new(["providers", name]);
            return Err(ConfigError::InvalidValue {
                origin: self.provenance.origin_of(&path),
                value: format!("{name:?}"),
                key: path,
                expected:
                    "the provider name must use lowercase letters, digits and `-`, such as openai"
                        .to_owned(),
            });
        }
        if let Some(var) = &provider.api_key_env {
            self.env_name(&["providers", name, "api_key_env"], var)?;
        }
        self.range(
            &["providers", name, "timeout_secs"],
            provider.timeout_secs,
            1,
            3600,
        )?;
        self.range(
            &["providers", name, "max_attempts"],
            provider.max_attempts,
            1,
            20,
        )?;
        let known_kind = provider.kind == "generic" || profiles.kinds.contains_key(&provider.kind);
        if !known_kind {
            let mut kinds: Vec<&str> = profiles.kinds.keys().map(String::as_str).collect();
            kinds.push("generic");
            return Err(self.invalid(
                KeyPath::new(["providers", name, "kind"]),
                format!("{:?}", provider.kind),
                format!(
                    "must be one of {} (a [profiles.kinds.<kind>] table)",
                    kinds.join(", ")
                ),
            ));
        }
        for (model, entry) in &provider.models {
            let prices = &entry.prices;
            if model.trim().is_empty() {
                return Err(self.invalid(
                    KeyPath::new(["providers", name, "models"]),
                    "\"\"",
                    "model names must not be blank",
                ));
            }
            for (field, price) in [
                ("input", prices.input),
                ("cached_input", prices.cached_input),
                ("output", prices.output),
            ] {
                if !(price.is_finite() && (0.0..=10_000.0).contains(&price)) {
                    return Err(self.invalid(
                        KeyPath::new(["providers", name, "models", model, field]),
                        price,
                        "must be a price in US dollars per million tokens, from 0 to 10000",
                    ));
                }
            }
        }
        Ok(())
    }
}
