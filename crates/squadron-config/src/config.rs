//! Squadron's configuration: the typed sections, loading with layering
//! (shipped defaults < file < environment) and resolution of secrets.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};
use squadron_core::TokenPrices;
use squadron_core::ports::{Confidence, MergeMethod};
use url::Url;

use crate::env::Env;
use crate::error::{ConfigError, KeyPath};
use crate::layering;
use crate::profiles::{ModelEntry, ProfilesConfig, ResolvedProfile};
use crate::secret::{MissingSecret, Secret, Secrets};
use crate::validate;

/// The shipped defaults, `config/squadron.toml`, compiled into the binary.
pub const SHIPPED_CONFIG: &str = include_str!("../../../config/squadron.toml");

/// The whole configuration, validated. Build it with [`Config::load`] or [`Config::shipped`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Linear endpoint, credentials and workflow state names.
    pub linear: LinearConfig,
    /// GitHub endpoints, identities, merge settings.
    pub github: GithubConfig,
    /// Slack endpoint and credentials.
    pub slack: SlackConfig,
    /// Model providers by name (the `openai` of `openai/gpt-4.1`).
    pub providers: BTreeMap<String, ProviderConfig>,
    /// How each kind of server and family of models is spoken to.
    #[serde(default)]
    pub profiles: ProfilesConfig,
    /// Settings for every agent.
    #[serde(default)]
    pub agents: AgentsConfig,
    /// Concurrency, review rounds, admission limits and budgets.
    pub limits: Limits,
    /// How failed steps are tried again.
    pub retries: RetriesConfig,
    /// Target repository per Linear team key.
    pub repositories: BTreeMap<String, RepositoryConfig>,
    /// How agents' commands are confined.
    pub sandbox: SandboxConfig,
    /// Where state is persisted.
    pub store: StoreConfig,
    /// Bug-fix diagnosis settings.
    pub diagnosis: DiagnosisConfig,
    /// The daemon's HTTP server.
    pub server: ServerConfig,
}

/// `[agents]`: the model every role uses, and how an agent's turn keeps going with a real
/// model (its context budget, how much of a tool result it is shown, when it hands off).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct AgentsConfig {
    /// `provider/model` every role uses instead of the model its agent file names.
    pub model: Option<String>,
    /// Share of the model's context window (less the room kept for its reply) a prompt may
    /// fill before older tool results are elided.
    pub context_share: f64,
    /// Most bytes of one tool result an agent is shown (head and tail together).
    pub tool_output_bytes: u64,
    /// Most lines of one tool result an agent is shown (head and tail together).
    pub tool_output_lines: u64,
    /// Continuation turns, each starting from a hand-off, after an agent used all its steps.
    pub continuations: u32,
    /// Steps before the step limit at which the agent is warned.
    pub warn_steps_before_limit: u32,
    /// The same failing call this many times gets a nudge to try something else.
    pub repeated_failure_nudge: u32,
    /// The same failing call this many times ends the turn with a hand-off.
    pub repeated_failure_stop: u32,
    /// Replies in a row without a tool call that end the turn with a hand-off.
    pub text_only_replies: u32,
    /// Unusable replies in a row (malformed, cut off) that end the turn as failed.
    pub unusable_replies: u32,
}

impl Default for AgentsConfig {
    /// The values of the shipped `config/squadron.toml`.
    fn default() -> Self {
        Self {
            model: None,
            context_share: 0.75,
            tool_output_bytes: 16 * 1024,
            tool_output_lines: 400,
            continuations: 2,
            warn_steps_before_limit: 5,
            repeated_failure_nudge: 3,
            repeated_failure_stop: 5,
            text_only_replies: 4,
            unusable_replies: 3,
        }
    }
}

