//! `squadron revert <ENG-123 | PR URL> [--now]`: takes a squad's merge back. The revert of
//! its merge commit goes on a fresh branch from the base and into a PR; with `--now` that PR
//! merges at once (an emergency), without it the PR waits for review like any change. The
//! Linear issue is reopened with a comment linking the revert, the squad's Slack thread (if
//! it has one) is told, and the change failure is recorded in the squad's event log, where
//! `squadron metrics` counts it. `/squad revert` in Slack runs the same revert in the daemon
//! ([`DaemonReverts`]).
//!
//! When stop the line stopped the base's merge lane naming this merge, a revert merged with
//! `--now` resumes the lane: the person has acted.
//!
//! Every step can be run again: the branch keeps an existing revert, the PR is found rather
//! than opened twice, the comment carries a marker, and the failure is recorded once.

use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;

use squadron::server::{ControlError, ControlErrorKind, Reverts};
use squadron_core::effect::{EffectKey, OpenedPr};
use squadron_core::event_payload::EventPayload;
use squadron_core::gate::CommitSha;
use squadron_core::merge_queue::MergeLane;
use squadron_core::ports::{
    MergeOutcome, PortError, PortErrorKind, PullRequestRequest, SquadRecord, WorkflowTarget,
    WorktreeRequest,
};
use squadron_core::ports::{RepoRef, SquadUpdate, ThreadRef};
use squadron_core::{IssueKey, Phase, Role, SquadId};
use squadron_git::CommitAuthor;
use squadron_store::SqlStore;

use crate::cli::{GlobalArgs, RevertArgs};
use crate::context::{Context, store_error};
use crate::error::{CliError, ErrorClass};
use crate::format::now;
use crate::wiring::{code_host, git_workspaces, linear_client, notifier};
use squadron_core::ports::{CodeHost as _, IssueTracker, Workspaces as _};

/// Runs `squadron revert`.
pub async fn run(global: &GlobalArgs, args: &RevertArgs) -> Result<ExitCode, CliError> {
    let context = Context::load(global)?;
    let Some(store) = context.open_existing_store().await? else {
        return Err(CliError::user(format!(
            "failed to find `{}`: the store has no runs yet",
            args.target
        ))
        .with_hint("`squadron status` lists the squads Squadron ran"));
    };
    let outcome = revert(&context, &store, args).await;
    store.close().await;
    let report = outcome?;
    crate::output::println(&report)?;
    Ok(ExitCode::SUCCESS)
}

