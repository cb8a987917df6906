//! Integration tests of the pure core, one binary for link speed: acceptance criteria,
//! the refinement check and the squad scheduler.

mod acceptance;
mod refinement;
mod scheduler;
