//! GitHub webhooks: signature check and the few events that should make a gate re-evaluate.
//!
//! The handler is framework-free: the daemon's `POST /webhooks/github` route passes the raw
//! body and the headers to [`receive`] and answers 401 on a signature error, 400 on a body
//! error, and 202 otherwise, then re-evaluates what [`GithubEvent::targets`] names.

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use serde::Deserialize;
use sha2::Sha256;
use squadron_core::PrNumber;
use squadron_core::gate::{CommitSha, GateTarget, StatusState};
use squadron_core::ports::RepoRef;
use subtle::ConstantTimeEq;

/// The header carrying `sha256=<hex HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// The header naming the event.
pub const EVENT_HEADER: &str = "x-github-event";

/// Why a delivery was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    /// The signature header is absent.
    #[error(
        "verify the GitHub webhook: the X-Hub-Signature-256 header is missing; set the webhook secret on GitHub"
    )]
    MissingSignature,
    /// The signature header is not `sha256=<64 hex digits>`.
    #[error("verify the GitHub webhook: X-Hub-Signature-256 is not `sha256=<hex>`")]
    MalformedSignature,
    /// The signature does not match the body under the configured secret.
    #[error(
        "verify the GitHub webhook: the signature does not match; check that GitHub and Squadron share the same webhook secret"
    )]
    SignatureMismatch,
    /// The event header is absent.
    #[error("read the GitHub webhook: the X-GitHub-Event header is missing")]
    MissingEvent,
    /// The body is not the JSON the event promises.
    #[error("read the GitHub `{event}` webhook body: {detail}")]
    MalformedBody {
        /// The event name.
        event: String,
        /// What did not parse.
        detail: String,
    },
}

/// Checks `X-Hub-Signature-256` against the raw body in constant time.
pub fn verify_signature(
    secret: &[u8],
    signature_header: Option<&str>,
    body: &[u8],
) -> Result<(), WebhookError> {
    let header = signature_header.ok_or(WebhookError::MissingSignature)?;
    let hex_digest = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(WebhookError::MalformedSignature)?;
    let claimed = hex::decode(hex_digest).map_err(|_| WebhookError::MalformedSignature)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .map_err(|_| WebhookError::SignatureMismatch)?;
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    if expected.as_slice().ct_eq(&claimed).into() {
        Ok(())
    } else {
        Err(WebhookError::SignatureMismatch)
    }
}

/// A webhook delivery, reduced to what Squadron reacts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GithubEvent {
    /// GitHub's test delivery after a webhook is configured.
    Ping,
    /// A PR was opened, edited, synchronized, closed, …
    PullRequest {
        /// The repository.
        repo: RepoRef,
        /// The PR.
        pr: PrNumber,
        /// GitHub's action (`synchronize`, `closed`, …).
        action: String,
    },
    /// A review was submitted, edited or dismissed.
    Review {
        /// The repository.
        repo: RepoRef,
        /// The PR.
        pr: PrNumber,
        /// The reviewer's login.
        reviewer: String,
        /// GitHub's action (`submitted`, `dismissed`, …).
        action: String,
    },
    /// A check run or check suite changed on a commit.
    Checks {
        /// The repository.
        repo: RepoRef,
        /// The commit checked.
        head_sha: CommitSha,
        /// The PRs GitHub associated with it (may be empty, e.g. for forks).
        prs: Vec<PrNumber>,
    },
    /// A commit status changed.
    Status {
        /// The repository.
        repo: RepoRef,
        /// The commit.
        sha: CommitSha,
        /// The status context.
        context: String,
        /// The new state, when it is one GitHub documents.
        state: Option<StatusState>,
    },
    /// A branch moved.
    Push {
        /// The repository.
        repo: RepoRef,
        /// The branch (without `refs/heads/`); tags are ignored.
        branch: String,
        /// The new tip.
        head: CommitSha,
    },
    /// An event Squadron does not react to.
    Ignored {
        /// Its name.
        event: String,
    },
}

