//! Errors of the runtime's API: what went wrong starting, cancelling or running.

use squadron_core::ports::{PortError, PortErrorKind};

/// How the caller should treat a [`PipelineError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PipelineErrorKind {
    /// The request names something wrong (an unknown issue, a URL the tracker refuses).
    Invalid,
    /// Nothing matches the request (no unfinished squad for that issue).
    NotFound,
    /// Worth trying again later (the tracker or the store is unavailable).
    Transient,
    /// Credentials are missing or refused.
    Auth,
    /// The runtime has stopped (shut down, or killed at a failpoint).
    Stopped,
    /// A broken invariant on our side.
    Internal,
}

/// A failure of the runtime or of one of its requests.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PipelineError {
    kind: PipelineErrorKind,
    message: String,
    #[source]
    source: Option<PortError>,
}

impl PipelineError {
    /// A new error; `message` reads after "failed to …".
    pub fn new(kind: PipelineErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// A port failure, with what was being done.
    pub fn port(doing: impl Into<String>, error: PortError) -> Self {
        let kind = match error.kind() {
            PortErrorKind::Transient => PipelineErrorKind::Transient,
            PortErrorKind::Auth => PipelineErrorKind::Auth,
            PortErrorKind::NotFound => PipelineErrorKind::NotFound,
            PortErrorKind::Invalid => PipelineErrorKind::Invalid,
            PortErrorKind::Conflict | PortErrorKind::Internal => PipelineErrorKind::Internal,
        };
        Self {
            kind,
            message: doing.into(),
            source: Some(error),
        }
    }

    /// The runtime is gone.
    pub(crate) fn stopped() -> Self {
        Self::new(
            PipelineErrorKind::Stopped,
            "reach the squad runtime: it has stopped",
        )
    }

    /// How to treat it.
    pub fn kind(&self) -> PipelineErrorKind {
        self.kind
    }
}
