//! Small formatting helpers shared by the commands: times and ages.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use squadron_core::Timestamp;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The current time as the core counts it.
pub fn now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis();
    Timestamp::from_millis(i64::try_from(millis).unwrap_or(i64::MAX))
}

/// A timestamp as RFC 3339 in UTC, e.g. `2026-11-21T01:06:34.123Z`.
pub fn rfc3339(at: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.as_millis()) * 1_000_000)
        .ok()
        .and_then(|time| time.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{}ms", at.as_millis()))
}

/// How long ago `then` was, coarsely: `42s`, `5m`, `3h 12m`, `2d 4h`.
pub fn age(then: Timestamp, now: Timestamp) -> String {
    let seconds = now.since(then).as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86_400 => format!("{}h {}m", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{}d {}h", seconds / 86_400, seconds % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_coarse_and_readable() {
        let at = |seconds: i64| Timestamp::from_millis(seconds * 1000);
        assert_eq!(age(at(0), at(42)), "42s");
        assert_eq!(age(at(0), at(300)), "5m");
        assert_eq!(age(at(0), at(3 * 3600 + 12 * 60)), "3h 12m");
        assert_eq!(age(at(0), at(2 * 86_400 + 4 * 3600)), "2d 4h");
        assert_eq!(age(at(10), at(0)), "0s");
    }

    #[test]
    fn timestamps_print_as_utc_rfc3339() {
        assert_eq!(
            rfc3339(Timestamp::from_millis(1_531_420_618_123)),
            "2018-07-12T18:36:58.123Z"
        );
    }
}
