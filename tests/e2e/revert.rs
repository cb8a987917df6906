//! `squadron revert` on the stand-ins. With `--now`: after the demo milestone merged, the last
//! merge is taken back through a revert PR merged at once, its Linear issue is reopened with
//! a comment linking the revert, `squadron metrics` counts the change failure, and asking
//! again changes nothing. Without it, and no daemon running the store's squads: the command
//! runs the revert squad itself, through both reviews to the merge.

use squadron::demo::generated::{Behaviour, milestone};
use squadron::demo::{DemoLimits, SAMPLE_REPO, Scenario, WorldSeed};
use squadron_core::Phase;
use squadron_core::effect::EffectKey;
use squadron_core::event_payload::EventPayload;
use squadron_core::gate::CommitSha;
use squadron_store::{SqlStore, StoreLocation};

use crate::support::{Rig, describe};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revert_now_takes_the_last_merge_back_reopens_its_issue_and_counts_the_failure() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rig = Rig::start(
        WorldSeed::of_scenario(Scenario::Milestone).expect("the milestone scenario"),
        DemoLimits::default(),
    )
    .await;
    let output = rig.run(&[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    // The squad that merged last: nothing merged after it, so its revert applies cleanly.
    let store = SqlStore::open(&StoreLocation::Sqlite(rig.dir().join("squadron.db")))
        .await
        .expect("open the store");
    let mut last = None;
    for overview in store.squad_overviews(None).await.expect("squads") {
        if overview.record.squad.phase != Phase::Merged {
            continue;
        }
        let events = store
            .events(&overview.record.squad.id)
            .await
            .expect("events");
        let merged_at = events.last().expect("events").at;
        if last.as_ref().is_none_or(|(at, _)| merged_at > *at) {
            last = Some((merged_at, overview.record.squad.issue.as_str().to_owned()));
        }
    }
    store.close().await;
    let (_, issue) = last.expect("a squad merged");
    let pulls_before = rig.pulls().len();

    let output = rig
        .squadron(
            &["revert", &issue, "--now", "--reason", "checkout fails"],
            &[],
        )
        .await;

    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&format!("{issue} reverted:")), "{stdout}");
    let pulls = rig.pulls();
    assert_eq!(pulls.len(), pulls_before + 1, "one revert PR");
    let revert = pulls
        .iter()
        .find(|pull| pull.head_ref == format!("squadron/revert-{}", issue.to_lowercase()))
        .expect("the revert PR");
    assert!(revert.merged, "merged at once: {revert:?}");
    assert_eq!(revert.title, format!("Revert {issue}"));
    assert_eq!(revert.base_ref, "main");
    assert!(
        revert
            .body
            .as_deref()
            .unwrap_or_default()
            .contains("checkout fails"),
        "{revert:?}"
    );
    assert_eq!(rig.linear_state(&issue).as_deref(), Some("In Progress"));
    let comments = rig.linear_comments(&issue);
    let comment = comments
        .iter()
        .find(|comment| comment.contains("Squadron reverted this issue's change"))
        .unwrap_or_else(|| panic!("a revert comment on {issue}: {comments:#?}"));
    assert!(
        comment.contains(&format!("/{SAMPLE_REPO}/pull/{}", revert.number)),
        "{comment}"
    );

    let metrics = rig.metrics_with_one_revert(&issue).await;
    let rate = metrics["total"]["change_failure_rate"]
        .as_f64()
        .expect("rate");
    assert!((rate - 1.0 / 3.0).abs() < 1e-9, "{rate}");

    // Asked again, it says so and changes nothing.
    let output = rig.squadron(&["revert", &issue, "--now"], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("was reverted already"),
        "{}",
        describe(&output)
    );
    assert_eq!(rig.pulls().len(), pulls_before + 1);

    // The skipped issue never merged: nothing to revert, and nothing changes.
    let output = rig.squadron(&["revert", "ENG-5"], &[]).await;
    assert_ne!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(rig.pulls().len(), pulls_before + 1);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("ENG-5"),
        "{}",
        describe(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revert_without_a_daemon_runs_the_revert_squad_here_through_review_to_the_merge() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rig = Rig::start(milestone(2, Behaviour::Approve), DemoLimits::default()).await;
    let output = rig.run(&[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let pulls_before = rig.pulls().len();

    let output = rig
        .squadron(&["revert", "ENG-1", "--reason", "plan 1 is withdrawn"], &[])
        .await;

    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("ENG-1 reverted:"), "{stdout}");
    assert!(stdout.contains("reviewed and merged as"), "{stdout}");
    let pulls = rig.pulls();
    assert_eq!(pulls.len(), pulls_before + 1, "one revert PR: {pulls:#?}");
    let revert = pulls
        .iter()
        .find(|pull| pull.head_ref == "squadron/revert-eng-1")
        .expect("the revert PR");
    assert!(revert.merged, "{revert:?}");
    assert_eq!(revert.title, "Revert ENG-1");
    assert_eq!(
        rig.approvers(revert.number, &revert.head_sha),
        ["squadron-code-reviewer", "squadron-qa-specialist"]
    );
    assert_eq!(rig.linear_state("ENG-1").as_deref(), Some("In Progress"));
    assert_eq!(rig.linear_state("ENG-2").as_deref(), Some("Done"));
    let comments = rig.linear_comments("ENG-1");
    assert!(
        comments.iter().any(
            |comment| comment.contains("Squadron reverted this issue's change")
                && comment.contains(&format!("/{SAMPLE_REPO}/pull/{}", revert.number))
                && comment.contains("plan 1 is withdrawn")
        ),
        "{comments:#?}"
    );

    // The revert counts as ENG-1's change failure, not as a merged change of its own.
    let metrics = rig.metrics_with_one_revert("ENG-1").await;
    assert_eq!(metrics["total"]["merges"], 2, "{metrics:#}");

    // ENG-1 now names its change again, which is reverted already.
    let output = rig.squadron(&["revert", "ENG-1"], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("ENG-1 was reverted already"),
        "{}",
        describe(&output)
    );
    assert_eq!(rig.pulls().len(), pulls_before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_reverted_by_hand_on_the_base_counts_as_a_change_failure_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rig = Rig::start(milestone(2, Behaviour::Approve), DemoLimits::default()).await;
    let output = rig.run(&[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let store = SqlStore::open(&StoreLocation::Sqlite(rig.dir().join("squadron.db")))
        .await
        .expect("open the store");
    let squad = store
        .find_squad("ENG-2")
        .await
        .expect("ENG-2's squad")
        .squad;
    let merge: CommitSha = store
        .effect_result(&EffectKey::Merge {
            squad: squad.id.clone(),
        })
        .await
        .expect("read the journal")
        .expect("ENG-2's merge");

    // A person takes ENG-2's merge back with git, outside Squadron; another commit names a
    // revert of something no squad merged.
    let github = &rig.world.github;
    github
        .commit_files(
            SAMPLE_REPO,
            "main",
            &[("ledger/rate_2.py", "")],
            &format!("Revert \"ENG-2: Rate of plan 2\"\n\nThis reverts commit {merge}.\n"),
        )
        .expect("push the revert");
    github
        .commit_files(
            SAMPLE_REPO,
            "main",
            &[("NOTES.md", "Notes.\n")],
            "Revert the notes\n\nThis reverts commit 0123456789abcdef0123456789abcdef01234567.\n",
        )
        .expect("push another revert");

    let metrics = rig.metrics_with_one_revert("ENG-2").await;
    assert_eq!(metrics["total"]["merges"], 2, "{metrics:#}");
    // Read again, the revert is still recorded once.
    rig.metrics_with_one_revert("ENG-2").await;
    let events = store.events(&squad.id).await.expect("ENG-2's log");
    let reverts: Vec<_> = events
        .iter()
        .filter_map(|event| event.note.as_ref().filter(|note| note.is_revert()))
        .collect();
    assert_eq!(reverts.len(), 1, "{reverts:#?}");
    assert!(
        matches!(reverts[0], EventPayload::RevertedOnBase { reverted_sha, .. } if *reverted_sha == merge),
        "{reverts:#?}"
    );
    // squadron revert knows it is reverted.
    let output = rig.squadron(&["revert", "ENG-2"], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("ENG-2 was reverted already: commit "),
        "{}",
        describe(&output)
    );
    store.close().await;
}
