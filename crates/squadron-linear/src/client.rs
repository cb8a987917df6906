//! The GraphQL client: credentials, the shared rate limiter, retries, and Linear's errors
//! turned into [`LinearError`] kinds a user can act on.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::documents::Document;
use crate::error::{LinearError, LinearErrorKind};
use crate::rate_limit::RateLimiter;
use crate::sync::StateNames;
use crate::wire::WorkflowState;

/// How the client proves who it is.
#[derive(Clone)]
pub enum Credentials {
    /// A personal API key, sent as `Authorization: <key>`.
    ApiKey(String),
    /// An OAuth access token, sent as `Authorization: Bearer <token>`.
    OAuthToken(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret itself.
        f.write_str(match self {
            Credentials::ApiKey(_) => "ApiKey(<redacted>)",
            Credentials::OAuthToken(_) => "OAuthToken(<redacted>)",
        })
    }
}

impl Credentials {
    fn header(&self) -> Result<HeaderValue, LinearError> {
        let value = match self {
            Credentials::ApiKey(key) => key.clone(),
            Credentials::OAuthToken(token) => format!("Bearer {token}"),
        };
        let mut header = HeaderValue::from_str(&value).map_err(|_| {
            LinearError::new(
                LinearErrorKind::Authentication,
                "use the Linear credentials: they contain characters not allowed in an HTTP header; \
                 check the configured key or token",
            )
        })?;
        header.set_sensitive(true);
        Ok(header)
    }
}

/// Retries of a rate-limited or failed request before giving up.
const DEFAULT_MAX_RETRIES: u32 = 3;
/// First backoff when Linear gives no `retry-after`; doubles per retry.
const BASE_BACKOFF: Duration = Duration::from_secs(1);

/// A Linear GraphQL client. Cheap to share behind an [`Arc`]; all clones of one credential
/// should share one [`RateLimiter`].
pub struct LinearClient {
    http: reqwest::Client,
    endpoint: String,
    authorization: HeaderValue,
    limiter: Arc<RateLimiter>,
    max_retries: u32,
    pub(crate) state_names: StateNames,
    pub(crate) team_state_names: HashMap<String, StateNames>,
    pub(crate) team_states: Mutex<HashMap<String, Vec<WorkflowState>>>,
}

impl fmt::Debug for LinearClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinearClient")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct GraphqlError {
    message: String,
    #[serde(default)]
    extensions: Extensions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Extensions {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    user_presentable_message: Option<String>,
}

/// What one attempt came to.
enum Attempt<T> {
    Done(T),
    Retry {
        wait: Option<Duration>,
        error: LinearError,
    },
}

