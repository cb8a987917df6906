//! The title and body of a squad's pull request: one pure rendering of the issue and the
//! squad's work, used when the PR is opened and every time its body is brought up to date.

use squadron_core::acceptance::Scenario;
use squadron_harness::Diagnosis;

use crate::revert::RevertPlan;
use crate::squad::{ReviewReply, SquadCtx};

/// GitHub refuses longer titles.
const TITLE_LIMIT: usize = 256;

/// GitHub refuses longer bodies.
const BODY_LIMIT: usize = 65_536;

/// The issue as the PR names it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IssueFacts<'a> {
    pub key: &'a str,
    pub url: &'a str,
    pub title: &'a str,
    pub scenarios: &'a [Scenario],
}

/// Everything a PR's title and body say.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PrFacts<'a> {
    /// The issue's key, known before the issue is read back.
    pub issue_key: &'a str,
    pub issue: Option<IssueFacts<'a>>,
    /// The Developer's summary of the implementation.
    pub summary: Option<&'a str>,
    /// QA's summary of the tests.
    pub tests: Option<&'a str>,
    pub diagnosis: Option<&'a Diagnosis>,
    /// The answers to each review round, oldest first.
    pub replies: &'a [ReviewReply],
    /// The latest test evidence, as Markdown.
    pub evidence: Option<&'a str>,
    /// Why the squad stopped for a person, if it did.
    pub needs_human: Option<&'a str>,
    /// What a revert squad's PR takes back, if it is one.
    pub revert: Option<&'a RevertPlan>,
}

/// A rendered title and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PrText {
    pub title: String,
    pub body: String,
}

impl<'a> PrFacts<'a> {
    /// The facts of `ctx`'s PR, with `evidence` and the `needs_human` reason when given.
    pub fn of(
        ctx: &'a SquadCtx,
        evidence: Option<&'a str>,
        needs_human: Option<&'a str>,
    ) -> PrFacts<'a> {
        PrFacts {
            issue_key: ctx.issue_key.as_str(),
            issue: ctx.issue.as_ref().map(|issue| IssueFacts {
                key: issue.key.as_str(),
                url: &issue.url,
                title: &issue.title,
                scenarios: &issue.acceptance_criteria,
            }),
            summary: ctx.developer_summary.as_deref(),
            tests: ctx.qa_summary.as_deref(),
            diagnosis: ctx.diagnosis.as_ref(),
            replies: &ctx.review_replies,
            evidence,
            needs_human,
            revert: ctx.revert.as_ref(),
        }
    }
}

/// The body of `ctx`'s PR.
pub(crate) fn pr_body(ctx: &SquadCtx, evidence: Option<&str>, needs_human: Option<&str>) -> String {
    pr_text(&PrFacts::of(ctx, evidence, needs_human)).body
}

/// Renders the PR's title and body. The Developer's summary of the implementation stays as
/// written; each review round it answered adds its own section below.
pub(crate) fn pr_text(facts: &PrFacts<'_>) -> PrText {
    if let Some(revert) = facts.revert {
        return revert_text(facts, revert);
    }
    let title = match &facts.issue {
        Some(issue) => format!("{}: {}", issue.key, one_line(issue.title)),
        None => facts.issue_key.to_owned(),
    };
    let mut body = String::new();
    if let Some(issue) = &facts.issue {
        body.push_str(&format!(
            "Resolves [{}]({}): {}\n\n",
            issue.key,
            issue.url,
            one_line(issue.title)
        ));
    }
    if let Some(reason) = facts.needs_human {
        body.push_str(&format!("> **Needs a person:** {}\n\n", reason.trim()));
    }
    body.push_str("### Summary\n");
    body.push_str(written(facts.summary));
    body.push_str("\n\n### Tests\n");
    body.push_str(written(facts.tests));
    body.push_str("\n\n");
    if let Some(diagnosis) = facts.diagnosis {
        body.push_str(&format!(
            "### Diagnosis (confidence: {})\n{}\n\n**Fix plan:** {}\n\n",
            diagnosis.confidence,
            diagnosis.hypothesis.trim(),
            diagnosis.plan.trim()
        ));
    }
    let scenarios = facts.issue.map(|issue| issue.scenarios).unwrap_or_default();
    // A bug fix's diagnosis stands in for scenarios; a feature always lists its criteria.
    if !scenarios.is_empty() || facts.diagnosis.is_none() {
        body.push_str("### Acceptance criteria\n");
        for scenario in scenarios {
            body.push_str(&format!(
                "- [ ] {}: {}\n",
                scenario.id,
                one_line(&scenario.name)
            ));
        }
        body.push('\n');
    }
    for reply in facts.replies {
        body.push_str(&format!(
            "### Changes since review round {}\n{}\n\n",
            reply.round,
            written(reply.developer.as_deref())
        ));
        if let Some(qa) = reply.qa.as_deref() {
            body.push_str(&format!("**Tests:** {}\n\n", qa.trim()));
        }
    }
    if let Some(evidence) = facts.evidence {
        body.push_str(evidence.trim_end());
        body.push_str("\n\n");
    }
    body.push_str("_Opened by Squadron._\n");
    PrText {
        title: cut(&title, TITLE_LIMIT, "…"),
        body: cut(&body, BODY_LIMIT, "\n\n_(cut at GitHub's size limit)_\n"),
    }
}

