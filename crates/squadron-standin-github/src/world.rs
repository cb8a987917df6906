//! The stand-in's state: users, repositories and their pull requests, reviews, comments,
//! statuses, check runs and merges, plus the record of every request. Git content itself
//! lives in the bare repositories on disk; this holds everything GitHub keeps beside it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use git2::Repository;

use crate::actions::{Annotation, Job, Workflow, WorkflowRun};
use crate::clock::{FakeClock, Instant};
use crate::error::ApiError;
use crate::faults::FaultRule;
use crate::gitops;

/// A user's numeric id, as GitHub's `user.id`.
pub type UserId = u64;

#[derive(Debug)]
pub(crate) struct User {
    pub(crate) id: UserId,
    pub(crate) login: String,
    pub(crate) token: String,
    pub(crate) created_at: Instant,
}

/// Branch protection the stand-in applies when computing `mergeable_state` and merging.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepoSettings {
    /// Status contexts or check-run names that must have succeeded on the head.
    pub required_contexts: Vec<String>,
    /// The head must contain the base tip ("Require branches to be up to date").
    pub require_up_to_date: bool,
}

#[derive(Debug)]
pub(crate) struct Repo {
    pub(crate) id: u64,
    pub(crate) owner: String,
    pub(crate) name: String,
    pub(crate) default_branch: String,
    pub(crate) created_at: Instant,
    pub(crate) settings: RepoSettings,
    pub(crate) next_number: u64,
    pub(crate) pulls: Vec<Pull>,
    pub(crate) issue_comments: Vec<IssueComment>,
    pub(crate) statuses: Vec<Status>,
    pub(crate) check_runs: Vec<CheckRun>,
    pub(crate) merges: Vec<MergeRecord>,
    /// Registered GitHub Actions workflows, their runs and their jobs' attempts.
    pub(crate) workflows: Vec<Workflow>,
    pub(crate) workflow_runs: Vec<WorkflowRun>,
    pub(crate) jobs: Vec<Job>,
    pub(crate) next_run_number: u64,
    /// Branch tips as last seen, so pushes made through git can trigger workflows.
    pub(crate) seen_tips: BTreeMap<String, String>,
}

