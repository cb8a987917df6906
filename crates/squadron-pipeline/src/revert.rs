//! What a revert squad takes back, in its event log: the `revert-requested` entry its
//! admission records (the reverted squad, its merge commit and PR, why and who asked), read
//! back by every step that needs it and after a restart. A revert squad works the reverted
//! squad's issue on a branch of its own; no agent writes, its change is the revert commit.

use squadron_core::event_payload::EventPayload;
use squadron_core::gate::CommitSha;
use squadron_core::ports::SquadEvent;
use squadron_core::{IssueKey, SquadId, StepFailure};

use crate::shared::Shared;

/// The merge a revert squad takes back, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevertPlan {
    /// The squad whose merge is reverted.
    pub reverted: SquadId,
    /// Its merge commit on the base.
    pub merge_sha: CommitSha,
    /// Its PR's page, when the store has it.
    pub pr_url: Option<String>,
    /// Why, as the person who asked wrote it.
    pub reason: Option<String>,
    /// Who asked: a Slack user id, or `cli`.
    pub requested_by: String,
}

impl RevertPlan {
    /// The note a revert squad's log starts with.
    pub(crate) fn payload(&self) -> EventPayload {
        EventPayload::RevertRequested {
            reverted: self.reverted.clone(),
            merge_sha: self.merge_sha.clone(),
            pr_url: self.pr_url.clone(),
            reason: self.reason.clone(),
            requested_by: self.requested_by.clone(),
        }
    }

    /// The plan a revert squad's event log records, if it is one.
    pub fn of_events(events: &[SquadEvent]) -> Option<RevertPlan> {
        events.iter().find_map(|event| match &event.note {
            Some(EventPayload::RevertRequested {
                reverted,
                merge_sha,
                pr_url,
                reason,
                requested_by,
            }) => Some(RevertPlan {
                reverted: reverted.clone(),
                merge_sha: merge_sha.clone(),
                pr_url: pr_url.clone(),
                reason: reason.clone(),
                requested_by: requested_by.clone(),
            }),
            _ => None,
        })
    }
}

/// The branch a revert squad of `issue` works on: never the reverted squad's own.
pub fn revert_branch(issue: &IssueKey) -> String {
    format!("squadron/revert-{}", issue.as_str().to_ascii_lowercase())
}

/// The revert squad's plan, from its event log. A revert squad without one was recorded
/// wrongly: a person must look.
pub(crate) async fn recorded(shared: &Shared, squad: &SquadId) -> Result<RevertPlan, StepFailure> {
    let events = shared
        .services
        .store
        .events(squad)
        .await
        .map_err(|error| StepFailure::port(format!("read the log of {squad}"), &error))?;
    RevertPlan::of_events(&events).ok_or_else(|| {
        StepFailure::needs_person(format!(
            "find what the revert squad {squad} reverts: its log has no `{}` entry; start the \
             revert again with `squadron revert`",
            EventPayload::REVERT_REQUESTED
        ))
    })
}
