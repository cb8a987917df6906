//! Acceptance criteria: Gherkin scenarios parsed out of issue Markdown.
//!
//! Issue authors write scenarios two ways: fenced ```` ```gherkin ```` blocks (also
//! `feature` and `cucumber`), which the `gherkin` crate parses, and plain Markdown lines
//! (`Scenario: …`, `- **Given** …`, `### Scenario: …`), which a tolerant line reader picks
//! up. Both feed one list whose ids (`AC-1`, `AC-2`, …) follow the order of appearance, so
//! the same description always yields the same ids.

use std::fmt;

use gherkin::{Feature, GherkinEnv};

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

impl StepKeyword {
    /// The keyword as written in Gherkin.
    pub const fn as_str(self) -> &'static str {
        match self {
            StepKeyword::Given => "Given",
            StepKeyword::When => "When",
            StepKeyword::Then => "Then",
            StepKeyword::And => "And",
            StepKeyword::But => "But",
        }
    }

    /// Reads a keyword exactly as Gherkin spells it (capitalised, no colon).
    fn parse(word: &str) -> Option<StepKeyword> {
        Some(match word {
            "Given" => StepKeyword::Given,
            "When" => StepKeyword::When,
            "Then" => StepKeyword::Then,
            "And" => StepKeyword::And,
            "But" => StepKeyword::But,
            _ => return None,
        })
    }
}

impl fmt::Display for StepKeyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The keyword as written.
    pub keyword: StepKeyword,
    /// The step text after the keyword. A data table or doc string attached to the step
    /// follows on further lines, as written, so nothing the author specified is lost.
    pub text: String,
}

/// One acceptance scenario with its stable id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Stable id in order of appearance: `AC-1`, `AC-2`, …
    pub id: String,
    /// The scenario's name after `Scenario:`.
    pub name: String,
    /// The steps, in order; background steps come first, as Gherkin runs them.
    pub steps: Vec<Step>,
}

impl Scenario {
    /// Whether the scenario states an expected outcome (has a `Then` step).
    pub fn has_then(&self) -> bool {
        self.steps
            .iter()
            .any(|step| step.keyword == StepKeyword::Then)
    }
}

/// Something in the description the parser could not read as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Diagnostic {
    /// A fenced Gherkin block the Gherkin parser rejected; its lines were read one by one
    /// instead, as plain Markdown scenarios would be.
    MalformedGherkin {
        /// 1-based line of the description where the block's fence opens.
        fence_line: usize,
        /// 1-based line of the description where the parser gave up, when known.
        error_line: Option<usize>,
        /// How many scenarios the line reader still recovered from the block.
        recovered: usize,
    },
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnostic::MalformedGherkin {
                fence_line,
                error_line,
                recovered,
            } => {
                write!(
                    f,
                    "the gherkin block opening at line {fence_line} is not valid Gherkin"
                )?;
                if let Some(line) = error_line {
                    write!(f, " (the parser stopped at line {line})")?;
                }
                write!(
                    f,
                    "; read its Scenario/Given/When/Then lines one by one instead and found \
                     {recovered} scenario(s): check the block's indentation and keywords"
                )
            }
        }
    }
}

/// Everything parsed out of one description: the scenarios and what could not be read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AcceptanceCriteria {
    /// Scenarios with ids `AC-1`, `AC-2`, … in order of appearance.
    pub scenarios: Vec<Scenario>,
    /// Problems met on the way; empty for a clean description.
    pub diagnostics: Vec<Diagnostic>,
}

impl AcceptanceCriteria {
    /// Parses every scenario out of an issue description in Markdown.
    pub fn parse(markdown: &str) -> AcceptanceCriteria {
        let mut found = Found::default();
        let lines: Vec<&str> = markdown.lines().collect();
        let mut prose = LineReader::default();
        let mut index = 0;
        while index < lines.len() {
            let line = lines[index];
            let Some(fence) = Fence::open(line) else {
                prose.feed(line, &mut found.scenarios);
                index += 1;
                continue;
            };
            // A fence interrupts prose: a scenario never spans a code block.
            prose.finish(&mut found.scenarios);
            let body_start = index + 1;
            let body_end = (body_start..lines.len())
                .find(|&i| fence.closes(lines[i]))
                .unwrap_or(lines.len());
            if fence.is_gherkin() {
                let context = GherkinBlock {
                    fence_line: index + 1,
                    lines: &lines[body_start..body_end],
                    heading: prose.heading.as_deref(),
                };
                context.parse_into(&mut found);
            }
            // Other code blocks (shell, JSON, logs) are data, not criteria: skip them.
            index = body_end + 1;
        }
        prose.finish(&mut found.scenarios);
        let scenarios = found
            .scenarios
            .into_iter()
            .enumerate()
            .map(|(n, draft)| Scenario {
                id: format!("AC-{}", n + 1),
                name: draft.name,
                steps: draft.steps,
            })
            .collect();
        AcceptanceCriteria {
            scenarios,
            diagnostics: found.diagnostics,
        }
    }
}

