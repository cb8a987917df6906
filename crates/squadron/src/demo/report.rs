//! `report.json`: what the demo run did to each issue of the active milestone, in a form
//! scripts and tests can check.

use std::path::Path;

use serde::{Deserialize, Serialize};
use squadron_core::Usd;

use crate::demo::scenario::{ExpectedIssue, Outcome};

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DemoReport {
    /// The scenario that ran.
    pub scenario: String,
    /// The Linear project URL the run was started from.
    pub project_url: String,
    /// The run's id, as `squadron status` and the dashboard show it.
    pub run_id: Option<String>,
    /// What the whole run took and spent.
    pub totals: Totals,
    /// Whether every issue reached the outcome the scenario expects.
    pub expected_outcome_reached: bool,
    /// One entry per issue of the active milestone, in identifier order.
    pub issues: Vec<IssueReport>,
}

/// What happened to one issue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IssueReport {
    /// `ENG-2`.
    pub identifier: String,
    /// `merged`, `skipped`, `needs-human` or `failed`.
    pub outcome: String,
    /// Why a squad stopped short of a merge (needs-human, failed or skipped), as the squad's
    /// phase says it.
    pub reason: Option<String>,
    /// The pull request's number, once one was opened.
    pub pr: Option<u64>,
    /// The pull request's page.
    pub pr_url: Option<String>,
    /// The commit the merge produced on the base branch.
    pub merged_sha: Option<String>,
    /// Review rounds the squad went through.
    pub rounds: u32,
    /// Logins whose approvals of the merged head let it merge.
    pub approved_by: Vec<String>,
    /// Model tokens the squad's agents used, prompt and completion.
    pub tokens: u64,
    /// What those tokens cost, in US dollars.
    pub cost_usd: f64,
    /// From the squad's admission to its end, in seconds; `None` for an issue that got no
    /// squad.
    pub duration_seconds: Option<f64>,
    /// For a skipped issue: the comment Squadron left on it saying why.
    pub comment: Option<String>,
}

/// The run's totals.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Model tokens of every squad.
    pub tokens: u64,
    /// What they cost, in US dollars.
    pub cost_usd: f64,
    /// From the run's start to its last squad's end, in seconds.
    pub duration_seconds: f64,
}

impl DemoReport {
    /// A report of `issues` for `scenario`, noting whether each reached its expected
    /// outcome.
    pub fn new(
        scenario: &str,
        project_url: &str,
        run_id: Option<String>,
        expected: &[ExpectedIssue],
        mut issues: Vec<IssueReport>,
        duration_seconds: f64,
    ) -> DemoReport {
        issues.sort_by_key(|issue| issue_number(&issue.identifier));
        let totals = Totals {
            tokens: issues.iter().map(|issue| issue.tokens).sum(),
            // Summed in micro-dollars as the store counts them, so totals do not drift.
            cost_usd: Usd::from_micros(
                issues
                    .iter()
                    .map(|issue| Usd::from_dollars(issue.cost_usd).as_micros())
                    .sum(),
            )
            .as_dollars(),
            duration_seconds,
        };
        let mut report = DemoReport {
            scenario: scenario.to_owned(),
            project_url: project_url.to_owned(),
            run_id,
            totals,
            expected_outcome_reached: false,
            issues,
        };
        report.expected_outcome_reached = report.unexpected(expected).is_empty();
        report
    }

    /// The issues whose outcome differs from what the scenario expects: identifier,
    /// expected and actual outcome (`missing` when the run never reported the issue).
    pub fn unexpected(&self, expected: &[ExpectedIssue]) -> Vec<(String, Outcome, String)> {
        expected
            .iter()
            .filter_map(|want| {
                let actual = self
                    .issues
                    .iter()
                    .find(|issue| issue.identifier == want.identifier)
                    .map_or("missing", |issue| issue.outcome.as_str());
                (actual != want.outcome.as_str())
                    .then(|| (want.identifier.clone(), want.outcome, actual.to_owned()))
            })
            .collect()
    }

    /// Writes the report as pretty JSON to `path`.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        text.push('\n');
        std::fs::write(path, text)
    }
}

/// Orders `ENG-10` after `ENG-9`.
fn issue_number(identifier: &str) -> (String, u64) {
    match identifier.rsplit_once('-') {
        Some((team, number)) => (team.to_owned(), number.parse().unwrap_or(u64::MAX)),
        None => (identifier.to_owned(), u64::MAX),
    }
}
