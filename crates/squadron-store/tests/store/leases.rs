//! Leases shared by several daemons on one database: claims, renewals and takeovers with
//! growing tokens, squads claimed once in bulk, and fenced writes refused after a takeover
//! or a lapse, with every event saying who wrote it under which token.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use squadron_core::lease::{Claim, DaemonId, FencingToken, Lease, LeaseSubject, LeaseTerms};
use squadron_core::merge_queue::MergeLane;
use squadron_core::ports::RepoRef;
use squadron_core::ports::{JournalBegin, JournalStatus, SquadChange};
use squadron_core::{IssueKey, Phase, RunId, SquadId};
use squadron_store::{ClaimLimits, EventWriter, SqlStore, StoreErrorKind};

use crate::support::{
    TestDb, at, milestone_run, queued_squad, store_with_squad, store_with_squads,
};

fn terms() -> LeaseTerms {
    LeaseTerms::new(Duration::from_secs(30), Duration::from_secs(10)).expect("valid terms")
}

fn s1() -> LeaseSubject {
    LeaseSubject::Squad(SquadId::from("s1"))
}

/// A daemon's own connection to the test database.
async fn daemon(db: &TestDb, name: &str) -> SqlStore {
    db.open().await.for_daemon(DaemonId::new(name))
}

/// Claims of up to `daemon` squads in a cluster allowed `cluster` at once.
fn limits(daemon: usize, cluster: usize) -> ClaimLimits {
    ClaimLimits { daemon, cluster }
}

fn token(claim: &Claim) -> Option<u64> {
    claim.held_by_claimant().map(|lease| lease.token.get())
}

pub async fn claims_renewals_and_takeovers_follow_the_lease_rules(db: TestDb) {
    let _store = store_with_squad(&db).await;
    let (a, b) = (daemon(&db, "a").await, daemon(&db, "b").await);

    let first = a.claim_lease(&s1(), at(0), terms()).await.expect("claim");
    assert!(
        matches!(first, Claim::Granted { from: None, .. }),
        "{first:?}"
    );
    assert_eq!(token(&first), Some(1));
    let held = b.claim_lease(&s1(), at(10), terms()).await.expect("claim");
    assert!(
        matches!(&held, Claim::Held(lease) if lease.holder.as_str() == "a"),
        "{held:?}"
    );

    let renewed = a.renew_lease(&s1(), at(20), terms()).await.expect("renew");
    assert_eq!(renewed.expires_at, at(50));
    assert_eq!(renewed.token, FencingToken::FIRST);
    let still_held = b.claim_lease(&s1(), at(49), terms()).await.expect("claim");
    assert!(matches!(still_held, Claim::Held(_)), "{still_held:?}");

    // `a` misses its heartbeats; at the expiry `b` takes the squad over with token 2.
    let taken = b.claim_lease(&s1(), at(50), terms()).await.expect("claim");
    assert!(
        matches!(&taken, Claim::Granted { from: Some(from), .. } if from.as_str() == "a"),
        "{taken:?}"
    );
    assert_eq!(token(&taken), Some(2));
    let lost = a
        .renew_lease(&s1(), at(51), terms())
        .await
        .expect_err("a's lease is gone");
    assert_eq!(lost.kind(), StoreErrorKind::Fenced);
    assert!(
        lost.to_string().contains("held by b with token #2"),
        "{lost}"
    );

    // A release lets the next claim in at once, with the next token.
    b.release_lease(&s1(), at(60)).await.expect("release");
    let back = a.claim_lease(&s1(), at(61), terms()).await.expect("claim");
    assert_eq!(token(&back), Some(3));
    let leases = a.leases().await.expect("list leases");
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].holder.as_str(), "a");
    assert_eq!(leases[0].expires_at, at(91));
}

