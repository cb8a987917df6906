//! How long to wait before trying a model call again: exponential backoff with jitter, or
//! what the provider's `Retry-After` header asks for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use squadron_core::domain::Timestamp;

/// When and how often a failed call is tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first one included; at least 1.
    pub max_tries: u32,
    /// The wait after the first failure; it doubles with each further failure.
    pub initial_backoff: Duration,
    /// The longest wait backoff grows to.
    pub max_backoff: Duration,
    /// The longest `Retry-After` the adapter will sit out; a provider asking for more ends
    /// the call at once with an error saying so, rather than stalling a squad for hours.
    pub max_retry_after: Duration,
    /// How backoff waits are spread so that squads failing together do not retry together.
    pub jitter: Jitter,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_tries: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(300),
            jitter: Jitter::Seeded(0x5155_4144_524f_4e00),
        }
    }
}

/// The randomness in backoff waits. Seeded rather than drawn from the OS so that tests (and
/// anyone replaying a log) get the same waits; the binary seeds it per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    /// Waits are exactly the exponential backoff.
    None,
    /// Each wait is between half and all of the exponential backoff, drawn from a
    /// generator seeded with this value.
    Seeded(u64),
}

/// Draws backoff waits for one provider; shared by all its calls.
#[derive(Debug)]
pub(crate) struct Backoff {
    policy: RetryPolicy,
    state: AtomicU64,
}

impl Backoff {
    pub(crate) fn new(policy: RetryPolicy) -> Self {
        let seed = match policy.jitter {
            Jitter::None => 0,
            Jitter::Seeded(seed) => seed,
        };
        Self {
            policy,
            state: AtomicU64::new(seed),
        }
    }

    pub(crate) fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The wait after failed try number `failed_try` (1-based).
    pub(crate) fn wait_after(&self, failed_try: u32) -> Duration {
        let doublings = failed_try.saturating_sub(1).min(30);
        let full = self
            .policy
            .initial_backoff
            .saturating_mul(1 << doublings)
            .min(self.policy.max_backoff);
        match self.policy.jitter {
            Jitter::None => full,
            Jitter::Seeded(_) => {
                // "Equal jitter": keep half, randomise the other half.
                let half = full / 2;
                let fraction = (self.next_random() >> 11) as f64 / (1_u64 << 53) as f64;
                half + half.mul_f64(fraction)
            }
        }
    }

    /// SplitMix64: a tiny, well-mixed generator whose whole state is one atomic counter.
    fn next_random(&self) -> u64 {
        const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut z = self
            .state
            .fetch_add(GAMMA, Ordering::Relaxed)
            .wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The wait a `Retry-After` value asks for: delay-seconds, or an HTTP date measured from
/// `now` (a date already past asks for no wait). `None` when the value is neither.
pub(crate) fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value)?;
    Some(Timestamp::from_millis(at.saturating_mul(1000)).since(now))
}

/// Unix seconds of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only date form
/// RFC 9110 lets senders use.
fn parse_http_date(value: &str) -> Option<i64> {
    let rest = value.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: i64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut clock = parts
        .next()?
        .split(':')
        .map(|part| part.parse::<i64>().ok());
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next()??);
    if parts.next()? != "GMT" || parts.next().is_some() || clock.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = Timestamp::from_millis(784_111_777_000); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 PST", now),
            None
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_within_half() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            jitter: Jitter::None,
            ..RetryPolicy::default()
        };
        let exact = Backoff::new(policy);
        let waits: Vec<_> = (1..=4).map(|n| exact.wait_after(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 350, 350]);

        let jittered = Backoff::new(RetryPolicy {
            jitter: Jitter::Seeded(42),
            ..policy
        });
        let draws: Vec<_> = (0..50).map(|_| jittered.wait_after(2)).collect();
        assert!(
            draws.iter().all(
                |wait| (Duration::from_millis(100)..=Duration::from_millis(200)).contains(wait)
            )
        );
        assert!(
            draws.windows(2).any(|pair| pair[0] != pair[1]),
            "jitter must vary the waits"
        );
    }
}
