//! The diagnosis step of a bug fix: the Sentry stub is read, its stack frames are placed in
//! the repository, and the Diagnostician (read-only tools) investigates and submits a
//! hypothesis, a fix plan and a confidence. The diagnosis is recorded in the squad's event
//! log before anything is posted, so a restarted runtime neither diagnoses twice nor loses
//! the plan that later stands in for the refined issue; it is then posted on the issue and
//! in the squad's chat thread, and the squad goes on only when it is confident enough.

use std::path::{Path, PathBuf};

use squadron_config::{PromptName, fence};
use squadron_core::bug_report::{BugReport, FrameLocation, MappedFrame, map_frames_to_files};
use squadron_core::effect::EffectKey;
use squadron_core::ports::{Confidence, SquadUpdate};
use squadron_core::scheduler::{DiagnosisSummary, Event};
use squadron_core::{Role, StepFailure};
use squadron_harness::Diagnosis;

use crate::diagnosis::record;
use crate::effects;
use crate::notify::{self, Subject};
use crate::outcome::Outcome;
use crate::prompts::{TurnResult, TurnStop, run_turn, task_context};
use crate::shared::Shared;
use crate::squad::SquadCtx;

/// Repository files listed for frame mapping at most: enough for any application, and a
/// bound on a worktree full of generated files.
const FILE_LIMIT: usize = 50_000;

/// Diagnoses the squad's bug (or reads the diagnosis a run before a restart recorded),
/// posts it, and reports whether it is confident enough to fix.
pub(crate) async fn diagnose(
    shared: &Shared,
    ctx: &mut SquadCtx,
) -> Result<Vec<Outcome>, TurnStop> {
    ctx.ensure_workspace(shared).await?;
    ctx.ensure_diagnosis(shared).await?;
    let diagnosis = match ctx.diagnosis.clone() {
        Some(diagnosis) => {
            tracing::info!(squad = %ctx.squad, issue = %ctx.issue_key, "the diagnosis was recorded before a restart; not diagnosing again");
            diagnosis
        }
        None => {
            let diagnosis = investigate(shared, ctx).await?;
            record(shared, &ctx.squad, &diagnosis).await?;
            diagnosis
        }
    };
    ctx.diagnosis = Some(diagnosis.clone());
    let minimum = shared.settings.min_confidence;
    let confident = diagnosis.confidence >= minimum;
    tracing::info!(
        run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key,
        confidence = %diagnosis.confidence, minimum = %minimum, confident, "diagnosed"
    );
    comment(shared, ctx, &diagnosis, confident).await;
    notify::post(
        shared,
        &Subject::of(ctx),
        "diagnosis",
        SquadUpdate::Diagnosis {
            hypothesis: diagnosis.hypothesis.clone(),
            plan: diagnosis.plan.clone(),
            confidence: diagnosis.confidence,
        },
    );
    Ok(vec![Outcome::Event(Event::Diagnosed {
        squad: ctx.squad.clone(),
        diagnosis: DiagnosisSummary {
            confidence: diagnosis.confidence,
            required: minimum,
            hypothesis: diagnosis.hypothesis,
            plan: diagnosis.plan,
        },
    })])
}

/// Runs the Diagnostician on the bug report with its frames placed in the repository.
async fn investigate(shared: &Shared, ctx: &mut SquadCtx) -> Result<Diagnosis, TurnStop> {
    let issue = ctx.issue(shared).await?.clone();
    let report = BugReport::from_issue(&issue);
    let root = ctx.prepared()?.path.clone();
    let files = repository_files(root).await?;
    let frames = map_frames_to_files(&report.frames, &files);
    tracing::info!(
        squad = %ctx.squad, issue = %ctx.issue_key, sentry = ?report.sentry_short_id,
        frames = frames.len(),
        in_repository = frames.iter().filter(|frame| frame.repository_file().is_some()).count(),
        "read the bug report"
    );
    let max = shared.settings.scheduler.max_review_rounds;
    let task = task_context(ctx, Role::Diagnostician, 0, max);
    let extra = report_section(&report, &frames);
    match run_turn(
        shared,
        ctx,
        Role::Diagnostician,
        PromptName::Diagnose,
        &task,
        Some(&extra),
    )
    .await?
    {
        TurnResult::Diagnosed(diagnosis) => Ok(diagnosis),
        TurnResult::Finished(_) | TurnResult::Reviewed(_) => {
            Err(TurnStop::Failed(StepFailure::needs_person(
                "get the diagnosis: the diagnostician ended its turn without calling \
                 submit_diagnosis",
            )))
        }
    }
}

