//! `squadron doctor`: checks the configuration, agents, prompts, credentials, store, sandbox
//! and, unless `--offline`, the configured services. One line per check: ok, warn or fail.
//!
//! Anything that would make a run fail for certain is a failure, and any failure exits 1: a
//! credential every run needs (Linear, the three GitHub identities, the key of a provider an
//! agent uses) that is unset, a service that does not answer or refuses the credentials.
//! Secrets only some features need (webhook and Slack secrets) are warnings that say what
//! to set.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use squadron_config::{
    AgentCatalog, Config, HostEnvironment, PromptLibrary, RepoSettings, SandboxMode,
};
use squadron_core::ports::{ChatMessage, ChatRequest, ToolSpec};
use squadron_harness::{
    Network, RepoPolicy, Sandbox, SandboxCommand, SandboxKind, SandboxSettings, WorktreeAccess,
    repository_sandbox,
};
use squadron_linear::LinearErrorKind;
use squadron_store::{SqlStore, StoreLocation};

use crate::cli::{DoctorArgs, GlobalArgs};
use crate::context::Context;
use crate::error::{CliError, error_chain};
use crate::wiring::{code_host, host_environment, linear_client, review_mode};

/// How one check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Fine.
    Ok,
    /// Works, but something should be set or is weaker than it could be.
    Warn,
    /// Will not work.
    Fail,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` so that width specifiers line the table up.
        f.pad(match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        })
    }
}

/// The outcome of one check.
#[derive(Debug)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// How it came out.
    pub level: Level,
    /// What was found, and for warn/fail what to do.
    pub message: String,
}

impl Check {
    fn new(name: &'static str, level: Level, message: impl Into<String>) -> Check {
        Check {
            name,
            level,
            message: message.into(),
        }
    }
}

/// Runs every check, prints them, and exits 1 when any failed.
pub async fn run(global: &GlobalArgs, args: &DoctorArgs) -> Result<ExitCode, CliError> {
    let mut checks = Vec::new();
    let context = match Context::load(global) {
        Ok(context) => {
            checks.push(config_check(&context));
            Some(context)
        }
        Err(error) => {
            checks.push(Check::new("config", Level::Fail, error.message()));
            None
        }
    };
    checks.extend(agent_and_prompt_checks(
        context.as_ref().map(|context| &context.config),
        args,
    ));
    if let Some(repo) = &args.repo {
        checks.extend(repo_checks(context.as_ref(), repo).await);
    }
    if let Some(context) = &context {
        checks.extend(credential_checks(context, args));
        checks.push(repositories_check(&context.config));
        checks.push(store_check(context).await);
        checks.push(sandbox_check(&context.config).await);
        checks.extend(model_profile_checks(&context.config));
        if !args.offline {
            checks.extend(service_checks(context).await);
            checks.extend(model_probes(context).await);
        }
    }

    let mut text = String::new();
    for check in &checks {
        text.push_str(&format!(
            "{:<5} {:<13} {}\n",
            check.level,
            check.name,
            check.message.replace('\n', "\n                    ")
        ));
    }
    let count = |level| checks.iter().filter(|check| check.level == level).count();
    let (warnings, failures) = (count(Level::Warn), count(Level::Fail));
    text.push_str(&format!(
        "\n{} checks: {} ok, {warnings} warnings, {failures} failures\n",
        checks.len(),
        count(Level::Ok)
    ));
    crate::output::print(&text)?;
    Ok(if failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn config_check(context: &Context) -> Check {
    let overrides = context
        .env
        .iter()
        .filter(|(name, _)| {
            name.starts_with("SQUADRON_")
                && *name != "SQUADRON_CONFIG"
                && *name != "SQUADRON_LOG_FORMAT"
        })
        .count();
    let file = match &context.config_file {
        Some(path) => format!(" + {}", path.display()),
        None => String::new(),
    };
    Check::new(
        "config",
        Level::Ok,
        format!("shipped defaults{file} + {overrides} SQUADRON_* variables"),
    )
}

fn agent_and_prompt_checks(config: Option<&Config>, args: &DoctorArgs) -> Vec<Check> {
    let agents_dir = args.repo.as_ref().map(|repo| repo.join("agents"));
    let prompts_dir = args.repo.as_ref().map(|repo| repo.join("prompts"));
    let mut checks = Vec::new();

    let agents = AgentCatalog::load(agents_dir.as_deref()).and_then(|catalog| match config {
        Some(config) => catalog.check_models(config).map(|()| catalog),
        None => Ok(catalog),
    });
    checks.push(match agents {
        Ok(catalog) => {
            let list: Vec<String> = catalog
                .iter()
                .map(|agent| format!("{} ({})", agent.role, agent.model))
                .collect();
            let mut message = list.join(", ");
            for ignored in catalog.ignored_files() {
                message.push_str(&format!(
                    "\nignored {}: not a role's agent file",
                    ignored.display()
                ));
            }
            let level = if catalog.ignored_files().is_empty() {
                Level::Ok
            } else {
                Level::Warn
            };
            Check::new("agents", level, message)
        }
        Err(error) => Check::new("agents", Level::Fail, error.to_string()),
    });

    checks.push(
        match PromptLibrary::load(prompts_dir.as_deref())
            .and_then(|library| library.check().map(|()| library))
        {
            Ok(library) => {
                let mut message = "every task template renders".to_owned();
                for ignored in library.ignored_files() {
                    message.push_str(&format!(
                        "\nignored {}: not a known template",
                        ignored.display()
                    ));
                }
                let level = if library.ignored_files().is_empty() {
                    Level::Ok
                } else {
                    Level::Warn
                };
                Check::new("prompts", level, message)
            }
            Err(error) => Check::new("prompts", Level::Fail, error.to_string()),
        },
    );

    checks
}

/// `--repo DIR`: the repository's `.squadron.toml` as squads would read it on this host, and
/// its setup and test commands run once, in the sandbox, on a clone of its committed head.
async fn repo_checks(context: Option<&Context>, repo: &Path) -> Vec<Check> {
    let host = match context.map(|context| host_environment(&context.config, &context.env)) {
        Some(Ok(host)) => host,
        Some(Err(error)) => return vec![Check::new("repo", Level::Fail, error.message())],
        None => HostEnvironment::bare(),
    };
    let settings = match RepoSettings::load_with(repo, &host) {
        Ok(settings) => settings,
        Err(error) => return vec![Check::new("repo", Level::Fail, error_chain(&error))],
    };
    let mut summary = repo_summary(&settings);
    for note in &settings.notes {
        summary.push_str(&format!("\n{note}"));
    }
    let level = if settings.notes.is_empty() {
        Level::Ok
    } else {
        Level::Warn
    };
    let mut checks = vec![Check::new("repo", level, summary)];
    // The runner, limits and time limit squads get, where there is a configuration.
    let base = context.map_or_else(
        || SandboxSettings::new(SandboxMode::Auto),
        |context| crate::wiring::sandbox_settings(&context.config),
    );
    checks.extend(repo_commands(repo, &settings, base).await);
    checks
}

fn repo_summary(settings: &RepoSettings) -> String {
    let command = |command: Option<&squadron_config::CommandLine>| match command {
        Some(command) => command.argv().join(" "),
        None => "none".to_owned(),
    };
    let mut summary = format!(
        "test: {}; test one: {}; format: {}; lint: {}; setup: {}; test files: {}",
        settings.test.argv().join(" "),
        command(settings.test_one.as_ref()),
        command(settings.format.as_ref()),
        command(settings.lint.as_ref()),
        command(settings.sandbox.setup.as_ref()),
        settings.test_globs.join(", "),
    );
    if !settings.protected.is_empty() {
        summary.push_str(&format!("; protected: {}", settings.protected.join(", ")));
    }
    summary
}

/// Runs the setup command (when there is one) and then the test command on a clone of
/// `repo`'s committed head, the way a squad's worktree would, and reports both.
async fn repo_commands(repo: &Path, settings: &RepoSettings, base: SandboxSettings) -> Vec<Check> {
    let clone = match clone_head(repo) {
        Ok(clone) => clone,
        Err(problem) => {
            return vec![Check::new(
                "repo-tests",
                Level::Warn,
                format!("not run: {problem}"),
            )];
        }
    };
    let worktree = clone.path().join("repo");
    let policy = match RepoPolicy::from_settings(settings) {
        Ok(policy) => policy,
        Err(error) => return vec![Check::new("repo-tests", Level::Fail, error_chain(&error))],
    };
    let sandbox = match Sandbox::detect(base.clone()).await {
        Ok(sandbox) => sandbox,
        Err(error) => return vec![Check::new("repo-tests", Level::Fail, error_chain(&error))],
    };
    let caches = clone.path().join("caches");
    let sandbox = match repository_sandbox(&base, &settings.sandbox, Some(&caches)) {
        Ok(repository) => sandbox.with_settings(repository),
        Err(error) => return vec![Check::new("repo-setup", Level::Fail, error_chain(&error))],
    };
    let mut checks = Vec::new();
    if let Some(setup) = &policy.setup {
        let network = if policy.setup_network {
            Network::Allowed
        } else {
            Network::Isolated
        };
        let command = SandboxCommand::Shell(setup.clone());
        let outcome = sandbox
            .run_with_network(&worktree, &command, WorktreeAccess::ReadWrite, network)
            .await;
        let check = command_check("repo-setup", setup, outcome);
        let failed = check.level == Level::Fail;
        checks.push(check);
        if failed {
            return checks;
        }
    }
    if let Some(test) = &policy.test {
        let outcome = sandbox
            .run(&worktree, &SandboxCommand::Shell(test.clone()))
            .await;
        checks.push(command_check("repo-tests", test, outcome));
    }
    checks
}

/// A clone of `repo`'s committed head in a temporary directory (`<tmp>/repo`), so the run
/// neither uses nor changes what is uncommitted in it.
fn clone_head(repo: &Path) -> Result<tempfile::TempDir, String> {
    let dir = tempfile::Builder::new()
        .prefix("squadron-doctor-")
        .tempdir()
        .map_err(|error| format!("could not create a temporary directory: {error}"))?;
    let output = std::process::Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
        .arg(repo)
        .arg(dir.path().join("repo"))
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|error| format!("could not run git: {error}"))?;
    if output.status.success() {
        Ok(dir)
    } else {
        Err(format!(
            "{} is not a git repository with a commit to run them on ({})",
            repo.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn command_check(
    name: &'static str,
    command: &str,
    outcome: Result<squadron_harness::CommandOutput, squadron_harness::SandboxError>,
) -> Check {
    match outcome {
        Ok(output) if output.success() => Check::new(
            name,
            Level::Ok,
            format!("`{command}` passed in {:.1}s", output.elapsed.as_secs_f64()),
        ),
        Ok(output) => {
            let rendered = output.render();
            let tail: Vec<&str> = rendered.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Check::new(
                name,
                Level::Fail,
                format!(
                    "`{command}` failed on the committed head, so every squad would fail before an agent acts:\n{}",
                    tail.join("\n")
                ),
            )
        }
        Err(error) => Check::new(
            name,
            Level::Fail,
            format!("`{command}` could not run: {}", error_chain(&error)),
        ),
    }
}

fn credential_checks(context: &Context, args: &DoctorArgs) -> Vec<Check> {
    let secrets = context.config.resolve_secrets(&context.env);
    let linear_authenticated =
        secrets.linear_api_key.is_some() || secrets.linear_oauth_token.is_some();
    let used_providers = providers_agents_use(args);
    // One check per service and level, each line naming the variable to set and what it is
    // for.
    let mut by_section: BTreeMap<(Level, String), Vec<String>> = BTreeMap::new();
    for missing in &secrets.missing {
        let segments = missing.key.segments();
        let section = segments.first().cloned().unwrap_or_default();
        let field = segments.get(1).map(String::as_str);
        let is_linear_auth =
            section == "linear" && matches!(field, Some("api_key_env" | "oauth_token_env"));
        if is_linear_auth && linear_authenticated {
            // Either Linear credential is enough.
            continue;
        }
        let required = match (section.as_str(), field) {
            ("linear", _) => is_linear_auth,
            ("github", Some(field)) => field.ends_with("_token_env"),
            ("providers", Some(provider)) => used_providers.iter().any(|used| used == provider),
            _ => false,
        };
        let level = if required { Level::Fail } else { Level::Warn };
        by_section
            .entry((level, section))
            .or_default()
            .push(missing.to_string());
    }
    if by_section.is_empty() {
        return vec![Check::new(
            "credentials",
            Level::Ok,
            "every configured secret is set",
        )];
    }
    by_section
        .into_iter()
        .map(|((level, _), lines)| Check::new("credentials", level, lines.join("\n")))
        .collect()
}

/// The providers the agents' models name (the shipped agents, or the repository's
/// overrides with `--repo`); an agent file that does not load was reported already.
fn providers_agents_use(args: &DoctorArgs) -> Vec<String> {
    let agents_dir = args.repo.as_ref().map(|repo| repo.join("agents"));
    AgentCatalog::load(agents_dir.as_deref())
        .map(|catalog| {
            catalog
                .iter()
                .map(|agent| agent.model.provider().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn repositories_check(config: &Config) -> Check {
    if config.repositories.is_empty() {
        return Check::new(
            "repositories",
            Level::Warn,
            "no repositories configured: add [repositories.<TEAM KEY>] with github = \"owner/repo\" and base = \"main\" so squads know where each team's code lives",
        );
    }
    let list: Vec<String> = config
        .repositories
        .iter()
        .map(|(team, repo)| format!("{team} → {} ({})", repo.github, repo.base))
        .collect();
    Check::new("repositories", Level::Ok, list.join(", "))
}

async fn store_check(context: &Context) -> Check {
    let location = match context.store_location() {
        Ok(location) => location,
        Err(error) => return Check::new("store", Level::Fail, error.to_string()),
    };
    let described = describe(&location);
    // Doctor changes nothing: a store that does not exist yet is not created here.
    if let Some(path) = location.sqlite_path()
        && !path.exists()
    {
        return Check::new(
            "store",
            Level::Warn,
            format!(
                "{described} does not exist yet; `squadron run`, `serve` and `demo` create it \
                 (if you expected one there, check --database-url, DATABASE_URL and store.*)"
            ),
        );
    }
    match tokio::time::timeout(Duration::from_secs(10), SqlStore::open(&location)).await {
        Ok(Ok(store)) => {
            store.close().await;
            Check::new("store", Level::Ok, described)
        }
        Ok(Err(error)) => Check::new(
            "store",
            Level::Fail,
            format!("failed to {}", error_chain(&error)),
        ),
        Err(_) => Check::new(
            "store",
            Level::Fail,
            format!("{described}: no answer within 10 s; check that the database is running"),
        ),
    }
}

fn describe(location: &StoreLocation) -> String {
    match location.sqlite_path() {
        Some(path) => format!("SQLite at {}", path.display()),
        None => location.backend().to_owned(),
    }
}

/// Reaches each service whose credentials are set: Linear (whose identity), GitHub (the
/// three role identities and what they mean for the review mode) and the model providers.
/// Missing credentials were already reported; a service that does not answer or refuses the
/// credentials is a failure (a run could not start), a rate limit a warning.
async fn service_checks(context: &Context) -> Vec<Check> {
    let config = &context.config;
    let secrets = config.resolve_secrets(&context.env);
    let mut checks = Vec::new();
    if let Ok(linear) = linear_client(config, &secrets) {
        checks.push(match timeout(linear.viewer()).await {
            Some(Ok(viewer)) => Check::new(
                "linear",
                Level::Ok,
                format!("authenticated as {}", viewer.name),
            ),
            Some(Err(error)) => {
                let level = match error.kind() {
                    LinearErrorKind::RateLimited => Level::Warn,
                    _ => Level::Fail,
                };
                Check::new(
                    "linear",
                    level,
                    format!("failed to {}", error_chain(&error)),
                )
            }
            None => Check::new(
                "linear",
                Level::Fail,
                format!("{} did not answer within 15 s", config.linear.api_url),
            ),
        });
    }
    if let Ok(github) = code_host(config, &secrets) {
        checks.push(match timeout(review_mode(&github)).await {
            Some(Ok((mode, warnings))) => {
                let logins = mode.identities.as_ref().map_or_else(String::new, |ids| {
                    format!(
                        "developer {}, code reviewer {}, QA specialist {}",
                        ids.developer, ids.code_reviewer, ids.qa_specialist
                    )
                });
                if warnings.is_empty() {
                    Check::new(
                        "github",
                        Level::Ok,
                        format!("{logins}: distinct identities, reviews gate the merge"),
                    )
                } else {
                    let mut message = logins;
                    for warning in &warnings {
                        message.push('\n');
                        message.push_str(&warning.to_string());
                    }
                    Check::new("github", Level::Warn, message)
                }
            }
            Some(Err(error)) => Check::new("github", Level::Fail, error.message().to_owned()),
            None => Check::new(
                "github",
                Level::Fail,
                format!("{} did not answer within 15 s", config.github.api_url),
            ),
        });
    }
    checks
}

/// The models agents use: `[agents] model`, else each shipped agent's own.
fn models_in_use(config: &Config) -> Vec<String> {
    if let Some(model) = &config.agents.model {
        return vec![model.clone()];
    }
    let mut models: Vec<String> = AgentCatalog::load(None)
        .map(|catalog| {
            catalog
                .iter()
                .map(|agent| agent.model.to_string())
                .collect()
        })
        .unwrap_or_default();
    models.sort();
    models.dedup();
    models
}

/// A warning for each configured model whose context window nothing states: it runs with
/// a conservative 32k window, which wastes a larger model and may overflow a smaller one.
fn model_profile_checks(config: &Config) -> Vec<Check> {
    let mut checks = Vec::new();
    for (provider, settings) in &config.providers {
        for model in settings.models.keys() {
            let Some(profile) = config.model_profile(provider, model) else {
                continue;
            };
            if !profile.window_known {
                checks.push(Check::new(
                    "model",
                    Level::Warn,
                    format!(
                        "{provider}/{model}: no profile states its context window, so a conservative {} tokens (replies up to {}) is assumed; set context_window and max_output_tokens under [providers.{provider}.models.\"{model}\"]",
                        profile.context_window, profile.max_output_tokens
                    ),
                ));
            }
        }
    }
    checks
}

/// Sends each model the agents use a tiny tool-calling request and says what came back.
async fn model_probes(context: &Context) -> Vec<Check> {
    let config = &context.config;
    let secrets = config.resolve_secrets(&context.env);
    let registry = match crate::wiring::providers_trying(config, &secrets, Some(1)) {
        Ok(registry) => registry,
        Err(error) => return vec![Check::new("model", Level::Fail, error.message().to_owned())],
    };
    let mut checks = Vec::new();
    for reference in models_in_use(config) {
        let route = match registry.resolve(&reference) {
            Ok(route) => route,
            Err(error) => {
                checks.push(Check::new("model", Level::Fail, error.to_string()));
                continue;
            }
        };
        let request = ChatRequest {
            model: route.model.clone(),
            messages: vec![
                ChatMessage::System {
                    content: "You check that tool calling works. Answer only by calling a tool."
                        .to_owned(),
                },
                ChatMessage::User {
                    content: "Call the `report` tool with ok set to true.".to_owned(),
                },
            ],
            tools: vec![ToolSpec {
                name: "report".to_owned(),
                description: "Reports whether the check passed.".to_owned(),
                parameters:
                    r#"{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"]}"#
                        .to_owned(),
            }],
            max_output_tokens: None,
        };
        let limits = route.chat_model.limits();
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(120),
            route.chat_model.complete(&request),
        )
        .await;
        let took = started.elapsed().as_secs_f64();
        let window = format!(
            "window {} tokens, replies up to {}",
            limits.context_window, limits.max_output_tokens
        );
        checks.push(match answer {
            Ok(Ok(reply)) if reply.tool_calls.iter().any(|call| call.name == "report") => {
                Check::new(
                    "model",
                    Level::Ok,
                    format!("{reference}: calls tools natively ({took:.1} s, {} prompt tokens; {window})", reply.usage.prompt),
                )
            }
            Ok(Ok(reply)) => Check::new(
                "model",
                Level::Warn,
                format!(
                    "{reference}: answered without calling the tool ({took:.1} s): {:?}; agents need native tool calls (for vLLM: --enable-auto-tool-choice and a --tool-call-parser; for llama.cpp: --jinja)",
                    reply.content.unwrap_or_default().chars().take(120).collect::<String>()
                ),
            ),
            Ok(Err(error)) => Check::new(
                "model",
                Level::Fail,
                format!("{reference}: {}", error_chain(&error)),
            ),
            Err(_) => Check::new(
                "model",
                Level::Fail,
                format!("{reference}: no answer within 120 s"),
            ),
        });
    }
    checks
}

/// Bounds a network check so an unreachable service cannot hang `doctor`.
async fn timeout<T>(check: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout(Duration::from_secs(15), check)
        .await
        .ok()
}

async fn sandbox_check(config: &Config) -> Check {
    match Sandbox::detect(crate::wiring::sandbox_settings(config)).await {
        Ok(sandbox) => match (sandbox.kind(), sandbox.warning()) {
            (SandboxKind::Bubblewrap, None) => Check::new(
                "sandbox",
                Level::Ok,
                "bubblewrap: read-only system, writable worktree, no network",
            ),
            (SandboxKind::Bubblewrap, Some(warning)) => Check::new(
                "sandbox",
                Level::Warn,
                format!(
                    "bubblewrap: read-only system, writable worktree, no network; but {warning}"
                ),
            ),
            (SandboxKind::Restricted, warning) => Check::new(
                "sandbox",
                Level::Warn,
                format!(
                    "{}; install bubblewrap (`apt-get install bubblewrap`) for full confinement",
                    warning.unwrap_or("restricted runner")
                ),
            ),
        },
        Err(error) => Check::new(
            "sandbox",
            Level::Fail,
            format!(
                "sandbox = \"bubblewrap\" but {}; install bubblewrap or set sandbox.mode = \"auto\"",
                error_chain(&error)
            ),
        ),
    }
}
