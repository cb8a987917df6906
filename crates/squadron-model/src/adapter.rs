//! [`OpenAiCompatibleModel`]: the [`ChatModel`] port over any OpenAI-compatible
//! chat-completions endpoint, with retries, `Retry-After`, and a per-provider gate.
//!
//! async-openai supplies the endpoint configuration (base URL, auth headers) and the request
//! types; the HTTP exchange itself is done here with reqwest, because async-openai's client
//! retries on its own (a fixed three times, `Retry-After` in seconds only, on tokio's sleep)
//! and drops the response headers from its errors, so it cannot honour the bounded,
//! configured, `Retry-After`-aware policy the harness relies on.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_openai::config::{Config, OpenAIConfig};
use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use serde_json::Value;
use squadron_core::ports::{
    BilledUnusable, ChatModel, ChatReply, ChatRequest, Clock, ContextOverflow, ModelLimits,
    PortError, PortErrorKind,
};

use squadron_core::ports::model::UnusableReply;

use crate::gate::ProviderGate;
use crate::profile::{Droppable, ModelProfile};
use crate::reply::{billed_usage, parse_reply, preview};
use crate::request::request_body;
use crate::retry::{Backoff, RetryPolicy, parse_retry_after};

/// How to reach one provider.
#[derive(Clone, PartialEq)]
pub struct ProviderSettings {
    /// The provider's name in the configuration, e.g. `openai` or `local`.
    pub name: String,
    /// The API base, e.g. `https://api.openai.com/v1`; `/chat/completions` is appended.
    pub base_url: String,
    /// The API key, sent as `Authorization: Bearer …`; `None` sends no `Authorization`
    /// header (a local server).
    pub api_key: Option<String>,
    /// Calls in flight at once to this provider, across all squads.
    pub max_concurrent_requests: usize,
    /// How long one HTTP exchange may take before it counts as timed out (and is retried).
    pub request_timeout: Duration,
    /// Retries and backoff.
    pub retry: RetryPolicy,
    /// Profiles of the models configured for this provider, by the model name sent.
    pub profiles: BTreeMap<String, ModelProfile>,
    /// The profile of a model not in [`ProviderSettings::profiles`].
    pub default_profile: ModelProfile,
}

impl ProviderSettings {
    /// Settings with the defaults: no key, 8 calls in flight, a 10-minute timeout (long
    /// completions are slow), and [`RetryPolicy::default`].
    pub fn new(name: impl Into<String>, base_url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            base_url: base_url.into(),
            api_key: None,
            max_concurrent_requests: 8,
            request_timeout: Duration::from_secs(600),
            retry: RetryPolicy::default(),
            profiles: BTreeMap::new(),
            default_profile: ModelProfile::default(),
        }
    }

    /// These settings with `profile` for `model`.
    #[must_use]
    pub fn with_profile(mut self, model: impl Into<String>, profile: ModelProfile) -> Self {
        self.profiles.insert(model.into(), profile);
        self
    }

    /// These settings with `api_key`.
    #[must_use]
    pub fn with_api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = Some(api_key.into());
        self
    }
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is redacted so settings can be logged.
        f.debug_struct("ProviderSettings")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .field("profiles", &self.profiles)
            .field("default_profile", &self.default_profile)
            .finish()
    }
}

/// Settings that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ProviderSetupError {
    /// The base URL does not parse as an http(s) URL.
    #[error(
        "set up model provider `{provider}`: base_url `{base_url}` is not an http(s) URL; \
         write it like `https://api.openai.com/v1`"
    )]
    InvalidBaseUrl {
        /// The provider.
        provider: String,
        /// The offending value.
        base_url: String,
    },
    /// The key holds characters an HTTP header cannot carry (the key itself is not shown).
    #[error(
        "set up model provider `{provider}`: its API key contains characters an HTTP header \
         cannot carry (a stray newline or quote?); check the environment variable it comes from"
    )]
    InvalidApiKey {
        /// The provider.
        provider: String,
    },
    /// The HTTP client could not be built.
    #[error("set up the HTTP client for model provider `{provider}`")]
    HttpClient {
        /// The provider.
        provider: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// Two providers share a name.
    #[error("register model provider `{provider}`: a provider of that name is already registered")]
    DuplicateProvider {
        /// The name.
        provider: String,
    },
    /// A `provider/model` reference that cannot be resolved.
    #[error(
        "resolve model `{reference}`: {problem}; write it as `provider/model` with a provider \
         from the configuration ({known})"
    )]
    UnknownModel {
        /// The reference as written.
        reference: String,
        /// What is wrong with it.
        problem: String,
        /// The providers configured, comma-separated.
        known: String,
    },
}

