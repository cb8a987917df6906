//! `squadron serve` with GitHub down: it serves anyway, says what is down on `/readyz` and
//! the dashboard while `/healthz` stays green, refuses work with 503 naming GitHub, and
//! starts the squad runtime by itself once GitHub answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use squadron::demo::DemoLimits;
use tokio::net::{TcpListener, TcpStream};

use crate::support::Rig;
use squadron::demo::generated::{Behaviour, milestone};

/// A loopback port in front of a service that can be switched off: while down it accepts
/// each connection and closes it at once, as a crashed service behind a load balancer does.
struct Switch {
    address: String,
    up: Arc<AtomicBool>,
}

impl Switch {
    async fn in_front_of(target: &str) -> Switch {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let up = Arc::new(AtomicBool::new(false));
        let serving = Arc::clone(&up);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !serving.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Switch { address, up }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn bring_up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_starts_with_github_down_reports_it_and_starts_the_runtime_once_github_answers() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rig = Rig::start(milestone(1, Behaviour::Approve), DemoLimits::default()).await;
    let github = Switch::in_front_of(rig.world.github.base_url()).await;
    let api = github.url();
    let (_daemon, address) = rig.serve(&[("SQUADRON_GITHUB_API_URL", api.as_str())]);
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("http://{address}{path}")).send();

    let health = get("/healthz").await.expect("GET /healthz");
    assert_eq!(health.status(), 200, "alive while GitHub is down");
    let ready = get("/readyz").await.expect("GET /readyz");
    assert_eq!(ready.status(), 503);
    let ready: serde_json::Value = ready.json().await.expect("JSON");
    let check = |ready: &serde_json::Value, name: &str| {
        ready["checks"]
            .as_array()
            .and_then(|checks| checks.iter().find(|check| check["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no `{name}` check in {ready:#}"))
    };
    assert_eq!(check(&ready, "store")["ok"], true, "{ready:#}");
    assert_eq!(check(&ready, "github")["ok"], false, "{ready:#}");
    assert_eq!(check(&ready, "runtime")["ok"], false, "{ready:#}");
    let page = get("/").await.expect("GET /");
    assert_eq!(page.status(), 200, "the dashboard is served");

    let refused = client
        .post(format!("http://{address}/api/runs"))
        .json(&serde_json::json!({ "url": rig.world.project_url() }))
        .send()
        .await
        .expect("POST /api/runs");
    assert_eq!(refused.status(), 503);
    let refused: serde_json::Value = refused.json().await.expect("JSON");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("has not started yet") && message.contains("GitHub"),
        "{refused:#}"
    );

    github.bring_up();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let ready = get("/readyz").await.expect("GET /readyz");
        if ready.status() == 200 {
            let ready: serde_json::Value = ready.json().await.expect("JSON");
            assert_eq!(check(&ready, "github")["ok"], true, "{ready:#}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the runtime did not start within 90 s of GitHub answering"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let started = client
        .post(format!("http://{address}/api/runs"))
        .json(&serde_json::json!({ "url": rig.world.project_url() }))
        .send()
        .await
        .expect("POST /api/runs");
    assert_eq!(started.status(), 202, "work is taken once GitHub answers");
}
