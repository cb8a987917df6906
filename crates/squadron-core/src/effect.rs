//! The side effects squads have on the outside world, as the store's journal names them
//! ([`EffectKey`]) and what each produced ([`EffectResult`]).
//!
//! A key's text is its identity in the journal (and, for chat posts, in the chat), so it is
//! spelled out here once, by [`EffectKey`]'s `Display`, and never changes for an existing
//! effect: a store written by an earlier version must find its effects again. The results'
//! stored form belongs to the store crate, which alone reads them back.

use std::fmt;
use std::time::Duration;

use crate::gate::CommitSha;
use crate::ports::{MessageTs, RerunOutcome, SyncOutcome, ThreadRef, WorkflowTarget};
use crate::{IssueKey, PrNumber, ReviewVerdict, Role, SquadId};

/// One side effect, named so that it happens once across restarts and retries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EffectKey {
    /// Opening (or finding) the squad's pull request.
    OpenPr {
        /// The squad.
        squad: SquadId,
    },
    /// Linking the pull request on the issue.
    LinkPr {
        /// The squad.
        squad: SquadId,
    },
    /// Moving the squad's issue to the state for `target`.
    MoveIssue {
        /// The squad.
        squad: SquadId,
        /// Where the issue goes.
        target: WorkflowTarget,
    },
    /// Pushing `head` to the squad's branch.
    Push {
        /// The squad.
        squad: SquadId,
        /// The commit pushed.
        head: CommitSha,
    },
    /// Pushing `head` to a `wip/` branch beside the PR when the squad stops short of a merge.
    SaveWork {
        /// The squad.
        squad: SquadId,
        /// The commit saved.
        head: CommitSha,
    },
    /// Merging the squad's pull request.
    Merge {
        /// The squad.
        squad: SquadId,
    },
    /// Recording a bug fix's time from its trigger to its merge.
    TimeToMerge {
        /// The squad.
        squad: SquadId,
    },
    /// Setting the test-evidence commit status on `head` in review round `round`.
    Evidence {
        /// The squad.
        squad: SquadId,
        /// The review round.
        round: u32,
        /// The commit the status is set on.
        head: CommitSha,
    },
    /// Posting `role`'s review of `head` in review round `round` (a rebased head is
    /// reviewed again within its round).
    Review {
        /// The squad.
        squad: SquadId,
        /// The review round.
        round: u32,
        /// The reviewer.
        role: Role,
        /// The commit reviewed.
        head: CommitSha,
    },
    /// Asking the code host to run check `check` on `sha` again.
    RerunCheck {
        /// The squad.
        squad: SquadId,
        /// The check's name.
        check: String,
        /// The commit it ran on.
        sha: CommitSha,
    },
    /// Posting the comment `marker` names on `issue`.
    Comment {
        /// The issue commented on.
        issue: IssueKey,
        /// The tracker's marker of the comment, unique on the issue.
        marker: String,
        /// The squad that posts it; `None` for a comment of the run (an issue left out).
        squad: Option<SquadId>,
    },
    /// Posting the update `update` names in the squad's chat thread.
    Notify {
        /// The squad.
        squad: SquadId,
        /// Which update (`pr-opened`, `review-1-code-reviewer-abc1234`, …).
        update: String,
    },
    /// Starting (or adopting) the squad's chat thread.
    ChatThread {
        /// The squad.
        squad: SquadId,
    },
}

impl EffectKey {
    /// The squad the effect belongs to, if any.
    pub fn squad(&self) -> Option<&SquadId> {
        match self {
            EffectKey::OpenPr { squad }
            | EffectKey::LinkPr { squad }
            | EffectKey::MoveIssue { squad, .. }
            | EffectKey::Push { squad, .. }
            | EffectKey::SaveWork { squad, .. }
            | EffectKey::Merge { squad }
            | EffectKey::TimeToMerge { squad }
            | EffectKey::Evidence { squad, .. }
            | EffectKey::Review { squad, .. }
            | EffectKey::RerunCheck { squad, .. }
            | EffectKey::Notify { squad, .. }
            | EffectKey::ChatThread { squad } => Some(squad),
            EffectKey::Comment { squad, .. } => squad.as_ref(),
        }
    }

