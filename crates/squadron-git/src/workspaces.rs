//! The core [`Workspaces`] port over [`Workspace`]: squad worktrees named by squad id,
//! pushes with lease that treat "the remote already has it" as success, rebases onto a
//! freshly fetched base, detached scratch worktrees for evidence runs, and the head merged
//! with the base's tip in one, to test before merging.
//!
//! The port names worktrees by path only, so every operation finds the mirror a path belongs
//! to from the mirrors' own records of their worktrees instead of remembering it: a
//! restarted daemon works on the paths it stored without calling `prepare` first. Nothing is
//! learnt from the worktree's `.git` file, which agents' commands can rewrite.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use git2::{Oid, Repository, WorktreePruneOptions};
use squadron_core::Role;
use squadron_core::gate::CommitSha;
use squadron_core::ports::{
    ConflictedMerge as PortConflictedMerge, MergeTrial, PatchId, PortError, PreparedWorktree,
    RebaseOutcome as PortRebaseOutcome, RepoRef, Workspaces, WorktreeRequest,
};
use tokio::sync::Mutex;

use crate::credentials::AccessToken;
use crate::error::GitError;
use crate::identity::CommitAuthor;
use crate::rebase::{RebaseOutcome, conflicting_paths};
use crate::transport::PushOutcome;
use crate::workspace::{
    BranchDisposal, RepositorySpec, SquadWorktree, Workspace, blocking, canonical,
    check_branch_name, open_registered, same_place, worktree_name,
};

/// Local worktrees for the configured repositories, each fetched and pushed with the token
/// of the identity that authors the squads' branches (the Developer's).
#[derive(Debug)]
pub struct GitWorkspaces {
    workspace: Workspace,
    repositories: HashMap<RepoRef, Configured>,
    committer: CommitAuthor,
}

#[derive(Debug)]
struct Configured {
    spec: RepositorySpec,
    token: AccessToken,
    /// Serialises the work that writes to the mirror (fetches, pushes, worktree changes,
    /// rebases): squads of one repository share it, and concurrent git processes in one
    /// repository fail on each other's ref locks.
    lock: Mutex<()>,
}

impl Configured {
    /// The repository with `base_branch` as the branch to start from and rebase onto.
    fn on_base(&self, base_branch: &str) -> RepositorySpec {
        RepositorySpec {
            base_branch: base_branch.to_owned(),
            ..self.spec.clone()
        }
    }
}

/// A worktree found in a mirror's records: which configured repository, git's name for it,
/// and its branch (`None` for a detached scratch worktree).
struct Located<'a> {
    repo: &'a Configured,
    name: String,
    branch: Option<String>,
}

/// What [`inspect`] found.
struct Found {
    repo: RepoRef,
    mirror: PathBuf,
    name: String,
    branch: Option<String>,
}

impl GitWorkspaces {
    /// Worktrees under `workspace` for `repositories`: each code-host repository with its
    /// clone URL and the token fetches and pushes use. Rebased commits name the Developer
    /// as committer; see [`Self::with_committer`].
    pub fn new(
        workspace: Workspace,
        repositories: impl IntoIterator<Item = (RepoRef, (RepositorySpec, AccessToken))>,
    ) -> Self {
        let repositories = repositories
            .into_iter()
            .map(|(repo, (spec, token))| {
                let configured = Configured {
                    spec,
                    token,
                    lock: Mutex::new(()),
                };
                (repo, configured)
            })
            .collect();
        Self {
            workspace,
            repositories,
            committer: CommitAuthor::for_role(Role::Developer),
        }
    }

    /// Uses `committer` for the commits a rebase rewrites (their authors stay).
    #[must_use]
    pub fn with_committer(mut self, committer: CommitAuthor) -> Self {
        self.committer = committer;
        self
    }

