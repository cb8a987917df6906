//! The immediate replies and the Block Kit messages Squadron posts.

use serde_json::{Value, json};
use squadron_core::ports::{Confidence, SquadUpdate};
use squadron_core::{IssueKey, PrNumber};
use squadron_slack::message::render_update;
use squadron_slack::{
    ImmediateResponse, IssueTarget, SlackRequest, fix_acknowledgement, help_response,
    revert_acknowledgement, start_fix_button_message, unknown_issue_response,
};
use squadron_standin_slack::{sign_interaction, start_fix_click_payload};

use super::support::{SECRET, SENT_AT, read};

fn json_of(response: &ImmediateResponse) -> Value {
    serde_json::from_str(&response.body()).expect("JSON body")
}

#[test]
fn the_fix_acknowledgement_is_posted_in_the_channel() {
    let ack = fix_acknowledgement(&IssueKey::new("ENG-123"));
    assert_eq!(ack.content_type(), Some("application/json"));
    assert_eq!(
        json_of(&ack),
        json!({ "response_type": "in_channel", "text": "Fix squad for ENG-123 starting…" })
    );
}

#[test]
fn the_revert_acknowledgement_is_posted_in_the_channel() {
    assert_eq!(
        json_of(&revert_acknowledgement(&IssueKey::new("ENG-123"))),
        json!({
            "response_type": "in_channel",
            "text": "Reverting ENG-123: opening a PR that takes its merged change back…",
        })
    );
}

#[test]
fn the_thread_is_told_of_an_opened_and_of_a_merged_revert() {
    let opened = render_update(&SquadUpdate::Reverted {
        number: PrNumber(7),
        url: "https://github.com/acme/app/pull/7".to_owned(),
        merged_sha: None,
        reason: Some("checkout <fails> for EU carts".to_owned()),
    });
    let merged = render_update(&SquadUpdate::Reverted {
        number: PrNumber(7),
        url: "https://github.com/acme/app/pull/7".to_owned(),
        merged_sha: Some("0123456789abcdef0123456789abcdef01234567".to_owned()),
        reason: None,
    });
    for content in [&opened, &merged] {
        assert_eq!(content.blocks.len(), 1);
        assert_eq!(content.blocks[0]["text"]["text"], content.text.as_str());
    }
    insta::assert_snapshot!(
        "revert_in_the_thread",
        format!("{}\n---\n{}", opened.text, merged.text)
    );
}

#[test]
fn help_and_unknown_issue_replies_are_ephemeral() {
    let help = json_of(&help_response("/squad"));
    assert_eq!(help["response_type"], "ephemeral");
    assert!(
        help["text"]
            .as_str()
            .is_some_and(|text| text.contains("`/squad fix <ENG-123 | Linear issue URL>`")),
        "{help}"
    );
    let target = IssueTarget {
        key: IssueKey::new("ENG-404"),
        url: None,
    };
    let unknown = json_of(&unknown_issue_response(&target));
    assert_eq!(unknown["response_type"], "ephemeral");
    assert!(
        unknown["text"]
            .as_str()
            .is_some_and(|text| text.contains("no issue `ENG-404`")),
        "{unknown}"
    );
    assert_eq!(ImmediateResponse::Empty.body(), "");
    assert_eq!(ImmediateResponse::Empty.content_type(), None);
}

#[test]
fn the_button_message_round_trips_through_a_click() {
    let message = start_fix_button_message(
        &IssueKey::new("ENG-123"),
        "ZeroDivisionError in invoice total",
        "https://linear.app/acme/issue/ENG-123",
        Some("https://acme.sentry.io/issues/4509723301/"),
    );
    let button = &message.blocks[1]["elements"][0];
    assert_eq!(button["type"], "button");
    assert_eq!(button["text"]["text"], "Start fix squad");
    assert_eq!(button["action_id"], "start_fix_squad");
    assert_eq!(button["value"], "ENG-123");
    assert!(
        message
            .text
            .contains("<https://acme.sentry.io/issues/4509723301/|Sentry>")
    );

    let value = button["value"].as_str().expect("value");
    let payload = start_fix_click_payload(value, "C0ALERTS", "1700000000.000001", "U0ONCALL");
    let SlackRequest::StartFixSquad(click) =
        read(&sign_interaction(SECRET, SENT_AT, &payload)).expect("click")
    else {
        panic!("not a start-fix click");
    };
    assert_eq!(click.issue.key, IssueKey::new("ENG-123"));
}

#[test]
fn untrusted_text_cannot_ping_the_channel_or_forge_links() {
    let update = SquadUpdate::Diagnosis {
        hypothesis: "<!channel> the cache is empty & <https://evil.example|docs> lie".to_owned(),
        plan: "Guard the division.".to_owned(),
        confidence: Confidence::High,
    };
    let content = render_update(&update);
    assert!(!content.text.contains("<!channel>"), "{}", content.text);
    assert!(!content.text.contains("<https://evil"), "{}", content.text);
    assert!(
        content.text.contains(
            "&lt;!channel&gt; the cache is empty &amp; &lt;https://evil.example|docs&gt;"
        ),
        "{}",
        content.text
    );
    let title = start_fix_button_message(
        &IssueKey::new("ENG-1"),
        "<!here> crash",
        "https://linear.app/acme/issue/ENG-1",
        None,
    );
    assert!(title.text.contains("&lt;!here&gt; crash"), "{}", title.text);
}

#[test]
fn a_long_plan_is_cut_to_slacks_section_limit() {
    let update = SquadUpdate::Diagnosis {
        hypothesis: "h".to_owned(),
        plan: "step ".repeat(1000),
        confidence: Confidence::Medium,
    };
    let content = render_update(&update);
    for block in &content.blocks {
        let text = block["text"]["text"].as_str().expect("section text");
        assert!(
            text.chars().count() <= 3000,
            "{} chars",
            text.chars().count()
        );
    }
    assert!(
        content.blocks[2]["text"]["text"]
            .as_str()
            .is_some_and(|text| text.ends_with('…'))
    );
}
