//! GitHub's REST JSON shapes, only the fields Squadron reads or writes.
//!
//! Field names follow `github-pulls-openapi.json`; the conversions into core types live in
//! `host.rs`, so the core never sees GitHub's wire format.

use serde::{Deserialize, Serialize};

/// GitHub's error body: `{"message": …, "errors": [...]}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub message: String,
    #[serde(default)]
    pub errors: Vec<serde_json::Value>,
}

impl ErrorBody {
    /// The message with each detail, whether GitHub sent it as a string or an object.
    pub fn describe(&self) -> String {
        let details: Vec<String> = self
            .errors
            .iter()
            .filter_map(|error| match error {
                serde_json::Value::String(text) => Some(text.clone()),
                serde_json::Value::Object(fields) => fields
                    .get("message")
                    .or_else(|| fields.get("code"))
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned),
                _ => None,
            })
            .collect();
        if details.is_empty() {
            self.message.clone()
        } else {
            format!("{} ({})", self.message, details.join("; "))
        }
    }

    /// Whether any part of the error contains `needle`.
    pub fn mentions(&self, needle: &str) -> bool {
        self.describe().contains(needle)
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct User {
    pub login: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct BranchRef {
    pub sha: String,
}

/// A PR's base: the branch it merges into.
#[derive(Debug, Deserialize)]
pub(crate) struct BaseRef {
    #[serde(rename = "ref")]
    pub branch: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PullRequest {
    pub number: u64,
    pub html_url: String,
    pub state: String,
    #[serde(default)]
    pub merged: Option<bool>,
    #[serde(default)]
    pub merged_at: Option<String>,
    #[serde(default)]
    pub draft: Option<bool>,
    pub head: BranchRef,
    pub base: BaseRef,
    #[serde(default)]
    pub mergeable: Option<bool>,
    /// The merge's commit once merged; before that GitHub names a test merge commit here.
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Review {
    pub id: u64,
    pub user: Option<User>,
    pub state: String,
    #[serde(default)]
    pub commit_id: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReviewComment {
    pub id: u64,
    #[serde(default)]
    pub pull_request_review_id: Option<u64>,
    pub user: Option<User>,
    pub path: String,
    #[serde(default)]
    pub line: Option<u32>,
    pub body: String,
    pub commit_id: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct IssueComment {
    pub id: u64,
    pub user: Option<User>,
    #[serde(default)]
    pub body: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CombinedStatus {
    #[serde(default)]
    pub sha: Option<String>,
    #[serde(default)]
    pub statuses: Vec<StatusEntry>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct StatusEntry {
    pub context: String,
    pub state: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub target_url: Option<String>,
}

/// One entry of `GET /commits/{ref}/statuses`: unlike the combined status, it names who
/// set it.
#[derive(Debug, Deserialize)]
pub(crate) struct Status {
    pub context: String,
    pub state: String,
    #[serde(default)]
    pub creator: Option<User>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CheckRunList {
    #[serde(default)]
    pub check_runs: Vec<CheckRunEntry>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CheckRunEntry {
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub conclusion: Option<String>,
}

/// `GET …/commits/{ref}/check-runs` with every field the failure reading needs.
#[derive(Debug, Deserialize)]
pub(crate) struct CheckRunDetailList {
    #[serde(default)]
    pub check_runs: Vec<CheckRunDetail>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CheckRunDetail {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub details_url: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub output: Option<CheckRunOutput>,
    #[serde(default)]
    pub check_suite: Option<IdOnly>,
    #[serde(default)]
    pub app: Option<App>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CheckRunOutput {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub annotations_count: u32,
}

#[derive(Debug, Deserialize)]
pub(crate) struct IdOnly {
    pub id: u64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct App {
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CheckAnnotation {
    pub path: String,
    #[serde(default)]
    pub start_line: Option<u32>,
    #[serde(default)]
    pub annotation_level: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WorkflowRunList {
    #[serde(default)]
    pub workflow_runs: Vec<IdOnly>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct JobList {
    #[serde(default)]
    pub jobs: Vec<Job>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Job {
    pub id: u64,
    #[serde(default)]
    pub check_run_url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PullRequestFile {
    pub filename: String,
    #[serde(default)]
    pub patch: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct MergeResult {
    #[serde(default)]
    pub sha: Option<String>,
    #[serde(default)]
    pub merged: bool,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct NewPullRequest<'a> {
    pub title: &'a str,
    pub head: &'a str,
    pub base: &'a str,
    pub body: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct PullRequestBodyUpdate<'a> {
    pub body: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct NewReview<'a> {
    pub commit_id: &'a str,
    pub body: &'a str,
    pub event: &'static str,
    pub comments: Vec<NewReviewComment<'a>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct NewReviewComment<'a> {
    pub path: &'a str,
    pub line: u32,
    pub side: &'static str,
    pub body: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct NewStatus<'a> {
    pub state: &'static str,
    pub context: &'a str,
    pub description: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct MergeRequest<'a> {
    pub sha: &'a str,
    pub merge_method: &'static str,
}
