//! Commands: what the scheduler asks the runtime to do next, and the run summary it reports.

use std::fmt;
use std::time::Duration;

use crate::domain::{IssueKey, Phase, RunId, SquadId, StepFailure, Timestamp};
use crate::event_payload::EventPayload;
use crate::gate::CommitSha;
use crate::merge_queue::{LandedMerge, MergeLane, RebaseReason};
use crate::ports::CheckReport;
use crate::scheduler::event::HandBack;

/// One thing for the runtime to do. Commands come in the order to execute them: a
/// [`Command::RecordPhase`] always precedes the work of the phase it enters, so the store
/// knows where a squad stands before anything happens in that phase. Every command may be
/// re-issued after a restart, so the runtime executes each one idempotently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Persist a phase change (and the round it happened in) before acting on it.
    RecordPhase {
        /// The squad.
        squad: SquadId,
        /// The phase it left.
        from: Phase,
        /// The phase it entered.
        to: Phase,
        /// Its review round after the change.
        round: u32,
        /// When.
        at: Timestamp,
    },
    /// Persist a note in the squad's event log before acting on it: the start of a CI-fix
    /// round ([`EventPayload::CiFix`]), from which a restarted daemon counts the rounds spent.
    RecordNote {
        /// The squad.
        squad: SquadId,
        /// What to note.
        note: EventPayload,
    },
    /// Create the worktree on the issue's branch and move the issue to started.
    PrepareWorkspace {
        /// The squad.
        squad: SquadId,
    },
    /// Run the diagnostician on the bug report and post its fix plan.
    Diagnose {
        /// The squad.
        squad: SquadId,
    },
    /// Run the developer and QA on the issue (or the fix plan).
    Implement {
        /// The squad.
        squad: SquadId,
    },
    /// Run the guardrails and the test command; when the squad has a PR, push the verified
    /// head. With `rebase`, first rebase the branch onto the base (letting the developer
    /// resolve conflicts).
    Verify {
        /// The squad.
        squad: SquadId,
        /// Why to rebase first, if at all.
        rebase: Option<RebaseReason>,
    },
    /// Give the Developer (and QA when it concerns them) what verification found failing,
    /// to fix before the branch is verified again.
    HandBack {
        /// The squad.
        squad: SquadId,
        /// Which hand-back of this verification, from 1.
        attempt: u32,
        /// What failed.
        failure: HandBack,
        /// Why the branch was rebased before this verification, if it was (a change that
        /// passed alone fails on the moved base: the agents are told so).
        rebased: Option<RebaseReason>,
    },
    /// Push the branch and open the PR (or find the one already open).
    OpenPr {
        /// The squad.
        squad: SquadId,
    },
    /// Run both reviewers on the current head; each submits its review.
    Review {
        /// The squad.
        squad: SquadId,
        /// The round, from 1; with the head reviewed, part of the reviews' idempotency keys
        /// (a rebased head is reviewed again within its round).
        round: u32,
    },
    /// Run the developer (and QA for test findings) on the round's review comments.
    Fix {
        /// The squad.
        squad: SquadId,
        /// The round whose findings to fix.
        round: u32,
    },
    /// Read the PR from the code host and decide whether it may merge.
    EvaluateGate {
        /// The squad.
        squad: SquadId,
    },
    /// Read the failed required checks `names` on the pushed head and on the base branch's
    /// head, to tell whose failure each is.
    ReadChecks {
        /// The squad.
        squad: SquadId,
        /// The checks the gate saw fail.
        names: Vec<String>,
    },
    /// Ask the code host to run these failed checks again on the same commit, once: they
    /// may be flaky.
    RerunChecks {
        /// The squad.
        squad: SquadId,
        /// The checks as read.
        checks: Vec<CheckReport>,
    },
    /// Run the Developer (and QA for test files) on the required checks failing on the
    /// head: their output and logs.
    FixChecks {
        /// The squad.
        squad: SquadId,
        /// The CI-fix round, from 1.
        round: u32,
    },
    /// Merge the branch's change into the current base with conflict markers in the
    /// worktree and run the Developer (and QA for test files) on them: the files, their
    /// markers and what each side meant.
    ResolveConflicts {
        /// The squad.
        squad: SquadId,
        /// The conflict-resolution round, from 1.
        round: u32,
    },
    /// Merge the PR with the head SHA as a guard (or find it already merged).
    Merge {
        /// The squad.
        squad: SquadId,
    },
    /// Run the test command on the base head the squad's merge made, in a scratch checkout
    /// with the guardrails' sandbox; when it fails, record the lane's stop and name both
    /// merges on their issues and in chat before reporting. The lane stays held until
    /// `BaseTested` answers, and the merged squad's worktree stays until then.
    TestBase {
        /// The squad whose PR merged.
        squad: SquadId,
        /// Its lane.
        lane: MergeLane,
        /// The merge commit to test.
        sha: CommitSha,
        /// The merge that landed on the lane before it, if known.
        previous: Option<LandedMerge>,
    },
    /// Run `command` again once `delay` has passed: its last attempt failed in a way worth
    /// retrying. The squad stays in its phase meanwhile.
    Retry {
        /// The squad.
        squad: SquadId,
        /// The attempt about to be made, from 2.
        attempt: u32,
        /// How long to wait first.
        delay: Duration,
        /// Why the last attempt failed.
        failure: StepFailure,
        /// The work command to run again.
        command: Box<Command>,
    },
    /// Abort the squad's step in flight: the squad ended while it was working.
    StopWork {
        /// The squad.
        squad: SquadId,
    },
    /// Release the squad's worktree; its branch and PR stay.
    CleanUp {
        /// The squad.
        squad: SquadId,
    },
    /// Every squad of the run has ended.
    RunFinished {
        /// The run.
        run: RunId,
        /// How each squad ended.
        summary: RunSummary,
    },
}

