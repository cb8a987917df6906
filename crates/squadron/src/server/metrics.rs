//! `GET /metrics`: Prometheus text exposition of squads by phase, merges, model usage and
//! cost by role, and the delivery metrics: lead time and time to restore as histograms,
//! change failures, flow time worked and waited, work in progress, merges by kind, review
//! rounds and cost per merged PR, merges and failures per repository.

use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use squadron_core::Phase;
use squadron_core::delivery::{DeliveryFigures, Wait};

use super::control::{MetricsSnapshot, SquadView};
use super::error::ApiError;
use super::state::AppState;

/// Every phase name, so each series exists (at 0) before its first squad: dashboards and
/// alerts then see a 0 rather than a missing series.
const PHASES: [&str; 17] = [
    "queued",
    "preparing",
    "diagnosing",
    "implementing",
    "verifying",
    "pr-open",
    "reviewing",
    "fixing",
    "fixing-checks",
    "resolving-conflicts",
    "approved",
    "merging",
    "merged",
    "needs-human",
    "failed",
    "cancelled",
    "skipped",
];

/// Upper bounds of the lead-time histogram, in seconds: 15 min to a week.
const LEAD_TIME_BUCKETS: [u64; 9] = [
    900, 1_800, 3_600, 7_200, 14_400, 28_800, 86_400, 172_800, 604_800,
];

/// Prometheus' text format, version 0.0.4.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let squads = state.control.squads().await?;
    let snapshot = state.control.metrics(state.clock.now()).await?;
    Ok((
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        render(&squads, &snapshot),
    ))
}

/// The exposition text.
pub(crate) fn render(squads: &[SquadView], snapshot: &MetricsSnapshot) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "squadron_squads",
        "gauge",
        "Squads by current phase.",
    );
    for phase in PHASES {
        let count = squads
            .iter()
            .filter(|view| view.record.squad.phase.name() == phase)
            .count();
        line(&mut out, "squadron_squads", &[("phase", phase)], count);
    }

    let merges = squads
        .iter()
        .filter(|view| view.record.squad.phase == Phase::Merged)
        .count();
    family(
        &mut out,
        "squadron_merges_total",
        "counter",
        "Squads whose PR merged.",
    );
    line(&mut out, "squadron_merges_total", &[], merges);

    family(
        &mut out,
        "squadron_model_calls_total",
        "counter",
        "Model calls, by role.",
    );
    for (role, totals) in &snapshot.usage_by_role {
        let labels = [("role", role.as_str())];
        line(
            &mut out,
            "squadron_model_calls_total",
            &labels,
            totals.calls,
        );
    }
    family(
        &mut out,
        "squadron_tokens_total",
        "counter",
        "Tokens of model calls, by role and kind (cached tokens are part of prompt tokens).",
    );
    for (role, totals) in &snapshot.usage_by_role {
        let usage = &totals.usage;
        for (kind, tokens) in [
            ("prompt", usage.prompt),
            ("cached", usage.cached),
            ("completion", usage.completion),
        ] {
            let labels = [("role", role.as_str()), ("kind", kind)];
            line(&mut out, "squadron_tokens_total", &labels, tokens);
        }
    }
    family(
        &mut out,
        "squadron_cost_usd_total",
        "counter",
        "What model calls cost, in US dollars, by role.",
    );
    for (role, totals) in &snapshot.usage_by_role {
        let labels = [("role", role.as_str())];
        line(
            &mut out,
            "squadron_cost_usd_total",
            &labels,
            totals.cost.as_dollars(),
        );
    }

    delivery(&mut out, snapshot);
    out
}

/// One figure of the whole history, as exposition text.
type Figure = fn(&DeliveryFigures) -> String;

