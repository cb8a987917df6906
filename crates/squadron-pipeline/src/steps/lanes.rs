//! The store's merge lanes, for daemons sharing the squads of one store: each daemon's
//! scheduler lets one squad at a time merge into a base, and the store's lane of that base
//! (a lease, renewed by the daemon's heartbeat) keeps two daemons from merging into it at
//! once. A merge takes it before it starts and checks it again right before the code host
//! merges; the base test after a merge releases it. A store worked by one daemon alone takes
//! no lane of its own.

use std::time::Duration;

use squadron_core::merge_queue::MergeLane;
use squadron_core::{FailureKind, StepFailure};

use super::stop::Stop;
use crate::shared::Shared;
use crate::squad::SquadCtx;

/// How long a merge waits for the lane another daemon holds before it fails (and is tried
/// again, as any transient failure): longer than a merge and the base test after it.
const WAIT_AT_MOST: Duration = Duration::from_secs(30 * 60);

/// How the lane was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LaneTaken {
    /// Held by this daemon now.
    Held,
    /// Held by this daemon now, but the store records the lane as stopped (another daemon's
    /// base test failed while this one waited): nothing may merge there.
    Stopped,
}

/// Takes `lane` for the squad of `ctx`, waiting while another daemon holds it.
///
/// # Errors
/// A transient failure when the store does not answer, or the lane stayed held by another
/// daemon for [`WAIT_AT_MOST`].
pub(crate) async fn wait_for(
    shared: &Shared,
    ctx: &SquadCtx,
    lane: &MergeLane,
) -> Result<LaneTaken, Stop> {
    let store = &shared.services.store;
    let started = tokio::time::Instant::now();
    let mut waited_for = None;
    loop {
        let holder = store
            .take_merge_lane(lane, shared.services.clock.now())
            .await
            .map_err(|error| {
                Stop::Failed(StepFailure::port(
                    format!("take the merge lane {lane}"),
                    &error,
                ))
            })?;
        let Some(holder) = holder else {
            break;
        };
        if waited_for.as_ref() != Some(&holder.holder) {
            tracing::info!(
                squad = %ctx.squad, issue = %ctx.issue_key, %lane, daemon = %holder.holder,
                "another daemon merges into this base; waiting for its merge lane"
            );
            waited_for = Some(holder.holder.clone());
        }
        if started.elapsed() >= WAIT_AT_MOST {
            return Err(Stop::Failed(
                StepFailure::new(
                    FailureKind::Transient,
                    format!("take the merge lane {lane}"),
                )
                .because(format!(
                    "daemon `{}` has held it for over {} minutes",
                    holder.holder,
                    WAIT_AT_MOST.as_secs() / 60
                )),
            ));
        }
        tokio::time::sleep(shared.settings.tick_every).await;
    }
    if waited_for.is_none() {
        return Ok(LaneTaken::Held);
    }
    let stops = store
        .lane_stops()
        .await
        .map_err(|error| Stop::Failed(StepFailure::port("read the stopped merge lanes", &error)))?;
    Ok(if stops.iter().any(|stopped| stopped.stop.lane == *lane) {
        LaneTaken::Stopped
    } else {
        LaneTaken::Held
    })
}

/// Whether this daemon still holds `lane`, renewing it: checked right before merging.
///
/// # Errors
/// A transient failure when another daemon took the lane (this one was paused or cut off
/// past its lease) or the store does not answer.
pub(crate) async fn still_held(shared: &Shared, lane: &MergeLane) -> Result<(), StepFailure> {
    let holder = shared
        .services
        .store
        .take_merge_lane(lane, shared.services.clock.now())
        .await
        .map_err(|error| StepFailure::port(format!("take the merge lane {lane}"), &error))?;
    match holder {
        None => Ok(()),
        Some(holder) => Err(
            StepFailure::new(FailureKind::Transient, format!("merge into {lane}")).because(
                format!(
                    "daemon `{}` took the merge lane over; merging waits for it",
                    holder.holder
                ),
            ),
        ),
    }
}

/// Releases `lane` if this daemon holds it; a failure is logged (the lease lapses).
pub(crate) async fn release(shared: &Shared, lane: &MergeLane) {
    if let Err(error) = shared
        .services
        .store
        .release_merge_lane(lane, shared.services.clock.now())
        .await
    {
        tracing::warn!(%lane, %error, "could not release the merge lane; it lapses with its lease");
    }
}
