//! The harness's integration tests, in one binary for link speed.

mod file_changes;
mod guardrails;
mod hostile_files;
mod hostile_git;
mod http;
mod real_models;
mod review_diff;
mod sandbox;
mod support;
mod toolchains;
mod tools;
mod turn;
mod write_rules;
