//! `GET /api/events`: squad changes arrive as server-sent events.

use std::time::Duration;

use squadron_core::Phase;

use crate::support::{FakeControl, TestServer, squad};

/// Reads the event stream until `needle` shows up; `None` if the stream ends first.
async fn read_until(response: &mut reqwest::Response, needle: &str) -> Option<String> {
    let mut seen = String::new();
    let read = async {
        while let Some(chunk) = response.chunk().await.expect("read the event stream") {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(needle) {
                return Some(seen.clone());
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the event arrives within 10 s")
}

#[tokio::test]
async fn a_squad_change_is_delivered_as_a_squad_event() {
    let control = FakeControl::new();
    let server = TestServer::start(control.clone()).await;

    let mut response = server.get("/api/events").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    assert_eq!(
        control.receivers(),
        1,
        "the stream subscribed before answering"
    );

    control.publish(squad("run-1", "squad-a", "ENG-1", Phase::Merged));
    let text = read_until(&mut response, "\n\n")
        .await
        .expect("an event before the stream ends");

    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("event: squad"));
    let data = lines
        .next()
        .and_then(|line| line.strip_prefix("data: "))
        .expect("a data line");
    let squad: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(squad["issue"], "ENG-1");
    assert_eq!(squad["phase"], "merged");
    assert_eq!(squad["terminal"], true);

    drop(response);
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_client_that_falls_behind_is_told_to_resync() {
    let control = FakeControl::new();
    let server = TestServer::start(control.clone()).await;
    let mut response = server.get("/api/events").await;

    // The fake's channel holds 16 changes; the unread stream misses the rest.
    for index in 0..40 {
        control.publish(squad(
            "run-1",
            &format!("squad-{index}"),
            "ENG-1",
            Phase::Queued,
        ));
    }
    let text = read_until(&mut response, "event: resync")
        .await
        .expect("a resync event");

    assert!(text.contains("event: resync\ndata: 24\n"), "{text}");
    drop(response);
    server.stop().await.expect("clean stop");
}
