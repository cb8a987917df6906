//! Reading a check the way a developer would when it goes red: its latest run on a commit
//! (or a branch's tip) with its output, how often it ran there, its annotations and, for a
//! GitHub Actions job, an excerpt of the job's log; and asking for it to run again (an
//! Actions job is re-run, another app's check run re-requested).

use http::StatusCode;
use squadron_core::gate::CommitSha;
use squadron_core::ports::{
    CheckAnnotation, CheckEvidence, CheckOrigin, CheckReport, CheckState, PortError, RepoRef,
    RerunOutcome,
};

use crate::ci_log::{self, EXCERPT_LIMIT};
use crate::client::Verb;
use crate::error::GithubError;
use crate::host::{GithubCodeHost, query_value};
use crate::webhook::parse_status_state;
use crate::wire;

/// The app slug GitHub gives its Actions' check runs.
const ACTIONS_APP: &str = "github-actions";

/// Caps on what a check says about itself, in characters; GitHub allows 65535 each.
const TITLE_LIMIT: usize = 200;
const SUMMARY_LIMIT: usize = 4000;
const TEXT_LIMIT: usize = 8000;
/// Annotations read at most (GitHub returns 50 per page).
const ANNOTATION_LIMIT: usize = 50;

impl GithubCodeHost {
    /// The latest run of check `name` on `reference` (a commit SHA or a branch, whose tip is
    /// meant), with how many times it ran there; `None` when it never reported there. A
    /// check run is looked for first, then a commit status of that context.
    pub async fn read_check(
        &self,
        repo: &RepoRef,
        reference: &str,
        name: &str,
    ) -> Result<Option<CheckReport>, PortError> {
        let action = format!("read check `{name}` on {} in {repo}", short(reference));
        Ok(self
            .read_check_inner(repo, reference, name, &action)
            .await?)
    }

    async fn read_check_inner(
        &self,
        repo: &RepoRef,
        reference: &str,
        name: &str,
        action: &str,
    ) -> Result<Option<CheckReport>, GithubError> {
        let client = &self.developer.client;
        let reference = path_segment(reference);
        let runs: wire::CheckRunDetailList = client
            .get_cached(
                &format!(
                    "/repos/{}/{}/commits/{reference}/check-runs?check_name={}&filter=all&per_page=100",
                    repo.owner,
                    repo.name,
                    query_value(name)
                ),
                action,
            )
            .await?;
        let attempts = u32::try_from(runs.check_runs.len()).unwrap_or(u32::MAX);
        // GitHub's ids grow with time: the largest is the latest attempt.
        if let Some(latest) = runs
            .check_runs
            .into_iter()
            .filter(|run| run.name == name)
            .max_by_key(|run| run.id)
        {
            return Ok(Some(check_run_report(latest, attempts)));
        }
        let combined: wire::CombinedStatus = client
            .get_cached(
                &format!(
                    "/repos/{}/{}/commits/{reference}/status?per_page=100",
                    repo.owner, repo.name
                ),
                action,
            )
            .await?;
        let sha = combined.sha.unwrap_or_default();
        Ok(combined
            .statuses
            .into_iter()
            .find(|status| status.context == name)
            .map(|status| status_report(status, &sha)))
    }

    /// What the failed check `report` left to read: its annotations and, for an Actions
    /// job, an excerpt of the job's log (ANSI stripped, around the first errors and the end,
    /// capped).
    pub async fn read_check_evidence(
        &self,
        repo: &RepoRef,
        report: &CheckReport,
    ) -> Result<CheckEvidence, PortError> {
        let action = format!(
            "read why check `{}` failed on {} in {repo}",
            report.name,
            report.sha.short()
        );
        Ok(self.read_evidence_inner(repo, report, &action).await?)
    }

    async fn read_evidence_inner(
        &self,
        repo: &RepoRef,
        report: &CheckReport,
        action: &str,
    ) -> Result<CheckEvidence, GithubError> {
        let client = &self.developer.client;
        let check_run_id = match &report.origin {
            CheckOrigin::ActionsJob { check_run_id, .. }
            | CheckOrigin::App { check_run_id, .. } => *check_run_id,
            CheckOrigin::Status => {
                return Ok(CheckEvidence {
                    annotations: Vec::new(),
                    log: None,
                });
            }
        };
        let mut annotations = Vec::new();
        if report.annotation_count > 0 {
            let listed: Vec<wire::CheckAnnotation> = client
                .get_all(
                    &format!(
                        "/repos/{}/{}/check-runs/{check_run_id}/annotations",
                        repo.owner, repo.name
                    ),
                    action,
                )
                .await?;
            annotations = listed
                .into_iter()
                .take(ANNOTATION_LIMIT)
                .map(|note| CheckAnnotation {
                    path: note.path,
                    line: note.start_line,
                    level: note.annotation_level.unwrap_or_else(|| "notice".to_owned()),
                    message: capped(
                        &[note.title, note.message]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join(": "),
                        SUMMARY_LIMIT,
                    ),
                })
                .collect();
        }
        let log = match &report.origin {
            CheckOrigin::ActionsJob {
                check_run_id,
                check_suite_id,
            } => match self
                .actions_job(repo, *check_run_id, *check_suite_id, action)
                .await?
            {
                Some(job) => {
                    let (raw, skipped) = client
                        .get_log(
                            &format!(
                                "/repos/{}/{}/actions/jobs/{}/logs",
                                repo.owner, repo.name, job.job_id
                            ),
                            action,
                        )
                        .await?;
                    let note = (skipped > 0).then(|| {
                        format!(
                            "[the log is too long to read whole: {skipped} bytes in its middle were not downloaded]\n"
                        )
                    });
                    let note = note.unwrap_or_default();
                    let excerpt = ci_log::excerpt(&raw, EXCERPT_LIMIT - note.len());
                    Some(format!("{note}{excerpt}"))
                }
                None => None,
            },
            _ => None,
        };
        Ok(CheckEvidence { annotations, log })
    }

