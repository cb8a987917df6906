//! The chat model port: one request/response exchange with a tool-calling model.
//!
//! The shapes follow OpenAI's chat-completions API, which every supported provider speaks;
//! the adapter owns the wire format, these types only carry what the harness needs.

use std::time::Duration;

use async_trait::async_trait;

use super::error::PortError;
use crate::domain::TokenUsage;

/// A tool the model may call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolSpec {
    /// The tool's name, e.g. `read_file`.
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema of the arguments, as JSON text.
    pub parameters: String,
}

/// A tool call the model made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    /// The provider's id for the call; the result must echo it.
    pub id: String,
    /// The tool named.
    pub name: String,
    /// The arguments as the JSON text the model wrote (possibly invalid).
    pub arguments: String,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatMessage {
    /// Standing instructions.
    System {
        /// Text.
        content: String,
    },
    /// The task, or the harness speaking to the model.
    User {
        /// Text.
        content: String,
    },
    /// What the model said and which tools it called.
    Assistant {
        /// Text, if any.
        content: Option<String>,
        /// Tool calls, possibly several.
        tool_calls: Vec<ToolCall>,
        /// The reasoning text the model returned beside its answer (DeepSeek's
        /// `reasoning_content`), kept so that a model whose profile asks for it gets it back.
        reasoning: Option<String>,
    },
    /// The result of one tool call.
    Tool {
        /// The id of the call this answers.
        tool_call_id: String,
        /// The result text.
        content: String,
    },
}

/// Why the model stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FinishReason {
    /// A natural end of the message.
    Stop,
    /// The model called tools.
    ToolCalls,
    /// Cut off at the token limit.
    Length,
    /// Withheld by the provider's filter.
    ContentFilter,
}

/// A request for the next assistant message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatRequest {
    /// The provider-specific model name (without the `provider/` prefix).
    pub model: String,
    /// The whole conversation so far, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// The output limit to send for this call instead of the model's own
    /// ([`ModelLimits::max_output_tokens`]): a smaller one when the window is smaller than
    /// configured, a larger one to retry a reply cut off at the limit.
    pub max_output_tokens: Option<u64>,
}

/// The model's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatReply {
    /// The assistant message text, if any.
    pub content: Option<String>,
    /// The tool calls made.
    pub tool_calls: Vec<ToolCall>,
    /// Why the model stopped.
    pub finish_reason: FinishReason,
    /// Tokens the call used.
    pub usage: TokenUsage,
    /// The model that answered, as the provider named it.
    pub model: String,
    /// Reasoning text returned beside the answer, if the provider sends any.
    pub reasoning: Option<String>,
}

/// How a model's tokens are counted, so the harness can tell how full its context is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenEncoding {
    /// OpenAI's `o200k_base` (GPT-4o, GPT-4.1, GPT-5, the o-series).
    O200kBase,
    /// OpenAI's `cl100k_base` (GPT-4, GPT-3.5).
    Cl100kBase,
    /// No tokenizer is known: a conservative estimate from the text's size.
    Estimate,
}

/// What one model can take: its context window, the most it writes in one reply, and how
/// its tokens are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelLimits {
    /// Tokens of prompt and reply together that the model accepts.
    pub context_window: u64,
    /// The most tokens one reply may have (sent as the request's output limit).
    pub max_output_tokens: u64,
    /// How tokens are counted.
    pub encoding: TokenEncoding,
}

impl ModelLimits {
    /// Limits that hold for any model worth running agents on: a 32k window, 4k replies,
    /// tokens estimated conservatively. Used when the configuration says nothing better.
    pub const CONSERVATIVE: ModelLimits = ModelLimits {
        context_window: 32_768,
        max_output_tokens: 4_096,
        encoding: TokenEncoding::Estimate,
    };
}

impl Default for ModelLimits {
    fn default() -> Self {
        Self::CONSERVATIVE
    }
}

/// A chat-completions endpoint. Implementations retry transient failures themselves and
/// report an unusable reply as an error, never a panic.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// Asks for the next assistant message.
    async fn complete(&self, request: &ChatRequest) -> Result<ChatReply, PortError>;

    /// The limits of the model this endpoint serves; conservative unless the adapter knows
    /// the model's configured profile.
    fn limits(&self) -> ModelLimits {
        ModelLimits::CONSERVATIVE
    }

    /// How long one call may take before it fails as timed out, when the adapter has such a
    /// limit: a caller weighing a longer reply against the model's speed reads it.
    fn request_timeout(&self) -> Option<Duration> {
        None
    }
}

