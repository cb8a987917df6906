//! Squads shared by the daemons of one store: each daemon schedules only the squads it
//! claimed. It adopts a squad it claimed while it runs, together with the ended blockers the
//! squad waited on (so it knows how they ended), and lets go of a squad whose lease it lost,
//! forgetting it entirely: the store keeps its state for whichever daemon claims it next.

use std::collections::{BTreeMap, BTreeSet};

use super::{PersistedSquad, Scheduler};
use crate::domain::{Phase, RunId, SquadId, Timestamp};
use crate::scheduler::command::Command;

impl Scheduler {
    /// Schedules `squads` in their recorded state while the scheduler runs, as
    /// [`Scheduler::restore`] does at a start, and returns the commands that resume them and
    /// whatever else follows (a free slot filled, a run finished). Squads already scheduled
    /// are left as they are.
    pub fn adopt(&mut self, squads: Vec<PersistedSquad>, now: Timestamp) -> Vec<Command> {
        let mut by_run: BTreeMap<RunId, Vec<PersistedSquad>> = BTreeMap::new();
        for squad in squads {
            if !self.index.contains_key(&squad.spec.id) {
                by_run.entry(squad.run.clone()).or_default().push(squad);
            }
        }
        let mut out = Vec::new();
        for (run, persisted) in by_run {
            self.resume_run(run, persisted, now, &mut out);
        }
        self.settle(now, &mut out);
        out
    }

    /// Forgets `squad`, whose lease this daemon lost or handed over, with the queued squads
    /// here that wait on it, as a blocker or as a squad naming the same files that goes
    /// first (they cannot start without knowing how it ends). No command is
    /// issued for them any more and their slots, merge tickets and places in merge lanes are
    /// freed; the caller stops their work in flight. Returns the squads forgotten, none when
    /// `squad` is not scheduled.
    pub fn let_go(&mut self, squad: &SquadId, now: Timestamp) -> (Vec<SquadId>, Vec<Command>) {
        let Some(&first) = self.index.get(squad) else {
            return (Vec::new(), Vec::new());
        };
        let mut gone = BTreeSet::from([first]);
        loop {
            let waiting: Vec<usize> = (0..self.squads.len())
                .filter(|i| !gone.contains(i) && self.squads[*i].phase == Phase::Queued)
                .filter(|&i| {
                    let squad = &self.squads[i];
                    squad
                        .blocked_by
                        .iter()
                        .chain(&squad.after)
                        .any(|b| gone.contains(b))
                })
                .collect();
            if waiting.is_empty() {
                break;
            }
            gone.extend(waiting);
        }
        let names: Vec<SquadId> = gone.iter().map(|&i| self.squads[i].id.clone()).collect();
        for name in &names {
            self.queue.withdraw(name);
            self.queue.finish(name);
        }
        self.forget(&gone);
        // Freed slots and lanes go to the squads that stay.
        let mut out = Vec::new();
        self.settle(now, &mut out);
        (names, out)
    }
}
