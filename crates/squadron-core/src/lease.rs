//! Leases: how several daemons sharing one store agree on who works what.
//!
//! Every unit of work (a run's intake, a squad, the merge lane of a base branch, or the
//! squad runtime of a whole store) is held by at most one daemon at a time, through a lease
//! that expires unless its holder renews it with a heartbeat. When a holder dies or stalls
//! past its lease, another daemon takes the work over with the next **fencing token**:
//! tokens of one subject only ever grow, and the store refuses a write that carries a token
//! other than the lease's, so a daemon that wakes up after losing its lease cannot record or
//! perform anything for that work any more. A holder whose lease lapsed while nobody claimed
//! it has lost nothing: it renews with the same token, so a late heartbeat (a slow store, a
//! busy machine) never fails work that no one else touched.
//!
//! The rules live here, pure: time is an argument, the stored lease is an argument, and
//! the store applies the answer in the same transaction that read the lease.

use std::fmt;
use std::time::Duration;

use crate::domain::{RunId, SquadId, Timestamp};

/// The stable name of one daemon of a cluster: configured, or its host and process id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DaemonId(String);

impl DaemonId {
    /// Wraps a name chosen elsewhere (the configuration, or host and pid).
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The name as stored and shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DaemonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a lease is held on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LeaseSubject {
    /// The squad runtime of the whole store: the daemon holding it works every run and
    /// squad, the others stand by to take over.
    Runtime,
    /// A run's intake: resolving its milestone, admitting its issues, creating its squads.
    Intake(RunId),
    /// One squad's work, from its first step to its end.
    Squad(SquadId),
    /// The merge lane of one base branch of one repository: whoever holds it merges into
    /// that base, so two daemons never merge into one base at once.
    MergeLane {
        /// `owner/name`.
        repository: String,
        /// The base branch.
        base: String,
    },
}

impl LeaseSubject {
    /// The kind of work, as stored.
    pub const fn kind(&self) -> &'static str {
        match self {
            LeaseSubject::Runtime => "runtime",
            LeaseSubject::Intake(_) => "intake",
            LeaseSubject::Squad(_) => "squad",
            LeaseSubject::MergeLane { .. } => "merge-lane",
        }
    }

    /// The subject's key, unique among all subjects: `runtime`, `intake:<run>`,
    /// `squad:<squad>` or `merge-lane:<owner/name>:<base>` (git refuses `:` in branch names,
    /// so the key splits back unambiguously).
    pub fn key(&self) -> String {
        match self {
            LeaseSubject::Runtime => "runtime".to_owned(),
            LeaseSubject::Intake(run) => format!("intake:{run}"),
            LeaseSubject::Squad(squad) => format!("squad:{squad}"),
            LeaseSubject::MergeLane { repository, base } => {
                format!("merge-lane:{repository}:{base}")
            }
        }
    }

    /// Parses a key written by [`LeaseSubject::key`]; `None` for anything else.
    pub fn from_key(key: &str) -> Option<LeaseSubject> {
        if key == "runtime" {
            return Some(LeaseSubject::Runtime);
        }
        let (kind, rest) = key.split_once(':')?;
        if rest.is_empty() {
            return None;
        }
        match kind {
            "intake" => Some(LeaseSubject::Intake(RunId::new(rest))),
            "squad" => Some(LeaseSubject::Squad(SquadId::new(rest))),
            "merge-lane" => {
                let (repository, base) = rest.rsplit_once(':')?;
                (!repository.is_empty() && !base.is_empty()).then(|| LeaseSubject::MergeLane {
                    repository: repository.to_owned(),
                    base: base.to_owned(),
                })
            }
            _ => None,
        }
    }
}

impl fmt::Display for LeaseSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaseSubject::Runtime => f.write_str("the squad runtime"),
            LeaseSubject::Intake(run) => write!(f, "the intake of run {run}"),
            LeaseSubject::Squad(squad) => write!(f, "squad {squad}"),
            LeaseSubject::MergeLane { repository, base } => {
                write!(f, "the merge lane of {repository}:{base}")
            }
        }
    }
}

/// A lease's fencing token: 1 for the first claim of a subject, one more on every claim
/// after the lease lapsed or was released. A renewal keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FencingToken(u64);

impl FencingToken {
    /// The token of a subject's first lease.
    pub const FIRST: FencingToken = FencingToken(1);

    /// A token as stored.
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// The token as stored.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The token of the lease that follows this one.
    pub const fn next(self) -> FencingToken {
        FencingToken(self.0.saturating_add(1))
    }
}

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// How long a lease lasts and how often its holder renews it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTerms {
    ttl: Duration,
    heartbeat: Duration,
}

/// Lease terms that cannot work: a holder would lose its lease between two heartbeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "use a lease of {ttl:?} renewed every {heartbeat:?}: the heartbeat must be shorter than \
     the lease and not zero, or a live daemon loses its work between two heartbeats"
)]
pub struct InvalidLeaseTerms {
    /// The lease asked for.
    pub ttl: Duration,
    /// The heartbeat asked for.
    pub heartbeat: Duration,
}

impl LeaseTerms {
    /// A lease of `ttl` renewed every `heartbeat`.
    ///
    /// # Errors
    /// When the heartbeat is zero or not shorter than the lease.
    pub fn new(ttl: Duration, heartbeat: Duration) -> Result<LeaseTerms, InvalidLeaseTerms> {
        if heartbeat.is_zero() || heartbeat >= ttl {
            return Err(InvalidLeaseTerms { ttl, heartbeat });
        }
        Ok(LeaseTerms { ttl, heartbeat })
    }

    /// How long a lease lasts from its claim or last renewal.
    pub const fn ttl(self) -> Duration {
        self.ttl
    }

