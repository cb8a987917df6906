//! Reading a verified Slack request: the `/squad` slash command, the Events API
//! `url_verification` handshake, and clicks on Squadron's "Start fix squad" button.
//!
//! Everything here is pure: bytes in, a [`SlackRequest`] or a typed refusal out. A request
//! that is Slack's but asks something badly (`/squad fix` with no issue) is a
//! [`UsageError`], answered with an ephemeral reply showing the right usage.

use std::fmt;

use serde::Deserialize;
use squadron_core::{IssueKey, Timestamp};
use url::Url;

use crate::response::ImmediateResponse;
use crate::signature::{SignatureRejection, verify_request};

/// The `action_id` of the "Start fix squad" button.
pub const START_FIX_SQUAD_ACTION: &str = "start_fix_squad";

/// What a verified Slack request asks of Squadron.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlackRequest {
    /// A slash command with a valid subcommand.
    SlashCommand(SlashCommand),
    /// The Events API checking the endpoint: answer with the challenge.
    UrlVerification {
        /// The value to echo.
        challenge: String,
    },
    /// A click on a "Start fix squad" button.
    StartFixSquad(ButtonClick),
    /// A genuine delivery Squadron does not act on (another event or interaction type);
    /// answer 200 so Slack does not retry it.
    Ignored {
        /// What it was, for the log.
        kind: String,
    },
}

/// Who sent a command or clicked, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestContext {
    /// The workspace.
    pub team_id: String,
    /// The channel it came from; progress threads go there.
    pub channel_id: String,
    /// The person.
    pub user_id: String,
    /// Their handle, when Slack sent it.
    pub user_name: Option<String>,
    /// Where delayed replies may be posted for 30 minutes.
    pub response_url: Option<String>,
}

/// A slash command Squadron understands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlashCommand {
    /// The command as typed (`/squad`), for replies that repeat it.
    pub command: String,
    /// Who and where.
    pub context: RequestContext,
    /// What it asks.
    pub action: SquadCommand,
}

/// The subcommands of `/squad`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SquadCommand {
    /// `fix <ENG-123 | Linear issue URL>`: start a bug-fix squad on the issue.
    Fix(IssueTarget),
    /// `status [ENG-123]`: every squad, or the one for the issue.
    Status(Option<IssueTarget>),
    /// `revert <ENG-123 | Linear issue URL>`: take the issue's merged change back through a
    /// revert PR, as `squadron revert` does.
    Revert(IssueTarget),
    /// `help`, or nothing at all.
    Help,
}

/// A click on Squadron's own "Start fix squad" button.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ButtonClick {
    /// Who clicked, and where.
    pub context: RequestContext,
    /// The issue the button names.
    pub issue: IssueTarget,
    /// The message carrying the button, so progress can be threaded under it.
    pub message_ts: Option<String>,
}

/// An issue named by its identifier or its Linear URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueTarget {
    /// The identifier, upper-cased (`ENG-123`).
    pub key: IssueKey,
    /// The URL, when the person pasted one.
    pub url: Option<String>,
}

impl IssueTarget {
    /// Reads `ENG-123`, `eng-123`, or `https://linear.app/<workspace>/issue/ENG-123[/slug]`,
    /// also as Slack escapes links (`<https://…>`, `<https://…|label>`).
    ///
    /// # Errors
    /// A sentence naming the input and the shapes accepted.
    pub fn parse(input: &str) -> Result<IssueTarget, String> {
        let unwrapped = input
            .trim()
            .strip_prefix('<')
            .and_then(|inner| inner.strip_suffix('>'))
            .map_or(input.trim(), |inner| {
                inner.split('|').next().unwrap_or(inner)
            });
        if unwrapped.contains("://") {
            let key = issue_key_from_url(unwrapped).ok_or_else(|| {
                format!(
                    "`{unwrapped}` is not a Linear issue URL; expected \
                     https://linear.app/<workspace>/issue/ENG-123"
                )
            })?;
            return Ok(IssueTarget {
                key,
                url: Some(unwrapped.to_owned()),
            });
        }
        let key = parse_issue_key(unwrapped).ok_or_else(|| {
            format!("`{unwrapped}` is not a Linear issue; give its identifier (ENG-123) or its URL")
        })?;
        Ok(IssueTarget { key, url: None })
    }

