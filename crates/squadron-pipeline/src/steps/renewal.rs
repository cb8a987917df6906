//! Renewing a reviewer's approval without a model call: after the merge train rebased a PR
//! whose own change came through identical (the same stable patch id on the new base as on
//! the commit the reviewer approved), the same identity approves the new head with a review
//! saying which commit it approved and why the approval carries over. Anything else (a
//! resolved conflict, a fix, a base that touched the change's context) is reviewed again by
//! the model.

use squadron_core::event_payload::EventPayload;
use squadron_core::gate::CommitSha;
use squadron_core::ports::PatchId;
use squadron_core::{Review, ReviewVerdict, Role};

use crate::shared::Shared;
use crate::squad::SquadCtx;

/// An approval that carries over to the new head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Renewal {
    /// The commit the reviewer approved.
    pub approved: CommitSha,
    /// The patch id both commits' changes share.
    pub patch: PatchId,
}

/// The approval of `role` to renew on `head`: its latest review, from the event log, was an
/// approval of an earlier commit whose change (from where it forked from `base`) has the
/// same patch id as `head`'s. `None` whenever the model must review; a failure to read or
/// compare is logged and means the model reviews.
pub(crate) async fn renewable(
    shared: &Shared,
    ctx: &SquadCtx,
    role: Role,
    base: &CommitSha,
    head: &CommitSha,
) -> Option<Renewal> {
    let events = shared
        .services
        .store
        .events(&ctx.squad)
        .await
        .inspect_err(|error| tracing::warn!(squad = %ctx.squad, %error, "could not read the earlier reviews; the model reviews"))
        .ok()?;
    let approved = events
        .iter()
        .rev()
        .find_map(|event| match &event.note {
            Some(EventPayload::ReviewVerdict {
                role: reviewer,
                verdict,
                head,
                ..
            }) if *reviewer == role => Some((*verdict, head)),
            _ => None,
        })
        .filter(|(verdict, _)| *verdict == ReviewVerdict::Approved)
        .map(|(_, approved)| approved.clone())
        .filter(|approved| approved != head)?;
    let worktree = &ctx.prepared().ok()?.path;
    let workspaces = &shared.services.workspaces;
    let (before, now) = tokio::join!(
        workspaces.patch_id(worktree, base, &approved),
        workspaces.patch_id(worktree, base, head)
    );
    match (before, now) {
        (Ok(before), Ok(now)) if before == now => Some(Renewal {
            approved,
            patch: now,
        }),
        (Ok(_), Ok(_)) => None,
        (Err(error), _) | (_, Err(error)) => {
            tracing::warn!(squad = %ctx.squad, %role, %error, "could not compare the approved change with the head's; the model reviews");
            None
        }
    }
}

/// The review that renews `renewal` on `head`, as the PR shows it.
pub(crate) fn renewal_review(
    renewal: &Renewal,
    head: &CommitSha,
    base_branch: &str,
    base: &CommitSha,
) -> Review {
    let summary = format!(
        "Approval renewed without a new review: rebasing onto `{base_branch}` at `{base_short}` \
         left this pull request's own change identical to the one I approved on \
         `{approved_short}`.\n\n\
         - approved commit: `{approved}`\n\
         - this head: `{head}`\n\
         - patch id of the change on both (`git patch-id --stable`): `{patch}`\n\n\
         Squadron's merge train asks the reviewer models again only when a PR's own change \
         differs from what they approved (a resolved conflict, a fix); the merge gate still \
         requires both approvals on the head as GitHub shows them.",
        base_short = base.short(),
        approved_short = renewal.approved.short(),
        approved = renewal.approved,
        patch = renewal.patch,
    );
    Review {
        verdict: ReviewVerdict::Approved,
        summary,
        comments: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_renewal_names_the_approved_commit_and_the_identical_patch() {
        let renewal = Renewal {
            approved: CommitSha::new("1111111111111111111111111111111111111111"),
            patch: PatchId::new("2222222222222222222222222222222222222222"),
        };
        let review = renewal_review(
            &renewal,
            &CommitSha::new("3333333333333333333333333333333333333333"),
            "main",
            &CommitSha::new("4444444444444444444444444444444444444444"),
        );
        assert_eq!(review.verdict, ReviewVerdict::Approved);
        assert!(review.comments.is_empty());
        insta::assert_snapshot!(review.summary);
    }
}
