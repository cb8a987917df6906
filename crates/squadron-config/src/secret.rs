//! Secrets read from the environment: wrapped so they never reach a log, an error or a
//! `Debug` dump.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use squadron_core::Role;

use crate::error::KeyPath;

/// A secret value (token, key, password). `Debug` and `Display` print `[redacted]`; the value
/// is reachable only through [`Secret::expose`], so every use is visible in review.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The secret itself, for the one place that must send it (an `Authorization` header).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

/// A secret whose environment variable is unset or blank.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingSecret {
    /// The configuration key naming the variable, such as `linear.api_key_env`.
    pub key: KeyPath,
    /// The environment variable that should hold the secret.
    pub env_var: String,
    /// What the secret is for, such as "the Linear API key".
    pub purpose: String,
}

impl fmt::Display for MissingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is not set: set it to {} (the variable is named by {})",
            self.env_var, self.purpose, self.key
        )
    }
}

/// Every secret the configuration names, resolved from the environment.
///
/// Unset secrets are `None` and listed in [`Secrets::missing`]; whether that is fatal is up
/// to the caller (`doctor` warns, `serve` refuses to start without what it needs).
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    /// Linear personal API key.
    pub linear_api_key: Option<Secret>,
    /// Linear OAuth access token; preferred over the API key when both are set.
    pub linear_oauth_token: Option<Secret>,
    /// Secret Linear signs webhooks with.
    pub linear_webhook_secret: Option<Secret>,
    /// Token of the Developer's GitHub identity.
    pub github_developer_token: Option<Secret>,
    /// Token of the Code Reviewer's GitHub identity.
    pub github_code_reviewer_token: Option<Secret>,
    /// Token of the QA Specialist's GitHub identity.
    pub github_qa_specialist_token: Option<Secret>,
    /// Secret GitHub signs webhooks with.
    pub github_webhook_secret: Option<Secret>,
    /// Slack bot token.
    pub slack_bot_token: Option<Secret>,
    /// Slack signing secret.
    pub slack_signing_secret: Option<Secret>,
    /// API key per provider name, for providers that name an `api_key_env`.
    pub provider_api_keys: BTreeMap<String, Secret>,
    /// Bearer token of the control API, dashboard and metrics; optional, so never missing.
    pub control_token: Option<Secret>,
    /// Every named secret whose variable is unset or blank.
    pub missing: Vec<MissingSecret>,
}

impl Secrets {
    /// The GitHub token of a role that acts on GitHub; `None` for roles without an identity
    /// (QA and the diagnostician) or when the variable is unset.
    pub fn github_token(&self, role: Role) -> Option<&Secret> {
        match role {
            Role::Developer => self.github_developer_token.as_ref(),
            Role::CodeReviewer => self.github_code_reviewer_token.as_ref(),
            Role::QaSpecialist => self.github_qa_specialist_token.as_ref(),
            Role::Qa | Role::Diagnostician => None,
        }
    }

    /// The API key of a provider, if it needs one and it is set.
    pub fn provider_api_key(&self, provider: &str) -> Option<&Secret> {
        self.provider_api_keys.get(provider)
    }
}
