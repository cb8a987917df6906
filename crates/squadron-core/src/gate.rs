//! The merge gate: decides from the code host's own PR state whether a squad's PR may merge.
//!
//! The gate trusts nothing the agents say. It reads what the code host reports — PR state,
//! head commit, reviews with the commit each was made on, statuses and check runs,
//! mergeability — and answers either [`GateDecision::Merge`], [`GateDecision::AskAgainShortly`]
//! (the host is still computing mergeability), or every reason it will not merge, so the
//! squad can log and show them all at once.

use std::fmt;

use crate::domain::{PrNumber, Role};
use crate::ports::RepoRef;

/// A full commit SHA as the code host reports it (40 hex digits for SHA-1 repositories).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitSha(String);

impl CommitSha {
    /// Wraps a SHA read from git or from the code host.
    pub fn new(sha: impl Into<String>) -> Self {
        Self(sha.into())
    }

    /// The SHA as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first seven characters, as people read SHAs in logs.
    pub fn short(&self) -> &str {
        self.0.get(..7).unwrap_or(&self.0)
    }
}

impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for CommitSha {
    fn from(sha: &str) -> Self {
        Self::new(sha)
    }
}

/// What a change on the code host names, as a webhook reports it: the gates of the PRs it
/// concerns are asked again at once instead of at their next scheduled look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GateTarget {
    /// One PR (a review was submitted, the PR changed, a check run named it).
    PullRequest {
        /// The repository.
        repo: RepoRef,
        /// The PR.
        pr: PrNumber,
    },
    /// Every PR whose head is this commit (a status or a check run on it changed).
    Commit {
        /// The repository.
        repo: RepoRef,
        /// The commit.
        sha: CommitSha,
    },
    /// Every PR whose head or base branch this is (it was pushed to).
    Branch {
        /// The repository.
        repo: RepoRef,
        /// The branch, without `refs/heads/`.
        branch: String,
    },
}

/// Whether a PR is open, closed without merging, or merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PullRequestState {
    /// Open.
    Open,
    /// Closed without merging.
    Closed,
    /// Merged.
    Merged,
}

impl PullRequestState {
    /// The state as shown (`open`, `closed`, `merged`).
    pub const fn as_str(self) -> &'static str {
        match self {
            PullRequestState::Open => "open",
            PullRequestState::Closed => "closed",
            PullRequestState::Merged => "merged",
        }
    }
}

impl fmt::Display for PullRequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of one PR review, as the code host lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReviewState {
    /// Approved the commit it was made on.
    Approved,
    /// Asked for changes.
    ChangesRequested,
    /// A comment-only review; it expresses no opinion for the gate.
    Commented,
    /// A review someone dismissed; it no longer counts either way.
    Dismissed,
    /// Started but not submitted; invisible to the gate.
    Pending,
}

impl ReviewState {
    /// Whether the review states an opinion (GitHub: not COMMENTED and not PENDING).
    pub const fn is_opinion(self) -> bool {
        !matches!(self, ReviewState::Commented | ReviewState::Pending)
    }

    /// The state as GitHub spells it (`APPROVED`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            ReviewState::Approved => "APPROVED",
            ReviewState::ChangesRequested => "CHANGES_REQUESTED",
            ReviewState::Commented => "COMMENTED",
            ReviewState::Dismissed => "DISMISSED",
            ReviewState::Pending => "PENDING",
        }
    }
}

impl fmt::Display for ReviewState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One review as the gate needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewRecord {
    /// The reviewer's login.
    pub author: String,
    /// Its state.
    pub state: ReviewState,
    /// The commit the review was made on.
    pub commit_id: CommitSha,
}

/// The state of a commit status (one `context` of the combined status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusState {
    /// Passed.
    Success,
    /// Still running or not yet reported.
    Pending,
    /// Failed.
    Failure,
    /// Could not run.
    Error,
}

impl StatusState {
    /// The state as GitHub spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            StatusState::Success => "success",
            StatusState::Pending => "pending",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        }
    }
}

impl fmt::Display for StatusState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One commit status on the head commit (the latest per context).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitStatus {
    /// The status context, e.g. `ci/test` or `squadron/code-review`.
    pub context: String,
    /// Its state.
    pub state: StatusState,
    /// The login that set it; `None` when the code host does not say.
    pub creator: Option<String>,
}

/// How a completed check run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckConclusion {
    /// Passed.
    Success,
    /// Neither passed nor failed; GitHub's branch protection counts it as passing.
    Neutral,
    /// Skipped; GitHub's branch protection counts it as passing.
    Skipped,
    /// Failed.
    Failure,
    /// Cancelled before it finished.
    Cancelled,
    /// Ran out of time.
    TimedOut,
    /// Waits for a person to act.
    ActionRequired,
    /// Superseded and marked stale by GitHub.
    Stale,
    /// Failed to start.
    StartupFailure,
}

impl CheckConclusion {
    /// Whether a required check with this conclusion lets the PR merge.
    pub const fn passes(self) -> bool {
        matches!(
            self,
            CheckConclusion::Success | CheckConclusion::Neutral | CheckConclusion::Skipped
        )
    }

    /// The conclusion as GitHub spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            CheckConclusion::Success => "success",
            CheckConclusion::Neutral => "neutral",
            CheckConclusion::Skipped => "skipped",
            CheckConclusion::Failure => "failure",
            CheckConclusion::Cancelled => "cancelled",
            CheckConclusion::TimedOut => "timed_out",
            CheckConclusion::ActionRequired => "action_required",
            CheckConclusion::Stale => "stale",
            CheckConclusion::StartupFailure => "startup_failure",
        }
    }
}

