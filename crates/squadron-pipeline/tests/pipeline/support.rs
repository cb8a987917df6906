//! Fakes of every port for driving the runtime: an in-memory tracker and code host (which
//! enforces approvals on the head SHA and merges into a real bare repository), workspaces
//! over real git in a temporary directory, one scripted model per role, and a notifier that
//! records every chat post.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use squadron_config::{AgentCatalog, ModelRef, PromptLibrary};
use squadron_core::acceptance::parse_acceptance_criteria;
use squadron_core::event_payload::EventPayload;
use squadron_core::gate::{
    CommitSha, CommitStatus, PullRequestSnapshot, PullRequestState, ReviewRecord, ReviewState,
    ReviewerIdentities,
};
use squadron_core::ports::*;
use squadron_core::{
    Issue, IssueId, IssueKey, IssueState, Milestone, MilestoneId, MilestoneStatus, PrNumber,
    Priority, Project, ProjectId, Review, ReviewVerdict, Role, StateType, Timestamp, TokenPrices,
    TokenUsage,
};
use squadron_harness::{Sandbox, SandboxMode, SandboxSettings};
use squadron_pipeline::{
    AgentSetup, ModelResolveError, ModelResolver, PipelineSettings, RepositoryTarget,
    ResolvedModel, ReviewMode, Services,
};
use squadron_store::{SqlStore, StoreLocation};

pub const URL: &str = "https://linear.app/acme/project/shop-0123456789ab";

pub fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .output()
        .map_err(|error| error.to_string())?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn port(error: String) -> PortError {
    PortError::new(PortErrorKind::Internal, error)
}

/// The commits of `base` that `head` lacks, newest first.
fn landed(worktree: &Path, base: &str, head: &str) -> Result<Vec<CommitSha>, PortError> {
    let listed = git(worktree, &["rev-list", base, &format!("^{head}")]).map_err(port)?;
    Ok(listed.lines().map(CommitSha::new).collect())
}

/// A bare "remote" with a small repository whose tests are shell scripts.
pub fn sample_remote(root: &Path) -> PathBuf {
    let seed = root.join("seed");
    std::fs::create_dir_all(seed.join("tests")).unwrap();
    std::fs::create_dir_all(seed.join("src")).unwrap();
    std::fs::write(
        seed.join(".squadron.toml"),
        "test = [\"sh\", \"run-tests.sh\"]\ntest_globs = [\"tests/**\"]\n",
    )
    .unwrap();
    std::fs::write(
        seed.join("run-tests.sh"),
        "for t in tests/*.sh; do [ -e \"$t\" ] || continue; sh \"$t\" || exit 1; done\n",
    )
    .unwrap();
    std::fs::write(seed.join("src/README"), "sources\n").unwrap();
    std::fs::create_dir_all(seed.join("src/shop")).unwrap();
    std::fs::write(
        seed.join("src/shop/cart.py"),
        "def total(cart):\n    return sum(item.price for item in cart.items)\n",
    )
    .unwrap();
    std::fs::write(seed.join("tests/base.sh"), "true\n").unwrap();
    git(&seed, &["init", "-q", "-b", "main"]).unwrap();
    git(&seed, &["add", "-A"]).unwrap();
    git(&seed, &["commit", "-q", "-m", "seed"]).unwrap();
    let remote = root.join("remote.git");
    git(root, &["clone", "-q", "--bare", "seed", "remote.git"]).unwrap();
    remote
}

/// Workspaces over plain git: a clone of the bare remote as the mirror, one worktree per
/// squad beside it.
#[derive(Debug)]
pub struct GitWorkspaces {
    mirror: PathBuf,
    worktrees: PathBuf,
    /// Serialises every git process that writes the mirror's refs, as the real adapter
    /// does: worktrees share the mirror's refs, so a push (which updates
    /// `refs/remotes/origin/<branch>`) or a rebase racing another squad's fetch fails on
    /// git's ref locks.
    lock: tokio::sync::Mutex<()>,
    scratch: AtomicU64,
}

impl GitWorkspaces {
    pub fn new(root: &Path, remote: &Path) -> Self {
        let mirror = root.join("mirror");
        if !mirror.exists() {
            git(root, &["clone", "-q", remote.to_str().unwrap(), "mirror"]).unwrap();
        }
        Self {
            mirror,
            worktrees: root.join("worktrees"),
            lock: tokio::sync::Mutex::new(()),
            scratch: AtomicU64::new(0),
        }
    }

    fn fetch(&self) -> Result<(), PortError> {
        git(&self.mirror, &["fetch", "-q", "--prune", "origin"])
            .map(drop)
            .map_err(port)
    }
}

#[async_trait]
impl Workspaces for GitWorkspaces {
    async fn prepare(&self, request: &WorktreeRequest) -> Result<PreparedWorktree, PortError> {
        let _guard = self.lock.lock().await;
        self.fetch()?;
        let path = self.worktrees.join(request.squad.as_str());
        let base = format!("origin/{}", request.base_branch);
        let remote_branch = format!("origin/{}", request.branch);
        let remote_sha = git(
            &self.mirror,
            &["rev-parse", "--verify", "-q", &remote_branch],
        )
        .ok();
        if !path.exists() {
            let start = if remote_sha.is_some() {
                &remote_branch
            } else {
                &base
            };
            git(
                &self.mirror,
                &[
                    "worktree",
                    "add",
                    "-q",
                    "-B",
                    &request.branch,
                    path.to_str().unwrap(),
                    start,
                ],
            )
            .map_err(port)?;
        }
        let head = git(&path, &["rev-parse", "HEAD"]).map_err(port)?;
        let base_sha = git(&path, &["merge-base", "HEAD", &base]).map_err(port)?;
        let git_dir = git(&path, &["rev-parse", "--absolute-git-dir"]).map_err(port)?;
        Ok(PreparedWorktree {
            path,
            git_dir: git_dir.into(),
            base_sha: CommitSha::new(base_sha),
            head_sha: CommitSha::new(head),
            remote_sha: remote_sha.map(CommitSha::new),
        })
    }

    async fn head(&self, worktree: &Path) -> Result<CommitSha, PortError> {
        git(worktree, &["rev-parse", "HEAD"])
            .map(CommitSha::new)
            .map_err(port)
    }

    async fn commit_revert(
        &self,
        worktree: &Path,
        commit: &CommitSha,
    ) -> Result<CommitSha, PortError> {
        let marker = format!("This reverts commit {commit}.");
        let message = git(worktree, &["log", "-1", "--format=%B"]).map_err(port)?;
        if !message.contains(&marker) {
            let parents = git(
                worktree,
                &["rev-list", "--parents", "-n", "1", commit.as_str()],
            )
            .map_err(port)?;
            let mut args = vec!["revert", "--no-edit"];
            if parents.split_whitespace().count() > 2 {
                args.extend(["-m", "1"]);
            }
            args.push(commit.as_str());
            git(worktree, &args).map_err(port)?;
        }
        git(worktree, &["rev-parse", "HEAD"])
            .map(CommitSha::new)
            .map_err(port)
    }

