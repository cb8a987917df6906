//! The clock port: the one way the runtime learns the time.

use crate::domain::Timestamp;

/// A source of the current time. Tests use a fixed or stepped clock.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}
