//! The JSON API over HTTP: starting runs, reading runs and squads, health, and the error
//! shape every failure shares.

use squadron::server::{ControlError, ControlErrorKind};
use squadron_core::Phase;

use crate::support::{FakeControl, PROJECT_URL, TestServer, json, squad};

#[tokio::test]
async fn posting_a_milestone_url_starts_a_run_and_answers_202_with_its_id() {
    let control = FakeControl::new();
    let server = TestServer::start(control.clone()).await;

    let body =
        format!(r#"{{"url": "{PROJECT_URL}#milestone-1d2c3b4a-0000-4000-8000-00000000abcd"}}"#);
    let response = server.post_json("/api/runs", &body).await;
    let location = response.headers().get("location").cloned();
    let (status, answer) = json(response).await;

    assert_eq!(status, 202);
    assert_eq!(answer, serde_json::json!({ "run_id": "run-1" }));
    assert_eq!(
        location.as_ref().and_then(|v| v.to_str().ok()),
        Some("/api/runs/run-1")
    );
    assert_eq!(
        control.recorded().started,
        vec![format!(
            "{PROJECT_URL}#milestone-1d2c3b4a-0000-4000-8000-00000000abcd"
        )]
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_url_that_is_not_a_project_is_refused_with_400_and_the_accepted_shapes() {
    let control = FakeControl::new();
    let server = TestServer::start(control.clone()).await;

    let response = server
        .post_json(
            "/api/runs",
            r#"{"url": "https://linear.app/acme/issue/ENG-1"}"#,
        )
        .await;
    let (status, answer) = json(response).await;

    assert_eq!(status, 400);
    let error = &answer["error"];
    assert_eq!(error["code"], "invalid_url");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("https://linear.app/acme/issue/ENG-1"),
        "{message}"
    );
    assert!(message.contains("paste the project's URL"), "{message}");
    let shapes = error["accepted_shapes"].as_array().unwrap();
    assert!(
        shapes[0]
            .as_str()
            .unwrap()
            .starts_with("https://linear.app/<workspace>/project/"),
        "{shapes:?}"
    );
    assert!(control.recorded().started.is_empty(), "no run was started");
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn malformed_bodies_are_refused_with_json_errors_and_start_nothing() {
    let control = FakeControl::new();
    let server = TestServer::start(control.clone()).await;

    let (status, answer) = json(server.post_json("/api/runs", "{\"link\": 1}").await).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], "invalid_json");
    assert!(answer["error"]["message"].as_str().unwrap().contains("url"));

    let form = server
        .client
        .post(server.url("/api/runs"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("url={PROJECT_URL}"))
        .send()
        .await
        .unwrap();
    let (status, answer) = json(form).await;
    assert_eq!(status, 415);
    assert_eq!(answer["error"]["code"], "unsupported_media_type");

    let huge = format!(r#"{{"url": "{}"}}"#, "x".repeat(100 * 1024));
    let (status, answer) = json(server.post_json("/api/runs", &huge).await).await;
    assert_eq!(status, 413);
    assert_eq!(answer["error"]["code"], "body_too_large");

    assert!(control.recorded().started.is_empty());
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_runtime_refusal_keeps_its_meaning_in_the_status() {
    let control = FakeControl::new();
    control.recorded().refuse_start = Some(ControlError::new(
        ControlErrorKind::Unavailable,
        "start a run: the daemon is shutting down",
    ));
    let server = TestServer::start(control.clone()).await;

    let body = format!(r#"{{"url": "{PROJECT_URL}"}}"#);
    let (status, answer) = json(server.post_json("/api/runs", &body).await).await;

    assert_eq!(status, 503);
    assert_eq!(answer["error"]["code"], "unavailable");
    assert_eq!(
        answer["error"]["message"],
        "failed to start a run: the daemon is shutting down"
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_run_is_shown_with_its_squads_and_an_unknown_run_is_404() {
    let control = FakeControl::new();
    control.add_run(
        "run-9",
        vec![
            squad("run-9", "squad-a", "ENG-1", Phase::Reviewing),
            squad(
                "run-9",
                "squad-b",
                "ENG-2",
                Phase::NeedsHuman("round cap".into()),
            ),
        ],
    );
    let server = TestServer::start(control).await;

    let (status, run) = json(server.get("/api/runs/run-9").await).await;
    assert_eq!(status, 200);
    assert_eq!(run["id"], "run-9");
    assert_eq!(run["status"], "running");
    assert_eq!(run["trigger"]["url"], PROJECT_URL);
    let issues: Vec<&str> = run["squads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|squad| squad["issue"].as_str().unwrap())
        .collect();
    assert_eq!(issues, ["ENG-1", "ENG-2"]);
    assert_eq!(run["squads"][1]["phase"], "needs-human");
    assert_eq!(run["squads"][1]["detail"], "round cap");

    let (status, answer) = json(server.get("/api/runs/run-404").await).await;
    assert_eq!(status, 404);
    assert_eq!(answer["error"]["code"], "not_found");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("run-404")
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn squads_list_issue_phase_round_pr_tokens_cost_and_age() {
    let control = FakeControl::new();
    let mut reviewing = squad("run-1", "squad-a", "ENG-1", Phase::Reviewing);
    reviewing.usage.calls = 3;
    reviewing.usage.usage.prompt = 1200;
    reviewing.usage.usage.completion = 300;
    reviewing.usage.cost = squadron_core::Usd::from_micros(1_250_000);
    control.add_run("run-1", vec![reviewing]);
    let server = TestServer::start(control).await;

    let (status, answer) = json(server.get("/api/squads").await).await;

    assert_eq!(status, 200);
    let squad = &answer["squads"][0];
    assert_eq!(squad["issue"], "ENG-1");
    assert_eq!(squad["phase"], "reviewing");
    assert_eq!(squad["round"], 1);
    assert_eq!(squad["pr"], 7);
    assert_eq!(squad["tokens"]["total"], 1500);
    assert_eq!(squad["cost_usd"], 1.25);
    assert_eq!(squad["age_seconds"], 300);
    assert_eq!(squad["created_at"], "2023-11-14T22:08:20Z");
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn healthz_reports_whether_the_store_answers() {
    let control = FakeControl::new();
    let server = TestServer::start(control.clone()).await;

    let (status, answer) = json(server.get("/healthz").await).await;
    assert_eq!(
        (status, answer),
        (200, serde_json::json!({ "status": "ok" }))
    );

    control.recorded().unhealthy = Some("reach the store: database is locked".into());
    let (status, answer) = json(server.get("/healthz").await).await;
    assert_eq!(status, 503);
    assert_eq!(answer["error"]["code"], "unhealthy");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("database is locked")
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn unknown_routes_answer_404_in_the_same_error_shape() {
    let server = TestServer::start(FakeControl::new()).await;

    let (status, answer) = json(server.get("/api/nothing-here").await).await;

    assert_eq!(status, 404);
    assert_eq!(answer["error"]["code"], "not_found");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/api/runs")
    );
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_stopped_merge_lane_is_listed_and_resumed_over_the_control_api() {
    use squadron_core::gate::CommitSha;
    use squadron_core::merge_queue::{LandedMerge, LaneStop, MergeLane};
    use squadron_core::ports::{RepoRef, StoppedLane};
    use squadron_core::{IssueKey, PrNumber, SquadId};

    let landed = |issue: &str, pr: u64, sha: &str| LandedMerge {
        squad: SquadId::new(format!("squad-{issue}")),
        issue: IssueKey::new(issue),
        pr: Some(PrNumber(pr)),
        sha: CommitSha::new(sha),
    };
    let control = FakeControl::new();
    control.recorded().lane_stops.push(StoppedLane {
        stop: LaneStop {
            lane: MergeLane {
                repo: RepoRef::new("acme", "shop"),
                base: "main".into(),
            },
            failing: landed("ENG-2", 8, "b2b2b2b2"),
            previous: Some(landed("ENG-1", 7, "a1a1a1a1")),
            output: "1 failed".into(),
        },
        at: crate::support::NOW,
    });
    let server = TestServer::start(control.clone()).await;

    let (status, lanes) = json(server.get("/api/lanes").await).await;
    assert_eq!(status, 200);
    let stopped = &lanes["stopped"][0];
    assert_eq!(stopped["repo"], "acme/shop");
    assert_eq!(stopped["base"], "main");
    assert_eq!(stopped["failing"]["issue"], "ENG-2");
    assert_eq!(stopped["failing"]["pr"], 8);
    assert_eq!(stopped["previous"]["issue"], "ENG-1");
    let summary = stopped["summary"].as_str().unwrap();
    assert!(summary.contains("`squadron revert ENG-2`"), "{summary}");

    let (status, answer) = json(
        server
            .post_json("/api/lanes/resume", r#"{"repo": "acme", "base": "main"}"#)
            .await,
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(control.recorded().lane_stops.len(), 1, "nothing changed");

    let body = r#"{"repo": "acme/shop", "base": "main"}"#;
    let (status, answer) = json(server.post_json("/api/lanes/resume", body).await).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["resumed"]["failing"]["issue"], "ENG-2");
    assert!(control.recorded().lane_stops.is_empty());

    let (status, answer) = json(server.post_json("/api/lanes/resume", body).await).await;
    assert_eq!(status, 404, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("acme/shop:main"), "{message}");
    assert!(message.contains("not stopped"), "{message}");
    server.stop().await.expect("clean stop");
}
