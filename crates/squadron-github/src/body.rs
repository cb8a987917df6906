//! The PR title and body a squad's PR carries, rendered from the issue and the squad's work.

use std::fmt::Write as _;

/// GitHub rejects longer titles.
const TITLE_LIMIT: usize = 256;

/// One acceptance criterion in the PR's checklist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChecklistItem {
    /// The stable id, `AC-1`.
    pub id: String,
    /// The scenario's name.
    pub name: String,
    /// Whether a passing test covers it at the current head.
    pub done: bool,
}

/// What the PR body says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequestBody<'a> {
    /// The issue's key, `ENG-123`.
    pub issue_key: &'a str,
    /// Link to the issue in the tracker.
    pub issue_url: &'a str,
    /// What the change does (Markdown, written by the squad).
    pub summary: &'a str,
    /// The acceptance-criteria checklist.
    pub checklist: &'a [ChecklistItem],
}

/// `ENG-123: <issue title>`, on one line and within GitHub's limit.
pub fn pull_request_title(issue_key: &str, issue_title: &str) -> String {
    let title = issue_title.split_whitespace().collect::<Vec<_>>().join(" ");
    let full = format!("{issue_key}: {title}");
    if full.chars().count() <= TITLE_LIMIT {
        return full;
    }
    let mut cut: String = full.chars().take(TITLE_LIMIT - 1).collect();
    cut.push('…');
    cut
}

/// Renders the PR body. The trailing marker lets people (and Squadron) see which issue a
/// PR belongs to even after its title was edited.
pub fn render_pull_request_body(body: &PullRequestBody<'_>) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(out, "Resolves [{}]({}).", body.issue_key, body.issue_url);
    out.push_str("\n## Summary\n\n");
    let summary = body.summary.trim();
    out.push_str(if summary.is_empty() {
        "_No summary yet._"
    } else {
        summary
    });
    out.push_str("\n\n## Acceptance criteria\n\n");
    if body.checklist.is_empty() {
        out.push_str("_None stated on the issue._\n");
    }
    for item in body.checklist {
        let mark = if item.done { 'x' } else { ' ' };
        let name = item.name.split_whitespace().collect::<Vec<_>>().join(" ");
        let _ = writeln!(out, "- [{mark}] **{}**: {name}", item.id);
    }
    let _ = write!(
        out,
        "\n---\n_Opened by Squadron for {}._\n<!-- squadron:issue={} -->\n",
        body.issue_key, body.issue_key
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_links_the_issue_and_lists_the_criteria() {
        let checklist = [
            ChecklistItem {
                id: "AC-1".into(),
                name: "Paying with a saved card".into(),
                done: true,
            },
            ChecklistItem {
                id: "AC-2".into(),
                name: "Declined card\n  shows the reason".into(),
                done: false,
            },
        ];
        insta::assert_snapshot!(render_pull_request_body(&PullRequestBody {
            issue_key: "ENG-123",
            issue_url: "https://linear.app/acme/issue/ENG-123/pay-with-saved-card",
            summary: "Adds saved-card payments to checkout.\n\n- new `SavedCard` model\n- API route `POST /payments`\n",
            checklist: &checklist,
        }));
    }

    #[test]
    fn body_without_summary_or_criteria_says_so() {
        insta::assert_snapshot!(render_pull_request_body(&PullRequestBody {
            issue_key: "ENG-9",
            issue_url: "https://linear.app/acme/issue/ENG-9",
            summary: "  ",
            checklist: &[],
        }));
    }

    #[test]
    fn title_is_one_line_within_githubs_limit() {
        assert_eq!(
            pull_request_title("ENG-123", "Pay with\na  saved card"),
            "ENG-123: Pay with a saved card"
        );
        let long = pull_request_title("ENG-1", &"x".repeat(400));
        assert_eq!(long.chars().count(), 256);
        assert!(long.ends_with('…'));
    }
}
