//! What real models do, played by the stand-in over real HTTP, and how each turn ends: a
//! 2 MB test log, a context-length 400, a model that never calls its finishing tool, one
//! that repeats the same failing call, tool calls written as text, malformed JSON
//! arguments, a server that rejects `parallel_tool_calls`, one that requires its
//! reasoning text back, and replies cut off at the output limit. Each is recovered, or handed off with the reason, with the work in
//! the worktree kept.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use squadron_core::ports::ModelLimits;
use squadron_harness::{
    AgentSpec, HANDOFF_REQUEST, HandOffReason, Harness, RepoPolicy, Scratch, TurnFailure,
    TurnOutcome,
};
use squadron_model::{
    Jitter, ModelProfile, OpenAiCompatibleModel, ProfiledModel, ProviderSettings, RetryPolicy,
};
use squadron_standin_model::{
    Action, RecordedRequest, Reply, Script, ScriptBook, ScriptedToolCall, ServerTraits,
    StandinModel,
};

use crate::support::{FixedClock, MemoryRecorder, policy, repository, workspace_with};
use crate::turn::developer_agent;

fn tool(name: &str, arguments: serde_json::Value) -> Action {
    Action::Reply(Reply::tool_calls([ScriptedToolCall::new(name, &arguments)]))
}

fn text(content: &str) -> Action {
    Action::Reply(Reply::text(content))
}

const HANDOFF: &str = "## Goal\nMake answer() return 42.\n## Done so far\nRead src/lib.rs.\n## Files changed\nsrc/lib.rs\n## What is left\nRun the tests.\n## Failing tests\nnone known";

async fn serve(script: Script, profile: ModelProfile) -> (StandinModel, ProfiledModel) {
    serve_timed(script, profile, Duration::from_secs(600)).await
}

/// [`serve`] with calls timing out after `timeout`.
async fn serve_timed(
    script: Script,
    profile: ModelProfile,
    timeout: Duration,
) -> (StandinModel, ProfiledModel) {
    let server = StandinModel::start(ScriptBook::new().with(script))
        .await
        .unwrap();
    let mut settings =
        ProviderSettings::new("local", server.base_url()).with_profile("dev-model", profile);
    settings.request_timeout = timeout;
    settings.retry = RetryPolicy {
        max_tries: 2,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        max_retry_after: Duration::from_secs(1),
        jitter: Jitter::None,
    };
    let model = OpenAiCompatibleModel::new(settings, Arc::new(FixedClock)).unwrap();
    (server, model.for_model("dev-model"))
}

fn developer() -> Script {
    Script::new("developer").when_system_contains("You are the Developer")
}

/// A developer that finishes without committing (these tests are about the loop).
fn agent() -> AgentSpec {
    let mut agent = developer_agent();
    agent.commit_on_finish = false;
    agent
}

struct Turn {
    outcome: TurnOutcome,
    requests: Vec<RecordedRequest>,
    report_steps: u32,
    condensations: u32,
    /// Usage records written: one per billed reply.
    billed: usize,
    _repo: tempfile::TempDir,
    root: std::path::PathBuf,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(Scratch::beside(&self.root).dir());
    }
}

async fn run(script: Script, profile: ModelProfile, agent: AgentSpec, policy: RepoPolicy) -> Turn {
    run_timed(script, profile, agent, policy, Duration::from_secs(600)).await
}

/// [`run`] with calls timing out after `timeout`.
async fn run_timed(
    script: Script,
    profile: ModelProfile,
    agent: AgentSpec,
    policy: RepoPolicy,
    timeout: Duration,
) -> Turn {
    let repo = repository();
    let root = repo.path().to_path_buf();
    let workspace = workspace_with(&root, policy, squadron_harness::SandboxMode::Auto).await;
    let (server, model) = serve_timed(script, profile, timeout).await;
    let recorder = Arc::new(MemoryRecorder::default());
    let report = Harness::new(recorder.clone(), Arc::new(FixedClock))
        .run_turn(&model, &workspace, &agent, "Task: make answer() return 42.")
        .await;
    Turn {
        outcome: report.outcome,
        requests: server.requests(),
        report_steps: report.steps,
        condensations: report.condensations,
        billed: recorder.usage.lock().unwrap().len(),
        _repo: repo,
        root,
    }
}

