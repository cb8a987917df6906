//! The read side of [`ServerControl`](super::ServerControl) answered from the SQL store:
//! runs, squads with their usage, the health check, and the history `/metrics` needs.
//!
//! The store, not the runtime's in-memory view, is the source of truth: it also knows the
//! runs of earlier daemon lifetimes and answers the same whether or not the runtime runs.
//! Only what the store cannot know (which agent is in a turn, what an approved squad waits
//! for) is added from the runtime's live view, once it runs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use squadron_core::delivery::{DeliveryReport, Period};
use squadron_core::lease::{DaemonId, LeaseSubject};
use squadron_core::merge_queue::MergeLane;
use squadron_core::ports::{SpendScope, StoppedLane, UsageTotals};
use squadron_core::{Phase, Role, RunId, SquadId, Timestamp};
use squadron_pipeline::Progress;

use crate::delivery::FactsCache;

use crate::labels::gate_hold;
use squadron_store::{SqlStore, StoreError, StoreErrorKind};
use tokio::sync::watch;

use super::control::{
    ClusterView, ControlError, ControlErrorKind, LiveSquad, MetricsSnapshot, RunView, SquadDetail,
    SquadView,
};

/// Answers the server's reads from a [`SqlStore`].
#[derive(Debug)]
pub struct StoreReads {
    store: Arc<SqlStore>,
    /// Every squad's delivery facts, read again only when the squad changed.
    facts: FactsCache,
    /// Where each Linear team's code lives (`owner/name`), for metrics per repository.
    repositories: Mutex<BTreeMap<String, String>>,
    /// The runtime's live view, once it runs.
    live: Mutex<Option<watch::Receiver<Progress>>>,
}

impl StoreReads {
    /// Reads from `store`.
    pub fn new(store: Arc<SqlStore>) -> Self {
        Self {
            store,
            facts: FactsCache::default(),
            repositories: Mutex::new(BTreeMap::new()),
            live: Mutex::new(None),
        }
    }

    /// Names the repository of each Linear team (by team key), so delivery metrics are
    /// also given per repository.
    pub fn know_repositories(&self, repositories: BTreeMap<String, String>) {
        *self
            .repositories
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = repositories;
    }

    /// Adds what the runtime behind `progress` knows to every squad read from now on.
    pub fn follow_runtime(&self, progress: watch::Receiver<Progress>) {
        *self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(progress);
    }

    /// A squad as read from the store, with what the runtime knows of it when it runs it.
    fn view(&self, overview: squadron_store::SquadOverview) -> SquadView {
        let live = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .and_then(|progress| {
                let progress = progress.borrow();
                let squad = progress
                    .squads
                    .iter()
                    .find(|squad| squad.squad == overview.record.squad.id)?;
                Some(LiveSquad {
                    title: squad.title.clone(),
                    at_work: squad.at_work.clone(),
                    waiting: squad.waiting.clone(),
                })
            });
        SquadView {
            record: overview.record,
            usage: overview.usage,
            live,
            gate_hold: None,
        }
    }

    /// Adds to every approved squad no runtime here runs why the merge gate holds it, from
    /// its event log (a failed read leaves it out: the phase still shows).
    async fn with_gate_holds(&self, mut views: Vec<SquadView>) -> Vec<SquadView> {
        for view in &mut views {
            if view.live.is_none() && view.record.squad.phase == Phase::Approved {
                let events = self.store.events(&view.record.squad.id).await;
                view.gate_hold = events.ok().and_then(|events| gate_hold(&events));
            }
        }
        views
    }

    /// The daemons registered with the store, by id, and the lease of the one that runs
    /// the squads; `this` is the daemon answering.
    pub async fn cluster(&self, this: Option<DaemonId>) -> Result<ClusterView, ControlError> {
        let leases = self.store.leases().await.map_err(control_error)?;
        Ok(ClusterView {
            this,
            daemons: self.store.daemons().await.map_err(control_error)?,
            runtime: leases
                .iter()
                .find(|lease| lease.subject == LeaseSubject::Runtime)
                .cloned(),
            leases,
        })
    }

    /// The stopped merge lanes.
    pub async fn lane_stops(&self) -> Result<Vec<StoppedLane>, ControlError> {
        self.store.lane_stops().await.map_err(control_error)
    }

    /// Opens `lane`, returning what had stopped it.
    pub async fn resume_lane(&self, lane: &MergeLane) -> Result<StoppedLane, ControlError> {
        let stopped = self
            .lane_stops()
            .await?
            .into_iter()
            .find(|stopped| stopped.stop.lane == *lane)
            .ok_or_else(|| {
                ControlError::new(
                    ControlErrorKind::NotFound,
                    format!("resume the merge lane {lane}: it is not stopped"),
                )
            })?;
        self.store.resume_lane(lane).await.map_err(control_error)?;
        Ok(stopped)
    }

