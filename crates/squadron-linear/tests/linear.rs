//! The Linear adapter against the schema-validating stand-in, over loopback HTTP.

use std::sync::Arc;

use squadron_core::admission::{Verdict, admit};
use squadron_core::ports::{
    Clock, IssueTracker, MilestoneChoice, PortErrorKind, SyncOutcome, WorkflowTarget,
};
use squadron_core::refinement::RefinementPolicy;
use squadron_core::{IssueKey, Timestamp};
use squadron_linear::{Credentials, LinearClient, LinearErrorKind, RateLimiter, documents};
use squadron_standin_linear::{IssueSpec, StandinLinear, Workspace, validate_document};

const SLUG: &str = "a5e6ddb5d475";
const REFINED: &str = "Build it.\n\n```gherkin\nScenario: pay\n  Given a cart\n  When I pay\n  Then I get a receipt\n```\n";

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000)
    }
}

fn client(standin: &StandinLinear, credentials: &Credentials) -> LinearClient {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let limiter = RateLimiter::new(Arc::new(FixedClock));
    LinearClient::new(&standin.endpoint(), credentials, limiter).expect("client builds")
}

fn api_key() -> Credentials {
    Credentials::ApiKey(StandinLinear::API_KEY.to_owned())
}

fn policy() -> RefinementPolicy {
    RefinementPolicy {
        max_estimate: Some(5.0),
        require_estimate: false,
    }
}

/// What the 60-issue fixture contains, to assert against.
struct Fixture {
    workspace: Workspace,
    beta: String,
    ga: String,
}

/// Project "Checkout v2": Alpha (done), Beta (next, 60 issues), GA (unstarted).
/// In Beta, by index: 0 mod 10 done, 1 canceled, 2 unrefined, 3 too large, others refined
/// with varied priority. ENG-5 blocks ENG-6 (both refined); ENG-61 in GA (in progress)
/// blocks ENG-8; ENG-3 (unrefined) blocks ENG-9.
fn fixture() -> Fixture {
    let mut ws = Workspace::new("acme");
    ws.add_team("ENG", "Engineering");
    let project = ws.add_project("Checkout v2", SLUG);
    let alpha = ws.add_milestone(&project, "Alpha", 1.0, "done");
    let beta = ws.add_milestone(&project, "Beta", 2.0, "next");
    let ga = ws.add_milestone(&project, "GA", 3.0, "unstarted");
    ws.add_issue(
        IssueSpec::new("ENG", "old work")
            .milestone(&alpha)
            .state("Done"),
    );
    for i in 0..60 {
        let spec = IssueSpec::new("ENG", &format!("issue {i}")).milestone(&beta);
        let spec = match i % 10 {
            0 => spec.description(REFINED).state("Done"),
            1 => spec.description(REFINED).state("Canceled"),
            2 => spec.description("Just do it.").estimate(3.0),
            3 => spec.description(REFINED).estimate(13.0),
            n => spec
                .description(REFINED)
                .estimate(2.0)
                .priority(u8::try_from(n % 5).unwrap_or(0)),
        };
        ws.add_issue(spec);
    }
    ws.add_issue(
        IssueSpec::new("ENG", "outside blocker")
            .milestone(&ga)
            .state("In Progress"),
    );
    ws.add_blocks("ENG-6", "ENG-7");
    ws.add_blocks("ENG-62", "ENG-9");
    ws.add_blocks("ENG-4", "ENG-10");
    ws.add_attachment(
        "ENG-5",
        "Sentry CHK-1",
        "https://sentry.io/issues/1",
        "sentry",
    );
    Fixture {
        workspace: ws,
        beta,
        ga,
    }
}

fn project_url(suffix: &str) -> String {
    format!("https://linear.app/acme/project/checkout-v2-{SLUG}{suffix}")
}

