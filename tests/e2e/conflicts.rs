//! Two squads of one milestone editing the same lines of the sample repository, through the
//! binary: the second finds its branch in conflict with the first's merge, resolves the
//! conflict in a conflict-resolution round, is reviewed again by both reviewers and merges,
//! and the merged base passes the sample repository's tests. The GitHub calls are counted.

use squadron::demo::generated::{Behaviour, MAX_ROUNDS, PACKAGE, held_gate, milestone_of};
use squadron::demo::{DemoLimits, SAMPLE_REPO, sample_repo_files};

use crate::support::{Rig, describe, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_squad_resolves_its_conflict_is_reviewed_again_and_the_base_passes_its_tests() {
    let limits = DemoLimits {
        review_rounds: Some(MAX_ROUNDS),
        ..DemoLimits::default()
    };
    let rig = Rig::start(
        milestone_of(&[
            Behaviour::ExportsRate { held: false },
            Behaviour::ExportsRate { held: true },
        ]),
        limits,
    )
    .await;

    // ENG-2's branch starts from the base ENG-1 has not changed yet; its Developer goes on
    // only once ENG-1 merged, so ENG-2 reaches the gate in conflict with it.
    let (output, ()) = tokio::join!(rig.run(&[]), async {
        until("ENG-1 merged", || {
            rig.pulls()
                .iter()
                .any(|pull| pull.title.starts_with("ENG-1") && pull.merged)
        })
        .await;
        rig.world.model.release(&held_gate("ENG-2"));
    });

    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let pulls = rig.pulls();
    assert_eq!(pulls.len(), 2);
    assert!(pulls.iter().all(|pull| pull.merged), "{pulls:#?}");
    let merges = rig.world.github.merges(SAMPLE_REPO).expect("merges");
    assert_eq!(merges.len(), 2, "each PR merged once");

    let resolving: Vec<String> = rig
        .world
        .model
        .requests()
        .into_iter()
        .filter(|request| request.script.as_deref() == Some("developer-conflicts-ENG-2"))
        .map(|request| request.raw_body)
        .collect();
    let first = resolving
        .first()
        .expect("ENG-2's Developer resolved a conflict");
    assert!(
        first.contains(&format!("### `{PACKAGE}`")) && first.contains("<<<<<<< main ("),
        "the Developer was shown the conflicting file with its markers: {first}"
    );
    assert!(
        first.contains("### ENG-1 (") && first.contains("Rate of plan 1"),
        "and what the PR that landed first was for: {first}"
    );
    assert!(
        !rig.world
            .model
            .requests()
            .iter()
            .any(|request| request.script.as_deref() == Some("developer-conflicts-ENG-1")),
        "the first squad merged without a conflict"
    );
    let second = pulls
        .iter()
        .find(|pull| pull.title.starts_with("ENG-2"))
        .expect("ENG-2's PR");
    let reviews = rig
        .world
        .github
        .reviews(SAMPLE_REPO, second.number)
        .expect("reviews");
    assert_eq!(
        reviews.len(),
        4,
        "both reviewers reviewed the first head and again the resolved head: {reviews:#?}"
    );
    assert!(
        reviews.iter().all(|review| !review
            .body
            .contains("Approval renewed without a new review")),
        "a resolved patch is reviewed by the models, never renewed: {reviews:#?}"
    );

    let package = rig
        .world
        .github
        .file_at(SAMPLE_REPO, "main", PACKAGE)
        .expect("main resolves")
        .expect("the package is on main");
    assert!(
        package.contains("from ledger.rate_1 import rate_1\nfrom ledger.rate_2 import rate_2\n"),
        "both exports are on main: {package}"
    );
    assert_base_passes_its_tests(&rig);

    let calls = rig.world.github.requests().expect("requests are recorded");
    let listed: Vec<String> = calls
        .iter()
        .map(|call| format!("{} {}", call.method, call.path))
        .collect();
    let count = |method: &str, part: &str| {
        calls
            .iter()
            .filter(|call| call.method == method && call.path.contains(part))
            .count()
    };
    assert_eq!(count("PUT", "/merge"), 2, "no merge refused: {listed:#?}");
    assert_eq!(
        count("POST", "/reviews"),
        6,
        "two reviews of ENG-1, four of ENG-2: {listed:#?}"
    );
    assert_eq!(calls.len(), EXPECTED_CONFLICT_CALLS, "{listed:#?}");
}

/// Checks out the base branch's files from the stand-in and runs the repository's own test
/// command on them.
fn assert_base_passes_its_tests(rig: &Rig) {
    let checkout = tempfile::tempdir().expect("a checkout directory");
    let added = [
        "ledger/rate_1.py",
        "ledger/rate_2.py",
        "tests/test_rate_1.py",
        "tests/test_rate_2.py",
    ];
    let paths = sample_repo_files()
        .map(|(path, _)| path)
        .into_iter()
        .chain(added);
    for path in paths {
        let text = rig
            .world
            .github
            .file_at(SAMPLE_REPO, "main", path)
            .expect("main resolves")
            .unwrap_or_else(|| panic!("{path} is on main"));
        let target = checkout.path().join(path);
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("mkdir");
        std::fs::write(target, text).expect("write");
    }
    let tests = std::process::Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests", "-t", "."])
        .current_dir(checkout.path())
        .output()
        .expect("run python3");
    assert!(
        tests.status.success(),
        "the merged base fails its tests:\n{}",
        String::from_utf8_lossy(&tests.stderr)
    );
    let report = String::from_utf8_lossy(&tests.stderr);
    assert!(report.contains("OK"), "{report}");
}

/// Every GitHub call of the run, counted once and pinned: both squads' usual calls (PR,
/// reviews, pushes, gate reads, the fetch that tests the merge result, merge, the fetch that
/// tests the base after it) plus ENG-2's gate read that found the conflict, the fetches of
/// its rebase and of its resolution, the push of the resolution, the PR body and the second
/// reviews with their reads. GitHub answers "not computed yet" to the first read of a PR
/// after each push, so the gate reads each of the three pushed heads once more (four calls
/// each).
const EXPECTED_CONFLICT_CALLS: usize = 94;