/// One check run on the head commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRun {
    /// The check's name, as branch protection and config name it.
    pub name: String,
    /// `None` while queued or in progress; the conclusion once completed.
    pub conclusion: Option<CheckConclusion>,
}

/// Everything the gate reads about one PR, as the code host reported it in one reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequestSnapshot {
    /// The PR.
    pub number: PrNumber,
    /// Open, closed or merged.
    pub state: PullRequestState,
    /// Whether it is a draft.
    pub draft: bool,
    /// The current head commit.
    pub head_sha: CommitSha,
    /// The branch the PR merges into now (anyone with write access can retarget it).
    pub base_branch: String,
    /// `Some(true)` mergeable, `Some(false)` conflicts, `None` still being computed.
    pub mergeable: Option<bool>,
    /// Once merged, the commit the merge made on the base branch: a squash or merge commit,
    /// not the head. `None` while the PR is not merged.
    pub merge_commit: Option<CommitSha>,
    /// Every review, oldest first.
    pub reviews: Vec<ReviewRecord>,
    /// Commit statuses on the head commit, the latest per context.
    pub statuses: Vec<CommitStatus>,
    /// Check runs on the head commit, the latest per name.
    pub check_runs: Vec<CheckRun>,
}

/// The commit-status context carrying a reviewer's verdict in single-identity mode.
pub const fn verdict_status_context(role: Role) -> &'static str {
    match role {
        Role::QaSpecialist => "squadron/qa-specialist",
        _ => "squadron/code-review",
    }
}

/// Who the gate needs approvals from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReviewerIdentities {
    /// The strong mode: each reviewer role posts GitHub reviews under its own login.
    Distinct {
        /// The Code Reviewer's login.
        code_reviewer: String,
        /// The QA Specialist's login.
        qa_specialist: String,
    },
    /// One identity does everything, so GitHub reviews cannot carry the verdicts; each
    /// reviewer's verdict is the commit status [`verdict_status_context`] on the head commit,
    /// and counts only when that reviewer's own login set it: anyone who can push can set a
    /// status of any name.
    SingleIdentity {
        /// The login the Code Reviewer's verdict status must come from.
        code_reviewer: String,
        /// The login the QA Specialist's verdict status must come from.
        qa_specialist: String,
    },
}

/// What the gate requires of one PR. Built per squad: it names the commit that squad pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatePolicy {
    /// The commit the squad pushed and its reviewers reviewed; only that commit may land.
    pub pushed_sha: CommitSha,
    /// The branch the squad works against; only a PR into it may merge.
    pub base_branch: String,
    /// Whose approvals count, and how they are read.
    pub reviewers: ReviewerIdentities,
    /// Names of checks (status contexts or check runs) that must have passed.
    pub required_checks: Vec<String>,
}

/// One reason the gate does not merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GateBlocker {
    /// The PR is closed or already merged.
    NotOpen {
        /// Its state.
        state: PullRequestState,
    },
    /// The PR is a draft.
    Draft,
    /// Someone pushed after the squad: the head is not the commit the squad pushed.
    HeadNotPushedCommit {
        /// The current head.
        head: CommitSha,
        /// What the squad pushed.
        pushed: CommitSha,
    },
    /// The PR was retargeted: it merges into another branch than the squad's base.
    BaseBranchChanged {
        /// The squad's base branch.
        expected: String,
        /// The branch the PR targets now.
        found: String,
    },
    /// Both reviewer roles are configured with one login, which GitHub counts once.
    ReviewersShareLogin {
        /// The shared login.
        login: String,
    },
    /// A reviewer has not stated an opinion yet.
    ReviewMissing {
        /// The reviewer role.
        role: Role,
        /// Its login.
        login: String,
    },
    /// A reviewer's approval was made on an older commit.
    ApprovalStale {
        /// The reviewer role.
        role: Role,
        /// Its login.
        login: String,
        /// The commit it approved.
        approved: CommitSha,
        /// The current head.
        head: CommitSha,
    },
    /// A reviewer's latest opinion asks for changes.
    ReviewerRequestedChanges {
        /// The reviewer role.
        role: Role,
        /// Its login.
        login: String,
    },
    /// A reviewer's latest opinion was dismissed.
    ReviewDismissed {
        /// The reviewer role.
        role: Role,
        /// Its login.
        login: String,
    },
    /// Someone other than the squad's reviewers has changes requested outstanding.
    ChangesRequestedBy {
        /// Their login.
        login: String,
    },
    /// Single-identity mode: the reviewer's verdict status is absent on the head commit.
    VerdictStatusMissing {
        /// The reviewer role.
        role: Role,
    },
    /// Single-identity mode: the reviewer's verdict status was set by another login than the
    /// reviewer's, so it is no verdict of Squadron's.
    VerdictStatusNotOurs {
        /// The reviewer role.
        role: Role,
        /// Who set it, when the code host says.
        creator: Option<String>,
    },
    /// Single-identity mode: the reviewer's verdict status is not `success`.
    VerdictStatusNotApproved {
        /// The reviewer role.
        role: Role,
        /// The status state found.
        state: StatusState,
    },
    /// A required check has not reported on the head commit.
    CheckMissing {
        /// The check's name.
        name: String,
    },
    /// A required check is still running.
    CheckPending {
        /// The check's name.
        name: String,
    },
    /// A required check failed.
    CheckFailed {
        /// The check's name.
        name: String,
        /// The failing state or conclusion (`failure`, `timed_out`, …).
        outcome: &'static str,
    },
    /// The code host says the PR does not merge cleanly.
    NotMergeable,
}

