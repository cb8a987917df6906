//! Restart safety of the `squadron` binary: killed at each phase boundary through the
//! runtime's failpoints (`FAILPOINTS`, armed only in builds with the `failpoints` feature),
//! then run again on the same store and stand-ins.

mod kill;
// The e2e suite's helpers; this suite uses only some of them.
#[allow(dead_code)]
#[path = "../e2e/support.rs"]
mod support;