pub async fn racing_daemons_on_one_subject_let_exactly_one_win(db: TestDb) {
    let _store = store_with_squad(&db).await;
    let mut daemons = Vec::new();
    for n in 0..8 {
        daemons.push(Arc::new(daemon(&db, &format!("d{n}")).await));
    }
    let claims = join_all(daemons.iter().map(|daemon| {
        let daemon = Arc::clone(daemon);
        tokio::spawn(async move { daemon.claim_lease(&s1(), at(0), terms()).await })
    }))
    .await;
    let claims: Vec<Claim> = claims
        .into_iter()
        .map(|joined| joined.expect("task").expect("claim"))
        .collect();
    let winners: Vec<&Claim> = claims
        .iter()
        .filter(|claim| claim.held_by_claimant().is_some())
        .collect();
    assert_eq!(winners.len(), 1, "{claims:?}");
    assert_eq!(token(winners[0]), Some(1));
}

pub async fn writes_after_a_takeover_change_nothing_and_say_who_holds_the_squad(db: TestDb) {
    let _store = store_with_squad(&db).await;
    let (a, b) = (daemon(&db, "a").await, daemon(&db, "b").await);
    let id = SquadId::from("s1");
    a.claim_lease(&s1(), at(0), terms()).await.expect("claim");
    a.set_phase(&id, &Phase::Queued, &Phase::Preparing, at(1))
        .await
        .expect("the holder moves its squad");
    a.append_event(&id, "note", "{}", at(2))
        .await
        .expect("the holder logs");
    let developer = squadron_core::Role::Developer;
    a.keep_conversation(&id, developer, "a's implementation", at(2))
        .await
        .expect("the holder keeps its agent's conversation");

    // `a` stops past its lease; `b` takes over and works.
    b.claim_lease(&s1(), at(40), terms()).await.expect("claim");
    b.set_phase(&id, &Phase::Preparing, &Phase::Implementing, at(41))
        .await
        .expect("the new holder moves the squad");
    b.keep_conversation(&id, developer, "b's fix", at(41))
        .await
        .expect("the new holder keeps its agent's conversation");

    // `a` wakes up mid-step: everything it tries is refused and changes nothing.
    let before = a.events(&id).await.expect("events").len();
    let refusals = [
        a.set_phase(&id, &Phase::Implementing, &Phase::Verifying, at(42))
            .await
            .map(drop),
        a.set_phase(&id, &Phase::Preparing, &Phase::Implementing, at(42))
            .await
            .map(drop),
        a.change_squad(&id, &SquadChange::Round(2), at(42))
            .await
            .map(drop),
        a.append_event(&id, "note", "{}", at(42)).await.map(drop),
        a.append_message(
            &id,
            squadron_core::Role::Developer,
            &squadron_core::ports::ChatMessage::User {
                content: "stale".to_owned(),
            },
            at(42),
        )
        .await
        .map(drop),
        a.journal_begin("squad/s1/open-pr", Some(&id), "open-pr", at(42))
            .await
            .map(drop),
        a.keep_conversation(&id, developer, "stale", at(42))
            .await
            .map(drop),
    ];
    for refusal in refusals {
        let error = refusal.expect_err("a write after the takeover is refused");
        assert_eq!(error.kind(), StoreErrorKind::Fenced, "{error}");
    }
    let record = b.squad(&id).await.expect("squad");
    assert_eq!(record.squad.phase, Phase::Implementing);
    assert_eq!(record.squad.round, 0);
    assert_eq!(b.events(&id).await.expect("events").len(), before);
    assert!(
        b.transcript(&id, None)
            .await
            .expect("transcript")
            .is_empty()
    );
    assert_eq!(
        b.journal_entry("squad/s1/open-pr").await.expect("entry"),
        None
    );
    assert_eq!(
        b.kept_conversation(&id, developer)
            .await
            .expect("kept")
            .as_deref(),
        Some("b's fix"),
        "the successor continues its own conversation"
    );

    // The log says who wrote what: `a` under token 1, then `b` under token 2, never mixed.
    let writers = b.event_writers(&id).await.expect("writers");
    let signed: Vec<(Option<&str>, Option<u64>)> = writers
        .iter()
        .map(|writer| {
            (
                writer.holder.as_ref().map(DaemonId::as_str),
                writer.token.map(FencingToken::get),
            )
        })
        .collect();
    assert_eq!(
        signed,
        [
            (None, None),
            (Some("a"), Some(1)),
            (Some("a"), Some(1)),
            (Some("b"), Some(2))
        ],
        "{writers:?}"
    );
}

