//! Git operations on the stand-in's bare repositories: seeding content, test merges,
//! real merge/squash/rebase commits on the base branch, and PR diffs with patches.

use std::path::Path;

use git2::{
    Commit, Delta, DiffOptions, Index, IndexEntry, IndexTime, Oid, Repository, Signature, Sort,
    Time,
};

/// An identity for commits the stand-in writes itself, with the stand-in's clock.
pub(crate) struct Ident<'a> {
    pub(crate) name: &'a str,
    pub(crate) email: &'a str,
    pub(crate) unix_seconds: i64,
}

impl Ident<'_> {
    pub(crate) fn signature(&self) -> Result<Signature<'static>, git2::Error> {
        Signature::new(self.name, self.email, &Time::new(self.unix_seconds, 0))
    }
}

pub(crate) fn branch_ref(branch: &str) -> String {
    format!("refs/heads/{branch}")
}

/// The tip of `branch`, if the branch exists.
pub(crate) fn branch_tip(repo: &Repository, branch: &str) -> Option<Oid> {
    repo.refname_to_id(&branch_ref(branch)).ok()
}

/// A branch name or a (possibly abbreviated) commit SHA, resolved to a commit.
pub(crate) fn resolve(repo: &Repository, rev: &str) -> Option<Oid> {
    if let Some(tip) = branch_tip(repo, rev) {
        return Some(tip);
    }
    repo.revparse_single(rev)
        .ok()?
        .peel_to_commit()
        .ok()
        .map(|c| c.id())
}

/// Creates a bare repository whose `branch` holds one commit with `files`.
pub(crate) fn init_bare(
    path: &Path,
    branch: &str,
    files: &[(&str, &str)],
    ident: &Ident<'_>,
) -> Result<Oid, git2::Error> {
    let repo = Repository::init_bare(path)?;
    repo.set_head(&branch_ref(branch))?;
    commit_files(&repo, branch, files, "Initial commit", ident)
}

/// Commits `files` (path → content, added or replaced) on top of `branch` and moves it.
pub(crate) fn commit_files(
    repo: &Repository,
    branch: &str,
    files: &[(&str, &str)],
    message: &str,
    ident: &Ident<'_>,
) -> Result<Oid, git2::Error> {
    let parent = branch_tip(repo, branch)
        .map(|oid| repo.find_commit(oid))
        .transpose()?;
    let mut index = Index::new()?;
    if let Some(parent) = &parent {
        index.read_tree(&parent.tree()?)?;
    }
    for (path, content) in files {
        let blob = repo.blob(content.as_bytes())?;
        index.add(&file_entry(path, blob, content.len()))?;
    }
    let tree = repo.find_tree(index.write_tree_to(repo)?)?;
    let signature = ident.signature()?;
    let parents: Vec<&Commit<'_>> = parent.iter().collect();
    let oid = repo.commit(None, &signature, &signature, message, &tree, &parents)?;
    repo.reference(&branch_ref(branch), oid, true, message)?;
    Ok(oid)
}

fn file_entry(path: &str, blob: Oid, len: usize) -> IndexEntry {
    IndexEntry {
        ctime: IndexTime::new(0, 0),
        mtime: IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: 0o100_644,
        uid: 0,
        gid: 0,
        file_size: u32::try_from(len).unwrap_or(u32::MAX),
        id: blob,
        // The low 12 bits carry the path length, saturated as git does.
        flags: u16::try_from(path.len().min(0xfff)).unwrap_or(0xfff),
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    }
}

/// What a test merge of head into base says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MergeCheck {
    pub(crate) conflicts: bool,
    /// The base tip is already contained in head (head is up to date with base).
    pub(crate) up_to_date: bool,
}

pub(crate) fn test_merge(
    repo: &Repository,
    base: Oid,
    head: Oid,
) -> Result<MergeCheck, git2::Error> {
    let index = repo.merge_commits(&repo.find_commit(base)?, &repo.find_commit(head)?, None)?;
    let up_to_date = base == head || repo.graph_descendant_of(head, base)?;
    Ok(MergeCheck {
        conflicts: index.has_conflicts(),
        up_to_date,
    })
}

/// The tree of `head` merged into `base`, written to the object store; `None` when they
/// conflict.
pub(crate) fn merged_tree(
    repo: &Repository,
    base: Oid,
    head: Oid,
) -> Result<Option<Oid>, git2::Error> {
    let mut index = repo.merge_commits(&repo.find_commit(base)?, &repo.find_commit(head)?, None)?;
    if index.has_conflicts() {
        return Ok(None);
    }
    index.write_tree_to(repo).map(Some)
}

