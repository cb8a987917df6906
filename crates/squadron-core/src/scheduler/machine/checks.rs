//! The scheduler's part in red required checks: a failed check is read on the head and on
//! the base's head, then handed to a person (pre-existing), run again once (flaky suspect)
//! or fixed in a bounded CI-fix round; a check that never reports is named after a wait. A
//! lane holder whose merge with the moved base fails the tests takes a CI-fix round too.

use std::time::Duration;

use super::Scheduler;
use crate::ci_triage::{CheckTriage, never_reported, pre_existing_reason, triage_failed_check};
use crate::domain::{Phase, Timestamp};
use crate::event_payload::EventPayload;
use crate::gate::{CommitSha, GateBlocker};
use crate::merge_queue::RebaseReason;
use crate::scheduler::command::Command;
use crate::scheduler::event::{FailedCheck, RefusedRerun};

/// What a squad remembers of its red checks.
#[derive(Clone, Debug, Default)]
pub(super) struct CiMemory {
    /// CI-fix rounds started.
    pub(super) rounds: u32,
    /// Checks the squad asked to run again, with the commit they ran on; forgotten when the
    /// head moves, since a new head gets fresh runs.
    pub(super) rerun: Vec<(String, CommitSha)>,
}

impl Scheduler {
    /// Whether the gate's blockers are failed checks and nothing a person must see: then
    /// they are read on the head and the base's head, and the squad waits for that.
    pub(super) fn read_failed_checks(
        &mut self,
        i: usize,
        blockers: &[GateBlocker],
        passes_in_time: impl Fn(&GateBlocker) -> bool,
        now: Timestamp,
        out: &mut Vec<Command>,
    ) -> bool {
        let names: Vec<String> = blockers
            .iter()
            .filter_map(|blocker| match blocker {
                GateBlocker::CheckFailed { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect();
        let only_checks = blockers
            .iter()
            .all(|b| passes_in_time(b) || matches!(b, GateBlocker::CheckFailed { .. }));
        if names.is_empty() || !only_checks {
            return false;
        }
        // The gate's wait goes on (its limit still counts), but nothing asks it again until
        // the checks are read and dealt with.
        let squad = &mut self.squads[i];
        squad.gate.since.get_or_insert(now);
        squad.gate.ask_at = None;
        let command = Command::ReadChecks {
            squad: squad.id.clone(),
            names,
        };
        self.issue(i, command, out);
        true
    }

    /// The reason to stop for required checks that never reported on the head, once the
    /// gate has waited `check_report_wait` for them since it started waiting.
    pub(super) fn never_reported_reason(
        &self,
        blockers: &[GateBlocker],
        since: Timestamp,
        now: Timestamp,
    ) -> Option<String> {
        let missing = missing_checks(blockers);
        never_reported(&missing, now.since(since), self.config.check_report_wait)
            .map(|overdue| overdue.to_string())
    }

    /// When the wait for the required checks missing on the head ends, if some are missing
    /// and it has not ended yet: the gate is asked again then, so they are named on time.
    pub(super) fn missing_check_deadline(
        &self,
        blockers: &[GateBlocker],
        since: Timestamp,
        now: Timestamp,
    ) -> Option<Timestamp> {
        if missing_checks(blockers).is_empty() {
            return None;
        }
        Some(since + self.config.check_report_wait).filter(|deadline| *deadline > now)
    }

    /// Whose failure each check is decides what happens: any failure that predates the PR
    /// goes to a person untouched; only suspects of flakiness are run again; otherwise the
    /// squad fixes them.
    pub(super) fn checks_read(
        &mut self,
        i: usize,
        failed: Vec<FailedCheck>,
        now: Timestamp,
        out: &mut Vec<Command>,
    ) {
        if failed.is_empty() {
            // They passed between the gate's read and this one.
            self.ask_gate_now(i, out);
            return;
        }
        let triaged: Vec<CheckTriage> = failed
            .iter()
            .map(|check| {
                let rerun = self.squads[i]
                    .ci
                    .rerun
                    .iter()
                    .any(|(name, sha)| *name == check.head.name && *sha == check.head.sha);
                triage_failed_check(&check.head, check.base.as_ref(), rerun)
            })
            .collect();
        if let Some(reason) = pre_existing_reason(&triaged, None) {
            self.end(i, Phase::NeedsHuman(reason), false, now, out);
            return;
        }
        if triaged
            .iter()
            .all(|triage| matches!(triage, CheckTriage::FlakySuspect { .. }))
        {
            let squad = &mut self.squads[i];
            squad.ci.rerun.extend(
                failed
                    .iter()
                    .map(|check| (check.head.name.clone(), check.head.sha.clone())),
            );
            let command = Command::RerunChecks {
                squad: squad.id.clone(),
                checks: failed.into_iter().map(|check| check.head).collect(),
            };
            self.issue(i, command, out);
            return;
        }
        let names: Vec<String> = triaged.iter().map(|t| t.name().to_owned()).collect();
        self.start_ci_fix(i, &names, now, out);
    }

    /// Checks the host would not run again are the PR's to fix; otherwise the gate is asked
    /// again now and waits for the new runs as for any pending check.
    pub(super) fn checks_rerun(
        &mut self,
        i: usize,
        refused: Vec<RefusedRerun>,
        now: Timestamp,
        out: &mut Vec<Command>,
    ) {
        if refused.is_empty() {
            self.ask_gate_now(i, out);
            return;
        }
        let names: Vec<String> = refused.into_iter().map(|refusal| refusal.check).collect();
        self.start_ci_fix(i, &names, now, out);
    }

    /// The lane holder's head merged with the current base failed the test command before
    /// it merged: a CI-fix round in which the branch is rebased onto that base and the
    /// failure handed to the agents by verification, or a person once the rounds are spent.
    pub(super) fn merge_fails_tests(
        &mut self,
        i: usize,
        failure: &str,
        now: Timestamp,
        out: &mut Vec<Command>,
    ) {
        let max = self.config.ci_fix_rounds;
        let squad = &mut self.squads[i];
        if squad.ci.rounds >= max {
            let base = squad
                .lane
                .as_ref()
                .map_or("its base", |lane| lane.base.as_str());
            let reason = format!(
                "the PR merged with the current {base} fails the test command and {} of {max} \
                 CI-fix rounds are spent: bring the branch up to date and fix it by hand \
                 ({failure})",
                squad.ci.rounds
            );
            self.end(i, Phase::NeedsHuman(reason), false, now, out);
            return;
        }
        squad.ci.rounds += 1;
        let note = EventPayload::CiFix {
            round: squad.ci.rounds,
            checks: Vec::new(),
        };
        out.push(Command::RecordNote {
            squad: squad.id.clone(),
            note,
        });
        self.rebase(i, RebaseReason::MergeFailsTests, now, out);
    }

    /// A CI-fix round, or a person once the rounds are spent.
    fn start_ci_fix(&mut self, i: usize, names: &[String], now: Timestamp, out: &mut Vec<Command>) {
        let max = self.config.ci_fix_rounds;
        let squad = &mut self.squads[i];
        if squad.ci.rounds >= max {
            let checks = quoted(names);
            let reason = if max == 0 {
                format!(
                    "required {checks} failed on the PR's head and CI-fix rounds are off \
                     (`limits.ci_fix_rounds = 0`): read the check's output and fix the PR by hand"
                )
            } else {
                format!(
                    "CI-fix round {} of {max} left required {checks} failing: read the check's \
                     output on the PR and finish it by hand",
                    squad.ci.rounds
                )
            };
            self.end(i, Phase::NeedsHuman(reason), false, now, out);
            return;
        }
        squad.ci.rounds += 1;
        squad.ci.rerun.clear();
        let note = EventPayload::CiFix {
            round: squad.ci.rounds,
            checks: names.to_vec(),
        };
        out.push(Command::RecordNote {
            squad: squad.id.clone(),
            note,
        });
        self.enter(i, Phase::FixingChecks, now, out);
    }

    /// The head moves (a fix, a rebase): its checks run afresh, so earlier re-runs say
    /// nothing about it.
    pub(super) fn forget_reruns(&mut self, i: usize) {
        self.squads[i].ci.rerun.clear();
    }

    /// The CI-fix round in progress, for its command.
    pub(super) fn ci_round(&self, i: usize) -> u32 {
        self.squads[i].ci.rounds
    }

    fn ask_gate_now(&mut self, i: usize, out: &mut Vec<Command>) {
        self.read_gate(i, out);
    }
}

/// Required checks the gate found missing on the head.
fn missing_checks(blockers: &[GateBlocker]) -> Vec<String> {
    blockers
        .iter()
        .filter_map(|blocker| match blocker {
            GateBlocker::CheckMissing { name } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// `check `test`` or `checks `lint`, `test``.
fn quoted(names: &[String]) -> String {
    let list: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match list.len() {
        1 => format!("check {}", list[0]),
        _ => format!("checks {}", list.join(", ")),
    }
}

/// The default wait for a required check that never reports.
pub(super) const DEFAULT_CHECK_REPORT_WAIT: Duration = Duration::from_secs(30 * 60);