/// Parses every scenario out of an issue description in Markdown, ids in order of
/// appearance. Use [`AcceptanceCriteria::parse`] to also learn what could not be read.
pub fn parse_acceptance_criteria(markdown: &str) -> Vec<Scenario> {
    AcceptanceCriteria::parse(markdown).scenarios
}

/// A scenario before it gets its id.
#[derive(Debug)]
struct Draft {
    name: String,
    steps: Vec<Step>,
}

#[derive(Debug, Default)]
struct Found {
    scenarios: Vec<Draft>,
    diagnostics: Vec<Diagnostic>,
}

/// An opening code fence: ```` ``` ```` or `~~~`, three or more, with an info string.
#[derive(Debug)]
struct Fence {
    marker: char,
    width: usize,
    info: String,
}

impl Fence {
    fn open(line: &str) -> Option<Fence> {
        let trimmed = line.trim_start();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
        let width = trimmed.chars().take_while(|c| *c == marker).count();
        if width < 3 {
            return None;
        }
        let info = trimmed[width..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        Some(Fence {
            marker,
            width,
            info,
        })
    }

    /// CommonMark: a closing fence uses the same character, at least as many, and nothing else.
    fn closes(&self, line: &str) -> bool {
        let trimmed = line.trim();
        let width = trimmed.chars().take_while(|c| *c == self.marker).count();
        width >= self.width && trimmed.chars().all(|c| c == self.marker)
    }

    fn is_gherkin(&self) -> bool {
        matches!(self.info.as_str(), "gherkin" | "feature" | "cucumber")
    }
}

/// The body of one fenced Gherkin block and where it sits in the description.
#[derive(Debug)]
struct GherkinBlock<'a> {
    fence_line: usize,
    lines: &'a [&'a str],
    heading: Option<&'a str>,
}

impl GherkinBlock<'_> {
    fn parse_into(&self, found: &mut Found) {
        let (source, line_map) = self.as_feature_file();
        match Feature::parse(&source, GherkinEnv::default()) {
            Ok(feature) => found.scenarios.extend(scenarios_of(&feature)),
            Err(error) => {
                let mut reader = LineReader {
                    heading: self.heading.map(str::to_owned),
                    ..LineReader::default()
                };
                let before = found.scenarios.len();
                for line in self.lines {
                    reader.feed(line, &mut found.scenarios);
                }
                reader.finish(&mut found.scenarios);
                // The parser counts lines of the wrapped source; map back to the description.
                let error_line = error_line(&error)
                    .and_then(|line| line_map.block_line(line))
                    .map(|line| self.fence_line + line);
                found.diagnostics.push(Diagnostic::MalformedGherkin {
                    fence_line: self.fence_line,
                    error_line,
                    recovered: found.scenarios.len() - before,
                });
            }
        }
    }

    /// The block as a feature file, and how to map the parser's line numbers back to the
    /// block's. Issue authors often leave out `Feature:` and sometimes `Scenario:`; without
    /// them the parser would reject the block or read the steps as a description.
    fn as_feature_file(&self) -> (String, LineMap) {
        let trimmed = |line: &&str| line.trim_start().to_owned();
        let has = |keywords: &[&str]| {
            self.lines
                .iter()
                .map(trimmed)
                .any(|line| keywords.iter().any(|k| line.starts_with(k)))
        };
        let mut source = Vec::with_capacity(self.lines.len() + 2);
        let mut map = LineMap::default();
        if !has(&["Feature:", "Ability:", "Business Need:"]) {
            source.push("Feature: Acceptance criteria".to_owned());
            map.feature_added = true;
        }
        let needs_scenario = !has(&[
            "Scenario:",
            "Scenario Outline:",
            "Scenario Template:",
            "Example:",
            "Rule:",
            "Background:",
        ]);
        for line in self.lines {
            let first_word = line.split_whitespace().next().unwrap_or_default();
            let is_step = first_word == "*" || StepKeyword::parse(first_word).is_some();
            if needs_scenario && is_step && map.scenario_added_at.is_none() {
                source.push(format!("Scenario: {}", self.heading.unwrap_or(UNNAMED)));
                map.scenario_added_at = Some(source.len());
            }
            source.push((*line).to_owned());
        }
        (source.join("\n"), map)
    }
}

