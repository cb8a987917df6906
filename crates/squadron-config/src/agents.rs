//! Agent definitions: one Markdown file per role with YAML front matter (`name`,
//! `description`, `model`, `tools`, `writes`) and the role's standing instructions as body.
//! Shipped definitions are compiled in; a target repository's `agents/` directory overrides
//! them file by file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use squadron_core::Role;

use crate::config::Config;
use crate::error::one_of;

/// The shipped agent files, by role, as `(file name, contents)`.
const SHIPPED_AGENTS: [(Role, &str, &str); 5] = [
    (
        Role::Developer,
        "developer.md",
        include_str!("../../../agents/developer.md"),
    ),
    (Role::Qa, "qa.md", include_str!("../../../agents/qa.md")),
    (
        Role::CodeReviewer,
        "code-reviewer.md",
        include_str!("../../../agents/code-reviewer.md"),
    ),
    (
        Role::QaSpecialist,
        "qa-specialist.md",
        include_str!("../../../agents/qa-specialist.md"),
    ),
    (
        Role::Diagnostician,
        "diagnostician.md",
        include_str!("../../../agents/diagnostician.md"),
    ),
];

/// A tool an agent may be given. The harness implements them; an agent file lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tool {
    /// Reads a file, optionally a line range.
    ReadFile,
    /// Lists files (gitignore-aware, glob).
    ListFiles,
    /// Searches code by regular expression.
    SearchCode,
    /// Creates or overwrites a file.
    WriteFile,
    /// Replaces exact pieces of text in a file.
    EditFile,
    /// Deletes a file.
    DeleteFile,
    /// Moves or renames a file.
    MoveFile,
    /// Runs the repository's test command.
    RunTests,
    /// Runs a command the repository's `.squadron.toml` allows.
    RunCommand,
    /// Shows a diff of the worktree or between commits.
    GitDiff,
    /// Shows commit history.
    GitLog,
    /// Asks QA to change a test QA wrote; the Developer's only.
    RequestTestChange,
    /// Ends a writer's task with a summary.
    Finish,
    /// Ends a review with a verdict, summary and line comments.
    SubmitReview,
    /// Ends a diagnosis with hypothesis, plan, confidence and files.
    SubmitDiagnosis,
}

impl Tool {
    /// Every tool, in a stable order.
    pub const ALL: [Tool; 15] = [
        Tool::ReadFile,
        Tool::ListFiles,
        Tool::SearchCode,
        Tool::WriteFile,
        Tool::EditFile,
        Tool::DeleteFile,
        Tool::MoveFile,
        Tool::RunTests,
        Tool::RunCommand,
        Tool::GitDiff,
        Tool::GitLog,
        Tool::RequestTestChange,
        Tool::Finish,
        Tool::SubmitReview,
        Tool::SubmitDiagnosis,
    ];

    /// The tool's name as the model sees it and agent files write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Tool::ReadFile => "read_file",
            Tool::ListFiles => "list_files",
            Tool::SearchCode => "search_code",
            Tool::WriteFile => "write_file",
            Tool::EditFile => "edit_file",
            Tool::DeleteFile => "delete_file",
            Tool::MoveFile => "move_file",
            Tool::RunTests => "run_tests",
            Tool::RunCommand => "run_command",
            Tool::GitDiff => "git_diff",
            Tool::GitLog => "git_log",
            Tool::RequestTestChange => "request_test_change",
            Tool::Finish => "finish",
            Tool::SubmitReview => "submit_review",
            Tool::SubmitDiagnosis => "submit_diagnosis",
        }
    }

    /// Whether calling the tool ends the agent's turn loop.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Tool::Finish | Tool::SubmitReview | Tool::SubmitDiagnosis
        )
    }

    /// Whether the tool changes files.
    pub const fn writes(self) -> bool {
        matches!(
            self,
            Tool::WriteFile | Tool::EditFile | Tool::DeleteFile | Tool::MoveFile
        )
    }

    /// The only role that may be given the tool, if it is limited to one.
    pub const fn only_for(self) -> Option<Role> {
        match self {
            // Only the Developer works beside QA and may not change QA's tests.
            Tool::RequestTestChange => Some(Role::Developer),
            _ => None,
        }
    }

    /// The terminal tool a role must end with.
    pub const fn terminal_for(role: Role) -> Tool {
        match role {
            Role::Developer | Role::Qa => Tool::Finish,
            Role::CodeReviewer | Role::QaSpecialist => Tool::SubmitReview,
            Role::Diagnostician => Tool::SubmitDiagnosis,
        }
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tool {
    type Err = String;

    fn from_str(name: &str) -> Result<Tool, String> {
        Tool::ALL
            .into_iter()
            .find(|tool| tool.as_str() == name)
            .ok_or_else(|| {
                format!(
                    "unknown tool `{name}` (expected {})",
                    one_of(Tool::ALL.iter().map(|tool| tool.as_str()))
                )
            })
    }
}

/// Which files an agent may change. The harness enforces it; the file declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WriteScope {
    /// Nothing at all.
    None,
    /// Only files matching the repository's test globs.
    Tests,
    /// Code, except test files another role wrote in this squad.
    Code,
}

