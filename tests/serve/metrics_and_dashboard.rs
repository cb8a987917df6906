//! `GET /metrics` in Prometheus text and the self-contained dashboard page.

use std::time::Duration;

use squadron::server::MetricsSnapshot;
use squadron_core::delivery::{ChangeFailure, DeliveryFigures, DeliveryReport, FailureCause, Wait};
use squadron_core::ports::UsageTotals;
use squadron_core::{IssueKey, Phase, PrNumber, Role, SquadId, Timestamp, TokenUsage, Usd};

use crate::support::{FakeControl, TestServer, squad};

#[tokio::test]
async fn metrics_count_squads_by_phase_merges_usage_by_role_and_lead_time() {
    let control = FakeControl::new();
    control.add_run(
        "run-1",
        vec![
            squad("run-1", "squad-a", "ENG-1", Phase::Merged),
            squad("run-1", "squad-b", "ENG-2", Phase::Merged),
            squad("run-1", "squad-c", "ENG-3", Phase::Reviewing),
        ],
    );
    control.recorded().metrics = MetricsSnapshot {
        usage_by_role: vec![(
            Role::Developer,
            UsageTotals {
                calls: 4,
                usage: TokenUsage {
                    prompt: 1000,
                    cached: 200,
                    completion: 50,
                },
                cost: Usd::from_micros(2_500_000),
            },
        )],
        delivery: DeliveryReport {
            total: DeliveryFigures {
                merges: 2,
                days: 1,
                lead_times: vec![Duration::from_secs(1_200), Duration::from_secs(5_400)],
                restore_times: vec![Duration::from_secs(600)],
                change_failures: vec![ChangeFailure {
                    squad: SquadId::from("squad-b"),
                    issue: IssueKey::from("ENG-2"),
                    pr: PrNumber(2),
                    cause: FailureCause::Reverted,
                    at: Timestamp::from_millis(0),
                }],
                working: Duration::from_secs(300),
                waiting: [(Wait::Reviews, Duration::from_secs(100))].into(),
                in_progress: 1,
                features: 1,
                bug_fixes: 1,
                review_rounds: 3,
                flaky_checks: 2,
                cost: Usd::from_dollars(5.0),
                ..DeliveryFigures::default()
            },
            by_repository: vec![(
                "acme/shop".into(),
                DeliveryFigures {
                    merges: 2,
                    ..DeliveryFigures::default()
                },
            )],
            ..DeliveryReport::default()
        },
    };
    let server = TestServer::start(control).await;

    let response = server.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();

    for expected in [
        "# TYPE squadron_squads gauge",
        "squadron_squads{phase=\"merged\"} 2",
        "squadron_squads{phase=\"reviewing\"} 1",
        "squadron_squads{phase=\"queued\"} 0",
        "squadron_merges_total 2",
        "squadron_model_calls_total{role=\"developer\"} 4",
        "squadron_tokens_total{role=\"developer\",kind=\"prompt\"} 1000",
        "squadron_tokens_total{role=\"developer\",kind=\"cached\"} 200",
        "squadron_tokens_total{role=\"developer\",kind=\"completion\"} 50",
        "squadron_cost_usd_total{role=\"developer\"} 2.5",
        "# TYPE squadron_lead_time_seconds histogram",
        "squadron_lead_time_seconds_bucket{le=\"900\"} 0",
        "squadron_lead_time_seconds_bucket{le=\"1800\"} 1",
        "squadron_lead_time_seconds_bucket{le=\"7200\"} 2",
        "squadron_lead_time_seconds_bucket{le=\"+Inf\"} 2",
        "squadron_lead_time_seconds_sum 6600",
        "squadron_lead_time_seconds_count 2",
        "# TYPE squadron_time_to_restore_seconds histogram",
        "squadron_time_to_restore_seconds_bucket{le=\"900\"} 1",
        "squadron_time_to_restore_seconds_sum 600",
        "squadron_time_to_restore_seconds_count 1",
        "squadron_merges_per_day 2",
        "# TYPE squadron_change_failures_total counter",
        "squadron_change_failures_total 1",
        "squadron_change_failure_rate 0.5",
        "squadron_flow_efficiency 0.75",
        "squadron_squads_in_progress 1",
        "squadron_review_rounds_total 3",
        "# TYPE squadron_flaky_checks_total counter",
        "squadron_flaky_checks_total 2",
        "squadron_flow_seconds_total{state=\"working\"} 300",
        "squadron_flow_seconds_total{state=\"waiting\",for=\"reviews\"} 100",
        "squadron_flow_seconds_total{state=\"waiting\",for=\"blocker-or-slot\"} 0",
        "squadron_merges_by_kind_total{kind=\"feature\"} 1",
        "squadron_merges_by_kind_total{kind=\"bug-fix\"} 1",
        "squadron_cost_per_merge_usd 2.5",
        "squadron_repository_merges_total{repository=\"acme/shop\"} 2",
        "squadron_repository_change_failures_total{repository=\"acme/shop\"} 0",
    ] {
        assert!(
            text.lines().any(|line| line == expected),
            "missing `{expected}` in:\n{text}"
        );
    }
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_dashboard_is_one_page_that_reads_the_api_and_loads_nothing_else() {
    let server = TestServer::start(FakeControl::new()).await;

    let response = server.get("/").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let page = response.text().await.unwrap();

    assert!(page.contains("getJson(\"/api/runs\")"));
    assert!(page.contains("\"/api/squads/\""));
    assert!(page.contains("getJson(\"/readyz\")"));
    assert!(page.contains("new EventSource(\"/api/events\")"));
    for external in ["src=\"http", "href=\"http", "@import", "//cdn"] {
        assert!(!page.contains(external), "the page loads `{external}`");
    }
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    server.stop().await.expect("clean stop");
}
