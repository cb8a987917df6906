//! Which of the daemons sharing a store runs its squads. The squad runtime of a store is held
//! by one daemon at a time through the [`LeaseSubject::Runtime`] lease; every write the
//! runtime makes for a squad carries that lease's fencing token, so a daemon that lost the
//! lease (paused, cut off) can record and perform nothing more. The other daemons serve
//! reads, refuse work with 503 naming the active one, and claim the lease every heartbeat:
//! the first to find it lapsed (or released by a SIGTERM) starts the runtime, which resumes
//! every unfinished squad from the store.

use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use squadron::server::DaemonControl;
use squadron_core::lease::{Claim, DaemonId, Lease, LeaseLost, LeaseSubject, LeaseTerms};
use squadron_core::ports::Clock;
use squadron_store::{DaemonState, SqlStore, StoreErrorKind};
use tracing::{info, warn};

use crate::error::{CliError, error_chain};
use crate::format::rfc3339;
use crate::membership::host_name;

/// This daemon's hold on its store's squad runtime.
pub struct RuntimeLease {
    daemon: DaemonId,
    /// The store as the runtime writes it: fenced by the runtime lease.
    store: SqlStore,
    clock: Arc<dyn Clock>,
    terms: LeaseTerms,
}

impl std::fmt::Debug for RuntimeLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeLease")
            .field("daemon", &self.daemon)
            .finish_non_exhaustive()
    }
}

impl RuntimeLease {
    /// The runtime lease of `store` for `daemon`, on `terms`.
    pub fn new(
        daemon: DaemonId,
        store: &SqlStore,
        clock: Arc<dyn Clock>,
        terms: LeaseTerms,
    ) -> RuntimeLease {
        RuntimeLease {
            store: store.fenced_by(daemon.clone(), LeaseSubject::Runtime),
            daemon,
            clock,
            terms,
        }
    }

    /// The store the runtime must write through: each write for a squad is refused unless
    /// this daemon holds the runtime lease.
    pub fn store(&self) -> &SqlStore {
        &self.store
    }

    /// This daemon's id.
    pub fn daemon(&self) -> &DaemonId {
        &self.daemon
    }

    /// How often the lease is claimed or renewed.
    pub fn heartbeat(&self) -> Duration {
        self.terms.heartbeat()
    }

    /// Claims the runtime once: `true` when this daemon holds it now. When another daemon
    /// holds it, tells `control` so (its 503 answers say who runs the squads).
    ///
    /// # Errors
    /// A transient error when the store does not answer.
    pub async fn try_acquire(&self, control: &DaemonControl) -> Result<bool, CliError> {
        match self.claim().await? {
            None => Ok(true),
            Some(lease) => {
                control.still_waiting(format!(
                    "standing by: {}; this one takes over if it stops",
                    held_by_whom(&lease)
                ));
                Ok(false)
            }
        }
    }

    /// Claims the runtime once: `None` when this daemon holds it now, else the lease of the
    /// daemon that does, or of a squad another daemon works while the daemons share them. Daemons and foreground runs of this host whose process is gone lose
    /// their leases first, so a restarted one need not wait for its predecessor's lease to
    /// lapse.
    ///
    /// # Errors
    /// A transient error when the store does not answer.
    pub async fn claim(&self) -> Result<Option<Lease>, CliError> {
        self.end_dead_daemons_of_this_host().await;
        let claim = self
            .store
            .claim_lease(&LeaseSubject::Runtime, self.clock.now(), self.terms)
            .await
            .map_err(|error| CliError::transient(format!("failed to {}", error_chain(&error))))?;
        match claim {
            Claim::Granted { lease, from } => {
                info!(daemon = %self.daemon, token = lease.token.get(), from = from.as_ref().map(DaemonId::as_str), "this daemon runs the squads of the store");
                Ok(None)
            }
            Claim::Renewed(_) => Ok(None),
            Claim::Held(lease) => Ok(Some(lease)),
        }
    }

    /// Claims the runtime every heartbeat until this daemon holds it.
    pub async fn stand_by(&self, control: &DaemonControl) {
        loop {
            tokio::time::sleep(self.heartbeat()).await;
            match self.try_acquire(control).await {
                Ok(true) => return,
                Ok(false) => {}
                Err(error) => {
                    warn!(error = %error.message(), "could not claim the squad runtime; trying again");
                }
            }
        }
    }