impl WriteScope {
    /// The scope's name in agent files.
    pub const fn as_str(self) -> &'static str {
        match self {
            WriteScope::None => "none",
            WriteScope::Tests => "tests",
            WriteScope::Code => "code",
        }
    }

    /// The widest scope a role may declare: reviewers and the diagnostician never write.
    pub const fn ceiling(role: Role) -> WriteScope {
        match role {
            Role::Developer => WriteScope::Code,
            Role::Qa => WriteScope::Tests,
            Role::CodeReviewer | Role::QaSpecialist | Role::Diagnostician => WriteScope::None,
        }
    }
}

impl fmt::Display for WriteScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A model named as `provider/model`; the model part may itself contain `/`
/// (`openrouter/anthropic/claude-sonnet-4`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelRef {
    provider: String,
    model: String,
}

impl ModelRef {
    /// Parses `provider/model`.
    pub fn parse(text: &str) -> Result<ModelRef, String> {
        match text.split_once('/') {
            Some((provider, model))
                if !provider.is_empty()
                    && !model.trim().is_empty()
                    && provider
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') =>
            {
                Ok(ModelRef {
                    provider: provider.to_owned(),
                    model: model.to_owned(),
                })
            }
            _ => Err(format!(
                "model `{text}` must be written as `provider/model`, where provider is a key of \
                 [providers] in the configuration (e.g. `openai/gpt-4.1`)"
            )),
        }
    }

    /// The provider's name, a key of `[providers]`.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The model's name as the provider knows it.
    pub fn model(&self) -> &str {
        &self.model
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// Where an agent definition was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentSource {
    /// Compiled in from Squadron's `agents/` directory; holds the file name.
    Shipped(&'static str),
    /// A file of the target repository's `agents/` directory.
    Override(PathBuf),
}

impl fmt::Display for AgentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentSource::Shipped(name) => write!(f, "agents/{name} (shipped)"),
            AgentSource::Override(path) => write!(f, "{}", path.display()),
        }
    }
}

/// One role's agent: model, tools, write scope and standing instructions.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentDefinition {
    /// The role, from the `name` key.
    pub role: Role,
    /// One line saying what the agent does.
    pub description: String,
    /// The model it runs on.
    pub model: ModelRef,
    /// The tools it is given, in the file's order, without duplicates.
    pub tools: Vec<Tool>,
    /// What it may change.
    pub writes: WriteScope,
    /// The Markdown body: the role's standing instructions (its system prompt).
    pub instructions: String,
    /// Where it was read from.
    pub source: AgentSource,
}

impl AgentDefinition {
    /// Whether the agent was given `tool`.
    pub fn has_tool(&self, tool: Tool) -> bool {
        self.tools.contains(&tool)
    }

    /// The tool that ends this agent's turn loop.
    pub fn terminal_tool(&self) -> Tool {
        Tool::terminal_for(self.role)
    }

