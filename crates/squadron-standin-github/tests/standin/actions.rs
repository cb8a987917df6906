//! GitHub Actions on the stand-in: workflows triggered by pull requests and pushes, their
//! runs, jobs, logs on a second origin and check runs, scripted outcomes, and re-runs.

use super::*;
use squadron_standin_github::{Annotation, CheckScript, FailureReport, Workflow};

const BUGGY: &str = "def total(items):\n    return sum(items) + 1\n";
const FIXED: &str = "def total(items):\n    return sum(items)\n";

fn failure() -> FailureReport {
    FailureReport {
        title: "1 test failed".into(),
        summary: "`test_total` failed: 7 != 6".into(),
        text: Some("AssertionError: 7 != 6".into()),
        annotations: vec![Annotation {
            path: "tests/test_cart.py".into(),
            line: 5,
            message: "AssertionError: 7 != 6".into(),
        }],
        command: "python -m unittest".into(),
        output: "\u{1b}[31mFAIL: test_total (tests.test_cart.CartTest)\u{1b}[0m\nAssertionError: 7 != 6\n".into(),
    }
}

fn bug_workflow() -> Workflow {
    Workflow::new("CI", "test")
        .script(CheckScript::FailsWhileFileContains {
            path: "cart.py".into(),
            text: "+ 1".into(),
        })
        .failure(failure())
}

impl Fixture {
    async fn post(&self, path: &str) -> StatusCode {
        self.call("tok-dev", Method::POST, path, None).await.0
    }

