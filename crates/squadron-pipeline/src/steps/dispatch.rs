//! Runs one work command of the scheduler for a squad and turns its result into what the
//! runtime's loop hears back.

use squadron_core::SquadKind;
use squadron_core::scheduler::Command;

use super::stop::{Stop, stop_event};
use super::{
    checks, conflicts, diagnose, fix, gate, hand_back, implement, merge, open_pr, prepare, revert,
    review, test_base, verify,
};
use crate::outcome::Outcome;
use crate::shared::Shared;
use crate::squad::SquadCtx;

/// Runs one work command for the squad and returns what to report.
pub(crate) async fn run(shared: &Shared, ctx: &mut SquadCtx, command: Command) -> Vec<Outcome> {
    let name = command.name();
    tracing::debug!(squad = %ctx.squad, issue = %ctx.issue_key, step = name, "step started");
    let result = match command {
        Command::PrepareWorkspace { .. } => prepare::prepare(shared, ctx).await,
        Command::Implement { .. } if ctx.kind == SquadKind::Revert => {
            revert::implement(shared, ctx).await
        }
        Command::Implement { .. } => implement::implement(shared, ctx).await,
        Command::Verify { rebase, .. } => verify::verify(shared, ctx, rebase).await,
        Command::HandBack {
            attempt,
            failure,
            rebased,
            ..
        } => hand_back::hand_back(shared, ctx, attempt, failure, rebased).await,
        Command::OpenPr { .. } => open_pr::open_pr(shared, ctx).await,
        Command::Review { round, .. } => review::review(shared, ctx, round).await,
        Command::Fix { round, .. } => fix::fix(shared, ctx, round).await,
        Command::EvaluateGate { .. } => gate::evaluate_gate(shared, ctx).await,
        Command::ReadChecks { names, .. } => checks::read_checks(shared, ctx, names).await,
        Command::RerunChecks { checks, .. } => checks::rerun_checks(shared, ctx, checks).await,
        Command::FixChecks { round, .. } => checks::fix_checks(shared, ctx, round).await,
        Command::ResolveConflicts { round, .. } => {
            conflicts::resolve_conflicts(shared, ctx, round).await
        }
        Command::Merge { .. } => merge::merge(shared, ctx).await,
        Command::Diagnose { .. } => diagnose::diagnose(shared, ctx).await.map_err(Stop::from),
        Command::TestBase {
            lane,
            sha,
            previous,
            ..
        } => Ok(test_base::test_base(shared, ctx, lane, sha, previous).await),
        Command::RecordPhase { .. }
        | Command::RecordNote { .. }
        | Command::Retry { .. }
        | Command::StopWork { .. }
        | Command::CleanUp { .. }
        | Command::RunFinished { .. } => Ok(Vec::new()),
    };
    match result {
        Ok(outcomes) => outcomes,
        Err(stop) => vec![Outcome::Event(stop_event(ctx, name, stop))],
    }
}
