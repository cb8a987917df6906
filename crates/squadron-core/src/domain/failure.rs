//! Why a step failed, sorted so the scheduler can decide what follows: try the step again,
//! hand the squad to a person, or report a bug in Squadron.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::error_chain;
use crate::ports::{PortError, PortErrorKind};

/// What kind of failure a step met; the scheduler's retry policy reads nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The outside world hiccuped (a timeout, a 5xx, a dropped connection): the same step
    /// is likely to succeed if tried again shortly.
    Transient,
    /// A service asked to be left alone for `retry_after` before the next request.
    RateLimited {
        /// How long the service asked to wait.
        retry_after: Duration,
    },
    /// The outside world changed under the step (a stale SHA, a concurrent update): trying
    /// again reads it afresh.
    Conflict,
    /// Nothing Squadron can do will help: credentials, configuration or a refusal only a
    /// person can resolve.
    NeedsPerson,
    /// A bug or a broken invariant in Squadron.
    Internal,
}

impl FailureKind {
    /// Whether trying the same step again may succeed.
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            FailureKind::Transient | FailureKind::RateLimited { .. } | FailureKind::Conflict
        )
    }

    /// The kind's name, as logs and events show it (`rate-limited`).
    pub const fn name(self) -> &'static str {
        match self {
            FailureKind::Transient => "transient",
            FailureKind::RateLimited { .. } => "rate-limited",
            FailureKind::Conflict => "conflict",
            FailureKind::NeedsPerson => "needs-person",
            FailureKind::Internal => "internal",
        }
    }
}

impl From<PortErrorKind> for FailureKind {
    fn from(kind: PortErrorKind) -> Self {
        match kind {
            PortErrorKind::Transient => FailureKind::Transient,
            PortErrorKind::Conflict => FailureKind::Conflict,
            PortErrorKind::Auth | PortErrorKind::NotFound | PortErrorKind::Invalid => {
                FailureKind::NeedsPerson
            }
            PortErrorKind::Internal => FailureKind::Internal,
        }
    }
}

impl From<&PortError> for FailureKind {
    /// The port's kind; a transient failure that says how long to wait is a rate limit.
    fn from(error: &PortError) -> Self {
        match (error.kind(), error.retry_after()) {
            (PortErrorKind::Transient, Some(retry_after)) => {
                FailureKind::RateLimited { retry_after }
            }
            (kind, _) => kind.into(),
        }
    }
}

/// A step's failure: its kind, what was being done, and the causes underneath. Plain data,
/// so events carrying it compare and clone; the causes are kept as the text they rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepFailure {
    kind: FailureKind,
    doing: String,
    causes: Vec<String>,
}

impl StepFailure {
    /// A failure of `kind` while doing `doing` (a fragment that reads after "failed to …").
    pub fn new(kind: FailureKind, doing: impl Into<String>) -> Self {
        Self {
            kind,
            doing: doing.into(),
            causes: Vec::new(),
        }
    }

    /// A failure only a person can resolve.
    pub fn needs_person(doing: impl Into<String>) -> Self {
        Self::new(FailureKind::NeedsPerson, doing)
    }

    /// A bug or a broken invariant in Squadron.
    pub fn internal(doing: impl Into<String>) -> Self {
        Self::new(FailureKind::Internal, doing)
    }

    /// A port's failure while doing `doing`, sorted by the port's own kind.
    pub fn port(doing: impl Into<String>, error: &PortError) -> Self {
        Self::new(FailureKind::from(error), doing).caused_by(error)
    }

    /// Adds `error` and its own causes, rendered, under what was being done.
    #[must_use]
    pub fn caused_by(mut self, error: &dyn Error) -> Self {
        self.causes.push(error_chain(error));
        self
    }

    /// Adds a cause given as text.
    #[must_use]
    pub fn because(mut self, cause: impl Into<String>) -> Self {
        self.causes.push(cause.into());
        self
    }

    /// The same failure seen from a step further out: `doing` becomes what was being done,
    /// the old one its first cause.
    #[must_use]
    pub fn while_doing(mut self, doing: impl Into<String>) -> Self {
        let inner = std::mem::replace(&mut self.doing, doing.into());
        self.causes.insert(0, inner);
        self
    }

    /// The kind, for the retry policy.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// What was being done.
    pub fn doing(&self) -> &str {
        &self.doing
    }

    /// The causes, outermost first.
    pub fn causes(&self) -> &[String] {
        &self.causes
    }
}

impl fmt::Display for StepFailure {
    /// `read PR #3: GitHub answered 502 Bad Gateway`: what was done, then each cause.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.doing)?;
        for cause in &self.causes {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl Error for StepFailure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_kinds_sort_into_retryable_and_not() {
        let kind = |error: PortError| StepFailure::port("read PR #3", &error).kind();
        assert_eq!(
            kind(PortError::new(PortErrorKind::Transient, "502 bad gateway")),
            FailureKind::Transient
        );
        assert_eq!(
            kind(
                PortError::new(PortErrorKind::Transient, "rate limited")
                    .with_retry_after(Duration::from_secs(7))
            ),
            FailureKind::RateLimited {
                retry_after: Duration::from_secs(7)
            }
        );
        assert_eq!(
            kind(PortError::new(PortErrorKind::Conflict, "stale sha")),
            FailureKind::Conflict
        );
        for refused in [
            PortErrorKind::Auth,
            PortErrorKind::NotFound,
            PortErrorKind::Invalid,
        ] {
            assert_eq!(
                kind(PortError::new(refused, "no")),
                FailureKind::NeedsPerson
            );
        }
        assert_eq!(
            kind(PortError::new(PortErrorKind::Internal, "bug")),
            FailureKind::Internal
        );
    }

    #[test]
    fn the_message_reads_from_the_outermost_step_to_the_root_cause() {
        let error = PortError::new(PortErrorKind::Transient, "GitHub answered 502");
        let failure = StepFailure::port("read PR #3", &error).while_doing("evaluate the gate");
        assert_eq!(
            failure.to_string(),
            "evaluate the gate: read PR #3: GitHub answered 502"
        );
        assert_eq!(failure.doing(), "evaluate the gate");
        assert_eq!(failure.causes().len(), 2);
    }
}
