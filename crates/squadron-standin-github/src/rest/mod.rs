//! REST handlers, one module per resource family, and the helpers they share.

pub(crate) mod actions;
pub(crate) mod checks;
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
    let (slice, link) = one_page(items, page, url);
    with_link(Json(Value::Array(slice)).into_response(), link)
}

/// A list wrapped in an object, `{"total_count": n, "<key>": [...]}`, paginated like
/// [`paginated`]: the shape of GitHub's check-run, workflow-run and job lists.
pub(crate) fn paginated_object(
    key: &str,
    items: Vec<Value>,
    page: &PageQuery,
    url: &str,
) -> Response {
    let total = items.len();
    let (slice, link) = one_page(items, page, url);
    let mut body = serde_json::Map::new();
    body.insert("total_count".to_owned(), Value::from(total));
    body.insert(key.to_owned(), Value::Array(slice));
    with_link(Json(Value::Object(body)).into_response(), link)
}

/// The requested page of `items` and the `Link` header value when more pages follow.
fn one_page(items: Vec<Value>, page: &PageQuery, url: &str) -> (Vec<Value>, Option<String>) {
    let per_page = page.per_page.unwrap_or(30).clamp(1, 100);
    let current = page.page.unwrap_or(1).max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((current - 1) * per_page)
        .take(per_page)
        .collect();
    let link = (current < last).then(|| {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!(
            "<{url}{separator}per_page={per_page}&page={}>; rel=\"next\", <{url}{separator}per_page={per_page}&page={last}>; rel=\"last\"",
            current + 1
        )
    });
    (slice, link)
}

fn with_link(mut response: Response, link: Option<String>) -> Response {
    if let Some(value) = link.and_then(|link| HeaderValue::from_str(&link).ok()) {
        response.headers_mut().insert(header::LINK, value);
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
