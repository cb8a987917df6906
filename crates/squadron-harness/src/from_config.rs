//! Conversions from the configuration crate's types (agent files, `.squadron.toml`,
//! `[sandbox]`) into the harness's own.

use std::path::Path;

use squadron_config::{
    AgentDefinition, AgentsConfig, CommandLine, RepoSandbox, RepoSettings, Tool,
};
use squadron_core::TokenPrices;

use crate::output_cap::OutputLimits;
use crate::permissions::{InvalidGlob, PathGlobs, TestGlobs, WriteScope};
use crate::registry::ToolRegistry;
use crate::sandbox::{SandboxError, SandboxSettings};
use crate::tool_spec::ToolName;
use crate::turn::{AgentSpec, TurnSettings};
use crate::workspace::RepoPolicy;

impl From<Tool> for ToolName {
    fn from(tool: Tool) -> ToolName {
        match tool {
            Tool::ReadFile => ToolName::ReadFile,
            Tool::ListFiles => ToolName::ListFiles,
            Tool::SearchCode => ToolName::SearchCode,
            Tool::WriteFile => ToolName::WriteFile,
            Tool::EditFile => ToolName::EditFile,
            Tool::DeleteFile => ToolName::DeleteFile,
            Tool::MoveFile => ToolName::MoveFile,
            Tool::RunTests => ToolName::RunTests,
            Tool::RunCommand => ToolName::RunCommand,
            Tool::GitDiff => ToolName::GitDiff,
            Tool::GitLog => ToolName::GitLog,
            Tool::RequestTestChange => ToolName::RequestTestChange,
            Tool::Finish => ToolName::Finish,
            Tool::SubmitReview => ToolName::SubmitReview,
            Tool::SubmitDiagnosis => ToolName::SubmitDiagnosis,
        }
    }
}

impl From<squadron_config::WriteScope> for WriteScope {
    fn from(scope: squadron_config::WriteScope) -> WriteScope {
        match scope {
            squadron_config::WriteScope::None => WriteScope::Nothing,
            squadron_config::WriteScope::Tests => WriteScope::TestFiles,
            squadron_config::WriteScope::Code => WriteScope::Anything,
        }
    }
}

/// A command line as the shell text the guardrails run; each word is quoted as needed.
fn shell_line(command: &CommandLine) -> String {
    let argv = command.argv();
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
}

impl RepoPolicy {
    /// The guardrail policy of a repository's settings.
    pub fn from_settings(settings: &RepoSettings) -> Result<RepoPolicy, InvalidGlob> {
        Ok(RepoPolicy {
            format: settings.format.as_ref().map(shell_line),
            format_extensions: settings.format_extensions.clone(),
            lint: settings.lint.as_ref().map(shell_line),
            lint_extensions: settings.lint_extensions.clone(),
            test: Some(shell_line(&settings.test)),
            test_one: settings.test_one.as_ref().map(shell_line),
            test_globs: TestGlobs::new(&settings.test_globs)?,
            protected: PathGlobs::new(&settings.protected)?,
            allowed_commands: settings.allowed_commands.iter().map(shell_line).collect(),
            notes: settings.notes.clone(),
            setup: settings.sandbox.setup.as_ref().map(shell_line),
            setup_network: settings.sandbox.setup_network,
        })
    }
}

/// The settings a repository's commands run with: `base` (the daemon's) plus the
/// repository's variables, its toolchain directories read-only with their credential files
/// masked, and each of its cache variables set to a directory of its own under `caches`
/// (created here, mounted writable, kept by the daemon for the repository's next squads).
/// Without `caches` the cache variables are left unset, so tools use their defaults.
pub fn repository_sandbox(
    base: &SandboxSettings,
    repository: &RepoSandbox,
    caches: Option<&Path>,
) -> Result<SandboxSettings, RepositorySandboxError> {
    let mut settings = base.clone();
    for (name, value) in &repository.env {
        settings.allow_env(name.clone(), value.clone())?;
    }
    settings
        .read_only_mounts
        .extend(repository.mounts.iter().cloned());
    settings.masked.extend(repository.masked.iter().cloned());
    if let Some(caches) = caches {
        for variable in &repository.caches {
            let dir = caches.join(variable);
            std::fs::create_dir_all(&dir).map_err(|source| RepositorySandboxError::Cache {
                dir: dir.clone(),
                source,
            })?;
            settings.allow_env(variable.clone(), dir.display().to_string())?;
            settings.writable_mounts.push(dir);
        }
    }
    Ok(settings)
}

/// Why a repository's sandbox could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RepositorySandboxError {
    /// A variable was refused.
    #[error(transparent)]
    Variable(#[from] SandboxError),
    /// A cache directory could not be created.
    #[error("create the cache directory {}", dir.display())]
    Cache {
        /// The directory.
        dir: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl From<&AgentsConfig> for TurnSettings {
    fn from(agents: &AgentsConfig) -> TurnSettings {
        TurnSettings {
            context_share: agents.context_share,
            tool_output: OutputLimits {
                max_bytes: usize::try_from(agents.tool_output_bytes).unwrap_or(usize::MAX),
                max_lines: usize::try_from(agents.tool_output_lines).unwrap_or(usize::MAX),
            },
            continuations: agents.continuations,
            warn_steps_before_limit: agents.warn_steps_before_limit,
            repeated_failure_nudge: agents.repeated_failure_nudge,
            repeated_failure_stop: agents.repeated_failure_stop,
            text_only_replies: agents.text_only_replies,
            unusable_replies: agents.unusable_replies,
        }
    }
}

impl AgentSpec {
    /// The agent an agent file describes, at `prices`, allowed `max_steps` model calls with
    /// `turn` settings; a writer's `finish` commits through the test guardrail.
    pub fn from_definition(
        definition: &AgentDefinition,
        prices: TokenPrices,
        max_steps: u32,
        turn: TurnSettings,
    ) -> AgentSpec {
        let tools: Vec<ToolName> = definition
            .tools
            .iter()
            .copied()
            .map(ToolName::from)
            .collect();
        AgentSpec {
            role: definition.role,
            model: definition.model.to_string(),
            system_prompt: definition.instructions.clone(),
            tools: ToolRegistry::new(definition.role, &tools, definition.writes.into()),
            prices,
            max_steps,
            commit_on_finish: definition.role.writes(),
            turn,
        }
    }
}
