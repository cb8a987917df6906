//! The stand-in's own clock: a fixed start that moves one second per event, so responses
//! are deterministic and events still sort chronologically.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// 2026-01-01T00:00:00Z, an arbitrary fixed origin.
const ORIGIN_UNIX_SECONDS: i64 = 1_767_225_600;

/// Seconds since the Unix epoch on the stand-in's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Instant(pub(crate) i64);

impl Instant {
    /// RFC 3339 in UTC, as GitHub writes timestamps (`2026-01-01T00:00:00Z`).
    pub(crate) fn rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            // The clock starts in 2026 and only moves forward by seconds, so both steps
            // succeed; the fallback keeps this total without a panic.
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
    }
}

#[derive(Debug)]
pub(crate) struct FakeClock {
    now: i64,
}

impl FakeClock {
    pub(crate) fn new() -> Self {
        Self {
            now: ORIGIN_UNIX_SECONDS,
        }
    }

    /// Moves the clock one second forward and returns the new time.
    pub(crate) fn tick(&mut self) -> Instant {
        self.now += 1;
        Instant(self.now)
    }

    pub(crate) fn now(&self) -> Instant {
        Instant(self.now)
    }
}
