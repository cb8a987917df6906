//! The server's reads from a real SQLite store: squads with usage, runs, health, and the
//! usage-by-role and lead-time figures behind `/metrics`, and the bound on their facts cache.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use squadron::delivery::FactsCache;
use squadron::server::{ControlErrorKind, StoreReads};
use squadron_core::ports::{SquadChange, SquadRecord, UsageRecord};
use squadron_core::{
    IssueId, IssueKey, Phase, PrNumber, Role, Run, RunId, RunTrigger, Squad, SquadId, SquadKind,
    Timestamp, TokenUsage, Usd,
};
use squadron_store::{SqlStore, StoreLocation};
use tempfile::TempDir;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + seconds * 1000)
}

async fn squad_in(store: &SqlStore, run: &str, id: &str, issue: &str, created: i64) -> SquadId {
    let record = SquadRecord {
        squad: Squad {
            id: SquadId::from(id),
            run_id: RunId::from(run),
            issue: IssueKey::from(issue),
            kind: SquadKind::Feature,
            phase: Phase::Queued,
            round: 0,
            pr: None,
            branch: format!("squadron/{issue}"),
            worktree: None,
        },
        issue_id: IssueId::from(format!("uuid-{issue}")),
        blocked_by: Vec::new(),
        starts_after: Vec::new(),
        created_at: at(created),
        updated_at: at(created),
    };
    store.create_squad(&record).await.expect("create squad");
    record.squad.id
}

async fn usage(store: &SqlStore, run: &str, squad: &SquadId, role: Role, prompt: u64, micros: i64) {
    store
        .record_usage(&UsageRecord {
            run_id: RunId::from(run),
            squad_id: squad.clone(),
            role,
            model: "stand-in/scripted".into(),
            usage: TokenUsage {
                prompt,
                cached: 0,
                completion: 10,
            },
            cost: Usd::from_micros(micros),
            at: at(50),
        })
        .await
        .expect("record usage");
}

/// Two runs: ENG-1 merged 30 minutes after admission, ENG-2 still implementing.
async fn seeded() -> (TempDir, Arc<SqlStore>) {
    let dir = TempDir::new().expect("temporary directory");
    let store = SqlStore::open(&StoreLocation::Sqlite(dir.path().join("squadron.db")))
        .await
        .expect("open store");
    for (id, created) in [("run-1", 0), ("run-2", 10)] {
        let run = Run {
            id: RunId::from(id),
            trigger: RunTrigger::Milestone {
                url: "https://linear.app/acme/project/shop-a5e6ddb5d475".into(),
            },
            created_at: at(created),
        };
        store.create_run(&run).await.expect("create run");
    }
    let merged = squad_in(&store, "run-1", "squad-a", "ENG-1", 1).await;
    let path = [
        Phase::Queued,
        Phase::Preparing,
        Phase::Implementing,
        Phase::Verifying,
        Phase::PrOpen,
        Phase::Reviewing,
        Phase::Approved,
        Phase::Merging,
        Phase::Merged,
    ];
    // A squad merges its PR: the merge step needs one.
    store
        .change_squad(&merged, &SquadChange::Pr(PrNumber(1)), at(5))
        .await
        .expect("link the PR");
    for (step, pair) in path.windows(2).enumerate() {
        let when = if pair[1] == Phase::Merged {
            1 + 1800
        } else {
            2 + step as i64
        };
        store
            .set_phase(&merged, &pair[0], &pair[1], at(when))
            .await
            .expect("phase");
    }
    let working = squad_in(&store, "run-2", "squad-b", "ENG-2", 11).await;
    store
        .set_phase(&working, &Phase::Queued, &Phase::Preparing, at(12))
        .await
        .expect("phase");
    usage(&store, "run-1", &merged, Role::Developer, 1000, 2_000_000).await;
    usage(&store, "run-1", &merged, Role::CodeReviewer, 400, 500_000).await;
    usage(&store, "run-2", &working, Role::Developer, 300, 250_000).await;
    (dir, Arc::new(store))
}

