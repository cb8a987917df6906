//! Events: what the runtime reports to the scheduler, each an outcome of a command or a
//! request from outside (a person, the budget meter, the clock).

use crate::domain::{
    IssueKey, PrNumber, Priority, ReviewVerdict, RunId, SquadId, SquadKind, StepFailure, Usd,
};
use crate::gate::{CommitSha, GateDecision, GateTarget};
use crate::merge_queue::{BaseVerdict, MergeLane, RebaseReason};
use crate::ports::{CheckReport, Confidence};

/// One squad as admitted into a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SquadSpec {
    /// The squad's id, minted by the store.
    pub id: SquadId,
    /// The issue it works, for messages (`ENG-123`).
    pub issue: IssueKey,
    /// Feature squads implement straight away; bug-fix squads diagnose first.
    pub kind: SquadKind,
    /// Urgent issues start first when slots are scarce.
    pub priority: Priority,
    /// Squads of the same run that must merge before this one starts.
    pub blocked_by: Vec<SquadId>,
    /// Squads of the same run whose issues name some of the same files and go first: this
    /// one starts once each has ended (merged, or stopped any other way), so their edits
    /// never race into a conflict (see [`crate::admission::Overlap`]).
    pub after: Vec<SquadId>,
    /// The repository and base branch its PR merges into: its merge lane. `None` only for a
    /// squad restored after the configuration stopped naming its team's repository; it
    /// cannot merge, and goes to a person if it gets that far.
    pub lane: Option<MergeLane>,
    /// The branch it works on (its PR's head branch).
    pub branch: String,
}

/// An issue of the run that was not admitted; squads it blocks cannot proceed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedSquad {
    /// The squad's id, minted by the store.
    pub id: SquadId,
    /// The issue, for messages.
    pub issue: IssueKey,
    /// Why it was skipped (the refinement reasons, for instance).
    pub reason: String,
}

/// A bug fix's diagnosis as the scheduler weighs it: a plan below the required confidence
/// goes to a person, with the diagnosis in the reason so they have it at hand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiagnosisSummary {
    /// How sure the diagnostician is.
    pub confidence: Confidence,
    /// The confidence required to go on and fix (`[diagnosis] min_confidence`).
    pub required: Confidence,
    /// Its hypothesis of the cause.
    pub hypothesis: String,
    /// Its fix plan.
    pub plan: String,
}

impl DiagnosisSummary {
    /// Whether the plan is confident enough to implement without a person.
    pub fn confident(&self) -> bool {
        self.confidence >= self.required
    }
}

/// How the guardrails and the test command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// Everything passed; when the squad has a PR the verified head was pushed.
    Passed,
    /// Something failed after the agents had their chances; the text says what.
    Failed(String),
    /// The rebase onto the base stopped on conflicts; nothing was changed.
    Conflicts(RebaseConflict),
    /// Something the agents can fix failed: the scheduler hands it back to them
    /// ([`Command::HandBack`](super::Command::HandBack)) while its limit allows, and
    /// otherwise gives the squad to a person.
    HandBack(HandBack),
}

/// What verification hands back to the agents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandBack {
    /// The test command failed before the commit.
    TestsFailed {
        /// What it printed, as the agents are shown it (capped; the whole log is kept
        /// beside the worktree).
        output: String,
        /// Its last lines, which a person is told when the agents give up.
        tail: String,
        /// Whether one of QA's test files shows up in the failure: QA fixes it too.
        qa: bool,
    },
    /// Changes broke the write rules; the files were put back.
    WriteRulesBroken {
        /// The files refused.
        paths: Vec<String>,
        /// Each breach, as the agents are told it.
        breaches: String,
        /// Whether a test file was refused: QA redoes its work too.
        qa: bool,
    },
}

impl HandBack {
    /// What is handed back, as the retry log names it (`tests`, `write-rules`).
    pub const fn what(&self) -> &'static str {
        match self {
            HandBack::TestsFailed { .. } => "tests",
            HandBack::WriteRulesBroken { .. } => "write-rules",
        }
    }

    /// Whether QA works on it beside the Developer.
    pub const fn concerns_qa(&self) -> bool {
        match self {
            HandBack::TestsFailed { qa, .. } | HandBack::WriteRulesBroken { qa, .. } => *qa,
        }
    }
}

/// A rebase that stopped on conflicts: the squad resolves them in a bounded number of
/// rounds, and a person gets these facts when it gives up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RebaseConflict {
    /// The base branch the branch was rebased onto.
    pub base_branch: String,
    /// The files both sides changed.
    pub paths: Vec<String>,
    /// The squads' PRs merged into the base since the branch forked from it, as far as the
    /// store knows them: what the branch conflicts with.
    pub landed: Vec<LandedChange>,
}

