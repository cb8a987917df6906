//! Following a run in the foreground (`squadron run`, `fix`, `demo`): the live view fed
//! from the runtime's progress, with what only the store knows (when each squad started
//! and ended) re-read whenever a squad changes phase, and a tick that keeps elapsed times
//! moving.

use std::collections::HashMap;
use std::time::Duration;

use squadron_core::{RunId, SquadId, Timestamp};
use squadron_pipeline::{PipelineHandle, SquadView};
use squadron_store::SqlStore;

use crate::error::CliError;
use crate::format::now;
use crate::progress::{Frame, Look, ProgressView, SquadFacts};

/// How often elapsed times are redrawn.
const TICK: Duration = Duration::from_secs(1);

/// A run followed to its end.
#[derive(Debug)]
pub struct Followed {
    /// Its squads as they ended.
    pub squads: Vec<SquadView>,
    /// From the run's start to its last squad's end, when the store knows.
    pub duration: Option<Duration>,
}

/// What the store adds to the live view, re-read when a squad's phase changes.
#[derive(Debug)]
pub struct StoreFacts {
    run: RunId,
    started_at: Option<Timestamp>,
    facts: HashMap<SquadId, SquadFacts>,
    /// The phases the facts were read at.
    read_at: Vec<(SquadId, &'static str)>,
}

impl StoreFacts {
    /// Nothing read yet for `run`.
    pub fn new(run: RunId) -> StoreFacts {
        StoreFacts {
            run,
            started_at: None,
            facts: HashMap::new(),
            read_at: Vec::new(),
        }
    }

    /// Re-reads the run and its squads when `squads` moved since the last read. A failed
    /// read keeps what was known: the view is for people, the store stays the truth.
    pub async fn refresh(&mut self, store: &SqlStore, squads: &[SquadView]) {
        let phases: Vec<(SquadId, &'static str)> = squads
            .iter()
            .map(|squad| (squad.squad.clone(), squad.phase.name()))
            .collect();
        if phases == self.read_at {
            return;
        }
        self.read_at = phases;
        if let Ok(record) = store.run(&self.run).await {
            self.started_at = Some(record.run.created_at);
        }
        if let Ok(records) = store.squads_of_run(&self.run).await {
            self.facts = records
                .into_iter()
                .map(|record| {
                    let facts = SquadFacts {
                        created_at: Some(record.created_at),
                        updated_at: Some(record.updated_at),
                    };
                    (record.squad.id, facts)
                })
                .collect();
        }
    }

    /// The frame to draw for `squads` at `now`.
    pub fn frame<'a>(&'a self, squads: &'a [SquadView], now: Timestamp) -> Frame<'a> {
        Frame {
            run: self.run.as_str(),
            started_at: self.started_at,
            squads,
            facts: &self.facts,
            now,
        }
    }

    /// From the run's start to the last change of any of its squads.
    pub fn duration(&self) -> Option<Duration> {
        let started = self.started_at?;
        let last = self
            .facts
            .values()
            .filter_map(|facts| facts.updated_at)
            .max()?;
        Some(last.since(started))
    }
}

/// Shows `run`'s squads as they change until every one has ended, then leaves the last
/// frame on screen. Ctrl-C fails with `interrupted`.
pub async fn follow(
    handle: &PipelineHandle,
    store: &SqlStore,
    run: &RunId,
    interrupted: &str,
    look: Look,
) -> Result<Followed, CliError> {
    let mut progress = handle.progress();
    let mut view = ProgressView::new(look);
    let mut facts = StoreFacts::new(run.clone());
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let squads = progress.borrow_and_update().squads_of(run);
        let finished = progress.borrow().run(run).is_some_and(|run| run.finished);
        facts.refresh(store, &squads).await;
        let frame = facts.frame(&squads, now());
        if finished {
            view.finish(&frame);
            return Ok(Followed {
                duration: facts.duration(),
                squads,
            });
        }
        view.update(&frame);
        tokio::select! {
            changed = progress.changed() => {
                if changed.is_err() {
                    view.finish(&frame);
                    return Err(CliError::internal("the squad runtime stopped before the run finished"));
                }
            }
            _ = tick.tick() => {}
            _ = crate::interrupt::requested() => {
                view.finish(&frame);
                return Err(CliError::transient(interrupted));
            }
        }
    }
}