pub async fn a_lapsed_lease_keeps_its_daemon_writing_until_another_claims_it(db: TestDb) {
    let _store = store_with_squad(&db).await;
    let (a, b) = (daemon(&db, "a").await, daemon(&db, "b").await);
    let id = SquadId::from("s1");
    a.claim_lease(&s1(), at(0), terms()).await.expect("claim");
    // A late heartbeat: nobody claimed the squad meanwhile, so `a` has lost nothing.
    a.append_event(&id, "note", "{}", at(40))
        .await
        .expect("a write after the lapse, before any takeover");
    let renewed = a.renew_lease(&s1(), at(41), terms()).await.expect("renew");
    assert_eq!(renewed.token, FencingToken::FIRST);
    assert_eq!(renewed.expires_at, at(71));

    // Once another daemon claims it after a lapse, `a` is out.
    b.claim_lease(&s1(), at(72), terms()).await.expect("claim");
    let refused = a
        .append_event(&id, "note", "{}", at(73))
        .await
        .expect_err("superseded");
    assert_eq!(refused.kind(), StoreErrorKind::Fenced);
    assert!(
        refused.to_string().contains("held by b with token #2"),
        "{refused}"
    );
    let last: Option<EventWriter> = b.event_writers(&id).await.expect("writers").pop();
    assert_eq!(
        last.and_then(|writer| writer.token),
        Some(FencingToken::FIRST)
    );
}

pub async fn an_effect_begun_before_a_takeover_is_left_pending_for_the_new_holder(db: TestDb) {
    let _store = store_with_squad(&db).await;
    let (a, b) = (daemon(&db, "a").await, daemon(&db, "b").await);
    let id = SquadId::from("s1");
    let key = "squad/s1/merge";
    a.claim_lease(&s1(), at(0), terms()).await.expect("claim");
    assert_eq!(
        a.journal_begin(key, Some(&id), "merge", at(1))
            .await
            .expect("begin"),
        JournalBegin::Begun { attempt: 1 }
    );
    b.claim_lease(&s1(), at(31), terms()).await.expect("claim");
    let refused = a
        .journal_complete(key, "merged", at(32))
        .await
        .expect_err("a cannot report what it no longer holds");
    assert_eq!(refused.kind(), StoreErrorKind::Fenced);
    match b.journal_begin(key, Some(&id), "merge", at(33)).await {
        Ok(JournalBegin::InProgress(entry)) => assert_eq!(entry.status, JournalStatus::Pending),
        other => panic!("the new holder reconciles the pending merge: {other:?}"),
    }
    b.journal_complete(key, "merged", at(34))
        .await
        .expect("the holder reports it");
}

pub async fn a_daemon_writes_only_for_work_it_holds(db: TestDb) {
    let store = store_with_squad(&db).await;
    let a = daemon(&db, "a").await;
    let unheld = a
        .append_event(&SquadId::from("s1"), "note", "{}", at(1))
        .await
        .expect_err("a holds no lease on s1");
    assert_eq!(unheld.kind(), StoreErrorKind::Fenced);
    assert!(unheld.to_string().contains("holds no lease"), "{unheld}");

    // A run's squads are created under its intake lease.
    store
        .create_run(&milestone_run("r2", at(2)))
        .await
        .expect("run");
    let squad = queued_squad("s2", "r2", "ENG-2", at(3));
    let refused = a.create_squad(&squad).await.expect_err("no intake lease");
    assert_eq!(refused.kind(), StoreErrorKind::Fenced);
    a.claim_lease(&LeaseSubject::Intake(RunId::from("r2")), at(3), terms())
        .await
        .expect("claim");
    a.create_squad(&squad)
        .await
        .expect("created under the intake lease");
    let writers = a
        .event_writers(&SquadId::from("s2"))
        .await
        .expect("writers");
    assert_eq!(writers[0].holder, Some(DaemonId::new("a")));

    // A store without a daemon keeps working as one process always did.
    store
        .append_event(&SquadId::from("s1"), "note", "{}", at(4))
        .await
        .expect("unfenced write");
    let claim = store
        .claim_lease(&s1(), at(5), terms())
        .await
        .expect_err("claims need a daemon");
    assert_eq!(claim.kind(), StoreErrorKind::Invalid);
}