async fn revert(
    context: &Context,
    store: &SqlStore,
    args: &RevertArgs,
) -> Result<String, CliError> {
    let record = find_merged_squad(store, &args.target).await?;
    let squad = &record.squad;
    let events = store.events(&squad.id).await.map_err(store_error)?;
    if let Some(url) = events.iter().find_map(|event| match &event.note {
        Some(EventPayload::Reverted { url, .. }) => Some(url),
        _ => None,
    }) {
        return Ok(format!("{} was reverted already: {url}", squad.issue));
    }
    let merge_sha: CommitSha = store
        .effect_result(&EffectKey::Merge {
            squad: squad.id.clone(),
        })
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            CliError::internal(format!(
                "failed to find the merge commit of {}: the store recorded the merge without it",
                squad.issue
            ))
        })?;
    let merged_pr = store
        .effect_result::<OpenedPr>(&EffectKey::OpenPr {
            squad: squad.id.clone(),
        })
        .await
        .map_err(store_error)?
        .map(|pr| pr.url);

    let config = &context.config;
    let team = squad
        .issue
        .as_str()
        .rsplit_once('-')
        .map_or("", |(team, _)| team);
    let repository = config.repositories.get(team).ok_or_else(|| {
        CliError::config(format!(
            "failed to find the repository of team {team}: none is configured"
        ))
        .with_hint(format!("add [repositories.{team}] to the configuration"))
    })?;
    let repo = RepoRef::new(repository.github.owner(), repository.github.name());
    let secrets = config.resolve_secrets(&context.env);
    let workspaces = git_workspaces(config, &secrets)?;
    let host = code_host(config, &secrets)?;
    let tracker = linear_client(config, &secrets)?;

    // The revert on a fresh branch from the base's current tip.
    let branch = format!("squadron/revert-{}", squad.issue.as_str().to_lowercase());
    let prepared = workspaces
        .prepare(&WorktreeRequest {
            squad: SquadId::new(format!("revert-{}", squad.id)),
            repo: repo.clone(),
            base_branch: repository.base.clone(),
            branch: branch.clone(),
        })
        .await
        .map_err(|error| port_error("prepare the revert branch", &error))?;
    let worktree = workspaces
        .find_worktree(&prepared.path)
        .await
        .map_err(|error| {
            CliError::internal(format!("failed to open the revert worktree: {error}"))
        })?;
    workspaces
        .workspace()
        .commit_revert(
            &worktree,
            &CommitAuthor::for_role(Role::Developer),
            merge_sha.as_str(),
        )
        .await
        .map_err(|error| {
            CliError::user(format!("failed to {error}"))
                .with_hint("the revert branch and its worktree are kept; resolve it by hand")
        })?;
    let head = workspaces
        .push(&prepared.path, &branch, prepared.remote_sha.as_ref())
        .await
        .map_err(|error| port_error("push the revert branch", &error))?;

    let reason = args
        .reason
        .as_deref()
        .map(|reason| format!("\n\nWhy: {reason}"))
        .unwrap_or_default();
    let reverted = merged_pr.as_deref().map_or_else(
        || format!("commit {merge_sha}"),
        |url| format!("[{}]({url})", squad.issue),
    );
    let pr = host
        .find_or_create_pull_request(
            &repo,
            &PullRequestRequest {
                head_branch: branch.clone(),
                base_branch: repository.base.clone(),
                title: format!("Revert {}", squad.issue),
                body: format!(
                    "Reverts {reverted}: its merge commit `{merge_sha}` is taken back.{reason}\n\n\
                     {}",
                    if args.now {
                        "Merged at once with `squadron revert --now`, without review."
                    } else {
                        "Review it like any change before it merges."
                    }
                ),
            },
        )
        .await
        .map_err(|error| port_error("open the revert PR", &error))?;

    let merged = if args.now {
        match host
            .merge(&repo, pr.number, &head, config.github.merge_method)
            .await
            .map_err(|error| port_error("merge the revert PR", &error))?
        {
            MergeOutcome::Merged { sha } => Some(sha),
            MergeOutcome::NotMergeable { message } | MergeOutcome::HeadChanged { message } => {
                return Err(CliError::transient(format!(
                    "failed to merge the revert PR {}: GitHub said: {message}",
                    pr.url
                ))
                .with_hint("run the same `squadron revert --now` again once GitHub can merge it"));
            }
        }
    } else {
        None
    };

    // The issue is open again and says why.
    // Through the port, whose errors say what kind of failure it was.
    IssueTracker::move_issue(&tracker, &squad.issue, WorkflowTarget::Reopened)
        .await
        .map_err(|error| port_error(&format!("reopen {}", squad.issue), &error))?;
    let state = match &merged {
        Some(sha) => format!("merged as `{sha}`"),
        None => "open for review".to_owned(),
    };
    IssueTracker::comment_once(
        &tracker,
        &squad.issue,
        &format!("squadron:revert:{merge_sha}"),
        &format!(
            "Squadron reverted this issue's change: the revert {} is {state}. The issue is \
                 open again.{reason}",
            pr.url
        ),
    )
    .await
    .map_err(|error| port_error(&format!("comment on {}", squad.issue), &error))?;
    let update = SquadUpdate::Reverted {
        number: pr.number,
        url: pr.url.clone(),
        merged_sha: merged.as_ref().map(ToString::to_string),
        reason: args.reason.clone(),
    };
    let untold = tell_the_thread(context, store, &squad.id, &update).await;

    // Recorded last: a revert interrupted before this point is carried out again in full.
    let payload = EventPayload::Reverted {
        pr: pr.number,
        url: pr.url.clone(),
        reverted_sha: merge_sha,
        now: args.now,
    };
    store
        .record_event(&squad.id, &payload, now())
        .await
        .map_err(store_error)?;

    let lane = MergeLane {
        repo: repo.clone(),
        base: repository.base.clone(),
    };
    let lane_note = lane_after_revert(store, &lane, &squad.id, merged.is_some()).await?;
    Ok(match merged {
        Some(sha) => format!(
            "{} reverted: {} merged as {sha}; {} reopened{lane_note}",
            squad.issue, pr.url, squad.issue
        ),
        None => format!(
            "{} revert opened: {} (review and merge it); {} reopened{lane_note}",
            squad.issue, pr.url, squad.issue
        ),
    } + &untold)
}

/// What the revert means for the base's merge lane when stop the line stopped it naming
/// this squad's merge: a merged revert is the person acting, so the lane resumes (the next
/// merge's base test checks the base again); an open one leaves it stopped until then.
async fn lane_after_revert(
    store: &SqlStore,
    lane: &MergeLane,
    squad: &SquadId,
    merged: bool,
) -> Result<String, CliError> {
    let stops = store.lane_stops().await.map_err(store_error)?;
    let named = stops.iter().any(|stopped| {
        stopped.stop.lane == *lane
            && (stopped.stop.failing.squad == *squad
                || stopped
                    .stop
                    .previous
                    .as_ref()
                    .is_some_and(|previous| previous.squad == *squad))
    });
    if !named {
        return Ok(String::new());
    }
    if !merged {
        return Ok(format!(
            "; the merge lane {lane} stays stopped until the revert merges (then `squadron \
             resume-lane {} {}`)",
            lane.repo, lane.base
        ));
    }
    store.resume_lane(lane).await.map_err(store_error)?;
    Ok(format!("; the merge lane {lane} resumes"))
}

