//! [`ModelProfile`]: how one model wants to be spoken to. Providers that all claim to be
//! "OpenAI-compatible" differ in what they accept (`parallel_tool_calls`, `temperature`,
//! `max_tokens` or `max_completion_tokens`, `tool_choice: "required"`), what they need
//! back (DeepSeek's `reasoning_content`), how they cache (automatically, or only at
//! explicit `cache_control` breakpoints for Anthropic models behind OpenRouter or LiteLLM)
//! and what extra fields they need (Ollama's `options.num_ctx`). The configuration holds
//! these differences as data; the adapter only reads the profile.

use serde_json::{Map, Value};
use squadron_core::ports::ModelLimits;

/// What to send as `tool_choice` when the request carries tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolChoice {
    /// `"auto"`: the model may answer in text.
    Auto,
    /// `"required"`: the model must call a tool (agents work only through tools).
    Required,
    /// Leave the field out (servers that reject it).
    Omit,
}

/// Which field carries the reply's token limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputLimitField {
    /// `max_tokens` (most servers).
    MaxTokens,
    /// `max_completion_tokens` (OpenAI's reasoning models refuse `max_tokens`).
    MaxCompletionTokens,
    /// Send no limit.
    Omit,
}

impl OutputLimitField {
    /// The JSON field name, if one is sent.
    pub fn field(self) -> Option<&'static str> {
        match self {
            OutputLimitField::MaxTokens => Some("max_tokens"),
            OutputLimitField::MaxCompletionTokens => Some("max_completion_tokens"),
            OutputLimitField::Omit => None,
        }
    }
}

/// How the provider's prompt cache is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheStyle {
    /// The provider caches byte-identical prefixes by itself (OpenAI, DeepSeek, vLLM).
    Automatic,
    /// Anthropic's explicit breakpoints: `cache_control: {"type": "ephemeral"}` on the
    /// system prompt and on the latest message, so the growing prefix is read from cache.
    Breakpoints,
}

/// How to talk to one model. [`ModelProfile::default`] is safe for an unknown
/// OpenAI-compatible server: the fields every such server accepts, nothing else.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelProfile {
    /// Context window, output limit and tokenizer.
    pub limits: ModelLimits,
    /// Whether `parallel_tool_calls: true` is sent.
    pub parallel_tool_calls: bool,
    /// What `tool_choice` to send with tools.
    pub tool_choice: ToolChoice,
    /// The sampling temperature; `None` leaves it out (reasoning models refuse it).
    pub temperature: Option<f64>,
    /// Which field carries [`ModelLimits::max_output_tokens`].
    pub output_limit_field: OutputLimitField,
    /// `reasoning_effort` to send (`low`, `medium`, `high`), if any.
    pub reasoning_effort: Option<String>,
    /// The field in which the model's reasoning text is returned and must be sent back on
    /// its assistant messages (DeepSeek: `reasoning_content`); `None` sends none back.
    pub echo_reasoning: Option<String>,
    /// How prompt caching is reached.
    pub cache: CacheStyle,
    /// Fields merged into every request body (e.g. `{"options": {"num_ctx": 32768}}`).
    pub extra_body: Map<String, Value>,
}

impl Default for ModelProfile {
    fn default() -> Self {
        Self {
            limits: ModelLimits::CONSERVATIVE,
            parallel_tool_calls: false,
            tool_choice: ToolChoice::Auto,
            temperature: None,
            output_limit_field: OutputLimitField::MaxTokens,
            reasoning_effort: None,
            echo_reasoning: None,
            cache: CacheStyle::Automatic,
            extra_body: Map::new(),
        }
    }
}

/// A request field a server refused as unsupported, which the adapter stops sending to that
/// model (and says so in a warning naming the profile setting to change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Droppable {
    ParallelToolCalls,
    ToolChoice,
    Temperature,
    ReasoningEffort,
    /// `max_tokens` refused: send `max_completion_tokens` instead.
    MaxTokens,
}

