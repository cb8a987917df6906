//! Leases in the store: which daemon holds which unit of work, and the fencing that keeps a
//! daemon that lost its lease from writing.
//!
//! The rules are the core's ([`Lease::claim`], [`Lease::renew`], [`Lease::release`]); this
//! module reads the stored lease, asks the core, and writes the answer back only if the row is
//! still what it read (a compare-and-set on holder, token and expiry), so of two daemons
//! claiming one subject at once exactly one wins. Claiming squads in bulk takes turns across
//! daemons (so the cluster's concurrency holds), claims only squads whose blockers ended, and
//! locks the candidates with `FOR UPDATE SKIP LOCKED` on PostgreSQL. A daemon's heartbeat
//! renews everything it holds in one statement ([`SqlStore::renew_held`]), and a stopping
//! daemon releases everything in one ([`SqlStore::release_held`]).
//!
//! A store handle made with [`SqlStore::for_daemon`] remembers the tokens its daemon holds.
//! Every write it makes for a squad (phase changes, bookkeeping, events, transcript
//! messages, journaled side effects) carries the squad's token, and the write's own statement
//! checks it against the lease row, so a write after a takeover or a lapse changes nothing
//! and fails as [`StoreErrorKind::Fenced`]. Each event and side effect records who wrote it
//! with which token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use squadron_core::lease::{Claim, DaemonId, FencingToken, Lease, LeaseSubject, LeaseTerms};
use squadron_core::merge_queue::MergeLane;
use squadron_core::ports::SquadRecord;
use squadron_core::{RunId, SquadId, Timestamp};

use crate::codec::{column, count, stored_count, timestamp};
use crate::error::{StoreError, StoreErrorKind};
use crate::squads::{squad_not_found, terminal_phase_names};
use crate::store::SqlStore;

/// How often a claim, renewal or release re-reads a lease that changed under it before
/// giving up. Each round needs another daemon to write the row in between.
const CAS_ROUNDS: usize = 3;

const LEASE_COLUMNS: &str = "subject, holder, token, expires_at";

/// The tokens one daemon holds, shared by every clone of its store handle.
#[derive(Debug)]
pub(crate) struct FenceBook {
    holder: DaemonId,
    /// The one lease every write is fenced by, when the daemon works the whole store under
    /// one lease ([`LeaseSubject::Runtime`]) rather than each squad under its own.
    scope: Option<LeaseSubject>,
    tokens: Mutex<HashMap<String, FencingToken>>,
}

impl FenceBook {
    fn token(&self, subject: &LeaseSubject) -> Option<FencingToken> {
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&subject.key())
            .copied()
    }

    fn hold(&self, lease: &Lease) {
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(lease.subject.key(), lease.token);
    }

    fn forget(&self, subject: &LeaseSubject) {
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&subject.key());
    }

    /// Every subject held, with its token, by key.
    fn held(&self) -> Vec<(String, FencingToken)> {
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(key, token)| (key.clone(), *token))
            .collect()
    }

    /// Forgets `token` of `subject` if it is still the one held: a refused write that
    /// carried it must not forget a newer token claimed in the meantime.
    fn forget_token(&self, subject: &LeaseSubject, token: FencingToken) {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if tokens.get(&subject.key()) == Some(&token) {
            tokens.remove(&subject.key());
        }
    }
}

/// What one fenced write checks, inside its own statement: the lease on `subject` is held
/// by `holder` with `token` (no newer claim superseded it).
#[derive(Clone, Debug)]
pub(crate) struct Fence {
    pub(crate) subject: LeaseSubject,
    pub(crate) holder: String,
    pub(crate) token: i64,
    /// `FOR SHARE` on PostgreSQL: the lease row stays locked until the write commits, so a
    /// takeover waits for it instead of slipping in between the check and the write.
    lock: &'static str,
}

impl Fence {
    /// ` AND EXISTS (…)` checking the lease of `fence`, with its three parameters numbered
    /// from `first`, or nothing without a fence; bind them with [`Fence::bind`].
    pub(crate) fn condition(fence: Option<&Fence>, first: usize) -> String {
        let Some(fence) = fence else {
            return String::new();
        };
        format!(
            " AND EXISTS (SELECT 1 FROM leases WHERE subject = ${} AND holder = ${} \
             AND token = ${}{})",
            first,
            first + 1,
            first + 2,
            fence.lock
        )
    }

