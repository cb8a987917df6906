//! Red required checks through the binary, with GitHub Actions scripted on the stand-in: a
//! failure the PR caused is fixed in one CI-fix round and re-reviewed, a failure also red on
//! the base goes to a person untouched, a flaky check is run again once and counted, and a
//! check that never reports is named after the configured wait. Each counts the GitHub
//! calls it expects.

use squadron::demo::generated::{Behaviour, MAX_ROUNDS, milestone_of};
use squadron::demo::{DemoLimits, SAMPLE_REPO};
use squadron_standin_github::{CheckScript, FailureReport, RecordedRequest, Workflow};

use crate::support::{Rig, describe};

/// The configuration the tests add through the environment: `test` is required.
const REQUIRE_TEST: (&str, &str) = ("SQUADRON_GITHUB_REQUIRED_CHECKS", "test");

async fn rig(behaviour: Behaviour, workflow: Workflow) -> Rig {
    let limits = DemoLimits {
        review_rounds: Some(MAX_ROUNDS),
        ..DemoLimits::default()
    };
    let rig = Rig::start(milestone_of(&[behaviour]), limits).await;
    rig.world
        .github
        .add_workflow(SAMPLE_REPO, workflow)
        .expect("register the workflow");
    rig
}

fn requests(rig: &Rig) -> Vec<RecordedRequest> {
    rig.world.github.requests().expect("requests are recorded")
}

/// How many recorded requests have `method` and a path containing `part`.
fn count(requests: &[RecordedRequest], method: &str, part: &str) -> usize {
    requests
        .iter()
        .filter(|request| request.method == method && request.path.contains(part))
        .count()
}

