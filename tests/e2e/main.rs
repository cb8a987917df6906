//! End-to-end runs of the `squadron` binary against the stand-ins on loopback: a large
//! milestone under a concurrency limit, the review-round cap, a squad over budget, an issue
//! cancelled in Linear mid-run, red required checks (fixed, pre-existing, flaky, never
//! reported), two squads editing the same lines (the second resolving the conflict), bug
//! fixes started from Slack and from the command line, the daemon starting with GitHub
//! down, GitHub and Linear failing mid-run, the dashboard in a headless browser, kills at
//! every phase boundary followed by a restart, a run under one GitHub identity, squads on
//! the sample repositories with their real toolchains, and the delivery metrics of a store
//! filled by a milestone and a fix, `squadron revert`, the merge train testing a PR merged
//! with the moved base before it merges, and stop the line stopping a base's lane after two
//! merges break its tests together, and issues naming the same files started one after the
//! other while an unrelated one runs alongside.

mod browser;
mod bugfix;
mod cancel;
mod checks;
mod conflicts;
mod dashboard;
mod degraded;
mod faults;
mod limits;
mod metrics;
mod revert;
mod samples;
mod single_identity;
mod start_order;
mod stop_the_line;
mod support;
mod train;
