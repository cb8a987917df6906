//! Squadron's persistent store: runs, squads, their append-only event log, agent transcripts,
//! model usage, the side-effect journal, the stopped merge lanes, the leases several daemons share the work by and the
//! requests one daemon forwards to another, on a SQLite file (the default) or PostgreSQL.
//!
//! [`SqlStore`] implements the core's [`Store`](squadron_core::ports::Store) and
//! [`AgentRecorder`](squadron_core::ports::AgentRecorder) ports and adds the read models the
//! CLI shows. This crate is the only place that speaks SQL.

mod codec;
mod daemons;
mod effect_results;
mod error;
mod event_payloads;
mod journal;
mod lanes;
mod leases;
mod location;
mod port;
mod read_model;
mod requests;
mod runs;
mod squads;
mod store;
mod transcripts;
mod usage;

pub use daemons::{DaemonRecord, DaemonState};
pub use error::{StoreError, StoreErrorKind};
pub use leases::{ClaimLimits, EventWriter};
pub use location::{DEFAULT_SQLITE_FILE, StoreLocation};
pub use read_model::{SquadLog, SquadOverview};
pub use requests::{QueuedRequest, RequestState};
pub use store::SqlStore;
