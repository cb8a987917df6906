//! `squadron demo`: the whole pipeline offline. Starts the stand-ins (Linear, GitHub backed
//! by real bare repositories, the scripted model, Slack) on loopback, points a configuration
//! at them, and runs a built-in scenario through the real adapters, the real store and the
//! real runtime, with the same live progress and summary as `squadron run`. The milestone
//! scenario runs like `squadron run`; the bug-fix scenario starts the daemon's HTTP server
//! in-process and sends it a signed `/squad fix`, as Slack would. With `--serve` every
//! scenario runs through that daemon (the milestone started with `POST /api/runs`, as the
//! dashboard does), whose dashboard stays open after the run until Ctrl-C. With `--keep` it
//! writes `report.json` and leaves the store and the bare repositories behind. With
//! `--standins` it only serves the stand-ins (`standins.rs`).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use squadron::demo::{
    DemoLimits, DemoReport, DemoWorld, IssueReport, Outcome, SAMPLE_REPO, SLACK_SIGNING_SECRET,
    Scenario,
};
use squadron::server::{self, Listeners, PipelineControl, Server};
use squadron_config::{ControlListen, Env};
use squadron_core::{IssueKey, Phase};
use squadron_pipeline::{PipelineHandle, SquadView};
use squadron_standin_slack::SlashCommandRequest;
use squadron_store::SqlStore;
use tokio::net::TcpListener;

use crate::cli::{DemoArgs, GlobalArgs};
use crate::commands::follow::{Followed, follow};
use crate::commands::run::{build_pipeline, follow_to_end};
use crate::commands::serve::{check_exposure, server_settings};
use crate::context::Context;
use crate::error::{CliError, error_chain};
use crate::format::now;
use crate::progress::{Look, summary, wrap};
use crate::wiring::SystemClock;

/// How often the demo looks for a reply the daemon sent to the command's response URL,
/// which would mean the fix could not start.
const REPLY_POLL: Duration = Duration::from_millis(200);

