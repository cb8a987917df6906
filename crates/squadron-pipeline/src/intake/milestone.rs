//! Intake: a pasted milestone URL becomes a recorded run — the milestone resolved, its
//! issues admitted or skipped (with a comment saying why), a squad recorded per issue — and
//! the scheduler's `RunAdmitted` event.

use std::collections::HashMap;

use squadron_core::admission::{Decision, Verdict, admit, decision_comment};
use squadron_core::ports::SquadRecord;
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
    pub reply: Option<oneshot::Sender<Result<RunId, PipelineError>>>,
}

/// Resolves `url`, admits its issues, records the run and its squads, and comments on the
/// issues left out.
pub(crate) async fn admit_run(shared: &Shared, url: &str) -> Result<Admitted, PipelineError> {
    let services = &shared.services;
    let intake = services
        .tracker
        .resolve_milestone(url)
        .await
        .map_err(|error| PipelineError::port(format!("resolve the milestone of {url}"), error))?;
    let admission = admit(&intake.issues, &shared.settings.refinement);
    let now = services.clock.now();
    let run = mint_run_id(shared, now).await?;
    services
        .store
        .create_run(&Run {
            id: run.clone(),
            trigger: RunTrigger::Milestone {
                url: url.to_owned(),
            },
            created_at: now,
        })
        .await
        .map_err(|error| PipelineError::port(format!("record run {run}"), error))?;
    tracing::info!(
        run = %run, %url, milestone = %intake.milestone.name, issues = intake.issues.len(),
        admitted = admission.admitted().count(), "run admitted"
    );
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
    for decision in &admission.decisions {
        let Some(issue) = issues.get(&decision.key) else {
            continue;
        };
        let id = squad_id(&decision.key);
        record_squad(shared, &run, &id, issue, decision, now).await?;
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
        comment_on_decision(shared, decision).await;
    }
    Ok(Admitted {
        url: url.to_owned(),
        run: run.clone(),
        views,
        event: Event::RunAdmitted {
            run,
            squads,
            skipped,
        },
        reply: None,
    })
}

/// A run id unused in the store: `run-<unix millis>`, with a suffix if taken.
pub(crate) async fn mint_run_id(shared: &Shared, now: Timestamp) -> Result<RunId, PipelineError> {
    for attempt in 0..100_u32 {
        let id = match attempt {
            0 => RunId::new(format!("run-{}", now.as_millis())),
            n => RunId::new(format!("run-{}-{n}", now.as_millis())),
        };
        match shared.services.store.run(&id).await {
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

async fn record_squad(
    shared: &Shared,
    run: &RunId,
    id: &SquadId,
    issue: &Issue,
    decision: &Decision,
    now: Timestamp,
) -> Result<(), PipelineError> {
    let record = SquadRecord {
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
        created_at: now,
        updated_at: now,
    };
    shared
        .services
        .store
        .create_squad(&record)
        .await
        .map_err(|error| PipelineError::port(format!("record the squad of {}", issue.key), error))
}

/// Tells the issue why it was left out (once, whatever the number of runs).
async fn comment_on_decision(shared: &Shared, decision: &Decision) {
    let Some(comment) = decision_comment(decision) else {
        return;
    };
    let key = format!("{}/comment/{}", decision.key, comment.marker);
    let tracker = &shared.services.tracker;
    let posted = effects::once(shared, &key, None, "comment", |_| async {
        tracker
            .comment_once(&decision.key, &comment.marker, &comment.body)
            .await
            .map(|outcome| format!("{outcome:?}"))
            .map_err(|error| StepFailure::port(format!("comment on {}", decision.key), &error))
    })
    .await;
    match posted {
        Ok(_) => {
            tracing::info!(issue = %decision.key, marker = %comment.marker, "explained the decision on the issue")
        }
        Err(error) => {
            tracing::warn!(issue = %decision.key, %error, "could not comment on the issue")
        }
    }
}
