//! Squadron's configuration layer: the layered [`Config`] (shipped defaults < file <
//! environment), secrets resolved from the environment, agent definitions, prompt templates
//! and a target repository's `.squadron.toml`.
//!
//! Architecture invariant: this crate never reads the process environment. The binary reads
//! it once and passes an [`Env`] in.

mod config;
mod env;
mod error;
mod layering;
mod secret;
mod validate;

pub use config::{
    Config, DiagnosisConfig, GithubConfig, GithubRepo, Limits, LinearConfig, MergeMethod,
    ModelPrices, ProviderConfig, RepositoryConfig, SHIPPED_CONFIG, SandboxConfig, SandboxMode,
    ServerConfig, SlackConfig, StateNameOverrides, StateNames, StoreConfig,
};
pub use env::Env;
pub use error::{ConfigError, ConfigErrorKind, KeyPath, Origin};
pub use secret::{MissingSecret, Secret, Secrets};
pub use validate::MAX_CONCURRENCY;