/// One provider's calls as its adapter sees them now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderLoad {
    /// The provider's name.
    pub provider: String,
    /// Calls waiting for a reply.
    pub in_flight: usize,
    /// The most calls it lets wait for a reply at once.
    pub max_in_flight: usize,
    /// How long a rate-limit answer still holds every call back, if one does.
    pub paused_for: Option<Duration>,
}

/// A [`ChatModel`] over one OpenAI-compatible provider; it serves every model of that
/// provider (the model is named per request). Cheap to clone: clones share the HTTP client,
/// the concurrency gate and the backoff generator.
#[derive(Clone, Debug)]
pub struct OpenAiCompatibleModel {
    inner: Arc<Provider>,
}

struct Provider {
    name: String,
    url: String,
    headers: HeaderMap,
    http: reqwest::Client,
    gate: ProviderGate,
    backoff: Backoff,
    clock: Arc<dyn Clock>,
    profiles: BTreeMap<String, ModelProfile>,
    default_profile: ModelProfile,
    /// How long one HTTP exchange may take.
    request_timeout: Duration,
    /// Per model, the optional fields its server refused; they are no longer sent to it.
    dropped: Mutex<BTreeMap<String, BTreeSet<Droppable>>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers are left out: they carry the API key.
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// One failed try, as the retry loop needs to see it.
enum TryFailure {
    /// Worth another try; `retry_after` is what the provider asked for.
    Retryable {
        what: String,
        retry_after: Option<Duration>,
        rate_limited: bool,
    },
    /// The server refused an optional field; the same call without it may work.
    Refused(Droppable),
    /// Another try would get the same answer.
    Final(PortError),
}

impl OpenAiCompatibleModel {
    /// An adapter for the provider `settings` describe. `clock` gives the wall-clock time
    /// that a `Retry-After` HTTP date is measured from.
    ///
    /// Installs rustls' ring crypto provider as the process default if none is installed
    /// yet, since reqwest cannot build a client without one.
    pub fn new(
        settings: ProviderSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ProviderSetupError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let provider = settings.name.clone();
        let base_url = settings.base_url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base_url).ok();
        if !parsed.is_some_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host()) {
            return Err(ProviderSetupError::InvalidBaseUrl {
                provider,
                base_url: settings.base_url,
            });
        }
        let key = settings.api_key.clone().unwrap_or_default();
        // OpenAIConfig::headers() panics on a key that is no valid header value; checking here
        // is the invariant that makes the call below safe.
        if HeaderValue::from_str(&format!("Bearer {key}")).is_err() {
            return Err(ProviderSetupError::InvalidApiKey { provider });
        }
        // Every field that OpenAIConfig::new() would take from OPENAI_* environment variables
        // is overwritten: a library must not read the environment, and another provider's
        // organisation or key must never reach this endpoint.
        let config = OpenAIConfig::new()
            .with_api_base(&base_url)
            .with_api_key(key)
            .with_org_id("")
            .with_project_id("");
        let mut headers = config.headers();
        if settings.api_key.is_none() {
            headers.remove(AUTHORIZATION);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(30)))
            .build()
            .map_err(|source| ProviderSetupError::HttpClient {
                provider: provider.clone(),
                source,
            })?;
        Ok(Self {
            inner: Arc::new(Provider {
                url: config.url("/chat/completions"),
                name: provider,
                headers,
                http,
                gate: ProviderGate::new(settings.max_concurrent_requests),
                backoff: Backoff::new(settings.retry),
                clock,
                profiles: settings.profiles,
                default_profile: settings.default_profile,
                request_timeout: settings.request_timeout,
                dropped: Mutex::default(),
            }),
        })
    }

    /// The provider's name.
    pub fn provider(&self) -> &str {
        &self.inner.name
    }

    /// How loaded the provider is right now, as this adapter sees it (read-only, for
    /// operators).
    pub fn load(&self) -> ProviderLoad {
        let (in_flight, max_in_flight, paused_for) = self.inner.gate.state();
        ProviderLoad {
            provider: self.inner.name.clone(),
            in_flight,
            max_in_flight,
            paused_for,
        }
    }

    /// The chat-completions URL called.
    pub fn endpoint(&self) -> &str {
        &self.inner.url
    }

    /// The profile `model` is called with.
    pub fn profile(&self, model: &str) -> &ModelProfile {
        self.inner.profile(model)
    }

    /// This provider's adapter bound to `model`: its [`ChatModel::limits`] are that model's.
    pub fn for_model(&self, model: impl Into<String>) -> ProfiledModel {
        ProfiledModel {
            provider: self.clone(),
            model: model.into(),
        }
    }
}