    /// Binds the parameters of [`Fence::condition`] of `fence`, in order.
    pub(crate) fn bind<'q>(
        fence: Option<&Fence>,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        match fence {
            Some(fence) => query
                .bind(fence.subject.key())
                .bind(fence.holder.clone())
                .bind(fence.token),
            None => query,
        }
    }
}

/// Who wrote one event of a squad's log, under which lease token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventWriter {
    /// The event's position in the log.
    pub seq: u64,
    /// When it was written.
    pub at: Timestamp,
    /// The daemon that wrote it under a lease, `None` for a store used without leases.
    pub holder: Option<DaemonId>,
    /// The token it carried.
    pub token: Option<FencingToken>,
}

impl SqlStore {
    /// A handle on the same database for the daemon `holder`: it claims leases in that name
    /// and fences every write for a squad with the squad's token, refusing writes for squads
    /// it does not hold. Clones of the returned handle share the tokens it holds.
    pub fn for_daemon(&self, holder: DaemonId) -> SqlStore {
        self.with_book(holder, None)
    }

    /// A handle on the same database for the daemon `holder` whose every write for a squad
    /// (or a run's squads) is fenced by its one lease on `scope`, e.g.
    /// [`LeaseSubject::Runtime`] for the daemon that runs every squad of the store while
    /// others stand by.
    pub fn fenced_by(&self, holder: DaemonId, scope: LeaseSubject) -> SqlStore {
        self.with_book(holder, Some(scope))
    }

    fn with_book(&self, holder: DaemonId, scope: Option<LeaseSubject>) -> SqlStore {
        let mut store = self.clone();
        store.fences = Some(Arc::new(FenceBook {
            holder,
            scope,
            tokens: Mutex::new(HashMap::new()),
        }));
        store
    }

    /// Whether this handle fences each squad by the squad's own lease
    /// ([`SqlStore::for_daemon`]): its daemon works the squads it claims, sharing the
    /// store's squads with the other daemons.
    pub fn fences_each_squad(&self) -> bool {
        self.fences
            .as_ref()
            .is_some_and(|book| book.scope.is_none())
    }

    /// The daemon this handle writes for, if it was made with [`SqlStore::for_daemon`].
    pub fn daemon(&self) -> Option<&DaemonId> {
        self.fences.as_ref().map(|book| &book.holder)
    }

    /// The fence a write for `subject` must pass: `None` for a handle without a daemon (one
    /// process, no leases).
    ///
    /// # Errors
    /// [`StoreErrorKind::Fenced`] when the daemon holds no lease on `subject`.
    pub(crate) fn fence(&self, subject: &LeaseSubject) -> Result<Option<Fence>, StoreError> {
        let Some(book) = &self.fences else {
            return Ok(None);
        };
        let subject = book.scope.as_ref().unwrap_or(subject);
        let token = book.token(subject).ok_or_else(|| {
            StoreError::new(
                StoreErrorKind::Fenced,
                format!(
                    "write for {subject}: daemon `{}` holds no lease on it",
                    book.holder
                ),
            )
        })?;
        Ok(Some(Fence {
            subject: subject.clone(),
            holder: book.holder.as_str().to_owned(),
            token: stored_count(token.get(), "fencing token")?,
            lock: if self.is_postgres() { " FOR SHARE" } else { "" },
        }))
    }

    /// Why a write that `fence` guarded changed nothing, when the lease is the reason:
    /// [`StoreErrorKind::Fenced`] saying who holds it now. `None` when the lease would admit
    /// the write (something else refused it), and the daemon forgets a lost token.
    pub(crate) async fn fence_refusal(
        &self,
        fence: &Fence,
    ) -> Result<Option<StoreError>, StoreError> {
        let holder = DaemonId::new(fence.holder.clone());
        let token = FencingToken::new(u64::try_from(fence.token).unwrap_or_default());
        let refusal = match self.lease(&fence.subject).await? {
            None => Some(format!("{} was never leased", fence.subject)),
            Some(lease) => lease
                .admits(&holder, token)
                .err()
                .map(|lost| lost.to_string()),
        };
        Ok(refusal.map(|reason| {
            if let Some(book) = &self.fences {
                book.forget_token(&fence.subject, token);
            }
            StoreError::new(
                StoreErrorKind::Fenced,
                format!(
                    "write for {} as `{holder}` with token {token}: {reason}",
                    fence.subject
                ),
            )
        }))
    }

