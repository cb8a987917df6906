//! What the dashboard reads: runs with their totals, budget and squads (each with its issue
//! and pull request pages, who is at work and what it waits for, from the runtime when it
//! runs the squad, from the store otherwise), one squad's whole record and budget, and
//! `/readyz` with the services' rate limits.

use std::collections::BTreeMap;
use std::time::Duration;

use squadron::server::{LiveSquad, PageLinks, RateLimit, Readiness, RequestBudget};
use squadron_core::event_payload::EventPayload;
use squadron_core::gate::{CommitSha, GateBlocker};
use squadron_core::ports::{ChatMessage, SquadEvent, TranscriptEntry};
use squadron_core::{IssueKey, Phase, PrNumber, ReviewVerdict, Role, SquadId, Usd};
use squadron_pipeline::Waiting;

use crate::support::{FakeControl, NOW, TestServer, json, settings, squad};

fn links() -> PageLinks {
    PageLinks {
        github_web: "https://github.com".to_owned(),
        repositories: BTreeMap::from([("ENG".to_owned(), "acme/shop".to_owned())]),
        linear_web: "https://linear.app".to_owned(),
    }
}

fn control_with_a_run() -> std::sync::Arc<FakeControl> {
    let control = FakeControl::new();
    let mut merged = squad("run-1", "squad-1", "ENG-1", Phase::Merged);
    merged.usage.usage.prompt = 1_000;
    merged.usage.cost = Usd::from_micros(1_500_000);
    let mut waiting = squad("run-1", "squad-2", "ENG-2", Phase::Queued);
    waiting.record.squad.pr = None;
    waiting.record.blocked_by = vec![IssueKey::from("ENG-3")];
    let mut reviewing = squad("run-1", "squad-3", "ENG-3", Phase::Reviewing);
    reviewing.record.squad.pr = Some(PrNumber(9));
    reviewing.usage.cost = Usd::from_micros(700_000);
    control.add_run("run-1", vec![merged, waiting, reviewing]);
    control
}

