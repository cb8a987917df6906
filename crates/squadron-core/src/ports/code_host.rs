//! The code host port: pull requests, reviews under each role's identity, statuses, checks,
//! merges.
//!
//! GitHub is the one implementation today; the shapes stay close to its REST API because
//! the merge gate's guarantee is defined by what the host itself reports.

use std::fmt;

use async_trait::async_trait;

use super::checks::{CheckEvidence, CheckReport, RerunOutcome};
use super::error::PortError;
use crate::domain::{PrNumber, Review, Role};
use crate::gate::{CommitSha, PullRequestSnapshot, PullRequestState, ReviewState, StatusState};

/// A repository on the code host.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoRef {
    /// The owning user or organisation.
    pub owner: String,
    /// The repository name.
    pub name: String,
}

impl RepoRef {
    /// A repository reference.
    pub fn new(owner: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for RepoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// What a squad's PR should look like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequestRequest {
    /// The squad's branch (in the same repository).
    pub head_branch: String,
    /// The branch to merge into.
    pub base_branch: String,
    /// The title, `ENG-123: <issue title>`.
    pub title: String,
    /// The body (Markdown).
    pub body: String,
}

/// A PR as found or opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequestInfo {
    /// Its number.
    pub number: PrNumber,
    /// Its page for people.
    pub url: String,
    /// Its head commit when read.
    pub head_sha: CommitSha,
    /// Open, closed or merged.
    pub state: PullRequestState,
    /// Whether this call opened it (false: it already existed, e.g. after a restart).
    pub opened: bool,
}

/// How a reviewer's verdict reaches the code host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewDelivery {
    /// The strong mode: a PR review that approves or requests changes.
    Review,
    /// Single-identity mode: a comment-only review plus the verdict as a commit status
    /// (`squadron/code-review` or `squadron/qa-specialist`) on the head commit.
    CommentWithStatus,
}

/// What happened to a posted review.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostedReview {
    /// The review is on the PR.
    Posted {
        /// The host's id of the review.
        review_id: u64,
    },
    /// The host refused an approval because the reviewer's identity authored the PR.
    /// Nothing was posted; deliver again with [`ReviewDelivery::CommentWithStatus`].
    SelfApprovalRefused,
}

/// A review as read back for the fix round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewEntry {
    /// The host's id.
    pub id: u64,
    /// The reviewer's login.
    pub author: String,
    /// Its state.
    pub state: ReviewState,
    /// The commit it was made on.
    pub commit_id: CommitSha,
    /// The review body (Markdown), possibly empty.
    pub body: String,
}

/// An inline review comment as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InlineCommentEntry {
    /// The host's id.
    pub id: u64,
    /// The review it belongs to, when known.
    pub review_id: Option<u64>,
    /// The commenter's login.
    pub author: String,
    /// The file.
    pub path: String,
    /// The line in the head version; `None` when the line is no longer part of the diff.
    pub line: Option<u32>,
    /// The comment text.
    pub body: String,
    /// The commit it was made on.
    pub commit_id: CommitSha,
}

/// A PR conversation comment as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationEntry {
    /// The host's id.
    pub id: u64,
    /// The commenter's login.
    pub author: String,
    /// The comment text.
    pub body: String,
}

/// Everything reviewers and people said on a PR, oldest first within each list.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PullRequestFeedback {
    /// PR reviews.
    pub reviews: Vec<ReviewEntry>,
    /// Inline review comments.
    pub review_comments: Vec<InlineCommentEntry>,
    /// Conversation comments.
    pub conversation: Vec<ConversationEntry>,
}

/// How a PR lands on its base.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MergeMethod {
    /// A merge commit.
    Merge,
    /// One squashed commit.
    Squash,
    /// The PR's commits replayed onto the base.
    Rebase,
}

impl MergeMethod {
    /// The method as GitHub and config spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            MergeMethod::Merge => "merge",
            MergeMethod::Squash => "squash",
            MergeMethod::Rebase => "rebase",
        }
    }
}

