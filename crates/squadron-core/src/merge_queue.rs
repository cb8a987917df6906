//! The merge queue: a merge train, one merge at a time per base branch. The scheduler holds
//! it; nothing else hands out merge tickets.
//!
//! A squad whose PR passed the gate joins the lane of its base branch and waits there,
//! unchanged, until the lane hands it the ticket, first come first served; a merge that
//! lands keeps the others waiting in order. Only the ticket holder is brought up to date:
//! its head merged with the current base is tested first (a failure is the squad's to fix,
//! on its branch rebased onto that base, and nothing merges); GitHub merges its head as it
//! is when it can (its approvals stay valid), and only a PR that conflicts with the moved
//! base, or whose base requires up-to-date branches, is rebased, verified, pushed and
//! reviewed again; a reviewer whose approved change the rebase left identical renews its
//! approval without a model call.
//!
//! Stop the line: after a merge lands the lane stays held while the test command runs on
//! the new base head. When it fails there (two changes that each passed alone but break the
//! suite together) the lane stops: it hands out no ticket until a person resumes it, and
//! the failing merge and the one before it are named.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use crate::domain::{IssueKey, PrNumber, SquadId};
use crate::gate::CommitSha;
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

/// Why a PR must be rebased before it may merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RebaseReason {
    /// The base moved on: its tests and reviews were on an older base.
    Behind,
    /// It no longer merges cleanly.
    Conflicts,
    /// Its head merged with the current base fails the test command, though the head alone
    /// passes: the base moved on in a way the change does not fit, and the squad fixes it
    /// on its branch brought up to date.
    MergeFailsTests,
}

impl RebaseReason {
    /// Why the branch is rebased onto `base`, as the gate's reasons and the agents read it.
    pub fn describe(self, base: &str) -> String {
        match self {
            RebaseReason::Behind => format!("the branch is behind {base}"),
            RebaseReason::Conflicts => format!("the branch conflicts with {base}"),
            RebaseReason::MergeFailsTests => {
                format!("the branch merged with the current {base} fails the test command")
            }
        }
    }
}

/// What the code host says about a PR relative to its base, read when its gate is read.
/// Being behind the base is no reason to rebase by itself: the host merges a PR that is
/// behind unless the base requires up-to-date branches, and then refuses the merge, which
/// is when the ticket holder is rebased.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseRelation {
    /// The host's mergeability: `None` while it is still computing.
    pub mergeable: Option<bool>,
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
    /// Decides whether the PR may join its lane or must be rebased first.
    pub const fn verdict(self) -> RecheckVerdict {
        match self.mergeable {
            Some(false) => RecheckVerdict::Rebase(RebaseReason::Conflicts),
            None => RecheckVerdict::AskAgain,
            Some(true) => RecheckVerdict::Proceed,
        }
    }
}

/// A merge that landed on a lane's base: what a stopped lane names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LandedMerge {
    /// The squad whose PR merged.
    pub squad: SquadId,
    /// Its issue.
    pub issue: IssueKey,
    /// Its PR.
    pub pr: Option<PrNumber>,
    /// The merge commit: the base head it made.
    pub sha: CommitSha,
}

/// Why a lane stopped: the test command failed on the base head a merge made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaneStop {
    /// The lane.
    pub lane: MergeLane,
    /// The merge after which the base's tests failed.
    pub failing: LandedMerge,
    /// The merge that landed on the lane before it, when Squadron knows it: together they
    /// may break what each passed alone.
    pub previous: Option<LandedMerge>,
    /// What the test command reported, cut to its end.
    pub output: String,
}

/// How the test command ended on a base head after a merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BaseVerdict {
    /// The suite passed: the lane goes on.
    Passed,
    /// The suite failed: the lane stops. The text is what it printed, cut to its end.
    Failed(String),
    /// The test could not be run (no test command, or the checkout failed after its
    /// retries): the lane goes on, as the PR's own checks passed, and the reason is logged.
    Untested(String),
}

/// What [`MergeQueue::base_tested`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BaseTested {
    /// The lane goes on; the tested merge is its last landed one.
    Freed(LandedMerge),
    /// The lane stopped.
    Stopped(LaneStop),
    /// The lane was testing no such head: nothing changed.
    NotTesting,
}

#[derive(Debug, Default)]
struct Lane {
    merging: Option<QueuedMerge>,
    waiting: VecDeque<QueuedMerge>,
    /// A landed merge whose base head is being tested; the lane stays held meanwhile.
    testing: Option<LandedMerge>,
    /// Set when the base's tests failed: no ticket until a person resumes the lane.
    stopped: Option<LaneStop>,
}

impl Lane {
    /// Whether the lane may hand its next ticket out.
    fn free(&self) -> bool {
        self.merging.is_none() && self.testing.is_none() && self.stopped.is_none()
    }

    /// Whether nothing about the lane needs remembering beyond its last landed merge.
    fn idle(&self) -> bool {
        self.free() && self.waiting.is_empty()
    }
}

