//! The squad's record of QA's files in its event log: stored after every change QA makes,
//! read back when a restarted squad prepares its worktree, so that after a restart the
//! Developer still cannot change QA's tests and only QA's versions of them are committed.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use squadron_core::ports::{Clock, PortError, Store};
use squadron_core::{SquadId, StepFailure};
use squadron_harness::{QaFiles, QaFilesJournal, QaVersion};

use crate::shared::Shared;

/// Kind of the event-log entry holding the whole record, the latest one standing.
const QA_FILES_EVENT: &str = "qa-files";

/// Stores the record in the squad's event log.
struct EventLogJournal {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    squad: SquadId,
}

impl fmt::Debug for EventLogJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLogJournal")
            .field("squad", &self.squad)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl QaFilesJournal for EventLogJournal {
    async fn save(&self, versions: &BTreeMap<String, QaVersion>) -> Result<(), PortError> {
        let files: Vec<serde_json::Value> = versions
            .iter()
            .map(|(path, version)| match version {
                QaVersion::Written(digest) => serde_json::json!({"path": path, "digest": digest}),
                QaVersion::Deleted => serde_json::json!({"path": path, "deleted": true}),
            })
            .collect();
        let payload = serde_json::json!({ "files": files });
        self.store
            .append_event(
                &self.squad,
                QA_FILES_EVENT,
                &payload.to_string(),
                self.clock.now(),
            )
            .await
            .map(drop)
    }
}

/// The squad's record of QA's files as last stored (empty for a new squad), storing every
/// change from now on.
pub(crate) async fn restored(shared: &Shared, squad: &SquadId) -> Result<QaFiles, StepFailure> {
    let events = shared
        .services
        .store
        .events(squad)
        .await
        .map_err(|error| StepFailure::port(format!("read the event log of {squad}"), &error))?;
    let mut versions = Vec::new();
    if let Some(event) = events
        .iter()
        .rev()
        .find(|event| event.kind == QA_FILES_EVENT)
    {
        let unreadable = || {
            StepFailure::internal(format!(
                "read the record of QA's files of {squad}: the stored record is malformed"
            ))
        };
        let payload: serde_json::Value =
            serde_json::from_str(&event.payload).map_err(|_| unreadable())?;
        let files = payload
            .get("files")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(unreadable)?;
        for file in files {
            let path = file
                .get("path")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(unreadable)?;
            let version = match file.get("digest").and_then(serde_json::Value::as_str) {
                Some(digest) => QaVersion::Written(digest.to_owned()),
                None if file.get("deleted") == Some(&serde_json::Value::Bool(true)) => {
                    QaVersion::Deleted
                }
                None => return Err(unreadable()),
            };
            versions.push((path.to_owned(), version));
        }
    }
    let journal = EventLogJournal {
        store: Arc::clone(&shared.services.store),
        clock: Arc::clone(&shared.services.clock),
        squad: squad.clone(),
    };
    Ok(QaFiles::new(versions).with_journal(Arc::new(journal)))
}
