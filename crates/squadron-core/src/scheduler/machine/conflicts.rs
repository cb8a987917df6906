//! The scheduler's part in conflicts: a rebase that stops on conflicts becomes a bounded
//! number of conflict-resolution rounds, each verified, pushed and reviewed again by both
//! reviewers (the resolved patch is a new change); then a person gets the files and the PRs
//! the branch conflicts with.

use super::Scheduler;
use crate::domain::{Phase, Timestamp};
use crate::scheduler::command::Command;
use crate::scheduler::event::RebaseConflict;
use crate::scheduler::refusal::Refusal;

impl Scheduler {
    /// A conflict-resolution round, or a person once the rounds are spent.
    pub(super) fn conflicted(
        &mut self,
        i: usize,
        conflict: &RebaseConflict,
        now: Timestamp,
        out: &mut Vec<Command>,
    ) {
        let max = self.config.conflict_rounds;
        let squad = &mut self.squads[i];
        if squad.conflict_rounds >= max {
            let reason = give_up_reason(conflict, squad.conflict_rounds, max);
            self.end(i, Phase::NeedsHuman(reason), false, now, out);
            return;
        }
        squad.conflict_rounds += 1;
        self.enter(i, Phase::ResolvingConflicts, now, out);
    }

    /// The resolution is committed, tested and pushed by verifying, and the new head is
    /// then reviewed again within the review round: no reviewer asked for it.
    pub(super) fn conflicts_resolved(
        &mut self,
        i: usize,
        round: u32,
        event: &'static str,
        now: Timestamp,
        out: &mut Vec<Command>,
    ) -> Result<(), Refusal> {
        let state = &self.squads[i];
        if round != state.conflict_rounds {
            return Err(Refusal::StaleRound {
                squad: state.id.clone(),
                issue: state.issue.clone(),
                round: state.conflict_rounds,
                reported: round,
                event,
            });
        }
        self.forget_reruns(i);
        self.enter(i, Phase::Verifying, now, out);
        Ok(())
    }
}

/// What a person is told when the squad gives up on a conflict: the files, the PRs that
/// landed on the base, and what to do.
fn give_up_reason(conflict: &RebaseConflict, rounds: u32, max: u32) -> String {
    let base = &conflict.base_branch;
    let files: Vec<String> = conflict
        .paths
        .iter()
        .map(|path| format!("`{path}`"))
        .collect();
    let files = if files.is_empty() {
        "files git could not merge".to_owned()
    } else {
        files.join(", ")
    };
    let landed: Vec<String> = conflict.landed.iter().map(ToString::to_string).collect();
    let with = if landed.is_empty() {
        format!("what landed on {base} since the branch forked from it")
    } else {
        landed.join(", ")
    };
    if max == 0 {
        format!(
            "the branch conflicts with {base} in {files}, changed by {with}, and \
             conflict-resolution rounds are off (`limits.conflict_rounds = 0`): rebase it onto \
             {base} and resolve the conflicts by hand"
        )
    } else {
        format!(
            "the branch conflicts with {base} again after conflict-resolution round {rounds} of \
             {max}, in {files}, changed by {with}: rebase it onto {base} and resolve the \
             conflicts by hand"
        )
    }
}
