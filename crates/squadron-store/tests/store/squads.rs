//! Runs, squads, phase changes, the event log and the queries built on them.

use std::sync::Arc;

use futures::future::join_all;
use squadron_core::event_payload::EventPayload;
use squadron_core::ports::{
    AdmittedSquad, ChatMessage, RunStatus, SquadChange, SquadEvent, SquadRecord,
};
use squadron_core::{IssueKey, Phase, PrNumber, Role, RunId, RunTrigger, SquadId, SquadKind};
use squadron_store::StoreErrorKind;

use crate::support::{TestDb, at, milestone_run, queued_squad, store_with_squad};

fn s1() -> SquadId {
    SquadId::from("s1")
}

pub async fn runs_round_trip_with_their_triggers_and_status(db: TestDb) {
    let store = db.open().await;
    let milestone = milestone_run("r1", at(0));
    let fix = squadron_core::Run {
        id: RunId::from("r2"),
        trigger: RunTrigger::Fix {
            issue: IssueKey::from("ENG-9"),
            requested_by: "U123".into(),
            slack_channel: Some("C42".into()),
        },
        created_at: at(5),
    };
    let revert = squadron_core::Run {
        id: RunId::from("r3"),
        trigger: RunTrigger::Revert {
            issue: IssueKey::from("ENG-4"),
            requested_by: "cli".into(),
        },
        created_at: at(7),
    };
    store.create_run(&milestone).await.unwrap();
    store.create_run(&fix).await.unwrap();
    store.create_run(&revert).await.unwrap();

    let runs = store.runs().await.unwrap();
    assert_eq!(
        runs.iter().map(|record| &record.run).collect::<Vec<_>>(),
        [&revert, &fix, &milestone]
    );
    assert!(
        runs.iter()
            .all(|record| record.status == RunStatus::Running)
    );

    store
        .set_run_status(&milestone.id, RunStatus::Finished, at(9))
        .await
        .unwrap();
    let record = store.run(&milestone.id).await.unwrap();
    assert_eq!(
        (record.status, record.updated_at),
        (RunStatus::Finished, at(9))
    );

    let duplicate = store.create_run(&milestone).await.unwrap_err();
    assert_eq!(duplicate.kind(), StoreErrorKind::Conflict);
    let missing = store.run(&RunId::from("nope")).await.unwrap_err();
    assert_eq!(missing.kind(), StoreErrorKind::NotFound);
    assert!(missing.to_string().contains("`nope`"), "{missing}");
}

pub async fn squads_round_trip_with_every_field(db: TestDb) {
    let store = db.open().await;
    store.create_run(&milestone_run("r1", at(0))).await.unwrap();
    let mut record = queued_squad("s1", "r1", "ENG-1", at(1));
    record.squad.kind = SquadKind::BugFix;
    record.squad.phase = Phase::NeedsHuman("round cap reached".into());
    record.squad.round = 3;
    record.squad.pr = Some(PrNumber(17));
    record.squad.worktree = Some("/work/trees/eng-1".into());
    record.blocked_by = vec![IssueKey::from("ENG-0"), IssueKey::from("ENG-00")];
    record.starts_after = vec![IssueKey::from("ENG-7")];
    record.updated_at = at(2);
    store.create_squad(&record).await.unwrap();
    let second = queued_squad("s2", "r1", "ENG-2", at(3));
    store.create_squad(&second).await.unwrap();

    assert_eq!(store.squad(&s1()).await.unwrap().squad, record.squad);
    let stored = store.squad(&s1()).await.unwrap();
    assert_eq!(
        (stored.blocked_by, stored.starts_after, stored.issue_id),
        (
            record.blocked_by.clone(),
            record.starts_after.clone(),
            record.issue_id.clone()
        )
    );
    let of_run = store.squads_of_run(&RunId::from("r1")).await.unwrap();
    assert_eq!(
        of_run
            .iter()
            .map(|r| r.squad.id.as_str())
            .collect::<Vec<_>>(),
        ["s1", "s2"]
    );

    // One squad per issue and run; squads belong to a recorded run.
    let same_issue = store
        .create_squad(&queued_squad("s3", "r1", "ENG-1", at(4)))
        .await
        .unwrap_err();
    assert_eq!(same_issue.kind(), StoreErrorKind::Conflict);
    let orphan = store
        .create_squad(&queued_squad("s4", "r9", "ENG-4", at(4)))
        .await
        .unwrap_err();
    assert_eq!(orphan.kind(), StoreErrorKind::NotFound);
    assert!(orphan.to_string().contains("run `r9`"), "{orphan}");
    let missing = store.squad(&SquadId::from("s9")).await.unwrap_err();
    assert_eq!(missing.kind(), StoreErrorKind::NotFound);

    let events = store.events(&s1()).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].kind.as_str(), events[0].seq, events[0].at),
        (SquadEvent::CREATED, 1, at(1))
    );
}