/// Runs `squadron demo`.
///
/// # Errors
/// A user error for an unknown scenario or an unusable `--keep` directory; an internal
/// error when a stand-in or the runtime fails.
pub async fn run(global: &GlobalArgs, args: &DemoArgs) -> Result<ExitCode, CliError> {
    if args.standins {
        return crate::commands::standins::run(args).await;
    }
    let real_model = match &args.model {
        Some(model) => Some(real_model_config(global, model)?),
        None => None,
    };
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
    let mut config = world.config_toml(&dir.join("squadron.db"), DemoLimits::default());
    if let Some(real) = &real_model {
        config.push_str(real);
    }
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
    let look = Look::of_stdout();
    let (followed, daemon) = if args.serve || scenario.fix_issue().is_some() {
        let daemon = DemoDaemon::start(&context, args.listen).await?;
        if args.serve {
            say(&format!(
                "dashboard: http://{}/ (it stays open after the run until Ctrl-C)",
                daemon.address
            ));
        }
        let followed = match scenario.fix_issue() {
            Some(issue) => fix_through_slack(&daemon, &world, issue, &interrupted, look).await,
            None => run_through_api(&daemon, world.project_url(), &interrupted, look).await,
        };
        match followed {
            Ok(followed) => (followed, Some(daemon)),
            Err(error) => {
                daemon.stop().await?;
                return Err(error);
            }
        }
    } else {
        let url = world.project_url().to_owned();
        let followed = follow_to_end(&context, look, &interrupted, |handle| async move {
            handle.start_run(&url).await
        })
        .await?;
        (followed, None)
    };
    let squads = followed.squads;
    crate::output::println(&summary(&squads, followed.duration, look.width()))?;
    // Chat posts are queued off the squads' path and the daemon makes the last of them as
    // it stops: stop it before showing the threads (a served demo shows them once stopped).
    let daemon = match daemon {
        Some(daemon) if !args.serve => {
            daemon.stop().await?;
            None
        }
        daemon => daemon,
    };
    if scenario.fix_issue().is_some() && daemon.is_none() {
        crate::output::println(&slack_threads(&world, look.width()))?;
    }
    let report = report(scenario, &world, &context, &squads).await;

    if args.keep.is_some() {
        let reuse = squadron::demo::prefix_reuse(&world.model.requests());
        let _ = std::fs::write(dir.join("prompt-prefix.txt"), reuse.render());
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
    let code = if unexpected.is_empty() {
        say(&format!(
            "demo `{scenario}`: every issue reached its expected outcome"
        ));
        ExitCode::SUCCESS
    } else {
        for (issue, expected, actual) in &unexpected {
            say(&format!(
                "demo `{scenario}`: {issue} ended {actual}, expected {expected}"
            ));
        }
        ExitCode::FAILURE
    };
    if let Some(daemon) = daemon {
        if args.serve {
            say(&format!(
                "the dashboard stays open at http://{}/ ; press Ctrl-C to stop",
                daemon.address
            ));
            crate::interrupt::requested().await;
        }
        daemon.stop().await?;
        if scenario.fix_issue().is_some() {
            crate::output::println(&slack_threads(&world, look.width()))?;
        }
    }
    Ok(code)
}

/// The daemon's HTTP server in-process on a loopback port, in front of the real runtime:
/// what `squadron serve` runs, for the scenarios that go through it.
struct DemoDaemon {
    handle: PipelineHandle,
    store: Arc<SqlStore>,
    address: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<Result<(), server::ServeError>>,
}

impl DemoDaemon {
    /// Builds the runtime and serves it on `listen` (a free loopback port without one).
    async fn start(context: &Context, listen: Option<SocketAddr>) -> Result<DemoDaemon, CliError> {
        let store = Arc::new(context.open_store().await?);
        let pipeline = build_pipeline(context, Arc::clone(&store)).await?;
        let handle = pipeline.handle();
        // From here Ctrl-C checkpoints the runtime, and a second one exits at once.
        crate::interrupt::watch();
        let secrets = context.config.resolve_secrets(&context.env);
        let settings = server_settings(context, &secrets);
        let listen = listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        // The demo serves its dashboard and API on its one listener: never open to the
        // network without the control token.
        check_exposure(listen, ControlListen::Shared, &settings.control)?;
        let listener = TcpListener::bind(listen).await.map_err(|error| {
            CliError::user(format!(
                "failed to listen on {listen} for the demo's daemon: {error}"
            ))
            .with_hint("pick a free address with --listen, e.g. 127.0.0.1:8080, or leave it out for any free port")
        })?;
        let address = listener.local_addr().map_err(|error| internal(&error))?;
        let control = Arc::new(PipelineControl::start(pipeline, Arc::clone(&store)));
        control.know_repositories(squadron::delivery::team_repositories(&context.config));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server::run(
            Listeners::shared(listener),
            Server::new(control, Arc::new(SystemClock), settings),
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(DemoDaemon {
            handle,
            store,
            address,
            stop,
            serving,
        })
    }

    /// Stops serving, which lets the runtime checkpoint.
    async fn stop(self) -> Result<(), CliError> {
        let _ = self.stop.send(());
        match self.serving.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(internal(&error)),
            Err(error) => Err(CliError::internal(format!(
                "the demo's daemon panicked: {error}"
            ))),
        }
    }
}

/// Starts the milestone run with `POST /api/runs`, as the dashboard does, and follows it.
async fn run_through_api(
    daemon: &DemoDaemon,
    url: &str,
    interrupted: &str,
    look: Look,
) -> Result<Followed, CliError> {
    let answer = reqwest::Client::new()
        .post(format!("http://{}/api/runs", daemon.address))
        .json(&serde_json::json!({ "url": url }))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|error| internal(&error))?;
    let answer: serde_json::Value = answer.json().await.map_err(|error| internal(&error))?;
    let run = answer["run_id"].as_str().ok_or_else(|| {
        CliError::internal(format!(
            "failed to start the demo's run: the daemon answered {answer}"
        ))
    })?;
    follow(
        &daemon.handle,
        &daemon.store,
        &squadron_core::RunId::new(run),
        interrupted,
        look,
    )
    .await
}

