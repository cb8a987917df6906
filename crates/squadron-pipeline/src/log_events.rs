//! Status logs for operators: the names of the events the runtime logs and the spans that
//! give every line its context.
//!
//! Every task working for a squad runs inside a `squad` span carrying `run`, `squad`,
//! `issue`, `phase`, `round` and `pr` (recorded as soon as the PR is known), and every agent
//! turn inside a `role` span carrying `role`. Each event operators watch is then one `info`
//! (or `warn`) line with a stable `event` field — one of the constants below — so a JSON log
//! reader filters on `event` and finds the squad's fields in the line's spans. The one
//! exception is [`PHASE_CHANGED`]: the runtime's loop logs it outside any squad's task, with
//! the squad's fields on the line itself.
//!
//! Lines logged by adapters during a squad's step (a model provider's retry, say) carry the
//! same spans.

use squadron_core::{IssueKey, Phase, PrNumber, Role, RunId, SquadId};
use tracing::Span;

/// A squad entered a phase; the line carries `from` and, for terminal phases, `detail`.
pub const PHASE_CHANGED: &str = "phase-changed";
/// A reviewer's verdict was posted; the line carries `verdict` and `comments`.
pub const REVIEW_VERDICT: &str = "review-verdict";
/// The merge gate decided; the line carries `decision` and every `reasons`.
pub const GATE_DECISION: &str = "gate-decision";
/// A PR merged; the line carries `sha` and `approved_by`.
pub const MERGED: &str = "merged";
/// Something is tried again: a side effect whose last attempt failed or was interrupted,
/// failing tests handed back to the agents, or a model call (logged by the model adapter);
/// the line carries `what` and `attempt`.
pub const RETRY: &str = "retry";
/// A squad or run went over its budget; the line carries `spent` and `budget`.
pub const BUDGET_EXCEEDED: &str = "budget-exceeded";
/// The Developer asked QA to change tests and QA is asked to judge them; the line carries
/// `requests` and `paths`.
pub const TEST_CHANGE_REQUESTED: &str = "test-change-requested";

/// The `squad` span of one squad's task, at its current phase, round and PR.
pub(crate) fn squad_span(
    run: &RunId,
    squad: &SquadId,
    issue: &IssueKey,
    phase: &Phase,
    round: u32,
    pr: Option<PrNumber>,
) -> Span {
    tracing::info_span!(
        "squad",
        run = %run,
        squad = %squad,
        issue = %issue,
        phase = phase.name(),
        round,
        pr = pr.map(|pr| pr.0),
    )
}

/// The `role` span of one agent's turn (or a reviewer's whole review), inside its squad's.
pub(crate) fn role_span(role: Role) -> Span {
    tracing::info_span!("role", role = role.as_str())
}

/// Records the squad's PR on the current `squad` span once it is known.
pub(crate) fn record_pr(pr: PrNumber) {
    Span::current().record("pr", pr.0);
}
