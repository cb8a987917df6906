//! `POST /webhooks/slack`: the `/squad` slash command, the Events API `url_verification`
//! handshake and clicks on Squadron's "Start fix squad" button.
//!
//! `/squad revert` is guarded like a fix (the same allow-lists) and, like a fix, answered at
//! once and carried out in the background: the revert goes through Git, GitHub and Linear.
//!
//! The signature is checked over the raw body before anything is read; a request that
//! fails it is refused with 401 and reaches nothing else. Slack wants the HTTP answer within
//! three seconds, and starting a fix reads the issue from Linear first, so the route answers
//! at once and starts the fix in the background; a failure (an unknown issue among them)
//! reaches the person as an ephemeral reply through the command's `response_url`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use squadron_pipeline::{FixRequest, SlackOrigin};
use squadron_slack::message::escape;
use squadron_slack::{
    ImmediateResponse, IssueTarget, RequestContext, RequestError, SlackRefusal, SlackRequest,
    SquadCommand, challenge_response, fix_acknowledgement, help_response, read_request,
    revert_acknowledgement, unknown_issue_response,
};
use tracing::{debug, info, warn};

use super::api::body_error;
use super::control::{ControlErrorKind, ServerControl, SquadView};
use super::error::ApiError;
use super::state::AppState;
use super::webhooks::configured;

/// How long posting one delayed reply may take; Slack's response URLs answer quickly.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Squads listed by `/squad status` at most, so the reply stays readable.
const STATUS_LINES: usize = 15;

/// A Slack request: verified, read, answered at once.
pub(crate) async fn slack(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let secret = configured(&state.settings.slack_signing, "Slack")?;
    let body = body.map_err(body_error)?;
    let request = match read_request(
        secret.expose().as_bytes(),
        &headers,
        &body,
        state.clock.now(),
    ) {
        Ok(request) => request,
        Err(SlackRefusal::Unverified(rejection)) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                format!("failed to {rejection}"),
            ));
        }
        Err(SlackRefusal::Request(error @ RequestError::Malformed(_))) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_delivery",
                format!("failed to {error}"),
            ));
        }
        // Slack's own request, asked badly: the person sees the usage.
        Err(SlackRefusal::Request(error @ RequestError::Usage(_))) => {
            return Ok(immediate(&error.immediate_response()));
        }
    };
    let answer = match request {
        SlackRequest::UrlVerification { challenge } => challenge_response(&challenge),
        SlackRequest::Ignored { kind } => {
            debug!(kind, "Slack delivery Squadron does not act on");
            ImmediateResponse::Empty
        }
        SlackRequest::SlashCommand(command) => match command.action {
            SquadCommand::Help => help_response(&command.command),
            SquadCommand::Status(target) => {
                status(state.control.as_ref(), &command.command, target.as_ref()).await
            }
            SquadCommand::Fix(target) => match refusal(&state, &command.context, FIX) {
                Some(refusal) => refusal,
                None => {
                    start_fix_in_background(&state, &target, &command.context, None);
                    fix_acknowledgement(&target.key)
                }
            },
            SquadCommand::Revert(target) => match refusal(&state, &command.context, REVERT) {
                Some(refusal) => refusal,
                None => revert_in_background(&state, &target, &command.context),
            },
        },
        SlackRequest::StartFixSquad(click) => match refusal(&state, &click.context, FIX) {
            Some(refusal) => refusal,
            None => {
                // The squad reports in the thread of the message carrying the button.
                start_fix_in_background(&state, &click.issue, &click.context, click.message_ts);
                ImmediateResponse::Empty
            }
        },
    };
    Ok(immediate(&answer))
}

/// What the allow-lists guard, as their refusals name it.
const FIX: &str = "start fix squads";
const REVERT: &str = "revert merged changes";

/// The ephemeral answer to someone the configured allow-lists do not let do `action`.
fn refusal(state: &AppState, context: &RequestContext, action: &str) -> Option<ImmediateResponse> {
    let reason = state
        .settings
        .slack_fix
        .refusal(&context.user_id, &context.channel_id, action)?;
    warn!(
        user = %context.user_id,
        channel = %context.channel_id,
        action,
        "refused a Slack request: not on the allow-list"
    );
    Some(ImmediateResponse::Ephemeral { text: reason })
}

