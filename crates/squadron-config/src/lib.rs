//! Squadron's configuration layer: the layered [`Config`] (shipped defaults < file <
//! environment), secrets resolved from the environment, agent definitions ([`AgentCatalog`]),
//! prompt templates ([`PromptLibrary`]) and a target repository's `.squadron.toml`
//! ([`RepoSettings`]).
//!
//! Architecture invariant: this crate never reads the process environment. The binary reads
//! it once and passes an [`Env`] in.

mod agents;
mod command_line;
mod config;
mod env;
mod error;
mod fence;
mod instructions;
mod layering;
mod profiles;
mod prompt_context;
mod prompts;
mod repo_defaults;
mod repo_sandbox;
mod repo_settings;
mod secret;
mod validate;

pub use agents::{
    AgentCatalog, AgentDefinition, AgentError, AgentErrorKind, AgentSource, ModelRef, Tool,
    WriteScope,
};
pub use command_line::{CommandLine, FILE_PLACEHOLDER, FILES_PLACEHOLDER, SELECTOR_PLACEHOLDER};
pub use config::{
    AgentsConfig, Config, ControlListen, DiagnosisConfig, GithubConfig, GithubRepo, Limits,
    LinearConfig, ModelPrices, ProviderConfig, RepositoryConfig, RetriesConfig, SHIPPED_CONFIG,
    SandboxConfig, SandboxMode, ServerConfig, SlackConfig, StateNameOverrides, StateNames,
    StoreConfig,
};
pub use env::Env;
pub use error::{ConfigError, ConfigErrorKind, KeyPath, Origin};
pub use fence::{
    GUIDANCE_NOTE, Guidance, UNTRUSTED_NOTE, Untrusted, fence, guidance_fence, inline_name,
};
pub use instructions::{
    InstructionDocument, LeftOutDocument, ProjectInstructions, RepositoryGuidance,
};
pub use profiles::{
    CacheSetting, ModelEntry, OutputLimitFieldSetting, ProfileKeys, ProfilesConfig,
    ResolvedProfile, TokenizerSetting, ToolChoiceSetting, wildcard_match,
};
pub use prompt_context::{
    AgentContext, ChecksContext, ConflictContext, ConflictFileContext, DiagnosisContext,
    DocContext, EvidenceContext, FailedCheckContext, IssueContext, LandedContext, LeftOutContext,
    PreviousCommentContext, PreviousReviewContext, RepositoryContext, RevertContext,
    ReviewCommentContext, ReviewContext, ScenarioContext, SystemContext, TaskContext, TestEvidence,
};
pub use prompts::{PromptError, PromptErrorKind, PromptLibrary, PromptName, PromptSource};
pub use repo_defaults::{Ecosystem, Installed};
pub use repo_sandbox::{HostEnvironment, RepoSandbox, SYSTEM_PATH, is_secret_name};
pub use repo_settings::{DEFAULT_DOCS_MAX_BYTES, REPO_SETTINGS_FILE, RepoSettings};
pub use secret::{MissingSecret, Secret, Secrets};
pub use validate::MAX_CONCURRENCY;