    pub(crate) async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call("tok-dev", Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    async fn check_runs(&self, reference: &str, query: &str) -> Vec<Value> {
        let body = self
            .get(&format!(
                "/repos/acme/shop/commits/{reference}/check-runs{query}"
            ))
            .await;
        body["check_runs"].as_array().expect("check_runs").clone()
    }

    /// The only workflow run on `sha` and its latest attempt's only job.
    async fn run_and_job(&self, sha: &str) -> (Value, Value) {
        let runs = self
            .get(&format!("/repos/acme/shop/actions/runs?head_sha={sha}"))
            .await;
        assert_eq!(runs["total_count"], 1, "{runs}");
        let run = runs["workflow_runs"][0].clone();
        let jobs = self
            .get(&format!("/repos/acme/shop/actions/runs/{}/jobs", run["id"]))
            .await;
        assert_eq!(jobs["total_count"], 1, "{jobs}");
        (run, jobs["jobs"][0].clone())
    }
}

#[tokio::test]
async fn a_pull_request_runs_its_workflow_and_a_failure_reports_output_annotations_and_a_log() {
    let fx = Fixture::new().await;
    fx.standin
        .add_workflow(SLUG, bug_workflow())
        .expect("workflow");
    let (number, head) = fx.open_pull("eng-1", &[("cart.py", BUGGY)]).await;

    let runs = fx.check_runs(&head, "").await;
    assert_eq!(runs.len(), 1);
    let check = &runs[0];
    assert_eq!(
        (&check["name"], &check["status"], &check["conclusion"]),
        (&json!("test"), &json!("completed"), &json!("failure"))
    );
    assert_eq!(check["app"]["slug"], "github-actions");
    assert_eq!(check["output"]["title"], "1 test failed");
    assert_eq!(check["output"]["summary"], "`test_total` failed: 7 != 6");
    assert_eq!(check["output"]["annotations_count"], 1);
    let annotations = fx
        .get(&format!(
            "/repos/acme/shop/check-runs/{}/annotations",
            check["id"]
        ))
        .await;
    assert_eq!(annotations[0]["path"], "tests/test_cart.py");
    assert_eq!(annotations[0]["start_line"], 5);
    assert_eq!(annotations[0]["annotation_level"], "failure");

    // The check run belongs to a workflow run found by its check suite, whose job points
    // back at the check run.
    let by_suite = fx
        .get(&format!(
            "/repos/acme/shop/actions/runs?check_suite_id={}",
            check["check_suite"]["id"]
        ))
        .await;
    assert_eq!(by_suite["total_count"], 1);
    let run = &by_suite["workflow_runs"][0];
    assert_eq!(
        (&run["event"], &run["head_sha"], &run["conclusion"]),
        (&json!("pull_request"), &json!(head), &json!("failure"))
    );
    assert_eq!(run["pull_requests"][0]["number"], number);
    let (_, job) = fx.run_and_job(&head).await;
    assert_eq!(job["check_run_url"], check["url"]);
    assert_eq!(job["name"], "test");
    assert_eq!(job["steps"][2]["conclusion"], "failure");

    // The log lives on another origin; the API answers with a redirect to a signed URL.
    let logs = fx
        .send(
            "tok-dev",
            Method::GET,
            &format!("/repos/acme/shop/actions/jobs/{}/logs", job["id"]),
            None,
            None,
        )
        .await;
    assert_eq!(
        logs.status(),
        StatusCode::OK,
        "reqwest follows the redirect"
    );
    assert!(
        logs.url().as_str().starts_with(fx.standin.log_host_url()),
        "{}",
        logs.url()
    );
    let text = logs.text().await.expect("log text");
    assert!(text.contains("\u{1b}[31mFAIL: test_total"), "{text}");
    assert!(text.contains("##[error]Process completed with exit code 1."));
    assert!(text.contains("remote: Counting objects"));
    let downloads = fx.standin.log_downloads().expect("downloads");
    assert_eq!(downloads.len(), 1);
    assert!(!downloads[0].sent_authorization);

    // The fix is a push: the pull request's workflow runs again on the new head, green.
    let fixed = fx
        .standin
        .commit_files(SLUG, "eng-1", &[("cart.py", FIXED)], "Fix the total")
        .expect("fix");
    let runs = fx.check_runs(&fixed, "").await;
    assert_eq!(runs[0]["conclusion"], "success");
    assert_eq!(fx.settled_pull(number).await["mergeable_state"], "clean");
}

#[tokio::test]
async fn a_flaky_check_fails_its_first_attempt_and_its_rerun_passes_as_a_new_attempt() {
    let fx = Fixture::new().await;
    fx.standin
        .set_repo_settings(
            SLUG,
            RepoSettings {
                required_contexts: vec!["test".into()],
                require_up_to_date: false,
            },
        )
        .expect("settings");
    fx.standin
        .add_workflow(
            SLUG,
            Workflow::new("CI", "test").script(CheckScript::FlakyOnce),
        )
        .expect("workflow");
    let main = fx.standin.branch_head(SLUG, "main").unwrap().unwrap();
    assert_eq!(fx.check_runs(&main, "").await[0]["conclusion"], "success");
    let (number, head) = fx.open_pull("eng-1", &[("a.txt", "a\n")]).await;
    assert_eq!(fx.check_runs(&head, "").await[0]["conclusion"], "failure");
    assert_eq!(fx.settled_pull(number).await["mergeable_state"], "blocked");

    let (run, job) = fx.run_and_job(&head).await;
    assert_eq!(
        fx.post(&format!(
            "/repos/acme/shop/actions/jobs/{}/rerun",
            job["id"]
        ))
        .await,
        StatusCode::CREATED
    );

    let latest = fx.check_runs(&head, "").await;
    assert_eq!(latest.len(), 1, "filter=latest keeps one run per name");
    assert_eq!(latest[0]["conclusion"], "success");
    let all = fx.check_runs(&head, "?filter=all&check_name=test").await;
    assert_eq!(
        all.iter()
            .map(|r| r["conclusion"].clone())
            .collect::<Vec<_>>(),
        vec![json!("success"), json!("failure")],
        "newest first"
    );
    let (rerun, new_job) = fx.run_and_job(&head).await;
    assert_eq!(
        (rerun["id"].clone(), rerun["run_attempt"].clone()),
        (run["id"].clone(), json!(2))
    );
    assert_ne!(new_job["id"], job["id"]);
    assert_eq!(new_job["run_attempt"], 2);
    let every = fx
        .get(&format!(
            "/repos/acme/shop/actions/runs/{}/jobs?filter=all",
            run["id"]
        ))
        .await;
    assert_eq!(every["total_count"], 2);

    // An earlier attempt's job cannot be re-run any more.
    assert_eq!(
        fx.post(&format!(
            "/repos/acme/shop/actions/jobs/{}/rerun",
            job["id"]
        ))
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(fx.settled_pull(number).await["mergeable_state"], "clean");
    assert_eq!(
        fx.merge(number, json!({"sha": head})).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_failure_everywhere_is_red_on_the_default_branch_too_and_each_merge_runs_it_again() {
    let fx = Fixture::new().await;
    fx.standin
        .add_workflow(
            SLUG,
            Workflow::new("CI", "test").script(CheckScript::FailsEverywhere),
        )
        .expect("workflow");
    let on_main = fx.check_runs("main", "?check_name=test").await;
    assert_eq!(on_main[0]["conclusion"], "failure");
    let (number, head) = fx.open_pull("eng-1", &[("a.txt", "a\n")]).await;
    assert_eq!(fx.check_runs(&head, "").await[0]["conclusion"], "failure");
    fx.settled_pull(number).await;
    let (status, merged) = fx.merge(number, json!({"sha": head})).await;
    assert_eq!(status, StatusCode::OK, "nothing is required: {merged}");
    let push_runs = fx
        .get("/repos/acme/shop/actions/runs?event=push&branch=main")
        .await;
    assert_eq!(push_runs["total_count"], 2, "the seed's tip and the merge");
    assert_eq!(push_runs["workflow_runs"][0]["head_sha"], merged["sha"]);
}

#[tokio::test]
async fn a_workflow_that_only_runs_on_the_default_branch_never_reports_on_a_pull_request() {
    let fx = Fixture::new().await;
    fx.standin
        .add_workflow(SLUG, Workflow::new("Lint", "lint").only_on_default_branch())
        .expect("workflow");
    let (_, head) = fx.open_pull("eng-1", &[("a.txt", "a\n")]).await;
    assert!(fx.check_runs(&head, "").await.is_empty());
    assert_eq!(fx.check_runs("main", "").await[0]["name"], "lint");
}

#[tokio::test]
async fn a_job_no_runner_picks_up_stays_queued_without_a_log_and_cannot_be_rerun() {
    let fx = Fixture::new().await;
    fx.standin
        .add_workflow(
            SLUG,
            Workflow::new("CI", "test").script(CheckScript::NeverStarts),
        )
        .expect("workflow");
    let (_, head) = fx.open_pull("eng-1", &[("a.txt", "a\n")]).await;
    let runs = fx.check_runs(&head, "").await;
    assert_eq!(
        (&runs[0]["status"], &runs[0]["conclusion"]),
        (&json!("queued"), &Value::Null)
    );
    let (run, job) = fx.run_and_job(&head).await;
    assert_eq!(run["status"], "queued");
    let (status, _) = fx
        .call(
            "tok-dev",
            Method::GET,
            &format!("/repos/acme/shop/actions/jobs/{}/logs", job["id"]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        fx.post(&format!(
            "/repos/acme/shop/actions/runs/{}/rerun",
            run["id"]
        ))
        .await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_pull_request_that_conflicts_with_its_base_gets_no_run() {
    let fx = Fixture::new().await;
    fx.standin
        .add_workflow(SLUG, Workflow::new("CI", "test"))
        .expect("workflow");
    let head = fx
        .standin
        .commit_files(SLUG, "eng-1", &[("src/lib.rs", "eins\n")], "Branch edit")
        .expect("branch edit");
    fx.standin
        .commit_files(SLUG, "main", &[("src/lib.rs", "uno\n")], "Base edit")
        .expect("base edit");
    let (status, pull) = fx
        .call(
            "tok-dev",
            Method::POST,
            "/repos/acme/shop/pulls",
            Some(json!({"title": "ENG-1", "head": "eng-1", "base": "main"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let number = pull["number"].as_u64().expect("number");
    assert!(fx.check_runs(&head, "").await.is_empty());
    assert_eq!(fx.settled_pull(number).await["mergeable_state"], "dirty");
}

#[tokio::test]
async fn an_actions_check_run_is_rerun_through_actions_and_an_external_one_is_rerequested() {
    let fx = Fixture::new().await;
    fx.standin
        .add_workflow(SLUG, bug_workflow())
        .expect("workflow");
    let (_, head) = fx.open_pull("eng-1", &[("cart.py", BUGGY)]).await;
    let actions_run = fx.check_runs(&head, "").await[0]["id"].clone();
    let (status, error) = fx
        .call(
            "tok-dev",
            Method::POST,
            &format!("/repos/acme/shop/check-runs/{actions_run}/rerequest"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    let (status, _) = fx
        .call(
            "tok-dev",
            Method::PATCH,
            &format!("/repos/acme/shop/check-runs/{actions_run}"),
            Some(json!({"conclusion": "success"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "Actions' own runs are not ours to change"
    );

    let (status, created) = fx
        .call(
            "tok-dev",
            Method::POST,
            "/repos/acme/shop/check-runs",
            Some(
                json!({"name": "coverage", "head_sha": head, "conclusion": "failure",
                "output": {"title": "Coverage fell", "summary": "71% < 80%"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["app"]["slug"], "standin-ci");
    assert_eq!(created["output"]["summary"], "71% < 80%");
    let id = created["id"].clone();
    assert_eq!(
        fx.post(&format!("/repos/acme/shop/check-runs/{id}/rerequest"))
            .await,
        StatusCode::CREATED
    );
    let (status, updated) = fx
        .call(
            "tok-dev",
            Method::PATCH,
            &format!("/repos/acme/shop/check-runs/{id}"),
            Some(json!({"conclusion": "success"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&updated["status"], &updated["output"]["title"]),
        (&json!("completed"), &json!("Coverage fell"))
    );
}

#[tokio::test]
async fn the_log_host_wants_the_signature_and_records_stray_credentials() {
    let fx = Fixture::new().await;
    fx.standin
        .add_workflow(SLUG, bug_workflow())
        .expect("workflow");
    let (_, head) = fx.open_pull("eng-1", &[("cart.py", BUGGY)]).await;
    let (_, job) = fx.run_and_job(&head).await;
    let no_redirects = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let found = no_redirects
        .get(format!(
            "{}/repos/acme/shop/actions/jobs/{}/logs",
            fx.standin.base_url(),
            job["id"]
        ))
        .header("authorization", "token tok-dev")
        .send()
        .await
        .expect("logs");
    assert_eq!(found.status(), StatusCode::FOUND);
    let location = found.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let unsigned = location.split("&urlSignature=").next().expect("prefix");
    let refused = no_redirects.get(unsigned).send().await.expect("unsigned");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let leaked = no_redirects
        .get(&location)
        .header("authorization", "token tok-dev")
        .send()
        .await
        .expect("signed");
    assert_eq!(leaked.status(), StatusCode::OK);
    let downloads = fx.standin.log_downloads().expect("downloads");
    assert_eq!(
        downloads
            .iter()
            .map(|d| (d.status, d.sent_authorization))
            .collect::<Vec<_>>(),
        vec![(403, false), (200, true)]
    );
}

// The git CLI blocks its thread, so the server needs a second worker thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_over_smart_http_to_a_pull_requests_branch_runs_its_workflow() {
    let fx = Fixture::new().await;
    fx.standin
        .add_workflow(SLUG, bug_workflow())
        .expect("workflow");
    let (_, head) = fx.open_pull("eng-1", &[("cart.py", BUGGY)]).await;
    assert_eq!(fx.check_runs(&head, "").await[0]["conclusion"], "failure");
    let dir = tempfile::tempdir().expect("dir");
    let url = fx.standin.clone_url(SLUG);
    let clone = git(
        dir.path(),
        "tok-dev",
        &["clone", "--branch", "eng-1", &url, "work"],
    );
    assert!(clone.status.success(), "{clone:?}");
    let work = dir.path().join("work");
    std::fs::write(work.join("cart.py"), FIXED).expect("write");
    assert!(
        git(&work, "tok-dev", &["commit", "-am", "Fix the total"])
            .status
            .success()
    );
    assert!(
        git(&work, "tok-dev", &["push", "origin", "eng-1"])
            .status
            .success()
    );
    let fixed = fx.standin.branch_head(SLUG, "eng-1").unwrap().unwrap();
    let runs = fx
        .get(&format!("/repos/acme/shop/actions/runs?head_sha={fixed}"))
        .await;
    assert_eq!(runs["workflow_runs"][0]["conclusion"], "success");
    assert_eq!(runs["workflow_runs"][0]["actor"]["login"], "dev-bot");
}