#[async_trait]
impl ChatModel for OpenAiCompatibleModel {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatReply, PortError> {
        self.inner.complete(request).await
    }

    fn request_timeout(&self) -> Option<Duration> {
        Some(self.inner.request_timeout)
    }
}

/// One provider's adapter bound to one model, so that the harness learns that model's
/// limits through [`ChatModel::limits`]. Requests are sent as they come (their `model` field
/// decides the profile used), so binding never changes what is sent.
#[derive(Clone, Debug)]
pub struct ProfiledModel {
    provider: OpenAiCompatibleModel,
    model: String,
}

impl ProfiledModel {
    /// The model bound.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Its profile.
    pub fn profile(&self) -> &ModelProfile {
        self.provider.profile(&self.model)
    }
}

#[async_trait]
impl ChatModel for ProfiledModel {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatReply, PortError> {
        self.provider.complete(request).await
    }

    fn limits(&self) -> ModelLimits {
        self.profile().limits
    }

    fn request_timeout(&self) -> Option<Duration> {
        Some(self.provider.inner.request_timeout)
    }
}

impl Provider {
    fn profile(&self, model: &str) -> &ModelProfile {
        self.profiles.get(model).unwrap_or(&self.default_profile)
    }

    fn dropped(&self, model: &str) -> BTreeSet<Droppable> {
        self.dropped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(model)
            .cloned()
            .unwrap_or_default()
    }

    async fn complete(&self, request: &ChatRequest) -> Result<ChatReply, PortError> {
        let profile = self.profile(&request.model);
        let max_tries = self.backoff.policy().max_tries.max(1);
        let mut try_number = 1;
        loop {
            let sent = request_body(request, profile, &self.dropped(&request.model))?;
            let outcome = {
                let _slot = self.gate.enter().await;
                self.try_once(&request.model, &sent).await
            };
            let (what, retry_after, rate_limited) = match outcome {
                Ok(reply) => return Ok(reply),
                Err(TryFailure::Final(error)) => return Err(error),
                Err(TryFailure::Refused(field)) => {
                    // Each field is dropped once and only when it was sent, so this
                    // converges after at most as many tries as there are optional fields.
                    tracing::warn!(
                        provider = %self.name, model = %request.model, field = field.field(),
                        "the server refused `{}`; no longer sending it to this model \
                         (set {} in its profile to avoid the refused call)",
                        field.field(), field.advice()
                    );
                    self.dropped
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .entry(request.model.clone())
                        .or_default()
                        .insert(field);
                    continue;
                }
                Err(TryFailure::Retryable {
                    what,
                    retry_after,
                    rate_limited,
                }) => (what, retry_after, rate_limited),
            };
            if try_number >= max_tries {
                return Err(PortError::new(
                    PortErrorKind::Transient,
                    format!(
                        "get a reply from model provider `{}` at {}: gave up after {try_number} \
                         tries; the last one failed with {what}; the provider may be down or \
                         overloaded: check its status, or raise `max_attempts` in \
                         [providers.{}]",
                        self.name, self.url, self.name
                    ),
                ));
            }
            let max_retry_after = self.backoff.policy().max_retry_after;
            let wait = match retry_after {
                Some(asked) if asked > max_retry_after => {
                    return Err(PortError::new(
                        PortErrorKind::Transient,
                        format!(
                            "get a reply from model provider `{}` at {}: it failed with {what} \
                             and asked to wait {} s, longer than the {} s Squadron waits within \
                             one call; try again later",
                            self.name,
                            self.url,
                            asked.as_secs(),
                            max_retry_after.as_secs()
                        ),
                    ));
                }
                Some(asked) => asked,
                None => self.backoff.wait_after(try_number),
            };
            if rate_limited {
                self.gate.pause_for(wait);
            }
            tracing::warn!(
                event = "retry", what = "model-call", attempt = try_number + 1,
                provider = %self.name, try_number, max_tries, wait_ms = wait.as_millis(),
                "model call failed with {what}; trying again"
            );
            tokio::time::sleep(wait).await;
            try_number += 1;
        }
    }

