//! The turn loop against an in-memory model: outcomes, persistence, metering, budgets,
//! unusable replies and the append-only conversation.

use std::sync::Arc;

use serde_json::json;
use squadron_core::ports::model::UnusableReply;
use squadron_core::ports::{
    ChatMessage, ChatReply, FinishReason, ModelLimits, PortError, PortErrorKind, SpendScope,
    ToolCall,
};
use squadron_core::{Role, SquadId, TokenPrices, TokenUsage, Usd};
use squadron_harness::{
    AgentSpec, Budgets, HandOffReason, Harness, ToolName, ToolRegistry, TurnFailure, TurnOutcome,
    TurnSettings, WriteScope,
};

use crate::support::{FakeModel, FixedClock, MemoryRecorder, call, repository, workspace};

pub fn prices() -> TokenPrices {
    TokenPrices {
        input_per_million: 2.0,
        cached_input_per_million: 0.5,
        output_per_million: 8.0,
    }
}

pub fn developer_agent() -> AgentSpec {
    AgentSpec {
        role: Role::Developer,
        model: "local/dev-model".to_owned(),
        system_prompt: "You are the Developer.".to_owned(),
        tools: ToolRegistry::new(
            Role::Developer,
            &[
                ToolName::ReadFile,
                ToolName::EditFile,
                ToolName::WriteFile,
                ToolName::RunTests,
            ],
            WriteScope::Anything,
        ),
        prices: prices(),
        max_steps: 10,
        commit_on_finish: true,
        turn: TurnSettings::default(),
    }
}

fn reply(calls: Vec<ToolCall>) -> Result<ChatReply, PortError> {
    Ok(ChatReply {
        content: None,
        tool_calls: calls,
        finish_reason: FinishReason::ToolCalls,
        usage: TokenUsage {
            prompt: 1000,
            cached: 600,
            completion: 100,
        },
        model: "dev-model".to_owned(),
        reasoning: None,
    })
}

fn harness(recorder: &Arc<MemoryRecorder>) -> Harness {
    Harness::new(recorder.clone(), Arc::new(FixedClock))
}

#[tokio::test]
async fn tests_failing_at_finish_keep_the_turn_going_until_fixed() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let recorder = Arc::new(MemoryRecorder::default());
    let model = FakeModel::new([
        reply(vec![call(
            "a",
            "finish",
            json!({"summary": "Done already"}),
        )]),
        reply(vec![call(
            "b",
            "edit_file",
            json!({"path": "src/lib.rs", "old": "41", "new": "42"}),
        )]),
        reply(vec![
            call("c", "finish", json!({"summary": "Return 42"})),
            call("d", "read_file", json!({"path": "src/lib.rs"})),
        ]),
    ]);
    let report = harness(&recorder)
        .run_turn(&model, &workspace, &developer_agent(), "Fix the answer.")
        .await;
    let TurnOutcome::Finished {
        summary,
        commit: Some(_),
    } = &report.outcome
    else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(summary, "Return 42");
    assert_eq!(report.steps, 3);
    let messages = recorder.messages();
    let ChatMessage::Tool {
        content: refused, ..
    } = &messages[3]
    else {
        panic!("{messages:?}")
    };
    assert!(refused.contains("refused: the tests fail"), "{refused}");
    let ChatMessage::Tool {
        tool_call_id,
        content,
    } = messages.last().unwrap()
    else {
        panic!()
    };
    assert_eq!(tool_call_id, "d");
    assert!(content.contains("not run: the turn ended with `finish`"));
    // Three calls of 400 uncached, 600 cached, 100 completion tokens each.
    assert_eq!(
        report.usage,
        TokenUsage {
            prompt: 3000,
            cached: 1800,
            completion: 300
        }
    );
    assert_eq!(report.cost, Usd::from_micros(3 * (800 + 300 + 800)));
}

#[tokio::test]
async fn unusable_replies_are_explained_then_fail_clearly_when_they_go_on() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let recorder = Arc::new(MemoryRecorder::default());
    let unusable = || {
        Err(
            PortError::new(PortErrorKind::Invalid, "use the reply of local/dev-model").with_source(
                UnusableReply::ToolCallsInContent {
                    tools: vec!["read_file".to_owned()],
                },
            ),
        )
    };
    let model = FakeModel::new([unusable(), unusable(), unusable()]);
    let report = harness(&recorder)
        .run_turn(&model, &workspace, &developer_agent(), "Task")
        .await;
    let TurnOutcome::Failed(failure @ TurnFailure::UnusableReply { .. }) = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert!(
        failure.to_string().contains("as JSON text in `content`"),
        "{failure}"
    );
    let requests = model.requests.lock().unwrap();
    let ChatMessage::User { content } = requests[1].messages.last().unwrap() else {
        panic!()
    };
    assert!(
        content.starts_with("Your last reply could not be used"),
        "{content}"
    );
    assert!(content.contains("tool-calling interface"), "{content}");
}

#[tokio::test]
async fn transport_failures_end_the_turn_with_the_error() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let recorder = Arc::new(MemoryRecorder::default());
    let model = FakeModel::new([Err(PortError::new(
        PortErrorKind::Transient,
        "reach the model after 4 tries",
    ))]);
    let report = harness(&recorder)
        .run_turn(&model, &workspace, &developer_agent(), "Task")
        .await;
    let TurnOutcome::Failed(TurnFailure::Model { kind, message, .. }) = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(*kind, PortErrorKind::Transient);
    assert_eq!(message, "reach the model after 4 tries");
}

