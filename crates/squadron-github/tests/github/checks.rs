//! Reading a failed check and running it again, over real HTTP against the stand-in's
//! scripted GitHub Actions: output, annotations, the job's log excerpt, the base branch's
//! result, re-runs and re-requests, each with the exact GitHub calls it costs.

use super::*;
use squadron_core::ports::{CheckOrigin, CheckReport, CheckState, RerunOutcome};
use squadron_standin_github::{
    Annotation, CheckRunSnapshot, CheckScript, FailureReport, RecordedRequest, Workflow,
};

const CART_BUGGY: &str = "def total(items):\n    return sum(items) + 1\n";

fn failing_tests(output: String) -> FailureReport {
    FailureReport {
        title: "1 test failed".into(),
        summary: "`test_total` failed: assert 7 == 6".into(),
        text: Some("\u{1b}[31mAssertionError\u{1b}[0m: 7 != 6".into()),
        annotations: vec![Annotation {
            path: "tests/test_cart.py".into(),
            line: 5,
            message: "AssertionError: assert 7 == 6".into(),
        }],
        command: "python -m pytest".into(),
        output,
    }
}

fn pytest_output() -> String {
    let mut output =
        String::from("collected 3 items\n\ntests/test_cart.py .\u{1b}[31mF\u{1b}[0m.\n\n");
    output.push_str(
        "=================================== FAILURES ===================================\n",
    );
    output.push_str(">       assert total([1, 2, 3]) == 6\nE       assert 7 == 6\n\n");
    output.push_str("tests/test_cart.py:5: AssertionError\n");
    output.push_str("FAILED tests/test_cart.py::test_total - assert 7 == 6\n");
    output
}

impl Fixture {
    /// Registers `workflow` and opens a PR whose head holds `cart.py` as `cart`.
    async fn pr_under_ci(
        &self,
        host: &GithubCodeHost,
        workflow: Workflow,
        cart: &str,
    ) -> CommitSha {
        self.standin.add_workflow(SLUG, workflow).unwrap();
        let head = CommitSha::new(
            self.standin
                .commit_files(SLUG, BRANCH, &[("cart.py", cart)], "Add the cart")
                .unwrap(),
        );
        host.find_or_create_pull_request(&self.repo, &self.request(BRANCH))
            .await
            .unwrap();
        head
    }

    fn request_count(&self) -> usize {
        self.standin.requests().unwrap().len()
    }

    /// `METHOD path?query` of every request since `from`.
    fn requests_since(&self, from: usize) -> Vec<String> {
        self.standin.requests().unwrap()[from..]
            .iter()
            .map(
                |RecordedRequest {
                     method,
                     path,
                     query,
                     ..
                 }| match query {
                    Some(query) => format!("{method} {path}?{query}"),
                    None => format!("{method} {path}"),
                },
            )
            .collect()
    }
}

fn ids(report: &CheckReport) -> (u64, u64) {
    match report.origin {
        CheckOrigin::ActionsJob {
            check_run_id,
            check_suite_id,
        } => (check_run_id, check_suite_id),
        ref other => panic!("an Actions job's check, not {other:?}"),
    }
}

