//! The roles' write rules applied to what is committed, not to how it was written.
//!
//! The file tools refuse a write that breaks the rules, but agents also change files through
//! commands (`run_command`, the test command, build and package scripts), which no tool
//! check sees. So before every commit the harness reads the staged change and compares it
//! with the rules: no agent changes Squadron's settings, agents, prompts, the repository's
//! workflows or the paths its base commit's settings protect ([`protected`]), and a test file (by the base commit's test globs) may only be
//! committed as QA last left it through its file tools. QA's versions are kept outside the
//! worktree, by digest, so a file that breaks the rules is put back: to QA's version, else
//! to the committed one, else removed.

use std::fmt;
use std::path::PathBuf;

use sha2::{Digest as _, Sha256};
use squadron_core::ports::PortError;

use crate::git::{GitError, git, stage_all};
use crate::permissions::{QaVersion, protected};
use crate::scratch::Scratch;
use crate::workspace::SquadWorkspace;

/// The largest test file whose version the harness keeps for QA.
pub(crate) const QA_FILE_CAP: u64 = 16 * 1024 * 1024;

/// The directory, inside the squad's scratch area, holding QA's versions by digest.
const QA_VERSIONS: &str = "qa-versions";

/// Which rule a committed file broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokenRule {
    /// The file configures Squadron or the repository's delivery.
    Protected {
        /// What it configures.
        what: &'static str,
    },
    /// A test file not as QA left it: only QA writes test files, through its file tools.
    NotQasTest,
}

/// How a file that broke a rule was put back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Restored {
    /// To the version QA last wrote.
    QasVersion,
    /// To the version of the last commit.
    Committed,
    /// Removed: it is new, and nobody allowed to may have written it.
    Removed,
    /// It could not be put back (why); it was left out of the commit all the same.
    Failed(String),
}

/// One file of a change that broke the write rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteBreach {
    /// Its path, relative to the worktree's root.
    pub path: String,
    /// The rule it broke.
    pub broken: BrokenRule,
    /// What the harness did about it.
    pub restored: Restored,
}

impl fmt::Display for WriteBreach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = &self.path;
        match &self.broken {
            BrokenRule::Protected { what } => {
                write!(f, "`{path}` configures {what}, which no agent may change")?
            }
            BrokenRule::NotQasTest => write!(
                f,
                "`{path}` is a test file and is not as QA wrote it with its file tools; only QA writes test files"
            )?,
        }
        match &self.restored {
            Restored::QasVersion => f.write_str(": put back to QA's version"),
            Restored::Committed => f.write_str(": put back to the committed version"),
            Restored::Removed => f.write_str(": removed"),
            Restored::Failed(why) => write!(f, ": left out of the commit ({why})"),
        }
    }
}

/// The account of refused changes handed back to the agents.
pub fn describe_breaches(breaches: &[WriteBreach]) -> String {
    let lines: Vec<String> = breaches
        .iter()
        .map(|breach| format!("- {breach}"))
        .collect();
    format!(
        "The harness refused to commit: these changes break the squad's write rules, whichever tool or command made them.\n{}\nChange only files your role may write. The Developer asks QA for test changes with `request_test_change`; QA writes test files with its file tools, not through commands; files that configure Squadron or the repository's CI are for a person to change: say so in your summary.",
        squadron_config::fence("refused changes", &lines.join("\n"))
    )
}

/// The digest QA's versions are kept under.
pub(crate) fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn versions_dir(workspace: &SquadWorkspace) -> PathBuf {
    Scratch::beside(workspace.worktree.root())
        .dir()
        .join(QA_VERSIONS)
}

/// Keeps `bytes` as a version of QA's, returning its digest.
async fn keep_version(workspace: &SquadWorkspace, bytes: Vec<u8>) -> Result<String, String> {
    let digest = digest(&bytes);
    let dir = versions_dir(workspace);
    let name = digest.clone();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let target = dir.join(&name);
        if target.is_file() {
            return Ok(());
        }
        let mut temp = tempfile::NamedTempFile::new_in(&dir)?;
        std::io::Write::write_all(&mut temp, &bytes)?;
        temp.persist(&target).map(drop).map_err(|error| error.error)
    })
    .await
    .map_err(|_| "the file task stopped unexpectedly".to_owned())?
    .map_err(|error| format!("keep QA's version: {error}"))?;
    Ok(digest)
}

