//! REST handlers, one module per resource family, and the helpers they share.

pub(crate) mod comments;
pub(crate) mod merge;
pub(crate) mod pulls;
pub(crate) mod reviews;
pub(crate) mod statuses;
pub(crate) mod users;

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// Parses a JSON body, answering 400 "Problems parsing JSON" as GitHub does.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|_| ApiError::bad_request("Problems parsing JSON"))
}

/// `per_page` / `page` of list endpoints.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageQuery {
    pub(crate) per_page: Option<usize>,
    pub(crate) page: Option<usize>,
}

/// A JSON array answer, paginated as GitHub does (default 30 per page, at most 100) with a
/// `Link` header naming the next and last pages.
pub(crate) fn paginated(items: Vec<Value>, page: &PageQuery, url: &str) -> Response {
    let per_page = page.per_page.unwrap_or(30).clamp(1, 100);
    let current = page.page.unwrap_or(1).max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((current - 1) * per_page)
        .take(per_page)
        .collect();
    let mut response = Json(Value::Array(slice)).into_response();
    if current < last {
        let separator = if url.contains('?') { '&' } else { '?' };
        let link = format!(
            "<{url}{separator}per_page={per_page}&page={}>; rel=\"next\", <{url}{separator}per_page={per_page}&page={last}>; rel=\"last\"",
            current + 1
        );
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    response
}

/// A JSON answer with `status`.
pub(crate) fn json_with(status: StatusCode, value: Value) -> Response {
    (status, Json(value)).into_response()
}

/// The URL of a list request without its paging parameters, for `Link` headers.
pub(crate) fn list_url(base: &str, uri: &axum::http::Uri) -> String {
    let kept: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| {
            !pair.is_empty() && !pair.starts_with("per_page=") && !pair.starts_with("page=")
        })
        .collect();
    if kept.is_empty() {
        format!("{base}{}", uri.path())
    } else {
        format!("{base}{}?{}", uri.path(), kept.join("&"))
    }
}
