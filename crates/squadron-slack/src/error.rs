//! Errors of the Slack Web API client, sorted into kinds the runtime and the operator act on.

use squadron_core::ports::{PortError, PortErrorKind};

/// What kind of failure a [`SlackError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SlackErrorKind {
    /// The client's settings are unusable (endpoint URL, token characters).
    Config,
    /// Slack refused the bot token or its scopes.
    Auth,
    /// The channel (or message) does not exist or the bot cannot see it.
    NotFound,
    /// Slack refused the request for another reason (`{ok:false, error}`).
    Refused,
    /// Slack's rate limit held after every retry.
    RateLimited,
    /// Slack could not be reached, or answered with a server error.
    Transport,
    /// Slack answered something this client does not understand.
    Protocol,
}

/// A failure talking to Slack; the message reads after "failed to …" and says what to do.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SlackError {
    kind: SlackErrorKind,
    message: String,
    api_error: Option<String>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl SlackError {
    pub(crate) fn new(kind: SlackErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            api_error: None,
            source: None,
        }
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// An `{ok:false, error}` answer to `method`, with advice for the errors people can fix.
    pub(crate) fn api(method: &str, channel: &str, code: &str) -> Self {
        let (kind, advice) = match code {
            "invalid_auth" | "not_authed" | "account_inactive" | "token_revoked"
            | "token_expired" => (
                SlackErrorKind::Auth,
                "check the bot token in the variable named by slack.bot_token_env",
            ),
            "missing_scope" => (
                SlackErrorKind::Auth,
                "give the Slack app the chat:write scope and reinstall it",
            ),
            "channel_not_found" => (
                SlackErrorKind::NotFound,
                "check the channel id, and that the bot can see the channel",
            ),
            "not_in_channel" => (
                SlackErrorKind::Refused,
                "invite the bot to the channel (/invite @squadron)",
            ),
            "is_archived" => (
                SlackErrorKind::Refused,
                "unarchive the channel or pick another",
            ),
            "ratelimited" | "rate_limited" => (SlackErrorKind::RateLimited, "wait and retry"),
            "msg_too_long" | "invalid_blocks" | "no_text" => (
                SlackErrorKind::Refused,
                "this is a Squadron bug; report it with the log line",
            ),
            _ => (
                SlackErrorKind::Refused,
                "see Slack's documentation of the error",
            ),
        };
        let mut error = SlackError::new(
            kind,
            format!("post to Slack channel `{channel}`: {method} answered `{code}`; {advice}"),
        );
        error.api_error = Some(code.to_owned());
        error
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> SlackErrorKind {
        self.kind
    }

    /// Slack's own error code, when Slack answered `{ok:false, error}`.
    pub fn api_error(&self) -> Option<&str> {
        self.api_error.as_deref()
    }
}

impl From<SlackError> for PortError {
    fn from(error: SlackError) -> Self {
        let kind = match error.kind {
            SlackErrorKind::Auth => PortErrorKind::Auth,
            SlackErrorKind::NotFound => PortErrorKind::NotFound,
            SlackErrorKind::Config | SlackErrorKind::Refused => PortErrorKind::Invalid,
            SlackErrorKind::RateLimited | SlackErrorKind::Transport => PortErrorKind::Transient,
            SlackErrorKind::Protocol => PortErrorKind::Internal,
        };
        let message = error.message.clone();
        PortError::new(kind, message).with_source(error)
    }
}
