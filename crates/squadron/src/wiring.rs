//! Wiring: the real adapters built from the configuration and the environment, handed to
//! the pipeline as ports. The one place that knows which adapter serves which port.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use squadron::server::{RateLimit, RequestBudget};
use squadron_config::{
    AgentCatalog, Config, Env, HostEnvironment, ModelRef, PromptLibrary, Secrets,
};
use squadron_config::{CacheSetting, OutputLimitFieldSetting, ResolvedProfile, ToolChoiceSetting};
use squadron_core::gate::{IdentityWarning, ReviewerIdentities};
use squadron_core::ports::ModelLimits;
use squadron_core::ports::{
    Clock, CodeHost, Notifier, RepoRef, ResolvedIdentities, ReviewDelivery,
};
use squadron_core::refinement::RefinementPolicy;
use squadron_core::scheduler::RetryPolicy;
use squadron_core::{Role, Timestamp, Usd};
use squadron_git::{AccessToken, GitWorkspaces, RepositorySpec, Workspace};
use squadron_github::{GithubCodeHost, RoleTokens};
use squadron_harness::{Budgets, Sandbox, SandboxSettings, TurnSettings};
use squadron_linear::{Credentials, LinearClient, LinearError, LinearErrorKind};
use squadron_model::{
    CacheStyle, ModelProfile, OutputLimitField, ProviderRegistry, ProviderSettings, ToolChoice,
};
use squadron_pipeline::{
    AgentSetup, ModelResolveError, ModelResolver, Pipeline, PipelineSettings, RepositoryTarget,
    ResolvedModel, ReviewMode, Services,
};
use squadron_slack::{SlackClient, SlackNotifier};
use squadron_store::{SqlStore, StoreLocation};
use tracing::warn;

use crate::context::{Context, store_error};
use crate::error::{CliError, ErrorClass, error_chain};
use crate::format::now;

/// The wall clock.
#[derive(Debug)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        now()
    }
}

/// The Linear client for the configured endpoint and credentials (the OAuth token when
/// both are set).
pub fn linear_client(config: &Config, secrets: &Secrets) -> Result<LinearClient, CliError> {
    let credentials = match (&secrets.linear_oauth_token, &secrets.linear_api_key) {
        (Some(token), _) => Credentials::OAuthToken(token.expose().to_owned()),
        (None, Some(key)) => Credentials::ApiKey(key.expose().to_owned()),
        (None, None) => {
            return Err(CliError::config(format!(
                "failed to read Linear credentials: neither {} nor {} is set",
                config.linear.api_key_env, config.linear.oauth_token_env
            ))
            .with_hint("set one to a Linear personal API key or OAuth access token"));
        }
    };
    let limiter = squadron_linear::RateLimiter::new(Arc::new(SystemClock));
    let states = |team: Option<&str>| {
        let names = match team {
            Some(team) => config.linear.states_for(team),
            None => config.linear.states.clone(),
        };
        squadron_linear::StateNames {
            started: names.started,
            in_review: names.in_review,
            done: names.done,
        }
    };
    let per_team: HashMap<String, squadron_linear::StateNames> = config
        .linear
        .team_states
        .keys()
        .map(|team| (team.clone(), states(Some(team))))
        .collect();
    LinearClient::new(config.linear.api_url.as_str(), &credentials, limiter)
        .map(|client| client.with_state_names(states(None), per_team))
        .map_err(linear_error)
}

/// A Linear failure, sorted by what the user can do about it.
pub fn linear_error(error: LinearError) -> CliError {
    let class = match error.kind() {
        LinearErrorKind::BadInput | LinearErrorKind::NotFound | LinearErrorKind::InvalidInput => {
            ErrorClass::User
        }
        LinearErrorKind::Authentication | LinearErrorKind::Forbidden => ErrorClass::Config,
        LinearErrorKind::RateLimited | LinearErrorKind::Transport => ErrorClass::Transient,
        LinearErrorKind::Protocol => ErrorClass::Internal,
    };
    CliError::new(class, format!("failed to {}", error_chain(&error)))
}