pub async fn daemons_claiming_squads_together_take_each_free_squad_once(db: TestDb) {
    let store = store_with_squads(&db, 9).await;
    store
        .set_phase(&SquadId::from("s9"), &Phase::Queued, &Phase::Merged, at(10))
        .await
        .expect("s9 ended");

    let daemons = [
        Arc::new(daemon(&db, "a").await),
        Arc::new(daemon(&db, "b").await),
        Arc::new(daemon(&db, "c").await),
    ];
    let claimed = join_all(daemons.iter().map(|daemon| {
        let daemon = Arc::clone(daemon);
        tokio::spawn(async move { daemon.claim_squads(at(20), terms(), limits(3, 100)).await })
    }))
    .await;
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for squads in claimed {
        let squads = squads.expect("task").expect("claim squads");
        assert!(squads.len() <= 3, "{squads:?}");
        total += squads.len();
        seen.extend(squads.into_iter().map(|record| record.squad.id));
    }
    assert_eq!(total, seen.len(), "no squad was claimed twice");
    assert!(
        !seen.contains(&SquadId::from("s9")),
        "an ended squad is not claimed"
    );
    // Whatever the race left, the next claims take the rest and nothing twice.
    let rest = daemons[0]
        .claim_squads(at(21), terms(), limits(10, 100))
        .await
        .expect("claim the rest");
    for record in rest {
        assert!(seen.insert(record.squad.id), "claimed twice");
    }
    assert_eq!(seen.len(), 8, "{seen:?}");
    assert!(
        daemons[1]
            .claim_squads(at(22), terms(), limits(10, 100))
            .await
            .expect("claim")
            .is_empty(),
        "every unfinished squad is held"
    );

    // A daemon that dies leaves its squads to be claimed once its leases lapse.
    let after_lapse = daemons[2]
        .claim_squads(at(20) + Duration::from_secs(31), terms(), limits(10, 100))
        .await
        .expect("claim lapsed squads");
    assert_eq!(after_lapse.len(), 8);
    let leases = daemons[2].leases().await.expect("leases");
    assert!(
        leases
            .iter()
            .all(|lease| lease.holder.as_str() == "c" && lease.token == FencingToken::new(2)),
        "{leases:?}"
    );
}

fn ids(squads: &[squadron_core::ports::SquadRecord]) -> Vec<&str> {
    squads
        .iter()
        .map(|record| record.squad.id.as_str())
        .collect()
}

pub async fn claims_keep_the_cluster_within_its_concurrency_and_each_daemon_to_its_share(
    db: TestDb,
) {
    let store = store_with_squads(&db, 6).await;
    let (a, b) = (daemon(&db, "a").await, daemon(&db, "b").await);

    let first = a
        .claim_squads(at(10), terms(), limits(2, 3))
        .await
        .expect("claim");
    assert_eq!(ids(&first), ["s1", "s2"], "a takes its share, oldest first");
    let second = b
        .claim_squads(at(10), terms(), limits(2, 3))
        .await
        .expect("claim");
    assert_eq!(ids(&second), ["s3"], "the cluster holds three at most");
    assert!(
        a.claim_squads(at(11), terms(), limits(2, 3))
            .await
            .expect("claim")
            .is_empty(),
        "no room left in the cluster"
    );

    // A squad that ended no longer counts, even before its holder lets it go.
    store
        .set_phase(&SquadId::from("s1"), &Phase::Queued, &Phase::Merged, at(12))
        .await
        .expect("s1 merged");
    let after_merge = b
        .claim_squads(at(13), terms(), limits(2, 3))
        .await
        .expect("claim");
    assert_eq!(ids(&after_merge), ["s4"]);

    // Racing claimers never push the cluster past its limit.
    let daemons = [
        Arc::new(daemon(&db, "c").await),
        Arc::new(daemon(&db, "d").await),
        Arc::new(daemon(&db, "e").await),
    ];
    let later = at(13) + Duration::from_secs(31);
    let raced = join_all(daemons.iter().map(|daemon| {
        let daemon = Arc::clone(daemon);
        tokio::spawn(async move { daemon.claim_squads(later, terms(), limits(2, 3)).await })
    }))
    .await;
    let total: usize = raced
        .into_iter()
        .map(|claimed| claimed.expect("task").expect("claim").len())
        .sum();
    assert_eq!(
        total, 3,
        "every lease lapsed: three of the five are claimed"
    );
}