impl fmt::Display for GateBlocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GateBlocker::NotOpen { state } => write!(f, "the PR is {state}"),
            GateBlocker::Draft => f.write_str("the PR is a draft"),
            GateBlocker::HeadNotPushedCommit { head, pushed } => write!(
                f,
                "the PR head {} is not the commit the squad pushed ({})",
                head.short(),
                pushed.short()
            ),
            GateBlocker::BaseBranchChanged { expected, found } => write!(
                f,
                "the PR merges into `{found}`, not into the squad's base branch `{expected}`"
            ),
            GateBlocker::ReviewersShareLogin { login } => write!(
                f,
                "both reviewer roles use the login `{login}`, whose approval counts once; configure two identities or single-identity mode"
            ),
            GateBlocker::ReviewMissing { role, login } => {
                write!(f, "{role} (`{login}`) has not reviewed yet")
            }
            GateBlocker::ApprovalStale {
                role,
                login,
                approved,
                head,
            } => write!(
                f,
                "{role} (`{login}`) approved {} but the head is now {}",
                approved.short(),
                head.short()
            ),
            GateBlocker::ReviewerRequestedChanges { role, login } => {
                write!(f, "{role} (`{login}`) requested changes")
            }
            GateBlocker::ReviewDismissed { role, login } => {
                write!(f, "{role} (`{login}`)'s review was dismissed")
            }
            GateBlocker::ChangesRequestedBy { login } => {
                write!(f, "`{login}` requested changes and has not approved since")
            }
            GateBlocker::VerdictStatusMissing { role } => write!(
                f,
                "{role} has not reported a verdict (status `{}`) on the head commit",
                verdict_status_context(*role)
            ),
            GateBlocker::VerdictStatusNotOurs { role, creator } => write!(
                f,
                "{role}'s verdict status `{}` was set by {}, not by the {role}'s own login",
                verdict_status_context(*role),
                creator.as_deref().map_or_else(
                    || "an unknown login".to_owned(),
                    |login| format!("`{login}`")
                )
            ),
            GateBlocker::VerdictStatusNotApproved { role, state } => write!(
                f,
                "{role}'s verdict status `{}` is {state}",
                verdict_status_context(*role)
            ),
            GateBlocker::CheckMissing { name } => {
                write!(
                    f,
                    "required check `{name}` has not reported on the head commit"
                )
            }
            GateBlocker::CheckPending { name } => write!(f, "required check `{name}` is pending"),
            GateBlocker::CheckFailed { name, outcome } => {
                write!(f, "required check `{name}` ended with {outcome}")
            }
            GateBlocker::NotMergeable => f.write_str("the PR does not merge cleanly into its base"),
        }
    }
}

/// The gate's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GateDecision {
    /// Merge now, guarded by the head SHA.
    Merge,
    /// Nothing blocks except that the code host is still computing mergeability: read again
    /// shortly.
    AskAgainShortly,
    /// Every reason the PR does not merge, in a stable order; never empty.
    Blocked(Vec<GateBlocker>),
}

impl fmt::Display for GateDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GateDecision::Merge => f.write_str("merge"),
            GateDecision::AskAgainShortly => {
                f.write_str("wait: the code host is still computing mergeability")
            }
            GateDecision::Blocked(blockers) => {
                f.write_str("blocked: ")?;
                for (index, blocker) in blockers.iter().enumerate() {
                    if index > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{blocker}")?;
                }
                Ok(())
            }
        }
    }
}

/// The merge gate.
#[derive(Debug)]
pub struct MergeGate;

