//! Model profiles in the configuration: how each kind of server and each family of models is
//! spoken to (context window, output limit, tokenizer, which optional request fields it
//! accepts, reasoning echoed back, cache breakpoints, extra body fields).
//!
//! A model's profile is built in layers, later ones winning: `[profiles.default]`, then
//! `[profiles.kinds.<kind>]` for its provider's `kind`, then the one family of
//! `[profiles.families.<name>]` with the longest `models` pattern matching the model's name,
//! then the keys on the model's own entry (`[providers.<p>.models."<m>"]`).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use squadron_core::ports::TokenEncoding;

use crate::config::ModelPrices;

/// What `tool_choice` to send with tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoiceSetting {
    /// `"auto"`.
    Auto,
    /// `"required"`: the model must call a tool.
    Required,
    /// Leave the field out.
    Omit,
}

/// Which request field carries the reply's token limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputLimitFieldSetting {
    /// `max_tokens`.
    MaxTokens,
    /// `max_completion_tokens`.
    MaxCompletionTokens,
    /// No limit sent.
    Omit,
}

/// How the provider's prompt cache is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheSetting {
    /// The provider caches byte-identical prefixes by itself.
    Automatic,
    /// Anthropic's explicit `cache_control` breakpoints.
    Breakpoints,
}

/// The tokenizer a model's tokens are counted with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenizerSetting {
    /// OpenAI's `o200k_base`.
    O200kBase,
    /// OpenAI's `cl100k_base`.
    Cl100kBase,
    /// A conservative estimate from the text's size.
    Estimate,
}

impl TokenizerSetting {
    /// The core's encoding.
    pub fn encoding(self) -> TokenEncoding {
        match self {
            TokenizerSetting::O200kBase => TokenEncoding::O200kBase,
            TokenizerSetting::Cl100kBase => TokenEncoding::Cl100kBase,
            TokenizerSetting::Estimate => TokenEncoding::Estimate,
        }
    }
}

/// Profile keys as written: every one optional, so layers can set some and leave the rest.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileKeys {
    /// Patterns of model names this family applies to (`*` matches any text); only in
    /// `[profiles.families.<name>]`.
    pub models: Option<Vec<String>>,
    /// Tokens of prompt and reply together the model accepts.
    pub context_window: Option<u64>,
    /// The most tokens one reply may have.
    pub max_output_tokens: Option<u64>,
    /// How tokens are counted.
    pub tokenizer: Option<TokenizerSetting>,
    /// What `tool_choice` to send.
    pub tool_choice: Option<ToolChoiceSetting>,
    /// Whether `parallel_tool_calls: true` is sent.
    pub parallel_tool_calls: Option<bool>,
    /// Sampling temperature; unset sends none.
    pub temperature: Option<f64>,
    /// Which field carries the output limit.
    pub output_limit_field: Option<OutputLimitFieldSetting>,
    /// `reasoning_effort` to send.
    pub reasoning_effort: Option<String>,
    /// The reply field holding reasoning text that must be sent back (`reasoning_content`).
    pub echo_reasoning: Option<String>,
    /// How prompt caching is reached.
    pub cache: Option<CacheSetting>,
    /// Fields merged into every request body, e.g. `{ options = { num_ctx = 32768 } }`.
    pub extra_body: Option<toml::Table>,
}

impl ProfileKeys {
    /// These keys with every key `over` sets taking its place.
    fn overlaid(&self, over: &ProfileKeys) -> ProfileKeys {
        ProfileKeys {
            models: over.models.clone().or_else(|| self.models.clone()),
            context_window: over.context_window.or(self.context_window),
            max_output_tokens: over.max_output_tokens.or(self.max_output_tokens),
            tokenizer: over.tokenizer.or(self.tokenizer),
            tool_choice: over.tool_choice.or(self.tool_choice),
            parallel_tool_calls: over.parallel_tool_calls.or(self.parallel_tool_calls),
            temperature: over.temperature.or(self.temperature),
            output_limit_field: over.output_limit_field.or(self.output_limit_field),
            reasoning_effort: over
                .reasoning_effort
                .clone()
                .or_else(|| self.reasoning_effort.clone()),
            echo_reasoning: over
                .echo_reasoning
                .clone()
                .or_else(|| self.echo_reasoning.clone()),
            cache: over.cache.or(self.cache),
            extra_body: match (&self.extra_body, &over.extra_body) {
                (Some(base), Some(extra)) => {
                    let mut merged = base.clone();
                    merge_table(&mut merged, extra);
                    Some(merged)
                }
                (base, extra) => extra.clone().or_else(|| base.clone()),
            },
        }
    }
}

