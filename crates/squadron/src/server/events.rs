//! `GET /api/events`: squad changes as server-sent events, for the dashboard and for scripts.
//!
//! Each change is an event named `squad` whose data is the squad's JSON (as in
//! `/api/squads`). A client that fell behind gets one `resync` event and should re-read
//! `/api/squads`. The stream ends when the server shuts down, so the drain never waits on it.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tracing::debug;

use super::json::squad_json;
use super::state::AppState;

/// Streams squad changes until the client leaves or the server stops.
pub(crate) async fn stream(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let updates = state.control.subscribe();
    let events = futures::stream::unfold(
        (updates, state.stopping.clone(), state),
        |(mut updates, mut stopping, state)| async move {
            if *stopping.borrow_and_update() {
                return None;
            }
            let event = tokio::select! {
                // A dropped sender means the server is going away as well.
                _ = stopping.changed() => return None,
                update = updates.recv() => match update {
                    Ok(view) => Event::default()
                        .event("squad")
                        .data(squad_json(&view, state.clock.now(), &state.settings.links).to_string()),
                    Err(RecvError::Lagged(missed)) => {
                        debug!(missed, "event stream client fell behind; asking it to resync");
                        Event::default().event("resync").data(missed.to_string())
                    }
                    Err(RecvError::Closed) => return None,
                },
            };
            Some((Ok(event), (updates, stopping, state)))
        },
    );
    Sse::new(events).keep_alive(KeepAlive::default())
}
