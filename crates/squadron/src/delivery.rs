//! Delivery metrics read from the store, for `squadron metrics` and `/metrics`: every squad's
//! facts (gathered by the pipeline's [`squad_facts`] from its event log, journal and usage),
//! the core's [`DeliveryReport`] over them, and the report as JSON.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use squadron_config::Config;
use squadron_core::delivery::{
    Day, DeliveryFigures, DeliveryReport, FailureCause, SquadFacts, median, percentile,
};
use squadron_core::effect::{EffectKey, OpenedPr};
use squadron_core::{IssueKey, RunId, SquadId, Timestamp};
use squadron_pipeline::squad_facts;
use squadron_store::{SqlStore, StoreError};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Where each Linear team's code lives (`owner/name`), by team key, as configured.
pub fn team_repositories(config: &Config) -> BTreeMap<String, String> {
    config
        .repositories
        .iter()
        .map(|(team, repository)| (team.clone(), repository.github.to_string()))
        .collect()
}

/// The repository of `issue`'s team: Linear's issue identifiers start with the team's key.
fn repository_of(issue: &IssueKey, repositories: &BTreeMap<String, String>) -> Option<String> {
    let (team, _) = issue.as_str().rsplit_once('-')?;
    repositories.get(team).cloned()
}

/// How many squads' facts a [`FactsCache`] keeps by default (about a kilobyte each).
pub const CACHED_SQUADS: usize = 2_048;

/// Facts of squads already read, of at most a fixed number of squads. A squad's facts change
/// only when its row changes (every event appended bumps its `updated_at`), so a read reads
/// again only the squads that moved and those beyond the cache. Once it is full no further
/// squad is taken in: the squads kept are then the earliest read, long finished and
/// unchanging, while the newest change at nearly every read anyway. So the cache does not
/// grow with the history; the store holds it all.
#[derive(Debug)]
pub struct FactsCache {
    capacity: usize,
    known: Mutex<HashMap<SquadId, (Timestamp, SquadFacts)>>,
}

impl Default for FactsCache {
    fn default() -> Self {
        Self::with_capacity(CACHED_SQUADS)
    }
}

impl FactsCache {
    /// A cache keeping the facts of at most `capacity` squads.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// How many squads' facts are kept: at most the capacity.
    pub fn kept(&self) -> usize {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// The facts of every squad (only `run`'s when given), in the store's order.
    pub async fn read(
        &self,
        store: &SqlStore,
        run: Option<&RunId>,
        repositories: &BTreeMap<String, String>,
    ) -> Result<Vec<SquadFacts>, StoreError> {
        let overviews = store.squad_overviews(run).await?;
        let mut facts = Vec::with_capacity(overviews.len());
        for overview in overviews {
            let record = &overview.record;
            let id = &record.squad.id;
            let cached = self
                .known
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(id)
                .filter(|(updated, _)| *updated == record.updated_at)
                .map(|(_, known)| known.clone());
            if let Some(known) = cached {
                facts.push(known);
                continue;
            }
            let events = store.events(id).await?;
            let opened: Option<OpenedPr> = store
                .effect_result(&EffectKey::OpenPr { squad: id.clone() })
                .await?;
            let read = squad_facts(
                record,
                overview.usage.cost,
                &events,
                opened.map(|pr| pr.url),
                repository_of(&record.squad.issue, repositories),
            );
            let mut known = self
                .known
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if known.len() < self.capacity || known.contains_key(id) {
                known.insert(id.clone(), (record.updated_at, read.clone()));
            }
            drop(known);
            facts.push(read);
        }
        Ok(facts)
    }
}

/// The report as `squadron metrics --json` prints it: times in RFC 3339, durations in
/// seconds, shares between 0 and 1, money in US dollars; `null` where there is nothing to
/// measure.
pub fn report_json(report: &DeliveryReport) -> Value {
    json!({
        "period": {
            "from": rfc3339(report.from),
            "to": rfc3339(report.to),
            "days": report.total.days,
        },
        "total": figures_json(&report.total),
        "repositories": report.by_repository.iter().map(|(repository, figures)| {
            let mut value = figures_json(figures);
            value["repository"] = json!(repository);
            value
        }).collect::<Vec<_>>(),
        "runs": report.by_run.iter().map(|(run, figures)| {
            let mut value = figures_json(figures);
            value["run"] = json!(run.as_str());
            value
        }).collect::<Vec<_>>(),
    })
}

fn figures_json(figures: &DeliveryFigures) -> Value {
    json!({
        "merges": figures.merges,
        "merges_per_day": figures.merges_per_day(),
        "throughput": figures.throughput.iter().map(|(day, merges)| json!({
            "day": date(*day),
            "merges": merges,
        })).collect::<Vec<_>>(),
        "lead_time": durations_json(&figures.lead_times),
        "change_failure_rate": figures.change_failure_rate(),
        "change_failures": figures.change_failures.iter().map(|failure| {
            let (cause, by) = match &failure.cause {
                FailureCause::Reverted => ("reverted", None),
                FailureCause::BlamedBy(fix) => ("blamed-by-fix", Some(fix.as_str())),
            };
            json!({
                "issue": failure.issue.as_str(),
                "pr": failure.pr.0,
                "cause": cause,
                "fix": by,
                "at": rfc3339(failure.at),
            })
        }).collect::<Vec<_>>(),
        "time_to_restore": durations_json(&figures.restore_times),
        "flow": {
            "working_seconds": seconds(figures.working),
            "waiting_seconds": seconds(figures.waiting_total()),
            "waiting": figures.waiting.iter()
                .map(|(wait, spent)| (wait.name().to_owned(), json!(seconds(*spent))))
                .collect::<serde_json::Map<_, _>>(),
            "efficiency": figures.flow_efficiency(),
        },
        "load": {
            "in_progress": figures.in_progress,
            "peak_per_day": figures.load.iter().map(|(day, peak)| json!({
                "day": date(*day),
                "peak_in_progress": peak,
            })).collect::<Vec<_>>(),
        },
        "distribution": {
            "features": figures.features,
            "bug_fixes": figures.bug_fixes,
            "bug_fix_share": figures.bug_fix_share(),
        },
        "review_rounds_per_merge": figures.review_rounds_per_merge(),
        "cost_usd": figures.cost.as_dollars(),
        "cost_per_merge_usd": figures.cost_per_merge().map(|cost| cost.as_dollars()),
    })
}

fn durations_json(values: &[Duration]) -> Value {
    let mean = (!values.is_empty())
        .then(|| values.iter().map(Duration::as_secs_f64).sum::<f64>() / values.len() as f64);
    json!({
        "count": values.len(),
        "median_seconds": median(values).map(seconds),
        "p90_seconds": percentile(values, 90).map(seconds),
        "mean_seconds": mean,
        "max_seconds": values.iter().max().copied().map(seconds),
        "values_seconds": values.iter().copied().map(seconds).collect::<Vec<_>>(),
    })
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// A day as `YYYY-MM-DD`.
pub fn date(day: Day) -> String {
    let mut text = rfc3339(day.start());
    text.truncate(10);
    text
}

fn rfc3339(at: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.as_millis()) * 1_000_000)
        .ok()
        .and_then(|time| time.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{}ms", at.as_millis()))
}