pub async fn a_squad_is_claimed_only_once_every_blocker_or_squad_it_starts_after_ended(db: TestDb) {
    let store = db.open().await;
    store
        .create_run(&milestone_run("r1", at(0)))
        .await
        .expect("run");
    store
        .create_squad(&queued_squad("s1", "r1", "ENG-1", at(1)))
        .await
        .expect("blocker");
    let mut blocked = queued_squad("s2", "r1", "ENG-2", at(2));
    blocked.blocked_by = vec![IssueKey::from("ENG-1")];
    store.create_squad(&blocked).await.expect("blocked squad");
    let mut second = queued_squad("s4", "r1", "ENG-4", at(2));
    second.starts_after = vec![IssueKey::from("ENG-1")];
    store
        .create_squad(&second)
        .await
        .expect("squad naming the same files");
    // The same issue key in another run blocks nothing here.
    store
        .create_run(&milestone_run("r2", at(3)))
        .await
        .expect("run");
    store
        .create_squad(&queued_squad("s3", "r2", "ENG-1", at(4)))
        .await
        .expect("another run's squad");
    let a = daemon(&db, "a").await;

    let claimed = a
        .claim_squads(at(10), terms(), limits(5, 5))
        .await
        .expect("claim");
    assert_eq!(
        ids(&claimed),
        ["s1", "s3"],
        "ENG-2 and ENG-4 wait for ENG-1"
    );
    store
        .set_phase(
            &SquadId::from("s1"),
            &Phase::Queued,
            &Phase::NeedsHuman("stuck".to_owned()),
            at(11),
        )
        .await
        .expect("s1 ended");
    let claimed = a
        .claim_squads(at(12), terms(), limits(5, 5))
        .await
        .expect("claim");
    assert_eq!(
        ids(&claimed),
        ["s2", "s4"],
        "what they waited for ended: their claimant settles them"
    );
}

pub async fn one_heartbeat_renews_every_lease_held_and_names_those_lost(db: TestDb) {
    let _store = store_with_squads(&db, 3).await;
    let (a, b) = (daemon(&db, "a").await, daemon(&db, "b").await);
    let claimed = a
        .claim_squads(at(0), terms(), limits(3, 3))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 3);
    let lane = LeaseSubject::MergeLane {
        repository: "acme/shop".to_owned(),
        base: "main".to_owned(),
    };
    a.claim_lease(&lane, at(0), terms()).await.expect("lane");

    assert!(
        a.renew_held(at(20), terms())
            .await
            .expect("renew")
            .is_empty()
    );
    let leases = a.leases().await.expect("leases");
    assert_eq!(leases.len(), 4);
    assert!(
        leases
            .iter()
            .all(|lease| lease.expires_at == at(50) && lease.token == FencingToken::FIRST),
        "{leases:?}"
    );

    // `a` pauses past its leases; `b` takes one squad over, the rest only lapse.
    let s2 = LeaseSubject::Squad(SquadId::from("s2"));
    b.claim_lease(&s2, at(60), terms()).await.expect("claim");
    let lost = a.renew_held(at(61), terms()).await.expect("renew");
    assert_eq!(lost, std::slice::from_ref(&s2));
    assert_eq!(
        a.lease(&s1()).await.expect("lease").map(|l| l.expires_at),
        Some(at(91)),
        "a lapsed lease nobody claimed is renewed"
    );
    let refused = a
        .append_event(&SquadId::from("s2"), "note", "{}", at(62))
        .await
        .expect_err("a forgot s2");
    assert_eq!(refused.kind(), StoreErrorKind::Fenced);
    assert!(
        a.renew_held(at(70), terms())
            .await
            .expect("renew")
            .is_empty(),
        "a lost subject is reported once"
    );

    // Stopping, `a` hands everything it holds over at once; `b` keeps what it holds.
    a.release_held(at(80)).await.expect("release");
    let taken = b
        .claim_squads(at(81), terms(), limits(5, 5))
        .await
        .expect("claim");
    assert_eq!(ids(&taken), ["s1", "s3"]);
    let lane_now = b.claim_lease(&lane, at(81), terms()).await.expect("lane");
    assert_eq!(token(&lane_now), Some(2));
    assert_eq!(
        b.lease(&s2).await.expect("lease").map(|l| l.holder),
        Some(DaemonId::new("b"))
    );
    let refused = a
        .append_event(&SquadId::from("s1"), "note", "{}", at(82))
        .await
        .expect_err("a released s1");
    assert_eq!(refused.kind(), StoreErrorKind::Fenced);
}

