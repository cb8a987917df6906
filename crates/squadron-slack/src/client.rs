//! The Slack Web API client: `chat.postMessage` with the bot token, paced per channel,
//! retrying `ratelimited` answers after their `Retry-After`.
//!
//! Only answers that prove nothing was posted are retried (HTTP 429, a refused connection);
//! a timeout or a server error may have posted the message, so it is reported and left to
//! the runtime's journal instead of risking a duplicate.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{SlackError, SlackErrorKind};
use crate::message::MessageContent;
use crate::pacing::{ChannelPacer, DEFAULT_CHANNEL_INTERVAL};

/// Retries of a rate-limited or unreachable post before giving up.
const MAX_RETRIES: u32 = 3;
/// Wait before retrying when Slack gives no `Retry-After`; doubles per retry.
const BASE_BACKOFF: Duration = Duration::from_secs(1);
/// How long one call may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The `event_type` of the metadata every Squadron message carries.
pub const METADATA_EVENT_TYPE: &str = "squadron_notification";

/// One message to post.
#[derive(Clone, Debug, PartialEq)]
pub struct PostMessage {
    /// The channel id or name.
    pub channel: String,
    /// What to say.
    pub content: MessageContent,
    /// The parent's `ts`, to reply in its thread.
    pub thread_ts: Option<String>,
    /// An idempotency key sent as message metadata, so the message can be recognised later.
    pub key: Option<String>,
}

/// Where Slack put a posted message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostedMessage {
    /// The channel id (Slack answers with the id even when given a name).
    pub channel: String,
    /// The message's `ts`.
    pub ts: String,
}

/// A Slack Web API client for one bot token.
pub struct SlackClient {
    http: reqwest::Client,
    api_url: String,
    token: SecretString,
    pacer: ChannelPacer,
}

impl fmt::Debug for SlackClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token never reaches a log.
        f.debug_struct("SlackClient")
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ApiAnswer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
}

impl SlackClient {
    /// A client for the Web API at `api_url` (config `slack.api_url`, such as
    /// `https://slack.com/api`; method names are appended) with the bot token.
    ///
    /// # Errors
    /// When `api_url` is not an http(s) URL, the token is blank, or the HTTP client cannot
    /// be built.
    pub fn new(api_url: &str, bot_token: &str) -> Result<Self, SlackError> {
        Self::with_channel_interval(api_url, bot_token, DEFAULT_CHANNEL_INTERVAL)
    }

    /// As [`SlackClient::new`], pacing posts in one channel `interval` apart.
    ///
    /// # Errors
    /// As [`SlackClient::new`].
    pub fn with_channel_interval(
        api_url: &str,
        bot_token: &str,
        interval: Duration,
    ) -> Result<Self, SlackError> {
        let parsed = url::Url::parse(api_url).map_err(|error| {
            SlackError::new(
                SlackErrorKind::Config,
                format!("use `{api_url}` as the Slack API URL: {error}; check slack.api_url"),
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SlackError::new(
                SlackErrorKind::Config,
                format!(
                    "use `{api_url}` as the Slack API URL: it is not http(s); check slack.api_url"
                ),
            ));
        }
        if bot_token.trim().is_empty() {
            return Err(SlackError::new(
                SlackErrorKind::Config,
                "use the Slack bot token: it is blank; set the variable named by slack.bot_token_env",
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|error| {
                SlackError::new(SlackErrorKind::Config, "build the Slack HTTP client")
                    .with_source(error)
            })?;
        Ok(Self {
            http,
            api_url: api_url.trim_end_matches('/').to_owned(),
            token: SecretString::from(bot_token.to_owned()),
            pacer: ChannelPacer::new(interval),
        })
    }

    /// Posts one message with `chat.postMessage`. An `{ok:false, error}` answer is logged
    /// with the channel, Slack's code and advice, and returned as an error.
    ///
    /// # Errors
    /// A [`SlackError`] whose kind says whether a later retry could help.
    pub async fn post_message(&self, message: &PostMessage) -> Result<PostedMessage, SlackError> {
        const METHOD: &str = "chat.postMessage";
        let mut body = json!({
            "channel": message.channel,
            "text": message.content.text,
        });
        if !message.content.blocks.is_empty() {
            body["blocks"] = Value::Array(message.content.blocks.clone());
        }
        if let Some(thread_ts) = &message.thread_ts {
            body["thread_ts"] = json!(thread_ts);
        }
        if let Some(key) = &message.key {
            body["metadata"] = json!({
                "event_type": METADATA_EVENT_TYPE,
                "event_payload": { "key": key },
            });
        }
        let url = format!("{}/{METHOD}", self.api_url);
        let channel = message.channel.as_str();
        let mut attempt = 0;
        loop {
            self.pacer.acquire(channel).await;
            let sent = self
                .http
                .post(&url)
                .bearer_auth(self.token.expose_secret())
                .json(&body)
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(error) if error.is_connect() && attempt < MAX_RETRIES => {
                    attempt += 1;
                    let wait = BASE_BACKOFF * 2u32.pow(attempt - 1);
                    tracing::warn!(%error, attempt, wait_ms = wait.as_millis(), "Slack unreachable; retrying");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(error) => {
                    return Err(SlackError::new(
                        SlackErrorKind::Transport,
                        format!("post to Slack channel `{channel}`: {METHOD} did not answer"),
                    )
                    .with_source(error));
                }
            };
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                let wait =
                    retry_after(response.headers()).unwrap_or(BASE_BACKOFF * 2u32.pow(attempt));
                self.pacer.pause(channel, wait);
                if attempt < MAX_RETRIES {
                    attempt += 1;
                    tracing::warn!(
                        channel,
                        attempt,
                        retry_after_ms = wait.as_millis(),
                        "Slack rate-limited chat.postMessage; retrying after Retry-After"
                    );
                    continue;
                }
                let error = SlackError::api(METHOD, channel, "ratelimited");
                tracing::warn!(channel, slack_error = "ratelimited", %error, "Slack refused a message");
                return Err(error);
            }
            let status = response.status();
            if status.is_server_error() {
                return Err(SlackError::new(
                    SlackErrorKind::Transport,
                    format!("post to Slack channel `{channel}`: {METHOD} answered HTTP {status}"),
                ));
            }
            let answer: ApiAnswer = response.json().await.map_err(|error| {
                SlackError::new(
                    SlackErrorKind::Protocol,
                    format!("post to Slack channel `{channel}`: {METHOD} answered HTTP {status} with an unreadable body"),
                )
                .with_source(error)
            })?;
            if !answer.ok {
                let code = answer.error.unwrap_or_else(|| "unknown_error".to_owned());
                let error = SlackError::api(METHOD, channel, &code);
                tracing::warn!(channel, slack_error = %code, %error, "Slack refused a message");
                return Err(error);
            }
            let ts = answer.ts.ok_or_else(|| {
                SlackError::new(
                    SlackErrorKind::Protocol,
                    format!("post to Slack channel `{channel}`: {METHOD} answered ok without a ts"),
                )
            })?;
            return Ok(PostedMessage {
                channel: answer.channel.unwrap_or_else(|| channel.to_owned()),
                ts,
            });
        }
    }
}

/// `Retry-After` in whole seconds, as Slack sends it.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}