pub async fn phase_change_appends_its_event_in_the_same_step(db: TestDb) {
    let store = store_with_squad(&db).await;
    let event = store
        .set_phase(&s1(), &Phase::Queued, &Phase::Preparing, at(10))
        .await
        .unwrap();
    assert_eq!(event.kind, SquadEvent::PHASE_CHANGED);
    assert_eq!(
        (event.seq, event.phase.clone(), event.at),
        (2, Phase::Preparing, at(10))
    );
    let payload: serde_json::Value = serde_json::from_str(&event.payload).unwrap();
    assert_eq!(payload["from"], "queued");
    assert_eq!(payload["to"], "preparing");

    let failed = Phase::Failed("push refused".into());
    store
        .set_phase(&s1(), &Phase::Preparing, &failed, at(11))
        .await
        .unwrap();
    let record = store.squad(&s1()).await.unwrap();
    assert_eq!(
        (record.squad.phase, record.updated_at),
        (failed.clone(), at(11))
    );
    let events = store.events(&s1()).await.unwrap();
    assert_eq!(events.last().unwrap().phase, failed);
    assert_eq!(events.len(), 3);
}

pub async fn phase_change_refuses_a_stale_expected_phase(db: TestDb) {
    let store = store_with_squad(&db).await;
    store
        .set_phase(&s1(), &Phase::Queued, &Phase::Preparing, at(10))
        .await
        .unwrap();

    let stale = store
        .set_phase(&s1(), &Phase::Queued, &Phase::Cancelled, at(11))
        .await
        .unwrap_err();
    assert_eq!(stale.kind(), StoreErrorKind::Conflict);
    assert!(stale.to_string().contains("it is preparing now"), "{stale}");
    assert_eq!(
        store.squad(&s1()).await.unwrap().squad.phase,
        Phase::Preparing
    );
    assert_eq!(
        store.events(&s1()).await.unwrap().len(),
        2,
        "a refused change logs nothing"
    );

    // The detail is part of the phase: another reason is another phase.
    let reason = Phase::NeedsHuman("over budget".into());
    store
        .set_phase(&s1(), &Phase::Preparing, &reason, at(12))
        .await
        .unwrap();
    let other = Phase::NeedsHuman("round cap".into());
    let refused = store
        .set_phase(&s1(), &other, &Phase::Cancelled, at(13))
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), StoreErrorKind::Conflict);

    let unknown = store
        .set_phase(
            &SquadId::from("s9"),
            &Phase::Queued,
            &Phase::Preparing,
            at(14),
        )
        .await
        .unwrap_err();
    assert_eq!(unknown.kind(), StoreErrorKind::NotFound);
}

pub async fn racing_phase_changes_from_one_phase_let_exactly_one_win(db: TestDb) {
    let store = Arc::new(store_with_squad(&db).await);
    let targets = [
        Phase::Preparing,
        Phase::Cancelled,
        Phase::Skipped("dup".into()),
    ];
    let attempts = (0..12).map(|n| {
        let store = Arc::clone(&store);
        let to = targets[n % targets.len()].clone();
        tokio::spawn(async move { store.set_phase(&s1(), &Phase::Queued, &to, at(20)).await })
    });
    let outcomes: Vec<_> = join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let winners: Vec<_> = outcomes
        .iter()
        .filter_map(|outcome| outcome.as_ref().ok())
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .flat_map(|outcome| outcome.as_ref().err())
            .all(|e| e.kind() == StoreErrorKind::Conflict)
    );
    assert_eq!(
        store.squad(&s1()).await.unwrap().squad.phase,
        winners[0].phase
    );
    assert_eq!(store.events(&s1()).await.unwrap().len(), 2);
}