    /// Claims the intake of `run` at `at` for a daemon whose writes are fenced squad by
    /// squad and who does not hold it yet, so that an admission is fenced like every other
    /// write; returns whether it was claimed here (the caller releases it once the admission
    /// is recorded). A handle without a daemon, or fenced by one lease for everything,
    /// claims nothing. A run's intake held by another daemon is left to it: the admission
    /// is then refused as fenced.
    pub(crate) async fn claim_intake(
        &self,
        run: &RunId,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let Some(book) = &self.fences else {
            return Ok(false);
        };
        let subject = LeaseSubject::Intake(run.clone());
        if book.scope.is_some() || book.token(&subject).is_some() {
            return Ok(false);
        }
        let claim = self
            .claim_lease(&subject, at, LeaseTerms::default())
            .await?;
        Ok(claim.held_by_claimant().is_some())
    }

    /// Takes the merge lane `lane` at `at` for this handle's daemon (claimed, or renewed
    /// when it holds it): `None` when the daemon holds it now, else the lease of the daemon
    /// that does. A handle without a daemon, or fenced by the store's runtime lease, works
    /// the store alone and takes nothing. Held by the daemon's heartbeat like its squads
    /// ([`SqlStore::renew_held`]).
    pub async fn take_merge_lane(
        &self,
        lane: &MergeLane,
        at: Timestamp,
    ) -> Result<Option<Lease>, StoreError> {
        if !self.fences_each_squad() {
            return Ok(None);
        }
        let claim = self
            .claim_lease(&lane_subject(lane), at, LeaseTerms::default())
            .await?;
        Ok(match claim {
            Claim::Held(lease) => Some(lease),
            Claim::Granted { .. } | Claim::Renewed(_) => None,
        })
    }

    /// Releases the merge lane `lane` if this handle's daemon holds it.
    pub async fn release_merge_lane(
        &self,
        lane: &MergeLane,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        if !self.fences_each_squad() {
            return Ok(());
        }
        self.release_lease(&lane_subject(lane), at).await
    }

    /// Releases every merge lane this handle's daemon holds: a daemon that lost squads
    /// (paused or cut off past its leases) lets its lanes go too, since the steps that held
    /// them were stopped; a merge still running takes its lane again before it merges.
    pub async fn release_merge_lanes(&self, at: Timestamp) -> Result<(), StoreError> {
        let Some(book) = &self.fences else {
            return Ok(());
        };
        let lanes: Vec<LeaseSubject> = book
            .held()
            .into_iter()
            .filter_map(|(key, _)| LeaseSubject::from_key(&key))
            .filter(|subject| matches!(subject, LeaseSubject::MergeLane { .. }))
            .collect();
        for lane in lanes {
            self.release_lease(&lane, at).await?;
        }
        Ok(())
    }

    /// The stored lease on `subject`, if it was ever claimed.
    pub async fn lease(&self, subject: &LeaseSubject) -> Result<Option<Lease>, StoreError> {
        let mut connection = self
            .connection(|| format!("read the lease on {subject}"))
            .await?;
        read_lease(&mut connection, subject).await
    }

