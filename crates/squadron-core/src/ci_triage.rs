//! Whose failure a red required check is. A check red on the base branch's head too is not
//! the PR's doing and goes to a person untouched; a check that ran only once on this commit
//! may be flaky and is run once more; anything else is the squad's to fix. A required check
//! that never reported is named with what to configure after a wait, since no amount of
//! waiting or fixing makes a workflow run that is not set up for the branch.

use std::fmt;
use std::time::Duration;

use crate::gate::CommitSha;
use crate::ports::CheckReport;

/// What the squad does about one failed required check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckTriage {
    /// The same check is red on the base branch's head: the failure predates the PR. A
    /// person decides; the squad touches nothing.
    PreExisting {
        /// The check.
        name: String,
        /// The base head it failed on.
        base_sha: CommitSha,
        /// How it failed there (`failure`, `timed_out`, …).
        base_outcome: String,
        /// What it said there (title, summary), for the person.
        base_said: Option<String>,
        /// Where a person reads the base's run.
        base_url: Option<String>,
    },
    /// It ran once on this commit and the squad never asked for it again: run it once
    /// more; a pass then merges and counts as flaky.
    FlakySuspect {
        /// The check.
        name: String,
    },
    /// It failed again after a re-run, or cannot be re-run: the PR's own failure, fixed in
    /// a CI-fix round.
    OwnFailure {
        /// The check.
        name: String,
    },
}

impl CheckTriage {
    /// The check's name.
    pub fn name(&self) -> &str {
        match self {
            CheckTriage::PreExisting { name, .. }
            | CheckTriage::FlakySuspect { name }
            | CheckTriage::OwnFailure { name } => name,
        }
    }
}

/// Decides whose failure the failed check `head` is, from the same check on the base
/// branch's head (`None` when it never reported there) and whether the squad already asked
/// for it to run again on this commit. A passing or pending `head` is the caller's mistake
/// and is treated as the PR's own, which is the cautious reading.
pub fn triage_failed_check(
    head: &CheckReport,
    base: Option<&CheckReport>,
    rerun_requested: bool,
) -> CheckTriage {
    let name = head.name.clone();
    if let Some(base) = base.filter(|base| base.failed()) {
        let outcome = match &base.state {
            crate::ports::CheckState::Failed { outcome } => outcome.clone(),
            _ => String::new(),
        };
        let said = [base.title.as_deref(), base.summary.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .collect::<Vec<_>>()
            .join(": ");
        return CheckTriage::PreExisting {
            name,
            base_sha: base.sha.clone(),
            base_outcome: outcome,
            base_said: (!said.is_empty()).then_some(said),
            base_url: base.details_url.clone(),
        };
    }
    if head.attempts <= 1 && !rerun_requested {
        CheckTriage::FlakySuspect { name }
    } else {
        CheckTriage::OwnFailure { name }
    }
}

/// The failures that predate the PR, as the needs-human reason says them: each check with
/// the base commit it is red on and what it said there.
pub fn pre_existing_reason(triaged: &[CheckTriage], base_branch: Option<&str>) -> Option<String> {
    let found: Vec<String> = triaged
        .iter()
        .filter_map(|triage| match triage {
            CheckTriage::PreExisting {
                name,
                base_sha,
                base_outcome,
                base_said,
                base_url,
            } => {
                let mut line = format!(
                    "required check `{name}` also fails on the base head {} ({base_outcome})",
                    base_sha.short()
                );
                if let Some(said) = base_said {
                    line.push_str(&format!(": {said}"));
                }
                if let Some(url) = base_url {
                    line.push_str(&format!(" ({url})"));
                }
                Some(line)
            }
            _ => None,
        })
        .collect();
    if found.is_empty() {
        return None;
    }
    let base = base_branch.map_or_else(|| "the base branch".to_owned(), |b| format!("`{b}`"));
    Some(format!(
        "{}: the failure predates this PR, so the squad changed nothing; fix {base} first, \
         then ask the squad to go on",
        found.join("; ")
    ))
}

/// Required checks that never reported on the head, once the gate has waited `waited` of
/// the allowed `limit` for them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeverReported {
    /// The checks, in the gate's order.
    pub names: Vec<String>,
    /// How long the gate waited.
    pub waited: Duration,
}

/// The required checks in `missing` once the wait for them is over; `None` while it is not.
pub fn never_reported(
    missing: &[String],
    waited: Duration,
    limit: Duration,
) -> Option<NeverReported> {
    (!missing.is_empty() && waited >= limit).then(|| NeverReported {
        names: missing.to_vec(),
        waited,
    })
}

impl fmt::Display for NeverReported {
    /// The needs-human reason: which checks, how long, and what to configure.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.names.iter().map(|n| format!("`{n}`")).collect();
        let (them, they_are) = if self.names.len() == 1 {
            ("it", "it is")
        } else {
            ("them", "they are")
        };
        write!(
            f,
            "required check{} {} never reported on the PR's head after {}: no workflow or app \
             runs {them} for this branch. Make the workflow run on `pull_request` for the base \
             branch (or install the app that reports {them}), or remove {them} from \
             `github.required_checks` if {they_are} not meant to gate merges",
            if self.names.len() == 1 { "" } else { "s" },
            names.join(", "),
            minutes(self.waited),
        )
    }
}

