//! End-to-end runs of the `squadron` binary against the stand-ins on loopback: a large
//! milestone under a concurrency limit, the review-round cap, a squad over budget, an issue
//! cancelled in Linear mid-run, bug fixes started from Slack and from the command line, and
//! kills at every phase boundary followed by a restart.

mod bugfix;
mod cancel;
mod generated;
mod limits;
mod support;