/// Writes a two-parent merge commit of `head` into `base`; `None` when they conflict.
pub(crate) fn merge_commit(
    repo: &Repository,
    base: Oid,
    head: Oid,
    message: &str,
    author: &Signature<'_>,
    committer: &Signature<'_>,
) -> Result<Option<Oid>, git2::Error> {
    let Some(tree) = merged_tree(repo, base, head)? else {
        return Ok(None);
    };
    let tree = repo.find_tree(tree)?;
    let parents = [&repo.find_commit(base)?, &repo.find_commit(head)?];
    repo.commit(None, author, committer, message, &tree, &parents)
        .map(Some)
}

/// Writes one commit on top of `base` carrying the merged result; `None` when they conflict.
pub(crate) fn squash_commit(
    repo: &Repository,
    base: Oid,
    head: Oid,
    message: &str,
    author: &Signature<'_>,
    committer: &Signature<'_>,
) -> Result<Option<Oid>, git2::Error> {
    let Some(tree) = merged_tree(repo, base, head)? else {
        return Ok(None);
    };
    let tree = repo.find_tree(tree)?;
    repo.commit(
        None,
        author,
        committer,
        message,
        &tree,
        &[&repo.find_commit(base)?],
    )
    .map(Some)
}

/// Commits reachable from `head` but not from `base`, oldest first, merges skipped.
pub(crate) fn commits_between(
    repo: &Repository,
    base: Oid,
    head: Oid,
) -> Result<Vec<Oid>, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
    walk.push(head)?;
    walk.hide(base)?;
    let mut commits = Vec::new();
    for oid in walk {
        let oid = oid?;
        if repo.find_commit(oid)?.parent_count() <= 1 {
            commits.push(oid);
        }
    }
    Ok(commits)
}

/// Replays head's own commits onto `base`, keeping authors; `None` when one conflicts.
pub(crate) fn rebase_commits(
    repo: &Repository,
    base: Oid,
    head: Oid,
    committer: &Signature<'_>,
) -> Result<Option<Oid>, git2::Error> {
    let mut onto = repo.find_commit(base)?;
    for oid in commits_between(repo, base, head)? {
        let commit = repo.find_commit(oid)?;
        let mut index = repo.cherrypick_commit(&commit, &onto, 0, None)?;
        if index.has_conflicts() {
            return Ok(None);
        }
        let tree = repo.find_tree(index.write_tree_to(repo)?)?;
        if tree.id() == onto.tree_id() {
            continue;
        }
        let message = commit.message().unwrap_or_default();
        let next = repo.commit(None, &commit.author(), committer, message, &tree, &[&onto])?;
        onto = repo.find_commit(next)?;
    }
    Ok(Some(onto.id()))
}

/// Moves `branch` from `expected` to `new`, refusing if someone moved it meanwhile.
pub(crate) fn move_branch(
    repo: &Repository,
    branch: &str,
    expected: Oid,
    new: Oid,
    log: &str,
) -> Result<(), git2::Error> {
    repo.reference_matching(&branch_ref(branch), new, true, expected, log)
        .map(|_| ())
}

/// One changed file of a pull request, as `GET …/pulls/{n}/files` lists it.
#[derive(Clone, Debug)]
pub(crate) struct FileDiff {
    pub(crate) filename: String,
    pub(crate) previous_filename: Option<String>,
    pub(crate) status: &'static str,
    pub(crate) sha: Option<String>,
    pub(crate) additions: u64,
    pub(crate) deletions: u64,
    /// The hunks only, starting at the first `@@` line, as GitHub's `patch` field.
    pub(crate) patch: String,
}

/// The PR diff: from the merge base of base and head to head ("three-dot" diff).
pub(crate) fn pull_diff(
    repo: &Repository,
    base: Oid,
    head: Oid,
) -> Result<Vec<FileDiff>, git2::Error> {
    let merge_base = repo.merge_base(base, head)?;
    let old_tree = repo.find_commit(merge_base)?.tree()?;
    let new_tree = repo.find_commit(head)?.tree()?;
    let mut options = DiffOptions::new();
    options.context_lines(3);
    let mut diff = repo.diff_tree_to_tree(Some(&old_tree), Some(&new_tree), Some(&mut options))?;
    diff.find_similar(None)?;
    let mut files = Vec::new();
    for index in 0..diff.deltas().len() {
        let Some(delta) = diff.get_delta(index) else {
            continue;
        };
        let new_path = delta
            .new_file()
            .path()
            .map(|p| p.to_string_lossy().into_owned());
        let old_path = delta
            .old_file()
            .path()
            .map(|p| p.to_string_lossy().into_owned());
        let status = match delta.status() {
            Delta::Added => "added",
            Delta::Deleted => "removed",
            Delta::Renamed => "renamed",
            Delta::Copied => "copied",
            Delta::Unmodified => "unchanged",
            _ => "modified",
        };
        let filename = new_path
            .clone()
            .or_else(|| old_path.clone())
            .unwrap_or_default();
        let sha = (delta.status() != Delta::Deleted).then(|| delta.new_file().id().to_string());
        let previous_filename = (delta.status() == Delta::Renamed)
            .then_some(old_path)
            .flatten();
        let mut patch = String::new();
        let mut additions = 0;
        let mut deletions = 0;
        if let Some(mut file_patch) = git2::Patch::from_diff(&diff, index)? {
            let (_, added, removed) = file_patch.line_stats()?;
            additions = added as u64;
            deletions = removed as u64;
            let text = file_patch.to_buf()?;
            let text = String::from_utf8_lossy(&text);
            if let Some(start) = text
                .find("\n@@")
                .map(|i| i + 1)
                .or_else(|| text.starts_with("@@").then_some(0))
            {
                patch = text[start..].trim_end_matches('\n').to_owned();
            }
        }
        files.push(FileDiff {
            filename,
            previous_filename,
            status,
            sha,
            additions,
            deletions,
            patch,
        });
    }
    Ok(files)
}

