//! Delivery metrics over a store filled by real runs on the stand-ins: the demo milestone
//! (one squad waiting for its blocker, one reviewed twice, one skipped) and then a bug fix
//! whose diagnosis blames one of the milestone's PRs. What `squadron metrics --json` prints
//! equals what is computed here by hand from the store's raw records, and `/metrics`
//! exports it.

use std::time::Duration;

use serde_json::Value;
use squadron::demo::{BUGFIX_ISSUE, BUGFIX_SCRIPTS, DemoLimits, SAMPLE_REPO, Scenario, WorldSeed};
use squadron_core::Phase;
use squadron_core::effect::{EffectKey, OpenedPr};
use squadron_core::ports::SquadEvent;
use squadron_standin_model::ScriptBook;
use squadron_store::{SqlStore, SquadOverview, StoreLocation};

use crate::support::{Rig, describe};

/// The phases a squad's agents work in; every other open phase is a wait for what the
/// second element names. Written out here so the test does not borrow the code under test.
const WORKING: [&str; 5] = [
    "preparing",
    "diagnosing",
    "implementing",
    "verifying",
    "fixing",
];
const WAITS: [(&str, &str); 5] = [
    ("queued", "blocker-or-slot"),
    ("pr-open", "reviews"),
    ("reviewing", "reviews"),
    ("approved", "checks-and-merge-lane"),
    ("merging", "checks-and-merge-lane"),
];