#[test]
fn every_document_validates_against_linears_schema() {
    assert_eq!(
        documents::ALL.len(),
        9,
        "a new document must be added to documents::ALL"
    );
    for document in documents::ALL {
        validate_document(document.text)
            .unwrap_or_else(|error| panic!("{}: {error}", document.operation));
        assert!(
            document.text.contains(document.operation),
            "{} is named in its text",
            document.operation
        );
    }
}

#[tokio::test]
async fn plan_resolves_a_sixty_issue_milestone_in_three_requests() {
    let fixture = fixture();
    let standin = StandinLinear::start(fixture.workspace)
        .await
        .expect("stand-in starts");
    let linear = client(&standin, &api_key());

    let intake = IssueTracker::resolve_milestone(&linear, &project_url("/overview"))
        .await
        .expect("resolves");
    let requests = standin.request_count();
    println!("requests to resolve a 60-issue milestone: {requests}");
    assert_eq!(
        requests, 3,
        "one for the project, one per page of 50 issues"
    );

    assert_eq!(intake.project.name, "Checkout v2");
    assert_eq!(intake.milestones.len(), 3);
    assert_eq!(intake.milestone.id.as_str(), fixture.beta);
    assert_eq!(intake.choice, MilestoneChoice::FirstNotDone);
    assert_eq!(intake.issues.len(), 60);
    let eng5 = intake
        .issues
        .iter()
        .find(|i| i.key.as_str() == "ENG-5")
        .expect("ENG-5 read");
    assert_eq!(eng5.attachments[0].source.as_deref(), Some("sentry"));
    assert_eq!(eng5.acceptance_criteria.len(), 1);
    assert!(eng5.branch_name.starts_with("eng-5-"));

    let admission = admit(&intake.issues, &policy());
    let verdict = |key: &str| {
        admission
            .decisions
            .iter()
            .find(|d| d.key.as_str() == key)
            .map(|d| d.verdict.clone())
            .expect(key)
    };
    let reasons = |key: &str| {
        admission
            .decisions
            .iter()
            .find(|d| d.key.as_str() == key)
            .map(|d| {
                d.reasons()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            })
            .expect(key)
    };
    // ENG-(i+2) is fixture index i, since ENG-1 is Alpha's issue.
    assert!(matches!(verdict("ENG-2"), Verdict::Skip { .. }));
    assert_eq!(reasons("ENG-2"), ["already completed"]);
    assert_eq!(reasons("ENG-3"), ["already canceled"]);
    assert!(
        reasons("ENG-4")[0].contains("no acceptance criteria"),
        "{:?}",
        reasons("ENG-4")
    );
    assert!(
        reasons("ENG-5")[0].contains("estimate is 13"),
        "{:?}",
        reasons("ENG-5")
    );
    assert_eq!(
        verdict("ENG-7"),
        Verdict::Admit {
            waits_for: vec![IssueKey::new("ENG-6")]
        }
    );
    match verdict("ENG-9") {
        Verdict::NeedsHuman { waits_for, reasons } => {
            assert_eq!(waits_for, [IssueKey::new("ENG-62")]);
            assert!(
                reasons[0]
                    .to_string()
                    .contains("outside the milestone and still started")
            );
        }
        other => panic!("ENG-9 should need a human, got {other:?}"),
    }
    assert!(
        matches!(verdict("ENG-10"), Verdict::NeedsHuman { .. }),
        "blocked by skipped ENG-4"
    );

    // 60 issues: 6 done, 6 canceled, 6 unrefined, 6 too large; 36 admitted.
    assert_eq!(admission.admitted().count(), 36);
    assert_eq!(admission.skipped().count(), 24);
    let order: Vec<&str> = admission.admitted().map(|d| d.key.as_str()).collect();
    let position = |key: &str| order.iter().position(|k| *k == key).expect(key);
    assert!(
        position("ENG-6") < position("ENG-7"),
        "blockers first: {order:?}"
    );
    // Priority 1 (urgent) first: index 6 → ENG-8 has priority 6 % 5 = 1.
    assert_eq!(order[0], "ENG-8", "{order:?}");
    assert!(standin.mutations().is_empty(), "planning changes nothing");
}

