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
//!
//! Gate decisions, retries and the other notes are also appended to the squad's event log as
//! typed [`EventPayload`]s (same kinds as the `event` field), so its page shows them after
//! the logs are gone.

use squadron_core::event_payload::EventPayload;
use squadron_core::gate::CommitSha;
use squadron_core::{IssueKey, Phase, PrNumber, Role, RunId, SquadId};
use tracing::Span;

use crate::shared::Shared;

/// A squad entered a phase; the line carries `from` and, for terminal phases, `detail`.
pub const PHASE_CHANGED: &str = "phase-changed";
/// A reviewer's verdict was posted; the line carries `verdict` and `comments`.
pub const REVIEW_VERDICT: &str = EventPayload::REVIEW_VERDICT;
/// The merge gate decided; the line carries `decision` and every `reasons`.
pub const GATE_DECISION: &str = EventPayload::GATE_DECISION;
/// A PR merged; the line and the event log carry `sha` and `approved_by`.
pub const MERGED: &str = EventPayload::MERGED;
/// Something is tried again: a side effect whose last attempt failed or was interrupted,
/// failing tests handed back to the agents, or a model call (logged by the model adapter);
/// the line carries `what` and `attempt`.
pub const RETRY: &str = EventPayload::RETRY;
/// A squad or run went over its budget; the line carries `spent` and `budget`.
pub const BUDGET_EXCEEDED: &str = "budget-exceeded";
/// A stopped squad's work was pushed (or could not be): where it went.
pub const WORK_SAVED: &str = EventPayload::WORK_SAVED;
/// The Developer asked QA to change tests and QA is asked to judge them; the line carries
/// `requests` and `paths`.
pub const TEST_CHANGE_REQUESTED: &str = EventPayload::TEST_CHANGE_REQUESTED;

/// A failed required check was asked to run again on the same commit (suspected flaky);
/// the line and the event log carry `check` and `sha`.
pub const CHECK_RERUN: &str = EventPayload::CHECK_RERUN;
/// A required check that failed and was run again passed on the same commit: a flaky
/// check; the line and the event log carry `check` and `sha`.
pub const FLAKY_CHECK: &str = EventPayload::FLAKY_CHECK;
/// A CI-fix round started: the failing checks went back to the agents; the line and the
/// event log carry `round` and `checks`.
pub const CI_FIX: &str = EventPayload::CI_FIX;
/// A conflict-resolution round started: a rebase stopped on conflicts and they went to the
/// agents; the line and the event log carry `round`, `files` and `landed` (the issues of the
/// PRs on the base the branch conflicts with).
pub const CONFLICT_ROUND: &str = EventPayload::CONFLICT_ROUND;

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

/// Logs the merge gate's decision (`merge`, `wait`, `blocked`, `rebase`) with every reason,
/// and appends it to the squad's event log unless it repeats the last one recorded: a
/// squad waiting an hour for a check is one entry, not one per read.
pub(crate) async fn gate_decided(
    shared: &Shared,
    squad: &SquadId,
    decision: &str,
    reasons: &[String],
    head: Option<&CommitSha>,
) {
    tracing::info!(
        event = GATE_DECISION,
        decision,
        reasons = reasons.join("; "),
        "gate decided"
    );
    let payload = EventPayload::GateDecision {
        decision: decision.to_owned(),
        reasons: reasons.to_vec(),
        head: head.cloned(),
    };
    if shared.activity.gate_decision_changed(squad, &payload) {
        append(shared, squad, &payload).await;
    }
}

/// Appends a retry to the squad's event log: `what` is tried again, as attempt `attempt`,
/// because of `why`. The caller logs it.
pub(crate) async fn retried(shared: &Shared, squad: &SquadId, what: &str, attempt: u32, why: &str) {
    let payload = EventPayload::Retry {
        what: what.to_owned(),
        attempt,
        why: why.to_owned(),
    };
    append(shared, squad, &payload).await;
}

/// Logs and records that check `check` was asked to run again on `sha`.
pub(crate) async fn check_rerun(shared: &Shared, squad: &SquadId, check: &str, sha: &CommitSha) {
    tracing::info!(event = CHECK_RERUN, check, sha = %sha, "asked for a failed check to run again: it may be flaky");
    let payload = EventPayload::CheckRerun {
        check: check.to_owned(),
        sha: sha.clone(),
    };
    append(shared, squad, &payload).await;
}

/// Logs and records that check `check`, run again on `sha`, passed there: it is flaky.
pub(crate) async fn flaky_check(shared: &Shared, squad: &SquadId, check: &str, sha: &CommitSha) {
    tracing::info!(event = FLAKY_CHECK, check, sha = %sha, "a failed check passed when run again: counted as flaky");
    let payload = EventPayload::FlakyCheck {
        check: check.to_owned(),
        sha: sha.clone(),
    };
    append(shared, squad, &payload).await;
}

/// Records the start of conflict-resolution round `round` over `files`, which conflict with
/// the PRs of the issues `landed` (the caller logs it).
pub(crate) async fn conflict_round(
    shared: &Shared,
    squad: &SquadId,
    round: u32,
    files: &[String],
    landed: &[&str],
) {
    let payload = EventPayload::ConflictRound {
        round,
        files: files.to_vec(),
        landed: landed.iter().map(|issue| (*issue).to_owned()).collect(),
    };
    append(shared, squad, &payload).await;
}

/// Appends an event; a failure costs the page an entry, never the squad its step.
pub(crate) async fn append(shared: &Shared, squad: &SquadId, payload: &EventPayload) {
    let now = shared.services.clock.now();
    if let Err(error) = shared
        .services
        .store
        .record_event(squad, payload, now)
        .await
    {
        tracing::warn!(squad = %squad, kind = payload.kind(), %error, "could not record an event in the squad's log");
    }
}