fn squad_detail(rig: &Rig) -> String {
    let comments = rig.linear_comments("ENG-1");
    comments.join("\n---\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_the_pr_breaks_is_fixed_in_one_ci_fix_round_re_reviewed_and_merged() {
    let workflow = Workflow::new("CI", "test")
        .script(CheckScript::FailsWhileFileContains {
            path: "ledger/rate_1.py".into(),
            text: "TODO".into(),
        })
        .failure(FailureReport {
            title: "Lint failed".into(),
            summary: "A TODO is left in the code.".into(),
            command: "make lint".into(),
            output: "ledger/rate_1.py:8: TODO left in shipped code\n".into(),
            ..FailureReport::default()
        });
    let rig = rig(Behaviour::LeavesTodo, workflow).await;

    let output = rig.run(&[REQUIRE_TEST]).await;

    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let pulls = rig.pulls();
    assert_eq!(pulls.len(), 1);
    assert!(pulls[0].merged, "the PR merged");
    let main = rig
        .world
        .github
        .file_at(SAMPLE_REPO, "main", "ledger/rate_1.py")
        .expect("main resolves")
        .expect("the module is on main");
    assert!(!main.contains("TODO"), "the fix merged: {main}");
    let prompts: Vec<String> = rig
        .world
        .model
        .requests()
        .into_iter()
        .filter(|request| request.script.as_deref() == Some("developer-ci-fix-ENG-1"))
        .map(|request| request.raw_body)
        .collect();
    assert!(
        prompts
            .first()
            .is_some_and(|body| body.contains("TODO left in shipped code")),
        "the Developer was given the failing job's log"
    );
    let reviews = rig
        .world
        .github
        .reviews(SAMPLE_REPO, pulls[0].number)
        .expect("reviews");
    assert_eq!(
        reviews.len(),
        4,
        "both reviewers reviewed the first head and again the fixed head"
    );
    let calls = requests(&rig);
    assert_eq!(
        count(&calls, "POST", "/rerun"),
        1,
        "its first failure was run again once, then fixed"
    );
    assert_eq!(
        count(&calls, "GET", "/logs"),
        1,
        "the failing job's log read once"
    );
    assert_eq!(count(&calls, "PUT", "/merge"), 1, "merged once");
    assert_eq!(calls.len(), EXPECTED_OWN_FAILURE_CALLS, "{calls:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_also_red_on_the_base_goes_to_a_person_naming_it_and_the_base_commit() {
    let workflow = Workflow::new("CI", "test").script(CheckScript::FailsEverywhere);
    let rig = rig(Behaviour::Approve, workflow).await;
    let base = rig
        .world
        .github
        .branch_head(SAMPLE_REPO, "main")
        .expect("main")
        .expect("main has a tip");

    let output = rig.run(&[REQUIRE_TEST]).await;

    let pulls = rig.pulls();
    assert_eq!(pulls.len(), 1);
    assert!(!pulls[0].merged, "{}", describe(&output));
    let detail = squad_detail(&rig);
    assert!(
        detail.contains(&format!(
            "required check `test` also fails on the base head {}",
            &base[..7]
        )),
        "the person is told the check and the base commit:\n{detail}\n{}",
        describe(&output)
    );
    let calls = requests(&rig);
    assert_eq!(count(&calls, "POST", "/rerun"), 0, "nothing re-run");
    assert_eq!(count(&calls, "GET", "/logs"), 0, "no fix tried");
    assert_eq!(
        rig.world
            .model
            .requests()
            .iter()
            .filter(|request| request.raw_body.contains("## A required check fails"))
            .count(),
        0,
        "no CI-fix turn"
    );
    assert_eq!(calls.len(), EXPECTED_PRE_EXISTING_CALLS, "{calls:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_check_is_run_again_once_merged_and_counted_as_flaky() {
    let workflow = Workflow::new("CI", "test").script(CheckScript::FlakyOnce);
    let rig = rig(Behaviour::Approve, workflow).await;

    let output = rig.run(&[REQUIRE_TEST]).await;

    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(rig.pulls()[0].merged, "the PR merged");
    let calls = requests(&rig);
    assert_eq!(count(&calls, "POST", "/rerun"), 1, "run again exactly once");
    let status = rig.squadron(&["status", "--json"], &[]).await;
    let json: serde_json::Value =
        serde_json::from_slice(&status.stdout).expect("status prints JSON");
    let flaky = &json["runs"][0]["squads"][0]["flaky_checks"];
    assert_eq!(
        flaky.as_array().map(Vec::len),
        Some(1),
        "counted as flaky once: {json:#}"
    );
    assert!(
        flaky[0]
            .as_str()
            .is_some_and(|text| text.starts_with("`test` on "))
    );
    assert_eq!(calls.len(), EXPECTED_FLAKY_CALLS, "{calls:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_check_that_never_reports_is_named_after_the_configured_wait() {
    let workflow = Workflow::new("CI", "test").only_on_default_branch();
    let rig = rig(Behaviour::Approve, workflow).await;

    let output = rig
        .run(&[
            REQUIRE_TEST,
            ("SQUADRON_LIMITS_CHECK_REPORT_WAIT_SECS", "2"),
        ])
        .await;

    assert!(!rig.pulls()[0].merged, "{}", describe(&output));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let status = rig.squadron(&["status", "--json"], &[]).await;
    let json: serde_json::Value =
        serde_json::from_slice(&status.stdout).expect("status prints JSON");
    assert_eq!(
        json["runs"][0]["squads"][0]["phase"], "needs-human",
        "{json:#}"
    );
    let detail = squad_detail(&rig);
    let named = "required check `test` never reported on the PR's head after ";
    let waited: u64 = detail
        .split(named)
        .nth(1)
        .and_then(|rest| rest.split(" second").next())
        .and_then(|secs| secs.parse().ok())
        .unwrap_or_else(|| panic!("{detail}\n{}", describe(&output)));
    assert!(
        waited >= 2,
        "named only after the configured wait: {detail}"
    );
    assert!(
        detail.contains("Make the workflow run on `pull_request` for the base branch")
            && detail.contains("`github.required_checks`"),
        "and what to configure: {detail}"
    );
    let calls = requests(&rig);
    assert_eq!(count(&calls, "POST", "/rerun"), 0);
    assert_eq!(count(&calls, "PUT", "/merge"), 0);
    assert_eq!(calls.len(), EXPECTED_NEVER_REPORTED_CALLS, "{calls:#?}");
}

// Every GitHub call of each run, counted once and pinned: the squad's usual calls (PR,
// reviews, pushes, gate reads, merge) plus what the check handling adds. A squad that
// merges fetches the base once more just before (two git requests: the ref advertisement
// and the pack), to test its head merged with the base's tip, and its merge is followed by
// the test of the base's new head (stop the line: three more). GitHub answers "not computed
// yet" to the first read of a PR after a push; where the gate would otherwise let the PR
// through on that read (the fixed head, with its checks green), it reads once more (four
// calls).
const EXPECTED_OWN_FAILURE_CALLS: usize = 69;
const EXPECTED_PRE_EXISTING_CALLS: usize = 30;
const EXPECTED_FLAKY_CALLS: usize = 41;
const EXPECTED_NEVER_REPORTED_CALLS: usize = 32;
