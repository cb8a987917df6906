//! `squadron plan <url>`: a dry run of intake and admission that changes nothing in Linear.
//!
//! Prints the project, the chosen milestone and why, then the admitted issues in start
//! order (with what each waits for: blockers to merge, and issues naming the same files to
//! finish) and the skipped ones with their reasons; `--json` prints the same as JSON.

use std::process::ExitCode;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Value, json};
use squadron_core::IssueKey;
use squadron_core::admission::{Admission, Decision, Verdict, admit};
use squadron_core::ports::MilestoneIntake;
use squadron_core::refinement::RefinementPolicy;
use squadron_linear::parse_project_url;

use crate::cli::{GlobalArgs, PlanArgs};
use crate::context::Context;
use crate::error::CliError;
use crate::wiring::{linear_client, linear_error};

/// Runs `squadron plan`.
///
/// # Errors
/// A user error for a bad URL or unknown project, a config error for missing credentials,
/// a transient error when Linear is unreachable or rate limited.
pub async fn run(global: &GlobalArgs, args: &PlanArgs) -> Result<ExitCode, CliError> {
    let project =
        parse_project_url(&args.url).map_err(|error| CliError::user(error.to_string()))?;
    let context = Context::load(global)?;
    let secrets = context.config.resolve_secrets(&context.env);
    let linear = linear_client(&context.config, &secrets)?;
    let intake = linear
        .resolve_milestone(&project)
        .await
        .map_err(linear_error)?;
    let policy = RefinementPolicy {
        max_estimate: Some(f64::from(context.config.limits.max_estimate)),
        require_estimate: context.config.limits.require_estimate,
    };
    let admission = admit(&intake.issues, &policy);
    if args.json {
        crate::output::println(&format!("{:#}", plan_json(&intake, &admission)))?;
    } else {
        crate::output::println(&plan_text(&intake, &admission))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn keys(keys: &[IssueKey]) -> Vec<&str> {
    keys.iter().map(IssueKey::as_str).collect()
}

/// The plan as JSON: `project`, `milestone` (`id`, `name`, `reason`), and `issues`, each with
/// `identifier`, `title`, `decision` (`admit` or `skip`), `needs_human`, `reasons`,
/// `waits_for` (blockers) and `starts_after` (issues naming the same `files` that go first).
pub fn plan_json(intake: &MilestoneIntake, admission: &Admission) -> Value {
    let issues: Vec<Value> = admission
        .decisions
        .iter()
        .map(|decision| {
            json!({
                "identifier": decision.key.as_str(),
                "title": decision.title,
                "decision": if decision.is_admitted() { "admit" } else { "skip" },
                "needs_human": matches!(decision.verdict, Verdict::NeedsHuman { .. }),
                "reasons": decision.reasons().iter().map(ToString::to_string).collect::<Vec<_>>(),
                "waits_for": keys(decision.waits_for()),
                "starts_after": decision.after.iter().map(|overlap| json!({
                    "issue": overlap.issue.as_str(),
                    "files": overlap.files,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "project": {
            "id": intake.project.id.as_str(),
            "name": intake.project.name,
            "url": intake.project.url,
        },
        "milestone": {
            "id": intake.milestone.id.as_str(),
            "name": intake.milestone.name,
            "reason": intake.choice.to_string(),
        },
        "issues": issues,
    })
}

/// What an admitted issue waits for, one line each: its blockers, then the issues naming the
/// same files that go first, with those files (`ENG-1 (same files: src/cart.rs)`).
fn waits(decision: &Decision) -> String {
    let mut lines: Vec<String> = decision
        .waits_for()
        .iter()
        .map(ToString::to_string)
        .collect();
    lines.extend(decision.after.iter().map(|overlap| {
        format!(
            "{} (same files: {})",
            overlap.issue,
            overlap.files.join(", ")
        )
    }));
    lines.join("\n")
}

/// The plan as text: a heading and two tables.
pub fn plan_text(intake: &MilestoneIntake, admission: &Admission) -> String {
    let mut out = format!(
        "Project   {} ({})\nMilestone {} — {}\n",
        intake.project.name, intake.project.url, intake.milestone.name, intake.choice
    );
    let admitted: Vec<_> = admission.admitted().collect();
    let skipped: Vec<_> = admission.skipped().collect();
    out.push_str(&format!(
        "\nAdmitted, in start order ({}):\n",
        admitted.len()
    ));
    if admitted.is_empty() {
        out.push_str("  none\n");
    } else {
        let mut table = Table::new();
        table.load_style(UTF8_FULL_CONDENSED);
        table.set_header(["#", "issue", "title", "waits for", "note"]);
        for (position, decision) in admitted.iter().enumerate() {
            let note: Vec<String> = decision
                .reasons()
                .iter()
                .map(|r| format!("needs a person: {r}"))
                .collect();
            table.add_row([
                (position + 1).to_string(),
                decision.key.to_string(),
                decision.title.clone(),
                waits(decision),
                note.join("\n"),
            ]);
        }
        out.push_str(&format!("{table}\n"));
    }
    out.push_str(&format!("\nSkipped ({}):\n", skipped.len()));
    if skipped.is_empty() {
        out.push_str("  none\n");
    } else {
        let mut table = Table::new();
        table.load_style(UTF8_FULL_CONDENSED);
        table.set_header(["issue", "title", "reasons"]);
        for decision in skipped {
            let reasons: Vec<String> = decision.reasons().iter().map(ToString::to_string).collect();
            table.add_row([
                decision.key.to_string(),
                decision.title.clone(),
                reasons.join("\n"),
            ]);
        }
        out.push_str(&format!("{table}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use squadron_core::ports::MilestoneChoice;
    use squadron_core::{
        Issue, IssueId, IssueState, Milestone, MilestoneId, MilestoneStatus, Priority, Project,
        ProjectId, StateType,
    };

    fn issue(key: &str, description: &str, state: StateType) -> Issue {
        Issue {
            id: IssueId::new(key),
            key: IssueKey::new(key),
            title: format!("title {key}"),
            description: description.to_owned(),
            acceptance_criteria: squadron_core::acceptance::parse_acceptance_criteria(description),
            estimate: Some(1.0),
            priority: Priority::None,
            state: IssueState {
                name: "Todo".to_owned(),
                kind: state,
            },
            labels: Vec::new(),
            branch_name: String::new(),
            url: String::new(),
            team_key: "ENG".to_owned(),
            blocked_by: Vec::new(),
            attachments: Vec::new(),
        }
    }

    fn intake(issues: Vec<Issue>) -> MilestoneIntake {
        let milestone = Milestone {
            id: MilestoneId::new("m-1"),
            name: "Beta".to_owned(),
            sort_order: 1.0,
            status: MilestoneStatus::Next,
        };
        MilestoneIntake {
            project: Project {
                id: ProjectId::new("p-1"),
                name: "Checkout".to_owned(),
                slug_id: "a5e6ddb5d475".to_owned(),
                url: "https://linear.app/acme/project/checkout-a5e6ddb5d475".to_owned(),
            },
            milestones: vec![milestone.clone()],
            milestone,
            choice: MilestoneChoice::FirstNotDone,
            issues,
        }
    }

    #[test]
    fn issues_naming_the_same_files_show_which_goes_first_and_why() {
        let touching = |key: &str, files: &str| {
            let description =
                format!("Scenario: a\n  Given x\n  When y\n  Then z\n\n## Files\n{files}\n");
            issue(key, &description, StateType::Unstarted)
        };
        let intake = intake(vec![
            touching("ENG-1", "- `src/cart.rs`\n- src/lib.rs"),
            touching("ENG-2", "- ./src/cart.rs:40"),
            touching("ENG-3", "- src/pay.rs"),
        ]);
        let admission = admit(&intake.issues, &RefinementPolicy::default());
        let value = plan_json(&intake, &admission);
        assert_eq!(value["issues"][0]["starts_after"], json!([]));
        assert_eq!(
            value["issues"][1]["starts_after"],
            json!([{"issue": "ENG-1", "files": ["src/cart.rs"]}])
        );
        assert_eq!(value["issues"][2]["starts_after"], json!([]));
        let text = plan_text(&intake, &admission);
        assert!(text.contains("ENG-1 (same files: src/cart.rs)"), "{text}");
    }

    #[test]
    fn json_has_the_documented_shape() {
        let intake = intake(vec![
            issue(
                "ENG-1",
                "Scenario: a\n  Given x\n  When y\n  Then z\n",
                StateType::Unstarted,
            ),
            issue("ENG-2", "nothing", StateType::Unstarted),
            issue("ENG-3", "", StateType::Completed),
        ]);
        let policy = RefinementPolicy {
            max_estimate: Some(5.0),
            require_estimate: false,
        };
        let admission = admit(&intake.issues, &policy);
        let value = plan_json(&intake, &admission);
        assert_eq!(value["milestone"]["id"], "m-1");
        assert_eq!(value["milestone"]["name"], "Beta");
        assert_eq!(value["issues"][0]["identifier"], "ENG-1");
        assert_eq!(value["issues"][0]["decision"], "admit");
        assert_eq!(value["issues"][0]["waits_for"], json!([]));
        assert_eq!(value["issues"][1]["decision"], "skip");
        assert!(
            value["issues"][1]["reasons"][0]
                .as_str()
                .unwrap_or_default()
                .contains("acceptance criteria")
        );
        assert_eq!(value["issues"][2]["reasons"], json!(["already completed"]));
        let text = plan_text(&intake, &admission);
        assert!(
            text.contains("Milestone Beta") && text.contains("Skipped (2)"),
            "{text}"
        );
    }
}
