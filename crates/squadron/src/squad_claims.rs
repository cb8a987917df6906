//! The squads this daemon works when the daemons sharing a store share its squads
//! (`server.share_squads`). Every heartbeat it renews everything it holds in one statement,
//! lets its runtime go of the squads another daemon took over (paused or cut off past their
//! lease, it records and performs nothing more for them: every write carries the squad's
//! fencing token), lets go of the leases of squads that ended a while ago, and claims free
//! squads up to its share of `limits.concurrency`, which holds for the daemons together. A
//! daemon that stops hands everything over once its runtime checkpointed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use squadron_core::SquadId;
use squadron_core::lease::{DaemonId, LeaseSubject, LeaseTerms};
use squadron_core::ports::Clock;
use squadron_pipeline::PipelineHandle;
use squadron_store::{ClaimLimits, DaemonState, SqlStore, StoreError};
use tracing::{info, warn};

use crate::error::error_chain;

/// How many heartbeats a squad's lease is kept after the squad ended, so that its clean-up
/// and its last chat posts, written under the lease, are still admitted.
const KEPT_AFTER_END: u32 = 10;

/// This daemon's claims on the squads of its store.
pub struct SquadClaims {
    daemon: DaemonId,
    /// The store as the runtime writes it: each squad fenced by its own lease.
    store: SqlStore,
    clock: Arc<dyn Clock>,
    terms: LeaseTerms,
    /// `limits.concurrency`: squads held at once by every daemon together.
    concurrency: usize,
    /// Squads seen ended and still in the runtime's view, with the heartbeats since.
    ended: Mutex<BTreeMap<SquadId, u32>>,
}

impl std::fmt::Debug for SquadClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SquadClaims")
            .field("daemon", &self.daemon)
            .finish_non_exhaustive()
    }
}

impl SquadClaims {
    /// The claims of `daemon` on the squads of `store`, on `terms`, in a cluster running at
    /// most `concurrency` squads at once.
    pub fn new(
        daemon: DaemonId,
        store: &SqlStore,
        clock: Arc<dyn Clock>,
        terms: LeaseTerms,
        concurrency: usize,
    ) -> SquadClaims {
        SquadClaims {
            store: store.for_daemon(daemon.clone()),
            daemon,
            clock,
            terms,
            concurrency: concurrency.max(1),
            ended: Mutex::new(BTreeMap::new()),
        }
    }

    /// The store the runtime must write through: a write for a squad is refused unless this
    /// daemon holds the squad's lease.
    pub fn store(&self) -> &SqlStore {
        &self.store
    }

    /// Beats every heartbeat for as long as the runtime behind `handle` runs.
    pub async fn keep(&self, handle: PipelineHandle) {
        loop {
            if let Err(error) = self.beat(&handle).await {
                warn!(error = %error_chain(&error), "could not renew or claim squads; trying again at the next heartbeat");
            }
            tokio::time::sleep(self.terms.heartbeat()).await;
        }
    }

    /// One heartbeat: renew, let go of what was lost or ended a while ago, claim this
    /// daemon's share of the free squads and hand them to the runtime.
    ///
    /// # Errors
    /// When the store does not answer.
    pub async fn beat(&self, handle: &PipelineHandle) -> Result<(), StoreError> {
        let lost: Vec<SquadId> = self
            .store
            .renew_held(self.clock.now(), self.terms)
            .await?
            .into_iter()
            .filter_map(|subject| match subject {
                LeaseSubject::Squad(squad) => Some(squad),
                _ => None,
            })
            .collect();
        if !lost.is_empty() {
            warn!(daemon = %self.daemon, squads = ?lost, "other daemons took over squads of this one");
            // A runtime that stopped has nothing to let go of.
            let _ = handle.let_go(lost).await;
            // Paused or cut off past its leases: the merges that held its lanes may have
            // been stopped with the squads, so the lanes go too (a merge still running
            // takes its lane again before it merges).
            self.store.release_merge_lanes(self.clock.now()).await?;
        }
        let working = self.release_long_ended(handle).await?;
        let limits = ClaimLimits {
            daemon: self.share().await?.saturating_sub(working),
            cluster: self.concurrency,
        };
        let claimed: Vec<SquadId> = self
            .store
            .claim_squads(self.clock.now(), self.terms, limits)
            .await?
            .into_iter()
            .map(|record| record.squad.id)
            .collect();
        if !claimed.is_empty() {
            info!(daemon = %self.daemon, squads = ?claimed, "claimed squads");
            if let Err(error) = handle.adopt(claimed.clone()).await {
                // Not worked here after all: another daemon may take them at once.
                warn!(%error, "could not take the claimed squads over; handing them back");
                for squad in claimed {
                    self.store
                        .release_lease(&LeaseSubject::Squad(squad), self.clock.now())
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Releases the leases of squads that ended [`KEPT_AFTER_END`] heartbeats ago; returns
    /// how many unfinished squads the runtime works.
    async fn release_long_ended(&self, handle: &PipelineHandle) -> Result<usize, StoreError> {
        let progress = handle.snapshot();
        let mut working = 0;
        let mut release = Vec::new();
        {
            let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
            // A squad the runtime no longer shows is nothing to count for.
            let shown: BTreeSet<&SquadId> =
                progress.squads.iter().map(|squad| &squad.squad).collect();
            ended.retain(|id, _| shown.contains(id));
            for squad in &progress.squads {
                if !squad.phase.is_terminal() {
                    working += 1;
                    continue;
                }
                let beats = ended.entry(squad.squad.clone()).or_insert(0);
                *beats += 1;
                if *beats == KEPT_AFTER_END {
                    release.push(squad.squad.clone());
                }
            }
        }
        for squad in release {
            self.store
                .release_lease(&LeaseSubject::Squad(squad), self.clock.now())
                .await?;
        }
        Ok(working)
    }

    /// How many squads this daemon may work: `limits.concurrency` shared evenly among the
    /// daemons running now, rounded up.
    async fn share(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let running = self
            .store
            .daemons()
            .await?
            .iter()
            .filter(|daemon| daemon.state(now) == DaemonState::Running)
            .count()
            .max(1);
        Ok(self.concurrency.div_ceil(running))
    }

    /// Hands every squad over: called once the runtime checkpointed, so another daemon
    /// claims them at its next heartbeat rather than after their leases lapse.
    pub async fn release(&self) {
        if let Err(error) = self.store.release_held(self.clock.now()).await {
            warn!(error = %error_chain(&error), "could not hand the squads over; other daemons take them once their leases lapse");
        }
    }

    /// This daemon's id.
    pub fn daemon(&self) -> &DaemonId {
        &self.daemon
    }
}