/// The configuration that points every role of the demo at `model`: the provider's table
/// (and any `[profiles]`) from the `--config` file, and `[agents] model`.
fn real_model_config(global: &GlobalArgs, model: &str) -> Result<String, CliError> {
    let reference = squadron_config::ModelRef::parse(model).map_err(|problem| {
        CliError::user(format!("`--model {model}`: {problem}"))
            .with_hint("write it as provider/model, e.g. --model llama/gemma-3-270m")
    })?;
    let Some(file) = &global.config else {
        return Err(CliError::user(format!(
            "`--model {model}` needs the provider `{}` from a configuration file",
            reference.provider()
        ))
        .with_hint(format!(
            "pass --config FILE with [providers.{0}] (base_url, kind) and [providers.{0}.models.\"{1}\"] (prices, 0 for a local model)",
            reference.provider(),
            reference.model()
        )));
    };
    let text = std::fs::read_to_string(file).map_err(|error| {
        CliError::config(format!("failed to read `{}`: {error}", file.display()))
    })?;
    let table: toml::Table = text.parse().map_err(|error| {
        CliError::config(format!("failed to parse `{}`: {error}", file.display()))
    })?;
    let provider = table
        .get("providers")
        .and_then(|providers| providers.get(reference.provider()))
        .cloned()
        .ok_or_else(|| {
            CliError::config(format!(
                "`{}` has no [providers.{}] for `--model {model}`",
                file.display(),
                reference.provider()
            ))
        })?;
    let mut extra = toml::Table::new();
    let mut providers = toml::Table::new();
    providers.insert(reference.provider().to_owned(), provider);
    extra.insert("providers".to_owned(), toml::Value::Table(providers));
    if let Some(profiles) = table.get("profiles") {
        extra.insert("profiles".to_owned(), profiles.clone());
    }
    let mut agents = toml::Table::new();
    agents.insert("model".to_owned(), toml::Value::String(model.to_owned()));
    extra.insert("agents".to_owned(), toml::Value::Table(agents));
    let rendered = toml::to_string(&extra).map_err(|error| {
        CliError::internal(format!("failed to write the demo configuration: {error}"))
    })?;
    Ok(format!(
        "\n# From {} for `squadron demo --model {model}`.\n{rendered}",
        file.display()
    ))
}

