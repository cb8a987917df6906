//! Whole runs of generated milestones through the real binary against the loopback
//! stand-ins, with the scripted zero-latency model: wall time, CPU and peak RSS of the
//! `squadron run` process, GitHub, Linear and model calls, rebases, model-made reviews and
//! re-reviews per merged PR, and prompt prefix reuse (within an agent's conversation and
//! across squads), for each number of squads and concurrency, with GitHub answering "not
//! computed yet" once per read sequence as it does after every push; the 10-issue milestone
//! with those answers against immediate ones, counting the answers the gate saw so that a
//! setting that did not take effect shows; and webhook acknowledgement under many
//! concurrent signed deliveries against `/healthz` under the same load. Every figure has
//! its baseline measured in the same run. Prints the figures as JSON and, with
//! `SQUADRON_BENCH_OUT=DIR`, writes them to `DIR/throughput.json` for `scripts/bench`.
//! Asserts nothing.
//!
//! Sizes: `SQUADRON_BENCH_SQUADS` (default `1,10,100`), `SQUADRON_BENCH_CONCURRENCY`
//! (default `4,16`), `SQUADRON_BENCH_NOT_COMPUTED` (squads of the "not computed yet"
//! milestone, run at concurrency 4; default 10), `SQUADRON_BENCH_WEBHOOKS` (default 500).
//!
//! `cargo bench -p squadron --bench throughput`

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use squadron::demo::generated::{Behaviour, MAX_ROUNDS, milestone};
use squadron::demo::{DemoLimits, DemoWorld, SAMPLE_REPO, prefix_reuse};

/// Runs the command after `--` and writes what it used to the file named before it: how
/// `squadron run` is measured, in a process of its own so that its rusage is its alone.
const MEASURE: &str = "--measure-child";

/// The first line of a review that renewed an approval without a model (see
/// `squadron_pipeline`'s renewal review); such reviews are not model reviews.
const RENEWAL_MARK: &str = "Approval renewed";

const WEBHOOK_SECRET: &str = "bench-github-webhook-secret";
const WEBHOOK_SECRET_ENV: &str = "SQUADRON_BENCH_GITHUB_WEBHOOK_SECRET";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == MEASURE) {
        measure_child(&args[at + 1..]);
        return;
    }
    // `cargo bench` passes `--bench`; test runners that run bench binaries get nothing.
    if !args.iter().any(|arg| arg == "--bench") {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let squads = sizes("SQUADRON_BENCH_SQUADS", &[1, 10, 100]);
    let concurrency = sizes("SQUADRON_BENCH_CONCURRENCY", &[4, 16]);
    let webhooks = sizes("SQUADRON_BENCH_WEBHOOKS", &[500])[0];
    let not_computed_squads = sizes("SQUADRON_BENCH_NOT_COMPUTED", &[10])[0];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    // The short measurements first, and the figures written after each, so that a run
    // stopped part way keeps what it measured.
    let figures = runtime.block_on(async {
        let immediate = milestone_run(not_computed_squads, 4, 0).await;
        eprintln!("immediate mergeability: {immediate}");
        let not_computed = milestone_run(not_computed_squads, 4, 1).await;
        eprintln!("\"not computed yet\" once per read: {not_computed}");
        let mut figures = not_computed_figures(not_computed_squads, &not_computed, &immediate);
        figures.extend(webhook_figures(webhooks).await);
        save(&figures);
        let mut runs = Vec::new();
        for &c in &concurrency {
            for &n in &squads {
                let run = milestone_run(n, c, 1).await;
                eprintln!("{n} squads at concurrency {c}: {run}");
                runs.push(run);
                save(&[run_figures(&runs), figures.clone()].concat());
            }
        }
        [run_figures(&runs), figures].concat()
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report(&figures)).expect("the figures as JSON")
    );
    save(&figures);
}

fn report(figures: &[Value]) -> Value {
    json!({ "bench": "throughput", "figures": figures })
}

/// Writes the figures to `$SQUADRON_BENCH_OUT/throughput.json`, when that is set.
fn save(figures: &[Value]) {
    if let Ok(dir) = std::env::var("SQUADRON_BENCH_OUT") {
        let path = Path::new(&dir).join("throughput.json");
        std::fs::write(&path, report(figures).to_string()).expect("write the figures");
    }
}

fn sizes(variable: &str, default: &[u32]) -> Vec<u32> {
    std::env::var(variable)
        .ok()
        .map(|list| {
            list.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect::<Vec<u32>>()
        })
        .filter(|list| !list.is_empty())
        .unwrap_or_else(|| default.to_vec())
}

