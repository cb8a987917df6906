//! `TestBase` (stop the line): the test command on the base head a merge made, in a scratch
//! checkout run by the merged squad's sandbox, as the guardrails run it. A failure records the
//! lane's stop in the store before the scheduler hears of it, then names the failing merge and
//! the one before it on both issues and in their chat threads, suggesting `squadron revert`.
//!
//! The step never fails: a base that could not be tested (after a few tries) is reported as
//! untested and the lane goes on, since every PR passed its own checks; the reason is logged
//! and kept in the squad's event log.

use squadron_core::event_payload::EventPayload;
use squadron_core::gate::CommitSha;
use squadron_core::merge_queue::{BaseVerdict, LandedMerge, LaneStop, MergeLane};
use squadron_core::ports::SquadUpdate;
use squadron_core::scheduler::Event;
use squadron_core::{FailureKind, IssueKey, SquadKind, StepFailure};
use squadron_harness::{GUARDRAIL_OUTPUT_CAP, guardrails::bounded, run_setup_in};

use super::lanes;
use crate::evidence::run_tests;
use crate::log_events;
use crate::notify::{self, Subject};
use crate::outcome::Outcome;
use crate::shared::Shared;
use crate::squad::SquadCtx;

/// Tries at testing a base head before it is reported untested.
const ATTEMPTS: u32 = 3;

/// Tests the base head `sha` of `lane` that the squad's merge made and reports
/// [`Event::BaseTested`]; `previous` is the merge before it, named with it when the tests fail.
pub(crate) async fn test_base(
    shared: &Shared,
    ctx: &mut SquadCtx,
    lane: MergeLane,
    sha: CommitSha,
    previous: Option<LandedMerge>,
) -> Vec<Outcome> {
    let verdict = verdict_with_retries(shared, ctx, &sha).await;
    let name = match &verdict {
        BaseVerdict::Passed => "passed",
        BaseVerdict::Failed(_) => "failed",
        BaseVerdict::Untested(_) => "untested",
    };
    tracing::info!(
        squad = %ctx.squad, issue = %ctx.issue_key, %lane, sha = %sha, verdict = name,
        "the base head was tested after the merge"
    );
    let payload = EventPayload::BaseTested {
        lane: lane.clone(),
        sha: sha.clone(),
        verdict: verdict.clone(),
    };
    log_events::append(shared, &ctx.squad, &payload).await;
    if let BaseVerdict::Failed(output) = &verdict {
        let stop = LaneStop {
            lane: lane.clone(),
            failing: LandedMerge {
                squad: ctx.squad.clone(),
                issue: ctx.issue_key.clone(),
                pr: ctx.pr,
                sha: sha.clone(),
            },
            previous,
            output: output.clone(),
        };
        stop_the_line(shared, ctx, &stop).await;
    } else if ctx.kind == SquadKind::Revert {
        // A merged revert on a base whose tests hold again is the way out of a stopped
        // lane: its record goes before the scheduler resumes the lane.
        match shared.services.store.resume_lane(&lane).await {
            Ok(true) => tracing::info!(
                squad = %ctx.squad, issue = %ctx.issue_key, %lane,
                "the base holds again after the revert: the merge lane resumes"
            ),
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(squad = %ctx.squad, %lane, %error, "could not record the stopped lane resumed");
            }
        }
    }
    // The store's lane, held since the merge, goes once the stop is recorded: a daemon that
    // takes it next reads the stop before merging.
    lanes::release(shared, &lane).await;
    vec![Outcome::Event(Event::BaseTested { lane, sha, verdict })]
}

async fn verdict_with_retries(shared: &Shared, ctx: &mut SquadCtx, sha: &CommitSha) -> BaseVerdict {
    let policy = &shared.settings.scheduler.retry;
    let mut failed = 0;
    loop {
        match run_on_base(shared, ctx, sha).await {
            Ok(verdict) => return verdict,
            Err(failure) if failure.kind().is_retryable() && failed + 1 < ATTEMPTS => {
                failed += 1;
                let delay = policy.delay(&ctx.squad, failed, failure.kind());
                tracing::info!(squad = %ctx.squad, error = %failure, attempt = failed + 1, "testing the base head again after a failure");
                tokio::time::sleep(delay).await;
            }
            Err(failure) => {
                tracing::warn!(squad = %ctx.squad, error = %failure, "could not test the base head after the merge; the lane goes on");
                return BaseVerdict::Untested(format!("failed to {failure}"));
            }
        }
    }
}

