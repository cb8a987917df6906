//! The parts of the `squadron` command that tests drive in-process: the daemon's HTTP
//! server. The command-line front end lives in `main.rs`.

pub mod delivery;
#[cfg(feature = "demo")]
pub mod demo;
pub mod labels;
pub mod server;
