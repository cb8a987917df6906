//! The layer every request passes: who is calling (by token), injected faults, request
//! recording, ETag / `If-None-Match` answers and the `x-ratelimit-*` headers.

use axum::body::{Body, to_bytes};
use axum::extract::rejection::ExtensionRejection;
use axum::extract::{FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::faults::Fault;
use crate::server::AppState;
use crate::world::{RATE_LIMIT, RecordedRequest, UserId};

/// Largest JSON body a REST request may carry.
const MAX_REST_BODY: usize = 16 * 1024 * 1024;

/// The authenticated user of a request.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub(crate) id: UserId,
    pub(crate) login: String,
}

/// What the `Authorization` header said, resolved once per request.
#[derive(Clone, Debug)]
enum Auth {
    Anonymous,
    Invalid,
    User(Caller),
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        match parts.extensions.get::<Auth>() {
            Some(Auth::User(caller)) => Ok(caller.clone()),
            Some(Auth::Invalid) => Err(ApiError::bad_credentials()),
            Some(Auth::Anonymous) | None => Err(ApiError::requires_authentication()),
        }
    }
}

impl OptionalFromRequestParts<AppState> for Caller {
    type Rejection = ExtensionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &AppState,
    ) -> Result<Option<Self>, ExtensionRejection> {
        Ok(match parts.extensions.get::<Auth>() {
            Some(Auth::User(caller)) => Some(caller.clone()),
            _ => None,
        })
    }
}

/// The token of `token X`, `Bearer X`, or Basic `x-access-token:X` (git's form).
fn token_of(value: &str) -> Option<String> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = String::from_utf8(STANDARD.decode(rest).ok()?).ok()?;
        let (user, password) = decoded.split_once(':')?;
        return Some(if password.is_empty() { user } else { password }.to_owned());
    }
    None
}

fn is_git_path(path: &str) -> bool {
    path.ends_with("/info/refs")
        || path.ends_with("/git-upload-pack")
        || path.ends_with("/git-receive-pack")
}

pub(crate) async fn observe(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let rest = !is_git_path(&path);

    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(token_of);
    let auth = match token {
        None => Auth::Anonymous,
        Some(None) => Auth::Invalid,
        Some(Some(token)) => state
            .read(|world| {
                world.user_by_token(&token).map(|u| Caller {
                    id: u.id,
                    login: u.login.clone(),
                })
            })
            .ok()
            .flatten()
            .map_or(Auth::Invalid, Auth::User),
    };
    let login = match &auth {
        Auth::User(caller) => Some(caller.login.clone()),
        _ => None,
    };
    parts.extensions.insert(auth);

    let (body, recorded_body) = if rest {
        match to_bytes(body, MAX_REST_BODY).await {
            Ok(bytes) => {
                let text =
                    (!bytes.is_empty()).then(|| String::from_utf8_lossy(&bytes).into_owned());
                (Body::from(bytes), text)
            }
            Err(_) => (Body::empty(), None),
        }
    } else {
        (body, None)
    };
    let if_none_match = parts.headers.get(header::IF_NONE_MATCH).cloned();

    let fault = if rest {
        take_fault(&state, &method, &path)
    } else {
        None
    };
    let answer_lost = fault == Some(Fault::AnswerLost);
    let mut response = match fault {
        Some(Fault::AnswerLost) => {
            let _carried_out = next.run(Request::from_parts(parts, body)).await;
            lost_answer()
        }
        Some(fault) => fault_response(&state, &fault, login.as_deref()),
        None => next.run(Request::from_parts(parts, body)).await,
    };
    if rest && !answer_lost {
        if method == Method::GET && response.status() == StatusCode::OK {
            response = with_etag(response, if_none_match).await;
        }
        add_rate_limit_headers(&state, &mut response);
    }
    let status = response.status().as_u16();
    let _ = state.read(|world| {
        world.requests.push(RecordedRequest {
            method: method.to_string(),
            path,
            query,
            login,
            body: recorded_body,
            status,
        });
    });
    response
}