/// What the harness read from the report, for the diagnose prompt. Everything taken from
/// the issue (ids, exception text, frame names) is fenced as untrusted data.
fn report_section(report: &BugReport, frames: &[MappedFrame]) -> String {
    let mut text = String::new();
    if let Some(id) = &report.sentry_short_id {
        text.push_str(&format!("Sentry issue: {id}\n"));
    }
    if let Some(url) = &report.sentry_url {
        text.push_str(&format!("Sentry link: {url}\n"));
    }
    if let Some(exception) = &report.exception {
        text.push_str(&format!(
            "Exception: {}: {}\n",
            exception.type_name, exception.message
        ));
    }
    if !frames.is_empty() {
        text.push_str("Frames, in the order the trace lists them:\n");
        for mapped in frames {
            text.push_str(&format!("- {}\n", frame_line(mapped)));
        }
    }
    let intro = if frames.is_empty() {
        "The harness found no stack frames in the report: work from its text."
    } else {
        "The harness read the report's stack trace and placed each frame in this repository. \
         Start from the innermost frame that is in the repository."
    };
    format!(
        "## The report, as read by the harness\n{intro}\n{}",
        fence("bug report frames", &text)
    )
}

fn frame_line(mapped: &MappedFrame) -> String {
    let frame = &mapped.frame;
    let mut line = frame.file.clone();
    if let Some(number) = frame.line {
        line.push_str(&format!(":{number}"));
    }
    if let Some(function) = &frame.function {
        line.push_str(&format!(" in {function}"));
    }
    let place = match &mapped.location {
        FrameLocation::Repository { path } => format!("repository file `{path}`"),
        FrameLocation::Ambiguous { candidates } => format!(
            "one of {}",
            candidates
                .iter()
                .map(|path| format!("`{path}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        FrameLocation::NotInApp => "library or runtime code".to_owned(),
        FrameLocation::NotFound => "not found in the repository".to_owned(),
    };
    format!("{line} -> {place}")
}

/// The worktree's files, relative to its root with `/` separators, sorted; `.git` and
/// symbolic links are left out.
async fn repository_files(root: PathBuf) -> Result<Vec<String>, StepFailure> {
    let doing = format!("list the files of {}", root.display());
    match tokio::task::spawn_blocking(move || list_files(&root)).await {
        Ok(Ok(files)) => Ok(files),
        Ok(Err(error)) => Err(StepFailure::internal(doing).caused_by(&error)),
        Err(error) => Err(StepFailure::internal(doing).caused_by(&error)),
    }
}

fn list_files(root: &Path) -> std::io::Result<Vec<String>> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if entry.file_name() == ".git" || kind.is_symlink() {
                continue;
            }
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(root) {
                let parts: Vec<String> = relative
                    .components()
                    .map(|part| part.as_os_str().to_string_lossy().into_owned())
                    .collect();
                files.push(parts.join("/"));
                if files.len() >= FILE_LIMIT {
                    files.sort();
                    return Ok(files);
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Posts the diagnosis on the issue, once per squad.
async fn comment(shared: &Shared, ctx: &SquadCtx, diagnosis: &Diagnosis, confident: bool) {
    let marker = format!("diagnosis-{}", ctx.squad);
    let key = EffectKey::Comment {
        issue: ctx.issue_key.clone(),
        marker: marker.clone(),
        squad: Some(ctx.squad.clone()),
    };
    let body = comment_body(ctx, diagnosis, confident, shared.settings.min_confidence);
    let tracker = &shared.services.tracker;
    let posted = effects::once(shared, &key, |_| async {
        tracker
            .comment_once(&ctx.issue_key, &marker, &body)
            .await
            .map_err(|error| StepFailure::port(format!("comment on {}", ctx.issue_key), &error))
    })
    .await;
    if let Err(error) = posted {
        tracing::warn!(squad = %ctx.squad, %error, "could not post the diagnosis on the issue; it is in the squad's log");
    }
}

fn comment_body(
    ctx: &SquadCtx,
    diagnosis: &Diagnosis,
    confident: bool,
    minimum: Confidence,
) -> String {
    let files = if diagnosis.files.is_empty() {
        "(none named)".to_owned()
    } else {
        diagnosis
            .files
            .iter()
            .map(|file| format!("`{file}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let next = if confident {
        "Squadron goes on to fix it: the plan stands in for the issue's acceptance criteria, and \
         QA writes a regression test that reproduces the bug."
            .to_owned()
    } else {
        format!(
            "The confidence is below the required {minimum}, so Squadron stops here: a person \
             should read the plan and decide how to proceed."
        )
    };
    format!(
        "**Squadron's diagnosis of {}** (confidence: {})\n\n### Hypothesis\n{}\n\n### Fix plan\n{}\n\nFiles the fix is expected to touch: {files}\n\n{next}",
        ctx.issue_key,
        diagnosis.confidence,
        diagnosis.hypothesis.trim(),
        diagnosis.plan.trim()
    )
}
