//! Two runtimes sharing one store, as two daemons do: each works only the squads its daemon
//! claimed, a squad whose lease was taken over is let go mid-step and finished by the daemon
//! that holds it now, and the run is finished once every squad of it ended, whoever worked
//! them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use squadron_core::lease::{Claim, DaemonId, LeaseSubject, LeaseTerms};
use squadron_core::ports::{Clock, RunStatus, Store};
use squadron_core::{Phase, SquadId};
use squadron_pipeline::{Pipeline, PipelineHandle};
use squadron_store::{ClaimLimits, SqlStore};
use tokio::sync::Semaphore;

use crate::support::{ReviewScript, TestClock, URL, World, issue};

const LIMIT: Duration = Duration::from_secs(180);

/// Leases far longer than the test: nothing lapses unless the test says so.
fn terms() -> LeaseTerms {
    LeaseTerms::new(Duration::from_secs(3600), Duration::from_secs(1200)).expect("valid terms")
}

/// One daemon: its store handle and its runtime, which shares the squads.
struct Daemon {
    store: Arc<SqlStore>,
    handle: PipelineHandle,
}

fn daemon(world: &World, name: &str) -> Daemon {
    let store = Arc::new(world.store.for_daemon(DaemonId::new(name)));
    let mut services = world.services();
    services.store = Arc::clone(&store) as Arc<dyn Store>;
    let mut settings = world.settings(&format!("sharing-{name}"));
    settings.shares_squads = true;
    let pipeline = Pipeline::new(services, settings);
    let handle = pipeline.handle();
    tokio::spawn(pipeline.run(std::future::pending()));
    Daemon { store, handle }
}

/// Claims one free squad for `daemon` and hands it to its runtime; `None` when none is free.
async fn claim_one(daemon: &Daemon) -> Option<SquadId> {
    let limits = ClaimLimits {
        daemon: 1,
        cluster: 10,
    };
    let claimed = daemon
        .store
        .claim_squads(TestClock.now(), terms(), limits)
        .await
        .expect("claim");
    let squad = claimed.first()?.squad.id.clone();
    let adopted = daemon
        .handle
        .adopt(vec![squad.clone()])
        .await
        .expect("adopt");
    assert_eq!(adopted, std::slice::from_ref(&squad));
    Some(squad)
}

async fn phase(world: &World, squad: &SquadId) -> Phase {
    world.store.squad(squad).await.expect("squad").squad.phase
}

