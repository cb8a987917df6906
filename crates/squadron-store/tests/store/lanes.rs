//! Stopped merge lanes: recorded with both merges they name, one record per lane, read back
//! after reopening the store, and gone once resumed.

use squadron_core::gate::CommitSha;
use squadron_core::merge_queue::{LandedMerge, LaneStop, MergeLane};
use squadron_core::ports::{RepoRef, StoppedLane};
use squadron_core::{IssueKey, PrNumber, SquadId};

use crate::support::{TestDb, at};

fn lane(base: &str) -> MergeLane {
    MergeLane {
        repo: RepoRef::new("acme", "shop"),
        base: base.to_owned(),
    }
}

fn landed(issue: &str, pr: Option<u64>, sha: &str) -> LandedMerge {
    LandedMerge {
        squad: SquadId::new(format!("squad-{issue}")),
        issue: IssueKey::new(issue),
        pr: pr.map(PrNumber),
        sha: CommitSha::new(sha),
    }
}

pub async fn a_stopped_lane_is_kept_over_a_reopen_until_it_is_resumed(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.lane_stops().await.expect("read"), Vec::new());
    let main = LaneStop {
        lane: lane("main"),
        failing: landed("ENG-2", Some(8), "b2"),
        previous: Some(landed("ENG-1", Some(7), "a1")),
        output: "test result: FAILED. 1 passed; 1 failed".to_owned(),
    };
    let release = LaneStop {
        lane: lane("release"),
        failing: landed("ENG-3", None, "c3"),
        previous: None,
        output: String::new(),
    };
    store.stop_lane(&release, at(5)).await.expect("stop");
    store.stop_lane(&main, at(3)).await.expect("stop");
    // Recorded again after a restart: still one record of the lane.
    store.stop_lane(&main, at(4)).await.expect("stop again");
    drop(store);

    let store = db.open().await;
    assert_eq!(
        store.lane_stops().await.expect("read"),
        vec![
            StoppedLane {
                stop: main.clone(),
                at: at(4)
            },
            StoppedLane {
                stop: release.clone(),
                at: at(5)
            },
        ]
    );
    assert!(store.resume_lane(&lane("main")).await.expect("resume"));
    assert!(
        !store
            .resume_lane(&lane("main"))
            .await
            .expect("resume again"),
        "it is running already"
    );
    assert_eq!(
        store.lane_stops().await.expect("read"),
        vec![StoppedLane {
            stop: release,
            at: at(5)
        }]
    );
}
