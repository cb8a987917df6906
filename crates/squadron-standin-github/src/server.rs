//! Starting the stand-in, its router, and the Rust API tests use to set it up and to
//! inspect what the code under test did.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::{get, post};
use git2::{Oid, Repository};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::{ApiError, StandinError};
use crate::faults::FaultRule;
use crate::gitops::{self, Ident};
use crate::world::{
    CheckRun, CheckRunSnapshot, CommitInfo, MergeRecord, PullSnapshot, PullState, RecordedRequest,
    Repo, RepoSettings, ReviewCommentSnapshot, ReviewSnapshot, Status, User, UserId, World,
};
use crate::{git_http, observe, rest};

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

/// A running stand-in GitHub on `127.0.0.1`, serving REST at [`Self::base_url`] and git at
/// `{base_url}/{owner}/{name}.git`. Dropping it stops the server and deletes its
/// repositories.
#[derive(Debug)]
pub struct GithubStandin {
    state: AppState,
    base_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
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
        let http_backend = git_http::locate_http_backend(&git_program)?;
        let dir = tempfile::Builder::new()
            .prefix("standin-github-")
            .tempdir()
            .map_err(StandinError::Start)?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(StandinError::Start)?;
        let address = listener.local_addr().map_err(StandinError::Start)?;
        let base_url = format!("http://{address}");
        let mut world = World::new(dir.path().to_path_buf());
        world.base_url.clone_from(&base_url);
        let state = AppState {
            world: Arc::new(Mutex::new(world)),
            http_backend: Arc::new(http_backend),
            root: Arc::new(dir.path().to_path_buf()),
        };
        let app = router(state.clone());
        let (shutdown, signal) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = signal.await;
            });
            if let Err(error) = serving.await {
                tracing::error!(%error, "stand-in github server stopped");
            }
        });
        Ok(Self {
            state,
            base_url,
            shutdown: Some(shutdown),
            server,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT`, the REST API root (like `https://api.github.com`).
    pub fn base_url(&self) -> &str {
        &self.base_url
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

    /// How many reads of a PR answer `mergeable: null` after its head or base moved
    /// (default 1, as GitHub computes mergeability in the background).
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
            let started_at = world.clock.tick();
            repo.check_runs.push(CheckRun {
                id,
                head_sha: sha.to_owned(),
                name: run.name,
                completed_at: (run.status == "completed").then_some(started_at),
                status: run.status,
                conclusion: run.conclusion,
                started_at,
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
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.server.abort();
    }
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
        .route(
            &format!("{repo}/check-runs"),
            post(rest::statuses::create_check_run),
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