/// How lines of the wrapped feature file relate to the lines of the fenced block.
#[derive(Debug, Default)]
struct LineMap {
    feature_added: bool,
    /// 1-based line of the wrapped source holding the inserted `Scenario:` line.
    scenario_added_at: Option<usize>,
}

impl LineMap {
    /// The 1-based line of the block for a 1-based line of the wrapped source.
    fn block_line(&self, source_line: usize) -> Option<usize> {
        let mut line = source_line;
        if self.scenario_added_at.is_some_and(|at| line > at) {
            line -= 1;
        }
        if self.feature_added {
            line = line.checked_sub(1)?;
        }
        (line >= 1).then_some(line)
    }
}

/// The name given to a scenario that has none and no heading above it.
const UNNAMED: &str = "Acceptance criteria";

/// The gherkin crate's error exposes its position only through `Display`
/// (`Error at LINE:COL: …`).
fn error_line(error: &gherkin::ParseError) -> Option<usize> {
    let text = error.to_string();
    let rest = text.strip_prefix("Error at ")?;
    rest.split(':').next()?.parse().ok()
}

/// The scenarios of a parsed feature in order of appearance, rules included, each with the
/// background steps that Gherkin runs before it.
fn scenarios_of(feature: &Feature) -> Vec<Draft> {
    let feature_background = feature
        .background
        .as_ref()
        .map(|b| b.steps.as_slice())
        .unwrap_or_default();
    let mut positioned: Vec<(usize, Draft)> = Vec::new();
    let mut add = |scenario: &gherkin::Scenario, backgrounds: &[&[gherkin::Step]]| {
        let steps = backgrounds
            .iter()
            .flat_map(|steps| steps.iter())
            .chain(&scenario.steps)
            .map(step_of)
            .collect();
        positioned.push((
            scenario.position.line,
            Draft {
                name: scenario.name.trim().to_owned(),
                steps,
            },
        ));
    };
    for scenario in &feature.scenarios {
        add(scenario, &[feature_background]);
    }
    for rule in &feature.rules {
        let rule_background = rule
            .background
            .as_ref()
            .map(|b| b.steps.as_slice())
            .unwrap_or_default();
        for scenario in &rule.scenarios {
            add(scenario, &[feature_background, rule_background]);
        }
    }
    positioned.sort_by_key(|(line, _)| *line);
    positioned.into_iter().map(|(_, draft)| draft).collect()
}

fn step_of(step: &gherkin::Step) -> Step {
    // `*` and localised keywords carry no keyword of ours: use the type Gherkin resolved.
    let keyword = StepKeyword::parse(step.keyword.trim()).unwrap_or(match step.ty {
        gherkin::StepType::Given => StepKeyword::Given,
        gherkin::StepType::When => StepKeyword::When,
        gherkin::StepType::Then => StepKeyword::Then,
    });
    let mut text = step.value.trim().to_owned();
    if let Some(table) = &step.table {
        for row in &table.rows {
            text.push_str("\n| ");
            text.push_str(&row.join(" | "));
            text.push_str(" |");
        }
    }
    if let Some(docstring) = &step.docstring {
        text.push_str("\n\"\"\"\n");
        text.push_str(docstring.trim_matches('\n'));
        text.push_str("\n\"\"\"");
    }
    Step { keyword, text }
}

/// Reads scenarios from Markdown lines outside code fences (and from Gherkin blocks the
/// parser rejected).
///
/// A `Scenario:` line opens a scenario; step lines extend it; blank lines, tables and
/// prose right under the `Scenario:` line are allowed inside; any other line closes it.
/// Consecutive steps without a `Scenario:` line form an implicit scenario named after the
/// nearest heading, but only when they start with `Given` or `When`, end before a blank
/// line, number at least two and include a `Then`, so prose sentences that happen to begin
/// with "Given" or "Then" are not mistaken for a criterion.
#[derive(Debug, Default)]
struct LineReader {
    heading: Option<String>,
    current: Option<Open>,
    background: Vec<Step>,
    in_background: bool,
}