    /// Asks for check `report` to run again on the same commit: an Actions job is re-run
    /// (`POST …/actions/jobs/{id}/rerun`), another app's check run re-requested; a commit
    /// status cannot be. A refusal is an outcome, with GitHub's reason.
    pub async fn rerun_check(
        &self,
        repo: &RepoRef,
        report: &CheckReport,
    ) -> Result<RerunOutcome, PortError> {
        let action = format!(
            "run check `{}` again on {} in {repo}",
            report.name,
            report.sha.short()
        );
        Ok(self.rerun_inner(repo, report, &action).await?)
    }

    async fn rerun_inner(
        &self,
        repo: &RepoRef,
        report: &CheckReport,
        action: &str,
    ) -> Result<RerunOutcome, GithubError> {
        let client = &self.developer.client;
        let (uri, what) = match &report.origin {
            CheckOrigin::Status => {
                return Ok(RerunOutcome::NotRerunnable {
                    reason: format!(
                        "`{}` is a commit status, which GitHub cannot run again; re-run it in the system that set it{}",
                        report.name,
                        report
                            .details_url
                            .as_deref()
                            .map(|url| format!(" ({url})"))
                            .unwrap_or_default()
                    ),
                });
            }
            CheckOrigin::ActionsJob {
                check_run_id,
                check_suite_id,
            } => {
                let Some(job) = self
                    .actions_job(repo, *check_run_id, *check_suite_id, action)
                    .await?
                else {
                    return Ok(RerunOutcome::NotRerunnable {
                        reason: format!(
                            "GitHub lists no Actions job for check run {check_run_id} of `{}`",
                            report.name
                        ),
                    });
                };
                (
                    format!(
                        "/repos/{}/{}/actions/jobs/{}/rerun",
                        repo.owner, repo.name, job.job_id
                    ),
                    format!("job {} of workflow run {}", job.job_id, job.run_id),
                )
            }
            CheckOrigin::App { check_run_id, app } => (
                format!(
                    "/repos/{}/{}/check-runs/{check_run_id}/rerequest",
                    repo.owner, repo.name
                ),
                format!("check run {check_run_id} of app `{app}`"),
            ),
        };
        let response = client.send(Verb::Post, &uri, None::<&()>, action).await?;
        match response.status {
            status if status.is_success() => {
                tracing::info!(%repo, check = %report.name, sha = %report.sha, %what, "asked GitHub to run a failed check again");
                Ok(RerunOutcome::Requested)
            }
            StatusCode::FORBIDDEN | StatusCode::UNPROCESSABLE_ENTITY => {
                let hint = match report.origin {
                    CheckOrigin::ActionsJob { .. } if response.status == StatusCode::FORBIDDEN => {
                        "; re-running Actions jobs needs the Developer token's Actions write permission"
                    }
                    _ => "",
                };
                Ok(RerunOutcome::NotRerunnable {
                    reason: format!(
                        "GitHub refused to run {what} again: {}{hint}",
                        response.error_message()
                    ),
                })
            }
            _ => Err(response.into_error(action)),
        }
    }

    /// The Actions job behind a check run: its workflow run is found by the check suite,
    /// then the job whose `check_run_url` names the check run (every attempt is searched).
    async fn actions_job(
        &self,
        repo: &RepoRef,
        check_run_id: u64,
        check_suite_id: u64,
        action: &str,
    ) -> Result<Option<ActionsJob>, GithubError> {
        let client = &self.developer.client;
        let runs: wire::WorkflowRunList = client
            .get_cached(
                &format!(
                    "/repos/{}/{}/actions/runs?check_suite_id={check_suite_id}",
                    repo.owner, repo.name
                ),
                action,
            )
            .await?;
        let Some(run) = runs.workflow_runs.first() else {
            return Ok(None);
        };
        let jobs: wire::JobList = client
            .get_cached(
                &format!(
                    "/repos/{}/{}/actions/runs/{}/jobs?filter=all&per_page=100",
                    repo.owner, repo.name, run.id
                ),
                action,
            )
            .await?;
        let suffix = format!("/check-runs/{check_run_id}");
        Ok(jobs
            .jobs
            .into_iter()
            .find(|job| {
                job.check_run_url
                    .as_deref()
                    .is_some_and(|url| url.ends_with(&suffix))
            })
            .map(|job| ActionsJob {
                run_id: run.id,
                job_id: job.id,
            }))
    }
}

