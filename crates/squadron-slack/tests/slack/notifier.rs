//! The notifier over real HTTP against the Slack stand-in: one thread per squad, updates in
//! it, a repeated key posted once, Slack's refusals logged and non-fatal, and `Retry-After`
//! honoured (on tokio's paused clock, so nothing sleeps for real).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use squadron_core::ports::{
    Confidence, MessageTs, Notifier, PortErrorKind, SquadUpdate, ThreadOpening, ThreadRef,
};
use squadron_core::{IssueKey, PrNumber, ReviewVerdict, Role, SquadId};
use squadron_slack::{METADATA_EVENT_TYPE, SlackClient, SlackNotifier};
use squadron_standin_slack::StandinSlack;
use tokio::time::Instant;

const CHANNEL: &str = "C0ALERTS";

async fn standin() -> StandinSlack {
    StandinSlack::start().await.expect("stand-in starts")
}

fn notifier_with_token(standin: &StandinSlack, token: &str) -> SlackNotifier {
    let _ = rustls::crypto::ring::default_provider().install_default();
    SlackNotifier::new(SlackClient::new(&standin.api_url(), token).expect("client builds"))
}

fn notifier(standin: &StandinSlack) -> SlackNotifier {
    notifier_with_token(standin, StandinSlack::BOT_TOKEN)
}

fn opening() -> ThreadOpening {
    ThreadOpening {
        squad: SquadId::new("sq-1"),
        issue: IssueKey::new("ENG-123"),
        title: "ZeroDivisionError in invoice total".to_owned(),
        issue_url: "https://linear.app/acme/issue/ENG-123".to_owned(),
        requested_by: Some("U2CERLKJA".to_owned()),
    }
}

fn review(reviewer: Role, verdict: ReviewVerdict, round: u32) -> SquadUpdate {
    SquadUpdate::ReviewVerdict {
        reviewer,
        verdict,
        round,
    }
}

/// Log lines written while `logs` is the default subscriber of this thread.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> (Logs, tracing::subscriber::DefaultGuard) {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (logs, guard)
}