#[derive(Debug)]
struct Open {
    draft: Draft,
    explicit: bool,
    background_len: usize,
}

/// What one Markdown line says, once list bullets, headings and emphasis are peeled off.
#[derive(Debug, PartialEq, Eq)]
enum LineKind {
    Blank,
    Table,
    Scenario(String),
    Background,
    Step(Step),
    Heading(String),
    Other,
}

impl LineReader {
    fn feed(&mut self, line: &str, out: &mut Vec<Draft>) {
        match classify(line) {
            LineKind::Table => {}
            LineKind::Blank => {
                // A paragraph break ends steps that no `Scenario:` line announced.
                if self.current.as_ref().is_some_and(|open| !open.explicit) {
                    self.finish(out);
                }
            }
            LineKind::Scenario(name) => {
                self.finish(out);
                let name = if name.is_empty() {
                    self.heading.clone().unwrap_or_else(|| UNNAMED.to_owned())
                } else {
                    name
                };
                self.open(name, true);
            }
            LineKind::Background => {
                self.finish(out);
                self.background.clear();
                self.in_background = true;
            }
            LineKind::Step(step) => {
                if self.in_background {
                    self.background.push(step);
                    return;
                }
                if self.current.is_none() {
                    if !matches!(step.keyword, StepKeyword::Given | StepKeyword::When) {
                        return;
                    }
                    let name = self.heading.clone().unwrap_or_else(|| UNNAMED.to_owned());
                    self.open(name, false);
                }
                if let Some(open) = &mut self.current {
                    open.draft.steps.push(step);
                }
            }
            LineKind::Heading(text) => {
                self.finish(out);
                self.in_background = false;
                self.heading = Some(text);
            }
            LineKind::Other => {
                // Prose right under a `Scenario:` line describes it; prose after its steps
                // ends it.
                if self.current.as_ref().is_some_and(|open| {
                    open.explicit && open.draft.steps.len() == open.background_len
                }) {
                    return;
                }
                self.finish(out);
                self.in_background = false;
            }
        }
    }

    fn open(&mut self, name: String, explicit: bool) {
        self.in_background = false;
        self.current = Some(Open {
            draft: Draft {
                name,
                steps: self.background.clone(),
            },
            explicit,
            background_len: self.background.len(),
        });
    }

    fn finish(&mut self, out: &mut Vec<Draft>) {
        if let Some(open) = self.current.take() {
            let own_steps = open.draft.steps.len() - open.background_len;
            if open.explicit
                || (own_steps >= 2
                    && open
                        .draft
                        .steps
                        .iter()
                        .any(|s| s.keyword == StepKeyword::Then))
            {
                out.push(open.draft);
            }
        }
    }
}

fn classify(line: &str) -> LineKind {
    let mut text = line.trim();
    if text.is_empty() {
        return LineKind::Blank;
    }
    if text.starts_with('|') {
        return LineKind::Table;
    }
    let mut heading = false;
    if let Some(rest) = strip_heading(text) {
        heading = true;
        text = rest;
    }
    text = strip_list_marker(text);
    let (lead, word, rest) = split_keyword(text);
    if word == "Scenario" || word == "Scenario Outline" || word == "Scenario Template" {
        if let Some(name) = rest.strip_prefix(':') {
            return LineKind::Scenario(clean_text(name, lead));
        }
        // `**Scenario**: name` puts the colon after the emphasis.
        if let Some(name) = rest
            .strip_prefix(lead)
            .and_then(|r| r.trim_start().strip_prefix(':'))
        {
            return LineKind::Scenario(clean_text(name, ""));
        }
    }
    if word == "Background" && rest.trim_start_matches([':', '*', '_']).trim().is_empty() {
        return LineKind::Background;
    }
    if let Some(keyword) = StepKeyword::parse(word) {
        let body = rest.strip_prefix(lead).unwrap_or(rest);
        let body = body.strip_prefix(':').unwrap_or(body);
        let body = clean_text(body, if rest.starts_with(lead) { "" } else { lead });
        if !body.is_empty() && rest.starts_with([' ', ':', '*', '_']) {
            return LineKind::Step(Step {
                keyword,
                text: body,
            });
        }
    }
    if heading {
        return LineKind::Heading(clean_text(text, ""));
    }
    LineKind::Other
}

