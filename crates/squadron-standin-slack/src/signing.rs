//! Requests as Slack sends them to an app: a slash command's form body, or a button click's
//! `payload`, signed with `v0=HMAC-SHA256(secret, "v0:<timestamp>:<body>")`.
//!
//! This is an independent implementation of Slack's signing, so tests of the adapter's
//! verification do not check the adapter against itself.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// `v0=` and the hex HMAC-SHA256 of `v0:<timestamp>:<body>` under `signing_secret`.
pub fn slack_signature(signing_secret: &str, timestamp: &str, body: &str) -> String {
    // Invariant: HMAC accepts keys of any length, so building it cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(signing_secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// A signed request ready to send to the app's endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    /// The raw body.
    pub body: String,
    /// `X-Slack-Request-Timestamp`.
    pub timestamp: String,
    /// `X-Slack-Signature`.
    pub signature: String,
}

impl SignedRequest {
    /// The content type Slack sends for commands and interactions.
    pub const CONTENT_TYPE: &'static str = "application/x-www-form-urlencoded";

    /// Signs `body` at `timestamp_secs` (Unix seconds).
    pub fn sign(signing_secret: &str, timestamp_secs: i64, body: String) -> Self {
        let timestamp = timestamp_secs.to_string();
        let signature = slack_signature(signing_secret, &timestamp, &body);
        Self {
            body,
            timestamp,
            signature,
        }
    }

    /// The headers Slack sends with it.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("content-type", Self::CONTENT_TYPE.to_owned()),
            ("x-slack-request-timestamp", self.timestamp.clone()),
            ("x-slack-signature", self.signature.clone()),
        ]
    }
}

/// A slash command as Slack posts it, with realistic defaults for the fields tests do not
/// care about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlashCommandRequest {
    /// `/squad`.
    pub command: String,
    /// What follows the command.
    pub text: String,
    /// The workspace.
    pub team_id: String,
    /// The channel typed in.
    pub channel_id: String,
    /// The person.
    pub user_id: String,
    /// Their handle.
    pub user_name: String,
    /// Where the app may post delayed replies (point it at
    /// [`StandinSlack::response_url`](crate::StandinSlack::response_url) in tests).
    pub response_url: String,
}

impl SlashCommandRequest {
    /// `command text` typed by user `U2CERLKJA` in channel `C0SQUADRON`.
    pub fn new(command: &str, text: &str) -> Self {
        Self {
            command: command.to_owned(),
            text: text.to_owned(),
            team_id: "T1DC2JH3J".to_owned(),
            channel_id: "C0SQUADRON".to_owned(),
            user_id: "U2CERLKJA".to_owned(),
            user_name: "roadrunner".to_owned(),
            response_url:
                "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN"
                    .to_owned(),
        }
    }

    /// The same command with its delayed replies going to `response_url`.
    #[must_use]
    pub fn with_response_url(mut self, response_url: &str) -> Self {
        response_url.clone_into(&mut self.response_url);
        self
    }

    /// The form body, fields in Slack's order.
    pub fn form_body(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", "xyzz0WbapA4vBCDEFasx0q6G")
            .append_pair("team_id", &self.team_id)
            .append_pair("team_domain", "squadron")
            .append_pair("channel_id", &self.channel_id)
            .append_pair("channel_name", "alerts")
            .append_pair("user_id", &self.user_id)
            .append_pair("user_name", &self.user_name)
            .append_pair("command", &self.command)
            .append_pair("text", &self.text)
            .append_pair("response_url", &self.response_url)
            .append_pair(
                "trigger_id",
                "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
            )
            .finish()
    }

    /// The command signed at `timestamp_secs`, as Slack would send it.
    pub fn sign(&self, signing_secret: &str, timestamp_secs: i64) -> SignedRequest {
        SignedRequest::sign(signing_secret, timestamp_secs, self.form_body())
    }
}

/// The `block_actions` payload of a click on "Start fix squad" for `issue_key`, on the
/// message `message_ts` in `channel_id`, by `user_id`.
pub fn start_fix_click_payload(
    issue_key: &str,
    channel_id: &str,
    message_ts: &str,
    user_id: &str,
) -> Value {
    json!({
        "type": "block_actions",
        "user": { "id": user_id, "username": "roadrunner", "name": "roadrunner", "team_id": "T1DC2JH3J" },
        "api_app_id": "A0SQUADRON",
        "token": "xyzz0WbapA4vBCDEFasx0q6G",
        "container": { "type": "message", "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": false },
        "trigger_id": "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
        "team": { "id": "T1DC2JH3J", "domain": "squadron" },
        "channel": { "id": channel_id, "name": "alerts" },
        "message": { "type": "message", "ts": message_ts, "text": issue_key },
        "response_url": "https://hooks.slack.com/actions/T1DC2JH3J/1/abc",
        "actions": [{
            "action_id": "start_fix_squad",
            "block_id": "fix",
            "text": { "type": "plain_text", "text": "Start fix squad" },
            "value": issue_key,
            "style": "primary",
            "type": "button",
            "action_ts": "1700000000.000100"
        }]
    })
}

/// An interaction `payload` signed at `timestamp_secs`, as Slack posts button clicks.
pub fn sign_interaction(
    signing_secret: &str,
    timestamp_secs: i64,
    payload: &Value,
) -> SignedRequest {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    SignedRequest::sign(signing_secret, timestamp_secs, body)
}
