//! What the dashboard reads: runs with their totals, budget and squads (each with its issue
//! and pull request pages, who is at work and what a queued one waits for), one squad's
//! whole record, and `/readyz`.

use std::collections::BTreeMap;

use squadron::server::{PageLinks, Readiness};
use squadron_core::ports::{ChatMessage, SquadEvent, TranscriptEntry};
use squadron_core::{IssueKey, Phase, PrNumber, Role, SquadId, Usd};

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
                phase: Phase::Reviewing,
                round: 1,
            },
            SquadEvent {
                squad_id: SquadId::from("squad-3"),
                seq: 2,
                at: NOW,
                kind: "review-verdict".to_owned(),
                payload: r#"{"round":1,"role":"qa-specialist","verdict":"approved","head":"0123456789abcdef"}"#.to_owned(),
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
    let server = TestServer::start_with(control, settings).await;

    let (status, page) = json(server.get("/api/squads/squad-3").await).await;
    assert_eq!(status, 200, "{page:#}");
    assert_eq!(page["squad"]["issue"], "ENG-3");
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
    server.stop().await.expect("clean stop");
}