    /// The workspace underneath, for work the port does not cover ([`Workspace::commit_all`]).
    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    /// The squad worktree at `path` (as [`Workspaces::prepare`] returned it), to use with
    /// [`Workspace`]'s own operations.
    pub async fn find_worktree(&self, path: &Path) -> Result<SquadWorktree, GitError> {
        let located = self.locate(path).await?;
        let branch = located.branch.ok_or_else(|| GitError::DetachedHead {
            path: path.to_path_buf(),
        })?;
        Ok(self.squad_worktree(&located.repo.spec, path, &located.name, &branch))
    }

    fn repository(&self, repo: &RepoRef) -> Result<&Configured, GitError> {
        self.repositories
            .get(repo)
            .ok_or_else(|| GitError::UnknownRepository(repo.to_string()))
    }

    /// Finds which configured repository's mirror `path` is a worktree of.
    async fn locate(&self, path: &Path) -> Result<Located<'_>, GitError> {
        let mirrors = self.mirrors();
        let path = path.to_path_buf();
        let found = blocking(move || inspect(&path, &mirrors)).await?;
        let repo = self.repository(&found.repo)?;
        Ok(Located {
            repo,
            name: found.name,
            branch: found.branch,
        })
    }

    /// The reverts on `base_branch` of `repo`, fetched first: every commit of the branch's
    /// history whose message says `This reverts commit <sha>` (git's words, also in GitHub's
    /// revert commits), newest first. However the revert was made, by hand or by Squadron, it
    /// is found. Commit dates are whatever their authors' clocks said, so the whole history
    /// is read rather than cut at a date.
    ///
    /// # Errors
    /// An unknown repository, a fetch that fails, or a base the remote lacks.
    pub async fn reverts_on_base(
        &self,
        repo: &RepoRef,
        base_branch: &str,
    ) -> Result<Vec<FoundRevert>, GitError> {
        let configured = self.repository(repo)?;
        let spec = configured.on_base(base_branch);
        let tip = {
            let _guard = configured.lock.lock().await;
            self.workspace.sync_mirror(&spec, &configured.token).await?
        };
        let mirror = self.workspace.mirror_path(&spec);
        blocking(move || {
            let git = Repository::open_bare(&mirror)
                .map_err(GitError::git("open the mirror", &mirror))?;
            let fail = |action| GitError::git(action, &mirror);
            let mut walk = git.revwalk().map_err(fail("walk the base's history"))?;
            walk.set_sorting(git2::Sort::TIME)
                .map_err(fail("walk the base's history"))?;
            let tip = Oid::from_str(&tip).map_err(fail("read the base tip"))?;
            walk.push(tip).map_err(fail("walk the base's history"))?;
            let mut found = Vec::new();
            for oid in walk {
                let oid = oid.map_err(fail("walk the base's history"))?;
                let commit = git.find_commit(oid).map_err(fail("read a commit"))?;
                let at = commit.committer().when().seconds();
                let message = String::from_utf8_lossy(commit.message_bytes());
                for reverted in reverted_commits(&message) {
                    found.push(FoundRevert {
                        revert: oid.to_string(),
                        reverted,
                        committed_at: at,
                    });
                }
            }
            Ok(found)
        })
        .await
    }

    fn mirrors(&self) -> Vec<(RepoRef, PathBuf)> {
        self.repositories
            .iter()
            .map(|(repo, configured)| (repo.clone(), self.workspace.mirror_path(&configured.spec)))
            .collect()
    }

    /// Runs `work` on the worktree at `path`, opened through its mirror's record.
    async fn with_worktree<T: Send + 'static>(
        &self,
        path: &Path,
        work: impl FnOnce(&Repository, &Path) -> Result<T, GitError> + Send + 'static,
    ) -> Result<T, GitError> {
        let mirrors = self.mirrors();
        let path = path.to_path_buf();
        blocking(move || {
            let found = inspect(&path, &mirrors)?;
            let git = open_registered(&found.mirror, &found.name, &path)?;
            work(&git, &path)
        })
        .await
    }

    /// A detached scratch worktree at `at` beside the squad's worktree `located`, its
    /// files written outside the repository's lock. One per squad worktree and commit: the
    /// name says which, so an evidence run at the base and one at the head can exist side
    /// by side, and a leftover of the same name is replaced.
    async fn add_scratch(&self, located: &Located<'_>, at: Oid) -> Result<PathBuf, GitError> {
        let repo = located.repo;
        let sha = at.to_string();
        let name = worktree_name(&format!(
            "{}-at-{}",
            located.name,
            sha.get(..12).unwrap_or(&sha)
        ));
        let path = self.workspace.scratch_root(&repo.spec).join(&name);
        let mirror = self.workspace.mirror_path(&repo.spec);
        let slug = repo.spec.slug.clone();
        let guard = repo.lock.lock().await;
        let (cleared, at_mirror) = (path.clone(), mirror.clone());
        blocking(move || clear_scratch(&at_mirror, &name, &cleared, at, &slug)).await?;
        self.workspace.add_detached(&mirror, &path, &sha).await?;
        drop(guard);
        self.workspace.check_out_detached(&mirror, &path).await?;
        tracing::info!(repo = %repo.spec.slug, %sha, path = %path.display(), "scratch worktree added");
        Ok(path)
    }

    /// The squad worktree at `path` working against `base_branch`, with its repository.
    async fn squad_on_base(
        &self,
        path: &Path,
        base_branch: &str,
    ) -> Result<(&Configured, RepositorySpec, SquadWorktree), GitError> {
        let located = self.locate(path).await?;
        let branch = located.branch.ok_or_else(|| GitError::DetachedHead {
            path: path.to_path_buf(),
        })?;
        let spec = located.repo.on_base(base_branch);
        let target = self.squad_worktree(&spec, path, &located.name, &branch);
        Ok((located.repo, spec, target))
    }

    fn squad_worktree(
        &self,
        spec: &RepositorySpec,
        path: &Path,
        name: &str,
        branch: &str,
    ) -> SquadWorktree {
        SquadWorktree::located(
            &self.workspace,
            spec,
            path.to_path_buf(),
            name.to_owned(),
            branch.to_owned(),
        )
    }
}

