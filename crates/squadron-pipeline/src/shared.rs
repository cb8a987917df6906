//! What every task of the runtime shares: the ports and settings, the harness, and the
//! queue of chat posts.

use std::sync::{Arc, Weak};

use squadron_harness::Harness;

use crate::activity::Activity;
use crate::chat_queue::ChatQueue;
use crate::services::{PipelineSettings, Services};

/// What the runtime's tasks share.
pub(crate) struct Shared {
    pub services: Services,
    pub settings: PipelineSettings,
    pub harness: Harness,
    /// Which agents are at work, for the live view.
    pub activity: Activity,
    /// Chat posts on their way to each squad's thread.
    pub chat: ChatQueue,
    /// This state's own handle, for tasks that outlive the step that starts them.
    me: Weak<Shared>,
}

impl Shared {
    /// The shared state of a runtime over `services` with `settings`.
    pub fn new(services: Services, settings: PipelineSettings) -> Arc<Self> {
        let harness = Harness::new(services.store.clone(), services.clock.clone());
        Arc::new_cyclic(|shared| Self {
            services,
            settings,
            harness,
            activity: Activity::new(),
            chat: ChatQueue::new(),
            me: shared.clone(),
        })
    }

    /// A handle on this state for a task of its own; `None` once the runtime is gone.
    pub fn arc(&self) -> Option<Arc<Shared>> {
        self.me.upgrade()
    }
}
