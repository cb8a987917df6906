//! The scheduler's part in verification: what fails in a way the agents can fix (the test
//! command, the write rules) goes back to them a bounded number of times per verification,
//! each time verified again; then a person gets the squad with what still fails. The count
//! is the scheduler's alone: a restarted daemon resumes a verifying squad with `Verify` and
//! a verification counted afresh.

use super::Scheduler;
use crate::domain::{Phase, Timestamp};
use crate::merge_queue::RebaseReason;
use crate::scheduler::command::Command;
use crate::scheduler::event::HandBack;
use crate::scheduler::refusal::Refusal;

/// One verification's hand-backs; a squad entering `Verifying` starts a new one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct VerifyState {
    /// Hand-backs issued so far.
    hand_backs: u32,
    /// Why the branch was rebased before this verification, if it was.
    pub(super) rebased: Option<RebaseReason>,
}

impl Scheduler {
    /// Hands `failure` back to the agents, or gives the squad to a person once this
    /// verification has had its hand-backs.
    pub(super) fn hand_back(
        &mut self,
        i: usize,
        failure: HandBack,
        now: Timestamp,
        out: &mut Vec<Command>,
    ) {
        let max = self.config.verify_hand_backs;
        let squad = &mut self.squads[i];
        if squad.verify.hand_backs >= max {
            let reason = format!("verification failed: {}", give_up_reason(&failure, max));
            self.end(i, Phase::NeedsHuman(reason), false, now, out);
            return;
        }
        squad.verify.hand_backs += 1;
        let command = Command::HandBack {
            squad: squad.id.clone(),
            attempt: squad.verify.hand_backs,
            failure,
            rebased: squad.verify.rebased,
        };
        self.issue(i, command, out);
    }

    /// The agents worked on hand-back `attempt`: the branch is verified again, without a
    /// rebase (the base it was rebased onto stands).
    pub(super) fn handed_back(
        &mut self,
        i: usize,
        attempt: u32,
        event: &'static str,
        out: &mut Vec<Command>,
    ) -> Result<(), Refusal> {
        let squad = &self.squads[i];
        if attempt != squad.verify.hand_backs {
            return Err(Refusal::StaleRound {
                squad: squad.id.clone(),
                issue: squad.issue.clone(),
                round: squad.verify.hand_backs,
                reported: attempt,
                event,
            });
        }
        let command = Command::Verify {
            squad: squad.id.clone(),
            rebase: None,
        };
        self.issue(i, command, out);
        Ok(())
    }
}

/// What a person is told when the agents could not fix what verification found.
fn give_up_reason(failure: &HandBack, max: u32) -> String {
    match failure {
        HandBack::TestsFailed { tail, .. } => {
            format!("the tests still fail after {max} attempts to fix them: {tail}")
        }
        HandBack::WriteRulesBroken { paths, .. } => format!(
            "the agents' changes still break the write rules after {max} attempts to fix \
             them: {}",
            paths.join(", ")
        ),
    }
}
