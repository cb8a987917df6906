//! The demo's sample milestone, read through the real Linear adapter from the stand-in, and
//! the scenario names the command accepts.

use std::sync::Arc;

use squadron::demo::{BUGFIX_ISSUE, DemoWorld, Outcome, SAMPLE_REPO, Scenario};
use squadron_core::Role;
use squadron_core::admission::admit;
use squadron_core::bug_report::{BugReport, map_frames_to_files};
use squadron_core::ports::IssueTracker;
use squadron_core::refinement::RefinementPolicy;
use squadron_linear::{Credentials, LinearClient, RateLimiter};
use squadron_standin_linear::StandinLinear;

use crate::support::{WallClock, sample_checkout, sample_tests};

fn client(world: &DemoWorld) -> LinearClient {
    let _ = rustls::crypto::ring::default_provider().install_default();
    LinearClient::new(
        &world.linear.endpoint(),
        &Credentials::ApiKey(StandinLinear::API_KEY.to_owned()),
        RateLimiter::new(Arc::new(WallClock)),
    )
    .expect("a Linear client")
}

#[tokio::test]
async fn the_sample_milestone_admits_three_issues_in_blocker_order_and_skips_the_unrefined_one() {
    let world = DemoWorld::start(Scenario::Milestone)
        .await
        .expect("the demo world starts");
    let intake = IssueTracker::resolve_milestone(&client(&world), world.project_url())
        .await
        .expect("the project URL resolves");
    assert_eq!(
        intake.milestone.name, "Reports",
        "the done milestone is passed over"
    );
    assert!(
        intake
            .issues
            .iter()
            .all(|issue| issue.estimate.is_some() || issue.key.as_str() == "ENG-5"),
        "every admitted issue carries an estimate"
    );

    let admission = admit(
        &intake.issues,
        &RefinementPolicy {
            max_estimate: Some(5.0),
            require_estimate: true,
        },
    );
    let admitted: Vec<(String, Vec<String>)> = admission
        .admitted()
        .map(|decision| {
            (
                decision.key.to_string(),
                decision
                    .waits_for()
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            )
        })
        .collect();
    let mut admitted_keys: Vec<&str> = admitted.iter().map(|(key, _)| key.as_str()).collect();
    admitted_keys.sort_unstable();
    assert_eq!(admitted_keys, ["ENG-2", "ENG-3", "ENG-4"]);
    let position = |key: &str| admitted.iter().position(|(k, _)| k == key);
    assert!(
        position("ENG-2") < position("ENG-3"),
        "the blocker starts first"
    );
    assert!(
        admitted.contains(&("ENG-3".to_owned(), vec!["ENG-2".to_owned()])),
        "ENG-3 waits for ENG-2: {admitted:?}"
    );
    let skipped: Vec<String> = admission
        .skipped()
        .map(|decision| decision.key.to_string())
        .collect();
    assert_eq!(skipped, ["ENG-5"]);

    let expected: Vec<(String, Outcome)> = Scenario::Milestone
        .expected()
        .into_iter()
        .map(|issue| (issue.identifier, issue.outcome))
        .collect();
    assert_eq!(
        expected,
        [
            ("ENG-2".to_owned(), Outcome::Merged),
            ("ENG-3".to_owned(), Outcome::Merged),
            ("ENG-4".to_owned(), Outcome::Merged),
            ("ENG-5".to_owned(), Outcome::Skipped),
        ]
    );
}

