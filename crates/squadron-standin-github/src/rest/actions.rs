//! GitHub Actions: workflow runs (list with filters, get), their jobs (list, get), a job's
//! log (a redirect to a signed URL on the log host), and re-runs of a job, a run, or a run's
//! failed jobs, each a new attempt.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::actions::{Job, Outcome, WorkflowRun, run_outcome};
use crate::error::ApiError;
use crate::json;
use crate::observe::Caller;
use crate::rest::{PageQuery, list_url, paginated_object, parse_body};
use crate::server::AppState;
use crate::world::{Repo, World};

/// The query of `GET …/actions/runs`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RunsQuery {
    head_sha: Option<String>,
    check_suite_id: Option<u64>,
    branch: Option<String>,
    event: Option<String>,
    status: Option<String>,
    per_page: Option<usize>,
    page: Option<usize>,
}

fn run_status(repo: &Repo, run: &WorkflowRun) -> (&'static str, Option<&'static str>) {
    match run_outcome(&repo.jobs, run) {
        Some(Outcome::Success) => ("completed", Some("success")),
        Some(Outcome::Failure) => ("completed", Some("failure")),
        Some(Outcome::Queued) | None => ("queued", None),
    }
}

/// `GET /repos/{o}/{r}/actions/runs`, newest first.
pub(crate) async fn list_runs(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name)): Path<(String, String)>,
    Query(query): Query<RunsQuery>,
    uri: Uri,
) -> Result<Response, ApiError> {
    state
        .run(move |world| {
            world.refresh_tips(&owner, &name)?;
            let repo = world.repo(&owner, &name)?;
            let items = repo
                .workflow_runs
                .iter()
                .rev()
                .filter(|run| {
                    query
                        .head_sha
                        .as_deref()
                        .is_none_or(|sha| run.head_sha == sha)
                })
                .filter(|run| {
                    query
                        .check_suite_id
                        .is_none_or(|id| run.check_suite_id == id)
                })
                .filter(|run| query.branch.as_deref().is_none_or(|b| run.head_branch == b))
                .filter(|run| {
                    query
                        .event
                        .as_deref()
                        .is_none_or(|e| run.event.as_str() == e)
                })
                .filter(|run| {
                    query.status.as_deref().is_none_or(|wanted| {
                        let (status, conclusion) = run_status(repo, run);
                        status == wanted || conclusion == Some(wanted)
                    })
                })
                .map(|run| json::workflow_run(world, repo, run))
                .collect();
            let page = PageQuery {
                per_page: query.per_page,
                page: query.page,
            };
            Ok(paginated_object(
                "workflow_runs",
                items,
                &page,
                &list_url(&world.base_url, &uri),
            ))
        })
        .await
}

fn find_run(repo: &Repo, run_id: u64) -> Result<&WorkflowRun, ApiError> {
    repo.workflow_runs
        .iter()
        .find(|run| run.id == run_id)
        .ok_or_else(ApiError::not_found)
}

fn find_job(repo: &Repo, job_id: u64) -> Result<(&WorkflowRun, &Job), ApiError> {
    let job = repo
        .jobs
        .iter()
        .find(|job| job.id == job_id)
        .ok_or_else(ApiError::not_found)?;
    Ok((find_run(repo, job.run_id)?, job))
}

/// `GET /repos/{o}/{r}/actions/runs/{run_id}`.
pub(crate) async fn get_run(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, run_id)): Path<(String, String, u64)>,
) -> Result<Json<Value>, ApiError> {
    state
        .run(move |world| {
            let repo = world.repo(&owner, &name)?;
            Ok(Json(json::workflow_run(
                world,
                repo,
                find_run(repo, run_id)?,
            )))
        })
        .await
}

/// The query of `GET …/actions/runs/{id}/jobs`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct JobsQuery {
    filter: Option<String>,
    per_page: Option<usize>,
    page: Option<usize>,
}

/// `GET /repos/{o}/{r}/actions/runs/{run_id}/jobs`: the latest attempt's jobs, or with
/// `filter=all` every attempt's.
pub(crate) async fn list_jobs(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, run_id)): Path<(String, String, u64)>,
    Query(query): Query<JobsQuery>,
    uri: Uri,
) -> Result<Response, ApiError> {
    state
        .run(move |world| {
            let repo = world.repo(&owner, &name)?;
            let run = find_run(repo, run_id)?;
            let all = match query.filter.as_deref() {
                None | Some("latest") => false,
                Some("all") => true,
                Some(_) => {
                    return Err(ApiError::validation_failed(
                        json!([{"resource": "Job", "field": "filter", "code": "invalid"}]),
                    ));
                }
            };
            let items = repo
                .jobs
                .iter()
                .filter(|job| job.run_id == run_id)
                .filter(|job| all || job.run_attempt == run.run_attempt)
                .map(|job| json::job(world, repo, run, job))
                .collect();
            let page = PageQuery {
                per_page: query.per_page,
                page: query.page,
            };
            Ok(paginated_object(
                "jobs",
                items,
                &page,
                &list_url(&world.base_url, &uri),
            ))
        })
        .await
}

