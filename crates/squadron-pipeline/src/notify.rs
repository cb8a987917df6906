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
//! Steps never wait for the chat. Slack takes about one message a second per channel, so a
//! post can wait seconds for its turn; steps put posts in the squad's queue (`ChatQueue`)
//! and go on, and one task per squad with posts waiting makes them in the order they were
//! queued, so each thread reads in order. The runtime waits for the queues to drain before
//! it returns.
//!
//! [`Notifier`]: squadron_core::ports::Notifier

use std::sync::Arc;

use squadron_core::effect::{ChatPost, EffectKey};
use squadron_core::event_payload::EventPayload;
use squadron_core::ports::{MessageTs, Notifier, SquadUpdate, ThreadOpening, ThreadRef};
use squadron_core::{SquadId, StepFailure};

use crate::chat_queue::ChatJob;
pub(crate) use crate::chat_queue::Subject;
use crate::effects::{self, Attempt};
use crate::log_events;
use crate::shared::Shared;
use crate::squad::SquadCtx;

impl Subject {
    /// The squad of `ctx`, with its issue's title and page once read.
    pub fn of(ctx: &SquadCtx) -> Subject {
        Subject::about(ctx, ctx.squad.clone())
    }

    /// `squad`, another squad of `ctx`'s issue (a revert's reverted squad), with the issue's
    /// title and page once read.
    pub fn about(ctx: &SquadCtx, squad: SquadId) -> Subject {
        Subject {
            squad,
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

/// Makes the posts queued for `squad`, one after another, until its queue is empty.
async fn drain(shared: Arc<Shared>, squad: SquadId) {
    // The squad's thread once known (`Some(None)`: it reports nowhere).
    let mut known: Option<Option<ThreadRef>> = None;
    while let Some((subject, job)) = shared.chat.next(&squad) {
        let Some(notifier) = &shared.services.notifier else {
            continue;
        };
        let notifier = notifier.as_ref();
        if known.is_none() {
            known = thread(&shared, notifier, &subject).await;
        }
        if let (ChatJob::Post { what, update }, Some(Some(thread))) = (job, &known) {
            deliver(&shared, notifier, &subject, thread, &what, &update).await;
        }
    }
}

/// Starts the squad's thread, if it reports anywhere and has none yet; queued, so it never
/// waits for the chat.
pub(crate) fn open_thread(shared: &Shared, subject: &Subject) {
    queue(shared, subject, ChatJob::Open);
}

/// Queues `update` for the squad's thread, to be posted once under the key
/// `<squad>/notify/<what>` after everything queued before it. Never fails and never waits:
/// a failure is logged and recorded in the squad's log.
pub(crate) fn post(shared: &Shared, subject: &Subject, what: &str, update: SquadUpdate) {
    let what = what.to_owned();
    queue(shared, subject, ChatJob::Post { what, update });
}

/// Queues `job` and starts the squad's posting task if none runs.
fn queue(shared: &Shared, subject: &Subject, job: ChatJob) {
    if shared.services.notifier.is_none() {
        return;
    }
    if shared.chat.push(subject, job) {
        match shared.arc() {
            Some(shared) => {
                tokio::spawn(drain(shared, subject.squad.clone()));
            }
            // The runtime is being dropped: nobody is left to make the post.
            None => while shared.chat.next(&subject.squad).is_some() {},
        }
    }
}

/// Posts `update` in the squad's thread once; a failure is logged and recorded.
async fn deliver(
    shared: &Shared,
    notifier: &dyn Notifier,
    subject: &Subject,
    thread: &ThreadRef,
    what: &str,
    update: &SquadUpdate,
) {
    let key = EffectKey::Notify {
        squad: subject.squad.clone(),
        update: what.to_owned(),
    };
    let key_ref = &key;
    let posted: Result<ChatPost, _> = effects::once(shared, &key, |attempt| async move {
        let key = key_ref;
        if attempt == Attempt::Interrupted {
            // The chat cannot be asked whether the interrupted post landed; a missing
            // update is better than a duplicate in the thread.
            tracing::info!(%key, "not repeating an interrupted chat update");
            return Ok(ChatPost::NotRepeated);
        }
        notifier
            .post_update(&key.to_string(), thread, update)
            .await
            .map(ChatPost::Posted)
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
    })
    .await;
    match posted {
        Ok(_) => {
            tracing::debug!(squad = %subject.squad, update = update.kind(), "told the squad's thread")
        }
        Err(error) => failed(shared, &subject.squad, &key, &error).await,
    }
}

/// The squad's thread: found in the journal, adopted from the Slack message the fix was
/// started from, or started now; `Some(None)` when the squad reports nowhere, `None` when
/// the thread could not be started (logged; the next post tries again). Only the squad's
/// posting task asks, so no two posts can race to start two threads.
async fn thread(
    shared: &Shared,
    notifier: &dyn Notifier,
    subject: &Subject,
) -> Option<Option<ThreadRef>> {
    match start_thread(shared, notifier, subject).await {
        Ok(thread) => Some(thread),
        Err(error) => {
            let key = thread_key(&subject.squad);
            failed(shared, &subject.squad, &key, &error).await;
            None
        }
    }
}

fn thread_key(squad: &SquadId) -> EffectKey {
    EffectKey::ChatThread {
        squad: squad.clone(),
    }
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
    let thread: ThreadRef = effects::once(shared, &key, |_| async {
        if let Some(ts) = &origin.thread_ts {
            // Started from a message in a thread: the squad reports in that thread.
            return Ok(ThreadRef {
                channel: channel.clone(),
                ts: MessageTs::new(ts.as_str()),
            });
        }
        notifier
            .start_thread(&key.to_string(), &channel, &opening)
            .await
            .map_err(|error| {
                StepFailure::port(
                    format!("start the chat thread of {} in {channel}", subject.issue),
                    &error,
                )
            })
    })
    .await?;
    tracing::info!(squad = %subject.squad, channel = thread.channel, ts = thread.ts.as_str(), "the squad reports in a chat thread");
    Ok(Some(thread))
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
        .find(|event| event.kind == EventPayload::FIX_REQUESTED)
    else {
        return Ok(Origin::default());
    };
    let Some(EventPayload::FixRequested {
        requested_by,
        channel,
        thread_ts,
    }) = &event.note
    else {
        return Err(StepFailure::internal(format!(
            "read the fix request of {squad}: the stored request is malformed"
        )));
    };
    Ok(Origin {
        requested_by: Some(requested_by.clone()),
        channel: channel.clone(),
        thread_ts: thread_ts.clone(),
    })
}

/// Logs a post that failed and records it in the squad's log, where `squadron logs` shows it.
async fn failed(shared: &Shared, squad: &SquadId, key: &EffectKey, error: &StepFailure) {
    tracing::warn!(squad = %squad, %key, %error, "could not tell the squad's chat thread; the squad carries on");
    let payload = EventPayload::NotifyFailed {
        key: key.clone(),
        error: error.to_string(),
    };
    log_events::append(shared, squad, &payload).await;
}
