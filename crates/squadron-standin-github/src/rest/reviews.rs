//! Reviews and their inline comments: create (with GitHub's self-review refusals and
//! diff-anchored comments), list chronologically, and list review comments.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::Response;
use git2::Oid;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::gitops::{self, Side};
use crate::json;
use crate::observe::Caller;
use crate::rest::{PageQuery, list_url, paginated, parse_body};
use crate::server::AppState;
use crate::world::{Review, ReviewComment, ReviewState};

const REVIEWS_DOCS: &str =
    "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request";

#[derive(Debug, Deserialize)]
struct CreateReview {
    commit_id: Option<String>,
    #[serde(default)]
    body: String,
    event: Option<String>,
    #[serde(default)]
    comments: Vec<DraftComment>,
}

#[derive(Debug, Deserialize)]
struct DraftComment {
    path: String,
    body: String,
    line: Option<u64>,
    side: Option<String>,
    start_line: Option<u64>,
}

fn review_error(errors: &[&str]) -> ApiError {
    let mut error = ApiError::unprocessable(errors);
    error.body["documentation_url"] = json!(REVIEWS_DOCS);
    error
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name, number)): Path<(String, String, u64)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: CreateReview = parse_body(&body)?;
    state
        .run(move |world| {
            world.refresh_tips(&owner, &name)?;
            let git = world.git(&owner, &name)?;
            let repo = world.repo(&owner, &name)?;
            let pull = repo.pull(number)?;
            let review_state = match request.event.as_deref() {
                None | Some("") => ReviewState::Pending,
                Some("APPROVE") => ReviewState::Approved,
                Some("REQUEST_CHANGES") => ReviewState::ChangesRequested,
                Some("COMMENT") => ReviewState::Commented,
                Some(_) => {
                    return Err(ApiError::validation_failed(
                        json!([{"resource": "PullRequestReview", "field": "event", "code": "invalid"}]),
                    ));
                }
            };
            if caller.id == pull.author {
                match review_state {
                    ReviewState::Approved => return Err(review_error(&["Can not approve your own pull request"])),
                    ReviewState::ChangesRequested => {
                        return Err(review_error(&["Can not request changes on your own pull request"]));
                    }
                    _ => {}
                }
            }
            let commit_id = match &request.commit_id {
                None => pull.head_sha.clone(),
                Some(sha) => gitops::resolve(&git, sha)
                    .ok_or_else(|| review_error(&["Commit could not be found"]))?
                    .to_string(),
            };
            let files = gitops::pull_diff(&git, Oid::from_str(&pull.base_sha)?, Oid::from_str(&commit_id)?)?;
            let mut anchored = Vec::new();
            for draft in &request.comments {
                let file = files
                    .iter()
                    .find(|f| f.filename == draft.path)
                    .ok_or_else(|| review_error(&["Path could not be resolved"]))?;
                let (side, side_name) = match draft.side.as_deref() {
                    None | Some("RIGHT") => (Side::Right, "RIGHT"),
                    Some("LEFT") => (Side::Left, "LEFT"),
                    Some(_) => {
                        return Err(ApiError::validation_failed(
                            json!([{"resource": "PullRequestReviewComment", "field": "side", "code": "invalid"}]),
                        ));
                    }
                };
                let line = draft.line.ok_or_else(|| {
                    ApiError::validation_failed(
                        json!([{"resource": "PullRequestReviewComment", "field": "line", "code": "missing_field"}]),
                    )
                })?;
                let anchor = gitops::locate_line(&file.patch, side, line).ok_or_else(|| {
                    review_error(&[
                        "Pull request review thread line must be part of the diff and Pull request review thread diff hunk can't be blank",
                    ])
                })?;
                anchored.push((draft, side_name, line, anchor));
            }

            let review_id = world.next_id();
            let submitted_at = world.clock.tick();
            let mut comments = Vec::new();
            for (draft, side, line, anchor) in anchored {
                comments.push(ReviewComment {
                    id: world.next_id(),
                    review_id,
                    user: caller.id,
                    body: draft.body.clone(),
                    path: draft.path.clone(),
                    line,
                    side,
                    start_line: draft.start_line,
                    position: anchor.position,
                    diff_hunk: anchor.diff_hunk,
                    commit_id: commit_id.clone(),
                    created_at: submitted_at,
                });
            }
            let review = Review {
                id: review_id,
                user: caller.id,
                body: request.body,
                state: review_state,
                commit_id,
                submitted_at,
            };
            let pull = world.repo_mut(&owner, &name)?.pull_mut(number)?;
            pull.reviews.push(review.clone());
            pull.review_comments.extend(comments);
            pull.updated_at = submitted_at;
            let repo = world.repo(&owner, &name)?;
            Ok(Json(json::review(world, repo, repo.pull(number)?, &review)))
        })
        .await
}

pub(crate) async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, number)): Path<(String, String, u64)>,
    Query(page): Query<PageQuery>,
    uri: Uri,
) -> Result<Response, ApiError> {
    state
        .run(move |world| {
            let repo = world.repo(&owner, &name)?;
            let pull = repo.pull(number)?;
            let items = pull
                .reviews
                .iter()
                .map(|r| json::review(world, repo, pull, r))
                .collect();
            Ok(paginated(items, &page, &list_url(&world.base_url, &uri)))
        })
        .await
}

pub(crate) async fn pull_comments(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, number)): Path<(String, String, u64)>,
    Query(page): Query<PageQuery>,
    uri: Uri,
) -> Result<Response, ApiError> {
    state
        .run(move |world| {
            let repo = world.repo(&owner, &name)?;
            let pull = repo.pull(number)?;
            let items = pull
                .review_comments
                .iter()
                .map(|c| json::review_comment(world, repo, pull, c))
                .collect();
            Ok(paginated(items, &page, &list_url(&world.base_url, &uri)))
        })
        .await
}

pub(crate) async fn review_comments(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, number, review_id)): Path<(String, String, u64, u64)>,
    Query(page): Query<PageQuery>,
    uri: Uri,
) -> Result<Response, ApiError> {
    state
        .run(move |world| {
            let repo = world.repo(&owner, &name)?;
            let pull = repo.pull(number)?;
            if !pull.reviews.iter().any(|r| r.id == review_id) {
                return Err(ApiError::not_found());
            }
            let items = pull
                .review_comments
                .iter()
                .filter(|c| c.review_id == review_id)
                .map(|c| json::review_comment(world, repo, pull, c))
                .collect();
            Ok(paginated(items, &page, &list_url(&world.base_url, &uri)))
        })
        .await
}
