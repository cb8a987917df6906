//! The log host: a second loopback origin standing for
//! `pipelines.actions.githubusercontent.com`, where `GET …/actions/jobs/{id}/logs` redirects.
//! It serves a job's plain-text log to whoever holds the signed URL, asks for no
//! credentials, and records whether a client sent some anyway.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::server::AppState;
use crate::world::{LogDownload, World};

#[derive(Debug, Deserialize)]
struct Signed {
    #[serde(rename = "urlSignature")]
    signature: Option<String>,
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/{owner}/{repo}/_apis/pipelines/1/jobs/{job_id}/signedlogcontent",
            get(serve_log),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "BlobNotFound\n") })
        .with_state(state)
}

async fn serve_log(
    State(state): State<AppState>,
    Path((owner, name, job_id)): Path<(String, String, u64)>,
    Query(signed): Query<Signed>,
    headers: HeaderMap,
) -> Response {
    let sent_authorization = headers.contains_key(header::AUTHORIZATION);
    let key = World::repo_key(&owner, &name);
    let answer = state.read(|world| {
        let valid = signed
            .signature
            .as_ref()
            .and_then(|signature| world.log_links.get(signature))
            .is_some_and(|(link_key, link_job)| *link_key == key && *link_job == job_id);
        let log = world
            .repos
            .get(&key)
            .and_then(|repo| repo.jobs.iter().find(|job| job.id == job_id))
            .map(|job| job.log.clone());
        let answer = match (valid, log) {
            (true, Some(log)) => Ok(log),
            (true, None) => Err(StatusCode::NOT_FOUND),
            (false, _) => Err(StatusCode::FORBIDDEN),
        };
        world.log_downloads.push(LogDownload {
            job_id,
            sent_authorization,
            status: answer.as_ref().map_or_else(|s| s.as_u16(), |_| 200),
        });
        answer
    });
    match answer {
        Ok(Ok(log)) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], log).into_response(),
        Ok(Err(StatusCode::FORBIDDEN)) => (
            StatusCode::FORBIDDEN,
            "AuthenticationFailed: the signature does not match\n",
        )
            .into_response(),
        Ok(Err(status)) => (status, "BlobNotFound\n").into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
