//! Who is at work right now, per squad: every agent turn registers its role for as long as
//! it runs, and the runtime's loop reads the register whenever it publishes the live view.
//! Also the merge gate's last recorded decision per squad, so a gate that keeps saying the
//! same thing while a squad waits is one entry of its event log, not one per read.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use squadron_core::event_payload::EventPayload;
use squadron_core::{Role, SquadId};
use tokio::sync::watch;

/// The register; one per runtime, shared by its tasks.
#[derive(Debug)]
pub(crate) struct Activity {
    at_work: watch::Sender<BTreeMap<SquadId, Vec<Role>>>,
    gate_decisions: Mutex<HashMap<SquadId, EventPayload>>,
}

impl Activity {
    pub(crate) fn new() -> Activity {
        Activity {
            at_work: watch::Sender::new(BTreeMap::new()),
            gate_decisions: Mutex::new(HashMap::new()),
        }
    }

    /// Registers `role` as at work for `squad` until the returned guard is dropped (the turn
    /// ended, failed or was aborted).
    pub(crate) fn enter(&self, squad: &SquadId, role: Role) -> AtWork<'_> {
        self.at_work.send_modify(|at_work| {
            at_work.entry(squad.clone()).or_default().push(role);
        });
        AtWork {
            activity: self,
            squad: squad.clone(),
            role,
        }
    }

    /// The roles in a turn for `squad`, in the order they started.
    pub(crate) fn at_work(&self, squad: &SquadId) -> Vec<Role> {
        self.at_work
            .borrow()
            .get(squad)
            .cloned()
            .unwrap_or_default()
    }

    /// Wakes when a turn starts or ends.
    pub(crate) fn changes(&self) -> watch::Receiver<BTreeMap<SquadId, Vec<Role>>> {
        self.at_work.subscribe()
    }

    /// Remembers `decision` (all of it) as the squad's last gate decision; whether it
    /// differs from the one remembered before.
    pub(crate) fn gate_decision_changed(&self, squad: &SquadId, decision: &EventPayload) -> bool {
        let mut decisions = self
            .gate_decisions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if decisions.get(squad) == Some(decision) {
            return false;
        }
        decisions.insert(squad.clone(), decision.clone());
        true
    }

    /// Forgets an ended squad's last gate decision: nothing is kept per finished squad.
    pub(crate) fn forget(&self, squad: &SquadId) {
        self.gate_decisions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(squad);
    }
}

/// One role's turn for one squad, registered while it lives.
#[derive(Debug)]
pub(crate) struct AtWork<'a> {
    activity: &'a Activity,
    squad: SquadId,
    role: Role,
}

impl Drop for AtWork<'_> {
    fn drop(&mut self) {
        self.activity.at_work.send_modify(|at_work| {
            if let Some(roles) = at_work.get_mut(&self.squad) {
                if let Some(index) = roles.iter().position(|role| *role == self.role) {
                    roles.remove(index);
                }
                if roles.is_empty() {
                    at_work.remove(&self.squad);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_is_at_work_while_its_turn_lives() {
        let activity = Activity::new();
        let squad = SquadId::new("r-1-eng-1");
        let developer = activity.enter(&squad, Role::Developer);
        let qa = activity.enter(&squad, Role::Qa);
        assert_eq!(activity.at_work(&squad), [Role::Developer, Role::Qa]);
        drop(developer);
        assert_eq!(activity.at_work(&squad), [Role::Qa]);
        drop(qa);
        assert!(activity.at_work(&squad).is_empty());
        assert!(activity.changes().borrow().is_empty());
    }

    #[test]
    fn only_a_new_gate_decision_counts_as_a_change() {
        let activity = Activity::new();
        let squad = SquadId::new("r-1-eng-1");
        let decision = |decision: &str, reasons: &[&str]| EventPayload::GateDecision {
            decision: decision.to_owned(),
            reasons: reasons.iter().map(|reason| (*reason).to_owned()).collect(),
            head: None,
        };
        let blocked = decision("blocked", &["`ci` pending"]);
        assert!(activity.gate_decision_changed(&squad, &blocked));
        assert!(!activity.gate_decision_changed(&squad, &blocked));
        let other_reason = decision("blocked", &["`lint` pending"]);
        assert!(activity.gate_decision_changed(&squad, &other_reason));
        assert!(activity.gate_decision_changed(&squad, &decision("merge", &[])));
    }
}