pub async fn an_admission_is_fenced_by_its_runs_intake_claimed_for_it_and_released_after(
    db: TestDb,
) {
    let (a, b) = (daemon(&db, "a").await, daemon(&db, "b").await);
    let admitted = |squad: &str, run: &str| squadron_core::ports::AdmittedSquad {
        record: queued_squad(squad, run, "ENG-1", at(0)),
        events: Vec::new(),
    };
    // Another daemon holds the intake of r1 (it minted the same id): a records nothing.
    let r1 = LeaseSubject::Intake(RunId::from("r1"));
    b.claim_lease(&r1, at(0), terms()).await.expect("claim");
    let refused = a
        .admit_run(&milestone_run("r1", at(1)), &[admitted("s1", "r1")])
        .await
        .expect_err("r1's intake is b's");
    assert_eq!(refused.kind(), StoreErrorKind::Fenced, "{refused}");
    assert!(a.squad(&SquadId::from("s1")).await.is_err());

    a.admit_run(&milestone_run("r2", at(2)), &[admitted("s2", "r2")])
        .await
        .expect("a admits r2 under its intake");
    let intake = a
        .lease(&LeaseSubject::Intake(RunId::from("r2")))
        .await
        .expect("lease")
        .expect("r2's intake was claimed");
    assert_eq!(intake.holder.as_str(), "a");
    assert_eq!(
        intake.expires_at,
        at(2),
        "released once the admission stands"
    );
    let writers = a
        .event_writers(&SquadId::from("s2"))
        .await
        .expect("writers");
    assert_eq!(writers[0].holder, Some(DaemonId::new("a")));
    a.renew_held(at(3), terms()).await.expect("heartbeat");
    assert_eq!(
        a.lease(&LeaseSubject::Intake(RunId::from("r2")))
            .await
            .expect("lease")
            .map(|lease| lease.expires_at),
        Some(at(2)),
        "a holds the intake no more: its heartbeat leaves it"
    );
}

