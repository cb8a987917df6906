//! The side-effect journal: every external action claimed once under its idempotency key.

use std::sync::Arc;

use futures::future::join_all;
use squadron_core::SquadId;
use squadron_core::ports::{JournalBegin, JournalStatus};
use squadron_store::{SqlStore, StoreErrorKind};

use crate::support::{TestDb, at, store_with_squad};

const KEY: &str = "squad/s1/open-pr";

fn s1() -> SquadId {
    SquadId::from("s1")
}

/// `callers` tasks call `journal_begin` on [`KEY`] at once.
async fn race(store: &Arc<SqlStore>, callers: usize) -> Vec<JournalBegin<String>> {
    let begins = (0..callers).map(|_| {
        let store = Arc::clone(store);
        tokio::spawn(async move {
            store
                .journal_begin(KEY, Some(&s1()), "open-pr", at(10))
                .await
        })
    });
    join_all(begins)
        .await
        .into_iter()
        .map(|joined| joined.unwrap().unwrap())
        .collect()
}

fn begun(outcomes: &[JournalBegin<String>]) -> Vec<&JournalBegin<String>> {
    outcomes
        .iter()
        .filter(|outcome| matches!(outcome, JournalBegin::Begun { .. }))
        .collect()
}

pub async fn racing_callers_on_one_key_exactly_one_begins(db: TestDb) {
    let store = Arc::new(store_with_squad(&db).await);
    // Two stores on one database stand for two daemons sharing it.
    let other_daemon = Arc::new(db.open().await);
    let (here, there) = tokio::join!(race(&store, 8), race(&other_daemon, 8));
    let outcomes: Vec<_> = here.into_iter().chain(there).collect();

    assert_eq!(
        begun(&outcomes),
        [&JournalBegin::Begun { attempt: 1 }],
        "{outcomes:?}"
    );
    assert!(
        outcomes.iter().all(|outcome| matches!(
            outcome,
            JournalBegin::Begun { .. } | JournalBegin::InProgress(_)
        )),
        "{outcomes:?}"
    );
    let entry = store.journal_entry(KEY).await.unwrap().unwrap();
    assert_eq!(
        (entry.status, entry.attempts, entry.squad_id),
        (JournalStatus::Pending, 1, Some(s1()))
    );
}

pub async fn a_done_effect_is_never_begun_again(db: TestDb) {
    let store = Arc::new(store_with_squad(&db).await);
    assert_eq!(race(&store, 1).await, [JournalBegin::Begun { attempt: 1 }]);
    store.journal_complete(KEY, "pr 17", at(11)).await.unwrap();

    let outcomes = race(&store, 6).await;
    assert!(
        outcomes
            .iter()
            .all(|o| *o == JournalBegin::AlreadyDone("pr 17".into())),
        "{outcomes:?}"
    );
    let entry = store.journal_entry(KEY).await.unwrap().unwrap();
    assert_eq!(
        (entry.status, entry.result.as_deref(), entry.updated_at),
        (JournalStatus::Done, Some("pr 17"), at(11))
    );

    let again = store
        .journal_complete(KEY, "pr 18", at(12))
        .await
        .unwrap_err();
    assert_eq!(again.kind(), StoreErrorKind::Conflict);
    assert!(
        again.to_string().contains("it is done, not pending"),
        "{again}"
    );
    let failing_late = store.journal_fail(KEY, "oops", at(12)).await.unwrap_err();
    assert_eq!(failing_late.kind(), StoreErrorKind::Conflict);
}

pub async fn a_pending_effect_is_reported_in_progress_for_reconciliation(db: TestDb) {
    let store = store_with_squad(&db).await;
    store
        .journal_begin(KEY, Some(&s1()), "open-pr", at(10))
        .await
        .unwrap();
    store.close().await;

    // The daemon died mid-effect; after a restart the key says "find out what happened".
    let restarted = db.open().await;
    let JournalBegin::InProgress(entry) = restarted
        .journal_begin(KEY, Some(&s1()), "open-pr", at(20))
        .await
        .unwrap()
    else {
        panic!("a pending key must be reported in progress");
    };
    assert_eq!(
        (entry.key.as_str(), entry.kind.as_str(), entry.created_at),
        (KEY, "open-pr", at(10))
    );
    // Reconciling found the PR on the code host: record it instead of opening another.
    restarted
        .journal_complete(KEY, "pr 17", at(21))
        .await
        .unwrap();
    assert_eq!(
        restarted
            .journal_begin(KEY, Some(&s1()), "open-pr", at(22))
            .await
            .unwrap(),
        JournalBegin::AlreadyDone("pr 17".into())
    );
    assert_eq!(restarted.journal_entries(&s1()).await.unwrap().len(), 1);
}

pub async fn a_failed_effect_may_begin_again_once(db: TestDb) {
    let store = Arc::new(store_with_squad(&db).await);
    assert_eq!(race(&store, 1).await, [JournalBegin::Begun { attempt: 1 }]);
    store
        .journal_fail(KEY, "502 from the code host", at(11))
        .await
        .unwrap();
    let failed = store.journal_entry(KEY).await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.result.as_deref()),
        (JournalStatus::Failed, Some("502 from the code host"))
    );

    // Retries race too: only one of them gets the second attempt.
    let outcomes = race(&store, 10).await;
    assert_eq!(
        begun(&outcomes),
        [&JournalBegin::Begun { attempt: 2 }],
        "{outcomes:?}"
    );
    let entry = store.journal_entry(KEY).await.unwrap().unwrap();
    assert_eq!(
        (entry.status, entry.attempts, entry.result),
        (JournalStatus::Pending, 2, None)
    );
}

pub async fn misuse_of_keys_is_refused(db: TestDb) {
    let store = store_with_squad(&db).await;
    store
        .journal_begin(KEY, Some(&s1()), "open-pr", at(10))
        .await
        .unwrap();

    let other_kind = store
        .journal_begin(KEY, Some(&s1()), "merge", at(11))
        .await
        .unwrap_err();
    assert_eq!(other_kind.kind(), StoreErrorKind::Conflict);
    assert!(
        other_kind
            .to_string()
            .contains("already belongs to effect `open-pr` of squad `s1`"),
        "{other_kind}"
    );
    let other_squad = store
        .journal_begin(KEY, None, "open-pr", at(11))
        .await
        .unwrap_err();
    assert_eq!(other_squad.kind(), StoreErrorKind::Conflict);

    let never_begun = store
        .journal_complete("squad/s1/merge", "sha", at(12))
        .await
        .unwrap_err();
    assert_eq!(never_begun.kind(), StoreErrorKind::NotFound);
    let unknown_squad = store
        .journal_begin("squad/s9/x", Some(&SquadId::from("s9")), "x", at(12))
        .await
        .unwrap_err();
    assert_eq!(unknown_squad.kind(), StoreErrorKind::NotFound);

    // Run-level effects have no squad.
    assert_eq!(
        store
            .journal_begin("run/r1/summary", None, "post-summary", at(13))
            .await
            .unwrap(),
        JournalBegin::Begun { attempt: 1 }
    );
    assert_eq!(store.journal_entry("nothing").await.unwrap(), None);
}
