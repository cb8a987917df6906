//! [`GithubCodeHost`]: the [`CodeHost`] port over GitHub's REST API, one identity per role.

use std::sync::Arc;

use async_trait::async_trait;
use http::StatusCode;
use secrecy::SecretString;
use squadron_core::gate::{
    CheckConclusion, CheckRun, CommitSha, CommitStatus, PullRequestSnapshot, PullRequestState,
    ReviewRecord, ReviewState, StatusState, verdict_status_context,
};
use squadron_core::ports::{
    CheckEvidence, CheckReport, CodeHost, ConversationEntry, InlineCommentEntry, MergeMethod,
    MergeOutcome, PortError, PostedReview, PullRequestFeedback, PullRequestInfo,
    PullRequestRequest, RepoRef, RerunOutcome, ResolvedIdentities, ReviewDelivery, ReviewEntry,
    StatusUpdate,
};
use squadron_core::{PrNumber, Review, ReviewVerdict, Role};
use tokio::sync::OnceCell;

use crate::client::{GithubClient, Verb};
use crate::diff::{CommentableLines, fold_comments};
use crate::error::GithubError;
use crate::rate_limit::RateLimiter;
use crate::webhook::parse_status_state;
use crate::wire;

/// GitHub's limit on a commit status description.
const STATUS_DESCRIPTION_LIMIT: usize = 140;

/// The token of each role that acts on GitHub. Tokens are never logged or printed.
#[derive(Clone)]
pub struct RoleTokens {
    /// Authors branches and PRs, reads state, merges.
    pub developer: SecretString,
    /// Posts the Code Reviewer's reviews.
    pub code_reviewer: SecretString,
    /// Posts the QA Specialist's reviews.
    pub qa_specialist: SecretString,
}

impl std::fmt::Debug for RoleTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoleTokens { .. }")
    }
}

#[derive(Debug)]
pub(crate) struct Identity {
    pub(crate) client: GithubClient,
    login: OnceCell<String>,
}

impl Identity {
    async fn login(&self) -> Result<&str, GithubError> {
        let login = self
            .login
            .get_or_try_init(|| async {
                let user: wire::User = self
                    .client
                    .json(
                        Verb::Get,
                        "/user",
                        None::<&()>,
                        "resolve the login of a GitHub token",
                    )
                    .await?;
                Ok::<_, GithubError>(user.login)
            })
            .await?;
        Ok(login)
    }
}

/// The web address matching an API base.
fn web_base(api_base: &str) -> String {
    let base = api_base.trim_end_matches('/');
    if base == "https://api.github.com" {
        return "https://github.com".to_owned();
    }
    base.strip_suffix("/api/v3").unwrap_or(base).to_owned()
}

/// GitHub as Squadron's code host: the Developer's identity opens PRs, reads state and
/// merges; each reviewer's identity posts its own reviews.
#[derive(Debug)]
pub struct GithubCodeHost {
    pub(crate) developer: Identity,
    code_reviewer: Identity,
    qa_specialist: Identity,
    /// Where people browse the repositories: `https://github.com` for the public API, the
    /// host of a GitHub Enterprise `…/api/v3`, the base itself for anything else.
    web_base: String,
}

impl GithubCodeHost {
    /// A code host at `api_base` (`https://api.github.com`, `https://ghe.example.com/api/v3`,
    /// or a loopback stand-in) with one client per role token, all sharing `limiter`.
    /// Must be called inside a Tokio runtime.
    pub fn new(
        api_base: &str,
        tokens: &RoleTokens,
        limiter: Arc<RateLimiter>,
    ) -> Result<Self, GithubError> {
        let identity = |token: &SecretString| -> Result<Identity, GithubError> {
            Ok(Identity {
                client: GithubClient::new(api_base, token, Arc::clone(&limiter))?,
                login: OnceCell::new(),
            })
        };
        Ok(Self {
            developer: identity(&tokens.developer)?,
            code_reviewer: identity(&tokens.code_reviewer)?,
            qa_specialist: identity(&tokens.qa_specialist)?,
            web_base: web_base(api_base),
        })
    }

