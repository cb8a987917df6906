//! Why a step stopped short, and the event that reports it.

use squadron_core::StepFailure;
use squadron_core::ports::SpendScope;
use squadron_core::scheduler::{BudgetScope, Event};

use crate::outcome::Outcome;
use crate::prompts::TurnStop;
use crate::squad::SquadCtx;

/// Why a step stopped short.
pub(crate) enum Stop {
    /// It failed; the failure's kind tells the scheduler whether to try it again.
    Failed(StepFailure),
    /// A budget ran out.
    Budget(squadron_harness::BudgetExceeded),
    /// Only a person can take it further; the reason says why.
    NeedsHuman(String),
}

impl From<StepFailure> for Stop {
    fn from(failure: StepFailure) -> Self {
        Stop::Failed(failure)
    }
}

impl From<TurnStop> for Stop {
    fn from(stop: TurnStop) -> Self {
        match stop {
            TurnStop::Budget(exceeded) => Stop::Budget(exceeded),
            TurnStop::Failed(failure) => Stop::Failed(failure),
            TurnStop::HandedOff(reason) => Stop::NeedsHuman(reason),
        }
    }
}

pub(crate) type StepResult = Result<Vec<Outcome>, Stop>;

/// The event reporting a step that stopped short.
pub(crate) fn stop_event(ctx: &SquadCtx, step: &str, stop: Stop) -> Event {
    match stop {
        Stop::Failed(failure) => {
            tracing::warn!(
                run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key, step,
                kind = failure.kind().name(), error = %failure, "step failed"
            );
            Event::StepFailed {
                squad: ctx.squad.clone(),
                failure,
            }
        }
        Stop::NeedsHuman(reason) => {
            tracing::warn!(run = %ctx.run, squad = %ctx.squad, issue = %ctx.issue_key, step, %reason, "step stopped for a person");
            Event::StepNeedsHuman {
                squad: ctx.squad.clone(),
                reason,
            }
        }
        Stop::Budget(exceeded) => {
            // The turn that met the budget logged it, in its role's span.
            let scope = match exceeded.scope {
                SpendScope::Squad(squad) => BudgetScope::Squad(squad),
                SpendScope::Run(run) => BudgetScope::Run(run),
            };
            Event::BudgetExceeded {
                scope,
                spent: exceeded.spent,
                limit: exceeded.budget,
            }
        }
    }
}
