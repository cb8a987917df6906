//! Intake: how work enters the runtime — a milestone URL admitted issue by issue, or one
//! issue to fix — recorded in the store before the scheduler hears of it.

mod fix;
mod milestone;

pub(crate) use fix::{FixAdmitted, admit_fix, fetch_issue};
pub use fix::{FixRequest, SlackOrigin};
pub(crate) use milestone::{Admitted, admit_run, post_comments, resume_comments};
