//! `squadron demo`: the whole pipeline offline. Starts the stand-ins (Linear, GitHub backed
//! by real bare repositories, the scripted model) on loopback, points a configuration at
//! them, and runs a built-in scenario through the real adapters, the real store and the
//! real runtime, with the same live progress and summary as `squadron run`. Writes
//! `report.json` and, with `--keep`, leaves the store and the bare repositories behind.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use squadron::demo::{
    DemoLimits, DemoReport, DemoWorld, IssueReport, Outcome, SAMPLE_REPO, Scenario,
};
use squadron_config::Env;
use squadron_core::Phase;
use squadron_pipeline::SquadView;

use crate::cli::DemoArgs;
use crate::commands::run::run_to_end;
use crate::context::Context;
use crate::error::{CliError, error_chain};
use crate::progress::{outcome_counts, summary_table};

/// Runs `squadron demo`.
///
/// # Errors
/// A user error for an unknown scenario or an unusable `--keep` directory; an internal
/// error when a stand-in or the runtime fails.
pub async fn run(args: &DemoArgs) -> Result<ExitCode, CliError> {
    let scenario: Scenario = args.scenario.parse().map_err(|error| {
        CliError::user(error_chain(&error))
            .with_hint("run `squadron demo --scenario milestone`, or leave --scenario out")
    })?;
    let (dir, _scratch) = state_dir(args.keep.as_deref())?;
    eprintln!(
        "demo `{scenario}`: {}\nstate in {}",
        scenario.description(),
        dir.display()
    );

    let world = DemoWorld::start(scenario)
        .await
        .map_err(|error| CliError::internal(format!("failed to {}", error_chain(&error))))?;
    let config_file = dir.join("squadron.toml");
    let config = world.config_toml(&dir.join("squadron.db"), DemoLimits::default());
    std::fs::write(&config_file, config).map_err(|error| {
        CliError::user(format!(
            "failed to write the demo configuration `{}`: {error}",
            config_file.display()
        ))
    })?;
    // The demo's secrets only: an exported SQUADRON_* override meant for real accounts must
    // not point the demo away from its stand-ins.
    let env: Env = world.secrets_env().into_iter().collect();
    let context = Context::with_env(config_file, env)?;

    let squads = run_to_end(&context, world.project_url()).await?;
    println!("{}", summary_table(&squads));
    println!("{}", outcome_counts(&squads));
    let report = report(scenario, &world, &squads);

    let report_file = dir.join("report.json");
    report.write(&report_file).map_err(|error| {
        CliError::user(format!(
            "failed to write `{}`: {error}",
            report_file.display()
        ))
    })?;
    if args.keep.is_some() {
        let remote = world
            .keep_remotes(&dir.join("remotes"))
            .await
            .map_err(|error| CliError::internal(format!("failed to {}", error_chain(&error))))?;
        eprintln!("bare repository: {}", remote.display());
    }
    eprintln!("report: {}", report_file.display());

    let unexpected = report.unexpected(&scenario.expected());
    if unexpected.is_empty() {
        eprintln!("demo `{scenario}`: every issue reached its expected outcome");
        Ok(ExitCode::SUCCESS)
    } else {
        for (issue, expected, actual) in &unexpected {
            eprintln!("demo `{scenario}`: {issue} ended {actual}, expected {expected}");
        }
        Ok(ExitCode::FAILURE)
    }
}

/// The directory the demo keeps its state in: `--keep DIR` (created if needed), else a
/// temporary directory removed when the returned guard drops.
fn state_dir(keep: Option<&Path>) -> Result<(PathBuf, Option<tempfile::TempDir>), CliError> {
    match keep {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|error| {
                CliError::user(format!(
                    "failed to create the --keep directory `{}`: {error}",
                    dir.display()
                ))
            })?;
            let dir = dir.canonicalize().map_err(|error| {
                CliError::user(format!(
                    "failed to resolve the --keep directory `{}`: {error}",
                    dir.display()
                ))
            })?;
            Ok((dir, None))
        }
        None => {
            let scratch = tempfile::Builder::new()
                .prefix("squadron-demo-")
                .tempdir()
                .map_err(|error| {
                    CliError::internal(format!(
                        "failed to create a temporary directory for the demo: {error}"
                    ))
                })?;
            Ok((scratch.path().to_path_buf(), Some(scratch)))
        }
    }
}

/// One entry per issue of the active milestone: its squad's end, or `skipped` for an issue
/// that got no squad. PR numbers and approvals are read back from the GitHub stand-in, and
/// the skip comment from the Linear stand-in, so the report shows what the services hold.
fn report(scenario: Scenario, world: &DemoWorld, squads: &[SquadView]) -> DemoReport {
    let expected = scenario.expected();
    let issues = expected
        .iter()
        .map(|issue| {
            let squad = squads
                .iter()
                .rev()
                .find(|squad| squad.issue.as_str() == issue.identifier);
            let mut entry = squad.map_or_else(|| skipped(&issue.identifier), issue_report);
            if let Some(pr) = entry.pr {
                entry.approved_by = approvals_of_head(world, pr);
            }
            if entry.outcome == Outcome::Skipped.as_str() {
                entry.comment = world
                    .linear
                    .with_workspace(|workspace| workspace.comments_of(&issue.identifier))
                    .pop();
            }
            entry
        })
        .collect();
    DemoReport::new(scenario.name(), world.project_url(), &expected, issues)
}

fn skipped(identifier: &str) -> IssueReport {
    IssueReport {
        identifier: identifier.to_owned(),
        outcome: Outcome::Skipped.as_str().to_owned(),
        pr: None,
        merged_sha: None,
        rounds: 0,
        approved_by: Vec::new(),
        tokens: 0,
        cost: 0.0,
        comment: None,
    }
}

fn issue_report(squad: &SquadView) -> IssueReport {
    let outcome = match squad.phase {
        Phase::Merged => Outcome::Merged,
        Phase::Skipped(_) => Outcome::Skipped,
        Phase::NeedsHuman(_) => Outcome::NeedsHuman,
        _ => Outcome::Failed,
    };
    IssueReport {
        identifier: squad.issue.to_string(),
        outcome: outcome.as_str().to_owned(),
        pr: squad.pr.map(|pr| pr.0),
        merged_sha: squad.merged_sha.as_ref().map(ToString::to_string),
        rounds: squad.round,
        approved_by: squad.approved_by.clone(),
        tokens: squad.tokens.total(),
        cost: squad.cost.as_dollars(),
        comment: None,
    }
}

/// The logins whose latest opinion on PR `number` is an approval of its current head, as
/// the GitHub stand-in records them.
fn approvals_of_head(world: &DemoWorld, number: u64) -> Vec<String> {
    let Ok(pulls) = world.github.pulls(SAMPLE_REPO) else {
        return Vec::new();
    };
    let Some(head) = pulls
        .iter()
        .find(|pull| pull.number == number)
        .map(|pull| pull.head_sha.clone())
    else {
        return Vec::new();
    };
    let reviews = world
        .github
        .reviews(SAMPLE_REPO, number)
        .unwrap_or_default();
    let mut latest: Vec<(String, String, String)> = Vec::new();
    for review in reviews
        .into_iter()
        .filter(|review| review.state != "COMMENTED" && review.state != "PENDING")
    {
        latest.retain(|(user, _, _)| user != &review.user);
        latest.push((review.user, review.state, review.commit_id));
    }
    let mut logins: Vec<String> = latest
        .into_iter()
        .filter(|(_, state, commit)| state == "APPROVED" && commit == &head)
        .map(|(user, _, _)| user)
        .collect();
    logins.sort();
    logins
}
