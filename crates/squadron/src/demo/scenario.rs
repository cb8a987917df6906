//! The demo's built-in scenarios: the Linear workspace each one starts from, the scripts the
//! stand-in model plays for it, and the outcome each issue is expected to reach.

use std::fmt;
use std::str::FromStr;

use squadron_standin_linear::{IssueSpec, Workspace};
use squadron_standin_model::{ScriptBook, ScriptError};

/// The Linear workspace's URL key (`https://linear.app/<key>/…`).
pub const WORKSPACE_KEY: &str = "acme";
/// The team whose issues the demo works, mapped to the sample repository.
pub const TEAM_KEY: &str = "ENG";
/// The demo project's name; Linear derives the URL slug from it.
pub const PROJECT_NAME: &str = "Household ledger";
/// The demo project's 12-hex slug id.
pub const PROJECT_SLUG_ID: &str = "5e1f2c5a7b3d";
/// The Sentry stub the bug-fix scenario fixes.
pub const BUGFIX_ISSUE: &str = "ENG-1";
/// The model scripts of the bug-fix scenario, also for tests that vary them (a diagnosis
/// too unsure to act on).
pub const BUGFIX_SCRIPTS: &str = include_str!("../../demo/scripts/bugfix.toml");

/// A built-in scenario, picked with `squadron demo --scenario <name>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// A milestone of four issues: one blocks another, one gets changes requested in its
    /// first review, one is not refined and is skipped with a comment.
    Milestone,
    /// A stub Sentry created for a crash in the sample repository, fixed through
    /// `/squad fix` sent to the running daemon: diagnosed, fixed with a regression test,
    /// reviewed twice and merged, with every step told in a Slack thread.
    Bugfix,
}

/// How an issue of a scenario ends, as `report.json` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its PR merged.
    Merged,
    /// It was not admitted; Squadron commented why.
    Skipped,
    /// Its squad stopped for a person to look.
    NeedsHuman,
    /// Its squad failed or was cancelled.
    Failed,
}

impl Outcome {
    /// The name written in `report.json` and the summary.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Merged => "merged",
            Outcome::Skipped => "skipped",
            Outcome::NeedsHuman => "needs-human",
            Outcome::Failed => "failed",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One issue of a scenario's active milestone and how it should end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedIssue {
    /// `ENG-2`.
    pub identifier: String,
    /// How the run should leave it.
    pub outcome: Outcome,
}

/// A scenario name that is not built in.
#[derive(Debug, thiserror::Error)]
#[error(
    "pick the demo scenario `{name}`: there is no such scenario; built-in scenarios: {}",
    Scenario::names().join(", ")
)]
pub struct UnknownScenario {
    /// The name given.
    pub name: String,
}

impl Scenario {
    /// Every built-in scenario.
    pub const ALL: [Scenario; 2] = [Scenario::Milestone, Scenario::Bugfix];

    /// The name given to `--scenario`.
    pub const fn name(self) -> &'static str {
        match self {
            Scenario::Milestone => "milestone",
            Scenario::Bugfix => "bugfix",
        }
    }

    /// The names of every scenario, for help and errors.
    pub fn names() -> Vec<&'static str> {
        Scenario::ALL
            .iter()
            .map(|scenario| scenario.name())
            .collect()
    }

    /// One line saying what the scenario shows.
    pub const fn description(self) -> &'static str {
        match self {
            Scenario::Milestone => {
                "a milestone of four issues: one blocks another, one gets changes requested \
                 in its first review, one is not refined and is skipped with a comment"
            }
            Scenario::Bugfix => {
                "a crash Sentry reported, fixed from Slack: `/squad fix ENG-1` sent to the \
                 running daemon diagnoses it, fixes it with a regression test, gets two \
                 approvals and merges, telling each step in a thread"
            }
        }
    }

    /// The Linear workspace the scenario starts from.
    pub fn linear_workspace(self) -> Workspace {
        match self {
            Scenario::Milestone => milestone_workspace(),
            Scenario::Bugfix => bugfix_workspace(),
        }
    }

    /// The scripts the stand-in model plays for every role and issue.
    pub fn script_book(self) -> Result<ScriptBook, ScriptError> {
        match self {
            Scenario::Milestone => ScriptBook::from_toml(
                include_str!("../../demo/scripts/milestone.toml"),
                "crates/squadron/demo/scripts/milestone.toml",
            ),
            Scenario::Bugfix => {
                ScriptBook::from_toml(BUGFIX_SCRIPTS, "crates/squadron/demo/scripts/bugfix.toml")
            }
        }
    }

    /// The issues of the active milestone and how each should end.
    pub fn expected(self) -> Vec<ExpectedIssue> {
        let issue = |identifier: &str, outcome| ExpectedIssue {
            identifier: identifier.to_owned(),
            outcome,
        };
        match self {
            Scenario::Milestone => vec![
                issue("ENG-2", Outcome::Merged),
                issue("ENG-3", Outcome::Merged),
                issue("ENG-4", Outcome::Merged),
                issue("ENG-5", Outcome::Skipped),
            ],
            Scenario::Bugfix => vec![issue(BUGFIX_ISSUE, Outcome::Merged)],
        }
    }

    /// The issue the scenario fixes through Slack's `/squad fix`; `None` for a scenario that
    /// runs a milestone.
    pub const fn fix_issue(self) -> Option<&'static str> {
        match self {
            Scenario::Milestone => None,
            Scenario::Bugfix => Some(BUGFIX_ISSUE),
        }
    }

    /// The project's URL, as a person would paste it from Linear.
    pub fn project_url(self) -> String {
        let slug = PROJECT_NAME.to_lowercase().replace(' ', "-");
        format!("https://linear.app/{WORKSPACE_KEY}/project/{slug}-{PROJECT_SLUG_ID}/overview")
    }
}