    /// What to hand the tracker to look the issue up: the URL when given, else the key.
    pub fn lookup(&self) -> &str {
        self.url.as_deref().unwrap_or(self.key.as_str())
    }
}

impl fmt::Display for IssueTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key.as_str())
    }
}

/// `TEAM-123`: a team key (a letter, then letters and digits) and a number.
fn parse_issue_key(text: &str) -> Option<IssueKey> {
    let (team, number) = text.split_once('-')?;
    let team_ok = team.len() <= 10
        && team.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && team.chars().all(|c| c.is_ascii_alphanumeric());
    let number_ok =
        !number.is_empty() && number.len() <= 9 && number.chars().all(|c| c.is_ascii_digit());
    (team_ok && number_ok).then(|| IssueKey::new(format!("{}-{number}", team.to_ascii_uppercase())))
}

fn issue_key_from_url(text: &str) -> Option<IssueKey> {
    let url = Url::parse(text).ok()?;
    if !matches!(url.scheme(), "https" | "http")
        || !matches!(url.host_str(), Some("linear.app" | "www.linear.app"))
    {
        return None;
    }
    let mut segments = url.path_segments()?;
    let _workspace = segments.next().filter(|segment| !segment.is_empty())?;
    if segments.next()? != "issue" {
        return None;
    }
    parse_issue_key(segments.next()?)
}

/// A slash command Squadron could not read as asked; reply ephemerally with the usage.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{problem}\n\n{}", usage(.command))]
pub struct UsageError {
    /// The command as typed, so the usage repeats it.
    pub command: String,
    /// What was wrong, naming the offending text.
    pub problem: String,
}

/// The usage lines of the command.
pub fn usage(command: &str) -> String {
    format!(
        "Usage:\n\
         • `{command} fix <ENG-123 | Linear issue URL>`: start a bug-fix squad on the issue\n\
         • `{command} status [ENG-123]`: how every squad, or the one for the issue, is doing\n\
         • `{command} revert <ENG-123>`: open a PR reverting the issue's merged change\n\
         • `{command} help`: this help"
    )
}

/// Why a request could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Slack's request, asked badly: reply ephemerally with the usage (HTTP 200).
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// Not a shape Slack sends (HTTP 400).
    #[error("read a Slack request: {0}")]
    Malformed(String),
}

impl RequestError {
    /// The HTTP status to answer.
    pub const fn status(&self) -> u16 {
        match self {
            RequestError::Usage(_) => 200,
            RequestError::Malformed(_) => 400,
        }
    }

    /// The reply to send at once.
    pub fn immediate_response(&self) -> ImmediateResponse {
        match self {
            RequestError::Usage(error) => ImmediateResponse::Ephemeral {
                text: error.to_string(),
            },
            RequestError::Malformed(_) => ImmediateResponse::Empty,
        }
    }
}