    async fn push(
        &self,
        worktree: &Path,
        branch: &str,
        expected_remote: Option<&CommitSha>,
    ) -> Result<CommitSha, PortError> {
        let _guard = self.lock.lock().await;
        let head = git(worktree, &["rev-parse", "HEAD"]).map_err(port)?;
        let remote = git(
            worktree,
            &["ls-remote", "origin", &format!("refs/heads/{branch}")],
        )
        .map_err(port)?;
        if remote.split_whitespace().next() == Some(head.as_str()) {
            return Ok(CommitSha::new(head));
        }
        let lease = format!(
            "--force-with-lease=refs/heads/{branch}:{}",
            expected_remote.map_or("", CommitSha::as_str)
        );
        git(
            worktree,
            &[
                "push",
                "-q",
                &lease,
                "origin",
                &format!("HEAD:refs/heads/{branch}"),
            ],
        )
        .map_err(|error| PortError::new(PortErrorKind::Conflict, error))?;
        Ok(CommitSha::new(head))
    }

    async fn rebase(&self, worktree: &Path, base_branch: &str) -> Result<RebaseOutcome, PortError> {
        let _guard = self.lock.lock().await;
        self.fetch()?;
        let base = format!("origin/{base_branch}");
        if git(worktree, &["merge-base", "--is-ancestor", &base, "HEAD"]).is_ok() {
            return Ok(RebaseOutcome::UpToDate);
        }
        if git(worktree, &["rebase", "-q", &base]).is_err() {
            let paths =
                git(worktree, &["diff", "--name-only", "--diff-filter=U"]).unwrap_or_default();
            let _ = git(worktree, &["rebase", "--abort"]);
            return Ok(RebaseOutcome::Conflict {
                paths: paths.lines().map(str::to_owned).collect(),
                landed: landed(worktree, &base, "HEAD")?,
            });
        }
        Ok(RebaseOutcome::Rebased {
            head: CommitSha::new(git(worktree, &["rev-parse", "HEAD"]).map_err(port)?),
            base: CommitSha::new(git(worktree, &["rev-parse", &base]).map_err(port)?),
        })
    }

    async fn merge_onto_base(
        &self,
        worktree: &Path,
        base_branch: &str,
        head: &CommitSha,
    ) -> Result<ConflictedMerge, PortError> {
        let _guard = self.lock.lock().await;
        self.fetch()?;
        let base = format!("origin/{base_branch}");
        git(worktree, &["reset", "-q", "--hard", &base]).map_err(port)?;
        git(worktree, &["clean", "-fdq"]).map_err(port)?;
        // Exits non-zero on conflicts, which is what this is for.
        let _ = git(
            worktree,
            &[
                "-c",
                "merge.conflictStyle=diff3",
                "merge",
                "--squash",
                head.as_str(),
            ],
        );
        let lines = |text: String| -> Vec<String> { text.lines().map(str::to_owned).collect() };
        let conflicts =
            lines(git(worktree, &["diff", "--name-only", "--diff-filter=U"]).map_err(port)?);
        let changed = lines(git(worktree, &["diff", "--name-only", "HEAD"]).map_err(port)?);
        git(worktree, &["reset", "-q"]).map_err(port)?;
        Ok(ConflictedMerge {
            base: CommitSha::new(git(worktree, &["rev-parse", &base]).map_err(port)?),
            conflicts,
            changed,
            landed: landed(worktree, &base, head.as_str())?,
        })
    }

    async fn contains_base_tip(
        &self,
        worktree: &Path,
        base_branch: &str,
    ) -> Result<bool, PortError> {
        {
            let _guard = self.lock.lock().await;
            self.fetch()?;
        }
        let base = format!("origin/{base_branch}");
        Ok(git(worktree, &["merge-base", "--is-ancestor", &base, "HEAD"]).is_ok())
    }

    async fn patch_id(
        &self,
        worktree: &Path,
        base: &CommitSha,
        head: &CommitSha,
    ) -> Result<PatchId, PortError> {
        let range = format!("{}...{}", base.as_str(), head.as_str());
        let diff = git(worktree, &["diff", "--no-color", &range]).map_err(port)?;
        let mut child = Command::new("git")
            .args(["patch-id", "--stable"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|error| PortError::new(PortErrorKind::Internal, error.to_string()))?;
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), diff.as_bytes())
            .map_err(|error| PortError::new(PortErrorKind::Internal, error.to_string()))?;
        let output = child
            .wait_with_output()
            .map_err(|error| PortError::new(PortErrorKind::Internal, error.to_string()))?;
        let id = String::from_utf8_lossy(&output.stdout);
        Ok(PatchId::new(
            id.split_whitespace().next().unwrap_or_default(),
        ))
    }

    async fn changed_files(
        &self,
        worktree: &Path,
        base: &CommitSha,
    ) -> Result<Vec<String>, PortError> {
        let names = git(
            worktree,
            &[
                "diff",
                "--name-only",
                "--diff-filter=d",
                base.as_str(),
                "HEAD",
            ],
        )
        .map_err(port)?;
        let mut files: Vec<String> = names.lines().map(str::to_owned).collect();
        files.sort();
        Ok(files)
    }

    async fn scratch(&self, _worktree: &Path, at: &CommitSha) -> Result<PathBuf, PortError> {
        let _guard = self.lock.lock().await;
        if git(
            &self.mirror,
            &["cat-file", "-e", &format!("{at}^{{commit}}")],
        )
        .is_err()
        {
            self.fetch()?;
        }
        let n = self.scratch.fetch_add(1, Ordering::Relaxed);
        let path = self.worktrees.join(format!("scratch-{n}"));
        git(
            &self.mirror,
            &[
                "worktree",
                "add",
                "-q",
                "--detach",
                path.to_str().unwrap(),
                at.as_str(),
            ],
        )
        .map_err(port)?;
        Ok(path)
    }

    async fn merge_trial(
        &self,
        worktree: &Path,
        base_branch: &str,
    ) -> Result<MergeTrial, PortError> {
        let base = {
            let _guard = self.lock.lock().await;
            self.fetch()?;
            git(
                &self.mirror,
                &["rev-parse", &format!("origin/{base_branch}")],
            )
            .map_err(port)?
        };
        if git(worktree, &["merge-base", "--is-ancestor", &base, "HEAD"]).is_ok() {
            return Ok(MergeTrial::UpToDate);
        }
        let head = CommitSha::new(git(worktree, &["rev-parse", "HEAD"]).map_err(port)?);
        let path = self.scratch(worktree, &head).await?;
        if git(&path, &["merge", "-q", "--no-edit", &base]).is_err() {
            let paths = git(&path, &["diff", "--name-only", "--diff-filter=U"]).unwrap_or_default();
            self.remove(&path).await?;
            return Ok(MergeTrial::Conflict {
                paths: paths.lines().map(str::to_owned).collect(),
            });
        }
        Ok(MergeTrial::Merged {
            path,
            base: CommitSha::new(base),
        })
    }

    async fn remove(&self, worktree: &Path) -> Result<(), PortError> {
        let _guard = self.lock.lock().await;
        if worktree.exists() {
            git(
                &self.mirror,
                &["worktree", "remove", "--force", worktree.to_str().unwrap()],
            )
            .map_err(port)?;
        }
        Ok(())
    }
}

