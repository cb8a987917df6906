//! `squadron demo --standins` as a child process: started, read, stopped with SIGINT, and
//! killed whatever happens to the test.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sqlx::{ConnectOptions, Connection, Executor};
use squadron_core::SquadId;
use squadron_store::{EventWriter, SqlStore};

/// How long the stand-ins may take to come up (a cold machine runs git for the sample
/// repository first).
const STARTUP: Duration = Duration::from_secs(60);

/// A running `squadron demo --standins --keep <dir>` and what it printed.
pub struct Standins {
    child: Child,
    /// The shell script it printed on stdout.
    pub script: String,
    /// The variables the script exports.
    pub env: BTreeMap<String, String>,
    /// Where it keeps its state (`--keep`).
    pub dir: tempfile::TempDir,
    /// A scratch home for every child process.
    home: tempfile::TempDir,
    stderr: mpsc::Receiver<String>,
}

impl Standins {
    /// Starts the stand-ins with `args` after `demo --standins`, and waits for the whole
    /// script on stdout.
    pub fn start(args: &[&str]) -> Standins {
        let dir = tempfile::tempdir().expect("a state directory");
        let home = tempfile::tempdir().expect("a scratch home");
        let mut child = Command::new(env!("CARGO_BIN_EXE_squadron"))
            .args(["demo", "--standins", "--keep"])
            .arg(dir.path())
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("SQUADRON_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start squadron demo --standins");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (lines, said) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let (script_lines, printed) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if script_lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut standins = Standins {
            child,
            script: String::new(),
            env: BTreeMap::new(),
            dir,
            home,
            stderr: said,
        };
        loop {
            let line = printed.recv_timeout(STARTUP).unwrap_or_else(|_| {
                panic!(
                    "no complete script within {STARTUP:?}; so far:\n{}\nstderr:\n{}",
                    standins.script,
                    standins.stderr_so_far()
                )
            });
            standins.script.push_str(&line);
            standins.script.push('\n');
            if let Some((name, value)) = line
                .strip_prefix("export ")
                .and_then(|assignment| assignment.split_once('='))
            {
                standins.env.insert(name.to_owned(), shell_unquote(value));
            }
            if line.starts_with("# the stand-ins are up") {
                return standins;
            }
        }
    }

    /// The command the script says to run, e.g. `squadron run <url>`, split into words.
    pub fn suggested_command(&self) -> Vec<String> {
        self.script
            .lines()
            .find_map(|line| line.strip_prefix("#   squadron "))
            .expect("the script names a command to run")
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// `squadron <args>` with nothing but the script's environment (plus `PATH` and a home).
    pub fn squadron(&self, args: &[String]) -> Output {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.squadron_with(&args, &[])
    }

    /// `squadron <args>` with the script's environment and `extra`.
    pub fn squadron_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_squadron"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("SQUADRON_LOG_FORMAT", "json")
            .envs(&self.env)
            .envs(extra.iter().copied())
            .current_dir(self.home.path())
            .output()
            .expect("run the squadron binary")
    }

