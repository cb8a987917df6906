//! Conversation comments on a pull request (`/issues/{n}/comments`: a PR is an issue).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::json;
use crate::observe::Caller;
use crate::rest::{PageQuery, json_with, list_url, paginated, parse_body};
use crate::server::AppState;
use crate::world::IssueComment;

#[derive(Debug, Deserialize)]
struct CreateComment {
    body: Option<String>,
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
            repo.pull(number)?;
            let items = repo
                .issue_comments
                .iter()
                .filter(|c| c.issue_number == number)
                .map(|c| json::issue_comment(world, repo, c))
                .collect();
            Ok(paginated(items, &page, &list_url(&world.base_url, &uri)))
        })
        .await
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name, number)): Path<(String, String, u64)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: CreateComment = parse_body(&body)?;
    state
        .run(move |world| {
            let body = request.body.filter(|b| !b.is_empty()).ok_or_else(|| {
                ApiError::validation_failed(
                    json!([{"resource": "IssueComment", "field": "body", "code": "missing_field"}]),
                )
            })?;
            world.repo(&owner, &name)?.pull(number)?;
            let comment = IssueComment {
                id: world.next_id(),
                issue_number: number,
                user: caller.id,
                body,
                created_at: world.clock.tick(),
            };
            let repo = world.repo_mut(&owner, &name)?;
            repo.issue_comments.push(comment.clone());
            let repo = world.repo(&owner, &name)?;
            Ok(json_with(
                StatusCode::CREATED,
                json::issue_comment(world, repo, &comment),
            ))
        })
        .await
}
