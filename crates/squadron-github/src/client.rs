//! One GitHub identity: an octocrab client for one token, with conditional GETs, pagination
//! and the shared rate limiter around every request.
//!
//! Requests go through octocrab's raw `_get`/`_post`/… methods because the adapter needs
//! what its typed API hides: the status code (405, 409, 422 are decisions, not failures),
//! the `ETag`, the `Link` header and the rate-limit headers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{ETAG, IF_NONE_MATCH, LINK};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{GithubError, GithubErrorKind};
use crate::etag_cache::{CachedPage, EtagCache};
use crate::rate_limit::{RateLimitVerdict, RateLimiter};
use crate::wire::ErrorBody;

/// How many times a request refused for rate limiting is sent again (after the wait GitHub
/// asked for) before the caller gets the error. Such a request was not processed, so
/// sending it again is safe.
const RATE_LIMIT_ATTEMPTS: usize = 3;

/// Bytes of a downloaded log kept from its start, and from its end: a log of any size costs
/// at most their sum in memory, and the errors (early) and the summary (last) survive.
const LOG_HEAD_BYTES: usize = 4 * 1024 * 1024;
const LOG_TAIL_BYTES: usize = 1024 * 1024;

/// How long a log download may take in all before it is abandoned.
const LOG_DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// The HTTP methods the adapter uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Post,
    Put,
    Patch,
}

/// A response as the adapter needs it.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl RawResponse {
    /// Decodes a successful body.
    pub fn json<T: DeserializeOwned>(&self, action: &str) -> Result<T, GithubError> {
        serde_json::from_str(&self.body)
            .map_err(|error| GithubError::new(action, GithubErrorKind::Decode(error)))
    }

    /// GitHub's error message, with its `errors` details when present.
    pub fn error_message(&self) -> String {
        match serde_json::from_str::<ErrorBody>(&self.body) {
            Ok(error) => error.describe(),
            Err(_) => self.body.chars().take(200).collect(),
        }
    }

    /// The error for a status the caller does not treat as an outcome.
    pub fn into_error(self, action: &str) -> GithubError {
        let message = self.error_message();
        GithubError::new(
            action,
            GithubErrorKind::Status {
                status: self.status,
                message,
            },
        )
    }
}

/// One token's client.
pub(crate) struct GithubClient {
    octocrab: Octocrab,
    limiter: Arc<RateLimiter>,
    etags: Mutex<EtagCache>,
}

impl std::fmt::Debug for GithubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the client: octocrab's state holds the token.
        f.debug_struct("GithubClient").finish_non_exhaustive()
    }
}

impl GithubClient {
    /// A client for `token` against `api_base` (`https://api.github.com`, a GitHub
    /// Enterprise `…/api/v3`, or a loopback stand-in). Must run inside a Tokio runtime.
    pub fn new(
        api_base: &str,
        token: &SecretString,
        limiter: Arc<RateLimiter>,
    ) -> Result<Self, GithubError> {
        let action = "set up a GitHub client";
        let invalid = || {
            GithubError::new(
                action,
                GithubErrorKind::InvalidBaseUrl {
                    url: api_base.to_owned(),
                },
            )
        };
        let octocrab = Octocrab::builder()
            .base_uri(api_base.trim_end_matches('/'))
            .map_err(|_| invalid())?
            .personal_token(token.expose_secret().to_owned())
            // Retries are decided here, per status, never blindly by the transport.
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
            .build()
            .map_err(|error| GithubError::new(action, GithubErrorKind::Transport(error)))?;
        Ok(Self {
            octocrab,
            limiter,
            etags: Mutex::new(EtagCache::default()),
        })
    }

    /// Sends one request, waiting out rate limits; any status comes back as a response.
    pub async fn send<B: Serialize + ?Sized>(
        &self,
        verb: Verb,
        uri: &str,
        body: Option<&B>,
        action: &str,
    ) -> Result<RawResponse, GithubError> {
        self.send_with_headers(verb, uri, body, HeaderMap::new(), action)
            .await
    }