fn merge_table(base: &mut toml::Table, over: &toml::Table) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(extra)) => {
                merge_table(inner, extra);
            }
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// `[profiles]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilesConfig {
    /// What every model starts from.
    #[serde(default)]
    pub default: ProfileKeys,
    /// Per provider kind (`openai`, `openrouter`, `litellm`, `vllm`, `ollama`, `llama-cpp`,
    /// `deepseek`, `generic`).
    #[serde(default)]
    pub kinds: BTreeMap<String, ProfileKeys>,
    /// Per family of models, matched by name.
    #[serde(default)]
    pub families: BTreeMap<String, ProfileKeys>,
}

/// One model's entry, `[providers.<p>.models."<m>"]`: its prices and any profile keys of its
/// own.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelEntry {
    /// Prices.
    pub prices: ModelPrices,
    /// Profile keys set on the entry itself.
    pub profile: ProfileKeys,
}

impl<'de> Deserialize<'de> for ModelEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut table = toml::Table::deserialize(deserializer)?;
        let mut price = |field: &str| -> Result<f64, D::Error> {
            match table.remove(field) {
                Some(toml::Value::Float(value)) => Ok(value),
                Some(toml::Value::Integer(value)) => Ok(value as f64),
                Some(other) => Err(D::Error::custom(format!(
                    "`{field}` must be a number (US dollars per million tokens), not {other}"
                ))),
                None => Err(D::Error::custom(format!(
                    "missing field `{field}` (US dollars per million tokens; 0 for a free model)"
                ))),
            }
        };
        let prices = ModelPrices {
            input: price("input")?,
            cached_input: price("cached_input")?,
            output: price("output")?,
        };
        let profile = ProfileKeys::deserialize(toml::Value::Table(table))
            .map_err(|error| D::Error::custom(error.to_string()))?;
        Ok(ModelEntry { prices, profile })
    }
}

/// A model's profile with every layer applied.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedProfile {
    /// Tokens of prompt and reply together.
    pub context_window: u64,
    /// The most tokens of one reply.
    pub max_output_tokens: u64,
    /// How tokens are counted.
    pub tokenizer: TokenizerSetting,
    /// `tool_choice`.
    pub tool_choice: ToolChoiceSetting,
    /// Whether `parallel_tool_calls: true` is sent.
    pub parallel_tool_calls: bool,
    /// Temperature, if sent.
    pub temperature: Option<f64>,
    /// Output limit field.
    pub output_limit_field: OutputLimitFieldSetting,
    /// `reasoning_effort`, if sent.
    pub reasoning_effort: Option<String>,
    /// Reasoning field echoed back, if any.
    pub echo_reasoning: Option<String>,
    /// Cache style.
    pub cache: CacheSetting,
    /// Extra body fields.
    pub extra_body: toml::Table,
    /// The family that matched, if one did.
    pub family: Option<String>,
    /// Whether anything beyond `[profiles.default]` set the context window: when not, the
    /// window is a conservative guess and `doctor` says so.
    pub window_known: bool,
}

impl ProfilesConfig {
    /// The family whose longest pattern matching `model` is longest.
    fn family(&self, model: &str) -> Option<(&String, &ProfileKeys)> {
        self.families
            .iter()
            .filter_map(|(name, keys)| {
                let longest = keys
                    .models
                    .iter()
                    .flatten()
                    .filter(|pattern| wildcard_match(pattern, model))
                    .map(String::len)
                    .max()?;
                Some((longest, name, keys))
            })
            .max_by_key(|(longest, _, _)| *longest)
            .map(|(_, name, keys)| (name, keys))
    }