/// A revert squad's PR: what it takes back and why, for its reviewers and the people
/// watching the lane it may free.
fn revert_text(facts: &PrFacts<'_>, revert: &RevertPlan) -> PrText {
    let mut body = String::new();
    let reverted = match &facts.issue {
        Some(issue) => format!("[{}]({}): {}", issue.key, issue.url, one_line(issue.title)),
        None => facts.issue_key.to_owned(),
    };
    body.push_str(&format!(
        "Reverts {reverted}: its merge commit `{}`{} is taken back.\n\n",
        revert.merge_sha,
        revert
            .pr_url
            .as_deref()
            .map(|url| format!(" ({url})"))
            .unwrap_or_default()
    ));
    if let Some(reason) = facts.needs_human {
        body.push_str(&format!("> **Needs a person:** {}\n\n", reason.trim()));
    }
    if let Some(reason) = &revert.reason {
        body.push_str(&format!("### Why\n{}\n\n", reason.trim()));
    }
    body.push_str(&format!(
        "Asked for by {}. The revert commit is git's own, no agent wrote it; both reviewers \
         review it like any change before it merges, and it may merge through a merge lane \
         stop the line stopped.\n\n",
        revert.requested_by
    ));
    if let Some(evidence) = facts.evidence {
        body.push_str(evidence.trim_end());
        body.push_str("\n\n");
    }
    body.push_str("_Opened by Squadron._\n");
    PrText {
        title: cut(&format!("Revert {}", facts.issue_key), TITLE_LIMIT, "…"),
        body: cut(&body, BODY_LIMIT, "\n\n_(cut at GitHub's size limit)_\n"),
    }
}

