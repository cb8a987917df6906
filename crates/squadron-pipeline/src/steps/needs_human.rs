//! Telling people that a squad stopped and needs one: the issue (what was done, what is left,
//! where the work is), the PR and the chat thread.

use squadron_core::StepFailure;
use squadron_core::effect::EffectKey;
use squadron_core::ports::SquadUpdate;

use super::pr_text::pr_body;
use super::save_work::SavedWork;
use crate::effects;
use crate::notify::{self, Subject};
use crate::progress::SquadView;
use crate::shared::Shared;
use crate::squad::SquadCtx;

/// Tells the issue and the PR that a person must look, once, with where the squad's work is.
pub(crate) async fn post_needs_human(
    shared: &Shared,
    ctx: &SquadCtx,
    view: &SquadView,
    reason: &str,
    saved: &SavedWork,
) {
    let marker = format!("needs-human-{}", view.squad);
    let key = EffectKey::Comment {
        issue: view.issue.clone(),
        marker: marker.clone(),
        squad: Some(view.squad.clone()),
    };
    let tracker = &shared.services.tracker;
    let pr_url = ctx.pr_url.as_deref().or(view.pr_url.as_deref());
    let body = needs_human_comment(view, reason, pr_url, saved);
    let posted = effects::once(shared, &key, |_| async {
        tracker
            .comment_once(&view.issue, &marker, &body)
            .await
            .map_err(|error| StepFailure::port(format!("comment on {}", view.issue), &error))
    })
    .await;
    if let Err(error) = posted {
        tracing::warn!(squad = %view.squad, %error, "could not post the needs-human summary on the issue");
    }
    notify::post(
        shared,
        &subject_of(ctx, view),
        "needs-human",
        SquadUpdate::NeedsHuman {
            reason: reason.to_owned(),
        },
    );
    if let (Some(pr), Some(target)) = (ctx.pr.or(view.pr), ctx.target.as_ref()) {
        let body = pr_body(ctx, None, Some(reason));
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
pub(crate) fn notify_failed(shared: &Shared, ctx: &SquadCtx, view: &SquadView, error: &str) {
    notify::post(
        shared,
        &subject_of(ctx, view),
        "needs-human",
        SquadUpdate::NeedsHuman {
            reason: format!("the squad failed: {error}"),
        },
    );
}

/// The comment on the issue: why the squad stopped, what it did, where its work is, and
/// what is left for the person.
pub(crate) fn needs_human_comment(
    view: &SquadView,
    reason: &str,
    pr_url: Option<&str>,
    saved: &SavedWork,
) -> String {
    let issue = &view.issue;
    let mut body = format!("Squadron stopped working on {issue} and needs a person: {reason}\n");
    body.push_str("\n**What was done**\n");
    match saved {
        SavedWork::Pushed(branch) => {
            let place = match &branch.url {
                Some(url) => format!("[`{}`]({url})", branch.branch),
                None => format!("`{}`", branch.branch),
            };
            body.push_str(&format!(
                "- The squad's work is on branch {place}, at commit {}.\n",
                branch.head.short()
            ));
            if branch.wip_commit {
                body.push_str(
                    "- What the agents had not committed yet is in a work-in-progress commit \
                     (`WIP …`) on that branch; its tests were not run.\n",
                );
            }
            if branch.beside_pr {
                body.push_str(
                    "- The pull request's own branch was left as it was reviewed; the branch \
                     above holds the work done after that.\n",
                );
            }
        }
        SavedWork::Nothing => body.push_str("- The squad had not changed anything yet.\n"),
        SavedWork::Kept(failure) => body.push_str(&format!(
            "- The squad's work could not be pushed ({failure}); it stays in the squad's \
             worktree on the Squadron host.\n"
        )),
    }
    if let Some(url) = pr_url {
        body.push_str(&format!("- Pull request: {url}\n"));
    }
    body.push_str("\n**What is left**\n");
    let left = if pr_url.is_some() {
        "- Resolve the reason above, then finish the pull request: its reviews, its checks \
         and the merge."
    } else {
        "- Resolve the reason above, then finish the change, open a pull request and get it \
         reviewed."
    };
    body.push_str(left);
    body.push_str("\n- Or, once the reason is resolved, start the issue again with Squadron.\n");
    body
}

/// The squad as its thread shows it, with the view's title when the issue was not read.
fn subject_of(ctx: &SquadCtx, view: &SquadView) -> Subject {
    let mut subject = Subject::of(ctx);
    if subject.title.is_empty() {
        subject.title = view.title.clone();
    }
    subject
}
