//! What the runtime notes in a squad's event log beside its phase changes, as typed values:
//! the store crate alone knows their stored JSON (a [`SquadEvent`](crate::ports::SquadEvent)'s
//! `payload`), and each one's kind is named here once.

use std::time::Duration;

use crate::domain::{IssueKey, PrNumber, ReviewVerdict, Role, SquadId};
use crate::effect::EffectKey;
use crate::gate::CommitSha;
use crate::merge_queue::{BaseVerdict, MergeLane};
use crate::ports::Confidence;

/// One note in a squad's event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventPayload {
    /// The squad's issue as admitted: what a finished squad is shown under once the
    /// runtime has let it go.
    IssueTitle {
        /// The issue's title when the squad was admitted.
        title: String,
    },
    /// The squad's PR merged.
    Merged {
        /// The commit the merge made on the base branch.
        sha: CommitSha,
        /// The logins whose approvals of the merged head let it merge.
        approved_by: Vec<String>,
    },
    /// The merge gate decided.
    GateDecision {
        /// `merge`, `wait`, `blocked` or `rebase`.
        decision: String,
        /// Every reason, as people read them.
        reasons: Vec<String>,
        /// The head the gate read, if it read one.
        head: Option<CommitSha>,
    },
    /// Something is tried again.
    Retry {
        /// What: a side effect's kind, a step's command, `tests`, …
        what: String,
        /// Which attempt this is, from 2.
        attempt: u32,
        /// Why the last attempt did not do.
        why: String,
    },
    /// A failed required check was asked to run again on the same commit (suspected flaky).
    CheckRerun {
        /// The check's name.
        check: String,
        /// The commit.
        sha: CommitSha,
    },
    /// A required check that failed and was run again passed on the same commit.
    FlakyCheck {
        /// The check's name.
        check: String,
        /// The commit.
        sha: CommitSha,
    },
    /// A CI-fix round started: the failing checks went back to the agents. The scheduler
    /// notes it before the round's work starts, so the log counts the rounds spent.
    CiFix {
        /// The round.
        round: u32,
        /// The failing checks' names; none when the round is for the PR merged with the
        /// moved base failing the test command.
        checks: Vec<String>,
    },
    /// A conflict-resolution round started: a rebase stopped on conflicts and they went to
    /// the agents.
    ConflictRound {
        /// The round.
        round: u32,
        /// The conflicting files.
        files: Vec<String>,
        /// The issues of the PRs on the base the branch conflicts with.
        landed: Vec<String>,
    },
    /// A post to the squad's chat thread failed; the squad carried on.
    NotifyFailed {
        /// The post.
        key: EffectKey,
        /// Why it failed.
        error: String,
    },
    /// QA's files as they stand, the whole record (the latest one recorded stands): the
    /// Developer may not change them, and only QA's versions of them are committed.
    QaFiles {
        /// Every file QA wrote or deleted, by path.
        files: Vec<QaFile>,
    },
    /// A bug fix's diagnosis, recorded before it is posted; its plan stands in for the
    /// refined issue.
    Diagnosis {
        /// What the diagnostician thinks went wrong.
        hypothesis: String,
        /// How to fix it.
        plan: String,
        /// How sure it is.
        confidence: Confidence,
        /// The files it blames.
        files: Vec<String>,
    },
    /// The Developer asked QA to change tests, and QA is asked to judge each request.
    TestChangeRequested {
        /// The review round.
        round: u32,
        /// The requests, in the order the Developer made them.
        requests: Vec<TestChangeRequest>,
    },
    /// A reviewer's verdict was posted on the PR.
    ReviewVerdict {
        /// The review round.
        round: u32,
        /// The reviewer.
        role: Role,
        /// Its verdict.
        verdict: ReviewVerdict,
        /// The head it reviewed.
        head: CommitSha,
        /// The code host's id of the review, when it gave one.
        review_id: Option<u64>,
    },
    /// A stopped squad's work is on the remote.
    WorkSaved {
        /// The branch holding it.
        branch: String,
        /// Its head.
        head: CommitSha,
        /// Whether uncommitted work was committed as work in progress.
        wip_commit: bool,
        /// Whether it is a `wip/` branch beside the PR's own.
        beside_pr: bool,
        /// The branch's web page, when the code host has one.
        url: Option<String>,
    },
    /// A stopped squad's work could not be pushed; its worktree stays.
    WorkNotSaved {
        /// Why.
        error: String,
    },
    /// The base head a merge made was tested (stop the line), in the merged squad's log.
    BaseTested {
        /// The merge lane.
        lane: MergeLane,
        /// The base head.
        sha: CommitSha,
        /// How the test command ended there.
        verdict: BaseVerdict,
    },
    /// A bug fix was asked for; the squad reports where it was asked.
    FixRequested {
        /// Who asked: a chat user id, or `cli`.
        requested_by: String,
        /// The chat channel it was asked in.
        channel: Option<String>,
        /// The chat message whose thread the squad reports in.
        thread_ts: Option<String>,
    },
    /// A comment telling an issue why it was left out, recorded with the admission and
    /// posted afterwards.
    PendingComment {
        /// The issue.
        issue: IssueKey,
        /// The marker that makes the comment one of a kind on the issue.
        marker: String,
        /// The comment.
        body: String,
    },
    /// A bug fix merged: the time from its trigger to its merge (time to restore service).
    TimeToMerge {
        /// The time, to the millisecond.
        elapsed: Duration,
    },
    /// The squad's merge was taken back by a revert PR.
    Reverted {
        /// The revert PR.
        pr: PrNumber,
        /// Its page.
        url: String,
        /// The merge commit it reverts.
        reverted_sha: CommitSha,
        /// Whether the revert was merged at once (`squadron revert --now`).
        now: bool,
    },
    /// The squad's merge was found reverted on its base by a commit made outside Squadron
    /// (`git revert`, GitHub's Revert button): a change failure all the same.
    RevertedOnBase {
        /// The reverting commit.
        revert_sha: CommitSha,
        /// The merge commit it reverts.
        reverted_sha: CommitSha,
    },
    /// A revert squad was asked for: the merge it takes back, and why. Its log starts with
    /// this.
    RevertRequested {
        /// The squad whose merge it reverts.
        reverted: SquadId,
        /// That squad's merge commit.
        merge_sha: CommitSha,
        /// That squad's PR page, when known.
        pr_url: Option<String>,
        /// Why, as the person who asked wrote it.
        reason: Option<String>,
        /// Who asked: a Slack user, or `cli`.
        requested_by: String,
    },
    /// The repository's setup command ran in the squad's worktree.
    Setup {
        /// The command.
        command: String,
        /// Whether it had the network.
        network: bool,
        /// Whether it succeeded.
        passed: bool,
        /// Its exit code, when it exited (not killed).
        exit_code: Option<i32>,
        /// How long it ran, to the millisecond.
        elapsed: Duration,
        /// What it printed, head and tail.
        output: String,
    },
}