fn written(text: Option<&str>) -> &str {
    text.map(str::trim)
        .filter(|text| !text.is_empty())
        .unwrap_or("(no summary recorded)")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` within `limit` characters, ending with `marker` when it had to be cut.
fn cut(text: &str, limit: usize, marker: &str) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let keep = limit.saturating_sub(marker.chars().count());
    let mut cut: String = text.chars().take(keep).collect();
    cut.push_str(marker);
    cut
}

#[cfg(test)]
mod tests {
    use squadron_core::acceptance::parse_acceptance_criteria;
    use squadron_core::ports::Confidence;

    use super::*;

    const DESCRIPTION: &str = "Orders above 50 EUR ship for free.\n\n```gherkin\nScenario: Free shipping above 50\n  Given a cart worth 60 EUR\n  When I check out\n  Then shipping costs 0 EUR\n\nScenario: Paid shipping below 50\n  Given a cart worth 20 EUR\n  When I check out\n  Then shipping costs 4.90 EUR\n```\n";

    fn facts<'a>(scenarios: &'a [Scenario], replies: &'a [ReviewReply]) -> PrFacts<'a> {
        PrFacts {
            issue_key: "ENG-42",
            issue: Some(IssueFacts {
                key: "ENG-42",
                url: "https://linear.app/acme/issue/ENG-42/free-shipping-above-50",
                title: "Free shipping above 50 EUR",
                scenarios,
            }),
            summary: Some(
                "Adds `FreeShippingRule` to `src/pricing.rs` and applies it at checkout.\n",
            ),
            tests: Some("AC-1 and AC-2: `tests/shipping.rs`"),
            diagnosis: None,
            replies,
            evidence: None,
            needs_human: None,
            revert: None,
        }
    }

    #[test]
    fn a_revert_says_what_it_takes_back_and_why() {
        let revert = RevertPlan {
            reverted: squadron_core::SquadId::new("run-1-eng-42"),
            merge_sha: squadron_core::gate::CommitSha::new(
                "4444444444444444444444444444444444444444",
            ),
            pr_url: Some("https://github.com/acme/shop/pull/42".into()),
            reason: Some("It broke checkout together with ENG-41.".into()),
            requested_by: "cli".into(),
        };
        let mut facts = facts(&[], &[]);
        facts.revert = Some(&revert);
        let text = pr_text(&facts);
        assert_eq!(text.title, "Revert ENG-42");
        insta::assert_snapshot!(text.body);
    }

    #[test]
    fn a_fresh_pr_shows_the_issue_the_summary_and_the_criteria() {
        let scenarios = parse_acceptance_criteria(DESCRIPTION);
        let text = pr_text(&facts(&scenarios, &[]));
        assert_eq!(text.title, "ENG-42: Free shipping above 50 EUR");
        insta::assert_snapshot!(text.body);
    }

    #[test]
    fn each_review_round_adds_its_changes_and_the_summary_stays() {
        let scenarios = parse_acceptance_criteria(DESCRIPTION);
        let replies = [
            ReviewReply {
                round: 1,
                developer: Some(
                    "Moved the rule into `Pricing` and used `Money` (ADR-0007).".into(),
                ),
                qa: Some("AC-2 now checks 4.90 EUR exactly.".into()),
            },
            ReviewReply {
                round: 2,
                developer: Some("Named the threshold `FREE_SHIPPING_FROM`.".into()),
                qa: None,
            },
        ];
        let mut facts = facts(&scenarios, &replies);
        facts.evidence = Some(
            "### Test evidence\n| test | base | head |\n|---|---|---|\n| `shipping::ac_1` | failed | passed |\n",
        );
        insta::assert_snapshot!(pr_text(&facts).body);
    }

    #[test]
    fn a_bug_fix_stopped_for_a_person_shows_the_diagnosis_and_why() {
        let diagnosis = Diagnosis {
            hypothesis: "An empty cart has no items list; `total()` iterates over None.".into(),
            plan: "Treat a missing items list as empty; regression test: an empty cart totals 0."
                .into(),
            confidence: Confidence::High,
            files: vec!["src/shop/cart.py".into()],
        };
        let mut facts = facts(&[], &[]);
        facts.diagnosis = Some(&diagnosis);
        facts.summary = None;
        facts.needs_human =
            Some("review round 3 of 3 ended with changes still requested: read the PR's reviews");
        insta::assert_snapshot!(pr_text(&facts).body);
    }

    #[test]
    fn the_title_is_one_line_within_githubs_limit() {
        let scenarios = [];
        let mut facts = facts(&scenarios, &[]);
        let long = format!("Pay with\na  saved card {}", "x".repeat(400));
        facts.issue = facts.issue.map(|issue| IssueFacts {
            title: &long,
            ..issue
        });
        let title = pr_text(&facts).title;
        assert_eq!(title.chars().count(), 256);
        assert!(
            title.starts_with("ENG-42: Pay with a saved card xxx"),
            "{title}"
        );
        assert!(title.ends_with('…'));
        facts.issue = None;
        assert_eq!(pr_text(&facts).title, "ENG-42");
    }

    #[test]
    fn a_body_past_githubs_limit_is_cut_and_says_so() {
        let scenarios = [];
        let mut facts = facts(&scenarios, &[]);
        let huge = "a".repeat(70_000);
        facts.summary = Some(&huge);
        let body = pr_text(&facts).body;
        assert_eq!(body.chars().count(), BODY_LIMIT);
        assert!(body.ends_with("_(cut at GitHub's size limit)_\n"));
    }
}
