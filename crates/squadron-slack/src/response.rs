//! The answers Squadron gives in the HTTP response itself, within Slack's three seconds:
//! ephemeral help and usage, the in-channel acknowledgement of a fix, the url_verification
//! challenge, or nothing.

use serde_json::{Value, json};
use squadron_core::IssueKey;

use crate::message::escape;
use crate::request::{IssueTarget, usage};

/// The body of the immediate HTTP answer to a Slack request (always HTTP 200 when sent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImmediateResponse {
    /// Seen only by the person who typed the command.
    Ephemeral {
        /// Slack mrkdwn text.
        text: String,
    },
    /// Posted in the channel for everyone.
    InChannel {
        /// Slack mrkdwn text.
        text: String,
    },
    /// The Events API handshake.
    Challenge {
        /// The value Slack sent.
        challenge: String,
    },
    /// An empty 200 (button clicks, ignored deliveries).
    Empty,
}

impl ImmediateResponse {
    /// An ephemeral reply with `text` (Slack mrkdwn, already escaped where needed).
    pub fn ephemeral(text: impl Into<String>) -> Self {
        ImmediateResponse::Ephemeral { text: text.into() }
    }

    /// The `Content-Type` of [`ImmediateResponse::body`], if it has one.
    pub fn content_type(&self) -> Option<&'static str> {
        match self {
            ImmediateResponse::Empty => None,
            _ => Some("application/json"),
        }
    }

    /// The JSON body as Slack reads it, or an empty string.
    pub fn body(&self) -> String {
        let value: Option<Value> = match self {
            ImmediateResponse::Ephemeral { text } => {
                Some(json!({ "response_type": "ephemeral", "text": text }))
            }
            ImmediateResponse::InChannel { text } => {
                Some(json!({ "response_type": "in_channel", "text": text }))
            }
            ImmediateResponse::Challenge { challenge } => Some(json!({ "challenge": challenge })),
            ImmediateResponse::Empty => None,
        };
        value.map(|value| value.to_string()).unwrap_or_default()
    }
}

/// The ephemeral help of the command.
pub fn help_response(command: &str) -> ImmediateResponse {
    ImmediateResponse::ephemeral(format!(
        "`{command}` starts and follows Squadron's bug-fix squads. Each squad diagnoses the \
         issue, opens a pull request, gets two reviews and merges; progress is posted in a \
         thread here.\n\n{}",
        usage(command)
    ))
}

/// The in-channel acknowledgement sent at once, before any work starts.
pub fn fix_acknowledgement(issue: &IssueKey) -> ImmediateResponse {
    ImmediateResponse::InChannel {
        text: format!("Fix squad for {} starting…", escape(issue.as_str())),
    }
}

/// The in-channel acknowledgement of `/squad revert`, sent before the revert starts.
pub fn revert_acknowledgement(issue: &IssueKey) -> ImmediateResponse {
    ImmediateResponse::InChannel {
        text: format!(
            "Reverting {}: opening a PR that takes its merged change back…",
            escape(issue.as_str())
        ),
    }
}

/// The ephemeral reply when the tracker does not know the issue.
pub fn unknown_issue_response(target: &IssueTarget) -> ImmediateResponse {
    ImmediateResponse::ephemeral(format!(
        "Linear has no issue `{}` that Squadron can see. Check the identifier or URL, and that \
         Squadron's Linear key has access to its team.",
        escape(target.lookup())
    ))
}

/// The answer to the Events API `url_verification` handshake.
pub fn challenge_response(challenge: &str) -> ImmediateResponse {
    ImmediateResponse::Challenge {
        challenge: challenge.to_owned(),
    }
}
