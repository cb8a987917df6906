//! The squad runtime: the async loop around the core's sans-IO [`Scheduler`]. It executes
//! each command through the ports (store, tracker, code host, workspaces, models), records
//! every phase change and journals every side effect before it happens, and feeds each
//! outcome back to the scheduler as an event.
//!
//! Architecture invariant: this crate depends on `squadron-core`, `squadron-config` and
//! `squadron-harness` only; the binary wires adapters to the ports it names.
//!
//! [`Scheduler`]: squadron_core::scheduler::Scheduler

mod effects;
mod error;
mod evidence;
mod handle;
mod intake;
mod progress;
mod prompts;
mod runtime;
mod services;
mod squad;
mod steps;

pub use error::{PipelineError, PipelineErrorKind};
pub use handle::{CancelOutcome, PipelineHandle};
pub use progress::{Progress, RunView, SquadView};
pub use runtime::Pipeline;
pub use services::{AgentSetup, PipelineSettings, RepositoryTarget, ReviewMode, Services};
