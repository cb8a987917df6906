//! Acceptance criteria parsed out of realistic Linear issue descriptions.

use squadron_core::acceptance::{
    AcceptanceCriteria, Diagnostic, Scenario, StepKeyword, parse_acceptance_criteria,
};

/// Renders scenarios compactly so each case states its whole expected outcome.
fn outline(scenarios: &[Scenario]) -> Vec<String> {
    scenarios
        .iter()
        .map(|scenario| {
            let steps: Vec<String> = scenario
                .steps
                .iter()
                .map(|step| format!("{} {}", step.keyword, step.text))
                .collect();
            format!("{} {}: {}", scenario.id, scenario.name, steps.join(" / "))
        })
        .collect()
}

#[test]
fn reads_every_way_issue_authors_write_scenarios() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "fenced gherkin block with a Feature line and a Background",
            "We need a faster checkout.\n\n\
             ```gherkin\n\
             Feature: Checkout\n\
             \x20 Background:\n\
             \x20   Given a signed-in customer\n\
             \x20 Scenario: Pay by card\n\
             \x20   Given a cart with 2 items\n\
             \x20   When they pay by card\n\
             \x20   Then an order is created\n\
             \x20   And a receipt is emailed\n\
             \x20 Scenario: Empty cart\n\
             \x20   When they open checkout\n\
             \x20   Then they see \"your cart is empty\"\n\
             ```\n",
            &[
                "AC-1 Pay by card: Given a signed-in customer / Given a cart with 2 items / When they pay by card / Then an order is created / And a receipt is emailed",
                "AC-2 Empty cart: Given a signed-in customer / When they open checkout / Then they see \"your cart is empty\"",
            ],
        ),
        (
            "block without Feature line, tagged feature, tilde fence",
            "~~~feature\nScenario: Login\n  Given a user\n  When they log in\n  Then they see the dashboard\n~~~\n",
            &["AC-1 Login: Given a user / When they log in / Then they see the dashboard"],
        ),
        (
            "cucumber block with bare steps takes its name from the heading above",
            "## Refund within 30 days\n\n```cucumber\nGiven an order paid 10 days ago\nWhen the customer asks for a refund\nThen the refund is issued\n```\n",
            &[
                "AC-1 Refund within 30 days: Given an order paid 10 days ago / When the customer asks for a refund / Then the refund is issued",
            ],
        ),
        (
            "scenario outline with examples counts as one scenario, data table kept",
            "```gherkin\nScenario Outline: Discount for <tier>\n  Given a <tier> customer\n  And prices:\n    | item | price |\n    | tea  | 4     |\n  Then the discount is <pct>\n  Examples:\n    | tier | pct |\n    | gold | 10  |\n    | none | 0   |\n```",
            &[
                "AC-1 Discount for <tier>: Given a <tier> customer / And prices:\n| item | price |\n| tea | 4 | / Then the discount is <pct>",
            ],
        ),
        (
            "rules with their own background, in order of appearance",
            "```gherkin\nFeature: Limits\n  Background:\n    Given a team\n  Scenario: Top\n    Then ok\n  Rule: Caps\n    Background:\n      Given a cap of 3\n    Example: Under\n      When 2 run\n      Then all start\n```",
            &[
                "AC-1 Top: Given a team / Then ok",
                "AC-2 Under: Given a team / Given a cap of 3 / When 2 run / Then all start",
            ],
        ),
        (
            "plain markdown with bullets, bold keywords and headings",
            "## Acceptance criteria\n\n### Scenario: Export CSV\nThe export is used by finance.\n- **Given** a report with 3 rows\n- **When** I click *Export*\n- **Then** a CSV with 3 rows downloads\n\n**Scenario:** Empty report\n1. Given an empty report\n2. When I click Export\n3. Then the button is disabled\n",
            &[
                "AC-1 Export CSV: Given a report with 3 rows / When I click *Export* / Then a CSV with 3 rows downloads",
                "AC-2 Empty report: Given an empty report / When I click Export / Then the button is disabled",
            ],
        ),
        (
            "steps without a Scenario line under a heading form one scenario",
            "# Acceptance\n* Given a muted channel\n* When a message arrives\n* Then no notification is sent\n",
            &[
                "AC-1 Acceptance: Given a muted channel / When a message arrives / Then no notification is sent",
            ],
        ),
        (
            "prose that merely starts with Given or Then is not a scenario",
            "Given the outage last week, we should retry.\n\nThen again, maybe not.\nWhen in doubt, ask.\n",
            &[],
        ),
        (
            "steps inside other code blocks are data, not criteria",
            "```text\nGiven a log line\nWhen parsed\nThen fine\n```\n",
            &[],
        ),
        (
            "fenced blocks and prose interleave in document order",
            "Scenario: First\n- Given a\n- Then b\n\n```gherkin\nScenario: Second\n  Given c\n  Then d\n```\n\nScenario: Third\nGiven e\nThen f\n",
            &[
                "AC-1 First: Given a / Then b",
                "AC-2 Second: Given c / Then d",
                "AC-3 Third: Given e / Then f",
            ],
        ),
        (
            "a scenario without Then is still returned so refinement can name it",
            "Scenario: Half done\n- Given a user\n- When they click\n",
            &["AC-1 Half done: Given a user / When they click"],
        ),
        (
            "doc string attached to a step",
            "```gherkin\nScenario: Webhook\n  When this payload arrives:\n    \"\"\"\n    {\"ok\": true}\n    \"\"\"\n  Then it is stored\n```",
            &[
                "AC-1 Webhook: When this payload arrives:\n\"\"\"\n{\"ok\": true}\n\"\"\" / Then it is stored",
            ],
        ),
        ("empty description", "", &[]),
    ];
    for (what, markdown, expected) in cases {
        let parsed = AcceptanceCriteria::parse(markdown);
        assert_eq!(outline(&parsed.scenarios), *expected, "{what}");
        assert_eq!(parsed.diagnostics, vec![], "{what}");
    }
}