pub async fn the_runtime_lease_and_squad_leases_never_work_a_store_at_once(db: TestDb) {
    let _store = store_with_squads(&db, 2).await;
    let (a, b) = (daemon(&db, "a").await, daemon(&db, "b").await);
    let runner = db
        .open()
        .await
        .fenced_by(DaemonId::new("runner"), LeaseSubject::Runtime);

    // `a` shares the squads and holds one: the runtime is refused, naming a's squad.
    let claimed = a
        .claim_squads(at(0), terms(), limits(1, 10))
        .await
        .expect("claim");
    assert_eq!(ids(&claimed), ["s1"]);
    let refused = runner
        .claim_lease(&LeaseSubject::Runtime, at(1), terms())
        .await
        .expect("claim");
    assert!(
        matches!(&refused, Claim::Held(lease) if lease.holder.as_str() == "a" && lease.subject == s1()),
        "{refused:?}"
    );
    assert_eq!(
        runner.lease(&LeaseSubject::Runtime).await.expect("read"),
        None,
        "a refused claim writes nothing"
    );

    // Once a's squad lease is released, the runtime is granted; squads are then claimed by
    // nobody else while it lives, though s2 is free.
    a.release_held(at(2)).await.expect("release");
    let granted = runner
        .claim_lease(&LeaseSubject::Runtime, at(3), terms())
        .await
        .expect("claim");
    assert_eq!(token(&granted), Some(1), "{granted:?}");
    for claimer in [&a, &b] {
        assert!(
            claimer
                .claim_squads(at(4), terms(), limits(2, 10))
                .await
                .expect("claim")
                .is_empty(),
            "no squad is claimed while the runtime is held"
        );
    }
    // The runner renews its claim as before.
    let renewed = runner
        .claim_lease(&LeaseSubject::Runtime, at(5), terms())
        .await
        .expect("renew");
    assert!(matches!(renewed, Claim::Renewed(_)), "{renewed:?}");

    // Lapsed, the runtime leaves the squads to the daemons sharing them.
    let after = at(5) + Duration::from_secs(30);
    let shared = b
        .claim_squads(after, terms(), limits(2, 10))
        .await
        .expect("claim");
    assert_eq!(ids(&shared), ["s1", "s2"]);
}

pub async fn one_daemon_at_a_time_holds_a_merge_lane_and_one_that_lost_it_learns_so(db: TestDb) {
    let (a, b) = (daemon(&db, "a").await, daemon(&db, "b").await);
    let lane = MergeLane {
        repo: RepoRef::new("acme", "shop"),
        base: "main".to_owned(),
    };
    let other_base = MergeLane {
        base: "release".to_owned(),
        ..lane.clone()
    };
    let holder = |taken: Option<Lease>| taken.map(|lease| lease.holder.to_string());

    assert_eq!(a.take_merge_lane(&lane, at(0)).await.expect("take"), None);
    assert_eq!(
        holder(b.take_merge_lane(&lane, at(1)).await.expect("take")),
        Some("a".to_owned()),
        "b waits while a merges into main"
    );
    assert_eq!(
        b.take_merge_lane(&other_base, at(1)).await.expect("take"),
        None,
        "another base is another lane"
    );
    assert_eq!(
        a.take_merge_lane(&lane, at(2)).await.expect("take again"),
        None,
        "a holds it still"
    );

    // a pauses past the lane's lease; b takes it, and a, woken right before merging, finds
    // it lost.
    let lapsed = at(2) + LeaseTerms::default().ttl();
    assert_eq!(b.take_merge_lane(&lane, lapsed).await.expect("take"), None);
    assert_eq!(
        holder(a.take_merge_lane(&lane, lapsed).await.expect("take")),
        Some("b".to_owned()),
        "a cannot merge any more"
    );

    // Released, the lane is a's again at once; release_merge_lanes lets every lane go.
    b.release_merge_lane(&lane, lapsed).await.expect("release");
    assert_eq!(a.take_merge_lane(&lane, lapsed).await.expect("take"), None);
    a.release_merge_lanes(lapsed).await.expect("release all");
    assert_eq!(b.take_merge_lane(&lane, lapsed).await.expect("take"), None);
    b.release_merge_lanes(lapsed).await.expect("release all");
    assert_eq!(
        a.take_merge_lane(&other_base, lapsed).await.expect("take"),
        None
    );

    // A store worked by one daemon alone, or under the runtime lease, takes no lane.
    let alone = db.open().await;
    let runner = alone.fenced_by(DaemonId::new("runner"), LeaseSubject::Runtime);
    for store in [&alone, &runner] {
        assert_eq!(
            store.take_merge_lane(&lane, lapsed).await.expect("take"),
            None
        );
    }
    assert_eq!(
        holder(b.take_merge_lane(&lane, lapsed).await.expect("take")),
        None,
        "nothing was claimed for them"
    );
}