/// The three GitHub role tokens, or a config error naming every variable still unset.
fn role_tokens(config: &Config, secrets: &Secrets) -> Result<RoleTokens, CliError> {
    let github = &config.github;
    let token = |role: Role| {
        secrets
            .github_token(role)
            .map(|secret| SecretString::from(secret.expose().to_owned()))
    };
    match (
        token(Role::Developer),
        token(Role::CodeReviewer),
        token(Role::QaSpecialist),
    ) {
        (Some(developer), Some(code_reviewer), Some(qa_specialist)) => Ok(RoleTokens {
            developer,
            code_reviewer,
            qa_specialist,
        }),
        _ => {
            let unset: Vec<&str> = [
                (Role::Developer, github.developer_token_env.as_str()),
                (Role::CodeReviewer, github.code_reviewer_token_env.as_str()),
                (Role::QaSpecialist, github.qa_specialist_token_env.as_str()),
            ]
            .into_iter()
            .filter(|(role, _)| secrets.github_token(*role).is_none())
            .map(|(_, var)| var)
            .collect();
            Err(CliError::config(format!("failed to read GitHub tokens: {} not set", unset.join(", ")))
                .with_hint("give the Developer, the Code Reviewer and the QA Specialist a token each; three distinct GitHub identities are the strong mode"))
        }
    }
}

/// The GitHub adapter with one client per role identity.
pub fn code_host(config: &Config, secrets: &Secrets) -> Result<GithubCodeHost, CliError> {
    code_host_limited(
        config,
        secrets,
        Arc::new(squadron_github::RateLimiter::new()),
    )
}

/// [`code_host`] whose clients share `limiter`.
fn code_host_limited(
    config: &Config,
    secrets: &Secrets,
    limiter: Arc<squadron_github::RateLimiter>,
) -> Result<GithubCodeHost, CliError> {
    let tokens = role_tokens(config, secrets)?;
    GithubCodeHost::new(config.github.api_url.as_str(), &tokens, limiter).map_err(|error| {
        CliError::config(format!("failed to set up GitHub: {}", error_chain(&error)))
    })
}

/// Resolves each role's login and chooses the review mode: real reviews when the three
/// identities are distinct, comments plus commit statuses otherwise.
pub async fn review_mode(
    code_host: &dyn CodeHost,
) -> Result<(ReviewMode, Vec<IdentityWarning>), CliError> {
    let identities: ResolvedIdentities = code_host.resolve_identities().await.map_err(|error| {
        let message = format!(
            "failed to resolve the GitHub identities: {}",
            error_chain(&error)
        );
        match error.kind() {
            squadron_core::ports::PortErrorKind::Auth => CliError::config(message)
                .with_hint("check the GitHub tokens named by github.*_token_env"),
            squadron_core::ports::PortErrorKind::Transient => CliError::transient(message),
            _ => CliError::internal(message),
        }
    })?;
    let (reviewers, warnings) = ReviewerIdentities::from_logins(
        &identities.developer,
        &identities.code_reviewer,
        &identities.qa_specialist,
    );
    let delivery = match reviewers {
        ReviewerIdentities::Distinct { .. } => ReviewDelivery::Review,
        ReviewerIdentities::SingleIdentity { .. } => ReviewDelivery::CommentWithStatus,
    };
    Ok((
        ReviewMode {
            delivery,
            reviewers,
            identities: Some(identities),
        },
        warnings,
    ))
}

/// Where mirrors and worktrees live: `store.data_dir`, else the platform data directory.
pub fn data_dir(config: &Config) -> Result<PathBuf, CliError> {
    if let Some(dir) = &config.store.data_dir {
        return Ok(dir.clone());
    }
    let default = StoreLocation::default_sqlite().map_err(store_error)?;
    default
        .sqlite_path()
        .and_then(|path| path.parent())
        .map(PathBuf::from)
        .ok_or_else(|| CliError::config("failed to find a data directory: set store.data_dir"))
}

/// How commands run, from `[sandbox]`: the runner, the time limit, the output cap and the
/// limits (0: none).
pub(crate) fn sandbox_settings(config: &Config) -> SandboxSettings {
    let mut settings = SandboxSettings::new(config.sandbox.mode);
    settings.timeout = Duration::from_secs(config.sandbox.command_timeout_secs);
    settings.output_cap = usize::try_from(config.sandbox.output_cap_bytes).unwrap_or(usize::MAX);
    settings.max_processes =
        (config.sandbox.max_processes != 0).then_some(config.sandbox.max_processes);
    settings.max_memory_bytes = (config.sandbox.max_memory_mib != 0)
        .then(|| config.sandbox.max_memory_mib.saturating_mul(1024 * 1024));
    settings
}

/// Every configured model provider, each with its key from the environment.
fn providers(config: &Config, secrets: &Secrets) -> Result<ProviderRegistry, CliError> {
    providers_trying(config, secrets, None)
}