    /// The identity that acts for `role`: reviewers their own, everyone else the Developer's.
    fn identity(&self, role: Role) -> &Identity {
        match role {
            Role::CodeReviewer => &self.code_reviewer,
            Role::QaSpecialist => &self.qa_specialist,
            Role::Developer | Role::Qa | Role::Diagnostician => &self.developer,
        }
    }

    async fn open_pull_request_for(
        &self,
        repo: &RepoRef,
        branch: &str,
        action: &str,
    ) -> Result<Option<wire::PullRequest>, GithubError> {
        let head = query_value(&format!("{}:{branch}", repo.owner));
        let uri = format!(
            "/repos/{}/{}/pulls?state=open&head={head}",
            repo.owner, repo.name
        );
        let mut open: Vec<wire::PullRequest> = self.developer.client.get_all(&uri, action).await?;
        // GitHub lists newest first; the oldest is the one a previous run opened.
        open.sort_by_key(|pr| pr.number);
        Ok(open.into_iter().next())
    }

    async fn commentable_lines(
        &self,
        client: &GithubClient,
        repo: &RepoRef,
        pr: PrNumber,
        action: &str,
    ) -> Result<CommentableLines, GithubError> {
        let uri = format!("/repos/{}/{}/pulls/{}/files", repo.owner, repo.name, pr.0);
        let files: Vec<wire::PullRequestFile> = client.get_all(&uri, action).await?;
        let mut lines = CommentableLines::default();
        for file in &files {
            if let Some(patch) = &file.patch {
                lines.add_patch(&file.filename, patch);
            }
        }
        Ok(lines)
    }

    async fn list_reviews(
        &self,
        client: &GithubClient,
        repo: &RepoRef,
        pr: PrNumber,
        action: &str,
    ) -> Result<Vec<wire::Review>, GithubError> {
        let uri = format!("/repos/{}/{}/pulls/{}/reviews", repo.owner, repo.name, pr.0);
        client.get_all(&uri, action).await
    }

    async fn post_status(
        &self,
        client: &GithubClient,
        repo: &RepoRef,
        sha: &CommitSha,
        status: &StatusUpdate,
        action: &str,
    ) -> Result<(), GithubError> {
        let description: String = status
            .description
            .chars()
            .take(STATUS_DESCRIPTION_LIMIT)
            .collect();
        let uri = format!("/repos/{}/{}/statuses/{}", repo.owner, repo.name, sha);
        let body = wire::NewStatus {
            state: status.state.as_str(),
            context: &status.context,
            description: &description,
        };
        let _: serde_json::Value = client.json(Verb::Post, &uri, Some(&body), action).await?;
        Ok(())
    }