/// An in-memory tracker that counts every write.
#[derive(Debug, Default)]
pub struct FakeTracker {
    pub issues: Mutex<Vec<Issue>>,
    pub comments: Mutex<Vec<(IssueKey, String, String)>>,
    pub states: Mutex<HashMap<IssueKey, WorkflowTarget>>,
    pub links: Mutex<Vec<(IssueKey, String)>>,
    /// Woken at each comment posted.
    pub commented: tokio::sync::Notify,
}

impl FakeTracker {
    pub fn comments_on(&self, issue: &str) -> Vec<String> {
        self.comments
            .lock()
            .unwrap()
            .iter()
            .filter(|(key, _, _)| key.as_str() == issue)
            .map(|(_, _, body)| body.clone())
            .collect()
    }

    pub fn state(&self, issue: &str) -> Option<WorkflowTarget> {
        self.states
            .lock()
            .unwrap()
            .get(&IssueKey::new(issue))
            .copied()
    }
}

#[async_trait]
impl IssueTracker for FakeTracker {
    async fn resolve_milestone(&self, project_url: &str) -> Result<MilestoneIntake, PortError> {
        if project_url != URL {
            return Err(PortError::new(
                PortErrorKind::NotFound,
                "resolve an unknown project",
            ));
        }
        let milestone = Milestone {
            id: MilestoneId::new("m1"),
            name: "M1".to_owned(),
            sort_order: 1.0,
            status: MilestoneStatus::Next,
        };
        Ok(MilestoneIntake {
            project: Project {
                id: ProjectId::new("p1"),
                name: "Shop".to_owned(),
                slug_id: "0123456789ab".to_owned(),
                url: URL.to_owned(),
            },
            milestones: vec![milestone.clone()],
            milestone,
            choice: MilestoneChoice::FirstNotDone,
            issues: self.issues.lock().unwrap().clone(),
        })
    }

    async fn fetch_issue(&self, issue: &str) -> Result<Issue, PortError> {
        self.issues
            .lock()
            .unwrap()
            .iter()
            .find(|candidate| candidate.key.as_str() == issue)
            .cloned()
            .ok_or_else(|| PortError::new(PortErrorKind::NotFound, format!("read {issue}")))
    }

    async fn comment_once(
        &self,
        issue: &IssueKey,
        marker: &str,
        body: &str,
    ) -> Result<SyncOutcome, PortError> {
        let mut comments = self.comments.lock().unwrap();
        if comments
            .iter()
            .any(|(key, seen, _)| key == issue && seen == marker)
        {
            return Ok(SyncOutcome::AlreadyDone);
        }
        comments.push((issue.clone(), marker.to_owned(), body.to_owned()));
        self.commented.notify_one();
        Ok(SyncOutcome::Applied)
    }

    async fn move_issue(
        &self,
        issue: &IssueKey,
        target: WorkflowTarget,
    ) -> Result<SyncOutcome, PortError> {
        self.states.lock().unwrap().insert(issue.clone(), target);
        Ok(SyncOutcome::Applied)
    }

    async fn link_pull_request(
        &self,
        issue: &IssueKey,
        url: &str,
        _title: &str,
    ) -> Result<SyncOutcome, PortError> {
        self.links
            .lock()
            .unwrap()
            .push((issue.clone(), url.to_owned()));
        Ok(SyncOutcome::Applied)
    }
}

/// A refined issue whose branch is `eng-<n>`.
pub fn issue(n: u32, blocked_by: &[u32]) -> Issue {
    let key = format!("ENG-{n}");
    let description = format!(
        "Feature {n}.\n\n```gherkin\nScenario: feature {n} works\n  Given the shop\n  When feature {n} runs\n  Then it is done\n```\n"
    );
    Issue {
        id: IssueId::new(format!("id-{n}")),
        key: IssueKey::new(key.clone()),
        title: format!("Feature {n}"),
        acceptance_criteria: parse_acceptance_criteria(&description),
        description,
        estimate: Some(2.0),
        priority: Priority::Medium,
        state: IssueState {
            name: "Todo".to_owned(),
            kind: StateType::Unstarted,
        },
        labels: Vec::new(),
        branch_name: format!("eng-{n}"),
        url: format!("https://linear.app/acme/issue/{key}"),
        team_key: "ENG".to_owned(),
        blocked_by: blocked_by
            .iter()
            .map(|b| squadron_core::BlockingIssue {
                id: IssueId::new(format!("id-{b}")),
                key: IssueKey::new(format!("ENG-{b}")),
                state: StateType::Unstarted,
            })
            .collect(),
        attachments: Vec::new(),
    }
}

/// A stub issue as Sentry's Linear integration creates it: no estimate, no scenarios, a
/// `Sentry Issue:` line and a Python trace whose innermost app frame is `src/shop/cart.py`.
pub fn sentry_stub(n: u32) -> Issue {
    let mut issue = issue(n, &[]);
    issue.title = format!("TypeError: 'NoneType' object is not iterable ({n})");
    issue.description = format!(
        "Sentry Issue: [SHOP-{n}A](https://acme.sentry.io/issues/4{n}/?referrer=linear_integration)\n\n\
         ```\nTypeError: 'NoneType' object is not iterable\n  \
         File \"/app/src/shop/cart.py\", line 2, in total\n  \
         File \"/usr/lib/python3.12/site-packages/flask/app.py\", line 880, in dispatch\n```\n"
    );
    issue.acceptance_criteria = Vec::new();
    issue.estimate = None;
    issue
}

/// An issue with no acceptance scenarios: admission skips it.
pub fn unrefined_issue(n: u32) -> Issue {
    let mut issue = issue(n, &[]);
    issue.description = "Make it better.".to_owned();
    issue.acceptance_criteria = Vec::new();
    issue
}