#[tokio::test]
async fn milestone_named_in_the_url_wins() {
    let fixture = fixture();
    let standin = StandinLinear::start(fixture.workspace)
        .await
        .expect("stand-in starts");
    let linear = client(
        &standin,
        &Credentials::OAuthToken(StandinLinear::OAUTH_TOKEN.to_owned()),
    );
    let url = project_url(&format!("/issues?layout=board#milestone-{}", fixture.ga));
    let intake = IssueTracker::resolve_milestone(&linear, &url)
        .await
        .expect("resolves");
    println!(
        "requests to resolve a 1-issue milestone: {}",
        standin.request_count()
    );
    assert_eq!(standin.request_count(), 2);
    assert_eq!(intake.milestone.name, "GA");
    assert_eq!(intake.choice, MilestoneChoice::NamedInUrl);
    assert_eq!(intake.issues.len(), 1);
}

#[tokio::test]
async fn bad_input_and_refusals_give_clear_errors_and_change_nothing() {
    let mut ws = fixture().workspace;
    let empty_project = ws.add_project("Empty", "0123456789ab");
    assert!(!empty_project.is_empty());
    let standin = StandinLinear::start(ws).await.expect("stand-in starts");
    let linear = client(&standin, &api_key());

    let error = IssueTracker::resolve_milestone(&linear, "https://linear.app/acme/issues")
        .await
        .expect_err("bad URL");
    assert_eq!(error.kind(), PortErrorKind::Invalid);
    assert!(error.to_string().contains("accepted shapes"), "{error}");
    assert_eq!(standin.request_count(), 0, "a bad URL sends nothing");

    let unknown = linear
        .resolve_milestone(
            &squadron_linear::parse_project_url("https://linear.app/acme/project/x-ffffffffffff")
                .expect("parses"),
        )
        .await
        .expect_err("unknown project");
    assert_eq!(unknown.kind(), LinearErrorKind::NotFound);
    assert!(unknown.to_string().contains("`ffffffffffff`"), "{unknown}");

    let empty = IssueTracker::resolve_milestone(
        &linear,
        "https://linear.app/acme/project/empty-0123456789ab",
    )
    .await
    .expect_err("no milestones");
    assert!(
        empty.to_string().contains("`Empty`: it has none"),
        "{empty}"
    );

    let wrong_milestone = IssueTracker::resolve_milestone(
        &linear,
        &project_url("#milestone-00000000-0000-4000-8000-000000000000"),
    )
    .await
    .expect_err("unknown milestone");
    assert!(
        wrong_milestone.to_string().contains("Beta"),
        "lists the milestones: {wrong_milestone}"
    );

    let missing = IssueTracker::fetch_issue(&linear, "ENG-999")
        .await
        .expect_err("unknown issue");
    assert_eq!(missing.kind(), PortErrorKind::NotFound);
    assert!(missing.to_string().contains("ENG-999"), "{missing}");

    standin.revoke_keys();
    let revoked = IssueTracker::resolve_milestone(&linear, &project_url(""))
        .await
        .expect_err("revoked");
    assert_eq!(revoked.kind(), PortErrorKind::Auth);
    assert!(revoked.to_string().contains("not revoked"), "{revoked}");
    let comment = IssueTracker::comment_once(&linear, &IssueKey::new("ENG-4"), "k", "hello").await;
    assert!(comment.is_err());
    assert!(standin.mutations().is_empty(), "nothing was changed");
}

