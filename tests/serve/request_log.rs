//! The request log: every request at debug, every refused one at warn, both naming the
//! route pattern rather than the raw path.

use std::io;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

use crate::support::{FakeControl, TestServer};

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

// The server runs on this test's single thread, so a thread-local subscriber sees it all.
#[tokio::test(flavor = "current_thread")]
async fn requests_are_logged_at_debug_and_refusals_at_warn_with_their_route() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = TestServer::start(FakeControl::new()).await;

    assert_eq!(server.get("/healthz").await.status(), 200);
    assert_eq!(server.get("/api/runs/run-404").await.status(), 404);
    server.stop().await.expect("clean stop");

    let log = captured.text();
    let healthz = log
        .lines()
        .find(|line| line.contains("route=\"/healthz\""))
        .unwrap_or_else(|| panic!("no line for /healthz in:\n{log}"));
    assert!(
        healthz.contains("DEBUG") && healthz.contains("status=200"),
        "{healthz}"
    );
    let refused = log
        .lines()
        .find(|line| line.contains("WARN") && line.contains("request refused"))
        .unwrap_or_else(|| panic!("no warn line in:\n{log}"));
    assert!(refused.contains("route=\"/api/runs/{id}\""), "{refused}");
    assert!(
        refused.contains("status=404") && refused.contains("run-404"),
        "{refused}"
    );
}