pub async fn bookkeeping_changes_are_logged_as_events(db: TestDb) {
    let store = store_with_squad(&db).await;
    let changes = [
        (
            SquadChange::Worktree(Some("/trees/eng-1".into())),
            SquadEvent::WORKTREE_CHANGED,
        ),
        (SquadChange::Pr(PrNumber(5)), SquadEvent::PR_LINKED),
        (SquadChange::Round(1), SquadEvent::ROUND_CHANGED),
        (
            SquadChange::Branch("eng-1-retry".into()),
            SquadEvent::BRANCH_CHANGED,
        ),
        (SquadChange::Worktree(None), SquadEvent::WORKTREE_CHANGED),
    ];
    for (n, (change, kind)) in changes.iter().enumerate() {
        let event = store
            .change_squad(&s1(), change, at(30 + n as i64))
            .await
            .unwrap();
        assert_eq!(event.kind, *kind);
    }
    let squad = store.squad(&s1()).await.unwrap().squad;
    assert_eq!(
        (squad.round, squad.pr, squad.branch.as_str(), squad.worktree),
        (1, Some(PrNumber(5)), "eng-1-retry", None)
    );
    let events = store.events(&s1()).await.unwrap();
    assert_eq!(
        events[3].round, 1,
        "events carry the round as of the change"
    );
    assert_eq!(events[2].payload, r#"{"pr":5}"#);

    let missing = store
        .change_squad(&SquadId::from("s9"), &SquadChange::Round(2), at(40))
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), StoreErrorKind::NotFound);
}

pub async fn event_log_keeps_order_under_concurrent_appends(db: TestDb) {
    let store = Arc::new(store_with_squad(&db).await);
    let appends = (0..20).map(|n| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let payload = format!(r#"{{"n":{n}}}"#);
            store
                .append_event(&s1(), "retry", &payload, at(50 + n))
                .await
        })
    });
    for outcome in join_all(appends).await {
        outcome.unwrap().unwrap();
    }
    let events = store.events(&s1()).await.unwrap();
    assert_eq!(
        events.iter().map(|event| event.seq).collect::<Vec<_>>(),
        (1..=21).collect::<Vec<u64>>()
    );
    assert!(
        events[1..]
            .iter()
            .all(|event| event.kind == "retry" && event.phase == Phase::Queued)
    );

    let invalid = store
        .append_event(&s1(), "retry", "not json", at(99))
        .await
        .unwrap_err();
    assert_eq!(invalid.kind(), StoreErrorKind::Invalid);
    let orphan = store
        .append_event(&SquadId::from("s9"), "retry", "{}", at(99))
        .await
        .unwrap_err();
    assert_eq!(orphan.kind(), StoreErrorKind::NotFound);
    assert_eq!(store.events(&s1()).await.unwrap().len(), 21);
}

pub async fn resume_lists_unfinished_squads_oldest_first(db: TestDb) {
    let store = db.open().await;
    store.create_run(&milestone_run("r1", at(0))).await.unwrap();
    store
        .create_run(&milestone_run("r2", at(100)))
        .await
        .unwrap();
    let phases = [
        ("a", "r2", Phase::Reviewing),
        ("b", "r1", Phase::Merged),
        ("c", "r1", Phase::Queued),
        ("d", "r1", Phase::NeedsHuman("round cap".into())),
        ("e", "r2", Phase::Skipped("no scenarios".into())),
        ("f", "r1", Phase::Merging),
        ("g", "r2", Phase::Failed("boom".into())),
        ("h", "r2", Phase::Cancelled),
    ];
    for (n, (id, run, phase)) in phases.iter().enumerate() {
        let mut record = queued_squad(id, run, &format!("ENG-{n}"), at(200 + n as i64));
        record.squad.phase = phase.clone();
        store.create_squad(&record).await.unwrap();
    }
    let unfinished = store.unfinished_squads().await.unwrap();
    assert_eq!(
        unfinished
            .iter()
            .map(|r| r.squad.id.as_str())
            .collect::<Vec<_>>(),
        ["a", "c", "f"]
    );

    store
        .set_phase(
            &SquadId::from("f"),
            &Phase::Merging,
            &Phase::Merged,
            at(300),
        )
        .await
        .unwrap();
    let unfinished = store.unfinished_squads().await.unwrap();
    assert_eq!(
        unfinished
            .iter()
            .map(|r| r.squad.id.as_str())
            .collect::<Vec<_>>(),
        ["a", "c"]
    );
}

