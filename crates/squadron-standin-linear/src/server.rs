//! The loopback HTTP server: authentication, rate limits, schema validation, execution.
//!
//! Every request is counted. A request passes, in order: the API key or OAuth token check,
//! the injected rate limits, parsing and validation of its document against Linear's
//! published schema, and only then execution against the workspace, so a refused request
//! never changes anything.

use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use apollo_compiler::executable::OperationType;
use apollo_compiler::resolvers::Execution;
use apollo_compiler::response::JsonMap;
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Schema};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::fixtures::{RecordedMutation, Workspace};
use crate::resolver::{INVALID_INPUT_PREFIX, Kind, NOT_FOUND_PREFIX, Node};

/// Linear's published schema, copied into this crate (see `schema/README.md`).
const SCHEMA_SDL: &str = include_str!("../schema/linear.graphql");

/// Linear's schema, parsed and validated once per process.
///
/// # Errors
/// Returns the diagnostics when the bundled schema does not validate.
pub fn linear_schema() -> Result<&'static Valid<Schema>, StandinError> {
    static SCHEMA: OnceLock<Result<Valid<Schema>, String>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Schema::parse_and_validate(SCHEMA_SDL, "linear.graphql")
                .map_err(|errors| errors.to_string())
        })
        .as_ref()
        .map_err(|diagnostics| StandinError::Schema(diagnostics.clone()))
}

/// Validates one GraphQL document against Linear's schema, as Linear does on arrival.
///
/// # Errors
/// Returns the validation diagnostics, one per line.
pub fn validate_document(document: &str) -> Result<(), StandinError> {
    let schema = linear_schema()?;
    ExecutableDocument::parse_and_validate(schema, document, "request.graphql")
        .map(|_| ())
        .map_err(|errors| StandinError::InvalidDocument(errors.to_string()))
}