fn take_fault(state: &AppState, method: &Method, path: &str) -> Option<Fault> {
    state
        .read(|world| {
            let rule = world
                .faults
                .iter_mut()
                .find(|rule| rule.matches(method, path))?;
            rule.remaining -= 1;
            Some(rule.fault.clone())
        })
        .ok()
        .flatten()
}

/// A 200 whose body breaks off before its first byte: the client sees the connection end
/// mid-answer.
fn lost_answer() -> Response {
    let broken = futures::stream::once(async {
        Err::<Vec<u8>, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "the answer was lost",
        ))
    });
    let mut response = Response::new(Body::from_stream(broken));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn fault_response(state: &AppState, fault: &Fault, login: Option<&str>) -> Response {
    let now = state.read(|world| world.clock.now().0).unwrap_or_default();
    match fault {
        Fault::PrimaryRateLimit { reset_after_secs } => {
            let reset = now.saturating_add_unsigned(*reset_after_secs);
            let mut error = ApiError::new(
                StatusCode::FORBIDDEN,
                &format!(
                    "API rate limit exceeded for {}.",
                    login.unwrap_or("this client")
                ),
            );
            error.body["documentation_url"] =
                json!("https://docs.github.com/rest/overview/rate-limits-for-the-rest-api");
            let mut response = error.into_response();
            let headers = response.headers_mut();
            headers.insert("x-ratelimit-limit", HeaderValue::from(RATE_LIMIT));
            headers.insert("x-ratelimit-remaining", HeaderValue::from(0));
            headers.insert("x-ratelimit-used", HeaderValue::from(RATE_LIMIT));
            headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
            headers.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
            response
        }
        Fault::SecondaryRateLimit {
            status,
            retry_after_secs,
        } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::FORBIDDEN);
            let mut error = ApiError::new(
                status,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            );
            error.body["documentation_url"] = json!(
                "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
            );
            let mut response = error.into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            response
        }
        Fault::ServerError { status } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            ApiError::new(status, status.canonical_reason().unwrap_or("Server Error"))
                .into_response()
        }
        Fault::AnswerLost => lost_answer(),
    }
}

/// Tags a 200 answer with a strong ETag over its body; answers 304 when the client already
/// holds it, as GitHub does for conditional requests.
async fn with_etag(response: Response, if_none_match: Option<HeaderValue>) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return ApiError::internal("buffer a response body").into_response();
    };
    let etag = format!("\"{}\"", hex::encode(Sha256::digest(&bytes)));
    let matches = if_none_match
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim().trim_start_matches("W/") == etag)
        });
    if let Ok(value) = HeaderValue::from_str(&etag) {
        parts.headers.insert(header::ETAG, value);
    }
    if matches {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_TYPE);
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn add_rate_limit_headers(state: &AppState, response: &mut Response) {
    if response.headers().contains_key("x-ratelimit-remaining") {
        return;
    }
    // A 304 does not count against the limit on GitHub either.
    let counts = response.status() != StatusCode::NOT_MODIFIED;
    let Ok((remaining, reset)) = state.read(|world| {
        let remaining = if counts {
            world.spend_rate()
        } else {
            world.rate_remaining()
        };
        (remaining, world.clock.now().0 + 3600)
    }) else {
        return;
    };
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(RATE_LIMIT));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    headers.insert(
        "x-ratelimit-used",
        HeaderValue::from(RATE_LIMIT - remaining),
    );
    headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
    headers.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tokens_in_every_form_github_accepts() {
        assert_eq!(token_of("token abc").as_deref(), Some("abc"));
        assert_eq!(token_of("Bearer abc").as_deref(), Some("abc"));
        let basic = format!("Basic {}", STANDARD.encode("x-access-token:abc"));
        assert_eq!(token_of(&basic).as_deref(), Some("abc"));
        assert_eq!(token_of("Digest abc"), None);
    }
}