/// [`providers`] with each request tried at most `max_tries` times instead of the
/// configured number (a probe should say at once that a provider does not answer).
pub fn providers_trying(
    config: &Config,
    secrets: &Secrets,
    max_tries: Option<u32>,
) -> Result<ProviderRegistry, CliError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut registry = ProviderRegistry::new();
    for (name, provider) in &config.providers {
        let mut settings = ProviderSettings::new(name.clone(), provider.base_url.as_str());
        if let Some(key) = secrets.provider_api_key(name) {
            settings = settings.with_api_key(key.expose());
        }
        settings.request_timeout = Duration::from_secs(provider.timeout_secs);
        settings.retry.max_tries = max_tries.unwrap_or(provider.max_attempts);
        settings.default_profile =
            model_profile(&config.profiles.resolve(&provider.kind, "", None));
        for model in provider.models.keys() {
            if let Some(resolved) = config.model_profile(name, model) {
                settings = settings.with_profile(model.clone(), model_profile(&resolved));
            }
        }
        registry
            .add(settings, Arc::clone(&clock))
            .map_err(|error| {
                CliError::config(format!("failed to set up model provider `{name}`: {error}"))
            })?;
    }
    Ok(registry)
}

/// The adapter's profile of a model from its resolved configuration.
pub fn model_profile(resolved: &ResolvedProfile) -> ModelProfile {
    let extra_body = match serde_json::to_value(&resolved.extra_body) {
        Ok(serde_json::Value::Object(fields)) => fields,
        _ => serde_json::Map::new(),
    };
    ModelProfile {
        limits: ModelLimits {
            context_window: resolved.context_window,
            max_output_tokens: resolved.max_output_tokens,
            encoding: resolved.tokenizer.encoding(),
        },
        parallel_tool_calls: resolved.parallel_tool_calls,
        tool_choice: match resolved.tool_choice {
            ToolChoiceSetting::Auto => ToolChoice::Auto,
            ToolChoiceSetting::Required => ToolChoice::Required,
            ToolChoiceSetting::Omit => ToolChoice::Omit,
        },
        temperature: resolved.temperature,
        output_limit_field: match resolved.output_limit_field {
            OutputLimitFieldSetting::MaxTokens => OutputLimitField::MaxTokens,
            OutputLimitFieldSetting::MaxCompletionTokens => OutputLimitField::MaxCompletionTokens,
            OutputLimitFieldSetting::Omit => OutputLimitField::Omit,
        },
        reasoning_effort: resolved.reasoning_effort.clone(),
        echo_reasoning: resolved.echo_reasoning.clone(),
        cache: match resolved.cache {
            CacheSetting::Automatic => CacheStyle::Automatic,
            CacheSetting::Breakpoints => CacheStyle::Breakpoints,
        },
        extra_body,
    }
}

/// The shipped agents, each with its model from `registry`.
fn agents(
    config: &Config,
    registry: &ProviderRegistry,
    catalog: &AgentCatalog,
) -> Result<BTreeMap<Role, AgentSetup>, CliError> {
    catalog
        .check_models(config)
        .map_err(|error| CliError::config(error.to_string()))?;
    catalog
        .iter()
        .map(|definition| {
            let reference = definition.model.to_string();
            let route = registry.resolve(&reference).map_err(|error| {
                CliError::config(format!(
                    "failed to use model `{reference}` for {}: {error}",
                    definition.role
                ))
            })?;
            let prices = config
                .model_prices(definition.model.provider(), definition.model.model())
                .map(|prices| prices.token_prices())
                .unwrap_or_default();
            let setup = AgentSetup {
                definition: definition.clone(),
                prices,
                model: route.chat_model,
            };
            Ok((definition.role, setup))
        })
        .collect()
}

/// Models for agents a target repository overrides: any priced model of a configured
/// provider.
struct ConfiguredModels {
    registry: ProviderRegistry,
    config: Config,
}

impl ModelResolver for ConfiguredModels {
    fn resolve(&self, reference: &ModelRef) -> Result<ResolvedModel, ModelResolveError> {
        let (provider, model) = (reference.provider(), reference.model());
        let prices = self.config.model_prices(provider, model).ok_or_else(|| {
            ModelResolveError::NoPrices {
                provider: provider.to_owned(),
                model: model.to_owned(),
            }
        })?;
        let route = self
            .registry
            .resolve(&reference.to_string())
            .map_err(|error| ModelResolveError::Unroutable(Box::new(error)))?;
        Ok(ResolvedModel {
            model: route.chat_model,
            prices: prices.token_prices(),
        })
    }
}

