//! Bug fixes end to end on the stand-ins: a signed `/squad fix` sent to `squadron serve`
//! takes the demo's Sentry stub to a merged fix with every step in its Slack thread; a
//! diagnosis too unsure to act on stops as needs-human with no PR; the acknowledgement
//! comes before Linear answers anything; `squadron fix` does the same from the command
//! line; and a signed `/squad revert` takes the merged fix back through a revert squad whose
//! PR both reviewers approve before it merges, told in the squad's thread.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use squadron::demo::{
    BUGFIX_ISSUE, BUGFIX_SCRIPTS, DemoLimits, SAMPLE_REPO, SLACK_SIGNING_SECRET, Scenario,
    WorldSeed,
};
use squadron_standin_model::ScriptBook;
use squadron_standin_slack::{SlashCommandRequest, Thread};

use crate::support::{Rig, describe, until};

/// The channel the stand-in's slash commands come from.
const CHANNEL: &str = "C0SQUADRON";

/// The bug-fix scenario's world, with its scripts as given.
async fn rig(scripts: &str) -> Rig {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let seed = WorldSeed {
        workspace: Scenario::Bugfix.linear_workspace(),
        scripts: ScriptBook::from_toml(scripts, "bugfix scripts").expect("the scripts load"),
        project_url: Scenario::Bugfix.project_url(),
    };
    Rig::start(seed, DemoLimits::default()).await
}

/// Sends `/squad <text>` to the daemon at `address`, signed now as Slack signs it, with its
/// delayed replies going to the Slack stand-in; returns the JSON answer.
async fn slash_command(rig: &Rig, address: &str, text: &str) -> serde_json::Value {
    let (status, answer) =
        send_command(rig, address, SlashCommandRequest::new("/squad", text)).await;
    assert_eq!(status, 200);
    answer.expect("a JSON answer")
}