    async fn try_once(
        &self,
        model: &str,
        sent: &serde_json::Map<String, Value>,
    ) -> Result<ChatReply, TryFailure> {
        let body = serde_json::to_vec(sent).map_err(|source| {
            TryFailure::Final(
                PortError::new(
                    PortErrorKind::Internal,
                    "serialise the chat-completions request",
                )
                .with_source(source),
            )
        })?;
        let sent_http = self
            .http
            .post(&self.url)
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await;
        let response = match sent_http {
            Ok(response) => response,
            Err(error) => return Err(self.transport_failure(&error)),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, self.clock.now()));
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(error) => return Err(self.transport_failure(&error)),
        };
        if status.is_success() {
            return parse_reply(&bytes).map_err(|unusable| {
                TryFailure::Final(self.unusable(model, unusable, billed_usage(&bytes)))
            });
        }
        let what = format!("HTTP {status} ({})", error_message(&bytes));
        let error_body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if let Some(overflow) = context_overflow(status, &error_body) {
            return Err(TryFailure::Final(
                PortError::new(
                    PortErrorKind::Invalid,
                    format!(
                        "get a reply from model provider `{}` at {} for model `{model}`: {what}",
                        self.name, self.url
                    ),
                )
                .with_source(overflow),
            ));
        }
        if status == StatusCode::BAD_REQUEST
            && let Some(field) = Droppable::refused_in(&error_body, sent)
        {
            return Err(TryFailure::Refused(field));
        }
        if status == StatusCode::TOO_MANY_REQUESTS
            && error_code(&bytes).as_deref() == Some("insufficient_quota")
        {
            return Err(TryFailure::Final(PortError::new(
                PortErrorKind::Auth,
                format!(
                    "get a reply from model provider `{}` at {}: {what}; the account is out of \
                     quota, add credit or raise its limits",
                    self.name, self.url
                ),
            )));
        }
        if status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
            || status.is_server_error()
        {
            return Err(TryFailure::Retryable {
                what,
                retry_after,
                rate_limited: status == StatusCode::TOO_MANY_REQUESTS,
            });
        }
        let (kind, advice) = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => (
                PortErrorKind::Auth,
                "check the API key in the environment variable the provider's configuration names",
            ),
            StatusCode::NOT_FOUND => (
                PortErrorKind::NotFound,
                "check the model name and the provider's base_url",
            ),
            _ => (
                PortErrorKind::Invalid,
                "the endpoint refused the request as sent",
            ),
        };
        Err(TryFailure::Final(PortError::new(
            kind,
            format!(
                "get a reply from model provider `{}` at {} for model `{model}`: {what}; {advice}",
                self.name, self.url
            ),
        )))
    }

    fn transport_failure(&self, error: &reqwest::Error) -> TryFailure {
        let what = if error.is_timeout() {
            "a timeout".to_owned()
        } else if error.is_connect() {
            format!("a connection error ({})", squadron_core::error_chain(error))
        } else if error.is_builder() {
            return TryFailure::Final(PortError::new(
                PortErrorKind::Internal,
                format!(
                    "build the request to model provider `{}` at {}: {}",
                    self.name,
                    self.url,
                    squadron_core::error_chain(error)
                ),
            ));
        } else {
            format!("a transport error ({})", squadron_core::error_chain(error))
        };
        TryFailure::Retryable {
            what,
            retry_after: None,
            rate_limited: false,
        }
    }

    fn unusable(
        &self,
        model: &str,
        unusable: UnusableReply,
        usage: Option<squadron_core::TokenUsage>,
    ) -> PortError {
        let advice = match &unusable {
            UnusableReply::ToolCallsInContent { .. } => {
                "; the endpoint must return native `tool_calls` (vLLM needs \
                 --enable-auto-tool-choice and a --tool-call-parser)"
            }
            _ => "",
        };
        PortError::new(
            PortErrorKind::Invalid,
            format!(
                "get a usable reply from model provider `{}` at {} for model `{model}`: {unusable}{advice}",
                self.name, self.url
            ),
        )
        .with_source(BilledUnusable {
            problem: unusable,
            usage,
        })
    }
}