/// What this host offers target repositories' commands: the daemon's environment for their
/// `pass_env`, the sandbox's `PATH`, and what they may never reach (the variables carrying
/// Squadron's secrets, the data directory with the store and every worktree).
pub fn host_environment(config: &Config, env: &Env) -> Result<HostEnvironment, CliError> {
    Ok(HostEnvironment {
        env: env.clone(),
        default_path: squadron_harness::sandbox::DEFAULT_PATH.to_owned(),
        reserved_variables: config.secret_variable_names(),
        reserved_dirs: vec![data_dir(config)?],
    })
}

/// The runtime's settings from the configuration.
fn settings(
    config: &Config,
    env: &Env,
    review_mode: ReviewMode,
) -> Result<PipelineSettings, CliError> {
    let mut repositories = BTreeMap::new();
    for (team, repository) in &config.repositories {
        repositories.insert(
            team.clone(),
            RepositoryTarget {
                repo: RepoRef::new(repository.github.owner(), repository.github.name()),
                base_branch: repository.base.clone(),
            },
        );
    }
    let limits = &config.limits;
    let mut settings = PipelineSettings::new(repositories, review_mode);
    settings.scheduler.concurrency = usize::try_from(limits.concurrency).unwrap_or(usize::MAX);
    settings.scheduler.max_review_rounds = limits.review_rounds;
    settings.scheduler.ci_fix_rounds = limits.ci_fix_rounds;
    settings.scheduler.conflict_rounds = limits.conflict_rounds;
    settings.scheduler.check_report_wait = Duration::from_secs(limits.check_report_wait_secs);
    let retries = &config.retries;
    settings.scheduler.retry = RetryPolicy {
        attempts: retries.attempts,
        base_delay: Duration::from_millis(retries.base_delay_ms),
        max_delay: Duration::from_millis(retries.max_delay_ms),
        jitter_seed: jitter_seed(),
    };
    settings.refinement = RefinementPolicy {
        max_estimate: Some(f64::from(limits.max_estimate)),
        require_estimate: limits.require_estimate,
    };
    settings.budgets = Budgets {
        squad: Some(Usd::from_dollars(limits.budget_per_squad_usd)),
        run: Some(Usd::from_dollars(limits.budget_per_run_usd)),
    };
    settings.agent_turn_limit = limits.agent_turn_limit;
    settings.turn = TurnSettings::from(&config.agents);
    settings.merge_method = config.github.merge_method;
    settings.required_checks = config.github.required_checks.clone();
    settings.keep_worktrees_on_needs_human = config.github.keep_worktrees_on_needs_human;
    settings.test_merge_result = config.github.test_merge_result;
    settings.scheduler.test_base_after_merge = config.github.test_base_after_merge;
    settings.min_confidence = config.diagnosis.min_confidence;
    settings.notify_channel = config.slack.channel.clone();
    settings.host = host_environment(config, env)?;
    settings.cache_root = Some(data_dir(config)?.join("caches"));
    Ok(settings)
}

/// A seed for the retry jitter that differs between daemons started together, so their
/// squads do not retry in lockstep.
fn jitter_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    (u64::from(std::process::id()) << 32) ^ u64::from(nanos)
}

/// The Slack notifier when a bot token is set; without one squads report nowhere.
pub(crate) fn notifier(
    config: &Config,
    secrets: &Secrets,
) -> Result<Option<Arc<dyn Notifier>>, CliError> {
    let Some(token) = &secrets.slack_bot_token else {
        return Ok(None);
    };
    let client =
        SlackClient::new(config.slack.api_url.as_str(), token.expose()).map_err(|error| {
            CliError::config(format!("failed to set up Slack: {}", error_chain(&error)))
        })?;
    Ok(Some(Arc::new(SlackNotifier::new(client))))
}

/// The whole runtime over the real adapters: Linear, GitHub (one identity per role), git
/// worktrees under the data directory, the configured model providers, the sandbox and
/// `store`.
pub async fn build_pipeline(context: &Context, store: Arc<SqlStore>) -> Result<Pipeline, CliError> {
    build_pipeline_reporting(context, store)
        .await
        .map(|(pipeline, _)| pipeline)
}