#[derive(Debug, Clone)]
pub struct FakePr {
    pub number: u64,
    pub branch: String,
    pub base: String,
    pub state: PullRequestState,
    pub body: String,
}

/// A code host over the bare remote: approvals count only on the head SHA, and merges
/// fast-forward the base when the head contains it.
#[derive(Debug)]
pub struct FakeCodeHost {
    pub remote: PathBuf,
    pub prs: Mutex<Vec<FakePr>>,
    pub created: Mutex<Vec<String>>,
    pub reviews: Mutex<Vec<(u64, ReviewEntry)>>,
    pub comments: Mutex<Vec<(u64, InlineCommentEntry)>>,
    pub merges: Mutex<Vec<(u64, String)>>,
    pub statuses: Mutex<Vec<(String, StatusUpdate)>>,
    /// `created <branch>` and `merged <branch>`, in order.
    pub history: Mutex<Vec<String>>,
    /// Statuses of CI checks every PR's snapshot shows.
    pub checks: Mutex<Vec<CommitStatus>>,
    /// Statuses the head of `main` shows instead of `checks`, when set.
    pub main_checks: Mutex<Option<Vec<CommitStatus>>>,
    /// Told on every snapshot read, so a test knows the gate has looked.
    pub snapshot_read: tokio::sync::Notify,
    next_id: AtomicU64,
}

impl FakeCodeHost {
    pub fn new(remote: &Path) -> Self {
        Self {
            remote: remote.to_path_buf(),
            prs: Mutex::default(),
            created: Mutex::default(),
            reviews: Mutex::default(),
            comments: Mutex::default(),
            merges: Mutex::default(),
            statuses: Mutex::default(),
            history: Mutex::default(),
            checks: Mutex::default(),
            main_checks: Mutex::default(),
            snapshot_read: tokio::sync::Notify::new(),
            next_id: AtomicU64::new(100),
        }
    }

    fn tip(&self, branch: &str) -> Result<String, PortError> {
        git(
            &self.remote,
            &["rev-parse", &format!("refs/heads/{branch}")],
        )
        .map_err(port)
    }

    fn pr(&self, pr: PrNumber) -> Result<FakePr, PortError> {
        self.prs
            .lock()
            .unwrap()
            .iter()
            .find(|candidate| candidate.number == pr.0)
            .cloned()
            .ok_or_else(|| PortError::new(PortErrorKind::NotFound, format!("read PR {pr}")))
    }

    pub fn login(role: Role) -> &'static str {
        match role {
            Role::CodeReviewer => "cr-bot",
            Role::QaSpecialist => "qa-bot",
            _ => "dev-bot",
        }
    }

    /// Reviews posted per (PR, login, commit): a duplicate shows as a count above 1.
    pub fn review_counts(&self) -> BTreeMap<(u64, String, String), usize> {
        let mut counts = BTreeMap::new();
        for (pr, review) in self.reviews.lock().unwrap().iter() {
            *counts
                .entry((*pr, review.author.clone(), review.commit_id.to_string()))
                .or_insert(0) += 1;
        }
        counts
    }

    pub fn main_tip(&self) -> String {
        self.tip("main").unwrap()
    }
}

#[async_trait]
impl CodeHost for FakeCodeHost {
    async fn find_or_create_pull_request(
        &self,
        _repo: &RepoRef,
        request: &PullRequestRequest,
    ) -> Result<PullRequestInfo, PortError> {
        let head = self.tip(&request.head_branch)?;
        let mut prs = self.prs.lock().unwrap();
        if let Some(pr) = prs.iter().find(|pr| pr.branch == request.head_branch) {
            return Ok(PullRequestInfo {
                number: PrNumber(pr.number),
                url: format!("https://github.test/acme/shop/pull/{}", pr.number),
                head_sha: CommitSha::new(head),
                state: pr.state,
                opened: false,
            });
        }
        self.history
            .lock()
            .unwrap()
            .push(format!("created {}", request.head_branch));
        let number = prs.len() as u64 + 1;
        prs.push(FakePr {
            number,
            branch: request.head_branch.clone(),
            base: request.base_branch.clone(),
            state: PullRequestState::Open,
            body: request.body.clone(),
        });
        self.created
            .lock()
            .unwrap()
            .push(request.head_branch.clone());
        Ok(PullRequestInfo {
            number: PrNumber(number),
            url: format!("https://github.test/acme/shop/pull/{number}"),
            head_sha: CommitSha::new(head),
            state: PullRequestState::Open,
            opened: true,
        })
    }

    async fn update_pull_request_body(
        &self,
        _repo: &RepoRef,
        pr: PrNumber,
        body: &str,
    ) -> Result<(), PortError> {
        let mut prs = self.prs.lock().unwrap();
        if let Some(found) = prs.iter_mut().find(|candidate| candidate.number == pr.0) {
            found.body = body.to_owned();
        }
        Ok(())
    }

