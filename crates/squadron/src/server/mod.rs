//! The daemon's HTTP server: the JSON API, server-sent events, the Linear and GitHub
//! webhooks, Slack's `/squad` command, Prometheus metrics, the health and readiness checks
//! and the dashboard, all in front of a [`ServerControl`].

mod access;
mod api;
mod app;
pub mod control;
mod daemon_control;
mod error;
mod events;
mod forwarding;
mod json;
mod links;
mod metrics;
mod pipeline_control;
pub mod readiness;
mod run;
mod slack;
mod state;
mod store_reads;
mod transport;
mod webhooks;

pub use access::ControlAccess;
pub use control::{
    CancelOutcome, ClusterView, ControlError, ControlErrorKind, LiveSquad, MetricsSnapshot,
    Reverts, RunView, ServerControl, SquadDetail, SquadView,
};
pub use daemon_control::DaemonControl;
pub use json::{daemon_duty, daemon_json, rfc3339, trigger_json};
pub use links::PageLinks;
pub use pipeline_control::PipelineControl;
pub use readiness::{RateLimit, Readiness, RequestBudget, ServiceCheck};
pub use run::{Listeners, ServeError, Server, run};
pub use state::{ServerSettings, SlackFixPolicy, WebhookSecret};
pub use store_reads::StoreReads;
pub use transport::TransportLimits;
