//! Fix intake: one issue (usually a Sentry-created stub) becomes a recorded run with a
//! single bug-fix squad, started from Slack or `squadron fix`. There is no refinement gate:
//! the squad's diagnosis stands in for it.

use squadron_core::event_payload::EventPayload;
use squadron_core::ports::{AdmittedSquad, PortErrorKind, SquadRecord};
use squadron_core::scheduler::{Event, SquadSpec};
use squadron_core::{Issue, Phase, Run, RunId, RunTrigger, Squad, SquadId, SquadKind};

use super::milestone::mint_run_id;
use crate::error::{PipelineError, PipelineErrorKind};
use crate::progress::SquadView;
use crate::shared::Shared;

/// Where in Slack a fix was asked for: the squad reports there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackOrigin {
    /// The channel id (`C024BE91L`).
    pub channel: String,
    /// The message whose thread the squad reports in (a "Start fix squad" button's
    /// message); without it the squad starts its own thread in the channel.
    pub thread_ts: Option<String>,
}

/// A request to fix one issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixRequest {
    /// The issue: its key (`ENG-123`) or its Linear URL.
    pub issue: String,
    /// Who asked: a Slack user id, or `cli`.
    pub requested_by: String,
    /// Where in Slack it was asked for, when it was.
    pub slack: Option<SlackOrigin>,
}

/// A fix run whose squad is recorded, ready for the scheduler.
#[derive(Debug)]
pub(crate) struct FixAdmitted {
    pub run: RunId,
    pub view: SquadView,
    pub event: Event,
}

/// Reads the issue to fix. An unknown issue is a [`PipelineErrorKind::NotFound`] error
/// naming it; an issue of a team without a repository is [`PipelineErrorKind::Invalid`].
pub(crate) async fn fetch_issue(
    shared: &Shared,
    request: &FixRequest,
) -> Result<Issue, PipelineError> {
    let issue = match shared.services.tracker.fetch_issue(&request.issue).await {
        Ok(issue) => issue,
        Err(error) if error.kind() == PortErrorKind::NotFound => {
            return Err(PipelineError::new(
                PipelineErrorKind::NotFound,
                format!(
                    "find issue {}: the tracker has no such issue; check the key (ENG-123) or \
                     paste the issue's URL",
                    request.issue
                ),
            ));
        }
        Err(error) => {
            return Err(PipelineError::port(
                format!("read issue {}", request.issue),
                error,
            ));
        }
    };
    let team = &issue.team_key;
    if !shared.settings.repositories.contains_key(team) {
        return Err(PipelineError::new(
            PipelineErrorKind::Invalid,
            format!(
                "start a fix squad for {}: no repository is configured for team {team}; add \
                 [repositories.{team}] to the configuration",
                issue.key
            ),
        ));
    }
    Ok(issue)
}

/// Records the run, its squad and where the fix was asked for.
pub(crate) async fn admit_fix(
    shared: &Shared,
    request: &FixRequest,
    issue: &Issue,
) -> Result<FixAdmitted, PipelineError> {
    let services = &shared.services;
    let now = services.clock.now();
    let run = mint_run_id(services.store.as_ref(), now).await?;
    let id = SquadId::new(format!("{run}-{}", issue.key.as_str().to_ascii_lowercase()));
    let record = SquadRecord {
        squad: Squad {
            id: id.clone(),
            run_id: run.clone(),
            issue: issue.key.clone(),
            kind: SquadKind::BugFix,
            phase: Phase::Queued,
            round: 0,
            pr: None,
            branch: issue.branch_name.clone(),
            worktree: None,
        },
        issue_id: issue.id.clone(),
        blocked_by: Vec::new(),
        starts_after: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    // The thread's channel and opening are read back from here, also after a restart.
    let origin = EventPayload::FixRequested {
        requested_by: request.requested_by.clone(),
        channel: request.slack.as_ref().map(|slack| slack.channel.clone()),
        thread_ts: request
            .slack
            .as_ref()
            .and_then(|slack| slack.thread_ts.clone()),
    };
    let squad = AdmittedSquad {
        record,
        events: vec![
            EventPayload::IssueTitle {
                title: issue.title.clone(),
            },
            origin,
        ],
    };
    // The run, its squad and who asked, together: a crash never leaves a fix run without
    // its squad.
    let trigger = Run {
        id: run.clone(),
        trigger: RunTrigger::Fix {
            issue: issue.key.clone(),
            requested_by: request.requested_by.clone(),
            slack_channel: request.slack.as_ref().map(|slack| slack.channel.clone()),
        },
        created_at: now,
    };
    services
        .store
        .admit_run(&trigger, &[squad])
        .await
        .map_err(|error| {
            PipelineError::port(format!("record run {run} to fix {}", issue.key), error)
        })?;
    tracing::info!(
        run = %run, squad = %id, issue = %issue.key, requested_by = %request.requested_by,
        slack = request.slack.is_some(), "fix squad admitted"
    );
    Ok(FixAdmitted {
        run: run.clone(),
        view: SquadView {
            run: run.clone(),
            squad: id.clone(),
            issue: issue.key.clone(),
            kind: SquadKind::BugFix,
            title: issue.title.clone(),
            phase: Phase::Queued,
            round: 0,
            pr: None,
            pr_url: None,
            merged_sha: None,
            approved_by: Vec::new(),
            tokens: Default::default(),
            cost: Default::default(),
            time_to_merge: None,
            blocked_by: Vec::new(),
            at_work: Vec::new(),
            waiting: None,
        },
        event: Event::RunAdmitted {
            run,
            squads: vec![SquadSpec {
                lane: shared.settings.lane_of(&issue.team_key),
                branch: issue.branch_name.clone(),
                id,
                issue: issue.key.clone(),
                kind: SquadKind::BugFix,
                priority: issue.priority,
                blocked_by: Vec::new(),
                after: Vec::new(),
            }],
            skipped: Vec::new(),
        },
    })
}
