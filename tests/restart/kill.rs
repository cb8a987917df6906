//! A kill right after admission and at each phase boundary (the runtime's failpoints, armed
//! through `FAILPOINTS`), then a restart on the same store: the run completes, the skipped
//! issue is never worked on, and nothing outside happened twice.
//!
//! The world is the demo milestone with ENG-2 and ENG-3 already done, so one squad (ENG-4,
//! whose first code review requests changes) passes every phase, fix round included, and
//! ENG-5 is skipped with a comment.

use std::collections::BTreeMap;

use squadron::demo::{DemoLimits, SAMPLE_REPO, Scenario, WorldSeed};

use crate::support::{Rig, describe};

fn seed() -> WorldSeed {
    let scenario = Scenario::Milestone;
    let mut workspace = scenario.linear_workspace();
    let done = workspace
        .states
        .iter()
        .find(|state| state.name == "Done")
        .map(|state| state.id.clone())
        .expect("the team has a Done state");
    for issue in &mut workspace.issues {
        if issue.identifier == "ENG-2" || issue.identifier == "ENG-3" {
            issue.state_id.clone_from(&done);
        }
    }
    WorldSeed {
        workspace,
        scripts: scenario.script_book().expect("the demo scripts load"),
        project_url: scenario.project_url(),
    }
}

async fn killed_at_then_restarted(phase: &str) {
    let rig = Rig::start(seed(), DemoLimits::default()).await;
    let failpoint = format!("squadron::{phase}=return");
    let unrefined_state = rig.linear_state("ENG-5");

    let killed = rig.run(&[("FAILPOINTS", &failpoint)]).await;
    assert_ne!(
        killed.status.code(),
        Some(0),
        "the kill at `{phase}` stopped the run: {}",
        describe(&killed)
    );
    let restarted = rig.run(&[]).await;
    assert_eq!(
        restarted.status.code(),
        Some(0),
        "after a kill at `{phase}`: {}",
        describe(&restarted)
    );

    let pulls = rig.pulls();
    assert_eq!(
        pulls.len(),
        1,
        "after a kill at `{phase}`: one PR, not two: {pulls:?}"
    );
    assert!(pulls[0].merged);
    let merges = rig.world.github.merges(SAMPLE_REPO).expect("merges");
    assert_eq!(merges.len(), 1, "after a kill at `{phase}`: merged once");

    // One review per reviewer per head: round 1 on the first head, round 2 on the fixed one.
    let reviews = rig
        .world
        .github
        .reviews(SAMPLE_REPO, pulls[0].number)
        .expect("reviews");
    let mut per_head: BTreeMap<(String, String), usize> = BTreeMap::new();
    for review in &reviews {
        *per_head
            .entry((review.user.clone(), review.commit_id.clone()))
            .or_default() += 1;
    }
    assert!(
        per_head.values().all(|count| *count == 1),
        "after a kill at `{phase}`: a review was posted twice: {per_head:?}"
    );
    assert_eq!(
        reviews.len(),
        4,
        "after a kill at `{phase}`: two rounds of two reviews"
    );

    let pr_comments = rig
        .world
        .github
        .issue_comments(SAMPLE_REPO, pulls[0].number)
        .expect("comments");
    let mut bodies: Vec<&String> = pr_comments.iter().map(|(_, body)| body).collect();
    let before = bodies.len();
    bodies.sort();
    bodies.dedup();
    assert_eq!(
        bodies.len(),
        before,
        "after a kill at `{phase}`: a PR comment was posted twice"
    );
    for issue in ["ENG-4", "ENG-5"] {
        let mut comments = rig.linear_comments(issue);
        let before = comments.len();
        comments.sort();
        comments.dedup();
        assert_eq!(
            comments.len(),
            before,
            "after a kill at `{phase}`: {issue} got a comment twice"
        );
    }
    assert_eq!(
        rig.linear_comments("ENG-5").len(),
        1,
        "the skip comment is posted once"
    );
    assert_eq!(rig.linear_state("ENG-4").as_deref(), Some("Done"));
    assert_eq!(
        rig.linear_state("ENG-5"),
        unrefined_state,
        "after a kill at `{phase}`: the unrefined issue was never worked on"
    );
}

macro_rules! kill_at {
    ($($test:ident => $phase:literal),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            killed_at_then_restarted($phase).await;
        }
    )*};
}

kill_at! {
    a_kill_right_after_admission_then_a_restart_completes_once => "admitted",
    a_kill_entering_preparing_then_a_restart_completes_once => "preparing",
    a_kill_entering_implementing_then_a_restart_completes_once => "implementing",
    a_kill_entering_verifying_then_a_restart_completes_once => "verifying",
    a_kill_entering_pr_open_then_a_restart_completes_once => "pr-open",
    a_kill_entering_reviewing_then_a_restart_completes_once => "reviewing",
    a_kill_entering_fixing_then_a_restart_completes_once => "fixing",
    a_kill_entering_approved_then_a_restart_completes_once => "approved",
    a_kill_entering_merging_then_a_restart_completes_once => "merging",
    a_kill_entering_merged_then_a_restart_completes_once => "merged",
}
