//! GitHub and Linear failing in the middle of a run: GitHub answers 502, or carries a request
//! out and loses its answer, while a squad opens its PR, posts a review, reads the gate's
//! snapshot and merges; Linear answers 500 while the squad moves its issue. Each failed step
//! is tried again after a short backoff, and the squad merges with exactly one PR, one review
//! per reviewer, one merge and no comment twice.

use std::collections::BTreeSet;
use std::process::Output;

use serde_json::json;
use squadron::demo::generated::{Behaviour, milestone};
use squadron::demo::{DemoLimits, SAMPLE_REPO, WorldSeed};
use squadron_standin_github::{Fault, FaultRule};
use squadron_standin_model::{Action, Reply, Script, ScriptBook, ScriptedToolCall};

use crate::support::{Rig, describe};

/// Tiny waits, so retries cost the test milliseconds.
const RETRIES: &str = "\n[retries]\nattempts = 4\nbase_delay_ms = 10\nmax_delay_ms = 40\n";

/// Where GitHub fails: (method, path fragment), most specific first, since a request takes
/// the first rule that matches it.
const GITHUB_STEPS: [(&str, &str); 4] = [
    ("POST", "/reviews"),
    ("POST", "/pulls"),
    ("GET", "/check-runs"),
    ("PUT", "/merge"),
];

async fn rig_with_github_failing(fault: &Fault) -> Rig {
    let rig = Rig::start_with(
        milestone(1, Behaviour::Approve),
        DemoLimits::default(),
        RETRIES,
    )
    .await;
    for (method, path) in GITHUB_STEPS {
        rig.world
            .github
            .inject_fault(
                FaultRule::new(fault.clone())
                    .method(method)
                    .path_contains(path),
            )
            .expect("inject the fault");
    }
    rig
}