    /// What kind of effect it is, as the journal records and `squadron logs` shows it.
    pub const fn kind(&self) -> &'static str {
        match self {
            EffectKey::OpenPr { .. } => "open-pr",
            EffectKey::LinkPr { .. } => "link-pr",
            EffectKey::MoveIssue { .. } => "move-issue",
            EffectKey::Push { .. } | EffectKey::SaveWork { .. } => "push",
            EffectKey::Merge { .. } => "merge",
            EffectKey::TimeToMerge { .. } => "metric",
            EffectKey::Evidence { .. } => "evidence",
            EffectKey::Review { .. } => "review",
            EffectKey::RerunCheck { .. } => "rerun-check",
            EffectKey::Comment { .. } => "comment",
            EffectKey::Notify { .. } | EffectKey::ChatThread { .. } => "notify",
        }
    }
}

/// The key as the journal stores it: stable across versions (see the module docs).
impl fmt::Display for EffectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EffectKey::OpenPr { squad } => write!(f, "{squad}/open-pr"),
            EffectKey::LinkPr { squad } => write!(f, "{squad}/link-pr"),
            EffectKey::MoveIssue { squad, target } => {
                let state = match target {
                    WorkflowTarget::Started => "started",
                    WorkflowTarget::InReview => "in-review",
                    WorkflowTarget::Done => "done",
                    WorkflowTarget::Reopened => "reopened",
                };
                write!(f, "{squad}/move/{state}")
            }
            EffectKey::Push { squad, head } => write!(f, "{squad}/push/{head}"),
            EffectKey::SaveWork { squad, head } => write!(f, "{squad}/save-work/{head}"),
            EffectKey::Merge { squad } => write!(f, "{squad}/merge"),
            EffectKey::TimeToMerge { squad } => write!(f, "{squad}/time-to-merge"),
            EffectKey::Evidence { squad, round, head } => {
                write!(f, "{squad}/evidence/{round}/{}", head.short())
            }
            EffectKey::Review {
                squad,
                round,
                role,
                head,
            } => write!(f, "{squad}/review/{round}/{role}/{}", head.short()),
            EffectKey::RerunCheck { squad, check, sha } => {
                write!(f, "{squad}/rerun/{check}/{sha}")
            }
            EffectKey::Comment { issue, marker, .. } => write!(f, "{issue}/comment/{marker}"),
            EffectKey::Notify { squad, update } => write!(f, "{squad}/notify/{update}"),
            EffectKey::ChatThread { squad } => write!(f, "{squad}/notify/thread"),
        }
    }
}

/// The pull request an [`EffectKey::OpenPr`] opened or found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedPr {
    /// Its number.
    pub number: PrNumber,
    /// Its page for people.
    pub url: String,
}

/// A review an [`EffectKey::Review`] posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostedVerdict {
    /// What the reviewer decided.
    pub verdict: ReviewVerdict,
    /// The code host's id of the review; `None` for a review journaled before ids were kept.
    pub review_id: Option<u64>,
}

/// The commit status an [`EffectKey::Evidence`] set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostedStatus {
    /// The status's description, as people read it on the PR.
    pub description: String,
}

/// What an [`EffectKey::Notify`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatPost {
    /// The update was posted as this reply.
    Posted(MessageTs),
    /// The post was interrupted and deliberately not repeated: the chat cannot be asked
    /// whether it landed, and a missing update is better than a duplicate.
    NotRepeated,
}

/// A bug fix's time from its trigger to its merge, as an [`EffectKey::TimeToMerge`]
/// recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeToMerge(pub Duration);

