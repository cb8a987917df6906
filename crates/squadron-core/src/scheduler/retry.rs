//! The retry policy: how often a failed step is tried again and how long to wait first —
//! capped exponential backoff with seeded jitter, so squads that fail together do not retry
//! in lockstep, and tests can predict every delay.

use std::time::Duration;

use crate::domain::{FailureKind, SquadId};

/// How failed steps are tried again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts of one step in all, the first included; a step whose last attempt fails
    /// stops the squad as needs-human. At least one attempt is always made.
    pub attempts: u32,
    /// The wait before the first retry; it doubles with each retry after that.
    pub base_delay: Duration,
    /// The longest wait between attempts (a rate limit's own `Retry-After` may be longer).
    pub max_delay: Duration,
    /// Seed of the jitter.
    pub jitter_seed: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(120),
            jitter_seed: 0,
        }
    }
}

impl RetryPolicy {
    /// The wait before trying `squad`'s step again after its `failed`-th failed attempt
    /// (from 1), which failed with `kind`. Half the capped backoff is fixed, the other half
    /// drawn from the seed, the squad and the attempt; a rate limit waits at least as long
    /// as the service asked.
    pub fn delay(&self, squad: &SquadId, failed: u32, kind: FailureKind) -> Duration {
        let doublings = failed.saturating_sub(1).min(32);
        let backoff = self
            .base_delay
            .saturating_mul(1u32 << doublings.min(31))
            .min(self.max_delay);
        let half = backoff / 2;
        let spread = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let draw = splitmix64(self.jitter_seed ^ fnv1a(squad.as_str()) ^ u64::from(failed));
        let jitter = if spread == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(draw % (spread + 1))
        };
        let delay = (backoff - half) + jitter;
        match kind {
            FailureKind::RateLimited { retry_after } => delay.max(retry_after),
            _ => delay,
        }
    }
}

/// FNV-1a over the bytes of `text`: a stable hash, unlike std's randomly seeded one.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One step of SplitMix64: spreads nearby inputs over the whole range.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(seed: u64) -> RetryPolicy {
        RetryPolicy {
            attempts: 6,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(10),
            jitter_seed: seed,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_its_upper_half() {
        let squad = SquadId::new("sq-1");
        let policy = policy(7);
        let ceilings = [2, 4, 8, 10, 10];
        for (failed, ceiling) in (1..).zip(ceilings) {
            let ceiling = Duration::from_secs(ceiling);
            let delay = policy.delay(&squad, failed, FailureKind::Transient);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "attempt {failed}: {delay:?} outside {:?}..={ceiling:?}",
                ceiling / 2
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_delays_and_squads_are_spread() {
        let a = SquadId::new("sq-a");
        let b = SquadId::new("sq-b");
        let delays = |policy: &RetryPolicy, squad: &SquadId| -> Vec<Duration> {
            (1..=4)
                .map(|failed| policy.delay(squad, failed, FailureKind::Transient))
                .collect()
        };
        assert_eq!(delays(&policy(7), &a), delays(&policy(7), &a));
        assert_ne!(delays(&policy(7), &a), delays(&policy(7), &b));
        assert_ne!(delays(&policy(7), &a), delays(&policy(8), &a));
    }

    #[test]
    fn a_rate_limit_waits_at_least_as_long_as_asked() {
        let squad = SquadId::new("sq-1");
        let asked = Duration::from_secs(60);
        let delay = policy(1).delay(&squad, 1, FailureKind::RateLimited { retry_after: asked });
        assert_eq!(delay, asked);
    }

    #[test]
    fn zero_delays_stay_zero() {
        let policy = RetryPolicy {
            attempts: 3,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            jitter_seed: 3,
        };
        let delay = policy.delay(&SquadId::new("sq-1"), 2, FailureKind::Transient);
        assert_eq!(delay, Duration::ZERO);
    }
}
