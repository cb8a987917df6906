//! `Merge`: the lane holder's PR merged with its head as a guard (or found merged), the issue
//! moved to done, once its head merged with the current base passed the tests; a refusal is
//! read again to decide what it means.

use squadron_core::effect::{EffectKey, EffectResult, OpenedPr, TimeToMerge};
use squadron_core::event_payload::EventPayload;
use squadron_core::gate::{CommitSha, PullRequestState, ReviewState};
use squadron_core::merge_queue::{MergeLane, RebaseReason};
use squadron_core::ports::{JournalBegin, MergeOutcome, SquadUpdate, WorkflowTarget};
use squadron_core::scheduler::{Event, MergeRejection};
use squadron_core::{FailureKind, StepFailure};
use squadron_core::{PrNumber, SquadId, SquadKind};

use super::lanes::{self, LaneTaken};
use super::merge_trial;
use super::publish::move_issue;
use super::stop::{StepResult, Stop};
use crate::effects;
use crate::log_events::MERGED;
use crate::metrics;
use crate::notify::{self, Subject};
use crate::outcome::{Outcome, ViewUpdate};
use crate::shared::Shared;
use crate::squad::SquadCtx;

/// Merges the lane holder's PR guarded by its head, or finds it merged already; a refusal
/// is reported as [`Event::MergeRejected`] with what it means. The scheduler frees the lane
/// once the squad leaves `merging`.
///
/// Among daemons sharing the store, the merge also holds the store's lane of its base
/// ([`lanes::wait_for`]): it waits while another daemon merges there, and keeps the lane
/// through the base test that follows a merge (`TestBase` releases it), else lets it go.
pub(crate) async fn merge(shared: &Shared, ctx: &mut SquadCtx) -> StepResult {
    let target = ctx.target(shared).await?;
    let lane = MergeLane {
        repo: target.repo.clone(),
        base: target.base_branch.clone(),
    };
    if lanes::wait_for(shared, ctx, &lane).await? == LaneTaken::Stopped {
        // Another daemon's merge stopped the line while this one waited: back through the
        // gate, behind the stop, onto the base that merge made.
        lanes::release(shared, &lane).await;
        return Ok(vec![Outcome::Event(Event::MergeRejected {
            squad: ctx.squad.clone(),
            rejection: MergeRejection::NeedsRebase(RebaseReason::Behind),
        })]);
    }
    let merged = merge_in_lane(shared, ctx, &lane).await;
    let base_test_follows = shared.settings.scheduler.test_base_after_merge
        && matches!(&merged, Ok(outcomes) if outcomes
            .iter()
            .any(|outcome| matches!(outcome, Outcome::Event(Event::Merged { .. }))));
    if !base_test_follows {
        lanes::release(shared, &lane).await;
    }
    merged
}