    async fn post_review(
        &self,
        _repo: &RepoRef,
        pr: PrNumber,
        role: Role,
        head: &CommitSha,
        review: &Review,
        _delivery: ReviewDelivery,
    ) -> Result<PostedReview, PortError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let author = Self::login(role).to_owned();
        for comment in &review.comments {
            self.comments.lock().unwrap().push((
                pr.0,
                InlineCommentEntry {
                    id: self.next_id.fetch_add(1, Ordering::Relaxed),
                    review_id: Some(id),
                    author: author.clone(),
                    path: comment.path.clone(),
                    line: Some(comment.line),
                    body: comment.body.clone(),
                    commit_id: head.clone(),
                },
            ));
        }
        self.reviews.lock().unwrap().push((
            pr.0,
            ReviewEntry {
                id,
                author,
                state: match review.verdict {
                    ReviewVerdict::Approved => ReviewState::Approved,
                    ReviewVerdict::ChangesRequested => ReviewState::ChangesRequested,
                },
                commit_id: head.clone(),
                body: review.summary.clone(),
            },
        ));
        Ok(PostedReview::Posted { review_id: id })
    }

    async fn read_feedback(
        &self,
        _repo: &RepoRef,
        pr: PrNumber,
    ) -> Result<PullRequestFeedback, PortError> {
        Ok(PullRequestFeedback {
            reviews: self
                .reviews
                .lock()
                .unwrap()
                .iter()
                .filter(|(n, _)| *n == pr.0)
                .map(|(_, r)| r.clone())
                .collect(),
            review_comments: self
                .comments
                .lock()
                .unwrap()
                .iter()
                .filter(|(n, _)| *n == pr.0)
                .map(|(_, c)| c.clone())
                .collect(),
            conversation: Vec::new(),
        })
    }

    async fn read_snapshot(
        &self,
        _repo: &RepoRef,
        pr: PrNumber,
    ) -> Result<PullRequestSnapshot, PortError> {
        let found = self.pr(pr)?;
        let head = self.tip(&found.branch)?;
        self.snapshot_read.notify_one();
        Ok(PullRequestSnapshot {
            number: pr,
            state: found.state,
            draft: false,
            head_sha: CommitSha::new(head),
            base_branch: found.base.clone(),
            mergeable: Some(true),
            merge_commit: self
                .merges
                .lock()
                .unwrap()
                .iter()
                .find(|(number, _)| *number == pr.0)
                .map(|(_, sha)| CommitSha::new(sha.clone())),
            reviews: self
                .reviews
                .lock()
                .unwrap()
                .iter()
                .filter(|(n, _)| *n == pr.0)
                .map(|(_, review)| ReviewRecord {
                    author: review.author.clone(),
                    state: review.state,
                    commit_id: review.commit_id.clone(),
                })
                .collect(),
            statuses: self.checks.lock().unwrap().clone(),
            check_runs: Vec::new(),
        })
    }

    /// The fake's checks are commit statuses on every commit, as its snapshots show them.
    async fn read_check(
        &self,
        _repo: &RepoRef,
        reference: &str,
        name: &str,
    ) -> Result<Option<CheckReport>, PortError> {
        let sha = self.tip(reference).unwrap_or_else(|_| reference.to_owned());
        let statuses = match self.main_checks.lock().unwrap().clone() {
            Some(on_main) if reference == "main" => on_main,
            _ => self.checks.lock().unwrap().clone(),
        };
        Ok(statuses
            .iter()
            .find(|status| status.context == name)
            .map(|status| CheckReport {
                name: status.context.clone(),
                sha: CommitSha::new(sha.clone()),
                state: match status.state {
                    squadron_core::gate::StatusState::Success => CheckState::Passed,
                    squadron_core::gate::StatusState::Pending => CheckState::Pending,
                    other => CheckState::Failed {
                        outcome: other.to_string(),
                    },
                },
                attempts: 1,
                origin: CheckOrigin::Status,
                title: None,
                summary: None,
                text: None,
                annotation_count: 0,
                details_url: None,
            }))
    }

    async fn read_check_evidence(
        &self,
        _repo: &RepoRef,
        _report: &CheckReport,
    ) -> Result<CheckEvidence, PortError> {
        Ok(CheckEvidence {
            annotations: Vec::new(),
            log: None,
        })
    }

    async fn rerun_check(
        &self,
        _repo: &RepoRef,
        report: &CheckReport,
    ) -> Result<RerunOutcome, PortError> {
        Ok(RerunOutcome::NotRerunnable {
            reason: format!("`{}` is a commit status", report.name),
        })
    }

    async fn merge(
        &self,
        _repo: &RepoRef,
        pr: PrNumber,
        head: &CommitSha,
        _method: MergeMethod,
    ) -> Result<MergeOutcome, PortError> {
        let found = self.pr(pr)?;
        if found.state != PullRequestState::Open {
            return Err(PortError::new(
                PortErrorKind::Invalid,
                format!("merge PR {pr}: it is {}", found.state),
            ));
        }
        let tip = self.tip(&found.branch)?;
        if tip != head.as_str() {
            return Ok(MergeOutcome::HeadChanged {
                message: "head moved".to_owned(),
            });
        }
        let approvers: std::collections::BTreeSet<String> = self
            .reviews
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, review)| {
                *n == pr.0 && review.state == ReviewState::Approved && review.commit_id == *head
            })
            .map(|(_, review)| review.author.clone())
            .collect();
        if approvers.len() < 2 {
            return Ok(MergeOutcome::NotMergeable {
                message: format!("needs two approvals on {head}, has {approvers:?}"),
            });
        }
        if git(
            &self.remote,
            &[
                "merge-base",
                "--is-ancestor",
                &format!("refs/heads/{}", found.base),
                head.as_str(),
            ],
        )
        .is_err()
        {
            return Ok(MergeOutcome::NotMergeable {
                message: "the head branch is not up to date with the base".to_owned(),
            });
        }
        git(
            &self.remote,
            &[
                "update-ref",
                &format!("refs/heads/{}", found.base),
                head.as_str(),
            ],
        )
        .map_err(port)?;
        self.prs
            .lock()
            .unwrap()
            .iter_mut()
            .filter(|candidate| candidate.number == pr.0)
            .for_each(|candidate| candidate.state = PullRequestState::Merged);
        self.merges.lock().unwrap().push((pr.0, head.to_string()));
        self.history
            .lock()
            .unwrap()
            .push(format!("merged {}", found.branch));
        Ok(MergeOutcome::Merged { sha: head.clone() })
    }

    async fn set_commit_status(
        &self,
        _repo: &RepoRef,
        sha: &CommitSha,
        _role: Role,
        status: &StatusUpdate,
    ) -> Result<(), PortError> {
        self.statuses
            .lock()
            .unwrap()
            .push((sha.to_string(), status.clone()));
        Ok(())
    }

    async fn resolve_identities(&self) -> Result<ResolvedIdentities, PortError> {
        Ok(ResolvedIdentities {
            developer: "dev-bot".to_owned(),
            code_reviewer: "cr-bot".to_owned(),
            qa_specialist: "qa-bot".to_owned(),
        })
    }
}

/// The id of the call with which a tampering Developer rewrites QA's test.
pub const TAMPER_CALL: &str = "call-tamper";

/// The reason a disputing Developer gives for asking QA to change its test.
pub const DISPUTE: &str = "the test should also check the file ends with a newline";

/// How a reviewer behaves.
#[derive(Clone, Debug, Default)]
pub struct ReviewScript {
    /// Issues whose first review (by this reviewer) requests changes.
    pub reject_first: Vec<String>,
    /// Issues this reviewer never approves.
    pub always_reject: Vec<String>,
}

/// One role's model: writers write their issue's file and finish; reviewers review as
/// scripted. Every reply costs a fixed amount of tokens.
#[derive(Debug)]
pub struct ScriptedModel {
    pub role: Role,
    pub script: ReviewScript,
    /// Reviews given per issue.
    seen: Mutex<HashMap<String, u32>>,
    pub calls: AtomicU64,
    /// Replies wait for the gate to open: tests hold agents mid-turn.
    pub gate: Arc<Semaphore>,
    /// The confidence the Diagnostician states.
    pub confidence: Mutex<&'static str>,
    /// What every turn this model started was asked: its task, or the follow-up of a
    /// conversation that goes on.
    pub tasks: Mutex<Vec<String>>,
    /// The messages of the first request of every turn this model started.
    pub openings: Mutex<Vec<Vec<ChatMessage>>>,
    /// The system prompt of every turn this model started.
    pub systems: Mutex<Vec<String>>,
    /// Issues on which the Developer, after its first write, asks QA to change its test.
    pub disputes: Mutex<Vec<String>>,
    /// Issues on which the Developer writes its file, then only reads and never finishes,
    /// as a small real model does.
    pub stalls: Mutex<Vec<String>>,
    /// Issues on which the Developer, fixing review findings, first tries to rewrite QA's
    /// test with `write_file`.
    pub tampers: Mutex<Vec<String>>,
}

