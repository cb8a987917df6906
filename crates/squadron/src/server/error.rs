//! The one shape every failed request gets: `{"error": {"code", "message"}}` with the right
//! status, and a note the request log reads to report the failure at warn.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::control::{ControlError, ControlErrorKind};

/// A failed request: status, a stable machine-readable code, and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    extra: Map<String, Value>,
}

impl ApiError {
    /// A failure answered with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// Adds a field beside `code` and `message` (e.g. `accepted_shapes`).
    pub fn with_field(mut self, name: &str, value: Value) -> Self {
        self.extra.insert(name.to_owned(), value);
        self
    }
}

impl From<ControlError> for ApiError {
    fn from(error: ControlError) -> Self {
        let (status, code) = match error.kind() {
            ControlErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ControlErrorKind::Invalid => (StatusCode::BAD_REQUEST, "invalid_request"),
            ControlErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ControlErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError::new(status, code, format!("failed to {}", error.message()))
    }
}

/// Attached to every error response so the request log can say why at warn level without
/// parsing the body again.
#[derive(Clone, Debug)]
pub(crate) struct ErrorNote {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = self.extra;
        error.insert("code".to_owned(), Value::from(self.code));
        error.insert("message".to_owned(), Value::from(self.message.clone()));
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        response.extensions_mut().insert(ErrorNote {
            code: self.code,
            message: self.message,
        });
        response
    }
}