async fn merge_in_lane(shared: &Shared, ctx: &mut SquadCtx, lane: &MergeLane) -> StepResult {
    let workspace = ctx.ensure_workspace(shared).await?;
    let pr = ctx.pr.ok_or_else(|| {
        StepFailure::internal(format!("merge {}: the squad has no PR", ctx.issue_key))
    })?;
    let target = ctx.target(shared).await?;
    let code_host = &shared.services.code_host;
    let store = &shared.services.store;
    let root = workspace.worktree.root();
    let head = shared
        .services
        .workspaces
        .head(root)
        .await
        .map_err(|error| {
            StepFailure::port(format!("read the head of {}", ctx.issue_key), &error)
        })?;
    let key = EffectKey::Merge {
        squad: ctx.squad.clone(),
    };
    let now = shared.services.clock.now();
    let begin = store
        .journal_begin(&key, now)
        .await
        .map_err(|error| StepFailure::port(format!("journal `{key}`"), &error))?;
    let snapshot = code_host
        .read_snapshot(&target.repo, pr)
        .await
        .map_err(|error| StepFailure::port(format!("read PR #{}", pr.0), &error))?;
    let approved_by: Vec<String> = snapshot
        .reviews
        .iter()
        .filter(|review| {
            review.state == ReviewState::Approved && review.commit_id == snapshot.head_sha
        })
        .map(|review| review.author.clone())
        .collect();
    let sha = match begin {
        JournalBegin::AlreadyDone(result) => effects::read_back(&key, result)?,
        JournalBegin::Begun { .. } | JournalBegin::InProgress(_)
            if snapshot.state == PullRequestState::Merged =>
        {
            // Merged before the result was recorded: reconcile instead of merging again,
            // with the commit the merge made (a squash commit is not the head).
            let sha = snapshot.merge_commit.clone().ok_or_else(|| {
                StepFailure::new(
                    FailureKind::Transient,
                    format!("read the merge of PR #{}", pr.0),
                )
                .because("the code host reports it merged but names no merge commit yet")
            })?;
            complete(shared, &key, &sha).await?;
            sha
        }
        JournalBegin::Begun { .. } | JournalBegin::InProgress(_) => {
            let trial =
                merge_trial::test_merge_result(shared, ctx, &workspace, &target.base_branch, &head)
                    .await;
            let rejection = match trial {
                Ok(rejection) => rejection,
                Err(failure) => {
                    let _ = store
                        .journal_fail(&key, &failure.to_string(), shared.services.clock.now())
                        .await;
                    return Err(Stop::Failed(failure));
                }
            };
            if let Some(rejection) = rejection {
                let _ = store
                    .journal_fail(
                        &key,
                        "not merged: the merge with the base must be fixed first",
                        shared.services.clock.now(),
                    )
                    .await;
                tracing::info!(
                    run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key, pr = pr.0,
                    ?rejection, "the merge with the current base was not merged"
                );
                return Ok(vec![Outcome::Event(Event::MergeRejected {
                    squad: ctx.squad.clone(),
                    rejection,
                })]);
            }
            // A daemon paused past its lease may have lost the lane to another: it does not
            // merge then.
            if let Err(lost) = lanes::still_held(shared, lane).await {
                let _ = store
                    .journal_fail(&key, &lost.to_string(), shared.services.clock.now())
                    .await;
                return Err(Stop::Failed(lost));
            }
            let outcome = code_host
                .merge(&target.repo, pr, &head, shared.settings.merge_method)
                .await;
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(error) => {
                    let _ = store
                        .journal_fail(&key, &error.to_string(), shared.services.clock.now())
                        .await;
                    return Err(Stop::Failed(StepFailure::port(
                        format!("merge PR #{}", pr.0),
                        &error,
                    )));
                }
            };
            match outcome {
                MergeOutcome::Merged { sha } => {
                    complete(shared, &key, &sha).await?;
                    sha
                }
                MergeOutcome::NotMergeable { message } | MergeOutcome::HeadChanged { message } => {
                    let _ = store
                        .journal_fail(&key, &message, shared.services.clock.now())
                        .await;
                    let rejection = reread_rejection(shared, ctx, pr, &head, &message).await?;
                    tracing::info!(
                        run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key, pr = pr.0,
                        %message, ?rejection, "the code host did not merge; re-decided"
                    );
                    return Ok(vec![Outcome::Event(Event::MergeRejected {
                        squad: ctx.squad.clone(),
                        rejection,
                    })]);
                }
            }
        }
    };
    tracing::info!(event = MERGED, sha = %sha, approved_by = ?approved_by, "merged");
    note_merge(shared, ctx, &sha, &approved_by).await?;
    move_issue(shared, ctx, WorkflowTarget::Done).await?;
    let mut outcomes = vec![Outcome::View(
        ctx.squad.clone(),
        ViewUpdate::Merged {
            sha: sha.clone(),
            approved_by,
        },
    )];
    if ctx.kind == SquadKind::BugFix
        && let Some(elapsed) = record_time_to_merge(shared, ctx).await
    {
        outcomes.push(Outcome::View(
            ctx.squad.clone(),
            ViewUpdate::TimeToMerge(elapsed),
        ));
    }
    let url = match &ctx.pr_url {
        Some(url) => url.clone(),
        None => journaled_pr_url(shared, &ctx.squad)
            .await
            .unwrap_or_default(),
    };
    if ctx.kind == SquadKind::Revert {
        super::revert::after_merge(shared, ctx, pr, &url, &sha).await?;
    }
    notify::post(
        shared,
        &Subject::of(ctx),
        "merged",
        SquadUpdate::Merged {
            number: pr,
            url,
            sha: sha.to_string(),
        },
    );
    outcomes.push(Outcome::Event(Event::Merged {
        squad: ctx.squad.clone(),
        sha,
    }));
    Ok(outcomes)
}

