//! A scripted GitHub Actions: workflows a test registers on a repository run on pushes and
//! pull requests the way GitHub triggers them, each producing a workflow run, one job with
//! a log, and the job's check run with an output. What each run concludes is scripted per
//! workflow: always green, flaky once, red everywhere (the base too), red while a file still
//! holds the bug, or never picked up by a runner. Re-runs make new attempts.

use git2::Oid;

use crate::clock::Instant;
use crate::error::ApiError;
use crate::gitops;
use crate::world::{CheckApp, CheckOutput, CheckRun, PullState, UserId, World};

/// A GitHub Actions workflow with one job; the job's check run carries the job's name, as
/// branch protection names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workflow {
    /// The workflow's `name:` (`CI`).
    pub name: String,
    /// Its file (`.github/workflows/ci.yml`).
    pub path: String,
    /// The job, and so the check run's name (`test`).
    pub job: String,
    /// Runs for pull requests (`on: pull_request`): when one is opened and on every push to
    /// its head branch, on the merge of head into base, like GitHub; a pull request that
    /// conflicts with its base gets no run.
    pub on_pull_request: bool,
    /// Runs for pushes to the repository's default branch (`on: push: branches: [main]`).
    pub on_push_to_default_branch: bool,
    /// What each run concludes.
    pub script: CheckScript,
    /// What a failing run reports: check-run output, annotations and the job's log.
    pub failure: FailureReport,
}

impl Workflow {
    /// The usual CI: workflow `name` with job `job` in `.github/workflows/ci.yml`, run for
    /// pull requests and pushes to the default branch, always passing until scripted.
    pub fn new(name: &str, job: &str) -> Self {
        Self {
            name: name.to_owned(),
            path: ".github/workflows/ci.yml".to_owned(),
            job: job.to_owned(),
            on_pull_request: true,
            on_push_to_default_branch: true,
            script: CheckScript::Passes,
            failure: FailureReport::default(),
        }
    }

    /// Sets what each run concludes.
    #[must_use]
    pub fn script(mut self, script: CheckScript) -> Self {
        self.script = script;
        self
    }

    /// Sets what a failing run reports.
    #[must_use]
    pub fn failure(mut self, failure: FailureReport) -> Self {
        self.failure = failure;
        self
    }

    /// Only pushes to the default branch run it: its check never reports on a pull
    /// request, as when a workflow's `on:` lacks `pull_request`.
    #[must_use]
    pub fn only_on_default_branch(mut self) -> Self {
        self.on_pull_request = false;
        self.on_push_to_default_branch = true;
        self
    }
}

/// What the runs of a workflow conclude.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckScript {
    /// Every run passes.
    Passes,
    /// The first attempt on each pull-request commit fails; re-runs pass, and so do runs on
    /// the default branch: a flaky test.
    FlakyOnce,
    /// Every run fails, on the default branch too: a failure that predates the pull request.
    FailsEverywhere,
    /// A run fails while `path` in the tree it tests contains `text`, and passes once a
    /// commit removes it: a failure the pull request caused and can fix.
    FailsWhileFileContains {
        /// The file holding the bug.
        path: String,
        /// The text that makes the tests fail.
        text: String,
    },
    /// No runner ever picks the job up: it stays queued, and its check never completes.
    NeverStarts,
}

/// An annotation a failing run leaves on a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annotation {
    /// The file, relative to the repository root.
    pub path: String,
    /// The line.
    pub line: u64,
    /// The message.
    pub message: String,
}

/// What a failing run reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureReport {
    /// The check run's `output.title`.
    pub title: String,
    /// The check run's `output.summary` (Markdown).
    pub summary: String,
    /// The check run's `output.text`, if any.
    pub text: Option<String>,
    /// Annotations on the check run.
    pub annotations: Vec<Annotation>,
    /// The failing step's command, as the log shows it (`python -m unittest`).
    pub command: String,
    /// What the failing step printed, ANSI colours and all.
    pub output: String,
}

impl Default for FailureReport {
    fn default() -> Self {
        Self {
            title: "Tests failed".to_owned(),
            summary: "Process completed with exit code 1.".to_owned(),
            text: None,
            annotations: Vec::new(),
            command: "make test".to_owned(),
            output: "\u{1b}[31mFAILED\u{1b}[0m 1 test failed\n".to_owned(),
        }
    }
}

/// What triggered a run, as GitHub's `event` field says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TriggerEvent {
    Push,
    PullRequest,
}

impl TriggerEvent {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TriggerEvent::Push => "push",
            TriggerEvent::PullRequest => "pull_request",
        }
    }
}

/// How one job attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failure,
    Queued,
}

