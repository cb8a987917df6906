//! What each reviewer said before, read back from the code host by the review ids the squad
//! recorded when it posted them. Going by the id rather than by the author or the review
//! state finds a review whichever identity posted it and however it was delivered (a single
//! identity's reviews are comments). The reviewer's next review and the Developer's fix are
//! built from it.

use squadron_config::{PreviousCommentContext, PreviousReviewContext, Untrusted};
use squadron_core::effect::EffectKey;
use squadron_core::event_payload::EventPayload;
use squadron_core::gate::CommitSha;
use squadron_core::ports::{
    InlineCommentEntry, PullRequestFeedback, RepoRef, ReviewEntry, SquadEvent,
};
use squadron_core::{PrNumber, ReviewVerdict, Role, SquadId};
use squadron_harness::{SquadWorkspace, diff_since, review_diff};

use crate::shared::Shared;

/// The most of the diff since a reviewer's last review a prompt shows; the reviewer reads the
/// rest with `git_diff`.
const DIFF_CAP_BYTES: usize = 24 * 1024;

/// The journal key of `role`'s review of `head` in `round`: a rebased head is reviewed again
/// within its round.
pub(crate) fn review_key(squad: &SquadId, round: u32, role: Role, head: &CommitSha) -> EffectKey {
    EffectKey::Review {
        squad: squad.clone(),
        round,
        role,
        head: head.clone(),
    }
}

/// One reviewer's posted review, as the code host holds it.
#[derive(Clone, Debug)]
pub(crate) struct PostedReview<'a> {
    pub review: &'a ReviewEntry,
    pub comments: Vec<&'a InlineCommentEntry>,
}

/// The review with the host's id `id` and its line comments, if `feedback` holds it.
pub(crate) fn find(feedback: &PullRequestFeedback, id: u64) -> Option<PostedReview<'_>> {
    let review = feedback.reviews.iter().find(|review| review.id == id)?;
    Some(PostedReview {
        review,
        comments: feedback
            .review_comments
            .iter()
            .filter(|comment| comment.review_id == Some(id))
            .collect(),
    })
}

/// A review as the squad's event log records it when it is posted.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RecordedReview {
    round: u32,
    verdict: ReviewVerdict,
    review_id: u64,
}

/// The latest review `role` posted on a commit other than `head`, from the event log.
fn latest_recorded(events: &[SquadEvent], role: Role, head: &CommitSha) -> Option<RecordedReview> {
    events.iter().rev().find_map(|event| match &event.note {
        Some(EventPayload::ReviewVerdict {
            round,
            role: reviewer,
            verdict,
            head: reviewed,
            review_id,
        }) if *reviewer == role && reviewed != head => Some(RecordedReview {
            round: *round,
            verdict: *verdict,
            review_id: (*review_id)?,
        }),
        _ => None,
    })
}

/// Each of `roles`' own latest review of an earlier commit than `head` (after a fix or a
/// rebase), in the order of `roles`; the code host is asked only when there is one.
pub(crate) async fn previous_reviews<const N: usize>(
    shared: &Shared,
    squad: &SquadId,
    workspace: &SquadWorkspace,
    (repo, pr): (&RepoRef, PrNumber),
    head: &CommitSha,
    own_files: &[String],
    roles: [Role; N],
) -> [Option<PreviousReviewContext>; N] {
    let events = match shared.services.store.events(squad).await {
        Ok(events) => events,
        Err(error) => {
            tracing::warn!(%squad, %error, "could not read the event log for the earlier reviews; the reviewers review without them");
            return [const { None }; N];
        }
    };
    let recorded = roles.map(|role| latest_recorded(&events, role, head));
    if recorded.iter().all(Option::is_none) {
        return [const { None }; N];
    }
    let feedback = match shared.services.code_host.read_feedback(repo, pr).await {
        Ok(feedback) => feedback,
        Err(error) => {
            tracing::warn!(%squad, %error, "could not read the earlier reviews; the reviewers review without them");
            return [const { None }; N];
        }
    };
    let mut previous = [const { None }; N];
    for (slot, (role, recorded)) in previous.iter_mut().zip(roles.into_iter().zip(recorded)) {
        if let Some(recorded) = recorded {
            *slot = previous_review(squad, workspace, role, &recorded, own_files, &feedback).await;
        }
    }
    previous
}

/// The verdict as the prompts spell it.
pub(crate) fn verdict_text(verdict: ReviewVerdict) -> &'static str {
    match verdict {
        ReviewVerdict::Approved => "approved",
        ReviewVerdict::ChangesRequested => "changes_requested",
    }
}

/// `recorded` as the reviewer is shown it: each comment marked by whether the code it points
/// at changed since, with the diff from the commit it reviewed to the head.
async fn previous_review(
    squad: &SquadId,
    workspace: &SquadWorkspace,
    role: Role,
    recorded: &RecordedReview,
    own_files: &[String],
    feedback: &PullRequestFeedback,
) -> Option<PreviousReviewContext> {
    let posted = find(feedback, recorded.review_id)?;
    let reviewed = &posted.review.commit_id;
    let diff = diff_since(workspace, reviewed, own_files)
        .await
        .inspect_err(|error| {
            tracing::warn!(%squad, role = %role, %error, "could not read the diff since the reviewer's last review");
        })
        .ok();
    let (text, cut) = match &diff {
        Some(diff) => {
            let (text, cut_here) = cap(&diff.text, DIFF_CAP_BYTES);
            (Some(text), cut_here || diff.truncated)
        }
        None => (None, false),
    };
    let comments = posted
        .comments
        .iter()
        .map(|comment| PreviousCommentContext {
            path: comment.path.clone(),
            line: comment.line,
            body: Untrusted::new("your comment", comment.body.clone()),
            addressed: diff.as_ref().is_some_and(|diff| {
                review_diff::touches(&diff.text, &comment.path, comment.line)
                    // Cut before its file: all that is known is that the file changed.
                    || (cut
                        && diff.files.contains(&comment.path)
                        && !diff.text.contains(&format!("diff --git a/{} ", comment.path)))
            }),
        })
        .collect();
    let round = recorded.round;
    Some(PreviousReviewContext {
        round,
        verdict: verdict_text(recorded.verdict).to_owned(),
        commit: reviewed.to_string(),
        body: Untrusted::new(
            format!("your review of round {round}"),
            posted.review.body.clone(),
        ),
        comments,
        changed_files: diff
            .as_ref()
            .map(|diff| diff.files.clone())
            .unwrap_or_default(),
        diff: text.map(|text| Untrusted::new("diff since your review", text)),
        diff_cut: cut,
        evidence_unchanged: false,
    })
}

/// `text` cut to at most `max` bytes at a line end, and whether it was cut.
fn cap(text: &str, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text.to_owned(), false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let end = text[..end].rfind('\n').map_or(end, |newline| newline + 1);
    (text[..end].to_owned(), true)
}

#[cfg(test)]
mod tests {
    use super::cap;

    #[test]
    fn a_long_diff_is_cut_at_a_line_end_within_the_cap() {
        let text = "line one\nline two\nline three\n";
        assert_eq!(cap(text, 100), (text.to_owned(), false));
        assert_eq!(cap(text, 20), ("line one\nline two\n".to_owned(), true));
        assert_eq!(cap("héllo", 2), ("h".to_owned(), true));
    }
}
