//! GitHub's primary and secondary rate limits, honoured by every request of every squad.
//!
//! One [`RateLimiter`] is shared by all clients of a daemon. Each response is shown to it;
//! when GitHub says the budget is spent (`x-ratelimit-remaining: 0` until
//! `x-ratelimit-reset`) or refuses with a secondary limit (`retry-after`), the limiter holds
//! every later request until the time GitHub named, instead of letting squads hammer it.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, StatusCode};
use tokio::time::Instant;

/// The longest wait the limiter accepts from headers; a larger value is a clock skew or a
/// misbehaving proxy, and a squad should fail visibly rather than hang for hours.
const MAX_WAIT: Duration = Duration::from_secs(60 * 60);

/// GitHub's advice when a 429 carries no header: wait at least one minute.
const DEFAULT_SECONDARY_WAIT: Duration = Duration::from_secs(60);

/// Shared by every GitHub client of a daemon; see the module docs.
#[derive(Debug, Default)]
pub struct RateLimiter {
    resume_at: Mutex<Option<Instant>>,
    /// The request budget the last response that stated one stated.
    last_budget: Mutex<Option<RequestBudget>>,
}

/// GitHub's request budget as one response states it (`x-ratelimit-*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestBudget {
    /// Requests allowed per window.
    pub limit: u64,
    /// Requests left in the window.
    pub remaining: u64,
    /// When the window resets, in seconds since the Unix epoch.
    pub resets_at_unix: u64,
}

/// What the limiter knows now, for operators: read-only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimitState {
    /// The budget the last response stated; the three role identities have a budget each,
    /// so this is the one of whichever identity was served last.
    pub budget: Option<RequestBudget>,
    /// How long every request is still held back, when GitHub asked for a pause.
    pub paused_for: Option<Duration>,
}

/// What one response says about rate limiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimitVerdict {
    /// The request was served (or refused for another reason).
    Served,
    /// The request was refused for rate limiting and may be sent again after `wait`.
    Refused {
        /// How long GitHub asked to wait.
        wait: Duration,
    },
}

impl RateLimiter {
    /// A limiter with no wait pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until GitHub accepts requests again, if it asked for a pause.
    pub async fn ready(&self) {
        let resume_at = *self.lock();
        if let Some(resume_at) = resume_at
            && resume_at > Instant::now()
        {
            tracing::info!(
                wait_ms = (resume_at - Instant::now()).as_millis(),
                "waiting for the GitHub rate limit"
            );
            tokio::time::sleep_until(resume_at).await;
        }
    }

    /// What the limiter knows now: the last stated budget and any pause in force.
    pub fn state(&self) -> RateLimitState {
        let now = Instant::now();
        RateLimitState {
            budget: *self
                .last_budget
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            paused_for: self
                .lock()
                .filter(|resume_at| *resume_at > now)
                .map(|resume_at| resume_at - now),
        }
    }