/// The steps the runtime tried again, from its `retrying a failed step` log lines.
fn retried_steps(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| entry["fields"]["message"] == "retrying a failed step after a backoff")
        .map(|entry| {
            entry["fields"]["what"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// The run merged ENG-1 through one PR, reviewed once by each reviewer, merged once, and
/// told the issue and the PR nothing twice.
fn assert_merged_once(rig: &Rig, output: &Output) {
    assert_eq!(output.status.code(), Some(0), "{}", describe(output));
    let pulls = rig.pulls();
    assert_eq!(pulls.len(), 1, "one PR: {pulls:#?}\n{}", describe(output));
    assert!(pulls[0].merged, "the PR merged\n{}", describe(output));
    let merges = rig
        .world
        .github
        .merges(SAMPLE_REPO)
        .expect("merges are recorded");
    assert_eq!(merges.len(), 1, "merged once: {merges:#?}");
    let reviews = rig
        .world
        .github
        .reviews(SAMPLE_REPO, pulls[0].number)
        .expect("reviews are recorded");
    let reviewers: Vec<&str> = reviews.iter().map(|review| review.user.as_str()).collect();
    let distinct: BTreeSet<&str> = reviewers.iter().copied().collect();
    assert_eq!(
        (reviewers.len(), distinct.len()),
        (2, 2),
        "one review per reviewer: {reviews:#?}"
    );
    let linear = rig.linear_comments("ENG-1");
    let distinct: BTreeSet<&String> = linear.iter().collect();
    assert_eq!(
        distinct.len(),
        linear.len(),
        "no comment twice: {linear:#?}"
    );
    let on_pr = rig
        .world
        .github
        .issue_comments(SAMPLE_REPO, pulls[0].number)
        .expect("PR comments are recorded");
    let distinct: BTreeSet<_> = on_pr.iter().map(|comment| format!("{comment:?}")).collect();
    assert_eq!(
        distinct.len(),
        on_pr.len(),
        "no PR comment twice: {on_pr:#?}"
    );
    assert_eq!(rig.linear_state("ENG-1").as_deref(), Some("Done"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_502s_at_every_step_and_a_linear_500_are_retried_and_the_squad_merges_once() {
    let rig = rig_with_github_failing(&Fault::ServerError { status: 502 }).await;
    // More failures than the Linear adapter retries by itself, so the step fails.
    rig.world.linear.fail_operation("UpdateIssueState", 4, 500);

    let output = rig.run(&[]).await;

    assert_merged_once(&rig, &output);
    let failed: Vec<(String, String)> = rig
        .world
        .github
        .requests()
        .expect("requests are recorded")
        .into_iter()
        .filter(|request| request.status == 502)
        .map(|request| (request.method, request.path))
        .collect();
    for (method, path) in GITHUB_STEPS {
        assert!(
            failed.iter().any(|(m, p)| m == method && p.contains(path)),
            "GitHub answered 502 to {method} …{path}: {failed:?}"
        );
    }
    let retried = retried_steps(&output);
    for step in ["prepare", "open-pr", "review", "evaluate-gate", "merge"] {
        assert!(
            retried.iter().any(|retried| retried == step),
            "the {step} step was tried again: {retried:?}\n{}",
            describe(&output)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_lost_after_github_acted_are_reconciled_without_acting_twice() {
    let rig = rig_with_github_failing(&Fault::AnswerLost).await;

    let output = rig.run(&[]).await;

    assert_merged_once(&rig, &output);
    // The merge's answer was lost, so the squad learned of it by reading the PR again: it
    // records the commit the squash made on the base, not the PR's head.
    let merge = &rig.world.github.merges(SAMPLE_REPO).unwrap()[0];
    assert_ne!(merge.sha, merge.head_sha, "a squash makes its own commit");
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains(&merge.sha[..7]) && !table.contains(&merge.head_sha[..7]),
        "the summary shows the merge commit {} (head {}):\n{table}",
        merge.sha,
        merge.head_sha
    );
    let retried = retried_steps(&output);
    for step in ["open-pr", "review", "evaluate-gate", "merge"] {
        assert!(
            retried.iter().any(|retried| retried == step),
            "the {step} step was tried again: {retried:?}\n{}",
            describe(&output)
        );
    }
}

/// Attempts of a step in the run whose fault outlasts them.
const ATTEMPTS: u32 = 3;

/// ENG-1 whose Developer writes its module and finishes on every attempt, while every call of
/// its QA is answered 503: implementing fails on each attempt, past the retry limit.
fn qa_down_for_good() -> WorldSeed {
    let generated = milestone(1, Behaviour::Approve);
    let write = ScriptedToolCall::new(
        "write_file",
        &json!({ "path": "ledger/rate_1.py", "content": "def rate_1():\n    return 100\n" }),
    );
    let finish = ScriptedToolCall::new("finish", &json!({ "summary": "Add rate_1" }));
    let mut developer =
        Script::new("developer-every-attempt").when_task_contains("# Task: implement ENG-1\n");
    for _ in 0..ATTEMPTS {
        developer = developer
            .then(Action::Reply(Reply::tool_calls([write.clone()])))
            .then(Action::Reply(Reply::tool_calls([finish.clone()])));
    }
    let mut qa = Script::new("qa-down").when_task_contains("# Task: write the tests for ENG-1\n");
    for _ in 0..ATTEMPTS * 4 {
        qa = qa.then(Action::ServerError { status: 503 });
    }
    let mut scripts = ScriptBook::new().with(developer).with(qa);
    for script in generated.scripts.scripts() {
        scripts = scripts.with(script.clone());
    }
    WorldSeed {
        scripts,
        ..generated
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_past_the_retry_limit_hands_the_squad_over_with_its_work_pushed_and_linked() {
    let retries =
        format!("\n[retries]\nattempts = {ATTEMPTS}\nbase_delay_ms = 10\nmax_delay_ms = 40\n");
    let rig = Rig::start_with(qa_down_for_good(), DemoLimits::default(), &retries).await;

    let output = rig.run(&[]).await;

    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(rig.pulls().is_empty(), "no PR was opened");
    let retried = retried_steps(&output);
    assert_eq!(
        retried,
        vec!["implement"; ATTEMPTS as usize - 1],
        "implementing was tried {ATTEMPTS} times in all\n{}",
        describe(&output)
    );
    let comments = rig.linear_comments("ENG-1");
    let comment = comments
        .iter()
        .find(|comment| comment.contains("needs a person"))
        .unwrap_or_else(|| panic!("a needs-human comment: {comments:#?}"));
    assert!(
        comment.contains(&format!(
            "the implement step failed {ATTEMPTS} time(s) in a row"
        )) && comment.contains("503"),
        "the comment names the error: {comment}"
    );
    // The comment links the branch holding the work: `[`<branch>`](<url>)`.
    let branch = comment
        .split("on branch [`")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("the comment names the branch: {comment}"));
    let url = format!(
        "{}/{SAMPLE_REPO}/tree/{branch}",
        rig.world.github.base_url().trim_end_matches('/')
    );
    assert!(comment.contains(&url), "the comment links {url}: {comment}");
    let module = rig
        .world
        .github
        .file_at(SAMPLE_REPO, branch, "ledger/rate_1.py")
        .expect("the branch is on the remote");
    assert_eq!(
        module.as_deref(),
        Some("def rate_1():\n    return 100\n"),
        "the Developer's uncommitted work is on the remote"
    );
    let head = rig
        .world
        .github
        .commit(SAMPLE_REPO, branch)
        .expect("the branch's head");
    assert!(
        head.message.starts_with("WIP ENG-1:") && head.message.contains("503"),
        "a work-in-progress commit saying why: {}",
        head.message
    );
    let logs = rig.squadron(&["logs", "ENG-1"], &[]).await;
    let logs = String::from_utf8_lossy(&logs.stdout);
    assert!(
        logs.contains("work-saved") && logs.contains(branch),
        "squadron logs shows where the work went:\n{logs}"
    );
}