impl ScriptedModel {
    pub fn new(role: Role, script: ReviewScript, gate: Arc<Semaphore>) -> Self {
        Self {
            role,
            script,
            seen: Mutex::default(),
            calls: AtomicU64::new(0),
            gate,
            confidence: Mutex::new("high"),
            tasks: Mutex::default(),
            openings: Mutex::default(),
            systems: Mutex::default(),
            disputes: Mutex::default(),
            stalls: Mutex::default(),
            tampers: Mutex::default(),
        }
    }

    /// What the turns started so far were asked.
    pub fn tasks(&self) -> Vec<String> {
        self.tasks.lock().unwrap().clone()
    }

    /// The first request's messages of each turn started so far.
    pub fn openings(&self) -> Vec<Vec<ChatMessage>> {
        self.openings.lock().unwrap().clone()
    }
}

/// The user messages of the request: the task, then what a conversation that goes on was
/// told after it (a fix round, failing tests handed back).
fn user_messages(request: &ChatRequest) -> impl Iterator<Item = &str> {
    request.messages.iter().filter_map(|message| match message {
        ChatMessage::User { content } => Some(content.as_str()),
        _ => None,
    })
}

fn first_task(request: &ChatRequest) -> String {
    user_messages(request).next().unwrap_or_default().to_owned()
}

/// Every user message of the request, joined.
fn asked(request: &ChatRequest) -> String {
    user_messages(request).collect::<Vec<_>>().join("\n")
}

fn issue_of(request: &ChatRequest) -> String {
    let task = first_task(request);
    let start = task.find("ENG-").unwrap_or(0);
    task[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

fn tool_call(name: &str, arguments: serde_json::Value) -> ChatReply {
    ChatReply {
        content: None,
        tool_calls: vec![ToolCall {
            id: format!("call-{name}"),
            name: name.to_owned(),
            arguments: arguments.to_string(),
        }],
        finish_reason: FinishReason::ToolCalls,
        usage: TokenUsage {
            prompt: 1000,
            cached: 0,
            completion: 100,
        },
        model: "scripted".to_owned(),
        reasoning: None,
    }
}

#[async_trait]
impl ChatModel for ScriptedModel {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatReply, PortError> {
        let _permit = self
            .gate
            .acquire()
            .await
            .map_err(|_| port("gate closed".to_owned()))?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let issue = issue_of(request);
        let slug = issue.to_ascii_lowercase();
        let mid_turn = matches!(request.messages.last(), Some(ChatMessage::Tool { .. }));
        if !mid_turn {
            // A conversation that goes on ends with the follow-up after the last turn's
            // final tool result.
            let asked = match request.messages.as_slice() {
                [.., ChatMessage::Tool { .. }, ChatMessage::User { content }] => content.clone(),
                _ => first_task(request),
            };
            self.tasks.lock().unwrap().push(asked);
            self.openings.lock().unwrap().push(request.messages.clone());
            let system = request.messages.iter().find_map(|message| match message {
                ChatMessage::System { content } => Some(content.clone()),
                _ => None,
            });
            self.systems
                .lock()
                .unwrap()
                .push(system.unwrap_or_default());
        }
        if request.tools.is_empty() {
            // Asked for a hand-off: a reply in text, as the hand-off request asks.
            return Ok(ChatReply {
                content: Some(format!(
                    "## Goal\nImplement {issue}.\n## Done so far\nWrote src/{slug}.txt.\n## Files changed\nsrc/{slug}.txt\n## What is left\nFinish.\n## Failing tests\nnone known"
                )),
                tool_calls: Vec::new(),
                finish_reason: FinishReason::Stop,
                usage: TokenUsage {
                    prompt: 1000,
                    cached: 0,
                    completion: 100,
                },
                model: "scripted".to_owned(),
                reasoning: None,
            });
        }
        Ok(match self.role {
            Role::Developer if mid_turn && self.stalls.lock().unwrap().contains(&issue) => {
                tool_call("read_file", serde_json::json!({"path": "src/README"}))
            }
            Role::Diagnostician => tool_call(
                "submit_diagnosis",
                serde_json::json!({
                    "hypothesis": format!("The cart of {issue} has no items list when it is empty."),
                    "plan": "Treat a missing items list as empty in total(); regression test: an empty cart totals 0.",
                    "confidence": *self.confidence.lock().unwrap(),
                    "files": ["src/shop/cart.py"],
                }),
            ),
            Role::Developer
                if mid_turn
                    && self.disputes.lock().unwrap().contains(&issue)
                    && matches!(
                        request.messages.last(),
                        Some(ChatMessage::Tool { tool_call_id, .. }) if tool_call_id == "call-write_file"
                    )
                    && !asked(request).contains("address the reviews") =>
            {
                tool_call(
                    "request_test_change",
                    serde_json::json!({"path": format!("tests/{slug}.sh"), "reason": DISPUTE}),
                )
            }
            Role::Developer
                if mid_turn
                    && matches!(
                        request.messages.last(),
                        Some(ChatMessage::Tool { tool_call_id, .. }) if tool_call_id == TAMPER_CALL
                    ) =>
            {
                tool_call(
                    "write_file",
                    serde_json::json!({"path": format!("src/{slug}.txt"), "content": "done\nfixed\n"}),
                )
            }
            Role::Developer | Role::Qa if mid_turn => tool_call(
                "finish",
                serde_json::json!({"summary": format!("{} work on {issue}", self.role)}),
            ),
            Role::Developer
                if asked(request).contains("address the reviews")
                    && self.tampers.lock().unwrap().contains(&issue) =>
            {
                let mut reply = tool_call(
                    "write_file",
                    serde_json::json!({"path": format!("tests/{slug}.sh"), "content": "true\n"}),
                );
                reply.tool_calls[0].id = TAMPER_CALL.to_owned();
                reply
            }
            Role::Developer => {
                // A fix round changes the file, so the reviewers see a new head.
                let fixing = asked(request).contains("address the reviews");
                let content = if fixing { "done\nfixed\n" } else { "done\n" };
                tool_call(
                    "write_file",
                    serde_json::json!({"path": format!("src/{slug}.txt"), "content": content}),
                )
            }
            Role::Qa => {
                // Asked to change its test, QA agrees and changes it.
                let disputed = asked(request).contains("The Developer asks you to change tests");
                let content = if disputed {
                    format!("grep -q done src/{slug}.txt # {DISPUTE}\n")
                } else {
                    format!("grep -q done src/{slug}.txt\n")
                };
                tool_call(
                    "write_file",
                    serde_json::json!({"path": format!("tests/{slug}.sh"), "content": content}),
                )
            }
            _ => {
                let round = {
                    let mut seen = self.seen.lock().unwrap();
                    let count = seen.entry(issue.clone()).or_insert(0);
                    *count += 1;
                    *count
                };
                let reject = self.script.always_reject.contains(&issue)
                    || (round == 1 && self.script.reject_first.contains(&issue));
                if reject {
                    tool_call(
                        "submit_review",
                        serde_json::json!({
                            "verdict": "request_changes",
                            "summary": "Please name the file better.",
                            "comments": [{"path": format!("src/{slug}.txt"), "line": 1, "body": "Say more."}],
                        }),
                    )
                } else {
                    tool_call(
                        "submit_review",
                        serde_json::json!({"verdict": "approve", "summary": "Looks right.", "comments": []}),
                    )
                }
            }
        })
    }

    /// Replies of this model are 100 tokens, so a call projects to little beyond its prompt.
    fn limits(&self) -> ModelLimits {
        ModelLimits {
            max_output_tokens: 100,
            ..ModelLimits::CONSERVATIVE
        }
    }
}

/// Everything one test drives the runtime with.
pub struct World {
    pub dir: tempfile::TempDir,
    pub store: Arc<SqlStore>,
    pub tracker: Arc<FakeTracker>,
    pub code_host: Arc<FakeCodeHost>,
    pub workspaces: Arc<GitWorkspaces>,
    pub models: BTreeMap<Role, Arc<ScriptedModel>>,
    pub gate: Arc<Semaphore>,
    pub sandbox: Arc<Sandbox>,
    pub notifier: Arc<RecordingNotifier>,
}

/// The clock tests run on: real milliseconds are fine, only ordering matters.
#[derive(Debug)]
pub struct TestClock;

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as i64);
        Timestamp::from_millis(millis)
    }
}

