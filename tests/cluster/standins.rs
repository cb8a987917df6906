//! `squadron demo --standins --issues N`: the stand-ins serve a generated milestone until
//! interrupted, and `squadron run`, given nothing but the environment they print, merges it.

use std::collections::BTreeMap;

use crate::support::{Standins, describe};

#[test]
fn squadron_run_merges_a_generated_milestone_served_by_the_stand_ins() {
    let mut standins = Standins::start(&["--issues", "3"]);
    insta::assert_snapshot!("standins_script", redact(&standins.script, &standins));

    let command = standins.suggested_command();
    assert_eq!(command[0], "run", "{}", standins.script);
    let output = standins.squadron(&command);
    assert_eq!(
        output.status.code(),
        Some(0),
        "every issue merges:\n{}",
        describe(&output)
    );

    let record_path = standins.record_path();
    let (code, stderr) = standins.interrupt();
    assert_eq!(
        code,
        Some(0),
        "Ctrl-C stops the stand-ins cleanly:\n{stderr}"
    );
    assert!(
        stderr.contains("GitHub saw 3 pull requests, 3 merged"),
        "{stderr}"
    );
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&record_path).expect("the stand-ins write what GitHub saw"),
    )
    .expect("standins.json is JSON");
    let pulls = record["pulls"].as_array().expect("a list of pulls");
    let mut branches: Vec<&str> = pulls
        .iter()
        .map(|pull| pull["head_ref"].as_str().expect("a head branch"))
        .collect();
    branches.sort_unstable();
    branches.dedup();
    assert_eq!(branches.len(), 3, "one PR per issue: {record:#}");
    for pull in pulls {
        assert_eq!(pull["merged"], true, "{pull:#}");
        let mut approvals: BTreeMap<&str, usize> = BTreeMap::new();
        for review in pull["reviews"].as_array().expect("reviews") {
            if review["state"] == "APPROVED" && review["commit_id"] == pull["head_sha"] {
                *approvals
                    .entry(review["user"].as_str().expect("a login"))
                    .or_default() += 1;
            }
        }
        assert_eq!(
            approvals.keys().copied().collect::<Vec<_>>(),
            ["squadron-code-reviewer", "squadron-qa-specialist"],
            "both reviewers approved the merged head: {pull:#}"
        );
    }
    let merges = record["merges"].as_array().expect("a list of merges");
    let mut merged: Vec<u64> = merges
        .iter()
        .map(|merge| merge["number"].as_u64().expect("a PR number"))
        .collect();
    merged.sort_unstable();
    assert_eq!(merged, [1, 2, 3], "each PR merged once: {record:#}");
}

/// The script with what changes from run to run (the state directory, the ports) replaced.
fn redact(script: &str, standins: &Standins) -> String {
    let dir = standins.dir().display().to_string();
    let mut text = script.replace(&dir, "<DIR>");
    let mut redacted = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("127.0.0.1:") {
        let (before, after) = rest.split_at(at + "127.0.0.1:".len());
        redacted.push_str(before);
        redacted.push_str("<PORT>");
        rest = after.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    redacted.push_str(rest);
    text = redacted;
    text
}