#[async_trait]
impl Workspaces for GitWorkspaces {
    async fn prepare(&self, request: &WorktreeRequest) -> Result<PreparedWorktree, PortError> {
        let repo = self.repository(&request.repo)?;
        check_branch_name(&request.branch)?;
        if request.branch == request.base_branch {
            return Err(GitError::BaseBranchTarget {
                branch: request.branch.clone(),
            }
            .into());
        }
        let spec = repo.on_base(&request.base_branch);
        let guard = repo.lock.lock().await;
        let base_tip = self.workspace.sync_mirror(&spec, &repo.token).await?;
        let registered = self
            .workspace
            .register_worktree(&spec, &request.branch, request.squad.as_str())
            .await?;
        let remote = self.workspace.remote_head(&registered.worktree).await?;
        drop(guard);
        // Writing the files is most of the work and touches only this worktree.
        let worktree = self.workspace.check_out(registered).await?;
        let opened = worktree.clone();
        let (base, head, git_dir) = blocking(move || {
            let path = &opened.path;
            let git = opened.open()?;
            let head = head_of(&git, path)?;
            let tip = Oid::from_str(&base_tip).map_err(GitError::git("read the base tip", path))?;
            // A new branch starts at the tip; a reused one may predate it, and its own work
            // begins where it forked from the base.
            let base = git.merge_base(head, tip).map_err(GitError::git(
                "find where the branch forked from the base",
                path,
            ))?;
            Ok((base, head, canonical(git.path())))
        })
        .await?;
        tracing::info!(
            squad = %request.squad,
            repo = %request.repo,
            branch = %request.branch,
            path = %worktree.path.display(),
            reused = worktree.reused,
            base = %base,
            head = %head,
            "squad worktree prepared"
        );
        Ok(PreparedWorktree {
            path: worktree.path,
            git_dir,
            base_sha: CommitSha::new(base.to_string()),
            head_sha: CommitSha::new(head.to_string()),
            remote_sha: remote.map(CommitSha::new),
        })
    }

