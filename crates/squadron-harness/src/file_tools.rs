//! The file tools: read, list, search, write and edit, all confined to the worktree.
//!
//! File contents go only through the worktree's confined reader and writer
//! ([`crate::confined_io`]), and walking the tree runs on the blocking pool: nothing an agent
//! leaves in the worktree (a FIFO, a huge sparse file, a symlink swapped at the last moment)
//! can stall the daemon or lead a read or write outside.

use std::fmt::Write as _;
use std::path::Path;

use globset::{Glob, GlobMatcher};
use ignore::WalkBuilder;
use regex::RegexBuilder;
use serde::Deserialize;

use crate::confine::{ConfinedPath, Worktree};
use crate::confined_io::FileError;
use crate::guardrails::after_write;
use crate::permissions::check_write;
use crate::registry::ToolContext;
use crate::terminal::parse;
use squadron_config::fence;

/// Bytes of file text `read_file` returns at most.
pub const READ_CAP: usize = 100 * 1024;
/// Paths `list_files` returns at most.
pub const LIST_CAP: usize = 2_000;
/// Matches `search_code` returns at most.
pub const SEARCH_CAP: usize = 200;
/// Files larger than this are refused by `read_file` and `edit_file` before being read.
pub const READ_FILE_LIMIT: u64 = 8 * 1024 * 1024;
/// Files larger than this are skipped by `search_code`.
const SEARCH_FILE_LIMIT: u64 = 1024 * 1024;
/// Characters of one matching line shown by `search_code`.
const SEARCH_LINE_CHARS: usize = 300;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadArgs {
    path: String,
    start_line: Option<usize>,
    end_line: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    path: Option<String>,
    glob: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    pattern: String,
    path: Option<String>,
    glob: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteArgs {
    path: String,
    content: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditArgs {
    path: String,
    old: String,
    new: String,
}

fn resolve(context: &ToolContext<'_>, path: &str) -> Result<ConfinedPath, String> {
    context
        .workspace
        .worktree
        .resolve(path)
        .map_err(|refusal| format!("failed to {refusal}"))
}

fn refused(error: FileError) -> String {
    match error {
        FileError::NotRegular {
            kind: "a directory",
            ..
        } => format!("failed to {error}: use list_files"),
        FileError::TooLarge { .. } => {
            format!("failed to {error}: use search_code to find the lines you need")
        }
        error => format!("failed to {error}"),
    }
}

/// The text of a regular file of at most [`READ_FILE_LIMIT`] bytes; binary and non-UTF-8
/// files are refused. Returns the real worktree-relative path too.
async fn read_text(worktree: &Worktree, path: &str) -> Result<(String, String), String> {
    let contents = worktree
        .read_file(path, READ_FILE_LIMIT)
        .await
        .map_err(refused)?;
    let relative = contents.relative;
    if contents.bytes.iter().take(8192).any(|byte| *byte == 0) {
        return Err(format!(
            "`{relative}` is a binary file; only text files can be read"
        ));
    }
    let text = String::from_utf8(contents.bytes)
        .map_err(|_| format!("`{relative}` is not UTF-8 text; only text files can be read"))?;
    Ok((relative, text))
}

pub(crate) async fn read_file(
    context: &ToolContext<'_>,
    arguments: &str,
) -> Result<String, String> {
    let args: ReadArgs = parse(arguments)?;
    let (relative, text) = read_text(&context.workspace.worktree, &args.path).await?;
    let total = text.lines().count();
    let start = args.start_line.unwrap_or(1).max(1);
    let end = args.end_line.unwrap_or(total).min(total);
    if total > 0 && start > total {
        return Err(format!(
            "`{relative}` has {total} lines; start_line {start} is past the end"
        ));
    }
    let mut numbered = String::new();
    let mut last = start.saturating_sub(1);
    for (index, line) in text
        .lines()
        .enumerate()
        .skip(start - 1)
        .take(end.saturating_sub(start - 1))
    {
        if numbered.len() + line.len() > READ_CAP {
            break;
        }
        let _ = writeln!(numbered, "{}\t{line}", index + 1);
        last = index + 1;
    }
    let mut label = format!("file {relative} lines {start}-{last} of {total}");
    if last < end {
        label.push_str(" (cut at the size cap)");
    }
    let mut result = fence(&label, &numbered);
    if last < end {
        let _ = write!(
            result,
            "\nThe output was cut at {READ_CAP} bytes: read on with start_line {}.",
            last + 1
        );
    }
    Ok(result)
}

fn glob_matcher(glob: Option<&str>) -> Result<Option<GlobMatcher>, String> {
    glob.map(|glob| {
        Glob::new(glob)
            .map(|glob| glob.compile_matcher())
            .map_err(|error| format!("invalid glob `{glob}`: {error}"))
    })
    .transpose()
}

/// Walks the files under `dir`, honouring .gitignore and never entering `.git`; yields
/// worktree-relative paths.
fn walk(root: &Path, dir: &Path) -> impl Iterator<Item = (String, std::path::PathBuf)> {
    let root = root.to_path_buf();
    WalkBuilder::new(dir)
        .hidden(false)
        .require_git(false)
        .follow_links(false)
        .filter_entry(|entry| entry.file_name() != ".git")
        .sort_by_file_name(Ord::cmp)
        .build()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_some_and(|kind| kind.is_file()))
        .filter_map(move |entry| {
            let relative = entry
                .path()
                .strip_prefix(&root)
                .ok()?
                .to_string_lossy()
                .into_owned();
            Some((relative, entry.into_path()))
        })
}

/// Runs `work` (a walk of the tree) on the blocking pool.
async fn walking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|_| Err("the file walk stopped unexpectedly".to_owned()))
}