#[tokio::test]
async fn an_approved_squad_no_runtime_here_runs_says_why_the_gate_holds_it() {
    let (_dir, store) = seeded().await;
    let held = squad_in(&store, "run-2", "squad-c", "ENG-3", 13).await;
    store
        .set_phase(&held, &Phase::Queued, &Phase::Approved, at(14))
        .await
        .expect("phase");
    let payload = serde_json::json!({
        "decision": "blocked",
        "reasons": ["required check `ci` is pending"],
        "head": "b".repeat(40),
    });
    store
        .append_event(&held, "gate-decision", &payload.to_string(), at(15))
        .await
        .expect("event");
    let reads = StoreReads::new(store);

    let runs = reads.runs().await.expect("runs");
    let squad = runs[0]
        .squads
        .iter()
        .find(|view| view.record.squad.id == held)
        .expect("ENG-3");
    assert_eq!(
        squad.gate_hold.as_deref(),
        Some("waits at the merge gate: required check `ci` is pending")
    );
    let others: Vec<_> = runs
        .iter()
        .flat_map(|run| &run.squads)
        .filter(|view| view.record.squad.id != held)
        .map(|view| &view.gate_hold)
        .collect();
    assert!(others.iter().all(|hold| hold.is_none()), "{others:?}");
}

#[tokio::test]
async fn squads_and_runs_come_with_their_usage() {
    let (_dir, store) = seeded().await;
    let reads = StoreReads::new(store);

    let squads = reads.squads().await.expect("squads");
    let issues: Vec<&str> = squads
        .iter()
        .map(|view| view.record.squad.issue.as_str())
        .collect();
    assert_eq!(issues, ["ENG-2", "ENG-1"], "newest run first");
    assert_eq!(squads[1].record.squad.phase, Phase::Merged);
    assert_eq!(squads[1].usage.usage.prompt, 1400);
    assert_eq!(squads[1].usage.cost, Usd::from_micros(2_500_000));

    let run = reads.run(&RunId::from("run-1")).await.expect("run-1");
    assert_eq!(run.squads.len(), 1);
    assert_eq!(run.squads[0].record.squad.id, SquadId::from("squad-a"));

    let missing = reads.run(&RunId::from("run-404")).await.unwrap_err();
    assert_eq!(missing.kind(), ControlErrorKind::NotFound);
    assert!(reads.health().await.is_ok());
}

#[tokio::test]
async fn metrics_sum_usage_per_role_over_runs_and_measure_admission_to_merge() {
    let (_dir, store) = seeded().await;
    let reads = StoreReads::new(store);

    let snapshot = reads.metrics(at(10_000)).await.expect("metrics");

    let developer = snapshot
        .usage_by_role
        .iter()
        .find(|(role, _)| *role == Role::Developer)
        .map(|(_, totals)| *totals)
        .expect("developer usage");
    assert_eq!(developer.calls, 2);
    assert_eq!(developer.usage.prompt, 1300);
    assert_eq!(developer.cost, Usd::from_micros(2_250_000));
    let roles: Vec<Role> = snapshot
        .usage_by_role
        .iter()
        .map(|(role, _)| *role)
        .collect();
    assert_eq!(roles, [Role::Developer, Role::CodeReviewer]);
    assert_eq!(
        snapshot.delivery.total.lead_times,
        [Duration::from_secs(1800)]
    );

    // Asked again, the cached lead time gives the same answer.
    assert_eq!(
        reads
            .metrics(at(10_000))
            .await
            .expect("metrics")
            .delivery
            .total
            .lead_times,
        [Duration::from_secs(1800)]
    );
}