/// Merge lanes, one per base branch of a repository.
#[derive(Debug, Default)]
pub struct MergeQueue {
    lanes: BTreeMap<MergeLane, Lane>,
    /// The last merge whose base head passed (or went untested) per lane: the "previous"
    /// merge a stop names. One entry per lane ever used, not per merge.
    last_landed: BTreeMap<MergeLane, LandedMerge>,
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
        self.start_merges_with(|_| false)
    }

    /// [`MergeQueue::start_merges`], where a stopped lane with no merge in flight or under
    /// test hands its ticket to the first waiting squad `restores` says may pass the stop (a
    /// revert: the way out); the others keep waiting.
    pub fn start_merges_with(&mut self, restores: impl Fn(&SquadId) -> bool) -> Vec<QueuedMerge> {
        let mut started = Vec::new();
        for lane in self.lanes.values_mut() {
            let next = if lane.free() {
                lane.waiting.pop_front()
            } else if lane.merging.is_none() && lane.testing.is_none() {
                lane.waiting
                    .iter()
                    .position(|entry| restores(&entry.squad))
                    .and_then(|at| lane.waiting.remove(at))
            } else {
                None
            };
            if let Some(next) = next {
                lane.merging = Some(next.clone());
                started.push(next);
            }
        }
        started
    }

    /// Records that the ticket holder's attempt ended, landed or not, and frees its lane for
    /// the next waiting PR. The others keep their places and their heads: a landed merge
    /// sends nobody back to rebase (see the module docs). Returns whether the squad held a
    /// ticket.
    pub fn finish(&mut self, squad: &SquadId) -> bool {
        let Some((lane_key, lane)) = self.lanes.iter_mut().find(|(_, lane)| {
            lane.merging
                .as_ref()
                .is_some_and(|entry| entry.squad == *squad)
        }) else {
            return false;
        };
        lane.merging = None;
        let lane = lane_key.clone();
        self.forget_if_idle(&lane);
        true
    }

    /// Holds `lane` while the base head `landed` made is tested, and returns the merge
    /// before it (the other half of a pair that may break the suite together). Call it
    /// before [`MergeQueue::finish`] frees the ticket, so no other PR merges in between.
    pub fn test_base(&mut self, lane: &MergeLane, landed: LandedMerge) -> Option<LandedMerge> {
        self.lanes.entry(lane.clone()).or_default().testing = Some(landed);
        self.last_landed.get(lane).cloned()
    }

    /// Records how the test of the base head `sha` ended: a pass (or a test that could not
    /// run) frees the lane, a failure stops it. A verdict for a head the lane is not testing
    /// changes nothing.
    pub fn base_tested(
        &mut self,
        lane: &MergeLane,
        sha: &CommitSha,
        verdict: &BaseVerdict,
    ) -> BaseTested {
        let Some(held) = self.lanes.get_mut(lane) else {
            return BaseTested::NotTesting;
        };
        let Some(landed) = held.testing.take_if(|landed| landed.sha == *sha) else {
            return BaseTested::NotTesting;
        };
        let previous = self.last_landed.insert(lane.clone(), landed.clone());
        let tested = match verdict {
            BaseVerdict::Passed | BaseVerdict::Untested(_) => BaseTested::Freed(landed),
            BaseVerdict::Failed(output) => {
                let stop = LaneStop {
                    lane: lane.clone(),
                    failing: landed,
                    previous,
                    output: output.clone(),
                };
                held.stopped = Some(stop.clone());
                BaseTested::Stopped(stop)
            }
        };
        self.forget_if_idle(lane);
        tested
    }

    /// Stops a lane as recorded before a restart.
    pub fn restore_stop(&mut self, stop: LaneStop) {
        let lane = stop.lane.clone();
        self.last_landed
            .entry(lane.clone())
            .or_insert_with(|| stop.failing.clone());
        self.lanes.entry(lane).or_default().stopped = Some(stop);
    }

    /// Opens a stopped lane again (a person acted); returns the stop it lifted, `None` when
    /// the lane was not stopped.
    pub fn resume(&mut self, lane: &MergeLane) -> Option<LaneStop> {
        let stop = self.lanes.get_mut(lane)?.stopped.take();
        self.forget_if_idle(lane);
        stop
    }

    /// Why `lane` is stopped, if it is.
    pub fn stopped(&self, lane: &MergeLane) -> Option<&LaneStop> {
        self.lanes.get(lane).and_then(|lane| lane.stopped.as_ref())
    }

    /// Every stopped lane's stop, in lane order.
    pub fn stops(&self) -> impl Iterator<Item = &LaneStop> {
        self.lanes.values().filter_map(|lane| lane.stopped.as_ref())
    }

    /// Whether a merge of `squad` landed and its base head is still being tested.
    pub fn testing(&self, squad: &SquadId) -> bool {
        self.lanes.values().any(|lane| {
            lane.testing
                .as_ref()
                .is_some_and(|landed| landed.squad == *squad)
        })
    }

    fn forget_if_idle(&mut self, lane: &MergeLane) {
        if self.lanes.get(lane).is_some_and(Lane::idle) {
            self.lanes.remove(lane);
        }
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
    fn a_landed_merge_keeps_the_waiting_prs_in_order_and_hands_the_next_the_ticket() {
        let mut queue = MergeQueue::new();
        queue.enqueue(entry("a", "main"));
        queue.enqueue(entry("b", "main"));
        queue.enqueue(entry("c", "main"));
        queue.enqueue(entry("d", "release"));
        queue.start_merges();

        assert!(queue.finish(&SquadId::from("a")));
        assert_eq!(queue.position(&SquadId::from("b")), Some(0));
        assert_eq!(queue.position(&SquadId::from("c")), Some(1));
        assert_eq!(
            queue.merging(&lane("release")),
            Some(&entry("d", "release"))
        );
        assert!(queue.merging(&lane("main")).is_none());
        assert_eq!(queue.start_merges(), vec![entry("b", "main")]);
    }

    #[test]
    fn only_a_conflict_sends_a_pr_back_to_rebase_and_an_unknown_answer_is_asked_again() {
        let relation = |mergeable| BaseRelation { mergeable }.verdict();
        assert_eq!(relation(Some(true)), RecheckVerdict::Proceed);
        assert_eq!(
            relation(Some(false)),
            RecheckVerdict::Rebase(RebaseReason::Conflicts)
        );
        assert_eq!(relation(None), RecheckVerdict::AskAgain);
    }

    #[test]
    fn a_refused_merge_frees_the_lane_for_the_next_pr() {
        let mut queue = MergeQueue::new();
        queue.enqueue(entry("a", "main"));
        queue.enqueue(entry("b", "main"));
        queue.start_merges();

        assert!(queue.finish(&SquadId::from("a")));
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
        assert!(queue.finish(&SquadId::from("a")));
        assert_eq!(queue.start_merges(), Vec::new(), "b withdrew");
    }

    #[test]
    fn finishing_a_squad_without_a_ticket_changes_nothing() {
        let mut queue = MergeQueue::new();
        queue.enqueue(entry("a", "main"));
        assert!(!queue.finish(&SquadId::from("a")));
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
        queue.finish(&SquadId::from("a"));
        assert_eq!(queue.start_merges(), vec![entry("b", "main")]);
    }

    fn landed(squad: &str, sha: &str) -> LandedMerge {
        LandedMerge {
            squad: SquadId::from(squad),
            issue: IssueKey::new(format!("ENG-{squad}")),
            pr: Some(PrNumber(7)),
            sha: CommitSha::new(sha),
        }
    }

    #[test]
    fn a_lane_under_test_hands_out_no_ticket_and_a_failure_stops_it_naming_both_merges() {
        let mut queue = MergeQueue::new();
        queue.enqueue(entry("a", "main"));
        queue.enqueue(entry("b", "main"));
        queue.start_merges();
        assert_eq!(queue.test_base(&lane("main"), landed("a", "a1")), None);
        queue.finish(&SquadId::from("a"));
        assert!(
            queue.start_merges().is_empty(),
            "held while a's base is tested"
        );
        assert!(queue.testing(&SquadId::from("a")));

        let passed = queue.base_tested(&lane("main"), &CommitSha::new("a1"), &BaseVerdict::Passed);
        assert_eq!(passed, BaseTested::Freed(landed("a", "a1")));
        assert_eq!(queue.start_merges(), vec![entry("b", "main")]);
        assert_eq!(
            queue.test_base(&lane("main"), landed("b", "b1")),
            Some(landed("a", "a1")),
            "the merge before is known"
        );
        queue.finish(&SquadId::from("b"));
        queue.enqueue(entry("c", "main"));
        let failed = BaseVerdict::Failed("boom".into());
        let BaseTested::Stopped(stop) =
            queue.base_tested(&lane("main"), &CommitSha::new("b1"), &failed)
        else {
            panic!("the lane should stop");
        };
        assert_eq!(stop.failing, landed("b", "b1"));
        assert_eq!(stop.previous, Some(landed("a", "a1")));
        assert!(queue.start_merges().is_empty(), "stopped");
        assert_eq!(queue.stopped(&lane("main")), Some(&stop));
        assert_eq!(queue.position(&SquadId::from("c")), Some(0));

        assert_eq!(queue.resume(&lane("main")), Some(stop));
        assert_eq!(queue.resume(&lane("main")), None);
        assert_eq!(queue.start_merges(), vec![entry("c", "main")]);
    }

    #[test]
    fn a_verdict_for_another_head_changes_nothing() {
        let mut queue = MergeQueue::new();
        queue.test_base(&lane("main"), landed("a", "a1"));
        let verdict = BaseVerdict::Failed("boom".into());
        assert_eq!(
            queue.base_tested(&lane("main"), &CommitSha::new("zz"), &verdict),
            BaseTested::NotTesting
        );
        assert_eq!(
            queue.base_tested(&lane("release"), &CommitSha::new("a1"), &verdict),
            BaseTested::NotTesting
        );
        assert!(queue.testing(&SquadId::from("a")));
    }
}