/// Why a request to the Slack endpoint is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SlackRefusal {
    /// It does not prove it comes from Slack (HTTP 401, no side effect).
    #[error(transparent)]
    Unverified(#[from] SignatureRejection),
    /// It is Slack's but cannot be acted on.
    #[error(transparent)]
    Request(#[from] RequestError),
}

impl SlackRefusal {
    /// The HTTP status to answer.
    pub const fn status(&self) -> u16 {
        match self {
            SlackRefusal::Unverified(rejection) => rejection.status(),
            SlackRefusal::Request(error) => error.status(),
        }
    }

    /// The reply to send at once (empty for a 401 or 400).
    pub fn immediate_response(&self) -> ImmediateResponse {
        match self {
            SlackRefusal::Unverified(_) => ImmediateResponse::Empty,
            SlackRefusal::Request(error) => error.immediate_response(),
        }
    }
}

/// Verifies a request's signature, then reads it: the whole decision for `POST
/// /webhooks/slack`, given the headers, the raw body and the current time.
///
/// # Errors
/// [`SlackRefusal::Unverified`] before anything is read; otherwise [`SlackRefusal::Request`].
pub fn read_request(
    signing_secret: &[u8],
    headers: &http::HeaderMap,
    body: &[u8],
    now: Timestamp,
) -> Result<SlackRequest, SlackRefusal> {
    verify_request(signing_secret, headers, body, now)?;
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    Ok(parse_request(content_type, body)?)
}

/// Reads a request already verified: a form (slash command, or `payload=` of an
/// interaction) or JSON (Events API).
///
/// # Errors
/// [`RequestError::Usage`] for a badly asked slash command; [`RequestError::Malformed`] for
/// anything Slack would not send.
pub fn parse_request(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<SlackRequest, RequestError> {
    let media_type = content_type
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase());
    let is_json = match media_type.as_deref() {
        Some("application/json") => true,
        Some("application/x-www-form-urlencoded") => false,
        Some(other) => {
            return Err(RequestError::Malformed(format!(
                "content type `{other}` is neither a form nor JSON"
            )));
        }
        None => body.trim_ascii_start().starts_with(b"{"),
    };
    if is_json {
        return parse_event(body);
    }
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    if let Some(payload) = field("payload") {
        return parse_interaction(payload);
    }
    if let Some(command) = field("command") {
        let required = |name: &str| {
            field(name)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| {
                    RequestError::Malformed(format!("the slash command has no `{name}` field"))
                })
        };
        let context = RequestContext {
            team_id: required("team_id")?,
            channel_id: required("channel_id")?,
            user_id: required("user_id")?,
            user_name: field("user_name").map(str::to_owned),
            response_url: field("response_url").map(str::to_owned),
        };
        let action = parse_command_text(command, field("text").unwrap_or_default())?;
        return Ok(SlackRequest::SlashCommand(SlashCommand {
            command: command.to_owned(),
            context,
            action,
        }));
    }
    Err(RequestError::Malformed(
        "the form has neither `command` nor `payload`".to_owned(),
    ))
}

/// Reads the text after the command: `fix <issue>`, `status [issue]`, `revert <issue>`,
/// `help`.
///
/// # Errors
/// A [`UsageError`] naming what was wrong.
pub fn parse_command_text(command: &str, text: &str) -> Result<SquadCommand, UsageError> {
    let usage_error = |problem: String| UsageError {
        command: command.to_owned(),
        problem,
    };
    let mut words = text.split_whitespace();
    let Some(subcommand) = words.next() else {
        return Ok(SquadCommand::Help);
    };
    let argument = words.next();
    let extra: Vec<&str> = words.collect();
    if !extra.is_empty() {
        return Err(usage_error(format!(
            "`{command} {}` takes at most one issue; remove `{}`",
            subcommand.to_ascii_lowercase(),
            extra.join(" ")
        )));
    }
    match (subcommand.to_ascii_lowercase().as_str(), argument) {
        ("fix", Some(issue)) => IssueTarget::parse(issue)
            .map(SquadCommand::Fix)
            .map_err(usage_error),
        ("fix", None) => Err(usage_error(format!(
            "`{command} fix` needs the issue to fix, e.g. `{command} fix ENG-123`"
        ))),
        ("revert", Some(issue)) => IssueTarget::parse(issue)
            .map(SquadCommand::Revert)
            .map_err(usage_error),
        ("revert", None) => Err(usage_error(format!(
            "`{command} revert` needs the issue whose change to take back, e.g. `{command} \
             revert ENG-123`"
        ))),
        ("status", Some(issue)) => IssueTarget::parse(issue)
            .map(|target| SquadCommand::Status(Some(target)))
            .map_err(usage_error),
        ("status", None) => Ok(SquadCommand::Status(None)),
        ("help", None) => Ok(SquadCommand::Help),
        ("help", Some(extra)) => Err(usage_error(format!(
            "`{command} help` takes nothing after it; remove `{extra}`"
        ))),
        (other, _) => Err(usage_error(format!(
            "`{other}` is not a `{command}` subcommand"
        ))),
    }
}

