//! The real `squadron serve` binary: its help, and a daemon started against the demo's
//! stand-ins on a free port that answers `/healthz`, takes a run, streams its squads, and
//! exits 0 on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use squadron::demo::{DemoLimits, DemoWorld, SLACK_SIGNING_SECRET, Scenario};
use squadron_standin_slack::SlashCommandRequest;
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

#[test]
fn serve_refuses_a_control_api_open_to_the_network_without_a_token() {
    let dir = TempDir::new().expect("temporary directory");
    for control in ["0.0.0.0:0", "shared"] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_squadron"));
        command.env_clear().env("HOME", dir.path()).args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--control-listen",
            control,
        ]);
        let output = command.output().expect("run squadron serve");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(78), "{control}: {stderr}");
        assert!(
            stderr.contains("without a token") && stderr.contains("SQUADRON_CONTROL_TOKEN"),
            "{control}: {stderr}"
        );
    }
}

/// Kills the daemon if the test fails before stopping it.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where a started daemon listens.
struct Addresses {
    /// The webhooks.
    webhooks: String,
    /// The control API.
    control: String,
}

/// Starts `squadron serve` on free loopback ports (webhooks and control apart) and returns
/// it with its addresses, read from its "serving" log line; the rest of its log keeps
/// draining into `log`. With `open_files`, the daemon runs under that open-file limit.
fn start_daemon(
    dir: &TempDir,
    world: &DemoWorld,
    open_files: Option<u32>,
) -> (Daemon, Addresses, mpsc::Receiver<String>) {
    let config = dir.path().join("squadron.toml");
    std::fs::write(
        &config,
        world.config_toml(&dir.path().join("squadron.db"), DemoLimits::default()),
    )
    .expect("write the config");
    let mut command = match open_files {
        None => Command::new(env!("CARGO_BIN_EXE_squadron")),
        Some(limit) => {
            let mut shell = Command::new("sh");
            shell
                .arg("-c")
                .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                .arg(env!("CARGO_BIN_EXE_squadron"));
            shell
        }
    };
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("LINEAR_WEBHOOK_SECRET", "linear-secret")
        .env("GITHUB_WEBHOOK_SECRET", "github-secret")
        .envs(world.secrets_env())
        .current_dir(dir.path())
        .args(["serve", "--log-format", "json", "--listen", "127.0.0.1:0"])
        .args(["--control-listen", "127.0.0.1:0"])
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
        let fields = &parsed["fields"];
        if let (Some(webhooks), Some(control)) = (
            fields["address"].as_str(),
            fields["control_address"].as_str(),
        ) {
            let addresses = Addresses {
                webhooks: webhooks.to_owned(),
                control: control.to_owned(),
            };
            return (daemon, addresses, log);
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
    let (mut daemon, addresses, log) = start_daemon(&dir, &world, None);
    let address = addresses.control;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_slack_commands_are_answered_within_a_second_while_2000_connections_idle() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The flood needs 2,000 descriptors here; the daemon gets a quarter of that.
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .expect("read the open-file limit");
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard)
        .expect("raise the open-file limit");
    assert!(
        hard >= 2_200,
        "the test needs an open-file limit of 2200, has {hard}"
    );
    let world = DemoWorld::start(Scenario::Milestone)
        .await
        .expect("start the stand-ins");
    let dir = TempDir::new().expect("temporary directory");
    let (daemon, addresses, _log) = start_daemon(&dir, &world, Some(512));

    // Connections that never send a byte, as a slowloris client holds them.
    let mut idle = Vec::with_capacity(2_000);
    for _ in 0..2_000 {
        let stream = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::net::TcpStream::connect(&addresses.webhooks),
        )
        .await
        .expect("the kernel accepts the connection")
        .expect("connect");
        idle.push(stream);
    }

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let signed_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for text in ["help", "status", "help"] {
        let request = SlashCommandRequest::new("/squad", text)
            .sign(SLACK_SIGNING_SECRET, i64::try_from(signed_at).unwrap());
        let mut builder = client.post(format!("http://{}/webhooks/slack", addresses.webhooks));
        for (name, value) in request.headers() {
            builder = builder.header(name, value);
        }
        let started = std::time::Instant::now();
        let response = builder
            .body(request.body.clone())
            .send()
            .await
            .unwrap_or_else(|error| panic!("`/squad {text}` was not answered: {error}"));
        let elapsed = started.elapsed();
        assert_eq!(response.status(), 200, "/squad {text}");
        assert!(
            elapsed < Duration::from_secs(1),
            "`/squad {text}` took {elapsed:?} while 2,000 connections idled"
        );
    }
    drop(idle);
    drop(daemon);
}
