//! Squadron's Slack messages: the text and Block Kit blocks of each progress update, and the
//! message carrying the "Start fix squad" button.
//!
//! Issue titles, diagnoses and reasons are untrusted text (they come from people and
//! models), so `&`, `<` and `>` are escaped: they cannot ping `@channel` or forge links.

use serde_json::{Value, json};
use squadron_core::ports::{SquadUpdate, ThreadOpening};
use squadron_core::{IssueKey, ReviewVerdict, Role};

use crate::request::START_FIX_SQUAD_ACTION;

/// Slack's limit on a section block's text.
const SECTION_TEXT_LIMIT: usize = 3000;

/// A message's fallback text (shown in notifications) and its blocks.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageContent {
    /// Plain mrkdwn text; also what a client without blocks shows.
    pub text: String,
    /// Block Kit blocks; empty for a text-only message.
    pub blocks: Vec<Value>,
}

/// Escapes the three characters Slack treats as markup in message text.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A link `<url|label>`; the label is escaped, and a URL that could break out of the link is
/// shown as text instead.
fn link(url: &str, label: &str) -> String {
    if url.is_empty() || url.contains(['<', '>', '|', ' ']) {
        escape(label)
    } else {
        format!("<{url}|{}>", escape(label))
    }
}

/// Cuts `text` to Slack's section limit on a character boundary, marking the cut.
fn fit_section(text: &str) -> String {
    if text.chars().count() <= SECTION_TEXT_LIMIT {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(SECTION_TEXT_LIMIT - 1).collect();
    cut.push('…');
    cut
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": fit_section(text) } })
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Developer => "Developer",
        Role::Qa => "QA",
        Role::CodeReviewer => "Code reviewer",
        Role::QaSpecialist => "QA specialist",
        Role::Diagnostician => "Diagnostician",
    }
}

/// A Slack user mention, when the id looks like one (`U…`/`W…`, letters and digits).
fn mention(user_id: &str) -> Option<String> {
    let plausible = user_id.starts_with(['U', 'W'])
        && user_id.len() <= 20
        && user_id.chars().all(|c| c.is_ascii_alphanumeric());
    plausible.then(|| format!("<@{user_id}>"))
}

/// The message that starts a squad's thread.
pub fn render_opening(opening: &ThreadOpening) -> MessageContent {
    let issue = link(
        &opening.issue_url,
        &format!("{}: {}", opening.issue.as_str(), opening.title),
    );
    let requested = opening
        .requested_by
        .as_deref()
        .and_then(mention)
        .map(|who| format!(", asked by {who}"))
        .unwrap_or_default();
    let text = format!(
        ":hammer_and_wrench: Fix squad started on {issue}{requested}. Progress follows in this thread."
    );
    MessageContent {
        blocks: vec![section(&text)],
        text,
    }
}

/// One progress update, as a reply in the squad's thread.
pub fn render_update(update: &SquadUpdate) -> MessageContent {
    match update {
        SquadUpdate::Diagnosis {
            hypothesis,
            plan,
            confidence,
        } => {
            let heading = format!(":mag: *Diagnosis* (confidence: {confidence})");
            let hypothesis = format!("*Hypothesis*\n{}", escape(hypothesis));
            let plan = format!("*Plan*\n{}", escape(plan));
            MessageContent {
                text: format!("{heading}\n{hypothesis}\n{plan}"),
                blocks: vec![section(&heading), section(&hypothesis), section(&plan)],
            }
        }
        SquadUpdate::PullRequestOpened { number, url, title } => {
            let text = format!(
                ":arrow_heading_up: Pull request opened: {}",
                link(url, &format!("{number} {title}"))
            );
            MessageContent {
                blocks: vec![section(&text)],
                text,
            }
        }
        SquadUpdate::ReviewVerdict {
            reviewer,
            verdict,
            round,
        } => {
            let (icon, said) = match verdict {
                ReviewVerdict::Approved => (":white_check_mark:", "approved"),
                ReviewVerdict::ChangesRequested => (":pencil2:", "requested changes"),
            };
            let text = format!(
                "{icon} {} {said} (review round {round})",
                role_label(*reviewer)
            );
            MessageContent {
                blocks: vec![section(&text)],
                text,
            }
        }
        SquadUpdate::Merged { number, url, sha } => {
            let short: String = sha.chars().take(7).collect();
            let text = format!(
                ":tada: Merged {} as `{}`",
                link(url, &number.to_string()),
                escape(&short)
            );
            MessageContent {
                blocks: vec![section(&text)],
                text,
            }
        }
        SquadUpdate::NeedsHuman { reason } => {
            let text = format!(":raised_hand: Needs a human: {}", escape(reason));
            MessageContent {
                blocks: vec![section(&text)],
                text,
            }
        }
        SquadUpdate::LaneStopped { summary } => {
            let text = format!(":octagonal_sign: {}", escape(summary));
            MessageContent {
                blocks: vec![section(&text)],
                text,
            }
        }
        SquadUpdate::Reverted {
            number,
            url,
            merged_sha,
            reason,
        } => {
            let revert = link(url, &format!("{number}"));
            let state = match merged_sha {
                Some(sha) => {
                    let short: String = sha.chars().take(7).collect();
                    format!("Reverted: {revert} merged as `{}`", escape(&short))
                }
                None => format!("Revert opened: {revert} takes this change back once reviewed"),
            };
            let why = reason
                .as_deref()
                .map(|reason| format!("\nWhy: {}", escape(reason)))
                .unwrap_or_default();
            let text = format!(":rewind: {state}; the issue is open again.{why}");
            MessageContent {
                blocks: vec![section(&text)],
                text,
            }
        }
    }
}

/// A message offering to start a fix squad on `issue`, with the "Start fix squad" button
/// (`action_id` [`START_FIX_SQUAD_ACTION`], value the issue key).
pub fn start_fix_button_message(
    issue: &IssueKey,
    title: &str,
    issue_url: &str,
    sentry_url: Option<&str>,
) -> MessageContent {
    let sentry = sentry_url
        .map(|url| format!(" ({})", link(url, "Sentry")))
        .unwrap_or_default();
    let text = format!(
        ":rotating_light: {}{sentry}",
        link(issue_url, &format!("{}: {title}", issue.as_str()))
    );
    MessageContent {
        blocks: vec![
            section(&text),
            json!({
                "type": "actions",
                "elements": [{
                    "type": "button",
                    "text": { "type": "plain_text", "text": "Start fix squad" },
                    "style": "primary",
                    "action_id": START_FIX_SQUAD_ACTION,
                    "value": issue.as_str(),
                }],
            }),
        ],
        text,
    }
}