    /// One run and its squads.
    pub async fn run(&self, id: &RunId) -> Result<RunView, ControlError> {
        let run = self.store.run(id).await.map_err(control_error)?;
        let squads = self
            .store
            .squad_overviews(Some(id))
            .await
            .map_err(control_error)?;
        let squads = squads.into_iter().map(|squad| self.view(squad)).collect();
        Ok(RunView {
            run,
            squads: self.with_gate_holds(squads).await,
        })
    }

    /// Every squad, newest run first.
    pub async fn squads(&self) -> Result<Vec<SquadView>, ControlError> {
        let squads = self
            .store
            .squad_overviews(None)
            .await
            .map_err(control_error)?;
        let squads = squads.into_iter().map(|squad| self.view(squad)).collect();
        Ok(self.with_gate_holds(squads).await)
    }

    /// Every run with its squads, newest first.
    pub async fn runs(&self) -> Result<Vec<RunView>, ControlError> {
        let mut runs = self.store.runs().await.map_err(control_error)?;
        runs.sort_by_key(|record| std::cmp::Reverse(record.run.created_at));
        let squads = self
            .store
            .squad_overviews(None)
            .await
            .map_err(control_error)?;
        let mut views = Vec::with_capacity(runs.len());
        for run in runs {
            let of_run = squads
                .iter()
                .filter(|overview| overview.record.squad.run_id == run.run.id)
                .cloned()
                .map(|squad| self.view(squad))
                .collect();
            views.push(RunView {
                squads: self.with_gate_holds(of_run).await,
                run,
            });
        }
        Ok(views)
    }

    /// One squad with everything its page shows.
    pub async fn squad_detail(&self, id: &SquadId) -> Result<SquadDetail, ControlError> {
        let squad = self.squad(id).await?;
        let run = self.store.run(&squad.record.squad.run_id).await.ok();
        let events = self.store.events(id).await.map_err(control_error)?;
        let transcript = self
            .store
            .transcript(id, None)
            .await
            .map_err(control_error)?;
        let usage_by_role = self
            .store
            .usage_by_role(&SpendScope::Squad(id.clone()))
            .await
            .map_err(control_error)?;
        let side_effects = self
            .store
            .journal_entries(id)
            .await
            .map_err(control_error)?;
        Ok(SquadDetail {
            squad,
            run,
            events,
            transcript,
            usage_by_role,
            side_effects,
        })
    }

    /// One squad with its usage.
    pub async fn squad(&self, id: &SquadId) -> Result<SquadView, ControlError> {
        let record = self.store.squad(id).await.map_err(control_error)?;
        let usage = self
            .store
            .usage_totals(&SpendScope::Squad(id.clone()))
            .await
            .map_err(control_error)?;
        Ok(self.view(squadron_store::SquadOverview { record, usage }))
    }

    /// Whether the store answers a query.
    pub async fn health(&self) -> Result<(), ControlError> {
        // A keyed lookup of a key never written: one cheap indexed query on any backend,
        // which proves the database is reachable and its schema in place.
        self.store
            .journal_entry("squadron/healthz")
            .await
            .map(|_| ())
            .map_err(control_error)
    }

    /// Usage per role over every run, and the delivery report of the whole history up to
    /// `now`.
    pub async fn metrics(&self, now: Timestamp) -> Result<MetricsSnapshot, ControlError> {
        let mut per_role: Vec<(Role, UsageTotals)> = Vec::new();
        for record in self.store.runs().await.map_err(control_error)? {
            let scope = SpendScope::Run(record.run.id);
            for (role, totals) in self
                .store
                .usage_by_role(&scope)
                .await
                .map_err(control_error)?
            {
                match per_role.iter_mut().find(|(known, _)| *known == role) {
                    Some((_, sum)) => add(sum, &totals),
                    None => per_role.push((role, totals)),
                }
            }
        }
        per_role.sort_by_key(|(role, _)| *role);
        let repositories = self
            .repositories
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let facts = self
            .facts
            .read(&self.store, None, &repositories)
            .await
            .map_err(control_error)?;
        Ok(MetricsSnapshot {
            usage_by_role: per_role,
            delivery: DeliveryReport::compute(
                &facts,
                Period {
                    from: None,
                    to: now,
                },
            ),
        })
    }
}

fn add(sum: &mut UsageTotals, more: &UsageTotals) {
    sum.calls += more.calls;
    sum.usage += more.usage;
    sum.cost += more.cost;
}

/// A store failure in the server's terms.
pub(crate) fn control_error(error: StoreError) -> ControlError {
    let kind = match error.kind() {
        StoreErrorKind::NotFound => ControlErrorKind::NotFound,
        StoreErrorKind::Invalid => ControlErrorKind::Invalid,
        StoreErrorKind::Open | StoreErrorKind::Unavailable => ControlErrorKind::Unavailable,
        StoreErrorKind::Conflict
        | StoreErrorKind::Fenced
        | StoreErrorKind::Corrupt
        | StoreErrorKind::Database => ControlErrorKind::Internal,
    };
    ControlError::new(kind, error.to_string())
}
