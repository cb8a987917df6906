//! Whole turns over real HTTP: the OpenAI-compatible adapter talking to the loopback stand-in
//! model, with the harness executing the scripted tool calls in a real git repository.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use squadron_core::ports::{ChatMessage, SpendScope};
use squadron_core::{ReviewVerdict, Role, SquadId, Usd};
use squadron_harness::{
    AgentSpec, Budgets, Harness, ToolName, ToolRegistry, TurnFailure, TurnOutcome, WriteScope,
};
use squadron_model::{Jitter, OpenAiCompatibleModel, ProviderSettings, RetryPolicy};
use squadron_standin_model::{
    Action, RecordedRequest, Reply, Script, ScriptBook, ScriptedToolCall, ScriptedUsage,
    StandinModel,
};

use crate::support::{FixedClock, MemoryRecorder, git, repository, workspace};
use crate::turn::{developer_agent, prices};

fn tool(name: &str, arguments: serde_json::Value) -> Action {
    Action::Reply(
        Reply::tool_calls([ScriptedToolCall::new(name, &arguments)]).usage(ScriptedUsage {
            prompt_tokens: 1000,
            completion_tokens: 100,
            cached_tokens: Some(600),
        }),
    )
}

async fn standin(script: Script) -> (StandinModel, OpenAiCompatibleModel) {
    let server = StandinModel::start(ScriptBook::new().with(script))
        .await
        .unwrap();
    let mut settings = ProviderSettings::new("local", server.base_url());
    // Waits short enough that retry tests do not sleep for real in any meaningful way.
    settings.retry = RetryPolicy {
        max_tries: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        max_retry_after: Duration::from_secs(1),
        jitter: Jitter::None,
    };
    let model = OpenAiCompatibleModel::new(settings, Arc::new(FixedClock)).unwrap();
    (server, model)
}

fn developer_script() -> Script {
    Script::new("developer").when_system_contains("You are the Developer")
}

/// The raw text of the `messages` array in a request body, without its closing bracket.
fn messages_prefix(request: &RecordedRequest) -> (&str, &str) {
    let raw = request.raw_body.as_str();
    let start = raw.find("\"messages\":[").expect("a messages array") + "\"messages\":[".len();
    let (mut depth, mut in_string, mut escaped) = (1_i32, false, false);
    for (offset, c) in raw[start..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '[' | '{' if !in_string => depth += 1,
            ']' | '}' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return (&raw[..start], &raw[start..start + offset]);
                }
            }
            _ => {}
        }
    }
    panic!("unterminated messages array in {raw}");
}

#[tokio::test]
async fn a_developer_turn_reads_edits_and_finishes() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let script = developer_script()
        .then(tool("read_file", json!({"path": "src/lib.rs"})))
        .then(tool(
            "edit_file",
            json!({"path": "src/lib.rs", "old": "    41", "new": "    42"}),
        ))
        .then(tool(
            "finish",
            json!({"summary": "Return the right answer"}),
        ));
    let (server, model) = standin(script).await;
    let recorder = Arc::new(MemoryRecorder::default());
    let harness = Harness::new(recorder.clone(), Arc::new(FixedClock));

    let report = harness
        .run_turn(
            &model,
            &workspace,
            &developer_agent(),
            "Make answer() return 42.",
        )
        .await;

    let TurnOutcome::Finished {
        summary,
        commit: Some(sha),
    } = &report.outcome
    else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(summary, "Return the right answer");
    assert_eq!(git(repo.path(), &["rev-parse", "HEAD"]).trim(), sha);
    assert_eq!(
        git(repo.path(), &["log", "-1", "--format=%an|%s"]).trim(),
        "Squadron Developer|ENG-7: Return the right answer"
    );
    assert!(
        std::fs::read_to_string(repo.path().join("src/lib.rs"))
            .unwrap()
            .contains("    42")
    );
    assert!(server.unplayed_steps().is_empty());

    // The model saw the file fenced as data, and its request named the provider's model.
    let requests = server.requests_for("developer");
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].body["model"], "dev-model");
    let tool_result = requests[1].body["messages"][3]["content"].as_str().unwrap();
    assert!(
        tool_result.contains("<untrusted-data id=")
            && tool_result.contains("1\tpub fn answer() -> u32 {"),
        "{tool_result}"
    );

    // Transcript and usage rows were persisted as they happened.
    let messages = recorder.messages();
    assert!(matches!(messages[0], ChatMessage::System { .. }));
    assert!(
        matches!(messages[1], ChatMessage::User { ref content } if content == "Make answer() return 42.")
    );
    assert_eq!(messages.len(), 2 + 3 * 2);
    let usage = recorder.usage();
    assert_eq!(usage.len(), 3);
    assert_eq!(usage[0].usage.prompt, 1000);
    assert_eq!(usage[0].usage.cached, 600);
    assert_eq!(usage[0].usage.completion, 100);
    assert_eq!(usage[0].cost, Usd::from_micros(1900));
    assert_eq!(
        (usage[0].role, usage[0].model.as_str()),
        (Role::Developer, "local/dev-model")
    );
    assert_eq!(report.cost, Usd::from_micros(5700));
}