    async fn head(&self, worktree: &Path) -> Result<CommitSha, PortError> {
        let head = self.with_worktree(worktree, head_of).await?;
        Ok(CommitSha::new(head.to_string()))
    }

    async fn commit_revert(
        &self,
        worktree: &Path,
        commit: &CommitSha,
    ) -> Result<CommitSha, PortError> {
        let target = self.find_worktree(worktree).await?;
        let head = self
            .workspace
            .commit_revert(
                &target,
                &CommitAuthor::for_role(Role::Developer),
                commit.as_str(),
            )
            .await?;
        Ok(CommitSha::new(head))
    }

    async fn push(
        &self,
        worktree: &Path,
        branch: &str,
        expected_remote: Option<&CommitSha>,
    ) -> Result<CommitSha, PortError> {
        check_branch_name(branch)?;
        let located = self.locate(worktree).await?;
        let repo = located.repo;
        if branch == repo.spec.base_branch {
            return Err(GitError::BaseBranchTarget {
                branch: branch.to_owned(),
            }
            .into());
        }
        let target = self.squad_worktree(&repo.spec, worktree, &located.name, branch);
        let expected = expected_remote.map(CommitSha::as_str);
        let _guard = repo.lock.lock().await;
        let outcome = self.workspace.push(&target, &repo.token, expected).await?;
        if let PushOutcome::Pushed { sha } = outcome {
            tracing::info!(repo = %repo.spec.slug, %branch, %sha, "pushed");
            return Ok(CommitSha::new(sha));
        }
        // git treats a remote that already holds this head as up to date before it checks
        // the lease, so a repeated push (say, after a restart that lost the record of the
        // first) never gets here. Fetch to say where the branch is now.
        self.workspace.sync_mirror(&repo.spec, &repo.token).await?;
        let actual = self.workspace.remote_head(&target).await?;
        tracing::warn!(
            repo = %repo.spec.slug,
            %branch,
            expected = expected.unwrap_or("none"),
            actual = actual.as_deref().unwrap_or("none"),
            "push lease rejected"
        );
        Err(GitError::LeaseRejected {
            branch: branch.to_owned(),
            remote: repo.spec.clone_url.clone(),
            expected: expected.map(str::to_owned),
            actual,
        }
        .into())
    }

    async fn rebase(
        &self,
        worktree: &Path,
        base_branch: &str,
    ) -> Result<PortRebaseOutcome, PortError> {
        let (repo, spec, target) = self.squad_on_base(worktree, base_branch).await?;
        let _guard = repo.lock.lock().await;
        self.workspace.sync_mirror(&spec, &repo.token).await?;
        let outcome = self
            .workspace
            .rebase_onto_base(&target, &self.committer)
            .await?;
        tracing::info!(repo = %spec.slug, branch = %target.branch, %base_branch, ?outcome, "rebase finished");
        Ok(match outcome {
            RebaseOutcome::UpToDate { .. } => PortRebaseOutcome::UpToDate,
            RebaseOutcome::Rebased { head, base } => PortRebaseOutcome::Rebased {
                head: CommitSha::new(head),
                base: CommitSha::new(base),
            },
            RebaseOutcome::Conflicts { paths, landed } => PortRebaseOutcome::Conflict {
                paths,
                landed: landed.into_iter().map(CommitSha::new).collect(),
            },
        })
    }

