//! [`SlackNotifier`]: the [`Notifier`] port over `chat.postMessage`, one thread per squad.
//!
//! A key being posted, or among the last [`REMEMBERED_POSTS`] posted by this process, is
//! answered from memory and not posted again, even when two tasks race on it. Older keys are
//! forgotten, so a long-running daemon keeps nothing per finished squad here: the runtime's
//! journal records every post it made and never asks for one again, across restarts too.
//! Each message also carries its key as Slack message metadata, so it can be recognised in
//! the channel later.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use squadron_core::ports::{MessageTs, Notifier, PortError, SquadUpdate, ThreadOpening, ThreadRef};
use tokio::sync::OnceCell;

use crate::client::{PostMessage, SlackClient};
use crate::error::SlackError;
use crate::message::{MessageContent, render_opening, render_update};

/// How many posted keys a notifier remembers after their posts were made.
pub const REMEMBERED_POSTS: usize = 256;

/// Posts squad progress to Slack threads.
#[derive(Debug)]
pub struct SlackNotifier {
    client: SlackClient,
    posts: Mutex<Posts>,
    /// How many posted keys to remember ([`REMEMBERED_POSTS`]).
    remembered_posts: usize,
}

/// The keys a notifier knows: those being posted and the last ones posted.
#[derive(Debug, Default)]
struct Posts {
    /// Posts being made, one cell per key shared by every task asking for it; a cell stays
    /// empty after a failed post, so the next task tries again. The last task to let go of
    /// a key's cell removes it.
    in_flight: HashMap<String, Arc<OnceCell<ThreadRef>>>,
    /// Where the last posts landed, by key.
    done: HashMap<String, ThreadRef>,
    /// The keys of `done`, oldest first.
    order: VecDeque<String>,
}

impl Posts {
    /// Remembers that `key` was posted to `posted`, forgetting the oldest key beyond `keep`.
    fn remember(&mut self, key: &str, posted: &ThreadRef, keep: usize) {
        if self.done.contains_key(key) {
            return;
        }
        self.done.insert(key.to_owned(), posted.clone());
        self.order.push_back(key.to_owned());
        while self.order.len() > keep {
            if let Some(oldest) = self.order.pop_front() {
                self.done.remove(&oldest);
            }
        }
    }
}

/// What a task asking to post a key finds.
enum Claim<'a> {
    /// The key was posted, there.
    Posted(ThreadRef),
    /// The key is to be posted, or is being posted by another task.
    Posting(Flight<'a>),
}

/// A task's hold on a key's cell; letting go (the post ended, failed or was abandoned)
/// records a made post and removes the cell once no task holds it.
struct Flight<'a> {
    notifier: &'a SlackNotifier,
    key: &'a str,
    cell: Arc<OnceCell<ThreadRef>>,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut posts = self.notifier.posts();
        if let Some(posted) = self.cell.get() {
            posts.remember(self.key, posted, self.notifier.remembered_posts);
        }
        // Holders take and let go of their cells under this lock, so the count is exact.
        drop(std::mem::take(&mut self.cell));
        if posts
            .in_flight
            .get(self.key)
            .is_some_and(|cell| Arc::strong_count(cell) == 1)
        {
            posts.in_flight.remove(self.key);
        }
    }
}

impl SlackNotifier {
    /// A notifier posting through `client`.
    pub fn new(client: SlackClient) -> Self {
        Self::remembering(client, REMEMBERED_POSTS)
    }

    /// A notifier remembering the last `keep` posted keys.
    fn remembering(client: SlackClient, keep: usize) -> Self {
        Self {
            client,
            posts: Mutex::new(Posts::default()),
            remembered_posts: keep,
        }
    }

    fn posts(&self) -> MutexGuard<'_, Posts> {
        // Every update is a few inserts and removals, so a poisoned lock still holds sane data.
        self.posts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where `key` was posted, if it is remembered; else a hold on its cell.
    fn claim<'a>(&'a self, key: &'a str) -> Claim<'a> {
        let mut posts = self.posts();
        if let Some(posted) = posts.done.get(key) {
            return Claim::Posted(posted.clone());
        }
        let cell = Arc::clone(posts.in_flight.entry(key.to_owned()).or_default());
        Claim::Posting(Flight {
            notifier: self,
            key,
            cell,
        })
    }

