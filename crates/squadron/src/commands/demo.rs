//! `squadron demo`: the whole pipeline offline. Starts the stand-ins (Linear, GitHub backed
//! by real bare repositories, the scripted model, Slack) on loopback, points a configuration
//! at them, and runs a built-in scenario through the real adapters, the real store and the
//! real runtime, with the same live progress and summary as `squadron run`. The milestone
//! scenario runs like `squadron run`; the bug-fix scenario starts the daemon's HTTP server
//! in-process and sends it a signed `/squad fix`, as Slack would. Writes `report.json` and,
//! with `--keep`, leaves the store and the bare repositories behind.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use squadron::demo::{
    DemoLimits, DemoReport, DemoWorld, IssueReport, Outcome, SAMPLE_REPO, SLACK_SIGNING_SECRET,
    Scenario,
};
use squadron::server::{self, PipelineControl, Server};
use squadron_config::Env;
use squadron_core::{IssueKey, Phase};
use squadron_pipeline::{PipelineHandle, SquadView};
use squadron_standin_slack::SlashCommandRequest;
use tokio::net::TcpListener;

use crate::cli::DemoArgs;
use crate::commands::run::{build_pipeline, follow_to_end};
use crate::commands::serve::server_settings;
use crate::context::Context;
use crate::error::{CliError, error_chain};
use crate::format::now;
use crate::progress::{ProgressView, summary};
use crate::wiring::SystemClock;

/// How often the demo looks for a reply the daemon sent to the command's response URL,
/// which would mean the fix could not start.
const REPLY_POLL: Duration = Duration::from_millis(200);

/// Runs `squadron demo`.
///
/// # Errors
/// A user error for an unknown scenario or an unusable `--keep` directory; an internal
/// error when a stand-in or the runtime fails.
pub async fn run(args: &DemoArgs) -> Result<ExitCode, CliError> {
    let scenario: Scenario = args.scenario.parse().map_err(|error| {
        CliError::user(error_chain(&error)).with_hint(
            "run `squadron demo --scenario milestone` or `--scenario bugfix`, or leave \
                 --scenario out",
        )
    })?;
    check_requirements()?;
    let (dir, _scratch) = state_dir(args.keep.as_deref())?;
    let kept = if args.keep.is_some() {
        format!("state kept in {}", dir.display())
    } else {
        "nothing is kept (add --keep DIR to keep the store, report.json and the repositories)"
            .to_owned()
    };
    say(&format!(
        "demo `{scenario}`: {}\n{kept}",
        scenario.description()
    ));

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

    let interrupted = if args.keep.is_some() {
        format!(
            "interrupted: the demo stopped; what it did so far is kept in {}",
            dir.display()
        )
    } else {
        "interrupted: the demo stopped and its state is discarded".to_owned()
    };
    let squads = match scenario.fix_issue() {
        None => {
            let url = world.project_url().to_owned();
            follow_to_end(&context, &interrupted, |handle| async move {
                handle.start_run(&url).await
            })
            .await?
        }
        Some(issue) => vec![fix_through_slack(&context, &world, issue, &interrupted).await?],
    };
    crate::output::println(&summary(&squads))?;
    if scenario.fix_issue().is_some() {
        crate::output::println(&slack_threads(&world))?;
    }
    let report = report(scenario, &world, &context, &squads).await;

    if args.keep.is_some() {
        let report_file = dir.join("report.json");
        report.write(&report_file).map_err(|error| {
            CliError::user(format!(
                "failed to write `{}`: {error}",
                report_file.display()
            ))
        })?;
        let remote = world
            .keep_remotes(&dir.join("remotes"))
            .await
            .map_err(|error| CliError::internal(format!("failed to {}", error_chain(&error))))?;
        say(&format!(
            "report: {}\nbare repository: {}",
            report_file.display(),
            remote.display()
        ));
    }

    let unexpected = report.unexpected(&scenario.expected());
    if unexpected.is_empty() {
        say(&format!(
            "demo `{scenario}`: every issue reached its expected outcome"
        ));
        Ok(ExitCode::SUCCESS)
    } else {
        for (issue, expected, actual) in &unexpected {
            say(&format!(
                "demo `{scenario}`: {issue} ended {actual}, expected {expected}"
            ));
        }
        Ok(ExitCode::FAILURE)
    }
}