/// The delivery metrics over the whole history.
fn delivery(out: &mut String, snapshot: &MetricsSnapshot) {
    let report = &snapshot.delivery;
    let total = &report.total;
    histogram(
        out,
        "squadron_lead_time_seconds",
        "Time from a squad's admission to its merge.",
        &total.lead_times,
    );
    histogram(
        out,
        "squadron_time_to_restore_seconds",
        "Time from a bug fix's trigger to its merge.",
        &total.restore_times,
    );
    let simple: [(&str, &str, &str, Figure); 7] = [
        (
            "squadron_merges_per_day",
            "gauge",
            "Merges per calendar day (UTC) since the first admission.",
            |f| f.merges_per_day().to_string(),
        ),
        (
            "squadron_change_failures_total",
            "counter",
            "Merged squad PRs later reverted or blamed by a bug fix.",
            |f| f.change_failures.len().to_string(),
        ),
        (
            "squadron_change_failure_rate",
            "gauge",
            "Change failures as a share of merges (NaN before the first merge).",
            |f| ratio(f.change_failure_rate()),
        ),
        (
            "squadron_flow_efficiency",
            "gauge",
            "Share of merged squads' flow time their agents worked (NaN before the first merge).",
            |f| ratio(f.flow_efficiency()),
        ),
        (
            "squadron_squads_in_progress",
            "gauge",
            "Squads admitted and not ended (work in progress).",
            |f| f.in_progress.to_string(),
        ),
        (
            "squadron_review_rounds_total",
            "counter",
            "Review rounds of merged squads' PRs.",
            |f| f.review_rounds.to_string(),
        ),
        (
            "squadron_flaky_checks_total",
            "counter",
            "Required checks of merged squads' PRs that failed, then passed when run again on the same commit.",
            |f| f.flaky_checks.to_string(),
        ),
    ];
    for (name, kind, help, value) in simple {
        family(out, name, kind, help);
        line(out, name, &[], value(total));
    }

    family(
        out,
        "squadron_flow_seconds_total",
        "counter",
        "Merged squads' time from admission to merge, worked or waited for what.",
    );
    line(
        out,
        "squadron_flow_seconds_total",
        &[("state", "working")],
        total.working.as_secs_f64(),
    );
    for wait in Wait::ALL {
        line(
            out,
            "squadron_flow_seconds_total",
            &[("state", "waiting"), ("for", wait.name())],
            total.waited_for(wait).as_secs_f64(),
        );
    }

    family(
        out,
        "squadron_merges_by_kind_total",
        "counter",
        "Merged squads by kind (flow distribution).",
    );
    line(
        out,
        "squadron_merges_by_kind_total",
        &[("kind", "feature")],
        total.features,
    );
    line(
        out,
        "squadron_merges_by_kind_total",
        &[("kind", "bug-fix")],
        total.bug_fixes,
    );

    family(
        out,
        "squadron_cost_per_merge_usd",
        "gauge",
        "What the squads that ended cost, merged or not, per merged PR (NaN before the first merge).",
    );
    line(
        out,
        "squadron_cost_per_merge_usd",
        &[],
        ratio(total.cost_per_merge().map(|cost| cost.as_dollars())),
    );

    family(
        out,
        "squadron_repository_merges_total",
        "counter",
        "Merged squads per repository.",
    );
    for (repository, figures) in &report.by_repository {
        line(
            out,
            "squadron_repository_merges_total",
            &[("repository", repository)],
            figures.merges,
        );
    }
    family(
        out,
        "squadron_repository_change_failures_total",
        "counter",
        "Change failures per repository.",
    );
    for (repository, figures) in &report.by_repository {
        line(
            out,
            "squadron_repository_change_failures_total",
            &[("repository", repository)],
            figures.change_failures.len(),
        );
    }
}

/// A share for Prometheus: `NaN` when there is nothing to measure yet.
fn ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "NaN".to_owned(), |value| value.to_string())
}

fn histogram(out: &mut String, name: &str, help: &str, values: &[Duration]) {
    family(out, name, "histogram", help);
    let bucket = format!("{name}_bucket");
    for bound in LEAD_TIME_BUCKETS {
        let count = values
            .iter()
            .filter(|value| **value <= Duration::from_secs(bound))
            .count();
        line(out, &bucket, &[("le", &bound.to_string())], count);
    }
    line(out, &bucket, &[("le", "+Inf")], values.len());
    let sum: f64 = values.iter().map(Duration::as_secs_f64).sum();
    line(out, &format!("{name}_sum"), &[], sum);
    line(out, &format!("{name}_count"), &[], values.len());
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    // Writing into a String cannot fail.
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn line(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        let labels: Vec<String> = labels
            .iter()
            .map(|(key, value)| format!("{key}=\"{}\"", escape(value)))
            .collect();
        out.push('{');
        out.push_str(&labels.join(","));
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
