//! `squadron resume-lane <owner/repo> <base>`: opens a merge lane that stop the line stopped
//! (the tests failed on the base head after a merge). The store's record of the stop goes;
//! a running daemon sees that at its next tick and lets the lane's next PR merge.

use std::process::ExitCode;

use squadron_core::merge_queue::MergeLane;
use squadron_core::ports::RepoRef;

use crate::cli::{GlobalArgs, ResumeLaneArgs};
use crate::context::{Context, store_error};
use crate::error::CliError;

/// Runs `squadron resume-lane`.
pub async fn run(global: &GlobalArgs, args: &ResumeLaneArgs) -> Result<ExitCode, CliError> {
    let lane = lane_of(&args.repo, &args.base)?;
    let context = Context::load(global)?;
    let Some(store) = context.open_existing_store().await? else {
        return Err(not_stopped(&lane, &[]));
    };
    let outcome = resume(&store, &lane).await;
    store.close().await;
    crate::output::println(&outcome?)?;
    Ok(ExitCode::SUCCESS)
}

async fn resume(store: &squadron_store::SqlStore, lane: &MergeLane) -> Result<String, CliError> {
    let stops = store.lane_stops().await.map_err(store_error)?;
    let Some(stopped) = stops.iter().find(|stopped| stopped.stop.lane == *lane) else {
        let lanes: Vec<String> = stops
            .iter()
            .map(|stopped| stopped.stop.lane.to_string())
            .collect();
        return Err(not_stopped(lane, &lanes));
    };
    store.resume_lane(lane).await.map_err(store_error)?;
    Ok(format!(
        "resumed the merge lane {lane} (stopped when the tests failed after {} merged); a \
         running daemon lets its next pull request merge within seconds",
        stopped.stop.failing.issue
    ))
}

/// The lane `repo` (`owner/name`) and `base` name, or a user error saying the form.
fn lane_of(repo: &str, base: &str) -> Result<MergeLane, CliError> {
    let parts = repo
        .split_once('/')
        .filter(|(owner, name)| !owner.is_empty() && !name.is_empty() && !name.contains('/'));
    let Some((owner, name)) = parts else {
        return Err(
            CliError::user(format!("failed to read the repository `{repo}`"))
                .with_hint("name it as owner/name, e.g. `squadron resume-lane acme/shop main`"),
        );
    };
    if base.trim().is_empty() {
        return Err(
            CliError::user("failed to read the base branch: it is empty")
                .with_hint("name the branch the lane merges into, e.g. `main`"),
        );
    }
    Ok(MergeLane {
        repo: RepoRef::new(owner, name),
        base: base.to_owned(),
    })
}

fn not_stopped(lane: &MergeLane, stopped: &[String]) -> CliError {
    let hint = if stopped.is_empty() {
        "no merge lane is stopped".to_owned()
    } else {
        format!("stopped lanes: {}", stopped.join(", "))
    };
    CliError::user(format!(
        "failed to resume the merge lane {lane}: it is not stopped"
    ))
    .with_hint(hint)
}