/// Failure to start or use the stand-in.
#[derive(Debug, thiserror::Error)]
pub enum StandinError {
    /// The bundled schema does not validate.
    #[error("load Linear's schema: {0}")]
    Schema(String),
    /// A document does not validate against the schema.
    #[error("validate a GraphQL document against Linear's schema: {0}")]
    InvalidDocument(String),
    /// The listener could not be bound.
    #[error("bind the Linear stand-in to its loopback address")]
    Bind(#[source] std::io::Error),
}

/// The rate-limit budget the stand-in enforces, like Linear's per-key request window.
#[derive(Clone, Copy, Debug)]
struct Budget {
    limit: u64,
    remaining: u64,
    reset_at_ms: i64,
}

#[derive(Debug)]
struct Faults {
    /// The next this-many requests are answered as rate limited.
    rate_limited: usize,
    /// `retry-after` seconds sent with rate-limit answers.
    retry_after_secs: u64,
    budget: Option<Budget>,
    keys_revoked: bool,
    /// Operations answered with a server error instead of being carried out.
    failing: Vec<FailingOperation>,
}

/// An operation (by name, `UpdateIssueState`) answered with `status` for its next
/// `remaining` requests.
#[derive(Debug)]
struct FailingOperation {
    operation: String,
    status: StatusCode,
    remaining: usize,
}

#[derive(Debug)]
struct Shared {
    workspace: Mutex<Workspace>,
    faults: Mutex<Faults>,
    requests: AtomicUsize,
    /// Requests answered so far (held ones are not, until released).
    answered: AtomicUsize,
    /// While `true`, every request is held unanswered, as a stalled Linear would.
    held: watch::Sender<bool>,
    api_key: String,
    oauth_token: String,
}

/// A running stand-in; stops when dropped.
#[derive(Debug)]
pub struct StandinLinear {
    address: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for StandinLinear {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Locks a mutex, recovering the data if a panicking test thread poisoned it: the stand-in's
/// state stays consistent because every update is a single assignment or push.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl StandinLinear {
    /// The personal API key the stand-in accepts (`Authorization: <key>`).
    pub const API_KEY: &'static str = "lin_api_standin0000000000000000000000000000";
    /// The OAuth token the stand-in accepts (`Authorization: Bearer <token>`).
    pub const OAUTH_TOKEN: &'static str = "lin_oauth_standin000000000000000000000000";

    /// Starts the stand-in on `127.0.0.1:0` serving `workspace`.
    ///
    /// # Errors
    /// When the schema does not load or the port cannot be bound.
    pub async fn start(workspace: Workspace) -> Result<Self, StandinError> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), workspace).await
    }

    /// Starts the stand-in on `address` (port 0: any free port) serving `workspace`.
    ///
    /// # Errors
    /// When the schema does not load or the address cannot be bound.
    pub async fn start_on(address: SocketAddr, workspace: Workspace) -> Result<Self, StandinError> {
        linear_schema()?;
        let listener = TcpListener::bind(address)
            .await
            .map_err(StandinError::Bind)?;
        let address = listener.local_addr().map_err(StandinError::Bind)?;
        let shared = Arc::new(Shared {
            workspace: Mutex::new(workspace),
            faults: Mutex::new(Faults {
                rate_limited: 0,
                retry_after_secs: 0,
                budget: None,
                keys_revoked: false,
                failing: Vec::new(),
            }),
            requests: AtomicUsize::new(0),
            answered: AtomicUsize::new(0),
            held: watch::Sender::new(false),
            api_key: Self::API_KEY.to_owned(),
            oauth_token: Self::OAUTH_TOKEN.to_owned(),
        });
        let app = Router::new()
            .route("/graphql", post(graphql))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "Linear stand-in stopped");
            }
        });
        Ok(Self {
            address,
            shared,
            server,
        })
    }

    /// The GraphQL endpoint, `http://127.0.0.1:<port>/graphql`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/graphql", self.address)
    }

    /// How many requests reached the server, refused ones included.
    pub fn request_count(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// How many requests the server has answered; a held request counts once released.
    pub fn answered_count(&self) -> usize {
        self.shared.answered.load(Ordering::SeqCst)
    }

    /// Holds every request (arrived or arriving) unanswered until [`Self::release`], as a
    /// stalled Linear would: a test can then prove that something happened before any
    /// answer from Linear, without waiting on a real delay.
    pub fn hold(&self) {
        self.shared.held.send_replace(true);
    }

    /// Answers the held requests and stops holding new ones.
    pub fn release(&self) {
        self.shared.held.send_replace(false);
    }

    /// Mutations executed so far, oldest first.
    pub fn mutations(&self) -> Vec<RecordedMutation> {
        lock(&self.shared.workspace).mutations.clone()
    }

    /// Reads (or changes) the workspace between requests.
    pub fn with_workspace<R>(&self, f: impl FnOnce(&mut Workspace) -> R) -> R {
        f(&mut lock(&self.shared.workspace))
    }

    /// From now on every credential is refused, as after the key was revoked.
    pub fn revoke_keys(&self) {
        lock(&self.shared.faults).keys_revoked = true;
    }

    /// Answers the next `requests` requests as rate limited, with `retry-after` seconds.
    pub fn rate_limit_next(&self, requests: usize, retry_after_secs: u64) {
        let mut faults = lock(&self.shared.faults);
        faults.rate_limited = requests;
        faults.retry_after_secs = retry_after_secs;
    }

    /// Answers the next `requests` requests of the operation named `operation`
    /// (`UpdateIssueState`) with `status` (a 5xx) and Linear's error body, without carrying
    /// them out, as Linear does when one of its services is down.
    pub fn fail_operation(&self, operation: &str, requests: usize, status: u16) {
        lock(&self.shared.faults).failing.push(FailingOperation {
            operation: operation.to_owned(),
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            remaining: requests,
        });
    }

    /// Enforces a request window: `remaining` of `limit` requests until `reset_at_ms`
    /// (Unix milliseconds), reported in `x-ratelimit-requests-*` headers; once spent, requests
    /// are answered as rate limited.
    pub fn set_request_budget(&self, limit: u64, remaining: u64, reset_at_ms: i64) {
        lock(&self.shared.faults).budget = Some(Budget {
            limit,
            remaining,
            reset_at_ms,
        });
    }
}

/// Whether the GraphQL request `body` runs the operation `name` (`mutation Name(` or
/// `query Name {`).
fn names_operation(body: &str, name: &str) -> bool {
    let Ok(request) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    let document = request["query"].as_str().unwrap_or_default();
    request["operationName"].as_str() == Some(name)
        || document
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|word| !word.is_empty())
            .collect::<Vec<_>>()
            .windows(2)
            .any(|pair| matches!(pair[0], "mutation" | "query") && pair[1] == name)
}

fn linear_error(status: StatusCode, message: &str, kind: &str, code: &str) -> Response {
    let body = json!({
        "errors": [{
            "message": message,
            "extensions": {
                "type": kind,
                "code": code,
                "userPresentableMessage": message,
            },
        }],
    });
    (status, axum::Json(body)).into_response()
}

fn rate_limited(retry_after_secs: u64, budget: Option<Budget>) -> Response {
    let mut response = linear_error(
        StatusCode::BAD_REQUEST,
        "Rate limit exceeded, please retry later.",
        "ratelimited",
        "RATELIMITED",
    );
    let headers = response.headers_mut();
    headers.insert("retry-after", HeaderValue::from(retry_after_secs));
    if let Some(budget) = budget {
        add_budget_headers(headers, budget);
    }
    response
}

fn add_budget_headers(headers: &mut HeaderMap, budget: Budget) {
    headers.insert(
        "x-ratelimit-requests-limit",
        HeaderValue::from(budget.limit),
    );
    headers.insert(
        "x-ratelimit-requests-remaining",
        HeaderValue::from(budget.remaining),
    );
    headers.insert(
        "x-ratelimit-requests-reset",
        HeaderValue::from(budget.reset_at_ms),
    );
}