/// Tells the person watching, on stderr beside the progress; a closed stderr is ignored.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// The programs the demo runs besides itself: `git` (the stand-in GitHub serves real bare
/// repositories through `git http-backend`, and worktrees are git's) and `python3` (the
/// sample repository is a Python project whose tests the guardrails run). Checked first so
/// a missing one is named, instead of surfacing as a stand-in script that ran out of steps.
const REQUIREMENTS: [(&str, &str); 2] = [
    (
        "git",
        "the stand-in GitHub keeps real bare repositories and squads work in git worktrees",
    ),
    (
        "python3",
        "the sample repository is a Python project whose tests the agents run",
    ),
];

fn check_requirements() -> Result<(), CliError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let missing: Vec<String> = REQUIREMENTS
        .iter()
        .filter(|(program, _)| !std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .map(|(program, why)| format!("{program} ({why})"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(CliError::config(format!(
        "failed to start the demo: not found on PATH: {}",
        missing.join("; ")
    ))
    .with_hint(
        "install them (on Debian or Ubuntu: `apt-get install git python3`) and run the demo again",
    ))
}

/// Runs the daemon's HTTP server in-process on a free loopback port in front of the real
/// runtime, sends it `/squad fix <issue>` signed as Slack signs it, and follows the fix
/// with live progress until its squad has ended; then stops the server, which lets the
/// runtime checkpoint. Returns the squad.
async fn fix_through_slack(
    context: &Context,
    world: &DemoWorld,
    issue: &str,
    interrupted: &str,
) -> Result<SquadView, CliError> {
    let store = Arc::new(context.open_store().await?);
    let pipeline = build_pipeline(context, Arc::clone(&store)).await?;
    let handle = pipeline.handle();
    let secrets = context.config.resolve_secrets(&context.env);
    let settings = server_settings(context, &secrets);
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|error| {
        CliError::internal(format!(
            "failed to listen on a loopback port for the demo's daemon: {error}"
        ))
    })?;
    let address = listener.local_addr().map_err(|error| internal(&error))?;
    let control = Arc::new(PipelineControl::start(pipeline, store));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::run(
        listener,
        Server::new(control, Arc::new(SystemClock), settings),
        async move {
            let _ = stopped.await;
        },
    ));

    let outcome = async {
        let text = format!("fix {issue}");
        let signed = SlashCommandRequest::new("/squad", &text)
            .with_response_url(&world.slack.response_url("demo"))
            .sign(SLACK_SIGNING_SECRET, now().as_millis() / 1000);
        say(&format!("slack: /squad {text}"));
        let mut request = reqwest::Client::new()
            .post(format!("http://{address}/webhooks/slack"))
            .body(signed.body.clone());
        for (name, value) in signed.headers() {
            request = request.header(name, value);
        }
        let answer = request
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|error| internal(&error))?;
        let answer: serde_json::Value = answer.json().await.map_err(|error| internal(&error))?;
        say(&format!(
            "squadron: {}",
            answer["text"].as_str().unwrap_or("(no acknowledgement)")
        ));
        follow_fix(&handle, world, &IssueKey::from(issue), interrupted).await
    }
    .await;

    let _ = stop.send(());
    match serving.await {
        Ok(Ok(())) => outcome,
        Ok(Err(error)) => Err(internal(&error)),
        Err(error) => Err(CliError::internal(format!(
            "the demo's daemon panicked: {error}"
        ))),
    }
}