impl Command {
    /// The command's name as logs show it (`open-pr`).
    pub const fn name(&self) -> &'static str {
        match self {
            Command::RecordPhase { .. } => "record-phase",
            Command::RecordNote { .. } => "record-note",
            Command::PrepareWorkspace { .. } => "prepare",
            Command::Diagnose { .. } => "diagnose",
            Command::Implement { .. } => "implement",
            Command::Verify { .. } => "verify",
            Command::HandBack { .. } => "hand-back",
            Command::OpenPr { .. } => "open-pr",
            Command::Review { .. } => "review",
            Command::Fix { .. } => "fix",
            Command::EvaluateGate { .. } => "evaluate-gate",
            Command::ReadChecks { .. } => "read-checks",
            Command::RerunChecks { .. } => "rerun-checks",
            Command::FixChecks { .. } => "fix-checks",
            Command::ResolveConflicts { .. } => "resolve-conflicts",
            Command::Merge { .. } => "merge",
            Command::TestBase { .. } => "test-base",
            Command::Retry { .. } => "retry",
            Command::StopWork { .. } => "stop-work",
            Command::CleanUp { .. } => "clean-up",
            Command::RunFinished { .. } => "run-finished",
        }
    }

    /// The squad the command is for; `None` for `RunFinished`.
    pub fn squad(&self) -> Option<&SquadId> {
        match self {
            Command::RecordPhase { squad, .. }
            | Command::RecordNote { squad, .. }
            | Command::PrepareWorkspace { squad }
            | Command::Diagnose { squad }
            | Command::Implement { squad }
            | Command::Verify { squad, .. }
            | Command::HandBack { squad, .. }
            | Command::OpenPr { squad }
            | Command::Review { squad, .. }
            | Command::Fix { squad, .. }
            | Command::EvaluateGate { squad }
            | Command::ReadChecks { squad, .. }
            | Command::RerunChecks { squad, .. }
            | Command::FixChecks { squad, .. }
            | Command::ResolveConflicts { squad, .. }
            | Command::Merge { squad }
            | Command::TestBase { squad, .. }
            | Command::Retry { squad, .. }
            | Command::StopWork { squad }
            | Command::CleanUp { squad } => Some(squad),
            Command::RunFinished { .. } => None,
        }
    }
}

/// How one squad of a finished run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SquadOutcome {
    /// The squad.
    pub squad: SquadId,
    /// Its issue.
    pub issue: IssueKey,
    /// Its terminal phase, with its reason.
    pub phase: Phase,
    /// Review rounds it went through.
    pub round: u32,
    /// The merge commit, when it merged.
    pub merge_sha: Option<CommitSha>,
}

/// How a run ended, squad by squad in admission order (skipped issues last).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// One entry per squad.
    pub outcomes: Vec<SquadOutcome>,
}

impl RunSummary {
    /// How many squads ended in a phase of this name (`merged`, `needs-human`, …).
    pub fn count(&self, phase_name: &str) -> usize {
        self.outcomes
            .iter()
            .filter(|outcome| outcome.phase.name() == phase_name)
            .count()
    }
}

impl fmt::Display for RunSummary {
    /// `2 merged, 1 needs-human` — only the phases that occurred, in a fixed order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = ["merged", "needs-human", "failed", "cancelled", "skipped"];
        let parts: Vec<String> = names
            .into_iter()
            .map(|name| (name, self.count(name)))
            .filter(|(_, count)| *count > 0)
            .map(|(name, count)| format!("{count} {name}"))
            .collect();
        if parts.is_empty() {
            f.write_str("no squads")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}
