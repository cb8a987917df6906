//! The JSON API: start a run from a milestone URL, read runs and squads (one squad with its
//! whole record), read and resume the merge lanes stop the line stopped, and the health and
//! readiness checks.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use squadron_core::lease::DaemonId;
use squadron_core::merge_queue::MergeLane;
use squadron_core::ports::RepoRef;
use squadron_core::{RunId, SquadId};
use squadron_linear::ACCEPTED_SHAPES;
use tracing::info;

use super::error::ApiError;
use super::json::{daemon_json, rfc3339, run_json, squad_detail_json, squad_json};
use super::state::AppState;
use crate::labels::stopped_lane_json;

/// The body of `POST /api/runs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRun {
    url: String,
}

/// `POST /api/runs` `{"url": …}` → 202 `{"run_id": …}`.
pub(crate) async fn start_run(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require_json(&headers)?;
    let body = body.map_err(body_error)?;
    let request: StartRun = serde_json::from_slice(&body).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!(
                "failed to read the request body as {{\"url\": \"<Linear project URL>\"}}: {error}"
            ),
        )
    })?;
    if let Err(error) = squadron_linear::parse_project_url(&request.url) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_url",
            format!("failed to {error}"),
        )
        .with_field("accepted_shapes", accepted_shapes()));
    }
    let run_id = state.control.start_run(request.url.trim()).await?;
    info!(run = %run_id, url = %request.url.trim(), "run started over the API");
    let location = format!("/api/runs/{run_id}");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(json!({ "run_id": run_id.as_str() })),
    )
        .into_response())
}

/// `GET /api/runs`: every run with its squads and totals, newest first.
pub(crate) async fn runs(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let runs = state.control.runs().await?;
    let now = state.clock.now();
    let settings = &state.settings;
    let runs: Vec<Value> = runs
        .iter()
        .map(|view| run_json(view, now, &settings.links, settings.run_budget))
        .collect();
    Ok(Json(json!({ "runs": runs })))
}

/// `GET /api/runs/{id}`: the run and its squads.
pub(crate) async fn run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let view = state.control.run(&RunId::new(id)).await?;
    let settings = &state.settings;
    Ok(Json(run_json(
        &view,
        state.clock.now(),
        &settings.links,
        settings.run_budget,
    )))
}

/// `GET /api/squads`: every squad, newest run first.
pub(crate) async fn squads(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let squads = state.control.squads().await?;
    let now = state.clock.now();
    let squads: Vec<Value> = squads
        .iter()
        .map(|view| squad_json(view, now, &state.settings.links))
        .collect();
    Ok(Json(json!({ "squads": squads })))
}

/// `GET /api/squads/{id}`: one squad with its timeline, reviews, transcript, usage per role
/// and side effects.
pub(crate) async fn squad(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let detail = state.control.squad_detail(&SquadId::new(id)).await?;
    Ok(Json(squad_detail_json(
        &detail,
        state.clock.now(),
        &state.settings.links,
        state.settings.squad_budget,
    )))
}

/// `GET /readyz`: 200 when the store answers and every service the daemon checked is
/// reachable, 503 otherwise; both list each check, so an operator sees what is down, and
/// each rate-limited service's state (a service paused by its limit is still ready).
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    let now = state.clock.now();
    let store = state.control.health().await;
    let mut checks = vec![json!({
        "name": "store",
        "ok": store.is_ok(),
        "detail": match &store {
            Ok(()) => "answers".to_owned(),
            Err(error) => format!("failed to {}", error.message()),
        },
        "checked_at": rfc3339(now),
    })];
    let mut ready = store.is_ok();
    for check in state.readiness.checks() {
        ready &= check.ok;
        checks.push(json!({
            "name": check.name,
            "ok": check.ok,
            "detail": check.detail,
            "checked_at": rfc3339(check.checked_at),
        }));
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let rate_limits: Vec<Value> = state
        .readiness
        .rate_limits()
        .iter()
        .map(|limit| {
            json!({
                "service": limit.service,
                "paused": limit.paused(),
                "paused_for_seconds": limit.paused_for.map(|wait| wait.as_secs().max(1)),
                "remaining": limit.budget.map(|budget| budget.remaining),
                "limit": limit.budget.map(|budget| budget.limit),
                "resets_at": limit.budget.map(|budget| rfc3339(budget.resets_at)),
                "in_flight": limit.in_flight.map(|(in_flight, _)| in_flight),
                "max_in_flight": limit.in_flight.map(|(_, max)| max),
                "summary": limit.summary(),
                "detail": limit.to_string(),
            })
        })
        .collect();
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": checks,
        "rate_limits": rate_limits,
    });
    (status, Json(body)).into_response()
}

