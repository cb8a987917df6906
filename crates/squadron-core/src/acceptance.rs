//! Acceptance criteria: Gherkin scenarios parsed out of issue Markdown.

/// The keyword that starts a Gherkin step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepKeyword {
    /// `Given`: a precondition.
    Given,
    /// `When`: the action.
    When,
    /// `Then`: the expected outcome.
    Then,
    /// `And`: continues the previous step's kind.
    And,
    /// `But`: continues the previous step's kind, negatively.
    But,
}

/// One step of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The keyword as written.
    pub keyword: StepKeyword,
    /// The step text after the keyword.
    pub text: String,
}

/// One acceptance scenario with its stable id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Stable id in order of appearance: `AC-1`, `AC-2`, …
    pub id: String,
    /// The scenario's name after `Scenario:`.
    pub name: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
}
