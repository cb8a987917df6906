//! Status logs for operators: every event kind is one JSON line whose own fields and spans
//! carry the run, squad, issue, phase, round and PR (and the role, for an agent's events),
//! captured through the same JSON format the binary writes.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use squadron_core::ports::{ChatMessage, ChatModel, ChatReply, ChatRequest, PortError};
use squadron_core::{Phase, Role, RunId, Usd};
use squadron_pipeline::log_events::{
    BUDGET_EXCEEDED, GATE_DECISION, MERGED, PHASE_CHANGED, RETRY, REVIEW_VERDICT,
};
use squadron_pipeline::{Pipeline, PipelineSettings, Services, SquadView};

use crate::support::{ReviewScript, ScriptedModel, URL, World, issue};

const LIMIT: Duration = Duration::from_secs(180);

/// Log output shared with the subscriber.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Every line with an `event` field, its own fields merged with its spans' fields.
    fn events(&self) -> Vec<Map<String, Value>> {
        self.lines()
            .into_iter()
            .filter(|line| line.contains_key("event"))
            .collect()
    }

    /// Every line saying `message`, its own fields merged with its spans' fields.
    fn saying(&self, message: &str) -> Vec<Map<String, Value>> {
        self.lines()
            .into_iter()
            .filter(|line| line["message"] == message)
            .collect()
    }

    fn lines(&self) -> Vec<Map<String, Value>> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter_map(|line| {
                let mut merged = Map::new();
                for span in line["spans"].as_array().into_iter().flatten() {
                    merged.extend(span.as_object().unwrap().clone());
                }
                merged.extend(line["fields"].as_object()?.clone());
                Some(merged)
            })
            .collect()
    }
}

/// A Developer whose first write in a fix round breaks QA's test, so the test run fails
/// once, with the PR open, and the failure goes back to the agents.
struct WrongFirst {
    inner: Arc<ScriptedModel>,
    wrong: AtomicBool,
}

#[async_trait]
impl ChatModel for WrongFirst {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatReply, PortError> {
        let fixing = request.messages.iter().any(|message| {
            matches!(message, ChatMessage::User { content } if content.contains("address the reviews"))
        });
        let mut reply = self.inner.complete(request).await?;
        if let Some(call) = reply.tool_calls.first_mut()
            && fixing
            && call.name == "write_file"
            && !self.wrong.swap(true, Ordering::Relaxed)
        {
            call.arguments = call.arguments.replace("done", "nope");
        }
        Ok(reply)
    }
}

async fn run(services: Services, settings: PipelineSettings) -> Vec<SquadView> {
    let pipeline = Pipeline::new(services, settings);
    let handle = pipeline.handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(pipeline.run(async move {
        let _ = stopped.await;
    }));
    let run: RunId = handle.start_run(URL).await.unwrap();
    let squads = tokio::time::timeout(LIMIT, handle.wait_run(&run))
        .await
        .expect("the run finishes in time")
        .expect("the runtime keeps running");
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    squads
}

