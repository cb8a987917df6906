//! The daemon's HTTP server: the JSON API, server-sent events, the Linear and GitHub
//! webhooks, Slack's `/squad` command, Prometheus metrics, the health check and the
//! dashboard, all in front of a [`ServerControl`].

mod api;
mod app;
pub mod control;
mod error;
mod events;
mod json;
mod metrics;
mod pipeline_control;
mod run;
mod slack;
mod state;
mod store_reads;
mod webhooks;

pub use control::{
    CancelOutcome, ControlError, ControlErrorKind, MetricsSnapshot, ReevaluateTarget, RunView,
    ServerControl, SquadView,
};
pub use pipeline_control::PipelineControl;
pub use run::{ServeError, Server, run};
pub use state::{ServerSettings, WebhookSecret};
pub use store_reads::StoreReads;
