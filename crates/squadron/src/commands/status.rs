//! `squadron status`: every run (or one, with `--run`) with its totals and its squads, read
//! from the store, fitted to the terminal's width: reasons and waits go below each table.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Value, json};
use squadron_config::Config;
use squadron_core::lease::Lease;
use squadron_core::merge_queue::MergeLane;
use squadron_core::ports::{RepoRef, RunRecord, SquadRecord, StoppedLane};
use squadron_core::{Phase, RunId, RunTrigger, SquadId, Timestamp, Usd};
use squadron_store::{DaemonRecord, SqlStore, SquadOverview};

use crate::cli::{GlobalArgs, StatusArgs};
use crate::context::{Context, store_error};
use crate::error::CliError;
use crate::format::{age, compact_tokens, now, rfc3339};
use crate::progress::{Look, wrap};
use squadron::labels::{flaky_checks, gate_hold, stopped_lane_json, waits_for};
use squadron_pipeline::{Waiting, lane_stop_summary};

/// What a store without runs shows.
const NO_RUNS: &str = "No runs yet. Start one with `squadron run <Linear project URL>`.\n";

/// How often `--watch` redraws.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Prints runs and squads as tables, or as JSON with `--json`; with `--watch`, redraws the
/// tables until Ctrl-C. The store is read afresh each time, so a running daemon's or
/// `squadron run`'s progress shows live.
pub async fn run(global: &GlobalArgs, args: &StatusArgs) -> Result<ExitCode, CliError> {
    let context = Context::load(global)?;
    let Some(store) = context.open_existing_store().await? else {
        crate::output::print(NO_RUNS)?;
        return Ok(ExitCode::SUCCESS);
    };
    let outcome = if args.watch {
        watch(&store, &context.config, args).await
    } else {
        print_once(&store, &context.config, args).await
    };
    store.close().await;
    outcome.map(|()| ExitCode::SUCCESS)
}

async fn print_once(store: &SqlStore, config: &Config, args: &StatusArgs) -> Result<(), CliError> {
    let (runs, squads) = read(store, args.run.as_deref()).await?;
    let stops = store.lane_stops().await.map_err(store_error)?;
    let mut gates = gate_holds(store, &squads).await;
    gates.extend(lane_waits(config, &stops, &squads));
    let flaky = flaky_of(store, &squads).await;
    let (daemons, leases) = read_daemons(store).await?;
    if args.json {
        let mut status = status_json(&runs, &squads, &flaky);
        status["stopped_lanes"] = stops_json(&stops);
        status["daemons"] = daemons_json(&daemons, &leases, now());
        crate::output::println(&format!("{status:#}"))?;
    } else {
        let width = Look::of_stdout().width();
        crate::output::print(&format!(
            "{}{}{}",
            stops_text(&stops, now(), width),
            status_text(&runs, &squads, &gates, &flaky, now(), width),
            daemons_text(&daemons, &leases, now(), width)
        ))?;
    }
    Ok(())
}

/// Each stopped merge lane (stop the line) in a paragraph above the runs: which merges,
/// since when, and what a person can do.
fn stops_text(stops: &[StoppedLane], now: Timestamp, width: Option<usize>) -> String {
    let mut text = String::new();
    for stopped in stops {
        let line = format!(
            "{} (stopped {} ago)",
            lane_stop_summary(&stopped.stop),
            age(stopped.at, now)
        );
        text.push_str(&wrap(&line, width, 2));
        text.push_str("\n\n");
    }
    text
}

fn stops_json(stops: &[StoppedLane]) -> Value {
    Value::Array(stops.iter().map(stopped_lane_json).collect())
}

/// Why each approved squad whose merge lane is stopped waits (its lane from its team's
/// configured repository): `waits: the merge lane … stopped …`.
fn lane_waits(
    config: &Config,
    stops: &[StoppedLane],
    squads: &[SquadOverview],
) -> HashMap<SquadId, String> {
    let mut waits = HashMap::new();
    for overview in squads {
        let squad = &overview.record.squad;
        if squad.phase != Phase::Approved {
            continue;
        }
        let Some((team, _)) = squad.issue.as_str().rsplit_once('-') else {
            continue;
        };
        let Some(repository) = config.repositories.get(team) else {
            continue;
        };
        let lane = MergeLane {
            repo: RepoRef::new(repository.github.owner(), repository.github.name()),
            base: repository.base.clone(),
        };
        if let Some(stopped) = stops.iter().find(|stopped| stopped.stop.lane == lane) {
            let waiting = Waiting::LaneStopped {
                lane,
                failing: stopped.stop.failing.issue.clone(),
            };
            waits.insert(squad.id.clone(), waiting.to_string());
        }
    }
    waits
}