    /// How often a holder renews.
    pub const fn heartbeat(self) -> Duration {
        self.heartbeat
    }
}

impl Default for LeaseTerms {
    /// A 30-second lease renewed every 10 seconds: two heartbeats may be missed (a slow
    /// store, a long pause) before another daemon takes the work over.
    fn default() -> LeaseTerms {
        LeaseTerms {
            ttl: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
        }
    }
}

/// One lease as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// What it is held on.
    pub subject: LeaseSubject,
    /// Who holds (or last held) it.
    pub holder: DaemonId,
    /// Its fencing token.
    pub token: FencingToken,
    /// When it lapses unless renewed; a released lease lapsed when it was released.
    pub expires_at: Timestamp,
}

/// The answer to [`Lease::claim`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The claimant now holds the subject with a new token. `from` is the daemon whose
    /// lease lapsed or was released (the claimant itself after its own lease lapsed), or
    /// `None` for a subject never leased before.
    Granted {
        /// The new lease.
        lease: Lease,
        /// The previous holder.
        from: Option<DaemonId>,
    },
    /// The claimant already held the subject: its lease is renewed with the same token.
    Renewed(Lease),
    /// Another daemon holds the subject until `expires_at`.
    Held(Lease),
}

impl Claim {
    /// The lease the claimant holds now, if it does.
    pub fn held_by_claimant(&self) -> Option<&Lease> {
        match self {
            Claim::Granted { lease, .. } | Claim::Renewed(lease) => Some(lease),
            Claim::Held(_) => None,
        }
    }
}

/// Why a daemon no longer holds a lease it had.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseLost {
    /// Another claim (by another daemon, or by this one after a lapse) holds the subject
    /// with a newer token.
    #[error("{subject} is held by {holder} with token {token} now")]
    Superseded {
        /// What the lease was on.
        subject: LeaseSubject,
        /// Who holds it now.
        holder: DaemonId,
        /// Its current token.
        token: FencingToken,
    },
}

impl Lease {
    /// Claims `subject` for `claimant`, which holds token `held` of it (`None`: it holds
    /// none), at `now`, given the stored lease `current` (`None` when the subject was never
    /// leased). A live lease of another daemon is left alone; the claimant's own lease is
    /// renewed, lapsed or not, when the claimant holds its token; any other lapsed or
    /// released lease is taken over with the next token, so the previous holder's writes are
    /// refused from now on. A lease under the claimant's id whose token it does not hold
    /// belongs to an earlier process under the same id (restarted after a crash): it is taken
    /// over with the next token too, so that process, should it still run, can write nothing
    /// more.
    pub fn claim(
        current: Option<&Lease>,
        subject: &LeaseSubject,
        claimant: &DaemonId,
        held: Option<FencingToken>,
        now: Timestamp,
        terms: LeaseTerms,
    ) -> Claim {
        let expires_at = now + terms.ttl;
        match current {
            None => Claim::Granted {
                lease: Lease {
                    subject: subject.clone(),
                    holder: claimant.clone(),
                    token: FencingToken::FIRST,
                    expires_at,
                },
                from: None,
            },
            Some(current) if current.is_live(now) && &current.holder != claimant => {
                Claim::Held(current.clone())
            }
            Some(current) if &current.holder == claimant && held == Some(current.token) => {
                Claim::Renewed(Lease {
                    expires_at,
                    ..current.clone()
                })
            }
            Some(current) => Claim::Granted {
                lease: Lease {
                    subject: subject.clone(),
                    holder: claimant.clone(),
                    token: current.token.next(),
                    expires_at,
                },
                from: Some(current.holder.clone()),
            },
        }
    }

    /// Whether the lease still holds at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }

    /// Whether a write by `holder` carrying `token` may happen: the token must be this
    /// lease's. A newer claim superseded older tokens; a lapsed lease nobody claimed since
    /// still admits its holder, who has lost nothing.
    ///
    /// # Errors
    /// [`LeaseLost`] saying who holds the subject now.
    pub fn admits(&self, holder: &DaemonId, token: FencingToken) -> Result<(), LeaseLost> {
        if self.token != token || &self.holder != holder {
            return Err(LeaseLost::Superseded {
                subject: self.subject.clone(),
                holder: self.holder.clone(),
                token: self.token,
            });
        }
        Ok(())
    }

    /// Renews this stored lease for `holder`, who holds `token`, at `now`: the same token,
    /// lasting another `terms.ttl()`.
    ///
    /// # Errors
    /// [`LeaseLost`] when another claim superseded the token.
    pub fn renew(
        &self,
        holder: &DaemonId,
        token: FencingToken,
        now: Timestamp,
        terms: LeaseTerms,
    ) -> Result<Lease, LeaseLost> {
        self.admits(holder, token)?;
        Ok(Lease {
            expires_at: now + terms.ttl,
            ..self.clone()
        })
    }

    /// Releases this stored lease held by `holder` with `token` at `now`, so that another
    /// daemon may claim it at once instead of after it lapses. The token stays, so the next
    /// claim gets a newer one.
    ///
    /// # Errors
    /// [`LeaseLost`] when the lease is no longer the holder's to release.
    pub fn release(
        &self,
        holder: &DaemonId,
        token: FencingToken,
        now: Timestamp,
    ) -> Result<Lease, LeaseLost> {
        self.admits(holder, token)?;
        Ok(Lease {
            expires_at: now,
            ..self.clone()
        })
    }

    /// Whether the holder should renew at `now`: a heartbeat has passed since the lease was
    /// claimed or last renewed.
    pub fn renewal_due(&self, now: Timestamp, terms: LeaseTerms) -> bool {
        let renewed_at = self.expires_at - terms.ttl;
        now >= renewed_at + terms.heartbeat
    }
}
