//! Who may use the control routes (the API, the dashboard, metrics): requests must name a
//! host the control listener answers to, come from no other site, and carry the control
//! token when one is configured.
//!
//! The `Host` check stops DNS rebinding (a web page whose name resolves to 127.0.0.1 talking
//! to a loopback daemon from a browser); the `Origin` check stops other sites' pages posting
//! to it; the token stops everyone else who can reach the listener. Webhook routes are not
//! guarded here: each is authenticated by its service's signature.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use squadron_config::Secret;
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// The cookie the dashboard keeps the token in after `/?token=…`.
const TOKEN_COOKIE: &str = "squadron_control";

/// What guards the control routes.
#[derive(Clone, Debug)]
pub struct ControlAccess {
    /// The bearer token; `None` when its variable is unset (then the listener's privacy is
    /// the only guard, which `serve` allows only on loopback).
    pub token: Option<Secret>,
    /// The variable the token comes from, for messages.
    pub token_env: String,
    /// Host names allowed besides loopback names and the listener's own address.
    pub hosts: Vec<String>,
}

impl ControlAccess {
    /// No token, no extra host names.
    pub fn open(token_env: impl Into<String>) -> Self {
        Self {
            token: None,
            token_env: token_env.into(),
            hosts: Vec::new(),
        }
    }
}

/// The guard as the router holds it: the settings and the addresses the listener has.
#[derive(Clone, Debug)]
pub(crate) struct Guard {
    access: ControlAccess,
    /// The control listener's own address, when bound to a specific one.
    own: Option<IpAddr>,
}

impl Guard {
    pub(crate) fn new(access: ControlAccess, listening: Option<SocketAddr>) -> Arc<Self> {
        let own = listening
            .map(|address| address.ip())
            .filter(|ip| !ip.is_unspecified());
        Arc::new(Self { access, own })
    }

    /// Whether `host` (a `Host` header or an `Origin`'s authority, port optional) names this
    /// listener.
    fn allows_host(&self, authority: &str) -> bool {
        let host = host_of(authority).to_ascii_lowercase();
        if matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1") {
            return true;
        }
        if let (Some(own), Ok(ip)) = (self.own, host.parse::<IpAddr>())
            && own == ip
        {
            return true;
        }
        self.access
            .hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(&host))
    }

    fn token_matches(&self, offered: &str) -> bool {
        self.access
            .token
            .as_ref()
            .is_some_and(|token| bool::from(token.expose().as_bytes().ct_eq(offered.as_bytes())))
    }
}

/// The host part of `authority`: `name`, `name:port`, `[v6]` or `[v6]:port`.
fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                host
            } else {
                authority
            }
        })
}

fn refuse(status: StatusCode, code: &'static str, message: String) -> Response {
    ApiError::new(status, code, message).into_response()
}

/// The token a request offers: `Authorization: Bearer …` or the dashboard's cookie.
fn offered_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    {
        return Some(bearer.trim());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(name, _)| *name == TOKEN_COOKIE)
        .map(|(_, value)| value)
}

/// The middleware in front of every control route.
pub(crate) async fn guard_control(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| {
            request
                .uri()
                .authority()
                .map(|authority| authority.as_str())
        });
    match host {
        Some(host) if guard.allows_host(host) => {}
        Some(host) => {
            return refuse(
                StatusCode::MISDIRECTED_REQUEST,
                "unknown_host",
                format!(
                    "failed to serve host `{host}`: the control API answers only to localhost, \
                     its own address and `server.control_hosts`; add the name there if it is yours"
                ),
            );
        }
        None => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "missing_host",
                "failed to read the request: it names no host".to_owned(),
            );
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|origin| origin.split_once("://"))
            .map(|(_, authority)| authority.trim_end_matches('/'));
        if !origin_host.is_some_and(|authority| guard.allows_host(authority)) {
            return refuse(
                StatusCode::FORBIDDEN,
                "cross_origin",
                format!(
                    "failed to accept a request from origin `{}`: the control API takes requests \
                     only from its own pages",
                    origin.to_str().unwrap_or("(unreadable)")
                ),
            );
        }
    }
    if guard.access.token.is_none() {
        return next.run(request).await;
    }
    if offered_token(headers).is_some_and(|token| guard.token_matches(token)) {
        return next.run(request).await;
    }
    // `/?token=…` from the operator's browser: keep the token in a cookie only this site
    // sends, and drop it from the address bar.
    if let Some(token) = request.uri().query().and_then(|query| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("token="))
    }) && request.uri().path() == "/"
        && guard.token_matches(token)
        && let Ok(cookie) = HeaderValue::from_str(&format!(
            "{TOKEN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
        ))
    {
        let mut response = Redirect::to("/").into_response();
        response.headers_mut().insert(header::SET_COOKIE, cookie);
        return response;
    }
    let mut response = refuse(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        format!(
            "failed to authenticate: the control API needs the token from {}: send \
             `Authorization: Bearer <token>`, or open the dashboard once as /?token=<token>",
            guard.access.token_env
        ),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"squadron\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_with_or_without_ports() {
        assert_eq!(host_of("localhost:8081"), "localhost");
        assert_eq!(host_of("[::1]:8081"), "::1");
        assert_eq!(host_of("[::1]"), "::1");
        assert_eq!(host_of("example.com"), "example.com");
        let guard = Guard::new(
            ControlAccess {
                token: None,
                token_env: "T".to_owned(),
                hosts: vec!["squadron.internal".to_owned()],
            },
            Some("10.1.2.3:8081".parse().unwrap()),
        );
        for allowed in [
            "localhost",
            "127.0.0.1:8081",
            "[::1]:80",
            "10.1.2.3:8081",
            "Squadron.Internal:443",
        ] {
            assert!(guard.allows_host(allowed), "{allowed}");
        }
        for refused in ["evil.example:8081", "127.0.0.1.evil.example", "10.1.2.4"] {
            assert!(!guard.allows_host(refused), "{refused}");
        }
    }
}
