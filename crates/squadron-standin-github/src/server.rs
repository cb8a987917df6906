//! Starting the stand-in, its router, and the Rust API tests use to set it up and to
//! inspect what the code under test did.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::{get, post};
use git2::{Oid, Repository};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::actions::Workflow;
use crate::error::{ApiError, StandinError};
use crate::faults::FaultRule;
use crate::gitops::{self, Ident};
use crate::world::{
    CheckApp, CheckRun, CheckRunSnapshot, CommitInfo, LogDownload, MergeRecord, PullSnapshot,
    PullState, RecordedRequest, Repo, RepoSettings, ReviewCommentSnapshot, ReviewSnapshot, Status,
    User, UserId, World,
};
use crate::{git_http, log_host, observe, rest};

/// Shared by every handler: the world behind a lock and where git lives.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    world: Arc<Mutex<World>>,
    pub(crate) http_backend: Arc<PathBuf>,
    pub(crate) root: Arc<PathBuf>,
}

impl AppState {
    /// Runs `f` on the world under its lock, on the calling thread (for short work).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&mut World) -> T) -> Result<T, StandinError> {
        let mut world = self.world.lock().map_err(|_| StandinError::Poisoned)?;
        Ok(f(&mut world))
    }

    /// Runs `f` on the world under its lock on a blocking thread, since it may run git.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut World) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let world = Arc::clone(&self.world);
        tokio::task::spawn_blocking(move || {
            let mut world = world
                .lock()
                .map_err(|_| ApiError::internal("poisoned state"))?;
            f(&mut world)
        })
        .await
        .map_err(ApiError::internal)?
    }
}

/// A running stand-in GitHub on `127.0.0.1`, serving REST at [`Self::base_url`], git at
/// `{base_url}/{owner}/{name}.git`, and Actions job logs on a second origin (the log host
/// the logs endpoint redirects to). Dropping it stops the servers and deletes its
/// repositories.
#[derive(Debug)]
pub struct GithubStandin {
    state: AppState,
    base_url: String,
    log_host_url: String,
    shutdown: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
    // Declared last so the server stops before its repositories disappear.
    _dir: TempDir,
}

impl GithubStandin {
    /// Starts a stand-in on an ephemeral loopback port, using `git` from `PATH` for
    /// `git http-backend`.
    pub async fn start() -> Result<Self, StandinError> {
        Self::start_with_git(PathBuf::from("git")).await
    }

    /// Starts a stand-in whose git transport runs the `git http-backend` of `git_program`.
    pub async fn start_with_git(git_program: PathBuf) -> Result<Self, StandinError> {
        let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self::start_on(git_program, any, any).await
    }