/// The provider refused the request because the conversation does not fit the model's
/// context window (OpenAI's `context_length_exceeded`, vLLM's "maximum context length",
/// llama.cpp's `exceed_context_size_error`, Anthropic's "prompt is too long"). A
/// [`ChatModel`] attaches it as the source of the `Invalid` [`PortError`] it returns, so the
/// harness condenses the conversation and tries again instead of failing: see
/// [`ContextOverflow::of`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextOverflow {
    /// The window the provider said the model has, when it said so.
    pub context_window: Option<u64>,
    /// The provider's own message.
    pub message: String,
}

impl ContextOverflow {
    /// The context overflow `error` reports, if that is what it reports.
    pub fn of(error: &PortError) -> Option<&ContextOverflow> {
        std::error::Error::source(error).and_then(|source| source.downcast_ref::<ContextOverflow>())
    }
}

impl std::fmt::Display for ContextOverflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the conversation does not fit the model's context window ({})",
            self.message
        )
    }
}

impl std::error::Error for ContextOverflow {}

/// A reply that arrived, was billed, and could not be used: the problem and the tokens the
/// provider charged for it. The adapter attaches it as the source of an `Invalid`
/// [`PortError`]; [`UnusableReply::of`] finds the problem, [`BilledUnusable::of`] the usage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BilledUnusable {
    /// What is wrong with the reply.
    pub problem: UnusableReply,
    /// The tokens charged, when the body said.
    pub usage: Option<TokenUsage>,
}

impl BilledUnusable {
    /// The billed unusable reply `error` reports, if that is what it reports.
    pub fn of(error: &PortError) -> Option<&BilledUnusable> {
        std::error::Error::source(error).and_then(|source| source.downcast_ref::<BilledUnusable>())
    }
}

impl std::fmt::Display for BilledUnusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.problem.fmt(f)
    }
}

impl std::error::Error for BilledUnusable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.problem)
    }
}

/// Why a reply that arrived could not be used. A [`ChatModel`] attaches it as the source of
/// the [`PortError`] it returns, so the harness can tell a bad reply (worth showing to the
/// model once) from a transport or configuration failure: see [`UnusableReply::of`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnusableReply {
    /// The model wrote its tool calls as JSON text in `content` instead of `tool_calls`.
    ToolCallsInContent {
        /// The tool names found in the text.
        tools: Vec<String>,
    },
    /// `finish_reason` held a value this port does not know.
    UnknownFinishReason(String),
    /// The reply was cut off at the token limit (`finish_reason: "length"`).
    CutOff {
        /// What it wrote went round in a loop up to the cut (the same passage again and
        /// again, as small models do): a higher limit would only buy a longer loop.
        looping: bool,
    },
    /// The reply carried neither text nor tool calls.
    Empty,
    /// A field the reply needs was missing or had the wrong type.
    Malformed(String),
    /// The body was not JSON at all.
    NotJson(String),
}

impl UnusableReply {
    /// The unusable-reply description attached to `error`, if that is what it reports.
    pub fn of(error: &PortError) -> Option<&UnusableReply> {
        let source = std::error::Error::source(error)?;
        source.downcast_ref::<UnusableReply>().or_else(|| {
            source
                .downcast_ref::<BilledUnusable>()
                .map(|billed| &billed.problem)
        })
    }
}

impl std::fmt::Display for UnusableReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnusableReply::ToolCallsInContent { tools } => write!(
                f,
                "the model wrote tool calls ({}) as JSON text in `content` instead of using \
                 `tool_calls`",
                tools.join(", ")
            ),
            UnusableReply::UnknownFinishReason(reason) => {
                write!(f, "the reply has an unknown finish_reason `{reason}`")
            }
            UnusableReply::CutOff { looping: false } => {
                f.write_str("the reply was cut off at the token limit (finish_reason `length`)")
            }
            UnusableReply::CutOff { looping: true } => f.write_str(
                "the reply repeated the same text over and over until it was cut off at the \
                 token limit (finish_reason `length`)",
            ),
            UnusableReply::Empty => f.write_str("the reply has neither text nor tool calls"),
            UnusableReply::Malformed(problem) => write!(f, "the reply is malformed: {problem}"),
            UnusableReply::NotJson(problem) => write!(f, "the reply is not valid JSON: {problem}"),
        }
    }
}

impl std::error::Error for UnusableReply {}
