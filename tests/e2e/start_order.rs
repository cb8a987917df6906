//! Squads of one milestone whose issues name the same files, through the binary: the one
//! that goes second starts only once the first merged, while an issue sharing no file with
//! either runs alongside the first; the run's progress says what the second waits for.

use squadron::demo::generated::{Behaviour, MAX_ROUNDS, held_gate, milestone_naming};
use squadron::demo::{DemoLimits, SAMPLE_REPO};

use crate::support::{Rig, describe, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issues_naming_the_same_file_run_one_after_the_other_and_an_unrelated_one_alongside() {
    let limits = DemoLimits {
        review_rounds: Some(MAX_ROUNDS),
        ..DemoLimits::default()
    };
    // ENG-1 and ENG-2 name the package, written two ways; ENG-3 only its own module. The
    // held squads' Developers answer only when the test says.
    let rig = Rig::start(
        milestone_naming(
            &[Behaviour::Held, Behaviour::Approve, Behaviour::Held],
            &[
                &["ledger/__init__.py", "ledger/rate_1.py"],
                &["./ledger/__init__.py"],
                &["ledger/rate_3.py"],
            ],
        ),
        limits,
    )
    .await;
    let developer_asked = |issue: &str| {
        !rig.world
            .model
            .requests_for(&format!("developer-{issue}"))
            .is_empty()
    };
    let merged = |issue: &str| {
        rig.pulls()
            .iter()
            .any(|pull| pull.title.starts_with(issue) && pull.merged)
    };

    let (output, ()) = tokio::join!(rig.run(&[]), async {
        until("ENG-1 and ENG-3 are both at work", || {
            developer_asked("ENG-1") && developer_asked("ENG-3")
        })
        .await;
        assert!(
            !developer_asked("ENG-2"),
            "ENG-2 names ENG-1's file: it waits, though two of four slots are free"
        );
        rig.world.model.release(&held_gate("ENG-3"));
        until("ENG-3 merged", || merged("ENG-3")).await;
        assert!(
            !developer_asked("ENG-2"),
            "ENG-3's merge does not start ENG-2, which waits for ENG-1"
        );
        rig.world.model.release(&held_gate("ENG-1"));
    });

    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let pulls = rig.pulls();
    assert_eq!(pulls.len(), 3, "{pulls:#?}");
    assert!(pulls.iter().all(|pull| pull.merged), "{pulls:#?}");
    let merged_in_order: Vec<String> = rig
        .world
        .github
        .merges(SAMPLE_REPO)
        .expect("merges")
        .iter()
        .filter_map(|merge| {
            let pull = pulls.iter().find(|pull| pull.number == merge.number)?;
            pull.title
                .split(|c: char| !(c.is_alphanumeric() || c == '-'))
                .next()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(merged_in_order, ["ENG-3", "ENG-1", "ENG-2"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.lines().any(|line| line.starts_with("ENG-2")
            && line.contains("waits for ENG-1 to finish: both name some of the same files")),
        "the progress says what ENG-2 waits for: {stdout}"
    );
    assert!(
        rig.world.model.requests().iter().all(|request| !request
            .script
            .as_deref()
            .is_some_and(|script| script.starts_with("developer-conflicts"))),
        "nobody had a conflict to resolve"
    );
}
