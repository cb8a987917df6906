//! Metering: the budget check made before every model call, with the call's own projected
//! cost.

use squadron_core::Usd;
use squadron_core::ports::{AgentRecorder, PortError, SpendScope};

use crate::workspace::SquadWorkspace;

/// A budget that is used up: the squad must stop and a person decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetExceeded {
    /// Which budget.
    pub scope: SpendScope,
    /// What was spent so far.
    pub spent: Usd,
    /// The limit.
    pub budget: Usd,
    /// The most the call that was not made could have cost.
    pub next_call: Usd,
}

impl std::fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.scope {
            SpendScope::Squad(squad) => format!("squad {squad}"),
            SpendScope::Run(run) => format!("run {run}"),
        };
        write!(
            f,
            "{what} spent {} of its {} budget",
            self.spent, self.budget
        )?;
        if self.spent < self.budget {
            write!(
                f,
                ", and its next model call could cost up to {}",
                self.next_call
            )?;
        }
        Ok(())
    }
}

/// Checks the squad's and the run's budgets for a call expected to cost at most `projected`
/// (its prompt at the input price and a whole reply at the output price); `Some` when the
/// spending so far plus that call would pass a budget, so the call is not made.
pub async fn check_budgets(
    recorder: &dyn AgentRecorder,
    workspace: &SquadWorkspace,
    projected: Usd,
) -> Result<Option<BudgetExceeded>, PortError> {
    let scopes = [
        (
            SpendScope::Squad(workspace.squad_id.clone()),
            workspace.budgets.squad,
        ),
        (
            SpendScope::Run(workspace.run_id.clone()),
            workspace.budgets.run,
        ),
    ];
    for (scope, budget) in scopes {
        let Some(budget) = budget else { continue };
        let spent = recorder.spent(&scope).await?;
        if spent >= budget || spent + projected > budget {
            return Ok(Some(BudgetExceeded {
                scope,
                spent,
                budget,
                next_call: projected,
            }));
        }
    }
    Ok(None)
}