impl Outcome {
    fn status(self) -> &'static str {
        match self {
            Outcome::Queued => "queued",
            Outcome::Success | Outcome::Failure => "completed",
        }
    }

    fn conclusion(self) -> Option<&'static str> {
        match self {
            Outcome::Success => Some("success"),
            Outcome::Failure => Some("failure"),
            Outcome::Queued => None,
        }
    }
}

/// A workflow run: one per workflow, commit and event; re-runs add attempts.
#[derive(Clone, Debug)]
pub(crate) struct WorkflowRun {
    pub(crate) id: u64,
    pub(crate) workflow: usize,
    pub(crate) run_number: u64,
    pub(crate) run_attempt: u32,
    pub(crate) event: TriggerEvent,
    pub(crate) head_sha: String,
    pub(crate) head_branch: String,
    /// The tree the run tested: the commit's, or for a pull request the merge with its base.
    pub(crate) tested_tree: Oid,
    pub(crate) pull_number: Option<u64>,
    pub(crate) check_suite_id: u64,
    pub(crate) actor: Option<UserId>,
    pub(crate) created_at: Instant,
    pub(crate) updated_at: Instant,
}

/// One attempt of a workflow run's job.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    /// Also the id of the job's check run, as on GitHub.
    pub(crate) id: u64,
    pub(crate) run_id: u64,
    pub(crate) run_attempt: u32,
    pub(crate) outcome: Outcome,
    pub(crate) created_at: Instant,
    pub(crate) started_at: Instant,
    pub(crate) completed_at: Option<Instant>,
    pub(crate) log: String,
}

impl Job {
    pub(crate) fn status(&self) -> &'static str {
        self.outcome.status()
    }

    pub(crate) fn conclusion(&self) -> Option<&'static str> {
        self.outcome.conclusion()
    }
}

/// The state of a run: its latest attempt's job.
pub(crate) fn run_outcome(jobs: &[Job], run: &WorkflowRun) -> Option<Outcome> {
    jobs.iter()
        .filter(|job| job.run_id == run.id && job.run_attempt == run.run_attempt)
        .map(|job| job.outcome)
        .next_back()
}

impl World {
    /// Runs the workflows that the pushes since the last look trigger: pushes to the
    /// default branch, and pushes to the head branch of an open pull request. Pushes arrive
    /// through `git http-backend` behind the stand-in's back, so every REST request and
    /// every finished push looks.
    pub(crate) fn observe_pushes(
        &mut self,
        owner: &str,
        name: &str,
        pusher: Option<UserId>,
    ) -> Result<(), ApiError> {
        let git = self.git(owner, name)?;
        let mut moved: Vec<(String, String)> = Vec::new();
        for reference in git.references_glob("refs/heads/*")?.flatten() {
            let (Some(branch), Some(tip)) = (
                reference
                    .name()
                    .ok()
                    .and_then(|n| n.strip_prefix("refs/heads/")),
                reference.target(),
            ) else {
                continue;
            };
            let repo = self.repo_mut(owner, name)?;
            let tip = tip.to_string();
            if repo.seen_tips.get(branch) != Some(&tip) {
                repo.seen_tips.insert(branch.to_owned(), tip.clone());
                moved.push((branch.to_owned(), tip));
            }
        }
        for (branch, tip) in moved {
            let repo = self.repo(owner, name)?;
            if branch == repo.default_branch {
                self.run_workflows(owner, name, TriggerEvent::Push, &branch, &tip, None, pusher)?;
            }
            let pulls: Vec<u64> = self
                .repo(owner, name)?
                .pulls
                .iter()
                .filter(|p| p.state == PullState::Open && p.head_ref == branch)
                .map(|p| p.number)
                .collect();
            for number in pulls {
                self.run_pull_request_workflows(owner, name, number, pusher)?;
            }
        }
        Ok(())
    }

    /// Runs the push-triggered workflows on the tip of the default branch `branch`, unless
    /// they already ran there.
    pub(crate) fn run_default_branch_workflows(
        &mut self,
        owner: &str,
        name: &str,
        branch: &str,
    ) -> Result<(), ApiError> {
        let git = self.git(owner, name)?;
        let Some(tip) = gitops::branch_tip(&git, branch) else {
            return Ok(());
        };
        self.run_workflows(
            owner,
            name,
            TriggerEvent::Push,
            branch,
            &tip.to_string(),
            None,
            None,
        )
    }

