//! Intake: a pasted milestone URL becomes a recorded run — the milestone resolved, its
//! issues admitted or skipped (with a comment saying why), a squad recorded per issue — and
//! the scheduler's `RunAdmitted` event.

use std::collections::HashMap;
use std::sync::Arc;

use squadron_core::admission::{Decision, Verdict, admit, decision_comment};
use squadron_core::effect::EffectKey;
use squadron_core::event_payload::EventPayload;
use squadron_core::ports::{AdmittedSquad, SquadRecord};
use squadron_core::scheduler::{Event, SkippedSquad, SquadSpec};
use squadron_core::{
    Issue, IssueKey, Phase, Run, RunId, RunTrigger, Squad, SquadId, SquadKind, StepFailure,
    Timestamp,
};
use tokio::sync::oneshot;

use crate::effects;
use crate::error::{PipelineError, PipelineErrorKind};
use crate::progress::SquadView;
use crate::shared::Shared;

/// A run whose squads are recorded, ready for the scheduler.
#[derive(Debug)]
pub(crate) struct Admitted {
    pub url: String,
    pub run: RunId,
    pub views: Vec<SquadView>,
    pub event: Event,
    /// The comments to post on the issues left out, once the admission is recorded.
    pub comments: Vec<PendingComment>,
    pub reply: Option<oneshot::Sender<Result<RunId, PipelineError>>>,
}

/// A comment on an issue saying why it was left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PendingComment {
    pub issue: IssueKey,
    pub marker: String,
    pub body: String,
}

impl PendingComment {
    /// The comment as the squad's event log records it with the admission, to be posted
    /// afterwards (through the journal).
    fn payload(&self) -> EventPayload {
        EventPayload::PendingComment {
            issue: self.issue.clone(),
            marker: self.marker.clone(),
            body: self.body.clone(),
        }
    }

    fn from_payload(payload: Option<&EventPayload>) -> Option<PendingComment> {
        match payload? {
            EventPayload::PendingComment {
                issue,
                marker,
                body,
            } => Some(PendingComment {
                issue: issue.clone(),
                marker: marker.clone(),
                body: body.clone(),
            }),
            _ => None,
        }
    }
}

/// Resolves `url`, admits its issues, and records the run with every squad, admitted or
/// skipped, in one transaction: a crash leaves the whole admission or none of it, and a
/// skipped issue is recorded as skipped, never as a queued squad a restart would resume.
/// The comments on the issues left out are recorded with it and returned, to be posted
/// once the admission stands.
pub(crate) async fn admit_run(shared: &Shared, url: &str) -> Result<Admitted, PipelineError> {
    let services = &shared.services;
    let intake = services
        .tracker
        .resolve_milestone(url)
        .await
        .map_err(|error| PipelineError::port(format!("resolve the milestone of {url}"), error))?;
    let admission = admit(&intake.issues, &shared.settings.refinement);
    let now = services.clock.now();
    let run = mint_run_id(shared.services.store.as_ref(), now).await?;
    let issues: HashMap<&IssueKey, &Issue> = intake
        .issues
        .iter()
        .map(|issue| (&issue.key, issue))
        .collect();
    let squad_id =
        |key: &IssueKey| SquadId::new(format!("{run}-{}", key.as_str().to_ascii_lowercase()));
    let mut squads = Vec::new();
    let mut skipped = Vec::new();
    let mut views = Vec::new();
    let mut records = Vec::new();
    let mut comments = Vec::new();
    for decision in &admission.decisions {
        let Some(issue) = issues.get(&decision.key) else {
            continue;
        };
        let id = squad_id(&decision.key);
        views.push(SquadView {
            run: run.clone(),
            squad: id.clone(),
            issue: decision.key.clone(),
            kind: SquadKind::Feature,
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
            blocked_by: decision
                .waits_for()
                .iter()
                .filter(|key| issues.contains_key(key))
                .cloned()
                .collect(),
            at_work: Vec::new(),
            waiting: None,
        });
        let team = &issue.team_key;
        let skips_before = skipped.len();
        let mut record = squad_record(&run, &id, issue, decision, now);
        match &decision.verdict {
            Verdict::Admit { waits_for } if shared.settings.repositories.contains_key(team) => {
                squads.push(SquadSpec {
                    lane: shared.settings.lane_of(team),
                    branch: issue.branch_name.clone(),
                    id,
                    issue: decision.key.clone(),
                    kind: SquadKind::Feature,
                    priority: issue.priority,
                    blocked_by: waits_for
                        .iter()
                        .filter(|key| issues.contains_key(key))
                        .map(squad_id)
                        .collect(),
                    after: decision
                        .after
                        .iter()
                        .map(|overlap| squad_id(&overlap.issue))
                        .collect(),
                });
            }
            Verdict::Admit { .. } => skipped.push(SkippedSquad {
                id,
                issue: decision.key.clone(),
                reason: format!(
                    "no repository is configured for team {team}: add [repositories.{team}] to \
                     the configuration"
                ),
            }),
            Verdict::NeedsHuman { .. } | Verdict::Skip { .. } => {
                let reasons: Vec<String> =
                    decision.reasons().iter().map(ToString::to_string).collect();
                skipped.push(SkippedSquad {
                    id,
                    issue: decision.key.clone(),
                    reason: reasons.join("; "),
                });
            }
        }
        if let Some([skip]) = skipped.get(skips_before..) {
            record.squad.phase = Phase::Skipped(skip.reason.clone());
        }
        let comment = decision_comment(decision).map(|comment| PendingComment {
            issue: decision.key.clone(),
            marker: comment.marker,
            body: comment.body,
        });
        let title = EventPayload::IssueTitle {
            title: issue.title.clone(),
        };
        let events = std::iter::once(title)
            .chain(comment.iter().map(PendingComment::payload))
            .collect();
        comments.extend(comment);
        records.push(AdmittedSquad { record, events });
    }
    let record = Run {
        id: run.clone(),
        trigger: RunTrigger::Milestone {
            url: url.to_owned(),
        },
        created_at: now,
    };
    services
        .store
        .admit_run(&record, &records)
        .await
        .map_err(|error| PipelineError::port(format!("record run {run} and its squads"), error))?;
    tracing::info!(
        run = %run, %url, milestone = %intake.milestone.name, issues = intake.issues.len(),
        admitted = admission.admitted().count(), "run admitted"
    );
    Ok(Admitted {
        url: url.to_owned(),
        run: run.clone(),
        views,
        event: Event::RunAdmitted {
            run,
            squads,
            skipped,
        },
        comments,
        reply: None,
    })
}