/// `GET /healthz`: 200 when the store answers, 503 otherwise.
pub(crate) async fn health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.control.health().await.map_err(|error| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unhealthy",
            format!("failed to {}", error.message()),
        )
    })?;
    Ok(Json(json!({ "status": "ok" })))
}

/// `GET /api/daemons`: the daemons sharing the store, which one answered, which one runs the
/// squads, and where each stands (running, silent past its lease, stopped).
pub(crate) async fn daemons(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let cluster = state.control.cluster().await?;
    let now = state.clock.now();
    let daemons: Vec<Value> = cluster
        .daemons
        .iter()
        .map(|daemon| daemon_json(daemon, &cluster.leases, now))
        .collect();
    // Who runs the squads: the holder of a live runtime lease; nobody between a holder's
    // end and a standby's takeover.
    let runtime = cluster
        .runtime
        .as_ref()
        .filter(|lease| lease.is_live(now))
        .map(|lease| {
            json!({
                "daemon": lease.holder.as_str(),
                "token": lease.token.get(),
                "expires_at": rfc3339(lease.expires_at),
            })
        });
    Ok(Json(json!({
        "this": cluster.this.as_ref().map(DaemonId::as_str),
        "runtime": runtime,
        "daemons": daemons,
    })))
}

/// The body of `POST /api/lanes/resume`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResumeLane {
    repo: String,
    base: String,
}

/// `GET /api/lanes`: the merge lanes stop the line stopped, each with the merge after which
/// the base's tests failed, the one before it, and what a person can do.
pub(crate) async fn lanes(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let stopped: Vec<Value> = state
        .control
        .lane_stops()
        .await?
        .iter()
        .map(stopped_lane_json)
        .collect();
    Ok(Json(json!({ "stopped": stopped })))
}

/// `POST /api/lanes/resume` `{"repo": "owner/name", "base": "main"}` → 200 with the stop it
/// lifted; 404 when the lane is not stopped.
pub(crate) async fn resume_lane(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    require_json(&headers)?;
    let body = body.map_err(body_error)?;
    let invalid = |problem: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!(
                "failed to read the request body as {{\"repo\": \"<owner/name>\", \"base\": \
                 \"<branch>\"}}: {problem}"
            ),
        )
    };
    let request: ResumeLane =
        serde_json::from_slice(&body).map_err(|error| invalid(error.to_string()))?;
    let (owner, name) = request
        .repo
        .split_once('/')
        .filter(|(owner, name)| !owner.is_empty() && !name.is_empty() && !name.contains('/'))
        .ok_or_else(|| invalid(format!("`{}` is not owner/name", request.repo)))?;
    if request.base.trim().is_empty() {
        return Err(invalid("the base branch is empty".to_owned()));
    }
    let lane = MergeLane {
        repo: RepoRef::new(owner, name),
        base: request.base,
    };
    let resumed = state.control.resume_lane(&lane).await?;
    info!(%lane, failing = %resumed.stop.failing.issue, "merge lane resumed over the API");
    Ok(Json(json!({ "resumed": stopped_lane_json(&resumed) })))
}

/// Any path the server does not serve.
pub(crate) async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; the API is POST /api/runs, GET /api/runs, GET /api/runs/<id>, \
         GET /api/squads, GET /api/squads/<id>, GET /api/daemons, GET /api/events, \
         GET /healthz, GET /readyz, GET /metrics",
    )
}

/// The accepted URL shapes, one per element, for clients to show.
fn accepted_shapes() -> Value {
    ACCEPTED_SHAPES
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .into()
}

/// Refuses bodies not declared as JSON: besides being explicit, this keeps a cross-site
/// HTML form (which cannot send `application/json` without a CORS preflight) from starting
/// runs through a browser that can reach the daemon.
fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if media_type.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "failed to read the request body: its Content-Type is `{content_type}`; send `application/json`"
            ),
        ))
    }
}

/// A body that could not be read: too large (413) or broken off.
pub(crate) fn body_error(rejection: BytesRejection) -> ApiError {
    let status = rejection.status();
    let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "body_too_large"
    } else {
        "unreadable_body"
    };
    ApiError::new(
        status,
        code,
        format!("failed to read the request body: {}", rejection.body_text()),
    )
}