/// The merged squad `target` names: an issue identifier (its newest squad) or its PR's URL.
async fn find_merged_squad(store: &SqlStore, target: &str) -> Result<SquadRecord, CliError> {
    let target = target.trim();
    let record = if target.contains("/pull/") {
        let mut found = None;
        for overview in store.squad_overviews(None).await.map_err(store_error)? {
            let id = &overview.record.squad.id;
            let opened: Option<OpenedPr> = store
                .effect_result(&EffectKey::OpenPr { squad: id.clone() })
                .await
                .map_err(store_error)?;
            if opened.map(|pr| pr.url).as_deref() == Some(target.trim_end_matches('/')) {
                found = Some(overview.record);
                break;
            }
        }
        found.ok_or_else(|| {
            CliError::user(format!("failed to find a squad whose PR is {target}")).with_hint(
                "name the PR by its page as the squad opened it, or name the issue (ENG-123)",
            )
        })?
    } else {
        store.find_squad(target).await.map_err(store_error)?
    };
    if record.squad.phase != Phase::Merged {
        return Err(CliError::user(format!(
            "failed to revert {}: its squad did not merge (it is {})",
            record.squad.issue, record.squad.phase
        ))
        .with_hint("only a merged squad's change can be reverted"));
    }
    Ok(record)
}

fn port_error(action: &str, error: &PortError) -> CliError {
    let message = format!("failed to {action}: {error}");
    match error.kind() {
        PortErrorKind::Transient | PortErrorKind::Conflict => CliError::transient(message),
        PortErrorKind::Auth => CliError::config(message),
        PortErrorKind::NotFound | PortErrorKind::Invalid => CliError::user(message),
        PortErrorKind::Internal => CliError::internal(message),
    }
}

/// Says `update` in the squad's Slack thread, when it has one. Not telling it does not undo
/// the revert (the thread is a window on the work): the returned note says what failed, and
/// is empty when all went well. A revert run again after this post but before its event was
/// recorded posts it again; one message twice beats a revert nobody heard of.
async fn tell_the_thread(
    context: &Context,
    store: &SqlStore,
    squad: &SquadId,
    update: &SquadUpdate,
) -> String {
    let thread = match store
        .effect_result::<ThreadRef>(&EffectKey::ChatThread {
            squad: squad.clone(),
        })
        .await
    {
        Ok(Some(thread)) => thread,
        Ok(None) => return String::new(),
        Err(error) => return format!("; its Slack thread was not told: failed to {error}"),
    };
    let secrets = context.config.resolve_secrets(&context.env);
    let notifier = match notifier(&context.config, &secrets) {
        Ok(Some(notifier)) => notifier,
        Ok(None) => return "; its Slack thread was not told: no Slack bot token is set".to_owned(),
        Err(error) => return format!("; its Slack thread was not told: {}", error.message()),
    };
    let key = EffectKey::Notify {
        squad: squad.clone(),
        update: update.kind().to_owned(),
    };
    match notifier
        .post_update(&key.to_string(), &thread, update)
        .await
    {
        Ok(_) => String::new(),
        Err(error) => format!("; its Slack thread was not told: failed to post there: {error}"),
    }
}

/// `/squad revert` carried out by the daemon: the same revert as `squadron revert`, through
/// review (Slack offers no `--now`), with who asked written as the reason.
pub(crate) struct DaemonReverts {
    pub(crate) context: Arc<Context>,
    pub(crate) store: Arc<SqlStore>,
}

#[async_trait]
impl Reverts for DaemonReverts {
    async fn revert(&self, issue: &IssueKey, requested_by: &str) -> Result<String, ControlError> {
        let args = RevertArgs {
            target: issue.as_str().to_owned(),
            now: false,
            reason: Some(format!(
                "asked for with `/squad revert` in Slack by {requested_by}"
            )),
        };
        revert(&self.context, &self.store, &args)
            .await
            .map_err(|error| {
                let kind = match error.class() {
                    ErrorClass::User => ControlErrorKind::Invalid,
                    ErrorClass::Transient | ErrorClass::Config => ControlErrorKind::Unavailable,
                    ErrorClass::Internal | ErrorClass::OutputClosed => ControlErrorKind::Internal,
                };
                ControlError::new(kind, error.to_string())
            })
    }
}