#[tokio::test]
async fn metrics_measure_time_to_restore_for_merged_bug_fixes_only() {
    let (_dir, store) = seeded().await;
    let fix_run = Run {
        id: RunId::from("run-fix"),
        trigger: RunTrigger::Fix {
            issue: IssueKey::from("ENG-9"),
            requested_by: "U123".into(),
            slack_channel: Some("C1".into()),
        },
        created_at: at(100),
    };
    store
        .create_run(&fix_run)
        .await
        .expect("create the fix run");
    let record = SquadRecord {
        squad: Squad {
            id: SquadId::from("squad-fix"),
            run_id: fix_run.id.clone(),
            issue: IssueKey::from("ENG-9"),
            kind: SquadKind::BugFix,
            phase: Phase::Queued,
            round: 0,
            pr: None,
            branch: "squadron/eng-9".into(),
            worktree: None,
        },
        issue_id: IssueId::from("uuid-ENG-9"),
        blocked_by: Vec::new(),
        starts_after: Vec::new(),
        created_at: at(100),
        updated_at: at(100),
    };
    store
        .create_squad(&record)
        .await
        .expect("create the fix squad");
    let path = [
        Phase::Queued,
        Phase::Preparing,
        Phase::Diagnosing,
        Phase::Implementing,
        Phase::Verifying,
        Phase::PrOpen,
        Phase::Reviewing,
        Phase::Approved,
        Phase::Merging,
        Phase::Merged,
    ];
    store
        .change_squad(&record.squad.id, &SquadChange::Pr(PrNumber(2)), at(100))
        .await
        .expect("link the PR");
    for (step, pair) in path.windows(2).enumerate() {
        store
            .set_phase(&record.squad.id, &pair[0], &pair[1], at(101 + step as i64))
            .await
            .expect("phase");
    }
    store
        .append_event(
            &record.squad.id,
            squadron_core::event_payload::EventPayload::TIME_TO_MERGE,
            r#"{"millis": 600000}"#,
            at(120),
        )
        .await
        .expect("record the time to merge");

    let snapshot = StoreReads::new(store)
        .metrics(at(10_000))
        .await
        .expect("metrics");
    assert_eq!(
        snapshot.delivery.total.restore_times,
        [Duration::from_secs(600)]
    );
    assert_eq!(
        snapshot.delivery.total.lead_times.len(),
        2,
        "both merged squads have a lead time"
    );
}

#[tokio::test]
async fn squad_after_squad_the_facts_cache_keeps_no_more_squads_than_its_capacity() {
    const KEPT: usize = 5;
    let (_dir, store) = seeded().await;
    let repositories = BTreeMap::from([("ENG".to_owned(), "acme/shop".to_owned())]);
    let cache = FactsCache::with_capacity(KEPT);
    let mut kept = Vec::new();
    for n in 1..=30_i64 {
        let start = 10_000 + n * 100;
        let squad = squad_in(
            &store,
            "run-2",
            &format!("many-{n}"),
            &format!("ENG-{}", 100 + n),
            start,
        )
        .await;
        let pr = SquadChange::Pr(PrNumber(u64::try_from(100 + n).expect("positive")));
        store
            .change_squad(&squad, &pr, at(start))
            .await
            .expect("link the PR");
        let (queued, implementing, approved) =
            (Phase::Queued, Phase::Implementing, Phase::Approved);
        let steps = [
            (queued, implementing.clone()),
            (implementing, approved.clone()),
            (approved, Phase::Merged),
        ];
        for (at_step, (from, to)) in (1..).zip(steps) {
            store
                .set_phase(&squad, &from, &to, at(start + at_step))
                .await
                .expect("phase");
        }
        let facts = cache.read(&store, None, &repositories).await.expect("read");
        let fresh = FactsCache::with_capacity(0)
            .read(&store, None, &repositories)
            .await
            .expect("read afresh");
        assert_eq!(facts, fresh, "after squad {n}");
        kept.push(cache.kept());
    }
    // The two squads of `seeded` and the first three of the loop fill it.
    assert_eq!(kept[..3], [3, 4, 5], "{kept:?}");
    assert!(
        kept[3..].iter().all(|&count| count == KEPT),
        "the facts kept stay at {KEPT} however many squads finished: {kept:?}"
    );

    // A kept squad that moves is read again, in its place.
    let first = SquadId::from("squad-a");
    store
        .record_event(
            &first,
            &squadron_core::event_payload::EventPayload::Reverted {
                pr: PrNumber(90),
                url: "https://github.com/acme/shop/pull/90".to_owned(),
                reverted_sha: squadron_core::gate::CommitSha::from("abc1234"),
                now: false,
            },
            at(90_000),
        )
        .await
        .expect("append");
    let facts = cache.read(&store, None, &repositories).await.expect("read");
    let reverted = facts
        .iter()
        .find(|facts| facts.squad == first)
        .expect("squad-a's facts");
    assert_eq!(reverted.reverted_at, Some(at(90_000)));
    assert_eq!(cache.kept(), KEPT);
}
