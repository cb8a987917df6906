//! The chat model adapter: [`OpenAiCompatibleModel`] implements Squadron's
//! [`ChatModel`](squadron_core::ports::ChatModel) port over any OpenAI-compatible
//! chat-completions endpoint (OpenAI, vLLM, Ollama, LiteLLM, OpenRouter).
//!
//! What it guarantees to the harness:
//! - transient failures (429, 408, 5xx, timeouts, connection errors) are retried with
//!   exponential backoff and jitter, honouring `Retry-After` (seconds or an HTTP date), up to
//!   a bounded number of tries, then reported as a `Transient` error naming the endpoint, the
//!   last failure and the tries made;
//! - a rate-limit answer pauses every call to that provider, and calls in flight per provider
//!   are bounded, across all squads;
//! - a reply that cannot be used is an `Invalid` error whose source is an
//!   [`UnusableReply`](squadron_core::ports::model::UnusableReply) saying which class it is
//!   (tool calls written in `content`, unknown `finish_reason`, `length` cut-off, empty,
//!   missing fields, not JSON); it is not retried here, so the harness can show it to the
//!   model once, and it carries the usage the provider billed for it;
//! - a context-length refusal, in any of the forms servers send, is an `Invalid` error whose
//!   source is a [`ContextOverflow`](squadron_core::ports::ContextOverflow), so the harness
//!   condenses and tries again;
//! - each model is called as its [`ModelProfile`] says (optional fields, reasoning echoed
//!   back, cache breakpoints, extra body fields), and an optional field a server refuses as
//!   unsupported is dropped for that model and the call made again.
//!
//! Nothing in a reply can make the adapter panic.

mod adapter;
mod gate;
mod profile;
mod registry;
mod reply;
mod request;
mod retry;

pub use adapter::{
    OpenAiCompatibleModel, ProfiledModel, ProviderLoad, ProviderSettings, ProviderSetupError,
};
pub use profile::{CacheStyle, ModelProfile, OutputLimitField, ToolChoice};
pub use registry::{ModelRoute, ProviderRegistry};
pub use retry::{Jitter, RetryPolicy};