/// A run id unused in the store: `run-<unix millis>`, with a suffix if taken.
pub(crate) async fn mint_run_id(
    store: &dyn squadron_core::ports::Store,
    now: Timestamp,
) -> Result<RunId, PipelineError> {
    for attempt in 0..100_u32 {
        let id = match attempt {
            0 => RunId::new(format!("run-{}", now.as_millis())),
            n => RunId::new(format!("run-{}-{n}", now.as_millis())),
        };
        match store.run(&id).await {
            Err(error) if error.kind() == squadron_core::ports::PortErrorKind::NotFound => {
                return Ok(id);
            }
            Err(error) => {
                return Err(PipelineError::port("look up existing runs", error));
            }
            Ok(_) => {}
        }
    }
    Err(PipelineError::new(
        PipelineErrorKind::Internal,
        "mint a run id: a hundred ids for this millisecond are taken",
    ))
}

/// The squad recorded for `issue`, queued until the decision says otherwise.
fn squad_record(
    run: &RunId,
    id: &SquadId,
    issue: &Issue,
    decision: &Decision,
    now: Timestamp,
) -> SquadRecord {
    SquadRecord {
        squad: Squad {
            id: id.clone(),
            run_id: run.clone(),
            issue: issue.key.clone(),
            kind: SquadKind::Feature,
            phase: Phase::Queued,
            round: 0,
            pr: None,
            branch: issue.branch_name.clone(),
            worktree: None,
        },
        issue_id: issue.id.clone(),
        blocked_by: decision.waits_for().to_vec(),
        starts_after: decision
            .after
            .iter()
            .map(|overlap| overlap.issue.clone())
            .collect(),
        created_at: now,
        updated_at: now,
    }
}

/// Posts `comments` on their issues in the background, each once through the journal.
pub(crate) fn post_comments(shared: Arc<Shared>, comments: Vec<PendingComment>) {
    if comments.is_empty() {
        return;
    }
    tokio::spawn(async move {
        for comment in &comments {
            post_comment(&shared, comment).await;
        }
    });
}

/// After a restart, posts the comments recorded with the admission of `skipped` squads
/// (those of unfinished runs) that may not have been posted before the daemon stopped; the
/// journal makes a posted one a no-op.
pub(crate) fn resume_comments(shared: Arc<Shared>, skipped: Vec<SquadId>) {
    if skipped.is_empty() {
        return;
    }
    tokio::spawn(async move {
        for squad in &skipped {
            let events = match shared.services.store.events(squad).await {
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!(squad = %squad, %error, "could not read the comments left to post");
                    continue;
                }
            };
            for event in events
                .iter()
                .filter(|event| event.kind == EventPayload::PENDING_COMMENT)
            {
                match PendingComment::from_payload(event.note.as_ref()) {
                    Some(comment) => post_comment(&shared, &comment).await,
                    None => {
                        tracing::warn!(squad = %squad, "a recorded comment is malformed; not posting it")
                    }
                }
            }
        }
    });
}

/// Tells the issue why it was left out (once, whatever the number of runs).
async fn post_comment(shared: &Shared, comment: &PendingComment) {
    let key = EffectKey::Comment {
        issue: comment.issue.clone(),
        marker: comment.marker.clone(),
        squad: None,
    };
    let tracker = &shared.services.tracker;
    let posted = effects::once(shared, &key, |_| async {
        tracker
            .comment_once(&comment.issue, &comment.marker, &comment.body)
            .await
            .map_err(|error| StepFailure::port(format!("comment on {}", comment.issue), &error))
    })
    .await;
    match posted {
        Ok(_) => {
            tracing::info!(issue = %comment.issue, marker = %comment.marker, "explained the decision on the issue")
        }
        Err(error) => {
            tracing::warn!(issue = %comment.issue, %error, "could not comment on the issue")
        }
    }
}