fn messages(request: &RecordedRequest) -> &Vec<serde_json::Value> {
    request.body["messages"].as_array().unwrap()
}

fn last_tool_result(request: &RecordedRequest) -> String {
    messages(request)
        .iter()
        .rev()
        .find(|message| message["role"] == "tool")
        .and_then(|message| message["content"].as_str())
        .unwrap()
        .to_owned()
}

fn finished(outcome: &TurnOutcome) -> bool {
    matches!(outcome, TurnOutcome::Finished { .. })
}

/// Redacts the scratch file number-free parts that vary between machines.
fn readable(messages: &[serde_json::Value]) -> String {
    messages
        .iter()
        .map(|message| {
            let role = message["role"].as_str().unwrap_or("?");
            let mut body = message["content"].as_str().unwrap_or("").to_owned();
            if let Some(calls) = message["tool_calls"].as_array() {
                for call in calls {
                    body.push_str(&format!(
                        "\n→ {}({})",
                        call["function"]["name"].as_str().unwrap_or("?"),
                        call["function"]["arguments"].as_str().unwrap_or("?")
                    ));
                }
            }
            format!("--- {role}\n{body}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_2_mb_test_log_is_shown_head_and_tail_and_kept_whole_in_scratch() {
    let mut policy = policy();
    // About 2 MB of passing lines, then the failure summary at the very end.
    policy.test = Some(
        "seq -f 'test case %g ... ok' 1 90000; echo 'FAILED tests/answer_test.rs::answer expected 42, got 41'; exit 1"
            .to_owned(),
    );
    let script = developer()
        .then(tool("run_tests", json!({})))
        .then(tool(
            "read_file",
            json!({"path": "scratch:developer-1.txt", "offset": 3, "limit": 2}),
        ))
        .then(tool("finish", json!({"summary": "read the log"})));
    let turn = run(script, ModelProfile::default(), agent(), policy).await;

    assert!(finished(&turn.outcome), "{:?}", turn.outcome);
    let shown = last_tool_result(&turn.requests[1]);
    assert!(shown.len() <= 16 * 1024, "{} bytes shown", shown.len());
    assert!(shown.contains("test case 1 ... ok"), "{shown}");
    assert!(
        shown.contains("FAILED tests/answer_test.rs::answer expected 42, got 41"),
        "the failure summary at the end is kept"
    );
    assert!(shown.contains("scratch:developer-1.txt"), "{shown}");
    let cut_line = shown
        .lines()
        .find(|line| line.starts_with("[… cut:"))
        .unwrap()
        .to_owned();
    let lines = shown.lines().count();
    let head_and_tail: Vec<&str> = shown.lines().take(3).collect();
    insta::assert_snapshot!(
        "truncated_tool_result",
        format!(
            "{} lines shown\nstarts with:\n{}\n...\n{cut_line}",
            lines,
            head_and_tail.join("\n")
        )
    );
    let read_back = last_tool_result(&turn.requests[2]);
    assert!(read_back.contains("3\t"), "{read_back}");
    assert!(read_back.contains("lines 3-4 of"), "{read_back}");
}

#[tokio::test]
async fn a_context_length_400_condenses_the_conversation_and_the_turn_goes_on() {
    let script = developer()
        .then(tool("read_file", json!({"path": "src/lib.rs"})))
        .then(Action::ContextLengthExceeded)
        .then(text(HANDOFF))
        .then(tool("finish", json!({"summary": "done"})));
    let turn = run(script, ModelProfile::default(), agent(), policy()).await;

    assert!(finished(&turn.outcome), "{:?}", turn.outcome);
    assert_eq!(turn.condensations, 1);
    let first = messages(&turn.requests[0]);
    let handoff_request = messages(&turn.requests[2]);
    assert_eq!(
        handoff_request.last().unwrap()["content"],
        HANDOFF_REQUEST,
        "the model is asked for the hand-off"
    );
    assert!(turn.requests[2].body.get("tools").is_none());
    let after = messages(&turn.requests[3]);
    assert_eq!(
        serde_json::to_string(&after[..2]).unwrap(),
        serde_json::to_string(&first[..2]).unwrap(),
        "system prompt and task are byte-identical"
    );
    insta::assert_snapshot!("condensed_conversation", readable(after));
}

#[tokio::test]
async fn a_model_that_never_calls_finish_hands_off_after_its_continuations_with_the_work_kept() {
    let mut agent = agent();
    agent.max_steps = 2;
    agent.turn.continuations = 1;
    let script = developer()
        .then(tool(
            "write_file",
            json!({"path": "src/lib.rs", "content": "pub fn answer() -> u32 {\n    42\n}\n"}),
        ))
        .then(tool("read_file", json!({"path": "src/lib.rs"})))
        .then(text(HANDOFF))
        .then(tool("read_file", json!({"path": "src/lib.rs"})))
        .then(tool("read_file", json!({"path": "src/lib.rs"})))
        .then(text(HANDOFF));
    let turn = run(script, ModelProfile::default(), agent, policy()).await;

    let TurnOutcome::HandedOff(handoff) = &turn.outcome else {
        panic!("{:?}", turn.outcome)
    };
    assert_eq!(
        handoff.reason,
        HandOffReason::StepLimit {
            steps: 6,
            continuations: 1
        }
    );
    assert!(
        handoff.summary.starts_with("## Goal"),
        "{}",
        handoff.summary
    );
    assert!(
        handoff.summary.contains("(harness record): src/lib.rs."),
        "{}",
        handoff.summary
    );
    assert_eq!(turn.report_steps, 6);
    // The continuation starts afresh from the system prompt, the task and the hand-off.
    let continuation = messages(&turn.requests[3]);
    assert_eq!(continuation.len(), 3);
    assert!(
        continuation[2]["content"]
            .as_str()
            .unwrap()
            .contains("continuation 1 of 1")
    );
    assert_eq!(
        std::fs::read_to_string(turn.root.join("src/lib.rs")).unwrap(),
        "pub fn answer() -> u32 {\n    42\n}\n",
        "the work stays in the worktree"
    );
}

#[tokio::test]
async fn the_same_failing_call_is_nudged_at_three_and_handed_off_at_five() {
    let missing = || tool("read_file", json!({"path": "src/missing.rs"}));
    let script = developer()
        .then(missing())
        .then(missing())
        .then(missing())
        .then(missing())
        .then(missing())
        .then(text(HANDOFF));
    let turn = run(script, ModelProfile::default(), agent(), policy()).await;

    let TurnOutcome::HandedOff(handoff) = &turn.outcome else {
        panic!("{:?}", turn.outcome)
    };
    assert_eq!(
        handoff.reason,
        HandOffReason::RepeatedFailingCall {
            tool: "read_file".to_owned(),
            times: 5
        }
    );
    let nudged = messages(&turn.requests[3]).last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(nudged.contains("same `read_file` call 3 times"), "{nudged}");
    assert_eq!(turn.requests.len(), 6);
}

#[tokio::test]
async fn tool_calls_written_as_text_are_explained_and_the_turn_recovers() {
    let calls = Reply::tool_calls([ScriptedToolCall::new(
        "read_file",
        &json!({"path": "src/lib.rs"}),
    )]);
    let script = developer()
        .then(Action::ToolCallsInContent(calls))
        .then(tool("finish", json!({"summary": "done"})));
    let turn = run(script, ModelProfile::default(), agent(), policy()).await;
    assert!(finished(&turn.outcome), "{:?}", turn.outcome);
    let told = messages(&turn.requests[1]).last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(told.contains("tool-calling interface"), "{told}");
}

#[tokio::test]
async fn malformed_json_arguments_get_an_error_result_and_the_turn_recovers() {
    let script = developer()
        .then(Action::Reply(Reply::tool_calls([ScriptedToolCall::raw(
            "read_file",
            "{\"path\": \"src/lib.rs\"",
        )])))
        .then(tool("finish", json!({"summary": "done"})));
    let turn = run(script, ModelProfile::default(), agent(), policy()).await;
    assert!(finished(&turn.outcome), "{:?}", turn.outcome);
    let result = last_tool_result(&turn.requests[1]);
    assert!(result.starts_with("error from `read_file`"), "{result}");
}

#[tokio::test]
async fn a_server_rejecting_parallel_tool_calls_is_answered_without_them() {
    let script = developer()
        .with_server(ServerTraits {
            rejects: vec!["parallel_tool_calls".to_owned()],
            ..ServerTraits::default()
        })
        .then(tool("read_file", json!({"path": "src/lib.rs"})))
        .then(tool("finish", json!({"summary": "done"})));
    let profile = ModelProfile {
        parallel_tool_calls: true,
        ..ModelProfile::default()
    };
    let turn = run(script, profile, agent(), policy()).await;
    assert!(finished(&turn.outcome), "{:?}", turn.outcome);
    assert!(turn.requests[0].refused.is_some());
    assert!(
        turn.requests[1..]
            .iter()
            .all(|request| request.refused.is_none()
                && request.body.get("parallel_tool_calls").is_none())
    );
}

#[tokio::test]
async fn a_model_that_requires_its_reasoning_back_gets_it() {
    let script = developer()
        .with_server(ServerTraits {
            reasoning: true,
            ..ServerTraits::default()
        })
        .then(tool("read_file", json!({"path": "src/lib.rs"})))
        .then(tool("finish", json!({"summary": "done"})));
    let profile = ModelProfile {
        echo_reasoning: Some("reasoning_content".to_owned()),
        ..ModelProfile::default()
    };
    let turn = run(script, profile, agent(), policy()).await;
    assert!(finished(&turn.outcome), "{:?}", turn.outcome);
    let sent = messages(&turn.requests[1]);
    assert_eq!(
        sent[2]["reasoning_content"],
        "Reasoning of developer for step 1."
    );
}

#[tokio::test]
async fn an_interrupted_harness_drops_the_model_call_in_flight_and_keeps_the_work() {
    let script = developer()
        .then(tool(
            "write_file",
            json!({"path": "src/lib.rs", "content": "pub fn answer() -> u32 {\n    42\n}\n"}),
        ))
        // A reply that takes a minute, as a real model's may.
        .then_after(
            Duration::from_secs(60),
            tool("finish", json!({"summary": "done"})),
        );
    let repo = repository();
    let workspace =
        workspace_with(repo.path(), policy(), squadron_harness::SandboxMode::Auto).await;
    let (server, model) = serve(script, ModelProfile::default()).await;
    let harness = Harness::new(Arc::new(MemoryRecorder::default()), Arc::new(FixedClock));
    let turn = {
        let harness = harness.clone();
        tokio::spawn(async move {
            harness
                .run_turn(
                    &model,
                    &workspace,
                    &agent(),
                    "Task: make answer() return 42.",
                )
                .await
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while server.requests().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second call never came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let asked = tokio::time::Instant::now();
    harness.interrupt();
    let report = tokio::time::timeout(Duration::from_secs(5), turn)
        .await
        .expect("the turn ends without waiting for the reply")
        .unwrap();

    assert!(asked.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(
            report.outcome,
            TurnOutcome::Failed(TurnFailure::Interrupted)
        ),
        "{:?}",
        report.outcome
    );
    assert_eq!(
        std::fs::read_to_string(repo.path().join("src/lib.rs")).unwrap(),
        "pub fn answer() -> u32 {\n    42\n}\n",
        "the work stays in the worktree"
    );
    let _ = std::fs::remove_dir_all(Scratch::beside(repo.path()).dir());
}

/// A model whose replies are cut off below `reply_tokens`, with an output limit of 1000.
fn long_winded(reply_tokens: u64) -> (Script, ModelProfile) {
    let script = developer().with_server(ServerTraits {
        reply_tokens: Some(reply_tokens),
        ..ServerTraits::default()
    });
    (script, thousand_tokens())
}

/// The Developer's answer: `answer()` returns 42.
fn write_answer() -> Action {
    tool(
        "write_file",
        json!({"path": "src/lib.rs", "content": "pub fn answer() -> u32 {\n    42\n}\n"}),
    )
}

/// A model with an output limit of 1000 tokens.
fn thousand_tokens() -> ModelProfile {
    ModelProfile {
        limits: ModelLimits {
            max_output_tokens: 1000,
            ..ModelLimits::CONSERVATIVE
        },
        ..ModelProfile::default()
    }
}

fn output_limits(requests: &[RecordedRequest]) -> Vec<u64> {
    requests
        .iter()
        .map(|request| request.body["max_tokens"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_reply_cut_off_at_the_output_limit_is_asked_again_with_a_higher_one() {
    let (script, profile) = long_winded(3000);
    let script = script
        .then(write_answer())
        .then(tool("finish", json!({"summary": "done"})));
    let turn = run(script, profile, agent(), policy()).await;

    assert!(finished(&turn.outcome), "{:?}", turn.outcome);
    assert_eq!(output_limits(&turn.requests), [1000, 2000, 4000, 4000]);
    // Asked again as it was: the same messages byte for byte, so the cache still serves them.
    let sent = |index: usize| serde_json::to_string(messages(&turn.requests[index])).unwrap();
    assert_eq!(sent(0), sent(1));
    assert_eq!(sent(1), sent(2));
    assert_eq!(turn.billed, 4, "the cut-off replies are metered too");
    assert_eq!(
        std::fs::read_to_string(turn.root.join("src/lib.rs")).unwrap(),
        "pub fn answer() -> u32 {\n    42\n}\n"
    );
}

#[tokio::test]
async fn a_reply_too_long_for_any_allowed_limit_is_asked_for_in_parts_then_reported() {
    let (script, profile) = long_winded(100_000);
    let script = script.then(tool(
        "write_file",
        json!({"path": "src/lib.rs", "content": "pub fn answer() -> u32 {\n    42\n}\n"}),
    ));
    let turn = run(script, profile, agent(), policy()).await;

    let TurnOutcome::Failed(failure @ TurnFailure::UnusableReply { .. }) = &turn.outcome else {
        panic!("{:?}", turn.outcome)
    };
    assert!(failure.to_string().contains("cut off"), "{failure}");
    // Raised to four times the model's own limit, then told to reply with less, twice.
    assert_eq!(
        output_limits(&turn.requests),
        [1000, 2000, 4000, 4000, 4000]
    );
    let told = messages(&turn.requests[3]).last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        told.contains("cut off at the output limit (4000 tokens)") && told.contains("in parts"),
        "{told}"
    );
    assert_eq!(turn.billed, 5);
}

/// The last message of the request, as the model was told.
fn last_said(request: &RecordedRequest) -> String {
    messages(request).last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_reply_looping_until_it_was_cut_off_is_not_asked_again_at_a_higher_limit() {
    // Small models go round in a loop: a higher limit would only buy a longer loop.
    let profile = thousand_tokens();
    let script = developer()
        .then(Action::Reply(
            Reply::text(format!(
                "Let me look at the code first. {}",
                "I will read the file src/lib.rs to understand it. ".repeat(60)
            ))
            .finish_reason("length"),
        ))
        .then(write_answer())
        .then(tool("finish", json!({"summary": "done"})));
    let turn = run(script, profile, agent(), policy()).await;

    assert!(finished(&turn.outcome), "{:?}", turn.outcome);
    assert_eq!(output_limits(&turn.requests), [1000, 1000, 1000]);
    let told = last_said(&turn.requests[1]);
    assert!(
        told.contains("went round in a loop")
            && told.contains("(1000 tokens)")
            && told.contains("Do not repeat yourself"),
        "{told}"
    );
    assert_eq!(turn.billed, 3, "the looping reply is metered too");
}

#[tokio::test]
async fn a_model_that_keeps_looping_ends_the_turn_as_unusable_without_raising_the_limit() {
    let profile = thousand_tokens();
    let looping = || Action::Reply(Reply::text("\n".repeat(2000)).finish_reason("length"));
    let script = developer().then(looping()).then(looping()).then(looping());
    let turn = run(script, profile, agent(), policy()).await;

    let TurnOutcome::Failed(failure @ TurnFailure::UnusableReply { .. }) = &turn.outcome else {
        panic!("{:?}", turn.outcome)
    };
    assert!(failure.to_string().contains("over and over"), "{failure}");
    assert!(
        output_limits(&turn.requests)
            .iter()
            .all(|limit| *limit == 1000),
        "{:?}",
        output_limits(&turn.requests)
    );
}

/// A turn against a model with a 1000-token output limit whose replies need `reply_tokens`
/// and come at `tokens_per_second`, its calls timing out after `timeout`.
async fn run_paced(reply_tokens: u64, tokens_per_second: u64, timeout: Duration) -> Turn {
    let script = developer()
        .with_server(ServerTraits {
            reply_tokens: Some(reply_tokens),
            tokens_per_second: Some(tokens_per_second),
            ..ServerTraits::default()
        })
        .then(write_answer());
    run_timed(script, thousand_tokens(), agent(), policy(), timeout).await
}

#[tokio::test]
async fn a_longer_reply_that_would_not_come_before_the_timeout_is_not_asked_for() {
    // The real run's case: a slow model whose reply at twice the limit would pass the call's
    // timeout. It writes 800 tokens a second, so its cut-off 1000 tokens took 1.25 s, and
    // calls time out after 1.5 s: even 1200 tokens would not come in time.
    let turn = run_paced(3000, 800, Duration::from_millis(1500)).await;

    let TurnOutcome::Failed(failure @ TurnFailure::UnusableReply { .. }) = &turn.outcome else {
        panic!("{:?}", turn.outcome)
    };
    assert!(failure.to_string().contains("cut off"), "{failure}");
    // Never raised: told twice to reply with less, then reported.
    assert_eq!(output_limits(&turn.requests), [1000, 1000, 1000]);
    let told = last_said(&turn.requests[1]);
    assert!(
        told.contains("cut off at the output limit (1000 tokens)") && told.contains("in parts"),
        "{told}"
    );
}

#[tokio::test]
async fn raised_limits_are_asked_only_while_the_turn_has_time_for_them() {
    // 2000 tokens a second and a 2.75 s timeout, which is also the turn's time for raised
    // limits: a call may then be expected to write 4400 tokens (80% of the timeout), more
    // than four times the limit. The cut-off 1000 tokens take 0.5 s, so 2000 are asked
    // (1 s); then only about 1.75 s of the turn's time are left, so the next is asked for
    // about 3500, not 4000, and then no more. (Under load the calls take longer and the
    // time left may allow no raise at all; it never allows 4000.)
    let turn = run_paced(100_000, 2000, Duration::from_millis(2750)).await;

    assert!(
        matches!(
            turn.outcome,
            TurnOutcome::Failed(TurnFailure::UnusableReply { .. })
        ),
        "{:?}",
        turn.outcome
    );
    let limits = output_limits(&turn.requests);
    assert_eq!(limits[..2], [1000, 2000], "{limits:?}");
    assert!(
        (2000..4000).contains(&limits[2]),
        "the third is bounded by the time left: {limits:?}"
    );
    assert!(
        limits[3..].iter().all(|limit| *limit == limits[2]),
        "then the model is asked for less: {limits:?}"
    );
    assert!(
        last_said(&turn.requests[3]).contains("in parts"),
        "{}",
        last_said(&turn.requests[3])
    );
}

#[tokio::test]
async fn older_tool_results_are_elided_before_the_window_fills() {
    let mut policy = policy();
    // Each result is about 2,800 tokens; the prompt passes the threshold (about 11k tokens)
    // with the fourth, and eliding the first is enough.
    policy.test = Some("seq -f 'line %g of a long test log' 1 300; exit 1".to_owned());
    let script = developer()
        .then(tool("run_tests", json!({})))
        .then(tool("run_tests", json!({})))
        .then(tool("run_tests", json!({})))
        .then(tool("run_tests", json!({})))
        .then(tool("finish", json!({"summary": "done"})));
    let profile = ModelProfile {
        limits: ModelLimits {
            context_window: 15_600,
            max_output_tokens: 1_000,
            encoding: squadron_core::ports::TokenEncoding::Estimate,
        },
        ..ModelProfile::default()
    };
    let turn = run(script, profile, agent(), policy).await;
    assert!(finished(&turn.outcome), "{:?}", turn.outcome);
    let last = messages(turn.requests.last().unwrap());
    let first_result = last
        .iter()
        .find(|message| message["role"] == "tool")
        .unwrap()["content"]
        .as_str()
        .unwrap();
    assert!(
        first_result.starts_with("[elided to save context: the result of `run_tests` {}"),
        "{} requests, last of {} bytes: {first_result}",
        turn.requests.len(),
        turn.requests.last().unwrap().raw_body.len()
    );
    assert!(
        first_result.contains("scratch:developer-1.txt"),
        "{first_result}"
    );
    assert_eq!(turn.condensations, 0);
    // System, task, four calls with their results, and the nudge after the third identical
    // failing run: elision keeps the conversation, it does not condense it.
    assert_eq!(
        last.len(),
        11,
        "elision keeps the conversation, it does not condense it"
    );
    let later_results = last
        .iter()
        .filter(|message| message["role"] == "tool")
        .skip(1);
    assert!(
        later_results
            .map(|message| message["content"].as_str().unwrap())
            .all(|content| content.starts_with("Tests `"))
    );
}
