//! Serving until told to stop: the webhook listener and the control listener (or one for
//! both), then on the shutdown signal stop accepting, drain in-flight requests, end the
//! event streams, and let the runtime checkpoint its work before returning.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use squadron_core::ports::Clock;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

use super::access::Guard;
use super::app::{Routes, router};
use super::control::{Reverts, ServerControl};
use super::readiness::Readiness;
use super::slack::SlackReplies;
use super::state::{AppState, ServerSettings};
use super::transport::{self, connection_budget};

/// The HTTP face of the daemon: the runtime it fronts, the clock webhooks are checked
/// against, and its settings.
#[derive(Clone)]
pub struct Server {
    control: Arc<dyn ServerControl>,
    clock: Arc<dyn Clock>,
    settings: ServerSettings,
    readiness: Readiness,
    reverts: Option<Arc<dyn Reverts>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server in front of `control`.
    pub fn new(
        control: Arc<dyn ServerControl>,
        clock: Arc<dyn Clock>,
        settings: ServerSettings,
    ) -> Self {
        Self {
            control,
            clock,
            settings,
            readiness: Readiness::new(),
            reverts: None,
        }
    }

    /// Reports `readiness` on `/readyz` and the dashboard: whoever holds a clone records
    /// what the daemon can reach.
    #[must_use]
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = readiness;
        self
    }

    /// Carries out `/squad revert` with `reverts`; without, the command answers that this
    /// server cannot revert.
    #[must_use]
    pub fn with_reverts(mut self, reverts: Arc<dyn Reverts>) -> Self {
        self.reverts = Some(reverts);
        self
    }
}

/// Why the server stopped other than by being asked to, or could not start.
#[derive(Debug, thiserror::Error)]
#[error("serve HTTP on {address}: {source}")]
pub struct ServeError {
    /// Where it listened.
    pub address: String,
    /// What failed.
    #[source]
    pub source: io::Error,
}

/// Where the server listens.
#[derive(Debug)]
pub struct Listeners {
    /// The webhooks and the health check: the listener to expose.
    pub webhooks: TcpListener,
    /// The control API, dashboard and metrics on a listener of their own; `None` serves them
    /// on `webhooks` too.
    pub control: Option<TcpListener>,
}

impl Listeners {
    /// Every route on one listener.
    pub fn shared(listener: TcpListener) -> Self {
        Self {
            webhooks: listener,
            control: None,
        }
    }

    /// Webhooks on one listener, the control routes on another.
    pub fn split(webhooks: TcpListener, control: TcpListener) -> Self {
        Self {
            webhooks,
            control: Some(control),
        }
    }
}

fn address_of(listener: &TcpListener) -> String {
    listener.local_addr().map_or_else(
        |_| "an unknown address".to_owned(),
        |addr: SocketAddr| addr.to_string(),
    )
}

/// Serves `server` on `listeners` until `shutdown` completes, then stops accepting, drains
/// in-flight requests, ends event streams and asks the runtime to checkpoint its work.
/// Returns once all of that is done.
///
/// # Errors
/// A [`ServeError`] when a listener fails or the HTTP client for Slack's response URLs
/// cannot be built.
pub async fn run(
    listeners: Listeners,
    server: Server,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let address = address_of(&listeners.webhooks);
    let control_address = listeners.control.as_ref().map(address_of);
    let slack_replies = SlackReplies::new().map_err(|source| ServeError {
        address: address.clone(),
        source,
    })?;
    let (stop, stopping) = watch::channel(false);
    let control = Arc::clone(&server.control);
    let mut limits = server.settings.transport;
    let count = if listeners.control.is_some() { 2 } else { 1 };
    limits.max_connections = connection_budget(limits.max_connections, count);
    let guard = Guard::new(
        server.settings.control.clone(),
        listeners
            .control
            .as_ref()
            .unwrap_or(&listeners.webhooks)
            .local_addr()
            .ok(),
    );
    let state = AppState {
        control: server.control,
        clock: server.clock,
        settings: Arc::new(server.settings),
        readiness: server.readiness,
        reverts: server.reverts,
        slack_replies,
        stopping: stopping.clone(),
    };
    tokio::spawn(async move {
        shutdown.await;
        info!("shutting down: no new connections; draining requests");
        // Ends the accept loops, the connections once their request is answered, and the
        // event streams, which would otherwise hold the drain open forever.
        stop.send_replace(true);
    });
    let served = match listeners.control {
        None => {
            info!(%address, "serving the webhooks, API, dashboard and metrics on one listener");
            let app = router(state, Routes::Both, &guard);
            transport::serve(listeners.webhooks, app, limits, stopping)
                .await
                .map_err(|source| ServeError {
                    address: address.clone(),
                    source,
                })
        }
        Some(control_listener) => {
            let control_address = control_address.unwrap_or_default();
            info!(
                %address,
                %control_address,
                "serving the webhooks, and the API, dashboard and metrics on the control address"
            );
            let webhooks = transport::serve(
                listeners.webhooks,
                router(state.clone(), Routes::Webhooks, &guard),
                limits,
                stopping.clone(),
            );
            let controls = transport::serve(
                control_listener,
                router(state, Routes::Control, &guard),
                limits,
                stopping,
            );
            let (webhooks, controls) = tokio::join!(webhooks, controls);
            webhooks
                .map_err(|source| ServeError {
                    address: address.clone(),
                    source,
                })
                .and(controls.map_err(|source| ServeError {
                    address: control_address,
                    source,
                }))
        }
    };
    // Checkpoint even when serving failed: in-flight squads must be recorded either way.
    info!("checkpointing in-flight work");
    control.shutdown().await;
    info!("stopped");
    served
}
