//! [`SlackNotifier`]: the [`Notifier`] port over `chat.postMessage`, one thread per squad.
//!
//! A key already posted by this process is answered from memory and not posted again, even
//! when two tasks race on it; across restarts the runtime's journal does the same. Each
//! message also carries its key as Slack message metadata, so it can be recognised in the
//! channel later.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use squadron_core::ports::{MessageTs, Notifier, PortError, SquadUpdate, ThreadOpening, ThreadRef};
use tokio::sync::OnceCell;

use crate::client::{PostMessage, SlackClient};
use crate::error::SlackError;
use crate::message::{MessageContent, render_opening, render_update};

/// Posts squad progress to Slack threads.
#[derive(Debug)]
pub struct SlackNotifier {
    client: SlackClient,
    /// What each key produced; a cell stays empty after a failed post, so it may be retried.
    posted: Mutex<HashMap<String, Arc<OnceCell<ThreadRef>>>>,
}

impl SlackNotifier {
    /// A notifier posting through `client`.
    pub fn new(client: SlackClient) -> Self {
        Self {
            client,
            posted: Mutex::new(HashMap::new()),
        }
    }

    fn cell(&self, key: &str) -> Arc<OnceCell<ThreadRef>> {
        // Every update is one insert, so a poisoned lock still holds sane data.
        let mut posted = self.posted.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(posted.entry(key.to_owned()).or_default())
    }

    /// Posts `content` once per `key`; returns where the (first) post landed.
    async fn post_once(
        &self,
        key: &str,
        channel: &str,
        thread_ts: Option<&MessageTs>,
        content: MessageContent,
    ) -> Result<ThreadRef, SlackError> {
        let cell = self.cell(key);
        let message = PostMessage {
            channel: channel.to_owned(),
            content,
            thread_ts: thread_ts.map(|ts| ts.as_str().to_owned()),
            key: Some(key.to_owned()),
        };
        let posted = cell
            .get_or_try_init(|| async {
                let posted = self.client.post_message(&message).await?;
                tracing::debug!(key, channel = %posted.channel, ts = %posted.ts, "posted to Slack");
                Ok::<_, SlackError>(ThreadRef {
                    channel: posted.channel,
                    ts: MessageTs::new(posted.ts),
                })
            })
            .await?;
        Ok(posted.clone())
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    async fn start_thread(
        &self,
        key: &str,
        channel: &str,
        opening: &ThreadOpening,
    ) -> Result<ThreadRef, PortError> {
        Ok(self
            .post_once(key, channel, None, render_opening(opening))
            .await?)
    }

    async fn post_update(
        &self,
        key: &str,
        thread: &ThreadRef,
        update: &SquadUpdate,
    ) -> Result<MessageTs, PortError> {
        let posted = self
            .post_once(
                key,
                &thread.channel,
                Some(&thread.ts),
                render_update(update),
            )
            .await?;
        Ok(posted.ts)
    }
}