/// The runs to show (one with `--run`) and their squads.
async fn read(
    store: &SqlStore,
    run: Option<&str>,
) -> Result<(Vec<RunRecord>, Vec<SquadOverview>), CliError> {
    let runs = match run {
        Some(id) => {
            let id = RunId::new(id);
            vec![store.run(&id).await.map_err(|error| {
                store_error(error).with_hint("`squadron status` lists the runs and their ids")
            })?]
        }
        None => store.runs().await.map_err(store_error)?,
    };
    let squads = match run {
        Some(id) => store.squad_overviews(Some(&RunId::new(id))).await,
        None => store.squad_overviews(None).await,
    }
    .map_err(store_error)?;
    Ok((runs, squads))
}

async fn watch(store: &SqlStore, config: &Config, args: &StatusArgs) -> Result<(), CliError> {
    // Listen for Ctrl-C before the first frame is drawn, so an interrupt that arrives at any
    // point ends the watch cleanly instead of killing the process.
    let mut interrupt =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .map_err(|error| CliError::internal(format!("failed to listen for Ctrl-C: {error}")))?;
    loop {
        let (runs, squads) = read(store, args.run.as_deref()).await?;
        let stops = store.lane_stops().await.map_err(store_error)?;
        let mut gates = gate_holds(store, &squads).await;
        gates.extend(lane_waits(config, &stops, &squads));
        let flaky = flaky_of(store, &squads).await;
        let (daemons, leases) = read_daemons(store).await?;
        let width = Look::of_stdout().width();
        // Clear the screen and draw from the top left.
        crate::output::print(&format!(
            "\x1b[2J\x1b[H{}{}{}",
            stops_text(&stops, now(), width),
            status_text(&runs, &squads, &gates, &flaky, now(), width),
            daemons_text(&daemons, &leases, now(), width)
        ))?;
        let _ = std::io::Write::flush(&mut std::io::stdout());
        tokio::select! {
            () = tokio::time::sleep(WATCH_EVERY) => {}
            _ = interrupt.recv() => return Ok(()),
        }
    }
}

/// Why the merge gate holds each approved squad, from the last decision in its event log
/// (the daemon running it may be another process): `waits at the merge gate: …`.
async fn gate_holds(store: &SqlStore, squads: &[SquadOverview]) -> HashMap<SquadId, String> {
    let mut holds = HashMap::new();
    for overview in squads {
        let squad = &overview.record.squad;
        if squad.phase != Phase::Approved {
            continue;
        }
        // A failed read leaves the line out: the table still shows the phase.
        let Ok(events) = store.events(&squad.id).await else {
            continue;
        };
        if let Some(hold) = gate_hold(&events) {
            holds.insert(squad.id.clone(), hold);
        }
    }
    holds
}

/// The checks that were flaky for each squad that had any, from its event log.
async fn flaky_of(store: &SqlStore, squads: &[SquadOverview]) -> HashMap<SquadId, Vec<String>> {
    let mut flaky = HashMap::new();
    for overview in squads {
        let squad = &overview.record.squad;
        // A failed read leaves the note out: the table still shows the squad.
        let Ok(events) = store.events(&squad.id).await else {
            continue;
        };
        let checks = flaky_checks(&events);
        if !checks.is_empty() {
            flaky.insert(squad.id.clone(), checks);
        }
    }
    flaky
}

fn status_text(
    runs: &[RunRecord],
    squads: &[SquadOverview],
    gates: &HashMap<SquadId, String>,
    flaky: &HashMap<SquadId, Vec<String>>,
    now: Timestamp,
    width: Option<usize>,
) -> String {
    if runs.is_empty() {
        return NO_RUNS.to_owned();
    }
    let mut text = String::new();
    for run in runs {
        let of_run: Vec<&SquadOverview> = squads
            .iter()
            .filter(|overview| overview.record.squad.run_id == run.run.id)
            .collect();
        let flaky_count: usize = of_run
            .iter()
            .filter_map(|overview| flaky.get(&overview.record.squad.id))
            .map(Vec::len)
            .sum();
        let mut heading = run_heading(run, &of_run, now);
        if flaky_count > 0 {
            heading.push_str(&format!(
                " · {flaky_count} flaky check{}",
                if flaky_count == 1 { "" } else { "s" }
            ));
        }
        text.push_str(&format!(
            "{}\n{}\n{}{}\n",
            wrap(&heading, width, 2),
            squad_table(&of_run, now, width),
            details(&of_run, gates, width),
            flaky_details(&of_run, flaky, width)
        ));
    }
    text
}