impl GithubEvent {
    /// Whose merge gates this event concerns.
    pub fn targets(&self) -> Vec<GateTarget> {
        match self {
            GithubEvent::Ping | GithubEvent::Ignored { .. } => Vec::new(),
            GithubEvent::PullRequest { repo, pr, .. } | GithubEvent::Review { repo, pr, .. } => {
                vec![GateTarget::PullRequest {
                    repo: repo.clone(),
                    pr: *pr,
                }]
            }
            GithubEvent::Checks {
                repo,
                head_sha,
                prs,
            } if prs.is_empty() => {
                vec![GateTarget::Commit {
                    repo: repo.clone(),
                    sha: head_sha.clone(),
                }]
            }
            GithubEvent::Checks { repo, prs, .. } => prs
                .iter()
                .map(|pr| GateTarget::PullRequest {
                    repo: repo.clone(),
                    pr: *pr,
                })
                .collect(),
            GithubEvent::Status { repo, sha, .. } => {
                vec![GateTarget::Commit {
                    repo: repo.clone(),
                    sha: sha.clone(),
                }]
            }
            GithubEvent::Push { repo, branch, .. } => {
                vec![GateTarget::Branch {
                    repo: repo.clone(),
                    branch: branch.clone(),
                }]
            }
        }
    }
}

/// Verifies and parses one delivery.
pub fn receive(
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<GithubEvent, WebhookError> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    verify_signature(secret, header(SIGNATURE_HEADER), body)?;
    let event = header(EVENT_HEADER).ok_or(WebhookError::MissingEvent)?;
    parse_event(event, body)
}

/// Parses a delivery whose signature was verified.
pub fn parse_event(event: &str, body: &[u8]) -> Result<GithubEvent, WebhookError> {
    let malformed = |error: serde_json::Error| WebhookError::MalformedBody {
        event: event.to_owned(),
        detail: error.to_string(),
    };
    Ok(match event {
        "ping" => GithubEvent::Ping,
        "pull_request" => {
            let payload: PullRequestPayload = serde_json::from_slice(body).map_err(malformed)?;
            GithubEvent::PullRequest {
                repo: payload.repository.into(),
                pr: PrNumber(payload.pull_request.number),
                action: payload.action,
            }
        }
        "pull_request_review" => {
            let payload: ReviewPayload = serde_json::from_slice(body).map_err(malformed)?;
            GithubEvent::Review {
                repo: payload.repository.into(),
                pr: PrNumber(payload.pull_request.number),
                reviewer: payload
                    .review
                    .user
                    .map(|user| user.login)
                    .unwrap_or_default(),
                action: payload.action,
            }
        }
        "check_run" => {
            let payload: CheckRunPayload = serde_json::from_slice(body).map_err(malformed)?;
            checks_event(payload.repository, payload.check_run)
        }
        "check_suite" => {
            let payload: CheckSuitePayload = serde_json::from_slice(body).map_err(malformed)?;
            checks_event(payload.repository, payload.check_suite)
        }
        "status" => {
            let payload: StatusPayload = serde_json::from_slice(body).map_err(malformed)?;
            GithubEvent::Status {
                repo: payload.repository.into(),
                sha: CommitSha::new(payload.sha),
                state: parse_status_state(&payload.state),
                context: payload.context,
            }
        }
        "push" => {
            let payload: PushPayload = serde_json::from_slice(body).map_err(malformed)?;
            match payload.git_ref.strip_prefix("refs/heads/") {
                Some(branch) => GithubEvent::Push {
                    repo: payload.repository.into(),
                    branch: branch.to_owned(),
                    head: CommitSha::new(payload.after),
                },
                None => GithubEvent::Ignored {
                    event: "push (tag)".to_owned(),
                },
            }
        }
        other => GithubEvent::Ignored {
            event: other.to_owned(),
        },
    })
}

