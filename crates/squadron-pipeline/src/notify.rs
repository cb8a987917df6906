//! Telling people how a squad is doing, in one chat thread per squad (the [`Notifier`]
//! port; Slack in production): the thread's opening, then the diagnosis, the PR, each review
//! verdict, and the merge or the reason a person is needed.
//!
//! Squads started from Slack report in the channel (and thread) they were started from;
//! other squads report only when a channel is configured. Every post is journaled under an
//! idempotency key (`<squad>/notify/<what>`), so a restarted runtime never posts one twice,
//! and a notifier failure is logged and recorded in the squad's log but never stops the
//! squad: the chat is a window on the work, not part of it.
//!
//! [`Notifier`]: squadron_core::ports::Notifier

use squadron_core::ports::{MessageTs, Notifier, SquadUpdate, ThreadOpening, ThreadRef};
use squadron_core::{IssueKey, SquadId, StepFailure};

use crate::effects::{self, Attempt};
use crate::shared::Shared;
use crate::squad::SquadCtx;

/// Kind of the event-log entry recording who asked for a fix and where; its payload is
/// `{"requested_by": …, "channel": …, "thread_ts": …}`.
pub(crate) const FIX_REQUESTED_EVENT: &str = "fix-requested";

/// Kind of the event-log entry recording a post the notifier could not make.
const NOTIFY_FAILED_EVENT: &str = "notify-failed";

/// The squad a post is about, as its thread's opening shows it.
#[derive(Clone, Debug)]
pub(crate) struct Subject {
    pub squad: SquadId,
    pub issue: IssueKey,
    pub title: String,
    pub url: String,
}

impl Subject {
    /// The squad of `ctx`, with its issue's title and page once read.
    pub fn of(ctx: &SquadCtx) -> Subject {
        Subject {
            squad: ctx.squad.clone(),
            issue: ctx.issue_key.clone(),
            title: ctx
                .issue
                .as_ref()
                .map(|issue| issue.title.clone())
                .unwrap_or_default(),
            url: ctx
                .issue
                .as_ref()
                .map(|issue| issue.url.clone())
                .unwrap_or_default(),
        }
    }
}

/// Who asked for a squad and where, from its `fix-requested` event (empty for squads a
/// milestone run started).
#[derive(Debug, Default)]
struct Origin {
    requested_by: Option<String>,
    channel: Option<String>,
    thread_ts: Option<String>,
}

/// Starts the squad's thread, if it reports anywhere and has none yet.
pub(crate) async fn open_thread(shared: &Shared, subject: &Subject) {
    if let Some(notifier) = &shared.services.notifier {
        let _ = thread(shared, notifier.as_ref(), subject).await;
    }
}

/// Posts `update` in the squad's thread once, under the key `<squad>/notify/<what>`.
/// Never fails: a failure is logged and recorded in the squad's log.
pub(crate) async fn post(shared: &Shared, subject: &Subject, what: &str, update: SquadUpdate) {
    let Some(notifier) = &shared.services.notifier else {
        return;
    };
    let Some(thread) = thread(shared, notifier.as_ref(), subject).await else {
        return;
    };
    let key = format!("{}/notify/{what}", subject.squad);
    let (key_ref, thread, update_ref) = (&key, &thread, &update);
    let posted = effects::once(
        shared,
        &key,
        Some(&subject.squad),
        "notify",
        |attempt| async move {
            let (key, update) = (key_ref, update_ref);
            if attempt == Attempt::Interrupted {
                // The chat cannot be asked whether the interrupted post landed; a missing
                // update is better than a duplicate in the thread.
                tracing::info!(key, "not repeating an interrupted chat update");
                return Ok("interrupted; not repeated".to_owned());
            }
            notifier
                .post_update(key, thread, update)
                .await
                .map(|ts| ts.to_string())
                .map_err(|error| {
                    StepFailure::port(
                        format!(
                            "post the {} update of {} to the chat",
                            update.kind(),
                            subject.issue
                        ),
                        &error,
                    )
                })
        },
    )
    .await;
    match posted {
        Ok(_) => {
            tracing::debug!(squad = %subject.squad, update = update.kind(), "told the squad's thread")
        }
        Err(error) => failed(shared, &subject.squad, &key, &error).await,
    }
}

