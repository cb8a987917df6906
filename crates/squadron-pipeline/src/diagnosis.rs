//! A bug fix's diagnosis in the squad's event log: recorded before it is posted, read back by
//! every later step (its plan stands in for the refined issue) and after a restart.

use squadron_core::ports::Confidence;
use squadron_core::{SquadId, StepFailure};
use squadron_harness::Diagnosis;

use crate::shared::Shared;

/// Kind of the event-log entry holding a squad's diagnosis.
pub(crate) const DIAGNOSIS_EVENT: &str = "diagnosis";

/// Records the diagnosis in the squad's event log.
pub(crate) async fn record(
    shared: &Shared,
    squad: &SquadId,
    diagnosis: &Diagnosis,
) -> Result<(), StepFailure> {
    let payload = serde_json::json!({
        "hypothesis": diagnosis.hypothesis,
        "plan": diagnosis.plan,
        "confidence": diagnosis.confidence.as_str(),
        "files": diagnosis.files,
    });
    shared
        .services
        .store
        .append_event(
            squad,
            DIAGNOSIS_EVENT,
            &payload.to_string(),
            shared.services.clock.now(),
        )
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
        .find(|event| event.kind == DIAGNOSIS_EVENT)
    else {
        return Ok(None);
    };
    let payload: serde_json::Value = serde_json::from_str(&event.payload).map_err(|error| {
        StepFailure::internal(format!("read the recorded diagnosis of {squad}")).caused_by(&error)
    })?;
    let text = |name: &str| {
        payload
            .get(name)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let confidence = match text("confidence").as_str() {
        "high" => Confidence::High,
        "medium" => Confidence::Medium,
        "low" => Confidence::Low,
        other => {
            return Err(StepFailure::internal(format!(
                "read the recorded diagnosis of {squad}: unknown confidence `{other}`"
            )));
        }
    };
    let files = payload
        .get("files")
        .and_then(serde_json::Value::as_array)
        .map(|files| {
            files
                .iter()
                .filter_map(serde_json::Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(Diagnosis {
        hypothesis: text("hypothesis"),
        plan: text("plan"),
        confidence,
        files,
    }))
}
