//! Errors of the Linear adapter, sorted into kinds the user and the runtime act on.

use squadron_core::ports::{PortError, PortErrorKind};

use crate::url::UrlError;

/// What kind of failure a [`LinearError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinearErrorKind {
    /// The pasted URL or identifier is not one Squadron reads.
    BadInput,
    /// Linear refused the credentials (missing, wrong or revoked).
    Authentication,
    /// The credentials lack permission for this.
    Forbidden,
    /// The project, milestone or issue does not exist (or is not visible).
    NotFound,
    /// Linear refused the request's arguments.
    InvalidInput,
    /// Linear's rate limit held after every retry.
    RateLimited,
    /// Linear could not be reached or answered with a server error.
    Transport,
    /// Linear answered something this adapter does not understand (a bug on one side).
    Protocol,
}

/// A failure talking to Linear; the message reads after "failed to …" and says what to do.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct LinearError {
    kind: LinearErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl LinearError {
    pub(crate) fn new(kind: LinearErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
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

    /// What kind of failure this is.
    pub fn kind(&self) -> LinearErrorKind {
        self.kind
    }
}

impl From<UrlError> for LinearError {
    fn from(error: UrlError) -> Self {
        LinearError::new(LinearErrorKind::BadInput, error.to_string())
    }
}

impl From<LinearError> for PortError {
    fn from(error: LinearError) -> Self {
        let kind = match error.kind {
            LinearErrorKind::Authentication | LinearErrorKind::Forbidden => PortErrorKind::Auth,
            LinearErrorKind::NotFound => PortErrorKind::NotFound,
            LinearErrorKind::BadInput | LinearErrorKind::InvalidInput => PortErrorKind::Invalid,
            LinearErrorKind::RateLimited | LinearErrorKind::Transport => PortErrorKind::Transient,
            LinearErrorKind::Protocol => PortErrorKind::Internal,
        };
        let message = error.message.clone();
        PortError::new(kind, message).with_source(error)
    }
}
