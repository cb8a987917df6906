//! Journaled side effects: every action on the outside world is claimed in the store under
//! an idempotency key first, so a restarted runtime never repeats one that happened and
//! reconciles one that may have.

use std::future::Future;

use squadron_core::SquadId;
use squadron_core::ports::JournalBegin;

use crate::log_events::{self, RETRY};
use crate::shared::Shared;

/// Performs the effect `key` once across restarts and returns its recorded result.
///
/// `perform(reconciling)` does the effect; `reconciling` is true when an earlier attempt
/// began and never reported back, so the effect may already have happened: `perform` must
/// then look at the outside world first (every effect here is find-or-create or checks
/// before it writes). A failed attempt is recorded as failed, so the next one may begin.
pub(crate) async fn once<F, Fut>(
    shared: &Shared,
    key: &str,
    squad: Option<&SquadId>,
    kind: &str,
    perform: F,
) -> Result<String, String>
where
    F: FnOnce(bool) -> Fut,
    Fut: Future<Output = Result<String, String>>,
{
    let store = &shared.services.store;
    let now = shared.services.clock.now();
    let begin = store
        .journal_begin(key, squad, kind, now)
        .await
        .map_err(|error| format!("journal `{key}`: {error}"))?;
    let reconciling = match begin {
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
            false
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
            true
        }
    };
    match perform(reconciling).await {
        Ok(result) => {
            store
                .journal_complete(key, &result, shared.services.clock.now())
                .await
                .map_err(|error| format!("journal `{key}` as done: {error}"))?;
            Ok(result)
        }
        Err(error) => {
            if let Err(journal) = store
                .journal_fail(key, &error, shared.services.clock.now())
                .await
            {
                tracing::warn!(key, %journal, "could not journal a failed side effect");
            }
            Err(error)
        }
    }
}
