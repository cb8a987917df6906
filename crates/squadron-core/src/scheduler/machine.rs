//! The scheduler's state machine: squads, runs, and every legal move between phases,
//! including the merge gate's waits and re-asks and the merge lanes per base branch.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::command::{Command, RunSummary, SquadOutcome};
use super::event::{
    BudgetScope, CancelTarget, Event, HandBack, MergeRejection, SkippedSquad, SquadSpec,
    Verification,
};
use super::refusal::Refusal;
use super::retry::RetryPolicy;
use crate::domain::{
    FailureKind, IssueKey, Phase, PrNumber, Priority, ReviewVerdict, RunId, SquadId, SquadKind,
    StepFailure, Timestamp,
};
use crate::gate::{CommitSha, GateBlocker, GateDecision, GateTarget};
use crate::merge_queue::{
    BaseTested, LandedMerge, LaneStop, MergeLane, MergeQueue, QueuedMerge, RebaseReason,
};

mod checks;
mod conflicts;
mod hand_backs;
mod sharing;

use checks::{CiMemory, DEFAULT_CHECK_REPORT_WAIT};

/// The scheduler's limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Squads that may hold a slot (be started and not ended) at once; at least one is
    /// always allowed so a run can make progress.
    pub concurrency: usize,
    /// Review rounds a squad gets; a round that still requests changes at this cap ends
    /// the squad as needs-human. Only rounds in which a reviewer asked for changes count:
    /// reviewing a rebased head again happens within the round.
    pub max_review_rounds: u32,
    /// How long to wait before asking the merge gate again when it said to wait.
    pub gate_retry_after: Duration,
    /// How long to wait before reading a PR again whose mergeability the code host has not
    /// computed yet; the wait doubles for each such answer in a row, for
    /// `mergeability_rechecks` answers, and then is `gate_retry_after`. The host usually
    /// computes it within seconds, so the first reads come soon.
    pub mergeability_recheck: Duration,
    /// How many short, doubling waits for mergeability come before the normal interval.
    pub mergeability_rechecks: u32,
    /// How long the gate may keep saying "wait" before a person is asked to look.
    pub gate_wait_limit: Duration,
    /// How failed steps are tried again.
    pub retry: RetryPolicy,
    /// CI-fix rounds a squad gets for required checks that fail because of its PR, and for
    /// its head merged with the moved base failing the tests, counted apart from review
    /// rounds; then it needs a person.
    pub ci_fix_rounds: u32,
    /// How long the gate waits for a required check that never reported on the head
    /// before naming it to a person.
    pub check_report_wait: Duration,
    /// Stop the line: after each merge the lane stays held while the test command runs on
    /// the new base head, and a failure stops the lane until a person resumes it. Off here
    /// so the lane logic can be tested alone; the shipped configuration turns it on.
    pub test_base_after_merge: bool,
    /// Conflict-resolution rounds a squad gets for rebases that stop on conflicts, counted
    /// apart from review and CI-fix rounds; then it needs a person.
    pub conflict_rounds: u32,
    /// How many times one verification hands failing tests or broken write rules back to
    /// the agents before the squad needs a person.
    pub verify_hand_backs: u32,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            concurrency: 4,
            max_review_rounds: 3,
            gate_retry_after: Duration::from_secs(30),
            mergeability_recheck: Duration::from_secs(1),
            mergeability_rechecks: 4,
            gate_wait_limit: Duration::from_secs(60 * 60),
            retry: RetryPolicy::default(),
            ci_fix_rounds: 2,
            check_report_wait: DEFAULT_CHECK_REPORT_WAIT,
            test_base_after_merge: false,
            conflict_rounds: 2,
            verify_hand_backs: 2,
        }
    }
}

/// A squad as the store kept it, for [`Scheduler::restore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistedSquad {
    /// The run it belongs to.
    pub run: RunId,
    /// Id, issue, kind, priority and blockers, as admitted.
    pub spec: SquadSpec,
    /// The last recorded phase.
    pub phase: Phase,
    /// The last recorded review round.
    pub round: u32,
    /// The PR, once open.
    pub pr: Option<PrNumber>,
    /// CI-fix rounds started, as its event log notes them ([`crate::event_payload::EventPayload::CiFix`]).
    pub ci_fix_rounds: u32,
    /// Conflict-resolution rounds started, as its event log notes them
    /// ([`crate::event_payload::EventPayload::ConflictRound`]).
    pub conflict_rounds: u32,
}

/// A read-only view of one scheduled squad.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SquadStatus<'a> {
    /// The squad.
    pub id: &'a SquadId,
    /// Its run.
    pub run: &'a RunId,
    /// Its issue.
    pub issue: &'a IssueKey,
    /// Where it stands.
    pub phase: &'a Phase,
    /// Its review round (0 before the first review).
    pub round: u32,
    /// Its PR, once open.
    pub pr: Option<PrNumber>,
    /// The lane its PR merges through (`None` for a skipped issue).
    pub lane: Option<&'a MergeLane>,
    /// Approved: how many merges go before its own in its lane (0 when it holds the
    /// ticket); `None` when it is not in the lane.
    pub lane_position: Option<usize>,
    /// Approved and out of its lane: the gate's last answer, why it waits.
    pub gate: Option<&'a GateDecision>,
    /// Approved and in a lane that stopped: why it stopped.
    pub lane_stopped: Option<&'a LaneStop>,
}

/// An approved squad's dealings with the merge gate. It is always in exactly one of three
/// states: its gate is being read (`reading`), it waits to read again (`ask_at`), or it
/// waits in its merge lane.
#[derive(Clone, Debug, Default)]
struct GateState {
    /// Since when the gate has kept saying to wait during this approval.
    since: Option<Timestamp>,
    /// When to read the gate again.
    ask_at: Option<Timestamp>,
    /// A read of the gate is in flight (or about to be retried).
    reading: bool,
    /// A change concerning the PR arrived during the read: read again right after it.
    reask: bool,
    /// Answers in a row that the code host has not computed mergeability yet.
    unknown_mergeability: u32,
    /// The gate's last answer other than merge.
    said: Option<GateDecision>,
    /// The PR's head as the gate last read it.
    head: Option<CommitSha>,
}

