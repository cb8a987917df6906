//! Errors of the GitHub adapter: what was being done, and how GitHub or the network failed.

use http::StatusCode;
use squadron_core::ports::{PortError, PortErrorKind};

/// A failed GitHub operation.
#[derive(Debug, thiserror::Error)]
#[error("{action}: {kind}")]
pub struct GithubError {
    action: String,
    #[source]
    kind: GithubErrorKind,
}

/// How a GitHub operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GithubErrorKind {
    /// The request never got an answer (DNS, connection, timeout).
    #[error("could not reach GitHub")]
    Transport(#[source] octocrab::Error),
    /// GitHub answered with an error status.
    #[error("GitHub answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// GitHub's `message` (and `errors`), or the raw body.
        message: String,
    },
    /// GitHub kept refusing for rate limiting after the waits it asked for.
    #[error("GitHub rate limit still exceeded; retry in {retry_after_secs}s")]
    RateLimited {
        /// How long GitHub asked to wait last.
        retry_after_secs: u64,
    },
    /// A download did not finish in time.
    #[error("GitHub did not finish answering within {after_secs}s")]
    Timeout {
        /// The time allowed.
        after_secs: u64,
    },
    /// GitHub's answer did not have the expected shape.
    #[error("unexpected response from GitHub")]
    Decode(#[source] serde_json::Error),
    /// The configured API base URL is not a URL octocrab accepts.
    #[error(
        "invalid GitHub API base URL `{url}`; expected e.g. https://api.github.com or https://ghe.example.com/api/v3"
    )]
    InvalidBaseUrl {
        /// The offending value.
        url: String,
    },
}

impl GithubError {
    /// An error while doing `action` (a lowercase fragment: "open a PR for `eng-1` in acme/shop").
    pub fn new(action: impl Into<String>, kind: GithubErrorKind) -> Self {
        Self {
            action: action.into(),
            kind,
        }
    }

    /// How the operation failed.
    pub fn kind(&self) -> &GithubErrorKind {
        &self.kind
    }

    /// The HTTP status GitHub answered, if it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match &self.kind {
            GithubErrorKind::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// How the runtime should treat the failure.
    pub fn port_kind(&self) -> PortErrorKind {
        match &self.kind {
            GithubErrorKind::Transport(_)
            | GithubErrorKind::RateLimited { .. }
            | GithubErrorKind::Timeout { .. } => PortErrorKind::Transient,
            GithubErrorKind::Status { status, .. } => match *status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => PortErrorKind::Auth,
                StatusCode::NOT_FOUND => PortErrorKind::NotFound,
                StatusCode::CONFLICT => PortErrorKind::Conflict,
                status if status.is_server_error() => PortErrorKind::Transient,
                _ => PortErrorKind::Invalid,
            },
            GithubErrorKind::Decode(_) => PortErrorKind::Internal,
            GithubErrorKind::InvalidBaseUrl { .. } => PortErrorKind::Invalid,
        }
    }
}

impl From<GithubError> for PortError {
    fn from(error: GithubError) -> PortError {
        PortError::new(error.port_kind(), error.to_string()).with_source(error)
    }
}
