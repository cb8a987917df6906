//! Replaying a squad branch onto the new base, commit by commit, without touching the
//! worktree until every commit applied cleanly; and, when that stops on conflicts, the
//! branch's whole change merged onto the base with conflict markers for the squad to resolve.

use git2::build::CheckoutBuilder;
use git2::{Delta, Oid, Repository, ResetType, Sort};

use crate::identity::CommitAuthor;

/// What rebasing a squad branch onto its base did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RebaseOutcome {
    /// The branch already contains the base tip; nothing changed.
    UpToDate { head: String },
    /// The branch was replayed onto the base tip `base`; the worktree now holds `head`.
    Rebased { head: String, base: String },
    /// Replaying stopped on conflicts in `paths`; the branch and worktree are unchanged.
    /// `landed` are the base's commits since the branch forked, newest first.
    Conflicts {
        paths: Vec<String>,
        landed: Vec<String>,
    },
}

/// The branch's change merged onto the base tip, uncommitted, as [`merge_onto`] left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictedMerge {
    /// The base tip the branch now sits on.
    pub base: String,
    /// Files with conflicts, sorted.
    pub conflicts: Vec<String>,
    /// Every file the uncommitted change touches, sorted.
    pub changed: Vec<String>,
    /// The base's commits since the branch forked, newest first.
    pub landed: Vec<String>,
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

/// The commits of `onto` that `head` does not have, newest first, at most `limit`.
pub(crate) fn landed(
    repo: &Repository,
    onto: Oid,
    head: Oid,
    limit: usize,
) -> Result<Vec<String>, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
    walk.push(onto)?;
    walk.hide(head)?;
    walk.take(limit)
        .map(|oid| oid.map(|oid| oid.to_string()))
        .collect()
}

/// Moves the worktree's branch to `onto` (its files too, untracked ones removed) and writes
/// the change `head` made since it forked from `onto`'s history into the worktree,
/// uncommitted: what `git merge --squash` leaves, with diff3-style markers labelled
/// `labels` (base, fork point, branch) in the files both sides changed. The index stays at
/// `onto`, so the whole change shows as the worktree's.
pub(crate) fn merge_onto(
    repo: &Repository,
    onto: Oid,
    head: Oid,
    labels: [&str; 3],
    limit: usize,
) -> Result<ConflictedMerge, git2::Error> {
    let fork = repo.merge_base(onto, head)?;
    let onto_commit = repo.find_commit(onto)?;
    let onto_tree = onto_commit.tree()?;
    let fork_tree = repo.find_commit(fork)?.tree()?;
    let head_tree = repo.find_commit(head)?.tree()?;
    let mut merged = repo.merge_trees(&fork_tree, &onto_tree, &head_tree, None)?;
    let conflicts = conflicting_paths(&merged)?;
    let diff = repo.diff_tree_to_index(Some(&onto_tree), Some(&merged), None)?;
    let mut changed: Vec<String> = diff
        .deltas()
        .filter(|delta| delta.status() != Delta::Unmodified)
        .filter_map(|delta| {
            let file = delta.new_file().path().or(delta.old_file().path())?;
            Some(file.to_string_lossy().into_owned())
        })
        .chain(conflicts.iter().cloned())
        .collect();
    changed.sort();
    changed.dedup();
    // HEAD is the branch, so the reset moves it; a hard reset's checkout keeps untracked
    // files, which a half-done earlier resolution may have left, so they go in a second one.
    repo.reset(onto_commit.as_object(), ResetType::Hard, None)?;
    repo.checkout_head(Some(CheckoutBuilder::new().force().remove_untracked(true)))?;
    let [ours, ancestor, theirs] = labels;
    let mut write = CheckoutBuilder::new();
    write
        .force()
        .allow_conflicts(true)
        .conflict_style_diff3(true)
        .our_label(ours)
        .ancestor_label(ancestor)
        .their_label(theirs)
        .update_index(false);
    repo.checkout_index(Some(&mut merged), Some(&mut write))?;
    Ok(ConflictedMerge {
        base: onto.to_string(),
        conflicts,
        changed,
        landed: landed(repo, onto, head, limit)?,
    })
}