/// Tells the person watching, on stderr beside the progress, wrapped to the terminal's
/// width; a closed stderr is ignored.
pub(crate) fn say(text: &str) {
    let stderr = console::Term::stderr();
    let width = stderr.is_term().then(|| usize::from(stderr.size().1));
    let _ = writeln!(std::io::stderr(), "{}", wrap(text, width, 2));
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

pub(crate) fn check_requirements() -> Result<(), CliError> {
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

/// Sends the daemon `/squad fix <issue>` signed as Slack signs it, and follows the fix
/// with live progress until its squad has ended.
async fn fix_through_slack(
    daemon: &DemoDaemon,
    world: &DemoWorld,
    issue: &str,
    interrupted: &str,
    look: Look,
) -> Result<Followed, CliError> {
    let text = format!("fix {issue}");
    let signed = SlashCommandRequest::new("/squad", &text)
        .with_response_url(&world.slack.response_url("demo"))
        .sign(SLACK_SIGNING_SECRET, now().as_millis() / 1000);
    say(&format!("slack: /squad {text}"));
    let mut request = reqwest::Client::new()
        .post(format!("http://{}/webhooks/slack", daemon.address))
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
    let run = fix_started(&daemon.handle, world, &IssueKey::from(issue), interrupted).await?;
    follow(&daemon.handle, &daemon.store, &run, interrupted, look).await
}

/// An unexpected failure of the demo's own plumbing.
fn internal(error: &(dyn std::error::Error + 'static)) -> CliError {
    CliError::internal(format!("failed to {}", error_chain(error)))
}

/// Waits until the fix of `issue` has a squad, and returns its run. Fails when the daemon
/// tells the person (through the command's response URL) that the fix could not start.
async fn fix_started(
    handle: &PipelineHandle,
    world: &DemoWorld,
    issue: &IssueKey,
    interrupted: &str,
) -> Result<squadron_core::RunId, CliError> {
    let mut progress = handle.progress();
    let mut poll = tokio::time::interval(REPLY_POLL);
    loop {
        if let Some(squad) = progress.borrow_and_update().squad_for_issue(issue) {
            return Ok(squad.run.clone());
        }
        tokio::select! {
            changed = progress.changed() => {
                if changed.is_err() {
                    return Err(CliError::internal("the squad runtime stopped before the fix started"));
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
            _ = crate::interrupt::requested() => {
                return Err(CliError::transient(interrupted));
            }
        }
    }
}

/// Every Slack thread the stand-in recorded, as a person would read the channel.
fn slack_threads(world: &DemoWorld, width: Option<usize>) -> String {
    let mut text = String::from("Slack:");
    for thread in world.slack.threads() {
        let plain = |message: &squadron_standin_slack::RecordedMessage| {
            plain_mrkdwn(message.text.as_deref().unwrap_or_default())
        };
        let parent = format!("#{} {}", thread.parent.channel, plain(&thread.parent));
        text.push('\n');
        text.push_str(&wrap(&parent, width, 4));
        for reply in &thread.replies {
            text.push('\n');
            text.push_str(&wrap(&format!("  └ {}", plain(reply)), width, 4));
        }
    }
    text
}

/// Slack's mrkdwn as a terminal shows it: `<url|label>` as `label (url)`, `<url>` as the
/// URL, `*bold*` and `_italic_` without their marks, and `&lt;`, `&gt;`, `&amp;` unescaped.
fn plain_mrkdwn(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('>') {
            Some(close) => {
                let link = &after[..close];
                match link.split_once('|') {
                    Some((url, label)) => out.push_str(&format!("{label} ({url})")),
                    None => out.push_str(link),
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    let unmarked: String = out
        .split('\n')
        .map(|line| {
            line.split(' ')
                .map(strip_marks)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n");
    unmarked
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A word without the `*…*` or `_…_` that make it bold or italic in mrkdwn.
fn strip_marks(word: &str) -> String {
    let mut word = word.to_owned();
    for mark in ['*', '_'] {
        let starts = word.starts_with(mark);
        let ends = word
            .trim_end_matches([',', '.', ':', ';', ')'])
            .ends_with(mark);
        if starts {
            word.remove(0);
        }
        if ends && let Some(at) = word.rfind(mark) {
            word.remove(at);
        }
    }
    word
}

/// The directory the demo keeps its state in: `--keep DIR` (created if needed), else a
/// temporary directory removed when the returned guard drops.
pub(crate) fn state_dir(
    keep: Option<&Path>,
) -> Result<(PathBuf, Option<tempfile::TempDir>), CliError> {
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
        reason: None,
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
        reason: squad.phase.detail().map(str::to_owned),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_mrkdwn_reads_as_plain_text_on_a_terminal() {
        assert_eq!(
            plain_mrkdwn(
                "*PR opened*: <https://github.test/acme/ledger/pull/4|#4> for _ENG-1_ &amp; more"
            ),
            "PR opened: #4 (https://github.test/acme/ledger/pull/4) for ENG-1 & more"
        );
        assert_eq!(
            plain_mrkdwn("see <https://linear.test/i/ENG-1> and snake_case_name"),
            "see https://linear.test/i/ENG-1 and snake_case_name"
        );
    }
}