/// `[linear]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LinearConfig {
    /// GraphQL endpoint.
    #[serde(deserialize_with = "http_url")]
    pub api_url: Url,
    /// Environment variable holding a personal API key.
    pub api_key_env: String,
    /// Environment variable holding an OAuth access token.
    pub oauth_token_env: String,
    /// Environment variable holding the webhook signing secret.
    pub webhook_secret_env: String,
    /// Workflow state names used unless a team overrides them.
    pub states: StateNames,
    /// Per-team overrides of [`LinearConfig::states`], by Linear team key.
    #[serde(default)]
    pub team_states: BTreeMap<String, StateNameOverrides>,
}

impl LinearConfig {
    /// The state names to use for issues of `team_key` (the `ENG` of `ENG-123`).
    pub fn states_for(&self, team_key: &str) -> StateNames {
        let mut names = self.states.clone();
        if let Some(overrides) = self.team_states.get(team_key) {
            if let Some(started) = &overrides.started {
                names.started.clone_from(started);
            }
            if let Some(in_review) = &overrides.in_review {
                names.in_review.clone_from(in_review);
            }
            if let Some(done) = &overrides.done {
                names.done.clone_from(done);
            }
        }
        names
    }
}

/// Names of the Linear workflow states Squadron moves issues into.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateNames {
    /// When a squad starts on the issue.
    pub started: String,
    /// When its pull request is under review.
    pub in_review: String,
    /// When its pull request has merged.
    pub done: String,
}

/// One team's overrides of [`StateNames`]; unset names fall back to the defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateNameOverrides {
    /// Overrides [`StateNames::started`].
    pub started: Option<String>,
    /// Overrides [`StateNames::in_review`].
    pub in_review: Option<String>,
    /// Overrides [`StateNames::done`].
    pub done: Option<String>,
}

/// `[github]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GithubConfig {
    /// REST API root.
    #[serde(deserialize_with = "http_url")]
    pub api_url: Url,
    /// Base URL for git transfers: `<git_url>/owner/repo.git`.
    #[serde(deserialize_with = "git_url")]
    pub git_url: Url,
    /// How approved pull requests are merged.
    #[serde(deserialize_with = "merge_method")]
    pub merge_method: MergeMethod,
    /// Environment variable holding the Developer identity's token.
    pub developer_token_env: String,
    /// Environment variable holding the Code Reviewer identity's token.
    pub code_reviewer_token_env: String,
    /// Environment variable holding the QA Specialist identity's token.
    pub qa_specialist_token_env: String,
    /// Checks that must succeed on the head commit before a merge.
    #[serde(default)]
    pub required_checks: Vec<String>,
    /// Whether a needs-human squad's worktree stays on disk for inspection.
    pub keep_worktrees_on_needs_human: bool,
    /// Whether the lane holder's head merged with the base's current tip must pass the
    /// repository's test command before the PR is merged.
    pub test_merge_result: bool,
    /// Stop the line: whether the test command runs on the base head after each merge,
    /// holding the base's merge lane meanwhile and stopping it when the tests fail there.
    pub test_base_after_merge: bool,
    /// Environment variable holding the webhook signing secret.
    pub webhook_secret_env: String,
}

impl GithubConfig {
    /// The URL git fetches and pushes `repo` through.
    pub fn clone_url(&self, repo: &GithubRepo) -> String {
        format!(
            "{}/{}/{}.git",
            self.git_url.as_str().trim_end_matches('/'),
            repo.owner(),
            repo.name()
        )
    }
}

/// `[slack]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SlackConfig {
    /// Web API root.
    #[serde(deserialize_with = "http_url")]
    pub api_url: Url,
    /// Environment variable holding the bot token.
    pub bot_token_env: String,
    /// Environment variable holding the signing secret.
    pub signing_secret_env: String,
    /// Channel for announcements of runs not started from Slack.
    pub channel: Option<String>,
    /// Slack user ids allowed to start fix squads and `/squad revert`; empty allows everyone.
    #[serde(default)]
    pub fix_users: Vec<String>,
    /// Slack channel ids fix squads and reverts may be asked for from; empty allows every
    /// channel.
    #[serde(default)]
    pub fix_channels: Vec<String>,
}

