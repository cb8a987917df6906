//! `squadron demo`'s offline world: a sample Python repository, a sample Linear milestone
//! and a Sentry stub, scripted agents, and the stand-ins that serve them on loopback. The
//! command itself lives in `commands/demo.rs`; the end-to-end tests start the same world.

pub mod generated;
pub mod prefix;
pub mod report;
pub mod sample_repo;
pub mod scenario;
pub mod world;

pub use prefix::{AgentReuse, PrefixReuse, prefix_reuse};
pub use report::{DemoReport, IssueReport, Totals};
pub use sample_repo::{BASE_BRANCH, SAMPLE_REPO, sample_repo_files};
pub use scenario::{
    BUGFIX_ISSUE, BUGFIX_SCRIPTS, ExpectedIssue, Outcome, Scenario, UnknownScenario,
};
pub use world::{
    DemoLimits, DemoWorld, IDENTITIES, Identity, SLACK_SIGNING_SECRET, STANDIN_PORTS, WorldError,
    WorldSeed,
};
