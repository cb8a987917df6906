//! Slack adapter: verifying Slack's request signatures, reading `/squad` slash commands,
//! the Events API handshake and "Start fix squad" button clicks, building the immediate
//! replies, and posting squad progress in threads through the
//! [`squadron_core::ports::Notifier`] port.
//!
//! Architecture invariant: Slack's wire formats (form fields, interaction payloads, Web API
//! JSON, Block Kit) stay in this crate. The HTTP route belongs to the daemon; this crate
//! gives it the whole decision ([`read_request`]) and the answers.

mod client;
mod error;
pub mod message;
mod notifier;
mod pacing;
pub mod request;
pub mod response;
pub mod signature;

pub use client::{METADATA_EVENT_TYPE, PostMessage, PostedMessage, SlackClient};
pub use error::{SlackError, SlackErrorKind};
pub use message::{MessageContent, start_fix_button_message};
pub use notifier::SlackNotifier;
pub use pacing::DEFAULT_CHANNEL_INTERVAL;
pub use request::{
    ButtonClick, IssueTarget, RequestContext, RequestError, SlackRefusal, SlackRequest,
    SlashCommand, SquadCommand, UsageError, parse_request, read_request,
};
pub use response::{
    ImmediateResponse, challenge_response, fix_acknowledgement, help_response,
    revert_acknowledgement, unknown_issue_response,
};
pub use signature::{SignatureRejection, verify_request, verify_signature};
