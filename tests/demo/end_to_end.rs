//! `squadron demo --keep DIR` end to end, as a person runs it from a fresh clone: the
//! admitted issues merged on the bare repository's base branch, the sample repository's own
//! tests pass there, the unrefined issue carries its comment, and every merged PR was
//! approved on its merged head by two distinct reviewer logins.

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
    let issues = report["issues"].as_array().expect("an issue list");
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
        assert!(issue["cost"].as_f64() > Some(0.0), "{id} has a cost");
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
    // ENG-4 went through a fix round; a rebase after another squad's merge may add more.
    assert!(
        outcome("ENG-4")["rounds"].as_u64() >= Some(2),
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
    assert!(tests.contains("Ran 12 tests"), "{tests}");
}
