//! Telling people that a squad stopped and needs one: the issue, the PR and the chat thread.

use squadron_core::StepFailure;
use squadron_core::ports::SquadUpdate;

use super::pr_text::pr_body;
use crate::effects;
use crate::notify::{self, Subject};
use crate::progress::SquadView;
use crate::shared::Shared;
use crate::squad::SharedCtx;
use crate::squad::SquadCtx;

/// Tells the issue and the PR that a person must look, once.
pub(crate) async fn post_needs_human(
    shared: &Shared,
    ctx: &SharedCtx,
    view: &SquadView,
    reason: &str,
) {
    let marker = format!("needs-human-{}", view.squad);
    let key = format!("{}/comment/{marker}", view.issue);
    let tracker = &shared.services.tracker;
    let mut body = format!(
        "Squadron stopped working on {} and needs a person: {reason}",
        view.issue
    );
    if let Some(url) = &view.pr_url {
        body.push_str(&format!("\n\nPull request: {url}"));
    }
    let posted = effects::once(shared, &key, Some(&view.squad), "comment", |_| async {
        tracker
            .comment_once(&view.issue, &marker, &body)
            .await
            .map(|outcome| format!("{outcome:?}"))
            .map_err(|error| StepFailure::port(format!("comment on {}", view.issue), &error))
    })
    .await;
    if let Err(error) = posted {
        tracing::warn!(squad = %view.squad, %error, "could not post the needs-human summary on the issue");
    }
    let ctx = ctx.lock().await;
    notify::post(
        shared,
        &subject_of(&ctx, view),
        "needs-human",
        SquadUpdate::NeedsHuman {
            reason: reason.to_owned(),
        },
    )
    .await;
    if let (Some(pr), Some(target)) = (ctx.pr.or(view.pr), ctx.target.as_ref()) {
        let body = pr_body(&ctx, None, Some(reason));
        if let Err(error) = shared
            .services
            .code_host
            .update_pull_request_body(&target.repo, pr, &body)
            .await
        {
            tracing::warn!(squad = %view.squad, %error, "could not post the needs-human summary on the PR");
        }
    }
    tracing::info!(run = %view.run, squad = %view.squad, issue = %view.issue, pr = view.pr.map(|pr| pr.0), %reason, "needs a person");
}

/// Tells the squad's thread that it failed: a person must look, as after needs-human.
pub(crate) async fn notify_failed(shared: &Shared, ctx: &SharedCtx, view: &SquadView, error: &str) {
    let ctx = ctx.lock().await;
    notify::post(
        shared,
        &subject_of(&ctx, view),
        "needs-human",
        SquadUpdate::NeedsHuman {
            reason: format!("the squad failed: {error}"),
        },
    )
    .await;
}

/// The squad as its thread shows it, with the view's title when the issue was not read.
fn subject_of(ctx: &SquadCtx, view: &SquadView) -> Subject {
    let mut subject = Subject::of(ctx);
    if subject.title.is_empty() {
        subject.title = view.title.clone();
    }
    subject
}
