//! `squadron plan <url>` against the Linear stand-in: the dry run a developer makes before
//! starting a milestone.

use squadron_standin_linear::{IssueSpec, StandinLinear, Workspace};

const API_KEY: &str = StandinLinear::API_KEY;

use crate::support::Sandbox;

const SLUG: &str = "a5e6ddb5d475";
const REFINED: &str = "Shoppers pay by card.\n\n```gherkin\nScenario: pay\n  Given a cart\n  When I pay\n  Then I see a receipt\n```\n";

fn workspace() -> Workspace {
    let mut ws = Workspace::new("acme");
    ws.add_team("ENG", "Engineering");
    let project = ws.add_project("Checkout v2", SLUG);
    ws.add_milestone(&project, "Alpha", 1.0, "done");
    let beta = ws.add_milestone(&project, "Beta", 2.0, "next");
    ws.add_issue(
        IssueSpec::new("ENG", "Card payments")
            .description(REFINED)
            .estimate(2.0)
            .milestone(&beta),
    );
    ws.add_issue(
        IssueSpec::new("ENG", "Receipts")
            .description(REFINED)
            .estimate(1.0)
            .milestone(&beta),
    );
    ws.add_issue(
        IssueSpec::new("ENG", "Make it faster")
            .description("Just do it.")
            .estimate(3.0)
            .milestone(&beta),
    );
    ws.add_issue(
        IssueSpec::new("ENG", "Old")
            .description(REFINED)
            .state("Done")
            .milestone(&beta),
    );
    ws.add_blocks("ENG-1", "ENG-2");
    ws
}

fn url() -> String {
    format!("https://linear.app/acme/project/checkout-v2-{SLUG}/overview")
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_shows_admitted_issues_in_start_order_and_skips_with_reasons() {
    let linear = StandinLinear::start(workspace())
        .await
        .expect("start the Linear stand-in");
    let sandbox = Sandbox::new();
    let env = [
        ("SQUADRON_LINEAR_API_URL", linear.endpoint()),
        ("LINEAR_API_KEY", API_KEY.to_owned()),
    ];
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();

    let outcome = sandbox.run(&["plan", &url(), "--json"], &env);
    assert_eq!(outcome.code(), 0, "{}", outcome.stderr());
    let plan = outcome.json();
    assert_eq!(
        plan["milestone"]["name"], "Beta",
        "the first milestone that is not done"
    );
    let issues = plan["issues"].as_array().expect("issues");
    let decision = |key: &str| {
        issues
            .iter()
            .find(|issue| issue["identifier"] == key)
            .unwrap_or_else(|| panic!("{key} in {plan:#}"))
    };
    assert_eq!(decision("ENG-1")["decision"], "admit");
    assert_eq!(decision("ENG-2")["decision"], "admit");
    assert_eq!(decision("ENG-2")["waits_for"][0], "ENG-1");
    assert_eq!(decision("ENG-3")["decision"], "skip");
    let reasons = decision("ENG-3")["reasons"].to_string();
    assert!(reasons.contains("scenario"), "{reasons}");
    let order: Vec<&str> = issues
        .iter()
        .filter_map(|issue| issue["identifier"].as_str())
        .collect();
    let position = |key| order.iter().position(|k| *k == key).expect("listed");
    assert!(
        position("ENG-1") < position("ENG-2"),
        "blockers start first: {order:?}"
    );
    assert!(
        linear.mutations().is_empty(),
        "a plan changes nothing in Linear"
    );

    let text = sandbox.run(&["plan", &url()], &env);
    assert_eq!(text.code(), 0, "{}", text.stderr());
    assert!(text.stdout().contains("Beta"), "{}", text.stdout());
    assert!(text.stdout().contains("ENG-3"), "{}", text.stdout());
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_refuses_a_bad_url_showing_the_accepted_shapes() {
    let sandbox = Sandbox::new();
    let outcome = sandbox.run(
        &["plan", "https://linear.app/acme/team/ENG"],
        &[("LINEAR_API_KEY", "k")],
    );
    assert_eq!(outcome.code(), 64, "{}", outcome.stderr());
    assert!(
        outcome.stderr().contains("linear.app/<workspace>/project/"),
        "{}",
        outcome.stderr()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_with_a_revoked_key_is_a_config_error_and_changes_nothing() {
    let linear = StandinLinear::start(workspace())
        .await
        .expect("start the Linear stand-in");
    linear.revoke_keys();
    let sandbox = Sandbox::new();
    let endpoint = linear.endpoint();
    let outcome = sandbox.run(
        &["plan", &url()],
        &[
            ("SQUADRON_LINEAR_API_URL", endpoint.as_str()),
            ("LINEAR_API_KEY", API_KEY),
        ],
    );
    assert_eq!(outcome.code(), 78, "{}", outcome.stderr());
    assert!(
        outcome.stderr().to_lowercase().contains("authentication"),
        "{}",
        outcome.stderr()
    );
    assert!(linear.mutations().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_of_an_unknown_project_names_it() {
    let linear = StandinLinear::start(workspace())
        .await
        .expect("start the Linear stand-in");
    let sandbox = Sandbox::new();
    let endpoint = linear.endpoint();
    let outcome = sandbox.run(
        &[
            "plan",
            "https://linear.app/acme/project/nothing-0123456789ab",
        ],
        &[
            ("SQUADRON_LINEAR_API_URL", endpoint.as_str()),
            ("LINEAR_API_KEY", API_KEY),
        ],
    );
    assert_eq!(outcome.code(), 64, "{}", outcome.stderr());
    assert!(
        outcome.stderr().contains("0123456789ab"),
        "{}",
        outcome.stderr()
    );
}
