//! The merge queue: one merge at a time per base branch, and what follows a merge. The
//! scheduler holds it; nothing else hands out merge tickets.
//!
//! A squad whose PR passed the gate joins the lane of its base branch. The lane hands out
//! one merge ticket at a time, first come first served. When a merge lands, every other PR
//! waiting in that lane leaves it to be re-checked against the new base: its tests ran on
//! the old base, so one that is behind or conflicts must be rebased, re-verified, pushed and
//! re-reviewed (its old approvals no longer match the head, by construction).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use crate::domain::SquadId;
use crate::ports::RepoRef;

/// One merge lane: a base branch of one repository. PRs of different repositories never
/// wait for each other, even when their bases share a name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MergeLane {
    /// The repository.
    pub repo: RepoRef,
    /// The branch its PRs merge into.
    pub base: String,
}

impl fmt::Display for MergeLane {
    /// `acme/shop:main`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repo, self.base)
    }
}

/// A PR waiting to merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedMerge {
    /// The squad that owns the PR.
    pub squad: SquadId,
    /// The lane it merges through.
    pub lane: MergeLane,
}

/// What [`MergeQueue::enqueue`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    /// Joined the lane; `ahead` merges go first (counting one in flight).
    Joined {
        /// How many PRs merge before this one.
        ahead: usize,
    },
    /// The squad was already queued or merging; nothing changed.
    AlreadyQueued,
}

/// How a merge attempt ended, as the caller reports it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeAttempt {
    /// The merge landed on the base branch.
    Landed,
    /// The merge did not happen (the gate no longer passed, or the host answered 405/409).
    /// The squad re-reads its PR and re-decides; it may enqueue again.
    NotMerged,
}

/// Why a PR must be rebased before it may merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RebaseReason {
    /// The base moved on: its tests and reviews were on an older base.
    Behind,
    /// It no longer merges cleanly.
    Conflicts,
}

/// What the code host and git say about a PR relative to its base, read just before merging
/// or after another PR of the same base landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseRelation {
    /// The host's mergeability: `None` while it is still computing.
    pub mergeable: Option<bool>,
    /// Whether the PR's head contains the base branch's current tip.
    pub contains_base_tip: bool,
}

/// What to do with a PR after reading its [`BaseRelation`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecheckVerdict {
    /// Up to date and clean: run the gate and merge if it passes.
    Proceed,
    /// Rebase onto the new base in the squad's worktree, re-run guardrails, push with lease,
    /// and get re-reviewed.
    Rebase(RebaseReason),
    /// The host is still computing mergeability: read again shortly.
    AskAgain,
}

impl BaseRelation {
    /// Decides whether the PR may go on to merge or must be rebased first. Conflicts win
    /// over being behind because they also need the developer's attention during the rebase.
    pub const fn verdict(self) -> RecheckVerdict {
        match (self.mergeable, self.contains_base_tip) {
            (Some(false), _) => RecheckVerdict::Rebase(RebaseReason::Conflicts),
            (_, false) => RecheckVerdict::Rebase(RebaseReason::Behind),
            (None, true) => RecheckVerdict::AskAgain,
            (Some(true), true) => RecheckVerdict::Proceed,
        }
    }
}

/// What the caller must do after reporting a merge attempt.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AfterMerge {
    /// PRs that left the lane because the base moved: re-read each one's [`BaseRelation`]
    /// and act on its [`RecheckVerdict`].
    pub recheck: Vec<QueuedMerge>,
}

#[derive(Debug, Default)]
struct Lane {
    merging: Option<QueuedMerge>,
    waiting: VecDeque<QueuedMerge>,
}

/// Merge lanes, one per base branch of a repository.
#[derive(Debug, Default)]
pub struct MergeQueue {
    lanes: BTreeMap<MergeLane, Lane>,
}