impl Droppable {
    pub(crate) fn field(self) -> &'static str {
        match self {
            Droppable::ParallelToolCalls => "parallel_tool_calls",
            Droppable::ToolChoice => "tool_choice",
            Droppable::Temperature => "temperature",
            Droppable::ReasoningEffort => "reasoning_effort",
            Droppable::MaxTokens => "max_tokens",
        }
    }

    /// The profile setting that would have avoided the refusal.
    pub(crate) fn advice(self) -> &'static str {
        match self {
            Droppable::ParallelToolCalls => "parallel_tool_calls = false",
            Droppable::ToolChoice => "tool_choice = \"omit\"",
            Droppable::Temperature => "leave `temperature` unset",
            Droppable::ReasoningEffort => "leave `reasoning_effort` unset",
            Droppable::MaxTokens => "output_limit_field = \"max_completion_tokens\"",
        }
    }

    const ALL: [Droppable; 5] = [
        Droppable::ParallelToolCalls,
        Droppable::ToolChoice,
        Droppable::Temperature,
        Droppable::ReasoningEffort,
        Droppable::MaxTokens,
    ];

    /// The field a 400 answer says is unsupported, if it is one the adapter can do without.
    /// OpenAI answers `code: "unsupported_parameter"` with `param`; other servers only say it
    /// in the message ("Unsupported parameter: 'parallel_tool_calls'…", "… does not support
    /// parameter temperature", "Extra inputs are not permitted" with the field named).
    pub(crate) fn refused_in(body: &Value, sent: &Map<String, Value>) -> Option<Droppable> {
        let error = &body["error"];
        let message = error["message"].as_str().unwrap_or_default().to_lowercase();
        let code = error["code"].as_str().unwrap_or_default();
        let param = error["param"].as_str().unwrap_or_default();
        let says_unsupported = code == "unsupported_parameter"
            || code == "unsupported_value"
            || message.contains("unsupported")
            || message.contains("not supported")
            || message.contains("does not support")
            || message.contains("not permitted")
            || message.contains("unrecognized")
            || message.contains("unknown field")
            || message.contains("use 'max_completion_tokens'")
            || message.contains("use max_completion_tokens");
        if !says_unsupported {
            return None;
        }
        Droppable::ALL.into_iter().find(|candidate| {
            let field = candidate.field();
            sent.contains_key(field) && (param == field || message.contains(field))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sent() -> Map<String, Value> {
        json!({"parallel_tool_calls": true, "tool_choice": "auto", "max_tokens": 10, "temperature": 0.2})
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn reads_which_field_a_server_refused() {
        let openai = json!({"error": {"message": "Unsupported parameter: 'parallel_tool_calls' is not supported with this model.", "type": "invalid_request_error", "param": "parallel_tool_calls", "code": "unsupported_parameter"}});
        assert_eq!(
            Droppable::refused_in(&openai, &sent()),
            Some(Droppable::ParallelToolCalls)
        );
        let max_tokens = json!({"error": {"message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.", "param": "max_tokens", "code": "unsupported_parameter"}});
        assert_eq!(
            Droppable::refused_in(&max_tokens, &sent()),
            Some(Droppable::MaxTokens)
        );
        let vague =
            json!({"error": {"message": "temperature does not support 0.2 with this model"}});
        assert_eq!(
            Droppable::refused_in(&vague, &sent()),
            Some(Droppable::Temperature)
        );
        let other =
            json!({"error": {"message": "Invalid 'messages[2].content'", "param": "messages"}});
        assert_eq!(Droppable::refused_in(&other, &sent()), None);
        let unsent = json!({"error": {"message": "Unsupported parameter: 'reasoning_effort'", "param": "reasoning_effort", "code": "unsupported_parameter"}});
        assert_eq!(Droppable::refused_in(&unsent, &sent()), None);
    }
}
