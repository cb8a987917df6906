//! This daemon among the daemons sharing one store: its stable id, its registration, and
//! the heartbeat that shows it alive to the others (`squadron status`, `/api/daemons`).

use std::sync::Arc;
use std::time::Duration;

use squadron_config::Config;
use squadron_core::lease::{DaemonId, LeaseTerms};
use squadron_core::ports::Clock;
use squadron_store::{SqlStore, StoreErrorKind};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::error::{CliError, error_chain};

/// This daemon's id: `server.daemon_id`, else `<host name>:<process id>`, unique on one
/// host and stable for the process's life.
pub fn daemon_id(config: &Config) -> DaemonId {
    match &config.server.daemon_id {
        Some(id) => DaemonId::new(id.clone()),
        None => DaemonId::new(format!("{}:{}", host_name(), std::process::id())),
    }
}

/// The host's name, or `localhost` when it cannot be read.
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// How long this daemon's leases last (`server.lease_secs`) and how often it beats (every
/// third of that). Its registration uses the same terms, so a daemon shown alive holds its
/// work.
pub fn terms(config: &Config) -> LeaseTerms {
    let ttl = Duration::from_secs(config.server.lease_secs);
    // The configuration keeps the lease at 3 s or more, so a third of it is a valid beat.
    LeaseTerms::new(ttl, ttl / 3).unwrap_or_default()
}

/// This daemon's registration, kept alive by a heartbeat until [`Membership::leave`].
pub struct Membership {
    id: DaemonId,
    store: Arc<SqlStore>,
    clock: Arc<dyn Clock>,
    beating: JoinHandle<()>,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Membership {
    /// Registers this process as daemon `id` and starts its heartbeat.
    ///
    /// # Errors
    /// A configuration error when a live daemon uses `id`; a transient one when the store
    /// does not answer.
    pub async fn join(
        id: DaemonId,
        store: Arc<SqlStore>,
        clock: Arc<dyn Clock>,
        terms: LeaseTerms,
    ) -> Result<Membership, CliError> {
        let host = host_name();
        let pid = std::process::id();
        store
            .register_daemon(&id, &host, pid, clock.now(), terms.ttl())
            .await
            .map_err(|error| match error.kind() {
                StoreErrorKind::Conflict => CliError::config(format!("failed to {error}"))
                    .with_hint(
                        "set a distinct `server.daemon_id` (or SQUADRON_SERVER_DAEMON_ID) for each \
                         daemon sharing the store, or stop the other one",
                    ),
                _ => CliError::transient(format!("failed to {}", error_chain(&error))),
            })?;
        info!(daemon = %id, %host, pid, "registered with the store");
        let beating = tokio::spawn(beat(
            id.clone(),
            pid,
            Arc::clone(&store),
            Arc::clone(&clock),
            terms.heartbeat(),
        ));
        Ok(Membership {
            id,
            store,
            clock,
            beating,
        })
    }

    /// This daemon's id.
    pub fn id(&self) -> &DaemonId {
        &self.id
    }

    /// Stops the heartbeat and records that this daemon stopped, so others see it stopped
    /// rather than silent.
    pub async fn leave(self) {
        self.beating.abort();
        if let Err(error) = self
            .store
            .daemon_stopped(&self.id, std::process::id(), self.clock.now())
            .await
        {
            warn!(daemon = %self.id, error = %error_chain(&error), "could not record that this daemon stopped; others see it silent");
        }
    }
}

/// Beats every `every` until aborted. A beat the store refuses means another process took
/// this daemon's id over (it fell silent for too long): said once, loudly.
async fn beat(
    id: DaemonId,
    pid: u32,
    store: Arc<SqlStore>,
    clock: Arc<dyn Clock>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut replaced = false;
    loop {
        tick.tick().await;
        match store.daemon_heartbeat(&id, pid, clock.now()).await {
            Ok(()) => replaced = false,
            Err(error) if error.kind() == StoreErrorKind::NotFound => {
                if !replaced {
                    warn!(daemon = %id, "another process registered under this daemon's id after it fell silent; give each daemon its own `server.daemon_id`");
                }
                replaced = true;
            }
            Err(error) => {
                warn!(daemon = %id, error = %error_chain(&error), "could not record this daemon's heartbeat; retrying");
            }
        }
    }
}
