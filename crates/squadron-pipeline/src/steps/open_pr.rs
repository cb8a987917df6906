//! `OpenPr`: push the branch, open the PR (or find it open), link it on the issue and move the
//! issue to in review.

use squadron_core::StepFailure;
use squadron_core::effect::{EffectKey, OpenedPr};
use squadron_core::ports::{
    PullRequestRequest, SquadChange, SquadUpdate, SyncOutcome, WorkflowTarget,
};
use squadron_core::scheduler::Event;

use super::pr_text::{PrFacts, pr_text};
use super::publish::{move_issue, push};
use super::stop::StepResult;
use crate::effects;
use crate::log_events;
use crate::notify::{self, Subject};
use crate::outcome::{Outcome, ViewUpdate};
use crate::shared::Shared;
use crate::squad::SquadCtx;

pub(crate) async fn open_pr(shared: &Shared, ctx: &mut SquadCtx) -> StepResult {
    ctx.ensure_workspace(shared).await?;
    ctx.ensure_revert(shared).await?;
    push(shared, ctx).await?;
    let target = ctx.target(shared).await?;
    let issue = ctx.issue(shared).await?.clone();
    let text = pr_text(&PrFacts::of(ctx, None, None));
    let request = PullRequestRequest {
        head_branch: issue.branch_name.clone(),
        base_branch: target.base_branch.clone(),
        title: text.title,
        body: text.body,
    };
    let key = EffectKey::OpenPr {
        squad: ctx.squad.clone(),
    };
    let code_host = &shared.services.code_host;
    let OpenedPr { number, url } = effects::once(shared, &key, |_| async {
        code_host
            .find_or_create_pull_request(&target.repo, &request)
            .await
            .map(|pr| OpenedPr {
                number: pr.number,
                url: pr.url,
            })
            .map_err(|error| StepFailure::port(format!("open the PR of {}", issue.key), &error))
    })
    .await?;
    let now = shared.services.clock.now();
    if let Err(error) = shared
        .services
        .store
        .change_squad(&ctx.squad, &SquadChange::Pr(number), now)
        .await
    {
        tracing::warn!(squad = %ctx.squad, %error, "could not record the PR");
    }
    ctx.pr = Some(number);
    ctx.pr_url = Some(url.clone());
    log_events::record_pr(number);
    tracing::info!(run = %ctx.run, squad = %ctx.squad, issue = %issue.key, pr = number.0, %url, "PR open");
    let link_key = EffectKey::LinkPr {
        squad: ctx.squad.clone(),
    };
    let tracker = &shared.services.tracker;
    let title = request.title.clone();
    let _: SyncOutcome = effects::once(shared, &link_key, |_| async {
        tracker
            .link_pull_request(&issue.key, &url, &title)
            .await
            .map_err(|error| StepFailure::port(format!("link the PR on {}", issue.key), &error))
    })
    .await?;
    move_issue(shared, ctx, WorkflowTarget::InReview).await?;
    notify::post(
        shared,
        &Subject::of(ctx),
        "pr-opened",
        SquadUpdate::PullRequestOpened {
            number,
            url: url.clone(),
            title,
        },
    );
    Ok(vec![
        Outcome::View(ctx.squad.clone(), ViewUpdate::PrUrl(url)),
        Outcome::Event(Event::PrOpened {
            squad: ctx.squad.clone(),
            pr: number,
        }),
    ])
}