#[derive(Debug)]
struct SquadState {
    id: SquadId,
    run: RunId,
    issue: IssueKey,
    kind: SquadKind,
    priority: Priority,
    blocked_by: Vec<usize>,
    /// Squads naming the same files that go first: it starts once each has ended.
    after: Vec<usize>,
    phase: Phase,
    round: u32,
    pr: Option<PrNumber>,
    /// `None` for a skipped issue, which never reaches a lane.
    lane: Option<MergeLane>,
    branch: String,
    gate: GateState,
    merge_sha: Option<CommitSha>,
    /// The work command issued last, to run again when it fails in a way worth retrying.
    work: Option<Command>,
    /// Failed attempts of `work` so far.
    failures: u32,
    /// Its red checks: CI-fix rounds and re-runs asked for.
    ci: CiMemory,
    /// Conflict-resolution rounds started.
    conflict_rounds: u32,
    /// The verification under way: its hand-backs and the rebase before it.
    verify: hand_backs::VerifyState,
}

#[derive(Debug)]
struct RunState {
    squads: Vec<usize>,
    finished: bool,
}

/// The squad scheduler. Feed it [`Event`]s with the current time; execute the
/// [`Command`]s it returns in order. A refused event leaves it unchanged.
#[derive(Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    /// Every squad in admission order; the index is the admission sequence.
    squads: Vec<SquadState>,
    index: BTreeMap<SquadId, usize>,
    runs: BTreeMap<RunId, RunState>,
    /// One merge at a time per base branch, first come first served.
    queue: MergeQueue,
}

impl Scheduler {
    /// An empty scheduler.
    pub fn new(config: SchedulerConfig) -> Self {
        Self {
            config,
            squads: Vec::new(),
            index: BTreeMap::new(),
            runs: BTreeMap::new(),
            queue: MergeQueue::new(),
        }
    }

    /// Rebuilds the scheduler after a restart from the squads of unfinished runs, in the
    /// order they were admitted, and returns the commands that resume them: the command of
    /// each squad's current phase again (the runtime executes commands idempotently), new
    /// starts for free slots, and `RunFinished` for runs whose squads have all ended.
    /// Verification interrupted mid-rebase resumes without the rebase; the merge gate
    /// asks for it again if the branch is still behind. A squad that was merging holds its
    /// lane again, so no other PR of its base merges before its own merge is settled.
    pub fn restore(
        config: SchedulerConfig,
        squads: Vec<PersistedSquad>,
        now: Timestamp,
    ) -> Result<(Scheduler, Vec<Command>), Refusal> {
        let mut scheduler = Scheduler::new(config);
        let mut by_run: BTreeMap<RunId, Vec<PersistedSquad>> = BTreeMap::new();
        for squad in squads {
            by_run.entry(squad.run.clone()).or_default().push(squad);
        }
        // Validate everything before building anything.
        let mut seen = BTreeMap::new();
        for squads in by_run.values() {
            for squad in squads {
                if seen.insert(squad.spec.id.clone(), ()).is_some() {
                    return Err(Refusal::DuplicateSquad {
                        squad: squad.spec.id.clone(),
                    });
                }
            }
            for squad in squads {
                check_blockers(&squad.spec, squads.iter().map(|s| &s.spec.id))?;
            }
        }
        let mut out = Vec::new();
        for (run, persisted) in by_run {
            scheduler.resume_run(run, persisted, now, &mut out);
        }
        scheduler.settle(now, &mut out);
        Ok((scheduler, out))
    }

    /// Adds squads of `run` in their recorded state and issues what resumes each.
    fn resume_run(
        &mut self,
        run: RunId,
        persisted: Vec<PersistedSquad>,
        now: Timestamp,
        out: &mut Vec<Command>,
    ) {
        let specs = persisted.iter().map(|p| p.spec.clone()).collect();
        let first = self.insert_run(run, specs, &[]);
        for (offset, squad) in persisted.into_iter().enumerate() {
            let state = &mut self.squads[first + offset];
            state.phase = squad.phase;
            state.round = squad.round;
            state.pr = squad.pr;
            state.ci.rounds = squad.ci_fix_rounds;
            state.conflict_rounds = squad.conflict_rounds;
            // A squad resumed in the middle of a CI-fix or conflict round is in one, noted or
            // not.
            match state.phase {
                Phase::FixingChecks => state.ci.rounds = state.ci.rounds.max(1),
                Phase::ResolvingConflicts => {
                    state.conflict_rounds = state.conflict_rounds.max(1);
                }
                _ => {}
            }
            let i = first + offset;
            if self.squads[i].phase == Phase::Merging
                && let Some(lane) = self.squads[i].lane.clone()
            {
                let entry = QueuedMerge {
                    squad: self.squads[i].id.clone(),
                    lane,
                };
                if !self.queue.resume_merge(entry) {
                    // Its lane is held: it merges when the lane hands it the ticket.
                    continue;
                }
            }
            if let Some(command) = resume_command(&self.squads[i]) {
                self.issue(i, command, out);
            }
        }
        let queued: Vec<usize> = (first..self.squads.len())
            .filter(|&i| self.squads[i].phase == Phase::Queued)
            .collect();
        self.end_cycles(&queued, now, out);
    }

