//! What the daemon can reach right now: one check per service it depends on (the store, the
//! runtime, GitHub, Linear), each with when it was last looked at and, when failing, why;
//! and how close each rate-limited service (GitHub, every model provider) is to its limit,
//! as its adapter sees it. `/readyz` and the dashboard read it; `squadron serve` writes it as
//! it starts the runtime and probes the services in the background.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use squadron_core::Timestamp;

/// One service as last checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceCheck {
    /// `store`, `runtime`, `github`, `linear`.
    pub name: String,
    /// Whether it answered as it should.
    pub ok: bool,
    /// What was found: who the credentials belong to, or what failed and what is done
    /// about it.
    pub detail: String,
    /// When it was checked.
    pub checked_at: Timestamp,
}

/// One rate-limited service as its adapter sees it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// `github`, or `model <provider>`.
    pub service: String,
    /// How long its rate limit still holds every request back, if it does.
    pub paused_for: Option<Duration>,
    /// The request budget it last stated, if it states one.
    pub budget: Option<RequestBudget>,
    /// Calls waiting for a reply and their bound, for a service whose calls are bounded.
    pub in_flight: Option<(usize, usize)>,
}

/// A stated request budget: `remaining` of `limit` until `resets_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestBudget {
    /// Requests left.
    pub remaining: u64,
    /// Requests per window.
    pub limit: u64,
    /// When the window resets.
    pub resets_at: Timestamp,
}

impl RateLimit {
    /// Whether the service holds requests back now.
    pub fn paused(&self) -> bool {
        self.paused_for.is_some()
    }

    /// A few words for a chip: `github 4812/5000`, `model openai 2/8`, `github paused 42s`.
    pub fn summary(&self) -> String {
        match (self.paused_for, self.budget, self.in_flight) {
            (Some(wait), _, _) => format!("{} paused {}s", self.service, wait.as_secs().max(1)),
            (None, Some(budget), _) => {
                format!("{} {}/{}", self.service, budget.remaining, budget.limit)
            }
            (None, None, Some((in_flight, max))) => format!("{} {in_flight}/{max}", self.service),
            (None, None, None) => format!("{} ok", self.service),
        }
    }
}

/// The sentence behind the summary.
impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.service)?;
        if let Some(wait) = self.paused_for {
            write!(
                f,
                ": its rate limit holds every request back for {}s more",
                wait.as_secs().max(1)
            )?;
        } else {
            f.write_str(": not rate-limited")?;
        }
        if let Some(budget) = self.budget {
            write!(
                f,
                "; {} of {} requests left until {} (as the last response said)",
                budget.remaining,
                budget.limit,
                super::json::rfc3339(budget.resets_at)
            )?;
        }
        if let Some((in_flight, max)) = self.in_flight {
            write!(f, "; {in_flight} of at most {max} calls in flight")?;
        }
        Ok(())
    }
}

/// Reads every rate-limited service's state; set once the adapters exist.
#[derive(Clone, Default)]
struct RateLimitReader(Option<Arc<dyn Fn() -> Vec<RateLimit> + Send + Sync>>);

impl fmt::Debug for RateLimitReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "RateLimitReader(set)"
        } else {
            "RateLimitReader(unset)"
        })
    }
}

/// The checks, shared between whoever probes and whoever reports.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    checks: Arc<Mutex<Vec<ServiceCheck>>>,
    rate_limits: Arc<Mutex<RateLimitReader>>,
}

impl Readiness {
    /// Nothing checked yet.
    pub fn new() -> Readiness {
        Readiness::default()
    }

    /// Records the outcome of checking `name`, replacing its previous one.
    pub fn record(&self, name: &str, ok: bool, detail: impl Into<String>, at: Timestamp) {
        let check = ServiceCheck {
            name: name.to_owned(),
            ok,
            detail: detail.into(),
            checked_at: at,
        };
        let mut checks = self.checks.lock().unwrap_or_else(PoisonError::into_inner);
        match checks.iter_mut().find(|known| known.name == name) {
            Some(known) => *known = check,
            None => checks.push(check),
        }
    }

    /// Reads the rate-limit state from `read` from now on (the adapters of a runtime that
    /// has just been built).
    pub fn read_rate_limits(&self, read: impl Fn() -> Vec<RateLimit> + Send + Sync + 'static) {
        *self
            .rate_limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = RateLimitReader(Some(Arc::new(read)));
    }

    /// Every rate-limited service's state now; empty before the adapters exist.
    pub fn rate_limits(&self) -> Vec<RateLimit> {
        let reader = self
            .rate_limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        reader.0.map(|read| read()).unwrap_or_default()
    }

    /// Every check, in the order services were first checked.
    pub fn checks(&self) -> Vec<ServiceCheck> {
        self.checks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_says_how_close_the_service_is_to_it() {
        let github = RateLimit {
            service: "github".to_owned(),
            paused_for: None,
            budget: Some(RequestBudget {
                remaining: 4812,
                limit: 5000,
                resets_at: Timestamp::from_millis(1_800_000_000_000),
            }),
            in_flight: None,
        };
        assert_eq!(github.summary(), "github 4812/5000");
        assert_eq!(
            github.to_string(),
            "github: not rate-limited; 4812 of 5000 requests left until \
             2027-01-15T08:00:00Z (as the last response said)"
        );
        let model = RateLimit {
            service: "model openai".to_owned(),
            paused_for: Some(Duration::from_millis(41_500)),
            budget: None,
            in_flight: Some((2, 8)),
        };
        assert!(model.paused());
        assert_eq!(model.summary(), "model openai paused 41s");
        assert_eq!(
            model.to_string(),
            "model openai: its rate limit holds every request back for 41s more; 2 of at \
             most 8 calls in flight"
        );
    }

    #[test]
    fn no_rate_limits_are_known_before_the_adapters_exist() {
        let readiness = Readiness::new();
        assert!(readiness.rate_limits().is_empty());
        readiness.read_rate_limits(|| {
            vec![RateLimit {
                service: "github".to_owned(),
                paused_for: None,
                budget: None,
                in_flight: None,
            }]
        });
        assert_eq!(readiness.rate_limits()[0].summary(), "github ok");
    }
}