    async fn send_with_headers<B: Serialize + ?Sized>(
        &self,
        verb: Verb,
        uri: &str,
        body: Option<&B>,
        headers: HeaderMap,
        action: &str,
    ) -> Result<RawResponse, GithubError> {
        let transport = |error| GithubError::new(action, GithubErrorKind::Transport(error));
        let mut last_wait = 0;
        for _ in 0..RATE_LIMIT_ATTEMPTS {
            self.limiter.ready().await;
            let response = match verb {
                Verb::Get => {
                    self.octocrab
                        ._get_with_headers(uri, Some(headers.clone()))
                        .await
                }
                Verb::Post => self.octocrab._post(uri, body).await,
                Verb::Put => self.octocrab._put(uri, body).await,
                Verb::Patch => self.octocrab._patch(uri, body).await,
            }
            .map_err(transport)?;
            let status = response.status();
            let response_headers = response.headers().clone();
            let text = self
                .octocrab
                .body_to_string(response)
                .await
                .map_err(transport)?;
            match self.limiter.observe(status, &response_headers) {
                RateLimitVerdict::Served => {
                    return Ok(RawResponse {
                        status,
                        headers: response_headers,
                        body: text,
                    });
                }
                RateLimitVerdict::Refused { wait } => {
                    tracing::warn!(%uri, status = status.as_u16(), wait_s = wait.as_secs(), "GitHub rate limit hit");
                    last_wait = wait.as_secs();
                }
            }
        }
        Err(GithubError::new(
            action,
            GithubErrorKind::RateLimited {
                retry_after_secs: last_wait,
            },
        ))
    }

