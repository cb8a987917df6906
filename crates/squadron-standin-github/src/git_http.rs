//! Git smart HTTP, served by running `git http-backend` as a CGI program per request, so
//! clones, fetches and pushes use git's own transport against the bare repositories.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::error::StandinError;
use crate::observe::Caller;
use crate::server::AppState;

/// Largest request body accepted from a git client (packs of test repositories are small).
const MAX_BODY: usize = 256 * 1024 * 1024;

/// The `git-http-backend` program next to the installed git.
pub(crate) fn locate_http_backend(git: &Path) -> Result<PathBuf, StandinError> {
    let output = std::process::Command::new(git)
        .arg("--exec-path")
        .output()
        .map_err(StandinError::GitNotFound)?;
    let exec_path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let backend = Path::new(&exec_path).join("git-http-backend");
    if !output.status.success() || !backend.is_file() {
        return Err(StandinError::GitNotFound(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no git-http-backend under `{exec_path}`"),
        )));
    }
    Ok(backend)
}

/// Handles `GET /{owner}/{repo}.git/info/refs`, the start of every fetch and push.
pub(crate) async fn serve_info_refs(
    State(state): State<AppState>,
    UrlPath((owner, repo)): UrlPath<(String, String)>,
    caller: Option<Caller>,
    request: Request,
) -> Response {
    bridge(state, owner, repo, "info/refs", caller, request).await
}

/// Handles `POST /{owner}/{repo}.git/{git-upload-pack | git-receive-pack}`.
pub(crate) async fn serve(
    State(state): State<AppState>,
    UrlPath((owner, repo, service)): UrlPath<(String, String, String)>,
    caller: Option<Caller>,
    request: Request,
) -> Response {
    if service != "git-upload-pack" && service != "git-receive-pack" {
        return (StatusCode::NOT_FOUND, "Not Found\n").into_response();
    }
    bridge(state, owner, repo, &service, caller, request).await
}

async fn bridge(
    state: AppState,
    owner: String,
    repo: String,
    service: &str,
    caller: Option<Caller>,
    request: Request,
) -> Response {
    let Some(caller) = caller else {
        // Git only sends credentials after a challenge, as GitHub issues one.
        return (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"GitHub\""),
            )],
            "authentication required\n",
        )
            .into_response();
    };
    let name = repo.strip_suffix(".git").unwrap_or(&repo).to_owned();
    let known = state
        .read(|world| world.repo(&owner, &name).is_ok())
        .unwrap_or(false);
    if !known {
        return (StatusCode::NOT_FOUND, "Repository not found.\n").into_response();
    }
    let path_info = format!(
        "/{}/{}.git/{service}",
        owner.to_ascii_lowercase(),
        name.to_ascii_lowercase()
    );
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(error) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("unreadable body: {error}\n"),
            )
                .into_response();
        }
    };
    let cgi = Cgi {
        backend: &state.http_backend,
        project_root: &state.root,
        path_info,
        method: parts.method.as_str(),
        query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        remote_user: &caller.login,
    };
    let pushed = service == "git-receive-pack";
    match cgi.run(body).await {
        Ok(response) => {
            if pushed {
                // A push is an event: run what it triggers before the pusher hears back.
                let (owner, name, pusher) = (owner.clone(), name.clone(), caller.id);
                let _ = state
                    .run(move |world| world.observe_pushes(&owner, &name, Some(pusher)))
                    .await;
            }
            response
        }
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("git http-backend failed: {error}\n"),
        )
            .into_response(),
    }
}

struct Cgi<'a> {
    backend: &'a Path,
    project_root: &'a Path,
    path_info: String,
    method: &'a str,
    query: &'a str,
    headers: &'a HeaderMap,
    remote_user: &'a str,
}

impl Cgi<'_> {
    async fn run(self, body: Bytes) -> std::io::Result<Response> {
        let header = |name: header::HeaderName| {
            self.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let mut command = Command::new(self.backend);
        command
            .env_clear()
            .env("GIT_PROJECT_ROOT", self.project_root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.project_root)
            .env("PATH_INFO", &self.path_info)
            .env("REQUEST_METHOD", self.method)
            .env("QUERY_STRING", self.query)
            .env("CONTENT_TYPE", header(header::CONTENT_TYPE))
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("HTTP_CONTENT_ENCODING", header(header::CONTENT_ENCODING))
            .env("REMOTE_USER", self.remote_user)
            .env("REMOTE_ADDR", "127.0.0.1")
            .env("SERVER_PROTOCOL", "HTTP/1.1")
            .env("GATEWAY_INTERFACE", "CGI/1.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(protocol) = self
            .headers
            .get("git-protocol")
            .and_then(|v| v.to_str().ok())
        {
            command.env("GIT_PROTOCOL", protocol);
        }
        let mut child = command.spawn()?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("no stdin pipe"))?;
        // Feed the body while the backend writes its answer, so neither side blocks on a
        // full pipe.
        let writer = tokio::spawn(async move {
            let result = stdin.write_all(&body).await;
            drop(stdin);
            result
        });
        let output = child.wait_with_output().await?;
        writer.await.map_err(std::io::Error::other)??;
        if !output.status.success() && output.stdout.is_empty() {
            return Err(std::io::Error::other(
                String::from_utf8_lossy(&output.stderr).into_owned(),
            ));
        }
        parse_cgi_output(&output.stdout)
    }
}

/// Splits CGI output into headers (with an optional `Status:`) and body.
fn parse_cgi_output(output: &[u8]) -> std::io::Result<Response> {
    let (head, body) = match find(output, b"\r\n\r\n") {
        Some(at) => (&output[..at], &output[at + 4..]),
        None => match find(output, b"\n\n") {
            Some(at) => (&output[..at], &output[at + 2..]),
            None => {
                return Err(std::io::Error::other(
                    "git http-backend wrote no header block",
                ));
            }
        },
    };
    let mut response = Response::new(Body::from(body.to_vec()));
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value
                .split_whitespace()
                .next()
                .and_then(|c| c.parse::<u16>().ok());
            *response.status_mut() = code
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::OK);
        } else if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    Ok(response)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