    /// Parses and validates one agent file.
    pub fn parse(text: &str, source: AgentSource) -> Result<AgentDefinition, AgentError> {
        let fail = |line: Option<usize>, kind: AgentErrorKind, problem: String| AgentError {
            file: source.clone(),
            line,
            kind,
            problem,
        };
        let (front, body) = split_front_matter(text)
            .map_err(|(line, problem)| fail(line, AgentErrorKind::Syntax, problem))?;
        // The front matter starts on the file's second line, after the opening `---`.
        let file_line = |yaml_line: usize| yaml_line + 1;
        let line_of = |key: &str| {
            front
                .lines()
                .position(|line| line.starts_with(&format!("{key}:")))
                .map(|index| file_line(index + 1))
        };

        let raw: FrontMatter = serde_yaml_ng::from_str(front).map_err(|error| {
            // serde_yaml_ng counts lines from 1 and appends " at line …" to its message.
            let line = error.location().map(|location| file_line(location.line()));
            let message = error.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            fail(line, AgentErrorKind::Syntax, message)
        })?;

        let role: Role = raw
            .name
            .parse()
            .map_err(|error: squadron_core::UnknownRole| {
                fail(line_of("name"), AgentErrorKind::Invalid, error.to_string())
            })?;
        if let AgentSource::Override(path) = &source {
            let expected = format!("{}.md", role.as_str());
            if path.file_name().and_then(|name| name.to_str()) != Some(expected.as_str()) {
                return Err(fail(
                    line_of("name"),
                    AgentErrorKind::Invalid,
                    format!("`name: {role}` must be in a file named {expected}"),
                ));
            }
        }
        if raw.description.trim().is_empty() {
            return Err(fail(
                line_of("description"),
                AgentErrorKind::Invalid,
                "`description` must not be blank".to_owned(),
            ));
        }
        let model = ModelRef::parse(raw.model.trim())
            .map_err(|problem| fail(line_of("model"), AgentErrorKind::Invalid, problem))?;

        let mut tools = Vec::new();
        for name in &raw.tools {
            let tool: Tool = name
                .trim()
                .parse()
                .map_err(|problem| fail(line_of("tools"), AgentErrorKind::Invalid, problem))?;
            if tools.contains(&tool) {
                return Err(fail(
                    line_of("tools"),
                    AgentErrorKind::Invalid,
                    format!("tool `{tool}` is listed twice"),
                ));
            }
            tools.push(tool);
        }
        let terminal = Tool::terminal_for(role);
        if !tools.contains(&terminal) {
            return Err(fail(
                line_of("tools"),
                AgentErrorKind::Invalid,
                format!(
                    "the {role} must be given its terminal tool `{terminal}`, which ends its task"
                ),
            ));
        }
        if let Some(other) = tools
            .iter()
            .find(|tool| tool.is_terminal() && **tool != terminal)
        {
            return Err(fail(
                line_of("tools"),
                AgentErrorKind::Invalid,
                format!("the {role} cannot be given `{other}`; its terminal tool is `{terminal}`"),
            ));
        }

        if let Some((tool, only)) = tools.iter().find_map(|tool| {
            tool.only_for()
                .filter(|only| *only != role)
                .map(|only| (tool, only))
        }) {
            return Err(fail(
                line_of("tools"),
                AgentErrorKind::Invalid,
                format!("the {role} cannot be given `{tool}`; only the {only} may use it"),
            ));
        }

        let writes = match raw.writes.trim() {
            "none" => WriteScope::None,
            "tests" => WriteScope::Tests,
            "code" => WriteScope::Code,
            other => {
                return Err(fail(
                    line_of("writes"),
                    AgentErrorKind::Invalid,
                    format!(
                        "unknown write scope `{other}` (expected one of `none`, `tests`, `code`)"
                    ),
                ));
            }
        };
        let ceiling = WriteScope::ceiling(role);
        if writes > ceiling {
            return Err(fail(
                line_of("writes"),
                AgentErrorKind::Invalid,
                format!("the {role} may write at most `{ceiling}`, not `{writes}`"),
            ));
        }
        if writes == WriteScope::None
            && let Some(tool) = tools.iter().find(|tool| tool.writes())
        {
            return Err(fail(
                line_of("tools"),
                AgentErrorKind::Invalid,
                format!("tool `{tool}` writes files, but the agent declares `writes: none`"),
            ));
        }

        let instructions = body.trim().to_owned();
        if instructions.is_empty() {
            return Err(fail(
                None,
                AgentErrorKind::Invalid,
                "the body after the front matter must hold the role's instructions".to_owned(),
            ));
        }
        Ok(AgentDefinition {
            role,
            description: raw.description.trim().to_owned(),
            model,
            tools,
            writes,
            instructions,
            source,
        })
    }
}

/// The front matter as written. Keys of other coding assistants' agent files that mean
/// nothing here (`color`) are accepted and ignored, so existing files carry over.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    name: String,
    description: String,
    model: String,
    #[serde(deserialize_with = "tool_list")]
    tools: Vec<String>,
    writes: String,
    #[serde(default, rename = "color")]
    _color: Option<String>,
}

/// `tools` as a YAML list or as a comma-separated string (`Read, Grep` style).
fn tool_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct ToolList;

    impl<'de> Visitor<'de> for ToolList {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of tool names")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<String>, E> {
            Ok(text
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut names = Vec::new();
            while let Some(name) = seq.next_element::<String>()? {
                names.push(name);
            }
            Ok(names)
        }
    }

    deserializer.deserialize_any(ToolList)
}

