//! A loopback stand-in for Slack's Web API, for tests and the offline demo: it records
//! `chat.postMessage` calls with their threads, checks the bot token, and can be told to
//! answer `ratelimited` (429 with `Retry-After`) or `channel_not_found`; it also records
//! the delayed replies an app posts to a command's `response_url`. Also signs slash
//! commands and button clicks exactly as Slack sends them to an app.

mod server;
mod signing;

pub use server::{RecordedMessage, RecordedResponse, StandinError, StandinSlack, Thread};
pub use signing::{
    SignedRequest, SlashCommandRequest, sign_interaction, slack_signature, start_fix_click_payload,
};