/// `GET /repos/{o}/{r}/actions/jobs/{job_id}`.
pub(crate) async fn get_job(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, job_id)): Path<(String, String, u64)>,
) -> Result<Json<Value>, ApiError> {
    state
        .run(move |world| {
            let repo = world.repo(&owner, &name)?;
            let (run, job) = find_job(repo, job_id)?;
            Ok(Json(json::job(world, repo, run, job)))
        })
        .await
}

/// `GET /repos/{o}/{r}/actions/jobs/{job_id}/logs`: 302 to a signed URL on the log host,
/// which serves the plain-text log without asking for credentials.
pub(crate) async fn job_logs(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, job_id)): Path<(String, String, u64)>,
) -> Result<Response, ApiError> {
    state
        .run(move |world| {
            let repo = world.repo(&owner, &name)?;
            let (_, job) = find_job(repo, job_id)?;
            if job.completed_at.is_none() {
                return Err(ApiError::not_found());
            }
            let key = World::repo_key(&owner, &name);
            let signature = hex::encode(Sha256::digest(format!(
                "{key}/{job_id}/{}",
                world.log_links.len()
            )));
            let location = format!(
                "{}/{key}/_apis/pipelines/1/jobs/{job_id}/signedlogcontent?urlExpires={}&urlSigningMethod=HMACV1&urlSignature={signature}",
                world.log_host_url,
                world.clock.now().rfc3339(),
            );
            world.log_links.insert(signature, (key, job_id));
            let location =
                HeaderValue::from_str(&location).map_err(|e| ApiError::internal(e.to_string()))?;
            Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
        })
        .await
}

/// The optional body of the re-run endpoints.
#[derive(Debug, Default, Deserialize)]
struct RerunBody {
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "accepted as GitHub does; the stand-in logs nothing more"
    )]
    enable_debug_logging: bool,
}

fn created() -> Response {
    (StatusCode::CREATED, Json(json!({}))).into_response()
}

/// Starts a new attempt of `run_id`, refusing while its latest attempt has not completed.
fn new_attempt(world: &mut World, owner: &str, name: &str, run_id: u64) -> Result<(), ApiError> {
    let repo = world.repo(owner, name)?;
    let run = find_run(repo, run_id)?;
    if run_outcome(&repo.jobs, run).is_none_or(|outcome| outcome == Outcome::Queued) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "This workflow run is not complete and cannot be re-run yet.",
        ));
    }
    let repo = world.repo_mut(owner, name)?;
    if let Some(run) = repo.workflow_runs.iter_mut().find(|r| r.id == run_id) {
        run.run_attempt += 1;
    }
    world.start_attempt(owner, name, run_id)
}

/// `POST /repos/{o}/{r}/actions/jobs/{job_id}/rerun`: the job (the run's only one) again,
/// as a new attempt of its run with a new job and check run.
pub(crate) async fn rerun_job(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, job_id)): Path<(String, String, u64)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let _: Option<RerunBody> = parse_body(&body)?;
    state
        .run(move |world| {
            let repo = world.repo(&owner, &name)?;
            let (run, job) = find_job(repo, job_id)?;
            if job.run_attempt != run.run_attempt {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "This job is from an earlier attempt of its workflow run and cannot be re-run.",
                ));
            }
            let run_id = run.id;
            new_attempt(world, &owner, &name, run_id)?;
            Ok(created())
        })
        .await
}

/// `POST /repos/{o}/{r}/actions/runs/{run_id}/rerun`.
pub(crate) async fn rerun_run(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, run_id)): Path<(String, String, u64)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    rerun_whole_run(state, owner, name, run_id, &body, false).await
}

/// `POST /repos/{o}/{r}/actions/runs/{run_id}/rerun-failed-jobs`.
pub(crate) async fn rerun_failed_jobs(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name, run_id)): Path<(String, String, u64)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    rerun_whole_run(state, owner, name, run_id, &body, true).await
}

/// A new attempt of the run's job (its only one); `only_failed` refuses a run that passed.
async fn rerun_whole_run(
    state: AppState,
    owner: String,
    name: String,
    run_id: u64,
    body: &Bytes,
    only_failed: bool,
) -> Result<Response, ApiError> {
    let _: Option<RerunBody> = parse_body(body)?;
    state
        .run(move |world| {
            let repo = world.repo(&owner, &name)?;
            let run = find_run(repo, run_id)?;
            if only_failed && run_outcome(&repo.jobs, run) == Some(Outcome::Success) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "This workflow run has no failed jobs to re-run.",
                ));
            }
            new_attempt(world, &owner, &name, run_id)?;
            Ok(created())
        })
        .await
}
