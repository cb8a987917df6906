//! `squadron revert <ENG-123 | PR URL> [--now]`: takes a squad's merge back.
//!
//! Without `--now` the revert is reviewed like any change: it is recorded as a revert squad
//! (the pipeline's revert intake) whose change is git's revert of the merge commit, on a
//! branch of its own; both reviewers review its PR and it merges through the gate, through a
//! merge lane stop the line stopped too (it is the way out). When no daemon runs the store's
//! squads the command runs that squad here, with live progress, to its end; otherwise the
//! daemon takes it up at its next tick (`/squad revert` in Slack records it the same way,
//! [`DaemonReverts`]). Once the revert merged, the pipeline reopens the Linear issue with a
//! comment linking it, records the change failure in the reverted squad's event log (where
//! `squadron metrics` counts it), tells its Slack thread, and resumes the stopped lane when
//! the base's tests pass again.
//!
//! With `--now` (an emergency) the revert of the merge commit goes on a fresh branch from the
//! base into a PR that merges at once, here, through the adapters directly: the issue is
//! reopened with the comment, the squad's Slack thread (if it has one) is told, the change
//! failure is recorded, and a lane stopped naming this merge resumes (the person has acted).
//!
//! Every step can be run again: the branch keeps an existing revert, the PR is found rather
//! than opened twice, the comment carries a marker, the failure is recorded once, and a
//! revert squad of the same merge is found rather than recorded twice.

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
use squadron_core::{IssueKey, Phase, Role, SquadId, SquadKind};
use squadron_git::CommitAuthor;
use squadron_pipeline::{RevertAdmission, RevertRequest, admit_revert};
use squadron_store::SqlStore;

use crate::cli::{GlobalArgs, RevertArgs};
use crate::commands::run::{Here, follow_here, pipeline_error};
use crate::context::{Context, store_error};
use crate::error::{CliError, ErrorClass};
use crate::format::now;
use crate::progress::{Look, summary_table};
use crate::runtime_lease::held_by_whom;
use crate::wiring::{code_host, git_workspaces, linear_client, notifier};
use squadron_core::ports::{CodeHost as _, IssueTracker, Workspaces as _};

/// Who a revert asked for on the command line is recorded as having been asked by.
const REQUESTED_BY: &str = "cli";

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
    let outcome = match prepare(&store, &args.target).await {
        Ok(Prepared::Done(report)) => Ok((report, ExitCode::SUCCESS)),
        Ok(Prepared::Merged(merged)) if args.now => revert_now(&context, &store, args, &merged)
            .await
            .map(|report| (report, ExitCode::SUCCESS)),
        Ok(Prepared::Merged(merged)) => revert_reviewed(&context, &store, args, &merged).await,
        Err(error) => Err(error),
    };
    store.close().await;
    let (report, code) = outcome?;
    crate::output::println(&report)?;
    Ok(code)
}

/// A merged squad to revert, with its merge commit and its PR's page.
struct MergedSquad {
    record: SquadRecord,
    merge_sha: CommitSha,
    pr_url: Option<String>,
}

/// What `squadron revert` finds before it does anything.
enum Prepared {
    /// Nothing to do: the report says why.
    Done(String),
    /// A merged change to revert.
    Merged(Box<MergedSquad>),
}