/// What one `squadron run` of a generated milestone did.
#[derive(Clone, Debug, Default)]
struct Run {
    squads: u32,
    concurrency: u32,
    succeeded: bool,
    merged: usize,
    wall: f64,
    cpu: f64,
    cpu_with_children: f64,
    peak_rss_mb: f64,
    github_rest: usize,
    git_transfers: usize,
    linear: usize,
    model: usize,
    rebases: usize,
    model_reviews: usize,
    /// Model reviews of a PR by a reviewer that had reviewed it before.
    re_reviews: usize,
    renewed_reviews: usize,
    /// Gate reads answered "not computed yet".
    not_computed: usize,
    prefix_share: f64,
    shared_prefix_share: f64,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} merged in {:.1} s (daemon cpu {:.1} s, peak rss {:.1} MB), per merged PR: {:.1} GitHub, {:.1} Linear, {:.1} model calls, {:.2} rebases, {:.2} model reviews, {:.2} re-reviews; {} \"not computed yet\" answers",
            self.merged,
            self.squads,
            self.wall,
            self.cpu,
            self.peak_rss_mb,
            self.per_merged(self.github_rest),
            self.per_merged(self.linear),
            self.per_merged(self.model),
            self.per_merged(self.rebases),
            self.per_merged(self.model_reviews),
            self.per_merged(self.re_reviews),
            self.not_computed,
        )
    }
}

impl Run {
    fn per_merged(&self, count: usize) -> f64 {
        if self.merged == 0 {
            f64::NAN
        } else {
            count as f64 / self.merged as f64
        }
    }
}

/// Runs a milestone of `squads` generated issues at `concurrency` through `squadron run`,
/// with GitHub answering "not computed yet" `null_reads` times per read sequence.
async fn milestone_run(squads: u32, concurrency: u32, null_reads: u32) -> Run {
    let world = DemoWorld::start_seeded(milestone(squads, Behaviour::Approve))
        .await
        .expect("the stand-ins start");
    world
        .github
        .set_mergeable_null_reads(null_reads)
        .expect("set the stand-in's mergeability answers");
    let dir = tempfile::tempdir().expect("a scratch directory");
    let config = dir.path().join("squadron.toml");
    let limits = DemoLimits {
        concurrency,
        review_rounds: Some(MAX_ROUNDS),
        ..DemoLimits::default()
    };
    std::fs::write(
        &config,
        world.config_toml(&dir.path().join("squadron.db"), limits),
    )
    .expect("write the configuration");
    let usage = dir.path().join("usage.json");
    let started = Instant::now();
    let output = tokio::process::Command::new(std::env::current_exe().expect("this bench"))
        .arg(MEASURE)
        .arg(&usage)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_squadron"))
        .args(["run", world.project_url()])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("SQUADRON_CONFIG", &config)
        .env("SQUADRON_LOG_FORMAT", "json")
        .envs(world.secrets_env())
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run squadron");
    let wall = started.elapsed().as_secs_f64();
    let usage: Value =
        serde_json::from_slice(&std::fs::read(&usage).expect("the usage")).expect("usage JSON");
    let pulls = world.github.pulls(SAMPLE_REPO).unwrap_or_default();
    let merged = pulls.iter().filter(|pull| pull.merged).count();
    let (mut model_reviews, mut re_reviews, mut renewed_reviews) = (0, 0, 0);
    for pull in &pulls {
        let mut reviewers = std::collections::BTreeSet::new();
        for review in world
            .github
            .reviews(SAMPLE_REPO, pull.number)
            .unwrap_or_default()
        {
            if review.body.starts_with(RENEWAL_MARK) {
                renewed_reviews += 1;
            } else {
                model_reviews += 1;
                if !reviewers.insert(review.user) {
                    re_reviews += 1;
                }
            }
        }
    }
    let requests = world.github.requests().unwrap_or_default();
    let git_transfers = requests
        .iter()
        .filter(|request| request.path.contains(".git/"))
        .count();
    let model_requests = world.model.requests();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let prefix = prefix_reuse(&model_requests);
    Run {
        squads,
        concurrency,
        succeeded: output.status.success(),
        merged,
        wall,
        cpu: usage["cpu_seconds"].as_f64().unwrap_or(f64::NAN),
        cpu_with_children: usage["cpu_with_children_seconds"]
            .as_f64()
            .unwrap_or(f64::NAN),
        peak_rss_mb: usage["peak_rss_kb"].as_f64().unwrap_or(f64::NAN) / 1024.0,
        github_rest: requests.len() - git_transfers,
        git_transfers,
        linear: world.linear.request_count(),
        model: model_requests.len(),
        rebases: rebases(&stderr),
        model_reviews,
        re_reviews,
        renewed_reviews,
        not_computed: not_computed_answers(&stderr),
        prefix_share: prefix.share(),
        shared_prefix_share: prefix.shared_share(),
    }
}

