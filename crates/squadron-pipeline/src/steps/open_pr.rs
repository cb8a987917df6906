//! `OpenPr`: push the branch, open the PR (or find it open), link it on the issue and move the
//! issue to in review.

use squadron_core::ports::{PullRequestRequest, SquadChange, SquadUpdate, WorkflowTarget};
use squadron_core::scheduler::Event;
use squadron_core::{PrNumber, StepFailure};

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
    let key = format!("{}/open-pr", ctx.squad);
    let code_host = &shared.services.code_host;
    let result = effects::once(shared, &key, Some(&ctx.squad), "open-pr", |_| async {
        code_host
            .find_or_create_pull_request(&target.repo, &request)
            .await
            .map(|pr| format!("{} {}", pr.number.0, pr.url))
            .map_err(|error| StepFailure::port(format!("open the PR of {}", issue.key), &error))
    })
    .await?;
    let (number, url) = result
        .split_once(' ')
        .and_then(|(number, url)| Some((PrNumber(number.parse().ok()?), url.to_owned())))
        .ok_or_else(|| {
            StepFailure::internal(format!(
                "read the journaled PR of {}: `{result}`",
                issue.key
            ))
        })?;
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
    let link_key = format!("{}/link-pr", ctx.squad);
    let tracker = &shared.services.tracker;
    let title = request.title.clone();
    effects::once(shared, &link_key, Some(&ctx.squad), "link-pr", |_| async {
        tracker
            .link_pull_request(&issue.key, &url, &title)
            .await
            .map(|outcome| format!("{outcome:?}"))
            .map_err(|error| StepFailure::port(format!("link the PR on {}", issue.key), &error))
    })
    .await?;
    move_issue(shared, ctx, WorkflowTarget::InReview, "in-review").await?;
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