/// `[providers.<name>]`: one OpenAI-compatible endpoint and the prices of its models.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// API root; `/chat/completions` is appended.
    #[serde(deserialize_with = "http_url")]
    pub base_url: Url,
    /// Environment variable holding the API key; `None` for servers that need no key.
    pub api_key_env: Option<String>,
    /// Seconds one request may take.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Tries of one request in total before the turn fails.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Which kind of server it is, naming its `[profiles.kinds.<kind>]`: `openai`,
    /// `openrouter`, `litellm`, `vllm`, `ollama`, `llama-cpp`, `deepseek` or `generic`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Prices and profile keys per model name (the part after `provider/`).
    #[serde(default)]
    pub models: BTreeMap<String, ModelEntry>,
}

fn default_kind() -> String {
    "generic".to_owned()
}

fn default_timeout_secs() -> u64 {
    300
}

fn default_max_attempts() -> u32 {
    5
}

/// Prices of one model in US dollars per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrices {
    /// Uncached input tokens.
    pub input: f64,
    /// Input tokens served from the provider's prompt cache.
    pub cached_input: f64,
    /// Output tokens.
    pub output: f64,
}

impl ModelPrices {
    /// The prices as the core's metering type.
    pub fn token_prices(&self) -> TokenPrices {
        TokenPrices {
            input_per_million: self.input,
            cached_input_per_million: self.cached_input,
            output_per_million: self.output,
        }
    }
}

/// `[limits]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Limits {
    /// Squads running at once.
    pub concurrency: u32,
    /// Review rounds before needs-human.
    pub review_rounds: u32,
    /// Largest admitted estimate.
    pub max_estimate: u32,
    /// Whether an issue without estimate is refused.
    pub require_estimate: bool,
    /// Budget of one squad in US dollars.
    pub budget_per_squad_usd: f64,
    /// Budget of one run in US dollars.
    pub budget_per_run_usd: f64,
    /// Most model turns of one agent on one task.
    pub agent_turn_limit: u32,
    /// CI-fix rounds (a red required check, or a merge with the moved base that fails the
    /// tests, fixed, pushed, re-reviewed) before needs-human; counted apart from review
    /// rounds.
    pub ci_fix_rounds: u32,
    /// Conflict-resolution rounds (a rebase that stopped on conflicts resolved, tested,
    /// pushed, re-reviewed) before needs-human; counted apart from the other rounds.
    pub conflict_rounds: u32,
    /// Seconds the merge gate waits for a required check that never reported on the head
    /// before naming it to a person.
    pub check_report_wait_secs: u64,
}

/// `[retries]`: how a step that failed for a passing reason (a timeout, a 5xx, a rate
/// limit) is tried again before its squad stops as needs-human.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RetriesConfig {
    /// Attempts of one step in all, the first included.
    pub attempts: u32,
    /// Wait before the first retry in milliseconds; it doubles with each retry after that.
    pub base_delay_ms: u64,
    /// Longest wait between attempts in milliseconds.
    pub max_delay_ms: u64,
}

/// `[repositories.<TEAM>]`: where a Linear team's code lives.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RepositoryConfig {
    /// The GitHub repository.
    pub github: GithubRepo,
    /// The branch pull requests target.
    #[serde(default = "default_base_branch")]
    pub base: String,
}

fn default_base_branch() -> String {
    "main".to_owned()
}

/// A GitHub repository named `owner/repo`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GithubRepo {
    owner: String,
    name: String,
}

impl GithubRepo {
    /// Parses `owner/repo`; both parts use letters, digits, `-`, `_` and `.`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let valid_part = |part: &str| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match text.split_once('/') {
            Some((owner, name)) if valid_part(owner) && valid_part(name) => {
                Ok(Self { owner: owner.to_owned(), name: name.to_owned() })
            }
            _ => Err("must be a GitHub repository as `owner/repo` (letters, digits, `-`, `_`, `.`), e.g. \"acme/shop\"".to_owned()),
        }
    }

    /// The owning user or organisation.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The repository's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for GithubRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl<'de> Deserialize<'de> for GithubRepo {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        GithubRepo::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `[sandbox]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SandboxConfig {
    /// Which runner confines commands.
    pub mode: SandboxMode,
    /// Wall-clock limit of one command in seconds.
    pub command_timeout_secs: u64,
    /// Most bytes of output kept.
    pub output_cap_bytes: u64,
    /// Most processes and threads one command and what it starts may have at once (its
    /// own pids cgroup where the host allows one); 0: no limit.
    pub max_processes: u64,
    /// Most address space one process of a command may map, in MiB; 0: no limit.
    pub max_memory_mib: u64,
}

