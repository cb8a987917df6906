//! Squadron's configuration layer: the layered [`Config`] (shipped defaults < file <
//! environment), secrets resolved from the environment, agent definitions ([`AgentCatalog`]),
//! prompt templates ([`PromptLibrary`]) and a target repository's `.squadron.toml`
//! ([`RepoSettings`]).
//!
//! Architecture invariant: this crate never reads the process environment. The binary reads
//! it once and passes an [`Env`] in.

mod agents;
mod config;
mod env;
mod error;
mod fence;
mod layering;
mod prompt_context;
mod prompts;
mod repo_settings;
mod secret;
mod validate;

pub use agents::{
    AgentCatalog, AgentDefinition, AgentError, AgentErrorKind, AgentSource, ModelRef, Tool,
    WriteScope,
};
pub use config::{
    Config, DiagnosisConfig, GithubConfig, GithubRepo, Limits, LinearConfig, ModelPrices,
    ProviderConfig, RepositoryConfig, SHIPPED_CONFIG, SandboxConfig, SandboxMode, ServerConfig,
    SlackConfig, StateNameOverrides, StateNames, StoreConfig,
};
pub use env::Env;
pub use error::{ConfigError, ConfigErrorKind, KeyPath, Origin};
pub use fence::{UNTRUSTED_NOTE, Untrusted, fence};
pub use prompt_context::{
    AgentContext, DiagnosisContext, DocContext, EvidenceContext, IssueContext, RepositoryContext,
    ReviewCommentContext, ReviewContext, ScenarioContext, SystemContext, TaskContext, TestEvidence,
};
pub use prompts::{PromptError, PromptErrorKind, PromptLibrary, PromptName, PromptSource};
pub use repo_settings::{CommandLine, Ecosystem, REPO_SETTINGS_FILE, RepoSettings};
pub use secret::{MissingSecret, Secret, Secrets};
pub use validate::MAX_CONCURRENCY;
