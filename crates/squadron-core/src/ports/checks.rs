//! What the code host says about one check on one commit: its result, how often it ran
//! there, what it reported and printed, and how it can be run again. The squad reads this
//! when a required check fails, to tell its own failures from pre-existing and flaky ones.

use crate::gate::CommitSha;

/// Where a check's result comes from, which decides how it can be run again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckOrigin {
    /// A GitHub Actions job's check run: re-run through Actions; its job has a log.
    ActionsJob {
        /// The check run.
        check_run_id: u64,
        /// Its check suite, which names the workflow run.
        check_suite_id: u64,
    },
    /// A check run of another app: re-requested through the Checks API, the app decides.
    App {
        /// The check run.
        check_run_id: u64,
        /// The app's slug, as the host names it.
        app: String,
    },
    /// A commit status set by an external system: the host cannot run it again.
    Status,
}

/// How the latest run of a check ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckState {
    /// Passed (success, neutral or skipped).
    Passed,
    /// Queued or running.
    Pending,
    /// Failed; `outcome` as the host spells it (`failure`, `timed_out`, `error`, …).
    Failed {
        /// The conclusion or status state.
        outcome: String,
    },
}

/// One check on one commit, as the code host reports it: its latest run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// The check's name (check-run name or status context).
    pub name: String,
    /// The commit it ran on.
    pub sha: CommitSha,
    /// How its latest run ended.
    pub state: CheckState,
    /// How many times it ran on this commit (1 + re-runs); re-runs of a status are unknown
    /// to the host and count as one.
    pub attempts: u32,
    /// Where it comes from.
    pub origin: CheckOrigin,
    /// Its one-line title (check-run `output.title`), if any.
    pub title: Option<String>,
    /// Its summary (check-run `output.summary`, a status's description), if any.
    pub summary: Option<String>,
    /// Its details (check-run `output.text`), if any.
    pub text: Option<String>,
    /// How many annotations it left on files.
    pub annotation_count: u32,
    /// Where a person reads more.
    pub details_url: Option<String>,
}

impl CheckReport {
    /// Whether the latest run failed.
    pub fn failed(&self) -> bool {
        matches!(self.state, CheckState::Failed { .. })
    }
}

/// An annotation a check left on a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckAnnotation {
    /// The file.
    pub path: String,
    /// The first line it concerns.
    pub line: Option<u32>,
    /// `failure`, `warning` or `notice`.
    pub level: String,
    /// What it says.
    pub message: String,
}

/// What a failed check printed, for the squad that fixes it: annotations and, for an
/// Actions job, an excerpt of its log around the first errors and its end. Text as the CI
/// wrote it: untrusted, to be fenced as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckEvidence {
    /// Annotations on files.
    pub annotations: Vec<CheckAnnotation>,
    /// The log excerpt, if the check has a log.
    pub log: Option<String>,
}

/// What asking for a check to run again did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RerunOutcome {
    /// The host accepted: a new attempt will report on the same commit.
    Requested,
    /// The host cannot or would not run it again; `reason` says why, for people.
    NotRerunnable {
        /// Why, with what to change if anything.
        reason: String,
    },
}