#[tokio::test]
async fn a_failed_actions_check_is_read_with_its_output_annotations_and_log_excerpt() {
    let fixture = Fixture::start().await;
    let host = fixture.distinct_host();
    let workflow = Workflow::new("CI", "test")
        .script(CheckScript::FailsWhileFileContains {
            path: "cart.py".into(),
            text: "+ 1".into(),
        })
        .failure(failing_tests(pytest_output()));
    let head = fixture.pr_under_ci(&host, workflow, CART_BUGGY).await;

    let before = fixture.request_count();
    let report = host
        .read_check(&fixture.repo, head.as_str(), "test")
        .await
        .unwrap()
        .expect("the check reported");
    assert_eq!(
        (&report.name, &report.sha, &report.state, report.attempts),
        (
            &"test".to_owned(),
            &head,
            &CheckState::Failed {
                outcome: "failure".into()
            },
            1
        )
    );
    assert_eq!(report.title.as_deref(), Some("1 test failed"));
    assert_eq!(
        report.summary.as_deref(),
        Some("`test_total` failed: assert 7 == 6")
    );
    assert_eq!(
        report.text.as_deref(),
        Some("AssertionError: 7 != 6"),
        "ANSI stripped"
    );
    assert_eq!(report.annotation_count, 1);
    let (check_run_id, check_suite_id) = ids(&report);

    let evidence = host
        .read_check_evidence(&fixture.repo, &report)
        .await
        .unwrap();
    assert_eq!(evidence.annotations.len(), 1);
    assert_eq!(
        (
            evidence.annotations[0].path.as_str(),
            evidence.annotations[0].line,
            evidence.annotations[0].level.as_str()
        ),
        ("tests/test_cart.py", Some(5), "failure")
    );
    let log = evidence.log.expect("an Actions job has a log");
    assert!(log.contains("E       assert 7 == 6"), "{log}");
    assert!(log.contains("FAILED tests/test_cart.py::test_total"));
    assert!(log.contains("Error: Process completed with exit code 1."));
    assert!(!log.contains('\u{1b}'), "ANSI stripped: {log}");
    assert!(!log.contains("0000000Z"), "timestamps stripped: {log}");
    assert!(!log.contains("##["), "workflow commands rendered: {log}");

    // The token went to GitHub only; the log came from the log host without it.
    let downloads = fixture.standin.log_downloads().unwrap();
    assert_eq!(downloads.len(), 1);
    assert!(!downloads[0].sent_authorization);
    assert_eq!(downloads[0].status, 200);
    let job_id = downloads[0].job_id;
    let runs = fixture.standin.requests().unwrap();
    let run_id = runs
        .iter()
        .find(|r| r.path.ends_with("/jobs"))
        .and_then(|r| r.path.split('/').nth(6).map(str::to_owned))
        .expect("the jobs of the workflow run were listed");
    assert_eq!(
        fixture.requests_since(before),
        vec![
            format!(
                "GET /repos/acme/shop/commits/{head}/check-runs?check_name=test&filter=all&per_page=100"
            ),
            format!("GET /repos/acme/shop/check-runs/{check_run_id}/annotations?per_page=100"),
            format!("GET /repos/acme/shop/actions/runs?check_suite_id={check_suite_id}"),
            format!("GET /repos/acme/shop/actions/runs/{run_id}/jobs?filter=all&per_page=100"),
            format!("GET /repos/acme/shop/actions/jobs/{job_id}/logs"),
        ]
    );
}

