//! [`ProviderRegistry`]: the configured providers by name, and the resolution of an agent
//! file's `provider/model` to the adapter and model name to call.

use std::collections::BTreeMap;
use std::sync::Arc;

use squadron_core::ports::{ChatModel, Clock};

use crate::adapter::{OpenAiCompatibleModel, ProviderSettings, ProviderSetupError};

/// Every configured provider, each with one adapter shared by all squads (and so one
/// concurrency gate and one rate-limit pause per provider).
#[derive(Clone, Debug, Default)]
pub struct ProviderRegistry {
    providers: BTreeMap<String, OpenAiCompatibleModel>,
}

/// Where a `provider/model` reference leads.
#[derive(Clone)]
pub struct ModelRoute {
    /// The adapter of the provider.
    pub chat_model: Arc<dyn ChatModel>,
    /// The provider's name.
    pub provider: String,
    /// The model name to put in each request (the reference without `provider/`).
    pub model: String,
}

impl std::fmt::Debug for ModelRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelRoute")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl ProviderRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the provider `settings` describe; `clock` is passed to its adapter.
    pub fn add(
        &mut self,
        settings: ProviderSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<(), ProviderSetupError> {
        if self.providers.contains_key(&settings.name) {
            return Err(ProviderSetupError::DuplicateProvider {
                provider: settings.name,
            });
        }
        let name = settings.name.clone();
        let adapter = OpenAiCompatibleModel::new(settings, clock)?;
        self.providers.insert(name, adapter);
        Ok(())
    }

    /// How loaded each provider is right now, by name.
    pub fn loads(&self) -> Vec<crate::adapter::ProviderLoad> {
        self.providers
            .values()
            .map(OpenAiCompatibleModel::load)
            .collect()
    }

    /// The adapter of the provider named `name`.
    pub fn provider(&self, name: &str) -> Option<&OpenAiCompatibleModel> {
        self.providers.get(name)
    }

    /// Resolves `provider/model` (the model part may itself contain `/`, as OpenRouter's
    /// `anthropic/claude-…` does: only the first `/` separates).
    pub fn resolve(&self, reference: &str) -> Result<ModelRoute, ProviderSetupError> {
        let unknown = |problem: String| ProviderSetupError::UnknownModel {
            reference: reference.to_owned(),
            problem,
            known: if self.providers.is_empty() {
                "none configured".to_owned()
            } else {
                self.providers
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        };
        let Some((provider, model)) = reference.split_once('/') else {
            return Err(unknown("it names no provider".to_owned()));
        };
        if model.is_empty() {
            return Err(unknown("it names no model after the `/`".to_owned()));
        }
        let adapter = self
            .providers
            .get(provider)
            .ok_or_else(|| unknown(format!("there is no provider `{provider}`")))?;
        Ok(ModelRoute {
            chat_model: Arc::new(adapter.for_model(model)),
            provider: provider.to_owned(),
            model: model.to_owned(),
        })
    }
}
