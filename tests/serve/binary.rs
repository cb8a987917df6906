//! The real `squadron serve` binary: its help, and a daemon started against the demo's
//! stand-ins on a free port that answers `/healthz`, takes a run, streams its squads, and
//! exits 0 on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use squadron::demo::{DemoLimits, DemoWorld, Scenario};
use tempfile::TempDir;

#[test]
fn serve_help_explains_the_daemon_and_its_listen_option() {
    let output = Command::new(env!("CARGO_BIN_EXE_squadron"))
        .args(["serve", "--help"])
        .env_clear()
        .output()
        .expect("run squadron serve --help");

    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("SIGTERM"), "{help}");
    assert!(help.contains("--listen <ADDR>"), "{help}");
    assert!(help.contains("server.listen"), "{help}");
}

/// Kills the daemon if the test fails before stopping it.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `squadron serve` on a free loopback port and returns it with its address, read
/// from its "serving" log line; the rest of its log keeps draining into `log`.
fn start_daemon(dir: &TempDir, world: &DemoWorld) -> (Daemon, String, mpsc::Receiver<String>) {
    let config = dir.path().join("squadron.toml");
    std::fs::write(
        &config,
        world.config_toml(&dir.path().join("squadron.db"), DemoLimits::default()),
    )
    .expect("write the config");
    let mut command = Command::new(env!("CARGO_BIN_EXE_squadron"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("LINEAR_WEBHOOK_SECRET", "linear-secret")
        .env("GITHUB_WEBHOOK_SECRET", "github-secret")
        .envs(world.secrets_env())
        .current_dir(dir.path())
        .args(["serve", "--log-format", "json", "--listen", "127.0.0.1:0"])
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start squadron serve");
    let stderr = child.stderr.take().expect("piped stderr");
    let (lines, log) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let daemon = Daemon(child);
    let mut seen = Vec::new();
    loop {
        let line = log
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "no `serving` log line within 60 s; log so far:\n{}",
                    seen.join("\n")
                )
            });
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if let Some(address) = parsed["fields"]["address"].as_str() {
            return (daemon, address.to_owned(), log);
        }
        seen.push(line);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_answers_healthz_streams_a_run_and_exits_0_on_sigterm() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let world = DemoWorld::start(Scenario::Milestone)
        .await
        .expect("start the stand-ins");
    let dir = TempDir::new().expect("temporary directory");
    let (mut daemon, address, log) = start_daemon(&dir, &world);
    let client = reqwest::Client::new();

    let health = client
        .get(format!("http://{address}/healthz"))
        .send()
        .await
        .expect("GET /healthz");
    assert_eq!(health.status(), 200);

    let mut events = client
        .get(format!("http://{address}/api/events"))
        .send()
        .await
        .expect("GET /api/events");
    assert_eq!(events.status(), 200);

    let started = client
        .post(format!("http://{address}/api/runs"))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "url": world.project_url() }).to_string())
        .send()
        .await
        .expect("POST /api/runs");
    assert_eq!(started.status(), 202);
    let run_id = started.json::<serde_json::Value>().await.unwrap()["run_id"]
        .as_str()
        .expect("a run id")
        .to_owned();
    let run = client
        .get(format!("http://{address}/api/runs/{run_id}"))
        .send()
        .await
        .expect("GET /api/runs/<id>");
    assert_eq!(run.status(), 200);
    let run: serde_json::Value = run.json().await.unwrap();
    assert!(
        !run["squads"].as_array().expect("squads").is_empty(),
        "the admitted issues are recorded before the run id is returned: {run}"
    );

    let first_event = tokio::time::timeout(Duration::from_secs(60), async {
        let mut seen = String::new();
        while let Some(chunk) = events.chunk().await.expect("read the event stream") {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("event: squad\ndata: ") && seen.contains("\n\n") {
                return seen;
            }
        }
        panic!("the event stream ended before a squad event: {seen}");
    })
    .await
    .expect("a squad event within 60 s");
    assert!(
        first_event.contains(&format!("\"run_id\":\"{run_id}\"")),
        "{first_event}"
    );

    let pid = Pid::from_raw(i32::try_from(daemon.0.id()).expect("pid fits"));
    kill(pid, Signal::SIGTERM).expect("send SIGTERM");
    let stopped = tokio::task::spawn_blocking(move || {
        let status = daemon.0.wait().expect("wait for the daemon");
        // Its stderr closes when it exits, so this collects the whole rest of its log.
        let rest: Vec<String> = log.iter().collect();
        (status, rest)
    });
    let (status, rest) = tokio::time::timeout(Duration::from_secs(60), stopped)
        .await
        .expect("the daemon exits within 60 s of SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0), "log:\n{}", rest.join("\n"));
    assert!(
        rest.iter()
            .any(|line| line.contains("received a shutdown signal")),
        "log:\n{}",
        rest.join("\n")
    );
}