macro_rules! effect_results {
    ($($(#[$doc:meta])* $variant:ident($ty:ty),)*) => {
        /// What a done side effect produced: one variant per shape of result, each read
        /// back as its own type (`OpenedPr::try_from(result)`).
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum EffectResult {
            $($(#[$doc])* $variant($ty),)*
        }

        $(
            impl From<$ty> for EffectResult {
                fn from(value: $ty) -> Self {
                    EffectResult::$variant(value)
                }
            }

            impl TryFrom<EffectResult> for $ty {
                type Error = EffectResult;

                fn try_from(result: EffectResult) -> Result<Self, EffectResult> {
                    match result {
                        EffectResult::$variant(value) => Ok(value),
                        other => Err(other),
                    }
                }
            }
        )*
    };
}

effect_results! {
    /// Of [`EffectKey::OpenPr`].
    PullRequest(OpenedPr),
    /// Of [`EffectKey::LinkPr`], [`EffectKey::MoveIssue`] and [`EffectKey::Comment`].
    Synced(SyncOutcome),
    /// Of [`EffectKey::Push`], [`EffectKey::SaveWork`] (the commit pushed) and
    /// [`EffectKey::Merge`] (the commit the merge made).
    Commit(CommitSha),
    /// Of [`EffectKey::TimeToMerge`].
    TimeToMerge(TimeToMerge),
    /// Of [`EffectKey::Evidence`].
    Status(PostedStatus),
    /// Of [`EffectKey::Review`].
    Review(PostedVerdict),
    /// Of [`EffectKey::RerunCheck`].
    Rerun(RerunOutcome),
    /// Of [`EffectKey::Notify`].
    ChatPost(ChatPost),
    /// Of [`EffectKey::ChatThread`].
    ChatThread(ThreadRef),
}

impl EffectResult {
    /// Which result it is, for messages about a result of the wrong kind.
    pub const fn name(&self) -> &'static str {
        match self {
            EffectResult::PullRequest(_) => "a pull request",
            EffectResult::Synced(_) => "a tracker write",
            EffectResult::Commit(_) => "a commit",
            EffectResult::TimeToMerge(_) => "a time to merge",
            EffectResult::Status(_) => "a commit status",
            EffectResult::Review(_) => "a review",
            EffectResult::Rerun(_) => "a check re-run",
            EffectResult::ChatPost(_) => "a chat post",
            EffectResult::ChatThread(_) => "a chat thread",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn squad() -> SquadId {
        SquadId::from("squad-7")
    }

    fn sha() -> CommitSha {
        CommitSha::from("0123456789abcdef0123456789abcdef01234567")
    }

    /// The keys as earlier versions wrote them with `format!`: a store they wrote must find
    /// its effects again, so none of these may change.
    #[test]
    fn keys_are_spelled_as_the_journal_has_always_stored_them() {
        let keys = [
            (EffectKey::OpenPr { squad: squad() }, "squad-7/open-pr"),
            (EffectKey::LinkPr { squad: squad() }, "squad-7/link-pr"),
            (
                EffectKey::MoveIssue {
                    squad: squad(),
                    target: WorkflowTarget::Started,
                },
                "squad-7/move/started",
            ),
            (
                EffectKey::MoveIssue {
                    squad: squad(),
                    target: WorkflowTarget::InReview,
                },
                "squad-7/move/in-review",
            ),
            (
                EffectKey::MoveIssue {
                    squad: squad(),
                    target: WorkflowTarget::Done,
                },
                "squad-7/move/done",
            ),
            (
                EffectKey::Push {
                    squad: squad(),
                    head: sha(),
                },
                "squad-7/push/0123456789abcdef0123456789abcdef01234567",
            ),
            (
                EffectKey::SaveWork {
                    squad: squad(),
                    head: sha(),
                },
                "squad-7/save-work/0123456789abcdef0123456789abcdef01234567",
            ),
            (EffectKey::Merge { squad: squad() }, "squad-7/merge"),
            (
                EffectKey::TimeToMerge { squad: squad() },
                "squad-7/time-to-merge",
            ),
            (
                EffectKey::Evidence {
                    squad: squad(),
                    round: 2,
                    head: sha(),
                },
                "squad-7/evidence/2/0123456",
            ),
            (
                EffectKey::Review {
                    squad: squad(),
                    round: 1,
                    role: Role::QaSpecialist,
                    head: sha(),
                },
                "squad-7/review/1/qa-specialist/0123456",
            ),
            (
                EffectKey::RerunCheck {
                    squad: squad(),
                    check: "ci/test".to_owned(),
                    sha: sha(),
                },
                "squad-7/rerun/ci/test/0123456789abcdef0123456789abcdef01234567",
            ),
            (
                EffectKey::Comment {
                    issue: IssueKey::from("ENG-3"),
                    marker: "needs-human-squad-7".to_owned(),
                    squad: Some(squad()),
                },
                "ENG-3/comment/needs-human-squad-7",
            ),
            (
                EffectKey::Notify {
                    squad: squad(),
                    update: "pr-opened".to_owned(),
                },
                "squad-7/notify/pr-opened",
            ),
            (
                EffectKey::ChatThread { squad: squad() },
                "squad-7/notify/thread",
            ),
        ];
        for (key, stored) in keys {
            assert_eq!(key.to_string(), stored, "{key:?}");
        }
    }

    #[test]
    fn a_result_reads_back_only_as_its_own_type() {
        let result = EffectResult::from(sha());
        assert_eq!(CommitSha::try_from(result.clone()), Ok(sha()));
        assert_eq!(OpenedPr::try_from(result.clone()), Err(result));
    }
}
