//! Conversions from the configuration crate's types (agent files, `.squadron.toml`,
//! `[sandbox]`) into the harness's own.

use squadron_config::{AgentDefinition, CommandLine, RepoSettings, Tool};
use squadron_core::TokenPrices;

use crate::permissions::{InvalidGlob, TestGlobs, WriteScope};
use crate::registry::ToolRegistry;
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
            allowed_commands: settings.allowed_commands.iter().map(shell_line).collect(),
            notes: settings.notes.clone(),
        })
    }
}

impl AgentSpec {
    /// The agent an agent file describes, at `prices`, allowed `max_steps` model calls; a
    /// writer's `finish` commits through the test guardrail.
    pub fn from_definition(
        definition: &AgentDefinition,
        prices: TokenPrices,
        max_steps: u32,
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
            turn: TurnSettings::default(),
        }
    }
}
