//! End-to-end tests of `squadron serve`: the HTTP server in-process on a loopback port in
//! front of a fake runtime (the API, the webhooks, Slack's `/squad`), and the real binary
//! started and stopped with SIGTERM.

mod access;
mod api;
mod binary;
mod events;
mod metrics_and_dashboard;
mod pages;
mod request_log;
mod shutdown;
mod slack;
mod store_reads;
mod support;
mod webhooks;
