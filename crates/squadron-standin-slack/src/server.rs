//! The loopback Web API server: `POST /api/chat.postMessage`, recorded with its thread, and
//! `POST /response/<id>`, the response URLs of commands.
//!
//! A request passes, in order: the bot token check, the injected rate limit, reading the
//! body (JSON or form, as Slack accepts both), the channel check, and only then is it
//! recorded and given a `ts`. Refusals answer as Slack does: HTTP 200 with
//! `{ok:false, error}`, or 429 with `Retry-After` for `ratelimited`.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Failure to start the stand-in.
#[derive(Debug, thiserror::Error)]
pub enum StandinError {
    /// The listener could not be bound.
    #[error("bind the Slack stand-in to its loopback address")]
    Bind(#[source] std::io::Error),
}

/// One accepted `chat.postMessage` call.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedMessage {
    /// The channel as sent.
    pub channel: String,
    /// The `ts` the stand-in assigned.
    pub ts: String,
    /// The `text` field.
    pub text: Option<String>,
    /// The `blocks` field.
    pub blocks: Option<Value>,
    /// The parent's `ts`, for a reply.
    pub thread_ts: Option<String>,
    /// The `metadata` field.
    pub metadata: Option<Value>,
}

/// A top-level message and its replies, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Thread {
    /// The message that started it.
    pub parent: RecordedMessage,
    /// Its replies.
    pub replies: Vec<RecordedMessage>,
}

#[derive(Debug, Default)]
struct Faults {
    /// The next this-many calls are answered 429 `ratelimited`.
    rate_limited: usize,
    retry_after_secs: u64,
    /// Channels answered `channel_not_found`.
    missing_channels: HashSet<String>,
}

/// One delayed reply an app posted to a command's `response_url`.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedResponse {
    /// The id in the URL (`/response/<id>`), naming which command it answers.
    pub id: String,
    /// The JSON body as posted (`response_type`, `text`, …).
    pub body: Value,
}

#[derive(Debug, Default)]
struct Recorded {
    messages: Vec<RecordedMessage>,
    /// Replies posted to response URLs, oldest first.
    responses: Vec<RecordedResponse>,
    /// Every refusal's error code, oldest first.
    refusals: Vec<String>,
}

#[derive(Debug)]
struct Shared {
    recorded: Mutex<Recorded>,
    faults: Mutex<Faults>,
    requests: AtomicUsize,
}

/// Locks a mutex, recovering the data if a panicking test thread poisoned it: every update
/// is a single push or assignment, so the data stays consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running stand-in; stops when dropped.
#[derive(Debug)]
pub struct StandinSlack {
    address: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for StandinSlack {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl StandinSlack {
    /// The bot token the stand-in accepts (`Authorization: Bearer <token>`).
    pub const BOT_TOKEN: &'static str = "xoxb-0000000000-standin-squadron";

    /// Starts the stand-in on `127.0.0.1:0`.
    ///
    /// # Errors
    /// When the port cannot be bound.
    pub async fn start() -> Result<Self, StandinError> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts the stand-in on `address` (port 0: any free port).
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn start_on(address: SocketAddr) -> Result<Self, StandinError> {
        let listener = TcpListener::bind(address)
            .await
            .map_err(StandinError::Bind)?;
        let address = listener.local_addr().map_err(StandinError::Bind)?;
        let shared = Arc::new(Shared {
            recorded: Mutex::new(Recorded::default()),
            faults: Mutex::new(Faults::default()),
            requests: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/api/{method}", post(api_method))
            .route("/response/{id}", post(response_url))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "Slack stand-in stopped");
            }
        });
        Ok(Self {
            address,
            shared,
            server,
        })
    }

    /// The Web API root, `http://127.0.0.1:<port>/api` (what `slack.api_url` names).
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.address)
    }

    /// A command's `response_url` on this stand-in: replies posted there are recorded under
    /// `id` (Slack gives each command its own URL, valid for 30 minutes).
    pub fn response_url(&self, id: &str) -> String {
        format!("http://{}/response/{id}", self.address)
    }

    /// Every reply posted to a response URL, oldest first.
    pub fn responses(&self) -> Vec<RecordedResponse> {
        lock(&self.shared.recorded).responses.clone()
    }

    /// How many calls reached the server, refused ones included.
    pub fn request_count(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Every accepted message, oldest first.
    pub fn messages(&self) -> Vec<RecordedMessage> {
        lock(&self.shared.recorded).messages.clone()
    }

    /// The error codes of every refused call, oldest first.
    pub fn refusals(&self) -> Vec<String> {
        lock(&self.shared.recorded).refusals.clone()
    }

    /// Every top-level message with its replies, oldest first.
    pub fn threads(&self) -> Vec<Thread> {
        let messages = self.messages();
        messages
            .iter()
            .filter(|message| message.thread_ts.is_none())
            .map(|parent| Thread {
                parent: parent.clone(),
                replies: messages
                    .iter()
                    .filter(|reply| {
                        reply.channel == parent.channel
                            && reply.thread_ts.as_deref() == Some(parent.ts.as_str())
                    })
                    .cloned()
                    .collect(),
            })
            .collect()
    }

    /// The thread started by the message `ts` in `channel`.
    pub fn thread(&self, channel: &str, ts: &str) -> Option<Thread> {
        self.threads()
            .into_iter()
            .find(|thread| thread.parent.channel == channel && thread.parent.ts == ts)
    }

    /// Answers the next `calls` calls 429 `ratelimited` with `Retry-After: retry_after_secs`.
    pub fn rate_limit_next(&self, calls: usize, retry_after_secs: u64) {
        let mut faults = lock(&self.shared.faults);
        faults.rate_limited = calls;
        faults.retry_after_secs = retry_after_secs;
    }

    /// From now on, posts to `channel` are answered `channel_not_found`.
    pub fn remove_channel(&self, channel: &str) {
        lock(&self.shared.faults)
            .missing_channels
            .insert(channel.to_owned());
    }
}

