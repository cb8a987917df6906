//! Reading verified requests: every form of `/squad`, bad usage answered with the usage,
//! the url_verification handshake, button clicks, and refusals of what Slack never sends.

use serde_json::{Value, json};
use squadron_core::IssueKey;
use squadron_slack::{
    IssueTarget, RequestContext, RequestError, SlackRefusal, SlackRequest, SlashCommand,
    SquadCommand, parse_request,
};
use squadron_standin_slack::{
    SignedRequest, SlashCommandRequest, sign_interaction, start_fix_click_payload,
};

use super::support::{SECRET, SENT_AT, read, read_squad};

const ISSUE_URL: &str = "https://linear.app/acme/issue/ENG-123/checkout-crashes-on-empty-cart";

fn key(text: &str) -> IssueTarget {
    IssueTarget {
        key: IssueKey::new(text),
        url: None,
    }
}

fn command_of(text: &str) -> SquadCommand {
    match read_squad(text) {
        Ok(SlackRequest::SlashCommand(command)) => command.action,
        other => panic!("`/squad {text}` read as {other:?}"),
    }
}

#[test]
fn a_fix_command_carries_who_asked_and_where() {
    let request = read_squad("fix ENG-123").expect("valid command");
    assert_eq!(
        request,
        SlackRequest::SlashCommand(SlashCommand {
            command: "/squad".to_owned(),
            context: RequestContext {
                team_id: "T1DC2JH3J".to_owned(),
                channel_id: "C0SQUADRON".to_owned(),
                user_id: "U2CERLKJA".to_owned(),
                user_name: Some("roadrunner".to_owned()),
                response_url: Some(
                    "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN"
                        .to_owned()
                ),
            },
            action: SquadCommand::Fix(key("ENG-123")),
        })
    );
}

#[test]
fn every_command_form_is_understood() {
    let url_target = IssueTarget {
        key: IssueKey::new("ENG-123"),
        url: Some(ISSUE_URL.to_owned()),
    };
    let cases = [
        ("fix ENG-123", SquadCommand::Fix(key("ENG-123"))),
        ("fix eng-7", SquadCommand::Fix(key("ENG-7"))),
        ("  FIX   ENG-123  ", SquadCommand::Fix(key("ENG-123"))),
        (
            &format!("fix {ISSUE_URL}"),
            SquadCommand::Fix(url_target.clone()),
        ),
        // Slack's escaping of links, with and without a label.
        (
            &format!("fix <{ISSUE_URL}>"),
            SquadCommand::Fix(url_target.clone()),
        ),
        (
            &format!("fix <{ISSUE_URL}|ENG-123>"),
            SquadCommand::Fix(url_target.clone()),
        ),
        (
            "fix https://linear.app/acme/issue/OPS2-9",
            SquadCommand::Fix(IssueTarget {
                key: IssueKey::new("OPS2-9"),
                url: Some("https://linear.app/acme/issue/OPS2-9".to_owned()),
            }),
        ),
        ("status", SquadCommand::Status(None)),
        ("status ENG-123", SquadCommand::Status(Some(key("ENG-123")))),
        (
            &format!("status {ISSUE_URL}"),
            SquadCommand::Status(Some(url_target)),
        ),
        ("revert eng-12", SquadCommand::Revert(key("ENG-12"))),
        ("help", SquadCommand::Help),
        ("", SquadCommand::Help),
    ];
    for (text, expected) in cases {
        assert_eq!(command_of(text), expected, "`/squad {text}`");
    }
}

#[test]
fn the_lookup_is_the_url_when_one_was_pasted() {
    let SquadCommand::Fix(target) = command_of(&format!("fix {ISSUE_URL}")) else {
        panic!("not a fix");
    };
    assert_eq!(target.lookup(), ISSUE_URL);
    assert_eq!(key("ENG-9").lookup(), "ENG-9");
}

#[test]
fn bad_usage_gets_an_ephemeral_reply_naming_the_problem_and_the_right_usage() {
    let cases = [
        ("fix", "`/squad fix` needs the issue to fix"),
        ("fix banana", "`banana` is not a Linear issue"),
        ("fix ENG-", "`ENG-` is not a Linear issue"),
        ("fix 123", "`123` is not a Linear issue"),
        (
            "fix https://github.com/acme/shop/issues/12",
            "`https://github.com/acme/shop/issues/12` is not a Linear issue URL",
        ),
        (
            "fix https://linear.app/acme/project/checkout-a5e6ddb5d475",
            "is not a Linear issue URL",
        ),
        ("fix ENG-1 ENG-2", "takes at most one issue; remove `ENG-2`"),
        ("status banana", "`banana` is not a Linear issue"),
        (
            "revert",
            "`/squad revert` needs the issue whose change to take back",
        ),
        ("revert banana", "`banana` is not a Linear issue"),
        ("deploy ENG-1", "`deploy` is not a `/squad` subcommand"),
        ("help me", "`/squad help` takes nothing after it"),
    ];
    for (text, problem) in cases {
        let refusal = read_squad(text).expect_err(text);
        let SlackRefusal::Request(RequestError::Usage(usage)) = &refusal else {
            panic!("`/squad {text}` refused as {refusal:?}");
        };
        assert!(
            usage.problem.contains(problem),
            "`{text}`: {}",
            usage.problem
        );
        assert_eq!(refusal.status(), 200, "`{text}`");
        let reply: Value =
            serde_json::from_str(&refusal.immediate_response().body()).expect("JSON reply");
        assert_eq!(reply["response_type"], "ephemeral", "`{text}`");
        let shown = reply["text"].as_str().expect("text");
        assert!(shown.contains(problem), "`{text}`: {shown}");
        assert!(
            shown.contains("`/squad fix <ENG-123 | Linear issue URL>`")
                && shown.contains("`/squad status [ENG-123]`")
                && shown.contains("`/squad revert <ENG-123>`")
                && shown.contains("`/squad help`"),
            "`{text}` shows no usage: {shown}"
        );
    }
}