    /// Every lease ever claimed, live or not, by subject.
    pub async fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        let sql = format!("SELECT {LEASE_COLUMNS} FROM leases ORDER BY subject");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(|error| StoreError::database("list leases", error))?
            .iter()
            .map(lease)
            .collect()
    }

    /// Claims `subject` for this handle's daemon at `now`: granted when free, lapsed or
    /// released (with the next token), renewed when the daemon already holds it, or left to
    /// the daemon that holds it.
    ///
    /// # Errors
    /// [`StoreErrorKind::Invalid`] on a handle without a daemon; `Unavailable` when the
    /// lease kept changing under the claim.
    pub async fn claim_lease(
        &self,
        subject: &LeaseSubject,
        now: Timestamp,
        terms: LeaseTerms,
    ) -> Result<Claim, StoreError> {
        let book = self.book(|| format!("claim {subject}"))?;
        if *subject == LeaseSubject::Runtime {
            return self.claim_runtime(&book, now, terms).await;
        }
        let mut connection = self.connection(|| format!("claim {subject}")).await?;
        for _ in 0..CAS_ROUNDS {
            let held = book.token(subject);
            if let Some(claim) =
                claim_on(&mut connection, subject, &book.holder, held, now, terms).await?
            {
                if let Some(lease) = claim.held_by_claimant() {
                    book.hold(lease);
                }
                return Ok(claim);
            }
        }
        Err(changing(format!("claim {subject}")))
    }

    /// Claims the store's runtime lease, in the claimers' turn: left to the daemon that
    /// holds it, and refused while another daemon holds a live lease on a squad (the daemons
    /// share the squads; the returned [`Claim::Held`] names one of those leases). Squads are
    /// not claimed while another daemon holds the runtime ([`SqlStore::claim_squads`]), so
    /// the two ways of working a store never work it at once.
    async fn claim_runtime(
        &self,
        book: &FenceBook,
        now: Timestamp,
        terms: LeaseTerms,
    ) -> Result<Claim, StoreError> {
        let subject = LeaseSubject::Runtime;
        let what = || format!("claim {subject}");
        let mut tx = self.claim_turn(what).await?;
        if let Some(working) = live_lease_of_another(&mut tx, "squad", &book.holder, now).await? {
            return Ok(Claim::Held(working));
        }
        for _ in 0..CAS_ROUNDS {
            let held = book.token(&subject);
            if let Some(claim) = claim_on(&mut tx, &subject, &book.holder, held, now, terms).await?
            {
                tx.commit()
                    .await
                    .map_err(|error| StoreError::database(what(), error))?;
                if let Some(lease) = claim.held_by_claimant() {
                    book.hold(lease);
                }
                return Ok(claim);
            }
        }
        Err(changing(what()))
    }

    /// A transaction holding the claimers' turn: an advisory lock on PostgreSQL, the write
    /// lock (taken up front) on SQLite, until it commits or is dropped.
    async fn claim_turn(
        &self,
        what: impl Fn() -> String,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let mut tx = if self.is_postgres() {
            self.pool.begin().await
        } else {
            // Claimers of other handles wait for the write lock instead of reading the
            // leases at the same moment.
            self.pool.begin_with("BEGIN IMMEDIATE").await
        }
        .map_err(|error| StoreError::database(what(), error))?;
        if self.is_postgres() {
            sqlx::query("SELECT COUNT(*) AS turns FROM (SELECT pg_advisory_xact_lock($1)) AS turn")
                .bind(CLAIM_TURN)
                .fetch_one(&mut *tx)
                .await
                .map_err(|error| StoreError::database(what(), error))?;
        }
        Ok(tx)
    }

    /// Renews the lease this handle's daemon holds on `subject` for another `terms.ttl()`.
    ///
    /// # Errors
    /// [`StoreErrorKind::Fenced`] when the lease was taken over or lapsed (the daemon must
    /// stop that work; it forgets the token); `Invalid` on a handle without a daemon or for a
    /// subject it never held.
    pub async fn renew_lease(
        &self,
        subject: &LeaseSubject,
        now: Timestamp,
        terms: LeaseTerms,
    ) -> Result<Lease, StoreError> {
        let what = || format!("renew the lease on {subject}");
        let book = self.book(what)?;
        let token = book.token(subject).ok_or_else(|| {
            StoreError::new(
                StoreErrorKind::Invalid,
                format!("{}: daemon `{}` never held it", what(), book.holder),
            )
        })?;
        let mut connection = self.connection(what).await?;
        for _ in 0..CAS_ROUNDS {
            let current = read_lease(&mut connection, subject)
                .await?
                .ok_or_else(|| StoreError::new(StoreErrorKind::NotFound, what()))?;
            let renewed = match current.renew(&book.holder, token, now, terms) {
                Ok(renewed) => renewed,
                Err(lost) => {
                    book.forget_token(subject, token);
                    return Err(StoreError::new(
                        StoreErrorKind::Fenced,
                        format!("{}: {lost}", what()),
                    ));
                }
            };
            if replace_lease(&mut connection, &current, &renewed, now, false).await? {
                return Ok(renewed);
            }
        }
        Err(changing(what()))
    }

    /// Releases the lease this handle's daemon holds on `subject`, so another daemon may
    /// claim it at once. Releasing a lease already lost is not an error: it is not this
    /// daemon's any more either way.
    ///
    /// # Errors
    /// `Invalid` on a handle without a daemon; `Unavailable` when the lease kept changing.
    pub async fn release_lease(
        &self,
        subject: &LeaseSubject,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let what = || format!("release the lease on {subject}");
        let book = self.book(what)?;
        let Some(token) = book.token(subject) else {
            return Ok(());
        };
        let mut connection = self.connection(what).await?;
        for _ in 0..CAS_ROUNDS {
            let Some(current) = read_lease(&mut connection, subject).await? else {
                book.forget(subject);
                return Ok(());
            };
            let Ok(released) = current.release(&book.holder, token, now) else {
                book.forget(subject);
                return Ok(());
            };
            if replace_lease(&mut connection, &current, &released, now, false).await? {
                book.forget(subject);
                return Ok(());
            }
        }
        Err(changing(what()))
    }

    /// Claims, for this handle's daemon, unfinished squads that no live lease holds (never
    /// claimed, lapsed or released) and whose blockers all ended, oldest first: at most
    /// `limits.daemon`, and no more than keeps the squads held across every daemon of the
    /// store within `limits.cluster`. Returns them as claimed: none while another daemon
    /// holds the store's runtime lease (it runs every squad).
    ///
    /// Claimers take turns (an advisory lock on PostgreSQL, the write lock on SQLite), so
    /// the cluster's count cannot change between reading it and claiming; on PostgreSQL the
    /// candidates are locked with `FOR UPDATE SKIP LOCKED`, so a squad being written is left
    /// for the next claim instead of waited for.
    ///
    /// # Errors
    /// `Invalid` on a handle without a daemon; a database error otherwise.
    pub async fn claim_squads(
        &self,
        now: Timestamp,
        terms: LeaseTerms,
        limits: ClaimLimits,
    ) -> Result<Vec<SquadRecord>, StoreError> {
        let what = || "claim unfinished squads".to_owned();
        let book = self.book(what)?;
        if limits.daemon == 0 || limits.cluster == 0 {
            return Ok(Vec::new());
        }
        let dialect = if self.is_postgres() {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        };
        // The turn and the candidates stay locked until the claims commit.
        let mut tx = self.claim_turn(what).await?;
        if live_lease_of_another(&mut tx, "runtime", &book.holder, now)
            .await?
            .is_some()
        {
            // One daemon (or a foreground run) runs every squad of the store.
            return Ok(Vec::new());
        }
        let claimed = claim_free_squads(&mut tx, dialect, &book.holder, now, terms, limits).await?;
        tx.commit()
            .await
            .map_err(|error| StoreError::database(what(), error))?;
        let mut squads = Vec::with_capacity(claimed.len());
        for lease in claimed {
            book.hold(&lease);
            if let LeaseSubject::Squad(id) = &lease.subject {
                squads.push(self.squad(id).await?);
            }
        }
        Ok(squads)
    }

    /// The heartbeat: renews every lease this handle's daemon holds for another
    /// `terms.ttl()`, in one statement. Returns the subjects it lost (another claim holds
    /// them with a newer token), which it forgets: their work must stop. A lease that lapsed
    /// while nobody claimed it is renewed with its token, as [`Lease::renew`] says.
    ///
    /// # Errors
    /// `Invalid` on a handle without a daemon; a database error otherwise.
    pub async fn renew_held(
        &self,
        now: Timestamp,
        terms: LeaseTerms,
    ) -> Result<Vec<LeaseSubject>, StoreError> {
        let what = || "renew the leases held".to_owned();
        let book = self.book(what)?;
        let held = book.held();
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "UPDATE leases SET expires_at = $1, renewed_at = $2 WHERE holder = $3 AND ({}) \
             RETURNING subject",
            held_condition(held.len(), 4)
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind((now + terms.ttl()).as_millis())
            .bind(now.as_millis())
            .bind(book.holder.as_str());
        let renewed: Vec<String> = bind_held(query, &held)?
            .fetch_all(&self.pool)
            .await
            .map_err(|error| StoreError::database(what(), error))?
            .iter()
            .map(|row| column::<String>(row, "subject"))
            .collect::<Result<_, _>>()?;
        let mut lost = Vec::new();
        for (key, token) in held {
            if renewed.contains(&key) {
                continue;
            }
            let subject =
                LeaseSubject::from_key(&key).ok_or_else(|| StoreError::corrupt("subject", &key))?;
            book.forget_token(&subject, token);
            lost.push(subject);
        }
        Ok(lost)
    }

    /// Releases, in one statement, every lease this handle's daemon holds, so other daemons
    /// take its work over at once: a daemon stopping after its checkpoint. Leases already
    /// lost are not its to release and stay as they are.
    ///
    /// # Errors
    /// `Invalid` on a handle without a daemon; a database error otherwise.
    pub async fn release_held(&self, now: Timestamp) -> Result<(), StoreError> {
        let what = || "release the leases held".to_owned();
        let book = self.book(what)?;
        let held = book.held();
        if held.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE leases SET expires_at = $1 WHERE holder = $2 AND expires_at > $1 AND ({})",
            held_condition(held.len(), 3)
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now.as_millis())
            .bind(book.holder.as_str());
        bind_held(query, &held)?
            .execute(&self.pool)
            .await
            .map_err(|error| StoreError::database(what(), error))?;
        for (key, token) in held {
            if let Some(subject) = LeaseSubject::from_key(&key) {
                book.forget_token(&subject, token);
            }
        }
        Ok(())
    }

    /// Ends at `at` every live lease held by `holder`, a daemon known to be dead (its
    /// process is gone), so others take its work over at once rather than after its leases
    /// lapse. Returns how many leases ended.
    pub async fn end_leases_of(&self, holder: &DaemonId, at: Timestamp) -> Result<u64, StoreError> {
        let ended =
            sqlx::query("UPDATE leases SET expires_at = $2 WHERE holder = $1 AND expires_at > $2")
                .bind(holder.as_str())
                .bind(at.as_millis())
                .execute(&self.pool)
                .await
                .map_err(|error| {
                    StoreError::database(format!("end the leases of daemon `{holder}`"), error)
                })?;
        Ok(ended.rows_affected())
    }

    /// Who wrote each event of a squad's log, in order.
    pub async fn event_writers(&self, id: &SquadId) -> Result<Vec<EventWriter>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, holder, fence FROM squad_events WHERE squad_id = $1 ORDER BY seq",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|error| {
            StoreError::database(format!("read the writers of squad `{id}`"), error)
        })?;
        if rows.is_empty() {
            return Err(squad_not_found(id));
        }
        rows.iter()
            .map(|row| {
                let token = column::<Option<i64>>(row, "fence")?
                    .map(|token| {
                        u64::try_from(token)
                            .map(FencingToken::new)
                            .map_err(|_| StoreError::corrupt("fence", &token.to_string()))
                    })
                    .transpose()?;
                Ok(EventWriter {
                    seq: count(row, "seq")?,
                    at: timestamp(row, "at")?,
                    holder: column::<Option<String>>(row, "holder")?.map(DaemonId::new),
                    token,
                })
            })
            .collect()
    }

    fn book(&self, what: impl FnOnce() -> String) -> Result<Arc<FenceBook>, StoreError> {
        self.fences.clone().ok_or_else(|| {
            StoreError::new(
                StoreErrorKind::Invalid,
                format!(
                    "{}: this store handle has no daemon id (use SqlStore::for_daemon)",
                    what()
                ),
            )
        })
    }

    async fn connection(
        &self,
        what: impl FnOnce() -> String,
    ) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, StoreError> {
        self.pool
            .acquire()
            .await
            .map_err(|error| StoreError::database(what(), error))
    }
}

