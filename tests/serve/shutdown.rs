//! Graceful shutdown: stop accepting, finish what is in flight, end event streams, then let
//! the runtime checkpoint.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::support::{FakeControl, PROJECT_URL, TestServer, json};

#[tokio::test]
async fn shutdown_ends_event_streams_checkpoints_once_and_stops_accepting() {
    let control = FakeControl::new();
    let server = TestServer::start(control.clone()).await;
    let base = server.base.clone();
    let mut events = server.get("/api/events").await;
    assert_eq!(events.status(), 200);

    server.stop().await.expect("a clean stop");

    let ended = tokio::time::timeout(Duration::from_secs(10), events.chunk())
        .await
        .expect("the event stream ends with the server");
    assert!(
        matches!(ended, Ok(None)),
        "the stream ended cleanly: {ended:?}"
    );
    assert_eq!(
        control.recorded().shutdowns,
        1,
        "the runtime checkpointed once"
    );
    let refused = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .send()
        .await;
    assert!(refused.is_err(), "the port no longer accepts connections");
}

#[tokio::test]
async fn a_request_in_flight_completes_before_the_runtime_is_shut_down() {
    let control = FakeControl::new();
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    control.recorded().start_gate = Some((entered.clone(), release.clone()));
    let mut server = TestServer::start(control.clone()).await;

    let request = server
        .client
        .post(server.url("/api/runs"))
        .header("content-type", "application/json")
        .body(format!(r#"{{"url": "{PROJECT_URL}"}}"#))
        .send();
    let in_flight = tokio::spawn(request);
    entered.notified().await;

    server.begin_stop();
    tokio::task::yield_now().await;
    assert_eq!(
        control.recorded().shutdowns,
        0,
        "the runtime waits for the drain"
    );
    release.notify_one();

    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    let (status, answer) = json(response).await;
    assert_eq!((status, answer["run_id"].as_str()), (202, Some("run-1")));
    server.stop().await.expect("a clean stop");
    assert_eq!(control.recorded().calls, ["start_run", "shutdown"]);
}
