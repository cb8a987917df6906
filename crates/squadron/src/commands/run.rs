//! `squadron run <url>`: one milestone in the foreground, with live progress, ending with a
//! summary table. Exit 0 when every admitted issue merged, 1 otherwise.

use std::process::ExitCode;
use std::sync::Arc;

use squadron_linear::parse_project_url;
use squadron_pipeline::{PipelineError, PipelineErrorKind, SquadView};
use tracing::info;

use crate::cli::{GlobalArgs, RunArgs};
use crate::context::Context;
use crate::error::{CliError, ErrorClass, error_chain};
use crate::progress::{ProgressView, all_admitted_merged, outcome_counts, summary_table};
pub use crate::wiring::build_pipeline;

/// Runs `squadron run`.
pub async fn run(global: &GlobalArgs, args: &RunArgs) -> Result<ExitCode, CliError> {
    // A bad URL is refused before anything is opened or contacted.
    parse_project_url(&args.url).map_err(|error| CliError::user(error.to_string()))?;
    let context = Context::load(global)?;
    let squads = run_to_end(&context, &args.url).await?;
    println!("{}", summary_table(&squads));
    println!("{}", outcome_counts(&squads));
    Ok(if all_admitted_merged(&squads) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Starts (or resumes) the run for `url` on the real adapters, shows live progress until
/// every squad has ended, and returns the squads. Ctrl-C stops the runtime gracefully: the
/// store keeps every step, and running the same URL again resumes.
pub async fn run_to_end(context: &Context, url: &str) -> Result<Vec<SquadView>, CliError> {
    let store = Arc::new(context.open_store().await?);
    let pipeline = build_pipeline(context, store).await?;
    let handle = pipeline.handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runtime = tokio::spawn(pipeline.run(async move {
        let _ = stopped.await;
    }));

    let run = handle.start_run(url).await.map_err(pipeline_error)?;
    info!(run = %run, "run started");
    let mut progress = handle.progress();
    let mut view = ProgressView::new();
    let outcome = loop {
        view.update(&progress.borrow_and_update().squads_of(&run));
        if progress.borrow().run(&run).is_some_and(|run| run.finished) {
            break Ok(progress.borrow().squads_of(&run));
        }
        tokio::select! {
            changed = progress.changed() => {
                if changed.is_err() {
                    break Err(CliError::internal("the squad runtime stopped before the run finished"));
                }
            }
            _ = tokio::signal::ctrl_c() => {
                break Err(CliError::transient(format!(
                    "interrupted: every squad's progress is recorded; run `squadron run {url}` again to resume"
                )));
            }
        }
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