/// `12 minutes`, `1 minute`, or seconds under a minute.
fn minutes(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..60 => format!("{secs} second{}", if secs == 1 { "" } else { "s" }),
        _ => {
            let minutes = secs / 60;
            format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{CheckOrigin, CheckState};

    fn report(sha: &str, state: CheckState, attempts: u32) -> CheckReport {
        CheckReport {
            name: "test".into(),
            sha: CommitSha::new(sha.repeat(40)),
            state,
            attempts,
            origin: CheckOrigin::ActionsJob {
                check_run_id: 1,
                check_suite_id: 2,
            },
            title: Some("Tests failed".into()),
            summary: Some("1 test failed".into()),
            text: None,
            annotation_count: 0,
            details_url: Some("https://ci.example/run/1".into()),
        }
    }

    fn failed() -> CheckState {
        CheckState::Failed {
            outcome: "failure".into(),
        }
    }

    #[test]
    fn a_check_red_on_the_base_head_is_pre_existing_whatever_its_attempts() {
        let head = report("a", failed(), 1);
        let base = report("b", failed(), 1);
        let triage = triage_failed_check(&head, Some(&base), false);
        assert_eq!(
            triage,
            CheckTriage::PreExisting {
                name: "test".into(),
                base_sha: CommitSha::new("b".repeat(40)),
                base_outcome: "failure".into(),
                base_said: Some("Tests failed: 1 test failed".into()),
                base_url: Some("https://ci.example/run/1".into()),
            }
        );
        let reason = pre_existing_reason(&[triage], Some("main")).expect("a reason");
        assert_eq!(
            reason,
            "required check `test` also fails on the base head bbbbbbb (failure): Tests failed: \
             1 test failed (https://ci.example/run/1): the failure predates this PR, so the \
             squad changed nothing; fix `main` first, then ask the squad to go on"
        );
        let rerun_head = report("a", failed(), 2);
        assert!(matches!(
            triage_failed_check(&rerun_head, Some(&base), true),
            CheckTriage::PreExisting { .. }
        ));
    }

    #[test]
    fn a_first_failure_green_on_the_base_is_suspected_flaky_once() {
        let head = report("a", failed(), 1);
        let green_base = report("b", CheckState::Passed, 1);
        assert_eq!(
            triage_failed_check(&head, Some(&green_base), false),
            CheckTriage::FlakySuspect {
                name: "test".into()
            }
        );
        assert_eq!(
            triage_failed_check(&head, None, false),
            CheckTriage::FlakySuspect {
                name: "test".into()
            },
            "a check that never ran on the base says nothing against the PR"
        );
        let pending_base = report("b", CheckState::Pending, 1);
        assert!(matches!(
            triage_failed_check(&head, Some(&pending_base), false),
            CheckTriage::FlakySuspect { .. }
        ));
    }

    #[test]
    fn a_failure_after_a_rerun_is_the_prs_own() {
        let green_base = report("b", CheckState::Passed, 1);
        assert_eq!(
            triage_failed_check(&report("a", failed(), 2), Some(&green_base), false),
            CheckTriage::OwnFailure {
                name: "test".into()
            },
            "someone re-ran it already"
        );
        assert_eq!(
            triage_failed_check(&report("a", failed(), 1), Some(&green_base), true),
            CheckTriage::OwnFailure {
                name: "test".into()
            },
            "the squad asked for the re-run, which has not shown up as an attempt yet"
        );
        assert_eq!(pre_existing_reason(&[], None), None);
    }

    #[test]
    fn a_missing_check_is_named_only_once_the_wait_is_over() {
        let limit = Duration::from_secs(30 * 60);
        let missing = vec!["test".to_owned()];
        assert_eq!(
            never_reported(&missing, Duration::from_secs(29 * 60), limit),
            None
        );
        assert_eq!(never_reported(&[], limit * 2, limit), None);
        let overdue = never_reported(&missing, limit, limit).expect("overdue");
        assert_eq!(
            overdue.to_string(),
            "required check `test` never reported on the PR's head after 30 minutes: no \
             workflow or app runs it for this branch. Make the workflow run on `pull_request` \
             for the base branch (or install the app that reports it), or remove it from \
             `github.required_checks` if it is not meant to gate merges"
        );
        let two = never_reported(
            &["lint".to_owned(), "e2e".to_owned()],
            Duration::from_secs(5),
            Duration::from_secs(5),
        )
        .expect("overdue");
        assert_eq!(
            two.to_string(),
            "required checks `lint`, `e2e` never reported on the PR's head after 5 seconds: no \
             workflow or app runs them for this branch. Make the workflow run on \
             `pull_request` for the base branch (or install the app that reports them), or \
             remove them from `github.required_checks` if they are not meant to gate merges"
        );
    }
}
