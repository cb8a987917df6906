//! Shared helpers: signing secrets, times, signed requests turned into headers.

use http::{HeaderMap, HeaderName, HeaderValue};
use squadron_core::Timestamp;
use squadron_slack::{SlackRefusal, SlackRequest, read_request};
use squadron_standin_slack::{SignedRequest, SlashCommandRequest};

/// The signing secret of Slack's documented example.
pub const OFFICIAL_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
/// The timestamp of Slack's documented example.
pub const OFFICIAL_TIMESTAMP: i64 = 1_531_420_618;
/// The body of Slack's documented example.
pub const OFFICIAL_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
/// The signature of Slack's documented example.
pub const OFFICIAL_SIGNATURE: &str =
    "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

/// The secret the other tests sign with.
pub const SECRET: &str = "e3b0c44298fc1c149afbf4c8996fb924";
/// Unix seconds the other tests send at.
pub const SENT_AT: i64 = 1_700_000_000;

/// A time `seconds` after `sent` (Unix seconds).
pub fn at(sent: i64, seconds: i64) -> Timestamp {
    Timestamp::from_millis((sent + seconds) * 1000)
}

/// The headers of a signed request.
pub fn headers_of(request: &SignedRequest) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in request.headers() {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).expect("header value"),
        );
    }
    headers
}

/// Reads a signed request two seconds after it was sent.
pub fn read(request: &SignedRequest) -> Result<SlackRequest, SlackRefusal> {
    read_request(
        SECRET.as_bytes(),
        &headers_of(request),
        request.body.as_bytes(),
        at(SENT_AT, 2),
    )
}

/// Reads `/squad <text>` as typed in Slack.
pub fn read_squad(text: &str) -> Result<SlackRequest, SlackRefusal> {
    read(&SlashCommandRequest::new("/squad", text).sign(SECRET, SENT_AT))
}