    /// Runs the `pull_request` workflows for the current head of pull request `number`
    /// (opened, or its head branch moved), unless they already ran for that head.
    pub(crate) fn run_pull_request_workflows(
        &mut self,
        owner: &str,
        name: &str,
        number: u64,
        actor: Option<UserId>,
    ) -> Result<(), ApiError> {
        let git = self.git(owner, name)?;
        let pull = self.repo(owner, name)?.pull(number)?;
        let (Some(head), Some(base)) = (
            gitops::branch_tip(&git, &pull.head_ref),
            gitops::branch_tip(&git, &pull.base_ref),
        ) else {
            return Ok(());
        };
        let head_ref = pull.head_ref.clone();
        let actor = actor.or(Some(pull.author));
        self.run_workflows(
            owner,
            name,
            TriggerEvent::PullRequest,
            &head_ref,
            &head.to_string(),
            Some((number, base)),
            actor,
        )
    }

    /// Runs every workflow `event` triggers on `head_sha` that has not run there yet.
    #[expect(
        clippy::too_many_arguments,
        reason = "one trigger's facts, each a plain value"
    )]
    fn run_workflows(
        &mut self,
        owner: &str,
        name: &str,
        event: TriggerEvent,
        branch: &str,
        head_sha: &str,
        pull: Option<(u64, Oid)>,
        actor: Option<UserId>,
    ) -> Result<(), ApiError> {
        if self.repo(owner, name)?.workflows.is_empty() {
            return Ok(());
        }
        let git = self.git(owner, name)?;
        let head = Oid::from_str(head_sha)?;
        let tested_tree = match pull {
            // GitHub tests a pull request's merge commit, and runs nothing while the pull
            // request conflicts with its base.
            Some((_, base)) => match gitops::merged_tree(&git, base, head)? {
                Some(tree) => tree,
                None => return Ok(()),
            },
            None => git.find_commit(head)?.tree_id(),
        };
        let repo = self.repo(owner, name)?;
        let due: Vec<usize> = repo
            .workflows
            .iter()
            .enumerate()
            .filter(|(_, w)| match event {
                TriggerEvent::Push => w.on_push_to_default_branch,
                TriggerEvent::PullRequest => w.on_pull_request,
            })
            .filter(|(index, _)| {
                !repo.workflow_runs.iter().any(|run| {
                    run.workflow == *index && run.head_sha == head_sha && run.event == event
                })
            })
            .map(|(index, _)| index)
            .collect();
        for workflow in due {
            let id = self.next_id();
            let check_suite_id = self.next_id();
            let created_at = self.clock.tick();
            let repo = self.repo_mut(owner, name)?;
            repo.next_run_number += 1;
            let run = WorkflowRun {
                id,
                workflow,
                run_number: repo.next_run_number,
                run_attempt: 1,
                event,
                head_sha: head_sha.to_owned(),
                head_branch: branch.to_owned(),
                tested_tree,
                pull_number: pull.map(|(number, _)| number),
                check_suite_id,
                actor,
                created_at,
                updated_at: created_at,
            };
            repo.workflow_runs.push(run);
            self.start_attempt(owner, name, id)?;
        }
        Ok(())
    }

    /// Runs the job of run `run_id` at its current attempt: decides the outcome from the
    /// script, writes the log, and records the job and its check run.
    pub(crate) fn start_attempt(
        &mut self,
        owner: &str,
        name: &str,
        run_id: u64,
    ) -> Result<(), ApiError> {
        let git = self.git(owner, name)?;
        let repo = self.repo(owner, name)?;
        let run = repo
            .workflow_runs
            .iter()
            .find(|run| run.id == run_id)
            .ok_or_else(ApiError::not_found)?
            .clone();
        let workflow = repo
            .workflows
            .get(run.workflow)
            .ok_or_else(ApiError::not_found)?
            .clone();
        let slug = repo.slug();
        let outcome = decide(&workflow.script, &run, |path| {
            gitops::file_in_tree(&git, run.tested_tree, path)
        });
        let job_id = self.next_id();
        let created_at = self.clock.tick();
        let started_at = self.clock.tick();
        let completed_at = (outcome != Outcome::Queued).then(|| self.clock.tick());
        let log = match completed_at {
            Some(done) => job_log(&slug, &workflow, &run, outcome, started_at, done),
            None => String::new(),
        };
        let output = match outcome {
            Outcome::Failure => CheckOutput {
                title: Some(workflow.failure.title.clone()),
                summary: Some(workflow.failure.summary.clone()),
                text: workflow.failure.text.clone(),
                annotations: workflow.failure.annotations.clone(),
            },
            Outcome::Success => CheckOutput {
                title: Some("Tests passed".to_owned()),
                summary: Some("All steps completed successfully.".to_owned()),
                ..CheckOutput::default()
            },
            Outcome::Queued => CheckOutput::default(),
        };
        let base_url = self.base_url.clone();
        let repo = self.repo_mut(owner, name)?;
        repo.jobs.push(Job {
            id: job_id,
            run_id,
            run_attempt: run.run_attempt,
            outcome,
            created_at,
            started_at,
            completed_at,
            log,
        });
        repo.check_runs.push(CheckRun {
            id: job_id,
            head_sha: run.head_sha.clone(),
            name: workflow.job.clone(),
            status: outcome.status().to_owned(),
            conclusion: outcome.conclusion().map(str::to_owned),
            started_at,
            completed_at,
            check_suite_id: run.check_suite_id,
            app: CheckApp::Actions,
            external_id: job_id.to_string(),
            details_url: Some(format!(
                "{base_url}/{slug}/actions/runs/{run_id}/job/{job_id}"
            )),
            output,
        });
        if let Some(run) = repo.workflow_runs.iter_mut().find(|r| r.id == run_id) {
            run.updated_at = completed_at.unwrap_or(started_at);
        }
        Ok(())
    }
}

