//! What the daemon can reach right now: one check per service it depends on (the store, the
//! runtime, GitHub, Linear), each with when it was last looked at and, when failing, why.
//! `/readyz` and the dashboard read it; `squadron serve` writes it as it starts the runtime
//! and probes the services in the background.

use std::sync::{Arc, Mutex, PoisonError};

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

/// The checks, shared between whoever probes and whoever reports.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    checks: Arc<Mutex<Vec<ServiceCheck>>>,
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

    /// Every check, in the order services were first checked.
    pub fn checks(&self) -> Vec<ServiceCheck> {
        self.checks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