    /// Learns from a response; returns whether it was a rate-limit refusal.
    pub fn observe(&self, status: StatusCode, headers: &HeaderMap) -> RateLimitVerdict {
        if let (Some(limit), Some(remaining), Some(resets_at_unix)) = (
            header_u64(headers, "x-ratelimit-limit"),
            header_u64(headers, "x-ratelimit-remaining"),
            header_u64(headers, "x-ratelimit-reset"),
        ) {
            *self
                .last_budget
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(RequestBudget {
                limit,
                remaining,
                resets_at_unix,
            });
        }
        let verdict = classify(status, headers, unix_now());
        let pause = match verdict {
            RateLimitVerdict::Refused { wait } => Some(wait),
            // A served request that spent the last unit of budget: pause the others now
            // rather than collect a refusal each.
            RateLimitVerdict::Served if header_u64(headers, "x-ratelimit-remaining") == Some(0) => {
                reset_wait(headers, unix_now())
            }
            RateLimitVerdict::Served => None,
        };
        if let Some(wait) = pause {
            let until = Instant::now() + wait;
            let mut resume_at = self.lock();
            if resume_at.is_none_or(|current| current < until) {
                *resume_at = Some(until);
            }
        }
        verdict
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        // The guarded value is a plain `Option<Instant>` that is always valid, so a panic
        // in another holder cannot leave it half-written.
        self.resume_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Sorts a response into served or rate-limited, following GitHub's documented rules: a
/// 403 or 429 with `retry-after`, or with `x-ratelimit-remaining: 0`, is a rate limit; a
/// bare 429 is one too; a bare 403 is a real permission error.
pub fn classify(status: StatusCode, headers: &HeaderMap, now_unix: u64) -> RateLimitVerdict {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return RateLimitVerdict::Served;
    }
    if let Some(seconds) = header_u64(headers, "retry-after") {
        return RateLimitVerdict::Refused {
            wait: Duration::from_secs(seconds).min(MAX_WAIT),
        };
    }
    if header_u64(headers, "x-ratelimit-remaining") == Some(0) {
        let wait = reset_wait(headers, now_unix).unwrap_or(DEFAULT_SECONDARY_WAIT);
        return RateLimitVerdict::Refused { wait };
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return RateLimitVerdict::Refused {
            wait: DEFAULT_SECONDARY_WAIT,
        };
    }
    RateLimitVerdict::Served
}

fn reset_wait(headers: &HeaderMap, now_unix: u64) -> Option<Duration> {
    let reset = header_u64(headers, "x-ratelimit-reset")?;
    // One extra second because GitHub's reset is rounded down to whole seconds.
    Some(Duration::from_secs(reset.saturating_sub(now_unix) + 1).min(MAX_WAIT))
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn secondary_limit_waits_as_long_as_retry_after_says() {
        let verdict = classify(
            StatusCode::FORBIDDEN,
            &headers(&[("retry-after", "30")]),
            1_000,
        );
        assert_eq!(
            verdict,
            RateLimitVerdict::Refused {
                wait: Duration::from_secs(30)
            }
        );
    }

    #[test]
    fn primary_limit_waits_until_the_reset_time() {
        let verdict = classify(
            StatusCode::FORBIDDEN,
            &headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1100"),
            ]),
            1_000,
        );
        assert_eq!(
            verdict,
            RateLimitVerdict::Refused {
                wait: Duration::from_secs(101)
            }
        );
    }

    #[test]
    fn bare_429_waits_a_minute_and_bare_403_is_a_permission_error() {
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), 0),
            RateLimitVerdict::Refused {
                wait: Duration::from_secs(60)
            }
        );
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &HeaderMap::new(), 0),
            RateLimitVerdict::Served
        );
        assert_eq!(
            classify(
                StatusCode::FORBIDDEN,
                &headers(&[("x-ratelimit-remaining", "12")]),
                0
            ),
            RateLimitVerdict::Served
        );
    }

    #[test]
    fn absurd_waits_are_capped() {
        let verdict = classify(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "999999")]),
            0,
        );
        assert_eq!(verdict, RateLimitVerdict::Refused { wait: MAX_WAIT });
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_holds_every_later_request() {
        let limiter = RateLimiter::new();
        let start = Instant::now();
        limiter.ready().await;
        assert_eq!(start.elapsed(), Duration::ZERO);

        limiter.observe(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "5")]),
        );
        limiter.ready().await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        limiter.ready().await;
        assert_eq!(start.elapsed(), Duration::from_secs(5), "the pause is over");
    }

    #[tokio::test]
    async fn the_state_shows_the_last_stated_budget_and_the_pause_in_force() {
        let limiter = RateLimiter::new();
        assert_eq!(limiter.state(), RateLimitState::default());
        limiter.observe(
            StatusCode::OK,
            &headers(&[
                ("x-ratelimit-limit", "5000"),
                ("x-ratelimit-remaining", "4812"),
                ("x-ratelimit-reset", "1800000000"),
            ]),
        );
        assert_eq!(
            limiter.state(),
            RateLimitState {
                budget: Some(RequestBudget {
                    limit: 5000,
                    remaining: 4812,
                    resets_at_unix: 1_800_000_000,
                }),
                paused_for: None,
            }
        );
        limiter.observe(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "30")]),
        );
        let paused = limiter.state().paused_for.expect("a pause in force");
        assert!(
            paused > Duration::from_secs(25) && paused <= Duration::from_secs(30),
            "{paused:?}"
        );
        assert_eq!(
            limiter.state().budget.map(|budget| budget.remaining),
            Some(4812)
        );
    }
}
