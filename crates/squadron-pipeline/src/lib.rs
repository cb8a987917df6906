//! The squad runtime: the async loop around the core's sans-IO [`Scheduler`]. It executes
//! each command through the ports (store, tracker, code host, workspaces, models), records
//! every phase change and journals every side effect before it happens, and feeds each
//! outcome back to the scheduler as an event.
//!
//! Architecture invariant: this crate depends on `squadron-core`, `squadron-config` and
//! `squadron-harness` only; the binary wires adapters to the ports it names.
//!
//! [`Scheduler`]: squadron_core::scheduler::Scheduler

mod activity;
mod chat_queue;
mod diagnosis;
mod effects;
mod error;
mod evidence;
mod handle;
mod intake;
pub mod log_events;
mod metrics;
mod notify;
mod outcome;
mod progress;
mod prompts;
mod qa_record;
mod revert;
mod review_memory;
mod runtime;
mod services;
mod setup;
mod shared;
mod squad;
mod steps;

pub use error::{PipelineError, PipelineErrorKind};
pub use handle::{CancelOutcome, PipelineHandle};
pub use intake::{FixRequest, RevertAdmission, RevertRequest, SlackOrigin, admit_revert};
pub use metrics::{squad_facts, time_to_merge};
pub use progress::{Progress, RunView, SquadView, Waiting};
pub use revert::{RevertPlan, revert_branch};
pub use runtime::Pipeline;
pub use services::{
    AgentSetup, ModelResolveError, ModelResolver, PipelineSettings, RepositoryTarget,
    ResolvedModel, ReviewMode, Services,
};
pub use squadron_core::gate::GateTarget;
pub use steps::lane_stop_summary;