    async fn merge_onto_base(
        &self,
        worktree: &Path,
        base_branch: &str,
        head: &CommitSha,
    ) -> Result<PortConflictedMerge, PortError> {
        let (repo, spec, target) = self.squad_on_base(worktree, base_branch).await?;
        let _guard = repo.lock.lock().await;
        self.workspace.sync_mirror(&spec, &repo.token).await?;
        let merged = self
            .workspace
            .merge_onto_base(&target, head.as_str())
            .await?;
        tracing::info!(
            repo = %spec.slug, branch = %target.branch, %base_branch, base = %merged.base,
            conflicts = ?merged.conflicts, "the branch's change merged onto the base for resolving"
        );
        Ok(PortConflictedMerge {
            base: CommitSha::new(merged.base),
            conflicts: merged.conflicts,
            changed: merged.changed,
            landed: merged.landed.into_iter().map(CommitSha::new).collect(),
        })
    }

    async fn contains_base_tip(
        &self,
        worktree: &Path,
        base_branch: &str,
    ) -> Result<bool, PortError> {
        let located = self.locate(worktree).await?;
        let repo = located.repo;
        let spec = repo.on_base(base_branch);
        let tip = {
            let _guard = repo.lock.lock().await;
            self.workspace.sync_mirror(&spec, &repo.token).await?
        };
        let contains = self
            .with_worktree(worktree, move |git, path| {
                let head = head_of(git, path)?;
                let tip = Oid::from_str(&tip).map_err(GitError::git("read the base tip", path))?;
                Ok(head == tip
                    || git
                        .graph_descendant_of(head, tip)
                        .map_err(GitError::git("compare with the base tip", path))?)
            })
            .await?;
        Ok(contains)
    }

    async fn changed_files(
        &self,
        worktree: &Path,
        base: &CommitSha,
    ) -> Result<Vec<String>, PortError> {
        let base = base.as_str().to_owned();
        let files = self
            .with_worktree(worktree, move |git, path| changed_since(git, path, &base))
            .await?;
        Ok(files)
    }

    async fn patch_id(
        &self,
        worktree: &Path,
        base: &CommitSha,
        head: &CommitSha,
    ) -> Result<PatchId, PortError> {
        let (base, head) = (base.as_str().to_owned(), head.as_str().to_owned());
        let id = self
            .with_worktree(worktree, move |git, path| {
                patch_id_of(git, path, &base, &head)
            })
            .await?;
        Ok(PatchId::new(id))
    }

    async fn scratch(&self, worktree: &Path, at: &CommitSha) -> Result<PathBuf, PortError> {
        let located = self.locate(worktree).await?;
        let unknown = || GitError::UnknownCommit {
            sha: at.as_str().to_owned(),
            slug: located.repo.spec.slug.clone(),
        };
        let oid = Oid::from_str(at.as_str()).map_err(|_| unknown())?;
        let repo = located.repo;
        {
            let _guard = repo.lock.lock().await;
            let mirror = self.workspace.mirror_path(&repo.spec);
            let known = blocking(move || {
                Ok(Repository::open_bare(&mirror).is_ok_and(|git| git.find_commit(oid).is_ok()))
            })
            .await?;
            if !known {
                // A commit the code host made (a merge on the base) reaches the mirror by a
                // fetch.
                self.workspace.sync_mirror(&repo.spec, &repo.token).await?;
            }
        }
        Ok(self.add_scratch(&located, oid).await?)
    }

    async fn merge_trial(
        &self,
        worktree: &Path,
        base_branch: &str,
    ) -> Result<MergeTrial, PortError> {
        let located = self.locate(worktree).await?;
        let repo = located.repo;
        let spec = repo.on_base(base_branch);
        let head = self.with_worktree(worktree, head_of).await?;
        let mirror = self.workspace.mirror_path(&repo.spec);
        let committer = self.committer.clone();
        let branch = located.branch.clone().unwrap_or_default();
        let merged = {
            let _guard = repo.lock.lock().await;
            let tip = self.workspace.sync_mirror(&spec, &repo.token).await?;
            let base = base_branch.to_owned();
            blocking(move || merge_in_mirror(&mirror, head, &tip, &committer, &branch, &base))
                .await?
        };
        let trial = match merged {
            Merged::UpToDate => MergeTrial::UpToDate,
            Merged::Conflict(paths) => MergeTrial::Conflict { paths },
            Merged::Commit { merge, base } => MergeTrial::Merged {
                path: self.add_scratch(&located, merge).await?,
                base: CommitSha::new(base.to_string()),
            },
        };
        tracing::info!(repo = %repo.spec.slug, %base_branch, head = %head, ?trial, "merge with the base made for a test");
        Ok(trial)
    }

