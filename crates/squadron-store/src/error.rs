//! What can go wrong in the store, sorted so callers can tell a user mistake from a
//! conflict, a broken database or a passing outage.

use std::error::Error as StdError;

use squadron_core::ports::{PortError, PortErrorKind};

/// How to treat a store failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreErrorKind {
    /// The database could not be opened, created or migrated; the message names it and what
    /// to do.
    Open,
    /// The id or key asked for is not recorded.
    NotFound,
    /// The stored state is not what the caller expected (optimistic concurrency, duplicate
    /// ids, a journal key reused for something else).
    Conflict,
    /// The caller passed a value the store refuses (invalid JSON, a number out of range).
    Invalid,
    /// A stored value cannot be read back (an unknown phase or role): the database was
    /// written by something else or by a newer Squadron.
    Corrupt,
    /// The database could not be reached, timed out or was busy; retrying later may help.
    Unavailable,
    /// The database refused a statement for another reason: a bug on our side.
    Database,
    /// A write for work this daemon no longer holds (its lease was taken over by another
    /// daemon, or lapsed): the write changed nothing and the daemon must stop that work.
    Fenced,
}

/// A store failure. The message is a lowercase fragment that reads after "failed to …".
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
    #[source]
    source: Option<Cause>,
}

/// The underlying error, boxed so every cause fits one field and can be handed on to a
/// [`PortError`].
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct Cause(Box<dyn StdError + Send + Sync>);

impl StoreError {
    /// A new error of `kind`.
    pub(crate) fn new(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub(crate) fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Cause(Box::new(source)));
        self
    }

    /// A database failure while doing `what` (a fragment such as "record run `r1`").
    pub(crate) fn database(what: impl Into<String>, source: sqlx::Error) -> Self {
        let what = what.into();
        let kind = match &source {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreErrorKind::Conflict,
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreErrorKind::NotFound,
            sqlx::Error::RowNotFound => StoreErrorKind::NotFound,
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => StoreErrorKind::Corrupt,
            sqlx::Error::Database(db) if is_contention(db.code().as_deref()) => {
                StoreErrorKind::Unavailable
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreErrorKind::Unavailable,
            _ => StoreErrorKind::Database,
        };
        let message = match kind {
            StoreErrorKind::Conflict => format!("{what}: it is already recorded"),
            StoreErrorKind::NotFound => format!("{what}: a record it refers to does not exist"),
            _ => format!("{what}: {source}"),
        };
        Self::new(kind, message).with_source(source)
    }

    /// A stored value that does not map to a domain value.
    pub(crate) fn corrupt(column: &str, value: &str) -> Self {
        Self::new(
            StoreErrorKind::Corrupt,
            format!(
                "read stored {column} `{value}`: not a value this version of Squadron knows \
                 (was the database written by a newer version?)"
            ),
        )
    }

    /// How to treat the failure.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

impl From<StoreError> for PortError {
    fn from(error: StoreError) -> PortError {
        let kind = match error.kind {
            StoreErrorKind::NotFound => PortErrorKind::NotFound,
            StoreErrorKind::Conflict | StoreErrorKind::Fenced => PortErrorKind::Conflict,
            StoreErrorKind::Invalid => PortErrorKind::Invalid,
            StoreErrorKind::Unavailable => PortErrorKind::Transient,
            StoreErrorKind::Open | StoreErrorKind::Corrupt | StoreErrorKind::Database => {
                PortErrorKind::Internal
            }
        };
        let port = PortError::new(kind, error.message);
        match error.source {
            Some(cause) => port.with_source(cause),
            None => port,
        }
    }
}

/// Whether a database error code means "another transaction is in the way": SQLite's
/// `SQLITE_BUSY` (5) and `SQLITE_LOCKED` (6) and their extended codes once the busy timeout has run out, PostgreSQL's
/// serialization failure and deadlock.
fn is_contention(code: Option<&str>) -> bool {
    matches!(code, Some("5" | "6" | "261" | "517" | "40001" | "40P01"))
}