    async fn post_review_inner(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        role: Role,
        head: &CommitSha,
        review: &Review,
        delivery: ReviewDelivery,
    ) -> Result<PostedReview, GithubError> {
        let action = format!(
            "post the {role} review of {repo}#{} on {}",
            pr.0,
            head.short()
        );
        let identity = self.identity(role);
        let client = &identity.client;
        let commentable = self.commentable_lines(client, repo, pr, &action).await?;
        let folded = fold_comments(&review.summary, &review.comments, &commentable);
        let (event, expected_state, body) = match delivery {
            ReviewDelivery::Review => match review.verdict {
                ReviewVerdict::Approved => {
                    ("APPROVE", "APPROVED", non_empty(folded.body, "Approved."))
                }
                ReviewVerdict::ChangesRequested => (
                    "REQUEST_CHANGES",
                    "CHANGES_REQUESTED",
                    non_empty(folded.body, "Changes requested."),
                ),
            },
            ReviewDelivery::CommentWithStatus => {
                let verdict = match review.verdict {
                    ReviewVerdict::Approved => "approved",
                    ReviewVerdict::ChangesRequested => "changes requested",
                };
                (
                    "COMMENT",
                    "COMMENTED",
                    format!("**{role} verdict: {verdict}**\n\n{}", folded.body),
                )
            }
        };

        // A restarted squad may post again what it posted before it died: find it instead.
        let login = identity.login().await?;
        let existing = self.list_reviews(client, repo, pr, &action).await?;
        let already = existing.iter().find(|posted| {
            posted
                .user
                .as_ref()
                .is_some_and(|user| user.login.eq_ignore_ascii_case(login))
                && posted.commit_id.as_deref() == Some(head.as_str())
                && posted.state == expected_state
                && posted.body.as_deref().map(str::trim) == Some(body.trim())
        });
        let review_id = match already {
            Some(posted) => posted.id,
            None => {
                let uri = format!("/repos/{}/{}/pulls/{}/reviews", repo.owner, repo.name, pr.0);
                let request = wire::NewReview {
                    commit_id: head.as_str(),
                    body: &body,
                    event,
                    comments: folded
                        .inline
                        .iter()
                        .map(|comment| wire::NewReviewComment {
                            path: &comment.path,
                            line: comment.line,
                            side: "RIGHT",
                            body: &comment.body,
                        })
                        .collect(),
                };
                let response = client
                    .send(Verb::Post, &uri, Some(&request), &action)
                    .await?;
                if response.status == StatusCode::UNPROCESSABLE_ENTITY
                    && delivery == ReviewDelivery::Review
                    && is_own_pull_request_refusal(&response.body)
                {
                    tracing::warn!(%repo, pr = pr.0, %role, "GitHub refused a review on the reviewer's own PR");
                    return Ok(PostedReview::SelfApprovalRefused);
                }
                if !response.status.is_success() {
                    return Err(response.into_error(&action));
                }
                let posted: wire::Review = response.json(&action)?;
                posted.id
            }
        };

        if delivery == ReviewDelivery::CommentWithStatus {
            let (state, description) = match review.verdict {
                ReviewVerdict::Approved => (StatusState::Success, format!("{role} approved")),
                ReviewVerdict::ChangesRequested => {
                    (StatusState::Failure, format!("{role} requested changes"))
                }
            };
            let status = StatusUpdate {
                context: verdict_status_context(role).to_owned(),
                state,
                description,
            };
            self.post_status(client, repo, head, &status, &action)
                .await?;
        }
        Ok(PostedReview::Posted { review_id })
    }
}

#[async_trait]
impl CodeHost for GithubCodeHost {
    async fn find_or_create_pull_request(
        &self,
        repo: &RepoRef,
        request: &PullRequestRequest,
    ) -> Result<PullRequestInfo, PortError> {
        let action = format!("open a PR for branch `{}` in {repo}", request.head_branch);
        if let Some(existing) = self
            .open_pull_request_for(repo, &request.head_branch, &action)
            .await?
        {
            return Ok(pull_request_info(existing, false));
        }
        let uri = format!("/repos/{}/{}/pulls", repo.owner, repo.name);
        let body = wire::NewPullRequest {
            title: &request.title,
            head: &request.head_branch,
            base: &request.base_branch,
            body: &request.body,
        };
        let response = self
            .developer
            .client
            .send(Verb::Post, &uri, Some(&body), &action)
            .await?;
        if response.status.is_success() {
            let created: wire::PullRequest = response.json(&action)?;
            tracing::info!(%repo, pr = created.number, branch = %request.head_branch, "opened a PR");
            return Ok(pull_request_info(created, true));
        }
        // Another replica (or a request whose answer was lost) opened it meanwhile.
        if response.status == StatusCode::UNPROCESSABLE_ENTITY
            && response.error_message().contains("already exists")
            && let Some(existing) = self
                .open_pull_request_for(repo, &request.head_branch, &action)
                .await?
        {
            return Ok(pull_request_info(existing, false));
        }
        Err(response.into_error(&action).into())
    }