/// Rebases that moved a branch, from the git adapter's `rebase finished` log lines.
fn rebases(stderr: &str) -> usize {
    log_entries(stderr)
        .filter(|entry| {
            entry["fields"]["message"] == "rebase finished"
                && entry["fields"]["outcome"]
                    .as_str()
                    .is_some_and(|outcome| outcome.starts_with("Rebased"))
        })
        .count()
}

/// Gate reads answered "not computed yet", from the gate's `gate decided` log lines: proof
/// that the stand-in answered as it was set to.
fn not_computed_answers(stderr: &str) -> usize {
    log_entries(stderr)
        .filter(|entry| {
            entry["fields"]["message"] == "gate decided"
                && entry["fields"]["decision"] == "wait"
                && entry["fields"]["reasons"]
                    .as_str()
                    .is_some_and(|reasons| reasons.contains("not computed"))
        })
        .count()
}

/// The daemon's JSON log lines.
fn log_entries(stderr: &str) -> impl Iterator<Item = Value> + '_ {
    stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
}

/// The figures of the milestone runs: each against the single squad at the same
/// concurrency (or, for the single squad, against itself at concurrency 4).
fn run_figures(runs: &[Run]) -> Vec<Value> {
    let mut figures = Vec::new();
    for run in runs {
        let baseline = runs
            .iter()
            .find(|other| other.squads == 1 && other.concurrency == run.concurrency)
            .or_else(|| runs.iter().find(|other| other.squads == 1))
            .unwrap_or(run);
        let label = format!("{} squads at concurrency {}", run.squads, run.concurrency);
        let single = format!("1 squad at concurrency {}", baseline.concurrency);
        figures.push(json!({
            "name": format!("{label}: merged"),
            "value": run.merged,
            "unit": "PRs",
            "baseline_name": "squads",
            "baseline": run.squads,
            "ratio": run.merged as f64 / f64::from(run.squads),
            "exit_ok": run.succeeded,
        }));
        figures.push(figure(
            &format!("{label}: wall"),
            run.wall,
            "s",
            &single,
            baseline.wall,
        ));
        figures.push(figure(
            &format!("{label}: wall per squad"),
            run.wall / f64::from(run.squads),
            "s",
            &single,
            baseline.wall,
        ));
        figures.push(figure(
            &format!("{label}: CPU per squad"),
            run.cpu / f64::from(run.squads),
            "s",
            &single,
            baseline.cpu,
        ));
        figures.push(figure(
            &format!("{label}: CPU per squad with git and test commands"),
            run.cpu_with_children / f64::from(run.squads),
            "s",
            &single,
            baseline.cpu_with_children,
        ));
        figures.push(figure(
            &format!("{label}: peak RSS"),
            run.peak_rss_mb,
            "MB",
            &single,
            baseline.peak_rss_mb,
        ));
        for (what, count, single_count) in [
            ("GitHub REST calls", run.github_rest, baseline.github_rest),
            ("git transfers", run.git_transfers, baseline.git_transfers),
            ("Linear calls", run.linear, baseline.linear),
            ("model calls", run.model, baseline.model),
            ("rebases", run.rebases, baseline.rebases),
            ("model reviews", run.model_reviews, baseline.model_reviews),
            ("re-reviews", run.re_reviews, baseline.re_reviews),
            (
                "renewed approvals",
                run.renewed_reviews,
                baseline.renewed_reviews,
            ),
        ] {
            figures.push(figure(
                &format!("{label}: {what} per merged PR"),
                run.per_merged(count),
                "",
                &single,
                baseline.per_merged(single_count),
            ));
        }
        figures.push(figure(
            &format!("{label}: prompt tokens repeating the agent's previous request"),
            run.prefix_share * 100.0,
            "%",
            &single,
            baseline.prefix_share * 100.0,
        ));
        figures.push(figure(
            &format!("{label}: prompt tokens starting like an earlier request of any squad"),
            run.shared_prefix_share * 100.0,
            "%",
            &single,
            baseline.shared_prefix_share * 100.0,
        ));
    }
    figures
}

