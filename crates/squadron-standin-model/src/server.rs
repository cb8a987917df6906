//! The loopback HTTP server: matches each request to a script, records it, and plays the
//! script's next step.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::script::{Action, RequestTraits, Script, ScriptBook, Step};
use crate::wire;

/// Conversations grow with every turn; real providers accept many megabytes.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// One request the stand-in received, whatever it answered.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// The request path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The body exactly as received.
    pub raw_body: String,
    /// The body parsed as JSON; `Value::Null` when it was not JSON.
    pub body: Value,
    /// The script that answered, if one matched.
    pub script: Option<String>,
    /// The step of that script that answered, counted from 1.
    pub step: Option<usize>,
    /// Why the request was refused with HTTP 400 before reaching a script step, if it was.
    pub refused: Option<String>,
    /// When the stand-in received it.
    pub received_at: std::time::Instant,
}

/// A running stand-in. The server stops when this value is dropped.
#[derive(Debug)]
pub struct StandinModel {
    address: SocketAddr,
    state: Arc<Shared>,
    server: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct Shared {
    scripts: Mutex<Vec<PlayedScript>>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Gates the test opened; held steps wait for theirs.
    released: Mutex<std::collections::HashSet<String>>,
    opened: tokio::sync::Notify,
}

#[derive(Debug)]
struct PlayedScript {
    script: Script,
    played: usize,
}

impl StandinModel {
    /// Starts a stand-in on `127.0.0.1` at a free port, playing `book`.
    pub async fn start(book: ScriptBook) -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), book).await
    }

    /// Starts a stand-in on `address` (port 0: any free port), playing `book`.
    pub async fn start_on(address: SocketAddr, book: ScriptBook) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let state = Arc::new(Shared::default());
        load_into(&state, book);
        let router = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/chat/completions", post(chat_completions))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(Arc::clone(&state));
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "stand-in model server stopped");
            }
        });
        Ok(Self {
            address,
            state,
            server,
        })
    }

    /// Opens `gate`: every step held until it is released answers now, and later ones at
    /// once.
    pub fn release(&self, gate: &str) {
        lock(&self.state.released).insert(gate.to_owned());
        self.state.opened.notify_waiters();
    }

    /// The base URL to configure as a provider's `base_url`, e.g. `http://127.0.0.1:4321/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    /// The socket address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Adds the scripts of `book` after those already loaded.
    pub fn load(&self, book: ScriptBook) {
        load_into(&self.state, book);
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// The requests the script named `script` answered, in order.
    pub fn requests_for(&self, script: &str) -> Vec<RecordedRequest> {
        lock(&self.state.requests)
            .iter()
            .filter(|request| request.script.as_deref() == Some(script))
            .cloned()
            .collect()
    }

    /// For each script with steps not yet played: its name and how many remain. Empty once
    /// every script has been played to the end.
    pub fn unplayed_steps(&self) -> Vec<(String, usize)> {
        lock(&self.state.scripts)
            .iter()
            .filter(|played| played.played < played.script.steps().len())
            .map(|played| {
                (
                    played.script.name().to_owned(),
                    played.script.steps().len() - played.played,
                )
            })
            .collect()
    }
}