#[derive(Deserialize)]
struct EventEnvelope {
    #[serde(rename = "type")]
    kind: String,
    challenge: Option<String>,
}

fn parse_event(body: &[u8]) -> Result<SlackRequest, RequestError> {
    let envelope: EventEnvelope = serde_json::from_slice(body).map_err(|error| {
        RequestError::Malformed(format!("the JSON body is not an event: {error}"))
    })?;
    match (envelope.kind.as_str(), envelope.challenge) {
        ("url_verification", Some(challenge)) => Ok(SlackRequest::UrlVerification { challenge }),
        ("url_verification", None) => Err(RequestError::Malformed(
            "the url_verification event has no `challenge`".to_owned(),
        )),
        (kind, _) => Ok(SlackRequest::Ignored {
            kind: kind.to_owned(),
        }),
    }
}

#[derive(Deserialize)]
struct Interaction {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    user: Option<InteractionUser>,
    #[serde(default)]
    team: Option<IdOnly>,
    #[serde(default)]
    channel: Option<IdOnly>,
    #[serde(default)]
    container: Option<Container>,
    #[serde(default)]
    response_url: Option<String>,
    #[serde(default)]
    actions: Vec<Action>,
}

#[derive(Deserialize)]
struct InteractionUser {
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Deserialize)]
struct Container {
    #[serde(default)]
    message_ts: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
}

#[derive(Deserialize)]
struct Action {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

fn parse_interaction(payload: &str) -> Result<SlackRequest, RequestError> {
    let interaction: Interaction = serde_json::from_str(payload).map_err(|error| {
        RequestError::Malformed(format!(
            "the `payload` field is not an interaction: {error}"
        ))
    })?;
    if interaction.kind != "block_actions" {
        return Ok(SlackRequest::Ignored {
            kind: interaction.kind,
        });
    }
    let Some(action) = interaction
        .actions
        .iter()
        .find(|action| action.action_id == START_FIX_SQUAD_ACTION)
    else {
        let ids: Vec<&str> = interaction
            .actions
            .iter()
            .map(|action| action.action_id.as_str())
            .collect();
        return Ok(SlackRequest::Ignored {
            kind: format!("block_actions [{}]", ids.join(", ")),
        });
    };
    let malformed = |what: &str| RequestError::Malformed(format!("the button click has no {what}"));
    let value = action.value.as_deref().ok_or_else(|| malformed("value"))?;
    // The button is Squadron's own, so a value that is not an issue was not made by it.
    let issue = IssueTarget::parse(value).map_err(RequestError::Malformed)?;
    let user = interaction.user.ok_or_else(|| malformed("user"))?;
    let container = interaction.container;
    let channel_id = interaction
        .channel
        .map(|channel| channel.id)
        .or_else(|| container.as_ref().and_then(|c| c.channel_id.clone()))
        .ok_or_else(|| malformed("channel"))?;
    let team_id = interaction
        .team
        .map(|team| team.id)
        .or(user.team_id)
        .ok_or_else(|| malformed("team"))?;
    Ok(SlackRequest::StartFixSquad(ButtonClick {
        context: RequestContext {
            team_id,
            channel_id,
            user_id: user.id,
            user_name: user.username,
            response_url: interaction.response_url,
        },
        issue,
        message_ts: container.and_then(|container| container.message_ts),
    }))
}
