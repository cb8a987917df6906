//! Verifying that a request really comes from Slack: `X-Slack-Signature` is `v0=` and the
//! hex HMAC-SHA256, under the app's signing secret, of `v0:<X-Slack-Request-Timestamp>:<raw
//! body>`; requests older (or newer) than five minutes are refused as possible replays.
//!
//! Every refusal maps to HTTP 401, and nothing is parsed or done for a refused request.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha2::Sha256;
use squadron_core::Timestamp;

/// The header carrying `v0=<hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// The header carrying the Unix time (seconds) the request was signed at.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// How far the request's timestamp may be from now.
pub const TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(300);
/// The only signature version Slack uses.
const VERSION: &str = "v0";

/// Why a request was refused as not coming from Slack; answer 401 and do nothing else.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureRejection {
    /// The daemon has no signing secret to check against.
    #[error(
        "verify a Slack request: no signing secret is configured; set slack.signing_secret_env"
    )]
    NoSigningSecret,
    /// No `X-Slack-Request-Timestamp` header.
    #[error("verify a Slack request: the X-Slack-Request-Timestamp header is missing")]
    MissingTimestamp,
    /// No `X-Slack-Signature` header.
    #[error("verify a Slack request: the X-Slack-Signature header is missing")]
    MissingSignature,
    /// The timestamp is not a whole number of seconds.
    #[error("verify a Slack request: its timestamp `{value}` is not Unix seconds")]
    MalformedTimestamp {
        /// The header's value.
        value: String,
    },
    /// The timestamp is more than [`TIMESTAMP_TOLERANCE`] away from now.
    #[error(
        "verify a Slack request: its timestamp is {skew_secs} s away from now, beyond 300 s; \
         a replay, or a clock out of sync"
    )]
    StaleTimestamp {
        /// Distance from now, in seconds.
        skew_secs: u64,
    },
    /// The signature does not match the body under the signing secret.
    #[error(
        "verify a Slack request: the signature does not match the body; check the signing secret"
    )]
    BadSignature,
}

impl SignatureRejection {
    /// The HTTP status to answer: 401 for every refusal.
    pub const fn status(&self) -> u16 {
        401
    }
}

/// Verifies a request from its headers and raw body at time `now`.
///
/// # Errors
/// A [`SignatureRejection`] (answer 401) when a header is missing or malformed, the
/// timestamp is stale, or the signature does not match.
pub fn verify_request(
    signing_secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
) -> Result<(), SignatureRejection> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    verify_signature(
        signing_secret,
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        body,
        now,
    )
}

/// Verifies a request from the two header values and the raw body at time `now`.
///
/// # Errors
/// As [`verify_request`].
pub fn verify_signature(
    signing_secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> Result<(), SignatureRejection> {
    if signing_secret.is_empty() {
        return Err(SignatureRejection::NoSigningSecret);
    }
    let timestamp = timestamp
        .map(str::trim)
        .ok_or(SignatureRejection::MissingTimestamp)?;
    let signature = signature
        .map(str::trim)
        .ok_or(SignatureRejection::MissingSignature)?;
    let sent_secs: i64 = timestamp
        .parse()
        .map_err(|_| SignatureRejection::MalformedTimestamp {
            value: timestamp.to_owned(),
        })?;
    let skew_ms = now.as_millis().abs_diff(sent_secs.saturating_mul(1000));
    if Duration::from_millis(skew_ms) > TIMESTAMP_TOLERANCE {
        return Err(SignatureRejection::StaleTimestamp {
            skew_secs: skew_ms / 1000,
        });
    }
    let expected = signature
        .strip_prefix("v0=")
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .ok_or(SignatureRejection::BadSignature)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(signing_secret)
        .map_err(|_| SignatureRejection::NoSigningSecret)?;
    mac.update(VERSION.as_bytes());
    mac.update(b":");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected)
        .map_err(|_| SignatureRejection::BadSignature)
}
