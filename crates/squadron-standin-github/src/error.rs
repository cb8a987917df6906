//! Errors of the stand-in's Rust API (set-up and inspection by tests), and the JSON error
//! answers its HTTP API gives, shaped like GitHub's.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A failure of the stand-in's Rust API.
#[derive(Debug, thiserror::Error)]
pub enum StandinError {
    /// The loopback listener could not be bound or the server could not start.
    #[error("start the stand-in server on its loopback address")]
    Start(#[source] std::io::Error),
    /// `git --exec-path` could not be run, so `git http-backend` cannot be found.
    #[error("locate `git http-backend` through `git --exec-path`; is git installed?")]
    GitNotFound(#[source] std::io::Error),
    /// A repository slug is not `owner/name`.
    #[error("use repository slug `{0}`: expected `owner/name`")]
    InvalidSlug(String),
    /// The repository has not been created on this stand-in.
    #[error("find repository `{0}`; create it with `GithubStandin::create_repo` first")]
    UnknownRepository(String),
    /// The repository already exists.
    #[error("create repository `{0}`: it already exists")]
    RepositoryExists(String),
    /// The login or the token is already registered.
    #[error("add user `{0}`: the login or its token is already registered")]
    DuplicateUser(String),
    /// A pull request number that does not exist in the repository.
    #[error("find pull request #{number} in `{repo}`")]
    UnknownPull { repo: String, number: u64 },
    /// A revision (branch or SHA) that does not resolve in the repository.
    #[error("resolve revision `{rev}` in `{repo}`")]
    UnknownRevision { repo: String, rev: String },
    /// A git operation on a bare repository failed.
    #[error("run a git operation on `{repo}`")]
    Git {
        repo: String,
        #[source]
        source: git2::Error,
    },
    /// A workflow could not be run on the repository's commits.
    #[error("run the workflows of `{repo}`: {message}")]
    Ci { repo: String, message: String },
    /// The shared state was poisoned by a panicking request handler.
    #[error("lock the stand-in's state: a request handler panicked earlier")]
    Poisoned,
}

pub(crate) const DOCS: &str = "https://docs.github.com/rest";

/// An HTTP error answer with GitHub's body shape `{message, documentation_url, ...}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: &str) -> Self {
        Self {
            status,
            body: json!({
                "message": message,
                "documentation_url": DOCS,
                "status": status.as_u16().to_string(),
            }),
            headers: Vec::new(),
        }
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found")
    }

    pub(crate) fn bad_credentials() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Bad credentials")
    }

    pub(crate) fn requires_authentication() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Requires authentication")
    }

    pub(crate) fn bad_request(message: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 422 whose `errors` are plain strings, as GitHub answers review rule violations.
    pub(crate) fn unprocessable(errors: &[&str]) -> Self {
        let mut error = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable Entity");
        error.body["errors"] = json!(errors);
        error
    }

    /// 422 "Validation Failed" with structured `errors`, as GitHub answers invalid input.
    pub(crate) fn validation_failed(errors: Value) -> Self {
        let mut error = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
        error.body["errors"] = errors;
        error
    }

    pub(crate) fn internal(what: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("stand-in failure: {what}"),
        )
    }
}

impl From<git2::Error> for ApiError {
    fn from(error: git2::Error) -> Self {
        Self::internal(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}
