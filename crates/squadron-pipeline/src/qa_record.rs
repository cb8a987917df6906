//! The squad's record of QA's files in its event log: stored after every change QA makes,
//! read back when a restarted squad prepares its worktree, so that after a restart the
//! Developer still cannot change QA's tests and only QA's versions of them are committed.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use squadron_core::event_payload::{EventPayload, QaFile};
use squadron_core::ports::{Clock, PortError, Store};
use squadron_core::{SquadId, StepFailure};
use squadron_harness::{QaFiles, QaFilesJournal, QaVersion};

use crate::shared::Shared;

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
        let files = versions
            .iter()
            .map(|(path, version)| QaFile {
                path: path.clone(),
                digest: match version {
                    QaVersion::Written(digest) => Some(digest.clone()),
                    QaVersion::Deleted => None,
                },
            })
            .collect();
        let payload = EventPayload::QaFiles { files };
        self.store
            .record_event(&self.squad, &payload, self.clock.now())
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
        .find(|event| event.kind == EventPayload::QA_FILES)
    {
        let Some(EventPayload::QaFiles { files }) = &event.note else {
            return Err(StepFailure::internal(format!(
                "read the record of QA's files of {squad}: the stored record is malformed"
            )));
        };
        versions.extend(files.iter().map(|file| {
            let version = match &file.digest {
                Some(digest) => QaVersion::Written(digest.clone()),
                None => QaVersion::Deleted,
            };
            (file.path.clone(), version)
        }));
    }
    let journal = EventLogJournal {
        store: Arc::clone(&shared.services.store),
        clock: Arc::clone(&shared.services.clock),
        squad: squad.clone(),
    };
    Ok(QaFiles::new(versions).with_journal(Arc::new(journal)))
}
