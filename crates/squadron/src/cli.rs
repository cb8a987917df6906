//! Command-line arguments of `squadron`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::logging::LogFormat;

/// Squadron turns a refined Linear milestone into reviewed, merged code.
#[derive(Debug, Parser)]
#[command(
    name = "squadron",
    version,
    about = "Squadron turns a refined Linear milestone into reviewed, merged code",
    long_about = None,
    propagate_version = true
)]
pub struct Cli {
    /// Options every command shares.
    #[command(flatten)]
    pub global: GlobalArgs,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command shares.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file layered over the shipped defaults.
    #[arg(long, global = true, env = "SQUADRON_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Store location: a `postgres://` URL, or a SQLite file path or `sqlite://` URL.
    /// Defaults to `store.database_url` in the config, then a SQLite file in the data dir.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Log line format.
    #[arg(long, global = true, env = "SQUADRON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,

    /// Log filter in `RUST_LOG` syntax (e.g. `info,squadron_linear=debug`).
    #[arg(long, global = true, env = "RUST_LOG", value_name = "FILTER")]
    pub log: Option<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the configuration, agents, prompts, credentials, endpoints and sandbox.
    Doctor(DoctorArgs),
    /// Run a milestone in the foreground: every admitted issue to a merged PR, with live
    /// progress. Running the same URL again resumes an unfinished run.
    Run(RunArgs),
    /// Fix one bug (usually a Sentry-created stub) in the foreground: diagnose it, fix it
    /// with a regression test, review and merge, with live progress. Fixing the same issue
    /// again resumes an unfinished fix.
    Fix(FixArgs),
    /// Show runs and squads: issue, phase, round, PR, tokens, cost, age.
    Status(StatusArgs),
    /// Show one squad's event log and agent transcript.
    Logs(LogsArgs),
    /// Take a squad's merge back: open a PR reverting its merge commit (merged at once with
    /// `--now`), reopen the Linear issue with a comment linking it, and record the change
    /// failure.
    Revert(RevertArgs),
    /// Open a merge lane that stopped because the tests failed on its base after a merge
    /// (stop the line), once the base is repaired or the culprit reverted.
    ResumeLane(ResumeLaneArgs),
    /// Show delivery metrics from the store: merges per day, lead time, change failure
    /// rate, time to restore, flow efficiency, load and distribution, review rounds and cost
    /// per merged PR, for every repository and run.
    Metrics(MetricsArgs),
    /// Dry run: show which issues of a milestone would get a squad, changing nothing.
    Plan(PlanArgs),
    /// Run the whole pipeline offline on built-in stand-ins of Linear, GitHub and a model,
    /// with a sample repository and milestone; writes `report.json`. With `--standins`,
    /// only start the stand-ins, for `serve` and `run` to work against until Ctrl-C.
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
    /// The daemon: resume unfinished squads, run the scheduler, and serve the API,
    /// webhooks, metrics and dashboard until SIGTERM or SIGINT.
    Serve(ServeArgs),
}

impl Command {
    /// Whether the command draws live progress (and so keeps log lines off a terminal).
    pub fn shows_progress(&self) -> bool {
        match self {
            Command::Run(_) | Command::Fix(_) => true,
            // A reviewed revert may run its squad here, with live progress.
            Command::Revert(args) => !args.now,
            #[cfg(feature = "demo")]
            Command::Demo(_) => true,
            _ => false,
        }
    }
}

/// Arguments of `squadron doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Skip the network checks (endpoint reachability, identity look-ups).
    #[arg(long)]
    pub offline: bool,

    /// Also check a target repository: its `.squadron.toml` and its `agents/` and `prompts/`
    /// overrides.
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
}

/// Arguments of `squadron status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of tables.
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,

    /// Redraw every two seconds until Ctrl-C (for a terminal beside a running daemon).
    #[arg(long)]
    pub watch: bool,

    /// Show only this run (its id, as `squadron status` lists it).
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
}

/// Arguments of `squadron revert`.
#[derive(Debug, Args)]
pub struct RevertArgs {
    /// The merged change: its issue's identifier (`ENG-123`, the newest squad of the issue
    /// that is no revert) or its PR's URL.
    #[arg(value_name = "ENG-123 | PR URL")]
    pub target: String,

    /// Merge the revert at once, without review: for an emergency. Without it the revert is
    /// a squad of its own whose PR both reviewers review before it merges (through a stopped
    /// merge lane too): run here to the end, or by the daemon that runs the store's squads.
    #[arg(long)]
    pub now: bool,

    /// Why, written on the revert PR and the issue.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

/// Arguments of `squadron resume-lane`.
#[derive(Debug, Args)]
pub struct ResumeLaneArgs {
    /// The repository, as `owner/name`.
    #[arg(value_name = "OWNER/REPO")]
    pub repo: String,

