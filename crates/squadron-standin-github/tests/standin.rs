//! Drives the stand-in over real HTTP (plain reqwest) and real git, checking the GitHub
//! rules the adapters rely on, and the scripted GitHub Actions (`actions.rs`).

use std::path::Path;
use std::process::Command;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use squadron_standin_github::{CheckRunSnapshot, Fault, FaultRule, GithubStandin, RepoSettings};

const SLUG: &str = "acme/shop";

struct Fixture {
    standin: GithubStandin,
    http: Client,
}

impl Fixture {
    async fn new() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let standin = GithubStandin::start().await.expect("stand-in starts");
        standin.add_user("dev-bot", "tok-dev").expect("developer");
        standin
            .add_user("review-bot", "tok-review")
            .expect("reviewer");
        standin.add_user("qa-bot", "tok-qa").expect("qa specialist");
        standin
            .create_repo(
                SLUG,
                "main",
                &[
                    ("README.md", "# Shop\n"),
                    ("src/lib.rs", "one\ntwo\nthree\n"),
                ],
            )
            .expect("repository");
        Self {
            standin,
            http: Client::new(),
        }
    }

    async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let response = self.send(token, method, path, body, None).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).expect("json body")
            },
        )
    }

    async fn send(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        if_none_match: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.standin.base_url()))
            .header("authorization", format!("token {token}"))
            .header("accept", "application/vnd.github+json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(tag) = if_none_match {
            request = request.header("if-none-match", tag);
        }
        request.send().await.expect("request reaches the stand-in")
    }

    /// A branch off main with `files` changed, and a PR for it opened by the developer.
    async fn open_pull(&self, branch: &str, files: &[(&str, &str)]) -> (u64, String) {
        let head = self
            .standin
            .commit_files(SLUG, branch, files, "Change things")
            .expect("commit");
        let (status, pull) = self
            .call(
                "tok-dev",
                Method::POST,
                "/repos/acme/shop/pulls",
                Some(json!({"title": format!("ENG-1: {branch}"), "head": branch, "base": "main", "body": "Closes ENG-1"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{pull}");
        (pull["number"].as_u64().expect("number"), head)
    }

    async fn review(&self, token: &str, number: u64, body: Value) -> (StatusCode, Value) {
        self.call(
            token,
            Method::POST,
            &format!("/repos/acme/shop/pulls/{number}/reviews"),
            Some(body),
        )
        .await
    }

    async fn merge(&self, number: u64, body: Value) -> (StatusCode, Value) {
        self.call(
            "tok-dev",
            Method::PUT,
            &format!("/repos/acme/shop/pulls/{number}/merge"),
            Some(body),
        )
        .await
    }

    /// Reads the PR until GitHub has computed mergeability.
    async fn settled_pull(&self, number: u64) -> Value {
        for _ in 0..5 {
            let (_, pull) = self
                .call(
                    "tok-dev",
                    Method::GET,
                    &format!("/repos/acme/shop/pulls/{number}"),
                    None,
                )
                .await;
            if !pull["mergeable"].is_null() {
                return pull;
            }
        }
        panic!("mergeability never computed");
    }
}

fn git(dir: &Path, token: &str, args: &[&str]) -> std::process::Output {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
    Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_COUNT", "3")
        .env("GIT_CONFIG_KEY_0", "http.extraHeader")
        .env(
            "GIT_CONFIG_VALUE_0",
            format!("Authorization: Basic {basic}"),
        )
        .env("GIT_CONFIG_KEY_1", "user.name")
        .env("GIT_CONFIG_VALUE_1", "Test")
        .env("GIT_CONFIG_KEY_2", "user.email")
        .env("GIT_CONFIG_VALUE_2", "test@example.invalid")
        .output()
        .expect("git runs")
}

mod git_transport {
    use super::*;

    // The git CLI blocks its thread, so the server needs a second worker thread.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_push_over_smart_http_lands_in_the_bare_repository() {
        let fx = Fixture::new().await;
        let work = tempfile::tempdir().expect("tempdir");
        let url = fx.standin.clone_url(SLUG);
        let out = git(work.path(), "tok-dev", &["clone", &url, "shop"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let repo = work.path().join("shop");
        std::fs::write(repo.join("NEW.md"), "hello\n").expect("write");
        assert!(
            git(&repo, "tok-dev", &["checkout", "-b", "feature"])
                .status
                .success()
        );
        assert!(git(&repo, "tok-dev", &["add", "."]).status.success());
        assert!(
            git(&repo, "tok-dev", &["commit", "-m", "Add NEW"])
                .status
                .success()
        );
        let out = git(&repo, "tok-dev", &["push", "origin", "feature"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        assert_eq!(
            fx.standin
                .file_at(SLUG, "feature", "NEW.md")
                .expect("read")
                .as_deref(),
            Some("hello\n")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_push_with_an_unknown_token_is_refused() {
        let fx = Fixture::new().await;
        let work = tempfile::tempdir().expect("tempdir");
        let out = git(
            work.path(),
            "tok-wrong",
            &["clone", &fx.standin.clone_url(SLUG), "shop"],
        );
        assert!(!out.status.success());
        assert!(
            work.path()
                .join("shop/README.md")
                .exists()
                .then_some(())
                .is_none()
        );
    }
}

mod pulls {
    use super::*;

    #[tokio::test]
    async fn get_user_names_the_token_owner() {
        let fx = Fixture::new().await;
        let (status, user) = fx.call("tok-review", Method::GET, "/user", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(user["login"], "review-bot");
        let (status, _) = fx.call("nope", Method::GET, "/user", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn a_second_pull_for_the_same_head_is_refused_and_lists_filter_by_head() {
        let fx = Fixture::new().await;
        let (number, head) = fx
            .open_pull("eng-1", &[("src/lib.rs", "one\nTWO\nthree\n")])
            .await;
        let (status, error) = fx
            .call(
                "tok-dev",
                Method::POST,
                "/repos/acme/shop/pulls",
                Some(json!({"title": "again", "head": "eng-1", "base": "main"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            error["errors"][0]["message"],
            "A pull request already exists for acme:eng-1."
        );

        let (_, listed) = fx
            .call(
                "tok-dev",
                Method::GET,
                "/repos/acme/shop/pulls?head=acme:eng-1&state=open",
                None,
            )
            .await;
        assert_eq!(listed.as_array().map(Vec::len), Some(1));
        assert_eq!(listed[0]["number"], number);
        assert_eq!(listed[0]["head"]["sha"], head.as_str());
        let (_, other) = fx
            .call(
                "tok-dev",
                Method::GET,
                "/repos/acme/shop/pulls?head=acme:eng-2",
                None,
            )
            .await;
        assert_eq!(other, json!([]));
    }

    #[tokio::test]
    async fn mergeable_is_null_on_the_first_read_after_a_push_then_computed() {
        let fx = Fixture::new().await;
        let (number, _) = fx
            .open_pull("eng-1", &[("src/lib.rs", "one\nTWO\nthree\n")])
            .await;
        let path = format!("/repos/acme/shop/pulls/{number}");
        let (_, first) = fx.call("tok-dev", Method::GET, &path, None).await;
        assert_eq!(first["mergeable"], Value::Null);
        let (_, second) = fx.call("tok-dev", Method::GET, &path, None).await;
        assert_eq!(second["mergeable"], true);
        assert_eq!(second["mergeable_state"], "clean");

        fx.standin
            .commit_files(SLUG, "eng-1", &[("b.txt", "b\n")], "More")
            .expect("push");
        let (_, after_push) = fx.call("tok-dev", Method::GET, &path, None).await;
        assert_eq!(after_push["mergeable"], Value::Null);
        assert_eq!(fx.settled_pull(number).await["mergeable"], true);
    }

    #[tokio::test]
    async fn an_edit_answers_not_computed_yet_without_counting_as_a_read() {
        let fx = Fixture::new().await;
        let (number, _) = fx.open_pull("eng-1", &[("a.txt", "a\n")]).await;
        let path = format!("/repos/acme/shop/pulls/{number}");
        let edit = json!({"body": "Closes ENG-1"});
        let (_, edited) = fx.call("tok-dev", Method::PATCH, &path, Some(edit)).await;
        assert_eq!(edited["mergeable"], Value::Null);
        let (_, first) = fx.call("tok-dev", Method::GET, &path, None).await;
        assert_eq!(first["mergeable"], Value::Null, "still the first read");
        let (_, second) = fx.call("tok-dev", Method::GET, &path, None).await;
        assert_eq!(second["mergeable"], true);
    }

    #[tokio::test]
    async fn an_unchanged_pull_answers_304_to_its_etag() {
        let fx = Fixture::new().await;
        let (number, _) = fx.open_pull("eng-1", &[("a.txt", "a\n")]).await;
        let path = format!("/repos/acme/shop/pulls/{number}");
        fx.settled_pull(number).await;
        let first = fx.send("tok-dev", Method::GET, &path, None, None).await;
        let etag = first.headers()["etag"].to_str().expect("etag").to_owned();
        let again = fx
            .send("tok-dev", Method::GET, &path, None, Some(&etag))
            .await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

        fx.call(
            "tok-dev",
            Method::PATCH,
            &path,
            Some(json!({"title": "New title"})),
        )
        .await;
        let changed = fx
            .send("tok-dev", Method::GET, &path, None, Some(&etag))
            .await;
        assert_eq!(changed.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn files_carry_the_patch() {
        let fx = Fixture::new().await;
        let (number, _) = fx
            .open_pull("eng-1", &[("src/lib.rs", "one\nTWO\nthree\n")])
            .await;
        let (_, files) = fx
            .call(
                "tok-dev",
                Method::GET,
                &format!("/repos/acme/shop/pulls/{number}/files"),
                None,
            )
            .await;
        assert_eq!(files[0]["filename"], "src/lib.rs");
        assert_eq!(files[0]["status"], "modified");
        assert_eq!(
            files[0]["patch"],
            "@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three"
        );
    }
}

mod reviews {
    use super::*;

    #[tokio::test]
    async fn the_author_cannot_approve_their_own_pull() {
        let fx = Fixture::new().await;
        let (number, _) = fx.open_pull("eng-1", &[("a.txt", "a\n")]).await;
        let (status, error) = fx
            .review(
                "tok-dev",
                number,
                json!({"event": "APPROVE", "body": "lgtm"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error["message"], "Unprocessable Entity");
        assert_eq!(
            error["errors"],
            json!(["Can not approve your own pull request"])
        );
        assert!(
            fx.standin
                .reviews(SLUG, number)
                .expect("reviews")
                .is_empty()
        );
    }

    #[tokio::test]
    async fn reviews_are_listed_in_order_with_their_commit_and_inline_comments() {
        let fx = Fixture::new().await;
        let (number, head) = fx
            .open_pull("eng-1", &[("src/lib.rs", "one\nTWO\nthree\n")])
            .await;
        let (status, _) = fx
            .review(
                "tok-review",
                number,
                json!({"commit_id": head, "event": "REQUEST_CHANGES", "body": "see inline",
                       "comments": [{"path": "src/lib.rs", "line": 2, "side": "RIGHT", "body": "why caps?"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = fx
            .review(
                "tok-qa",
                number,
                json!({"commit_id": head, "event": "APPROVE", "body": "ok"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);

        let (_, reviews) = fx
            .call(
                "tok-dev",
                Method::GET,
                &format!("/repos/acme/shop/pulls/{number}/reviews"),
                None,
            )
            .await;
        let summary: Vec<(Value, Value, Value)> = reviews
            .as_array()
            .expect("array")
            .iter()
            .map(|r| {
                (
                    r["user"]["login"].clone(),
                    r["state"].clone(),
                    r["commit_id"].clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (json!("review-bot"), json!("CHANGES_REQUESTED"), json!(head)),
                (json!("qa-bot"), json!("APPROVED"), json!(head)),
            ]
        );
        let (_, comments) = fx
            .call(
                "tok-dev",
                Method::GET,
                &format!("/repos/acme/shop/pulls/{number}/comments"),
                None,
            )
            .await;
        assert_eq!(comments[0]["path"], "src/lib.rs");
        assert_eq!(comments[0]["line"], 2);
        assert_eq!(comments[0]["body"], "why caps?");
        assert_eq!(
            comments[0]["diff_hunk"],
            "@@ -1,3 +1,3 @@\n one\n-two\n+TWO"
        );
    }

    #[tokio::test]
    async fn an_inline_comment_outside_the_diff_is_refused() {
        let fx = Fixture::new().await;
        fx.standin
            .commit_files(
                SLUG,
                "main",
                &[("long.txt", &"line\n".repeat(40))],
                "Long file",
            )
            .expect("seed");
        let mut changed = "line\n".repeat(40);
        changed.replace_range(0..4, "LINE");
        let (number, _) = fx.open_pull("eng-1", &[("long.txt", &changed)]).await;
        let (status, error) = fx
            .review(
                "tok-review",
                number,
                json!({"event": "COMMENT", "body": "x",
                "comments": [{"path": "long.txt", "line": 30, "body": "far away"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            error["errors"][0]
                .as_str()
                .expect("message")
                .contains("must be part of the diff")
        );
        assert!(
            fx.standin
                .reviews(SLUG, number)
                .expect("reviews")
                .is_empty()
        );
    }
}

mod merging {
    use super::*;

    #[tokio::test]
    async fn a_stale_sha_is_refused_with_409() {
        let fx = Fixture::new().await;
        let (number, old_head) = fx.open_pull("eng-1", &[("a.txt", "a\n")]).await;
        fx.standin
            .commit_files(SLUG, "eng-1", &[("a.txt", "b\n")], "Again")
            .expect("push");
        let (status, error) = fx
            .merge(number, json!({"sha": old_head, "merge_method": "merge"}))
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(
            error["message"],
            "Head branch was modified. Review and try the merge again."
        );
        assert!(fx.standin.merges(SLUG).expect("merges").is_empty());
    }

    #[tokio::test]
    async fn a_merge_writes_a_two_parent_commit_on_the_base_branch() {
        let fx = Fixture::new().await;
        let (number, head) = fx.open_pull("eng-1", &[("a.txt", "a\n")]).await;
        let base_before = fx
            .standin
            .branch_head(SLUG, "main")
            .expect("main")
            .expect("exists");
        let (status, merged) = fx
            .merge(number, json!({"sha": head, "merge_method": "merge"}))
            .await;
        assert_eq!(status, StatusCode::OK, "{merged}");
        assert_eq!(merged["merged"], true);
        let main = fx
            .standin
            .branch_head(SLUG, "main")
            .expect("main")
            .expect("exists");
        assert_eq!(merged["sha"], main.as_str());
        let commit = fx.standin.commit(SLUG, &main).expect("commit");
        assert_eq!(commit.parents, vec![base_before, head]);
        assert!(
            commit
                .message
                .starts_with("Merge pull request #1 from acme/eng-1")
        );
        assert_eq!(
            fx.standin
                .file_at(SLUG, "main", "a.txt")
                .expect("read")
                .as_deref(),
            Some("a\n")
        );

        let (_, pull) = fx
            .call(
                "tok-dev",
                Method::GET,
                &format!("/repos/acme/shop/pulls/{number}"),
                None,
            )
            .await;
        assert_eq!(
            (pull["state"].clone(), pull["merged"].clone()),
            (json!("closed"), json!(true))
        );
        assert_eq!(pull["merge_commit_sha"], main.as_str());
    }

    #[tokio::test]
    async fn a_squash_writes_one_commit_with_the_base_as_only_parent() {
        let fx = Fixture::new().await;
        fx.standin
            .commit_files(SLUG, "eng-1", &[("a.txt", "a\n")], "First")
            .expect("first");
        let (number, head) = fx.open_pull("eng-1", &[("b.txt", "b\n")]).await;
        let base_before = fx
            .standin
            .branch_head(SLUG, "main")
            .expect("main")
            .expect("exists");
        let (status, merged) = fx
            .merge(number, json!({"sha": head, "merge_method": "squash"}))
            .await;
        assert_eq!(status, StatusCode::OK, "{merged}");
        let commit = fx.standin.commit(SLUG, "main").expect("commit");
        assert_eq!(commit.parents, vec![base_before]);
        assert!(commit.message.starts_with("ENG-1: eng-1 (#1)"));
        assert_eq!(
            fx.standin
                .file_at(SLUG, "main", "a.txt")
                .expect("a")
                .as_deref(),
            Some("a\n")
        );
        assert_eq!(
            fx.standin
                .file_at(SLUG, "main", "b.txt")
                .expect("b")
                .as_deref(),
            Some("b\n")
        );
    }

    #[tokio::test]
    async fn a_conflicting_pull_is_dirty_and_refused_with_405() {
        let fx = Fixture::new().await;
        let (number, head) = fx
            .open_pull("eng-1", &[("src/lib.rs", "one\nMINE\nthree\n")])
            .await;
        fx.standin
            .commit_files(
                SLUG,
                "main",
                &[("src/lib.rs", "one\nTHEIRS\nthree\n")],
                "Other",
            )
            .expect("base");
        let pull = fx.settled_pull(number).await;
        assert_eq!(
            (pull["mergeable"].clone(), pull["mergeable_state"].clone()),
            (json!(false), json!("dirty"))
        );
        let (status, error) = fx.merge(number, json!({"sha": head})).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(error["message"], "Pull Request is not mergeable");
    }

    #[tokio::test]
    async fn a_required_check_blocks_until_it_succeeds() {
        let fx = Fixture::new().await;
        fx.standin
            .set_repo_settings(
                SLUG,
                RepoSettings {
                    required_contexts: vec!["ci".into()],
                    require_up_to_date: false,
                },
            )
            .expect("settings");
        let (number, head) = fx.open_pull("eng-1", &[("a.txt", "a\n")]).await;
        assert_eq!(fx.settled_pull(number).await["mergeable_state"], "blocked");
        let (status, _) = fx.merge(number, json!({"sha": head})).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

        fx.standin
            .add_check_run(
                SLUG,
                &head,
                CheckRunSnapshot {
                    name: "ci".into(),
                    status: "completed".into(),
                    conclusion: Some("success".into()),
                    ..CheckRunSnapshot::default()
                },
            )
            .expect("check run");
        let (status, _) = fx
            .call(
                "tok-qa",
                Method::POST,
                &format!("/repos/acme/shop/statuses/{head}"),
                Some(json!({"state": "success", "context": "squadron/qa-specialist"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (_, combined) = fx
            .call(
                "tok-dev",
                Method::GET,
                &format!("/repos/acme/shop/commits/{head}/status"),
                None,
            )
            .await;
        assert_eq!(
            (combined["state"].clone(), combined["total_count"].clone()),
            (json!("success"), json!(1))
        );
        let (_, runs) = fx
            .call(
                "tok-dev",
                Method::GET,
                &format!("/repos/acme/shop/commits/{head}/check-runs"),
                None,
            )
            .await;
        assert_eq!(runs["check_runs"][0]["conclusion"], "success");
        assert_eq!(fx.settled_pull(number).await["mergeable_state"], "clean");
        assert_eq!(
            fx.merge(number, json!({"sha": head})).await.0,
            StatusCode::OK
        );
    }
}

mod faults {
    use super::*;

    #[tokio::test]
    async fn an_injected_primary_rate_limit_answers_403_with_reset() {
        let fx = Fixture::new().await;
        fx.standin
            .inject_fault(
                FaultRule::new(Fault::PrimaryRateLimit {
                    reset_after_secs: 60,
                })
                .method("GET")
                .path_contains("/user"),
            )
            .expect("fault");
        let limited = fx.send("tok-dev", Method::GET, "/user", None, None).await;
        assert_eq!(limited.status(), StatusCode::FORBIDDEN);
        assert_eq!(limited.headers()["x-ratelimit-remaining"], "0");
        assert!(limited.headers().contains_key("x-ratelimit-reset"));
        let next = fx.send("tok-dev", Method::GET, "/user", None, None).await;
        assert_eq!(next.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn an_injected_secondary_rate_limit_answers_429_with_retry_after() {
        let fx = Fixture::new().await;
        fx.standin
            .inject_fault(
                FaultRule::new(Fault::SecondaryRateLimit {
                    status: 429,
                    retry_after_secs: 7,
                })
                .times(2),
            )
            .expect("fault");
        for _ in 0..2 {
            let limited = fx.send("tok-dev", Method::GET, "/user", None, None).await;
            assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(limited.headers()["retry-after"], "7");
        }
        assert_eq!(
            fx.send("tok-dev", Method::GET, "/user", None, None)
                .await
                .status(),
            StatusCode::OK
        );
        let recorded = fx.standin.requests().expect("requests");
        assert_eq!(
            recorded.iter().map(|r| r.status).collect::<Vec<_>>(),
            vec![429, 429, 200]
        );
    }

    #[tokio::test]
    async fn a_lost_answer_carries_the_request_out_but_breaks_off_the_answer() {
        let fx = Fixture::new().await;
        fx.standin
            .commit_files(SLUG, "lost", &[("a.txt", "a\n")], "Change a")
            .expect("commit");
        fx.standin
            .inject_fault(
                FaultRule::new(Fault::AnswerLost)
                    .method("POST")
                    .path_contains("/pulls"),
            )
            .expect("fault");
        let answer = fx
            .http
            .post(format!("{}/repos/acme/shop/pulls", fx.standin.base_url()))
            .header("authorization", "token tok-dev")
            .json(&json!({"title": "ENG-1: lost", "head": "lost", "base": "main"}))
            .send()
            .await;
        let read = match answer {
            Ok(answer) => answer.text().await.map(drop),
            Err(error) => Err(error),
        };
        assert!(read.is_err(), "the client cannot read the answer: {read:?}");
        let pulls = fx.standin.pulls(SLUG).expect("pulls");
        assert_eq!(
            pulls
                .iter()
                .map(|pull| pull.head_ref.as_str())
                .collect::<Vec<_>>(),
            ["lost"],
            "the PR was opened all the same"
        );
    }
}

#[path = "standin/actions.rs"]
mod actions;

#[path = "standin/conformance.rs"]
mod conformance;