#[derive(Clone, Copy, Debug)]
struct ActionsJob {
    run_id: u64,
    job_id: u64,
}

fn check_run_report(run: wire::CheckRunDetail, attempts: u32) -> CheckReport {
    let state = if run.status != "completed" {
        CheckState::Pending
    } else {
        match run.conclusion.as_deref() {
            Some("success" | "neutral" | "skipped") => CheckState::Passed,
            // Unknown or missing conclusions count as failures, as the gate counts them.
            other => CheckState::Failed {
                outcome: other.unwrap_or("failure").to_owned(),
            },
        }
    };
    let app = run
        .app
        .as_ref()
        .and_then(|app| app.slug.clone().or_else(|| app.name.clone()))
        .unwrap_or_default();
    let origin = match run.check_suite.as_ref().map(|suite| suite.id) {
        Some(check_suite_id) if app == ACTIONS_APP => CheckOrigin::ActionsJob {
            check_run_id: run.id,
            check_suite_id,
        },
        _ => CheckOrigin::App {
            check_run_id: run.id,
            app,
        },
    };
    let output = run.output;
    CheckReport {
        name: run.name,
        sha: CommitSha::new(run.head_sha),
        state,
        attempts: attempts.max(1),
        origin,
        title: output
            .as_ref()
            .and_then(|o| o.title.as_deref())
            .map(|t| capped(t, TITLE_LIMIT)),
        summary: output
            .as_ref()
            .and_then(|o| o.summary.as_deref())
            .map(|t| capped(t, SUMMARY_LIMIT)),
        text: output
            .as_ref()
            .and_then(|o| o.text.as_deref())
            .map(|t| capped(t, TEXT_LIMIT)),
        annotation_count: output.as_ref().map_or(0, |o| o.annotations_count),
        details_url: run.details_url.or(run.html_url),
    }
}

fn status_report(status: wire::StatusEntry, sha: &str) -> CheckReport {
    let state = match parse_status_state(&status.state) {
        Some(squadron_core::gate::StatusState::Success) => CheckState::Passed,
        Some(squadron_core::gate::StatusState::Pending) => CheckState::Pending,
        _ => CheckState::Failed {
            outcome: status.state.clone(),
        },
    };
    CheckReport {
        name: status.context,
        sha: CommitSha::new(sha),
        state,
        attempts: 1,
        origin: CheckOrigin::Status,
        title: None,
        summary: status
            .description
            .as_deref()
            .map(|d| capped(d, SUMMARY_LIMIT)),
        text: None,
        annotation_count: 0,
        details_url: status.target_url,
    }
}

/// `text` without ANSI escapes, cut after `limit` characters with a note.
fn capped(text: &str, limit: usize) -> String {
    let clean = ci_log::strip_ansi(text);
    match clean.char_indices().nth(limit) {
        Some((at, _)) => format!("{}… [cut at {limit} characters]", &clean[..at]),
        None => clean,
    }
}

/// A ref in a URL path: branch names keep their slashes, everything else unusual is
/// percent-encoded.
fn path_segment(reference: &str) -> String {
    let mut out = String::with_capacity(reference.len());
    for byte in reference.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn short(reference: &str) -> &str {
    let is_sha = reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit());
    if is_sha { &reference[..7] } else { reference }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_keep_their_slashes_and_lose_nothing_else() {
        assert_eq!(path_segment("release/1.0"), "release/1.0");
        assert_eq!(path_segment("a b#c"), "a%20b%23c");
    }

    #[test]
    fn an_unknown_conclusion_is_a_failure_and_a_run_in_progress_is_pending() {
        let run = |status: &str, conclusion: Option<&str>| wire::CheckRunDetail {
            id: 1,
            name: "test".into(),
            head_sha: "a".repeat(40),
            status: status.into(),
            conclusion: conclusion.map(str::to_owned),
            details_url: None,
            html_url: None,
            output: None,
            check_suite: None,
            app: None,
        };
        assert_eq!(
            check_run_report(run("completed", Some("stale_and_new")), 1).state,
            CheckState::Failed {
                outcome: "stale_and_new".into()
            }
        );
        assert_eq!(
            check_run_report(run("in_progress", None), 1).state,
            CheckState::Pending
        );
        assert_eq!(
            check_run_report(run("completed", Some("neutral")), 2).state,
            CheckState::Passed
        );
    }

    #[test]
    fn long_outputs_are_cut_and_lose_their_colours() {
        let text = capped(&format!("\u{1b}[31m{}\u{1b}[0m", "x".repeat(300)), 200);
        assert!(text.starts_with("xxx"));
        assert!(text.ends_with("[cut at 200 characters]"));
        assert!(!text.contains('\u{1b}'));
    }
}