#[test]
fn the_usage_repeats_the_command_name_the_app_was_installed_with() {
    let request = SlashCommandRequest::new("/fixit", "fix").sign(SECRET, SENT_AT);
    let refusal = read(&request).expect_err("bad usage");
    assert!(
        refusal
            .immediate_response()
            .body()
            .contains("/fixit fix <ENG-123 | Linear issue URL>"),
        "{refusal}"
    );
}

#[test]
fn the_url_verification_challenge_is_echoed() {
    let body = json!({
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification"
    })
    .to_string();
    let request = SignedRequest::sign(SECRET, SENT_AT, body);
    // Events arrive as JSON; the helper's headers say form, so read the body as JSON here.
    let parsed =
        parse_request(Some("application/json"), request.body.as_bytes()).expect("url_verification");
    let SlackRequest::UrlVerification { challenge } = parsed else {
        panic!("read as {parsed:?}");
    };
    let answer = squadron_slack::challenge_response(&challenge);
    assert_eq!(answer.content_type(), Some("application/json"));
    let echoed: Value = serde_json::from_str(&answer.body()).expect("JSON");
    assert_eq!(
        echoed,
        json!({ "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" })
    );
}

#[test]
fn other_events_are_acknowledged_and_ignored() {
    let body = json!({ "type": "event_callback", "event": { "type": "app_mention" } }).to_string();
    assert_eq!(
        parse_request(Some("application/json; charset=utf-8"), body.as_bytes()),
        Ok(SlackRequest::Ignored {
            kind: "event_callback".to_owned()
        })
    );
}

#[test]
fn a_start_fix_squad_click_names_the_issue_and_the_message_to_thread_under() {
    let payload = start_fix_click_payload("ENG-123", "C0ALERTS", "1700000000.000042", "U0ONCALL");
    let request = read(&sign_interaction(SECRET, SENT_AT, &payload)).expect("click");
    let SlackRequest::StartFixSquad(click) = request else {
        panic!("read as {request:?}");
    };
    assert_eq!(click.issue, key("ENG-123"));
    assert_eq!(click.message_ts.as_deref(), Some("1700000000.000042"));
    assert_eq!(click.context.channel_id, "C0ALERTS");
    assert_eq!(click.context.user_id, "U0ONCALL");
    assert_eq!(click.context.team_id, "T1DC2JH3J");
}

#[test]
fn clicks_on_other_buttons_are_ignored() {
    let mut payload = start_fix_click_payload("ENG-1", "C0ALERTS", "1.2", "U0ONCALL");
    payload["actions"][0]["action_id"] = json!("dismiss");
    let request = read(&sign_interaction(SECRET, SENT_AT, &payload)).expect("click");
    assert_eq!(
        request,
        SlackRequest::Ignored {
            kind: "block_actions [dismiss]".to_owned()
        }
    );
    let view = json!({ "type": "view_submission" });
    assert_eq!(
        read(&sign_interaction(SECRET, SENT_AT, &view)).expect("view"),
        SlackRequest::Ignored {
            kind: "view_submission".to_owned()
        }
    );
}

#[test]
fn shapes_slack_never_sends_are_400() {
    let mut bad_value = start_fix_click_payload("ENG-1", "C0ALERTS", "1.2", "U0ONCALL");
    bad_value["actions"][0]["value"] = json!("rm -rf /");
    let cases = [
        sign_interaction(SECRET, SENT_AT, &bad_value),
        SignedRequest::sign(SECRET, SENT_AT, "payload=%7Bnot+json".to_owned()),
        SignedRequest::sign(SECRET, SENT_AT, "text=fix+ENG-1".to_owned()),
        SignedRequest::sign(
            SECRET,
            SENT_AT,
            "command=%2Fsquad&text=fix+ENG-1&team_id=T1&user_id=U1".to_owned(),
        ),
    ];
    for request in &cases {
        let refusal = read(request).expect_err(&request.body);
        assert!(
            matches!(refusal, SlackRefusal::Request(RequestError::Malformed(_))),
            "{}: {refusal:?}",
            request.body
        );
        assert_eq!(refusal.status(), 400, "{}", request.body);
    }
    assert!(matches!(
        parse_request(Some("text/plain"), b"fix ENG-1"),
        Err(RequestError::Malformed(_))
    ));
}