/// One of QA's files in [`EventPayload::QaFiles`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QaFile {
    /// The file's path in the worktree.
    pub path: String,
    /// The digest of QA's version, `None` when QA deleted it.
    pub digest: Option<String>,
}

/// One request of the Developer's in [`EventPayload::TestChangeRequested`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestChangeRequest {
    /// The test file.
    pub path: String,
    /// Why the Developer wants it changed: the model's words.
    pub reason: String,
}

impl EventPayload {
    /// Kind of [`EventPayload::IssueTitle`].
    pub const ISSUE_TITLE: &'static str = "issue-title";
    /// Kind of [`EventPayload::Merged`].
    pub const MERGED: &'static str = "merged";
    /// Kind of [`EventPayload::GateDecision`].
    pub const GATE_DECISION: &'static str = "gate-decision";
    /// Kind of [`EventPayload::Retry`].
    pub const RETRY: &'static str = "retry";
    /// Kind of [`EventPayload::CheckRerun`].
    pub const CHECK_RERUN: &'static str = "check-rerun";
    /// Kind of [`EventPayload::FlakyCheck`].
    pub const FLAKY_CHECK: &'static str = "flaky-check";
    /// Kind of [`EventPayload::CiFix`].
    pub const CI_FIX: &'static str = "ci-fix";
    /// Kind of [`EventPayload::ConflictRound`].
    pub const CONFLICT_ROUND: &'static str = "conflict-round";
    /// Kind of [`EventPayload::NotifyFailed`].
    pub const NOTIFY_FAILED: &'static str = "notify-failed";
    /// Kind of [`EventPayload::QaFiles`].
    pub const QA_FILES: &'static str = "qa-files";
    /// Kind of [`EventPayload::Diagnosis`].
    pub const DIAGNOSIS: &'static str = "diagnosis";
    /// Kind of [`EventPayload::TestChangeRequested`].
    pub const TEST_CHANGE_REQUESTED: &'static str = "test-change-requested";
    /// Kind of [`EventPayload::ReviewVerdict`].
    pub const REVIEW_VERDICT: &'static str = "review-verdict";
    /// Kind of [`EventPayload::WorkSaved`] and [`EventPayload::WorkNotSaved`].
    pub const WORK_SAVED: &'static str = "work-saved";
    /// Kind of [`EventPayload::BaseTested`].
    pub const BASE_TESTED: &'static str = "base-tested";
    /// Kind of [`EventPayload::FixRequested`].
    pub const FIX_REQUESTED: &'static str = "fix-requested";
    /// Kind of [`EventPayload::PendingComment`].
    pub const PENDING_COMMENT: &'static str = "pending-comment";
    /// Kind of [`EventPayload::TimeToMerge`].
    pub const TIME_TO_MERGE: &'static str = "time-to-merge";
    /// Kind of [`EventPayload::Reverted`].
    pub const REVERTED: &'static str = "reverted";
    /// Kind of [`EventPayload::Setup`].
    pub const SETUP: &'static str = "setup";
    /// Kind of [`EventPayload::RevertedOnBase`].
    pub const REVERTED_ON_BASE: &'static str = "reverted-on-base";
    /// Kind of [`EventPayload::RevertRequested`].
    pub const REVERT_REQUESTED: &'static str = "revert-requested";

