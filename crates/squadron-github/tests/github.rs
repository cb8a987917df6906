//! The GitHub adapter against the stand-in GitHub over real HTTP on loopback, backed by real
//! bare repositories: PRs, reviews under separate identities, the gate's reading, merges,
//! and reading and re-running failed checks (`github/checks.rs`).

use std::sync::Arc;

use secrecy::SecretString;
use squadron_core::gate::{
    CommitSha, GateBlocker, GateDecision, GatePolicy, MergeGate, PullRequestState,
    ReviewerIdentities,
};
use squadron_core::ports::{
    CodeHost, MergeMethod, MergeOutcome, PostedReview, PullRequestRequest, RepoRef, ReviewDelivery,
};
use squadron_core::{PrNumber, Review, ReviewComment, ReviewVerdict, Role};
use squadron_github::{GithubCodeHost, RateLimiter, RoleTokens};
use squadron_standin_github::{Fault, FaultRule, GithubStandin};

const SLUG: &str = "acme/shop";
const BRANCH: &str = "eng-1-saved-cards";
const LIB: &str = "pub fn total() -> u32 {\n    1\n}\n\npub fn tax() -> u32 {\n    0\n}\n";
const LIB_CHANGED: &str = "pub fn total() -> u32 {\n    2\n}\n\npub fn tax() -> u32 {\n    0\n}\n";

struct Fixture {
    standin: GithubStandin,
    repo: RepoRef,
}

impl Fixture {
    async fn start() -> Fixture {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let standin = GithubStandin::start().await.expect("stand-in starts");
        for (login, token) in [
            ("dev-bot", "dev-token"),
            ("cr-bot", "cr-token"),
            ("qa-bot", "qa-token"),
        ] {
            standin.add_user(login, token).expect("user added");
        }
        standin
            .create_repo(SLUG, "main", &[("src/lib.rs", LIB)])
            .expect("repo created");
        Fixture {
            standin,
            repo: RepoRef::new("acme", "shop"),
        }
    }

    /// A code host as the daemon builds it, with the tokens given per role.
    fn host(&self, developer: &str, code_reviewer: &str, qa_specialist: &str) -> GithubCodeHost {
        let tokens = RoleTokens {
            developer: SecretString::from(developer.to_owned()),
            code_reviewer: SecretString::from(code_reviewer.to_owned()),
            qa_specialist: SecretString::from(qa_specialist.to_owned()),
        };
        GithubCodeHost::new(
            self.standin.base_url(),
            &tokens,
            Arc::new(RateLimiter::new()),
        )
        .expect("client builds")
    }

    fn distinct_host(&self) -> GithubCodeHost {
        self.host("dev-token", "cr-token", "qa-token")
    }

    /// Lands a commit on `branch`, as the squad's push would.
    fn push(&self, branch: &str, content: &str) -> CommitSha {
        CommitSha::new(
            self.standin
                .commit_files(SLUG, branch, &[("src/lib.rs", content)], "Change the total")
                .expect("commit lands"),
        )
    }

    fn request(&self, branch: &str) -> PullRequestRequest {
        PullRequestRequest {
            head_branch: branch.to_owned(),
            base_branch: "main".to_owned(),
            title: "ENG-1: Pay with a saved card".to_owned(),
            body: "Resolves ENG-1.".to_owned(),
        }
    }
}

fn approval() -> Review {
    Review {
        verdict: ReviewVerdict::Approved,
        summary: "Looks right.".to_owned(),
        comments: vec![],
    }
}

fn distinct_policy(pushed: &CommitSha) -> GatePolicy {
    GatePolicy {
        pushed_sha: pushed.clone(),
        base_branch: "main".to_owned(),
        reviewers: ReviewerIdentities::Distinct {
            code_reviewer: "cr-bot".to_owned(),
            qa_specialist: "qa-bot".to_owned(),
        },
        required_checks: vec![],
    }
}