/// The worktrees of every configured repository, fetched and pushed as the Developer.
pub fn git_workspaces(config: &Config, secrets: &Secrets) -> Result<GitWorkspaces, CliError> {
    let developer_token = secrets
        .github_token(Role::Developer)
        .map(|token| token.expose().to_owned())
        .unwrap_or_default();
    let repositories = config.repositories.values().map(|repository| {
        let repo = RepoRef::new(repository.github.owner(), repository.github.name());
        let spec = RepositorySpec {
            slug: format!("{}/{}", repository.github.owner(), repository.github.name()),
            clone_url: config.github.clone_url(&repository.github),
            base_branch: repository.base.clone(),
        };
        (repo, (spec, AccessToken::new(developer_token.clone())))
    });
    Ok(GitWorkspaces::new(
        Workspace::new(data_dir(config)?),
        repositories,
    ))
}

/// [`build_pipeline`], with a reader of the rate-limit state of its GitHub adapter and
/// model providers, for the daemon's dashboard.
pub async fn build_pipeline_reporting(
    context: &Context,
    store: Arc<SqlStore>,
) -> Result<(Pipeline, RateLimits), CliError> {
    let config = &context.config;
    let secrets = config.resolve_secrets(&context.env);
    let tracker = Arc::new(linear_client(config, &secrets)?);
    let github_limiter = Arc::new(squadron_github::RateLimiter::new());
    let code_host = Arc::new(code_host_limited(
        config,
        &secrets,
        Arc::clone(&github_limiter),
    )?);
    let (review_mode, warnings) = review_mode(code_host.as_ref()).await?;
    for warning in &warnings {
        warn!("{warning}");
    }

    let workspaces = Arc::new(git_workspaces(config, &secrets)?);

    let mut catalog =
        AgentCatalog::load(None).map_err(|error| CliError::config(error.to_string()))?;
    if let Some(model) = &config.agents.model {
        let model = ModelRef::parse(model).map_err(|problem| {
            CliError::config(format!("failed to use [agents] model: {problem}"))
        })?;
        catalog = catalog.with_model(&model);
    }
    let prompts = PromptLibrary::load(None).map_err(|error| CliError::config(error.to_string()))?;
    let sandbox = Sandbox::detect(sandbox_settings(config))
        .await
        .map_err(|error| {
            CliError::config(format!(
                "failed to set up the sandbox: {}",
                error_chain(&error)
            ))
            .with_hint("install bubblewrap, or set sandbox.mode = \"auto\"")
        })?;

    let registry = providers(config, &secrets)?;
    let limits = RateLimits {
        github: github_limiter,
        models: registry.clone(),
    };
    // The runtime shares the store's squads exactly when its writes are fenced squad by
    // squad: it works the squads its daemon claims, not every unfinished one.
    let shares_squads = store.fences_each_squad();
    let services = Services {
        store,
        tracker,
        code_host,
        workspaces,
        agents: agents(config, &registry, &catalog)?,
        models: Arc::new(ConfiguredModels {
            registry,
            config: config.clone(),
        }),
        prompts: Arc::new(prompts),
        sandbox: Arc::new(sandbox),
        clock: Arc::new(SystemClock),
        notifier: notifier(config, &secrets)?,
    };
    let mut settings = settings(config, &context.env, review_mode)?;
    settings.shares_squads = shares_squads;
    Ok((Pipeline::new(services, settings), limits))
}

/// The adapters that know a rate-limit state: GitHub's shared limiter and every model
/// provider's gate.
#[derive(Clone, Debug)]
pub struct RateLimits {
    github: Arc<squadron_github::RateLimiter>,
    models: ProviderRegistry,
}

impl RateLimits {
    /// Every service's state now, in the server's terms.
    pub fn read(&self) -> Vec<RateLimit> {
        let github = self.github.state();
        let mut limits = vec![RateLimit {
            service: "github".to_owned(),
            paused_for: github.paused_for,
            budget: github.budget.map(|budget| RequestBudget {
                remaining: budget.remaining,
                limit: budget.limit,
                resets_at: Timestamp::from_millis(
                    i64::try_from(budget.resets_at_unix.saturating_mul(1000)).unwrap_or(i64::MAX),
                ),
            }),
            in_flight: None,
        }];
        limits.extend(self.models.loads().into_iter().map(|load| RateLimit {
            service: format!("model {}", load.provider),
            paused_for: load.paused_for,
            budget: None,
            in_flight: Some((load.in_flight, load.max_in_flight)),
        }));
        limits
    }
}