#[tokio::test]
async fn the_budget_stops_the_turn_before_the_next_call() {
    let repo = repository();
    let mut workspace = workspace(repo.path()).await;
    // Input is free here, so a call costs its 100 completion tokens: $0.0008, and projects
    // to that much whatever its prompt. The first call fits $0.0015; the second would pass it.
    workspace.budgets = Budgets {
        squad: Some(Usd::from_dollars(0.0015)),
        run: None,
    };
    let recorder = Arc::new(MemoryRecorder::default());
    let model = FakeModel::new([reply(vec![call(
        "a",
        "read_file",
        json!({"path": "src/lib.rs"}),
    )])])
    .with_limits(ModelLimits {
        max_output_tokens: 100,
        ..ModelLimits::CONSERVATIVE
    });
    let mut agent = developer_agent();
    agent.prices = TokenPrices {
        input_per_million: 0.0,
        cached_input_per_million: 0.0,
        output_per_million: 8.0,
    };
    let report = harness(&recorder)
        .run_turn(&model, &workspace, &agent, "Task")
        .await;
    let TurnOutcome::BudgetExceeded(exceeded) = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(exceeded.scope, SpendScope::Squad(SquadId::new("squad-1")));
    assert_eq!(exceeded.spent, Usd::from_micros(800));
    assert_eq!(exceeded.budget, Usd::from_micros(1500));
    assert_eq!(exceeded.next_call, Usd::from_micros(800));
    assert_eq!(model.requests.lock().unwrap().len(), 1);

    // A run budget already spent elsewhere stops the turn before its first call.
    let mut workspace = workspace.clone();
    workspace.budgets = Budgets {
        squad: None,
        run: Some(Usd::from_dollars(1.0)),
    };
    let recorder = Arc::new(MemoryRecorder::default());
    *recorder.preset_spend.lock().unwrap() = Usd::from_dollars(1.25);
    let model = FakeModel::new([]);
    let report = harness(&recorder)
        .run_turn(&model, &workspace, &developer_agent(), "Task")
        .await;
    let TurnOutcome::BudgetExceeded(exceeded) = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(
        exceeded.to_string(),
        "run run-1 spent $1.2500 of its $1.0000 budget"
    );
    assert!(model.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_model_that_only_talks_is_nudged_then_handed_off() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let recorder = Arc::new(MemoryRecorder::default());
    let mut agent = developer_agent();
    agent.max_steps = 2;
    let chatty = || {
        Ok(ChatReply {
            content: Some("Thinking".to_owned()),
            tool_calls: vec![],
            finish_reason: FinishReason::Stop,
            usage: TokenUsage::default(),
            model: "dev-model".to_owned(),
            reasoning: None,
        })
    };
    agent.max_steps = 10;
    agent.turn.text_only_replies = 2;
    // Two replies in text, then the hand-off the harness asks for.
    let model = FakeModel::new([chatty(), chatty(), chatty()]);
    let report = harness(&recorder)
        .run_turn(&model, &workspace, &agent, "Task")
        .await;
    let TurnOutcome::HandedOff(handoff) = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(handoff.reason, HandOffReason::NoToolCalls { replies: 2 });
    assert!(
        handoff.summary.starts_with("Thinking"),
        "{}",
        handoff.summary
    );
    let requests = model.requests.lock().unwrap();
    let ChatMessage::User { content } = requests[1].messages.last().unwrap() else {
        panic!()
    };
    assert_eq!(
        content,
        "Work only through your tools. When you are done, call `finish`."
    );
}

#[tokio::test]
async fn every_message_and_call_is_persisted_and_requests_only_grow() {
    let repo = repository();
    let workspace = workspace(repo.path()).await;
    let recorder = Arc::new(MemoryRecorder::default());
    let model = FakeModel::new([
        reply(vec![
            call("a", "read_file", json!({"path": "src/lib.rs"})),
            call("b", "run_tests", json!({})),
        ]),
        reply(vec![call(
            "c",
            "edit_file",
            json!({"path": "src/lib.rs", "old": "41", "new": "42"}),
        )]),
        reply(vec![call("d", "finish", json!({"summary": "Return 42"}))]),
    ]);
    let report = harness(&recorder)
        .run_turn(&model, &workspace, &developer_agent(), "Fix the answer.")
        .await;
    assert!(
        matches!(report.outcome, TurnOutcome::Finished { .. }),
        "{:?}",
        report.outcome
    );

    let requests = model.requests.lock().unwrap();
    for pair in requests.windows(2) {
        assert_eq!(
            pair[0].messages[..],
            pair[1].messages[..pair[0].messages.len()]
        );
        assert_eq!(pair[0].tools, pair[1].tools);
    }
    assert_eq!(requests[0].model, "dev-model");
    let ChatMessage::System { content } = &requests[0].messages[0] else {
        panic!()
    };
    assert!(
        content.starts_with("You are the Developer.\n\nText between an `<untrusted-data"),
        "{content}"
    );

    // The transcript is the last request plus the last reply and its tool result.
    let messages = recorder.messages();
    assert_eq!(
        messages[..requests[2].messages.len()],
        requests[2].messages[..]
    );
    assert_eq!(messages.len(), requests[2].messages.len() + 2);
    let usage = recorder.usage();
    assert_eq!(usage.len(), 3);
    assert!(
        usage
            .iter()
            .all(|record| record.role == Role::Developer && record.model == "local/dev-model")
    );
    assert!(
        usage
            .iter()
            .all(|record| record.cost == Usd::from_micros(1900))
    );
}
