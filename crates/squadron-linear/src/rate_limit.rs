//! One rate limiter for every squad of the daemon: Linear's limits are per credential, so
//! all requests made with it share the budget Linear reports.
//!
//! The limiter learns the budget from `x-ratelimit-requests-*` and
//! `x-ratelimit-complexity-*` headers and slows down before it runs out: once less than a
//! tenth of a window remains, the remaining requests are spread evenly until its reset. A
//! `ratelimited` answer pauses everyone for its `retry-after`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::HeaderMap;
use squadron_core::Timestamp;
use squadron_core::ports::Clock;

/// Below this share of a window's limit the limiter starts pacing.
const SLOW_DOWN_FRACTION: f64 = 0.1;
/// Pacing threshold when Linear does not report the window's limit.
const SLOW_DOWN_DEFAULT: u64 = 50;

/// One budget Linear reports: requests or query complexity.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    limit: Option<u64>,
    remaining: Option<u64>,
    reset_at: Option<Timestamp>,
}

impl Window {
    fn observe(&mut self, headers: &HeaderMap, name: &str) {
        let read = |suffix: &str| {
            headers
                .get(format!("x-ratelimit-{name}-{suffix}"))
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<i64>().ok())
        };
        if let Some(limit) = read("limit") {
            self.limit = u64::try_from(limit).ok();
        }
        if let Some(remaining) = read("remaining") {
            self.remaining = Some(u64::try_from(remaining).unwrap_or(0));
        }
        if let Some(reset) = read("reset") {
            self.reset_at = Some(Timestamp::from_millis(reset));
        }
    }

    /// How long the next request should wait for this window, counting it as spent.
    fn take(&mut self, now: Timestamp) -> Duration {
        let (Some(remaining), Some(reset_at)) = (self.remaining, self.reset_at) else {
            return Duration::ZERO;
        };
        if reset_at <= now {
            // The window has reset; the next answer will report the new budget.
            self.remaining = None;
            return Duration::ZERO;
        }
        let threshold = self.limit.map_or(SLOW_DOWN_DEFAULT, |limit| {
            ((limit as f64) * SLOW_DOWN_FRACTION).ceil() as u64
        });
        let until_reset = reset_at.since(now);
        self.remaining = Some(remaining.saturating_sub(1));
        if remaining == 0 {
            until_reset
        } else if remaining <= threshold {
            until_reset / u32::try_from(remaining + 1).unwrap_or(u32::MAX)
        } else {
            Duration::ZERO
        }
    }
}

#[derive(Debug, Default)]
struct LimiterState {
    requests: Window,
    complexity: Window,
    /// No request before this (set by `retry-after` or a spent window).
    paused_until: Option<Timestamp>,
    /// Earliest start of the next request when pacing, so concurrent squads queue up
    /// instead of all waking at once.
    next_slot: Option<Timestamp>,
}

/// The rate limiter shared (through an [`Arc`]) by every client of one credential.
pub struct RateLimiter {
    clock: Arc<dyn Clock>,
    state: Mutex<LimiterState>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter that reads the time from `clock` (Linear reports resets in Unix ms).
    pub fn new(clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            clock,
            state: Mutex::new(LimiterState::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LimiterState> {
        // Every update is a plain field assignment, so a poisoned lock still holds sane data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long the next request must wait; books its slot.
    pub fn reserve(&self) -> Duration {
        let now = self.clock.now();
        let mut state = self.state();
        let paused = state
            .paused_until
            .map_or(Duration::ZERO, |until| until.since(now));
        let pace = state.requests.take(now).max(state.complexity.take(now));
        let slot = state
            .next_slot
            .map_or(Duration::ZERO, |slot| slot.since(now));
        let wait = paused.max(slot + pace);
        state.next_slot = (pace > Duration::ZERO).then(|| now + wait);
        wait
    }

    /// Waits until the next request may go.
    pub async fn acquire(&self) {
        let wait = self.reserve();
        if wait > Duration::ZERO {
            tracing::debug!(wait_ms = wait.as_millis(), "pacing Linear requests");
            tokio::time::sleep(wait).await;
        }
    }

    /// Learns the budget from a response's headers.
    pub fn observe(&self, headers: &HeaderMap) {
        let mut state = self.state();
        state.requests.observe(headers, "requests");
        state.complexity.observe(headers, "complexity");
    }

    /// Pauses every request for `wait` (a `retry-after`, or until the window resets).
    pub fn pause_for(&self, wait: Duration) {
        let until = self.clock.now() + wait;
        let mut state = self.state();
        state.paused_until = Some(
            state
                .paused_until
                .map_or(until, |current| current.max(until)),
        );
    }

    /// How long until the requests window resets, if Linear said.
    pub fn until_reset(&self) -> Option<Duration> {
        let now = self.clock.now();
        self.state()
            .requests
            .reset_at
            .filter(|reset| *reset > now)
            .map(|reset| reset.since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    struct Fixed(i64);
    impl Clock for Fixed {
        fn now(&self) -> Timestamp {
            Timestamp::from_millis(self.0)
        }
    }

    fn headers(limit: u64, remaining: u64, reset: i64) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-requests-limit", HeaderValue::from(limit));
        headers.insert(
            "x-ratelimit-requests-remaining",
            HeaderValue::from(remaining),
        );
        headers.insert("x-ratelimit-requests-reset", HeaderValue::from(reset));
        headers
    }

    #[test]
    fn full_budget_goes_at_once() {
        let limiter = RateLimiter::new(Arc::new(Fixed(0)));
        limiter.observe(&headers(1500, 1400, 60_000));
        assert_eq!(limiter.reserve(), Duration::ZERO);
    }

    #[test]
    fn low_budget_is_spread_until_the_reset_before_it_runs_out() {
        let limiter = RateLimiter::new(Arc::new(Fixed(0)));
        limiter.observe(&headers(100, 3, 40_000));
        // Three left for 40 s: one every 10 s, queued one after the other.
        assert_eq!(limiter.reserve(), Duration::from_secs(10));
        assert_eq!(limiter.reserve().as_millis(), 10_000 + 13_333);
        assert!(
            limiter.reserve() > Duration::from_secs(40),
            "the last request waits for the reset"
        );
    }

    #[test]
    fn retry_after_pauses_everyone() {
        let limiter = RateLimiter::new(Arc::new(Fixed(0)));
        limiter.pause_for(Duration::from_secs(7));
        assert_eq!(limiter.reserve(), Duration::from_secs(7));
    }
}