    /// Starts `squadron serve` on a free loopback port with the script's environment plus
    /// `extra`; returns it once it logs its address.
    ///
    /// Daemons sharing the squads keep their mirrors and worktrees in a data directory of
    /// their own each, as the README says replicas do: git's worktree bookkeeping in one
    /// mirror is not safe for two processes adding worktrees at once. Daemons standing by
    /// for one another (`server.share_squads = false`) share the configuration's, as
    /// standbys on one host may: one works at a time.
    pub fn serve(&self, extra: &[(&str, &str)]) -> Serve {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let own_dir = self
            .home
            .path()
            .join("daemons")
            .join(STARTED.fetch_add(1, Ordering::Relaxed).to_string());
        let standby = extra.contains(&("SQUADRON_SERVER_SHARE_SQUADS", "false"));
        let data_dir: Vec<(&str, &Path)> = if standby {
            Vec::new()
        } else {
            vec![("SQUADRON_STORE_DATA_DIR", own_dir.as_path())]
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_squadron"))
            .args(["serve", "--log-format", "json", "--listen", "127.0.0.1:0"])
            .args(["--control-listen", "shared"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .envs(&self.env)
            .envs(data_dir)
            .envs(extra.iter().copied())
            .current_dir(self.home.path())
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
        let mut serve = Serve {
            child,
            address: String::new(),
            log,
            seen: std::sync::Mutex::new(Vec::new()),
        };
        loop {
            let line = serve
                .log
                .recv_timeout(STARTUP)
                .expect("the daemon logs its address");
            let parsed: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if let Some(address) = parsed["fields"]["address"].as_str() {
                serve.address = address.to_owned();
                return serve;
            }
        }
    }

    /// The project URL the script says to run.
    pub fn project_url(&self) -> String {
        self.suggested_command()
            .last()
            .expect("the command names a URL")
            .clone()
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the stand-ins as Ctrl-C does; returns the exit code and the rest of stderr.
    pub fn interrupt(&mut self) -> (Option<i32>, String) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits"));
        kill(pid, Signal::SIGINT).expect("send SIGINT");
        let status = self.child.wait().expect("wait for the stand-ins");
        // The reader ends with the process's stderr, so this reads to the end.
        let rest: Vec<String> = self.stderr.iter().collect();
        (status.code(), rest.join("\n"))
    }

    fn stderr_so_far(&self) -> String {
        let mut text = String::new();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_millis(200)) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    }

    /// The record the stand-ins wrote on exit.
    pub fn record_path(&self) -> PathBuf {
        self.dir().join("standins.json")
    }
}

impl Drop for Standins {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `squadron serve` started by [`Standins::serve`]; killed when the test ends.
pub struct Serve {
    child: Child,
    /// `127.0.0.1:PORT`, serving webhooks and the control API.
    pub address: String,
    log: mpsc::Receiver<String>,
    /// The log lines read so far.
    seen: std::sync::Mutex<Vec<String>>,
}

impl Serve {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `GET <path>` as JSON.
    pub async fn get(&self, path: &str) -> serde_json::Value {
        let answer = reqwest::get(format!("http://{}{path}", self.address))
            .await
            .unwrap_or_else(|error| panic!("GET {path}: {error}"));
        assert!(
            answer.status().is_success(),
            "GET {path}: {}",
            answer.status()
        );
        answer.json().await.expect("a JSON answer")
    }

    /// `POST <path>` with a JSON body; returns the status and the JSON answer.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let answer = reqwest::Client::new()
            .post(format!("http://{}{path}", self.address))
            .json(body)
            .send()
            .await
            .unwrap_or_else(|error| panic!("POST {path}: {error}"));
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or_default())
    }

    /// Kills it with SIGKILL: no checkpoint, no hand-over.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops it with SIGSTOP or resumes it with SIGCONT.
    pub fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits"));
        kill(pid, signal).expect("signal the daemon");
    }

    /// Waits for it to exit on its own; returns its exit code and the log lines it wrote.
    pub fn wait(mut self) -> (Option<i32>, Vec<String>) {
        let code = self.child.wait().expect("wait for the daemon").code();
        let mut log = std::mem::take(&mut *self.seen.lock().expect("the log"));
        log.extend(self.log.try_iter());
        (code, log)
    }

