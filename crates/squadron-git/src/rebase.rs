//! Replaying a squad branch onto the new base, commit by commit, without touching the
//! worktree until every commit applied cleanly.

use git2::{Oid, Repository, Sort};

use crate::identity::CommitAuthor;

/// What rebasing a squad branch onto its base did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RebaseOutcome {
    /// The branch already contains the base tip; nothing changed.
    UpToDate { head: String },
    /// The branch was replayed onto the base tip `base`; the worktree now holds `head`.
    Rebased { head: String, base: String },
    /// Replaying stopped on conflicts in `paths`; the branch and worktree are unchanged.
    Conflicts { paths: Vec<String> },
}

/// Replays the commits of `head` missing from `onto` (merges skipped, emptied commits
/// dropped, authors kept); returns the new tip, or the conflicting paths.
pub(crate) fn replay(
    repo: &Repository,
    onto: Oid,
    head: Oid,
    committer: &CommitAuthor,
) -> Result<Result<Oid, Vec<String>>, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
    walk.push(head)?;
    walk.hide(onto)?;
    let committer = committer.signature()?;
    let mut tip = repo.find_commit(onto)?;
    for oid in walk {
        let commit = repo.find_commit(oid?)?;
        if commit.parent_count() > 1 {
            continue;
        }
        let mut index = repo.cherrypick_commit(&commit, &tip, 0, None)?;
        if index.has_conflicts() {
            return Ok(Err(conflicting_paths(&index)?));
        }
        let tree = repo.find_tree(index.write_tree_to(repo)?)?;
        if tree.id() == tip.tree_id() {
            continue;
        }
        let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
        let next = repo.commit(None, &commit.author(), &committer, &message, &tree, &[&tip])?;
        tip = repo.find_commit(next)?;
    }
    Ok(Ok(tip.id()))
}

/// The paths an index holds conflicts in, sorted.
pub(crate) fn conflicting_paths(index: &git2::Index) -> Result<Vec<String>, git2::Error> {
    let mut paths = Vec::new();
    for conflict in index.conflicts()? {
        let conflict = conflict?;
        let entry = conflict.our.or(conflict.their).or(conflict.ancestor);
        if let Some(entry) = entry {
            paths.push(String::from_utf8_lossy(&entry.path).into_owned());
        }
    }
    paths.sort();
    paths.dedup();
    Ok(paths)
}