/// Records the files QA just wrote, as they are now (after the formatter), and stores the
/// record. A file that is no longer a regular file is not recorded, so it cannot be
/// committed as QA's.
pub(crate) async fn record_qa_writes(
    workspace: &SquadWorkspace,
    written: &[String],
) -> Result<(), String> {
    let mut changes = Vec::new();
    for file in written {
        let bytes = workspace
            .worktree
            .read_nofollow(file, QA_FILE_CAP)
            .await
            .map_err(|error| format!("record `{file}` as QA's: {error}"))?;
        let digest = keep_version(workspace, bytes).await?;
        changes.push((file.clone(), QaVersion::Written(digest)));
    }
    workspace
        .qa_files
        .record(changes)
        .await
        .map_err(|error| unstored(&error))
}

/// After the daemon merged the squad's change onto a base that moved on, a test file of
/// `merged` that git merged without conflict is QA's version with the base's changes in it:
/// it is recorded as QA's, so the write rules keep the base's changes instead of putting
/// QA's older version back. Only files QA wrote are recorded (no other test file can be in
/// the squad's change); conflicting ones are left for QA to resolve with its file tools.
pub async fn adopt_merged_tests(
    workspace: &SquadWorkspace,
    merged: &[String],
    conflicts: &[String],
) -> Result<(), String> {
    let root = workspace.worktree.root();
    let adopted: Vec<String> = merged
        .iter()
        .filter(|path| !conflicts.contains(path))
        .filter(|path| {
            matches!(
                workspace.qa_files.version(path),
                Some(QaVersion::Written(_))
            )
        })
        .filter(|path| std::fs::symlink_metadata(root.join(path)).is_ok_and(|meta| meta.is_file()))
        .cloned()
        .collect();
    if adopted.is_empty() {
        return Ok(());
    }
    record_qa_writes(workspace, &adopted).await
}

/// Records the files QA removed (deleted, or moved away).
pub(crate) async fn record_qa_removals(
    workspace: &SquadWorkspace,
    removed: &[String],
) -> Result<(), String> {
    workspace
        .qa_files
        .record(
            removed
                .iter()
                .map(|path| (path.clone(), QaVersion::Deleted)),
        )
        .await
        .map_err(|error| unstored(&error))
}

/// Why the record of QA's files could not be stored, as the tool reports it.
fn unstored(error: &PortError) -> String {
    format!(
        "store the record of QA's files: {}",
        squadron_core::error_chain(error)
    )
}

/// One path of the staged change, from `git diff --cached --raw`.
#[derive(Debug)]
struct Staged {
    path: String,
    in_head: bool,
    new_mode: String,
    new_blob: String,
    deleted: bool,
}

/// The staged change against `HEAD`, one entry per path (renames are a deletion and an
/// addition).
async fn staged(workspace: &SquadWorkspace) -> Result<Vec<Staged>, GitError> {
    let output = git(
        &workspace.worktree,
        workspace.sandbox.settings(),
        &[
            "diff",
            "--cached",
            "--raw",
            "-z",
            "--no-renames",
            "--no-abbrev",
            "--no-ext-diff",
            "--no-textconv",
        ],
        &[],
    )
    .await?;
    let mut entries = Vec::new();
    let mut fields = output.stdout.split('\0');
    while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
        // `:<old mode> <new mode> <old blob> <new blob> <status>`
        let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        let [old_mode, new_mode, _, new_blob, status] = parts[..] else {
            continue;
        };
        entries.push(Staged {
            path: path.to_owned(),
            in_head: old_mode != "000000",
            new_mode: new_mode.to_owned(),
            new_blob: new_blob.to_owned(),
            deleted: status.starts_with('D'),
        });
    }
    Ok(entries)
}

