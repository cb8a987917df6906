//! The notifier port: a squad's progress told to people in a chat thread (Slack today).
//!
//! The first message starts a thread; every later update goes into it. Each post carries an
//! idempotency key the runtime also journals, so a restarted daemon never posts an update
//! twice and an implementation can drop a repeated key on its own.
//!
//! A notifier failure never stops a squad: the runtime logs it, records it in the squad's
//! log, and carries on. The error's kind says whether a later retry could succeed.

use std::fmt;

use async_trait::async_trait;

use super::error::PortError;
use crate::domain::{IssueKey, PrNumber, ReviewVerdict, Role, SquadId};

/// The chat's id of one posted message (Slack's `ts`, such as `1503435956.000247`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageTs(String);

impl MessageTs {
    /// Wraps an id the chat service assigned.
    pub fn new(ts: impl Into<String>) -> Self {
        Self(ts.into())
    }

    /// The id as the chat service wrote it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageTs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A squad's thread: the channel and the message that started it. Journal it; every later
/// update needs it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ThreadRef {
    /// The channel id (`C024BE91L`).
    pub channel: String,
    /// The message that starts the thread.
    pub ts: MessageTs,
}

/// What the first message of a squad's thread says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadOpening {
    /// The squad.
    pub squad: SquadId,
    /// Its issue.
    pub issue: IssueKey,
    /// The issue's title.
    pub title: String,
    /// The issue's page.
    pub issue_url: String,
    /// Who asked for the squad (a chat user id such as `U2CERLKJA`), when a person did.
    pub requested_by: Option<String>,
}

/// How sure a diagnosis is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Confidence {
    /// A guess worth checking.
    Low,
    /// Plausible, with supporting evidence.
    Medium,
    /// Confirmed by the code and the trace.
    High,
}

impl Confidence {
    /// The confidence as shown and stored (`low`, `medium`, `high`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of a squad's progress worth telling people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SquadUpdate {
    /// The diagnostician's conclusion.
    Diagnosis {
        /// What causes the bug.
        hypothesis: String,
        /// How to fix it.
        plan: String,
        /// How sure it is.
        confidence: Confidence,
    },
    /// The squad's pull request is open.
    PullRequestOpened {
        /// Its number.
        number: PrNumber,
        /// Its page.
        url: String,
        /// Its title.
        title: String,
    },
    /// One reviewer's verdict in one review round.
    ReviewVerdict {
        /// The reviewing role.
        reviewer: Role,
        /// The verdict.
        verdict: ReviewVerdict,
        /// The review round, from 1.
        round: u32,
    },
    /// The pull request merged.
    Merged {
        /// Its number.
        number: PrNumber,
        /// Its page.
        url: String,
        /// The merge commit.
        sha: String,
    },
    /// The squad stopped and needs a person.
    NeedsHuman {
        /// Why, in a sentence a person can act on.
        reason: String,
    },
    /// The tests failed on the base right after this squad's merge (or the next one): the
    /// merge lane stopped (stop the line).
    LaneStopped {
        /// Which merges, which lane, and what a person can do, in sentences.
        summary: String,
    },
    /// A person took the squad's merged change back (`squadron revert`): the revert PR is
    /// open for review, or merged already.
    Reverted {
        /// The revert PR's number.
        number: PrNumber,
        /// Its page.
        url: String,
        /// The revert's merge commit, when it merged at once (`--now`).
        merged_sha: Option<String>,
        /// Why, as the person said it.
        reason: Option<String>,
    },
}

impl SquadUpdate {
    /// A short name of the kind of update, for logs and journal keys (`diagnosis`,
    /// `pr-opened`, `review`, `merged`, `needs-human`, `lane-stopped`, `reverted`).
    pub const fn kind(&self) -> &'static str {
        match self {
            SquadUpdate::Diagnosis { .. } => "diagnosis",
            SquadUpdate::PullRequestOpened { .. } => "pr-opened",
            SquadUpdate::ReviewVerdict { .. } => "review",
            SquadUpdate::Merged { .. } => "merged",
            SquadUpdate::NeedsHuman { .. } => "needs-human",
            SquadUpdate::LaneStopped { .. } => "lane-stopped",
            SquadUpdate::Reverted { .. } => "reverted",
        }
    }
}

/// Tells people how a squad is doing, in one thread per squad.
///
/// `key` is the idempotency key of the post (e.g. `squad/<id>/notify/review-2-qa-specialist`):
/// an implementation that sees a key again while it is being posted, or soon after, answers
/// with the first result and posts nothing. It need not remember keys for ever: the runtime
/// journals every post it made and never asks for a journaled one again.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Posts the message that starts the squad's thread in `channel`.
    async fn start_thread(
        &self,
        key: &str,
        channel: &str,
        opening: &ThreadOpening,
    ) -> Result<ThreadRef, PortError>;

    /// Posts `update` as a reply in `thread`; returns the reply's id.
    async fn post_update(
        &self,
        key: &str,
        thread: &ThreadRef,
        update: &SquadUpdate,
    ) -> Result<MessageTs, PortError>;
}
