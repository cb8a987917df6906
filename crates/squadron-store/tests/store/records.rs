//! Transcripts and model usage, as the agent harness records them.

use squadron_core::ports::{ChatMessage, SpendScope, ToolCall, UsageRecord, UsageTotals};
use squadron_core::{Role, RunId, SquadId, TokenUsage, Usd};
use squadron_store::StoreErrorKind;

use crate::support::{TestDb, at, milestone_run, queued_squad, store_with_squad};

pub async fn transcripts_round_trip_every_message_kind_in_order(db: TestDb) {
    let store = store_with_squad(&db).await;
    let squad = SquadId::from("s1");
    let conversation = [
        (
            Role::Developer,
            ChatMessage::System {
                content: "You are the developer.".into(),
            },
        ),
        (
            Role::Qa,
            ChatMessage::User {
                content: "Write tests for AC-1.".into(),
            },
        ),
        (
            Role::Developer,
            ChatMessage::Assistant {
                content: None,
                tool_calls: vec![
                    ToolCall {
                        id: "call_1".into(),
                        name: "read_file".into(),
                        arguments: r#"{"path":"src/lib.rs"}"#.into(),
                    },
                    ToolCall {
                        id: "call_2".into(),
                        name: "run".into(),
                        arguments: "{not json".into(),
                    },
                ],
                reasoning: None,
            },
        ),
        (
            Role::Developer,
            ChatMessage::Tool {
                tool_call_id: "call_1".into(),
                content: "fn main() {}\n".into(),
            },
        ),
        (
            Role::Qa,
            ChatMessage::Assistant {
                content: Some("Done: ✓ «quoted»".into()),
                tool_calls: Vec::new(),
                reasoning: None,
            },
        ),
    ];
    for (n, (role, message)) in conversation.iter().enumerate() {
        let seq = store
            .append_message(&squad, *role, message, at(n as i64))
            .await
            .unwrap();
        assert_eq!(seq, n as u64 + 1);
    }

    let all = store.transcript(&squad, None).await.unwrap();
    let read: Vec<_> = all
        .iter()
        .map(|entry| (entry.role, entry.message.clone()))
        .collect();
    assert_eq!(read, conversation);
    assert_eq!(all[3].at, at(3));

    let qa = store.transcript(&squad, Some(Role::Qa)).await.unwrap();
    assert_eq!(qa.iter().map(|entry| entry.seq).collect::<Vec<_>>(), [2, 5]);

    let orphan = store
        .append_message(&SquadId::from("s9"), Role::Qa, &conversation[1].1, at(9))
        .await
        .unwrap_err();
    assert_eq!(orphan.kind(), StoreErrorKind::NotFound);
}

pub async fn a_kept_conversation_is_replaced_per_squad_and_role(db: TestDb) {
    let store = store_with_squad(&db).await;
    let squad = SquadId::from("s1");
    assert_eq!(
        store
            .kept_conversation(&squad, Role::Developer)
            .await
            .unwrap(),
        None
    );
    store
        .keep_conversation(&squad, Role::Developer, "implementation", at(1))
        .await
        .unwrap();
    store
        .keep_conversation(&squad, Role::CodeReviewer, "round 1 ✓", at(2))
        .await
        .unwrap();
    store
        .keep_conversation(&squad, Role::Developer, "implementation and fix", at(3))
        .await
        .unwrap();

    let kept = |role| store.kept_conversation(&squad, role);
    assert_eq!(
        kept(Role::Developer).await.unwrap().as_deref(),
        Some("implementation and fix")
    );
    assert_eq!(
        kept(Role::CodeReviewer).await.unwrap().as_deref(),
        Some("round 1 ✓")
    );
    assert_eq!(kept(Role::Qa).await.unwrap(), None);
}

pub async fn usage_sums_per_squad_run_and_role(db: TestDb) {
    let store = store_with_squad(&db).await;
    store
        .create_squad(&queued_squad("s2", "r1", "ENG-2", at(2)))
        .await
        .unwrap();
    store
        .create_squad(&queued_squad("s3", "r1", "ENG-3", at(3)))
        .await
        .unwrap();
    store.create_run(&milestone_run("r2", at(4))).await.unwrap();
    store
        .create_squad(&queued_squad("other", "r2", "ENG-1", at(5)))
        .await
        .unwrap();
    let call = |squad: &str, run: &str, role, prompt, cached, completion, micros| UsageRecord {
        run_id: RunId::from(run),
        squad_id: SquadId::from(squad),
        role,
        model: "openai/gpt-test".into(),
        usage: TokenUsage {
            prompt,
            cached,
            completion,
        },
        cost: Usd::from_micros(micros),
        at: at(10),
    };
    let calls = [
        call("s1", "r1", Role::Developer, 1_000, 200, 300, 1_250),
        call("s1", "r1", Role::Developer, 2_000, 0, 100, 2_500),
        call("s1", "r1", Role::CodeReviewer, 500, 500, 50, 333),
        call("s2", "r1", Role::Qa, 10, 0, 5, 7),
        call("other", "r2", Role::Developer, 99_999, 0, 0, 1_000_000),
    ];
    for record in &calls {
        store.record_usage(record).await.unwrap();
    }

    let s1 = SpendScope::Squad(SquadId::from("s1"));
    let s1_totals = UsageTotals {
        calls: 3,
        usage: TokenUsage {
            prompt: 3_500,
            cached: 700,
            completion: 450,
        },
        cost: Usd::from_micros(4_083),
    };
    assert_eq!(store.usage_totals(&s1).await.unwrap(), s1_totals);
    assert_eq!(store.spent(&s1).await.unwrap(), Usd::from_micros(4_083));
    let run = SpendScope::Run(RunId::from("r1"));
    let run_totals = store.usage_totals(&run).await.unwrap();
    assert_eq!(
        (run_totals.calls, run_totals.cost, run_totals.usage.total()),
        (4, Usd::from_micros(4_090), 3_965)
    );

    let per_role = store.usage_by_role(&run).await.unwrap();
    let summary: Vec<_> = per_role
        .iter()
        .map(|(role, totals)| (*role, totals.calls, totals.cost.as_micros()))
        .collect();
    assert_eq!(
        summary,
        [
            (Role::Developer, 2, 3_750),
            (Role::Qa, 1, 7),
            (Role::CodeReviewer, 1, 333)
        ]
    );

    let idle = SpendScope::Squad(SquadId::from("s3"));
    assert_eq!(
        store.usage_totals(&idle).await.unwrap(),
        UsageTotals::default()
    );
    assert!(store.usage_by_role(&idle).await.unwrap().is_empty());

    // What `squadron status` shows: every squad with its totals, newest run first.
    let overviews = store.squad_overviews(None).await.unwrap();
    let rows: Vec<_> = overviews
        .iter()
        .map(|o| {
            (
                o.record.squad.id.as_str(),
                o.usage.calls,
                o.usage.cost.as_micros(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("other", 1, 1_000_000),
            ("s1", 3, 4_083),
            ("s2", 1, 7),
            ("s3", 0, 0)
        ]
    );
    assert_eq!(overviews[1].usage, s1_totals);
    let of_run = store
        .squad_overviews(Some(&RunId::from("r2")))
        .await
        .unwrap();
    assert_eq!(of_run.len(), 1);

    let orphan = store
        .record_usage(&call("s9", "r1", Role::Qa, 1, 0, 1, 1))
        .await
        .unwrap_err();
    assert_eq!(orphan.kind(), StoreErrorKind::NotFound);
}