/// Reads and evaluates until GitHub has computed mergeability (the stand-in, like GitHub,
/// answers `mergeable: null` right after a push).
async fn evaluate(
    host: &GithubCodeHost,
    repo: &RepoRef,
    pr: PrNumber,
    policy: &GatePolicy,
) -> GateDecision {
    for _ in 0..5 {
        let snapshot = host.read_snapshot(repo, pr).await.expect("snapshot reads");
        match MergeGate::evaluate(&snapshot, policy) {
            GateDecision::AskAgainShortly => continue,
            decision => return decision,
        }
    }
    panic!("mergeability never computed");
}

#[tokio::test]
async fn a_pr_approved_by_both_reviewer_identities_merges_onto_the_base() {
    let fixture = Fixture::start().await;
    let host = fixture.distinct_host();
    let head = fixture.push(BRANCH, LIB_CHANGED);

    let pr = host
        .find_or_create_pull_request(&fixture.repo, &fixture.request(BRANCH))
        .await
        .unwrap();
    assert!(pr.opened);
    assert_eq!(pr.head_sha, head);
    assert_eq!(pr.state, PullRequestState::Open);
    let policy = distinct_policy(&head);
    assert_eq!(
        evaluate(&host, &fixture.repo, pr.number, &policy).await,
        GateDecision::Blocked(vec![
            GateBlocker::ReviewMissing {
                role: Role::CodeReviewer,
                login: "cr-bot".into()
            },
            GateBlocker::ReviewMissing {
                role: Role::QaSpecialist,
                login: "qa-bot".into()
            },
        ])
    );

    for role in Role::REVIEWERS {
        let posted = host
            .post_review(
                &fixture.repo,
                pr.number,
                role,
                &head,
                &approval(),
                ReviewDelivery::Review,
            )
            .await
            .unwrap();
        assert!(matches!(posted, PostedReview::Posted { .. }));
    }
    let reviews = fixture.standin.reviews(SLUG, pr.number.0).unwrap();
    let authors: Vec<_> = reviews
        .iter()
        .map(|review| (review.user.as_str(), review.state.as_str()))
        .collect();
    assert_eq!(
        authors,
        vec![("cr-bot", "APPROVED"), ("qa-bot", "APPROVED")]
    );
    assert!(
        reviews
            .iter()
            .all(|review| review.commit_id == head.as_str())
    );

    assert_eq!(
        evaluate(&host, &fixture.repo, pr.number, &policy).await,
        GateDecision::Merge
    );
    let outcome = host
        .merge(&fixture.repo, pr.number, &head, MergeMethod::Squash)
        .await
        .unwrap();
    let MergeOutcome::Merged { sha } = outcome else {
        panic!("expected a merge, got {outcome:?}")
    };
    assert_eq!(
        fixture
            .standin
            .branch_head(SLUG, "main")
            .unwrap()
            .as_deref(),
        Some(sha.as_str())
    );
    assert_eq!(
        fixture
            .standin
            .file_at(SLUG, "main", "src/lib.rs")
            .unwrap()
            .as_deref(),
        Some(LIB_CHANGED)
    );
    let merges = fixture.standin.merges(SLUG).unwrap();
    assert_eq!(merges.len(), 1);
    assert_eq!(merges[0].head_sha, head.as_str());
    assert_eq!(merges[0].method, "squash");
}

#[tokio::test]
async fn a_restart_between_push_and_pr_creation_opens_exactly_one_pr() {
    let fixture = Fixture::start().await;
    fixture.push(BRANCH, LIB_CHANGED);

    let first = fixture.distinct_host();
    let opened = first
        .find_or_create_pull_request(&fixture.repo, &fixture.request(BRANCH))
        .await
        .unwrap();
    drop(first);

    // A new process: no memory of the PR but the code host's.
    let restarted = fixture.distinct_host();
    let found = restarted
        .find_or_create_pull_request(&fixture.repo, &fixture.request(BRANCH))
        .await
        .unwrap();
    assert!(!found.opened);
    assert_eq!(found.number, opened.number);
    assert_eq!(fixture.standin.pulls(SLUG).unwrap().len(), 1);
}

