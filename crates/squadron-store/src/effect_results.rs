//! The text the journal keeps of what each side effect produced, and how it is read back:
//! the one place that knows the stored form of an [`EffectResult`]. The forms are those
//! earlier versions wrote, so a journal they left is read as it stands.

use std::time::Duration;

use squadron_core::effect::{
    ChatPost, EffectKey, EffectResult, OpenedPr, PostedStatus, PostedVerdict, TimeToMerge,
};
use squadron_core::gate::CommitSha;
use squadron_core::ports::{JournalStatus, MessageTs, RerunOutcome, SyncOutcome, ThreadRef};
use squadron_core::{PrNumber, ReviewVerdict};

use crate::error::{StoreError, StoreErrorKind};
use crate::store::SqlStore;

/// What a chat post that was interrupted and deliberately not repeated is stored as.
const NOT_REPEATED: &str = "interrupted; not repeated";

impl SqlStore {
    /// What the effect `key` produced, if it is done, read as `R` (the effect's own result
    /// type, or [`EffectResult`] itself).
    pub async fn effect_result<R>(&self, key: &EffectKey) -> Result<Option<R>, StoreError>
    where
        R: TryFrom<EffectResult>,
    {
        let Some(entry) = self.journal_entry(&key.to_string()).await? else {
            return Ok(None);
        };
        let (JournalStatus::Done, Some(text)) = (entry.status, entry.result) else {
            return Ok(None);
        };
        let result = decode(key, &text)?;
        let name = result.name();
        R::try_from(result).map(Some).map_err(|_| {
            StoreError::new(
                StoreErrorKind::Corrupt,
                format!("read side effect `{key}`: its result is {name}, not the one asked for"),
            )
        })
    }
}

