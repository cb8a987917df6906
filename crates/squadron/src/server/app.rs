//! The route tables of the two listeners (webhooks; the control API, dashboard and
//! metrics), their body limits, the control guard, the request timeout, and the request log
//! every route goes through.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tracing::{debug, warn};

use super::access::{Guard, guard_control};
use super::error::{ApiError, ErrorNote};
use super::state::AppState;
use super::{api, events, metrics, slack, webhooks};

/// Which routes a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Routes {
    /// The webhooks and the health check: what the outside must reach.
    Webhooks,
    /// The control API, dashboard, metrics and the health check.
    Control,
    /// Both on one listener.
    Both,
}

/// The dashboard: one self-contained page (no build step, nothing loaded from elsewhere)
/// that reads `/api/runs`, `/api/squads/<id>`, `/readyz` and `/api/events`.
const DASHBOARD: &str = include_str!("dashboard.html");

/// The routes of one listener, with their body limits, the control guard (`guard`, built
/// for the listener that serves the control routes), the request timeout and the log.
pub(crate) fn router(state: AppState, routes: Routes, guard: &Arc<Guard>) -> Router {
    let settings = &state.settings;
    let control = Router::new()
        .route("/", get(dashboard))
        .route("/metrics", get(metrics::metrics))
        .merge(
            Router::new()
                .route("/api/runs", post(api::start_run).get(api::runs))
                .route("/api/runs/{id}", get(api::run))
                .route("/api/squads", get(api::squads))
                .route("/api/squads/{id}", get(api::squad))
                .route("/api/daemons", get(api::daemons))
                .route("/api/lanes", get(api::lanes))
                .route("/api/lanes/resume", post(api::resume_lane))
                .route("/api/events", get(events::stream))
                .layer(DefaultBodyLimit::max(settings.api_body_limit)),
        )
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(guard),
            guard_control,
        ));
    let webhooks = Router::new()
        .route("/webhooks/linear", post(webhooks::linear))
        .route("/webhooks/github", post(webhooks::github))
        .route("/webhooks/slack", post(slack::slack))
        .layer(DefaultBodyLimit::max(settings.webhook_body_limit));
    let mut router = Router::new()
        .route("/healthz", get(api::health))
        .route("/readyz", get(api::ready));
    if matches!(routes, Routes::Webhooks | Routes::Both) {
        router = router.merge(webhooks);
    }
    if matches!(routes, Routes::Control | Routes::Both) {
        router = router.merge(control);
    }
    let timeout = settings.transport.request_timeout;
    router
        .fallback(api::not_found)
        .layer(middleware::from_fn_with_state(timeout, time_limit))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// Answers 503 when a request is not answered within the request timeout (reading its body
/// counts; an event stream's life after its headers does not).
async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_elapsed) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "request_timeout",
            format!(
                "failed to answer within {} s (server.request_timeout_secs); try again",
                limit.as_secs()
            ),
        )
        .into_response(),
    }
}

async fn dashboard() -> impl IntoResponse {
    (
        // The page loads nothing from elsewhere and talks only to this server; the policy
        // keeps it that way.
        [(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; form-action 'self'",
        )],
        Html(DASHBOARD),
    )
}

/// Logs every request at debug and every failed one at warn, both with the route (the
/// pattern, not the raw path, so ids do not explode log cardinality).
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = match request.extensions().get::<MatchedPath>() {
        Some(matched) => matched.as_str().to_owned(),
        None => format!("unmatched {}", request.uri().path()),
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if let Some(note) = response.extensions().get::<ErrorNote>() {
        warn!(
            %method,
            route,
            status,
            code = note.code,
            "request refused: {}",
            note.message
        );
    }
    debug!(%method, route, status, elapsed_ms, "request");
    response
}
