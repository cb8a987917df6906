//! Check runs: create and update (as an app would), get, list for a ref (with GitHub's
//! `check_name`, `status` and `filter` parameters), annotations, and re-requests.

use std::collections::BTreeSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::actions::Annotation;
use crate::error::ApiError;
use crate::gitops;
use crate::json;
use crate::observe::Caller;
use crate::rest::{PageQuery, json_with, list_url, paginated, paginated_object, parse_body};
use crate::server::AppState;
use crate::world::{CheckApp, CheckOutput, CheckRun, Repo, World};

/// The query of `GET …/commits/{ref}/check-runs`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    check_name: Option<String>,
    status: Option<String>,
    filter: Option<String>,
    per_page: Option<usize>,
    page: Option<usize>,
}

impl ListQuery {
    pub(crate) fn page(&self) -> PageQuery {
        PageQuery {
            per_page: self.per_page,
            page: self.page,
        }
    }
}

/// `{"total_count", "check_runs"}` for `sha`: by default the latest run per name, as
/// GitHub's `filter=latest`; `filter=all` lists every attempt.
pub(crate) fn list_for_ref(
    world: &World,
    repo: &Repo,
    sha: &str,
    query: &ListQuery,
    uri: &Uri,
) -> Result<Response, ApiError> {
    let all = match query.filter.as_deref() {
        None | Some("latest") => false,
        Some("all") => true,
        Some(_) => {
            return Err(ApiError::validation_failed(
                json!([{"resource": "CheckRun", "field": "filter", "code": "invalid"}]),
            ));
        }
    };
    let mut runs: Vec<&CheckRun> = repo
        .check_runs
        .iter()
        .filter(|r| r.head_sha == sha)
        .filter(|r| query.check_name.as_deref().is_none_or(|n| r.name == n))
        .filter(|r| query.status.as_deref().is_none_or(|s| r.status == s))
        .collect();
    if !all {
        let mut seen = BTreeSet::new();
        let mut latest: Vec<&CheckRun> = runs
            .iter()
            .rev()
            .filter(|r| seen.insert(r.name.clone()))
            .copied()
            .collect();
        latest.reverse();
        runs = latest;
    }
    // GitHub lists the newest first.
    let items = runs
        .iter()
        .rev()
        .map(|r| json::check_run(world, repo, r))
        .collect();
    Ok(paginated_object(
        "check_runs",
        items,
        &query.page(),
        &list_url(&world.base_url, uri),
    ))
}

