//! `squadron run <url>`: one milestone in the foreground, with live progress, ending with a
//! summary table. Exit 0 when every admitted issue merged, 1 otherwise.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

use squadron_core::RunId;
use squadron_linear::parse_project_url;
use squadron_pipeline::{PipelineError, PipelineErrorKind, PipelineHandle, SquadView};
use tracing::info;

use crate::cli::{GlobalArgs, RunArgs};
use crate::context::Context;
use crate::error::{CliError, ErrorClass, error_chain};
use crate::progress::{ProgressView, all_admitted_merged, summary};
pub use crate::wiring::build_pipeline;

/// Runs `squadron run`.
pub async fn run(global: &GlobalArgs, args: &RunArgs) -> Result<ExitCode, CliError> {
    // A bad URL is refused before anything is opened or contacted.
    parse_project_url(&args.url).map_err(|error| CliError::user(error.to_string()))?;
    let context = Context::load(global)?;
    let squads = run_to_end(&context, &args.url).await?;
    crate::output::println(&summary(&squads))?;
    Ok(if all_admitted_merged(&squads) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Starts (or resumes) the run for `url` on the real adapters, shows live progress until
/// every squad has ended, and returns the squads. Ctrl-C stops the runtime gracefully: the
/// store keeps every step, and running the same URL again resumes.
async fn run_to_end(context: &Context, url: &str) -> Result<Vec<SquadView>, CliError> {
    let interrupted = format!(
        "interrupted: every squad's progress is recorded; run `squadron run {url}` again to resume"
    );
    follow_to_end(context, &interrupted, |handle| async move {
        handle.start_run(url).await
    })
    .await
}

/// Builds the runtime on the real adapters, starts a run with `start`, shows its squads'
/// live progress until every one has ended, and stops the runtime. Ctrl-C stops it
/// gracefully and fails with `interrupted` (which says how to pick the run up again).
pub async fn follow_to_end<F, Fut>(
    context: &Context,
    interrupted: &str,
    start: F,
) -> Result<Vec<SquadView>, CliError>
where
    F: FnOnce(PipelineHandle) -> Fut,
    Fut: Future<Output = Result<RunId, PipelineError>>,
{
    let store = Arc::new(context.open_store().await?);
    let pipeline = build_pipeline(context, store).await?;
    let handle = pipeline.handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runtime = tokio::spawn(pipeline.run(async move {
        let _ = stopped.await;
    }));

    let outcome = match start(handle.clone()).await {
        Ok(run) => {
            info!(run = %run, "run started");
            follow(&handle, &run, interrupted).await
        }
        Err(error) => Err(pipeline_error(error)),
    };
    let _ = stop.send(());
    match runtime.await {
        Ok(Ok(())) => outcome,
        Ok(Err(error)) => Err(pipeline_error(error)),
        Err(error) => Err(CliError::internal(format!(
            "the squad runtime panicked: {error}"
        ))),
    }
}

/// Shows `run`'s squads as they change until every one has ended, or Ctrl-C.
async fn follow(
    handle: &PipelineHandle,
    run: &RunId,
    interrupted: &str,
) -> Result<Vec<SquadView>, CliError> {
    let mut progress = handle.progress();
    let mut view = ProgressView::new();
    loop {
        view.update(&progress.borrow_and_update().squads_of(run));
        if progress.borrow().run(run).is_some_and(|run| run.finished) {
            return Ok(progress.borrow().squads_of(run));
        }
        tokio::select! {
            changed = progress.changed() => {
                if changed.is_err() {
                    return Err(CliError::internal("the squad runtime stopped before the run finished"));
                }
            }
            _ = tokio::signal::ctrl_c() => {
                return Err(CliError::transient(interrupted));
            }
        }
    }
}

/// A runtime failure, sorted by what the user can do about it.
pub fn pipeline_error(error: PipelineError) -> CliError {
    let class = match error.kind() {
        PipelineErrorKind::Invalid | PipelineErrorKind::NotFound => ErrorClass::User,
        PipelineErrorKind::Auth => ErrorClass::Config,
        PipelineErrorKind::Transient | PipelineErrorKind::Stopped => ErrorClass::Transient,
        PipelineErrorKind::Internal => ErrorClass::Internal,
    };
    CliError::new(class, format!("failed to {}", error_chain(&error)))
}
