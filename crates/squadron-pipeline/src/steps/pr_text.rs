//! The PR body a squad's pull request shows.

use crate::squad::SquadCtx;

pub(crate) fn pr_body(ctx: &SquadCtx, evidence: Option<&str>, needs_human: Option<&str>) -> String {
    let mut body = String::new();
    if let Some(issue) = &ctx.issue {
        body.push_str(&format!(
            "Resolves [{}]({}): {}\n\n",
            issue.key, issue.url, issue.title
        ));
    }
    if let Some(reason) = needs_human {
        body.push_str(&format!("> **Needs a person:** {reason}\n\n"));
    }
    body.push_str("### Summary\n");
    body.push_str(
        ctx.developer_summary
            .as_deref()
            .unwrap_or("(no summary recorded)"),
    );
    body.push_str("\n\n### Tests\n");
    body.push_str(ctx.qa_summary.as_deref().unwrap_or("(no summary recorded)"));
    if let Some(diagnosis) = &ctx.diagnosis {
        body.push_str(&format!(
            "\n\n### Diagnosis (confidence: {})\n{}\n\n**Fix plan:** {}",
            diagnosis.confidence,
            diagnosis.hypothesis.trim(),
            diagnosis.plan.trim()
        ));
    }
    let scenarios = ctx
        .issue
        .as_ref()
        .map(|issue| issue.acceptance_criteria.as_slice())
        .unwrap_or_default();
    if !scenarios.is_empty() || ctx.diagnosis.is_none() {
        body.push_str("\n\n### Acceptance criteria\n");
        for scenario in scenarios {
            body.push_str(&format!("- [ ] {}: {}\n", scenario.id, scenario.name));
        }
    } else {
        body.push('\n');
    }
    if let Some(evidence) = evidence {
        body.push('\n');
        body.push_str(evidence);
    }
    body.push_str("\n_Opened by Squadron._\n");
    body
}