/// The milestone with GitHub answering "not computed yet" once per read sequence against
/// the same milestone with immediate answers: its wall time, how many such answers the
/// gate saw (none, for the baseline, shows that the setting took effect), and the calls
/// the re-reads cost.
fn not_computed_figures(squads: u32, not_computed: &Run, immediate: &Run) -> Vec<Value> {
    let label = format!("{squads} squads at concurrency 4, \"not computed yet\" once per read");
    let baseline = "same milestone with immediate answers";
    let mut figures = vec![
        json!({
            "name": format!("{label}: merged"),
            "value": not_computed.merged,
            "unit": "PRs",
            "baseline_name": baseline,
            "baseline": immediate.merged,
            "ratio": not_computed.merged as f64 / immediate.merged as f64,
            "exit_ok": not_computed.succeeded && immediate.succeeded,
        }),
        figure(
            &format!("{label}: wall"),
            not_computed.wall,
            "s",
            baseline,
            immediate.wall,
        ),
        figure(
            &format!("{label}: \"not computed yet\" answers seen by the gate"),
            not_computed.not_computed as f64,
            "",
            baseline,
            immediate.not_computed as f64,
        ),
    ];
    for (what, count, baseline_count) in [
        (
            "GitHub REST calls",
            not_computed.github_rest,
            immediate.github_rest,
        ),
        ("model calls", not_computed.model, immediate.model),
        ("rebases", not_computed.rebases, immediate.rebases),
    ] {
        figures.push(figure(
            &format!("{label}: {what} per merged PR"),
            not_computed.per_merged(count),
            "",
            baseline,
            immediate.per_merged(baseline_count),
        ));
    }
    figures
}

fn figure(name: &str, value: f64, unit: &str, baseline_name: &str, baseline: f64) -> Value {
    json!({
        "name": name,
        "value": value,
        "unit": unit,
        "baseline_name": baseline_name,
        "baseline": baseline,
        "ratio": value / baseline,
    })
}

/// Acknowledgement times of `count` concurrent signed GitHub deliveries to a running
/// `squadron serve`, against `count` concurrent `GET /healthz` on the same listener.
async fn webhook_figures(count: u32) -> Vec<Value> {
    let world = DemoWorld::start_seeded(milestone(1, Behaviour::Approve))
        .await
        .expect("the stand-ins start");
    let dir = tempfile::tempdir().expect("a scratch directory");
    let config = dir.path().join("squadron.toml");
    std::fs::write(
        &config,
        world.config_toml(&dir.path().join("squadron.db"), DemoLimits::default()),
    )
    .expect("write the configuration");
    let (mut daemon, address) = serve(&world, &config, dir.path()).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("an HTTP client");
    let base = format!("http://{address}");
    let health = latencies(count, {
        let (client, url) = (client.clone(), format!("{base}/healthz"));
        move |_| client.get(url.clone())
    })
    .await;
    let deliveries = latencies(count, {
        let (client, url) = (client.clone(), format!("{base}/webhooks/github"));
        move |n| {
            let body = review_delivery(n);
            client
                .post(url.clone())
                .header("content-type", "application/json")
                .header("X-GitHub-Event", "pull_request_review")
                .header("X-GitHub-Delivery", format!("bench-{n}"))
                .header("X-Hub-Signature-256", signature(&body))
                .body(body)
        }
    })
    .await;
    let _ = daemon.start_kill();
    let _ = daemon.wait().await;
    let mut figures = Vec::new();
    for (at, quantile) in [("p50", 0.5), ("p99", 0.99)] {
        figures.push(figure(
            &format!("webhook acknowledgement {at}, {count} concurrent signed deliveries"),
            quantile_of(&deliveries.0, quantile) * 1000.0,
            "ms",
            &format!("GET /healthz {at}, {count} concurrent"),
            quantile_of(&health.0, quantile) * 1000.0,
        ));
    }
    figures.push(figure(
        "webhook deliveries acknowledged (2xx)",
        deliveries.1 as f64,
        "",
        "deliveries sent",
        f64::from(count),
    ));
    figures
}