/// The HTTP answer carrying `answer` (always 200: Slack shows nothing for other statuses).
fn immediate(answer: &ImmediateResponse) -> Response {
    let mut response = Body::from(answer.body()).into_response();
    if let Some(content_type) = answer.content_type() {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    response
}

/// Starts the fix without waiting: the runtime reads the issue from Linear before it
/// answers, which may take longer than Slack waits. Failures go to the command's
/// `response_url`.
fn start_fix_in_background(
    state: &AppState,
    target: &IssueTarget,
    context: &RequestContext,
    thread_ts: Option<String>,
) {
    let request = FixRequest {
        issue: target.lookup().to_owned(),
        requested_by: context.user_id.clone(),
        slack: Some(SlackOrigin {
            channel: context.channel_id.clone(),
            thread_ts,
        }),
    };
    let control = Arc::clone(&state.control);
    let replies = state.slack_replies.clone();
    let target = target.clone();
    let response_url = context.response_url.clone();
    tokio::spawn(async move {
        match control.start_fix(request).await {
            Ok(run) => info!(run = %run, issue = %target, "fix squad started from Slack"),
            Err(error) => {
                warn!(issue = %target, %error, "could not start the fix squad asked for in Slack");
                let reply = match error.kind() {
                    ControlErrorKind::NotFound => unknown_issue_response(&target),
                    _ => ImmediateResponse::ephemeral(format!(
                        "Squadron could not start a fix squad for {}: failed to {}",
                        escape(target.key.as_str()),
                        escape(error.message())
                    )),
                };
                replies.send(response_url.as_deref(), &reply).await;
            }
        }
    });
}

/// Starts the revert without waiting (it pushes a branch and opens a PR, longer than Slack
/// waits) and acknowledges it; what came of it goes to the command's `response_url`, in the
/// channel when it was done, to the person alone when it was not.
fn revert_in_background(
    state: &AppState,
    target: &IssueTarget,
    context: &RequestContext,
) -> ImmediateResponse {
    let Some(reverts) = state.reverts.clone() else {
        return ImmediateResponse::ephemeral(
            "This Squadron server cannot revert; run `squadron revert` where it is configured.",
        );
    };
    let replies = state.slack_replies.clone();
    let issue = target.key.clone();
    // The handle reads better on GitHub and Linear than Slack's user id.
    let user = context
        .user_name
        .as_ref()
        .map_or_else(|| context.user_id.clone(), |name| format!("@{name}"));
    let response_url = context.response_url.clone();
    tokio::spawn(async move {
        let reply = match reverts.revert(&issue, &user).await {
            Ok(done) => {
                info!(%issue, user, "reverted from Slack");
                ImmediateResponse::InChannel {
                    text: escape(&done),
                }
            }
            Err(error) => {
                warn!(%issue, user, %error, "could not revert as asked in Slack");
                ImmediateResponse::ephemeral(format!(
                    "Squadron did not revert {}: {}",
                    escape(issue.as_str()),
                    escape(error.message())
                ))
            }
        };
        replies.send(response_url.as_deref(), &reply).await;
    });
    revert_acknowledgement(&target.key)
}

/// `/squad status [ENG-123]`: the squads at work, or the newest squad of one issue.
async fn status(
    control: &dyn ServerControl,
    command: &str,
    target: Option<&IssueTarget>,
) -> ImmediateResponse {
    let squads = match control.squads().await {
        Ok(squads) => squads,
        Err(error) => {
            return ImmediateResponse::ephemeral(format!(
                "Squadron cannot read its squads right now: failed to {}",
                escape(error.message())
            ));
        }
    };
    if let Some(target) = target {
        // Newest run first, so the first match is the issue's latest squad.
        return match squads
            .iter()
            .find(|view| view.record.squad.issue == target.key)
        {
            Some(view) => ImmediateResponse::ephemeral(squad_line(view)),
            None => ImmediateResponse::ephemeral(format!(
                "No squad has worked on {key} yet. Start one with `{command} fix {key}`.",
                key = escape(target.key.as_str())
            )),
        };
    }
    let working: Vec<&SquadView> = squads
        .iter()
        .filter(|view| !view.record.squad.phase.is_terminal())
        .collect();
    let ended = match squads.len() - working.len() {
        0 => None,
        1 => Some("1 squad has ended.".to_owned()),
        n => Some(format!("{n} squads have ended.")),
    };
    if working.is_empty() {
        let ended = ended.map(|ended| format!(" {ended}")).unwrap_or_default();
        return ImmediateResponse::ephemeral(format!(
            "No squad is working right now.{ended} `{command} status ENG-123` shows one \
             issue's squad."
        ));
    }
    let mut text = format!("{} at work:", plural(working.len(), "squad"));
    for view in working.iter().take(STATUS_LINES) {
        text.push('\n');
        text.push_str(&squad_line(view));
    }
    if working.len() > STATUS_LINES {
        text.push_str(&format!("\n…and {} more.", working.len() - STATUS_LINES));
    }
    if let Some(ended) = ended {
        text.push('\n');
        text.push_str(&ended);
    }
    ImmediateResponse::ephemeral(text)
}

/// `• ENG-123: reviewing, round 2, PR #41`.
fn squad_line(view: &SquadView) -> String {
    let squad = &view.record.squad;
    let pr = squad
        .pr
        .map_or_else(|| "no PR yet".to_owned(), |pr| format!("PR {pr}"));
    format!(
        "• *{}*: {}, round {}, {pr}",
        escape(squad.issue.as_str()),
        escape(&squad.phase.to_string()),
        squad.round
    )
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Posts delayed replies to commands' response URLs. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct SlackReplies {
    client: reqwest::Client,
}

impl SlackReplies {
    /// A poster with its own HTTP client.
    pub(crate) fn new() -> std::io::Result<SlackReplies> {
        // reqwest is built without a default TLS provider; installing one twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(REPLY_TIMEOUT)
            .build()
            .map_err(std::io::Error::other)?;
        Ok(SlackReplies { client })
    }

    /// Posts `reply` to `response_url`; a failure is logged, since the person can only be
    /// told through this URL.
    async fn send(&self, response_url: Option<&str>, reply: &ImmediateResponse) {
        let Some(url) = response_url else {
            warn!("the Slack request carried no response_url; the person was not told");
            return;
        };
        let sent = self
            .client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(reply.body())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            // The URL carries a token that lets anyone post as the app for 30 minutes.
            .map_err(reqwest::Error::without_url);
        if let Err(error) = sent {
            warn!(%error, "failed to post a reply to the Slack command's response_url");
        }
    }
}