impl World {
    pub async fn new(issues: Vec<Issue>, code_reviewer: ReviewScript) -> World {
        let dir = tempfile::tempdir().unwrap();
        let remote = sample_remote(dir.path());
        let store = SqlStore::open(&StoreLocation::Sqlite(dir.path().join("store.db")))
            .await
            .unwrap();
        let tracker = FakeTracker::default();
        *tracker.issues.lock().unwrap() = issues;
        let gate = Arc::new(Semaphore::new(Semaphore::MAX_PERMITS));
        let models = Role::ALL
            .into_iter()
            .map(|role| {
                let script = if role == Role::CodeReviewer {
                    code_reviewer.clone()
                } else {
                    ReviewScript::default()
                };
                (
                    role,
                    Arc::new(ScriptedModel::new(role, script, Arc::clone(&gate))),
                )
            })
            .collect();
        let sandbox = Sandbox::detect(SandboxSettings::new(SandboxMode::Restricted))
            .await
            .unwrap();
        World {
            code_host: Arc::new(FakeCodeHost::new(&remote)),
            workspaces: Arc::new(GitWorkspaces::new(dir.path(), &remote)),
            dir,
            store: Arc::new(store),
            tracker: Arc::new(tracker),
            models,
            gate,
            sandbox: Arc::new(sandbox),
            notifier: Arc::new(RecordingNotifier::default()),
        }
    }

    pub fn services(&self) -> Services {
        let catalog = AgentCatalog::shipped();
        let agents = Role::ALL
            .into_iter()
            .map(|role| {
                let model: Arc<dyn ChatModel> = self.models[&role].clone();
                (
                    role,
                    AgentSetup {
                        definition: catalog.get(role).clone(),
                        prices: TokenPrices {
                            input_per_million: 10.0,
                            cached_input_per_million: 1.0,
                            output_per_million: 30.0,
                        },
                        model,
                    },
                )
            })
            .collect();
        Services {
            store: self.store.clone(),
            tracker: self.tracker.clone(),
            code_host: self.code_host.clone(),
            workspaces: self.workspaces.clone(),
            agents,
            models: Arc::new(TestModels {
                developer: self.models[&Role::Developer].clone(),
            }),
            prompts: Arc::new(PromptLibrary::shipped()),
            sandbox: Arc::clone(&self.sandbox),
            clock: Arc::new(TestClock),
            notifier: Some(self.notifier.clone()),
        }
    }

    pub fn settings(&self, scope: &str) -> PipelineSettings {
        let repositories = BTreeMap::from([(
            "ENG".to_owned(),
            RepositoryTarget {
                repo: RepoRef::new("acme", "shop"),
                base_branch: "main".to_owned(),
            },
        )]);
        let review_mode = ReviewMode {
            delivery: ReviewDelivery::Review,
            reviewers: ReviewerIdentities::Distinct {
                code_reviewer: "cr-bot".to_owned(),
                qa_specialist: "qa-bot".to_owned(),
            },
            identities: Some(ResolvedIdentities {
                developer: "dev-bot".to_owned(),
                code_reviewer: "cr-bot".to_owned(),
                qa_specialist: "qa-bot".to_owned(),
            }),
        };
        let mut settings = PipelineSettings::new(repositories, review_mode);
        settings.tick_every = Duration::from_millis(50);
        settings.scheduler.gate_retry_after = Duration::from_millis(50);
        settings.failpoint_scope = scope.to_owned();
        settings
    }