#[tokio::test]
async fn the_base_branch_tip_is_read_by_name_and_a_check_that_never_ran_reads_as_none() {
    let fixture = Fixture::start().await;
    let host = fixture.distinct_host();
    let head = fixture
        .pr_under_ci(
            &host,
            Workflow::new("CI", "test").script(CheckScript::FailsEverywhere),
            CART_BUGGY,
        )
        .await;
    let main = fixture.standin.branch_head(SLUG, "main").unwrap().unwrap();

    let on_base = host
        .read_check(&fixture.repo, "main", "test")
        .await
        .unwrap()
        .expect("the workflow runs on main");
    assert!(on_base.failed());
    assert_eq!(on_base.sha.as_str(), main);
    assert!(
        host.read_check(&fixture.repo, head.as_str(), "lint")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_flaky_actions_check_is_rerun_once_and_its_second_attempt_passes() {
    let fixture = Fixture::start().await;
    let host = fixture.distinct_host();
    let head = fixture
        .pr_under_ci(
            &host,
            Workflow::new("CI", "test").script(CheckScript::FlakyOnce),
            CART_BUGGY,
        )
        .await;
    let first = host
        .read_check(&fixture.repo, head.as_str(), "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.failed(), first.attempts), (true, 1));

    let before = fixture.request_count();
    assert_eq!(
        host.rerun_check(&fixture.repo, &first).await.unwrap(),
        RerunOutcome::Requested
    );
    let calls = fixture.requests_since(before);
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(calls[0].starts_with("GET /repos/acme/shop/actions/runs?check_suite_id="));
    assert!(calls[1].contains("/jobs?filter=all"));
    assert!(
        calls[2].starts_with("POST /repos/acme/shop/actions/jobs/") && calls[2].ends_with("/rerun"),
        "{calls:?}"
    );

    let second = host
        .read_check(&fixture.repo, head.as_str(), "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&second.state, second.attempts), (&CheckState::Passed, 2));
    assert_ne!(ids(&second).0, ids(&first).0, "a new check run");
}

#[tokio::test]
async fn a_commit_status_is_read_but_cannot_be_run_again() {
    let fixture = Fixture::start().await;
    let host = fixture.distinct_host();
    let head = fixture.push(BRANCH, LIB_CHANGED);
    fixture
        .standin
        .add_status(SLUG, head.as_str(), "ci/jenkins", "failure")
        .unwrap();
    let before = fixture.request_count();
    let report = host
        .read_check(&fixture.repo, head.as_str(), "ci/jenkins")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (&report.origin, &report.state, &report.sha),
        (
            &CheckOrigin::Status,
            &CheckState::Failed {
                outcome: "failure".into()
            },
            &head
        )
    );
    let evidence = host
        .read_check_evidence(&fixture.repo, &report)
        .await
        .unwrap();
    assert_eq!((evidence.annotations.len(), evidence.log), (0, None));
    let outcome = host.rerun_check(&fixture.repo, &report).await.unwrap();
    assert!(
        matches!(&outcome, RerunOutcome::NotRerunnable { reason } if reason.contains("commit status")),
        "{outcome:?}"
    );
    assert_eq!(
        fixture.requests_since(before),
        vec![
            format!(
                "GET /repos/acme/shop/commits/{head}/check-runs?check_name=ci/jenkins&filter=all&per_page=100"
            ),
            format!("GET /repos/acme/shop/commits/{head}/status?per_page=100"),
        ],
        "statuses have no evidence or re-run to ask GitHub for"
    );
}

#[tokio::test]
async fn another_apps_check_run_is_rerequested_and_an_actions_refusal_is_an_outcome() {
    let fixture = Fixture::start().await;
    let host = fixture.distinct_host();
    let head = fixture.push(BRANCH, LIB_CHANGED);
    fixture
        .standin
        .add_check_run(
            SLUG,
            head.as_str(),
            CheckRunSnapshot {
                name: "coverage".into(),
                status: "completed".into(),
                conclusion: Some("failure".into()),
                ..CheckRunSnapshot::default()
            },
        )
        .unwrap();
    let report = host
        .read_check(&fixture.repo, head.as_str(), "coverage")
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(&report.origin, CheckOrigin::App { app, .. } if app == "standin-ci"));
    let before = fixture.request_count();
    assert_eq!(
        host.rerun_check(&fixture.repo, &report).await.unwrap(),
        RerunOutcome::Requested
    );
    let calls = fixture.requests_since(before);
    assert_eq!(calls.len(), 1);
    assert!(calls[0].ends_with("/rerequest"), "{calls:?}");

    // A token without Actions write permission: GitHub answers 403, the squad hears why.
    fixture
        .pr_under_ci(
            &host,
            Workflow::new("CI", "test").script(CheckScript::FlakyOnce),
            CART_BUGGY,
        )
        .await;
    let pr_head = fixture.standin.branch_head(SLUG, BRANCH).unwrap().unwrap();
    let flaky = host
        .read_check(&fixture.repo, &pr_head, "test")
        .await
        .unwrap()
        .unwrap();
    fixture
        .standin
        .inject_fault(
            FaultRule::new(Fault::ServerError { status: 403 })
                .method("POST")
                .path_contains("/rerun"),
        )
        .unwrap();
    let refused = host.rerun_check(&fixture.repo, &flaky).await.unwrap();
    assert!(
        matches!(&refused, RerunOutcome::NotRerunnable { reason } if reason.contains("Actions write permission")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_log_of_megabytes_is_downloaded_within_the_caps_keeping_the_first_error_and_the_end() {
    let fixture = Fixture::start().await;
    let host = fixture.distinct_host();
    let mut output = String::from("error: the first thing that went wrong\n");
    while output.len() < 7 * 1024 * 1024 {
        output.push_str("warning: a noisy line that repeats itself to fill the log up\n");
    }
    output.push_str("test result: FAILED. 41 passed; 1 failed\n");
    let head = fixture
        .pr_under_ci(
            &host,
            Workflow::new("CI", "test")
                .script(CheckScript::FailsEverywhere)
                .failure(failing_tests(output)),
            CART_BUGGY,
        )
        .await;
    let report = host
        .read_check(&fixture.repo, head.as_str(), "test")
        .await
        .unwrap()
        .unwrap();
    let log = host
        .read_check_evidence(&fixture.repo, &report)
        .await
        .unwrap()
        .log
        .unwrap();
    assert!(log.len() <= 12 * 1024, "{}", log.len());
    assert!(log.contains("error: the first thing that went wrong"));
    assert!(
        log.starts_with("[the log is too long to read whole: "),
        "the middle was skipped: {log}"
    );
    assert!(log.contains("test result: FAILED. 41 passed; 1 failed"));
    assert!(log.contains("Error: Process completed with exit code 1."));
}