impl Repo {
    pub(crate) fn slug(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    pub(crate) fn pull(&self, number: u64) -> Result<&Pull, ApiError> {
        self.pulls
            .iter()
            .find(|p| p.number == number)
            .ok_or_else(ApiError::not_found)
    }

    pub(crate) fn pull_mut(&mut self, number: u64) -> Result<&mut Pull, ApiError> {
        self.pulls
            .iter_mut()
            .find(|p| p.number == number)
            .ok_or_else(ApiError::not_found)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PullState {
    Open,
    Closed,
}

#[derive(Clone, Debug)]
pub(crate) struct Merged {
    pub(crate) sha: String,
    pub(crate) by: UserId,
    pub(crate) at: Instant,
}

/// GitHub computes mergeability in the background: the first read after the head or base
/// moves answers `null`, a later read answers the real result.
#[derive(Clone, Debug, Default)]
pub(crate) struct Mergeability {
    pub(crate) key: Option<(String, String)>,
    pub(crate) null_reads_left: u32,
    /// (no conflicts, head contains base) of the last test merge.
    pub(crate) result: Option<(bool, bool)>,
}

#[derive(Debug)]
pub(crate) struct Pull {
    pub(crate) id: u64,
    pub(crate) number: u64,
    pub(crate) title: String,
    pub(crate) body: Option<String>,
    pub(crate) author: UserId,
    pub(crate) head_ref: String,
    pub(crate) base_ref: String,
    /// Last known tips; refreshed from the bare repository while the PR is open.
    pub(crate) head_sha: String,
    pub(crate) base_sha: String,
    pub(crate) draft: bool,
    pub(crate) state: PullState,
    pub(crate) created_at: Instant,
    pub(crate) updated_at: Instant,
    pub(crate) closed_at: Option<Instant>,
    pub(crate) merged: Option<Merged>,
    pub(crate) mergeability: Mergeability,
    pub(crate) reviews: Vec<Review>,
    pub(crate) review_comments: Vec<ReviewComment>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    Pending,
}

impl ReviewState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ReviewState::Approved => "APPROVED",
            ReviewState::ChangesRequested => "CHANGES_REQUESTED",
            ReviewState::Commented => "COMMENTED",
            ReviewState::Pending => "PENDING",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Review {
    pub(crate) id: u64,
    pub(crate) user: UserId,
    pub(crate) body: String,
    pub(crate) state: ReviewState,
    pub(crate) commit_id: String,
    pub(crate) submitted_at: Instant,
}

#[derive(Clone, Debug)]
pub(crate) struct ReviewComment {
    pub(crate) id: u64,
    pub(crate) review_id: u64,
    pub(crate) user: UserId,
    pub(crate) body: String,
    pub(crate) path: String,
    pub(crate) line: u64,
    pub(crate) side: &'static str,
    pub(crate) start_line: Option<u64>,
    pub(crate) position: u64,
    pub(crate) diff_hunk: String,
    pub(crate) commit_id: String,
    pub(crate) created_at: Instant,
}

#[derive(Clone, Debug)]
pub(crate) struct IssueComment {
    pub(crate) id: u64,
    pub(crate) issue_number: u64,
    pub(crate) user: UserId,
    pub(crate) body: String,
    pub(crate) created_at: Instant,
}

#[derive(Clone, Debug)]
pub(crate) struct Status {
    pub(crate) id: u64,
    pub(crate) sha: String,
    pub(crate) state: String,
    pub(crate) context: String,
    pub(crate) description: Option<String>,
    pub(crate) target_url: Option<String>,
    pub(crate) creator: Option<UserId>,
    pub(crate) created_at: Instant,
}

#[derive(Clone, Debug)]
pub(crate) struct CheckRun {
    pub(crate) id: u64,
    pub(crate) head_sha: String,
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) conclusion: Option<String>,
    pub(crate) started_at: Instant,
    pub(crate) completed_at: Option<Instant>,
    pub(crate) check_suite_id: u64,
    pub(crate) app: CheckApp,
    pub(crate) external_id: String,
    pub(crate) details_url: Option<String>,
    pub(crate) output: CheckOutput,
}

/// Which app owns a check run: GitHub Actions (re-run through the Actions API) or an app
/// that created it through the Checks API (re-requested through the Checks API).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CheckApp {
    Actions,
    External,
}

/// A check run's `output`: what it says about its result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckOutput {
    /// `output.title`.
    pub title: Option<String>,
    /// `output.summary` (Markdown).
    pub summary: Option<String>,
    /// `output.text` (Markdown).
    pub text: Option<String>,
    /// Annotations, listed by `GET …/check-runs/{id}/annotations`.
    pub annotations: Vec<Annotation>,
}

/// A merge the stand-in performed through `PUT …/pulls/{n}/merge`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeRecord {
    pub number: u64,
    /// `merge`, `squash` or `rebase`.
    pub method: String,
    /// The new tip of the base branch.
    pub sha: String,
    /// The head SHA that was merged.
    pub head_sha: String,
    pub base_ref: String,
    pub merged_by: String,
}

/// A pull request as a test sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullSnapshot {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub author: String,
    pub head_ref: String,
    pub head_sha: String,
    pub base_ref: String,
    pub open: bool,
    pub draft: bool,
    pub merged: bool,
}

