//! `squadron demo --keep DIR` end to end for both scenarios, as a person runs it from a
//! fresh clone. The milestone: the admitted issues merged on the bare repository's base
//! branch, the sample repository's own tests pass there, the unrefined issue carries its
//! comment, and every merged PR was approved on its merged head by two distinct reviewer
//! logins, and every run goes through the same review rounds to the same outcomes. The bug
//! fix: the Sentry stub fixed from Slack, told in one thread.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{git, sample_tests};

#[test]
fn the_milestone_demo_merges_every_admitted_issue_with_two_approvals() {
    let keep = tempfile::tempdir().expect("a scratch directory");
    let home = tempfile::tempdir().expect("a scratch home");
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_squadron"))
        .args(["demo", "--scenario", "milestone", "--keep"])
        .arg(keep.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("SQUADRON_LOG_FORMAT", "json")
        .output()
        .expect("run the squadron binary");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "the demo failed:\n{stderr}");
    assert!(
        elapsed < Duration::from_secs(90),
        "the demo took {elapsed:?}; it must stay well under two minutes"
    );

    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(keep.path().join("report.json")).expect("report.json is written"),
    )
    .expect("report.json is JSON");
    assert_eq!(report["expected_outcome_reached"], true, "{report:#}");
    assert!(report["run_id"].as_str().is_some(), "{report:#}");
    let issues = report["issues"].as_array().expect("an issue list");
    let summed: u64 = issues
        .iter()
        .filter_map(|issue| issue["tokens"].as_u64())
        .sum();
    assert_eq!(
        report["totals"]["tokens"].as_u64(),
        Some(summed),
        "{report:#}"
    );
    assert!(
        report["totals"]["cost_usd"].as_f64() > Some(0.0),
        "{report:#}"
    );
    assert!(
        report["totals"]["duration_seconds"].as_f64() > Some(0.0),
        "{report:#}"
    );
    let outcome = |id: &str| {
        issues
            .iter()
            .find(|issue| issue["identifier"] == id)
            .unwrap_or_else(|| panic!("{id} is missing from the report: {report:#}"))
    };
    for id in ["ENG-2", "ENG-3", "ENG-4"] {
        let issue = outcome(id);
        assert_eq!(issue["outcome"], "merged", "{id}: {issue:#}");
        assert!(issue["pr"].as_u64().is_some(), "{id} names its PR");
        assert!(
            issue["tokens"].as_u64() > Some(0),
            "{id} used metered tokens"
        );
        assert!(issue["cost_usd"].as_f64() > Some(0.0), "{id} has a cost");
        let pr_url = issue["pr_url"].as_str().unwrap_or_default();
        assert!(
            pr_url.starts_with("http") && pr_url.ends_with(&format!("/pull/{}", issue["pr"])),
            "{id} links its PR: {issue:#}"
        );
        assert!(
            issue["duration_seconds"].as_f64() > Some(0.0),
            "{id} says how long it took: {issue:#}"
        );
        let approvers: BTreeSet<&str> = issue["approved_by"]
            .as_array()
            .expect("approved_by is a list")
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect();
        assert_eq!(
            approvers,
            BTreeSet::from(["squadron-code-reviewer", "squadron-qa-specialist"]),
            "{id}: two distinct reviewers approved the merged head"
        );
    }
    // ENG-4 went through one fix round; a rebase after another squad's merge adds none.
    assert_eq!(
        outcome("ENG-4")["rounds"].as_u64(),
        Some(2),
        "{:#}",
        outcome("ENG-4")
    );
    let skipped = outcome("ENG-5");
    assert_eq!(skipped["outcome"], "skipped");
    assert_eq!(skipped["pr"], serde_json::Value::Null);
    let comment = skipped["comment"]
        .as_str()
        .expect("the skipped issue has a comment");
    assert!(
        comment.contains("Squadron skipped this issue") && comment.contains("Gherkin scenario"),
        "the comment says what is missing: {comment}"
    );

    // The bare repository's base branch holds every merge, and its own tests pass there.
    let remote = keep.path().join("remotes/acme/ledger.git");
    let checkout = tempfile::tempdir().expect("a scratch checkout");
    git(
        checkout.path(),
        &[
            "clone",
            "--quiet",
            "--branch",
            "main",
            &remote.display().to_string(),
            ".",
        ],
    );
    for id in ["ENG-2", "ENG-3", "ENG-4"] {
        let sha = outcome(id)["merged_sha"].as_str().expect("a merge commit");
        git(
            checkout.path(),
            &["merge-base", "--is-ancestor", sha, "HEAD"],
        );
    }
    for file in ["ledger/totals.py", "ledger/summary.py", "ledger/split.py"] {
        assert!(checkout.path().join(file).is_file(), "{file} is on main");
    }
    let (passed, tests) = sample_tests(checkout.path());
    assert!(
        passed,
        "the sample repository's tests fail on the merged base:\n{tests}"
    );
    assert!(tests.contains("Ran 13 tests"), "{tests}");
}