    /// The JSON log lines it wrote so far whose fields `matches` accepts.
    pub fn logged(&self, matches: impl Fn(&serde_json::Value) -> bool) -> Vec<serde_json::Value> {
        let mut seen = self.seen.lock().expect("the log");
        seen.extend(self.log.try_iter());
        seen.iter()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|line| matches(&line["fields"]))
            .collect()
    }

    /// Stops it with SIGTERM, as a service manager does, and returns its exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits"));
        kill(pid, Signal::SIGTERM).expect("send SIGTERM");
        let code = self.child.wait().expect("wait for the daemon").code();
        // Nothing reads the log any more; the reader thread ends with the pipe.
        drop(std::mem::replace(&mut self.log, mpsc::channel().1));
        code
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A single-quoted shell word, as the script writes its values.
fn shell_unquote(word: &str) -> String {
    word.strip_prefix('\'')
        .and_then(|inner| inner.strip_suffix('\''))
        .map_or_else(|| word.to_owned(), |inner| inner.replace(r"'\''", "'"))
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

/// The lease the replicas hold the store with: short, so takeovers happen within seconds.
const LEASE_SECS: &str = "3";

/// Where the replicas keep their state: a schema of its own on the PostgreSQL server
/// `SQUADRON_TEST_POSTGRES_URL` names, else (with `SQUADRON_TEST_WITHOUT_POSTGRES=1`) the
/// stand-ins' SQLite file.
pub struct Database {
    /// `DATABASE_URL` for the replicas; `None`: the stand-ins' SQLite file.
    pub url: Option<String>,
    /// The PostgreSQL server and the test's schema, dropped with the test.
    schema: Option<(String, String)>,
}

impl Drop for Database {
    /// Drops the test's schema. Declare the database before the replicas, so they are gone
    /// (dropped first) when it goes.
    fn drop(&mut self) {
        let Some((base, schema)) = self.schema.take() else {
            return;
        };
        // A test's runtime may be shutting down: drop it from a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let options: sqlx::any::AnyConnectOptions = base.parse().ok()?;
                let mut admin = options.connect().await.ok()?;
                let dropped = admin
                    .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .await;
                let _ = admin.close().await;
                dropped.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("notice: the test's PostgreSQL schema was left behind");
        }
    }
}

impl Database {
    pub async fn new() -> Database {
        let Ok(base) = std::env::var("SQUADRON_TEST_POSTGRES_URL") else {
            // Replicas are meant for PostgreSQL: without a server named, only an explicit
            // opt-out (never in CI) runs them on a shared SQLite file instead.
            assert!(
                std::env::var("SQUADRON_TEST_WITHOUT_POSTGRES").as_deref() == Ok("1"),
                "set SQUADRON_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) \
                 for the replica tests, or SQUADRON_TEST_WITHOUT_POSTGRES=1 to run them on SQLite"
            );
            return Database {
                url: None,
                schema: None,
            };
        };
        sqlx::any::install_default_drivers();
        let schema = format!("squadron_cluster_{}", uuid::Uuid::new_v4().simple());
        let options: sqlx::any::AnyConnectOptions = base.parse().expect("a PostgreSQL URL");
        let mut admin = options.connect().await.expect("connect to PostgreSQL");
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .await
            .expect("create the test schema");
        let _ = admin.close().await;
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
        Database {
            url: Some(url),
            schema: Some((base, schema)),
        }
    }

    /// [`Database::standby_env`] on the short lease takeovers are tested with.
    pub fn standby_env_short<'a>(&'a self, id: &'a str) -> Vec<(&'a str, &'a str)> {
        self.standby_env(id, LEASE_SECS)
    }

    /// [`Database::env_with_lease`] for a replica told not to share the squads: one daemon
    /// runs them and the others stand by (`server.share_squads = false`).
    pub fn standby_env<'a>(&'a self, id: &'a str, lease_secs: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut env = self.env_with_lease(id, lease_secs);
        env.push(("SQUADRON_SERVER_SHARE_SQUADS", "false"));
        env
    }

    /// The environment of replica `id` holding its leases for `lease_secs`: a test that
    /// wants no takeover gives a lease a loaded machine cannot miss.
    pub fn env_with_lease<'a>(
        &'a self,
        id: &'a str,
        lease_secs: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        let mut env = vec![
            ("SQUADRON_SERVER_DAEMON_ID", id),
            ("SQUADRON_SERVER_LEASE_SECS", lease_secs),
        ];
        if let Some(url) = &self.url {
            env.push(("DATABASE_URL", url.as_str()));
        }
        env
    }
}

/// Polls `check` every 200 ms until it returns `Some`, for at most `limit`.
pub async fn until<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Who runs the squads, as `serve` answers.
pub async fn runner(serve: &Serve) -> Option<String> {
    serve.get("/api/daemons").await["runtime"]["daemon"]
        .as_str()
        .map(str::to_owned)
}