/// The advisory lock PostgreSQL claimers of squads take turns on, so that the count of
/// squads held across the cluster cannot change between reading it and claiming.
const CLAIM_TURN: i64 = 0x0053_5155_4443_4c4d; // "SQUDCLM"

/// How many squads one claim may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimLimits {
    /// At most this many for the claiming daemon: its share of the free slots.
    pub daemon: usize,
    /// At most this many unfinished squads held at once by every daemon of the store
    /// together (`limits.concurrency`).
    pub cluster: usize,
}

/// Where the two backends' SQL differs: row locks, and reading a JSON array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Appended to the candidates' select.
    fn lock(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE OF squads SKIP LOCKED",
        }
    }

    /// The issue keys of the candidate's `blocked_by` and `starts_after` JSON arrays, as a
    /// subquery.
    fn blockers(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "SELECT value FROM json_each(squads.blocked_by) \
                 UNION SELECT value FROM json_each(squads.starts_after)"
            }
            Dialect::Postgres => {
                "SELECT jsonb_array_elements_text(squads.blocked_by::jsonb) \
                 UNION SELECT jsonb_array_elements_text(squads.starts_after::jsonb)"
            }
        }
    }
}

/// Claims the squads [`SqlStore::claim_squads`] describes, free at `now`.
async fn claim_free_squads(
    connection: &mut AnyConnection,
    dialect: Dialect,
    claimant: &DaemonId,
    now: Timestamp,
    terms: LeaseTerms,
    limits: ClaimLimits,
) -> Result<Vec<Lease>, StoreError> {
    let what = || "claim unfinished squads".to_owned();
    let terminal = terminal_phase_names();
    let placeholders: Vec<String> = (2..2 + terminal.len()).map(|n| format!("${n}")).collect();
    let unfinished = |table: &str| format!("{table}.phase NOT IN ({})", placeholders.join(", "));
    let sql = format!(
        "SELECT COUNT(*) AS held FROM leases JOIN squads ON leases.subject = 'squad:' || squads.id \
         WHERE leases.expires_at > $1 AND {}",
        unfinished("squads")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now.as_millis());
    for name in terminal {
        query = query.bind(name);
    }
    let held = query
        .fetch_one(&mut *connection)
        .await
        .map_err(|error| StoreError::database(what(), error))?;
    let held = usize::try_from(count(&held, "held")?).unwrap_or(usize::MAX);
    let room = limits.daemon.min(limits.cluster.saturating_sub(held));
    if room == 0 {
        return Ok(Vec::new());
    }

    // A squad waits unclaimed while a blocker of its run, or a squad naming the same files
    // that goes first, is unfinished: the daemon that claims it then sees how each ended.
    let limit = 2 + terminal.len();
    let sql = format!(
        "SELECT squads.id FROM squads \
         LEFT JOIN leases ON leases.subject = 'squad:' || squads.id \
         WHERE (leases.subject IS NULL OR leases.expires_at <= $1) AND {} \
         AND NOT EXISTS (SELECT 1 FROM squads AS blocker WHERE blocker.run_id = squads.run_id \
         AND {} AND blocker.issue_key IN ({})) \
         ORDER BY squads.created_at, squads.id LIMIT ${limit}{}",
        unfinished("squads"),
        unfinished("blocker"),
        dialect.blockers(),
        dialect.lock()
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now.as_millis());
    for name in terminal {
        query = query.bind(name);
    }
    let candidates: Vec<SquadId> = query
        .bind(i64::try_from(room).unwrap_or(i64::MAX))
        .fetch_all(&mut *connection)
        .await
        .map_err(|error| StoreError::database(what(), error))?
        .iter()
        .map(|row| column::<String>(row, "id").map(SquadId::from))
        .collect::<Result<_, _>>()?;
    let mut claimed = Vec::new();
    for id in candidates {
        // A candidate another daemon claimed since the select is simply not ours this time.
        if let Some(claim) =
            // Only free squads are candidates: whatever this daemon held of them lapsed.
            claim_on(
                connection,
                &LeaseSubject::Squad(id),
                claimant,
                None,
                now,
                terms,
            )
            .await?
            && let Some(lease) = claim.held_by_claimant()
        {
            claimed.push(lease.clone());
        }
    }
    Ok(claimed)
}