#[tokio::test]
async fn consecutive_requests_share_a_byte_identical_prefix() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let script = developer_script()
        .then(Action::Reply(Reply::tool_calls([
            ScriptedToolCall::new("read_file", &json!({"path": "src/lib.rs"})),
            ScriptedToolCall::new("list_files", &json!({})),
        ])))
        .then(tool(
            "write_file",
            json!({"path": "src/more.rs", "content": "// \"quoted\" ] } text\n"}),
        ))
        .then(tool(
            "edit_file",
            json!({"path": "src/lib.rs", "old": "41", "new": "42"}),
        ))
        .then(tool("finish", json!({"summary": "Done"})));
    let (server, model) = standin(script).await;
    let recorder = Arc::new(MemoryRecorder::default());
    let report = Harness::new(recorder, Arc::new(FixedClock))
        .run_turn(&model, &workspace, &developer_agent(), "Task")
        .await;
    assert!(
        matches!(report.outcome, TurnOutcome::Finished { .. }),
        "{:?}",
        report.outcome
    );
    let requests = server.requests_for("developer");
    assert_eq!(requests.len(), 4);
    for pair in requests.windows(2) {
        let (head_before, messages_before) = messages_prefix(&pair[0]);
        let (head_after, messages_after) = messages_prefix(&pair[1]);
        assert_eq!(head_before, head_after);
        assert!(messages_after.len() > messages_before.len());
        assert!(
            messages_after.starts_with(messages_before),
            "request prefix changed:\n{messages_before}\n---\n{messages_after}"
        );
    }
}

fn reviewer_agent() -> AgentSpec {
    AgentSpec {
        role: Role::CodeReviewer,
        model: "local/review-model".to_owned(),
        system_prompt: "You are the Code Reviewer.".to_owned(),
        tools: ToolRegistry::new(
            Role::CodeReviewer,
            &[ToolName::ReadFile, ToolName::GitDiff],
            WriteScope::Nothing,
        ),
        prices: prices(),
        max_steps: 5,
        commit_on_finish: false,
        turn: squadron_harness::TurnSettings::default(),
    }
}