/// Another squad's PR that landed on the base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LandedChange {
    /// Its issue.
    pub issue: IssueKey,
    /// The issue's title (empty when it could not be read).
    pub title: String,
    /// Its PR's page, when known.
    pub pr_url: Option<String>,
}

impl std::fmt::Display for LandedChange {
    /// `ENG-1 "Rates in cents" (https://github.com/acme/shop/pull/1)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.issue)?;
        if !self.title.is_empty() {
            write!(f, " \"{}\"", self.title)?;
        }
        if let Some(url) = &self.pr_url {
            write!(f, " ({url})")?;
        }
        Ok(())
    }
}

/// Why the code host did not merge a PR the gate let through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MergeRejection {
    /// The base moved on or the PR conflicts: rebase, verify and get re-reviewed.
    NeedsRebase(RebaseReason),
    /// The head is no longer the commit that was approved (someone pushed): re-review.
    HeadMoved,
    /// The head merged with the base's current tip fails the test command (tested before
    /// merging; the text is what failed): a CI-fix round on the branch rebased onto that tip.
    MergeFailsTests(String),
    /// Refused for a reason automation cannot fix (branch protection, permissions).
    Refused(String),
}

/// A required check that failed on the PR's head, with the same check on the base branch's
/// head (`None` when it never reported there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedCheck {
    /// Its latest run on the PR's head.
    pub head: CheckReport,
    /// Its latest run on the base branch's head.
    pub base: Option<CheckReport>,
}

/// A check the code host would not run again (a commit status, missing permissions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedRerun {
    /// The check.
    pub check: String,
    /// Why, as the host said it.
    pub reason: String,
}

/// What a budget overrun applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BudgetScope {
    /// One squad spent its budget.
    Squad(SquadId),
    /// The whole run spent its budget: every unfinished squad of it stops.
    Run(RunId),
}

/// What a cancellation applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CancelTarget {
    /// One squad.
    Squad(SquadId),
    /// Every unfinished squad of a run.
    Run(RunId),
}

