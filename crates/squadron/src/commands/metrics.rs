//! `squadron metrics`: delivery metrics over the store's history (or a run's, or since a
//! date): one column for everything and one per repository, then the runs, the change
//! failures and the merges per day. Reverts of squads' merges made by hand on their bases are
//! found and recorded first (`hand_reverts`), so they count as change failures.

use std::process::ExitCode;
use std::time::Duration;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use squadron::delivery::{FactsCache, date, report_json, team_repositories};
use squadron_core::delivery::{
    DeliveryFigures, DeliveryReport, FailureCause, Period, Wait, median, percentile,
};
use squadron_core::{RunId, Timestamp, Usd};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use crate::cli::{GlobalArgs, MetricsArgs};
use crate::context::{Context, store_error};
use crate::error::CliError;
use crate::format::{elapsed, now, rfc3339};
use crate::hand_reverts::record_hand_reverts;
use crate::progress::Look;

/// What a store without runs shows.
const NO_RUNS: &str =
    "No runs yet, so no metrics. Start one with `squadron run <Linear project URL>`.\n";

/// Prints the delivery metrics as tables, or as JSON with `--json`.
pub async fn run(global: &GlobalArgs, args: &MetricsArgs) -> Result<ExitCode, CliError> {
    let now = now();
    let since = args
        .since
        .as_deref()
        .map(|text| parse_since(text, now))
        .transpose()?;
    let context = Context::load(global)?;
    let Some(store) = context.open_existing_store().await? else {
        crate::output::print(NO_RUNS)?;
        return Ok(ExitCode::SUCCESS);
    };
    let run = args.run.as_deref().map(RunId::new);
    if let Some(run) = &run {
        store.run(run).await.map_err(|error| {
            store_error(error).with_hint("`squadron status` lists the runs and their ids")
        })?;
    }
    // A merge reverted by hand on its base is a change failure too: found and recorded first.
    if let Err(error) = record_hand_reverts(&context, &store).await {
        tracing::warn!(error = %error.message(), "could not look for reverts made by hand; the metrics count only those Squadron knows");
    }
    let facts = FactsCache::default()
        .read(&store, run.as_ref(), &team_repositories(&context.config))
        .await
        .map_err(store_error);
    store.close().await;
    let report = DeliveryReport::compute(
        &facts?,
        Period {
            from: since,
            to: now,
        },
    );
    if args.json {
        crate::output::println(&format!("{:#}", report_json(&report)))?;
    } else {
        crate::output::print(&report_text(&report, Look::of_stdout().width()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `--since`: an RFC 3339 time, a date (its midnight UTC), or a span back from `now`.
fn parse_since(text: &str, now: Timestamp) -> Result<Timestamp, CliError> {
    let invalid = || {
        CliError::user(format!("`--since {text}` is neither a date, a time nor a span"))
            .with_hint("write a date (`2026-11-01`), an RFC 3339 time (`2026-11-01T09:00:00Z`) or a span back from now (`7d`, `12h`, `30m`)")
    };
    let trimmed = text.trim();
    let last = trimmed.char_indices().last().map_or(0, |(index, _)| index);
    let (amount, unit) = trimmed.split_at(last);
    if !amount.is_empty() && amount.bytes().all(|byte| byte.is_ascii_digit()) {
        let amount: u64 = amount.parse().map_err(|_| invalid())?;
        let seconds = match unit {
            "d" => 86_400,
            "h" => 3_600,
            "m" => 60,
            _ => return Err(invalid()),
        };
        return Ok(now - Duration::from_secs(amount.saturating_mul(seconds)));
    }
    let nanos = if let Ok(time) = OffsetDateTime::parse(trimmed, &Rfc3339) {
        time.unix_timestamp_nanos()
    } else {
        let date = Date::parse(trimmed, format_description!("[year]-[month]-[day]"))
            .map_err(|_| invalid())?;
        date.midnight().assume_utc().unix_timestamp_nanos()
    };
    let millis = i64::try_from(nanos / 1_000_000).map_err(|_| invalid())?;
    Ok(Timestamp::from_millis(millis))
}

/// The tables `squadron metrics` prints.
fn report_text(report: &DeliveryReport, width: Option<usize>) -> String {
    let total = &report.total;
    let mut text = format!(
        "Delivery from {} to {} ({} {})\n",
        rfc3339(report.from),
        rfc3339(report.to),
        total.days,
        if total.days == 1 { "day" } else { "days" },
    );
    let mut columns: Vec<(&str, &DeliveryFigures)> = vec![("all", total)];
    columns.extend(
        report
            .by_repository
            .iter()
            .map(|(name, figures)| (name.as_str(), figures)),
    );
    let mut table = new_table(width);
    let mut header = vec!["measure"];
    header.extend(columns.iter().map(|(name, _)| *name));
    table.set_header(header);
    type Row = fn(&DeliveryFigures) -> String;
    let rows: [(&str, Row); 17] = [
        ("merges", |f| f.merges.to_string()),
        ("merges per day", |f| format!("{:.2}", f.merges_per_day())),
        ("lead time, median", |f| {
            duration_or_dash(median(&f.lead_times))
        }),
        ("lead time, 90th percentile", |f| {
            duration_or_dash(percentile(&f.lead_times, 90))
        }),
        ("change failure rate", |f| match f.change_failure_rate() {
            Some(rate) => format!(
                "{} ({} of {})",
                percent(rate),
                f.change_failures.len(),
                f.merges
            ),
            None => "–".into(),
        }),
        ("time to restore, median", |f| {
            duration_or_dash(median(&f.restore_times))
        }),
        ("flow efficiency", |f| {
            f.flow_efficiency().map_or_else(|| "–".into(), percent)
        }),
        ("worked", |f| elapsed(f.working)),
        ("waited for a blocker or slot", |f| {
            elapsed(f.waited_for(Wait::BlockerOrSlot))
        }),
        ("waited for reviews", |f| {
            elapsed(f.waited_for(Wait::Reviews))
        }),
        ("waited for checks and merge lane", |f| {
            elapsed(f.waited_for(Wait::ChecksAndMergeLane))
        }),
        ("in progress now", |f| f.in_progress.to_string()),
        ("most in progress in a day", |f| {
            f.load
                .iter()
                .map(|(_, peak)| *peak)
                .max()
                .unwrap_or(0)
                .to_string()
        }),
        ("features / bug fixes", |f| {
            format!("{} / {}", f.features, f.bug_fixes)
        }),
        ("review rounds per merged PR", |f| {
            f.review_rounds_per_merge()
                .map_or_else(|| "–".into(), |rounds| format!("{rounds:.2}"))
        }),
        ("cost", |f| f.cost.to_string()),
        ("cost per merged PR", |f| {
            f.cost_per_merge()
                .map_or_else(|| "–".into(), |cost: Usd| cost.to_string())
        }),
    ];
    for (name, value) in rows {
        let mut row = vec![name.to_owned()];
        row.extend(columns.iter().map(|(_, figures)| value(figures)));
        table.add_row(row);
    }
    text.push_str(&format!("{table}\n"));

    if report.by_run.len() > 1 {
        let mut runs = new_table(width);
        runs.set_header([
            "run",
            "merges",
            "lead time, median",
            "change failure rate",
            "flow efficiency",
            "cost per merged PR",
        ]);
        for (run, figures) in &report.by_run {
            runs.add_row([
                run.to_string(),
                figures.merges.to_string(),
                duration_or_dash(median(&figures.lead_times)),
                figures
                    .change_failure_rate()
                    .map_or_else(|| "–".into(), percent),
                figures
                    .flow_efficiency()
                    .map_or_else(|| "–".into(), percent),
                figures
                    .cost_per_merge()
                    .map_or_else(|| "–".into(), |cost| cost.to_string()),
            ]);
        }
        text.push_str(&format!("\nRuns\n{runs}\n"));
    }

    if !total.change_failures.is_empty() {
        text.push_str("\nChange failures\n");
        for failure in &total.change_failures {
            let cause = match &failure.cause {
                FailureCause::Reverted => "reverted".to_owned(),
                FailureCause::BlamedBy(fix) => format!("blamed by the fix of {fix}"),
            };
            text.push_str(&format!(
                "  {} (PR {}) {cause} at {}\n",
                failure.issue,
                failure.pr,
                rfc3339(failure.at)
            ));
        }
    }

    let busy: Vec<String> = total
        .throughput
        .iter()
        .filter(|(_, merges)| *merges > 0)
        .map(|(day, merges)| format!("  {} {merges}", date(*day)))
        .collect();
    if !busy.is_empty() {
        text.push_str("\nMerges per day (days with merges)\n");
        text.push_str(&busy.join("\n"));
        text.push('\n');
    }
    text
}

fn new_table(width: Option<usize>) -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    if let Some(width) = width {
        table
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(u16::try_from(width).unwrap_or(u16::MAX));
    }
    table
}

fn duration_or_dash(duration: Option<Duration>) -> String {
    duration.map_or_else(|| "–".into(), elapsed)
}

fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

#[cfg(test)]
mod tests {
    use squadron_core::delivery::{MergeFacts, SquadFacts};
    use squadron_core::{IssueKey, Phase, PrNumber, SquadId, SquadKind};

    use super::*;

    /// 2023-11-14T10:00:00Z plus `minutes`.
    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_millis(1_699_956_000_000 + minutes * 60_000)
    }

    fn facts(
        id: &str,
        run: &str,
        repository: &str,
        kind: SquadKind,
        phases: &[(i64, Phase)],
        pr: Option<u64>,
        dollars: f64,
    ) -> SquadFacts {
        let phases: Vec<(Timestamp, Phase)> = phases
            .iter()
            .map(|(minute, phase)| (at(*minute), phase.clone()))
            .collect();
        let merge = pr.map(|pr| MergeFacts {
            at: phases.last().expect("phases").0,
            pr: PrNumber(pr),
            url: Some(format!("https://github.com/{repository}/pull/{pr}")),
        });
        SquadFacts {
            squad: SquadId::from(id),
            run: RunId::from(run),
            issue: IssueKey::from(id),
            repository: Some(repository.into()),
            kind,
            admitted_at: phases[0].0,
            phases,
            merge,
            review_rounds: 1,
            cost: Usd::from_dollars(dollars),
            time_to_restore: None,
            reverted_at: None,
            blames: Vec::new(),
            flaky_checks: 0,
        }
    }

    #[test]
    fn the_table_shows_every_measure_per_repository_runs_and_failures() {
        use Phase::*;
        let mut first = facts(
            "ENG-1",
            "run-1",
            "acme/shop",
            SquadKind::Feature,
            &[
                (0, Queued),
                (1, Implementing),
                (20, Reviewing),
                (30, Approved),
                (32, Merged),
            ],
            Some(7),
            1.25,
        );
        first.reverted_at = Some(at(200));
        let second = facts(
            "ENG-2",
            "run-1",
            "acme/shop",
            SquadKind::Feature,
            &[
                (0, Queued),
                (32, Implementing),
                (50, Reviewing),
                (60, Fixing),
                (70, Reviewing),
                (75, Approved),
                (80, Merged),
            ],
            Some(8),
            2.5,
        );
        let mut fix = facts(
            "OPS-4",
            "run-2",
            "acme/infra",
            SquadKind::BugFix,
            &[
                (100, Queued),
                (100, Diagnosing),
                (110, Implementing),
                (120, Reviewing),
                (125, Approved),
                (130, Merged),
            ],
            Some(3),
            0.75,
        );
        fix.time_to_restore = Some(Duration::from_secs(31 * 60));
        let stuck = facts(
            "ENG-3",
            "run-1",
            "acme/shop",
            SquadKind::Feature,
            &[(0, Queued), (5, Implementing)],
            None,
            0.5,
        );
        let report = DeliveryReport::compute(
            &[first, second, fix, stuck],
            Period {
                from: None,
                to: at(240),
            },
        );
        insta::assert_snapshot!(report_text(&report, None));
    }

    #[test]
    fn since_takes_dates_times_and_spans() {
        let now = at(0);
        assert_eq!(
            parse_since("7d", now).expect("a span"),
            now - Duration::from_secs(7 * 86_400)
        );
        assert_eq!(
            parse_since("30m", now).expect("a span"),
            now - Duration::from_secs(1_800)
        );
        assert_eq!(
            parse_since("2023-11-14", now).expect("a date"),
            Timestamp::from_millis(1_699_920_000_000)
        );
        assert_eq!(
            parse_since("2023-11-14T10:00:00Z", now).expect("a time"),
            at(0)
        );
        assert!(parse_since("7é", now).is_err());
        let error = parse_since("last week", now).expect_err("not a date");
        assert!(error.to_string().contains("last week"), "{error}");
    }
}
