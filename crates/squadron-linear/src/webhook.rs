//! Linear webhooks: signature and freshness checks, then the events Squadron acts on.
//!
//! The HTTP route (`POST /webhooks/linear`) belongs to the daemon; this module is the whole
//! decision, given the raw body, the `Linear-Signature` header and the current time.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use squadron_core::{IssueId, IssueKey, Timestamp};

/// The header carrying the hex HMAC-SHA256 of the raw body.
pub const SIGNATURE_HEADER: &str = "linear-signature";

/// How far `webhookTimestamp` may be from now; older deliveries may be replays.
pub const TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(60);

/// What a verified delivery asks of Squadron.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// The issue was moved to a canceled state: stop its squad.
    CancelSquad {
        /// The issue's id.
        issue_id: IssueId,
        /// Its identifier.
        issue_key: IssueKey,
    },
    /// A genuine delivery Squadron has nothing to do about.
    Ignored,
}

/// Why a delivery was refused; nothing was done for it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRejection {
    /// No `Linear-Signature` header.
    #[error("verify a Linear webhook: the Linear-Signature header is missing")]
    MissingSignature,
    /// The signature does not match the body under the configured secret.
    #[error(
        "verify a Linear webhook: the signature does not match the body; check the webhook secret"
    )]
    BadSignature,
    /// The body is signed but carries no usable `webhookTimestamp`.
    #[error("verify a Linear webhook: the body has no webhookTimestamp")]
    MissingTimestamp,
    /// `webhookTimestamp` is further than [`TIMESTAMP_TOLERANCE`] from now.
    #[error("verify a Linear webhook: its timestamp is {skew_ms} ms away from now, beyond 60 s")]
    StaleTimestamp {
        /// Distance from now in milliseconds.
        skew_ms: u64,
    },
}

impl WebhookRejection {
    /// The HTTP status to answer: 401 for every refusal.
    pub const fn status(&self) -> u16 {
        401
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    webhook_timestamp: Option<i64>,
    #[serde(rename = "type")]
    kind: Option<String>,
    action: Option<String>,
    data: Option<IssueData>,
}

#[derive(Deserialize)]
struct IssueData {
    id: Option<String>,
    identifier: Option<String>,
    state: Option<StateData>,
}

#[derive(Deserialize)]
struct StateData {
    #[serde(rename = "type")]
    kind: Option<String>,
}

fn signature_matches(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Ok(expected) = hex::decode(signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected).is_ok()
}

/// Verifies and reads one delivery: the signature over the raw `body` under `secret`, then
/// the timestamp against `now`, then the event.
///
/// # Errors
/// A [`WebhookRejection`] (answer 401) when the signature is missing or wrong, or the
/// timestamp is missing or stale.
pub fn handle_linear_webhook(
    secret: &[u8],
    signature: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> Result<WebhookOutcome, WebhookRejection> {
    let signature = signature.ok_or(WebhookRejection::MissingSignature)?;
    if !signature_matches(secret, body, signature) {
        return Err(WebhookRejection::BadSignature);
    }
    // A body Linear signed but we cannot read is still refused without side effects.
    let delivery: Delivery =
        serde_json::from_slice(body).map_err(|_| WebhookRejection::MissingTimestamp)?;
    let sent = Timestamp::from_millis(
        delivery
            .webhook_timestamp
            .ok_or(WebhookRejection::MissingTimestamp)?,
    );
    let skew = if sent > now {
        sent.since(now)
    } else {
        now.since(sent)
    };
    if skew > TIMESTAMP_TOLERANCE {
        return Err(WebhookRejection::StaleTimestamp {
            skew_ms: u64::try_from(skew.as_millis()).unwrap_or(u64::MAX),
        });
    }
    if delivery.kind.as_deref() != Some("Issue") || delivery.action.as_deref() != Some("update") {
        return Ok(WebhookOutcome::Ignored);
    }
    let Some(IssueData {
        id: Some(id),
        identifier: Some(identifier),
        state: Some(state),
    }) = delivery.data
    else {
        return Ok(WebhookOutcome::Ignored);
    };
    if state.kind.as_deref() == Some("canceled") {
        return Ok(WebhookOutcome::CancelSquad {
            issue_id: IssueId::new(id),
            issue_key: IssueKey::new(identifier),
        });
    }
    Ok(WebhookOutcome::Ignored)
}