/// Whether the staged `entry` is the version QA last left at its path.
async fn is_qas(workspace: &SquadWorkspace, entry: &Staged) -> Result<bool, GitError> {
    match workspace.qa_files.version(&entry.path) {
        None => Ok(false),
        Some(QaVersion::Deleted) => Ok(entry.deleted),
        Some(QaVersion::Written(_)) if entry.deleted => Ok(false),
        Some(QaVersion::Written(_)) if entry.new_mode != "100644" && entry.new_mode != "100755" => {
            Ok(false)
        }
        Some(QaVersion::Written(digest)) => {
            let copy = versions_dir(workspace).join(&digest);
            if !copy.is_file() {
                return Ok(false);
            }
            // Hashed as `git add` hashes the path, with the same attributes, so that a line
            // ending conversion makes no difference.
            let path_arg = format!("--path={}", entry.path);
            let copy_arg = copy.to_string_lossy().into_owned();
            let hashed = git(
                &workspace.worktree,
                workspace.sandbox.settings(),
                &["hash-object", &path_arg, "--", &copy_arg],
                &[],
            )
            .await?;
            Ok(hashed.stdout.trim() == entry.new_blob)
        }
    }
}

/// Puts `entry`'s path back to what the rules allow.
async fn restore(workspace: &SquadWorkspace, entry: &Staged, broken: &BrokenRule) -> Restored {
    let worktree = &workspace.worktree;
    let qas = match broken {
        BrokenRule::NotQasTest => workspace.qa_files.version(&entry.path),
        BrokenRule::Protected { .. } => None,
    };
    let result = match qas {
        Some(QaVersion::Written(digest)) => {
            let copy = versions_dir(workspace).join(&digest);
            match tokio::fs::read(&copy).await {
                Ok(bytes) if self::digest(&bytes) == digest => worktree
                    .write_file(&entry.path, bytes)
                    .await
                    .map(|_| Restored::QasVersion)
                    .map_err(|error| format!("failed to {error}")),
                Ok(_) => Err("QA's kept version is damaged".to_owned()),
                Err(error) => Err(format!("QA's kept version is missing: {error}")),
            }
        }
        Some(QaVersion::Deleted) => remove(workspace, &entry.path).await,
        None if entry.in_head => {
            let pathspec = format!(":(literal){}", entry.path);
            git(
                worktree,
                workspace.sandbox.settings(),
                &["checkout", "--quiet", "HEAD", "--", &pathspec],
                &[],
            )
            .await
            .map(|_| Restored::Committed)
            .map_err(|error| squadron_core::error_chain(&error))
        }
        None => remove(workspace, &entry.path).await,
    };
    result.unwrap_or_else(Restored::Failed)
}

async fn remove(workspace: &SquadWorkspace, path: &str) -> Result<Restored, String> {
    match workspace.worktree.remove_file(path).await {
        Ok(_) | Err(crate::FileError::NotFound { .. }) => Ok(Restored::Removed),
        Err(error) => Err(format!("failed to {error}")),
    }
}

/// Compares the staged change with the write rules and puts back every file that breaks
/// them. The caller unstages what it staged when any did.
pub(crate) async fn check_staged(workspace: &SquadWorkspace) -> Result<Vec<WriteBreach>, GitError> {
    let mut breaches = Vec::new();
    for entry in staged(workspace).await? {
        let broken = if let Some(what) = protected(&entry.path, &workspace.policy.protected) {
            BrokenRule::Protected { what }
        } else if workspace.policy.test_globs.matches(&entry.path)
            && !is_qas(workspace, &entry).await?
        {
            BrokenRule::NotQasTest
        } else {
            continue;
        };
        let restored = restore(workspace, &entry, &broken).await;
        breaches.push(WriteBreach {
            path: entry.path,
            broken,
            restored,
        });
    }
    Ok(breaches)
}

/// Stages every change in the worktree, compares it with the write rules, puts back every
/// file that breaks them and unstages everything again.
pub(crate) async fn enforce_on_worktree(
    workspace: &SquadWorkspace,
) -> Result<Vec<WriteBreach>, GitError> {
    let settings = workspace.sandbox.settings();
    stage_all(&workspace.worktree, settings).await?;
    let breaches = check_staged(workspace).await;
    unstage(workspace).await?;
    breaches
}

/// Resets the index to `HEAD`, leaving the worktree as it is.
pub(crate) async fn unstage(workspace: &SquadWorkspace) -> Result<(), GitError> {
    git(
        &workspace.worktree,
        workspace.sandbox.settings(),
        &["reset", "--quiet"],
        &[],
    )
    .await
    .map(drop)
}
