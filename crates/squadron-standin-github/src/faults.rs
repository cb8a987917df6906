//! Faults a test can inject: GitHub's primary and secondary rate-limit answers, plain
//! server errors and answers lost on the way back, matched by method and path, for a number
//! of requests.

use axum::http::Method;

/// What the stand-in answers instead of handling a matched request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The primary rate limit: 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`
    /// `reset_after_secs` seconds after the stand-in's clock.
    PrimaryRateLimit { reset_after_secs: u64 },
    /// A secondary rate limit: `status` (403 or 429) with `retry-after`.
    SecondaryRateLimit { status: u16, retry_after_secs: u64 },
    /// An error answer with `status` and GitHub's error body.
    ServerError { status: u16 },
    /// The request is carried out, but its answer is lost: the connection breaks after the
    /// status line, as when a proxy times out. The client cannot tell whether it happened.
    AnswerLost,
}

/// A fault with the requests it applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    pub(crate) fault: Fault,
    pub(crate) method: Option<Method>,
    pub(crate) path_contains: Option<String>,
    pub(crate) remaining: u32,
}

impl FaultRule {
    /// `fault` for the next REST request, whatever it is.
    pub fn new(fault: Fault) -> Self {
        Self {
            fault,
            method: None,
            path_contains: None,
            remaining: 1,
        }
    }

    /// Only requests with this method (`"PUT"`); an unknown method matches nothing.
    #[must_use]
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(Method::from_bytes(method.as_bytes()).unwrap_or(Method::CONNECT));
        self
    }

    /// Only requests whose path contains `fragment` (`"/merge"`).
    #[must_use]
    pub fn path_contains(mut self, fragment: &str) -> Self {
        self.path_contains = Some(fragment.to_owned());
        self
    }

    /// Applies to this many matching requests (default 1).
    #[must_use]
    pub fn times(mut self, count: u32) -> Self {
        self.remaining = count;
        self
    }

    pub(crate) fn matches(&self, method: &Method, path: &str) -> bool {
        self.remaining > 0
            && self.method.as_ref().is_none_or(|m| m == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|f| path.contains(f))
    }
}