    async fn update_pull_request_body(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        body: &str,
    ) -> Result<(), PortError> {
        let action = format!("update the body of {repo}#{}", pr.0);
        let uri = format!("/repos/{}/{}/pulls/{}", repo.owner, repo.name, pr.0);
        let update = wire::PullRequestBodyUpdate { body };
        let _: serde_json::Value = self
            .developer
            .client
            .json(Verb::Patch, &uri, Some(&update), &action)
            .await?;
        Ok(())
    }

    async fn post_review(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        role: Role,
        head: &CommitSha,
        review: &Review,
        delivery: ReviewDelivery,
    ) -> Result<PostedReview, PortError> {
        Ok(self
            .post_review_inner(repo, pr, role, head, review, delivery)
            .await?)
    }

    async fn read_feedback(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
    ) -> Result<PullRequestFeedback, PortError> {
        let action = format!("read the review feedback on {repo}#{}", pr.0);
        let client = &self.developer.client;
        let reviews = self.list_reviews(client, repo, pr, &action).await?;
        let comments: Vec<wire::ReviewComment> = client
            .get_all(
                &format!(
                    "/repos/{}/{}/pulls/{}/comments",
                    repo.owner, repo.name, pr.0
                ),
                &action,
            )
            .await?;
        let conversation: Vec<wire::IssueComment> = client
            .get_all(
                &format!(
                    "/repos/{}/{}/issues/{}/comments",
                    repo.owner, repo.name, pr.0
                ),
                &action,
            )
            .await?;
        Ok(PullRequestFeedback {
            reviews: reviews
                .into_iter()
                .map(|review| ReviewEntry {
                    id: review.id,
                    author: login_of(review.user),
                    state: review_state(&review.state),
                    commit_id: CommitSha::new(review.commit_id.unwrap_or_default()),
                    body: review.body.unwrap_or_default(),
                })
                .collect(),
            review_comments: comments
                .into_iter()
                .map(|comment| InlineCommentEntry {
                    id: comment.id,
                    review_id: comment.pull_request_review_id,
                    author: login_of(comment.user),
                    path: comment.path,
                    line: comment.line,
                    body: comment.body,
                    commit_id: CommitSha::new(comment.commit_id),
                })
                .collect(),
            conversation: conversation
                .into_iter()
                .map(|comment| ConversationEntry {
                    id: comment.id,
                    author: login_of(comment.user),
                    body: comment.body.unwrap_or_default(),
                })
                .collect(),
        })
    }

    async fn read_snapshot(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
    ) -> Result<PullRequestSnapshot, PortError> {
        let action = format!("read the state of {repo}#{}", pr.0);
        let client = &self.developer.client;
        let pull: wire::PullRequest = client
            .get_cached(
                &format!("/repos/{}/{}/pulls/{}", repo.owner, repo.name, pr.0),
                &action,
            )
            .await?;
        let head = CommitSha::new(pull.head.sha.clone());
        let reviews = self.list_reviews(client, repo, pr, &action).await?;
        // The list, not the combined status: only the list says who set each status, and
        // single-identity mode counts verdicts only from the reviewers' own logins. It is
        // newest first, so the first of each context is the one in force.
        let listed: Vec<wire::Status> = client
            .get_cached(
                &format!(
                    "/repos/{}/{}/commits/{head}/statuses?per_page=100",
                    repo.owner, repo.name
                ),
                &action,
            )
            .await?;
        let mut statuses: Vec<CommitStatus> = Vec::new();
        for status in listed {
            if statuses.iter().any(|kept| kept.context == status.context) {
                continue;
            }
            statuses.push(CommitStatus {
                state: parse_status_state(&status.state).unwrap_or(StatusState::Error),
                creator: status.creator.map(|user| user.login),
                context: status.context,
            });
        }
        let checks: wire::CheckRunList = client
            .get_cached(
                &format!(
                    "/repos/{}/{}/commits/{head}/check-runs?per_page=100",
                    repo.owner, repo.name
                ),
                &action,
            )
            .await?;
        let state = pull_request_state(&pull);
        Ok(PullRequestSnapshot {
            number: pr,
            state,
            draft: pull.draft.unwrap_or(false),
            head_sha: head,
            base_branch: pull.base.branch,
            mergeable: pull.mergeable,
            // Before the merge the field names GitHub's test merge commit, which is no
            // commit of the base branch.
            merge_commit: pull
                .merge_commit_sha
                .filter(|_| state == PullRequestState::Merged)
                .map(CommitSha::new),
            reviews: reviews
                .into_iter()
                // A review without a commit (GitHub omits it for very old reviews) cannot
                // approve any head; keep it for its change request, on no commit.
                .map(|review| ReviewRecord {
                    author: login_of(review.user),
                    state: review_state(&review.state),
                    commit_id: CommitSha::new(review.commit_id.unwrap_or_default()),
                })
                .collect(),
            statuses,
            check_runs: checks
                .check_runs
                .into_iter()
                .map(|run| CheckRun {
                    conclusion: if run.status == "completed" {
                        run.conclusion.as_deref().map(check_conclusion)
                    } else {
                        None
                    },
                    name: run.name,
                })
                .collect(),
        })
    }

