//! Squad worktree preparation against `git worktree add` on a generated repository of many
//! files (50,000 unless `SQUADRON_BENCH_FILES` says otherwise), both measured in this run on
//! the same mirror: the median of several single prepares, and several squads preparing at
//! once against the same number of `git worktree add` one after another. Prints the figures
//! and, with `SQUADRON_BENCH_OUT=DIR`, writes them to `DIR/worktree.json` for
//! `scripts/bench`. Asserts nothing.
//!
//! `cargo bench -p squadron-git --bench worktree`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use squadron_core::SquadId;
use squadron_core::ports::{RepoRef, Workspaces, WorktreeRequest};
use squadron_git::{AccessToken, GitWorkspaces, RepositorySpec, Workspace};
use squadron_standin_github::GithubStandin;

const SLUG: &str = "acme/big";
const TOKEN: &str = "ghs_bench_developer";
const ROUNDS: usize = 5;
const AT_ONCE: usize = 4;

fn main() {
    // `cargo bench` passes `--bench`; test runners that run bench binaries get nothing.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let files: usize = std::env::var("SQUADRON_BENCH_FILES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let figures = runtime.block_on(measure(files));
    let json = serde_json::json!({ "bench": "worktree", "files": files, "figures": figures });
    println!("{}", serde_json::to_string_pretty(&json).expect("json"));
    if let Ok(dir) = std::env::var("SQUADRON_BENCH_OUT") {
        let path = Path::new(&dir).join("worktree.json");
        std::fs::write(&path, json.to_string()).expect("write the figures");
    }
}

async fn measure(files: usize) -> Vec<serde_json::Value> {
    let standin = GithubStandin::start().await.expect("stand-in starts");
    standin.add_user("dev-bot", TOKEN).expect("user");
    let contents: Vec<(String, String)> = (0..files)
        .map(|i| {
            (
                format!("src/d{:03}/s{}/f{i}.txt", i / 500, (i / 50) % 10),
                format!("file {i}\n").repeat(3),
            )
        })
        .collect();
    let seeded: Vec<(&str, &str)> = contents
        .iter()
        .map(|(path, text)| (path.as_str(), text.as_str()))
        .collect();
    standin
        .create_repo(SLUG, "main", &seeded)
        .expect("the generated repository");
    drop(contents);
    let data = tempfile::tempdir().expect("data dir");
    let repo = RepoRef::new("acme", "big");
    let spec = RepositorySpec {
        slug: SLUG.to_owned(),
        clone_url: standin.clone_url(SLUG),
        base_branch: "main".to_owned(),
    };
    let port = Arc::new(GitWorkspaces::new(
        Workspace::new(data.path()),
        [(repo.clone(), (spec.clone(), AccessToken::new(TOKEN)))],
    ));
    let mirror = Workspace::new(data.path()).mirror_path(&spec);
    let baseline_root = data.path().join("baseline");

    // The first prepare clones the mirror: not what either side of the comparison does.
    let warm = port
        .prepare(&request(&repo, "warm-up"))
        .await
        .expect("the first prepare");
    port.remove(&warm.path).await.expect("remove");

    let mut prepares = Vec::new();
    let mut adds = Vec::new();
    for round in 0..ROUNDS {
        let started = Instant::now();
        let made = port
            .prepare(&request(&repo, &format!("single-{round}")))
            .await
            .expect("prepare");
        prepares.push(started.elapsed());
        port.remove(&made.path).await.expect("remove");

        let path = baseline_root.join(format!("single-{round}"));
        let started = Instant::now();
        worktree_add(&mirror, &path, &format!("baseline/single-{round}"));
        adds.push(started.elapsed());
        worktree_remove(&mirror, &path);
    }

    let started = Instant::now();
    let prepared = prepare_together(&port, &repo, AT_ONCE).await;
    let together = started.elapsed();
    for path in prepared {
        port.remove(&path).await.expect("remove");
    }
    let started = Instant::now();
    for n in 0..AT_ONCE {
        let path = baseline_root.join(format!("serial-{n}"));
        worktree_add(&mirror, &path, &format!("baseline/serial-{n}"));
    }
    let serial = started.elapsed();

    vec![
        figure(
            "worktree prepare (median of 5)",
            median(&mut prepares),
            "git worktree add (median of 5)",
            median(&mut adds),
        ),
        figure(
            &format!("{AT_ONCE} prepares of one repository at once"),
            together,
            &format!("{AT_ONCE} git worktree add, one after another"),
            serial,
        ),
    ]
}

/// Prepares `count` squads of `repo` concurrently; returns their paths.
async fn prepare_together(port: &Arc<GitWorkspaces>, repo: &RepoRef, count: usize) -> Vec<PathBuf> {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..count {
        let (port, request) = (Arc::clone(port), request(repo, &format!("together-{n}")));
        tasks.spawn(async move { port.prepare(&request).await.expect("prepare").path });
    }
    tasks.join_all().await
}

fn request(repo: &RepoRef, name: &str) -> WorktreeRequest {
    WorktreeRequest {
        squad: SquadId::new(format!("squad-{name}")),
        repo: repo.clone(),
        branch: format!("bench/{name}"),
        base_branch: "main".to_owned(),
    }
}

/// `git worktree add -b <branch> <path> origin/main` in the mirror, as a person would run
/// it (without their configuration, so the machine's settings do not skew it).
fn worktree_add(mirror: &Path, path: &Path, branch: &str) {
    let status = git(mirror)
        .args(["worktree", "add", "--quiet", "-b", branch])
        .arg(path)
        .arg("refs/remotes/origin/main")
        .status()
        .expect("run git");
    assert!(status.success(), "git worktree add failed");
}

fn worktree_remove(mirror: &Path, path: &Path) {
    let status = git(mirror)
        .args(["worktree", "remove", "--force"])
        .arg(path)
        .status()
        .expect("run git");
    assert!(status.success(), "git worktree remove failed");
}

fn git(mirror: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .arg("--git-dir")
        .arg(mirror);
    command
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn figure(
    name: &str,
    value: Duration,
    baseline_name: &str,
    baseline: Duration,
) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "value": value.as_secs_f64(),
        "unit": "s",
        "baseline_name": baseline_name,
        "baseline": baseline.as_secs_f64(),
        "ratio": value.as_secs_f64() / baseline.as_secs_f64(),
    })
}
