//! Metering: the budget check made before every model call.

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
        )
    }
}

/// Checks the squad's and the run's budgets; `Some` when one is spent. A call is allowed
/// only while spending is strictly below the budget, since its own cost is not known in
/// advance.
pub async fn check_budgets(
    recorder: &dyn AgentRecorder,
    workspace: &SquadWorkspace,
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
        if spent >= budget {
            return Ok(Some(BudgetExceeded {
                scope,
                spent,
                budget,
            }));
        }
    }
    Ok(None)
}
