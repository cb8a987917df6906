//! A loopback stand-in for GitHub: the REST endpoints Squadron uses, shaped as GitHub's
//! published description says, and git smart HTTP over real bare repositories, so that
//! pushes really land and merges produce real merge or squash commits.
//!
//! Test support only: it is used by the adapters' tests and by `squadron demo`, never by the
//! adapters themselves. Start one with [`GithubStandin::start`], register users and
//! repositories through its Rust API, point the code under test at
//! [`GithubStandin::base_url`], and inspect what happened afterwards.

mod clock;
mod error;
mod faults;
mod git_http;
mod gitops;
mod json;
mod observe;
mod rest;
mod server;
mod world;

pub use error::StandinError;
pub use faults::{Fault, FaultRule};
pub use server::GithubStandin;
pub use world::{
    CheckRunSnapshot, CommitInfo, MergeRecord, PullSnapshot, RecordedRequest, RepoSettings,
    ReviewCommentSnapshot, ReviewSnapshot, UserId,
};