    /// Sends a request and decodes a 2xx answer; any other status is an error.
    pub async fn json<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        verb: Verb,
        uri: &str,
        body: Option<&B>,
        action: &str,
    ) -> Result<T, GithubError> {
        let response = self.send(verb, uri, body, action).await?;
        if !response.status.is_success() {
            return Err(response.into_error(action));
        }
        response.json(action)
    }

    /// GETs one page conditionally: a 304 answers from the cache and costs no rate-limit
    /// budget. Returns the body and the next page's URI, if any.
    async fn get_page(
        &self,
        uri: &str,
        action: &str,
    ) -> Result<(String, Option<String>), GithubError> {
        let mut headers = HeaderMap::new();
        if let Some(cached) = self.cache().get(uri) {
            headers.insert(IF_NONE_MATCH, cached.etag.clone());
        }
        let mut response = self
            .send_with_headers(Verb::Get, uri, None::<&()>, headers, action)
            .await?;
        if response.status == StatusCode::NOT_MODIFIED {
            if let Some(cached) = self.cache().get(uri) {
                return Ok((cached.body.clone(), cached.next.clone()));
            }
            // The page left the cache while it was asked for: ask for all of it.
            response = self
                .send_with_headers(Verb::Get, uri, None::<&()>, HeaderMap::new(), action)
                .await?;
        }
        if !response.status.is_success() {
            return Err(response.into_error(action));
        }
        let next = next_link(&response.headers);
        if let Some(etag) = response.headers.get(ETAG) {
            self.cache().insert(
                uri.to_owned(),
                CachedPage {
                    etag: etag.clone(),
                    body: response.body.clone(),
                    next: next.clone(),
                },
            );
        }
        Ok((response.body, next))
    }

    /// GETs one object conditionally.
    pub async fn get_cached<T: DeserializeOwned>(
        &self,
        uri: &str,
        action: &str,
    ) -> Result<T, GithubError> {
        let (body, _) = self.get_page(uri, action).await?;
        serde_json::from_str(&body)
            .map_err(|error| GithubError::new(action, GithubErrorKind::Decode(error)))
    }

    /// GETs every page of a list conditionally, following `Link: rel="next"`.
    pub async fn get_all<T: DeserializeOwned>(
        &self,
        uri: &str,
        action: &str,
    ) -> Result<Vec<T>, GithubError> {
        let separator = if uri.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{uri}{separator}per_page=100"));
        let mut items = Vec::new();
        while let Some(page_uri) = next {
            let (body, following) = self.get_page(&page_uri, action).await?;
            let page: Vec<T> = serde_json::from_str(&body)
                .map_err(|error| GithubError::new(action, GithubErrorKind::Decode(error)))?;
            items.extend(page);
            next = following;
        }
        Ok(items)
    }

    /// GETs a log: GitHub answers with a redirect to a short-lived signed URL on another
    /// host, which the client follows without the token (credentials never cross origins).
    /// The body is streamed, keeping its first [`LOG_HEAD_BYTES`] and last
    /// [`LOG_TAIL_BYTES`]; returns their text and how many bytes between them were skipped.
    pub async fn get_log(&self, uri: &str, action: &str) -> Result<(String, u64), GithubError> {
        let transport = |error| GithubError::new(action, GithubErrorKind::Transport(error));
        let download = async {
            self.limiter.ready().await;
            let response = self.octocrab._get(uri).await.map_err(transport)?;
            let status = response.status();
            let headers = response.headers().clone();
            // Only GitHub's own answers speak for its rate limit; the log host's do not.
            if headers.contains_key("x-ratelimit-limit")
                && let RateLimitVerdict::Refused { wait } = self.limiter.observe(status, &headers)
            {
                return Err(GithubError::new(
                    action,
                    GithubErrorKind::RateLimited {
                        retry_after_secs: wait.as_secs(),
                    },
                ));
            }
            let mut body = response.into_body();
            let mut head: Vec<u8> = Vec::new();
            let mut tail: VecDeque<u8> = VecDeque::new();
            let mut skipped: u64 = 0;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(transport)?;
                let Ok(chunk) = frame.into_data() else {
                    continue;
                };
                let to_head = LOG_HEAD_BYTES.saturating_sub(head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..to_head]);
                tail.extend(&chunk[to_head..]);
                if !status.is_success() && head.len() + tail.len() >= 4096 {
                    break;
                }
                let excess = tail.len().saturating_sub(LOG_TAIL_BYTES);
                if excess > 0 {
                    tail.drain(..excess);
                    skipped += excess as u64;
                }
            }
            if !status.is_success() {
                head.extend(tail);
                return Err(RawResponse {
                    status,
                    headers,
                    body: String::from_utf8_lossy(&head).into_owned(),
                }
                .into_error(action));
            }
            let mut text = String::from_utf8_lossy(&head).into_owned();
            let tail: Vec<u8> = tail.into();
            if skipped > 0 {
                // Both cuts fall mid-line: end the head's last line, start at the tail's
                // first whole one.
                text.push('\n');
                let start = tail.iter().position(|b| *b == b'\n').map_or(0, |i| i + 1);
                text.push_str(&String::from_utf8_lossy(&tail[start..]));
            } else {
                text.push_str(&String::from_utf8_lossy(&tail));
            }
            Ok((text, skipped))
        };
        tokio::time::timeout(LOG_DOWNLOAD_TIMEOUT, download)
            .await
            .map_err(|_| {
                GithubError::new(
                    action,
                    GithubErrorKind::Timeout {
                        after_secs: LOG_DOWNLOAD_TIMEOUT.as_secs(),
                    },
                )
            })?
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, EtagCache> {
        // The cache holds only complete entries; a panicking holder cannot corrupt one.
        self.etags
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The `rel="next"` target of a `Link` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|param| param.trim() == "rel=\"next\"")
            .then(|| {
                target
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn next_link_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            LINK,
            HeaderValue::from_static(
                "<https://api.github.com/repositories/1/pulls?page=2>; rel=\"next\", \
                 <https://api.github.com/repositories/1/pulls?page=5>; rel=\"last\"",
            ),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some("https://api.github.com/repositories/1/pulls?page=2")
        );
        headers.insert(
            LINK,
            HeaderValue::from_static("<https://x/?page=1>; rel=\"prev\""),
        );
        assert_eq!(next_link(&headers), None);
    }
}