    /// Handles one event at `now` and returns the commands to execute, in order. Refuses
    /// (and changes nothing) when the event makes no sense for the squad or run it names.
    pub fn handle(&mut self, event: Event, now: Timestamp) -> Result<Vec<Command>, Refusal> {
        let mut out = Vec::new();
        let name = event.name();
        match event {
            Event::RunAdmitted {
                run,
                squads,
                skipped,
            } => {
                self.admit(run, squads, skipped, now, &mut out)?;
            }
            Event::Prepared { squad } => {
                let i = self.expect(&squad, name, |phase| *phase == Phase::Preparing)?;
                match self.squads[i].kind {
                    SquadKind::BugFix => self.enter(i, Phase::Diagnosing, now, &mut out),
                    // A revert's implementation is the revert commit, made without an agent.
                    SquadKind::Feature | SquadKind::Revert => {
                        self.enter(i, Phase::Implementing, now, &mut out);
                    }
                }
            }
            Event::Diagnosed { squad, diagnosis } => {
                let i = self.expect(&squad, name, |phase| *phase == Phase::Diagnosing)?;
                if diagnosis.confident() {
                    self.enter(i, Phase::Implementing, now, &mut out);
                } else {
                    let reason = format!(
                        "the diagnosis is not confident enough to fix automatically: read the \
                         posted fix plan and decide how to proceed (confidence {}, below the \
                         required {}). Hypothesis: {} Plan: {}",
                        diagnosis.confidence,
                        diagnosis.required,
                        diagnosis.hypothesis.trim(),
                        diagnosis.plan.trim()
                    );
                    self.end(i, Phase::NeedsHuman(reason), false, now, &mut out);
                }
            }
            Event::Implemented { squad } => {
                let i = self.expect(&squad, name, |phase| *phase == Phase::Implementing)?;
                self.enter(i, Phase::Verifying, now, &mut out);
            }
            Event::Verified { squad, outcome } => {
                let i = self.expect(&squad, name, |phase| *phase == Phase::Verifying)?;
                match outcome {
                    Verification::Passed if self.squads[i].pr.is_none() => {
                        self.enter(i, Phase::PrOpen, now, &mut out);
                    }
                    Verification::Passed => self.start_review_round(i, now, &mut out),
                    Verification::Failed(failure) => {
                        let reason = format!("verification failed: {failure}");
                        self.end(i, Phase::NeedsHuman(reason), false, now, &mut out);
                    }
                    Verification::Conflicts(conflict) => {
                        self.conflicted(i, &conflict, now, &mut out);
                    }
                    Verification::HandBack(failure) if self.squads[i].kind == SquadKind::Revert => {
                        // No agent wrote the revert, so none is handed its failure: a person
                        // decides.
                        let why = match failure {
                            HandBack::TestsFailed { tail, .. } => {
                                format!("the tests fail with the revert applied: {tail}")
                            }
                            HandBack::WriteRulesBroken { paths, .. } => {
                                format!("the revert breaks the write rules: {}", paths.join(", "))
                            }
                        };
                        let reason = format!(
                            "verification failed: {why}; revert it by hand, or fix the base first"
                        );
                        self.end(i, Phase::NeedsHuman(reason), false, now, &mut out);
                    }
                    Verification::HandBack(failure) => {
                        self.hand_back(i, failure, now, &mut out);
                    }
                }
            }
            Event::HandedBack { squad, attempt } => {
                let i = self.expect(&squad, name, |phase| *phase == Phase::Verifying)?;
                self.handed_back(i, attempt, name, &mut out)?;
            }
            Event::PrOpened { squad, pr } => {
                let i = self.expect(&squad, name, |phase| *phase == Phase::PrOpen)?;
                self.squads[i].pr = Some(pr);
                self.start_review_round(i, now, &mut out);
            }
            Event::ReviewsCompleted {
                squad,
                round,
                code_reviewer,
                qa_specialist,
            } => {
                let i = self.expect(&squad, name, |phase| *phase == Phase::Reviewing)?;
                self.expect_round(i, round, name)?;
                self.reviews_completed(i, code_reviewer, qa_specialist, now, &mut out);
            }
            Event::Fixed { squad, round } => {
                let i = self.expect(&squad, name, |phase| *phase == Phase::Fixing)?;
                self.expect_round(i, round, name)?;
                // The fixed head is reviewed in the next round; counting rounds here, where
                // changes were asked for, keeps rebases out of the count.
                self.squads[i].round += 1;
                self.enter(i, Phase::Verifying, now, &mut out);
            }
            Event::GateDecided {
                squad,
                head,
                decision,
            } => {
                let i = self.expect(&squad, name, |phase| *phase == Phase::Approved)?;
                // A late answer for a squad already in its lane changes nothing: the lane
                // re-reads its gate whenever the base moves.
                if self.queue.position(&squad).is_none() {
                    self.squads[i].gate.head = Some(head);
                    self.gate_decided(i, decision, now, &mut out);
                }
            }
            Event::ChecksRead { squad, failed } => {
                let i = self.expect(&squad, name, |phase| *phase == Phase::Approved)?;
                self.checks_read(i, failed, now, &mut out);
            }
            Event::ChecksRerun { squad, refused } => {
                let i = self.expect(&squad, name, |phase| *phase == Phase::Approved)?;
                self.checks_rerun(i, refused, now, &mut out);
            }
            Event::ChecksFixed { squad, round } => {
                let i = self.expect(&squad, name, |phase| *phase == Phase::FixingChecks)?;
                let current = self.ci_round(i);
                if round != current {
                    let state = &self.squads[i];
                    return Err(Refusal::StaleRound {
                        squad: state.id.clone(),
                        issue: state.issue.clone(),
                        round: current,
                        reported: round,
                        event: name,
                    });
                }
                // The fix is verified and pushed, then both reviewers review the new head.
                self.enter(i, Phase::Verifying, now, &mut out);
            }
            Event::ConflictsResolved { squad, round } => {
                let i = self.expect(&squad, name, |phase| *phase == Phase::ResolvingConflicts)?;
                self.conflicts_resolved(i, round, name, now, &mut out)?;
            }
            Event::Merged { squad, sha } => {
                let i = self.expect(&squad, name, |phase| *phase == Phase::Merging)?;
                self.merged(i, sha, now, &mut out);
            }
            Event::BaseTested { lane, sha, verdict } => {
                let tested = match self.queue.base_tested(&lane, &sha, &verdict) {
                    BaseTested::NotTesting => {
                        return Err(Refusal::NotTestingBase { lane, sha });
                    }
                    BaseTested::Freed(landed) => {
                        // A revert whose base head passes is the way out of a stopped lane:
                        // the suite holds again, so the lane resumes (the step deleted the
                        // store's record of the stop before reporting).
                        let restores = self
                            .index
                            .get(&landed.squad)
                            .is_some_and(|&i| self.squads[i].kind == SquadKind::Revert);
                        if restores {
                            self.queue.resume(&lane);
                        }
                        landed
                    }
                    BaseTested::Stopped(stop) => stop.failing,
                };
                // The merged squad kept its worktree for the test; it goes now.
                out.push(Command::CleanUp {
                    squad: tested.squad,
                });
            }
            Event::LaneResumed { lane } => {
                if self.queue.resume(&lane).is_none() {
                    return Err(Refusal::LaneNotStopped { lane });
                }
            }
            Event::MergeRejected { squad, rejection } => {
                let i = self.expect(&squad, name, |phase| *phase == Phase::Merging)?;
                match rejection {
                    MergeRejection::NeedsRebase(reason) => self.rebase(i, reason, now, &mut out),
                    MergeRejection::HeadMoved => self.start_review_round(i, now, &mut out),
                    MergeRejection::MergeFailsTests(failure) => {
                        self.merge_fails_tests(i, &failure, now, &mut out);
                    }
                    MergeRejection::Refused(reason) => {
                        let reason = format!("the code host refused the merge: {reason}");
                        self.end(i, Phase::NeedsHuman(reason), false, now, &mut out);
                    }
                }
            }
            Event::RebaseRequired { squad, reason } => {
                let i = self.expect(&squad, name, |phase| {
                    matches!(phase, Phase::Approved | Phase::Merging)
                })?;
                self.rebase(i, reason, now, &mut out);
            }
            Event::StepFailed { squad, failure } => {
                let i = self.expect(&squad, name, Phase::holds_slot)?;
                self.step_failed(i, failure, now, &mut out);
            }
            Event::StepNeedsHuman { squad, reason } => {
                let i = self.expect(&squad, name, Phase::holds_slot)?;
                self.end(i, Phase::NeedsHuman(reason), false, now, &mut out);
            }
            Event::BudgetExceeded {
                scope,
                spent,
                limit,
            } => {
                let (targets, whose) = match &scope {
                    BudgetScope::Squad(squad) => (
                        vec![self.expect(squad, name, |phase| !phase.is_terminal())?],
                        "squad",
                    ),
                    BudgetScope::Run(run) => (self.unfinished_of_run(run, name)?, "run"),
                };
                let reason = format!(
                    "the {whose} is over budget: spent {spent} of {limit}; raise the budget or \
                     finish the work by hand"
                );
                for i in targets {
                    self.end(i, Phase::NeedsHuman(reason.clone()), true, now, &mut out);
                }
            }
            Event::CancelRequested { target } => {
                let targets = match &target {
                    CancelTarget::Squad(squad) => {
                        vec![self.expect(squad, name, |phase| !phase.is_terminal())?]
                    }
                    CancelTarget::Run(run) => self.unfinished_of_run(run, name)?,
                };
                for i in targets {
                    self.end(i, Phase::Cancelled, true, now, &mut out);
                }
            }
            Event::CodeHostChanged { target } => {
                for i in self.concerned_indices(&target) {
                    let gate = &mut self.squads[i].gate;
                    if gate.reading {
                        gate.reask = true;
                    } else {
                        self.read_gate(i, &mut out);
                    }
                }
            }
            Event::Tick => self.ask_gate_again(now, &mut out),
        }
        self.settle(now, &mut out);
        Ok(out)
    }

