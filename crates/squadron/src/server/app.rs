//! The route table, the body limits, and the request log every route goes through.

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tracing::{debug, warn};

use super::error::ErrorNote;
use super::state::AppState;
use super::{api, events, metrics, slack, webhooks};

/// The dashboard: one self-contained page (no build step, nothing loaded from elsewhere)
/// that reads `/api/runs`, `/api/squads/<id>`, `/readyz` and `/api/events`.
const DASHBOARD: &str = include_str!("dashboard.html");

/// Every route, with its body limit and the request log.
pub(crate) fn router(state: AppState) -> Router {
    let settings = &state.settings;
    let api = Router::new()
        .route("/api/runs", post(api::start_run).get(api::runs))
        .route("/api/runs/{id}", get(api::run))
        .route("/api/squads", get(api::squads))
        .route("/api/squads/{id}", get(api::squad))
        .route("/api/events", get(events::stream))
        .layer(DefaultBodyLimit::max(settings.api_body_limit));
    let webhooks = Router::new()
        .route("/webhooks/linear", post(webhooks::linear))
        .route("/webhooks/github", post(webhooks::github))
        .route("/webhooks/slack", post(slack::slack))
        .layer(DefaultBodyLimit::max(settings.webhook_body_limit));
    Router::new()
        .route("/", get(dashboard))
        .route("/healthz", get(api::health))
        .route("/readyz", get(api::ready))
        .route("/metrics", get(metrics::metrics))
        .merge(api)
        .merge(webhooks)
        .fallback(api::not_found)
        .layer(middleware::from_fn(log_request))
        .with_state(state)
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
