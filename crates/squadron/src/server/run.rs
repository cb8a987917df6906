//! Serving until told to stop: accept connections, then on the shutdown signal stop
//! accepting, drain in-flight requests, end the event streams, and let the runtime
//! checkpoint its work before returning.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use squadron_core::ports::Clock;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

use super::app::router;
use super::control::ServerControl;
use super::readiness::Readiness;
use super::slack::SlackReplies;
use super::state::{AppState, ServerSettings};

/// The HTTP face of the daemon: the runtime it fronts, the clock webhooks are checked
/// against, and its settings.
#[derive(Clone)]
pub struct Server {
    control: Arc<dyn ServerControl>,
    clock: Arc<dyn Clock>,
    settings: ServerSettings,
    readiness: Readiness,
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
        }
    }

    /// Reports `readiness` on `/readyz` and the dashboard: whoever holds a clone records
    /// what the daemon can reach.
    #[must_use]
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = readiness;
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

/// Serves `server` on `listener` until `shutdown` completes, then stops accepting, drains
/// in-flight requests, ends event streams and asks the runtime to checkpoint its work.
/// Returns once all of that is done.
///
/// # Errors
/// A [`ServeError`] when the listener fails or the HTTP client for Slack's response URLs
/// cannot be built.
pub async fn run(
    listener: TcpListener,
    server: Server,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let address = listener.local_addr().map_or_else(
        |_| "an unknown address".to_owned(),
        |addr: SocketAddr| addr.to_string(),
    );
    let slack_replies = SlackReplies::new().map_err(|source| ServeError {
        address: address.clone(),
        source,
    })?;
    let (stop, stopping) = watch::channel(false);
    let control = Arc::clone(&server.control);
    let app = router(AppState {
        control: server.control,
        clock: server.clock,
        settings: Arc::new(server.settings),
        readiness: server.readiness,
        slack_replies,
        stopping,
    });
    info!(%address, "serving the API, webhooks and dashboard");
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            info!("shutting down: no new connections; draining requests");
            // Ends the event streams, which would otherwise hold the drain open forever.
            stop.send_replace(true);
        })
        .await;
    // Checkpoint even when serving failed: in-flight squads must be recorded either way.
    info!("checkpointing in-flight work");
    control.shutdown().await;
    info!("stopped");
    served.map_err(|source| ServeError { address, source })
}