/// Finds the merged squad `target` names, its merge commit and PR, unless its merge was
/// reverted already.
async fn prepare(store: &SqlStore, target: &str) -> Result<Prepared, CliError> {
    let record = find_merged_squad(store, target).await?;
    let squad = &record.squad;
    let events = store.events(&squad.id).await.map_err(store_error)?;
    if let Some(url) = events.iter().find_map(|event| match &event.note {
        Some(EventPayload::Reverted { url, .. }) => Some(url.clone()),
        Some(EventPayload::RevertedOnBase { revert_sha, .. }) => {
            Some(format!("commit {revert_sha} on the base"))
        }
        _ => None,
    }) {
        return Ok(Prepared::Done(format!(
            "{} was reverted already: {url}",
            squad.issue
        )));
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
    Ok(Prepared::Merged(Box::new(MergedSquad {
        record,
        merge_sha,
        pr_url: merged_pr,
    })))
}

/// Records the revert of `merged` as a revert squad for review, once.
async fn record_revert(
    store: &SqlStore,
    merged: &MergedSquad,
    requested_by: &str,
    reason: Option<String>,
) -> Result<RevertAdmission, CliError> {
    let request = RevertRequest {
        reverted: merged.record.clone(),
        merge_sha: merged.merge_sha.clone(),
        pr_url: merged.pr_url.clone(),
        reason,
        requested_by: requested_by.to_owned(),
    };
    admit_revert(store, &request, now())
        .await
        .map_err(pipeline_error)
}

/// The revert through review: recorded as a revert squad, then run here to its end when no
/// daemon runs the store's squads, or left to the daemon that does.
async fn revert_reviewed(
    context: &Context,
    store: &SqlStore,
    args: &RevertArgs,
    merged: &MergedSquad,
) -> Result<(String, ExitCode), CliError> {
    let issue = merged.record.squad.issue.clone();
    let admission = record_revert(store, merged, REQUESTED_BY, args.reason.clone()).await?;
    let (RevertAdmission::Recorded { run, .. } | RevertAdmission::Pending { run, .. }) = &admission;
    let run = run.clone();
    let lane = lane_of(context, &issue)?;
    let named = lane_named(store, &lane, &merged.record.squad.id).await?;
    let elsewhere = |holder: &str| {
        let pending = match &admission {
            RevertAdmission::Recorded { .. } => "recorded",
            RevertAdmission::Pending { .. } => "recorded already",
        };
        let lane_note = if named {
            format!(
                "; the merge lane {lane} stays stopped until the revert merges and the tests \
                 pass on its base"
            )
        } else {
            String::new()
        };
        format!(
            "{issue} revert {pending} for review: {holder}, which takes it up (both reviewers \
             review it before it merges; `squadron status` follows it), and {issue} is reopened \
             once it merges{lane_note}"
        )
    };
    let look = Look::of_stdout();
    let interrupted = format!(
        "interrupted: the revert's progress is recorded; run `squadron revert {issue}` again to \
         resume it"
    );
    let started = run.clone();
    let here = follow_here(context, look, &interrupted, |_| async move { Ok(started) }).await?;
    let squad = match here {
        Here::HeldBy(held) => {
            return Ok((elsewhere(&held_by_whom(&held)), ExitCode::SUCCESS));
        }
        Here::Followed(followed) => followed.squads.into_iter().next().ok_or_else(|| {
            CliError::internal(format!("the revert run {run} finished without a squad"))
        })?,
    };
    crate::output::println(&summary_table(std::slice::from_ref(&squad), look.width()).to_string())?;
    if squad.phase != Phase::Merged {
        return Ok((
            format!("{issue} not reverted: its revert squad is {}", squad.phase),
            ExitCode::FAILURE,
        ));
    }
    let resumed = named && !lane_named(store, &lane, &merged.record.squad.id).await?;
    Ok((
        format!(
            "{issue} reverted: {} reviewed and merged as {}; {issue} reopened{}",
            squad.pr_url.as_deref().unwrap_or("the revert PR"),
            squad
                .merged_sha
                .as_ref()
                .map_or_else(|| "its merge commit".to_owned(), ToString::to_string),
            if resumed {
                format!("; the merge lane {lane} resumes")
            } else {
                String::new()
            }
        ),
        ExitCode::SUCCESS,
    ))
}

/// The merge lane of `issue`'s team.
fn lane_of(context: &Context, issue: &IssueKey) -> Result<MergeLane, CliError> {
    let team = issue.as_str().rsplit_once('-').map_or("", |(team, _)| team);
    let repository = context.config.repositories.get(team).ok_or_else(|| {
        CliError::config(format!(
            "failed to find the repository of team {team}: none is configured"
        ))
        .with_hint(format!("add [repositories.{team}] to the configuration"))
    })?;
    Ok(MergeLane {
        repo: RepoRef::new(repository.github.owner(), repository.github.name()),
        base: repository.base.clone(),
    })
}

/// Whether stop the line stopped `lane` naming `squad`'s merge (the failing one or the one
/// before it).
async fn lane_named(store: &SqlStore, lane: &MergeLane, squad: &SquadId) -> Result<bool, CliError> {
    let stops = store.lane_stops().await.map_err(store_error)?;
    Ok(stops.iter().any(|stopped| {
        stopped.stop.lane == *lane
            && (stopped.stop.failing.squad == *squad
                || stopped
                    .stop
                    .previous
                    .as_ref()
                    .is_some_and(|previous| previous.squad == *squad))
    }))
}

/// The emergency revert: a PR from the base with the revert of the merge commit, merged at
/// once, here.
async fn revert_now(
    context: &Context,
    store: &SqlStore,
    args: &RevertArgs,
    merged: &MergedSquad,
) -> Result<String, CliError> {
    let squad = &merged.record.squad;
    let merge_sha = merged.merge_sha.clone();
    let merged_pr = merged.pr_url.clone();
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
                     Merged at once with `squadron revert --now`, without review."
                ),
            },
        )
        .await
        .map_err(|error| port_error("open the revert PR", &error))?;

    let sha = match host
        .merge(&repo, pr.number, &head, config.github.merge_method)
        .await
        .map_err(|error| port_error("merge the revert PR", &error))?
    {
        MergeOutcome::Merged { sha } => sha,
        MergeOutcome::NotMergeable { message } | MergeOutcome::HeadChanged { message } => {
            return Err(CliError::transient(format!(
                "failed to merge the revert PR {}: GitHub said: {message}",
                pr.url
            ))
            .with_hint("run the same `squadron revert --now` again once GitHub can merge it"));
        }
    };

    // The issue is open again and says why.
    // Through the port, whose errors say what kind of failure it was.
    IssueTracker::move_issue(&tracker, &squad.issue, WorkflowTarget::Reopened)
        .await
        .map_err(|error| port_error(&format!("reopen {}", squad.issue), &error))?;
    IssueTracker::comment_once(
        &tracker,
        &squad.issue,
        &format!("squadron:revert:{merge_sha}"),
        &format!(
            "Squadron reverted this issue's change: the revert {} is merged as `{sha}`. The \
             issue is open again.{reason}",
            pr.url
        ),
    )
    .await
    .map_err(|error| port_error(&format!("comment on {}", squad.issue), &error))?;
    let update = SquadUpdate::Reverted {
        number: pr.number,
        url: pr.url.clone(),
        merged_sha: Some(sha.to_string()),
        reason: args.reason.clone(),
    };
    let untold = tell_the_thread(context, store, &squad.id, &update).await;

    // Recorded last: a revert interrupted before this point is carried out again in full.
    let payload = EventPayload::Reverted {
        pr: pr.number,
        url: pr.url.clone(),
        reverted_sha: merge_sha,
        now: true,
    };
    store
        .record_event(&squad.id, &payload, now())
        .await
        .map_err(store_error)?;

    let lane = MergeLane {
        repo: repo.clone(),
        base: repository.base.clone(),
    };
    let lane_note = if lane_named(store, &lane, &squad.id).await? {
        store.resume_lane(&lane).await.map_err(store_error)?;
        format!("; the merge lane {lane} resumes")
    } else {
        String::new()
    };
    Ok(format!(
        "{} reverted: {} merged as {sha}; {} reopened{lane_note}{untold}",
        squad.issue, pr.url, squad.issue
    ))
}