/// Checks out `sha` beside the squad's worktree, runs the repository's setup command and
/// then its test command there, and removes the checkout.
async fn run_on_base(
    shared: &Shared,
    ctx: &mut SquadCtx,
    sha: &CommitSha,
) -> Result<BaseVerdict, StepFailure> {
    let workspace = ctx.ensure_workspace(shared).await?;
    let command = workspace
        .policy
        .test
        .clone()
        .unwrap_or_else(|| ctx.test_command.clone());
    if command.trim().is_empty() {
        return Ok(BaseVerdict::Untested(
            "the repository names no test command".to_owned(),
        ));
    }
    let workspaces = &shared.services.workspaces;
    let scratch = workspaces
        .scratch(workspace.worktree.root(), sha)
        .await
        .map_err(|error| {
            StepFailure::port(format!("check out the base head {}", sha.short()), &error)
        })?;
    let result = async {
        if let Some(setup) = run_setup_in(&workspace, &scratch).await {
            let output = setup.map_err(|error| {
                StepFailure::new(
                    FailureKind::Transient,
                    "run the setup command on the base head",
                )
                .caused_by(&error)
            })?;
            if !output.success() {
                return Ok(BaseVerdict::Failed(format!(
                    "the setup command failed on the base head:\n{}",
                    bounded(&output.render(), GUARDRAIL_OUTPUT_CAP)
                )));
            }
        }
        let output = run_tests(&workspace, &scratch, &command).await?;
        Ok(if output.success() {
            BaseVerdict::Passed
        } else {
            BaseVerdict::Failed(bounded(&output.render(), GUARDRAIL_OUTPUT_CAP))
        })
    }
    .await;
    if let Err(error) = workspaces.remove(&scratch).await {
        tracing::warn!(path = %scratch.display(), %error, "could not remove a scratch worktree");
    }
    result
}

/// Records the stop and tells people: a comment on both issues and a post in both squads'
/// threads. A failure to tell is logged; the lane stops all the same.
async fn stop_the_line(shared: &Shared, ctx: &SquadCtx, stop: &LaneStop) {
    let now = shared.services.clock.now();
    if let Err(error) = shared.services.store.stop_lane(stop, now).await {
        tracing::error!(lane = %stop.lane, %error, "could not record the stopped lane; it stops until the daemon restarts");
    }
    tracing::warn!(
        lane = %stop.lane, failing = %stop.failing.issue,
        previous = stop.previous.as_ref().map(|landed| landed.issue.to_string()),
        "stop the line: the base's tests failed after a merge; the lane is stopped"
    );
    let summary = lane_stop_summary(stop);
    let marker = format!("squadron:lane-stopped:{}", stop.failing.sha);
    let comment = format!(
        "{summary}\n\nWhat the test command printed on the base head:\n\n{}",
        fenced(&stop.output)
    );
    let mut named: Vec<(&IssueKey, Subject)> = vec![(&stop.failing.issue, Subject::of(ctx))];
    if let Some(previous) = &stop.previous {
        named.push((
            &previous.issue,
            Subject {
                squad: previous.squad.clone(),
                issue: previous.issue.clone(),
                title: String::new(),
                url: String::new(),
            },
        ));
    }
    for (issue, subject) in named {
        if let Err(error) = shared
            .services
            .tracker
            .comment_once(issue, &marker, &comment)
            .await
        {
            tracing::warn!(%issue, %error, "could not name the stopped lane on the issue");
        }
        notify::post(
            shared,
            &subject,
            &format!("lane-stopped-{}", stop.failing.sha.short()),
            SquadUpdate::LaneStopped {
                summary: summary.clone(),
            },
        );
    }
}

/// What a stopped lane is told as, on both issues, in both chat threads and in `status`:
/// which merges, which lane, and what a person can do.
pub fn lane_stop_summary(stop: &LaneStop) -> String {
    let lane = &stop.lane;
    let named = |landed: &LandedMerge| match landed.pr {
        Some(pr) => format!("{} (PR {pr})", landed.issue),
        None => landed.issue.to_string(),
    };
    let failing = &stop.failing;
    let (together, revert) = match &stop.previous {
        Some(previous) => (
            format!(
                " {} merged just before it: each passed on its own, so together they may \
                 break the suite.",
                named(previous)
            ),
            format!(
                "`squadron revert {}` (or `squadron revert {}`)",
                failing.issue, previous.issue
            ),
        ),
        None => (
            String::new(),
            format!("`squadron revert {}`", failing.issue),
        ),
    };
    format!(
        "Stop the line: the tests failed on {base} of {repo} at `{sha}`, right after {failing} \
         merged.{together} No more pull requests merge into {base} until a person acts: take \
         the change back with {revert}, or repair {base} and run `squadron resume-lane {repo} \
         {base}`.",
        base = lane.base,
        repo = lane.repo,
        sha = failing.sha.short(),
        failing = named(failing),
    )
}

/// The test output as a fenced block that its own backticks cannot close early.
fn fenced(output: &str) -> String {
    let longest = output.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}\n{}\n{fence}", output.trim_end())
}
