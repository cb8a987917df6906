//! The daemons sharing a store: registered under their ids, beating, stopping, and one id
//! refused to a second live process.

use std::time::Duration;

use squadron_core::lease::DaemonId;
use squadron_store::{DaemonState, StoreErrorKind};

use crate::support::{TestDb, at};

const LEASE: Duration = Duration::from_secs(30);

pub async fn daemons_register_beat_and_stop_and_one_id_serves_one_live_process(db: TestDb) {
    let store = db.open().await;
    let a = DaemonId::new("replica-a");
    store
        .register_daemon(&a, "host-1", 100, at(0), LEASE)
        .await
        .expect("register");
    store
        .register_daemon(&DaemonId::new("replica-b"), "host-2", 200, at(1), LEASE)
        .await
        .expect("register another");

    // A second process under a live daemon's id is refused, naming who holds it.
    let taken = store
        .register_daemon(&a, "host-3", 300, at(10), LEASE)
        .await
        .expect_err("the id is in use");
    assert_eq!(taken.kind(), StoreErrorKind::Conflict);
    assert!(
        taken.to_string().contains("by process 100 on host-1"),
        "{taken}"
    );

    store.daemon_heartbeat(&a, 100, at(20)).await.expect("beat");
    let daemons = store.daemons().await.expect("list");
    let states: Vec<(&str, DaemonState)> = daemons
        .iter()
        .map(|daemon| (daemon.id.as_str(), daemon.state(at(45))))
        .collect();
    assert_eq!(
        states,
        [
            ("replica-a", DaemonState::Running),
            ("replica-b", DaemonState::Silent)
        ]
    );

    // Once it stops (or falls silent), its id may be taken by a new process.
    store.daemon_stopped(&a, 100, at(50)).await.expect("stop");
    assert_eq!(
        store.daemons().await.expect("list")[0].state(at(51)),
        DaemonState::Stopped
    );
    store
        .register_daemon(&a, "host-3", 300, at(52), LEASE)
        .await
        .expect("a stopped daemon's id is free");
    store
        .register_daemon(&DaemonId::new("replica-b"), "host-4", 400, at(53), LEASE)
        .await
        .expect("a silent daemon's id is free");
    let replaced = store
        .daemon_heartbeat(&a, 100, at(54))
        .await
        .expect_err("the old process was replaced");
    assert_eq!(replaced.kind(), StoreErrorKind::NotFound);
    let a_now = &store.daemons().await.expect("list")[0];
    assert_eq!(
        (a_now.host.as_str(), a_now.pid, a_now.stopped_at),
        ("host-3", 300, None)
    );
}