/// Maps GitHub's status state names.
pub(crate) fn parse_status_state(state: &str) -> Option<StatusState> {
    Some(match state {
        "success" => StatusState::Success,
        "pending" => StatusState::Pending,
        "failure" => StatusState::Failure,
        "error" => StatusState::Error,
        _ => return None,
    })
}

fn checks_event(repository: RepositoryPayload, checked: CheckedPayload) -> GithubEvent {
    GithubEvent::Checks {
        repo: repository.into(),
        head_sha: CommitSha::new(checked.head_sha),
        prs: checked
            .pull_requests
            .iter()
            .map(|pr| PrNumber(pr.number))
            .collect(),
    }
}

#[derive(Deserialize)]
struct RepositoryPayload {
    name: String,
    owner: LoginPayload,
}

impl From<RepositoryPayload> for RepoRef {
    fn from(repository: RepositoryPayload) -> RepoRef {
        RepoRef::new(repository.owner.login, repository.name)
    }
}

#[derive(Deserialize)]
struct LoginPayload {
    login: String,
}

#[derive(Deserialize)]
struct NumberPayload {
    number: u64,
}

#[derive(Deserialize)]
struct PullRequestPayload {
    action: String,
    pull_request: NumberPayload,
    repository: RepositoryPayload,
}

#[derive(Deserialize)]
struct ReviewBody {
    user: Option<LoginPayload>,
}

#[derive(Deserialize)]
struct ReviewPayload {
    action: String,
    review: ReviewBody,
    pull_request: NumberPayload,
    repository: RepositoryPayload,
}

#[derive(Deserialize)]
struct CheckedPayload {
    head_sha: String,
    #[serde(default)]
    pull_requests: Vec<NumberPayload>,
}

#[derive(Deserialize)]
struct CheckRunPayload {
    check_run: CheckedPayload,
    repository: RepositoryPayload,
}

#[derive(Deserialize)]
struct CheckSuitePayload {
    check_suite: CheckedPayload,
    repository: RepositoryPayload,
}

#[derive(Deserialize)]
struct StatusPayload {
    sha: String,
    context: String,
    state: String,
    repository: RepositoryPayload,
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    repository: RepositoryPayload,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn official_vector_verifies() {
        assert_eq!(verify_signature(SECRET, Some(SIGNATURE), BODY), Ok(()));
    }