    /// Whether the note says the squad's merge was reverted, by Squadron or on its base.
    pub const fn is_revert(&self) -> bool {
        matches!(
            self,
            EventPayload::Reverted { .. } | EventPayload::RevertedOnBase { .. }
        )
    }

    /// The event's kind, as the log records it and readers filter on.
    pub const fn kind(&self) -> &'static str {
        match self {
            EventPayload::IssueTitle { .. } => Self::ISSUE_TITLE,
            EventPayload::Merged { .. } => Self::MERGED,
            EventPayload::GateDecision { .. } => Self::GATE_DECISION,
            EventPayload::Retry { .. } => Self::RETRY,
            EventPayload::CheckRerun { .. } => Self::CHECK_RERUN,
            EventPayload::FlakyCheck { .. } => Self::FLAKY_CHECK,
            EventPayload::CiFix { .. } => Self::CI_FIX,
            EventPayload::ConflictRound { .. } => Self::CONFLICT_ROUND,
            EventPayload::NotifyFailed { .. } => Self::NOTIFY_FAILED,
            EventPayload::QaFiles { .. } => Self::QA_FILES,
            EventPayload::Diagnosis { .. } => Self::DIAGNOSIS,
            EventPayload::TestChangeRequested { .. } => Self::TEST_CHANGE_REQUESTED,
            EventPayload::ReviewVerdict { .. } => Self::REVIEW_VERDICT,
            EventPayload::WorkSaved { .. } | EventPayload::WorkNotSaved { .. } => Self::WORK_SAVED,
            EventPayload::BaseTested { .. } => Self::BASE_TESTED,
            EventPayload::FixRequested { .. } => Self::FIX_REQUESTED,
            EventPayload::PendingComment { .. } => Self::PENDING_COMMENT,
            EventPayload::TimeToMerge { .. } => Self::TIME_TO_MERGE,
            EventPayload::Reverted { .. } => Self::REVERTED,
            EventPayload::Setup { .. } => Self::SETUP,
            EventPayload::RevertRequested { .. } => Self::REVERT_REQUESTED,
            EventPayload::RevertedOnBase { .. } => Self::REVERTED_ON_BASE,
        }
    }
}