    /// The profile of `model` at a provider of `kind`, with `own` the model entry's keys.
    pub fn resolve(&self, kind: &str, model: &str, own: Option<&ProfileKeys>) -> ResolvedProfile {
        let mut keys = self.default.clone();
        let mut window_known = false;
        if let Some(kind_keys) = self.kinds.get(kind) {
            window_known |= kind_keys.context_window.is_some();
            keys = keys.overlaid(kind_keys);
        }
        let family = self.family(model);
        if let Some((_, family_keys)) = family {
            window_known |= family_keys.context_window.is_some();
            keys = keys.overlaid(family_keys);
        }
        if let Some(own) = own {
            window_known |= own.context_window.is_some();
            keys = keys.overlaid(own);
        }
        let defaults = squadron_core::ports::ModelLimits::CONSERVATIVE;
        ResolvedProfile {
            context_window: keys.context_window.unwrap_or(defaults.context_window),
            max_output_tokens: keys.max_output_tokens.unwrap_or(defaults.max_output_tokens),
            tokenizer: keys.tokenizer.unwrap_or(TokenizerSetting::Estimate),
            tool_choice: keys.tool_choice.unwrap_or(ToolChoiceSetting::Auto),
            parallel_tool_calls: keys.parallel_tool_calls.unwrap_or(false),
            temperature: keys.temperature,
            output_limit_field: keys
                .output_limit_field
                .unwrap_or(OutputLimitFieldSetting::MaxTokens),
            reasoning_effort: keys.reasoning_effort,
            echo_reasoning: keys.echo_reasoning,
            cache: keys.cache.unwrap_or(CacheSetting::Automatic),
            extra_body: keys.extra_body.unwrap_or_default(),
            family: family.map(|(name, _)| name.clone()),
            window_known,
        }
    }
}

/// Whether `name` matches `pattern`, where `*` matches any text (also none).
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    if !name.ends_with(last) {
        return false;
    }
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_prefixes_suffixes_and_middles() {
        assert!(wildcard_match("gpt-4.1*", "gpt-4.1-mini"));
        assert!(wildcard_match("*deepseek-r1*", "deepseek/deepseek-r1-0528"));
        assert!(wildcard_match("o*-mini", "o4-mini"));
        assert!(!wildcard_match("o*-mini", "gpt-4.1-mini-x"));
        assert!(!wildcard_match("gpt-5", "gpt-5-mini"));
        assert!(wildcard_match("*", ""));
    }
}

#[cfg(test)]
mod shipped_tests {
    use super::*;
    use crate::Config;

    #[test]
    fn shipped_profiles_fit_each_shipped_model() {
        let config = Config::shipped();
        let gpt = config.model_profile("openai", "gpt-4.1").unwrap();
        assert_eq!(gpt.context_window, 1_047_576);
        assert_eq!(gpt.tokenizer, TokenizerSetting::O200kBase);
        assert_eq!(gpt.tool_choice, ToolChoiceSetting::Required);
        assert!(gpt.parallel_tool_calls && gpt.window_known);

        let o4 = config.model_profile("openai", "o4-mini").unwrap();
        assert!(!o4.parallel_tool_calls);
        assert_eq!(
            o4.output_limit_field,
            OutputLimitFieldSetting::MaxCompletionTokens
        );
        assert_eq!(o4.reasoning_effort.as_deref(), Some("medium"));
        assert_eq!(o4.family.as_deref(), Some("openai-reasoning"));

        let qwen = config.model_profile("local", "qwen3:32b").unwrap();
        assert_eq!(
            qwen.extra_body["options"]["num_ctx"].as_integer(),
            Some(32768)
        );
        assert_eq!(qwen.family.as_deref(), Some("qwen"));

        let unknown = config.model_profile("local", "mystery-model").unwrap();
        assert!(!unknown.window_known);
        assert_eq!(unknown.context_window, 32_768);
        assert_eq!(unknown.tool_choice, ToolChoiceSetting::Auto);
    }

    #[test]
    fn anthropic_behind_openrouter_caches_at_breakpoints_and_deepseek_gets_its_reasoning_back() {
        let profiles = &Config::shipped().profiles;
        let claude = profiles.resolve("openrouter", "anthropic/claude-sonnet-4", None);
        assert_eq!(claude.cache, CacheSetting::Breakpoints);
        let r1 = profiles.resolve("deepseek", "deepseek-reasoner", None);
        assert_eq!(r1.echo_reasoning.as_deref(), Some("reasoning_content"));
        let own = ProfileKeys {
            context_window: Some(8192),
            ..ProfileKeys::default()
        };
        let local = profiles.resolve("llama-cpp", "gemma-3-270m", Some(&own));
        assert_eq!(local.context_window, 8192, "the model entry wins");
        assert_eq!(local.max_output_tokens, 2048, "the family still applies");
    }
}