#[test]
fn malformed_gherkin_falls_back_to_lines_and_says_so() {
    let markdown = "Intro.\n\n```gherkin\nFeature: Broken\n  Scenario: Still readable\n    Given a user\n    Frobnicate wildly\n    Then it works\n```\n";
    let parsed = AcceptanceCriteria::parse(markdown);
    assert_eq!(
        outline(&parsed.scenarios),
        ["AC-1 Still readable: Given a user"],
        "the line reader keeps what it can read"
    );
    assert_eq!(parsed.diagnostics.len(), 1);
    let Diagnostic::MalformedGherkin {
        fence_line,
        recovered,
        ..
    } = &parsed.diagnostics[0];
    assert_eq!((*fence_line, *recovered), (3, 1));
    let message = parsed.diagnostics[0].to_string();
    assert!(
        message.contains("line 3") && message.contains("not valid Gherkin"),
        "{message}"
    );
}

#[test]
fn malformed_block_without_scenarios_reports_zero_recovered() {
    let markdown =
        "```gherkin\nFeature: X\n  Scenario: A\n    Given a\n  Examples:\n    | broken\n```";
    let parsed = AcceptanceCriteria::parse(markdown);
    for diagnostic in &parsed.diagnostics {
        assert!(
            diagnostic.to_string().contains("opening at line 1"),
            "{diagnostic}"
        );
    }
}

#[test]
fn ids_are_stable_and_sequential_across_reparses() {
    let markdown = "```gherkin\nScenario: A\n  Given a\n  Then b\nScenario: B\n  Given c\n  Then d\n```\n- Scenario: C\n- Given e\n- Then f\n";
    let first = parse_acceptance_criteria(markdown);
    let second = parse_acceptance_criteria(markdown);
    assert_eq!(first, second);
    let ids: Vec<&str> = first.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["AC-1", "AC-2", "AC-3"]);
    assert!(first.iter().all(Scenario::has_then));
    assert_eq!(first[2].steps[0].keyword, StepKeyword::Given);
}

#[test]
fn unclosed_fence_runs_to_the_end_of_the_description() {
    let markdown = "```gherkin\nScenario: Open ended\n  Given a\n  Then b\n";
    assert_eq!(
        outline(&parse_acceptance_criteria(markdown)),
        ["AC-1 Open ended: Given a / Then b"]
    );
}

#[test]
fn arbitrary_text_never_panics() {
    let fragments = [
        "```gherkin",
        "```",
        "Scenario:",
        "Given",
        "Then x",
        "| a |",
        "**",
        "# ",
        "Feature:",
        "Background:",
        "Examples:",
        "\"\"\"",
        "@tag",
        "Rule:",
        "- ",
        "1. ",
        "~~~",
        "* And y",
    ];
    // Every ordered pair and triple of fragments, one per line: a small exhaustive sweep of
    // the shapes that trip line-based parsers.
    for a in fragments {
        for b in fragments {
            for c in fragments {
                let markdown = format!("{a}\n{b}\n{c}\n");
                let parsed = AcceptanceCriteria::parse(&markdown);
                for (n, scenario) in parsed.scenarios.iter().enumerate() {
                    assert_eq!(scenario.id, format!("AC-{}", n + 1), "{markdown:?}");
                }
            }
        }
    }
}