/// A submitted review as a test sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewSnapshot {
    pub id: u64,
    pub user: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED` or `PENDING`.
    pub state: String,
    pub commit_id: String,
    pub body: String,
    pub comments: Vec<ReviewCommentSnapshot>,
}

/// An inline review comment as a test sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewCommentSnapshot {
    pub path: String,
    pub line: u64,
    pub side: String,
    pub body: String,
}

/// A check run as a test sees it (and as [`crate::GithubStandin::add_check_run`] takes it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckRunSnapshot {
    pub name: String,
    /// `queued`, `in_progress` or `completed`.
    pub status: String,
    /// `success`, `failure`, `neutral`, `cancelled`, `skipped`, `timed_out`,
    /// `action_required`, or `None` while not completed.
    pub conclusion: Option<String>,
    /// What the check says about its result.
    pub output: CheckOutput,
}

/// A request for a job's log that reached the log host, the stand-in's
/// `pipelines.actions.githubusercontent.com`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogDownload {
    /// The job whose log was fetched.
    pub job_id: u64,
    /// Whether the request carried an `Authorization` header: a GitHub token must never
    /// travel to the log host.
    pub sent_authorization: bool,
    /// The HTTP status answered.
    pub status: u16,
}

/// A commit in one of the stand-in's repositories.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    pub sha: String,
    pub parents: Vec<String>,
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    pub committer_name: String,
}

/// One request the stand-in received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The login the request authenticated as, if any.
    pub login: Option<String>,
    /// The JSON body of REST requests (git transfers are not recorded byte for byte).
    pub body: Option<String>,
    pub status: u16,
}

#[derive(Debug)]
pub(crate) struct World {
    pub(crate) root: PathBuf,
    pub(crate) base_url: String,
    pub(crate) users: Vec<User>,
    pub(crate) repos: BTreeMap<String, Repo>,
    pub(crate) clock: FakeClock,
    pub(crate) faults: Vec<FaultRule>,
    pub(crate) requests: Vec<RecordedRequest>,
    pub(crate) mergeable_null_reads: u32,
    /// The log host's root URL, and the signed log links it serves: signature → (repository
    /// key, job id).
    pub(crate) log_host_url: String,
    pub(crate) log_links: BTreeMap<String, (String, u64)>,
    pub(crate) log_downloads: Vec<LogDownload>,
    next_id: u64,
    rate_remaining: u64,
}

pub(crate) const RATE_LIMIT: u64 = 5000;

impl World {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self {
            root,
            base_url: String::new(),
            users: Vec::new(),
            repos: BTreeMap::new(),
            clock: FakeClock::new(),
            faults: Vec::new(),
            requests: Vec::new(),
            mergeable_null_reads: 1,
            log_host_url: String::new(),
            log_links: BTreeMap::new(),
            log_downloads: Vec::new(),
            next_id: 1000,
            rate_remaining: RATE_LIMIT,
        }
    }

    /// A fresh id for any object; one sequence keeps ids unique across kinds.
    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(crate) fn rate_remaining(&self) -> u64 {
        self.rate_remaining
    }

    /// Counts one request against the primary rate limit and returns what is left.
    pub(crate) fn spend_rate(&mut self) -> u64 {
        self.rate_remaining = self.rate_remaining.saturating_sub(1);
        self.rate_remaining
    }

    pub(crate) fn user(&self, id: UserId) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub(crate) fn user_by_token(&self, token: &str) -> Option<&User> {
        self.users.iter().find(|u| u.token == token)
    }

    pub(crate) fn login(&self, id: UserId) -> String {
        self.user(id).map(|u| u.login.clone()).unwrap_or_default()
    }

    pub(crate) fn repo_key(owner: &str, name: &str) -> String {
        format!(
            "{}/{}",
            owner.to_ascii_lowercase(),
            name.to_ascii_lowercase()
        )
    }

    pub(crate) fn repo_dir(&self, owner: &str, name: &str) -> PathBuf {
        self.root
            .join(owner.to_ascii_lowercase())
            .join(format!("{}.git", name.to_ascii_lowercase()))
    }

    pub(crate) fn repo(&self, owner: &str, name: &str) -> Result<&Repo, ApiError> {
        self.repos
            .get(&Self::repo_key(owner, name))
            .ok_or_else(ApiError::not_found)
    }

    pub(crate) fn repo_mut(&mut self, owner: &str, name: &str) -> Result<&mut Repo, ApiError> {
        self.repos
            .get_mut(&Self::repo_key(owner, name))
            .ok_or_else(ApiError::not_found)
    }

    pub(crate) fn git(&self, owner: &str, name: &str) -> Result<Repository, ApiError> {
        self.repo(owner, name)?;
        Ok(Repository::open_bare(self.repo_dir(owner, name))?)
    }

    /// Re-reads the branch tips of every open pull request of the repository, since pushes
    /// arrive through `git http-backend` behind the stand-in's back, and runs the workflows
    /// those pushes trigger.
    pub(crate) fn refresh_tips(&mut self, owner: &str, name: &str) -> Result<(), ApiError> {
        self.observe_pushes(owner, name, None)?;
        let git = self.git(owner, name)?;
        let repo = self.repo_mut(owner, name)?;
        for pull in repo.pulls.iter_mut().filter(|p| p.state == PullState::Open) {
            if let Some(head) = gitops::branch_tip(&git, &pull.head_ref) {
                pull.head_sha = head.to_string();
            }
            if let Some(base) = gitops::branch_tip(&git, &pull.base_ref) {
                pull.base_sha = base.to_string();
            }
        }
        Ok(())
    }
}
