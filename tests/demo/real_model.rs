//! `squadron --config FILE demo --model provider/model`: the demo world run by a model of the
//! user's choosing, here an OpenAI-compatible stand-in on loopback that behaves like the small
//! real models do: it answers in text and never calls a tool. Every squad must still end in
//! an explained state within bounded steps, with its usage recorded and nothing merged, and
//! the run must print its summary once.

use std::time::{Duration, Instant};

use squadron_standin_model::{Action, Reply, Script, ScriptBook, StandinModel};

use crate::support::demo_with_model;

/// Text replies enough for every turn of every squad (each turn takes a handful before it
/// hands off), so the stand-in never runs out and answers with a 400 instead.
const REPLIES: usize = 400;

#[test]
fn a_model_that_only_talks_leaves_every_squad_needing_a_person_with_the_reason() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime for the model stand-in");
    let mut script = Script::new("talker");
    for _ in 0..REPLIES {
        script = script.then(Action::Reply(Reply::text(
            "I will start by looking at the repository structure to understand the code.",
        )));
    }
    let model = runtime
        .block_on(StandinModel::start(ScriptBook::new().with(script)))
        .expect("the model stand-in starts");

    let keep = tempfile::tempdir().expect("a scratch directory");
    let home = tempfile::tempdir().expect("a scratch home");
    let started = Instant::now();
    let output = demo_with_model(&model.base_url(), "talker", 30, keep.path(), home.path())
        .output()
        .expect("run the squadron binary");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "no issue reached its expected outcome, which is a failed demo, not a crash:\n{stderr}"
    );
    assert!(
        elapsed < Duration::from_secs(90),
        "the demo took {elapsed:?}"
    );
    assert_eq!(
        stdout.matches("│ issue").count(),
        1,
        "the summary table is printed once:\n{stdout}"
    );

    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(keep.path().join("state/report.json"))
            .expect("report.json is written"),
    )
    .expect("report.json is JSON");
    let issues = report["issues"].as_array().expect("an issue list");
    let issue = |id: &str| {
        issues
            .iter()
            .find(|issue| issue["identifier"] == id)
            .unwrap_or_else(|| panic!("{id} is missing: {report:#}"))
    };
    for id in ["ENG-2", "ENG-3", "ENG-4"] {
        let issue = issue(id);
        assert_eq!(issue["outcome"], "needs-human", "{issue:#}");
        assert_eq!(issue["merged_sha"], serde_json::Value::Null, "{issue:#}");
        assert_eq!(issue["pr"], serde_json::Value::Null, "{issue:#}");
    }
    for id in ["ENG-2", "ENG-4"] {
        let issue = issue(id);
        let reason = issue["reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with(
                "the developer agent stopped: it answered in text 4 times in a row without \
                 calling a tool. Its hand-off:"
            ) || reason.starts_with(
                "the qa agent stopped: it answered in text 4 times in a row without \
                 calling a tool. Its hand-off:"
            ),
            "the reason says what the model did: {issue:#}"
        );
        assert!(
            reason.ends_with("Files written in this turn (harness record): none."),
            "the hand-off says what was written: {issue:#}"
        );
        assert!(
            issue["tokens"].as_u64() > Some(0),
            "usage is recorded: {issue:#}"
        );
        assert!(issue["cost_usd"].as_f64() > Some(0.0), "{issue:#}");
    }
    // ENG-3 waits for ENG-2, so it never started.
    let blocked = issue("ENG-3")["reason"].as_str().unwrap_or_default();
    assert!(blocked.starts_with("blocked by ENG-2"), "{blocked}");
    let requests = model.requests();
    assert!(
        requests.len() < REPLIES,
        "the squads stopped on their own after {} model calls",
        requests.len()
    );
    assert!(
        requests.iter().all(|request| request.refused.is_none()),
        "every request was one the server accepts"
    );
}
