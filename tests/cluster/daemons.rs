//! Each `squadron serve` sharing a store registers under its stable id (configured, or host
//! and pid): every replica's `/api/daemons` and `squadron status` show the whole cluster, a
//! second daemon under a live daemon's id refuses to start, and a daemon stopped with
//! SIGTERM shows as stopped.

use crate::support::{Standins, describe};

fn ids(cluster: &serde_json::Value) -> Vec<(String, String)> {
    cluster["daemons"]
        .as_array()
        .expect("a list of daemons")
        .iter()
        .map(|daemon| {
            (
                daemon["id"].as_str().expect("an id").to_owned(),
                daemon["state"].as_str().expect("a state").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_replica_shows_the_daemons_sharing_its_store_under_their_ids() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let standins = Standins::start(&["--issues", "1"]);
    let a = standins.serve(&[("SQUADRON_SERVER_DAEMON_ID", "replica-a")]);
    let b = standins.serve(&[]);
    let b_id = format!("{}:{}", host_name(), b.pid());

    let seen_by_a = a.get("/api/daemons").await;
    let seen_by_b = b.get("/api/daemons").await;
    assert_eq!(seen_by_a["this"], "replica-a", "{seen_by_a:#}");
    assert_eq!(seen_by_b["this"], b_id.as_str(), "{seen_by_b:#}");
    let mut expected = vec![
        ("replica-a".to_owned(), "running".to_owned()),
        (b_id.clone(), "running".to_owned()),
    ];
    expected.sort();
    assert_eq!(ids(&seen_by_a), expected, "{seen_by_a:#}");
    assert_eq!(ids(&seen_by_b), expected, "{seen_by_b:#}");
    assert!(
        seen_by_b["daemons"][0]["pid"].as_u64().is_some(),
        "{seen_by_b:#}"
    );

    // A second process under replica-a's id would share its leases: it refuses to start.
    let twin = standins.squadron_with(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--control-listen",
            "shared",
        ],
        &[("SQUADRON_SERVER_DAEMON_ID", "replica-a")],
    );
    assert_eq!(twin.status.code(), Some(78), "{}", describe(&twin));
    let said = String::from_utf8_lossy(&twin.stderr);
    assert!(
        said.contains("register daemon `replica-a`: the id is in use by process")
            && said.contains("server.daemon_id"),
        "{said}"
    );

    assert_eq!(a.terminate(), Some(0), "SIGTERM stops the daemon cleanly");
    let after = b.get("/api/daemons").await;
    let states = ids(&after);
    assert!(
        states.contains(&("replica-a".to_owned(), "stopped".to_owned())),
        "{after:#}"
    );

    let status = standins.squadron_with(&["status", "--json"], &[]);
    assert_eq!(status.status.code(), Some(0), "{}", describe(&status));
    let status: serde_json::Value =
        serde_json::from_slice(&status.stdout).expect("status --json is JSON");
    assert_eq!(ids(&status), states, "{status:#}");
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .expect("the host name")
}