fn close(actual: &Value, expected: f64, what: &str) {
    let actual = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is a number: {actual}"));
    assert!(
        (actual - expected).abs() < 1e-6,
        "{what}: printed {actual}, computed {expected}"
    );
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// A merged squad as the store recorded it.
struct Merged {
    issue: String,
    kind: String,
    created: i64,
    merged: i64,
    events: Vec<SquadEvent>,
    round: u32,
    pr_url: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_of_a_milestone_and_a_blaming_fix_equal_the_hand_computed_figures() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let milestone = Rig::start(
        WorldSeed::of_scenario(Scenario::Milestone).expect("the milestone scenario"),
        DemoLimits::default(),
    )
    .await;
    let output = milestone.run(&[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let database = milestone.dir().join("squadron.db");

    // The PR of the squad that waited for its blocker is the one the fix will blame.
    let store = SqlStore::open(&StoreLocation::Sqlite(database.clone()))
        .await
        .expect("open the store");
    let blamed = blocked_squads_pr(&store).await;

    // The bug fix runs against its own stand-ins but records into the same store.
    let scripts = BUGFIX_SCRIPTS.replace(
        "(expected 4, got 0).",
        &format!("(expected 4, got 0); the export change came with {blamed}."),
    );
    assert_ne!(scripts, BUGFIX_SCRIPTS, "the diagnosis names the PR");
    let fix = Rig::start(
        WorldSeed {
            workspace: Scenario::Bugfix.linear_workspace(),
            scripts: ScriptBook::from_toml(&scripts, "bugfix scripts").expect("scripts"),
            project_url: Scenario::Bugfix.project_url(),
        },
        DemoLimits::default(),
    )
    .await;
    let database_url = database.to_str().expect("a UTF-8 path").to_owned();
    let output = fix
        .squadron(&["fix", BUGFIX_ISSUE], &[("DATABASE_URL", &database_url)])
        .await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    let output = milestone.squadron(&["metrics", "--json"], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let printed: Value = serde_json::from_slice(&output.stdout).expect("JSON");

    // By hand, from the store's raw records.
    let overviews = store.squad_overviews(None).await.expect("squads");
    let mut merged = Vec::new();
    for overview in &overviews {
        let squad = &overview.record.squad;
        if squad.phase != Phase::Merged {
            continue;
        }
        let events = store.events(&squad.id).await.expect("events");
        let merged_at = events
            .iter()
            .find(|event| event.kind == "phase-changed" && event.phase == Phase::Merged)
            .expect("a merge event")
            .at;
        let journal = store.journal_entries(&squad.id).await.expect("journal");
        let opened = journal
            .iter()
            .find(|entry| entry.key.ends_with("/open-pr"))
            .and_then(|entry| entry.result.clone())
            .expect("the open-PR result");
        merged.push(Merged {
            issue: squad.issue.as_str().to_owned(),
            kind: format!("{:?}", squad.kind),
            created: overview.record.created_at.as_millis(),
            merged: merged_at.as_millis(),
            events,
            round: squad.round,
            pr_url: opened.split_once(' ').expect("number and url").1.to_owned(),
        });
    }
    merged.sort_by_key(|squad| squad.merged);
    let total = &printed["total"];

    // Merges and their distribution: three features of the milestone, one fix.
    assert_eq!(merged.len(), 4, "three features and the fix merged");
    assert_eq!(total["merges"], 4);
    assert_eq!(total["distribution"]["features"], 3);
    assert_eq!(total["distribution"]["bug_fixes"], 1);
    close(
        &total["distribution"]["bug_fix_share"],
        0.25,
        "bug-fix share",
    );
    let days = printed["period"]["days"].as_f64().expect("days");
    close(&total["merges_per_day"], 4.0 / days, "merges per day");
    let throughput: u64 = total["throughput"]
        .as_array()
        .expect("throughput")
        .iter()
        .map(|day| day["merges"].as_u64().expect("merges"))
        .sum();
    assert_eq!(throughput, 4);

    // Lead time, admission to merge, in merge order.
    let lead: Vec<f64> = merged
        .iter()
        .map(|squad| (squad.merged - squad.created) as f64 / 1000.0)
        .collect();
    let printed_lead: Vec<f64> = total["lead_time"]["values_seconds"]
        .as_array()
        .expect("lead times")
        .iter()
        .map(|value| value.as_f64().expect("seconds"))
        .collect();
    assert_eq!(printed_lead.len(), lead.len());
    for (printed, computed) in printed_lead.iter().zip(&lead) {
        close(&Value::from(*printed), *computed, "lead time");
    }
    let mut sorted = lead.clone();
    sorted.sort_by(f64::total_cmp);
    close(
        &total["lead_time"]["median_seconds"],
        (sorted[1] + sorted[2]) / 2.0,
        "median lead time",
    );

    // The change failure: the waiting squad's PR, blamed by the fix's diagnosis.
    let failures = total["change_failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{failures:#?}");
    let blamed_issue = &merged
        .iter()
        .find(|squad| squad.pr_url == blamed)
        .expect("the blamed PR merged")
        .issue;
    assert_eq!(failures[0]["issue"], blamed_issue.as_str());
    assert_eq!(failures[0]["cause"], "blamed-by-fix");
    assert_eq!(failures[0]["fix"], BUGFIX_ISSUE);
    close(&total["change_failure_rate"], 0.25, "change failure rate");

    // Time to restore: the fix's time from its trigger (its run's creation) to its merge.
    let fix_squad = merged
        .iter()
        .find(|squad| squad.kind == "BugFix")
        .expect("the fix merged");
    let fix_run = overviews
        .iter()
        .find(|overview| overview.record.squad.issue.as_str() == fix_squad.issue)
        .map(|overview| overview.record.squad.run_id.clone())
        .expect("the fix's run");
    let triggered = store
        .run(&fix_run)
        .await
        .expect("the fix run")
        .run
        .created_at;
    let restore = squadron_pipeline::time_to_merge(&fix_squad.events).expect("recorded");
    assert!(
        (seconds(restore) - (fix_squad.merged - triggered.as_millis()) as f64 / 1000.0).abs() < 1.0,
        "the recorded time to restore is the trigger-to-merge time"
    );
    close(
        &total["time_to_restore"]["values_seconds"][0],
        seconds(restore),
        "time to restore",
    );

    // Flow: time in each phase from one phase change to the next, up to the merge.
    let mut working = 0.0;
    let mut waiting = std::collections::BTreeMap::<&str, f64>::new();
    for squad in &merged {
        let changes: Vec<&SquadEvent> = squad
            .events
            .iter()
            .filter(|event| event.kind == "created" || event.kind == "phase-changed")
            .collect();
        for pair in changes.windows(2) {
            let spent = (pair[1].at.as_millis() - pair[0].at.as_millis()) as f64 / 1000.0;
            let phase = pair[0].phase.name();
            if WORKING.contains(&phase) {
                working += spent;
            } else if let Some((_, wait)) = WAITS.iter().find(|(name, _)| *name == phase) {
                *waiting.entry(wait).or_default() += spent;
            }
        }
    }
    let waited: f64 = waiting.values().sum();
    close(&total["flow"]["working_seconds"], working, "time worked");
    close(&total["flow"]["waiting_seconds"], waited, "time waited");
    for (wait, spent) in &waiting {
        close(&total["flow"]["waiting"][*wait], *spent, wait);
    }
    assert!(
        waiting["blocker-or-slot"] > 0.0,
        "the blocked squad waited for its blocker"
    );
    close(
        &total["flow"]["efficiency"],
        working / (working + waited),
        "flow efficiency",
    );

    // Load: the milestone's three admitted squads were in progress together; none now.
    assert_eq!(total["load"]["in_progress"], 0);
    let peak = total["load"]["peak_per_day"]
        .as_array()
        .expect("load")
        .iter()
        .map(|day| day["peak_in_progress"].as_u64().expect("peak"))
        .max();
    assert_eq!(peak, Some(3));

    // Review rounds and cost per merged PR.
    let rounds: u32 = merged.iter().map(|squad| squad.round).sum();
    assert_eq!(rounds, 5, "one squad of four was reviewed twice");
    close(
        &total["review_rounds_per_merge"],
        1.25,
        "review rounds per merge",
    );
    let cost: f64 = overviews
        .iter()
        .map(|overview: &SquadOverview| overview.usage.cost.as_dollars())
        .sum();
    close(&total["cost_usd"], cost, "cost of the ended squads");
    let per_merge = total["cost_per_merge_usd"]
        .as_f64()
        .expect("cost per merge");
    assert!(
        (per_merge - cost / 4.0).abs() < 1e-5,
        "{per_merge} vs {cost}/4"
    );

    // Per repository and per run.
    let repositories = printed["repositories"].as_array().expect("repositories");
    assert_eq!(repositories.len(), 1);
    assert_eq!(repositories[0]["repository"], SAMPLE_REPO);
    assert_eq!(repositories[0]["merges"], 4);
    let runs: Vec<u64> = printed["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|run| run["merges"].as_u64().expect("merges"))
        .collect();
    assert_eq!(runs, [3, 1], "the milestone's run first, then the fix's");

    // `--run` keeps to one run: the fix alone, which did not fail.
    let output = milestone
        .squadron(&["metrics", "--json", "--run", fix_run.as_str()], &[])
        .await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let fix_only: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(fix_only["total"]["merges"], 1);
    close(
        &fix_only["total"]["change_failure_rate"],
        0.0,
        "the fix's CFR",
    );
    store.close().await;

    // The daemon exports the same figures.
    let (_daemon, address) = milestone.serve(&[]);
    let text = reqwest::get(format!("http://{address}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the exposition");
    for expected in [
        "squadron_merges_total 4".to_owned(),
        "squadron_change_failures_total 1".to_owned(),
        "squadron_change_failure_rate 0.25".to_owned(),
        "squadron_merges_by_kind_total{kind=\"bug-fix\"} 1".to_owned(),
        "squadron_review_rounds_total 5".to_owned(),
        format!("squadron_repository_merges_total{{repository=\"{SAMPLE_REPO}\"}} 4"),
        "squadron_lead_time_seconds_count 4".to_owned(),
        "squadron_time_to_restore_seconds_count 1".to_owned(),
    ] {
        assert!(
            text.lines().any(|line| line == expected),
            "missing `{expected}` in:\n{text}"
        );
    }
}

/// The PR page of the milestone's squad that waited for a blocker.
async fn blocked_squads_pr(store: &SqlStore) -> String {
    let overviews = store.squad_overviews(None).await.expect("squads");
    let blocked = overviews
        .iter()
        .find(|overview| !overview.record.blocked_by.is_empty())
        .expect("a squad of the milestone has a blocker");
    let opened: OpenedPr = store
        .effect_result(&EffectKey::OpenPr {
            squad: blocked.record.squad.id.clone(),
        })
        .await
        .expect("journal")
        .expect("the blocked squad opened a PR");
    opened.url
}