    /// Renews the lease every heartbeat for as long as this daemon holds it; returns why it
    /// was lost. A lease that lapsed (a slow store, a long pause) while no other daemon
    /// claimed it is claimed again, with a new token.
    pub async fn keep(&self) -> LeaseLost {
        loop {
            tokio::time::sleep(self.heartbeat()).await;
            let renewed = self
                .store
                .renew_lease(&LeaseSubject::Runtime, self.clock.now(), self.terms)
                .await;
            let Err(error) = renewed else { continue };
            if error.kind() != StoreErrorKind::Fenced {
                warn!(error = %error_chain(&error), "could not renew the squad runtime's lease; trying again");
                continue;
            }
            match self
                .store
                .claim_lease(&LeaseSubject::Runtime, self.clock.now(), self.terms)
                .await
            {
                Ok(Claim::Held(lease)) => {
                    return LeaseLost::Superseded {
                        subject: LeaseSubject::Runtime,
                        holder: lease.holder,
                        token: lease.token,
                    };
                }
                Ok(_) => {
                    warn!(daemon = %self.daemon, "the squad runtime's lease lapsed but no other daemon took it; claimed it again");
                }
                Err(error) => {
                    warn!(error = %error_chain(&error), "could not claim the squad runtime again; trying again");
                }
            }
        }
    }

    /// Hands the runtime over: releases the lease so a standby daemon starts at its next
    /// heartbeat rather than after the lease lapses. Called once the runtime checkpointed.
    pub async fn release(&self) {
        if let Err(error) = self
            .store
            .release_lease(&LeaseSubject::Runtime, self.clock.now())
            .await
        {
            warn!(error = %error_chain(&error), "could not release the squad runtime; a standby takes over once its lease lapses");
        }
    }

    /// Ends the leases of daemons registered on this host whose process is gone (killed, or
    /// crashed), and of a foreground run of this host that is gone: nobody else can tell they
    /// are dead before their leases lapse.
    async fn end_dead_daemons_of_this_host(&self) {
        let host = host_name();
        let now = self.clock.now();
        if let Ok(Some(lease)) = self.store.lease(&LeaseSubject::Runtime).await
            && lease.is_live(now)
            && let Some(pid) = foreground_pid(&lease.holder, &host)
            && !process_alive(pid)
        {
            info!(holder = %lease.holder, pid, "a foreground run of this host is gone: ending its lease");
            let _ = self.store.end_leases_of(&lease.holder, now).await;
        }
        let Ok(daemons) = self.store.daemons().await else {
            return;
        };
        for daemon in daemons {
            if daemon.host != host
                || daemon.id == self.daemon && daemon.pid == std::process::id()
                || daemon.state(now) == DaemonState::Stopped
                || process_alive(daemon.pid)
            {
                continue;
            }
            info!(daemon = %daemon.id, pid = daemon.pid, "a daemon of this host is gone: ending its leases");
            let _ = self.store.daemon_stopped(&daemon.id, daemon.pid, now).await;
            let _ = self.store.end_leases_of(&daemon.id, now).await;
        }
    }
}

/// The id under which a foreground `squadron run` or `fix` of this process holds the runtime:
/// never a daemon's (a configured `server.daemon_id` names a `serve`, whose lease a run must
/// not renew as its own), and telling the host and process so that a dead run's lease can be
/// ended by the next process of its host.
pub fn foreground_id() -> DaemonId {
    DaemonId::new(format!(
        "{FOREGROUND}{}:{}",
        host_name(),
        std::process::id()
    ))
}

const FOREGROUND: &str = "squadron-run@";

/// The process of a foreground run's id on `host`.
fn foreground_pid(holder: &DaemonId, host: &str) -> Option<u32> {
    let (on, pid) = holder.as_str().strip_prefix(FOREGROUND)?.rsplit_once(':')?;
    (on == host).then(|| pid.parse().ok()).flatten()
}

/// Whether a process with `pid` runs on this host (one of another user counts as running).
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
}