#[tokio::test]
async fn the_body_is_kept_current() {
    let fixture = Fixture::start().await;
    let host = fixture.distinct_host();
    fixture.push(BRANCH, LIB_CHANGED);
    let pr = host
        .find_or_create_pull_request(&fixture.repo, &fixture.request(BRANCH))
        .await
        .unwrap();

    host.update_pull_request_body(&fixture.repo, pr.number, "Resolves ENG-1.\n\n- [x] AC-1")
        .await
        .unwrap();
    let pulls = fixture.standin.pulls(SLUG).unwrap();
    assert_eq!(
        pulls[0].body.as_deref(),
        Some("Resolves ENG-1.\n\n- [x] AC-1")
    );
    assert_eq!(pulls[0].author, "dev-bot");
}

#[tokio::test]
async fn an_approved_pr_retargeted_to_another_branch_does_not_merge() {
    let fixture = Fixture::start().await;
    let host = fixture.distinct_host();
    fixture
        .standin
        .commit_files(SLUG, "release", &[("RELEASE", "1.0\n")], "Cut a release")
        .unwrap();
    let head = fixture.push(BRANCH, LIB_CHANGED);
    let pr = host
        .find_or_create_pull_request(&fixture.repo, &fixture.request(BRANCH))
        .await
        .unwrap();
    for role in Role::REVIEWERS {
        host.post_review(
            &fixture.repo,
            pr.number,
            role,
            &head,
            &approval(),
            ReviewDelivery::Review,
        )
        .await
        .unwrap();
    }
    let policy = distinct_policy(&head);
    assert_eq!(
        evaluate(&host, &fixture.repo, pr.number, &policy).await,
        GateDecision::Merge
    );

    fixture
        .standin
        .retarget_pull(SLUG, pr.number.0, "release")
        .unwrap();
    assert_eq!(
        evaluate(&host, &fixture.repo, pr.number, &policy).await,
        GateDecision::Blocked(vec![GateBlocker::BaseBranchChanged {
            expected: "main".to_owned(),
            found: "release".to_owned(),
        }])
    );
    assert!(fixture.standin.merges(SLUG).unwrap().is_empty());
}