/// The merged squad `target` names: an issue identifier (its newest squad that is no revert)
/// or its PR's URL.
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
        let newest = store.find_squad(target).await.map_err(store_error)?;
        if newest.squad.kind == SquadKind::Revert && newest.squad.id.as_str() != target {
            // The issue's revert squads come after its change: the change is what is meant.
            let mut changes: Vec<SquadRecord> = store
                .squad_overviews(None)
                .await
                .map_err(store_error)?
                .into_iter()
                .map(|overview| overview.record)
                .filter(|record| {
                    record.squad.issue == newest.squad.issue
                        && record.squad.kind != SquadKind::Revert
                })
                .collect();
            changes.sort_by_key(|record| record.created_at);
            changes.pop().unwrap_or(newest)
        } else {
            newest
        }
    };
    if record.squad.kind == SquadKind::Revert {
        return Err(CliError::user(format!(
            "failed to revert {}: {} is a revert, not a change of its own",
            record.squad.issue, record.squad.id
        ))
        .with_hint("to bring the change back, start the issue again"));
    }
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

/// `/squad revert` carried out by the daemon: the revert recorded for review as `squadron
/// revert` records it (Slack offers no `--now`), with who asked; the daemon's runtime takes
/// the revert squad up at its next tick.
pub(crate) struct DaemonReverts {
    pub(crate) store: Arc<SqlStore>,
}

#[async_trait]
impl Reverts for DaemonReverts {
    async fn revert(&self, issue: &IssueKey, requested_by: &str) -> Result<String, ControlError> {
        let reason = Some(format!(
            "asked for with `/squad revert` in Slack by {requested_by}"
        ));
        let recorded = async {
            let merged = match prepare(&self.store, issue.as_str()).await? {
                Prepared::Done(report) => return Ok(report),
                Prepared::Merged(merged) => merged,
            };
            let admission = record_revert(&self.store, &merged, requested_by, reason).await?;
            Ok(match admission {
                RevertAdmission::Recorded { squad, .. } => format!(
                    "{issue} revert queued as squad {squad}: both reviewers review it before it \
                     merges, then {issue} is reopened"
                ),
                RevertAdmission::Pending { squad, .. } => {
                    format!("{issue} is being reverted already, by squad {squad}")
                }
            })
        };
        recorded.await.map_err(|error: CliError| {
            let kind = match error.class() {
                ErrorClass::User => ControlErrorKind::Invalid,
                ErrorClass::Transient | ErrorClass::Config => ControlErrorKind::Unavailable,
                ErrorClass::Internal | ErrorClass::OutputClosed => ControlErrorKind::Internal,
            };
            ControlError::new(kind, error.to_string())
        })
    }
}
