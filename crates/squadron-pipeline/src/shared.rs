//! What every task of the runtime shares: the ports and settings, the harness, and each
//! squad's chat thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use squadron_core::SquadId;
use squadron_core::ports::ThreadRef;
use squadron_harness::Harness;

use crate::activity::Activity;
use crate::services::{PipelineSettings, Services};

/// What the runtime's tasks share.
pub(crate) struct Shared {
    pub services: Services,
    pub settings: PipelineSettings,
    pub harness: Harness,
    /// Which agents are at work, for the live view.
    pub activity: Activity,
    /// Each squad's chat thread once known (`None`: it reports nowhere). A cell, so the
    /// two reviewers' verdicts racing to post cannot start two threads.
    threads: Mutex<HashMap<SquadId, ThreadCell>>,
}

type ThreadCell = Arc<tokio::sync::OnceCell<Option<ThreadRef>>>;

impl Shared {
    /// The shared state of a runtime over `services` with `settings`.
    pub fn new(services: Services, settings: PipelineSettings) -> Self {
        let harness = Harness::new(services.store.clone(), services.clock.clone());
        Self {
            services,
            settings,
            harness,
            activity: Activity::new(),
            threads: Mutex::new(HashMap::new()),
        }
    }

    /// The cell holding a squad's chat thread, created on first use.
    pub fn thread_cell(&self, squad: &SquadId) -> ThreadCell {
        let mut threads = self
            .threads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(threads.entry(squad.clone()).or_default())
    }
}