#[tokio::test]
async fn self_approval_is_refused_and_single_identity_mode_still_reaches_the_merge() {
    let fixture = Fixture::start().await;
    // The Code Reviewer was configured with the Developer's token.
    let host = fixture.host("dev-token", "dev-token", "qa-token");
    let identities = host.resolve_identities().await.unwrap();
    let (mode, warnings) = ReviewerIdentities::from_logins(
        &identities.developer,
        &identities.code_reviewer,
        &identities.qa_specialist,
    );
    assert_eq!(
        mode,
        ReviewerIdentities::SingleIdentity {
            code_reviewer: "dev-bot".to_owned(),
            qa_specialist: "qa-bot".to_owned(),
        }
    );
    assert_eq!(warnings.len(), 1);

    let head = fixture.push(BRANCH, LIB_CHANGED);
    let pr = host
        .find_or_create_pull_request(&fixture.repo, &fixture.request(BRANCH))
        .await
        .unwrap();
    let refused = host
        .post_review(
            &fixture.repo,
            pr.number,
            Role::CodeReviewer,
            &head,
            &approval(),
            ReviewDelivery::Review,
        )
        .await
        .unwrap();
    assert_eq!(refused, PostedReview::SelfApprovalRefused);
    assert!(
        fixture
            .standin
            .reviews(SLUG, pr.number.0)
            .unwrap()
            .is_empty()
    );

    let changes = Review {
        verdict: ReviewVerdict::ChangesRequested,
        summary: "The total is wrong.".to_owned(),
        comments: vec![],
    };
    for (role, review) in [
        (Role::CodeReviewer, &changes),
        (Role::QaSpecialist, &approval()),
    ] {
        let posted = host
            .post_review(
                &fixture.repo,
                pr.number,
                role,
                &head,
                review,
                ReviewDelivery::CommentWithStatus,
            )
            .await
            .unwrap();
        assert!(matches!(posted, PostedReview::Posted { .. }));
    }
    let policy = GatePolicy {
        reviewers: mode,
        ..distinct_policy(&head)
    };

    // Anyone who can push can set a status of any name: a stranger's `success` in the Code
    // Reviewer's context must not stand in for its verdict.
    fixture
        .standin
        .add_user("mallory", "mallory-token")
        .unwrap();
    let stranger = fixture.host("mallory-token", "mallory-token", "mallory-token");
    stranger
        .post_review(
            &fixture.repo,
            pr.number,
            Role::CodeReviewer,
            &head,
            &approval(),
            ReviewDelivery::CommentWithStatus,
        )
        .await
        .unwrap();
    assert_eq!(
        evaluate(&host, &fixture.repo, pr.number, &policy).await,
        GateDecision::Blocked(vec![GateBlocker::VerdictStatusNotOurs {
            role: Role::CodeReviewer,
            creator: Some("mallory".to_owned()),
        }])
    );

    host.post_review(
        &fixture.repo,
        pr.number,
        Role::CodeReviewer,
        &head,
        &approval(),
        ReviewDelivery::CommentWithStatus,
    )
    .await
    .unwrap();
    assert_eq!(
        evaluate(&host, &fixture.repo, pr.number, &policy).await,
        GateDecision::Merge
    );
    let outcome = host
        .merge(&fixture.repo, pr.number, &head, MergeMethod::Merge)
        .await
        .unwrap();
    assert!(
        matches!(outcome, MergeOutcome::Merged { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_verdict_posted_twice_after_a_restart_appears_once() {
    let fixture = Fixture::start().await;
    let head = fixture.push(BRANCH, LIB_CHANGED);
    let host = fixture.distinct_host();
    let pr = host
        .find_or_create_pull_request(&fixture.repo, &fixture.request(BRANCH))
        .await
        .unwrap();

    let first = host
        .post_review(
            &fixture.repo,
            pr.number,
            Role::QaSpecialist,
            &head,
            &approval(),
            ReviewDelivery::Review,
        )
        .await
        .unwrap();
    let restarted = fixture.distinct_host();
    let second = restarted
        .post_review(
            &fixture.repo,
            pr.number,
            Role::QaSpecialist,
            &head,
            &approval(),
            ReviewDelivery::Review,
        )
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(fixture.standin.reviews(SLUG, pr.number.0).unwrap().len(), 1);
}

#[tokio::test]
async fn a_push_after_approval_makes_the_merge_answer_409_and_the_gate_see_stale_approvals() {
    let fixture = Fixture::start().await;
    let host = fixture.distinct_host();
    let approved = fixture.push(BRANCH, LIB_CHANGED);
    let pr = host
        .find_or_create_pull_request(&fixture.repo, &fixture.request(BRANCH))
        .await
        .unwrap();
    for role in Role::REVIEWERS {
        host.post_review(
            &fixture.repo,
            pr.number,
            role,
            &approved,
            &approval(),
            ReviewDelivery::Review,
        )
        .await
        .unwrap();
    }

    let pushed_later = fixture.push(BRANCH, "pub fn total() -> u32 {\n    3\n}\n");
    let outcome = host
        .merge(&fixture.repo, pr.number, &approved, MergeMethod::Merge)
        .await
        .unwrap();
    assert!(
        matches!(outcome, MergeOutcome::HeadChanged { .. }),
        "{outcome:?}"
    );
    assert!(fixture.standin.merges(SLUG).unwrap().is_empty());

    let decision = evaluate(&host, &fixture.repo, pr.number, &distinct_policy(&approved)).await;
    let GateDecision::Blocked(blockers) = decision else {
        panic!("expected a block, got {decision}")
    };
    assert!(blockers.contains(&GateBlocker::HeadNotPushedCommit {
        head: pushed_later.clone(),
        pushed: approved.clone()
    }));
    assert!(blockers.contains(&GateBlocker::ApprovalStale {
        role: Role::CodeReviewer,
        login: "cr-bot".into(),
        approved: approved.clone(),
        head: pushed_later,
    }));
}

#[tokio::test]
async fn a_conflicting_pr_is_not_mergeable_and_the_merge_answers_405() {
    let fixture = Fixture::start().await;
    let host = fixture.distinct_host();
    let head = fixture.push(BRANCH, LIB_CHANGED);
    let pr = host
        .find_or_create_pull_request(&fixture.repo, &fixture.request(BRANCH))
        .await
        .unwrap();
    for role in Role::REVIEWERS {
        host.post_review(
            &fixture.repo,
            pr.number,
            role,
            &head,
            &approval(),
            ReviewDelivery::Review,
        )
        .await
        .unwrap();
    }
    // Someone changes the same line on the base.
    fixture.push(
        "main",
        "pub fn total() -> u32 {\n    9\n}\n\npub fn tax() -> u32 {\n    0\n}\n",
    );

    assert_eq!(
        evaluate(&host, &fixture.repo, pr.number, &distinct_policy(&head)).await,
        GateDecision::Blocked(vec![GateBlocker::NotMergeable])
    );
    let outcome = host
        .merge(&fixture.repo, pr.number, &head, MergeMethod::Merge)
        .await
        .unwrap();
    assert!(
        matches!(outcome, MergeOutcome::NotMergeable { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn inline_comments_land_on_diff_lines_and_the_rest_is_folded_into_the_body() {
    let fixture = Fixture::start().await;
    let host = fixture.distinct_host();
    let head = fixture.push(BRANCH, LIB_CHANGED);
    let pr = host
        .find_or_create_pull_request(&fixture.repo, &fixture.request(BRANCH))
        .await
        .unwrap();
    let review = Review {
        verdict: ReviewVerdict::ChangesRequested,
        summary: "Two things.".to_owned(),
        comments: vec![
            ReviewComment {
                path: "src/lib.rs".into(),
                line: 2,
                body: "Why 2?".into(),
            },
            ReviewComment {
                path: "src/lib.rs".into(),
                line: 40,
                body: "Add a doc comment.".into(),
            },
        ],
    };
    host.post_review(
        &fixture.repo,
        pr.number,
        Role::CodeReviewer,
        &head,
        &review,
        ReviewDelivery::Review,
    )
    .await
    .unwrap();

    let reviews = fixture.standin.reviews(SLUG, pr.number.0).unwrap();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].state, "CHANGES_REQUESTED");
    assert_eq!(reviews[0].comments.len(), 1);
    assert_eq!(
        (
            reviews[0].comments[0].line,
            reviews[0].comments[0].body.as_str()
        ),
        (2, "Why 2?")
    );
    assert!(
        reviews[0]
            .body
            .contains("`src/lib.rs` line 40: Add a doc comment."),
        "{}",
        reviews[0].body
    );

    let feedback = host.read_feedback(&fixture.repo, pr.number).await.unwrap();
    assert_eq!(feedback.reviews.len(), 1);
    assert_eq!(feedback.reviews[0].author, "cr-bot");
    assert_eq!(feedback.review_comments.len(), 1);
    assert_eq!(feedback.review_comments[0].line, Some(2));
    assert_eq!(
        feedback.review_comments[0].review_id,
        Some(feedback.reviews[0].id)
    );
}

#[tokio::test]
async fn required_checks_are_read_from_statuses_and_check_runs() {
    let fixture = Fixture::start().await;
    let host = fixture.distinct_host();
    let head = fixture.push(BRANCH, LIB_CHANGED);
    let pr = host
        .find_or_create_pull_request(&fixture.repo, &fixture.request(BRANCH))
        .await
        .unwrap();
    for role in Role::REVIEWERS {
        host.post_review(
            &fixture.repo,
            pr.number,
            role,
            &head,
            &approval(),
            ReviewDelivery::Review,
        )
        .await
        .unwrap();
    }
    fixture
        .standin
        .add_status(SLUG, head.as_str(), "ci/test", "failure")
        .unwrap();
    fixture
        .standin
        .add_check_run(
            SLUG,
            head.as_str(),
            squadron_standin_github::CheckRunSnapshot {
                name: "lint".into(),
                status: "in_progress".into(),
                conclusion: None,
                ..Default::default()
            },
        )
        .unwrap();
    let policy = GatePolicy {
        required_checks: vec!["ci/test".into(), "lint".into(), "build".into()],
        ..distinct_policy(&head)
    };
    assert_eq!(
        evaluate(&host, &fixture.repo, pr.number, &policy).await,
        GateDecision::Blocked(vec![
            GateBlocker::CheckFailed {
                name: "ci/test".into(),
                outcome: "failure"
            },
            GateBlocker::CheckPending {
                name: "lint".into()
            },
            GateBlocker::CheckMissing {
                name: "build".into()
            },
        ])
    );
}

#[tokio::test]
async fn unchanged_state_is_read_again_with_etags() {
    let fixture = Fixture::start().await;
    let host = fixture.distinct_host();
    fixture.push(BRANCH, LIB_CHANGED);
    let pr = host
        .find_or_create_pull_request(&fixture.repo, &fixture.request(BRANCH))
        .await
        .unwrap();
    let first = host.read_snapshot(&fixture.repo, pr.number).await.unwrap();
    let second = host.read_snapshot(&fixture.repo, pr.number).await.unwrap();
    let third = host.read_snapshot(&fixture.repo, pr.number).await.unwrap();
    assert_eq!(second.head_sha, first.head_sha);
    assert_eq!(third, second);

    let requests = fixture.standin.requests().unwrap();
    let not_modified = requests
        .iter()
        .filter(|request| request.status == 304)
        .count();
    assert!(
        not_modified >= 4,
        "expected conditional reads to answer 304, got {not_modified}"
    );
}

#[tokio::test(start_paused = true)]
async fn rate_limit_answers_are_waited_out_and_then_the_request_succeeds() {
    let fixture = Fixture::start().await;
    let host = fixture.distinct_host();
    fixture.push(BRANCH, LIB_CHANGED);
    fixture
        .standin
        .inject_fault(
            FaultRule::new(Fault::SecondaryRateLimit {
                status: 429,
                retry_after_secs: 30,
            })
            .method("POST")
            .path_contains("/pulls"),
        )
        .unwrap();

    let started = tokio::time::Instant::now();
    let pr = host
        .find_or_create_pull_request(&fixture.repo, &fixture.request(BRANCH))
        .await
        .unwrap();
    assert!(pr.opened);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(30),
        "the limiter waited {:?}",
        started.elapsed()
    );
    assert_eq!(fixture.standin.pulls(SLUG).unwrap().len(), 1);
}

/// Runs `git` in `dir` off the async threads (the stand-in serves the transfer meanwhile);
/// returns whether it succeeded and its trimmed stdout.
async fn git(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let output = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=Squad Dev",
                "-c",
                "user.email=dev@squad.invalid",
            ])
            .args(&args)
            .current_dir(&dir)
            .env("GIT_EDITOR", "true")
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .expect("git runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        )
    })
    .await
    .expect("git task")
}

/// Runs `git` and insists that it succeeds.
async fn git_ok(dir: &std::path::Path, args: &[&str]) -> String {
    let (ok, stdout) = git(dir, args).await;
    assert!(ok, "git {args:?} failed");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pr_that_conflicts_after_another_merges_is_rebased_re_reviewed_and_merged() {
    use squadron_core::SquadId;
    use squadron_core::merge_queue::{
        BaseRelation, MergeLane, MergeQueue, QueuedMerge, RebaseReason, RecheckVerdict,
    };

    let fixture = Fixture::start().await;
    let host = fixture.distinct_host();
    let first_head = fixture.push("eng-1-first", LIB_CHANGED);
    let second_head = fixture.push(
        "eng-2-second",
        "pub fn total() -> u32 {\n    5\n}\n\npub fn tax() -> u32 {\n    0\n}\n",
    );
    let first = host
        .find_or_create_pull_request(&fixture.repo, &fixture.request("eng-1-first"))
        .await
        .unwrap();
    let second = host
        .find_or_create_pull_request(&fixture.repo, &fixture.request("eng-2-second"))
        .await
        .unwrap();
    for (pr, head) in [(first.number, &first_head), (second.number, &second_head)] {
        for role in Role::REVIEWERS {
            host.post_review(
                &fixture.repo,
                pr,
                role,
                head,
                &approval(),
                ReviewDelivery::Review,
            )
            .await
            .unwrap();
        }
    }

    let mut queue = MergeQueue::new();
    let entry = |squad: &str| QueuedMerge {
        squad: SquadId::from(squad),
        lane: MergeLane {
            repo: fixture.repo.clone(),
            base: "main".into(),
        },
    };
    queue.enqueue(entry("first"));
    queue.enqueue(entry("second"));
    assert_eq!(queue.start_merges(), vec![entry("first")]);
    assert_eq!(
        evaluate(
            &host,
            &fixture.repo,
            first.number,
            &distinct_policy(&first_head)
        )
        .await,
        GateDecision::Merge
    );
    let landed = host
        .merge(&fixture.repo, first.number, &first_head, MergeMethod::Merge)
        .await
        .unwrap();
    assert!(matches!(landed, MergeOutcome::Merged { .. }), "{landed:?}");
    assert!(queue.finish(&SquadId::from("first")));
    assert_eq!(
        queue.start_merges(),
        vec![entry("second")],
        "the next PR takes the lane as it is"
    );
    let refused = host
        .merge(
            &fixture.repo,
            second.number,
            &second_head,
            MergeMethod::Merge,
        )
        .await
        .unwrap();
    assert!(
        matches!(refused, MergeOutcome::NotMergeable { .. }),
        "{refused:?}"
    );

    // The second PR now conflicts with the new base.
    let decision = evaluate(
        &host,
        &fixture.repo,
        second.number,
        &distinct_policy(&second_head),
    )
    .await;
    assert_eq!(
        decision,
        GateDecision::Blocked(vec![GateBlocker::NotMergeable])
    );
    let worktree = tempfile::tempdir().unwrap();
    let url = fixture
        .standin
        .clone_url(SLUG)
        .replace("http://", "http://x-access-token:dev-token@");
    git_ok(
        worktree.path(),
        &["clone", "-q", "-b", "eng-2-second", &url, "."],
    )
    .await;
    let relation = BaseRelation {
        mergeable: Some(false),
    };
    assert_eq!(
        relation.verdict(),
        RecheckVerdict::Rebase(RebaseReason::Conflicts)
    );

    // Rebase in the worktree, resolve the conflict, push with lease.
    let (rebased_cleanly, _) = git(worktree.path(), &["rebase", "origin/main"]).await;
    assert!(!rebased_cleanly, "the rebase conflicts");
    let resolved = "pub fn total() -> u32 {\n    7\n}\n\npub fn tax() -> u32 {\n    0\n}\n";
    std::fs::write(worktree.path().join("src/lib.rs"), resolved).unwrap();
    git_ok(worktree.path(), &["add", "src/lib.rs"]).await;
    git_ok(worktree.path(), &["rebase", "--continue"]).await;
    let lease = format!("--force-with-lease=eng-2-second:{second_head}");
    git_ok(
        worktree.path(),
        &["push", "-q", &lease, "origin", "HEAD:eng-2-second"],
    )
    .await;
    let rebased = CommitSha::new(git_ok(worktree.path(), &["rev-parse", "HEAD"]).await);

    // Old approvals no longer match the head, by construction.
    let policy = distinct_policy(&rebased);
    let GateDecision::Blocked(blockers) =
        evaluate(&host, &fixture.repo, second.number, &policy).await
    else {
        panic!("stale approvals must block");
    };
    assert!(
        blockers
            .iter()
            .all(|blocker| matches!(blocker, GateBlocker::ApprovalStale { .. })),
        "{blockers:?}"
    );
    assert_eq!(blockers.len(), 2);

    for role in Role::REVIEWERS {
        host.post_review(
            &fixture.repo,
            second.number,
            role,
            &rebased,
            &approval(),
            ReviewDelivery::Review,
        )
        .await
        .unwrap();
    }
    assert_eq!(
        evaluate(&host, &fixture.repo, second.number, &policy).await,
        GateDecision::Merge
    );
    let landed = host
        .merge(&fixture.repo, second.number, &rebased, MergeMethod::Merge)
        .await
        .unwrap();
    assert!(matches!(landed, MergeOutcome::Merged { .. }), "{landed:?}");
    assert!(queue.finish(&SquadId::from("second")));
    assert_eq!(
        fixture
            .standin
            .file_at(SLUG, "main", "src/lib.rs")
            .unwrap()
            .as_deref(),
        Some(resolved)
    );
    assert_eq!(fixture.standin.merges(SLUG).unwrap().len(), 2);
}

#[path = "github/checks.rs"]
mod checks;
