//! Commit statuses (create, list, combined), the by-ref reads of statuses and check runs,
//! and the required-checks verdict that `mergeable_state` and merges use.

use std::collections::BTreeSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::gitops;
use crate::json;
use crate::observe::Caller;
use crate::rest::{checks, json_with, list_url, paginated, parse_body};
use crate::server::AppState;
use crate::world::{CheckRun, Repo, Status};

/// The newest status per context on `sha`, newest first.
fn latest_statuses<'a>(repo: &'a Repo, sha: &str) -> Vec<&'a Status> {
    let mut seen = BTreeSet::new();
    repo.statuses
        .iter()
        .rev()
        .filter(|s| s.sha == sha)
        .filter(|s| seen.insert(s.context.clone()))
        .collect()
}

/// The newest check run per name on `sha`.
fn latest_check_runs<'a>(repo: &'a Repo, sha: &str) -> Vec<&'a CheckRun> {
    let mut seen = BTreeSet::new();
    repo.check_runs
        .iter()
        .rev()
        .filter(|r| r.head_sha == sha)
        .filter(|r| seen.insert(r.name.clone()))
        .collect()
}

/// GitHub's combined state: failure if any context failed or errored, pending if any is
/// pending or there is none, success otherwise.
fn combined_state(statuses: &[&Status]) -> &'static str {
    if statuses
        .iter()
        .any(|s| s.state == "failure" || s.state == "error")
    {
        "failure"
    } else if statuses.is_empty() || statuses.iter().any(|s| s.state == "pending") {
        "pending"
    } else {
        "success"
    }
}

/// How the checks on a head stand against branch protection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ChecksVerdict {
    Green,
    /// Every required check passed, but some other status or check did not.
    OtherFailing,
    /// This required context has not succeeded.
    MissingRequired(String),
}

fn check_run_passed(run: &CheckRun) -> bool {
    run.status == "completed"
        && matches!(
            run.conclusion.as_deref(),
            Some("success" | "neutral" | "skipped")
        )
}

pub(crate) fn required_checks(repo: &Repo, sha: &str) -> ChecksVerdict {
    let statuses = latest_statuses(repo, sha);
    let runs = latest_check_runs(repo, sha);
    for context in &repo.settings.required_contexts {
        let status_ok = statuses
            .iter()
            .any(|s| &s.context == context && s.state == "success");
        let run_ok = runs
            .iter()
            .any(|r| &r.name == context && check_run_passed(r));
        if !status_ok && !run_ok {
            return ChecksVerdict::MissingRequired(context.clone());
        }
    }
    let others_ok =
        statuses.iter().all(|s| s.state == "success") && runs.iter().all(|r| check_run_passed(r));
    if others_ok {
        ChecksVerdict::Green
    } else {
        ChecksVerdict::OtherFailing
    }
}

#[derive(Debug, Deserialize)]
struct CreateStatus {
    state: Option<String>,
    target_url: Option<String>,
    description: Option<String>,
    context: Option<String>,
}

pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name, sha)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: CreateStatus = parse_body(&body)?;
    state
        .run(move |world| {
            let status_state = request.state.unwrap_or_default();
            if !matches!(status_state.as_str(), "error" | "failure" | "pending" | "success") {
                return Err(ApiError::validation_failed(
                    json!([{"resource": "Status", "field": "state", "code": "custom", "message": "state is not included in the list"}]),
                ));
            }
            let git = world.git(&owner, &name)?;
            let sha = gitops::resolve(&git, &sha)
                .filter(|oid| oid.to_string().starts_with(&sha.to_ascii_lowercase()))
                .ok_or_else(|| ApiError::unprocessable(&[&format!("No commit found for SHA: {sha}")]))?
                .to_string();
            let status = Status {
                id: world.next_id(),
                sha,
                state: status_state,
                context: request.context.unwrap_or_else(|| "default".to_owned()),
                description: request.description,
                target_url: request.target_url,
                creator: Some(caller.id),
                created_at: world.clock.tick(),
            };
            world.repo_mut(&owner, &name)?.statuses.push(status.clone());
            let repo = world.repo(&owner, &name)?;
            Ok(json_with(StatusCode::CREATED, json::status(world, repo, &status)))
        })
        .await
}

/// `GET /repos/{o}/{r}/commits/{ref}/{status | statuses | check-runs}`; the ref may hold
/// slashes (branch names), so the route captures the rest of the path.
pub(crate) async fn by_ref(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, rest)): Path<(String, String, String)>,
    Query(query): Query<checks::ListQuery>,
    uri: Uri,
) -> Result<Response, ApiError> {
    state
        .run(move |world| {
            let (reference, what) = rest.rsplit_once('/').ok_or_else(ApiError::not_found)?;
            world.refresh_tips(&owner, &name)?;
            let git = world.git(&owner, &name)?;
            let sha = gitops::resolve(&git, reference)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &format!("No commit found for SHA: {reference}"),
                    )
                })?
                .to_string();
            let repo = world.repo(&owner, &name)?;
            let base = &world.base_url;
            let slug = repo.slug();
            match what {
                "status" => {
                    let latest = latest_statuses(repo, &sha);
                    let statuses: Vec<Value> = latest
                        .iter()
                        .map(|s| json::simple_status(world, repo, s))
                        .collect();
                    Ok(Json(json!({
                        "state": combined_state(&latest),
                        "statuses": statuses,
                        "sha": sha,
                        "total_count": latest.len(),
                        "repository": json::repository(world, repo),
                        "commit_url": format!("{base}/repos/{slug}/commits/{sha}"),
                        "url": format!("{base}/repos/{slug}/commits/{sha}/status"),
                    }))
                    .into_response())
                }
                "statuses" => {
                    let items = repo
                        .statuses
                        .iter()
                        .rev()
                        .filter(|s| s.sha == sha)
                        .map(|s| json::status(world, repo, s))
                        .collect();
                    Ok(paginated(items, &query.page(), &list_url(base, &uri)))
                }
                "check-runs" => checks::list_for_ref(world, repo, &sha, &query, &uri),
                _ => Err(ApiError::not_found()),
            }
        })
        .await
}
