//! The demo's sample milestone, read through the real Linear adapter from the stand-in, and
//! the scenario names the command accepts.

use std::sync::Arc;

use squadron::demo::{DemoWorld, Outcome, SAMPLE_REPO, Scenario};
use squadron_core::Role;
use squadron_core::admission::admit;
use squadron_core::ports::IssueTracker;
use squadron_core::refinement::RefinementPolicy;
use squadron_linear::{Credentials, LinearClient, RateLimiter};
use squadron_standin_linear::StandinLinear;

use crate::support::WallClock;

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
        "pick the demo scenario `bugfix-later`: there is no such scenario; built-in scenarios: milestone"
    );
    assert_eq!(
        "milestone".parse::<Scenario>().ok(),
        Some(Scenario::Milestone)
    );
}