/// `### Title` → `Title`.
fn strip_heading(text: &str) -> Option<&str> {
    let hashes = text.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = &text[hashes..];
    (rest.is_empty() || rest.starts_with(' ')).then(|| rest.trim())
}

/// Peels `- `, `* `, `+ `, `1. `, `1) `, a task box `[ ] ` and a quote `> `.
fn strip_list_marker(mut text: &str) -> &str {
    loop {
        let before = text;
        if let Some(rest) = text.strip_prefix('>') {
            text = rest.trim_start();
        }
        for bullet in ["- ", "* ", "+ "] {
            if let Some(rest) = text.strip_prefix(bullet) {
                text = rest.trim_start();
            }
        }
        let digits = text.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            let rest = &text[digits..];
            if let Some(rest) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
                text = rest.trim_start();
            }
        }
        for task in ["[ ] ", "[x] ", "[X] "] {
            if let Some(rest) = text.strip_prefix(task) {
                text = rest.trim_start();
            }
        }
        if text == before {
            return text;
        }
    }
}

/// Splits `**Scenario Outline:** rest` into the emphasis lead (`**`), the keyword and
/// what follows the keyword (`:** rest`).
fn split_keyword(text: &str) -> (&str, &str, &str) {
    let lead_len = text.chars().take_while(|c| *c == '*' || *c == '_').count();
    let (lead, body) = text.split_at(lead_len);
    for two_words in ["Scenario Outline", "Scenario Template"] {
        if let Some(rest) = body.strip_prefix(two_words) {
            return (lead, two_words, rest);
        }
    }
    let word_len = body
        .find(|c: char| !c.is_alphabetic())
        .unwrap_or(body.len());
    let (word, rest) = body.split_at(word_len);
    (lead, word, rest)
}

/// Trims the text and the emphasis that closes what `lead` opened.
fn clean_text(text: &str, lead: &str) -> String {
    let text = text.trim_start_matches(['*', '_']).trim();
    let text = if lead.is_empty() {
        text
    } else {
        text.strip_suffix(lead).unwrap_or(text)
    };
    text.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_peels_markdown_decoration() {
        let step = |keyword, text: &str| {
            LineKind::Step(Step {
                keyword,
                text: text.to_owned(),
            })
        };
        let cases = [
            ("Given a cart", step(StepKeyword::Given, "a cart")),
            ("- Given a cart", step(StepKeyword::Given, "a cart")),
            ("* When I pay", step(StepKeyword::When, "I pay")),
            ("12. Then it works", step(StepKeyword::Then, "it works")),
            ("- **Given** a cart", step(StepKeyword::Given, "a cart")),
            (
                "**And** the total is **$5**",
                step(StepKeyword::And, "the total is **$5**"),
            ),
            ("**But not this**", step(StepKeyword::But, "not this")),
            ("_When_ I pay", step(StepKeyword::When, "I pay")),
            (
                "- [ ] Then a receipt arrives",
                step(StepKeyword::Then, "a receipt arrives"),
            ),
            ("> Given quoted", step(StepKeyword::Given, "quoted")),
            (
                "### Scenario: Pay by card",
                LineKind::Scenario("Pay by card".into()),
            ),
            (
                "**Scenario:** Pay by card",
                LineKind::Scenario("Pay by card".into()),
            ),
            (
                "**Scenario**: Pay by card",
                LineKind::Scenario("Pay by card".into()),
            ),
            (
                "- Scenario Outline: Pay <n>",
                LineKind::Scenario("Pay <n>".into()),
            ),
            (
                "## Acceptance criteria",
                LineKind::Heading("Acceptance criteria".into()),
            ),
            ("Background:", LineKind::Background),
            ("| a | b |", LineKind::Table),
            ("   ", LineKind::Blank),
            ("Givenness is a virtue", LineKind::Other),
            ("Given", LineKind::Other),
            ("given lower case is prose", LineKind::Other),
            ("#hashtag", LineKind::Other),
            ("Scenarios are good", LineKind::Other),
        ];
        for (line, expected) in cases {
            assert_eq!(classify(line), expected, "line {line:?}");
        }
    }
}
