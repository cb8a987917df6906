//! End-to-end tests of the `squadron` command: each runs the real binary in a scrubbed
//! environment with its own store and configuration files.

mod doctor;
mod exit_codes;
mod plan;
mod status_and_logs;
mod support;