/// Notes the merge and who approved it in the squad's event log, once: a restart that finds
/// the merge done finds it noted, unless it stopped in between. The squad is shown from
/// this note once the runtime has let it go.
async fn note_merge(
    shared: &Shared,
    ctx: &SquadCtx,
    sha: &CommitSha,
    approved_by: &[String],
) -> Result<(), StepFailure> {
    let store = &shared.services.store;
    let events = store.events(&ctx.squad).await.map_err(|error| {
        StepFailure::port(format!("read the event log of {}", ctx.squad), &error)
    })?;
    if events
        .iter()
        .any(|event| matches!(event.note, Some(EventPayload::Merged { .. })))
    {
        return Ok(());
    }
    let note = EventPayload::Merged {
        sha: sha.clone(),
        approved_by: approved_by.to_vec(),
    };
    store
        .record_event(&ctx.squad, &note, shared.services.clock.now())
        .await
        .map(drop)
        .map_err(|error| StepFailure::port(format!("note the merge of {}", ctx.squad), &error))
}

/// Records a bug fix's time from its trigger (the run's creation) to its merge, once; a
/// restart that finds the merge recorded finds this recorded too.
async fn record_time_to_merge(shared: &Shared, ctx: &SquadCtx) -> Option<std::time::Duration> {
    let store = &shared.services.store;
    let triggered = match store.run(&ctx.run).await {
        Ok(record) => record.run.created_at,
        Err(error) => {
            tracing::warn!(squad = %ctx.squad, %error, "could not read the run to time the fix");
            return None;
        }
    };
    let key = EffectKey::TimeToMerge {
        squad: ctx.squad.clone(),
    };
    let (payload, elapsed) = metrics::time_to_merge_payload(triggered, shared.services.clock.now());
    let recorded = effects::once(shared, &key, |_| async {
        store
            .record_event(&ctx.squad, &payload, shared.services.clock.now())
            .await
            .map(|_| TimeToMerge(elapsed))
            .map_err(|error| {
                StepFailure::port(format!("record the time to merge of {}", ctx.squad), &error)
            })
    })
    .await;
    match recorded {
        // After a restart the journal holds the time measured at the merge.
        Ok(TimeToMerge(elapsed)) => {
            tracing::info!(run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key, seconds = elapsed.as_secs(), "fix merged: time from trigger to merge recorded");
            Some(elapsed)
        }
        Err(error) => {
            tracing::warn!(squad = %ctx.squad, %error, "could not record the time to merge");
            None
        }
    }
}

/// The PR's page as the open-PR step journaled it, after a restart.
async fn journaled_pr_url(shared: &Shared, squad: &SquadId) -> Option<String> {
    let key = EffectKey::OpenPr {
        squad: squad.clone(),
    };
    let opened: OpenedPr = effects::recorded(shared, &key).await.ok().flatten()?;
    Some(opened.url)
}

async fn complete(shared: &Shared, key: &EffectKey, sha: &CommitSha) -> Result<(), StepFailure> {
    let result = EffectResult::Commit(sha.clone());
    shared
        .services
        .store
        .journal_complete(key, &result, shared.services.clock.now())
        .await
        .map_err(|error| StepFailure::port(format!("journal `{key}` as done"), &error))
}

/// After a 405 or 409, reads the PR again and decides what the refusal means.
async fn reread_rejection(
    shared: &Shared,
    ctx: &SquadCtx,
    pr: PrNumber,
    head: &CommitSha,
    message: &str,
) -> Result<MergeRejection, StepFailure> {
    let target = ctx
        .target
        .as_ref()
        .ok_or_else(|| StepFailure::internal(format!("merge {}: no repository", ctx.issue_key)))?;
    let snapshot = shared
        .services
        .code_host
        .read_snapshot(&target.repo, pr)
        .await
        .map_err(|error| StepFailure::port(format!("read PR #{}", pr.0), &error))?;
    if &snapshot.head_sha != head {
        return Ok(MergeRejection::HeadMoved);
    }
    if snapshot.mergeable == Some(false) {
        return Ok(MergeRejection::NeedsRebase(RebaseReason::Conflicts));
    }
    let root = ctx.prepared()?.path.clone();
    let contains = shared
        .services
        .workspaces
        .contains_base_tip(&root, &target.base_branch)
        .await
        .map_err(|error| {
            StepFailure::port(format!("compare with {}", target.base_branch), &error)
        })?;
    if !contains {
        return Ok(MergeRejection::NeedsRebase(RebaseReason::Behind));
    }
    Ok(MergeRejection::Refused(message.to_owned()))
}