#[tokio::test]
async fn a_squad_the_runtime_runs_says_which_agent_is_at_work_and_what_it_waits_for() {
    let control = FakeControl::new();
    let mut reviewing = squad("run-1", "squad-1", "ENG-1", Phase::Reviewing);
    reviewing.live = Some(LiveSquad {
        title: "Add totals".to_owned(),
        at_work: vec![Role::QaSpecialist],
        waiting: None,
    });
    let mut approved = squad("run-1", "squad-2", "ENG-2", Phase::Approved);
    approved.live = Some(LiveSquad {
        title: String::new(),
        at_work: Vec::new(),
        waiting: Some(Waiting::Gate(vec![GateBlocker::CheckPending {
            name: "ci".to_owned(),
        }])),
    });
    let mut in_lane = squad("run-1", "squad-3", "ENG-3", Phase::Approved);
    in_lane.live = Some(LiveSquad {
        waiting: Some(Waiting::MergeLane { ahead: 1 }),
        ..LiveSquad::default()
    });
    // Run by another daemon: what its event log says the gate holds it for.
    let mut elsewhere = squad("run-1", "squad-4", "ENG-4", Phase::Approved);
    elsewhere.gate_hold = Some("waits at the merge gate: required check `ci` is pending".into());
    control.add_run("run-1", vec![reviewing, approved, in_lane, elsewhere]);
    let server = TestServer::start_with(control, settings()).await;

    let (status, answer) = json(server.get("/api/runs").await).await;
    assert_eq!(status, 200, "{answer:#}");
    let squads = answer["runs"][0]["squads"].as_array().expect("squads");
    assert_eq!(
        squads[0]["at_work"], "qa-specialist",
        "the one reviewer still at work, not both as the phase would guess"
    );
    assert_eq!(squads[0]["title"], "Add totals");
    assert_eq!(squads[0]["waits_for"], serde_json::Value::Null);
    assert_eq!(squads[1]["at_work"], "");
    assert_eq!(squads[1]["title"], serde_json::Value::Null);
    assert_eq!(
        squads[1]["waits_for"],
        "waits at the merge gate: required check `ci` is pending"
    );
    assert_eq!(squads[1]["waiting"], "gate");
    assert_eq!(
        squads[2]["waits_for"],
        "waits in the merge lane behind 1 merge"
    );
    assert_eq!(squads[2]["waiting"], "merge-lane");
    assert_eq!(
        squads[3]["waits_for"],
        "waits at the merge gate: required check `ci` is pending"
    );
    assert_eq!(squads[3]["waiting"], "gate");
    assert_eq!(squads[3]["at_work"], "merge queue", "the phase's guess");
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn runs_carry_totals_budget_links_and_what_a_queued_squad_waits_for() {
    let control = control_with_a_run();
    let mut settings = settings();
    settings.links = links();
    settings.run_budget = Some(Usd::from_dollars(2.0));
    let server = TestServer::start_with(control, settings).await;

    let (status, answer) = json(server.get("/api/runs").await).await;
    assert_eq!(status, 200, "{answer:#}");
    let run = &answer["runs"][0];
    assert_eq!(run["id"], "run-1");
    assert_eq!(run["finished"], false);
    assert_eq!(run["totals"]["squads"], 3);
    assert_eq!(run["totals"]["outcomes"]["merged"], 1);
    assert_eq!(
        run["totals"]["cost"], "$2.2000",
        "one money format: {run:#}"
    );
    assert_eq!(run["budget"]["limit"], "$2.0000");
    assert_eq!(run["budget"]["exceeded"], true);
    let squads = run["squads"].as_array().expect("squads");
    assert_eq!(
        squads[0]["issue_url"],
        "https://linear.app/acme/issue/ENG-1"
    );
    assert_eq!(squads[0]["pr_url"], "https://github.com/acme/shop/pull/7");
    assert_eq!(squads[0]["cost"], "$1.5000");
    assert_eq!(squads[1]["waits_for"], "waits for ENG-3 to merge");
    assert_eq!(squads[1]["pr_url"], serde_json::Value::Null);
    assert_eq!(squads[2]["at_work"], "reviewers");
    assert_eq!(squads[2]["pr_url"], "https://github.com/acme/shop/pull/9");
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_squad_page_shows_its_reviews_with_verdicts_and_heads_and_its_transcript() {
    let control = control_with_a_run();
    {
        let mut recorded = control.recorded();
        recorded.events = vec![
            SquadEvent {
                squad_id: SquadId::from("squad-3"),
                seq: 1,
                at: NOW,
                kind: "review-verdict".to_owned(),
                payload: r#"{"round":1,"role":"code-reviewer","verdict":"changes-requested","head":"0123456789abcdef"}"#.to_owned(),
                note: Some(EventPayload::ReviewVerdict {
                    round: 1,
                    role: Role::CodeReviewer,
                    verdict: ReviewVerdict::ChangesRequested,
                    head: CommitSha::from("0123456789abcdef"),
                    review_id: None,
                }),
                phase: Phase::Reviewing,
                round: 1,
            },
            SquadEvent {
                squad_id: SquadId::from("squad-3"),
                seq: 2,
                at: NOW,
                kind: "review-verdict".to_owned(),
                payload: r#"{"round":1,"role":"qa-specialist","verdict":"approved","head":"0123456789abcdef"}"#.to_owned(),
                note: Some(EventPayload::ReviewVerdict {
                    round: 1,
                    role: Role::QaSpecialist,
                    verdict: ReviewVerdict::Approved,
                    head: CommitSha::from("0123456789abcdef"),
                    review_id: None,
                }),
                phase: Phase::Reviewing,
                round: 1,
            },
        ];
        recorded.transcript = vec![TranscriptEntry {
            squad_id: SquadId::from("squad-3"),
            role: Role::Developer,
            seq: 1,
            at: NOW,
            message: ChatMessage::User {
                content: "x".repeat(40_000),
            },
        }];
    }
    let mut settings = settings();
    settings.links = links();
    settings.squad_budget = Some(Usd::from_dollars(0.5));
    let server = TestServer::start_with(control, settings).await;

    let (status, page) = json(server.get("/api/squads/squad-3").await).await;
    assert_eq!(status, 200, "{page:#}");
    assert_eq!(page["squad"]["issue"], "ENG-3");
    assert_eq!(page["squad"]["budget"]["limit"], "$0.5000");
    assert_eq!(page["squad"]["budget"]["exceeded"], true, "$0.70 of $0.50");
    assert_eq!(
        page["squad"]["issue_url"],
        "https://linear.app/acme/issue/ENG-3"
    );
    let reviews = page["reviews"].as_array().expect("reviews");
    assert_eq!(reviews.len(), 2);
    assert_eq!(reviews[0]["role"], "code-reviewer");
    assert_eq!(reviews[0]["verdict"], "changes-requested");
    assert_eq!(reviews[0]["head"], "0123456789abcdef");
    assert_eq!(page["events"][1]["payload"]["verdict"], "approved");
    let message = page["transcript"][0]["message"]["content"]
        .as_str()
        .expect("content");
    assert!(
        message.len() < 20_000 && message.contains("squadron logs"),
        "a huge message is cut and says where the rest is"
    );

    let (status, missing) = json(server.get("/api/squads/squad-404").await).await;
    assert_eq!(status, 404, "{missing:#}");
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn readyz_is_503_naming_what_is_down_until_every_check_passes() {
    let control = FakeControl::new();
    let readiness = Readiness::new();
    readiness.record(
        "github",
        false,
        "failed to resolve the GitHub identities",
        NOW,
    );
    let server = TestServer::start_ready(control, settings(), readiness.clone()).await;

    let (status, answer) = json(server.get("/readyz").await).await;
    assert_eq!(status, 503, "{answer:#}");
    assert_eq!(answer["status"], "not_ready");
    let checks = answer["checks"].as_array().expect("checks");
    assert_eq!(checks[0]["name"], "store");
    assert_eq!(checks[0]["ok"], true);
    assert_eq!(checks[1]["name"], "github");
    assert_eq!(checks[1]["ok"], false);
    assert!(checks[1]["detail"].as_str().unwrap().contains("GitHub"));
    let (status, _) = json(server.get("/healthz").await).await;
    assert_eq!(status, 200, "liveness does not depend on GitHub");

    readiness.record("github", true, "the reviewers' identities resolved", NOW);
    let (status, answer) = json(server.get("/readyz").await).await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(answer["status"], "ready");
    assert_eq!(
        answer["rate_limits"],
        serde_json::json!([]),
        "no adapters yet"
    );

    // A provider held back by its rate limit is still ready: the daemon waits it out.
    readiness.read_rate_limits(|| {
        vec![
            RateLimit {
                service: "github".to_owned(),
                paused_for: None,
                budget: Some(RequestBudget {
                    remaining: 4812,
                    limit: 5000,
                    resets_at: NOW,
                }),
                in_flight: None,
            },
            RateLimit {
                service: "model openai".to_owned(),
                paused_for: Some(Duration::from_secs(30)),
                budget: None,
                in_flight: Some((2, 8)),
            },
        ]
    });
    let (status, answer) = json(server.get("/readyz").await).await;
    assert_eq!(status, 200, "{answer:#}");
    let limits = &answer["rate_limits"];
    assert_eq!(limits[0]["service"], "github");
    assert_eq!(limits[0]["remaining"], 4812);
    assert_eq!(limits[0]["limit"], 5000);
    assert_eq!(limits[0]["paused"], false);
    assert_eq!(limits[0]["summary"], "github 4812/5000");
    assert_eq!(limits[1]["paused"], true);
    assert_eq!(limits[1]["paused_for_seconds"], 30);
    assert_eq!(limits[1]["in_flight"], 2);
    assert_eq!(limits[1]["max_in_flight"], 8);
    assert_eq!(limits[1]["summary"], "model openai paused 30s");
    server.stop().await.expect("clean stop");
}
