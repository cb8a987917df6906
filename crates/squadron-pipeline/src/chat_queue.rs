//! The chat posts waiting to be made, per squad in the order they were queued; `notify`
//! makes them. A squad is in the queue while it has posts waiting or in flight and leaves it
//! when they are done, so a finished squad leaves nothing behind here.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use squadron_core::ports::SquadUpdate;
use squadron_core::{IssueKey, SquadId};
use tokio::sync::watch;

/// The squad a post is about, as its thread's opening shows it.
#[derive(Clone, Debug)]
pub(crate) struct Subject {
    pub squad: SquadId,
    pub issue: IssueKey,
    pub title: String,
    pub url: String,
}

/// One queued post.
#[derive(Debug)]
pub(crate) enum ChatJob {
    /// Start the squad's thread if it has none yet.
    Open,
    /// Post an update under the key `<squad>/notify/<what>`.
    Post { what: String, update: SquadUpdate },
}

/// Per squad, the posts not made yet.
#[derive(Debug)]
pub(crate) struct ChatQueue {
    squads: Mutex<HashMap<SquadId, VecDeque<(Subject, ChatJob)>>>,
    /// How many squads have posts waiting or in flight.
    busy: watch::Sender<usize>,
}

impl ChatQueue {
    pub(crate) fn new() -> Self {
        Self {
            squads: Mutex::new(HashMap::new()),
            busy: watch::Sender::new(0),
        }
    }

    /// Queues `job` for `subject`'s squad. Returns whether the squad had nothing queued or
    /// in flight, so a task must be started to make its posts (one that takes them with
    /// [`ChatQueue::next`] until it returns `None`).
    pub(crate) fn push(&self, subject: &Subject, job: ChatJob) -> bool {
        let mut squads = self.squads.lock().unwrap_or_else(PoisonError::into_inner);
        match squads.entry(subject.squad.clone()) {
            Entry::Occupied(mut queued) => {
                queued.get_mut().push_back((subject.clone(), job));
                false
            }
            Entry::Vacant(vacant) => {
                vacant.insert(VecDeque::from([(subject.clone(), job)]));
                self.busy.send_modify(|busy| *busy += 1);
                true
            }
        }
    }

    /// The squad's next post; `None`, once all are taken, also ends the squad's turn, and
    /// its next post starts a new task.
    pub(crate) fn next(&self, squad: &SquadId) -> Option<(Subject, ChatJob)> {
        let mut squads = self.squads.lock().unwrap_or_else(PoisonError::into_inner);
        let queued = squads.get_mut(squad)?;
        if let Some(job) = queued.pop_front() {
            return Some(job);
        }
        squads.remove(squad);
        self.busy.send_modify(|busy| *busy -= 1);
        None
    }

    /// Waits up to `grace` for every queued post to be made (or to fail), as a stopping
    /// runtime does: a foreground run ends right after its last squad, whose last post
    /// would otherwise never be made.
    pub(crate) async fn flush(&self, grace: Duration) {
        let mut busy = self.busy.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let drained = tokio::time::timeout(grace, busy.wait_for(|busy| *busy == 0)).await;
        if drained.is_err() {
            let squads = *self.busy.borrow();
            tracing::warn!(
                squads,
                "stopped with chat posts still queued; they are not made"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(squad: &str) -> Subject {
        Subject {
            squad: SquadId::new(squad),
            issue: IssueKey::from("ENG-1"),
            title: String::new(),
            url: String::new(),
        }
    }

    fn merged() -> ChatJob {
        ChatJob::Post {
            what: "merged".to_owned(),
            update: SquadUpdate::NeedsHuman {
                reason: "r".to_owned(),
            },
        }
    }

    #[test]
    fn a_squads_posts_come_out_in_order_and_its_entry_goes_when_they_are_taken() {
        let queue = ChatQueue::new();
        let (a, b) = (subject("a"), subject("b"));
        assert!(
            queue.push(&a, ChatJob::Open),
            "a's first post starts a's task"
        );
        assert!(!queue.push(&a, merged()), "a's task is running");
        assert!(queue.push(&b, ChatJob::Open), "b has a task of its own");
        assert_eq!(*queue.busy.borrow(), 2);

        assert!(matches!(queue.next(&a.squad), Some((_, ChatJob::Open))));
        assert!(
            !queue.push(&a, ChatJob::Open),
            "queued behind the one in flight"
        );
        assert!(matches!(
            queue.next(&a.squad),
            Some((_, ChatJob::Post { .. }))
        ));
        assert!(matches!(queue.next(&a.squad), Some((_, ChatJob::Open))));
        assert!(queue.next(&a.squad).is_none());
        assert_eq!(*queue.busy.borrow(), 1, "a left the queue");
        assert!(queue.push(&a, merged()), "a's next post starts a new task");
    }
}
