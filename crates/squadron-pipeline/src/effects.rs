//! Journaled side effects: every action on the outside world is claimed in the store under
//! an idempotency key first, so a restarted runtime never repeats one that happened and
//! reconciles one that may have.

use std::future::Future;

use squadron_core::ports::JournalBegin;
use squadron_core::{SquadId, StepFailure};

use crate::log_events::{self, RETRY};
use crate::shared::Shared;

/// Which attempt at an effect this is, and what the earlier ones may have left behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// Nothing was tried before.
    First,
    /// An earlier attempt reported a failure. It may still have happened: a timeout or a
    /// dropped connection loses the answer to a request the service carried out.
    AfterFailure,
    /// An earlier attempt began and never reported back (the process was killed).
    Interrupted,
}

impl Attempt {
    /// Whether an earlier attempt may have done the effect already.
    pub(crate) fn may_have_happened(self) -> bool {
        self != Attempt::First
    }
}

/// Performs the effect `key` once across restarts and retries and returns its recorded
/// result.
///
/// `perform(attempt)` does the effect; when an earlier attempt may have done it already,
/// `perform` must look at the outside world first (every effect here is find-or-create or
/// checks before it writes). A failed attempt is recorded as failed, so the next one may
/// begin.
pub(crate) async fn once<F, Fut>(
    shared: &Shared,
    key: &str,
    squad: Option<&SquadId>,
    kind: &str,
    perform: F,
) -> Result<String, StepFailure>
where
    F: FnOnce(Attempt) -> Fut,
    Fut: Future<Output = Result<String, StepFailure>>,
{
    let store = &shared.services.store;
    let now = shared.services.clock.now();
    let begin = store
        .journal_begin(key, squad, kind, now)
        .await
        .map_err(|error| StepFailure::port(format!("journal `{key}`"), &error))?;
    let attempt = match begin {
        JournalBegin::AlreadyDone(result) => {
            tracing::debug!(key, "side effect already done; not repeating it");
            return Ok(result);
        }
        JournalBegin::Begun { attempt } => {
            if attempt > 1 {
                tracing::info!(
                    event = RETRY,
                    what = kind,
                    key,
                    attempt,
                    "retrying a side effect whose last attempt failed"
                );
                if let Some(squad) = squad {
                    log_events::retried(shared, squad, kind, attempt, "its last attempt failed")
                        .await;
                }
            }
            if attempt > 1 {
                Attempt::AfterFailure
            } else {
                Attempt::First
            }
        }
        JournalBegin::InProgress(entry) => {
            tracing::info!(
                event = RETRY,
                what = kind,
                key,
                attempt = entry.attempts + 1,
                "reconciling a side effect interrupted mid-flight"
            );
            if let Some(squad) = squad {
                let why = "its last attempt was interrupted; checking whether it happened";
                log_events::retried(shared, squad, kind, entry.attempts + 1, why).await;
            }
            Attempt::Interrupted
        }
    };
    match perform(attempt).await {
        Ok(result) => {
            store
                .journal_complete(key, &result, shared.services.clock.now())
                .await
                .map_err(|error| StepFailure::port(format!("journal `{key}` as done"), &error))?;
            Ok(result)
        }
        Err(failure) => {
            if let Err(journal) = store
                .journal_fail(key, &failure.to_string(), shared.services.clock.now())
                .await
            {
                tracing::warn!(key, %journal, "could not journal a failed side effect");
            }
            Err(failure)
        }
    }
}