fn refuse(shared: &Shared, error: &str) -> Response {
    lock(&shared.recorded).refusals.push(error.to_owned());
    (
        StatusCode::OK,
        axum::Json(json!({ "ok": false, "error": error })),
    )
        .into_response()
}

async fn api_method(
    State(shared): State<Arc<Shared>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match token {
        None => return refuse(&shared, "not_authed"),
        Some(token) if token != StandinSlack::BOT_TOKEN => return refuse(&shared, "invalid_auth"),
        Some(_) => {}
    }
    {
        let mut faults = lock(&shared.faults);
        if faults.rate_limited > 0 {
            faults.rate_limited -= 1;
            let retry_after = faults.retry_after_secs;
            drop(faults);
            lock(&shared.recorded)
                .refusals
                .push("ratelimited".to_owned());
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({ "ok": false, "error": "ratelimited" })),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            return response;
        }
    }
    if method != "chat.postMessage" {
        lock(&shared.recorded)
            .refusals
            .push("unknown_method".to_owned());
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "ok": false, "error": "unknown_method" })),
        )
            .into_response();
    }
    let Some(fields) = read_fields(&headers, &body) else {
        return refuse(&shared, "invalid_arguments");
    };
    let text = fields
        .get("text")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let blocks = fields.get("blocks").cloned().filter(|b| !b.is_null());
    let Some(channel) = fields
        .get("channel")
        .and_then(Value::as_str)
        .filter(|channel| !channel.is_empty())
    else {
        return refuse(&shared, "channel_not_found");
    };
    if lock(&shared.faults).missing_channels.contains(channel) {
        return refuse(&shared, "channel_not_found");
    }
    if blocks.as_ref().is_some_and(|blocks| !blocks.is_array()) {
        return refuse(&shared, "invalid_blocks");
    }
    if text.as_deref().is_none_or(str::is_empty) && blocks.is_none() {
        return refuse(&shared, "no_text");
    }
    let thread_ts = fields
        .get("thread_ts")
        .and_then(Value::as_str)
        .filter(|ts| !ts.is_empty())
        .map(str::to_owned);
    let mut recorded = lock(&shared.recorded);
    // Slack's ts is Unix seconds and a per-channel sequence; a fixed epoch keeps tests stable.
    let ts = format!("1700000000.{:06}", recorded.messages.len() + 1);
    let message = RecordedMessage {
        channel: channel.to_owned(),
        ts: ts.clone(),
        text,
        blocks,
        thread_ts,
        metadata: fields.get("metadata").cloned(),
    };
    recorded.messages.push(message);
    axum::Json(json!({ "ok": true, "channel": channel, "ts": ts })).into_response()
}

/// A reply posted to a command's response URL: Slack takes a JSON message and answers `ok`,
/// or 400 `invalid_payload` for anything else.
async fn response_url(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    match serde_json::from_slice::<Value>(&body) {
        Ok(body @ Value::Object(_)) => {
            lock(&shared.recorded)
                .responses
                .push(RecordedResponse { id, body });
            (StatusCode::OK, "ok").into_response()
        }
        _ => {
            lock(&shared.recorded)
                .refusals
                .push("invalid_payload".to_owned());
            (StatusCode::BAD_REQUEST, "invalid_payload").into_response()
        }
    }
}

/// The call's arguments from a JSON body or a form (where `blocks` and `metadata` are JSON
/// strings).
fn read_fields(headers: &HeaderMap, body: &[u8]) -> Option<Map<String, Value>> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/json") {
        return match serde_json::from_slice(body).ok()? {
            Value::Object(fields) => Some(fields),
            _ => None,
        };
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let mut fields = Map::new();
        for (key, value) in url::form_urlencoded::parse(body) {
            let value = match key.as_ref() {
                "blocks" | "metadata" => serde_json::from_str(&value).ok()?,
                _ => Value::String(value.into_owned()),
            };
            fields.insert(key.into_owned(), value);
        }
        return Some(fields);
    }
    None
}
