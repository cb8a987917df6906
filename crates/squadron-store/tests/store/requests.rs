//! The queue through which a daemon hands a request it received to the daemon that runs the
//! work: taken once at a time, answered by its taker only, taken again after a taker's hold
//! lapsed, withdrawn only while nobody holds it.

use squadron_core::lease::{DaemonId, LeaseTerms};
use squadron_core::{IssueKey, Phase, SquadId};
use squadron_store::{ClaimLimits, RequestState, StoreErrorKind};

use crate::support::{TestDb, at, store_with_squads};

pub async fn a_request_is_taken_by_one_daemon_answered_and_read_back(db: TestDb) {
    let store = db.open().await;
    let standby = DaemonId::new("replica-b");
    let runner = DaemonId::new("replica-a");
    let other = DaemonId::new("replica-c");

    let refused = store
        .enqueue_request("start-run", "not json", &standby, None, at(0))
        .await
        .expect_err("a body must be JSON");
    assert_eq!(refused.kind(), StoreErrorKind::Invalid);

    let first = store
        .enqueue_request("start-run", r#"{"url":"u1"}"#, &standby, None, at(0))
        .await
        .expect("record");
    let second = store
        .enqueue_request("reevaluate", r#"{"pr":7}"#, &standby, None, at(1))
        .await
        .expect("record another");
    assert!(second > first, "ids grow in recording order");
    assert_eq!(
        store.request_state(first, at(2)).await.expect("state"),
        RequestState::Waiting
    );

    let taken = store
        .take_requests(&runner, at(2), at(12), 1)
        .await
        .expect("take");
    assert_eq!(taken.len(), 1, "the limit holds: {taken:?}");
    assert_eq!(taken[0].id, first, "oldest first");
    assert_eq!(taken[0].kind, "start-run");
    assert_eq!(taken[0].body, r#"{"url":"u1"}"#);
    assert_eq!(taken[0].received_by, standby);
    assert_eq!(taken[0].received_at, at(0));
    assert_eq!(taken[0].attempts, 1);
    assert_eq!(
        store.request_state(first, at(3)).await.expect("state"),
        RequestState::Taken { by: runner.clone() }
    );
    assert!(
        !store
            .withdraw_request(first, at(3))
            .await
            .expect("withdraw"),
        "a request being carried out is not withdrawn"
    );

    // Held by its taker: another daemon takes only the rest.
    let rest = store
        .take_requests(&other, at(3), at(13), 10)
        .await
        .expect("take the rest");
    let ids: Vec<i64> = rest.iter().map(|request| request.id).collect();
    assert_eq!(ids, [second]);

    assert!(
        !store
            .answer_request(first, &other, r#"{"ok":1}"#, at(4))
            .await
            .expect("answer"),
        "only its taker answers it"
    );
    assert!(
        store
            .answer_request(first, &runner, r#"{"run_id":"r-1"}"#, at(4))
            .await
            .expect("answer")
    );
    assert_eq!(
        store.request_state(first, at(5)).await.expect("state"),
        RequestState::Answered(r#"{"run_id":"r-1"}"#.to_owned())
    );
    assert!(
        !store
            .answer_request(first, &runner, r#"{"run_id":"r-2"}"#, at(5))
            .await
            .expect("answer again"),
        "an answer is written once"
    );
    assert!(
        store
            .take_requests(&other, at(100), at(110), 10)
            .await
            .expect("take")
            .iter()
            .all(|request| request.id != first),
        "an answered request is never taken again"
    );

    assert_eq!(
        store.forget_answered_requests(at(4)).await.expect("forget"),
        0
    );
    assert_eq!(
        store.forget_answered_requests(at(5)).await.expect("forget"),
        1
    );
    assert_eq!(
        store.request_state(first, at(6)).await.expect("state"),
        RequestState::Gone
    );
}

pub async fn a_lapsed_taker_leaves_its_request_to_the_next_and_a_waiting_one_may_be_withdrawn(
    db: TestDb,
) {
    let store = db.open().await;
    let standby = DaemonId::new("replica-b");
    let dead = DaemonId::new("replica-a");
    let next = DaemonId::new("replica-c");
    let id = store
        .enqueue_request("start-fix", r#"{"issue":"ENG-1"}"#, &standby, None, at(0))
        .await
        .expect("record");
    store
        .take_requests(&dead, at(1), at(11), 10)
        .await
        .expect("take");
    assert!(
        store
            .take_requests(&next, at(10), at(20), 10)
            .await
            .expect("take")
            .is_empty(),
        "held until its hold lapses"
    );
    let retaken = store
        .take_requests(&next, at(11), at(21), 10)
        .await
        .expect("take again");
    assert_eq!(retaken.len(), 1);
    assert_eq!(retaken[0].attempts, 2, "the second attempt is counted");
    assert!(
        !store
            .answer_request(id, &dead, r#"{"late":true}"#, at(12))
            .await
            .expect("a late answer"),
        "the first taker lost it"
    );
    assert!(
        store
            .answer_request(id, &next, r#"{"run_id":"r-9"}"#, at(12))
            .await
            .expect("answer")
    );

    let waiting = store
        .enqueue_request(
            "cancel-issue",
            r#"{"issue":"ENG-2"}"#,
            &standby,
            None,
            at(30),
        )
        .await
        .expect("record");
    assert!(
        store
            .withdraw_request(waiting, at(31))
            .await
            .expect("withdraw")
    );
    assert_eq!(
        store.request_state(waiting, at(32)).await.expect("state"),
        RequestState::Gone
    );
    assert!(
        store
            .take_requests(&next, at(33), at(43), 10)
            .await
            .expect("take")
            .is_empty(),
        "a withdrawn request is not carried out"
    );
}

pub async fn daemons_taking_together_take_each_request_once(db: TestDb) {
    let store = db.open().await;
    let standby = DaemonId::new("replica-z");
    for n in 0..40 {
        store
            .enqueue_request(
                "reevaluate",
                &format!(r#"{{"n":{n}}}"#),
                &standby,
                None,
                at(0),
            )
            .await
            .expect("record");
    }
    let takers: Vec<_> = (0..4)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let taker = DaemonId::new(format!("replica-{n}"));
                let mut mine = Vec::new();
                loop {
                    let taken = store
                        .take_requests(&taker, at(1), at(60), 3)
                        .await
                        .expect("take");
                    if taken.is_empty() {
                        return mine;
                    }
                    mine.extend(taken.into_iter().map(|request| request.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for taker in futures::future::join_all(takers).await {
        all.extend(taker.expect("a taker"));
    }
    all.sort_unstable();
    let before = all.len();
    all.dedup();
    assert_eq!(before, all.len(), "no request taken twice");
    assert_eq!(all.len(), 40, "every request taken");
}

pub async fn a_request_for_the_holder_of_a_squad_is_taken_by_that_daemon_alone(db: TestDb) {
    let store = store_with_squads(&db, 3).await;
    let (a, b) = (
        store.for_daemon(DaemonId::new("a")),
        store.for_daemon(DaemonId::new("b")),
    );
    let terms = LeaseTerms::default();
    let limits = |daemon| ClaimLimits {
        daemon,
        cluster: 10,
    };
    // a works ENG-1, b works ENG-2 and ENG-3; ENG-3 then merges.
    assert_eq!(
        a.claim_squads(at(0), terms, limits(1))
            .await
            .expect("claim")
            .len(),
        1
    );
    assert_eq!(
        b.claim_squads(at(0), terms, limits(2))
            .await
            .expect("claim")
            .len(),
        2
    );
    b.set_phase(&SquadId::from("s3"), &Phase::Queued, &Phase::Merged, at(1))
        .await
        .expect("s3 merged");

    let holders = |daemon: &'static str, issue: Option<&'static str>| {
        let store = store.clone();
        async move {
            store
                .squad_holders_besides(
                    &DaemonId::new(daemon),
                    issue.map(IssueKey::from).as_ref(),
                    at(2),
                )
                .await
                .expect("holders")
                .into_iter()
                .map(|holder| holder.to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(holders("c", None).await, ["a", "b"]);
    assert_eq!(holders("a", None).await, ["b"], "never the asking daemon");
    assert_eq!(holders("a", Some("ENG-2")).await, ["b"]);
    assert_eq!(holders("b", Some("ENG-2")).await, Vec::<String>::new());
    assert_eq!(
        holders("a", Some("ENG-3")).await,
        Vec::<String>::new(),
        "nobody works a merged squad"
    );
    let lapsed = at(2) + terms.ttl();
    assert!(
        store
            .squad_holders_besides(&DaemonId::new("c"), None, lapsed)
            .await
            .expect("holders")
            .is_empty(),
        "a lapsed lease holds nothing"
    );

    // c received news of ENG-2 for b: only b takes it; an unaddressed one anybody may.
    let c = DaemonId::new("c");
    let for_b = store
        .enqueue_request(
            "reevaluate",
            r#"{"pr":2}"#,
            &c,
            Some(&DaemonId::new("b")),
            at(3),
        )
        .await
        .expect("record");
    let for_anyone = store
        .enqueue_request("start-run", r#"{"url":"u"}"#, &c, None, at(3))
        .await
        .expect("record");
    let by_a = store
        .take_requests(&DaemonId::new("a"), at(4), at(14), 10)
        .await
        .expect("take");
    assert_eq!(
        by_a.iter().map(|request| request.id).collect::<Vec<_>>(),
        [for_anyone]
    );
    let by_b = store
        .take_requests(&DaemonId::new("b"), at(4), at(14), 10)
        .await
        .expect("take");
    assert_eq!(
        by_b.iter().map(|request| request.id).collect::<Vec<_>>(),
        [for_b]
    );

    // Left untaken (its daemon stopped), an addressed request is forgotten after a while;
    // taken ones and unaddressed ones are not.
    let for_gone = store
        .enqueue_request(
            "reevaluate",
            r#"{"pr":1}"#,
            &c,
            Some(&DaemonId::new("gone")),
            at(5),
        )
        .await
        .expect("record");
    assert_eq!(
        store
            .forget_unclaimed_addressed_requests(at(6))
            .await
            .expect("forget"),
        1
    );
    assert_eq!(
        store.request_state(for_gone, at(7)).await.expect("state"),
        RequestState::Gone
    );
    assert_eq!(
        store.request_state(for_b, at(7)).await.expect("state"),
        RequestState::Taken {
            by: DaemonId::new("b")
        }
    );
}