#[tokio::test]
async fn a_continued_conversation_resends_every_earlier_byte_and_appends_the_follow_up() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let verdict = |verdict: &str| {
        tool(
            "submit_review",
            json!({"verdict": verdict, "summary": "Round.", "comments": []}),
        )
    };
    let script = Script::new("reviewer")
        .then(tool("git_diff", json!({})))
        .then(verdict("request_changes"))
        .then(tool("read_file", json!({"path": "src/lib.rs"})))
        .then(verdict("approve"));
    let (server, model) = standin(script).await;
    let recorder = Arc::new(MemoryRecorder::default());
    let harness = Harness::new(recorder.clone(), Arc::new(FixedClock));
    let agent = reviewer_agent();
    let first = harness
        .run_turn(&model, &workspace, &agent, "Review round 1.")
        .await;
    assert!(matches!(first.outcome, TurnOutcome::Reviewed(_)));
    let kept = first
        .conversation
        .expect("a reviewed turn keeps its conversation");
    assert!(Harness::can_continue(&agent, &kept));
    let changed = AgentSpec {
        system_prompt: "You are the Code Reviewer, with other guidance.".to_owned(),
        ..reviewer_agent()
    };
    assert!(
        !Harness::can_continue(&changed, &kept),
        "a changed system prompt starts afresh"
    );

    let second = harness
        .continue_turn(&model, &workspace, &agent, &kept, "Review again: round 2.")
        .await;
    let TurnOutcome::Reviewed(review) = &second.outcome else {
        panic!("{:?}", second.outcome)
    };
    assert_eq!(review.verdict, ReviewVerdict::Approved);
    let requests = server.requests_for("reviewer");
    assert_eq!(requests.len(), 4);
    // Every request of the second turn starts with all the first turn sent, byte for byte.
    let (_, last_of_first) = messages_prefix(&requests[1]);
    for request in &requests[2..] {
        let (_, messages) = messages_prefix(request);
        assert!(
            messages.starts_with(last_of_first),
            "the prefix changed:\n{last_of_first}\n---\n{messages}"
        );
    }
    let opening = requests[2].body["messages"].as_array().unwrap();
    let texts: Vec<(&str, &str)> = opening
        .iter()
        .map(|message| {
            (
                message["role"].as_str().unwrap(),
                message["content"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(texts[1], ("user", "Review round 1."));
    assert_eq!(texts[texts.len() - 2].0, "tool");
    assert_eq!(texts[texts.len() - 1], ("user", "Review again: round 2."));
    // The transcript holds the first turn once and the follow-up after it.
    let recorded = recorder.messages();
    let systems = recorded
        .iter()
        .filter(|message| matches!(message, ChatMessage::System { .. }))
        .count();
    assert_eq!(systems, 1);
    assert!(recorded.contains(&ChatMessage::User {
        content: "Review again: round 2.".to_owned()
    }));
}

#[tokio::test]
async fn a_reviewer_turn_submits_a_verdict() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let script = Script::new("reviewer")
        .when_system_contains("You are the Code Reviewer")
        .then(tool("git_diff", json!({})))
        .then(tool(
            "write_file",
            json!({"path": "src/lib.rs", "content": "sneaky"}),
        ))
        .then(tool(
            "submit_review",
            json!({
                "verdict": "request_changes",
                "summary": "The answer is still wrong.",
                "comments": [{"path": "src/lib.rs", "line": 2, "body": "This should be 42."}]
            }),
        ));
    let (server, model) = standin(script).await;
    let agent = reviewer_agent();
    let recorder = Arc::new(MemoryRecorder::default());
    let report = Harness::new(recorder.clone(), Arc::new(FixedClock))
        .run_turn(&model, &workspace, &agent, "Review.")
        .await;
    let TurnOutcome::Reviewed(review) = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(review.verdict, ReviewVerdict::ChangesRequested);
    assert_eq!(review.summary, "The answer is still wrong.");
    assert_eq!(
        (review.comments[0].path.as_str(), review.comments[0].line),
        ("src/lib.rs", 2)
    );
    // The write attempt was refused and nothing changed.
    assert!(
        std::fs::read_to_string(repo.path().join("src/lib.rs"))
            .unwrap()
            .contains("41")
    );
    let requests = server.requests_for("reviewer");
    let tool_names: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(tool_names, ["read_file", "git_diff", "submit_review"]);
    let refusal = requests[2].body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        refusal.contains("refused: `write_file` is not available: the code-reviewer is read-only"),
        "{refusal}"
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_then_the_turn_succeeds() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let script = developer_script()
        .then(Action::RateLimited {
            retry_after: Some("0".to_owned()),
        })
        .then(Action::ServerError { status: 500 })
        .then(tool("finish", json!({"summary": "Nothing needed"})));
    let (server, model) = standin(script).await;
    let mut agent = developer_agent();
    agent.commit_on_finish = false;
    let report = Harness::new(Arc::new(MemoryRecorder::default()), Arc::new(FixedClock))
        .run_turn(&model, &workspace, &agent, "Task")
        .await;
    assert!(
        matches!(report.outcome, TurnOutcome::Finished { ref summary, commit: None } if summary == "Nothing needed"),
        "{:?}",
        report.outcome
    );
    assert_eq!(
        report.steps, 1,
        "retries are the adapter's, not extra turn steps"
    );
    assert_eq!(server.requests_for("developer").len(), 3);
}

#[tokio::test]
async fn malformed_replies_are_explained_to_the_model_then_reported_when_they_go_on() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let calls = Reply::tool_calls([ScriptedToolCall::new(
        "read_file",
        &json!({"path": "src/lib.rs"}),
    )]);
    let script = developer_script()
        .then(Action::ToolCallsInContent(calls.clone()))
        .then(Action::ToolCallsInContent(calls.clone()))
        .then(Action::ToolCallsInContent(calls));
    let (server, model) = standin(script).await;
    let report = Harness::new(Arc::new(MemoryRecorder::default()), Arc::new(FixedClock))
        .run_turn(&model, &workspace, &developer_agent(), "Task")
        .await;
    let TurnOutcome::Failed(failure @ TurnFailure::UnusableReply { .. }) = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    let message = failure.to_string();
    assert!(
        message.contains("local/dev-model") && message.contains("read_file"),
        "{message}"
    );
    let requests = server.requests_for("developer");
    assert_eq!(requests.len(), 3);
    let told = requests[1].body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(told["role"], "user");
    assert!(
        told["content"]
            .as_str()
            .unwrap()
            .starts_with("Your last reply could not be used"),
        "{told}"
    );
}

#[tokio::test]
async fn a_call_whose_projected_cost_would_pass_the_budget_is_not_made() {
    let repo = repository();
    let mut workspace = workspace(repo.path()).await;
    // A whole reply (4096 tokens at $8/M) could cost $0.033: more than this budget.
    workspace.budgets = Budgets {
        squad: Some(Usd::from_micros(3000)),
        run: Some(Usd::from_dollars(10.0)),
    };
    let script = developer_script().then(tool("finish", json!({"summary": "never reached"})));
    let (server, model) = standin(script).await;
    let recorder = Arc::new(MemoryRecorder::default());
    let report = Harness::new(recorder.clone(), Arc::new(FixedClock))
        .run_turn(&model, &workspace, &developer_agent(), "Task")
        .await;
    let TurnOutcome::BudgetExceeded(exceeded) = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(exceeded.scope, SpendScope::Squad(SquadId::new("squad-1")));
    assert_eq!(exceeded.spent, Usd::ZERO);
    assert!(exceeded.next_call > exceeded.budget, "{exceeded:?}");
    assert!(
        exceeded
            .to_string()
            .contains("next model call could cost up to"),
        "{exceeded}"
    );
    assert!(server.requests_for("developer").is_empty());
    assert!(recorder.usage().is_empty());
}