impl MergeGate {
    /// Decides whether `pr` may merge under `policy`, listing every reason it may not.
    pub fn evaluate(pr: &PullRequestSnapshot, policy: &GatePolicy) -> GateDecision {
        let mut blockers = Vec::new();

        if pr.state != PullRequestState::Open {
            blockers.push(GateBlocker::NotOpen { state: pr.state });
        }
        if pr.draft {
            blockers.push(GateBlocker::Draft);
        }
        if pr.head_sha != policy.pushed_sha {
            blockers.push(GateBlocker::HeadNotPushedCommit {
                head: pr.head_sha.clone(),
                pushed: policy.pushed_sha.clone(),
            });
        }
        if pr.base_branch != policy.base_branch {
            blockers.push(GateBlocker::BaseBranchChanged {
                expected: policy.base_branch.clone(),
                found: pr.base_branch.clone(),
            });
        }

        let opinions = latest_opinions(&pr.reviews);
        match &policy.reviewers {
            ReviewerIdentities::Distinct {
                code_reviewer,
                qa_specialist,
            } => {
                if same_login(code_reviewer, qa_specialist) {
                    blockers.push(GateBlocker::ReviewersShareLogin {
                        login: code_reviewer.clone(),
                    });
                }
                for (role, login) in [
                    (Role::CodeReviewer, code_reviewer),
                    (Role::QaSpecialist, qa_specialist),
                ] {
                    if let Some(blocker) = reviewer_blocker(role, login, &opinions, &pr.head_sha) {
                        blockers.push(blocker);
                    }
                }
                for opinion in &opinions {
                    let is_reviewer = same_login(&opinion.author, code_reviewer)
                        || same_login(&opinion.author, qa_specialist);
                    if !is_reviewer && opinion.state == ReviewState::ChangesRequested {
                        blockers.push(GateBlocker::ChangesRequestedBy {
                            login: opinion.author.clone(),
                        });
                    }
                }
            }
            ReviewerIdentities::SingleIdentity {
                code_reviewer,
                qa_specialist,
            } => {
                for (role, login) in [
                    (Role::CodeReviewer, code_reviewer),
                    (Role::QaSpecialist, qa_specialist),
                ] {
                    let context = verdict_status_context(role);
                    match pr.statuses.iter().find(|status| status.context == context) {
                        None => blockers.push(GateBlocker::VerdictStatusMissing { role }),
                        Some(status)
                            if !status
                                .creator
                                .as_deref()
                                .is_some_and(|creator| same_login(creator, login)) =>
                        {
                            blockers.push(GateBlocker::VerdictStatusNotOurs {
                                role,
                                creator: status.creator.clone(),
                            });
                        }
                        Some(status) if status.state != StatusState::Success => {
                            blockers.push(GateBlocker::VerdictStatusNotApproved {
                                role,
                                state: status.state,
                            })
                        }
                        Some(_) => {}
                    }
                }
                for opinion in &opinions {
                    if opinion.state == ReviewState::ChangesRequested {
                        blockers.push(GateBlocker::ChangesRequestedBy {
                            login: opinion.author.clone(),
                        });
                    }
                }
            }
        }

        for name in &policy.required_checks {
            if let Some(blocker) = check_blocker(name, pr) {
                blockers.push(blocker);
            }
        }

        if pr.mergeable == Some(false) {
            blockers.push(GateBlocker::NotMergeable);
        }

        if !blockers.is_empty() {
            GateDecision::Blocked(blockers)
        } else if pr.mergeable.is_none() {
            GateDecision::AskAgainShortly
        } else {
            GateDecision::Merge
        }
    }
}

/// GitHub logins are case-insensitive.
fn same_login(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Each author's latest review that states an opinion, in order of first appearance.
fn latest_opinions(reviews: &[ReviewRecord]) -> Vec<&ReviewRecord> {
    let mut latest: Vec<&ReviewRecord> = Vec::new();
    for review in reviews.iter().filter(|review| review.state.is_opinion()) {
        match latest
            .iter_mut()
            .find(|seen| same_login(&seen.author, &review.author))
        {
            Some(seen) => *seen = review,
            None => latest.push(review),
        }
    }
    latest
}

fn reviewer_blocker(
    role: Role,
    login: &str,
    opinions: &[&ReviewRecord],
    head: &CommitSha,
) -> Option<GateBlocker> {
    let login_owned = || login.to_owned();
    let Some(opinion) = opinions
        .iter()
        .find(|opinion| same_login(&opinion.author, login))
    else {
        return Some(GateBlocker::ReviewMissing {
            role,
            login: login_owned(),
        });
    };
    match opinion.state {
        ReviewState::Approved if opinion.commit_id == *head => None,
        ReviewState::Approved => Some(GateBlocker::ApprovalStale {
            role,
            login: login_owned(),
            approved: opinion.commit_id.clone(),
            head: head.clone(),
        }),
        ReviewState::ChangesRequested => Some(GateBlocker::ReviewerRequestedChanges {
            role,
            login: login_owned(),
        }),
        ReviewState::Dismissed => Some(GateBlocker::ReviewDismissed {
            role,
            login: login_owned(),
        }),
        // `latest_opinions` filtered these out; treat them as no opinion all the same.
        ReviewState::Commented | ReviewState::Pending => Some(GateBlocker::ReviewMissing {
            role,
            login: login_owned(),
        }),
    }
}

/// A required check passes when every status and check run of that name on the head passed;
/// one failing report fails it, and it is missing when nothing of that name reported.
fn check_blocker(name: &str, pr: &PullRequestSnapshot) -> Option<GateBlocker> {
    let mut reported = false;
    let mut pending = false;
    for status in pr.statuses.iter().filter(|status| status.context == name) {
        reported = true;
        match status.state {
            StatusState::Success => {}
            StatusState::Pending => pending = true,
            StatusState::Failure | StatusState::Error => {
                return Some(GateBlocker::CheckFailed {
                    name: name.to_owned(),
                    outcome: status.state.as_str(),
                });
            }
        }
    }
    for run in pr.check_runs.iter().filter(|run| run.name == name) {
        reported = true;
        match run.conclusion {
            None => pending = true,
            Some(conclusion) if conclusion.passes() => {}
            Some(conclusion) => {
                return Some(GateBlocker::CheckFailed {
                    name: name.to_owned(),
                    outcome: conclusion.as_str(),
                });
            }
        }
    }
    if !reported {
        Some(GateBlocker::CheckMissing {
            name: name.to_owned(),
        })
    } else if pending {
        Some(GateBlocker::CheckPending {
            name: name.to_owned(),
        })
    } else {
        None
    }
}

/// Something about the configured GitHub identities that weakens the review guarantee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityWarning {
    /// A reviewer role uses the Developer's login; GitHub refuses self-approval.
    ReviewerIsAuthor {
        /// The reviewer role.
        role: Role,
        /// The shared login.
        login: String,
    },
    /// Both reviewer roles use one login, whose approval GitHub counts once.
    ReviewersShareLogin {
        /// The shared login.
        login: String,
    },
}