    async fn merge(
        &self,
        repo: &RepoRef,
        pr: PrNumber,
        head: &CommitSha,
        method: MergeMethod,
    ) -> Result<MergeOutcome, PortError> {
        let action = format!("merge {repo}#{} at {}", pr.0, head.short());
        let uri = format!("/repos/{}/{}/pulls/{}/merge", repo.owner, repo.name, pr.0);
        let request = wire::MergeRequest {
            sha: head.as_str(),
            merge_method: method.as_str(),
        };
        let response = self
            .developer
            .client
            .send(Verb::Put, &uri, Some(&request), &action)
            .await?;
        match response.status {
            status if status.is_success() => {
                let result: wire::MergeResult = response.json(&action)?;
                match (result.merged, result.sha) {
                    (true, Some(sha)) => {
                        tracing::info!(%repo, pr = pr.0, merged = %sha, "merged");
                        Ok(MergeOutcome::Merged {
                            sha: CommitSha::new(sha),
                        })
                    }
                    _ => Ok(MergeOutcome::NotMergeable {
                        message: result.message,
                    }),
                }
            }
            StatusCode::METHOD_NOT_ALLOWED => Ok(MergeOutcome::NotMergeable {
                message: response.error_message(),
            }),
            StatusCode::CONFLICT => Ok(MergeOutcome::HeadChanged {
                message: response.error_message(),
            }),
            _ => Err(response.into_error(&action).into()),
        }
    }

    async fn set_commit_status(
        &self,
        repo: &RepoRef,
        sha: &CommitSha,
        role: Role,
        status: &StatusUpdate,
    ) -> Result<(), PortError> {
        let action = format!(
            "set status `{}` on {} in {repo}",
            status.context,
            sha.short()
        );
        let client = &self.identity(role).client;
        Ok(self.post_status(client, repo, sha, status, &action).await?)
    }

    // The check reads live in `checks.rs`; these name them for the port.
    async fn read_check(
        &self,
        repo: &RepoRef,
        reference: &str,
        name: &str,
    ) -> Result<Option<CheckReport>, PortError> {
        GithubCodeHost::read_check(self, repo, reference, name).await
    }

    async fn read_check_evidence(
        &self,
        repo: &RepoRef,
        report: &CheckReport,
    ) -> Result<CheckEvidence, PortError> {
        GithubCodeHost::read_check_evidence(self, repo, report).await
    }

    async fn rerun_check(
        &self,
        repo: &RepoRef,
        report: &CheckReport,
    ) -> Result<RerunOutcome, PortError> {
        GithubCodeHost::rerun_check(self, repo, report).await
    }

    async fn resolve_identities(&self) -> Result<ResolvedIdentities, PortError> {
        Ok(ResolvedIdentities {
            developer: self.developer.login().await?.to_owned(),
            code_reviewer: self.code_reviewer.login().await?.to_owned(),
            qa_specialist: self.qa_specialist.login().await?.to_owned(),
        })
    }

