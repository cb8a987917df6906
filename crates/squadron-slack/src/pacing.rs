//! Pacing posts per channel: Slack allows about one message per second in a channel, and a
//! `ratelimited` answer's `Retry-After` holds that channel back for everyone.
//!
//! Time is tokio's, so tests pause and advance it instead of sleeping.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Slack's sustained rate for `chat.postMessage` in one channel.
pub const DEFAULT_CHANNEL_INTERVAL: Duration = Duration::from_secs(1);

/// The next free slot of each channel whose slot is still ahead; a channel whose slot has
/// passed is free now and is forgotten.
#[derive(Debug)]
pub(crate) struct ChannelPacer {
    interval: Duration,
    next_slot: Mutex<HashMap<String, Instant>>,
}

impl ChannelPacer {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            next_slot: Mutex::new(HashMap::new()),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        // Every update is one insert, so a poisoned lock still holds sane data.
        self.next_slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Books the channel's next slot and waits for it. Concurrent posts to one channel
    /// queue up one interval apart instead of all waking at once.
    pub(crate) async fn acquire(&self, channel: &str) {
        let now = Instant::now();
        let slot = {
            let mut slots = self.slots();
            slots.retain(|_, slot| *slot > now);
            let slot = slots.get(channel).copied().unwrap_or(now).max(now);
            slots.insert(channel.to_owned(), slot + self.interval);
            slot
        };
        if slot > now {
            tracing::debug!(
                channel,
                wait_ms = (slot - now).as_millis(),
                "pacing Slack posts"
            );
            tokio::time::sleep_until(slot).await;
        }
    }

    /// Holds the channel back for `wait` (a `Retry-After`).
    pub(crate) fn pause(&self, channel: &str, wait: Duration) {
        let until = Instant::now() + wait;
        let mut slots = self.slots();
        let slot = slots.entry(channel.to_owned()).or_insert(until);
        *slot = (*slot).max(until);
    }
}