    #[test]
    fn wrong_secret_is_refused() {
        assert_eq!(
            verify_signature(b"It's a secret to everybody", Some(SIGNATURE), BODY),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn tampered_body_is_refused() {
        assert_eq!(
            verify_signature(SECRET, Some(SIGNATURE), b"Hello, World?"),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn missing_or_malformed_header_is_refused() {
        assert_eq!(
            verify_signature(SECRET, None, BODY),
            Err(WebhookError::MissingSignature)
        );
        assert_eq!(
            verify_signature(SECRET, Some("sha1=757107ea"), BODY),
            Err(WebhookError::MalformedSignature)
        );
        assert_eq!(
            verify_signature(SECRET, Some("sha256=not-hex"), BODY),
            Err(WebhookError::MalformedSignature)
        );
        assert_eq!(
            verify_signature(SECRET, Some(&SIGNATURE[..21]), BODY),
            Err(WebhookError::SignatureMismatch)
        );
    }

    fn delivery(event: &str, body: &str) -> Result<GithubEvent, WebhookError> {
        let mut headers = HeaderMap::new();
        headers.insert(EVENT_HEADER, event.parse().unwrap());
        headers.insert(
            SIGNATURE_HEADER,
            sign(b"s3cret", body.as_bytes()).parse().unwrap(),
        );
        receive(b"s3cret", &headers, body.as_bytes())
    }

    const REPO: &str = r#""repository": {"name": "shop", "owner": {"login": "acme"}}"#;

    fn shop() -> RepoRef {
        RepoRef::new("acme", "shop")
    }

    #[test]
    fn review_events_point_at_their_pr() {
        let body = format!(
            r#"{{"action": "submitted", "review": {{"id": 1, "state": "approved", "user": {{"login": "cr-bot"}}}}, "pull_request": {{"number": 12}}, {REPO}}}"#
        );
        let event = delivery("pull_request_review", &body).unwrap();
        assert_eq!(
            event,
            GithubEvent::Review {
                repo: shop(),
                pr: PrNumber(12),
                reviewer: "cr-bot".into(),
                action: "submitted".into()
            }
        );
        assert_eq!(
            event.targets(),
            vec![GateTarget::PullRequest {
                repo: shop(),
                pr: PrNumber(12)
            }]
        );
    }

    #[test]
    fn check_events_point_at_their_prs_or_their_commit() {
        let run = format!(
            r#"{{"action": "completed", "check_run": {{"head_sha": "abc", "pull_requests": [{{"number": 3}}, {{"number": 4}}]}}, {REPO}}}"#
        );
        assert_eq!(
            delivery("check_run", &run).unwrap().targets(),
            vec![
                GateTarget::PullRequest {
                    repo: shop(),
                    pr: PrNumber(3)
                },
                GateTarget::PullRequest {
                    repo: shop(),
                    pr: PrNumber(4)
                }
            ]
        );
        let suite = format!(
            r#"{{"action": "completed", "check_suite": {{"head_sha": "abc", "pull_requests": []}}, {REPO}}}"#
        );
        assert_eq!(
            delivery("check_suite", &suite).unwrap().targets(),
            vec![GateTarget::Commit {
                repo: shop(),
                sha: CommitSha::from("abc")
            }]
        );
    }

    #[test]
    fn status_push_and_pull_request_events_are_understood() {
        let status = format!(r#"{{"sha": "abc", "context": "ci", "state": "failure", {REPO}}}"#);
        assert_eq!(
            delivery("status", &status).unwrap(),
            GithubEvent::Status {
                repo: shop(),
                sha: CommitSha::from("abc"),
                context: "ci".into(),
                state: Some(StatusState::Failure)
            }
        );
        let push =
            format!(r#"{{"ref": "refs/heads/main", "before": "a", "after": "def", {REPO}}}"#);
        assert_eq!(
            delivery("push", &push).unwrap().targets(),
            vec![GateTarget::Branch {
                repo: shop(),
                branch: "main".into()
            }]
        );
        let tag = format!(r#"{{"ref": "refs/tags/v1", "after": "def", {REPO}}}"#);
        assert!(delivery("push", &tag).unwrap().targets().is_empty());
        let pr = format!(r#"{{"action": "synchronize", "pull_request": {{"number": 8}}, {REPO}}}"#);
        assert_eq!(
            delivery("pull_request", &pr).unwrap().targets(),
            vec![GateTarget::PullRequest {
                repo: shop(),
                pr: PrNumber(8)
            }]
        );
    }

    #[test]
    fn unknown_events_are_ignored_and_bad_bodies_are_reported() {
        assert_eq!(delivery("ping", "{}").unwrap(), GithubEvent::Ping);
        assert_eq!(
            delivery("issues", "{}").unwrap(),
            GithubEvent::Ignored {
                event: "issues".into()
            }
        );
        assert!(matches!(
            delivery("pull_request", "{\"action\": 1}"),
            Err(WebhookError::MalformedBody { .. })
        ));
    }

    #[test]
    fn a_valid_body_under_a_wrong_signature_is_never_parsed() {
        let mut headers = HeaderMap::new();
        headers.insert(EVENT_HEADER, "ping".parse().unwrap());
        headers.insert(SIGNATURE_HEADER, sign(b"other", b"{}").parse().unwrap());
        assert_eq!(
            receive(b"s3cret", &headers, b"{}"),
            Err(WebhookError::SignatureMismatch)
        );
        headers.remove(SIGNATURE_HEADER);
        assert_eq!(
            receive(b"s3cret", &headers, b"{}"),
            Err(WebhookError::MissingSignature)
        );
    }
}