impl MergeQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a gate-approved PR to its base's lane, once.
    pub fn enqueue(&mut self, entry: QueuedMerge) -> Enqueued {
        if self.position(&entry.squad).is_some() {
            return Enqueued::AlreadyQueued;
        }
        let lane = self.lanes.entry(entry.lane.clone()).or_default();
        let ahead = lane.waiting.len() + usize::from(lane.merging.is_some());
        lane.waiting.push_back(entry);
        Enqueued::Joined { ahead }
    }

    /// Seats a squad that was merging before a restart as its lane's ticket holder, so no
    /// other PR of the base merges while its merge may still land. Should the lane be held
    /// already, it goes first among the waiting instead. Returns whether it holds the ticket.
    pub fn resume_merge(&mut self, entry: QueuedMerge) -> bool {
        if self.position(&entry.squad).is_some() {
            return self.position(&entry.squad) == Some(0);
        }
        let lane = self.lanes.entry(entry.lane.clone()).or_default();
        if lane.merging.is_none() {
            lane.merging = Some(entry);
            true
        } else {
            lane.waiting.push_front(entry);
            false
        }
    }

    /// Removes a waiting squad (cancelled, blocked again, or gone to rebase). A squad that
    /// holds a merge ticket stays until [`MergeQueue::finish`] reports its attempt, so a
    /// merge in flight is never forgotten. Returns whether it was waiting.
    pub fn withdraw(&mut self, squad: &SquadId) -> bool {
        for lane in self.lanes.values_mut() {
            if let Some(index) = lane.waiting.iter().position(|entry| entry.squad == *squad) {
                lane.waiting.remove(index);
                return true;
            }
        }
        false
    }

    /// Hands a merge ticket to the first waiting PR of every lane that has no merge in
    /// flight. The caller re-reads each ticket holder's PR, checks its [`BaseRelation`] and
    /// the gate, merges with the head SHA as a guard, then calls [`MergeQueue::finish`].
    pub fn start_merges(&mut self) -> Vec<QueuedMerge> {
        let mut started = Vec::new();
        for lane in self.lanes.values_mut() {
            if lane.merging.is_none()
                && let Some(next) = lane.waiting.pop_front()
            {
                lane.merging = Some(next.clone());
                started.push(next);
            }
        }
        started
    }

    /// Records how the ticket holder's attempt ended and frees its lane. After a landed
    /// merge every PR still waiting on that base leaves the lane to be re-checked.
    pub fn finish(&mut self, squad: &SquadId, attempt: MergeAttempt) -> AfterMerge {
        let Some((lane_key, lane)) = self.lanes.iter_mut().find(|(_, lane)| {
            lane.merging
                .as_ref()
                .is_some_and(|entry| entry.squad == *squad)
        }) else {
            return AfterMerge::default();
        };
        lane.merging = None;
        let recheck = match attempt {
            MergeAttempt::Landed => lane.waiting.drain(..).collect(),
            MergeAttempt::NotMerged => Vec::new(),
        };
        let lane = lane_key.clone();
        if self
            .lanes
            .get(&lane)
            .is_some_and(|lane| lane.merging.is_none() && lane.waiting.is_empty())
        {
            self.lanes.remove(&lane);
        }
        AfterMerge { recheck }
    }

    /// The squad merging through `lane`, if any.
    pub fn merging(&self, lane: &MergeLane) -> Option<&QueuedMerge> {
        self.lanes.get(lane).and_then(|lane| lane.merging.as_ref())
    }

    /// How many merges go before the squad's (0 when it holds the ticket); `None` when it
    /// is not queued.
    pub fn position(&self, squad: &SquadId) -> Option<usize> {
        self.lanes.values().find_map(|lane| {
            if lane
                .merging
                .as_ref()
                .is_some_and(|entry| entry.squad == *squad)
            {
                return Some(0);
            }
            let index = lane
                .waiting
                .iter()
                .position(|entry| entry.squad == *squad)?;
            Some(index + usize::from(lane.merging.is_some()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(base: &str) -> MergeLane {
        MergeLane {
            repo: RepoRef::new("acme", "shop"),
            base: base.to_owned(),
        }
    }

    fn entry(squad: &str, base: &str) -> QueuedMerge {
        QueuedMerge {
            squad: SquadId::from(squad),
            lane: lane(base),
        }
    }

    #[test]
    fn one_merge_at_a_time_per_base_in_arrival_order() {
        let mut queue = MergeQueue::new();
        assert_eq!(
            queue.enqueue(entry("a", "main")),
            Enqueued::Joined { ahead: 0 }
        );
        assert_eq!(
            queue.enqueue(entry("b", "main")),
            Enqueued::Joined { ahead: 1 }
        );
        assert_eq!(
            queue.enqueue(entry("c", "release")),
            Enqueued::Joined { ahead: 0 }
        );

        let started = queue.start_merges();
        assert_eq!(started, vec![entry("a", "main"), entry("c", "release")]);
        assert!(
            queue.start_merges().is_empty(),
            "both lanes already have a merge in flight"
        );
        assert_eq!(queue.position(&SquadId::from("b")), Some(1));
        assert_eq!(queue.merging(&lane("main")), Some(&entry("a", "main")));
    }

    #[test]
    fn a_squad_joins_once() {
        let mut queue = MergeQueue::new();
        queue.enqueue(entry("a", "main"));
        assert_eq!(queue.enqueue(entry("a", "main")), Enqueued::AlreadyQueued);
        queue.start_merges();
        assert_eq!(queue.enqueue(entry("a", "main")), Enqueued::AlreadyQueued);
    }

    #[test]
    fn a_landed_merge_sends_every_waiting_pr_of_that_base_to_recheck() {
        let mut queue = MergeQueue::new();
        queue.enqueue(entry("a", "main"));
        queue.enqueue(entry("b", "main"));
        queue.enqueue(entry("c", "main"));
        queue.enqueue(entry("d", "release"));
        queue.start_merges();

        let after = queue.finish(&SquadId::from("a"), MergeAttempt::Landed);
        assert_eq!(after.recheck, vec![entry("b", "main"), entry("c", "main")]);
        assert_eq!(queue.position(&SquadId::from("b")), None);
        assert_eq!(
            queue.merging(&lane("release")),
            Some(&entry("d", "release"))
        );
        assert!(queue.merging(&lane("main")).is_none());
    }

    #[test]
    fn a_refused_merge_frees_the_lane_for_the_next_pr() {
        let mut queue = MergeQueue::new();
        queue.enqueue(entry("a", "main"));
        queue.enqueue(entry("b", "main"));
        queue.start_merges();

        let after = queue.finish(&SquadId::from("a"), MergeAttempt::NotMerged);
        assert!(after.recheck.is_empty(), "the base did not move");
        assert_eq!(queue.start_merges(), vec![entry("b", "main")]);
        assert_eq!(queue.position(&SquadId::from("a")), None);
    }

    #[test]
    fn withdrawing_removes_a_waiting_squad_but_not_a_merge_in_flight() {
        let mut queue = MergeQueue::new();
        queue.enqueue(entry("a", "main"));
        queue.enqueue(entry("b", "main"));
        queue.start_merges();
        assert!(!queue.withdraw(&SquadId::from("a")));
        assert!(queue.withdraw(&SquadId::from("b")));
        assert_eq!(
            queue.finish(&SquadId::from("a"), MergeAttempt::Landed),
            AfterMerge::default()
        );
    }

    #[test]
    fn finishing_a_squad_without_a_ticket_changes_nothing() {
        let mut queue = MergeQueue::new();
        queue.enqueue(entry("a", "main"));
        assert_eq!(
            queue.finish(&SquadId::from("a"), MergeAttempt::Landed),
            AfterMerge::default()
        );
        assert_eq!(queue.start_merges(), vec![entry("a", "main")]);
    }

    #[test]
    fn lanes_are_per_repository_even_when_bases_share_a_name() {
        let mut queue = MergeQueue::new();
        let other = QueuedMerge {
            squad: SquadId::from("b"),
            lane: MergeLane {
                repo: RepoRef::new("acme", "billing"),
                base: "main".to_owned(),
            },
        };
        queue.enqueue(entry("a", "main"));
        queue.enqueue(other.clone());
        assert_eq!(queue.start_merges(), vec![other, entry("a", "main")]);
    }

    #[test]
    fn a_merge_resumed_after_a_restart_holds_its_lane() {
        let mut queue = MergeQueue::new();
        assert!(queue.resume_merge(entry("a", "main")));
        assert!(!queue.resume_merge(entry("b", "main")), "the lane is held");
        assert_eq!(queue.position(&SquadId::from("b")), Some(1));
        queue.enqueue(entry("c", "main"));
        assert!(queue.start_merges().is_empty(), "a holds the lane");
        queue.finish(&SquadId::from("a"), MergeAttempt::NotMerged);
        assert_eq!(queue.start_merges(), vec![entry("b", "main")]);
    }

    #[test]
    fn behind_or_conflicting_prs_need_a_rebase() {
        let verdict = |mergeable, contains_base_tip| {
            BaseRelation {
                mergeable,
                contains_base_tip,
            }
            .verdict()
        };
        assert_eq!(verdict(Some(true), true), RecheckVerdict::Proceed);
        assert_eq!(verdict(None, true), RecheckVerdict::AskAgain);
        assert_eq!(
            verdict(Some(true), false),
            RecheckVerdict::Rebase(RebaseReason::Behind)
        );
        assert_eq!(
            verdict(None, false),
            RecheckVerdict::Rebase(RebaseReason::Behind)
        );
        assert_eq!(
            verdict(Some(false), true),
            RecheckVerdict::Rebase(RebaseReason::Conflicts)
        );
        assert_eq!(
            verdict(Some(false), false),
            RecheckVerdict::Rebase(RebaseReason::Conflicts)
        );
    }
}