/// Splits `---\n<yaml>\n---\n<body>`; errors carry a 1-based line.
fn split_front_matter(text: &str) -> Result<(&str, &str), (Option<usize>, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return Err((
            Some(1),
            "the file must start with a `---` line opening the YAML front matter".to_owned(),
        ));
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Ok((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    Err((
        Some(1),
        "the front matter opened on line 1 is never closed by a `---` line".to_owned(),
    ))
}

/// What kind of problem an agent file has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentErrorKind {
    /// The file could not be read.
    Io,
    /// The front matter is missing or not valid YAML of the expected shape.
    Syntax,
    /// A value is not acceptable (unknown role or tool, bad model, forbidden write scope).
    Invalid,
    /// The model names a provider or model the configuration does not have.
    UnknownModel,
}

/// An agent file that cannot be used, with its path, line when known, and the problem.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{file}{}: {problem}", line.map(|line| format!(":{line}")).unwrap_or_default())]
pub struct AgentError {
    /// The file.
    pub file: AgentSource,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// The kind of problem.
    pub kind: AgentErrorKind,
    /// What is wrong and what to do.
    pub problem: String,
}

/// The agent of every role: shipped definitions, overridden by a target repository's files.
#[derive(Clone, Debug)]
pub struct AgentCatalog {
    agents: BTreeMap<Role, AgentDefinition>,
    ignored: Vec<PathBuf>,
}

impl AgentCatalog {
    /// This catalog with every role using `model` (the configuration's `[agents] model`, or
    /// `squadron demo --model`).
    #[must_use]
    pub fn with_model(mut self, model: &ModelRef) -> AgentCatalog {
        for agent in self.agents.values_mut() {
            agent.model = model.clone();
        }
        self
    }

    /// The shipped definitions alone.
    pub fn shipped() -> AgentCatalog {
        // Invariant: every shipped file parses; the `every_shipped_agent_loads` test guards it.
        AgentCatalog::load(None).expect("the shipped agents/*.md files are valid")
    }

    /// Loads every role's agent: `<override_dir>/<role>.md` when that file exists, else the
    /// shipped one. Other files in `override_dir` are not agents of Squadron's roles and are
    /// listed in [`AgentCatalog::ignored_files`].
    pub fn load(override_dir: Option<&Path>) -> Result<AgentCatalog, AgentError> {
        let mut agents = BTreeMap::new();
        for (role, file_name, shipped) in SHIPPED_AGENTS {
            let override_path = override_dir
                .map(|dir| dir.join(file_name))
                .filter(|path| path.is_file());
            let agent = match override_path {
                Some(path) => {
                    let text = std::fs::read_to_string(&path).map_err(|error| AgentError {
                        file: AgentSource::Override(path.clone()),
                        line: None,
                        kind: AgentErrorKind::Io,
                        problem: format!("could not read the file: {error}"),
                    })?;
                    AgentDefinition::parse(&text, AgentSource::Override(path))?
                }
                None => AgentDefinition::parse(shipped, AgentSource::Shipped(file_name))?,
            };
            if agent.role != role {
                return Err(AgentError {
                    line: None,
                    kind: AgentErrorKind::Invalid,
                    problem: format!("the file of the {role} declares `name: {}`", agent.role),
                    file: agent.source,
                });
            }
            agents.insert(role, agent);
        }
        let mut ignored = Vec::new();
        if let Some(dir) = override_dir
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let known = SHIPPED_AGENTS
                    .iter()
                    .any(|(_, file_name, _)| name.to_str() == Some(*file_name));
                if !known {
                    ignored.push(entry.path());
                }
            }
        }
        ignored.sort();
        Ok(AgentCatalog { agents, ignored })
    }

    /// The agent of `role`.
    pub fn get(&self, role: Role) -> &AgentDefinition {
        // Invariant: `load` inserts one agent for every role of `Role::ALL` or fails.
        &self.agents[&role]
    }

    /// Every agent, in role order.
    pub fn iter(&self) -> impl Iterator<Item = &AgentDefinition> {
        self.agents.values()
    }

    /// Files of the override directory that are not named after a role (`doctor` warns:
    /// a misspelt override would otherwise silently not apply).
    pub fn ignored_files(&self) -> &[PathBuf] {
        &self.ignored
    }

    /// Checks that every agent's model is a priced model of a configured provider.
    pub fn check_models(&self, config: &Config) -> Result<(), AgentError> {
        for agent in self.agents.values() {
            let model = &agent.model;
            let problem = match config.providers.get(model.provider()) {
                None => format!(
                    "model `{model}` names provider `{}`, which is not configured (configured: {}); add \
                     [providers.{}] to the configuration or use one of those",
                    model.provider(),
                    one_of(config.providers.keys()),
                    model.provider()
                ),
                Some(provider) if !provider.models.contains_key(model.model()) => format!(
                    "model `{model}` has no prices in the configuration; add [providers.{}.models.\"{}\"] \
                     with input, cached_input and output (0 for a free local model)",
                    model.provider(),
                    model.model()
                ),
                Some(_) => continue,
            };
            return Err(AgentError {
                file: agent.source.clone(),
                line: None,
                kind: AgentErrorKind::UnknownModel,
                problem,
            });
        }
        Ok(())
    }
}