/// Sends `count` requests at once, `request(n)` each; returns their latencies in seconds
/// and how many were answered with a success status.
async fn latencies(
    count: u32,
    request: impl Fn(u32) -> reqwest::RequestBuilder,
) -> (Vec<f64>, usize) {
    let barrier = Arc::new(tokio::sync::Barrier::new(count as usize));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..count {
        let (request, barrier) = (request(n), Arc::clone(&barrier));
        tasks.spawn(async move {
            barrier.wait().await;
            let started = Instant::now();
            let ok = request
                .send()
                .await
                .is_ok_and(|response| response.status().is_success());
            (started.elapsed().as_secs_f64(), ok)
        });
    }
    let answers = tasks.join_all().await;
    let ok = answers.iter().filter(|(_, ok)| *ok).count();
    let mut times: Vec<f64> = answers.into_iter().map(|(time, _)| time).collect();
    times.sort_by(f64::total_cmp);
    (times, ok)
}

fn quantile_of(sorted: &[f64], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * quantile).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// A review delivery for PR `n` of a repository no squad works on: acknowledged and
/// matched against the running squads like any other.
fn review_delivery(n: u32) -> String {
    json!({
        "action": "submitted",
        "review": { "user": { "login": "someone" }, "state": "approved" },
        "pull_request": { "number": n + 1 },
        "repository": { "name": "elsewhere", "owner": { "login": "acme" } },
    })
    .to_string()
}

fn signature(body: &str) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("any key");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Starts `squadron serve` with the GitHub webhook secret set; returns it and its address.
async fn serve(world: &DemoWorld, config: &Path, home: &Path) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_squadron"))
        .args(["serve", "--log-format", "json", "--listen", "127.0.0.1:0"])
        .args(["--control-listen", "shared"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("SQUADRON_CONFIG", config)
        .env("SQUADRON_GITHUB_WEBHOOK_SECRET_ENV", WEBHOOK_SECRET_ENV)
        .env(WEBHOOK_SECRET_ENV, WEBHOOK_SECRET)
        .envs(world.secrets_env())
        .current_dir(home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start squadron serve");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    let address = tokio::time::timeout(Duration::from_secs(120), async {
        while let Ok(Some(line)) = lines.next_line().await {
            let parsed: Value = serde_json::from_str(&line).unwrap_or_default();
            if let Some(address) = parsed["fields"]["address"].as_str() {
                return address.to_owned();
            }
        }
        panic!("squadron serve ended before it said where it listens");
    })
    .await
    .expect("squadron serve says where it listens within two minutes");
    // Keep draining its log so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, address)
}

/// The `--measure-child <file> -- <command…>` mode: runs the command with this process's
/// standard streams and writes to `<file>` its wall time, its own peak RSS and CPU time
/// (sampled from `/proc` while it runs: the high-water mark only grows), and the CPU time
/// of it and every process it waited for (git, test commands) from the children's rusage.
fn measure_child(args: &[String]) {
    let (file, rest) = args.split_first().expect("a file for the figures");
    let command = rest
        .iter()
        .skip_while(|arg| *arg != "--")
        .skip(1)
        .collect::<Vec<_>>();
    let (program, arguments) = command.split_first().expect("a command to measure");
    let started = Instant::now();
    let mut child = std::process::Command::new(program)
        .args(arguments)
        .spawn()
        .expect("run the measured command");
    let (mut peak_rss_kb, mut own_cpu) = (0_u64, 0.0_f64);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the measured command") {
            break status;
        }
        if let Some((rss, cpu)) = own_usage(child.id()) {
            peak_rss_kb = peak_rss_kb.max(rss);
            own_cpu = own_cpu.max(cpu);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = started.elapsed().as_secs_f64();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("the children's rusage");
    let seconds = |time: nix::sys::time::TimeVal| {
        time.tv_sec() as f64 + f64::from(i32::try_from(time.tv_usec()).unwrap_or(0)) / 1e6
    };
    let figures = json!({
        "exit_code": status.code(),
        "wall_seconds": wall,
        "cpu_seconds": own_cpu,
        "cpu_with_children_seconds": seconds(usage.user_time()) + seconds(usage.system_time()),
        "peak_rss_kb": peak_rss_kb,
    });
    std::fs::write(PathBuf::from(file), figures.to_string()).expect("write the figures");
    std::process::exit(status.code().unwrap_or(1));
}

/// The peak resident set (kB) and CPU time (s) of process `pid` so far, from `/proc`.
fn own_usage(pid: u32) -> Option<(u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // `/proc` counts in USER_HZ, which Linux fixes at 100 for user space.
    Some((rss, ticks as f64 / 100.0))
}