async fn until<T, F>(what: &str, mut check: impl FnMut() -> F) -> T
where
    F: Future<Output = Option<T>>,
{
    tokio::time::timeout(LIMIT, async {
        loop {
            if let Some(found) = check().await {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} within {LIMIT:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_share_a_run_and_one_finishes_a_squad_the_other_lost_mid_step() {
    let world = World::new(
        vec![issue(1, &[]), issue(2, &[]), issue(3, &[1])],
        ReviewScript::default(),
    )
    .await;
    let (a, b) = (daemon(&world, "a"), daemon(&world, "b"));

    let run = a.handle.start_run(URL).await.expect("start the run");
    let squads = world.store.squads_of_run(&run).await.expect("squads");
    assert_eq!(squads.len(), 3);
    assert!(
        squads
            .iter()
            .all(|record| record.squad.phase == Phase::Queued),
        "admitted, left for the daemons to claim"
    );
    assert!(a.handle.snapshot().squads.is_empty());

    // Every model call waits, so each daemon's squad is caught mid-step.
    world.gate.forget_permits(world.gate.available_permits());
    let x = claim_one(&a).await.expect("a claims a squad");
    let y = claim_one(&b).await.expect("b claims another");
    assert!(
        claim_one(&b).await.is_none(),
        "ENG-3 waits for ENG-1 unclaimed"
    );
    for (daemon, squad) in [(&a, &x), (&b, &y)] {
        let mut progress = daemon.handle.progress();
        tokio::time::timeout(
            LIMIT,
            progress.wait_for(|progress| {
                progress.squads.len() == 1
                    && progress.squads[0].squad == *squad
                    && progress.squads[0].phase == Phase::Implementing
            }),
        )
        .await
        .expect("each daemon works its own squad")
        .expect("running");
    }

    // a stalls past its lease; b claims x and a, told at its next heartbeat, lets it go.
    let lapsed = TestClock.now() + terms().ttl() + Duration::from_secs(1);
    let subject = LeaseSubject::Squad(x.clone());
    let taken = b
        .store
        .claim_lease(&subject, lapsed, terms())
        .await
        .expect("claim");
    assert!(matches!(taken, Claim::Granted { .. }), "{taken:?}");
    assert_eq!(
        a.handle.let_go(vec![x.clone()]).await.expect("let go"),
        std::slice::from_ref(&x)
    );
    assert!(a.handle.snapshot().squads.is_empty());
    assert_eq!(
        b.handle.adopt(vec![x.clone()]).await.expect("adopt"),
        std::slice::from_ref(&x)
    );
    world.gate.add_permits(Semaphore::MAX_PERMITS / 2);

    // Once ENG-1 merged, ENG-3 is free to claim: a takes it.
    let z = until("ENG-3 is claimable", || claim_one(&a)).await;
    until("the run is finished", || async {
        let record = world.store.run(&run).await.expect("run");
        (record.status == RunStatus::Finished).then_some(())
    })
    .await;
    for squad in [&x, &y, &z] {
        assert_eq!(phase(&world, squad).await, Phase::Merged, "{squad}");
    }

    // x was written by a under token 1, then by b under token 2, never by a again.
    let writers = world.store.event_writers(&x).await.expect("writers");
    let signed: Vec<(String, u64)> = writers
        .iter()
        .filter_map(|writer| Some((writer.holder.clone()?.to_string(), writer.token?.get())))
        .collect();
    let first_b = signed
        .iter()
        .position(|(holder, _)| holder == "b")
        .expect("b wrote for x");
    assert!(
        signed[..first_b]
            .iter()
            .all(|signer| *signer == ("a".to_owned(), 1))
            && signed[first_b..]
                .iter()
                .all(|signer| *signer == ("b".to_owned(), 2)),
        "{signed:?}"
    );
    for (squad, holder) in [(&y, "b"), (&z, "a")] {
        let writers = world.store.event_writers(squad).await.expect("writers");
        // Past the admission's events (the squad's creation and its issue's title), written
        // by whoever admitted the run.
        let holders: BTreeSet<String> = writers
            .iter()
            .skip(2)
            .filter_map(|writer| writer.holder.as_ref().map(ToString::to_string))
            .collect();
        assert_eq!(holders, BTreeSet::from([holder.to_owned()]), "{squad}");
    }

    // The code host saw one PR per issue, one review per reviewer and head, one merge each.
    let branches: BTreeSet<String> = world
        .code_host
        .prs
        .lock()
        .unwrap()
        .iter()
        .map(|pr| pr.branch.clone())
        .collect();
    assert_eq!(world.code_host.prs.lock().unwrap().len(), 3);
    assert_eq!(branches.len(), 3);
    assert!(
        world
            .code_host
            .review_counts()
            .values()
            .all(|count| *count == 1),
        "{:?}",
        world.code_host.review_counts()
    );
    assert_eq!(world.code_host.merges.lock().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_squad_merges_only_once_no_other_daemon_holds_its_bases_merge_lane() {
    let world = World::new(vec![issue(1, &[])], ReviewScript::default()).await;
    let (a, b) = (daemon(&world, "a"), daemon(&world, "b"));
    let lane = squadron_core::merge_queue::MergeLane {
        repo: squadron_core::ports::RepoRef::new("acme", "shop"),
        base: "main".to_owned(),
    };
    // b merges into main (its lane lease outlives the test unless released).
    assert_eq!(
        b.store
            .take_merge_lane(&lane, TestClock.now())
            .await
            .expect("b takes the lane"),
        None
    );

    let run = a.handle.start_run(URL).await.expect("start the run");
    let squad = until("a claims the squad", || claim_one(&a)).await;
    until("the squad is merging", || async {
        (phase(&world, &squad).await == Phase::Merging).then_some(())
    })
    .await;
    // a's squad waits in its lane for as long as b holds the store's: several of a's ticks.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(phase(&world, &squad).await, Phase::Merging);
    assert!(
        world.code_host.merges.lock().unwrap().is_empty(),
        "nothing merged into main while b held its lane"
    );

    b.store
        .release_merge_lane(&lane, TestClock.now())
        .await
        .expect("b lets the lane go");
    until("the run is finished", || async {
        let record = world.store.run(&run).await.expect("run");
        (record.status == RunStatus::Finished).then_some(())
    })
    .await;
    assert_eq!(phase(&world, &squad).await, Phase::Merged);
    assert_eq!(world.code_host.merges.lock().unwrap().len(), 1);
    // a let its lane go after the merge (and the base test): b takes it at once.
    until("a let the lane go", || async {
        b.store
            .take_merge_lane(&lane, TestClock.now())
            .await
            .expect("take")
            .is_none()
            .then_some(())
    })
    .await;
}