impl Drop for StandinModel {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn load_into(state: &Shared, book: ScriptBook) {
    lock(&state.scripts).extend(
        book.into_scripts()
            .into_iter()
            .map(|script| PlayedScript { script, played: 0 }),
    );
}

/// A poisoned lock only means another handler panicked mid-update; the recorded data is
/// still the best account of what happened, so keep serving it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn chat_completions(
    State(state): State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw_body = String::from_utf8_lossy(&body).into_owned();
    let mut record = RecordedRequest {
        path: uri.path().to_owned(),
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
        body: serde_json::from_str(&raw_body).unwrap_or(Value::Null),
        raw_body,
        script: None,
        step: None,
        refused: None,
        received_at: std::time::Instant::now(),
    };
    let chosen = choose_step(&state, &record);
    let (script, step_number, step, reasoning) = match chosen {
        Ok(chosen) => chosen,
        Err(refusal) => {
            let answer = refusal.response();
            record.refused = Some(refusal.message);
            lock(&state.requests).push(record);
            return answer;
        }
    };
    record.script = Some(script.clone());
    record.step = Some(step_number);
    let model = record.body["model"].as_str().unwrap_or_default().to_owned();
    let request_bytes = record.raw_body.len();
    let request_number = {
        let mut requests = lock(&state.requests);
        requests.push(record);
        requests.len()
    };
    if let Some(gate) = &step.held_until {
        loop {
            // Registered before the check, so a release in between is not missed.
            let opened = state.opened.notified();
            if lock(&state.released).contains(gate) {
                break;
            }
            opened.await;
        }
    }
    if !step.delay.is_zero() {
        tokio::time::sleep(step.delay).await;
    }
    let completion_id = format!("chatcmpl-standin-{request_number}");
    let id_prefix = format!("call_{script}_{step_number}");
    match step.action {
        Action::Reply(reply) => {
            let mut body =
                wire::completion(&reply, &model, &completion_id, &id_prefix, request_bytes);
            if reasoning {
                body["choices"][0]["message"]["reasoning_content"] =
                    Value::String(format!("Reasoning of {script} for step {step_number}."));
            }
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Action::ContextLengthExceeded => {
            // The figures of OpenAI's own example: a 128k window passed by a little.
            refusal_response(&wire::context_length_exceeded(130_532, 128_000))
        }
        Action::RateLimited { retry_after } => {
            let body = wire::error_body(
                "Rate limit reached for requests (stand-in). Please try again later.",
                "requests",
                Some("rate_limit_exceeded"),
            );
            let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
            if let Some(value) = retry_after.and_then(|value| HeaderValue::from_str(&value).ok()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Action::ServerError { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = wire::error_body(
                "The server had an error while processing your request (stand-in).",
                "server_error",
                None,
            );
            (status, axum::Json(body)).into_response()
        }
        Action::ToolCallsInContent(reply) => {
            let body = wire::tool_calls_in_content(&reply, &model, &completion_id);
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Action::MissingFields => (
            StatusCode::OK,
            axum::Json(wire::missing_choices(&model, &completion_id)),
        )
            .into_response(),
        Action::InvalidJson => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"id\": \"chatcmpl-standin\", \"choices\": [",
        )
            .into_response(),
    }
}

/// Why a request got HTTP 400 before reaching a step, and the error body sent.
struct Refusal {
    message: String,
    body: Value,
}

impl Refusal {
    fn invalid(message: String) -> Self {
        let body = wire::error_body(&message, "invalid_request_error", None);
        Self { message, body }
    }

    fn with_body(body: Value) -> Self {
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Self { message, body }
    }

    fn response(&self) -> Response {
        refusal_response(&self.body)
    }
}

fn refusal_response(body: &Value) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(body.clone())).into_response()
}

/// Checks the request, finds its script and takes that script's next step; also says
/// whether the reply carries reasoning text.
fn choose_step(
    state: &Shared,
    record: &RecordedRequest,
) -> Result<(String, usize, Step, bool), Refusal> {
    if record.body.is_null() {
        return Err(Refusal::invalid(
            "We could not parse the JSON body of your request.".to_owned(),
        ));
    }
    wire::check_request(&record.body).map_err(Refusal::invalid)?;
    let first_of = |role: &str| {
        record.body["messages"]
            .as_array()
            .and_then(|messages| messages.iter().find(|message| message["role"] == role))
            .and_then(|message| message["content"].as_str())
    };
    let model = record.body["model"].as_str();
    let user_messages: Vec<&str> = record.body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|message| message["role"] == "user")
        .filter_map(|message| message["content"].as_str())
        .collect();
    let traits = RequestTraits {
        system_prompt: first_of("system"),
        task: first_of("user"),
        user_messages: &user_messages,
        model,
    };
    let mut scripts = lock(&state.scripts);
    let names: Vec<String> = scripts
        .iter()
        .map(|played| played.script.name().to_owned())
        .collect();
    // A script answers until its steps run out, then the next script that matches: an
    // agent whose conversation goes on (a reviewer's next round) keeps its first task.
    let chosen = scripts
        .iter()
        .position(|played| {
            played.script.matches(&traits) && played.played < played.script.steps().len()
        })
        .or_else(|| {
            scripts
                .iter()
                .position(|played| played.script.matches(&traits))
        });
    let Some(played) = chosen.map(|index| &mut scripts[index]) else {
        return Err(Refusal::invalid(format!(
            "no stand-in script matches this request (model `{}`; scripts loaded: {})",
            model.unwrap_or_default(),
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        )));
    };
    wire::check_server_traits(played.script.server(), &record.body, record.raw_body.len())
        .map_err(Refusal::with_body)?;
    let Some(step) = played.script.steps().get(played.played).cloned() else {
        return Err(Refusal::invalid(format!(
            "stand-in script `{}` has no step {} (it has {})",
            played.script.name(),
            played.played + 1,
            played.script.steps().len()
        )));
    };
    let server = played.script.server();
    if let Some(cut) = wire::cut_off(server, &record.body, &step) {
        return Ok((
            played.script.name().to_owned(),
            played.played + 1,
            wire::paced(server, cut),
            server.reasoning,
        ));
    }
    let step = wire::paced(server, step);
    let reasoning = server.reasoning;
    played.played += 1;
    Ok((
        played.script.name().to_owned(),
        played.played,
        step,
        reasoning,
    ))
}