    /// Starts a stand-in serving the REST API and git on `api` and the Actions log host on
    /// `log_host` (port 0: any free port), with the `git http-backend` of `git_program`.
    pub async fn start_on(
        git_program: PathBuf,
        api: SocketAddr,
        log_host: SocketAddr,
    ) -> Result<Self, StandinError> {
        let http_backend = git_http::locate_http_backend(&git_program)?;
        let dir = tempfile::Builder::new()
            .prefix("standin-github-")
            .tempdir()
            .map_err(StandinError::Start)?;
        let listener = TcpListener::bind(api).await.map_err(StandinError::Start)?;
        let address = listener.local_addr().map_err(StandinError::Start)?;
        let base_url = format!("http://{address}");
        let log_listener = TcpListener::bind(log_host)
            .await
            .map_err(StandinError::Start)?;
        let log_address = log_listener.local_addr().map_err(StandinError::Start)?;
        let log_host_url = format!("http://{log_address}");
        let mut world = World::new(dir.path().to_path_buf());
        world.base_url.clone_from(&base_url);
        world.log_host_url.clone_from(&log_host_url);
        let state = AppState {
            world: Arc::new(Mutex::new(world)),
            http_backend: Arc::new(http_backend),
            root: Arc::new(dir.path().to_path_buf()),
        };
        let (shutdown, signal) = watch::channel(false);
        let servers = vec![
            serve(listener, router(state.clone()), signal.clone()),
            serve(log_listener, log_host::router(state.clone()), signal),
        ];
        Ok(Self {
            state,
            base_url,
            log_host_url,
            shutdown,
            servers,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT`, the REST API root (like `https://api.github.com`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `http://127.0.0.1:PORT` of the log host, a different origin from [`Self::base_url`].
    pub fn log_host_url(&self) -> &str {
        &self.log_host_url
    }

    /// The smart-HTTP clone URL of `owner/name`.
    pub fn clone_url(&self, slug: &str) -> String {
        format!("{}/{slug}.git", self.base_url)
    }

    /// Registers a user who authenticates with `token`; returns its id.
    pub fn add_user(&self, login: &str, token: &str) -> Result<UserId, StandinError> {
        self.state.read(|world| {
            if world
                .users
                .iter()
                .any(|u| u.login.eq_ignore_ascii_case(login) || u.token == token)
            {
                return Err(StandinError::DuplicateUser(login.to_owned()));
            }
            let id = world.next_id();
            let created_at = world.clock.tick();
            world.users.push(User {
                id,
                login: login.to_owned(),
                token: token.to_owned(),
                created_at,
            });
            Ok(id)
        })?
    }

    /// Creates `owner/name` as a bare repository whose `default_branch` holds one commit
    /// with `files` (path, content).
    pub fn create_repo(
        &self,
        slug: &str,
        default_branch: &str,
        files: &[(&str, &str)],
    ) -> Result<(), StandinError> {
        let (owner, name) = split_slug(slug)?;
        self.state.read(|world| {
            let key = World::repo_key(owner, name);
            if world.repos.contains_key(&key) {
                return Err(StandinError::RepositoryExists(slug.to_owned()));
            }
            let at = world.clock.tick();
            let ident = Ident {
                name: "Stand-in Seeder",
                email: "seeder@standin.invalid",
                unix_seconds: at.0,
            };
            let tip =
                gitops::init_bare(&world.repo_dir(owner, name), default_branch, files, &ident)
                    .map_err(|source| StandinError::Git {
                        repo: slug.to_owned(),
                        source,
                    })?;
            let id = world.next_id();
            world.repos.insert(
                key,
                Repo {
                    id,
                    owner: owner.to_owned(),
                    name: name.to_owned(),
                    default_branch: default_branch.to_owned(),
                    created_at: at,
                    settings: RepoSettings::default(),
                    next_number: 1,
                    pulls: Vec::new(),
                    issue_comments: Vec::new(),
                    statuses: Vec::new(),
                    check_runs: Vec::new(),
                    merges: Vec::new(),
                    workflows: Vec::new(),
                    workflow_runs: Vec::new(),
                    jobs: Vec::new(),
                    next_run_number: 0,
                    seen_tips: BTreeMap::from([(default_branch.to_owned(), tip.to_string())]),
                },
            );
            Ok(())
        })?
    }

    /// Commits `files` directly on `branch` (creating it from the default branch if
    /// needed), as another person pushing would; returns the new commit's SHA.
    pub fn commit_files(
        &self,
        slug: &str,
        branch: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> Result<String, StandinError> {
        self.with_git(slug, |world, repo, git| {
            if gitops::branch_tip(git, branch).is_none() {
                let base = gitops::branch_tip(git, &repo.default_branch)
                    .ok_or_else(|| git2::Error::from_str("default branch has no commit"))?;
                git.reference(
                    &gitops::branch_ref(branch),
                    base,
                    false,
                    "branch from default",
                )?;
            }
            let at = world.clock.tick();
            let ident = Ident {
                name: "Other Person",
                email: "other@standin.invalid",
                unix_seconds: at.0,
            };
            gitops::commit_files(git, branch, files, message, &ident).map(|oid| oid.to_string())
        })
        .and_then(|sha| {
            self.observe_pushes(slug)?;
            Ok(sha)
        })
    }

    /// Runs the workflows that pushes since the last look trigger.
    fn observe_pushes(&self, slug: &str) -> Result<(), StandinError> {
        let (owner, name) = split_slug(slug)?;
        self.state
            .read(|world| world.observe_pushes(owner, name, None))?
            .map_err(|error| StandinError::Ci {
                repo: slug.to_owned(),
                message: error.body["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            })
    }

    /// Registers a GitHub Actions workflow on `owner/name`. It runs at once on the default
    /// branch's tip and on the head of every open pull request its triggers cover, as if it
    /// had been in place at their last push, and from then on at every push and pull request
    /// it is triggered by.
    pub fn add_workflow(&self, slug: &str, workflow: Workflow) -> Result<(), StandinError> {
        let (owner, name) = split_slug(slug)?;
        let ci_error = |error: ApiError| StandinError::Ci {
            repo: slug.to_owned(),
            message: error.body["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        };
        self.state.read(|world| {
            let repo = world
                .repo_mut(owner, name)
                .map_err(|_| StandinError::UnknownRepository(slug.to_owned()))?;
            repo.workflows.push(workflow);
            let default_branch = repo.default_branch.clone();
            let open: Vec<u64> = repo
                .pulls
                .iter()
                .filter(|p| p.state == PullState::Open)
                .map(|p| p.number)
                .collect();
            world.observe_pushes(owner, name, None).map_err(ci_error)?;
            world
                .run_default_branch_workflows(owner, name, &default_branch)
                .map_err(ci_error)?;
            for number in open {
                world
                    .run_pull_request_workflows(owner, name, number, None)
                    .map_err(ci_error)?;
            }
            Ok(())
        })?
    }

    /// Every request for a job's log that reached the log host, in order.
    pub fn log_downloads(&self) -> Result<Vec<LogDownload>, StandinError> {
        self.state.read(|world| world.log_downloads.clone())
    }

    /// The tip of `branch`, or `None` when it does not exist.
    pub fn branch_head(&self, slug: &str, branch: &str) -> Result<Option<String>, StandinError> {
        self.with_git(slug, |_, _, git| {
            Ok(gitops::branch_tip(git, branch).map(|o| o.to_string()))
        })
    }

    /// The content of `path` at `rev` (branch or SHA), or `None` when the file is absent.
    pub fn file_at(
        &self,
        slug: &str,
        rev: &str,
        path: &str,
    ) -> Result<Option<String>, StandinError> {
        let oid = self.resolve(slug, rev)?;
        self.with_git(slug, |_, _, git| Ok(gitops::file_at(git, oid, path)))
    }

    /// The commit `rev` (branch or SHA) resolves to.
    pub fn commit(&self, slug: &str, rev: &str) -> Result<CommitInfo, StandinError> {
        let oid = self.resolve(slug, rev)?;
        self.with_git(slug, |_, _, git| {
            let commit = git.find_commit(oid)?;
            Ok(CommitInfo {
                sha: oid.to_string(),
                parents: commit.parent_ids().map(|p| p.to_string()).collect(),
                message: commit.message().unwrap_or_default().to_owned(),
                author_name: commit.author().name().unwrap_or_default().to_owned(),
                author_email: commit.author().email().unwrap_or_default().to_owned(),
                committer_name: commit.committer().name().unwrap_or_default().to_owned(),
            })
        })
    }

    fn resolve(&self, slug: &str, rev: &str) -> Result<Oid, StandinError> {
        self.with_git(slug, |_, _, git| Ok(gitops::resolve(git, rev)))?
            .ok_or_else(|| StandinError::UnknownRevision {
                repo: slug.to_owned(),
                rev: rev.to_owned(),
            })
    }

    /// Sets the branch protection applied to `mergeable_state` and merges.
    pub fn set_repo_settings(
        &self,
        slug: &str,
        settings: RepoSettings,
    ) -> Result<(), StandinError> {
        self.with_repo(slug, |_, repo| {
            repo.settings = settings;
        })
    }

    /// How many `GET`s of a PR answer `mergeable: null` after its head or base moved
    /// (default 1, as GitHub computes mergeability in the background); the answer to an
    /// edit of the PR says `null` too meanwhile, without counting.
    pub fn set_mergeable_null_reads(&self, reads: u32) -> Result<(), StandinError> {
        self.state.read(|world| world.mergeable_null_reads = reads)
    }

    /// Every pull request of `owner/name`, oldest first, with current head SHAs.
    pub fn pulls(&self, slug: &str) -> Result<Vec<PullSnapshot>, StandinError> {
        let (owner, name) = split_slug(slug)?;
        self.state.read(|world| {
            world
                .refresh_tips(owner, name)
                .map_err(|_| StandinError::UnknownRepository(slug.to_owned()))?;
            let repo = world
                .repo(owner, name)
                .map_err(|_| StandinError::UnknownRepository(slug.to_owned()))?;
            Ok(repo
                .pulls
                .iter()
                .map(|p| PullSnapshot {
                    number: p.number,
                    title: p.title.clone(),
                    body: p.body.clone(),
                    author: world.login(p.author),
                    head_ref: p.head_ref.clone(),
                    head_sha: p.head_sha.clone(),
                    base_ref: p.base_ref.clone(),
                    open: p.state == PullState::Open,
                    draft: p.draft,
                    merged: p.merged.is_some(),
                })
                .collect())
        })?
    }

    /// The reviews of pull request `number`, in submission order, with inline comments.
    pub fn reviews(&self, slug: &str, number: u64) -> Result<Vec<ReviewSnapshot>, StandinError> {
        let (owner, name) = split_slug(slug)?;
        self.state.read(|world| {
            let repo = world
                .repo(owner, name)
                .map_err(|_| StandinError::UnknownRepository(slug.to_owned()))?;
            let pull = repo.pull(number).map_err(|_| StandinError::UnknownPull {
                repo: slug.to_owned(),
                number,
            })?;
            Ok(pull
                .reviews
                .iter()
                .map(|r| ReviewSnapshot {
                    id: r.id,
                    user: world.login(r.user),
                    state: r.state.as_str().to_owned(),
                    commit_id: r.commit_id.clone(),
                    body: r.body.clone(),
                    comments: pull
                        .review_comments
                        .iter()
                        .filter(|c| c.review_id == r.id)
                        .map(|c| ReviewCommentSnapshot {
                            path: c.path.clone(),
                            line: c.line,
                            side: c.side.to_owned(),
                            body: c.body.clone(),
                        })
                        .collect(),
                })
                .collect())
        })?
    }

    /// The conversation comments (login, body) on pull request `number`, oldest first.
    pub fn issue_comments(
        &self,
        slug: &str,
        number: u64,
    ) -> Result<Vec<(String, String)>, StandinError> {
        self.with_repo(slug, |world, repo| {
            repo.issue_comments
                .iter()
                .filter(|c| c.issue_number == number)
                .map(|c| (world.login(c.user), c.body.clone()))
                .collect()
        })
    }

    /// Every merge performed through the API, in order.
    pub fn merges(&self, slug: &str) -> Result<Vec<MergeRecord>, StandinError> {
        self.with_repo(slug, |_, repo| repo.merges.clone())
    }

    /// Points pull request `number` at another base branch, as someone retargeting it in
    /// GitHub's interface would.
    pub fn retarget_pull(&self, slug: &str, number: u64, base: &str) -> Result<(), StandinError> {
        let unknown = || StandinError::UnknownPull {
            repo: slug.to_owned(),
            number,
        };
        self.with_repo(slug, |_, repo| {
            let pull = repo.pull_mut(number).map_err(|_| unknown())?;
            pull.base_ref = base.to_owned();
            Ok(())
        })?
    }

    /// Adds a commit status on `sha` as an anonymous CI system would.
    pub fn add_status(
        &self,
        slug: &str,
        sha: &str,
        context: &str,
        state: &str,
    ) -> Result<(), StandinError> {
        self.with_repo(slug, |world, repo| {
            let id = world.next_id();
            let created_at = world.clock.tick();
            repo.statuses.push(Status {
                id,
                sha: sha.to_owned(),
                state: state.to_owned(),
                context: context.to_owned(),
                description: None,
                target_url: None,
                creator: None,
                created_at,
            });
        })
    }

    /// Adds a check run on `sha`.
    pub fn add_check_run(
        &self,
        slug: &str,
        sha: &str,
        run: CheckRunSnapshot,
    ) -> Result<(), StandinError> {
        self.with_repo(slug, |world, repo| {
            let id = world.next_id();
            let check_suite_id = world.next_id();
            let started_at = world.clock.tick();
            repo.check_runs.push(CheckRun {
                id,
                head_sha: sha.to_owned(),
                name: run.name,
                completed_at: (run.status == "completed").then_some(started_at),
                status: run.status,
                conclusion: run.conclusion,
                started_at,
                check_suite_id,
                app: CheckApp::External,
                external_id: String::new(),
                details_url: None,
                output: run.output,
            });
        })
    }

    /// Makes the stand-in answer matching REST requests with a fault.
    pub fn inject_fault(&self, rule: FaultRule) -> Result<(), StandinError> {
        self.state.read(|world| world.faults.push(rule))
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Result<Vec<RecordedRequest>, StandinError> {
        self.state.read(|world| world.requests.clone())
    }

    fn with_repo<T>(
        &self,
        slug: &str,
        f: impl FnOnce(&mut World, &mut Repo) -> T,
    ) -> Result<T, StandinError> {
        let (owner, name) = split_slug(slug)?;
        self.state.read(|world| {
            let key = World::repo_key(owner, name);
            let mut repo = world
                .repos
                .remove(&key)
                .ok_or_else(|| StandinError::UnknownRepository(slug.to_owned()))?;
            let result = f(world, &mut repo);
            world.repos.insert(key, repo);
            Ok(result)
        })?
    }

    fn with_git<T>(
        &self,
        slug: &str,
        f: impl FnOnce(&mut World, &Repo, &Repository) -> Result<T, git2::Error>,
    ) -> Result<T, StandinError> {
        let (owner, name) = split_slug(slug)?;
        self.state.read(|world| {
            let key = World::repo_key(owner, name);
            let repo = world
                .repos
                .remove(&key)
                .ok_or_else(|| StandinError::UnknownRepository(slug.to_owned()))?;
            let result = Repository::open_bare(world.repo_dir(owner, name))
                .and_then(|git| f(world, &repo, &git))
                .map_err(|source| StandinError::Git {
                    repo: slug.to_owned(),
                    source,
                });
            world.repos.insert(key, repo);
            result
        })?
    }
}

impl Drop for GithubStandin {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for server in &self.servers {
            server.abort();
        }
    }
}

fn serve(listener: TcpListener, app: Router, mut signal: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let serving = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = signal.wait_for(|stop| *stop).await;
        });
        if let Err(error) = serving.await {
            tracing::error!(%error, "stand-in github server stopped");
        }
    })
}

fn split_slug(slug: &str) -> Result<(&str, &str), StandinError> {
    match slug.split_once('/') {
        Some((owner, name)) if !owner.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((owner, name))
        }
        _ => Err(StandinError::InvalidSlug(slug.to_owned())),
    }
}

fn router(state: AppState) -> Router {
    let repo = "/repos/{owner}/{repo}";
    let pull = format!("{repo}/pulls/{{number}}");
    Router::new()
        .route("/user", get(rest::users::current))
        .route(repo, get(rest::users::repository))
        .route(
            &format!("{repo}/pulls"),
            get(rest::pulls::list).post(rest::pulls::create),
        )
        .route(&pull, get(rest::pulls::get).patch(rest::pulls::update))
        .route(&format!("{pull}/files"), get(rest::pulls::files))
        .route(
            &format!("{pull}/merge"),
            get(rest::merge::is_merged).put(rest::merge::merge),
        )
        .route(
            &format!("{pull}/update-branch"),
            axum::routing::put(rest::merge::update_branch),
        )
        .route(
            &format!("{pull}/reviews"),
            get(rest::reviews::list).post(rest::reviews::create),
        )
        .route(
            &format!("{pull}/reviews/{{review_id}}/comments"),
            get(rest::reviews::review_comments),
        )
        .route(
            &format!("{pull}/comments"),
            get(rest::reviews::pull_comments),
        )
        .route(
            &format!("{repo}/issues/{{number}}/comments"),
            get(rest::comments::list).post(rest::comments::create),
        )
        .route(
            &format!("{repo}/statuses/{{sha}}"),
            post(rest::statuses::create),
        )
        .route(
            &format!("{repo}/commits/{{*rest}}"),
            get(rest::statuses::by_ref),
        )
        .route(&format!("{repo}/check-runs"), post(rest::checks::create))
        .route(
            &format!("{repo}/check-runs/{{check_run_id}}"),
            get(rest::checks::get).patch(rest::checks::update),
        )
        .route(
            &format!("{repo}/check-runs/{{check_run_id}}/annotations"),
            get(rest::checks::annotations),
        )
        .route(
            &format!("{repo}/check-runs/{{check_run_id}}/rerequest"),
            post(rest::checks::rerequest),
        )
        .route(
            &format!("{repo}/actions/runs"),
            get(rest::actions::list_runs),
        )
        .route(
            &format!("{repo}/actions/runs/{{run_id}}"),
            get(rest::actions::get_run),
        )
        .route(
            &format!("{repo}/actions/runs/{{run_id}}/jobs"),
            get(rest::actions::list_jobs),
        )
        .route(
            &format!("{repo}/actions/runs/{{run_id}}/rerun"),
            post(rest::actions::rerun_run),
        )
        .route(
            &format!("{repo}/actions/runs/{{run_id}}/rerun-failed-jobs"),
            post(rest::actions::rerun_failed_jobs),
        )
        .route(
            &format!("{repo}/actions/jobs/{{job_id}}"),
            get(rest::actions::get_job),
        )
        .route(
            &format!("{repo}/actions/jobs/{{job_id}}/logs"),
            get(rest::actions::job_logs),
        )
        .route(
            &format!("{repo}/actions/jobs/{{job_id}}/rerun"),
            post(rest::actions::rerun_job),
        )
        .route("/{owner}/{repo}/info/refs", get(git_http::serve_info_refs))
        .route("/{owner}/{repo}/{service}", post(git_http::serve))
        .fallback(|| async { ApiError::not_found() })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}