/// Which runner confines agents' commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    /// bubblewrap when installed, else the restricted runner with a warning.
    Auto,
    /// bubblewrap or nothing.
    Bubblewrap,
    /// Never bubblewrap: scrubbed environment, confined directory, limits.
    Restricted,
}

impl SandboxMode {
    /// The name used in configuration.
    pub const fn as_str(self) -> &'static str {
        match self {
            SandboxMode::Auto => "auto",
            SandboxMode::Bubblewrap => "bubblewrap",
            SandboxMode::Restricted => "restricted",
        }
    }
}

impl fmt::Display for SandboxMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[store]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StoreConfig {
    /// `postgres://…`, `postgresql://…` or `sqlite:…`; may carry a password, hence secret.
    pub database_url: Option<Secret>,
    /// SQLite file used when no `database_url` is set.
    pub sqlite_path: Option<PathBuf>,
    /// Directory for repository mirrors and squad worktrees (and the default SQLite file).
    pub data_dir: Option<PathBuf>,
}

/// `[diagnosis]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DiagnosisConfig {
    /// Lowest confidence with which a bug-fix squad goes on to fix.
    #[serde(deserialize_with = "confidence")]
    pub min_confidence: Confidence,
}

/// `[server]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Address and port of the webhook listener (Linear, GitHub, Slack, `/healthz`).
    #[serde(deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
    /// Where the control API, dashboard and metrics listen: their own address, or `Shared`
    /// to serve them on `listen` as well (then the control token is required).
    pub control_listen: ControlListen,
    /// Environment variable holding the control API's bearer token.
    pub control_token_env: String,
    /// Host names the control API answers to besides loopback names and its own address.
    pub control_hosts: Vec<String>,
    /// Seconds a client may take to send a request's headers, counted from the connection's
    /// start or its previous response (so also the idle limit of a kept-alive connection).
    pub header_read_timeout_secs: u64,
    /// Seconds a request may take to be answered.
    pub request_timeout_secs: u64,
    /// Connections open at once per listener, at most.
    pub max_connections: u64,
    /// This daemon's stable id among the daemons sharing the store; unset: its host name and
    /// process id.
    #[serde(default)]
    pub daemon_id: Option<String>,
    /// Seconds the daemon running the squads holds the store for without a heartbeat (it
    /// beats every third of it); a standby daemon takes over once it lapses.
    pub lease_secs: u64,
    /// Whether the daemons sharing the store share its squads: each claims its share of
    /// them, squad by squad, instead of one daemon running them all while the others stand
    /// by. Unset: they share the squads of a PostgreSQL store and not of a SQLite file
    /// ([`ServerConfig::shares_squads`]).
    #[serde(default)]
    pub share_squads: Option<bool>,
}

impl ServerConfig {
    /// Whether `serve` daemons share the squads of their store, squad by squad: as
    /// `share_squads` says, by default on a PostgreSQL store (`postgres`), where replicas on
    /// several machines each bring their own cores, and not on a SQLite file, which one
    /// machine writes one transaction at a time.
    pub fn shares_squads(&self, postgres: bool) -> bool {
        self.share_squads.unwrap_or(postgres)
    }
}

/// `server.control_listen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlListen {
    /// Its own listener at this address.
    Own(SocketAddr),
    /// The webhook listener (`listen`).
    Shared,
}

impl<'de> Deserialize<'de> for ControlListen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == "shared" {
            return Ok(ControlListen::Shared);
        }
        text.parse().map(ControlListen::Own).map_err(|_| {
            serde::de::Error::custom(
                "must be an IP address and port such as \"127.0.0.1:8081\", or \"shared\" to serve the control API on `server.listen` too",
            )
        })
    }
}

