//! A bug fix's diagnosis in the squad's event log: recorded before it is posted, read back by
//! every later step (its plan stands in for the refined issue) and after a restart.

use squadron_core::event_payload::EventPayload;
use squadron_core::{SquadId, StepFailure};
use squadron_harness::Diagnosis;

use crate::shared::Shared;

/// Records the diagnosis in the squad's event log.
pub(crate) async fn record(
    shared: &Shared,
    squad: &SquadId,
    diagnosis: &Diagnosis,
) -> Result<(), StepFailure> {
    let payload = EventPayload::Diagnosis {
        hypothesis: diagnosis.hypothesis.clone(),
        plan: diagnosis.plan.clone(),
        confidence: diagnosis.confidence,
        files: diagnosis.files.clone(),
    };
    shared
        .services
        .store
        .record_event(squad, &payload, shared.services.clock.now())
        .await
        .map(drop)
        .map_err(|error| StepFailure::port(format!("record the diagnosis of {squad}"), &error))
}

/// The diagnosis recorded in the squad's event log, if any.
pub(crate) async fn recorded(
    shared: &Shared,
    squad: &SquadId,
) -> Result<Option<Diagnosis>, StepFailure> {
    let events = shared
        .services
        .store
        .events(squad)
        .await
        .map_err(|error| StepFailure::port(format!("read the event log of {squad}"), &error))?;
    let Some(event) = events
        .iter()
        .rev()
        .find(|event| event.kind == EventPayload::DIAGNOSIS)
    else {
        return Ok(None);
    };
    let Some(EventPayload::Diagnosis {
        hypothesis,
        plan,
        confidence,
        files,
    }) = &event.note
    else {
        return Err(StepFailure::internal(format!(
            "read the recorded diagnosis of {squad}: the stored diagnosis is malformed"
        )));
    };
    Ok(Some(Diagnosis {
        hypothesis: hypothesis.clone(),
        plan: plan.clone(),
        confidence: *confidence,
        files: files.clone(),
    }))
}
