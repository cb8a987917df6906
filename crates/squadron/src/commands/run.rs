//! `squadron run <url>`: one milestone in the foreground, with live progress, ending with a
//! summary table. Exit 0 when every admitted issue merged, 1 otherwise. It runs the squads
//! under the store's runtime lease, so it refuses a store a `squadron serve` runs or whose
//! daemons work squads they share; daemons sharing the squads claim none while it runs.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

use squadron_core::RunId;
use squadron_core::lease::Lease;
use squadron_linear::parse_project_url;
use squadron_pipeline::{PipelineError, PipelineErrorKind, PipelineHandle};
use tracing::info;

use crate::cli::{GlobalArgs, RunArgs};
use crate::commands::follow::{Followed, follow};
use crate::context::Context;
use crate::error::{CliError, ErrorClass, error_chain};
use crate::membership;
use crate::progress::{Look, all_admitted_merged, summary};
use crate::runtime_lease::{RuntimeLease, foreground_id, held_by_whom};
use crate::wiring::SystemClock;
pub use crate::wiring::build_pipeline;

/// Runs `squadron run`.
pub async fn run(global: &GlobalArgs, args: &RunArgs) -> Result<ExitCode, CliError> {
    // A bad URL is refused before anything is opened or contacted.
    parse_project_url(&args.url).map_err(|error| CliError::user(error.to_string()))?;
    let context = Context::load(global)?;
    let look = Look::of_stdout();
    let interrupted = format!(
        "interrupted: every squad's progress is recorded; run `squadron run {}` again to resume",
        args.url
    );
    let url = args.url.clone();
    let followed = follow_to_end(&context, look, &interrupted, |handle| async move {
        handle.start_run(&url).await
    })
    .await?;
    crate::output::println(&summary(&followed.squads, followed.duration, look.width()))?;
    Ok(if all_admitted_merged(&followed.squads) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Builds the runtime on the real adapters, starts a run with `start`, shows its squads'
/// live progress until every one has ended, and stops the runtime. Ctrl-C stops it
/// gracefully and fails with `interrupted` (which says how to pick the run up again).
///
/// The runtime runs under the store's runtime lease, as a `serve` does: a store whose squads
/// a daemon runs, or where daemons sharing the squads hold some, is refused (the run would
/// work them alongside), and losing the lease stops the run.
pub async fn follow_to_end<F, Fut>(
    context: &Context,
    look: Look,
    interrupted: &str,
    start: F,
) -> Result<Followed, CliError>
where
    F: FnOnce(PipelineHandle) -> Fut,
    Fut: Future<Output = Result<RunId, PipelineError>>,
{
    match follow_here(context, look, interrupted, start).await? {
        Here::Followed(followed) => Ok(followed),
        Here::HeldBy(held) => Err(CliError::transient(format!(
            "failed to start: {}",
            held_by_whom(&held)
        ))
        .with_hint(
            "start the run through that daemon (POST the URL to its /api/runs, or `/squad fix` \
             in Slack), or stop it first",
        )),
    }
}

/// Where [`follow_here`] ran the squads.
#[derive(Debug)]
pub enum Here {
    /// Here, to the end of the run.
    Followed(Followed),
    /// Nowhere: this lease of a daemon's holds the squads of the store (all of them, or some
    /// it shares); the run was not started.
    HeldBy(Lease),
}

/// [`follow_to_end`], saying which daemon runs the store's squads when it is not this
/// command instead of failing.
pub async fn follow_here<F, Fut>(
    context: &Context,
    look: Look,
    interrupted: &str,
    start: F,
) -> Result<Here, CliError>
where
    F: FnOnce(PipelineHandle) -> Fut,
    Fut: Future<Output = Result<RunId, PipelineError>>,
{
    let store = context.open_store().await?;
    let lease = RuntimeLease::new(
        foreground_id(),
        &store,
        Arc::new(SystemClock),
        membership::terms(&context.config),
    );
    if let Some(held) = lease.claim().await? {
        return Ok(Here::HeldBy(held));
    }
    let followed = follow_holding(context, &lease, look, interrupted, start).await;
    lease.release().await;
    followed.map(Here::Followed)
}

async fn follow_holding<F, Fut>(
    context: &Context,
    lease: &RuntimeLease,
    look: Look,
    interrupted: &str,
    start: F,
) -> Result<Followed, CliError>
where
    F: FnOnce(PipelineHandle) -> Fut,
    Fut: Future<Output = Result<RunId, PipelineError>>,
{
    let store = Arc::new(lease.store().clone());
    let pipeline = build_pipeline(context, Arc::clone(&store)).await?;
    let handle = pipeline.handle();
    // From here Ctrl-C checkpoints the runtime (its model calls in flight are dropped), and a
    // second one exits at once.
    crate::interrupt::watch();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runtime = tokio::spawn(pipeline.run(async move {
        let _ = stopped.await;
    }));

    let outcome = tokio::select! {
        outcome = async {
            match start(handle.clone()).await {
                Ok(run) => {
                    info!(run = %run, "run started");
                    follow(&handle, &store, &run, interrupted, look).await
                }
                Err(error) => Err(pipeline_error(error)),
            }
        } => outcome,
        lost = lease.keep() => Err(CliError::transient(format!(
            "stopped running the squads: {lost}"
        ))
        .with_hint("another daemon took the store over; its squads go on there")),
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