    /// The configuration in force.
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// Stops a lane as the store records it: after a restart, or stopped by another daemon
    /// sharing the store. A merge in flight there finishes; no ticket is handed out after.
    pub fn restore_stop(&mut self, stop: LaneStop) {
        self.queue.restore_stop(stop);
    }

    /// Every stopped lane, in lane order.
    pub fn lane_stops(&self) -> impl Iterator<Item = &LaneStop> {
        self.queue.stops()
    }

    /// One squad, if scheduled (`None` once its run finished).
    pub fn squad(&self, id: &SquadId) -> Option<SquadStatus<'_>> {
        self.index.get(id).map(|&i| self.status(&self.squads[i]))
    }

    /// For a queued squad, the issues of the squads naming the same files that go first and
    /// have not ended yet: what it waits for once its blockers merged. Empty otherwise.
    pub fn waits_after(&self, id: &SquadId) -> Vec<&IssueKey> {
        let Some(&i) = self.index.get(id) else {
            return Vec::new();
        };
        let squad = &self.squads[i];
        if squad.phase != Phase::Queued {
            return Vec::new();
        }
        squad
            .after
            .iter()
            .map(|&a| &self.squads[a])
            .filter(|first| !first.phase.is_terminal())
            .map(|first| &first.issue)
            .collect()
    }

    /// Every scheduled squad (those of unfinished runs: a finished run's squads are let go
    /// once `RunFinished` is issued), in admission order.
    pub fn squads(&self) -> impl Iterator<Item = SquadStatus<'_>> {
        self.squads.iter().map(|squad| self.status(squad))
    }

    /// The approved squads out of their merge lane whose PR a code-host change names: those
    /// an [`Event::CodeHostChanged`] asks again.
    pub fn concerned_by(&self, target: &GateTarget) -> Vec<SquadId> {
        self.concerned_indices(target)
            .into_iter()
            .map(|i| self.squads[i].id.clone())
            .collect()
    }

    /// The earliest time at which a [`Event::Tick`] has something to do (a gate to ask
    /// again), so the runtime can wake up then rather than at its next regular tick.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.squads
            .iter()
            .filter(|squad| squad.phase == Phase::Approved)
            .filter_map(|squad| squad.gate.ask_at)
            .min()
    }

    /// How many squads hold a slot now.
    pub fn slots_in_use(&self) -> usize {
        self.squads
            .iter()
            .filter(|squad| squad.phase.holds_slot())
            .count()
    }

    fn concerned_indices(&self, target: &GateTarget) -> Vec<usize> {
        (0..self.squads.len())
            .filter(|&i| {
                let squad = &self.squads[i];
                squad.phase == Phase::Approved
                    && self.queue.position(&squad.id).is_none()
                    && concerns(squad, target)
            })
            .collect()
    }

    fn admit(
        &mut self,
        run: RunId,
        squads: Vec<SquadSpec>,
        skipped: Vec<SkippedSquad>,
        now: Timestamp,
        out: &mut Vec<Command>,
    ) -> Result<(), Refusal> {
        if self.runs.contains_key(&run) {
            return Err(Refusal::RunAlreadyAdmitted { run });
        }
        let ids = || {
            squads
                .iter()
                .map(|s| &s.id)
                .chain(skipped.iter().map(|s| &s.id))
        };
        let mut seen = BTreeMap::new();
        for id in ids() {
            if self.index.contains_key(id) || seen.insert(id, ()).is_some() {
                return Err(Refusal::DuplicateSquad { squad: id.clone() });
            }
        }
        for spec in &squads {
            check_blockers(spec, ids())?;
        }
        let admitted = squads.len();
        let first = self.insert_run(run, squads, &skipped);
        for (offset, skip) in skipped.into_iter().enumerate() {
            self.end(
                first + admitted + offset,
                Phase::Skipped(skip.reason),
                false,
                now,
                out,
            );
        }
        let new: Vec<usize> = (first..first + admitted).collect();
        self.end_cycles(&new, now, out);
        Ok(())
    }

    /// Adds squads of a run in phase `queued` and returns the index of the first; a run
    /// already scheduled gains them and is unfinished again. Blockers not scheduled are left
    /// out: admission and restore check them first, and an adopted squad is claimed only
    /// once its blockers ended (see `sharing`).
    fn insert_run(&mut self, run: RunId, specs: Vec<SquadSpec>, skipped: &[SkippedSquad]) -> usize {
        let first = self.squads.len();
        let ids = specs.iter().map(|spec| &spec.id);
        for (offset, id) in ids.chain(skipped.iter().map(|skip| &skip.id)).enumerate() {
            self.index.insert(id.clone(), first + offset);
        }
        for spec in specs {
            let known = |ids: &[SquadId]| -> Vec<usize> {
                ids.iter()
                    .filter_map(|id| self.index.get(id).copied())
                    .collect()
            };
            let blocked_by = known(&spec.blocked_by);
            let after = known(&spec.after);
            self.squads.push(SquadState {
                id: spec.id,
                run: run.clone(),
                issue: spec.issue,
                kind: spec.kind,
                priority: spec.priority,
                blocked_by,
                after,
                phase: Phase::Queued,
                round: 0,
                pr: None,
                lane: spec.lane,
                branch: spec.branch,
                gate: GateState::default(),
                merge_sha: None,
                work: None,
                failures: 0,
                ci: CiMemory::default(),
                conflict_rounds: 0,
                verify: hand_backs::VerifyState::default(),
            });
        }
        for skip in skipped {
            self.squads.push(SquadState {
                id: skip.id.clone(),
                run: run.clone(),
                issue: skip.issue.clone(),
                kind: SquadKind::Feature,
                priority: Priority::None,
                blocked_by: Vec::new(),
                after: Vec::new(),
                phase: Phase::Queued,
                round: 0,
                pr: None,
                lane: None,
                branch: String::new(),
                gate: GateState::default(),
                merge_sha: None,
                work: None,
                failures: 0,
                ci: CiMemory::default(),
                conflict_rounds: 0,
                verify: hand_backs::VerifyState::default(),
            });
        }
        let state = self.runs.entry(run).or_insert_with(|| RunState {
            squads: Vec::new(),
            finished: false,
        });
        state.squads.extend(first..self.squads.len());
        state.finished = false;
        first
    }

    /// Ends every squad among `candidates` that blocks itself through a cycle of blocked-by
    /// relations: it could never start.
    fn end_cycles(&mut self, candidates: &[usize], now: Timestamp, out: &mut Vec<Command>) {
        let cycles: Vec<(usize, Vec<usize>)> = candidates
            .iter()
            .filter_map(|&i| self.cycle_through(i).map(|cycle| (i, cycle)))
            .collect();
        for (i, cycle) in cycles {
            let path: Vec<&str> = cycle
                .iter()
                .map(|&j| self.squads[j].issue.as_str())
                .collect();
            let reason = format!(
                "its blocked-by relations form a cycle ({}): remove one of them in the tracker",
                path.join(" → ")
            );
            self.end(i, Phase::NeedsHuman(reason), false, now, out);
        }
    }

    /// A path of blocked-by relations from `start` back to itself, if there is one.
    fn cycle_through(&self, start: usize) -> Option<Vec<usize>> {
        let mut path = vec![start];
        let mut visited = vec![false; self.squads.len()];
        self.find_path_to(start, start, &mut path, &mut visited)
            .then_some(path)
    }

    fn find_path_to(
        &self,
        from: usize,
        target: usize,
        path: &mut Vec<usize>,
        visited: &mut [bool],
    ) -> bool {
        for &next in &self.squads[from].blocked_by {
            if next == target {
                path.push(next);
                return true;
            }
            if !visited[next] {
                visited[next] = true;
                path.push(next);
                if self.find_path_to(next, target, path, visited) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }

    /// The index of `squad` if its phase satisfies `allowed`, else the refusal.
    fn expect(
        &self,
        squad: &SquadId,
        event: &'static str,
        allowed: impl Fn(&Phase) -> bool,
    ) -> Result<usize, Refusal> {
        let &i = self.index.get(squad).ok_or_else(|| Refusal::UnknownSquad {
            squad: squad.clone(),
            event,
        })?;
        let state = &self.squads[i];
        if allowed(&state.phase) {
            Ok(i)
        } else {
            Err(Refusal::IllegalTransition {
                squad: state.id.clone(),
                issue: state.issue.clone(),
                phase: state.phase.clone(),
                event,
            })
        }
    }

    fn expect_round(&self, i: usize, reported: u32, event: &'static str) -> Result<(), Refusal> {
        let state = &self.squads[i];
        if state.round == reported {
            Ok(())
        } else {
            Err(Refusal::StaleRound {
                squad: state.id.clone(),
                issue: state.issue.clone(),
                round: state.round,
                reported,
                event,
            })
        }
    }

    fn unfinished_of_run(&self, run: &RunId, event: &'static str) -> Result<Vec<usize>, Refusal> {
        let state = self.runs.get(run).ok_or_else(|| Refusal::UnknownRun {
            run: run.clone(),
            event,
        })?;
        let unfinished: Vec<usize> = state
            .squads
            .iter()
            .copied()
            .filter(|&i| !self.squads[i].phase.is_terminal())
            .collect();
        if unfinished.is_empty() {
            return Err(Refusal::RunAlreadyFinished {
                run: run.clone(),
                event,
            });
        }
        Ok(unfinished)
    }

    fn reviews_completed(
        &mut self,
        i: usize,
        code_reviewer: ReviewVerdict,
        qa_specialist: ReviewVerdict,
        now: Timestamp,
        out: &mut Vec<Command>,
    ) {
        if code_reviewer == ReviewVerdict::Approved && qa_specialist == ReviewVerdict::Approved {
            self.enter(i, Phase::Approved, now, out);
            return;
        }
        if self.squads[i].kind == SquadKind::Revert {
            // A revert takes an earlier change back as it was: there is nothing for an agent
            // to rework, so a person reads the reviewers' objections.
            let reason = format!(
                "the reviewers did not approve the revert (code-reviewer: {code_reviewer}, \
                 qa-specialist: {qa_specialist}): read their reviews on the revert PR, then \
                 merge it, close it, or revert with `squadron revert --now`"
            );
            self.end(i, Phase::NeedsHuman(reason), false, now, out);
            return;
        }
        let round = self.squads[i].round;
        let max = self.config.max_review_rounds;
        if round >= max {
            let reason = format!(
                "review round {round} of {max} ended with changes still requested \
                 (code-reviewer: {code_reviewer}, qa-specialist: {qa_specialist}): read the \
                 PR's reviews and finish it by hand"
            );
            self.end(i, Phase::NeedsHuman(reason), false, now, out);
        } else {
            self.enter(i, Phase::Fixing, now, out);
        }
    }

    /// The gate's answer to a read: a passing PR joins its merge lane; one the gate holds for
    /// something that passes in time is read again later (or at once when a change arrived
    /// during the read); a conflict rebases; anything else goes to a person.
    fn gate_decided(
        &mut self,
        i: usize,
        decision: GateDecision,
        now: Timestamp,
        out: &mut Vec<Command>,
    ) {
        let gate = &mut self.squads[i].gate;
        gate.reading = false;
        let reask = std::mem::take(&mut gate.reask);
        let blockers = match &decision {
            GateDecision::Merge => {
                *gate = GateState {
                    head: gate.head.take(),
                    ..GateState::default()
                };
                let squad = &self.squads[i];
                if let Some(lane) = &squad.lane {
                    self.queue.enqueue(QueuedMerge {
                        squad: squad.id.clone(),
                        lane: lane.clone(),
                    });
                } else {
                    let reason = format!(
                        "the merge gate passed but {} has no merge lane: the configuration \
                         names no repository for its team any more; add it back or merge the \
                         PR by hand",
                        squad.issue
                    );
                    self.end(i, Phase::NeedsHuman(reason), false, now, out);
                }
                return;
            }
            GateDecision::AskAgainShortly => &[][..],
            GateDecision::Blocked(blockers) => blockers.as_slice(),
        };
        // Pending checks and reviews not yet visible resolve by themselves; a PR that no
        // longer merges cleanly needs a rebase; anything else needs a person.
        let passes_in_time = |blocker: &GateBlocker| {
            matches!(
                blocker,
                GateBlocker::CheckPending { .. }
                    | GateBlocker::CheckMissing { .. }
                    | GateBlocker::ReviewMissing { .. }
                    | GateBlocker::VerdictStatusMissing { .. }
            )
        };
        if self.read_failed_checks(i, blockers, passes_in_time, now, out) {
            return;
        }
        if blockers.iter().all(passes_in_time) {
            let since = *self.squads[i].gate.since.get_or_insert(now);
            if let Some(reason) = self.never_reported_reason(blockers, since, now) {
                self.end(i, Phase::NeedsHuman(reason), false, now, out);
                return;
            }
            let missing_deadline = self.missing_check_deadline(blockers, since, now);
            let gate = &mut self.squads[i].gate;
            if now.since(since) >= self.config.gate_wait_limit {
                let reason = format!(
                    "the merge gate kept waiting for {} minutes ({decision}): check the PR",
                    self.config.gate_wait_limit.as_secs() / 60
                );
                self.end(i, Phase::NeedsHuman(reason), false, now, out);
                return;
            }
            let delay = if decision == GateDecision::AskAgainShortly {
                gate.unknown_mergeability += 1;
                self.config.mergeability_delay(gate.unknown_mergeability)
            } else {
                gate.unknown_mergeability = 0;
                self.config.gate_retry_after
            };
            gate.said = Some(decision);
            if reask {
                self.read_gate(i, out);
            } else {
                // A missing check is named on time, not at the next usual read.
                let usual = now + delay;
                gate.ask_at = Some(missing_deadline.filter(|at| *at < usual).unwrap_or(usual));
            }
        } else if blockers
            .iter()
            .all(|blocker| passes_in_time(blocker) || *blocker == GateBlocker::NotMergeable)
        {
            self.rebase(i, RebaseReason::Conflicts, now, out);
        } else {
            let reason = format!("the merge gate refused the PR: {decision}");
            self.end(i, Phase::NeedsHuman(reason), false, now, out);
        }
    }

    fn ask_gate_again(&mut self, now: Timestamp, out: &mut Vec<Command>) {
        for i in 0..self.squads.len() {
            let squad = &self.squads[i];
            if squad.phase == Phase::Approved && squad.gate.ask_at.is_some_and(|at| at <= now) {
                self.read_gate(i, out);
            }
        }
    }

    /// Asks the gate of an approved squad now.
    fn read_gate(&mut self, i: usize, out: &mut Vec<Command>) {
        let command = Command::EvaluateGate {
            squad: self.squads[i].id.clone(),
        };
        self.issue(i, command, out);
    }

    /// A squad's PR merged. With stop the line on, its lane stays held while the new base
    /// head is tested, and its worktree stays until then (`Event::BaseTested` cleans it up).
    fn merged(&mut self, i: usize, sha: CommitSha, now: Timestamp, out: &mut Vec<Command>) {
        let squad = &mut self.squads[i];
        squad.merge_sha = Some(sha.clone());
        let lane = squad
            .lane
            .clone()
            .filter(|_| self.config.test_base_after_merge);
        let Some(lane) = lane else {
            self.end(i, Phase::Merged, false, now, out);
            return;
        };
        let landed = LandedMerge {
            squad: squad.id.clone(),
            issue: squad.issue.clone(),
            pr: squad.pr,
            sha: sha.clone(),
        };
        squad.work = None;
        // Held for the test before the ticket is given back, so nothing merges in between.
        let previous = self.queue.test_base(&lane, landed);
        self.move_to(i, Phase::Merged, now, out);
        out.push(Command::TestBase {
            squad: self.squads[i].id.clone(),
            lane,
            sha,
            previous,
        });
    }

    /// Hands the ticket of every free lane to its first waiting squad, which starts merging.
    /// A stopped lane hands its ticket only to a revert waiting in it: the way out.
    fn start_merges(&mut self, now: Timestamp, out: &mut Vec<Command>) {
        loop {
            let squads = &self.squads;
            let index = &self.index;
            let tickets = self.queue.start_merges_with(|squad| {
                index
                    .get(squad)
                    .is_some_and(|&i| squads[i].kind == SquadKind::Revert)
            });
            if tickets.is_empty() {
                return;
            }
            for ticket in tickets {
                let Some(&i) = self.index.get(&ticket.squad) else {
                    continue;
                };
                match self.squads[i].phase {
                    Phase::Approved => self.enter(i, Phase::Merging, now, out),
                    // Resumed after a restart while another squad held its lane.
                    Phase::Merging => {
                        let command = Command::Merge {
                            squad: ticket.squad.clone(),
                        };
                        self.issue(i, command, out);
                    }
                    // Squads leave their lane when they leave these phases, so this cannot
                    // happen; should it, the lane must not stay blocked.
                    _ => {
                        self.queue.finish(&ticket.squad);
                    }
                }
            }
        }
    }

    /// A failed step is tried again after a backoff while its kind allows and attempts
    /// remain; then the squad needs a person, told the last error. Only a bug in Squadron
    /// fails a squad.
    fn step_failed(
        &mut self,
        i: usize,
        failure: StepFailure,
        now: Timestamp,
        out: &mut Vec<Command>,
    ) {
        let kind = failure.kind();
        if kind == FailureKind::Internal {
            self.end(
                i,
                Phase::Failed(format!("failed to {failure}")),
                false,
                now,
                out,
            );
            return;
        }
        let policy = &self.config.retry;
        let squad = &mut self.squads[i];
        let step = squad.work.as_ref().map_or("step", Command::name);
        if !kind.is_retryable() {
            let reason = format!("failed to {failure}");
            self.end(i, Phase::NeedsHuman(reason), false, now, out);
            return;
        }
        squad.failures += 1;
        let failed = squad.failures;
        match &squad.work {
            Some(work) if failed < policy.attempts.max(1) => {
                let delay = policy.delay(&squad.id, failed, kind);
                out.push(Command::Retry {
                    squad: squad.id.clone(),
                    attempt: failed + 1,
                    delay,
                    failure,
                    command: Box::new(work.clone()),
                });
            }
            _ => {
                let reason = format!(
                    "the {step} step failed {failed} time(s) in a row ({kind}); the last attempt \
                     failed to {failure}",
                    kind = kind.name()
                );
                self.end(i, Phase::NeedsHuman(reason), false, now, out);
            }
        }
    }

    /// Old approvals are stale once the branch moves, so a rebased branch is verified and
    /// then reviewed again, in the same round: no reviewer asked for the rebase, so it does not
    /// bring the squad closer to the round cap.
    fn rebase(&mut self, i: usize, reason: RebaseReason, now: Timestamp, out: &mut Vec<Command>) {
        self.forget_reruns(i);
        self.move_to(i, Phase::Verifying, now, out);
        self.squads[i].verify.rebased = Some(reason);
        let command = Command::Verify {
            squad: self.squads[i].id.clone(),
            rebase: Some(reason),
        };
        self.issue(i, command, out);
    }

    /// Starts the first review round, or reviews the head again in the current one: only a
    /// fix (see `Event::Fixed`) moves a squad to its next round.
    fn start_review_round(&mut self, i: usize, now: Timestamp, out: &mut Vec<Command>) {
        let squad = &mut self.squads[i];
        squad.round = squad.round.max(1);
        self.enter(i, Phase::Reviewing, now, out);
    }

    /// Moves a squad into a working phase and issues that phase's command.
    fn enter(&mut self, i: usize, to: Phase, now: Timestamp, out: &mut Vec<Command>) {
        self.move_to(i, to, now, out);
        if let Some(command) = resume_command(&self.squads[i]) {
            self.issue(i, command, out);
        }
    }

    /// Issues a new work command for the squad; its failures are counted afresh.
    fn issue(&mut self, i: usize, command: Command, out: &mut Vec<Command>) {
        let squad = &mut self.squads[i];
        if let Command::EvaluateGate { .. } = command {
            squad.gate.reading = true;
            squad.gate.ask_at = None;
        }
        squad.work = Some(command.clone());
        squad.failures = 0;
        out.push(command);
    }

    /// Ends a squad. One that held a slot releases its worktree; with `interrupt`, its step
    /// in flight is stopped first (the squad ended from outside, not by its step's result).
    fn end(
        &mut self,
        i: usize,
        to: Phase,
        interrupt: bool,
        now: Timestamp,
        out: &mut Vec<Command>,
    ) {
        let held_slot = self.squads[i].phase.holds_slot();
        self.squads[i].work = None;
        self.move_to(i, to, now, out);
        let squad = self.squads[i].id.clone();
        if held_slot {
            if interrupt {
                out.push(Command::StopWork {
                    squad: squad.clone(),
                });
            }
            out.push(Command::CleanUp { squad });
        }
    }

    /// Records a phase change. A squad leaving `approved` leaves its merge lane and its
    /// gate's waits; one leaving `merging` frees its lane for the next squad waiting in it.
    fn move_to(&mut self, i: usize, to: Phase, now: Timestamp, out: &mut Vec<Command>) {
        let squad = &mut self.squads[i];
        let from = std::mem::replace(&mut squad.phase, to.clone());
        out.push(Command::RecordPhase {
            squad: squad.id.clone(),
            from: from.clone(),
            to: to.clone(),
            round: squad.round,
            at: now,
        });
        if from == Phase::Approved && to != Phase::Approved {
            self.queue.withdraw(&squad.id);
            squad.gate = GateState::default();
        }
        if to == Phase::Verifying {
            // A new verification: its own hand-backs.
            squad.verify = hand_backs::VerifyState::default();
        }
        if from == Phase::Merging && to != Phase::Merging {
            // The lane goes on with its next PR; the ones waiting keep their heads (the
            // merge train: see `merge_queue`).
            self.queue.finish(&squad.id);
        }
    }

    /// What follows any event: squads whose blockers ended without merging end too, free
    /// merge lanes hand out their tickets, queued squads start while slots are free, and
    /// finished runs are reported.
    fn settle(&mut self, now: Timestamp, out: &mut Vec<Command>) {
        self.end_orphans(now, out);
        self.start_merges(now, out);
        self.start_ready(now, out);
        self.finish_runs(out);
    }

    /// Ends queued squads whose blocker ended other than merged, repeating so chains of
    /// blocked squads end in one go, each naming its own blocker.
    fn end_orphans(&mut self, now: Timestamp, out: &mut Vec<Command>) {
        loop {
            let orphan = (0..self.squads.len()).find_map(|i| {
                let squad = &self.squads[i];
                if squad.phase != Phase::Queued {
                    return None;
                }
                squad.blocked_by.iter().find_map(|&b| {
                    let blocker = &self.squads[b];
                    (blocker.phase.is_terminal() && blocker.phase != Phase::Merged).then(|| {
                        let reason = format!(
                            "blocked by {}, which ended {}: resolve {} first, then start this \
                             issue again",
                            blocker.issue, blocker.phase, blocker.issue
                        );
                        (i, reason)
                    })
                })
            });
            let Some((i, reason)) = orphan else { return };
            self.end(i, Phase::NeedsHuman(reason), false, now, out);
        }
    }

    /// Starts queued squads whose blockers all merged and whose squads naming the same files
    /// that go first all ended, most urgent first, then in admission order, while slots are
    /// free.
    fn start_ready(&mut self, now: Timestamp, out: &mut Vec<Command>) {
        let limit = self.config.concurrency.max(1);
        let free = limit.saturating_sub(self.slots_in_use());
        let mut ready: Vec<usize> = (0..self.squads.len())
            .filter(|&i| {
                let squad = &self.squads[i];
                squad.phase == Phase::Queued
                    && squad
                        .blocked_by
                        .iter()
                        .all(|&b| self.squads[b].phase == Phase::Merged)
                    && squad
                        .after
                        .iter()
                        .all(|&a| self.squads[a].phase.is_terminal())
            })
            .collect();
        ready.sort_by_key(|&i| (self.squads[i].priority.rank(), i));
        for i in ready.into_iter().take(free) {
            self.enter(i, Phase::Preparing, now, out);
        }
    }

    /// Reports runs whose squads have all ended and whose last merges' base heads are
    /// tested: a stopped line is part of the run's outcome.
    fn finish_runs(&mut self, out: &mut Vec<Command>) {
        let mut finished = Vec::new();
        for (run, state) in &mut self.runs {
            if state.finished
                || !state.squads.iter().all(|&i| {
                    self.squads[i].phase.is_terminal() && !self.queue.testing(&self.squads[i].id)
                })
            {
                continue;
            }
            state.finished = true;
            let outcomes = state
                .squads
                .iter()
                .map(|&i| {
                    let squad = &self.squads[i];
                    SquadOutcome {
                        squad: squad.id.clone(),
                        issue: squad.issue.clone(),
                        phase: squad.phase.clone(),
                        round: squad.round,
                        merge_sha: squad.merge_sha.clone(),
                    }
                })
                .collect();
            out.push(Command::RunFinished {
                run: run.clone(),
                summary: RunSummary { outcomes },
            });
            finished.extend(state.squads.iter().copied());
        }
        // A finished run's squads are the store's now: the scheduler keeps nothing of them
        // (their blockers and the squads starting after them are all of the same run).
        if !finished.is_empty() {
            self.forget(&finished.into_iter().collect());
        }
    }

    /// Drops the squads at `gone` (indices), renumbering the rest in admission order, and
    /// the runs left without squads. The caller has freed their slots, tickets and places in
    /// merge lanes.
    fn forget(&mut self, gone: &BTreeSet<usize>) {
        let mut renumbered = vec![None; self.squads.len()];
        let mut next = 0;
        for (old, slot) in renumbered.iter_mut().enumerate() {
            if !gone.contains(&old) {
                *slot = Some(next);
                next += 1;
            }
        }
        let mut kept = Vec::with_capacity(next);
        for (old, mut state) in std::mem::take(&mut self.squads).into_iter().enumerate() {
            if gone.contains(&old) {
                continue;
            }
            state.blocked_by = state
                .blocked_by
                .iter()
                .filter_map(|&b| renumbered[b])
                .collect();
            state.after = state.after.iter().filter_map(|&a| renumbered[a]).collect();
            kept.push(state);
        }
        self.squads = kept;
        self.index = self
            .squads
            .iter()
            .enumerate()
            .map(|(i, state)| (state.id.clone(), i))
            .collect();
        for run in self.runs.values_mut() {
            run.squads = run.squads.iter().filter_map(|&i| renumbered[i]).collect();
        }
        self.runs.retain(|_, run| !run.squads.is_empty());
    }
}

/// Refuses a blocker, or a squad to start after, that is not among `run_ids` (the squads
/// of the same run).
fn check_blockers<'a>(
    spec: &SquadSpec,
    run_ids: impl Iterator<Item = &'a SquadId> + Clone,
) -> Result<(), Refusal> {
    for blocker in spec.blocked_by.iter().chain(&spec.after) {
        if !run_ids.clone().any(|id| id == blocker) {
            return Err(Refusal::UnknownBlocker {
                squad: spec.id.clone(),
                blocker: blocker.clone(),
            });
        }
    }
    Ok(())
}

