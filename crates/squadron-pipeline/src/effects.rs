//! Journaled side effects: every action on the outside world is claimed in the store under
//! an idempotency key first, so a restarted runtime never repeats one that happened and
//! reconciles one that may have.

use std::future::Future;

use squadron_core::StepFailure;
use squadron_core::effect::{EffectKey, EffectResult};
use squadron_core::ports::JournalBegin;

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
/// result, read back as the effect's own result type `R`.
///
/// `perform(attempt)` does the effect; when an earlier attempt may have done it already,
/// `perform` must look at the outside world first (every effect here is find-or-create or
/// checks before it writes). A failed attempt is recorded as failed, so the next one may
/// begin.
pub(crate) async fn once<R, F, Fut>(
    shared: &Shared,
    key: &EffectKey,
    perform: F,
) -> Result<R, StepFailure>
where
    R: Into<EffectResult> + TryFrom<EffectResult, Error = EffectResult>,
    F: FnOnce(Attempt) -> Fut,
    Fut: Future<Output = Result<R, StepFailure>>,
{
    let store = &shared.services.store;
    let kind = key.kind();
    let squad = key.squad();
    let now = shared.services.clock.now();
    let begin = store
        .journal_begin(key, now)
        .await
        .map_err(|error| StepFailure::port(format!("journal `{key}`"), &error))?;
    let attempt = match begin {
        JournalBegin::AlreadyDone(result) => {
            tracing::debug!(%key, "side effect already done; not repeating it");
            return read_back(key, result);
        }
        JournalBegin::Begun { attempt } => {
            if attempt > 1 {
                tracing::info!(
                    event = RETRY,
                    what = kind,
                    %key,
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
                %key,
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
            let result = result.into();
            store
                .journal_complete(key, &result, shared.services.clock.now())
                .await
                .map_err(|error| StepFailure::port(format!("journal `{key}` as done"), &error))?;
            read_back(key, result)
        }
        Err(failure) => {
            if let Err(journal) = store
                .journal_fail(key, &failure.to_string(), shared.services.clock.now())
                .await
            {
                tracing::warn!(%key, %journal, "could not journal a failed side effect");
            }
            Err(failure)
        }
    }
}

/// The recorded result of the effect `key`, if it is done, as its own result type `R`.
pub(crate) async fn recorded<R>(shared: &Shared, key: &EffectKey) -> Result<Option<R>, StepFailure>
where
    R: TryFrom<EffectResult, Error = EffectResult>,
{
    let result = shared
        .services
        .store
        .journal_result(key)
        .await
        .map_err(|error| StepFailure::port(format!("read the journal of `{key}`"), &error))?;
    result.map(|result| read_back(key, result)).transpose()
}

/// `result` as the result type of the effect `key`; another type is a bug in Squadron.
pub(crate) fn read_back<R>(key: &EffectKey, result: EffectResult) -> Result<R, StepFailure>
where
    R: TryFrom<EffectResult, Error = EffectResult>,
{
    R::try_from(result).map_err(|other| {
        StepFailure::internal(format!(
            "read the journaled result of `{key}`: it is {}, not what the effect produces",
            other.name()
        ))
    })
}