/// `Run r-1 · <url> · running · started 5m ago · 4 squads: 3 merged, 1 queued · 45.1k
/// tokens · $0.1234`.
fn run_heading(record: &RunRecord, squads: &[&SquadOverview], now: Timestamp) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for overview in squads {
        let name = overview.record.squad.phase.name();
        match counts.iter_mut().find(|(known, _)| *known == name) {
            Some((_, count)) => *count += 1,
            None => counts.push((name, 1)),
        }
    }
    let counts: Vec<String> = counts
        .iter()
        .map(|(name, count)| format!("{count} {name}"))
        .collect();
    let tokens: u64 = squads
        .iter()
        .map(|overview| overview.usage.usage.total())
        .sum();
    let cost = Usd::from_micros(
        squads
            .iter()
            .map(|overview| overview.usage.cost.as_micros())
            .sum(),
    );
    format!(
        "Run {} · {} · {} · started {} ago · {} squads{} · {} tokens · {cost}",
        record.run.id,
        trigger_text(&record.run.trigger),
        record.status.as_str(),
        age(record.run.created_at, now),
        squads.len(),
        if counts.is_empty() {
            String::new()
        } else {
            format!(": {}", counts.join(", "))
        },
        compact_tokens(tokens),
    )
}

/// Why each squad that ended without merging ended, and what each queued squad waits for,
/// below the table so that its columns stay narrow.
fn details(
    squads: &[&SquadOverview],
    gates: &HashMap<SquadId, String>,
    width: Option<usize>,
) -> String {
    let mut text = String::new();
    for overview in squads {
        let squad = &overview.record.squad;
        let line = match (&squad.phase, squad.phase.detail()) {
            (_, Some(detail)) => format!("{} {}: {detail}", squad.issue, squad.phase.name()),
            (Phase::Approved, None) => match gates.get(&squad.id) {
                Some(hold) => format!("{} {hold}", squad.issue),
                None => continue,
            },
            (Phase::Queued, None)
                if !overview.record.blocked_by.is_empty()
                    || !overview.record.starts_after.is_empty() =>
            {
                let record = &overview.record;
                let Some(wait) = waits_for(
                    &squad.phase,
                    &record.blocked_by,
                    &record.starts_after,
                    |key| {
                        squads
                            .iter()
                            .find(|other| {
                                other.record.squad.run_id == squad.run_id
                                    && &other.record.squad.issue == key
                            })
                            .map(|other| &other.record.squad.phase)
                    },
                ) else {
                    continue;
                };
                format!("{} {wait}", squad.issue)
            }
            _ => continue,
        };
        text.push_str(&wrap(&line, width, 2));
        text.push('\n');
    }
    text
}

/// One line per squad whose checks were flaky: which, on which commit.
fn flaky_details(
    squads: &[&SquadOverview],
    flaky: &HashMap<SquadId, Vec<String>>,
    width: Option<usize>,
) -> String {
    let mut text = String::new();
    for overview in squads {
        let squad = &overview.record.squad;
        if let Some(checks) = flaky.get(&squad.id) {
            let line = format!(
                "{} flaky: {} (failed, then passed when run again)",
                squad.issue,
                checks.join(", ")
            );
            text.push_str(&wrap(&line, width, 2));
            text.push('\n');
        }
    }
    text
}

fn trigger_text(trigger: &RunTrigger) -> String {
    match trigger {
        RunTrigger::Milestone { url } => url.clone(),
        RunTrigger::Fix {
            issue,
            requested_by,
            ..
        } => format!("fix {issue} (by {requested_by})"),
        RunTrigger::Revert {
            issue,
            requested_by,
        } => format!("revert {issue} (by {requested_by})"),
    }
}

