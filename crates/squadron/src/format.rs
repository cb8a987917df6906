//! Small formatting helpers shared by the commands: times, ages, durations and token counts.

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

/// A duration to the second, compact: `42s`, `2m05s`, `1h02m`.
pub fn elapsed(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
    }
}

/// A token count in four characters or so: `950`, `12.3k`, `4.1M`.
pub fn compact_tokens(tokens: u64) -> String {
    #[expect(
        clippy::cast_precision_loss,
        reason = "a count shown to one decimal place"
    )]
    let as_float = tokens as f64;
    match tokens {
        0..1_000 => tokens.to_string(),
        1_000..1_000_000 => format!("{:.1}k", as_float / 1_000.0),
        _ => format!("{:.1}M", as_float / 1_000_000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_token_counts_are_compact() {
        assert_eq!(elapsed(Duration::from_secs(42)), "42s");
        assert_eq!(elapsed(Duration::from_secs(125)), "2m05s");
        assert_eq!(elapsed(Duration::from_secs(3720)), "1h02m");
        assert_eq!(compact_tokens(950), "950");
        assert_eq!(compact_tokens(12_345), "12.3k");
        assert_eq!(compact_tokens(4_100_000), "4.1M");
    }

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
