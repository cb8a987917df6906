//! A loopback stand-in for GitHub: the REST endpoints Squadron uses, shaped as GitHub's
//! published description says, and git smart HTTP over real bare repositories, so that
//! pushes really land and merges produce real merge or squash commits. Registered GitHub
//! Actions workflows run on pushes and pull requests with scripted outcomes, leaving workflow
//! runs, jobs with logs (served from a second origin, as GitHub's are) and check runs.
//!
//! Test support only: it is used by the adapters' tests and by `squadron demo`, never by the
//! adapters themselves. Start one with [`GithubStandin::start`], register users and
//! repositories through its Rust API, point the code under test at
//! [`GithubStandin::base_url`], and inspect what happened afterwards.

mod actions;
mod clock;
mod error;
mod faults;
mod git_http;
mod gitops;
mod json;
mod log_host;
mod observe;
mod rest;
mod server;
mod world;

pub use actions::{Annotation, CheckScript, FailureReport, Workflow};
pub use error::StandinError;
pub use faults::{Fault, FaultRule};
pub use server::GithubStandin;
pub use world::{
    CheckOutput, CheckRunSnapshot, CommitInfo, LogDownload, MergeRecord, PullSnapshot,
    RecordedRequest, RepoSettings, ReviewCommentSnapshot, ReviewSnapshot, UserId,
};