    /// Posts `content` once per `key`; returns where the (first) post landed.
    async fn post_once(
        &self,
        key: &str,
        channel: &str,
        thread_ts: Option<&MessageTs>,
        content: MessageContent,
    ) -> Result<ThreadRef, SlackError> {
        let flight = match self.claim(key) {
            Claim::Posted(posted) => return Ok(posted),
            Claim::Posting(flight) => flight,
        };
        let message = PostMessage {
            channel: channel.to_owned(),
            content,
            thread_ts: thread_ts.map(|ts| ts.as_str().to_owned()),
            key: Some(key.to_owned()),
        };
        let posted = flight
            .cell
            .get_or_try_init(|| async {
                let posted = self.client.post_message(&message).await?;
                tracing::debug!(key, channel = %posted.channel, ts = %posted.ts, "posted to Slack");
                Ok::<_, SlackError>(ThreadRef {
                    channel: posted.channel,
                    ts: MessageTs::new(posted.ts),
                })
            })
            .await?
            .clone();
        drop(flight);
        Ok(posted)
    }

    /// How many keys this notifier holds, being posted or posted.
    #[cfg(test)]
    fn known_keys(&self) -> usize {
        let posts = self.posts();
        posts.in_flight.len() + posts.done.len()
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use squadron_core::{IssueKey, SquadId};
    use squadron_standin_slack::StandinSlack;

    use super::*;

    const CHANNEL: &str = "C0ALERTS";
    const KEEP: usize = 8;

    fn opening(squad: &str) -> ThreadOpening {
        ThreadOpening {
            squad: SquadId::new(squad),
            issue: IssueKey::new("ENG-1"),
            title: "A title".to_owned(),
            issue_url: "https://linear.app/acme/issue/ENG-1".to_owned(),
            requested_by: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn squad_after_squad_the_notifier_holds_no_more_keys_than_it_remembers() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let standin = StandinSlack::start().await.expect("stand-in starts");
        let client = SlackClient::with_channel_interval(
            &standin.api_url(),
            StandinSlack::BOT_TOKEN,
            Duration::ZERO,
        )
        .expect("client builds");
        let notifier = SlackNotifier::remembering(client, KEEP);
        let squads = 40;
        let mut held = Vec::new();
        for n in 0..squads {
            let squad = format!("sq-{n}");
            let thread_key = format!("squad/{squad}/thread");
            let thread = notifier
                .start_thread(&thread_key, CHANNEL, &opening(&squad))
                .await
                .expect("thread");
            for what in ["pr-opened", "review", "merged"] {
                let update = SquadUpdate::NeedsHuman {
                    reason: format!("{squad} {what}"),
                };
                let key = format!("squad/{squad}/notify/{what}");
                let (one, two) = tokio::join!(
                    notifier.post_update(&key, &thread, &update),
                    notifier.post_update(&key, &thread, &update),
                );
                assert_eq!(one.expect("posted"), two.expect("the same post"));
            }
            let again = notifier
                .start_thread(&thread_key, CHANNEL, &opening(&squad))
                .await
                .expect("the same thread");
            assert_eq!(again, thread, "a key just posted is answered from memory");
            held.push(notifier.known_keys());
        }
        assert_eq!(
            standin.messages().len(),
            squads * 4,
            "every key posted once"
        );
        assert_eq!(held[0], 4, "{held:?}");
        assert!(
            held[1..].iter().all(|&keys| keys == KEEP),
            "the keys held stay at {KEEP} however many squads posted: {held:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_post_leaves_no_key_behind_and_may_be_tried_again() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let standin = StandinSlack::start().await.expect("stand-in starts");
        standin.remove_channel("C0GONE");
        let client =
            SlackClient::new(&standin.api_url(), StandinSlack::BOT_TOKEN).expect("client builds");
        let notifier = SlackNotifier::remembering(client, KEEP);
        for _ in 0..2 {
            notifier
                .start_thread("squad/sq-1/thread", "C0GONE", &opening("sq-1"))
                .await
                .expect_err("the channel is gone");
            assert_eq!(notifier.known_keys(), 0);
        }
        notifier
            .start_thread("squad/sq-1/thread", CHANNEL, &opening("sq-1"))
            .await
            .expect("posted once the channel is right");
        assert_eq!(notifier.known_keys(), 1);
    }
}