impl FromStr for Scenario {
    type Err = UnknownScenario;

    fn from_str(name: &str) -> Result<Scenario, UnknownScenario> {
        Scenario::ALL
            .into_iter()
            .find(|scenario| scenario.name() == name)
            .ok_or_else(|| UnknownScenario {
                name: name.to_owned(),
            })
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Team ENG with the project "Household ledger": the milestone "Foundations" is done, and
/// "Reports" is the active one with ENG-2 (blocks ENG-3), ENG-3, ENG-4 (its first code
/// review asks for a change) and ENG-5 (not refined). Each issue touches its own files, so
/// the merges never conflict.
fn milestone_workspace() -> Workspace {
    let mut workspace = Workspace::new(WORKSPACE_KEY);
    workspace.add_team(TEAM_KEY, "Engineering");
    let project = workspace.add_project(PROJECT_NAME, PROJECT_SLUG_ID);
    let foundations = workspace.add_milestone(&project, "Foundations", 1.0, "done");
    let reports = workspace.add_milestone(&project, "Reports", 2.0, "next");
    workspace.add_issue(
        IssueSpec::new(TEAM_KEY, "Parse and format amounts")
            .description(include_str!("../../demo/issues/parse.md"))
            .estimate(1.0)
            .state("Done")
            .milestone(&foundations),
    );
    let totals = workspace.add_issue(
        IssueSpec::new(TEAM_KEY, "Total spending per category")
            .description(include_str!("../../demo/issues/totals.md"))
            .estimate(2.0)
            .priority(2)
            .milestone(&reports),
    );
    let summary = workspace.add_issue(
        IssueSpec::new(TEAM_KEY, "Monthly spending summary")
            .description(include_str!("../../demo/issues/summary.md"))
            .estimate(3.0)
            .priority(2)
            .milestone(&reports),
    );
    workspace.add_issue(
        IssueSpec::new(TEAM_KEY, "Split an expense evenly")
            .description(include_str!("../../demo/issues/split.md"))
            .estimate(2.0)
            .priority(3)
            .milestone(&reports),
    );
    workspace.add_issue(
        IssueSpec::new(TEAM_KEY, "Export the ledger")
            .description(include_str!("../../demo/issues/export.md"))
            .priority(4)
            .milestone(&reports),
    );
    workspace.add_blocks(&totals, &summary);
    workspace
}

/// Team ENG with the project "Household ledger" and ENG-1, the stub Sentry's Linear
/// integration created for a crash of `read_export` on the bank's CSV export: the
/// `Sentry Issue:` line, the Python traceback into the sample package, and the Sentry
/// attachment, as Sentry writes them.
fn bugfix_workspace() -> Workspace {
    let mut workspace = Workspace::new(WORKSPACE_KEY);
    workspace.add_team(TEAM_KEY, "Engineering");
    workspace.add_project(PROJECT_NAME, PROJECT_SLUG_ID);
    let stub = workspace.add_issue(
        IssueSpec::new(
            TEAM_KEY,
            "ValueError: not enough values to unpack (expected 4, got 0)",
        )
        .description(include_str!("../../demo/issues/crash.md"))
        .priority(1),
    );
    workspace.add_attachment(
        &stub,
        "LEDGER-1A: ValueError: not enough values to unpack (expected 4, got 0)",
        "https://acme.sentry.io/issues/4511227/",
        "sentry",
    );
    workspace
}
