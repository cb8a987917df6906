//! Refinement check: every reason an issue is not ready for a squad.
//!
//! Squadron posts these reasons as a comment on the issue it skips, so each one says what
//! is missing in words a Linear user can act on, with the offending value.

use std::fmt;

use crate::acceptance::Scenario;

/// What a team requires of an issue before a squad may take it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RefinementPolicy {
    /// The largest estimate a squad may take on; `None` means no limit.
    pub max_estimate: Option<f64>,
    /// Whether an issue without an estimate is refused.
    pub require_estimate: bool,
}

/// One reason an issue is not ready.
#[derive(Clone, Debug, PartialEq)]
pub enum NotReady {
    /// The description holds no Gherkin scenario.
    NoScenarios,
    /// A scenario states no expected outcome.
    ScenarioWithoutThen {
        /// The scenario's id (`AC-2`).
        id: String,
        /// The scenario's name.
        name: String,
    },
    /// The estimate is above the configured limit.
    EstimateTooHigh {
        /// The issue's estimate.
        estimate: f64,
        /// The configured limit.
        max: f64,
    },
    /// The policy requires an estimate and the issue has none.
    MissingEstimate {
        /// The limit the estimate will be checked against, if any.
        max: Option<f64>,
    },
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotReady::NoScenarios => f.write_str(
                "the description has no acceptance criteria: add at least one Gherkin scenario \
                 (`Scenario:` followed by `Given`/`When`/`Then` lines, or a ```gherkin block)",
            ),
            NotReady::ScenarioWithoutThen { id, name } => write!(
                f,
                "scenario {id} \"{name}\" has no `Then` step: add the outcome that shows it works"
            ),
            NotReady::EstimateTooHigh { estimate, max } => write!(
                f,
                "the estimate is {estimate} points, above the limit of {max}: split the issue \
                 into smaller ones or lower its estimate"
            ),
            NotReady::MissingEstimate { max: Some(max) } => {
                write!(
                    f,
                    "the issue has no estimate: set one (at most {max} points)"
                )
            }
            NotReady::MissingEstimate { max: None } => {
                f.write_str("the issue has no estimate: set one")
            }
        }
    }
}

/// Every reason an issue with these `scenarios` and `estimate` is not ready under `policy`,
/// in a stable order (scenarios first, then the estimate). Empty means ready.
pub fn check_refinement(
    scenarios: &[Scenario],
    estimate: Option<f64>,
    policy: &RefinementPolicy,
) -> Vec<NotReady> {
    let mut reasons = Vec::new();
    if scenarios.is_empty() {
        reasons.push(NotReady::NoScenarios);
    }
    reasons.extend(
        scenarios
            .iter()
            .filter(|scenario| !scenario.has_then())
            .map(|scenario| NotReady::ScenarioWithoutThen {
                id: scenario.id.clone(),
                name: scenario.name.clone(),
            }),
    );
    match (estimate, policy.max_estimate) {
        (Some(estimate), Some(max)) if estimate > max => {
            reasons.push(NotReady::EstimateTooHigh { estimate, max });
        }
        (None, max) if policy.require_estimate => reasons.push(NotReady::MissingEstimate { max }),
        _ => {}
    }
    reasons
}
