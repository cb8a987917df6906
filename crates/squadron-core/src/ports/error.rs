//! The error every port returns: what went wrong, sorted so the runtime can decide whether
//! to retry, stop the squad, or tell the user.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// How the runtime should treat a port failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortErrorKind {
    /// Worth retrying later (timeouts, 5xx, rate limits that outlasted their retries).
    Transient,
    /// Credentials missing, revoked or lacking permission: a person must act.
    Auth,
    /// The thing asked for does not exist.
    NotFound,
    /// The request was refused as invalid; retrying the same request will not help.
    Invalid,
    /// The remote state changed under us (stale SHA, concurrent update): re-read and decide.
    Conflict,
    /// A bug or a broken invariant on our side.
    Internal,
}

/// A failure reported by a port implementation.
#[derive(Debug)]
pub struct PortError {
    kind: PortErrorKind,
    message: String,
    retry_after: Option<Duration>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl PortError {
    /// A new error of `kind`; `message` is a lowercase fragment that reads after "failed to …".
    pub fn new(kind: PortErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
            source: None,
        }
    }

    /// Says how long the service asked to be left alone (a rate limit's `Retry-After`).
    #[must_use]
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// How long the service asked to be left alone, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// How to treat the failure.
    pub fn kind(&self) -> PortErrorKind {
        self.kind
    }

    /// The message without its cause.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for PortError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}