async fn graphql(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    // The sender lives in `shared`, which this handler holds, so the wait cannot fail.
    let _ = shared.held.subscribe().wait_for(|held| !held).await;
    let response = answer(&shared, &headers, &body);
    shared.answered.fetch_add(1, Ordering::SeqCst);
    response
}

fn answer(shared: &Shared, headers: &HeaderMap, body: &str) -> Response {
    let credential = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok());
    let authenticated = !lock(&shared.faults).keys_revoked
        && credential.is_some_and(|credential| {
            credential == shared.api_key
                || credential.strip_prefix("Bearer ") == Some(shared.oauth_token.as_str())
        });
    if !authenticated {
        return linear_error(
            StatusCode::BAD_REQUEST,
            "Authentication required, not authenticated",
            "authentication error",
            "AUTHENTICATION_ERROR",
        );
    }

    let budget = {
        let mut faults = lock(&shared.faults);
        if let Some(failing) = faults
            .failing
            .iter_mut()
            .find(|failing| failing.remaining > 0 && names_operation(body, &failing.operation))
        {
            failing.remaining -= 1;
            let status = failing.status;
            return linear_error(
                status,
                status.canonical_reason().unwrap_or("Internal Server Error"),
                "internal error",
                "INTERNAL_SERVER_ERROR",
            );
        }
        if faults.rate_limited > 0 {
            faults.rate_limited -= 1;
            return rate_limited(faults.retry_after_secs, faults.budget);
        }
        let retry_after_secs = faults.retry_after_secs;
        if let Some(budget) = faults.budget.as_mut() {
            if budget.remaining == 0 {
                return rate_limited(retry_after_secs, Some(*budget));
            }
            budget.remaining -= 1;
        }
        faults.budget
    };

    let (status, body) = execute(shared, body);
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(budget) = budget {
        add_budget_headers(response.headers_mut(), budget);
    }
    response
}

/// A GraphQL request body.
#[derive(serde::Deserialize)]
struct Request {
    query: String,
    #[serde(default)]
    variables: Option<JsonMap>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
}

fn graphql_failure(message: &str) -> (StatusCode, Value) {
    let body = json!({
        "errors": [{
            "message": message,
            "extensions": { "type": "graphql error", "code": "GRAPHQL_VALIDATION_FAILED" },
        }],
    });
    (StatusCode::BAD_REQUEST, body)
}

fn execute(shared: &Shared, body: &str) -> (StatusCode, Value) {
    let request: Request = match serde_json::from_str(body) {
        Ok(request) => request,
        Err(error) => {
            return graphql_failure(&format!("request body is not GraphQL JSON: {error}"));
        }
    };
    let schema = match linear_schema() {
        Ok(schema) => schema,
        Err(error) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "errors": [{ "message": error.to_string() }] }),
            );
        }
    };
    let document =
        match ExecutableDocument::parse_and_validate(schema, &request.query, "request.graphql") {
            Ok(document) => document,
            Err(errors) => return graphql_failure(&errors.to_string()),
        };
    let operation = match document.operations.get(request.operation_name.as_deref()) {
        Ok(operation) => operation,
        Err(error) => return graphql_failure(&error.message().to_string()),
    };
    let root = match operation.operation_type {
        OperationType::Query => Kind::Query,
        OperationType::Mutation => Kind::Mutation,
        OperationType::Subscription => {
            return graphql_failure("subscriptions are not served over HTTP");
        }
    };
    let variables = request.variables.unwrap_or_default();

    let mut guard = lock(&shared.workspace);
    let workspace = RefCell::new(std::mem::replace(&mut *guard, Workspace::new("")));
    let result = Execution::new(schema, &document)
        .operation(operation)
        .raw_variable_values(&variables)
        .execute_sync(&Node {
            workspace: &workspace,
            kind: root,
        });
    *guard = workspace.into_inner();
    drop(guard);

    match result {
        Ok(response) => {
            let mut body = serde_json::to_value(&response).unwrap_or_default();
            annotate_errors(&mut body);
            (StatusCode::OK, body)
        }
        Err(error) => {
            let error = error.to_graphql_error(&document.sources);
            graphql_failure(&error.message)
        }
    }
}

/// Gives resolver errors the `extensions.type` Linear puts on them.
fn annotate_errors(body: &mut Value) {
    let Some(errors) = body.get_mut("errors").and_then(Value::as_array_mut) else {
        return;
    };
    for error in errors {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let (kind, code) =
            if message.contains(NOT_FOUND_PREFIX) || message.contains(INVALID_INPUT_PREFIX) {
                ("invalid input", "INVALID_INPUT")
            } else {
                ("internal error", "INTERNAL_ERROR")
            };
        error["extensions"] = json!({ "type": kind, "code": code });
    }
}