    async fn remove(&self, worktree: &Path) -> Result<(), PortError> {
        if worktree.exists() {
            let located = self.locate(worktree).await?;
            let repo = located.repo;
            let branch = located.branch.unwrap_or_default();
            let target = self.squad_worktree(&repo.spec, worktree, &located.name, &branch);
            let _guard = repo.lock.lock().await;
            self.workspace
                .remove_worktree(&target, BranchDisposal::Keep)
                .await?;
            tracing::info!(repo = %repo.spec.slug, path = %worktree.display(), "worktree removed");
            return Ok(());
        }
        // Already gone from disk: forget any record of it a mirror still holds, so a new
        // worktree of the same name can be added later.
        for repo in self.repositories.values() {
            let mirror = self.workspace.mirror_path(&repo.spec);
            let path = worktree.to_path_buf();
            let _guard = repo.lock.lock().await;
            blocking(move || forget_missing(&mirror, &path)).await?;
        }
        Ok(())
    }
}

/// Which of `mirrors` has a worktree registered at `path`, under what name, and on which
/// branch: read from the mirrors' records, never from the worktree's `.git` file.
fn inspect(path: &Path, mirrors: &[(RepoRef, PathBuf)]) -> Result<Found, GitError> {
    if !path.exists() {
        return Err(GitError::WorktreeMissing {
            path: path.to_path_buf(),
        });
    }
    for (repo, mirror) in mirrors {
        if !mirror.exists() {
            continue;
        }
        let git =
            Repository::open_bare(mirror).map_err(GitError::git("open the mirror", mirror))?;
        let names = git
            .worktrees()
            .map_err(GitError::git("list worktrees", mirror))?;
        for name in names.iter().flatten().flatten() {
            let Ok(registered) = git.find_worktree(name) else {
                continue;
            };
            if !same_place(registered.path(), path) {
                continue;
            }
            let checkout = open_registered(mirror, name, path)?;
            let branch = checkout
                .find_reference("HEAD")
                .ok()
                .and_then(|head| head.symbolic_target().ok().flatten().map(str::to_owned))
                .and_then(|target| target.strip_prefix("refs/heads/").map(str::to_owned));
            return Ok(Found {
                repo: repo.clone(),
                mirror: mirror.clone(),
                name: name.to_owned(),
                branch,
            });
        }
    }
    Err(GitError::NotAWorktree {
        path: path.to_path_buf(),
    })
}

fn head_of(git: &Repository, path: &Path) -> Result<Oid, GitError> {
    git.head()
        .and_then(|head| head.peel_to_commit())
        .map(|commit| commit.id())
        .map_err(GitError::git("read HEAD", path))
}