/// The stored form of `result`.
pub(crate) fn encode(result: &EffectResult) -> String {
    match result {
        EffectResult::PullRequest(pr) => format!("{} {}", pr.number.0, pr.url),
        EffectResult::Synced(outcome) => synced_name(*outcome).to_owned(),
        EffectResult::Commit(sha) => sha.to_string(),
        EffectResult::TimeToMerge(TimeToMerge(elapsed)) => {
            let millis = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
            format!(r#"{{"millis":{millis}}}"#)
        }
        EffectResult::Status(status) => status.description.clone(),
        EffectResult::Review(review) => match review.review_id {
            Some(id) => format!("{} {id}", review.verdict.as_str()),
            None => review.verdict.as_str().to_owned(),
        },
        EffectResult::Rerun(RerunOutcome::Requested) => String::new(),
        EffectResult::Rerun(RerunOutcome::NotRerunnable { reason }) => reason.clone(),
        EffectResult::ChatPost(ChatPost::Posted(ts)) => ts.as_str().to_owned(),
        EffectResult::ChatPost(ChatPost::NotRepeated) => NOT_REPEATED.to_owned(),
        EffectResult::ChatThread(thread) => format!("{} {}", thread.channel, thread.ts.as_str()),
    }
}

/// Reads the stored result `text` of the effect `key`; a text that is no result of such an
/// effect is [`Corrupt`](crate::StoreErrorKind::Corrupt).
pub(crate) fn decode(key: &EffectKey, text: &str) -> Result<EffectResult, StoreError> {
    let corrupt = || StoreError::corrupt(&format!("result of side effect `{key}`"), text);
    Ok(match key {
        EffectKey::OpenPr { .. } => {
            let (number, url) = text.split_once(' ').ok_or_else(corrupt)?;
            let number = number.parse().map_err(|_| corrupt())?;
            EffectResult::PullRequest(OpenedPr {
                number: PrNumber(number),
                url: url.to_owned(),
            })
        }
        EffectKey::LinkPr { .. } | EffectKey::MoveIssue { .. } | EffectKey::Comment { .. } => {
            let outcome = [SyncOutcome::Applied, SyncOutcome::AlreadyDone]
                .into_iter()
                .find(|outcome| synced_name(*outcome) == text)
                .ok_or_else(corrupt)?;
            EffectResult::Synced(outcome)
        }
        EffectKey::Push { .. } | EffectKey::SaveWork { .. } | EffectKey::Merge { .. } => {
            EffectResult::Commit(CommitSha::new(text))
        }
        EffectKey::TimeToMerge { .. } => {
            let millis = text
                .strip_prefix(r#"{"millis":"#)
                .and_then(|rest| rest.strip_suffix('}'))
                .and_then(|millis| millis.parse().ok())
                .ok_or_else(corrupt)?;
            EffectResult::TimeToMerge(TimeToMerge(Duration::from_millis(millis)))
        }
        EffectKey::Evidence { .. } => EffectResult::Status(PostedStatus {
            description: text.to_owned(),
        }),
        EffectKey::Review { .. } => {
            let mut words = text.split(' ');
            let verdict =
                ReviewVerdict::from_name(words.next().unwrap_or_default()).ok_or_else(corrupt)?;
            let review_id = match words.next() {
                Some(id) => Some(id.parse().map_err(|_| corrupt())?),
                None => None,
            };
            EffectResult::Review(PostedVerdict { verdict, review_id })
        }
        EffectKey::RerunCheck { .. } => EffectResult::Rerun(if text.is_empty() {
            RerunOutcome::Requested
        } else {
            RerunOutcome::NotRerunnable {
                reason: text.to_owned(),
            }
        }),
        EffectKey::Notify { .. } => EffectResult::ChatPost(if text == NOT_REPEATED {
            ChatPost::NotRepeated
        } else {
            ChatPost::Posted(MessageTs::new(text))
        }),
        EffectKey::ChatThread { .. } => {
            let (channel, ts) = text.split_once(' ').ok_or_else(corrupt)?;
            EffectResult::ChatThread(ThreadRef {
                channel: channel.to_owned(),
                ts: MessageTs::new(ts),
            })
        }
    })
}

/// A tracker write's outcome as stored (the names earlier versions wrote).
const fn synced_name(outcome: SyncOutcome) -> &'static str {
    match outcome {
        SyncOutcome::Applied => "Applied",
        SyncOutcome::AlreadyDone => "AlreadyDone",
    }
}

#[cfg(test)]
mod tests {
    use squadron_core::ports::WorkflowTarget;
    use squadron_core::{IssueKey, Role, SquadId};

    use super::*;

    fn squad() -> SquadId {
        SquadId::from("s1")
    }

    fn sha() -> CommitSha {
        CommitSha::from("0123456789abcdef0123456789abcdef01234567")
    }

    /// Each effect's result, stored as earlier versions stored it, reads back as the same
    /// value it is written from.
    #[test]
    fn results_are_stored_as_before_and_read_back() {
        let cases = [
            (
                EffectKey::OpenPr { squad: squad() },
                EffectResult::PullRequest(OpenedPr {
                    number: PrNumber(17),
                    url: "https://github.com/acme/shop/pull/17".to_owned(),
                }),
                "17 https://github.com/acme/shop/pull/17",
            ),
            (
                EffectKey::MoveIssue {
                    squad: squad(),
                    target: WorkflowTarget::Done,
                },
                EffectResult::Synced(SyncOutcome::AlreadyDone),
                "AlreadyDone",
            ),
            (
                EffectKey::Comment {
                    issue: IssueKey::from("ENG-1"),
                    marker: "skipped".to_owned(),
                    squad: None,
                },
                EffectResult::Synced(SyncOutcome::Applied),
                "Applied",
            ),
            (
                EffectKey::Merge { squad: squad() },
                EffectResult::Commit(sha()),
                "0123456789abcdef0123456789abcdef01234567",
            ),
            (
                EffectKey::TimeToMerge { squad: squad() },
                EffectResult::TimeToMerge(TimeToMerge(Duration::from_millis(93_000))),
                r#"{"millis":93000}"#,
            ),
            (
                EffectKey::Evidence {
                    squad: squad(),
                    round: 1,
                    head: sha(),
                },
                EffectResult::Status(PostedStatus {
                    description: "2 tests fail before the change".to_owned(),
                }),
                "2 tests fail before the change",
            ),
            (
                EffectKey::Review {
                    squad: squad(),
                    round: 1,
                    role: Role::CodeReviewer,
                    head: sha(),
                },
                EffectResult::Review(PostedVerdict {
                    verdict: ReviewVerdict::ChangesRequested,
                    review_id: Some(4021),
                }),
                "changes-requested 4021",
            ),
            (
                EffectKey::RerunCheck {
                    squad: squad(),
                    check: "ci".to_owned(),
                    sha: sha(),
                },
                EffectResult::Rerun(RerunOutcome::Requested),
                "",
            ),
            (
                EffectKey::RerunCheck {
                    squad: squad(),
                    check: "ci".to_owned(),
                    sha: sha(),
                },
                EffectResult::Rerun(RerunOutcome::NotRerunnable {
                    reason: "a status cannot be re-run".to_owned(),
                }),
                "a status cannot be re-run",
            ),
            (
                EffectKey::Notify {
                    squad: squad(),
                    update: "merged".to_owned(),
                },
                EffectResult::ChatPost(ChatPost::Posted(MessageTs::new("1503435956.000247"))),
                "1503435956.000247",
            ),
            (
                EffectKey::Notify {
                    squad: squad(),
                    update: "merged".to_owned(),
                },
                EffectResult::ChatPost(ChatPost::NotRepeated),
                "interrupted; not repeated",
            ),
            (
                EffectKey::ChatThread { squad: squad() },
                EffectResult::ChatThread(ThreadRef {
                    channel: "C024BE91L".to_owned(),
                    ts: MessageTs::new("1503435956.000247"),
                }),
                "C024BE91L 1503435956.000247",
            ),
        ];
        for (key, result, stored) in cases {
            assert_eq!(encode(&result), stored, "{key}");
            assert_eq!(decode(&key, stored).unwrap(), result, "{key}");
        }
    }

    #[test]
    fn a_review_journaled_without_its_id_reads_back_without_one() {
        let key = EffectKey::Review {
            squad: squad(),
            round: 2,
            role: Role::QaSpecialist,
            head: sha(),
        };
        assert_eq!(
            decode(&key, "approved").unwrap(),
            EffectResult::Review(PostedVerdict {
                verdict: ReviewVerdict::Approved,
                review_id: None,
            })
        );
    }

    #[test]
    fn a_result_that_is_none_of_its_effect_is_corrupt() {
        let key = EffectKey::OpenPr { squad: squad() };
        let error = decode(&key, "Applied").unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::Corrupt);
        assert!(error.to_string().contains("s1/open-pr"), "{error}");
    }
}