/// Sends `command` to the daemon at `address`, signed now, with its delayed replies going to
/// the Slack stand-in; returns the HTTP status and the JSON answer, if any.
async fn send_command(
    rig: &Rig,
    address: &str,
    command: SlashCommandRequest,
) -> (u16, Option<serde_json::Value>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let signed = command
        .with_response_url(&rig.world.slack.response_url("command"))
        .sign(SLACK_SIGNING_SECRET, i64::try_from(now).expect("in range"));
    let mut request = reqwest::Client::new()
        .post(format!("http://{address}/webhooks/slack"))
        .body(signed.body.clone());
    for (name, value) in signed.headers() {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("POST /webhooks/slack");
    let status = response.status().as_u16();
    (status, response.json().await.ok())
}

/// The one thread the squad posted in, once a reply contains `text`.
async fn thread_reaching(rig: &Rig, text: &str) -> Thread {
    let has = |thread: &Thread| {
        thread.replies.iter().any(|reply| {
            reply
                .text
                .as_deref()
                .is_some_and(|body| body.contains(text))
        })
    };
    until(&format!("the thread says `{text}`"), || {
        rig.world.slack.threads().iter().any(has)
    })
    .await;
    let threads = rig.world.slack.threads();
    assert_eq!(threads.len(), 1, "one thread per fix: {threads:#?}");
    threads.into_iter().next().expect("one thread")
}

fn texts(thread: &Thread) -> Vec<String> {
    thread
        .replies
        .iter()
        .map(|reply| reply.text.clone().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_squad_fix_takes_the_sentry_stub_to_a_merged_fix_told_in_its_thread() {
    let rig = rig(BUGFIX_SCRIPTS).await;
    let (_daemon, address) = rig.serve(&[]);

    let ack = slash_command(&rig, &address, "fix ENG-1").await;
    assert_eq!(
        ack,
        serde_json::json!({ "response_type": "in_channel", "text": "Fix squad for ENG-1 starting…" })
    );
    let thread = thread_reaching(&rig, ":tada: Merged").await;

    // The thread: opened in the command's channel, then diagnosis, PR, both verdicts, merge.
    assert_eq!(thread.parent.channel, CHANNEL);
    let opening = thread.parent.text.clone().unwrap_or_default();
    assert!(
        opening.contains("Fix squad started on") && opening.contains("<@U2CERLKJA>"),
        "{opening}"
    );
    let replies = texts(&thread);
    let position = |needle: &str| {
        replies
            .iter()
            .position(|reply| reply.contains(needle))
            .unwrap_or_else(|| panic!("no reply says `{needle}`: {replies:#?}"))
    };
    let diagnosis = position("*Diagnosis* (confidence: high)");
    let pr = position("Pull request opened");
    let code_review = position("Code reviewer approved");
    let qa_review = position("QA specialist approved");
    let merged = position(":tada: Merged");
    assert!(
        diagnosis < pr && pr < code_review.min(qa_review) && code_review.max(qa_review) < merged,
        "{replies:#?}"
    );
    assert!(replies[diagnosis].contains("csv.reader yields an empty row"));

    // The diagnosis is on the Linear issue, which ends done.
    let comments = rig.linear_comments(BUGFIX_ISSUE);
    assert!(
        comments
            .iter()
            .any(|comment| comment.contains("Squadron's diagnosis of ENG-1")
                && comment.contains("skip empty rows")),
        "{comments:#?}"
    );
    assert_eq!(rig.linear_state(BUGFIX_ISSUE).as_deref(), Some("Done"));

    // One PR, merged, its head approved by both reviewer identities.
    let pulls = rig.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    assert!(pulls[0].merged);
    assert_eq!(
        rig.approvers(pulls[0].number, &pulls[0].head_sha),
        ["squadron-code-reviewer", "squadron-qa-specialist"]
    );
    assert!(
        rig.world.slack.responses().is_empty(),
        "nothing went wrong to tell the person about"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diagnosis_too_unsure_to_act_on_stops_as_needs_human_with_no_pr() {
    let unsure = BUGFIX_SCRIPTS.replace("confidence = \"high\"", "confidence = \"low\"");
    assert_ne!(unsure, BUGFIX_SCRIPTS, "the scripts state a confidence");
    let rig = rig(&unsure).await;
    let (_daemon, address) = rig.serve(&[]);

    slash_command(&rig, &address, "fix ENG-1").await;
    let thread = thread_reaching(&rig, "Needs a human").await;

    let replies = texts(&thread);
    assert!(
        replies[0].contains("*Diagnosis* (confidence: low)"),
        "{replies:#?}"
    );
    let needs_human = replies
        .iter()
        .find(|reply| reply.contains("Needs a human"))
        .expect("the needs-human reply");
    assert!(
        needs_human.contains("not confident enough") && needs_human.contains("below the required"),
        "the reason is in the thread: {needs_human}"
    );
    assert!(
        !replies
            .iter()
            .any(|reply| reply.contains("Pull request opened")),
        "{replies:#?}"
    );
    assert!(rig.pulls().is_empty(), "no PR: {:#?}", rig.pulls());
    let comments = rig.linear_comments(BUGFIX_ISSUE);
    assert!(
        comments
            .iter()
            .any(|comment| comment.contains("Squadron's diagnosis of ENG-1")),
        "{comments:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acknowledgement_comes_before_linear_answers_anything() {
    let rig = rig(BUGFIX_SCRIPTS).await;
    let (_daemon, address) = rig.serve(&[]);
    let linear = &rig.world.linear;
    // Linear stalls from now on: whatever the daemon asks it stays unanswered until released.
    linear.hold();
    let (asked, answered) = (linear.request_count(), linear.answered_count());
    let model_calls = rig.world.model.requests().len();

    let started = Instant::now();
    let ack = slash_command(&rig, &address, "fix ENG-1").await;
    let elapsed = started.elapsed();

    assert_eq!(ack["text"], "Fix squad for ENG-1 starting…");
    assert!(
        elapsed < Duration::from_secs(1),
        "acknowledged after {elapsed:?}; Slack gives up after 3 s"
    );
    assert_eq!(
        linear.answered_count(),
        answered,
        "the acknowledgement did not wait for Linear"
    );
    assert_eq!(
        rig.world.model.requests().len(),
        model_calls,
        "no model call"
    );
    assert!(rig.pulls().is_empty(), "nothing on GitHub");
    assert!(rig.world.slack.messages().is_empty(), "no thread yet");

    // The fix then goes on in the background: it asks Linear, and once Linear answers, the
    // squad opens its thread.
    until("the daemon asks Linear for the issue", || {
        linear.request_count() > asked
    })
    .await;
    linear.release();
    until("the squad opens its thread", || {
        !rig.world.slack.messages().is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn squadron_fix_merges_the_fix_from_the_command_line() {
    let rig = rig(BUGFIX_SCRIPTS).await;

    let output = rig.squadron(&["fix", "ENG-1"], &[]).await;

    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("ENG-1 fixed: merged"), "{stdout}");
    let pulls = rig.pulls();
    assert_eq!(pulls.len(), 1);
    assert!(pulls[0].merged);
    assert!(
        rig.linear_comments(BUGFIX_ISSUE)
            .iter()
            .any(|comment| comment.contains("Squadron's diagnosis of ENG-1")),
        "the diagnosis is posted on the issue"
    );
    assert!(
        rig.world.slack.messages().is_empty(),
        "a fix from the command line has no Slack thread unless slack.channel is set"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_squad_revert_is_reviewed_merged_reopens_the_issue_and_tells_the_thread() {
    let rig = rig(BUGFIX_SCRIPTS).await;
    let (_daemon, address) = rig.serve(&[("SQUADRON_SLACK_FIX_USERS", "U2CERLKJA")]);
    slash_command(&rig, &address, "fix ENG-1").await;
    thread_reaching(&rig, ":tada: Merged").await;
    assert_eq!(rig.pulls().len(), 1);

    // Unsigned, or from someone the allow-list leaves out: refused, and nothing happens.
    let unsigned = reqwest::Client::new()
        .post(format!("http://{address}/webhooks/slack"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(SlashCommandRequest::new("/squad", "revert ENG-1").form_body())
        .send()
        .await
        .expect("POST /webhooks/slack");
    assert_eq!(unsigned.status(), 401);
    let mut stranger = SlashCommandRequest::new("/squad", "revert ENG-1");
    stranger.user_id = "U0STRANGER".to_owned();
    let (status, answer) = send_command(&rig, &address, stranger).await;
    assert_eq!(status, 200);
    let answer = answer.expect("a JSON answer");
    assert_eq!(answer["response_type"], "ephemeral", "{answer}");
    assert!(
        answer["text"]
            .as_str()
            .is_some_and(|text| text.contains("<@U0STRANGER> may not revert merged changes")),
        "{answer}"
    );

    // An issue no squad worked on: acknowledged, then told why not, to the person alone.
    let ack = slash_command(&rig, &address, "revert ENG-404").await;
    assert_eq!(ack["response_type"], "in_channel");
    until("the reply about ENG-404", || {
        !rig.world.slack.responses().is_empty()
    })
    .await;
    let refusal = rig.world.slack.responses()[0].body.clone();
    assert_eq!(refusal["response_type"], "ephemeral", "{refusal}");
    let text = refusal["text"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("Squadron did not revert ENG-404: failed to find squad `ENG-404`"),
        "{text}"
    );
    assert_eq!(rig.pulls().len(), 1, "no revert PR for an unknown issue");

    // The merged fix: a revert squad the daemon takes up, its PR reviewed by both reviewers
    // and merged, the issue reopened, the thread told.
    let ack = slash_command(&rig, &address, "revert ENG-1").await;
    assert_eq!(
        ack,
        serde_json::json!({
            "response_type": "in_channel",
            "text": "Reverting ENG-1: opening a PR that takes its merged change back…",
        })
    );
    until("the reply about ENG-1", || {
        rig.world.slack.responses().len() == 2
    })
    .await;
    let queued = rig.world.slack.responses()[1].body.clone();
    assert_eq!(queued["response_type"], "in_channel", "{queued}");
    assert!(
        queued["text"]
            .as_str()
            .is_some_and(|text| text.starts_with("ENG-1 revert queued")
                && text.contains("both reviewers review it before it merges")),
        "{queued}"
    );
    let thread = thread_reaching(&rig, ":rewind: Reverted").await;
    let pulls = rig.pulls();
    assert_eq!(pulls.len(), 2, "{pulls:#?}");
    let revert = pulls
        .iter()
        .find(|pull| pull.head_ref == "squadron/revert-eng-1")
        .expect("the revert PR");
    assert!(revert.merged, "{revert:?}");
    assert_eq!(
        rig.approvers(revert.number, &revert.head_sha),
        ["squadron-code-reviewer", "squadron-qa-specialist"],
        "a revert from Slack is reviewed like any change"
    );
    assert!(
        revert
            .body
            .as_deref()
            .is_some_and(|body| body.contains("`/squad revert` in Slack by @roadrunner")),
        "{revert:?}"
    );
    assert_eq!(
        rig.linear_state(BUGFIX_ISSUE).as_deref(),
        Some("In Progress")
    );
    let told = texts(&thread).pop().unwrap_or_default();
    let merged: String = rig
        .world
        .github
        .branch_head(SAMPLE_REPO, "main")
        .expect("the sample repository")
        .expect("main")
        .chars()
        .take(7)
        .collect();
    insta::assert_snapshot!(
        "revert_told_in_the_thread",
        told.replace(rig.world.github.base_url(), "<github>")
            .replace(&merged, "<sha>")
    );
}