/// The lease subject of a merge lane.
fn lane_subject(lane: &MergeLane) -> LeaseSubject {
    LeaseSubject::MergeLane {
        repository: lane.repo.to_string(),
        base: lane.base.clone(),
    }
}

/// A live lease of `kind` (`"squad"`, `"runtime"`) held by a daemon other than `daemon`,
/// if any. The daemon's own leases are its previous process's, gone.
async fn live_lease_of_another(
    connection: &mut AnyConnection,
    kind: &str,
    daemon: &DaemonId,
    now: Timestamp,
) -> Result<Option<Lease>, StoreError> {
    let sql = format!(
        "SELECT {LEASE_COLUMNS} FROM leases WHERE kind = $1 AND holder <> $2 AND expires_at > $3 \
         ORDER BY expires_at DESC LIMIT 1"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(kind)
        .bind(daemon.as_str())
        .bind(now.as_millis())
        .fetch_optional(&mut *connection)
        .await
        .map_err(|error| StoreError::database(format!("read the live {kind} leases"), error))?
        .as_ref()
        .map(lease)
        .transpose()
}

/// `(subject = $n AND token = $n+1) OR …` for `held` subjects, numbered from `first`.
fn held_condition(held: usize, first: usize) -> String {
    (0..held)
        .map(|i| {
            let n = first + 2 * i;
            format!("(subject = ${n} AND token = ${})", n + 1)
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// Binds the parameters of [`held_condition`], in order.
fn bind_held<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    held: &[(String, FencingToken)],
) -> Result<sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>, StoreError> {
    for (key, token) in held {
        query = query
            .bind(key.clone())
            .bind(stored_count(token.get(), "fencing token")?);
    }
    Ok(query)
}

/// One claim of `subject` on `connection`: the core's answer applied if the row is still
/// what was read, else `None` (someone else wrote it first; read again).
async fn claim_on(
    connection: &mut AnyConnection,
    subject: &LeaseSubject,
    claimant: &DaemonId,
    held: Option<FencingToken>,
    now: Timestamp,
    terms: LeaseTerms,
) -> Result<Option<Claim>, StoreError> {
    let current = read_lease(connection, subject).await?;
    let claim = Lease::claim(current.as_ref(), subject, claimant, held, now, terms);
    let applied = match (&claim, &current) {
        (Claim::Held(_), _) => true,
        (Claim::Granted { lease, .. } | Claim::Renewed(lease), None) => {
            insert_lease(connection, lease, now).await?
        }
        (Claim::Granted { lease, .. }, Some(current)) => {
            replace_lease(connection, current, lease, now, true).await?
        }
        (Claim::Renewed(lease), Some(current)) => {
            replace_lease(connection, current, lease, now, false).await?
        }
    };
    Ok(applied.then_some(claim))
}

async fn read_lease(
    connection: &mut AnyConnection,
    subject: &LeaseSubject,
) -> Result<Option<Lease>, StoreError> {
    let sql = format!("SELECT {LEASE_COLUMNS} FROM leases WHERE subject = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(subject.key())
        .fetch_optional(&mut *connection)
        .await
        .map_err(|error| StoreError::database(format!("read the lease on {subject}"), error))?
        .as_ref()
        .map(lease)
        .transpose()
}

/// Inserts a subject's first lease; `false` when another daemon inserted it first.
async fn insert_lease(
    connection: &mut AnyConnection,
    lease: &Lease,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO leases (subject, kind, holder, token, expires_at, claimed_at, renewed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (subject) DO NOTHING",
    )
    .bind(lease.subject.key())
    .bind(lease.subject.kind())
    .bind(lease.holder.as_str())
    .bind(stored_count(lease.token.get(), "fencing token")?)
    .bind(lease.expires_at.as_millis())
    .bind(now.as_millis())
    .execute(&mut *connection)
    .await
    .map_err(|error| StoreError::database(format!("claim {}", lease.subject), error))?;
    Ok(inserted.rows_affected() == 1)
}

/// Replaces `current` by `next` if the row still holds `current` (holder, token and
/// expiry); `false` when it changed since it was read. `claimed` marks a new holder or
/// token, whose claim time is now.
async fn replace_lease(
    connection: &mut AnyConnection,
    current: &Lease,
    next: &Lease,
    now: Timestamp,
    claimed: bool,
) -> Result<bool, StoreError> {
    let claimed_at = if claimed { "$4" } else { "claimed_at" };
    let sql = format!(
        "UPDATE leases SET holder = $1, token = $2, expires_at = $3, claimed_at = {claimed_at}, \
         renewed_at = $4 WHERE subject = $5 AND holder = $6 AND token = $7 AND expires_at = $8"
    );
    let updated = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(next.holder.as_str())
        .bind(stored_count(next.token.get(), "fencing token")?)
        .bind(next.expires_at.as_millis())
        .bind(now.as_millis())
        .bind(current.subject.key())
        .bind(current.holder.as_str())
        .bind(stored_count(current.token.get(), "fencing token")?)
        .bind(current.expires_at.as_millis())
        .execute(&mut *connection)
        .await
        .map_err(|error| {
            StoreError::database(format!("write the lease on {}", next.subject), error)
        })?;
    Ok(updated.rows_affected() == 1)
}

fn lease(row: &AnyRow) -> Result<Lease, StoreError> {
    let key: String = column(row, "subject")?;
    let subject =
        LeaseSubject::from_key(&key).ok_or_else(|| StoreError::corrupt("subject", &key))?;
    Ok(Lease {
        subject,
        holder: DaemonId::new(column::<String>(row, "holder")?),
        token: FencingToken::new(count(row, "token")?),
        expires_at: timestamp(row, "expires_at")?,
    })
}

fn changing(what: String) -> StoreError {
    StoreError::new(
        StoreErrorKind::Unavailable,
        format!("{what}: the lease kept changing under concurrent claims"),
    )
}