/// How a merge request ended. Only [`MergeOutcome::Merged`] changed anything; the others
/// mean "re-read the PR and decide again", never "retry the same request".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MergeOutcome {
    /// The PR merged; `sha` is the commit now on the base branch.
    Merged {
        /// The resulting commit.
        sha: CommitSha,
    },
    /// The host refused: the PR is not mergeable (GitHub 405).
    NotMergeable {
        /// The host's message.
        message: String,
    },
    /// The head moved since it was read (GitHub 409): the guard SHA is stale.
    HeadChanged {
        /// The host's message.
        message: String,
    },
}

/// A commit status to set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusUpdate {
    /// The context, e.g. `squadron/code-review`.
    pub context: String,
    /// Its state.
    pub state: StatusState,
    /// A one-line description shown next to the status.
    pub description: String,
}

/// The login each role's credentials resolve to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedIdentities {
    /// Authors branches and PRs.
    pub developer: String,
    /// Posts the Code Reviewer's reviews.
    pub code_reviewer: String,
    /// Posts the QA Specialist's reviews.
    pub qa_specialist: String,
}

/// A code host. Implementations honour the host's rate limits themselves and never retry
/// a request whose answer is a decision (422, 405, 409).
#[async_trait]
pub trait CodeHost: Send + Sync {
    /// Returns the open PR whose head is `request.head_branch`, opening it as the Developer
    /// if there is none; never opens a second one for a branch, also across restarts.
    async fn find_or_create_pull_request(
        &self,
        repo: &RepoRef,
        request: &PullRequestRequest,
    ) -> Result<PullRequestInfo, PortError>;

    /// Replaces the PR's body, keeping it current after each push.
    async fn update_pull_request_body(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        body: &str,
    ) -> Result<(), PortError>;

    /// Posts `review` as `role` on exactly `head`: inline comments on lines inside the diff,
    /// the rest folded into the body.
    async fn post_review(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        role: Role,
        head: &CommitSha,
        review: &Review,
        delivery: ReviewDelivery,
    ) -> Result<PostedReview, PortError>;

    /// Reads reviews, inline review comments and conversation comments.
    async fn read_feedback(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
    ) -> Result<PullRequestFeedback, PortError>;

    /// Reads what the merge gate needs, statuses and checks taken on the current head.
    async fn read_snapshot(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
    ) -> Result<PullRequestSnapshot, PortError>;

    /// Merges only if the head is still `head`.
    async fn merge(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        head: &CommitSha,
        method: MergeMethod,
    ) -> Result<MergeOutcome, PortError>;

    /// Sets a commit status on `sha` as `role`.
    async fn set_commit_status(
        &self,
        repo: &RepoRef,
        sha: &CommitSha,
        role: Role,
        status: &StatusUpdate,
    ) -> Result<(), PortError>;

    /// The latest run of required check `name` on `reference` (a commit SHA, or a branch
    /// whose tip is meant), with how often it ran there; `None` when it never reported there.
    async fn read_check(
        &self,
        repo: &RepoRef,
        reference: &str,
        name: &str,
    ) -> Result<Option<CheckReport>, PortError>;

    /// What the failed check `report` left to read: annotations and a capped excerpt of its
    /// log, when it has one.
    async fn read_check_evidence(
        &self,
        repo: &RepoRef,
        report: &CheckReport,
    ) -> Result<CheckEvidence, PortError>;

    /// Asks for check `report` to run again on its commit; a refusal is an outcome.
    async fn rerun_check(
        &self,
        repo: &RepoRef,
        report: &CheckReport,
    ) -> Result<RerunOutcome, PortError>;

    /// Resolves the login of each role's credentials (for `squadron doctor` and to choose
    /// the review mode with [`crate::gate::ReviewerIdentities::from_logins`]).
    async fn resolve_identities(&self) -> Result<ResolvedIdentities, PortError>;

    /// The web page of `branch`, for links people follow; `None` when the host has none.
    fn branch_url(&self, repo: &RepoRef, branch: &str) -> Option<String> {
        let _ = (repo, branch);
        None
    }
}
