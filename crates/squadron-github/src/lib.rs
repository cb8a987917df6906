//! GitHub adapter: PRs, reviews under separate identities, statuses, merges, webhooks.
//!
//! [`GithubCodeHost`] implements the core's `CodeHost` port with one octocrab client per
//! role token, conditional GETs and a shared [`RateLimiter`]; it also reads a failed check
//! (output, annotations, an excerpt of the Actions job's log) and runs one again.
//! [`webhook`] verifies and parses deliveries; [`diff`] decides which review comments GitHub accepts inline.

pub mod checks;
mod ci_log;
mod client;
pub mod diff;
mod error;
mod etag_cache;
mod host;
pub mod rate_limit;
pub mod webhook;
mod wire;

pub use error::{GithubError, GithubErrorKind};
pub use host::{GithubCodeHost, RoleTokens};
pub use rate_limit::{RateLimitState, RateLimiter, RequestBudget};
pub use webhook::{GithubEvent, WebhookError};
