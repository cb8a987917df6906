//! The steps: one module per scheduler command, each executed idempotently (after a restart
//! the scheduler re-issues the command of a squad's recorded phase) and reporting its
//! outcome as runtime [`Outcome`](crate::outcome::Outcome)s.

mod checks;
mod clean_up;
mod conflicts;
mod diagnose;
mod dispatch;
mod fix;
mod gate;
mod hand_back;
mod implement;
mod lanes;
mod merge;
mod merge_trial;
mod needs_human;
mod open_pr;
mod pr_text;
mod prepare;
mod publish;
mod renewal;
mod revert;
mod review;
mod save_work;
mod stop;
mod test_base;
mod verify;
mod writers;

pub(crate) use clean_up::clean_up;
pub(crate) use dispatch::run;
pub(crate) use needs_human::post_needs_human;
pub(crate) use save_work::SavedWork;
pub use test_base::lane_stop_summary;