/// `squadron demo --scenario bugfix --keep DIR`: the Sentry stub is fixed through a signed
/// `/squad fix` sent to the running daemon, every step is told in one Slack thread, and the
/// fix with its regression test is on the bare repository's base branch.
/// `squadron demo --scenario milestone`'s report.json, run in a fresh directory.
fn milestone_report() -> serde_json::Value {
    let keep = tempfile::tempdir().expect("a scratch directory");
    let home = tempfile::tempdir().expect("a scratch home");
    let output = Command::new(env!("CARGO_BIN_EXE_squadron"))
        .args(["demo", "--scenario", "milestone", "--keep"])
        .arg(keep.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("SQUADRON_LOG_FORMAT", "json")
        .output()
        .expect("run the squadron binary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "the demo failed:\n{stderr}");
    serde_json::from_str(
        &std::fs::read_to_string(keep.path().join("report.json")).expect("report.json is written"),
    )
    .expect("report.json is JSON")
}

/// Each issue's identifier, outcome and review rounds.
fn rounds_and_outcomes(report: &serde_json::Value) -> Vec<(String, String, u64)> {
    report["issues"]
        .as_array()
        .expect("an issue list")
        .iter()
        .map(|issue| {
            (
                issue["identifier"].as_str().unwrap_or_default().to_owned(),
                issue["outcome"].as_str().unwrap_or_default().to_owned(),
                issue["rounds"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect()
}

#[test]
fn two_milestone_demos_go_through_the_same_rounds_to_the_same_outcomes() {
    // Run side by side, so the squads' merges (and the rebases they cause) interleave
    // differently in each.
    let first = std::thread::spawn(milestone_report);
    let second = milestone_report();
    let first = first.join().expect("the first demo ran");
    let expected = [
        ("ENG-2", "merged", 1),
        ("ENG-3", "merged", 1),
        ("ENG-4", "merged", 2),
        ("ENG-5", "skipped", 0),
    ]
    .map(|(id, outcome, rounds)| (id.to_owned(), outcome.to_owned(), rounds));
    assert_eq!(rounds_and_outcomes(&first), expected, "{first:#}");
    assert_eq!(rounds_and_outcomes(&second), expected, "{second:#}");
}

#[test]
fn the_bugfix_demo_fixes_the_sentry_crash_from_slack_and_tells_the_thread() {
    let keep = tempfile::tempdir().expect("a scratch directory");
    let home = tempfile::tempdir().expect("a scratch home");
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_squadron"))
        .args(["demo", "--scenario", "bugfix", "--keep"])
        .arg(keep.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("SQUADRON_LOG_FORMAT", "json")
        .output()
        .expect("run the squadron binary");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "the demo failed:\n{stderr}");
    assert!(
        elapsed < Duration::from_secs(60),
        "the demo took {elapsed:?}"
    );

    assert!(
        stderr.contains("slack: /squad fix ENG-1")
            && stderr.contains("squadron: Fix squad for ENG-1 starting…"),
        "the command and its acknowledgement are shown:\n{stderr}"
    );
    let thread = stdout
        .split_once("Slack:")
        .map(|(_, thread)| thread)
        .unwrap_or_else(|| panic!("the Slack thread is printed:\n{stdout}"));
    let opening = thread.find("Fix squad started on").expect("the opening");
    let diagnosis = thread
        .find("Diagnosis (confidence: high)")
        .expect("the diagnosis");
    assert!(
        !thread.contains("*Diagnosis*") && !thread.contains("<http"),
        "Slack's mrkdwn reads as plain text:\n{thread}"
    );
    let pr = thread.find("Pull request opened").expect("the PR");
    let merged = thread.find(":tada: Merged").expect("the merge");
    assert!(
        opening < diagnosis && diagnosis < pr && pr < merged,
        "in order:\n{thread}"
    );
    assert_eq!(
        thread.matches("approved (review round 1)").count(),
        2,
        "both reviewers' verdicts:\n{thread}"
    );

    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(keep.path().join("report.json")).expect("report.json is written"),
    )
    .expect("report.json is JSON");
    assert_eq!(report["scenario"], "bugfix");
    assert_eq!(report["expected_outcome_reached"], true, "{report:#}");
    let issue = &report["issues"][0];
    assert_eq!(issue["identifier"], "ENG-1");
    assert_eq!(issue["outcome"], "merged", "{issue:#}");
    assert_eq!(
        issue["approved_by"],
        serde_json::json!(["squadron-code-reviewer", "squadron-qa-specialist"])
    );

    // The fix and its regression test are on main, and the sample's tests pass there.
    let remote = keep.path().join("remotes/acme/ledger.git");
    let checkout = tempfile::tempdir().expect("a scratch checkout");
    git(
        checkout.path(),
        &[
            "clone",
            "--quiet",
            "--branch",
            "main",
            &remote.display().to_string(),
            ".",
        ],
    );
    let importer = std::fs::read_to_string(checkout.path().join("ledger/importer.py"))
        .expect("the importer is on main");
    assert!(importer.contains("if not row:"), "{importer}");
    let (passed, tests) = sample_tests(checkout.path());
    assert!(passed, "the tests fail on the merged base:\n{tests}");
    assert!(
        tests.contains("Ran 8 tests"),
        "the base's seven tests and the regression test ran:\n{tests}"
    );
}

#[test]
fn the_demo_names_the_programs_it_needs_before_starting_anything() {
    let empty = tempfile::tempdir().expect("a directory with no programs");
    let output = Command::new(env!("CARGO_BIN_EXE_squadron"))
        .arg("demo")
        .env_clear()
        .env("PATH", empty.path())
        .env("HOME", empty.path())
        .output()
        .expect("run the squadron binary");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("python3") && stderr.contains("git") && stderr.contains("apt-get"),
        "{stderr}"
    );
}

#[tokio::test]
async fn demo_serve_runs_through_the_daemon_and_keeps_the_dashboard_open_until_ctrl_c() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let home = tempfile::tempdir().expect("a scratch home");
    let mut child = Command::new(env!("CARGO_BIN_EXE_squadron"))
        .args(["demo", "--serve", "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("SQUADRON_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start squadron demo --serve");
    let stderr = child.stderr.take().expect("piped stderr");
    // Whatever fails below, the daemon does not outlive the test.
    let mut child = KillOnDrop(child);
    let (lines, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |needle: &str| -> String {
        loop {
            let line = said
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("no `{needle}` line within 120 s"));
            if line.contains(needle) {
                return line;
            }
        }
    };
    let dashboard = wait_for("dashboard: http://");
    let address = dashboard
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("the dashboard's address")
        .to_owned();
    wait_for("press Ctrl-C");

    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let page = client
        .get(format!("http://{address}/"))
        .send()
        .await
        .expect("GET /");
    assert_eq!(page.status(), 200, "the dashboard stays open after the run");
    let runs = client
        .get(format!("http://{address}/api/runs"))
        .send()
        .await
        .expect("GET /api/runs");
    assert_eq!(runs.status(), 200);
    let runs: serde_json::Value = runs.json().await.expect("JSON");
    assert_eq!(runs["runs"][0]["finished"], true, "{runs:#}");
    assert_eq!(
        runs["runs"][0]["totals"]["outcomes"]["merged"], 3,
        "{runs:#}"
    );

    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.0.id()).expect("pid fits"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("send SIGINT");
    let status = child.0.wait().expect("wait for the demo");
    assert_eq!(
        status.code(),
        Some(0),
        "Ctrl-C closes the dashboard cleanly"
    );
}

/// A child process killed when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