/// The squad's thread: found in the journal, adopted from the Slack message the fix was
/// started from, or started now. `None` when the squad reports nowhere or the thread could
/// not be started (logged).
async fn thread(shared: &Shared, notifier: &dyn Notifier, subject: &Subject) -> Option<ThreadRef> {
    let cell = shared.thread_cell(&subject.squad);
    let found = cell
        .get_or_try_init(|| start_thread(shared, notifier, subject))
        .await;
    match found {
        Ok(thread) => thread.clone(),
        Err(error) => {
            let key = thread_key(&subject.squad);
            failed(shared, &subject.squad, &key, &error).await;
            None
        }
    }
}

fn thread_key(squad: &SquadId) -> String {
    format!("{squad}/notify/thread")
}

async fn start_thread(
    shared: &Shared,
    notifier: &dyn Notifier,
    subject: &Subject,
) -> Result<Option<ThreadRef>, StepFailure> {
    let origin = origin(shared, &subject.squad).await?;
    let Some(channel) = origin
        .channel
        .clone()
        .or_else(|| shared.settings.notify_channel.clone())
    else {
        return Ok(None);
    };
    let key = thread_key(&subject.squad);
    let opening = ThreadOpening {
        squad: subject.squad.clone(),
        issue: subject.issue.clone(),
        title: subject.title.clone(),
        issue_url: subject.url.clone(),
        requested_by: origin.requested_by.clone(),
    };
    // An interrupted start is repeated: without a thread no later update can be posted,
    // which is worse than a second opening message.
    let recorded = effects::once(shared, &key, Some(&subject.squad), "notify", |_| async {
        if let Some(ts) = &origin.thread_ts {
            // Started from a message in a thread: the squad reports in that thread.
            return Ok(format!("{channel} {ts}"));
        }
        notifier
            .start_thread(&key, &channel, &opening)
            .await
            .map(|thread| format!("{} {}", thread.channel, thread.ts))
            .map_err(|error| {
                StepFailure::port(
                    format!("start the chat thread of {} in {channel}", subject.issue),
                    &error,
                )
            })
    })
    .await?;
    let (channel, ts) = recorded.split_once(' ').ok_or_else(|| {
        StepFailure::internal(format!("read the journaled chat thread `{recorded}`"))
    })?;
    tracing::info!(squad = %subject.squad, channel, ts, "the squad reports in a chat thread");
    Ok(Some(ThreadRef {
        channel: channel.to_owned(),
        ts: MessageTs::new(ts),
    }))
}

/// The squad's `fix-requested` event, if any.
async fn origin(shared: &Shared, squad: &SquadId) -> Result<Origin, StepFailure> {
    let events = shared
        .services
        .store
        .events(squad)
        .await
        .map_err(|error| StepFailure::port(format!("read the event log of {squad}"), &error))?;
    let Some(event) = events
        .iter()
        .find(|event| event.kind == FIX_REQUESTED_EVENT)
    else {
        return Ok(Origin::default());
    };
    let payload: serde_json::Value = serde_json::from_str(&event.payload).map_err(|error| {
        StepFailure::internal(format!("read the fix request of {squad}")).caused_by(&error)
    })?;
    let text = |name: &str| {
        payload
            .get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    Ok(Origin {
        requested_by: text("requested_by"),
        channel: text("channel"),
        thread_ts: text("thread_ts"),
    })
}

/// Logs a post that failed and records it in the squad's log, where `squadron logs` shows it.
async fn failed(shared: &Shared, squad: &SquadId, key: &str, error: &StepFailure) {
    tracing::warn!(squad = %squad, key, %error, "could not tell the squad's chat thread; the squad carries on");
    let payload = serde_json::json!({ "key": key, "error": error.to_string() }).to_string();
    let now = shared.services.clock.now();
    if let Err(store) = shared
        .services
        .store
        .append_event(squad, NOTIFY_FAILED_EVENT, &payload, now)
        .await
    {
        tracing::warn!(squad = %squad, %store, "could not record the failed chat post");
    }
}