#[tokio::test]
async fn the_github_stand_in_holds_the_sample_repository_and_three_identities() {
    let world = DemoWorld::start(Scenario::Milestone)
        .await
        .expect("the demo world starts");
    let head = world
        .github
        .branch_head(SAMPLE_REPO, "main")
        .expect("the repository exists");
    assert!(head.is_some(), "main has the sample commit");
    let settings = world
        .github
        .file_at(SAMPLE_REPO, "main", ".squadron.toml")
        .expect("the repository exists")
        .expect("the sample repository carries its guardrails");
    assert!(settings.contains("python3 -m unittest discover -s tests -t ."));

    let config = world.config_toml(
        std::path::Path::new("/tmp/demo \"store\".db"),
        squadron::demo::DemoLimits::default(),
    );
    let parsed: toml::Table = toml::from_str(&config).expect("the demo config is TOML");
    assert_eq!(
        parsed["github"]["api_url"].as_str(),
        Some(world.github.base_url())
    );
    assert_eq!(
        parsed["store"]["sqlite_path"].as_str(),
        Some("/tmp/demo \"store\".db"),
        "paths are quoted"
    );
    let secrets = world.secrets_env();
    let dir = tempfile::tempdir().expect("a scratch directory");
    let file = dir.path().join("squadron.toml");
    std::fs::write(&file, &config).expect("write the config");
    let env: squadron_config::Env = secrets.iter().cloned().collect();
    let loaded = squadron_config::Config::load(Some(&file), &env)
        .expect("Squadron accepts the demo configuration");
    assert_eq!(loaded.repositories["ENG"].github.to_string(), "acme/ledger");
    assert_eq!(loaded.limits.concurrency, 4);
    let resolved = loaded.resolve_secrets(&env);
    for role in [Role::Developer, Role::CodeReviewer, Role::QaSpecialist] {
        assert!(
            resolved.github_token(role).is_some(),
            "{role} has its token"
        );
    }
    assert!(resolved.linear_api_key.is_some() && resolved.provider_api_key("openai").is_some());
    assert_eq!(
        loaded.slack.api_url.as_str().trim_end_matches('/'),
        world.slack.api_url(),
        "Slack goes to the stand-in"
    );
    assert!(resolved.slack_bot_token.is_some() && resolved.slack_signing_secret.is_some());
    let tokens: std::collections::BTreeSet<&str> = secrets
        .iter()
        .filter(|(name, _)| name.starts_with("GITHUB_TOKEN_"))
        .map(|(_, token)| token.as_str())
        .collect();
    assert_eq!(tokens.len(), 3, "three distinct GitHub identities");
}

#[test]
fn an_unknown_scenario_is_refused_with_the_list_of_scenarios() {
    let error = "bugfix-later"
        .parse::<Scenario>()
        .expect_err("not a scenario");
    assert_eq!(
        error.to_string(),
        "pick the demo scenario `bugfix-later`: there is no such scenario; built-in scenarios: milestone, bugfix"
    );
    assert_eq!(
        "milestone".parse::<Scenario>().ok(),
        Some(Scenario::Milestone)
    );
    assert_eq!("bugfix".parse::<Scenario>().ok(), Some(Scenario::Bugfix));
}

#[tokio::test]
async fn the_bugfix_stub_reads_as_sentry_wrote_it_and_its_frame_lands_in_the_sample_package() {
    let world = DemoWorld::start(Scenario::Bugfix)
        .await
        .expect("the demo world starts");
    let issue = IssueTracker::fetch_issue(&client(&world), BUGFIX_ISSUE)
        .await
        .expect("the stub exists");
    let report = BugReport::from_issue(&issue);

    assert_eq!(report.sentry_short_id.as_deref(), Some("LEDGER-1A"));
    assert!(report.is_from_sentry());
    let exception = report
        .exception
        .as_ref()
        .expect("the trace names the exception");
    assert_eq!(exception.type_name, "ValueError");
    let files: Vec<String> = squadron::demo::sample_repo_files()
        .iter()
        .map(|(path, _)| (*path).to_owned())
        .collect();
    let mapped = map_frames_to_files(&report.frames, &files);
    let placed: Vec<Option<&str>> = mapped.iter().map(|frame| frame.repository_file()).collect();
    assert_eq!(
        placed,
        [None, Some("ledger/importer.py")],
        "the web frame is not in the repository; the innermost one is"
    );
    assert_eq!(
        Scenario::Bugfix.expected()[0].identifier,
        BUGFIX_ISSUE,
        "the scenario expects its stub merged"
    );
}

#[test]
fn the_bug_the_stub_reports_is_real_on_the_sample_repositorys_base() {
    let checkout = sample_checkout();
    let (passed, output) = sample_tests(checkout.path());
    assert!(passed, "the base passes its own tests:\n{output}");

    // The regression test the scenario's QA writes fails on the base, with the trace's error.
    let scripts: toml::Table =
        toml::from_str(squadron::demo::BUGFIX_SCRIPTS).expect("the scripts are TOML");
    let qa = scripts["script"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|script| script["name"].as_str() == Some("qa-ENG-1"))
        })
        .expect("a QA script");
    let test_file = qa["step"]
        .as_array()
        .and_then(|steps| {
            steps.iter().find_map(|step| {
                let call = &step["tool_calls"][0];
                (call["name"].as_str() == Some("write_file"))
                    .then(|| call["arguments"]["content"].as_str().map(str::to_owned))
                    .flatten()
            })
        })
        .expect("QA writes the test file");
    std::fs::write(checkout.path().join("tests/test_importer.py"), test_file)
        .expect("write the regression test");
    let (passed, output) = sample_tests(checkout.path());
    assert!(!passed, "the regression test fails on the base:\n{output}");
    assert!(
        output.contains("not enough values to unpack (expected 4, got 0)"),
        "it fails with the error Sentry reported:\n{output}"
    );
}
