//! Stop the line through the binary: two squads whose changes each pass the tests alone but
//! break the suite together both merge (the pre-merge test of the merge result is off), the
//! test command fails on the base head after the second merge, and the base's merge lane
//! stops. Both merges are named on their Linear issues and in Slack, a third squad approved
//! meanwhile waits in the lane and `status` says why; `squadron revert` on the second merge
//! (no `--now`) records a revert squad, which the running `squadron run` takes up: both
//! reviewers approve the revert PR, it merges through the stopped lane, the tests pass on its
//! base, its issue is reopened with a comment linking it, the change failure is counted, the
//! lane resumes and the third squad then merges.

use std::time::Duration;

use squadron::demo::generated::{Behaviour, held_gate, milestone_of};
use squadron::demo::{DemoLimits, SAMPLE_REPO};
use squadron_core::ports::{SquadEvent, StoppedLane};
use squadron_core::{Phase, SquadKind};
use squadron_store::{SqlStore, StoreLocation};

use crate::support::{Rig, describe};

const CHANNEL: &str = "C0LEDGER";

/// Waits up to three minutes for `ready` to give a value, polling every 200 ms.
async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut ready: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(value) = ready().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_that_break_the_suite_together_stop_the_lane_until_the_second_is_reverted() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // ENG-1 adds plan 1 (100 cents); ENG-2 adds plan 2 with a test that plan 2 is the
    // cheapest: true alone, false once plan 1 is on the base too. ENG-3 starts with them and
    // is held at its Developer's first model call until the lane has stopped.
    let seed = milestone_of(&[Behaviour::Approve, Behaviour::CheapestPlan, Behaviour::Held]);
    let limits = DemoLimits {
        concurrency: 3,
        ..DemoLimits::default()
    };
    let rig = Rig::start(seed, limits).await;
    let env = [
        ("SQUADRON_GITHUB_TEST_MERGE_RESULT", "false"),
        ("SQUADRON_SLACK_CHANNEL", CHANNEL),
        // The held call waits for the test, not for a timeout.
        ("SQUADRON_PROVIDERS_OPENAI_TIMEOUT_SECS", "600"),
    ];
    let store = SqlStore::open(&StoreLocation::Sqlite(rig.dir().join("squadron.db")))
        .await
        .expect("open the store");

    let watch = async {
        let stopped: StoppedLane = eventually("the lane stops", || async {
            store.lane_stops().await.ok()?.into_iter().next()
        })
        .await;
        let stop = &stopped.stop;
        assert_eq!(stop.lane.to_string(), format!("{SAMPLE_REPO}:main"));
        let previous = stop.previous.as_ref().expect("the merge before is named");
        let mut named = [stop.failing.issue.as_str(), previous.issue.as_str()];
        named.sort_unstable();
        assert_eq!(named, ["ENG-1", "ENG-2"], "{stop:?}");
        assert!(stop.output.contains("is_the_cheapest"), "{}", stop.output);
        let failing = stop.failing.issue.as_str().to_owned();
        let failing_pr = stop.failing.pr.expect("the failing PR").0;
        let previous_pr = previous.pr.expect("the previous PR").0;

        // Both issues name both PRs and say what to do.
        for issue in ["ENG-1", "ENG-2"] {
            let comments = rig.linear_comments(issue);
            let comment = comments
                .iter()
                .find(|comment| comment.contains("Stop the line"))
                .unwrap_or_else(|| panic!("a stop-the-line comment on {issue}: {comments:#?}"));
            assert!(
                comment.contains(&format!("(PR #{failing_pr})")),
                "{comment}"
            );
            assert!(
                comment.contains(&format!("(PR #{previous_pr})")),
                "{comment}"
            );
            assert!(
                comment.contains(&format!("`squadron revert {failing}`")),
                "{comment}"
            );
            assert!(comment.contains("is_the_cheapest"), "{comment}");
        }
        // And so do both squads' Slack threads.
        let said = eventually("both threads are told", || async {
            let told: Vec<String> = rig
                .world
                .slack
                .messages()
                .into_iter()
                .filter(|message| message.channel == CHANNEL && message.thread_ts.is_some())
                .filter_map(|message| message.text)
                .filter(|text| text.contains(":octagonal_sign: Stop the line"))
                .collect();
            (told.len() == 2).then_some(told)
        })
        .await;
        assert!(
            said[0].contains(&format!("squadron revert {failing}")),
            "{said:?}"
        );

        // The third squad goes on, is approved and waits in the stopped lane.
        rig.world.model.release(&held_gate("ENG-3"));
        let wait = format!(
            "ENG-3 waits: the merge lane {SAMPLE_REPO}:main stopped when the tests failed after \
             {failing} merged"
        );
        let status = eventually("ENG-3 waits in the stopped lane", || async {
            let output = rig.squadron(&["status"], &[]).await;
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            text.contains(&wait).then_some(text)
        })
        .await;
        assert!(status.contains("Stop the line"), "{status}");
        let eng3 = rig
            .pulls()
            .into_iter()
            .find(|pull| pull.title.starts_with("ENG-3"))
            .expect("ENG-3's PR");
        assert!(!eng3.merged, "nothing merges into a stopped lane: {eng3:?}");

        // The second merge goes back through review: `squadron run` runs the store's
        // squads, so it takes the recorded revert up.
        let output = rig
            .squadron(
                &["revert", &failing, "--reason", "breaks is_the_cheapest"],
                &[],
            )
            .await;
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains(&format!("{failing} revert recorded for review")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("the merge lane {SAMPLE_REPO}:main stays stopped")),
            "{stdout}"
        );
        // Asked again while it is under way: the same revert, nothing new.
        let output = rig.squadron(&["revert", &failing], &[]).await;
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("recorded already"),
            "{}",
            describe(&output)
        );
        failing
    };
    let (output, failing) = tokio::join!(rig.run(&env), watch);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    let pulls = rig.pulls();
    let eng3 = pulls
        .iter()
        .find(|pull| pull.title.starts_with("ENG-3"))
        .expect("ENG-3's PR");
    assert!(eng3.merged, "the resumed lane merged ENG-3: {eng3:?}");
    let reverts: Vec<_> = pulls
        .iter()
        .filter(|pull| pull.title == format!("Revert {failing}"))
        .collect();
    assert_eq!(reverts.len(), 1, "one revert PR: {pulls:#?}");
    let revert = reverts[0];
    assert!(revert.merged, "{revert:?}");
    assert!(
        revert
            .body
            .as_deref()
            .is_some_and(|body| body.contains("breaks is_the_cheapest")),
        "{revert:?}"
    );
    // Reviewed like any change: both identities approved the head that merged.
    assert_eq!(
        rig.approvers(revert.number, &revert.head_sha),
        ["squadron-code-reviewer", "squadron-qa-specialist"]
    );
    // It merged through the stopped lane, before ENG-3: the way out.
    let mut merges = Vec::new();
    for overview in store.squad_overviews(None).await.expect("squads") {
        let squad = overview.record.squad;
        let events = store.events(&squad.id).await.expect("events");
        if let Some(merged) = events
            .iter()
            .find(|event| event.kind == SquadEvent::PHASE_CHANGED && event.phase == Phase::Merged)
        {
            let name = match squad.kind {
                SquadKind::Revert => format!("revert {}", squad.issue),
                _ => squad.issue.as_str().to_owned(),
            };
            merges.push((merged.at, name));
        }
    }
    merges.sort();
    let order: Vec<&str> = merges.iter().map(|(_, name)| name.as_str()).collect();
    assert_eq!(
        order[2..],
        [format!("revert {failing}").as_str(), "ENG-3"],
        "{order:?}"
    );
    assert_eq!(rig.linear_state(&failing).as_deref(), Some("In Progress"));
    let comments = rig.linear_comments(&failing);
    let comment = comments
        .iter()
        .find(|comment| comment.contains("Squadron reverted this issue's change"))
        .unwrap_or_else(|| panic!("a revert comment on {failing}: {comments:#?}"));
    assert!(
        comment.contains(&format!("/{SAMPLE_REPO}/pull/{}", revert.number)),
        "{comment}"
    );
    assert_eq!(store.lane_stops().await.expect("read"), Vec::new());

    rig.metrics_with_one_revert(&failing).await;

    // Nothing is stopped any more: resuming again says so and changes nothing.
    let output = rig
        .squadron(&["resume-lane", SAMPLE_REPO, "main"], &[])
        .await;
    assert_eq!(output.status.code(), Some(64), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("is not stopped"),
        "{}",
        describe(&output)
    );
    store.close().await;
}
