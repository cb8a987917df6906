//! Squadron's pure core: domain types, ports as traits, acceptance criteria, the refinement
//! check, the squad scheduler and the merge gate.
//!
//! Architecture invariant: nothing in this crate performs I/O, reads a clock or draws random
//! numbers. Time comes in as an argument; the outside world is reached only through the
//! traits in [`ports`], which adapter crates implement.

pub mod acceptance;
pub mod admission;
pub mod bug_report;
pub mod ci_triage;
pub mod delivery;
pub mod domain;
pub mod effect;
pub mod error_chain;
pub mod event_payload;
pub mod gate;
pub mod lease;
pub mod merge_queue;
pub mod named_files;
pub mod ports;
pub mod refinement;
pub mod scheduler;

pub use domain::*;
pub use error_chain::error_chain;
