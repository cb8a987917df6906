//! Change failures made outside Squadron: a squad's merge reverted on its base branch by a
//! person (`git revert`, GitHub's Revert button). They are found by reading each base's
//! history for commits whose message says `This reverts commit <sha>` of a squad's merge
//! commit, and recorded once, as `EventPayload::RevertedOnBase` in the reverted squad's log
//! (dated when the revert was committed), where the delivery metrics count them like a
//! `squadron revert`.

use std::collections::BTreeMap;

use squadron_core::effect::EffectKey;
use squadron_core::event_payload::EventPayload;
use squadron_core::gate::CommitSha;
use squadron_core::ports::{RepoRef, SquadEvent};
use squadron_core::{IssueKey, Phase, SquadId, SquadKind, Timestamp};
use squadron_store::SqlStore;

use crate::context::{Context, store_error};
use crate::error::CliError;
use crate::wiring::git_workspaces;

/// A merged squad whose merge no revert is recorded for yet.
struct Candidate {
    squad: SquadId,
    issue: IssueKey,
    merge_sha: CommitSha,
    merged_at: Timestamp,
}

/// Reads the base history of every repository with merged squads not known to be reverted,
/// and records each revert of one of their merge commits found there, once. A repository
/// whose history cannot be read is skipped with a warning: the metrics are shown without it.
/// Returns how many reverts it recorded.
pub async fn record_hand_reverts(context: &Context, store: &SqlStore) -> Result<usize, CliError> {
    let config = &context.config;
    let mut lanes: BTreeMap<(RepoRef, String), Vec<Candidate>> = BTreeMap::new();
    for overview in store.squad_overviews(None).await.map_err(store_error)? {
        let squad = &overview.record.squad;
        if squad.phase != Phase::Merged || squad.kind == SquadKind::Revert {
            continue;
        }
        let Some(repository) = squad
            .issue
            .as_str()
            .rsplit_once('-')
            .and_then(|(team, _)| config.repositories.get(team))
        else {
            continue;
        };
        let events = store.events(&squad.id).await.map_err(store_error)?;
        if events
            .iter()
            .any(|event| event.note.as_ref().is_some_and(EventPayload::is_revert))
        {
            continue;
        }
        let merged_at = events
            .iter()
            .find(|event| event.kind == SquadEvent::PHASE_CHANGED && event.phase == Phase::Merged);
        let merge_sha: Option<CommitSha> = store
            .effect_result(&EffectKey::Merge {
                squad: squad.id.clone(),
            })
            .await
            .map_err(store_error)?;
        let (Some(merged_at), Some(merge_sha)) = (merged_at, merge_sha) else {
            continue;
        };
        let lane = (
            RepoRef::new(repository.github.owner(), repository.github.name()),
            repository.base.clone(),
        );
        lanes.entry(lane).or_default().push(Candidate {
            squad: squad.id.clone(),
            issue: squad.issue.clone(),
            merge_sha,
            merged_at: merged_at.at,
        });
    }
    if lanes.is_empty() {
        return Ok(0);
    }
    let secrets = config.resolve_secrets(&context.env);
    let workspaces = git_workspaces(config, &secrets)?;
    let mut recorded = 0;
    for ((repo, base), candidates) in lanes {
        let found = match workspaces.reverts_on_base(&repo, &base).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(%repo, %base, %error, "could not read the base's history for reverts made by hand");
                continue;
            }
        };
        for candidate in &candidates {
            // The earliest revert of the merge is when its change failed.
            let Some(revert) = found.iter().rev().find(|revert| {
                candidate.merge_sha.as_str().starts_with(&revert.reverted)
                    && revert.revert != candidate.merge_sha.as_str()
            }) else {
                continue;
            };
            let at = Timestamp::from_millis(revert.committed_at.saturating_mul(1000))
                .max(candidate.merged_at);
            let payload = EventPayload::RevertedOnBase {
                revert_sha: CommitSha::new(revert.revert.clone()),
                reverted_sha: candidate.merge_sha.clone(),
            };
            store
                .record_event(&candidate.squad, &payload, at)
                .await
                .map_err(store_error)?;
            tracing::info!(squad = %candidate.squad, issue = %candidate.issue, revert = %revert.revert, "found the squad's merge reverted on the base: change failure recorded");
            recorded += 1;
        }
    }
    Ok(recorded)
}