#[tokio::test(start_paused = true)]
async fn rate_limits_are_waited_out_then_reported() {
    let standin = StandinLinear::start(fixture().workspace)
        .await
        .expect("stand-in starts");
    let linear = client(&standin, &api_key()).with_max_retries(2);

    standin.rate_limit_next(2, 30);
    let started = tokio::time::Instant::now();
    let issue = IssueTracker::fetch_issue(&linear, "ENG-5")
        .await
        .expect("succeeds after two retries");
    assert_eq!(issue.key.as_str(), "ENG-5");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(60),
        "honoured retry-after twice"
    );

    standin.rate_limit_next(10, 30);
    let error = IssueTracker::comment_once(&linear, &IssueKey::new("ENG-5"), "k", "hi")
        .await
        .expect_err("limited");
    assert_eq!(error.kind(), PortErrorKind::Transient);
    assert!(error.to_string().contains("rate limited"), "{error}");
    assert!(error.to_string().contains("try again in 30 s"), "{error}");
    assert!(standin.mutations().is_empty());
    println!("requests including retries: {}", standin.request_count());
}

#[tokio::test(start_paused = true)]
async fn the_limiter_slows_down_before_the_budget_runs_out() {
    let standin = StandinLinear::start(fixture().workspace)
        .await
        .expect("stand-in starts");
    let linear = client(&standin, &api_key());
    // 3 of 100 requests left for the next 40 s (the fixed clock's now + 40 s).
    standin.set_request_budget(100, 3, 1_700_000_040_000);
    let started = tokio::time::Instant::now();
    linear.viewer().await.expect("first request");
    assert_eq!(
        started.elapsed(),
        std::time::Duration::ZERO,
        "nothing known yet"
    );
    linear.viewer().await.expect("second request");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(10),
        "paced: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn comments_are_posted_once_per_marker() {
    let standin = StandinLinear::start(fixture().workspace)
        .await
        .expect("stand-in starts");
    let linear = client(&standin, &api_key());
    let key = IssueKey::new("ENG-4");
    let first = IssueTracker::comment_once(&linear, &key, "admission-1", "Missing criteria")
        .await
        .expect("posts");
    assert_eq!(first, SyncOutcome::Applied);
    // A restarted daemon uses a fresh client: the marker in Linear is what stops a repeat.
    let restarted = client(&standin, &api_key());
    let second = IssueTracker::comment_once(&restarted, &key, "admission-1", "Missing criteria")
        .await
        .expect("checks");
    assert_eq!(second, SyncOutcome::AlreadyDone);
    assert_eq!(standin.mutations().len(), 1);
    let comments = standin.with_workspace(|ws| ws.comments_of("ENG-4"));
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].starts_with("Missing criteria")
            && comments[0].contains("<!-- squadron:admission-1 -->")
    );
    let other = IssueTracker::comment_once(&linear, &key, "admission-2", "Still missing")
        .await
        .expect("posts");
    assert_eq!(other, SyncOutcome::Applied);
}

#[tokio::test]
async fn issues_move_forward_by_state_type_and_prs_link_once() {
    let mut ws = fixture().workspace;
    ws.rename_state("ENG", "In Review", "Code Review");
    let standin = StandinLinear::start(ws).await.expect("stand-in starts");
    let names = squadron_linear::StateNames {
        in_review: "Code Review".to_owned(),
        ..Default::default()
    };
    let linear = client(&standin, &api_key())
        .with_state_names(Default::default(), [("ENG".to_owned(), names)].into());
    let key = IssueKey::new("ENG-5");
    let state = || standin.with_workspace(|ws| ws.state_name_of("ENG-5"));

    assert_eq!(
        IssueTracker::move_issue(&linear, &key, WorkflowTarget::Started)
            .await
            .expect("moves"),
        SyncOutcome::Applied
    );
    assert_eq!(state().as_deref(), Some("In Progress"));
    assert_eq!(
        IssueTracker::move_issue(&linear, &key, WorkflowTarget::InReview)
            .await
            .expect("moves"),
        SyncOutcome::Applied
    );
    assert_eq!(state().as_deref(), Some("Code Review"));
    // A restart replaying "started" does not move the issue back.
    assert_eq!(
        IssueTracker::move_issue(&linear, &key, WorkflowTarget::Started)
            .await
            .expect("checks"),
        SyncOutcome::AlreadyDone
    );
    assert_eq!(state().as_deref(), Some("Code Review"));

    let pr = "https://github.com/acme/shop/pull/7";
    assert_eq!(
        IssueTracker::link_pull_request(&linear, &key, pr, "PR #7")
            .await
            .expect("links"),
        SyncOutcome::Applied
    );
    assert_eq!(
        IssueTracker::link_pull_request(&linear, &key, pr, "PR #7")
            .await
            .expect("checks"),
        SyncOutcome::AlreadyDone
    );
    assert_eq!(
        IssueTracker::move_issue(&linear, &key, WorkflowTarget::Done)
            .await
            .expect("moves"),
        SyncOutcome::Applied
    );
    assert_eq!(state().as_deref(), Some("Done"));
    assert_eq!(
        standin
            .with_workspace(|ws| ws.attachment_urls_of("ENG-5"))
            .iter()
            .filter(|u| *u == pr)
            .count(),
        1
    );
    assert_eq!(standin.mutations().len(), 4, "three moves and one link");
}