    /// Commits `files` (path, contents) to the remote's main branch, as a person would
    /// before a run.
    pub fn add_to_main(&self, files: &[(&str, &str)]) {
        let clone = self.dir.path().join("author");
        git(
            self.dir.path(),
            &[
                "clone",
                "-q",
                self.code_host.remote.to_str().unwrap(),
                "author",
            ],
        )
        .unwrap();
        for (path, contents) in files {
            let path = clone.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        git(&clone, &["add", "-A"]).unwrap();
        git(&clone, &["commit", "-q", "-m", "overrides"]).unwrap();
        git(&clone, &["push", "-q", "origin", "HEAD:main"]).unwrap();
    }

    /// The commits on the remote's `branch`, newest first: each one's author
    /// (`Name <email>`) and the files it touches.
    pub fn commits_on(&self, branch: &str) -> Vec<(String, Vec<String>)> {
        let log = git(
            &self.code_host.remote,
            &["log", "--format=commit %an <%ae>", "--name-only", branch],
        )
        .unwrap();
        log.split("commit ")
            .filter(|block| !block.trim().is_empty())
            .map(|block| {
                let mut lines = block.lines().filter(|line| !line.trim().is_empty());
                let author = lines.next().unwrap().to_owned();
                (author, lines.map(str::to_owned).collect())
            })
            .collect()
    }

    /// The contents of `path` at the tip of the remote's `branch`, without trailing newlines.
    pub fn file_on(&self, branch: &str, path: &str) -> String {
        git(
            &self.code_host.remote,
            &["show", &format!("{branch}:{path}")],
        )
        .unwrap()
    }

    /// Every journal entry's key of a squad-level effect kind, for duplicate checks.
    pub fn merged_file(&self, issue: &str) -> bool {
        let main = self.code_host.main_tip();
        git(
            &self.code_host.remote,
            &[
                "cat-file",
                "-e",
                &format!("{main}:src/{}.txt", issue.to_ascii_lowercase()),
            ],
        )
        .is_ok()
    }
}

/// The one model an overriding agent may name besides its role's shipped one:
/// `scripted/override`, played by the Developer's script at its own prices.
pub struct TestModels {
    developer: Arc<ScriptedModel>,
}

impl ModelResolver for TestModels {
    fn resolve(&self, reference: &ModelRef) -> Result<ResolvedModel, ModelResolveError> {
        if reference.to_string() != "scripted/override" {
            let problem = format!("provider `{}` is not configured", reference.provider());
            return Err(ModelResolveError::Unroutable(problem.into()));
        }
        Ok(ResolvedModel {
            model: self.developer.clone(),
            prices: TokenPrices {
                input_per_million: 1.0,
                cached_input_per_million: 0.1,
                output_per_million: 2.0,
            },
        })
    }
}

/// One chat post: a thread's opening (`update` is `None`) or an update in a thread.
#[derive(Clone, Debug)]
pub struct Post {
    pub key: String,
    pub channel: String,
    /// The thread it was posted in; `None` for an opening.
    pub thread: Option<String>,
    pub ts: String,
    pub update: Option<SquadUpdate>,
}

/// A notifier that records every post and never drops a repeated key, so tests see
/// duplicates; it can be told to fail every post, or to hold every post until released, as
/// a chat pacing its posts (or one that is slow to answer) does.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    pub posts: Mutex<Vec<Post>>,
    pub failing: std::sync::atomic::AtomicBool,
    next: AtomicU64,
    held: std::sync::atomic::AtomicBool,
    released: tokio::sync::Notify,
    /// Posts that found the chat held and waited.
    pub waited: AtomicU64,
}

impl RecordingNotifier {
    /// Makes every post wait until [`RecordingNotifier::release`].
    pub fn hold(&self) {
        self.held.store(true, Ordering::SeqCst);
    }

    /// Lets held and later posts through.
    pub fn release(&self) {
        self.held.store(false, Ordering::SeqCst);
        self.released.notify_waiters();
    }

    async fn wait_while_held(&self) {
        let mut counted = false;
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if !self.held.load(Ordering::SeqCst) {
                return;
            }
            if !counted {
                self.waited.fetch_add(1, Ordering::SeqCst);
                counted = true;
            }
            released.await;
        }
    }

    pub fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    /// The kinds of the updates posted (`diagnosis`, `pr-opened`, …), in order.
    pub fn update_kinds(&self) -> Vec<&'static str> {
        self.posts()
            .iter()
            .filter_map(|post| post.update.as_ref().map(SquadUpdate::kind))
            .collect()
    }

    fn record(
        &self,
        key: &str,
        channel: &str,
        thread: Option<&MessageTs>,
        update: Option<&SquadUpdate>,
    ) -> Result<String, PortError> {
        if self.failing.load(Ordering::Relaxed) {
            return Err(PortError::new(
                PortErrorKind::Invalid,
                "post to the chat: channel_not_found",
            ));
        }
        let ts = format!(
            "1700000000.{:06}",
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        self.posts.lock().unwrap().push(Post {
            key: key.to_owned(),
            channel: channel.to_owned(),
            thread: thread.map(|ts| ts.as_str().to_owned()),
            ts: ts.clone(),
            update: update.cloned(),
        });
        Ok(ts)
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn start_thread(
        &self,
        key: &str,
        channel: &str,
        _opening: &ThreadOpening,
    ) -> Result<ThreadRef, PortError> {
        self.wait_while_held().await;
        let ts = self.record(key, channel, None, None)?;
        Ok(ThreadRef {
            channel: channel.to_owned(),
            ts: MessageTs::new(ts),
        })
    }

    async fn post_update(
        &self,
        key: &str,
        thread: &ThreadRef,
        update: &SquadUpdate,
    ) -> Result<MessageTs, PortError> {
        self.wait_while_held().await;
        self.record(key, &thread.channel, Some(&thread.ts), Some(update))
            .map(MessageTs::new)
    }
}

use tokio::sync::Semaphore;

/// Asserts that the store records every squad of `run` in the phase the scheduler put it in
/// (the live view's), terminal reasons word for word: no needs-human reason is rewritten on
/// its way to the store.
pub async fn assert_store_agrees(
    store: &SqlStore,
    run: &squadron_core::RunId,
    squads: &[squadron_pipeline::SquadView],
) {
    let stored = store
        .squads_of_run(run)
        .await
        .expect("read the run's squads");
    for view in squads {
        let record = stored
            .iter()
            .find(|record| record.squad.id == view.squad)
            .unwrap_or_else(|| panic!("{} is recorded", view.squad));
        assert_eq!(
            record.squad.phase, view.phase,
            "the store and the scheduler agree on where {} ended",
            view.issue
        );
        // What a finished squad is shown with, once the runtime lets it go, is in its log.
        let events = store.events(&view.squad).await.expect("read the event log");
        let notes: Vec<&EventPayload> = events
            .iter()
            .filter_map(|event| event.note.as_ref())
            .collect();
        let titles: Vec<&str> = notes
            .iter()
            .filter_map(|note| match note {
                EventPayload::IssueTitle { title } => Some(title.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(titles.len(), 1, "{}'s title is noted once", view.issue);
        // A squad that ended before a restart is shown without its title by the live view.
        if !view.title.is_empty() {
            assert_eq!(titles, [view.title.as_str()], "{}'s title", view.issue);
        }
        let merges: Vec<(&CommitSha, &[String])> = notes
            .iter()
            .filter_map(|note| match note {
                EventPayload::Merged { sha, approved_by } => Some((sha, approved_by.as_slice())),
                _ => None,
            })
            .collect();
        assert_eq!(
            merges.len(),
            usize::from(view.phase == squadron_core::Phase::Merged),
            "{}'s merge is noted once, when it merged",
            view.issue
        );
        if let Some(sha) = &view.merged_sha {
            assert_eq!(
                merges,
                [(sha, view.approved_by.as_slice())],
                "{}'s merge and its approvals",
                view.issue
            );
        }
    }
}