fn squad_table(squads: &[&SquadOverview], now: Timestamp, width: Option<usize>) -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    if let Some(width) = width {
        table
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(u16::try_from(width).unwrap_or(u16::MAX));
    }
    table.set_header([
        "issue", "phase", "round", "PR", "tokens", "cost", "age", "squad",
    ]);
    for overview in squads {
        let squad = &overview.record.squad;
        table.add_row([
            squad.issue.to_string(),
            squad.phase.name().to_owned(),
            squad.round.to_string(),
            squad
                .pr
                .map(|pr| pr.to_string())
                .unwrap_or_else(|| "-".to_owned()),
            compact_tokens(overview.usage.usage.total()),
            overview.usage.cost.to_string(),
            age(overview.record.created_at, now),
            squad.id.to_string(),
        ]);
    }
    table
}

/// The daemons registered with the store and every lease, which say what each does.
async fn read_daemons(store: &SqlStore) -> Result<(Vec<DaemonRecord>, Vec<Lease>), CliError> {
    let daemons = store.daemons().await.map_err(store_error)?;
    let leases = store.leases().await.map_err(store_error)?;
    Ok((daemons, leases))
}

/// The daemons sharing the store, below the runs; nothing when none ever registered (runs
/// of `squadron run` alone).
fn daemons_text(
    daemons: &[DaemonRecord],
    leases: &[Lease],
    now: Timestamp,
    width: Option<usize>,
) -> String {
    if daemons.is_empty() {
        return String::new();
    }
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    if let Some(width) = width {
        table
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(u16::try_from(width).unwrap_or(u16::MAX));
    }
    table.set_header(["daemon", "host", "pid", "state", "duty", "up", "last heard"]);
    for daemon in daemons {
        let state = daemon.state(now);
        let up = match daemon.stopped_at {
            Some(stopped) => format!("stopped {} ago", age(stopped, now)),
            None => age(daemon.started_at, now),
        };
        table.add_row([
            daemon.id.to_string(),
            daemon.host.clone(),
            daemon.pid.to_string(),
            state.as_str().to_owned(),
            squadron::server::daemon_duty(daemon, leases, now),
            up,
            format!("{} ago", age(daemon.heartbeat_at, now)),
        ]);
    }
    format!("Daemons sharing this store\n{table}\n")
}

fn daemons_json(daemons: &[DaemonRecord], leases: &[Lease], now: Timestamp) -> Value {
    daemons
        .iter()
        .map(|daemon| squadron::server::daemon_json(daemon, leases, now))
        .collect()
}

fn status_json(
    runs: &[RunRecord],
    squads: &[SquadOverview],
    flaky: &HashMap<SquadId, Vec<String>>,
) -> Value {
    let runs: Vec<Value> = runs
        .iter()
        .map(|record| {
            let squads: Vec<Value> = squads
                .iter()
                .filter(|overview| overview.record.squad.run_id == record.run.id)
                .map(|overview| {
                    let mut value = squad_json(overview);
                    value["flaky_checks"] = json!(
                        flaky
                            .get(&overview.record.squad.id)
                            .cloned()
                            .unwrap_or_default()
                    );
                    value
                })
                .collect();
            json!({
                "id": record.run.id.as_str(),
                "trigger": squadron::server::trigger_json(&record.run.trigger),
                "status": record.status.as_str(),
                "created_at": rfc3339(record.run.created_at),
                "updated_at": rfc3339(record.updated_at),
                "squads": squads,
            })
        })
        .collect();
    json!({ "runs": runs })
}

/// One squad as JSON, shared with `squadron logs --json`.
pub fn squad_record_json(record: &SquadRecord) -> Value {
    let squad = &record.squad;
    json!({
        "id": squad.id.as_str(),
        "run_id": squad.run_id.as_str(),
        "issue": squad.issue.as_str(),
        "phase": squad.phase.name(),
        "detail": squad.phase.detail(),
        "round": squad.round,
        "pr": squad.pr.map(|pr| pr.0),
        "branch": squad.branch,
        "worktree": squad.worktree,
        "blocked_by": record.blocked_by.iter().map(|key| key.as_str()).collect::<Vec<_>>(),
        "starts_after": record.starts_after.iter().map(|key| key.as_str()).collect::<Vec<_>>(),
        "created_at": rfc3339(record.created_at),
        "updated_at": rfc3339(record.updated_at),
    })
}

fn squad_json(overview: &SquadOverview) -> Value {
    let mut value = squad_record_json(&overview.record);
    let usage = &overview.usage;
    value["model_calls"] = json!(usage.calls);
    value["tokens"] = json!({
        "prompt": usage.usage.prompt,
        "cached": usage.usage.cached,
        "completion": usage.usage.completion,
        "total": usage.usage.total(),
    });
    value["cost_usd"] = json!(usage.cost.as_dollars());
    value
}