/// Paths added or modified between the fork point of `base` and HEAD: the three-dot diff,
/// so a base that moved on after the branch forked adds nothing of its own.
fn changed_since(git: &Repository, path: &Path, base: &str) -> Result<Vec<String>, GitError> {
    let fail = |action| GitError::git(action, path);
    let head = head_of(git, path)?;
    let unknown = || GitError::UnknownCommit {
        sha: base.to_owned(),
        slug: path.display().to_string(),
    };
    let base = Oid::from_str(base).map_err(|_| unknown())?;
    git.find_commit(base).map_err(|_| unknown())?;
    let fork = git
        .merge_base(base, head)
        .map_err(fail("find where the branch forked from the base"))?;
    let old = git
        .find_commit(fork)
        .and_then(|c| c.tree())
        .map_err(fail("read the base tree"))?;
    let new = git
        .find_commit(head)
        .and_then(|c| c.tree())
        .map_err(fail("read the head tree"))?;
    let diff = git
        .diff_tree_to_tree(Some(&old), Some(&new), None)
        .map_err(fail("diff against the base"))?;
    let mut files: Vec<String> = diff
        .deltas()
        .filter(|delta| {
            matches!(
                delta.status(),
                git2::Delta::Added
                    | git2::Delta::Modified
                    | git2::Delta::Renamed
                    | git2::Delta::Copied
                    | git2::Delta::Typechange
            )
        })
        .filter_map(|delta| delta.new_file().path())
        .map(|file| file.to_string_lossy().into_owned())
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// The stable patch id of the diff from where `head` forked from `base` to `head`.
fn patch_id_of(git: &Repository, path: &Path, base: &str, head: &str) -> Result<String, GitError> {
    let fail = |action| GitError::git(action, path);
    let commit = |sha: &str| {
        let unknown = || GitError::UnknownCommit {
            sha: sha.to_owned(),
            slug: path.display().to_string(),
        };
        let oid = Oid::from_str(sha).map_err(|_| unknown())?;
        git.find_commit(oid).map_err(|_| unknown())
    };
    let (base, head) = (commit(base)?, commit(head)?);
    let fork = git
        .merge_base(base.id(), head.id())
        .map_err(fail("find where the branch forked from the base"))?;
    let old = git
        .find_commit(fork)
        .and_then(|c| c.tree())
        .map_err(fail("read the fork's tree"))?;
    let new = head.tree().map_err(fail("read the head tree"))?;
    let diff = git
        .diff_tree_to_tree(Some(&old), Some(&new), None)
        .map_err(fail("diff the branch's change"))?;
    let id = diff.patchid(None).map_err(fail("compute the patch id"))?;
    Ok(id.to_string())
}

/// What [`merge_in_mirror`] made.
enum Merged {
    UpToDate,
    Conflict(Vec<String>),
    Commit { merge: Oid, base: Oid },
}

/// Merges the base tip `tip` into `head` in the mirror's object store, touching no ref and
/// no worktree: an unreferenced merge commit when the two merge cleanly.
fn merge_in_mirror(
    mirror: &Path,
    head: Oid,
    tip: &str,
    committer: &CommitAuthor,
    branch: &str,
    base: &str,
) -> Result<Merged, GitError> {
    let fail = |action| GitError::git(action, mirror);
    let git = Repository::open_bare(mirror).map_err(fail("open the mirror"))?;
    let tip = Oid::from_str(tip).map_err(fail("read the base tip"))?;
    if head == tip
        || git
            .graph_descendant_of(head, tip)
            .map_err(fail("compare with the base tip"))?
    {
        return Ok(Merged::UpToDate);
    }
    let ours = git.find_commit(head).map_err(fail("read the head"))?;
    let theirs = git.find_commit(tip).map_err(fail("read the base tip"))?;
    let mut index = git
        .merge_commits(&ours, &theirs, None)
        .map_err(fail("merge the base into the head"))?;
    if index.has_conflicts() {
        return Ok(Merged::Conflict(
            conflicting_paths(&index)
                .map_err(fail("list the conflicts of the merge with the base"))?,
        ));
    }
    let tree = index
        .write_tree_to(&git)
        .and_then(|id| git.find_tree(id))
        .map_err(fail("write the merged tree"))?;
    let signature = committer.signature().map_err(fail("sign the merge"))?;
    let message = format!("Merge {base} into {branch} to test the result before merging\n");
    let merge = git
        .commit(
            None,
            &signature,
            &signature,
            &message,
            &tree,
            &[&ours, &theirs],
        )
        .map_err(fail("commit the merge with the base"))?;
    Ok(Merged::Commit { merge, base: tip })
}

/// Makes room for the scratch worktree `name` at `path`, detached at `at`: a leftover of
/// the same name is pruned and its files removed, so every evidence run starts from clean
/// files.
fn clear_scratch(
    mirror: &Path,
    name: &str,
    path: &Path,
    at: Oid,
    slug: &str,
) -> Result<(), GitError> {
    let fail = |action| GitError::git(action, mirror);
    let git = Repository::open_bare(mirror).map_err(fail("open the mirror"))?;
    git.find_commit(at).map_err(|_| GitError::UnknownCommit {
        sha: at.to_string(),
        slug: slug.to_owned(),
    })?;
    if let Ok(leftover) = git.find_worktree(name) {
        leftover
            .prune(Some(&mut prune_everything()))
            .map_err(fail("prune a leftover scratch worktree"))?;
    }
    if path.exists() {
        std::fs::remove_dir_all(path)
            .map_err(GitError::io("clear a leftover scratch directory", path))?;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(GitError::io("create the scratch directory", parent))?;
    }
    Ok(())
}

/// Prunes the mirror's record of a worktree at `path` whose directory is gone.
fn forget_missing(mirror: &Path, path: &Path) -> Result<(), GitError> {
    if !mirror.exists() {
        return Ok(());
    }
    let fail = |action| GitError::git(action, mirror);
    let git = Repository::open_bare(mirror).map_err(fail("open the mirror"))?;
    let names = git.worktrees().map_err(fail("list worktrees"))?;
    for name in names.iter().flatten().flatten() {
        if let Ok(registered) = git.find_worktree(name)
            && same_place(registered.path(), path)
        {
            registered
                .prune(Some(&mut prune_everything()))
                .map_err(fail("prune a vanished worktree"))?;
        }
    }
    Ok(())
}

fn prune_everything() -> WorktreePruneOptions {
    let mut options = WorktreePruneOptions::new();
    options.valid(true).locked(true).working_tree(true);
    options
}

/// A commit on a base branch that reverts another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundRevert {
    /// The reverting commit.
    pub revert: String,
    /// The reverted commit, as the message names it (full, or abbreviated to 7 or more hex
    /// digits).
    pub reverted: String,
    /// When the revert was committed, in seconds since the epoch.
    pub committed_at: i64,
}