pub async fn logs_find_a_squad_by_id_or_issue_key_newest_run_first(db: TestDb) {
    let store = db.open().await;
    store
        .create_run(&milestone_run("old", at(0)))
        .await
        .unwrap();
    store
        .create_run(&milestone_run("new", at(100)))
        .await
        .unwrap();
    // The newer run's squad was created first, so only the run's age can pick it.
    store
        .create_squad(&queued_squad("s-new", "new", "ENG-7", at(150)))
        .await
        .unwrap();
    store
        .create_squad(&queued_squad("s-old", "old", "ENG-7", at(160)))
        .await
        .unwrap();

    assert_eq!(
        store.find_squad("ENG-7").await.unwrap().squad.id.as_str(),
        "s-new"
    );
    assert_eq!(
        store.find_squad("eng-7").await.unwrap().squad.id.as_str(),
        "s-new"
    );
    assert_eq!(
        store.find_squad("s-old").await.unwrap().squad.id.as_str(),
        "s-old"
    );
    let missing = store.find_squad("ENG-404").await.unwrap_err();
    assert_eq!(missing.kind(), StoreErrorKind::NotFound);
    assert!(missing.to_string().contains("`ENG-404`"), "{missing}");
    assert!(missing.to_string().contains("squadron status"), "{missing}");

    let new = SquadId::from("s-new");
    store
        .set_phase(&new, &Phase::Queued, &Phase::Preparing, at(170))
        .await
        .unwrap();
    let message = ChatMessage::User {
        content: "implement ENG-7".into(),
    };
    store
        .append_message(&new, Role::Developer, &message, at(171))
        .await
        .unwrap();
    let log = store.squad_log("ENG-7").await.unwrap();
    assert_eq!(log.record.squad.id, new);
    assert_eq!(
        log.events
            .iter()
            .map(|e| e.kind.as_str())
            .collect::<Vec<_>>(),
        [SquadEvent::CREATED, SquadEvent::PHASE_CHANGED]
    );
    assert_eq!(log.transcript.len(), 1);
    assert_eq!(log.transcript[0].message, message);
}

pub async fn an_admission_records_its_run_and_every_squad_together_or_nothing(db: TestDb) {
    let store = db.open().await;
    let admitted =
        |record: SquadRecord, events: Vec<EventPayload>| AdmittedSquad { record, events };
    let mut skipped = queued_squad("s2", "r1", "ENG-2", at(0));
    skipped.squad.phase = Phase::Skipped("no acceptance criteria".into());
    let comment = EventPayload::PendingComment {
        issue: IssueKey::from("ENG-2"),
        marker: "m1".to_owned(),
        body: "Squadron skipped this issue".to_owned(),
    };
    // The last squad repeats the first one's id: the whole admission is refused, and
    // nothing of it may be left behind, the run and the first squad included.
    let mut repeated = skipped.clone();
    repeated.squad.id = SquadId::from("s1");
    let broken = [
        admitted(queued_squad("s1", "r1", "ENG-1", at(0)), Vec::new()),
        admitted(repeated, vec![comment.clone()]),
    ];
    let run = milestone_run("r1", at(0));
    let refused = store.admit_run(&run, &broken).await.unwrap_err();
    assert_eq!(refused.kind(), StoreErrorKind::Conflict, "{refused}");
    assert_eq!(
        store.run(&run.id).await.unwrap_err().kind(),
        StoreErrorKind::NotFound,
        "no run without its squads"
    );
    assert!(store.squads_of_run(&run.id).await.unwrap().is_empty());
    assert!(store.unfinished_squads().await.unwrap().is_empty());

    let whole = [
        admitted(queued_squad("s1", "r1", "ENG-1", at(0)), Vec::new()),
        admitted(skipped, vec![comment.clone()]),
    ];
    store.admit_run(&run, &whole).await.unwrap();
    assert_eq!(store.run(&run.id).await.unwrap().status, RunStatus::Running);
    let phases: Vec<(String, Phase)> = store
        .squads_of_run(&run.id)
        .await
        .unwrap()
        .into_iter()
        .map(|record| (record.squad.id.to_string(), record.squad.phase))
        .collect();
    assert_eq!(
        phases,
        [
            ("s1".to_owned(), Phase::Queued),
            (
                "s2".to_owned(),
                Phase::Skipped("no acceptance criteria".into())
            ),
        ]
    );
    let resumed: Vec<String> = store
        .unfinished_squads()
        .await
        .unwrap()
        .into_iter()
        .map(|record| record.squad.id.to_string())
        .collect();
    assert_eq!(resumed, ["s1"], "a restart resumes only the admitted squad");
    let events: Vec<(String, String, Option<EventPayload>)> = store
        .events(&SquadId::from("s2"))
        .await
        .unwrap()
        .into_iter()
        .map(|event| (event.kind, event.payload, event.note))
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].0, SquadEvent::CREATED);
    assert_eq!(events[0].2, None, "the store's own events are no payload");
    assert_eq!(
        events[1],
        (
            "pending-comment".to_owned(),
            r#"{"body":"Squadron skipped this issue","issue":"ENG-2","marker":"m1"}"#.to_owned(),
            Some(comment)
        )
    );
    let again = store.admit_run(&run, &whole).await.unwrap_err();
    assert_eq!(again.kind(), StoreErrorKind::Conflict, "{again}");
}
