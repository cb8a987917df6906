//! `POST /webhooks/linear` and `POST /webhooks/github`: verify the signature over the raw
//! body with the adapters' webhook modules, then tell the runtime what changed.
//!
//! Nothing reaches the runtime before the signature (and for Linear, the timestamp) checks
//! out; without a configured secret the routes refuse everything with 503 rather than
//! accepting unsigned deliveries.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use squadron_config::Secret;
use squadron_github::webhook::{self as github, WebhookError};
use squadron_linear::webhook::{self as linear, WebhookOutcome};
use tracing::info;

use super::api::body_error;
use super::error::ApiError;
use super::state::{AppState, WebhookSecret};

/// A Linear delivery: an issue moved to canceled cancels its squads.
pub(crate) async fn linear(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let secret = configured(&state.settings.linear_webhook, "Linear")?;
    let body = body.map_err(body_error)?;
    let signature = headers
        .get(linear::SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok());
    let outcome = linear::handle_linear_webhook(
        secret.expose().as_bytes(),
        signature,
        &body,
        state.clock.now(),
    )
    .map_err(|rejection| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            format!("failed to {rejection}"),
        )
    })?;
    match outcome {
        WebhookOutcome::CancelSquad {
            issue_key,
            issue_id,
        } => {
            let cancelled = state.control.cancel_issue(&issue_key).await?.cancelled;
            info!(
                issue = %issue_key,
                issue_id = %issue_id,
                squads = cancelled.len(),
                "issue canceled in Linear; its squads were asked to stop"
            );
            let cancelled: Vec<&str> = cancelled.iter().map(|id| id.as_str()).collect();
            Ok(Json(json!({
                "outcome": "cancelled",
                "issue": issue_key.as_str(),
                "squads": cancelled,
            })))
        }
        WebhookOutcome::Ignored => Ok(Json(json!({ "outcome": "ignored" }))),
    }
}

/// A GitHub delivery: reviews, checks, statuses and pushes make the runtime re-evaluate the
/// PRs they concern. Answers 202: the re-evaluation happens in the background.
pub(crate) async fn github(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let secret = configured(&state.settings.github_webhook, "GitHub")?;
    let body = body.map_err(body_error)?;
    let event = github::receive(secret.expose().as_bytes(), &headers, &body).map_err(|error| {
        let (status, code) = match error {
            WebhookError::MissingSignature
            | WebhookError::MalformedSignature
            | WebhookError::SignatureMismatch => (StatusCode::UNAUTHORIZED, "invalid_signature"),
            WebhookError::MissingEvent | WebhookError::MalformedBody { .. } => {
                (StatusCode::BAD_REQUEST, "invalid_delivery")
            }
        };
        ApiError::new(status, code, format!("failed to {error}"))
    })?;
    let targets = event.targets();
    for target in &targets {
        state.control.reevaluate(target).await?;
    }
    if !targets.is_empty() {
        info!(event = ?event, targets = targets.len(), "GitHub event: re-evaluating");
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "reevaluating": targets.len() })),
    ))
}

/// The secret, or 503 naming the variable to set.
pub(crate) fn configured<'a>(
    secret: &'a WebhookSecret,
    service: &str,
) -> Result<&'a Secret, ApiError> {
    secret.value.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "webhook_secret_missing",
            format!(
                "failed to verify the {service} webhook: no signing secret is configured; set {} \
                 (the variable named by {}) to the webhook's secret and restart `squadron serve`",
                secret.env_var, secret.config_key
            ),
        )
    })
}
