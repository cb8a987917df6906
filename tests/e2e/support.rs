//! A world of stand-ins in the test process and the real binary pointed at it: each test
//! gets its own stand-ins, store and configuration, and runs `squadron` as a child process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use squadron::demo::{DemoLimits, DemoWorld, SAMPLE_REPO, WorldSeed};
use squadron_standin_github::PullSnapshot;

/// The stand-ins, a scratch directory with the store and configuration, and the secrets.
pub struct Rig {
    pub world: DemoWorld,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Rig {
    /// Starts the stand-ins seeded with `seed` and writes a configuration with `limits`.
    pub async fn start(seed: WorldSeed, limits: DemoLimits) -> Rig {
        Rig::start_with(seed, limits, "").await
    }

    /// [`Rig::start`] with `extra` TOML sections appended to the configuration.
    pub async fn start_with(seed: WorldSeed, limits: DemoLimits, extra: &str) -> Rig {
        let world = DemoWorld::start_seeded(seed)
            .await
            .expect("the stand-ins start");
        let dir = tempfile::tempdir().expect("a scratch directory");
        let config = dir.path().join("squadron.toml");
        let mut text = world.config_toml(&dir.path().join("squadron.db"), limits);
        text.push_str(extra);
        std::fs::write(&config, text).expect("write the configuration");
        Rig { world, dir, config }
    }

    /// Points team ENG at a new repository `slug` on the GitHub stand-in holding `files`
    /// (path, contents) instead of the demo's sample repository.
    pub fn use_repository(&self, slug: &str, files: &[(String, String)]) {
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(path, text)| (path.as_str(), text.as_str()))
            .collect();
        self.world
            .github
            .create_repo(slug, "main", &files)
            .expect("create the repository");
        let config = std::fs::read_to_string(&self.config).expect("read the configuration");
        let pointed = config.replace(
            &format!("github = \"{SAMPLE_REPO}\""),
            &format!("github = \"{slug}\""),
        );
        assert_ne!(
            pointed, config,
            "the configuration names the sample repository"
        );
        std::fs::write(&self.config, pointed).expect("write the configuration");
    }

    /// The scratch directory (home of the child processes).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `squadron <args>` in a scrubbed environment plus the demo's secrets and `extra`;
    /// awaited without blocking the stand-ins, which share this test's runtime.
    pub async fn squadron(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_squadron"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir())
            .env("SQUADRON_CONFIG", &self.config)
            .env("SQUADRON_LOG_FORMAT", "json")
            .envs(self.world.secrets_env())
            .envs(extra.iter().copied())
            .current_dir(self.dir())
            .kill_on_drop(true);
        command.output().await.expect("run the squadron binary")
    }

    /// Starts `squadron serve` on a free loopback port with the demo's secrets and `extra`;
    /// returns it with its address, read from its `serving` log line.
    pub fn serve(&self, extra: &[(&str, &str)]) -> (Daemon, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_squadron"))
            .args(["serve", "--log-format", "json", "--listen", "127.0.0.1:0"])
            .args(["--control-listen", "shared"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir())
            .env("SQUADRON_CONFIG", &self.config)
            .envs(self.world.secrets_env())
            .envs(extra.iter().copied())
            .current_dir(self.dir())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start squadron serve");
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
        loop {
            let line = log
                .recv_timeout(Duration::from_secs(60))
                .expect("the daemon logs its address within 60 s");
            let parsed: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if let Some(address) = parsed["fields"]["address"].as_str() {
                // Keep draining the log so the daemon never blocks on a full pipe.
                std::thread::spawn(move || for _ in log.iter() {});
                return (daemon, address.to_owned());
            }
        }
    }

    /// `squadron run <project url>`.
    pub async fn run(&self, extra: &[(&str, &str)]) -> Output {
        let url = self.world.project_url().to_owned();
        self.squadron(&["run", &url], extra).await
    }

    /// `squadron metrics --json`, parsed, with the one change failure it must count: the
    /// revert of `issue`'s merge.
    pub async fn metrics_with_one_revert(&self, issue: &str) -> serde_json::Value {
        let output = self.squadron(&["metrics", "--json"], &[]).await;
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        let metrics: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        let failures = metrics["total"]["change_failures"]
            .as_array()
            .expect("failures");
        assert_eq!(failures.len(), 1, "{failures:#?}");
        assert_eq!(failures[0]["issue"], issue);
        assert_eq!(failures[0]["cause"], "reverted");
        metrics
    }

    /// Who approved the PR `number` of the sample repository on `head`, sorted.
    pub fn approvers(&self, number: u64, head: &str) -> Vec<String> {
        let mut approvers: Vec<String> = self
            .world
            .github
            .reviews(SAMPLE_REPO, number)
            .expect("the PR's reviews")
            .into_iter()
            .filter(|review| review.state == "APPROVED" && review.commit_id == head)
            .map(|review| review.user)
            .collect();
        approvers.sort();
        approvers
    }

    /// Every pull request of the sample repository.
    pub fn pulls(&self) -> Vec<PullSnapshot> {
        self.world
            .github
            .pulls(SAMPLE_REPO)
            .expect("the sample repository exists")
    }

    /// The comments on a Linear issue.
    pub fn linear_comments(&self, identifier: &str) -> Vec<String> {
        self.world
            .linear
            .with_workspace(|workspace| workspace.comments_of(identifier))
    }

    /// The Linear state of an issue.
    pub fn linear_state(&self, identifier: &str) -> Option<String> {
        self.world
            .linear
            .with_workspace(|workspace| workspace.state_name_of(identifier))
    }
}

/// The output of a child process, for failure messages.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A daemon started by [`Rig::serve`]; killed when the test ends, whatever happened.
pub struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits, polling the stand-ins, until `ready` holds (an external process is being
/// watched, so there is no event to await); fails after 60 s.
pub async fn until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
