//! Linear adapter: URL parsing, the GraphQL client with its shared rate limiter, milestone
//! intake, state sync, and webhook verification.
//!
//! Architecture invariant: Linear's wire formats (GraphQL documents in `graphql/`, JSON
//! shapes in `wire`) stay in this crate; everything else sees domain types and the
//! [`squadron_core::ports::IssueTracker`] port.

mod client;
pub mod documents;
mod error;
mod intake;
mod rate_limit;
mod sync;
mod tracker;
mod url;
pub mod webhook;
mod wire;

pub use client::{Credentials, LinearClient};
pub use error::{LinearError, LinearErrorKind};
pub use intake::ISSUE_PAGE_SIZE;
pub use rate_limit::RateLimiter;
pub use sync::{StateNames, comment_marker};
pub use url::{
    ACCEPTED_SHAPES, IssueRef, ProjectRef, UrlError, parse_issue_ref, parse_project_url,
};
pub use webhook::{WebhookOutcome, WebhookRejection, handle_linear_webhook};
pub use wire::Viewer;