impl fmt::Display for IdentityWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityWarning::ReviewerIsAuthor { role, login } => write!(
                f,
                "{role} uses the developer's login `{login}`: GitHub refuses self-approval, so reviews are posted as comments plus commit statuses (single-identity mode); give {role} its own token for the strong mode"
            ),
            IdentityWarning::ReviewersShareLogin { login } => write!(
                f,
                "code-reviewer and qa-specialist both use `{login}`: one identity counts once, so reviews are posted as comments plus commit statuses (single-identity mode); give each reviewer its own token for the strong mode"
            ),
        }
    }
}

impl ReviewerIdentities {
    /// Chooses the review mode from the logins the three role tokens resolve to: distinct
    /// identities when every role has its own login, otherwise single-identity mode, with a
    /// warning for every overlap found.
    pub fn from_logins(
        developer: &str,
        code_reviewer: &str,
        qa_specialist: &str,
    ) -> (ReviewerIdentities, Vec<IdentityWarning>) {
        let mut warnings = Vec::new();
        for (role, login) in [
            (Role::CodeReviewer, code_reviewer),
            (Role::QaSpecialist, qa_specialist),
        ] {
            if same_login(login, developer) {
                warnings.push(IdentityWarning::ReviewerIsAuthor {
                    role,
                    login: login.to_owned(),
                });
            }
        }
        if same_login(code_reviewer, qa_specialist) {
            warnings.push(IdentityWarning::ReviewersShareLogin {
                login: code_reviewer.to_owned(),
            });
        }
        let identities = if warnings.is_empty() {
            ReviewerIdentities::Distinct {
                code_reviewer: code_reviewer.to_owned(),
                qa_specialist: qa_specialist.to_owned(),
            }
        } else {
            ReviewerIdentities::SingleIdentity {
                code_reviewer: code_reviewer.to_owned(),
                qa_specialist: qa_specialist.to_owned(),
            }
        };
        (identities, warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "1111111111111111111111111111111111111111";
    const HEAD: &str = "2222222222222222222222222222222222222222";
    const CR: &str = "cr-bot";
    const QA: &str = "qa-bot";

    fn review(author: &str, state: ReviewState, commit: &str) -> ReviewRecord {
        ReviewRecord {
            author: author.to_owned(),
            state,
            commit_id: CommitSha::from(commit),
        }
    }

    /// A status set by a CI system that GitHub names no creator for.
    fn status(context: &str, state: StatusState) -> CommitStatus {
        CommitStatus {
            context: context.to_owned(),
            state,
            creator: None,
        }
    }

    fn status_by(context: &str, state: StatusState, creator: &str) -> CommitStatus {
        CommitStatus {
            creator: Some(creator.to_owned()),
            ..status(context, state)
        }
    }

    fn run(name: &str, conclusion: Option<CheckConclusion>) -> CheckRun {
        CheckRun {
            name: name.to_owned(),
            conclusion,
        }
    }

    /// A PR that merges: open, both reviewers approved the head, `ci` green.
    fn green_pr() -> PullRequestSnapshot {
        PullRequestSnapshot {
            number: PrNumber(7),
            state: PullRequestState::Open,
            draft: false,
            head_sha: CommitSha::from(HEAD),
            base_branch: "main".to_owned(),
            mergeable: Some(true),
            merge_commit: None,
            reviews: vec![
                review(CR, ReviewState::Approved, HEAD),
                review(QA, ReviewState::Approved, HEAD),
            ],
            statuses: vec![status("ci", StatusState::Success)],
            check_runs: vec![run("build", Some(CheckConclusion::Success))],
        }
    }

    fn policy() -> GatePolicy {
        GatePolicy {
            pushed_sha: CommitSha::from(HEAD),
            base_branch: "main".to_owned(),
            reviewers: ReviewerIdentities::Distinct {
                code_reviewer: CR.to_owned(),
                qa_specialist: QA.to_owned(),
            },
            required_checks: vec!["ci".to_owned(), "build".to_owned()],
        }
    }

    fn single_identity_policy() -> GatePolicy {
        GatePolicy {
            reviewers: ReviewerIdentities::SingleIdentity {
                code_reviewer: CR.to_owned(),
                qa_specialist: QA.to_owned(),
            },
            ..policy()
        }
    }

    fn blockers(pr: &PullRequestSnapshot, policy: &GatePolicy) -> Vec<GateBlocker> {
        match MergeGate::evaluate(pr, policy) {
            GateDecision::Blocked(blockers) => {
                assert!(
                    !blockers.is_empty(),
                    "a blocked decision must name its reasons"
                );
                blockers
            }
            other => panic!("expected the gate to block, got {other}"),
        }
    }

    #[test]
    fn green_pr_merges() {
        assert_eq!(
            MergeGate::evaluate(&green_pr(), &policy()),
            GateDecision::Merge
        );
    }

    #[test]
    fn approval_on_an_older_commit_after_a_new_push_is_stale() {
        let mut pr = green_pr();
        pr.reviews[0].commit_id = CommitSha::from(OLD);
        assert_eq!(
            blockers(&pr, &policy()),
            vec![GateBlocker::ApprovalStale {
                role: Role::CodeReviewer,
                login: CR.to_owned(),
                approved: CommitSha::from(OLD),
                head: CommitSha::from(HEAD),
            }]
        );
    }

    #[test]
    fn one_identity_approving_twice_counts_once() {
        let mut pr = green_pr();
        pr.reviews = vec![
            review(CR, ReviewState::Approved, HEAD),
            review(CR, ReviewState::Approved, HEAD),
        ];
        assert_eq!(
            blockers(&pr, &policy()),
            vec![GateBlocker::ReviewMissing {
                role: Role::QaSpecialist,
                login: QA.to_owned()
            }]
        );
    }

    #[test]
    fn both_roles_configured_with_one_login_never_merge_on_its_approval() {
        let mut pr = green_pr();
        pr.reviews = vec![review(CR, ReviewState::Approved, HEAD)];
        let policy = GatePolicy {
            reviewers: ReviewerIdentities::Distinct {
                code_reviewer: CR.to_owned(),
                qa_specialist: CR.to_uppercase(),
            },
            ..policy()
        };
        assert_eq!(
            blockers(&pr, &policy),
            vec![GateBlocker::ReviewersShareLogin {
                login: CR.to_owned()
            }]
        );
    }

    #[test]
    fn changes_requested_then_approved_by_the_same_reviewer_merges() {
        let mut pr = green_pr();
        pr.reviews
            .insert(0, review(CR, ReviewState::ChangesRequested, OLD));
        assert_eq!(MergeGate::evaluate(&pr, &policy()), GateDecision::Merge);
    }

    #[test]
    fn approved_then_changes_requested_by_the_same_reviewer_blocks() {
        let mut pr = green_pr();
        pr.reviews
            .push(review(QA, ReviewState::ChangesRequested, HEAD));
        assert_eq!(
            blockers(&pr, &policy()),
            vec![GateBlocker::ReviewerRequestedChanges {
                role: Role::QaSpecialist,
                login: QA.to_owned()
            }]
        );
    }

    #[test]
    fn a_comment_after_an_approval_keeps_the_approval() {
        let mut pr = green_pr();
        pr.reviews.push(review(CR, ReviewState::Commented, HEAD));
        pr.reviews.push(review(QA, ReviewState::Pending, HEAD));
        assert_eq!(MergeGate::evaluate(&pr, &policy()), GateDecision::Merge);
    }

    #[test]
    fn a_comment_alone_is_no_review() {
        let mut pr = green_pr();
        pr.reviews = vec![
            review(CR, ReviewState::Approved, HEAD),
            review(QA, ReviewState::Commented, HEAD),
        ];
        assert_eq!(
            blockers(&pr, &policy()),
            vec![GateBlocker::ReviewMissing {
                role: Role::QaSpecialist,
                login: QA.to_owned()
            }]
        );
    }

    #[test]
    fn a_dismissed_approval_no_longer_counts() {
        let mut pr = green_pr();
        pr.reviews[1].state = ReviewState::Dismissed;
        assert_eq!(
            blockers(&pr, &policy()),
            vec![GateBlocker::ReviewDismissed {
                role: Role::QaSpecialist,
                login: QA.to_owned()
            }]
        );
    }

    #[test]
    fn a_dismissed_change_request_from_someone_else_no_longer_blocks() {
        let mut pr = green_pr();
        pr.reviews
            .insert(0, review("alice", ReviewState::Dismissed, OLD));
        assert_eq!(MergeGate::evaluate(&pr, &policy()), GateDecision::Merge);
    }

    #[test]
    fn another_users_outstanding_change_request_blocks_even_on_an_old_commit() {
        let mut pr = green_pr();
        pr.reviews
            .insert(0, review("alice", ReviewState::ChangesRequested, OLD));
        pr.reviews
            .push(review("alice", ReviewState::Commented, HEAD));
        assert_eq!(
            blockers(&pr, &policy()),
            vec![GateBlocker::ChangesRequestedBy {
                login: "alice".to_owned()
            }]
        );
        pr.reviews
            .push(review("alice", ReviewState::Approved, HEAD));
        assert_eq!(MergeGate::evaluate(&pr, &policy()), GateDecision::Merge);
    }

    #[test]
    fn reviewer_logins_match_case_insensitively() {
        let mut pr = green_pr();
        pr.reviews[0].author = CR.to_uppercase();
        assert_eq!(MergeGate::evaluate(&pr, &policy()), GateDecision::Merge);
    }

    #[test]
    fn red_required_status_blocks() {
        for state in [StatusState::Failure, StatusState::Error] {
            let mut pr = green_pr();
            pr.statuses[0].state = state;
            assert_eq!(
                blockers(&pr, &policy()),
                vec![GateBlocker::CheckFailed {
                    name: "ci".to_owned(),
                    outcome: state.as_str()
                }]
            );
        }
    }

    #[test]
    fn red_required_check_run_blocks() {
        for conclusion in [
            CheckConclusion::Failure,
            CheckConclusion::Cancelled,
            CheckConclusion::TimedOut,
            CheckConclusion::ActionRequired,
            CheckConclusion::Stale,
            CheckConclusion::StartupFailure,
        ] {
            let mut pr = green_pr();
            pr.check_runs[0].conclusion = Some(conclusion);
            assert_eq!(
                blockers(&pr, &policy()),
                vec![GateBlocker::CheckFailed {
                    name: "build".to_owned(),
                    outcome: conclusion.as_str()
                }]
            );
        }
    }

    #[test]
    fn neutral_and_skipped_check_runs_pass_like_branch_protection() {
        for conclusion in [CheckConclusion::Neutral, CheckConclusion::Skipped] {
            let mut pr = green_pr();
            pr.check_runs[0].conclusion = Some(conclusion);
            assert_eq!(MergeGate::evaluate(&pr, &policy()), GateDecision::Merge);
        }
    }

    #[test]
    fn pending_required_checks_block() {
        let mut pr = green_pr();
        pr.statuses[0].state = StatusState::Pending;
        pr.check_runs[0].conclusion = None;
        assert_eq!(
            blockers(&pr, &policy()),
            vec![
                GateBlocker::CheckPending {
                    name: "ci".to_owned()
                },
                GateBlocker::CheckPending {
                    name: "build".to_owned()
                },
            ]
        );
    }

    #[test]
    fn missing_required_checks_block_and_unrequired_red_checks_do_not() {
        let mut pr = green_pr();
        pr.statuses = vec![status("lint", StatusState::Failure)];
        pr.check_runs = vec![run("coverage", Some(CheckConclusion::Failure))];
        assert_eq!(
            blockers(&pr, &policy()),
            vec![
                GateBlocker::CheckMissing {
                    name: "ci".to_owned()
                },
                GateBlocker::CheckMissing {
                    name: "build".to_owned()
                },
            ]
        );
    }

    #[test]
    fn a_check_reported_as_both_status_and_run_needs_both_green() {
        let mut pr = green_pr();
        pr.check_runs
            .push(run("ci", Some(CheckConclusion::Failure)));
        assert_eq!(
            blockers(&pr, &policy()),
            vec![GateBlocker::CheckFailed {
                name: "ci".to_owned(),
                outcome: "failure"
            }]
        );
    }

    #[test]
    fn unknown_mergeability_asks_again_shortly() {
        let mut pr = green_pr();
        pr.mergeable = None;
        assert_eq!(
            MergeGate::evaluate(&pr, &policy()),
            GateDecision::AskAgainShortly
        );
    }

    #[test]
    fn unknown_mergeability_with_real_blockers_reports_the_blockers() {
        let mut pr = green_pr();
        pr.mergeable = None;
        pr.draft = true;
        assert_eq!(blockers(&pr, &policy()), vec![GateBlocker::Draft]);
    }

    #[test]
    fn conflicting_pr_blocks() {
        let mut pr = green_pr();
        pr.mergeable = Some(false);
        assert_eq!(blockers(&pr, &policy()), vec![GateBlocker::NotMergeable]);
    }

    #[test]
    fn draft_pr_blocks() {
        let mut pr = green_pr();
        pr.draft = true;
        assert_eq!(blockers(&pr, &policy()), vec![GateBlocker::Draft]);
    }

    #[test]
    fn closed_or_merged_pr_blocks() {
        for state in [PullRequestState::Closed, PullRequestState::Merged] {
            let mut pr = green_pr();
            pr.state = state;
            assert_eq!(
                blockers(&pr, &policy()),
                vec![GateBlocker::NotOpen { state }]
            );
        }
    }

    #[test]
    fn head_other_than_the_pushed_commit_blocks_even_when_approved() {
        let mut pr = green_pr();
        let policy = GatePolicy {
            pushed_sha: CommitSha::from(OLD),
            ..policy()
        };
        pr.reviews = vec![
            review(CR, ReviewState::Approved, HEAD),
            review(QA, ReviewState::Approved, HEAD),
        ];
        assert_eq!(
            blockers(&pr, &policy),
            vec![GateBlocker::HeadNotPushedCommit {
                head: CommitSha::from(HEAD),
                pushed: CommitSha::from(OLD)
            }]
        );
    }

    #[test]
    fn single_identity_mode_reads_the_verdict_statuses() {
        let mut pr = green_pr();
        pr.reviews = vec![
            review(CR, ReviewState::Commented, HEAD),
            review(CR, ReviewState::Commented, HEAD),
        ];
        assert_eq!(
            blockers(&pr, &single_identity_policy()),
            vec![
                GateBlocker::VerdictStatusMissing {
                    role: Role::CodeReviewer
                },
                GateBlocker::VerdictStatusMissing {
                    role: Role::QaSpecialist
                },
            ]
        );

        pr.statuses
            .push(status_by("squadron/code-review", StatusState::Success, CR));
        pr.statuses.push(status_by(
            "squadron/qa-specialist",
            StatusState::Failure,
            QA,
        ));
        assert_eq!(
            blockers(&pr, &single_identity_policy()),
            vec![GateBlocker::VerdictStatusNotApproved {
                role: Role::QaSpecialist,
                state: StatusState::Failure
            }]
        );

        pr.statuses[2].state = StatusState::Success;
        assert_eq!(
            MergeGate::evaluate(&pr, &single_identity_policy()),
            GateDecision::Merge
        );
    }

    #[test]
    fn single_identity_mode_counts_only_verdict_statuses_set_by_the_reviewers_own_login() {
        let mut pr = green_pr();
        pr.statuses.extend([
            status_by("squadron/code-review", StatusState::Success, "mallory"),
            status("squadron/qa-specialist", StatusState::Success),
        ]);
        assert_eq!(
            blockers(&pr, &single_identity_policy()),
            vec![
                GateBlocker::VerdictStatusNotOurs {
                    role: Role::CodeReviewer,
                    creator: Some("mallory".to_owned()),
                },
                GateBlocker::VerdictStatusNotOurs {
                    role: Role::QaSpecialist,
                    creator: None,
                },
            ]
        );
        assert_eq!(
            GateBlocker::VerdictStatusNotOurs {
                role: Role::CodeReviewer,
                creator: Some("mallory".to_owned()),
            }
            .to_string(),
            "code-reviewer's verdict status `squadron/code-review` was set by `mallory`, not by the code-reviewer's own login"
        );

        pr.statuses[1].creator = Some("CR-Bot".to_owned());
        pr.statuses[2].creator = Some(QA.to_owned());
        assert_eq!(
            MergeGate::evaluate(&pr, &single_identity_policy()),
            GateDecision::Merge,
            "logins compare without case, as GitHub's do"
        );
    }

    #[test]
    fn a_pr_retargeted_to_another_base_does_not_merge() {
        let mut pr = green_pr();
        pr.base_branch = "release".to_owned();
        assert_eq!(
            blockers(&pr, &policy()),
            vec![GateBlocker::BaseBranchChanged {
                expected: "main".to_owned(),
                found: "release".to_owned(),
            }]
        );
        assert_eq!(
            blockers(&pr, &policy())[0].to_string(),
            "the PR merges into `release`, not into the squad's base branch `main`"
        );
    }

    #[test]
    fn single_identity_mode_ignores_approvals_without_statuses() {
        let pr = green_pr();
        assert_eq!(
            blockers(&pr, &single_identity_policy()),
            vec![
                GateBlocker::VerdictStatusMissing {
                    role: Role::CodeReviewer
                },
                GateBlocker::VerdictStatusMissing {
                    role: Role::QaSpecialist
                },
            ]
        );
    }

    #[test]
    fn single_identity_mode_still_honours_a_humans_change_request() {
        let mut pr = green_pr();
        pr.statuses
            .push(status_by("squadron/code-review", StatusState::Success, CR));
        pr.statuses.push(status_by(
            "squadron/qa-specialist",
            StatusState::Success,
            QA,
        ));
        pr.reviews
            .push(review("alice", ReviewState::ChangesRequested, HEAD));
        assert_eq!(
            blockers(&pr, &single_identity_policy()),
            vec![GateBlocker::ChangesRequestedBy {
                login: "alice".to_owned()
            }]
        );
    }

    #[test]
    fn every_reason_is_listed_at_once_in_a_stable_order() {
        let pr = PullRequestSnapshot {
            number: PrNumber(9),
            state: PullRequestState::Closed,
            draft: true,
            head_sha: CommitSha::from(HEAD),
            base_branch: "release".to_owned(),
            mergeable: Some(false),
            merge_commit: None,
            reviews: vec![
                review(CR, ReviewState::Approved, OLD),
                review("alice", ReviewState::ChangesRequested, OLD),
            ],
            statuses: vec![status("ci", StatusState::Pending)],
            check_runs: vec![run("build", Some(CheckConclusion::Failure))],
        };
        let policy = GatePolicy {
            pushed_sha: CommitSha::from(OLD),
            ..policy()
        };
        let decision = MergeGate::evaluate(&pr, &policy);
        assert_eq!(
            decision,
            GateDecision::Blocked(vec![
                GateBlocker::NotOpen {
                    state: PullRequestState::Closed
                },
                GateBlocker::Draft,
                GateBlocker::HeadNotPushedCommit {
                    head: CommitSha::from(HEAD),
                    pushed: CommitSha::from(OLD)
                },
                GateBlocker::BaseBranchChanged {
                    expected: "main".to_owned(),
                    found: "release".to_owned(),
                },
                GateBlocker::ApprovalStale {
                    role: Role::CodeReviewer,
                    login: CR.to_owned(),
                    approved: CommitSha::from(OLD),
                    head: CommitSha::from(HEAD),
                },
                GateBlocker::ReviewMissing {
                    role: Role::QaSpecialist,
                    login: QA.to_owned()
                },
                GateBlocker::ChangesRequestedBy {
                    login: "alice".to_owned()
                },
                GateBlocker::CheckPending {
                    name: "ci".to_owned()
                },
                GateBlocker::CheckFailed {
                    name: "build".to_owned(),
                    outcome: "failure"
                },
                GateBlocker::NotMergeable,
            ])
        );
        assert_eq!(
            decision.to_string(),
            "blocked: the PR is closed; the PR is a draft; the PR head 2222222 is not the commit \
             the squad pushed (1111111); the PR merges into `release`, not into the squad's base \
             branch `main`; code-reviewer (`cr-bot`) approved 1111111 but the head is \
             now 2222222; qa-specialist (`qa-bot`) has not reviewed yet; `alice` requested changes \
             and has not approved since; required check `ci` is pending; required check `build` \
             ended with failure; the PR does not merge cleanly into its base"
        );
    }

    #[test]
    fn identities_choose_the_review_mode_and_warn_about_overlaps() {
        assert_eq!(
            ReviewerIdentities::from_logins("dev", "cr", "qa"),
            (
                ReviewerIdentities::Distinct {
                    code_reviewer: "cr".to_owned(),
                    qa_specialist: "qa".to_owned()
                },
                vec![]
            )
        );
        let (mode, warnings) = ReviewerIdentities::from_logins("dev", "Dev", "qa");
        assert_eq!(
            mode,
            ReviewerIdentities::SingleIdentity {
                code_reviewer: "Dev".to_owned(),
                qa_specialist: "qa".to_owned()
            }
        );
        assert_eq!(
            warnings,
            vec![IdentityWarning::ReviewerIsAuthor {
                role: Role::CodeReviewer,
                login: "Dev".to_owned()
            }]
        );
        let (mode, warnings) = ReviewerIdentities::from_logins("dev", "rev", "rev");
        assert_eq!(
            mode,
            ReviewerIdentities::SingleIdentity {
                code_reviewer: "rev".to_owned(),
                qa_specialist: "rev".to_owned()
            }
        );
        assert_eq!(
            warnings,
            vec![IdentityWarning::ReviewersShareLogin {
                login: "rev".to_owned()
            }]
        );
        assert!(warnings[0].to_string().contains("single-identity mode"));
    }
}
