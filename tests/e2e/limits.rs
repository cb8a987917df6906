//! Runs that hit a limit: ten issues under a concurrency of four, the review-round cap, and
//! a squad over its budget.

use std::collections::{BTreeMap, BTreeSet};

use squadron::demo::{DemoLimits, SAMPLE_REPO};

use crate::support::{Rig, describe};
use squadron::demo::generated::{Behaviour, MAX_ROUNDS, milestone};

/// The most squads that were between `preparing` and a terminal phase at once, read from
/// the runtime's structured `phase changed` log lines.
fn peak_concurrency(stderr: &str) -> usize {
    let mut active: BTreeSet<String> = BTreeSet::new();
    let mut peak = 0;
    let mut seen = 0;
    for line in stderr.lines() {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let fields = &entry["fields"];
        let (Some(squad), Some(phase)) = (fields["squad"].as_str(), fields["phase"].as_str())
        else {
            continue;
        };
        if fields["message"] != "phase changed" {
            continue;
        }
        seen += 1;
        match phase {
            "merged" | "needs-human" | "failed" | "cancelled" | "skipped" => {
                active.remove(squad);
            }
            "queued" => {}
            _ => {
                active.insert(squad.to_owned());
            }
        }
        peak = peak.max(active.len());
    }
    assert!(
        seen > 0,
        "no `phase changed` log lines to measure concurrency from:\n{stderr}"
    );
    peak
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_milestone_of_ten_issues_merges_them_all_four_at_a_time() {
    let limits = DemoLimits {
        concurrency: 4,
        review_rounds: Some(MAX_ROUNDS),
        ..DemoLimits::default()
    };
    let rig = Rig::start(milestone(10, Behaviour::Approve), limits).await;

    let output = rig.run(&[]).await;

    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let pulls = rig.pulls();
    assert_eq!(pulls.len(), 10, "one PR per issue");
    assert!(pulls.iter().all(|pull| pull.merged), "every PR merged");
    let merges = rig
        .world
        .github
        .merges(SAMPLE_REPO)
        .expect("merges are recorded");
    assert_eq!(merges.len(), 10, "each PR merged exactly once");
    for n in 1..=10 {
        let file = format!("ledger/rate_{n}.py");
        assert!(
            rig.world
                .github
                .file_at(SAMPLE_REPO, "main", &file)
                .expect("main resolves")
                .is_some(),
            "{file} is on main"
        );
        assert_eq!(
            rig.linear_state(&format!("ENG-{n}")).as_deref(),
            Some("Done")
        );
    }
    let peak = peak_concurrency(&String::from_utf8_lossy(&output.stderr));
    assert!(
        (2..=4).contains(&peak),
        "squads ran {peak} at a time; the limit is 4"
    );
    let refused: Vec<String> = rig
        .world
        .model
        .requests()
        .into_iter()
        .filter_map(|request| request.refused)
        .collect();
    assert_eq!(
        refused,
        Vec::<String>::new(),
        "every model request found its script"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_squad_that_reaches_the_review_round_cap_stops_as_needs_human() {
    let limits = DemoLimits {
        review_rounds: Some(2),
        ..DemoLimits::default()
    };
    let rig = Rig::start(
        milestone(1, Behaviour::NeverSatisfied { rounds: 2 }),
        limits,
    )
    .await;

    let output = rig.run(&[]).await;

    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let pulls = rig.pulls();
    assert_eq!(pulls.len(), 1);
    assert!(
        pulls[0].open && !pulls[0].merged,
        "the PR stays open for a person"
    );
    let reviews = rig
        .world
        .github
        .reviews(SAMPLE_REPO, pulls[0].number)
        .expect("reviews");
    let changes: Vec<&str> = reviews
        .iter()
        .filter(|review| review.state == "CHANGES_REQUESTED")
        .map(|review| review.commit_id.as_str())
        .collect();
    assert_eq!(
        changes.len(),
        2,
        "two rounds of requested changes, no third: {reviews:?}"
    );
    assert_ne!(changes[0], changes[1], "round 2 reviewed the fixed head");
    assert!(
        rig.world
            .github
            .merges(SAMPLE_REPO)
            .expect("merges")
            .is_empty(),
        "nothing merged"
    );
    let body = pulls[0].body.clone().unwrap_or_default();
    assert!(
        body.contains("round"),
        "the PR body carries the needs-human summary: {body}"
    );
    assert!(
        rig.linear_comments("ENG-1")
            .iter()
            .any(|comment| comment.contains("needs a person") && comment.contains("round")),
        "the issue carries the needs-human summary: {:?}",
        rig.linear_comments("ENG-1")
    );
    assert_ne!(rig.linear_state("ENG-1").as_deref(), Some("Done"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_squad_over_its_budget_stops_as_needs_human_before_its_next_model_call() {
    let limits = DemoLimits {
        budget_per_squad_usd: 0.5,
        ..DemoLimits::default()
    };
    let rig = Rig::start(milestone(1, Behaviour::Expensive), limits).await;

    let output = rig.run(&[]).await;

    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        rig.pulls().is_empty(),
        "no PR for a squad that ran out of budget"
    );
    let developer_calls = rig.world.model.requests_for("developer-ENG-1").len();
    assert_eq!(
        developer_calls, 1,
        "the call after the budget ran out was never made"
    );
    let by_script: BTreeMap<String, usize> = rig.world.model.unplayed_steps().into_iter().collect();
    assert_eq!(by_script.get("developer-ENG-1"), Some(&2));
    assert!(
        rig.linear_comments("ENG-1")
            .iter()
            .any(|comment| comment.to_lowercase().contains("budget")),
        "the issue says the budget ran out: {:?}",
        rig.linear_comments("ENG-1")
    );
}