/// The context overflow an error answer reports, in any of the forms servers use: OpenAI's
/// `code: "context_length_exceeded"`, llama.cpp's `type: "exceed_context_size_error"` (with
/// `n_ctx`), vLLM's and LiteLLM's "maximum context length is N tokens", Anthropic's "prompt
/// is too long: N tokens > M maximum", and a 413 from a proxy.
fn context_overflow(status: StatusCode, body: &Value) -> Option<ContextOverflow> {
    const PHRASES: [&str; 9] = [
        "maximum context length",
        "context_length_exceeded",
        "context length",
        "context window",
        "context size",
        "prompt is too long",
        "too many tokens",
        "reduce the length of the messages",
        "input is too long",
    ];
    let error = &body["error"];
    let message = error["message"]
        .as_str()
        .or_else(|| error.as_str())
        .or_else(|| body["message"].as_str())
        .or_else(|| body["detail"].as_str())
        .unwrap_or_default();
    let lowered = message.to_lowercase();
    let code = error["code"].as_str().unwrap_or_default();
    let kind = error["type"].as_str().unwrap_or_default();
    let overflow = code == "context_length_exceeded"
        || kind == "exceed_context_size_error"
        || kind == "ContextWindowExceededError"
        || (status == StatusCode::PAYLOAD_TOO_LARGE)
        || (status.is_client_error() && PHRASES.iter().any(|phrase| lowered.contains(phrase)));
    if !overflow {
        return None;
    }
    let context_window = error["n_ctx"]
        .as_u64()
        .or_else(|| number_after(&lowered, "maximum context length is "))
        .or_else(|| {
            lowered
                .split_once("tokens > ")
                .and_then(|(_, rest)| number_after(rest, ""))
        });
    Some(ContextOverflow {
        context_window,
        message: if message.is_empty() {
            format!("HTTP {status}")
        } else {
            message.to_owned()
        },
    })
}

/// The whole number right after `prefix` in `text` (digits, `,` and `_` allowed inside).
fn number_after(text: &str, prefix: &str) -> Option<u64> {
    let start = text.find(prefix)? + prefix.len();
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '_')
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The `error.message` of an OpenAI error body, else the start of the body.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| value["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| preview(body))
}

/// The `error.code` (or `error.type`) of an OpenAI error body.
fn error_code(body: &[u8]) -> Option<String> {
    let value = serde_json::from_slice::<Value>(body).ok()?;
    let error = &value["error"];
    error["code"]
        .as_str()
        .or_else(|| error["type"].as_str())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recognises_every_servers_context_overflow() {
        let bad = StatusCode::BAD_REQUEST;
        let openai = json!({"error": {"message": "This model's maximum context length is 128000 tokens. However, your messages resulted in 130532 tokens.", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}});
        assert_eq!(
            context_overflow(bad, &openai).and_then(|o| o.context_window),
            Some(128_000)
        );
        let llama = json!({"error": {"code": 400, "message": "the request exceeds the available context size, try increasing it", "type": "exceed_context_size_error", "n_prompt_tokens": 40000, "n_ctx": 32768}});
        assert_eq!(
            context_overflow(bad, &llama).and_then(|o| o.context_window),
            Some(32_768)
        );
        let anthropic = json!({"error": {"message": "prompt is too long: 210000 tokens > 200000 maximum", "type": "invalid_request_error"}});
        assert_eq!(
            context_overflow(bad, &anthropic).and_then(|o| o.context_window),
            Some(200_000)
        );
        let vllm = json!({"object": "error", "message": "This model's maximum context length is 4,096 tokens. However, you requested 5000 tokens", "type": "BadRequestError", "param": null, "code": 400});
        assert_eq!(
            context_overflow(bad, &vllm).and_then(|o| o.context_window),
            Some(4096)
        );
        assert!(context_overflow(StatusCode::PAYLOAD_TOO_LARGE, &Value::Null).is_some());
        let other = json!({"error": {"message": "Invalid 'tools[0].function.name'", "code": "invalid_value"}});
        assert!(context_overflow(bad, &other).is_none());
    }
}