/// An unexpected failure of the demo's own plumbing.
fn internal(error: &(dyn std::error::Error + 'static)) -> CliError {
    CliError::internal(format!("failed to {}", error_chain(error)))
}

/// Shows live progress of the fix of `issue` until its run has finished, and returns its
/// squad. Fails when the daemon tells the person (through the command's response URL) that
/// the fix could not start.
async fn follow_fix(
    handle: &PipelineHandle,
    world: &DemoWorld,
    issue: &IssueKey,
    interrupted: &str,
) -> Result<SquadView, CliError> {
    let mut progress = handle.progress();
    let mut view = ProgressView::new();
    let mut poll = tokio::time::interval(REPLY_POLL);
    loop {
        let squad = progress.borrow_and_update().squad_for_issue(issue).cloned();
        if let Some(squad) = squad {
            let current = progress.borrow().squads_of(&squad.run);
            view.update(&current);
            if progress
                .borrow()
                .run(&squad.run)
                .is_some_and(|run| run.finished)
            {
                return Ok(current.into_iter().next().unwrap_or(squad));
            }
        }
        tokio::select! {
            changed = progress.changed() => {
                if changed.is_err() {
                    return Err(CliError::internal("the squad runtime stopped before the fix finished"));
                }
            }
            _ = poll.tick() => {
                if let Some(reply) = world.slack.responses().into_iter().next() {
                    let text = reply.body["text"].as_str().unwrap_or_default().to_owned();
                    return Err(CliError::internal(format!(
                        "failed to start the demo's fix of {issue}: Squadron replied \"{text}\""
                    )));
                }
            }
            _ = tokio::signal::ctrl_c() => {
                return Err(CliError::transient(interrupted));
            }
        }
    }
}

/// Every Slack thread the stand-in recorded, as a person would read the channel.
fn slack_threads(world: &DemoWorld) -> String {
    let mut text = String::from("Slack:");
    for thread in world.slack.threads() {
        let line = |message: &squadron_standin_slack::RecordedMessage| {
            message
                .text
                .clone()
                .unwrap_or_default()
                .replace('\n', "\n    ")
        };
        text.push_str(&format!(
            "\n#{} {}",
            thread.parent.channel,
            line(&thread.parent)
        ));
        for reply in &thread.replies {
            text.push_str(&format!("\n  └ {}", line(reply)));
        }
    }
    text
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
/// that got no squad. PR numbers and approvals are read back from the GitHub stand-in, the
/// skip comment from the Linear stand-in, and the durations from the store, so the report
/// shows what the services and the store hold.
async fn report(
    scenario: Scenario,
    world: &DemoWorld,
    context: &Context,
    squads: &[SquadView],
) -> DemoReport {
    let expected = scenario.expected();
    let run = squads.first().map(|squad| squad.run.clone());
    let timing = match &run {
        Some(run) => run_timing(context, run).await,
        None => RunTiming::default(),
    };
    let issues = expected
        .iter()
        .map(|issue| {
            let squad = squads
                .iter()
                .rev()
                .find(|squad| squad.issue.as_str() == issue.identifier);
            let mut entry = squad.map_or_else(|| skipped(&issue.identifier), issue_report);
            if let Some(squad) = squad {
                entry.duration_seconds = timing.squads.get(&squad.squad).copied();
            }
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
    DemoReport::new(
        scenario.name(),
        world.project_url(),
        run.map(|run| run.to_string()),
        &expected,
        issues,
        timing.run_seconds,
    )
}

/// How long a run and each of its squads took, as the store recorded them.
#[derive(Debug, Default)]
struct RunTiming {
    /// From the run's start to its last squad's last change.
    run_seconds: f64,
    /// From each squad's admission to its last change (its end, once it ended).
    squads: std::collections::HashMap<squadron_core::SquadId, f64>,
}

/// Reads the run's timing from the store; a store that cannot be read leaves it empty,
/// which the report shows as unknown durations rather than failing the demo.
async fn run_timing(context: &Context, run: &squadron_core::RunId) -> RunTiming {
    let Ok(store) = context.open_store().await else {
        return RunTiming::default();
    };
    let mut timing = RunTiming::default();
    if let (Ok(record), Ok(squads)) = (store.run(run).await, store.squads_of_run(run).await) {
        let seconds = |from: squadron_core::Timestamp, to: squadron_core::Timestamp| {
            to.since(from).as_secs_f64()
        };
        let last = squads.iter().map(|squad| squad.updated_at).max();
        timing.run_seconds = last.map_or(0.0, |last| seconds(record.run.created_at, last));
        timing.squads = squads
            .iter()
            .map(|squad| {
                (
                    squad.squad.id.clone(),
                    seconds(squad.created_at, squad.updated_at),
                )
            })
            .collect();
    }
    store.close().await;
    timing
}

fn skipped(identifier: &str) -> IssueReport {
    IssueReport {
        identifier: identifier.to_owned(),
        outcome: Outcome::Skipped.as_str().to_owned(),
        pr: None,
        pr_url: None,
        merged_sha: None,
        rounds: 0,
        approved_by: Vec::new(),
        tokens: 0,
        cost_usd: 0.0,
        duration_seconds: None,
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
        pr_url: squad.pr_url.clone(),
        merged_sha: squad.merged_sha.as_ref().map(ToString::to_string),
        rounds: squad.round,
        approved_by: squad.approved_by.clone(),
        tokens: squad.tokens.total(),
        cost_usd: squad.cost.as_dollars(),
        duration_seconds: None,
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
