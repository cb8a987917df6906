//! The refinement check: every reason an issue is not ready, worded for its author.

use squadron_core::acceptance::parse_acceptance_criteria;
use squadron_core::refinement::{NotReady, RefinementPolicy, check_refinement};

/// One table row: what it shows, the description, the estimate, the policy, the reasons.
type Case<'a> = (
    &'a str,
    &'a str,
    Option<f64>,
    RefinementPolicy,
    &'a [&'a str],
);

const READY: &str = "Scenario: Pay\n- Given a cart\n- When I pay\n- Then I get a receipt\n";

#[test]
fn lists_every_reason_in_a_stable_order() {
    let limit = RefinementPolicy {
        max_estimate: Some(5.0),
        require_estimate: true,
    };
    let no_limit = RefinementPolicy {
        max_estimate: None,
        require_estimate: false,
    };
    let two_without_then = "Scenario: A\n- Given a\n- When b\n\nScenario: B\n- Given c\n- When d\n\nScenario: C\n- Given e\n- Then f\n";
    let cases: &[Case] = &[
        ("ready", READY, Some(3.0), limit, &[]),
        (
            "estimate at the limit is fine",
            READY,
            Some(5.0),
            limit,
            &[],
        ),
        ("no limit, no estimate", READY, None, no_limit, &[]),
        (
            "nothing at all",
            "Just make it faster.",
            None,
            limit,
            &[
                "the description has no acceptance criteria: add at least one Gherkin scenario (`Scenario:` followed by `Given`/`When`/`Then` lines, or a ```gherkin block)",
                "the issue has no estimate: set one (at most 5 points)",
            ],
        ),
        (
            "every scenario without Then is named",
            two_without_then,
            Some(8.0),
            limit,
            &[
                "scenario AC-1 \"A\" has no `Then` step: add the outcome that shows it works",
                "scenario AC-2 \"B\" has no `Then` step: add the outcome that shows it works",
                "the estimate is 8 points, above the limit of 5: split the issue into smaller ones or lower its estimate",
            ],
        ),
        (
            "missing estimate required without a limit",
            READY,
            None,
            RefinementPolicy {
                max_estimate: None,
                require_estimate: true,
            },
            &["the issue has no estimate: set one"],
        ),
        (
            "fractional estimate above the limit",
            READY,
            Some(5.5),
            limit,
            &[
                "the estimate is 5.5 points, above the limit of 5: split the issue into smaller ones or lower its estimate",
            ],
        ),
    ];
    for (what, markdown, estimate, policy, expected) in cases {
        let scenarios = parse_acceptance_criteria(markdown);
        let reasons: Vec<String> = check_refinement(&scenarios, *estimate, policy)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(reasons, *expected, "{what}");
    }
}

#[test]
fn reasons_are_typed() {
    let reasons = check_refinement(
        &[],
        Some(13.0),
        &RefinementPolicy {
            max_estimate: Some(8.0),
            require_estimate: false,
        },
    );
    assert_eq!(
        reasons,
        [
            NotReady::NoScenarios,
            NotReady::EstimateTooHigh {
                estimate: 13.0,
                max: 8.0
            }
        ]
    );
}