mod webhook {
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::Sha256;
    use squadron_core::Timestamp;
    use squadron_linear::{WebhookOutcome, WebhookRejection, handle_linear_webhook};

    const SECRET: &[u8] = b"lin_wh_secret";
    const NOW: i64 = 1_700_000_000_000;

    fn body(timestamp: i64, state: &str) -> Vec<u8> {
        format!(
            r#"{{"action":"update","type":"Issue","data":{{"id":"issue-1","identifier":"ENG-7","state":{{"id":"s","name":"X","type":"{state}"}}}},"updatedFrom":{{"stateId":"t"}},"webhookTimestamp":{timestamp}}}"#
        )
        .into_bytes()
    }

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("any key length");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn a_signed_fresh_cancel_cancels_the_squad() {
        let body = body(NOW - 5_000, "canceled");
        let outcome = handle_linear_webhook(
            SECRET,
            Some(&sign(SECRET, &body)),
            &body,
            Timestamp::from_millis(NOW),
        );
        assert_eq!(
            outcome,
            Ok(WebhookOutcome::CancelSquad {
                issue_id: "issue-1".into(),
                issue_key: "ENG-7".into()
            })
        );
        let other = body_for("started");
        assert_eq!(
            handle_linear_webhook(
                SECRET,
                Some(&sign(SECRET, &other)),
                &other,
                Timestamp::from_millis(NOW)
            ),
            Ok(WebhookOutcome::Ignored)
        );
    }

    fn body_for(state: &str) -> Vec<u8> {
        body(NOW, state)
    }

    #[test]
    fn forged_tampered_stale_and_unsigned_deliveries_are_refused() {
        let now = Timestamp::from_millis(NOW);
        let body = body(NOW, "canceled");
        let wrong_secret = handle_linear_webhook(SECRET, Some(&sign(b"other", &body)), &body, now);
        assert_eq!(wrong_secret, Err(WebhookRejection::BadSignature));
        let mut tampered = body.clone();
        tampered[20] ^= 1;
        assert_eq!(
            handle_linear_webhook(SECRET, Some(&sign(SECRET, &body)), &tampered, now),
            Err(WebhookRejection::BadSignature)
        );
        let stale = self::body(NOW - 61_000, "canceled");
        assert!(matches!(
            handle_linear_webhook(SECRET, Some(&sign(SECRET, &stale)), &stale, now),
            Err(WebhookRejection::StaleTimestamp { skew_ms: 61_000 })
        ));
        assert_eq!(
            handle_linear_webhook(SECRET, None, &body, now),
            Err(WebhookRejection::MissingSignature)
        );
        assert_eq!(
            handle_linear_webhook(SECRET, Some("not-hex"), &body, now),
            Err(WebhookRejection::BadSignature)
        );
        assert_eq!(WebhookRejection::BadSignature.status(), 401);
    }
}