    /// The base branch whose merge lane to resume.
    #[arg(value_name = "BASE")]
    pub base: String,
}

/// Arguments of `squadron metrics`.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Count only what happened since then: a date or time in RFC 3339 (`2026-11-01`,
    /// `2026-11-01T09:00:00Z`) or a span back from now (`7d`, `12h`, `30m`).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,

    /// Count only this run's squads (its id, as `squadron status` lists it).
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,

    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `squadron logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The squad: its id, or the issue identifier (e.g. `ENG-123`) for its newest squad.
    pub squad: String,

    /// Print JSON instead of text.
    #[arg(long, conflicts_with = "follow")]
    pub json: bool,

    /// Keep printing new events and messages as they are recorded, until the squad ends or
    /// Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,

    /// Show only this role's messages (repeatable): developer, qa, code-reviewer,
    /// qa-specialist, diagnostician.
    #[arg(long, value_name = "ROLE", value_parser = parse_role)]
    pub role: Vec<squadron_core::Role>,

    /// Show only events of this kind (repeatable), e.g. `phase-changed`, `review-verdict`.
    #[arg(long, value_name = "KIND")]
    pub kind: Vec<String>,
}

fn parse_role(text: &str) -> Result<squadron_core::Role, String> {
    text.parse()
        .map_err(|error: squadron_core::UnknownRole| error.to_string())
}

/// Arguments of `squadron plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The Linear project URL, optionally with `#milestone-<id>`.
    pub url: String,

    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `squadron serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port of the webhook listener, the one to expose (e.g. `0.0.0.0:8080`, or
    /// `127.0.0.1:0` for any free port). Defaults to `server.listen` in the config.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Address and port of the control API, dashboard and metrics, or `shared` to serve them
    /// on the webhook listener (which then needs the control token). Defaults to
    /// `server.control_listen` in the config; keep it private.
    #[arg(long, value_name = "ADDR", value_parser = parse_control_listen)]
    pub control_listen: Option<squadron_config::ControlListen>,
}

fn parse_control_listen(text: &str) -> Result<squadron_config::ControlListen, String> {
    if text == "shared" {
        return Ok(squadron_config::ControlListen::Shared);
    }
    text.parse()
        .map(squadron_config::ControlListen::Own)
        .map_err(|_| "expected an address such as 127.0.0.1:8081, or `shared`".to_owned())
}

/// Arguments of `squadron demo`.
#[cfg(feature = "demo")]
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The built-in scenario to run: `milestone` or `bugfix`.
    #[arg(long, value_name = "NAME", default_value = "milestone")]
    pub scenario: String,

    /// Keep the state in this directory: the configuration, the store, `report.json`, and
    /// the bare repositories under `remotes/`. Without it everything goes when the demo ends.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,

    /// Run the scenario through the daemon and keep its dashboard open after the run, until
    /// Ctrl-C, so it can be watched in a browser.
    #[arg(long)]
    pub serve: bool,

    /// Where the demo's daemon listens (e.g. `127.0.0.1:8080`); any free loopback port by
    /// default. The address is printed. With `--standins`, the first of five consecutive
    /// loopback ports the stand-ins take (Linear, GitHub, GitHub's log host, the model,
    /// Slack).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,

    /// Start only the stand-ins (Linear, GitHub with its bare repositories, the scripted
    /// model, Slack) as loopback services, print the configuration and environment that
    /// point `squadron serve` and `squadron run` at them, and keep them up until Ctrl-C.
    #[arg(long, conflicts_with_all = ["serve", "model"])]
    pub standins: bool,

    /// With `--standins`: serve a milestone of N generated independent issues instead of
    /// the scenario's.
    #[arg(
        long,
        value_name = "N",
        requires = "standins",
        conflicts_with = "scenario",
        value_parser = clap::value_parser!(u32).range(1..=MAX_GENERATED_ISSUES)
    )]
    pub issues: Option<u32>,

    /// Run every role on this real model (`provider/model`) instead of the scripted one; the
    /// provider, its price entry for the model and any profile keys come from `--config FILE`.
    #[arg(long, value_name = "PROVIDER/MODEL")]
    pub model: Option<String>,
}

#[cfg(feature = "demo")]
/// The most issues `squadron demo --standins --issues N` generates: each is a squad with a
/// worktree, so more would only measure the machine's disk.
pub const MAX_GENERATED_ISSUES: i64 = 500;

/// Arguments of `squadron run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The Linear project URL, optionally naming a milestone with `#milestone-<id>`.
    pub url: String,
}

/// Arguments of `squadron fix`.
#[derive(Debug, Args)]
pub struct FixArgs {
    /// The issue: its identifier (`ENG-123`) or its Linear URL
    /// (`https://linear.app/<workspace>/issue/ENG-123/<title>`).
    #[arg(value_name = "ENG-123 | URL")]
    pub issue: String,
}