pub(crate) async fn list_files(
    context: &ToolContext<'_>,
    arguments: &str,
) -> Result<String, String> {
    let args: ListArgs = parse(arguments)?;
    let dir = resolve(context, args.path.as_deref().unwrap_or("."))?;
    let matcher = glob_matcher(args.glob.as_deref())?;
    let root = context.workspace.worktree.root().to_path_buf();
    walking(move || {
        if !dir.absolute().is_dir() {
            return Err(format!(
                "`{}` is not a directory",
                args.path.unwrap_or_default()
            ));
        }
        let mut listed = String::new();
        let mut count = 0;
        let mut more = false;
        for (relative, _) in walk(&root, dir.absolute()) {
            if matcher
                .as_ref()
                .is_some_and(|matcher| !matcher.is_match(&relative))
            {
                continue;
            }
            if count == LIST_CAP {
                more = true;
                break;
            }
            listed.push_str(&relative);
            listed.push('\n');
            count += 1;
        }
        let mut result = fence(&format!("file list ({count} files)"), &listed);
        if more {
            let _ = write!(
                result,
                "\nOnly the first {LIST_CAP} files are listed: narrow with `path` or `glob`."
            );
        }
        Ok(result)
    })
    .await
}

pub(crate) async fn search_code(
    context: &ToolContext<'_>,
    arguments: &str,
) -> Result<String, String> {
    let args: SearchArgs = parse(arguments)?;
    let regex = RegexBuilder::new(&args.pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|error| format!("invalid regular expression: {error}"))?;
    let dir = resolve(context, args.path.as_deref().unwrap_or("."))?;
    let matcher = glob_matcher(args.glob.as_deref())?;
    let worktree = context.workspace.worktree.clone();
    walking(move || {
        let mut found = String::new();
        let mut count = 0;
        'files: for (relative, _) in walk(worktree.root(), dir.absolute()) {
            if matcher
                .as_ref()
                .is_some_and(|matcher| !matcher.is_match(&relative))
            {
                continue;
            }
            // Through the confined reader: the walk saw a regular file, but by now the name
            // may hold a FIFO or a symlink.
            let Ok(bytes) = worktree
                .open_file(&relative)
                .and_then(|file| file.read_all(SEARCH_FILE_LIMIT))
            else {
                continue;
            };
            if bytes.iter().take(8192).any(|byte| *byte == 0) {
                continue;
            }
            let text = String::from_utf8_lossy(&bytes);
            for (index, line) in text.lines().enumerate() {
                if regex.is_match(line) {
                    if count == SEARCH_CAP {
                        break 'files;
                    }
                    let shown: String = line.chars().take(SEARCH_LINE_CHARS).collect();
                    let _ = writeln!(found, "{relative}:{}: {shown}", index + 1);
                    count += 1;
                }
            }
        }
        let mut result = fence(&format!("search results ({count} matches)"), &found);
        if count == SEARCH_CAP {
            let _ = write!(
                result,
                "\nResults stop at {SEARCH_CAP} matches: narrow the pattern, `path` or `glob`."
            );
        }
        Ok(result)
    })
    .await
}

/// The worktree-relative path a write of `requested` changes, if the agent may write it.
fn writable(context: &ToolContext<'_>, requested: &str) -> Result<String, String> {
    let workspace = context.workspace;
    let relative = workspace
        .worktree
        .normalize(requested)
        .map_err(|refusal| format!("failed to {refusal}"))?;
    check_write(
        context.role,
        context.write_scope,
        &relative,
        &workspace.policy.test_globs,
        &workspace.qa_files,
    )
    .map_err(|refusal| format!("refused: failed to {refusal}"))?;
    Ok(relative)
}

/// Writes `content` to `relative` (already checked with [`writable`]) through the confined
/// writer, records QA's files, and runs the guardrails.
async fn write_checked(
    context: &ToolContext<'_>,
    relative: &str,
    content: &str,
    verb: &str,
) -> Result<String, String> {
    let workspace = context.workspace;
    workspace
        .worktree
        .write_file(relative, content.as_bytes().to_vec())
        .await
        .map_err(refused)?;
    if context.role == squadron_core::Role::Qa {
        workspace.qa_files.insert(relative);
    }
    let report = after_write(workspace, relative).await;
    Ok(format!(
        "{verb} `{relative}` ({} bytes).\n{report}",
        content.len()
    ))
}

pub(crate) async fn write_file(
    context: &ToolContext<'_>,
    arguments: &str,
) -> Result<String, String> {
    let args: WriteArgs = parse(arguments)?;
    let relative = writable(context, &args.path)?;
    write_checked(context, &relative, &args.content, "Wrote").await
}

pub(crate) async fn edit_file(
    context: &ToolContext<'_>,
    arguments: &str,
) -> Result<String, String> {
    let args: EditArgs = parse(arguments)?;
    if args.old.is_empty() {
        return Err("`old` is empty: give the exact text to replace".to_owned());
    }
    // Check permission before revealing anything about the file's contents.
    let relative = writable(context, &args.path)?;
    let text = match read_text(&context.workspace.worktree, &relative).await {
        Err(message) if message.contains("does not exist") => {
            return Err(format!(
                "`{relative}` does not exist: use write_file to create it"
            ));
        }
        other => other?.1,
    };
    match text.matches(&args.old).count() {
        1 => {
            let edited = text.replacen(&args.old, &args.new, 1);
            write_checked(context, &relative, &edited, "Edited").await
        }
        0 => Err(format!(
            "`old` was not found in `{relative}` (0 matches): read the file again and copy the text exactly, including whitespace"
        )),
        many => Err(format!(
            "`old` occurs {many} times in `{relative}`: it must occur exactly once; include more surrounding lines to make it unique"
        )),
    }
}