impl Config {
    /// The shipped defaults alone.
    pub fn shipped() -> Config {
        // Invariant: the embedded defaults parse and validate; the `shipped_config_validates`
        // test fails the build's test suite otherwise.
        Config::load(None, &Env::new()).expect("the shipped config/squadron.toml is valid")
    }

    /// Loads the configuration: shipped defaults, then `file` (read from disk) when given,
    /// then `SQUADRON_<SECTION>_<KEY>` variables of `env`; then validates the result.
    pub fn load(file: Option<&Path>, env: &Env) -> Result<Config, ConfigError> {
        let text = match file {
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                        path: path.to_owned(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let file = file.zip(text.as_deref());
        Config::load_text(file, env)
    }

    /// Like [`Config::load`] with the file's text already in hand: `file` is its path (used
    /// in messages) and contents.
    pub fn load_text(file: Option<(&Path, &str)>, env: &Env) -> Result<Config, ConfigError> {
        let layers = layering::merge_layers(SHIPPED_CONFIG, file, env)?;
        let config: Config = layers.deserialize()?;
        validate::validate(&config, &layers.provenance)?;
        Ok(config)
    }

    /// The repository configured for a Linear team key.
    pub fn repository(&self, team_key: &str) -> Option<&RepositoryConfig> {
        self.repositories.get(team_key)
    }

    /// The prices of `model` at `provider`, if both are configured.
    pub fn model_prices(&self, provider: &str, model: &str) -> Option<ModelPrices> {
        Some(self.providers.get(provider)?.models.get(model)?.prices)
    }

    /// The profile of `model` at `provider`: the shipped and configured layers for the
    /// provider's kind and the model's family, and the model entry's own keys. `None` when
    /// the provider is not configured.
    pub fn model_profile(&self, provider: &str, model: &str) -> Option<ResolvedProfile> {
        let provider = self.providers.get(provider)?;
        let own = provider.models.get(model).map(|entry| &entry.profile);
        Some(self.profiles.resolve(&provider.kind, model, own))
    }

    /// The names of the environment variables that carry Squadron's secrets: every `*_env`
    /// key's variable and `DATABASE_URL`. A target repository's sandbox may never pass them
    /// through (nor any `SQUADRON_*` variable, refused by its prefix).
    pub fn secret_variable_names(&self) -> std::collections::BTreeSet<String> {
        let (linear, github, slack) = (&self.linear, &self.github, &self.slack);
        let mut names: std::collections::BTreeSet<String> = [
            &linear.api_key_env,
            &linear.oauth_token_env,
            &linear.webhook_secret_env,
            &github.developer_token_env,
            &github.code_reviewer_token_env,
            &github.qa_specialist_token_env,
            &github.webhook_secret_env,
            &slack.bot_token_env,
            &slack.signing_secret_env,
        ]
        .into_iter()
        .cloned()
        .collect();
        names.extend(
            self.providers
                .values()
                .filter_map(|provider| provider.api_key_env.clone()),
        );
        names.insert("DATABASE_URL".to_owned());
        names
    }

    /// Reads every secret the configuration names from `env`.
    pub fn resolve_secrets(&self, env: &Env) -> Secrets {
        let mut missing = Vec::new();
        let mut read = |key: &[&str], var: &str, purpose: &str| -> Option<Secret> {
            let value = env.non_empty(var).map(Secret::new);
            if value.is_none() {
                missing.push(MissingSecret {
                    key: KeyPath::new(key.iter().copied()),
                    env_var: var.to_owned(),
                    purpose: purpose.to_owned(),
                });
            }
            value
        };
        let (linear, github, slack) = (&self.linear, &self.github, &self.slack);
        let mut secrets = Secrets {
            linear_api_key: read(
                &["linear", "api_key_env"],
                &linear.api_key_env,
                "a Linear personal API key",
            ),
            linear_oauth_token: read(
                &["linear", "oauth_token_env"],
                &linear.oauth_token_env,
                "a Linear OAuth access token",
            ),
            linear_webhook_secret: read(
                &["linear", "webhook_secret_env"],
                &linear.webhook_secret_env,
                "the Linear webhook signing secret",
            ),
            github_developer_token: read(
                &["github", "developer_token_env"],
                &github.developer_token_env,
                "the GitHub token of the Developer identity",
            ),
            github_code_reviewer_token: read(
                &["github", "code_reviewer_token_env"],
                &github.code_reviewer_token_env,
                "the GitHub token of the Code Reviewer identity",
            ),
            github_qa_specialist_token: read(
                &["github", "qa_specialist_token_env"],
                &github.qa_specialist_token_env,
                "the GitHub token of the QA Specialist identity",
            ),
            github_webhook_secret: read(
                &["github", "webhook_secret_env"],
                &github.webhook_secret_env,
                "the GitHub webhook secret",
            ),
            slack_bot_token: read(
                &["slack", "bot_token_env"],
                &slack.bot_token_env,
                "the Slack bot token",
            ),
            slack_signing_secret: read(
                &["slack", "signing_secret_env"],
                &slack.signing_secret_env,
                "the Slack signing secret",
            ),
            provider_api_keys: BTreeMap::new(),
            // Optional: without it the control API relies on its private listener.
            control_token: env
                .non_empty(&self.server.control_token_env)
                .map(Secret::new),
            missing: Vec::new(),
        };
        for (name, provider) in &self.providers {
            if let Some(var) = &provider.api_key_env {
                let purpose = format!("the API key of model provider `{name}`");
                if let Some(key) = read(&["providers", name, "api_key_env"], var, &purpose) {
                    secrets.provider_api_keys.insert(name.clone(), key);
                }
            }
        }
        secrets.missing = missing;
        secrets
    }
}

/// An absolute `http` or `https` URL.
fn http_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Url, D::Error> {
    parse_url(&String::deserialize(deserializer)?, &["http", "https"])
        .map_err(serde::de::Error::custom)
}

/// An absolute `http`, `https` or `file` URL (local bare repositories in tests and demos).
fn git_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Url, D::Error> {
    parse_url(
        &String::deserialize(deserializer)?,
        &["http", "https", "file"],
    )
    .map_err(serde::de::Error::custom)
}

fn parse_url(text: &str, schemes: &[&str]) -> Result<Url, String> {
    let expected = || {
        let schemes: Vec<String> = schemes
            .iter()
            .map(|scheme| format!("{scheme}://"))
            .collect();
        format!(
            "must be an absolute URL starting with {}",
            schemes.join(" or ")
        )
    };
    match Url::parse(text) {
        Ok(url)
            if schemes.contains(&url.scheme()) && (url.has_host() || url.scheme() == "file") =>
        {
            Ok(url)
        }
        Ok(_) => Err(expected()),
        Err(error) => Err(format!("{} ({error})", expected())),
    }
}

fn merge_method<'de, D: Deserializer<'de>>(deserializer: D) -> Result<MergeMethod, D::Error> {
    match String::deserialize(deserializer)?.as_str() {
        "merge" => Ok(MergeMethod::Merge),
        "squash" => Ok(MergeMethod::Squash),
        "rebase" => Ok(MergeMethod::Rebase),
        _ => Err(serde::de::Error::custom(
            "must be \"merge\", \"squash\" or \"rebase\"",
        )),
    }
}

fn confidence<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Confidence, D::Error> {
    match String::deserialize(deserializer)?.as_str() {
        "low" => Ok(Confidence::Low),
        "medium" => Ok(Confidence::Medium),
        "high" => Ok(Confidence::High),
        _ => Err(serde::de::Error::custom(
            "must be \"low\", \"medium\" or \"high\"",
        )),
    }
}

fn socket_addr<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(|_| {
        serde::de::Error::custom(
            "must be an IP address and port such as \"127.0.0.1:8080\" or \"[::1]:8080\"",
        )
    })
}
