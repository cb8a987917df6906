//! What every route shares: the runtime, the clock, the settings and the stop signal.

use std::fmt;
use std::sync::Arc;

use squadron_config::Secret;
use squadron_core::ports::Clock;
use tokio::sync::watch;

use squadron_core::Usd;

use super::access::ControlAccess;
use super::control::{Reverts, ServerControl};
use super::links::PageLinks;
use super::readiness::Readiness;
use super::slack::SlackReplies;
use super::transport::TransportLimits;

/// How the server is set up, independent of where it listens.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    /// The secret Linear signs webhooks with.
    pub linear_webhook: WebhookSecret,
    /// The secret GitHub signs webhooks with.
    pub github_webhook: WebhookSecret,
    /// The Slack app's signing secret, which signs slash commands, events and clicks.
    pub slack_signing: WebhookSecret,
    /// Largest request body the API accepts, in bytes.
    pub api_body_limit: usize,
    /// Largest webhook body accepted, in bytes.
    pub webhook_body_limit: usize,
    /// Where the dashboard links each squad's issue and pull request.
    pub links: PageLinks,
    /// The budget of one run, which the dashboard shows spending against.
    pub run_budget: Option<Usd>,
    /// The budget of one squad, which its page shows spending against.
    pub squad_budget: Option<Usd>,
    /// What guards the control API, dashboard and metrics.
    pub control: ControlAccess,
    /// Timeouts and the connection cap of each listener.
    pub transport: TransportLimits,
    /// Who may start fix squads and revert merged changes from Slack.
    pub slack_fix: SlackFixPolicy,
}

/// Which Slack users and channels may start fix squads and revert merged changes; an empty
/// list allows all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlackFixPolicy {
    /// Slack user ids (`U012AB3CD`).
    pub users: Vec<String>,
    /// Slack channel ids (`C012AB3CD`).
    pub channels: Vec<String>,
}

impl SlackFixPolicy {
    /// Why `user` in `channel` may not do `action` ("start fix squads"), if they may not.
    pub fn refusal(&self, user: &str, channel: &str, action: &str) -> Option<String> {
        if !self.users.is_empty() && !self.users.iter().any(|allowed| allowed == user) {
            return Some(format!(
                "<@{user}> may not {action}: ask someone listed in Squadron's `slack.fix_users`"
            ));
        }
        if !self.channels.is_empty() && !self.channels.iter().any(|allowed| allowed == channel) {
            return Some(format!(
                "this channel may not be used to {action}: use one listed in Squadron's `slack.fix_channels`"
            ));
        }
        None
    }
}

impl ServerSettings {
    /// `POST /api/runs` carries one URL: 64 KiB is generous.
    pub const DEFAULT_API_BODY_LIMIT: usize = 64 * 1024;
    /// GitHub caps deliveries at 25 MB, but the events Squadron reacts to (reviews, checks,
    /// statuses, pushes of a squad branch) are far smaller; larger ones are refused with 413
    /// before they are buffered.
    pub const DEFAULT_WEBHOOK_BODY_LIMIT: usize = 5 * 1024 * 1024;

    /// Settings with the three signing secrets, the default body limits and transport
    /// limits, no control token, and no Slack allow-lists.
    pub fn new(
        linear_webhook: WebhookSecret,
        github_webhook: WebhookSecret,
        slack_signing: WebhookSecret,
    ) -> Self {
        Self {
            linear_webhook,
            github_webhook,
            slack_signing,
            api_body_limit: Self::DEFAULT_API_BODY_LIMIT,
            webhook_body_limit: Self::DEFAULT_WEBHOOK_BODY_LIMIT,
            links: PageLinks::default(),
            run_budget: None,
            squad_budget: None,
            control: ControlAccess::open("SQUADRON_CONTROL_TOKEN"),
            transport: TransportLimits::default(),
            slack_fix: SlackFixPolicy::default(),
        }
    }
}

/// A webhook signing secret and where it comes from, so a server without it can tell the
/// operator exactly what to set.
#[derive(Clone)]
pub struct WebhookSecret {
    /// The secret; `None` when its variable is unset, and then the route answers 503.
    pub value: Option<Secret>,
    /// The environment variable that holds it, e.g. `LINEAR_WEBHOOK_SECRET`.
    pub env_var: String,
    /// The configuration key naming the variable, e.g. `linear.webhook_secret_env`.
    pub config_key: String,
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSecret")
            .field("configured", &self.value.is_some())
            .field("env_var", &self.env_var)
            .field("config_key", &self.config_key)
            .finish()
    }
}

/// Shared by every handler.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) control: Arc<dyn ServerControl>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: Arc<ServerSettings>,
    /// What the daemon can reach, for `/readyz` and the dashboard.
    pub(crate) readiness: Readiness,
    /// Carries out `/squad revert`, when the daemon can.
    pub(crate) reverts: Option<Arc<dyn Reverts>>,
    /// Posts delayed replies to Slack commands' response URLs.
    pub(crate) slack_replies: SlackReplies,
    /// Turns `true` when the server starts shutting down, so long-lived responses (the event
    /// stream) end and the drain can complete.
    pub(crate) stopping: watch::Receiver<bool>,
}