#[tokio::test(start_paused = true)]
async fn a_squad_gets_one_thread_with_every_update_in_it() {
    let standin = standin().await;
    let notifier = notifier(&standin);
    let started = Instant::now();

    let thread = notifier
        .start_thread("squad/sq-1/thread", CHANNEL, &opening())
        .await
        .expect("thread starts");
    let updates = [
        SquadUpdate::Diagnosis {
            hypothesis: "An empty cart makes `count` zero.".to_owned(),
            plan: "Return zero for an empty cart; add a regression test.".to_owned(),
            confidence: Confidence::High,
        },
        SquadUpdate::PullRequestOpened {
            number: PrNumber(42),
            url: "https://github.com/acme/shop/pull/42".to_owned(),
            title: "ENG-123: Guard the invoice total".to_owned(),
        },
        review(Role::CodeReviewer, ReviewVerdict::Approved, 1),
        review(Role::QaSpecialist, ReviewVerdict::ChangesRequested, 1),
        SquadUpdate::Merged {
            number: PrNumber(42),
            url: "https://github.com/acme/shop/pull/42".to_owned(),
            sha: "9fceb02d0ae598e95dc970b74767f19372d61af8".to_owned(),
        },
    ];
    let mut reply_ts = Vec::new();
    for update in &updates {
        let key = format!("squad/sq-1/notify/{}", update.kind());
        let key = if let SquadUpdate::ReviewVerdict { reviewer, .. } = update {
            format!("{key}-{reviewer}")
        } else {
            key
        };
        reply_ts.push(
            notifier
                .post_update(&key, &thread, update)
                .await
                .expect("update posted"),
        );
    }

    let threads = standin.threads();
    assert_eq!(threads.len(), 1, "{threads:#?}");
    let posted = &threads[0];
    assert_eq!(
        thread,
        ThreadRef {
            channel: CHANNEL.to_owned(),
            ts: MessageTs::new(posted.parent.ts.clone()),
        }
    );
    let parent = posted.parent.text.as_deref().unwrap_or_default();
    assert!(
        parent.contains(
            "<https://linear.app/acme/issue/ENG-123|ENG-123: ZeroDivisionError in invoice total>"
        ) && parent.contains("<@U2CERLKJA>"),
        "{parent}"
    );
    let replies: Vec<&str> = posted
        .replies
        .iter()
        .map(|reply| reply.text.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(replies.len(), 5, "{replies:#?}");
    assert!(replies[0].contains("confidence: high") && replies[0].contains("An empty cart"));
    assert!(replies[0].contains("Return zero for an empty cart"));
    assert!(
        replies[1].contains(
            "<https://github.com/acme/shop/pull/42|#42 ENG-123: Guard the invoice total>"
        )
    );
    assert!(
        replies[2].contains("Code reviewer approved (review round 1)"),
        "{}",
        replies[2]
    );
    assert!(
        replies[3].contains("QA specialist requested changes (review round 1)"),
        "{}",
        replies[3]
    );
    assert!(
        replies[4].contains("Merged <https://github.com/acme/shop/pull/42|#42> as `9fceb02`"),
        "{}",
        replies[4]
    );
    let recorded_ts: Vec<MessageTs> = posted
        .replies
        .iter()
        .map(|reply| MessageTs::new(reply.ts.clone()))
        .collect();
    assert_eq!(reply_ts, recorded_ts);
    assert!(posted.replies.iter().all(|reply| reply.blocks.is_some()));
    assert_eq!(
        posted.parent.metadata,
        Some(serde_json::json!({
            "event_type": METADATA_EVENT_TYPE,
            "event_payload": { "key": "squad/sq-1/thread" }
        }))
    );
    // Six posts in one channel, at most one a second.
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "posted within {:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_repeated_key_is_not_posted_twice() {
    let standin = standin().await;
    let notifier = notifier(&standin);

    let first = notifier
        .start_thread("squad/sq-1/thread", CHANNEL, &opening())
        .await
        .expect("thread");
    let again = notifier
        .start_thread("squad/sq-1/thread", CHANNEL, &opening())
        .await
        .expect("same thread");
    assert_eq!(first, again);

    let needs_human = SquadUpdate::NeedsHuman {
        reason: "the diagnosis is not confident enough".to_owned(),
    };
    let (one, two) = tokio::join!(
        notifier.post_update("squad/sq-1/notify/needs-human", &first, &needs_human),
        notifier.post_update("squad/sq-1/notify/needs-human", &first, &needs_human),
    );
    assert_eq!(one.expect("posted"), two.expect("same post"));

    assert_eq!(standin.messages().len(), 2, "{:#?}", standin.messages());
    assert_eq!(standin.request_count(), 2);
    let thread = standin
        .thread(CHANNEL, first.ts.as_str())
        .expect("thread recorded");
    assert_eq!(thread.replies.len(), 1);
    assert!(
        thread.replies[0].text.as_deref().is_some_and(
            |text| text.contains("Needs a human: the diagnosis is not confident enough")
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_refusal_is_logged_returned_as_an_error_and_the_next_post_still_goes() {
    let standin = standin().await;
    standin.remove_channel("C0GONE");
    let notifier = notifier(&standin);
    let (logs, _guard) = capture_logs();

    let error = notifier
        .start_thread("squad/sq-9/thread", "C0GONE", &opening())
        .await
        .expect_err("channel_not_found");
    assert_eq!(error.kind(), PortErrorKind::NotFound);
    assert!(
        error.to_string().contains("`C0GONE`")
            && error.to_string().contains("`channel_not_found`")
            && error.to_string().contains("check the channel id"),
        "{error}"
    );
    let logged = logs.text();
    assert!(
        logged.contains("WARN")
            && logged.contains("Slack refused a message")
            && logged.contains("channel=\"C0GONE\"")
            && logged.contains("slack_error=channel_not_found"),
        "{logged}"
    );

    // The squad carries on: the same notifier keeps posting elsewhere.
    notifier
        .start_thread("squad/sq-1/thread", CHANNEL, &opening())
        .await
        .expect("other channel still works");
    assert_eq!(standin.refusals(), ["channel_not_found"]);
    assert_eq!(standin.messages().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_wrong_token_is_an_auth_error() {
    let standin = standin().await;
    let notifier = notifier_with_token(&standin, "xoxb-revoked");

    let error = notifier
        .start_thread("squad/sq-1/thread", CHANNEL, &opening())
        .await
        .expect_err("invalid_auth");
    assert_eq!(error.kind(), PortErrorKind::Auth);
    assert!(error.to_string().contains("slack.bot_token_env"), "{error}");
    assert_eq!(standin.refusals(), ["invalid_auth"]);
    assert!(standin.messages().is_empty());
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_before_posting_again() {
    let standin = standin().await;
    let notifier = notifier(&standin);
    standin.rate_limit_next(1, 7);
    let started = Instant::now();

    notifier
        .start_thread("squad/sq-1/thread", CHANNEL, &opening())
        .await
        .expect("posted after the wait");

    assert!(
        started.elapsed() >= Duration::from_secs(7),
        "retried after {:?}",
        started.elapsed()
    );
    assert_eq!(standin.refusals(), ["ratelimited"]);
    assert_eq!(standin.request_count(), 2);
    assert_eq!(standin.messages().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_that_outlasts_the_retries_is_transient_and_the_key_may_be_retried() {
    let standin = standin().await;
    let notifier = notifier(&standin);
    standin.rate_limit_next(4, 1);

    let error = notifier
        .start_thread("squad/sq-1/thread", CHANNEL, &opening())
        .await
        .expect_err("still rate limited");
    assert_eq!(error.kind(), PortErrorKind::Transient);
    assert!(standin.messages().is_empty());

    let thread = notifier
        .start_thread("squad/sq-1/thread", CHANNEL, &opening())
        .await
        .expect("a failed key is free to retry");
    assert_eq!(standin.messages().len(), 1);
    assert_eq!(standin.messages()[0].ts, thread.ts.as_str());
}