/// Who keeps this daemon from running the squads, as `lease` (from
/// [`RuntimeLease::claim`]) says: the daemon that runs them, or one that works squads the
/// daemons share.
pub fn held_by_whom(lease: &Lease) -> String {
    match &lease.subject {
        LeaseSubject::Squad(squad) => format!(
            "daemon `{}` works squads of this store, which the daemons share (squad {squad} \
             until {} at least)",
            lease.holder,
            rfc3339(lease.expires_at)
        ),
        _ => format!(
            "daemon `{}` runs the squads of this store (its lease runs until {})",
            lease.holder,
            rfc3339(lease.expires_at)
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use squadron_core::Timestamp;
    use squadron_core::lease::FencingToken;
    use squadron_store::StoreLocation;

    use super::*;

    /// The time the leases are judged by, moved by the test alone.
    struct ManualClock(AtomicI64);

    impl ManualClock {
        fn advance(&self, by: Duration) {
            let millis = i64::try_from(by.as_millis()).expect("a short step");
            self.0.fetch_add(millis, Ordering::SeqCst);
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Timestamp {
            Timestamp::from_millis(self.0.load(Ordering::SeqCst))
        }
    }

    /// Waits, a heartbeat at a time, until the runtime lease satisfies `wanted`.
    async fn lease_until(store: &SqlStore, wanted: impl Fn(&Lease) -> bool) -> Lease {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(lease) = store
                    .lease(&LeaseSubject::Runtime)
                    .await
                    .expect("read the lease")
                    && wanted(&lease)
                {
                    return lease;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the lease changes within a few heartbeats")
    }

    #[tokio::test]
    async fn the_heartbeat_keeps_the_runtime_until_a_pause_past_the_lease_lets_another_take_it() {
        let dir = tempfile::tempdir().expect("a directory");
        let store = SqlStore::open(&StoreLocation::Sqlite(dir.path().join("store.db")))
            .await
            .expect("open a store");
        let clock = Arc::new(ManualClock(AtomicI64::new(1_700_000_000_000)));
        // The 30 s lease is judged by the injected clock alone; the short heartbeat only
        // paces the loop.
        let ttl = Duration::from_secs(30);
        let terms = LeaseTerms::new(ttl, Duration::from_millis(20)).expect("valid terms");
        let a = Arc::new(RuntimeLease::new(
            DaemonId::new("replica-a"),
            &store,
            Arc::clone(&clock) as Arc<dyn Clock>,
            terms,
        ));
        let b = RuntimeLease::new(
            DaemonId::new("replica-b"),
            &store,
            Arc::clone(&clock) as Arc<dyn Clock>,
            terms,
        );
        assert!(
            a.claim().await.expect("claim").is_none(),
            "a runs the squads"
        );
        let held = b
            .claim()
            .await
            .expect("claim")
            .expect("a holds the runtime");
        assert_eq!(held.holder.as_str(), "replica-a");

        // While a beats, time passing is no lapse: every heartbeat pushes the expiry on.
        let keeping = tokio::spawn({
            let a = Arc::clone(&a);
            async move { a.keep().await }
        });
        for _ in 0..4 {
            clock.advance(Duration::from_secs(20));
            let now = clock.now();
            let renewed = lease_until(&store, |lease| lease.expires_at.since(now) > ttl / 2).await;
            assert_eq!(renewed.holder.as_str(), "replica-a");
            assert_eq!(
                renewed.token,
                FencingToken::new(1),
                "renewals keep the token"
            );
            assert!(b.claim().await.expect("claim").is_some(), "b stands by");
        }

        // Paused: a beats no more. Within the lease b still waits; past it, b takes over
        // with the next token.
        keeping.abort();
        let _ = keeping.await;
        clock.advance(ttl - Duration::from_secs(1));
        assert!(b.claim().await.expect("claim").is_some(), "not lapsed yet");
        clock.advance(Duration::from_secs(2));
        assert!(
            b.claim().await.expect("claim").is_none(),
            "b runs the squads"
        );

        // Woken, a learns at its next heartbeat that it lost the store, and its fenced
        // writes are refused.
        let lost = tokio::time::timeout(Duration::from_secs(10), a.keep())
            .await
            .expect("a notices within a heartbeat");
        assert_eq!(
            lost,
            LeaseLost::Superseded {
                subject: LeaseSubject::Runtime,
                holder: DaemonId::new("replica-b"),
                token: FencingToken::new(2),
            }
        );
        let refused = a
            .store()
            .renew_lease(&LeaseSubject::Runtime, clock.now(), terms)
            .await
            .expect_err("a holds nothing any more");
        assert!(
            matches!(
                refused.kind(),
                StoreErrorKind::Fenced | StoreErrorKind::Invalid
            ),
            "{refused}"
        );
    }

    #[test]
    fn a_foreground_run_is_known_by_its_host_and_process() {
        let id = foreground_id();
        let host = host_name();
        assert_eq!(foreground_pid(&id, &host), Some(std::process::id()));
        assert_eq!(foreground_pid(&id, "another-host"), None);
        assert_eq!(
            foreground_pid(&DaemonId::new(format!("{host}:42")), &host),
            None
        );
        assert_eq!(
            foreground_pid(&DaemonId::new("squadron-run@h:1:x"), "h:1"),
            None
        );
    }
}