fn decide(
    script: &CheckScript,
    run: &WorkflowRun,
    file: impl Fn(&str) -> Option<String>,
) -> Outcome {
    match script {
        CheckScript::Passes => Outcome::Success,
        CheckScript::FlakyOnce
            if run.event == TriggerEvent::PullRequest && run.run_attempt == 1 =>
        {
            Outcome::Failure
        }
        CheckScript::FlakyOnce => Outcome::Success,
        CheckScript::FailsEverywhere => Outcome::Failure,
        CheckScript::FailsWhileFileContains { path, text } => {
            if file(path).is_some_and(|content| content.contains(text.as_str())) {
                Outcome::Failure
            } else {
                Outcome::Success
            }
        }
        CheckScript::NeverStarts => Outcome::Queued,
    }
}

/// A job log as GitHub Actions writes it: every line stamped, steps in `##[group]`s, the
/// checkout's chatter, the failing step's output with its colours, `##[error]` at the end.
fn job_log(
    slug: &str,
    workflow: &Workflow,
    run: &WorkflowRun,
    outcome: Outcome,
    started: Instant,
    completed: Instant,
) -> String {
    let stamp = |at: Instant| at.rfc3339().replace('Z', ".0000000Z");
    let start = stamp(started);
    let end = stamp(completed);
    let reference = match run.pull_number {
        Some(number) => format!("refs/pull/{number}/merge"),
        None => format!("refs/heads/{}", run.head_branch),
    };
    let mut lines = vec![
        format!("{start} Requested labels: ubuntu-latest"),
        format!(
            "{start} Job defined at: {slug}/{}@{reference}",
            workflow.path
        ),
        format!("{start} Waiting for a runner to pick up this job..."),
        format!("{start} Job is about to start running on the hosted runner: GitHub Actions 1"),
        format!("{start} ##[group]Operating System"),
        format!("{start} Ubuntu"),
        format!("{start} 24.04"),
        format!("{start} ##[endgroup]"),
        format!("{start} ##[group]Run actions/checkout@v4"),
        format!("{start} with:"),
        format!("{start}   repository: {slug}"),
        format!("{start} ##[endgroup]"),
        format!("{start} Syncing repository: {slug}"),
        format!("{start} ##[group]Getting Git version info"),
        format!("{start} [command]/usr/bin/git version"),
        format!("{start} git version 2.43.0"),
        format!("{start} ##[endgroup]"),
    ];
    // The checkout's progress lines: the noise that buries the failure in real logs.
    for percent in (0..=100).step_by(4) {
        lines.push(format!(
            "{start} remote: Counting objects: {percent:>3}% ({percent}/100)"
        ));
    }
    lines.push(format!(
        "{start} [command]/usr/bin/git checkout --progress --force {reference}"
    ));
    lines.push(format!("{start} HEAD is now at {}", short(&run.head_sha)));
    let command = match outcome {
        Outcome::Failure => workflow.failure.command.as_str(),
        _ => "make test",
    };
    lines.push(format!("{start} ##[group]Run {command}"));
    lines.push(format!("{start} \u{1b}[36;1m{command}\u{1b}[0m"));
    lines.push(format!("{start} ##[endgroup]"));
    match outcome {
        Outcome::Failure => {
            for line in workflow.failure.output.lines() {
                lines.push(format!("{end} {line}"));
            }
            lines.push(format!(
                "{end} ##[error]Process completed with exit code 1."
            ));
        }
        _ => lines.push(format!("{end} All tests passed.")),
    }
    lines.push(format!("{end} Post job cleanup."));
    lines.push(format!("{end} Cleaning up orphan processes"));
    let mut log = lines.join("\n");
    log.push('\n');
    log
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}
