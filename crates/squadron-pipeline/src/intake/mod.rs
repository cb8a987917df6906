//! Intake: how work enters the runtime — a milestone URL admitted issue by issue, one issue
//! to fix, or a merge to revert — recorded in the store before the scheduler hears of it.

mod fix;
mod milestone;
mod revert;

pub(crate) use fix::{FixAdmitted, admit_fix, fetch_issue};
pub use fix::{FixRequest, SlackOrigin};
pub(crate) use milestone::{Admitted, admit_run, post_comments, resume_comments};
pub use revert::{RevertAdmission, RevertRequest, admit_revert};