/// The command that does the work of the squad's current phase; `None` where the squad
/// waits for the scheduler (queued) or has ended.
fn resume_command(squad: &SquadState) -> Option<Command> {
    let id = squad.id.clone();
    Some(match squad.phase {
        Phase::Preparing => Command::PrepareWorkspace { squad: id },
        Phase::Diagnosing => Command::Diagnose { squad: id },
        Phase::Implementing => Command::Implement { squad: id },
        Phase::Verifying => Command::Verify {
            squad: id,
            rebase: None,
        },
        Phase::PrOpen => Command::OpenPr { squad: id },
        Phase::Reviewing => Command::Review {
            squad: id,
            round: squad.round,
        },
        Phase::Fixing => Command::Fix {
            squad: id,
            round: squad.round,
        },
        Phase::FixingChecks => Command::FixChecks {
            squad: id,
            round: squad.ci.rounds.max(1),
        },
        Phase::ResolvingConflicts => Command::ResolveConflicts {
            squad: id,
            round: squad.conflict_rounds.max(1),
        },
        Phase::Approved => Command::EvaluateGate { squad: id },
        Phase::Merging => Command::Merge { squad: id },
        Phase::Queued
        | Phase::Merged
        | Phase::NeedsHuman(_)
        | Phase::Failed(_)
        | Phase::Cancelled
        | Phase::Skipped(_) => return None,
    })
}

