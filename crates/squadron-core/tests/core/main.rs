//! Integration tests of the pure core, one binary for link speed: acceptance criteria,
//! the refinement check, leases and the squad scheduler.

mod acceptance;
mod lease;
mod refinement;
mod scheduler;
