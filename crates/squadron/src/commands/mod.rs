//! One module per subcommand.

#[cfg(feature = "demo")]
pub mod demo;
pub mod doctor;
pub mod fix;
pub mod follow;
pub mod logs;
pub mod metrics;
pub mod plan;
pub mod resume_lane;
pub mod revert;
pub mod run;
pub mod serve;
#[cfg(feature = "demo")]
pub mod standins;
pub mod status;