/// Whether a code-host change names the squad's PR: the PR itself, its head commit as the
/// gate last read it, or its head or base branch.
fn concerns(squad: &SquadState, target: &GateTarget) -> bool {
    let Some(lane) = &squad.lane else {
        return false;
    };
    match target {
        GateTarget::PullRequest { repo, pr } => *repo == lane.repo && squad.pr == Some(*pr),
        GateTarget::Commit { repo, sha } => {
            *repo == lane.repo && squad.gate.head.as_ref() == Some(sha)
        }
        GateTarget::Branch { repo, branch } => {
            *repo == lane.repo && (*branch == squad.branch || *branch == lane.base)
        }
    }
}

impl SchedulerConfig {
    /// How long to wait after the `answers`-th answer in a row that mergeability is not
    /// computed yet: doubling from `mergeability_recheck`, never longer than
    /// `gate_retry_after`, which is also the wait once the short ones are used up.
    fn mergeability_delay(&self, answers: u32) -> Duration {
        if answers == 0 || answers > self.mergeability_rechecks {
            return self.gate_retry_after;
        }
        let doubled = self
            .mergeability_recheck
            .saturating_mul(1 << (answers - 1).min(16));
        doubled.min(self.gate_retry_after)
    }
}

impl Scheduler {
    fn status<'a>(&'a self, squad: &'a SquadState) -> SquadStatus<'a> {
        let approved = squad.phase == Phase::Approved;
        let lane_position = if matches!(squad.phase, Phase::Approved | Phase::Merging) {
            self.queue.position(&squad.id)
        } else {
            None
        };
        let lane_stopped = lane_position
            .and(squad.lane.as_ref())
            .and_then(|lane| self.queue.stopped(lane));
        SquadStatus {
            id: &squad.id,
            run: &squad.run,
            issue: &squad.issue,
            phase: &squad.phase,
            round: squad.round,
            pr: squad.pr,
            lane: squad.lane.as_ref(),
            lane_position,
            gate: if approved && lane_position.is_none() {
                squad.gate.said.as_ref()
            } else {
                None
            },
            lane_stopped,
        }
    }
}