// One thread: the capturing subscriber is the thread's default, and every task of the
// runtime runs on it.
#[tokio::test(flavor = "current_thread")]
async fn every_status_event_is_one_line_with_the_squads_fields() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    // A squad that needs a fix round, fails its tests once in it, and merges.
    let script = ReviewScript {
        reject_first: vec!["ENG-1".to_owned()],
        ..ReviewScript::default()
    };
    let world = World::new(vec![issue(1, &[])], script.clone()).await;
    let mut services = world.services();
    let developer = services.agents.get_mut(&Role::Developer).unwrap();
    developer.model = Arc::new(WrongFirst {
        inner: Arc::clone(&world.models[&Role::Developer]),
        wrong: AtomicBool::new(false),
    });
    let squads = run(services, world.settings("logs-merge")).await;
    assert_eq!(squads[0].phase, Phase::Merged, "{:?}", squads[0].phase);
    // The ended squad's working state went with its clean-up: the runtime holds none.
    let finished = capture.saying("run finished");
    assert_eq!(
        finished.last().map(|line| &line["working_states"]),
        Some(&Value::from(0)),
        "{finished:#?}"
    );
    // The retry and the gate's decision stay in the squad's event log for its page.
    let stored: Vec<(String, Value)> = world
        .store
        .events(&squads[0].squad)
        .await
        .unwrap()
        .into_iter()
        .map(|event| (event.kind, serde_json::from_str(&event.payload).unwrap()))
        .collect();
    let retries: Vec<&Value> = stored
        .iter()
        .filter(|(kind, _)| kind == RETRY)
        .map(|(_, payload)| payload)
        .collect();
    assert_eq!(retries.len(), 1, "{stored:#?}");
    assert_eq!(retries[0]["what"], "tests");
    assert_eq!(retries[0]["attempt"], 2, "the second test run");
    assert!(
        retries[0]["why"]
            .as_str()
            .is_some_and(|why| why.contains("the test command failed")),
        "{retries:?}"
    );
    let gates: Vec<&Value> = stored
        .iter()
        .filter(|(kind, _)| kind == GATE_DECISION)
        .map(|(_, payload)| payload)
        .collect();
    assert_eq!(
        gates.last().map(|gate| &gate["decision"]),
        Some(&Value::from("merge")),
        "{stored:#?}"
    );

    // A squad that runs out of budget in its fix round, with its PR open: implementing
    // costs $0.052, each review $0.013.
    let budget_world = World::new(vec![issue(1, &[])], script).await;
    let mut settings = budget_world.settings("logs-budget");
    // Each call costs $0.013, and a call is made only while it cannot pass the budget with
    // its prompt and a whole reply (about $0.018 more): this one trips in the fix round.
    settings.budgets.squad = Some(Usd::from_dollars(0.085));
    let squads = run(budget_world.services(), settings).await;
    assert!(
        matches!(&squads[0].phase, Phase::NeedsHuman(reason) if reason.contains("over budget")),
        "{:?}",
        squads[0].phase
    );

    let events = capture.events();
    let squad_fields = ["run", "squad", "issue", "phase", "round", "pr"];
    for (kind, extra) in [
        (PHASE_CHANGED, &["from"][..]),
        (REVIEW_VERDICT, &["role", "verdict"][..]),
        (GATE_DECISION, &["decision", "reasons"][..]),
        (MERGED, &["sha", "approved_by"][..]),
        (RETRY, &["what", "attempt"][..]),
        (BUDGET_EXCEEDED, &["role", "spent", "budget"][..]),
    ] {
        let lines: Vec<_> = events.iter().filter(|line| line["event"] == kind).collect();
        assert!(!lines.is_empty(), "no `{kind}` line in {events:#?}");
        let complete = lines.iter().find(|line| {
            // A squad has no PR to name before it opens one: the budget can run out while
            // implementing when the Developer's and QA's calls overlap (how much is in flight
            // at the check depends on timing).
            let before_pr = line["phase"] == "implementing";
            squad_fields
                .iter()
                .filter(|field| !(before_pr && **field == "pr"))
                .chain(extra)
                .all(|field| line.contains_key(*field))
        });
        assert!(
            complete.is_some(),
            "no `{kind}` line carries {squad_fields:?} and {extra:?}: {lines:#?}"
        );
    }
    // Every status line names its squad, whatever its kind.
    for line in &events {
        for field in ["run", "squad", "issue", "phase", "round"] {
            assert!(line.contains_key(field), "{field} missing from {line:?}");
        }
    }
    let verdicts: Vec<_> = events
        .iter()
        .filter(|line| line["event"] == REVIEW_VERDICT)
        .map(|line| (line["role"].clone(), line["verdict"].clone()))
        .collect();
    assert!(
        verdicts.contains(&("code-reviewer".into(), "changes-requested".into())),
        "{verdicts:?}"
    );
    assert!(
        events
            .iter()
            .any(|line| line["event"] == RETRY && line["what"] == "tests"),
        "the failing test run is logged as a retry"
    );
    assert!(
        events
            .iter()
            .any(|line| line["event"] == PHASE_CHANGED && line["phase"] == "merged"),
        "the merge is a phase change too"
    );
}