/// Everything the scheduler reacts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A run's issues were resolved and checked: admitted squads enter the queue, skipped
    /// ones end at once. Squads must already exist in the store, in phase `queued`.
    RunAdmitted {
        /// The run.
        run: RunId,
        /// Admitted squads, in admission order (the tie-breaker after priority).
        squads: Vec<SquadSpec>,
        /// Issues of the run that were not admitted.
        skipped: Vec<SkippedSquad>,
    },
    /// The worktree is ready (answers [`Command::PrepareWorkspace`](super::Command::PrepareWorkspace)).
    Prepared {
        /// The squad.
        squad: SquadId,
    },
    /// The diagnostician produced a fix plan (answers `Diagnose`).
    Diagnosed {
        /// The squad.
        squad: SquadId,
        /// What it concluded, as far as deciding whether to go on.
        diagnosis: DiagnosisSummary,
    },
    /// Developer and QA finished their work (answers `Implement`).
    Implemented {
        /// The squad.
        squad: SquadId,
    },
    /// Guardrails ran on the branch (answers `Verify`).
    Verified {
        /// The squad.
        squad: SquadId,
        /// How they ended.
        outcome: Verification,
    },
    /// The PR is open (answers `OpenPr`).
    PrOpened {
        /// The squad.
        squad: SquadId,
        /// The PR.
        pr: PrNumber,
    },
    /// Both reviewers submitted their reviews of the round's head (answers `Review`).
    ReviewsCompleted {
        /// The squad.
        squad: SquadId,
        /// The round reviewed; a report for another round is refused as stale.
        round: u32,
        /// The code reviewer's verdict.
        code_reviewer: ReviewVerdict,
        /// The QA specialist's verdict.
        qa_specialist: ReviewVerdict,
    },
    /// Developer (and QA) worked on what verification handed back (answers `HandBack`): the
    /// branch is verified again.
    HandedBack {
        /// The squad.
        squad: SquadId,
        /// The hand-back, from 1; a report of another one is refused as stale.
        attempt: u32,
    },
    /// Developer and QA committed fixes for the round's findings (answers `Fix`).
    Fixed {
        /// The squad.
        squad: SquadId,
        /// The round whose findings were fixed.
        round: u32,
    },
    /// The merge gate read the PR (answers `EvaluateGate`). [`GateDecision::Merge`] means
    /// the gate passed and the PR is up to date with its base: the squad joins its merge
    /// lane and merges when the lane hands it the ticket.
    GateDecided {
        /// The squad.
        squad: SquadId,
        /// The PR's head commit the gate read, for matching later code-host changes.
        head: CommitSha,
        /// The gate's answer.
        decision: GateDecision,
    },
    /// The failed required checks were read on the head and on the base's head (answers
    /// `ReadChecks`); checks that passed meanwhile are left out.
    ChecksRead {
        /// The squad.
        squad: SquadId,
        /// The checks still failing.
        failed: Vec<FailedCheck>,
    },
    /// The code host was asked to run the suspected flaky checks again (answers
    /// `RerunChecks`).
    ChecksRerun {
        /// The squad.
        squad: SquadId,
        /// The checks that could not be run again, and why; empty when every one was.
        refused: Vec<RefusedRerun>,
    },
    /// Developer (and QA) committed fixes for the failing checks (answers `FixChecks`).
    ChecksFixed {
        /// The squad.
        squad: SquadId,
        /// The CI-fix round.
        round: u32,
    },
    /// Developer (and QA) resolved the conflicts of a rebase in the worktree (answers
    /// `ResolveConflicts`); the resolution is verified, pushed and reviewed next.
    ConflictsResolved {
        /// The squad.
        squad: SquadId,
        /// The conflict-resolution round.
        round: u32,
    },
    /// The PR merged (answers `Merge`).
    Merged {
        /// The squad.
        squad: SquadId,
        /// The merge commit on the base branch.
        sha: CommitSha,
    },
    /// The test command ran on the base head a merge made (answers `TestBase`): a failure
    /// stops the lane.
    BaseTested {
        /// The lane.
        lane: MergeLane,
        /// The base head tested: the merge commit.
        sha: CommitSha,
        /// How the test ended.
        verdict: BaseVerdict,
    },
    /// A person opened a stopped lane again (`squadron resume-lane`, the dashboard).
    LaneResumed {
        /// The lane.
        lane: MergeLane,
    },
    /// The code host did not merge (answers `Merge`).
    MergeRejected {
        /// The squad.
        squad: SquadId,
        /// Why.
        rejection: MergeRejection,
    },
    /// Another PR landed on the base while this approved one waited: it must be rebased
    /// and re-reviewed before it may merge.
    RebaseRequired {
        /// The squad.
        squad: SquadId,
        /// Behind or conflicting.
        reason: RebaseReason,
    },
    /// The step in flight failed; its kind decides whether it is tried again.
    StepFailed {
        /// The squad.
        squad: SquadId,
        /// What failed, and how.
        failure: StepFailure,
    },
    /// The step in flight stopped short in a way only a person can take further: an agent
    /// handed off without finishing (its step limit, a call failing again and again, no tool
    /// calls). Its work stays in the worktree.
    StepNeedsHuman {
        /// The squad.
        squad: SquadId,
        /// Why, with the agent's hand-off, for the issue and the status view.
        reason: String,
    },
    /// The budget meter found a squad or a run over its budget.
    BudgetExceeded {
        /// Who overspent.
        scope: BudgetScope,
        /// What was spent.
        spent: Usd,
        /// The configured budget.
        limit: Usd,
    },
    /// A person (or the tracker) asked to stop a squad or a run.
    CancelRequested {
        /// What to cancel.
        target: CancelTarget,
    },
    /// Something changed on the code host (a webhook): the gates of the approved squads it
    /// concerns are asked again now, or right after the read in flight.
    CodeHostChanged {
        /// What changed.
        target: GateTarget,
    },
    /// Time passed: re-ask the merge gate for squads whose wait is over.
    Tick,
}

impl Event {
    /// The event's name as refusals and logs show it (`reviews-completed`).
    pub const fn name(&self) -> &'static str {
        match self {
            Event::RunAdmitted { .. } => "run-admitted",
            Event::Prepared { .. } => "prepared",
            Event::Diagnosed { .. } => "diagnosed",
            Event::Implemented { .. } => "implemented",
            Event::Verified { .. } => "verified",
            Event::HandedBack { .. } => "handed-back",
            Event::PrOpened { .. } => "pr-opened",
            Event::ReviewsCompleted { .. } => "reviews-completed",
            Event::Fixed { .. } => "fixed",
            Event::GateDecided { .. } => "gate-decided",
            Event::ChecksRead { .. } => "checks-read",
            Event::ChecksRerun { .. } => "checks-rerun",
            Event::ChecksFixed { .. } => "checks-fixed",
            Event::ConflictsResolved { .. } => "conflicts-resolved",
            Event::Merged { .. } => "merged",
            Event::BaseTested { .. } => "base-tested",
            Event::LaneResumed { .. } => "lane-resumed",
            Event::MergeRejected { .. } => "merge-rejected",
            Event::RebaseRequired { .. } => "rebase-required",
            Event::StepFailed { .. } => "step-failed",
            Event::StepNeedsHuman { .. } => "step-needs-human",
            Event::BudgetExceeded { .. } => "budget-exceeded",
            Event::CancelRequested { .. } => "cancel-requested",
            Event::CodeHostChanged { .. } => "code-host-changed",
            Event::Tick => "tick",
        }
    }
}