/// Who runs the squads and what each daemon does, as `serve` answers.
pub async fn duties(serve: &Serve) -> BTreeMap<String, String> {
    let seen = serve.get("/api/daemons").await;
    seen["daemons"]
        .as_array()
        .expect("daemons")
        .iter()
        .map(|daemon| {
            (
                daemon["id"].as_str().unwrap_or_default().to_owned(),
                daemon["duty"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Waits until `serve` says `daemon` runs the squads.
pub async fn until_runner(serve: &Serve, daemon: &str, limit: Duration) {
    until(&format!("{daemon} runs the squads"), limit, || async {
        (runner(serve).await.as_deref() == Some(daemon)).then_some(())
    })
    .await;
}

/// The events of a squad after those its admission wrote: the squad's creation and what the
/// admission noted with it (the issue's title, a decision comment) are the admitting daemon's,
/// written in one transaction under the run's intake (or the runtime) lease, by a daemon that
/// need not work on the squad at all. They carry the creation's writer and time.
fn past_admission(writers: &[EventWriter]) -> &[EventWriter] {
    let Some(created) = writers.first() else {
        return writers;
    };
    let admitted = writers
        .iter()
        .take_while(|writer| writer.at == created.at && writer.holder == created.holder)
        .count();
    &writers[admitted..]
}

/// How many events of `squads` the daemon `holder` wrote while working on them, past their
/// admission's (see [`past_admission`]).
pub async fn events_written_by(store: &SqlStore, squads: &[SquadId], holder: &str) -> usize {
    let mut written = 0;
    for squad in squads {
        if let Ok(writers) = store.event_writers(squad).await {
            written += past_admission(&writers)
                .iter()
                .filter(|writer| {
                    writer
                        .holder
                        .as_ref()
                        .is_some_and(|id| id.as_str() == holder)
                })
                .count();
        }
    }
    written
}

/// The daemons that worked on `squads`, after checking the event log: every event carries
/// its writer and token, a squad's tokens never go back, and each token is one daemon's, so
/// no two daemons wrote one squad at once. The admission's events are left out (see
/// [`past_admission`]).
pub async fn writers_of(store: &SqlStore, squads: &[SquadId]) -> BTreeSet<String> {
    let mut writers_seen = BTreeSet::new();
    for squad in squads {
        let writers = store.event_writers(squad).await.expect("the event log");
        let mut newest = 0;
        let mut holders: BTreeMap<u64, String> = BTreeMap::new();
        for writer in past_admission(&writers) {
            let holder = writer
                .holder
                .as_ref()
                .unwrap_or_else(|| panic!("event {} of {squad} has no writer", writer.seq));
            let token = writer
                .token
                .unwrap_or_else(|| panic!("event {} of {squad} has no token", writer.seq))
                .get();
            assert!(
                token >= newest,
                "event {} of {squad} was written with token {token} after token {newest}: \
                 {writers:#?}",
                writer.seq
            );
            newest = token;
            let first = holders
                .entry(token)
                .or_insert_with(|| holder.as_str().to_owned());
            assert_eq!(
                first,
                holder.as_str(),
                "token {token} belongs to one daemon"
            );
            writers_seen.insert(holder.as_str().to_owned());
        }
    }
    writers_seen
}

/// Checks what the GitHub stand-in recorded (`record`, its `standins.json`) for a milestone
/// of `issues` issues: one PR per issue, each merged, reviewed once per reviewer per round
/// (head commit) by both reviewers, and no second merge.
pub fn assert_github_saw_each_issue_once(record: &serde_json::Value, issues: usize) {
    let pulls = record["pulls"].as_array().expect("pulls");
    let branches: BTreeSet<&str> = pulls
        .iter()
        .map(|pull| pull["head_ref"].as_str().expect("a head branch"))
        .collect();
    assert_eq!(pulls.len(), issues, "one PR per issue: {record:#}");
    assert_eq!(branches.len(), issues, "one PR per issue: {record:#}");
    for pull in pulls {
        assert_eq!(pull["merged"], true, "{pull:#}");
        let mut reviews: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for review in pull["reviews"].as_array().expect("reviews") {
            *reviews
                .entry((
                    review["user"].as_str().expect("a login"),
                    review["commit_id"].as_str().expect("a commit"),
                ))
                .or_default() += 1;
        }
        assert!(
            reviews.values().all(|count| *count == 1),
            "one review per reviewer per round (head commit): {pull:#}"
        );
        let reviewers: BTreeSet<&str> = reviews.keys().map(|(user, _)| *user).collect();
        assert_eq!(
            reviewers,
            BTreeSet::from(["squadron-code-reviewer", "squadron-qa-specialist"]),
            "{pull:#}"
        );
    }
    let merges = record["merges"].as_array().expect("merges");
    let merged: BTreeSet<u64> = merges
        .iter()
        .map(|merge| merge["number"].as_u64().expect("a PR number"))
        .collect();
    assert_eq!(merges.len(), issues, "no second merge: {record:#}");
    assert_eq!(merged.len(), issues, "every PR merged once: {record:#}");
}

/// Checks that the run `finished` (as `/api/runs/<id>` shows it) merged all of its `issues`
/// issues, naming the others with why.
pub fn assert_every_issue_merged(finished: &serde_json::Value, issues: usize) {
    let squads = finished["squads"].as_array().expect("squads");
    let phases: BTreeMap<&str, &str> = squads
        .iter()
        .map(|squad| {
            (
                squad["issue"].as_str().unwrap_or_default(),
                squad["phase"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(phases.len(), issues, "{finished:#}");
    let unmerged: Vec<&serde_json::Value> = squads
        .iter()
        .filter(|squad| squad["phase"] != "merged")
        .collect();
    assert!(
        unmerged.is_empty(),
        "every admitted issue merged: {phases:#?}\nthe others, with why: {unmerged:#?}"
    );
}

/// Stops the stand-ins and reads what the GitHub stand-in recorded.
pub fn github_record(standins: &mut Standins) -> serde_json::Value {
    let record_path = standins.record_path();
    let (code, stderr) = standins.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
    serde_json::from_str(
        &std::fs::read_to_string(&record_path).expect("the stand-ins write what GitHub saw"),
    )
    .expect("standins.json is JSON")
}

/// The size of the milestone the three-replica tests merge.
pub const MILESTONE_ISSUES: usize = 12;
/// The three-replica tests' lease: short, so a test takes minutes, yet long enough that a
/// loaded two-core machine does not miss a heartbeat (a third of it).
pub const REPLICA_LEASE_SECS: &str = "6";
/// How long a whole milestone may take on a loaded machine.
pub const RUN_LIMIT: Duration = Duration::from_secs(600);

/// The run as `serve` shows it.
pub async fn run_view(serve: &Serve, run: &str) -> serde_json::Value {
    serve.get(&format!("/api/runs/{run}")).await
}

/// The test database as a store, for reading what the replicas wrote.
pub async fn replicas_store(database: &Database) -> SqlStore {
    let url = database
        .url
        .clone()
        .expect("the replica test needs PostgreSQL: set SQUADRON_TEST_POSTGRES_URL");
    SqlStore::open(&squadron_store::StoreLocation::Postgres(url))
        .await
        .expect("open the replicas' store")
}

/// Starts the stand-ins' milestone of [`MILESTONE_ISSUES`] through `serve`'s API; returns
/// the run and its squads, one per generated issue.
pub async fn start_milestone(serve: &Serve, standins: &Standins) -> (String, Vec<SquadId>) {
    start_milestone_of(serve, standins, MILESTONE_ISSUES).await
}

/// Starts the stand-ins' milestone of `issues` generated issues through `serve`'s API;
/// returns the run and its squads, one per issue.
pub async fn start_milestone_of(
    serve: &Serve,
    standins: &Standins,
    issues: usize,
) -> (String, Vec<SquadId>) {
    let (status, started) = serve
        .post(
            "/api/runs",
            &serde_json::json!({ "url": standins.project_url() }),
        )
        .await;
    assert_eq!(status, 202, "{started:#}");
    let run = started["run_id"].as_str().expect("a run id").to_owned();
    let squads: Vec<SquadId> = run_view(serve, &run).await["squads"]
        .as_array()
        .expect("squads")
        .iter()
        .map(|squad| SquadId::from(squad["id"].as_str().expect("a squad id")))
        .collect();
    assert_eq!(squads.len(), issues, "every generated issue is admitted");
    (run, squads)
}