/// Where an inline comment lands in a file's patch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DiffAnchor {
    /// GitHub's legacy `position`: lines below the file's first `@@` header.
    pub(crate) position: u64,
    /// The hunk up to and including the commented line, as GitHub's `diff_hunk`.
    pub(crate) diff_hunk: String,
}

/// Side of the diff a review comment refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Left,
    Right,
}

/// Finds `line` (a line number of the old file for LEFT, of the new file for RIGHT) inside
/// the patch's hunks; GitHub only accepts comments on lines the diff shows.
pub(crate) fn locate_line(patch: &str, side: Side, line: u64) -> Option<DiffAnchor> {
    let mut position = 0_u64;
    let mut old_line = 0_u64;
    let mut new_line = 0_u64;
    let mut hunk: Vec<&str> = Vec::new();
    for (index, text) in patch.lines().enumerate() {
        if text.starts_with("@@") {
            let (old_start, new_start) = parse_hunk_header(text)?;
            old_line = old_start;
            new_line = new_start;
            hunk.clear();
            hunk.push(text);
            if index > 0 {
                position += 1;
            }
            continue;
        }
        position += 1;
        hunk.push(text);
        let (here_old, here_new) = match text.chars().next() {
            Some('+') => (None, Some(new_line)),
            Some('-') => (Some(old_line), None),
            Some('\\') => (None, None),
            _ => (Some(old_line), Some(new_line)),
        };
        if here_old.is_some() && !text.starts_with('\\') {
            old_line += 1;
        }
        if here_new.is_some() {
            new_line += 1;
        }
        let hit = match side {
            Side::Left => here_old == Some(line),
            Side::Right => here_new == Some(line),
        };
        if hit {
            return Some(DiffAnchor {
                position,
                diff_hunk: hunk.join("\n"),
            });
        }
    }
    None
}

/// `@@ -a,b +c,d @@` → (a, c).
fn parse_hunk_header(header: &str) -> Option<(u64, u64)> {
    let mut parts = header.split_whitespace().skip(1);
    let old = parts.next()?.strip_prefix('-')?;
    let new = parts.next()?.strip_prefix('+')?;
    let start = |range: &str| range.split(',').next()?.parse::<u64>().ok();
    Some((start(old)?, start(new)?))
}

/// Text of `path` in tree `tree`, if it exists and is UTF-8.
pub(crate) fn file_in_tree(repo: &Repository, tree: Oid, path: &str) -> Option<String> {
    let entry = repo.find_tree(tree).ok()?.get_path(Path::new(path)).ok()?;
    let blob = repo.find_blob(entry.id()).ok()?;
    String::from_utf8(blob.content().to_vec()).ok()
}

/// Text of `path` at commit `oid`, if it exists and is UTF-8.
pub(crate) fn file_at(repo: &Repository, oid: Oid, path: &str) -> Option<String> {
    let tree = repo.find_commit(oid).ok()?.tree().ok()?;
    let entry = tree.get_path(Path::new(path)).ok()?;
    let blob = repo.find_blob(entry.id()).ok()?;
    String::from_utf8(blob.content().to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCH: &str = "@@ -1,3 +1,4 @@\n a\n-b\n+B\n+C\n c\n@@ -10,2 +11,2 @@\n x\n-y\n+Y";

    #[test]
    fn locates_right_side_lines_inside_hunks_only() {
        let anchor = locate_line(PATCH, Side::Right, 3).map(|a| a.position);
        assert_eq!(anchor, Some(4));
        assert_eq!(
            locate_line(PATCH, Side::Right, 12).map(|a| a.position),
            Some(9)
        );
        assert_eq!(locate_line(PATCH, Side::Right, 7), None);
    }

    #[test]
    fn locates_left_side_lines_and_keeps_the_hunk_text() {
        let anchor = locate_line(PATCH, Side::Left, 2).expect("line 2 was removed");
        assert_eq!(anchor.position, 2);
        assert_eq!(anchor.diff_hunk, "@@ -1,3 +1,4 @@\n a\n-b");
        assert_eq!(locate_line(PATCH, Side::Left, 5), None);
    }
}