/// The commits a commit message says it reverts: the hex after each `This reverts commit`.
pub fn reverted_commits(message: &str) -> Vec<String> {
    const MARKER: &str = "This reverts commit ";
    let mut reverted = Vec::new();
    let mut rest = message;
    while let Some(at) = rest.find(MARKER) {
        rest = &rest[at + MARKER.len()..];
        let sha: String = rest
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if (7..=40).contains(&sha.len()) && !reverted.contains(&sha) {
            reverted.push(sha);
        }
    }
    reverted
}

#[cfg(test)]
mod revert_tests {
    use super::reverted_commits;

    #[test]
    fn a_revert_message_names_the_reverted_commit_in_git_and_githubs_words() {
        let git = "Revert \"ENG-2: Rate of plan 2\"\n\nThis reverts commit \
                   0123456789abcdef0123456789abcdef01234567.\n";
        assert_eq!(
            reverted_commits(git),
            ["0123456789abcdef0123456789abcdef01234567"]
        );
        // GitHub's revert of a merge commit, abbreviated by hand, and two in one squash.
        let merge = "Revert \"Merge pull request #7\"\n\nThis reverts commit ABCDEF1, reversing\n\
                     changes made to 1234567.\n\n* This reverts commit 7654321fed.";
        assert_eq!(reverted_commits(merge), ["abcdef1", "7654321fed"]);
        assert!(reverted_commits("Revert the rate change (no sha)").is_empty());
        assert!(reverted_commits("This reverts commit 12345.").is_empty());
    }
}