    fn branch_url(&self, repo: &RepoRef, branch: &str) -> Option<String> {
        Some(format!(
            "{}/{}/{}/tree/{branch}",
            self.web_base, repo.owner, repo.name
        ))
    }
}

#[cfg(test)]
mod web_tests {
    use super::web_base;

    #[test]
    fn the_web_base_follows_the_api_base() {
        assert_eq!(web_base("https://api.github.com/"), "https://github.com");
        assert_eq!(
            web_base("https://ghe.example.com/api/v3"),
            "https://ghe.example.com"
        );
        assert_eq!(web_base("http://127.0.0.1:4100"), "http://127.0.0.1:4100");
    }
}

fn pull_request_info(pull: wire::PullRequest, opened: bool) -> PullRequestInfo {
    PullRequestInfo {
        number: PrNumber(pull.number),
        state: pull_request_state(&pull),
        url: pull.html_url,
        head_sha: CommitSha::new(pull.head.sha),
        opened,
    }
}

fn pull_request_state(pull: &wire::PullRequest) -> PullRequestState {
    if pull.merged == Some(true) || pull.merged_at.is_some() {
        PullRequestState::Merged
    } else if pull.state == "open" {
        PullRequestState::Open
    } else {
        PullRequestState::Closed
    }
}

/// Unknown states count as comments: they neither grant an approval nor block.
fn review_state(state: &str) -> ReviewState {
    match state {
        "APPROVED" => ReviewState::Approved,
        "CHANGES_REQUESTED" => ReviewState::ChangesRequested,
        "DISMISSED" => ReviewState::Dismissed,
        "PENDING" => ReviewState::Pending,
        _ => ReviewState::Commented,
    }
}

/// Unknown conclusions count as failures, so a check GitHub invents later never passes by
/// accident.
fn check_conclusion(conclusion: &str) -> CheckConclusion {
    match conclusion {
        "success" => CheckConclusion::Success,
        "neutral" => CheckConclusion::Neutral,
        "skipped" => CheckConclusion::Skipped,
        "cancelled" => CheckConclusion::Cancelled,
        "timed_out" => CheckConclusion::TimedOut,
        "action_required" => CheckConclusion::ActionRequired,
        "stale" => CheckConclusion::Stale,
        "startup_failure" => CheckConclusion::StartupFailure,
        _ => CheckConclusion::Failure,
    }
}

fn login_of(user: Option<wire::User>) -> String {
    // GitHub reports deleted accounts as a missing user; "ghost" is its own name for them.
    user.map_or_else(|| "ghost".to_owned(), |user| user.login)
}

/// GitHub's 422 for reviewing one's own PR: "Can not approve your own pull request" or
/// "Can not request changes on your own pull request".
fn is_own_pull_request_refusal(body: &str) -> bool {
    serde_json::from_str::<wire::ErrorBody>(body)
        .is_ok_and(|error| error.mentions("your own pull request"))
}

fn non_empty(body: String, fallback: &str) -> String {
    if body.trim().is_empty() {
        fallback.to_owned()
    } else {
        body
    }
}

/// Percent-encodes a query value, keeping what GitHub's `head=owner:branch` needs readable.
pub(crate) fn query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b':' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_are_encoded_for_the_head_filter() {
        assert_eq!(query_value("acme:eng-1/pay+card"), "acme:eng-1/pay%2Bcard");
    }

    #[test]
    fn own_pull_request_refusals_are_recognised_in_both_wordings() {
        assert!(is_own_pull_request_refusal(
            r#"{"message":"Unprocessable Entity","errors":["Can not approve your own pull request"]}"#
        ));
        assert!(is_own_pull_request_refusal(
            r#"{"message":"Unprocessable Entity","errors":["Can not request changes on your own pull request"]}"#
        ));
        assert!(!is_own_pull_request_refusal(
            r#"{"message":"Validation Failed","errors":[{"code":"custom","message":"line must be part of the diff"}]}"#
        ));
    }
}
