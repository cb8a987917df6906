//! The runtime's handle: how the CLI, the HTTP server and webhooks talk to a running
//! [`Pipeline`](crate::Pipeline). Cheap to clone; every call goes through the runtime's
//! request channel, so it never races the scheduler.

use squadron_core::gate::GateTarget;
use squadron_core::{IssueKey, RunId, SquadId};
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::PipelineError;
use crate::intake::FixRequest;
use crate::progress::{Progress, SquadView};

/// What a cancel request did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// These squads were cancelled (their step in flight stopped, their worktree removed).
    Cancelled {
        /// The squads.
        squads: Vec<SquadId>,
    },
    /// Nothing unfinished matched: the issue has no squad, or it already ended.
    NothingToCancel,
}

/// A request to the runtime's loop.
#[derive(Debug)]
pub(crate) enum Request {
    StartRun {
        url: String,
        reply: oneshot::Sender<Result<RunId, PipelineError>>,
    },
    StartFix {
        request: FixRequest,
        reply: oneshot::Sender<Result<RunId, PipelineError>>,
    },
    CancelIssue {
        issue: IssueKey,
        reply: oneshot::Sender<CancelOutcome>,
    },
    Reevaluate {
        target: GateTarget,
        reply: oneshot::Sender<Vec<SquadId>>,
    },
    Adopt {
        squads: Vec<SquadId>,
        reply: oneshot::Sender<Result<Vec<SquadId>, PipelineError>>,
    },
    LetGo {
        squads: Vec<SquadId>,
        reply: oneshot::Sender<Vec<SquadId>>,
    },
}

/// Talks to a running pipeline.
#[derive(Clone, Debug)]
pub struct PipelineHandle {
    pub(crate) requests: mpsc::Sender<Request>,
    pub(crate) progress: watch::Receiver<Progress>,
}

impl PipelineHandle {
    /// Starts a run for a Linear project URL (optionally with `#milestone-<id>`): resolves
    /// the milestone, admits its issues, comments on the skipped ones and queues a squad
    /// per admitted issue. When a run for the same URL is still unfinished, returns that
    /// run instead of starting another. Returns once the run's squads are recorded.
    pub async fn start_run(&self, url: &str) -> Result<RunId, PipelineError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::StartRun {
                url: url.to_owned(),
                reply,
            })
            .await
            .map_err(|_| PipelineError::stopped())?;
        answer.await.map_err(|_| PipelineError::stopped())?
    }

    /// Starts a bug fix for one issue (its key or Linear URL, in `request.issue`): reads
    /// the issue (no refinement gate), records a run triggered by the fix and queues one
    /// bug-fix squad, which diagnoses first and reports in `request.slack`'s thread (or the
    /// configured channel). Returns once the squad is recorded. When a fix squad for the
    /// same issue is still unfinished, returns its run instead of starting another.
    ///
    /// Fails with [`PipelineErrorKind::NotFound`](crate::PipelineErrorKind::NotFound) for an
    /// issue the tracker does not know, and with
    /// [`PipelineErrorKind::Invalid`](crate::PipelineErrorKind::Invalid) when the issue's
    /// team has no repository or a milestone squad is working the issue; the message says
    /// what to do in both cases.
    pub async fn start_fix(&self, request: FixRequest) -> Result<RunId, PipelineError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::StartFix { request, reply })
            .await
            .map_err(|_| PipelineError::stopped())?;
        answer.await.map_err(|_| PipelineError::stopped())?
    }

    /// Cancels the unfinished squad working `issue` (`ENG-123`), as a person or the
    /// tracker's webhook asks.
    pub async fn cancel_issue(&self, issue: &IssueKey) -> Result<CancelOutcome, PipelineError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::CancelIssue {
                issue: issue.clone(),
                reply,
            })
            .await
            .map_err(|_| PipelineError::stopped())?;
        answer.await.map_err(|_| PipelineError::stopped())
    }

    /// Asks the merge gate again, now, for the approved squads `target` concerns, instead of
    /// at their next scheduled look: what a code-host webhook calls after a review, a check
    /// or a push. A squad whose gate is being read right now is asked once more as soon as
    /// that read ends, so a change arriving mid-read is not missed. Squads not waiting for
    /// their gate (working, queued to merge, ended) are left alone: for them it is a no-op.
    ///
    /// Returns the squads that will be asked again (empty when none matched).
    pub async fn reevaluate(&self, target: GateTarget) -> Result<Vec<SquadId>, PipelineError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Reevaluate { target, reply })
            .await
            .map_err(|_| PipelineError::stopped())?;
        answer.await.map_err(|_| PipelineError::stopped())
    }

    /// Takes over `squads`, claimed by this runtime's daemon in a store shared with other
    /// daemons: each resumes from its recorded phase (see
    /// [`PipelineSettings::shares_squads`](crate::PipelineSettings::shares_squads)). Returns
    /// the squads scheduled now; one already scheduled is left as it is.
    ///
    /// Fails when the store cannot be read; nothing is adopted then.
    pub async fn adopt(&self, squads: Vec<SquadId>) -> Result<Vec<SquadId>, PipelineError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Adopt { squads, reply })
            .await
            .map_err(|_| PipelineError::stopped())?;
        answer.await.map_err(|_| PipelineError::stopped())?
    }

    /// Stops working `squads`, whose leases this runtime's daemon lost: their steps in
    /// flight are stopped and nothing more is done or recorded for them here. Queued squads
    /// waiting on one of them go too. Returns every squad let go.
    pub async fn let_go(&self, squads: Vec<SquadId>) -> Result<Vec<SquadId>, PipelineError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::LetGo { squads, reply })
            .await
            .map_err(|_| PipelineError::stopped())?;
        answer.await.map_err(|_| PipelineError::stopped())
    }

    /// The live view: every change replaces it as a whole.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }

    /// The view right now.
    pub fn snapshot(&self) -> Progress {
        self.progress.borrow().clone()
    }

    /// Waits until every squad of `run` has ended and returns them. Fails with
    /// [`PipelineErrorKind::Stopped`](crate::PipelineErrorKind::Stopped) when the runtime
    /// stops first.
    pub async fn wait_run(&self, run: &RunId) -> Result<Vec<SquadView>, PipelineError> {
        let mut progress = self.progress.clone();
        let finished = progress
            .wait_for(|progress| progress.run(run).is_some_and(|view| view.finished))
            .await
            .map_err(|_| PipelineError::stopped())?;
        Ok(finished.squads_of(run))
    }
}