#[derive(Debug, Deserialize)]
struct OutputBody {
    title: Option<String>,
    summary: Option<String>,
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CreateCheckRun {
    name: Option<String>,
    head_sha: Option<String>,
    status: Option<String>,
    conclusion: Option<String>,
    details_url: Option<String>,
    external_id: Option<String>,
    output: Option<OutputBody>,
}

const STATUSES: [&str; 6] = [
    "queued",
    "in_progress",
    "completed",
    "waiting",
    "requested",
    "pending",
];
const CONCLUSIONS: [&str; 7] = [
    "success",
    "failure",
    "neutral",
    "cancelled",
    "skipped",
    "timed_out",
    "action_required",
];

fn invalid(field: &str) -> ApiError {
    ApiError::validation_failed(
        json!([{"resource": "CheckRun", "field": field, "code": "invalid"}]),
    )
}

/// `POST /repos/{o}/{r}/check-runs`, as an external CI app creates its checks.
pub(crate) async fn create(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: CreateCheckRun = parse_body(&body)?;
    state
        .run(move |world| {
            let missing = |field: &str| {
                ApiError::validation_failed(
                    json!([{"resource": "CheckRun", "field": field, "code": "missing_field"}]),
                )
            };
            let run_name = request.name.ok_or_else(|| missing("name"))?;
            let head_sha = request.head_sha.ok_or_else(|| missing("head_sha"))?;
            let git = world.git(&owner, &name)?;
            let head_sha = gitops::resolve(&git, &head_sha)
                .ok_or_else(|| ApiError::unprocessable(&["No commit found for SHA"]))?
                .to_string();
            let status = match (&request.conclusion, request.status) {
                (Some(_), _) => "completed".to_owned(),
                (None, Some(status)) => status,
                (None, None) => "queued".to_owned(),
            };
            if !STATUSES.contains(&status.as_str()) {
                return Err(invalid("status"));
            }
            if request
                .conclusion
                .as_deref()
                .is_some_and(|c| !CONCLUSIONS.contains(&c))
            {
                return Err(invalid("conclusion"));
            }
            let id = world.next_id();
            let check_suite_id = world.next_id();
            let started_at = world.clock.tick();
            let output = request
                .output
                .map_or_else(CheckOutput::default, |o| CheckOutput {
                    title: o.title,
                    summary: o.summary,
                    text: o.text,
                    annotations: Vec::new(),
                });
            let run = CheckRun {
                id,
                head_sha,
                name: run_name,
                completed_at: (status == "completed").then_some(started_at),
                status,
                conclusion: request.conclusion,
                started_at,
                check_suite_id,
                app: CheckApp::External,
                external_id: request.external_id.unwrap_or_default(),
                details_url: request.details_url,
                output,
            };
            world.repo_mut(&owner, &name)?.check_runs.push(run.clone());
            let repo = world.repo(&owner, &name)?;
            Ok(json_with(
                StatusCode::CREATED,
                json::check_run(world, repo, &run),
            ))
        })
        .await
}

#[derive(Debug, Deserialize)]
struct UpdateCheckRun {
    status: Option<String>,
    conclusion: Option<String>,
    details_url: Option<String>,
    output: Option<OutputBody>,
}

/// `PATCH /repos/{o}/{r}/check-runs/{id}`: an external app reports progress or a result.
/// GitHub Actions' own check runs are not the caller's to change.
pub(crate) async fn update(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, id)): Path<(String, String, u64)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: UpdateCheckRun = parse_body(&body)?;
    state
        .run(move |world| {
            let at = world.clock.tick();
            let run = find_mut(world.repo_mut(&owner, &name)?, id)?;
            if run.app == CheckApp::Actions {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "Resource not accessible by integration",
                ));
            }
            if let Some(conclusion) = request.conclusion {
                if !CONCLUSIONS.contains(&conclusion.as_str()) {
                    return Err(invalid("conclusion"));
                }
                run.conclusion = Some(conclusion);
                run.status = "completed".to_owned();
                run.completed_at = Some(at);
            } else if let Some(status) = request.status {
                if !STATUSES.contains(&status.as_str()) {
                    return Err(invalid("status"));
                }
                run.status = status;
            }
            if let Some(url) = request.details_url {
                run.details_url = Some(url);
            }
            if let Some(output) = request.output {
                run.output.title = output.title.or(run.output.title.take());
                run.output.summary = output.summary.or(run.output.summary.take());
                run.output.text = output.text.or(run.output.text.take());
            }
            let run = run.clone();
            let repo = world.repo(&owner, &name)?;
            Ok(Json(json::check_run(world, repo, &run)))
        })
        .await
}

fn find_mut(repo: &mut Repo, id: u64) -> Result<&mut CheckRun, ApiError> {
    repo.check_runs
        .iter_mut()
        .find(|run| run.id == id)
        .ok_or_else(ApiError::not_found)
}

fn find(repo: &Repo, id: u64) -> Result<&CheckRun, ApiError> {
    repo.check_runs
        .iter()
        .find(|run| run.id == id)
        .ok_or_else(ApiError::not_found)
}

/// `GET /repos/{o}/{r}/check-runs/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, id)): Path<(String, String, u64)>,
) -> Result<Json<Value>, ApiError> {
    state
        .run(move |world| {
            world.refresh_tips(&owner, &name)?;
            let repo = world.repo(&owner, &name)?;
            Ok(Json(json::check_run(world, repo, find(repo, id)?)))
        })
        .await
}

/// `GET /repos/{o}/{r}/check-runs/{id}/annotations`.
pub(crate) async fn annotations(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, id)): Path<(String, String, u64)>,
    Query(page): Query<PageQuery>,
    uri: Uri,
) -> Result<Response, ApiError> {
    state
        .run(move |world| {
            let repo = world.repo(&owner, &name)?;
            let run = find(repo, id)?;
            let items = run
                .output
                .annotations
                .iter()
                .map(|note: &Annotation| json::annotation(world, repo, run, note))
                .collect();
            Ok(paginated(items, &page, &list_url(&world.base_url, &uri)))
        })
        .await
}

/// `POST /repos/{o}/{r}/check-runs/{id}/rerequest`: GitHub tells the owning app (the
/// `check_run` webhook with `rerequested`) and leaves the check run as it is; the app
/// reports again through `PATCH`. The check runs of GitHub Actions jobs are re-run through
/// the Actions API instead (`POST …/actions/jobs/{id}/rerun`), so the stand-in refuses to
/// re-request them, as GitHub answers a check run that is not rerequestable.
pub(crate) async fn rerequest(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, id)): Path<(String, String, u64)>,
) -> Result<Response, ApiError> {
    state
        .run(move |world| {
            let run = find(world.repo(&owner, &name)?, id)?;
            if run.app == CheckApp::Actions {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "This check run is not rerequestable: re-run its GitHub Actions job instead",
                ));
            }
            Ok((StatusCode::CREATED, Json(json!({}))).into_response())
        })
        .await
}