impl LinearClient {
    /// A client for the GraphQL `endpoint` (Linear's is `https://api.linear.app/graphql`).
    ///
    /// # Errors
    /// When the credentials cannot be sent as a header or the HTTP client cannot be built.
    pub fn new(
        endpoint: &str,
        credentials: &Credentials,
        limiter: Arc<RateLimiter>,
    ) -> Result<Self, LinearError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("squadron/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|error| {
                LinearError::new(
                    LinearErrorKind::Transport,
                    "build the HTTP client for Linear",
                )
                .with_source(error)
            })?;
        Ok(Self {
            http,
            endpoint: endpoint.to_owned(),
            authorization: credentials.header()?,
            limiter,
            max_retries: DEFAULT_MAX_RETRIES,
            state_names: StateNames::default(),
            team_state_names: HashMap::new(),
            team_states: Mutex::new(HashMap::new()),
        })
    }

    /// Sets how many times a rate-limited or failed request is retried.
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Sets the workflow state names to move issues into: `default` for every team unless
    /// `per_team` (by team key) says otherwise.
    pub fn with_state_names(
        mut self,
        default: StateNames,
        per_team: HashMap<String, StateNames>,
    ) -> Self {
        self.state_names = default;
        self.team_state_names = per_team;
        self
    }

    pub(crate) fn cached_team_states(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Vec<WorkflowState>>> {
        // The cache only ever gains complete entries, so a poisoned lock holds sane data.
        self.team_states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs one document with `variables`, retrying rate limits and transient failures, and
    /// decodes its `data` as `T`.
    ///
    /// # Errors
    /// A [`LinearError`] whose kind says whether the credentials, the input, the rate limit,
    /// the network or a protocol mismatch is to blame.
    pub async fn execute<T: DeserializeOwned>(
        &self,
        document: &Document,
        variables: Value,
    ) -> Result<T, LinearError> {
        let body = serde_json::json!({
            "query": document.text,
            "operationName": document.operation,
            "variables": variables,
        });
        let mut attempt = 0;
        loop {
            self.limiter.acquire().await;
            match self.attempt(document, &body).await {
                Attempt::Done(result) => return result,
                Attempt::Retry { wait, error } => {
                    if attempt >= self.max_retries {
                        return Err(error);
                    }
                    let wait = wait.unwrap_or(BASE_BACKOFF * 2u32.saturating_pow(attempt));
                    tracing::warn!(
                        operation = document.operation,
                        wait_ms = wait.as_millis(),
                        %error,
                        "retrying Linear request"
                    );
                    self.limiter.pause_for(wait);
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        document: &Document,
        body: &Value,
    ) -> Attempt<Result<T, LinearError>> {
        let operation = document.operation;
        let response = self
            .http
            .post(&self.endpoint)
            .header(AUTHORIZATION, self.authorization.clone())
            .json(body)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(error) => {
                let error = LinearError::new(
                    LinearErrorKind::Transport,
                    format!("reach Linear at {} for `{operation}`", self.endpoint),
                )
                .with_source(error);
                return Attempt::Retry { wait: None, error };
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        self.limiter.observe(&headers);
        let text = match response.text().await {
            Ok(text) => text,
            Err(error) => {
                let error = LinearError::new(
                    LinearErrorKind::Transport,
                    format!("read Linear's answer to `{operation}`"),
                )
                .with_source(error);
                return Attempt::Retry { wait: None, error };
            }
        };
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        let errors: Vec<GraphqlError> = parsed
            .as_ref()
            .and_then(|value| value.get("errors"))
            .and_then(|errors| serde_json::from_value(errors.clone()).ok())
            .unwrap_or_default();
        if let Some(error) = errors.first() {
            return self.classify(operation, error, &headers);
        }
        if status.is_server_error() || parsed.is_none() {
            let error = LinearError::new(
                if status.is_server_error() {
                    LinearErrorKind::Transport
                } else {
                    LinearErrorKind::Protocol
                },
                format!(
                    "run `{operation}` on Linear: it answered HTTP {status} without GraphQL data"
                ),
            );
            return if status.is_server_error() {
                Attempt::Retry { wait: None, error }
            } else {
                Attempt::Done(Err(error))
            };
        }
        let data = parsed
            .and_then(|mut value| value.get_mut("data").map(Value::take))
            .unwrap_or(Value::Null);
        Attempt::Done(serde_json::from_value(data).map_err(|error| {
            LinearError::new(
                LinearErrorKind::Protocol,
                format!(
                    "read Linear's answer to `{operation}`: it does not have the expected shape"
                ),
            )
            .with_source(error)
        }))
    }

    fn classify<T>(
        &self,
        operation: &str,
        error: &GraphqlError,
        headers: &HeaderMap,
    ) -> Attempt<Result<T, LinearError>> {
        let kind = error
            .extensions
            .kind
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let code = error
            .extensions
            .code
            .as_deref()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let said = error
            .extensions
            .user_presentable_message
            .as_deref()
            .unwrap_or(&error.message);
        let done = |kind, message: String| Attempt::Done(Err(LinearError::new(kind, message)));
        if kind == "ratelimited" || code == "RATELIMITED" {
            let retry_after = headers
                .get("retry-after")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let wait = retry_after.or_else(|| self.limiter.until_reset());
            let hint = wait.map_or_else(String::new, |wait| {
                format!("; try again in {} s", wait.as_secs().max(1))
            });
            let error = LinearError::new(
                LinearErrorKind::RateLimited,
                format!(
                    "run `{operation}` on Linear: rate limited after {} retries{hint}",
                    self.max_retries
                ),
            );
            return Attempt::Retry { wait, error };
        }
        if kind == "authentication error" || code == "AUTHENTICATION_ERROR" {
            return done(
                LinearErrorKind::Authentication,
                format!(
                    "authenticate with Linear at {}: the API key or OAuth token was refused ({said}); \
                     check that it is set, complete and not revoked",
                    self.endpoint
                ),
            );
        }
        if kind == "forbidden" || code == "FORBIDDEN" {
            return done(
                LinearErrorKind::Forbidden,
                format!(
                    "run `{operation}` on Linear: the credentials lack permission ({said}); grant the key access"
                ),
            );
        }
        if error.message.contains("Entity not found") || said.contains("Could not find") {
            return done(
                LinearErrorKind::NotFound,
                format!("run `{operation}` on Linear: {said}"),
            );
        }
        if kind == "invalid input" || code == "INVALID_INPUT" {
            return done(
                LinearErrorKind::InvalidInput,
                format!("run `{operation}` on Linear: it refused the input ({said})"),
            );
        }
        if code == "GRAPHQL_VALIDATION_FAILED" || kind == "graphql error" {
            return done(
                LinearErrorKind::Protocol,
                format!(
                    "run `{operation}` on Linear: it refused the query ({said}); this is a Squadron bug, please report it"
                ),
            );
        }
        let error = LinearError::new(
            LinearErrorKind::Transport,
            format!("run `{operation}` on Linear: {said}"),
        );
        Attempt::Retry { wait: None, error }
    }
}
