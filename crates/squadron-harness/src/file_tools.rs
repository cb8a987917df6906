//! The file tools: read, list, search, write, edit, delete and move, all confined to the
//! worktree and to the role's write scope.
//!
//! File contents go only through the worktree's confined reader and writer
//! ([`crate::confined_io`]), and walking the tree runs on the blocking pool: nothing an agent
//! leaves in the worktree (a FIFO, a huge sparse file, a symlink swapped at the last moment)
//! can stall the daemon or lead a read or write outside.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::Ordering;

use globset::{Glob, GlobMatcher};
use ignore::WalkBuilder;
use regex::RegexBuilder;
use serde::Deserialize;

use crate::confine::{ConfinedPath, Worktree};
use crate::confined_io::FileError;
use crate::guardrails::{after_write, lint_pending_after};
use crate::permissions::check_write;
use crate::registry::ToolContext;
use crate::scratch::{SCRATCH_PREFIX, Scratch};
use crate::terminal::parse;
use crate::write_rules::{record_qa_removals, record_qa_writes};
use squadron_config::fence;

/// Bytes of file text `read_file` returns at most.
/// It stays under the turn loop's default tool-output cap, so a read is never cut again.
pub const READ_CAP: usize = 12 * 1024;
/// Lines `read_file` returns when no `limit` is given.
pub const READ_LINES: usize = 300;
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
    /// First line to read (1-based).
    offset: Option<usize>,
    /// Lines to read from `offset`.
    limit: Option<usize>,
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
    old: Option<String>,
    new: Option<String>,
    replace_all: Option<bool>,
    edits: Option<Vec<Edit>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Edit {
    old: String,
    new: String,
    #[serde(default)]
    replace_all: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteArgs {
    path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveArgs {
    from: String,
    to: String,
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
    let (relative, text) = if args.path.starts_with(SCRATCH_PREFIX) {
        let scratch = Scratch::beside(context.workspace.worktree.root());
        (args.path.clone(), scratch.read(&args.path)?)
    } else {
        read_text(&context.workspace.worktree, &args.path).await?
    };
    let total = text.lines().count();
    let start = args.offset.or(args.start_line).unwrap_or(1).max(1);
    let end = match (args.limit, args.end_line) {
        (Some(limit), _) => start.saturating_add(limit.max(1) - 1),
        (None, Some(end)) => end,
        (None, None) => start.saturating_add(READ_LINES - 1),
    }
    .min(total);
    if total > 0 && start > total {
        return Err(format!(
            "`{relative}` has {total} lines; offset {start} is past the end"
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
    if last < total {
        let _ = write!(
            result,
            "\nThe file goes on: read on with offset {} (and a limit of at most {READ_LINES} lines).",
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
        &workspace.policy,
        &workspace.qa_files,
    )
    .map_err(|refusal| format!("refused: failed to {refusal}"))?;
    Ok(relative)
}

/// Runs the guardrails on `written` and, for QA, records the versions it left (after the
/// formatter, which may change them), which are the only versions of test files the harness
/// will commit.
async fn after_writing(context: &ToolContext<'_>, written: &[String]) -> String {
    let workspace = context.workspace;
    if lint_pending_after(&workspace.policy, written) {
        context.lint_pending.store(true, Ordering::SeqCst);
    }
    let mut report = after_write(workspace, written).await;
    if context.role == squadron_core::Role::Qa
        && let Err(error) = record_qa_writes(workspace, written).await
    {
        let _ = writeln!(
            report,
            "The harness could not {error}; write the file again, or it will not be committed."
        );
    }
    report
}

/// Records, for QA, that it removed `removed`; the note to add to the tool result.
async fn after_removing(context: &ToolContext<'_>, removed: &[String]) -> String {
    if context.role != squadron_core::Role::Qa {
        return String::new();
    }
    match record_qa_removals(context.workspace, removed).await {
        Ok(()) => String::new(),
        Err(error) => format!("\nThe harness could not {error}; the removal may not be committed."),
    }
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
    let report = after_writing(context, &[relative.to_owned()]).await;
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
    let edits = match (args.old, args.new, args.edits) {
        (Some(old), Some(new), None) => vec![Edit {
            old,
            new,
            replace_all: args.replace_all.unwrap_or(false),
        }],
        (None, None, Some(edits)) if args.replace_all.is_none() && !edits.is_empty() => edits,
        (None, None, Some(_)) if args.replace_all.is_some() => {
            return Err("`replace_all` goes inside each of `edits`".to_owned());
        }
        (None, None, Some(_)) => return Err("`edits` is empty: give at least one edit".to_owned()),
        (Some(_), None, None) | (None, Some(_), None) => {
            return Err("give both `old` and `new` (or `edits`)".to_owned());
        }
        (None, None, None) => {
            return Err("give `old` and `new`, or `edits`, to say what to replace".to_owned());
        }
        _ => return Err("give either `old` and `new`, or `edits`, not both".to_owned()),
    };
    // Check permission before revealing anything about the file's contents.
    let relative = writable(context, &args.path)?;
    let original = match read_text(&context.workspace.worktree, &relative).await {
        Err(message) if message.contains("does not exist") => {
            return Err(format!(
                "`{relative}` does not exist: use write_file to create it"
            ));
        }
        other => other?.1,
    };
    let edited = apply_edits(&original, &edits).map_err(|failure| {
        let which = if edits.len() > 1 {
            format!("edit {} of {}: ", failure.index + 1, edits.len())
        } else {
            String::new()
        };
        let unchanged = if edits.len() > 1 {
            " Nothing was changed: fix that edit and send them all again."
        } else {
            ""
        };
        format!("{which}{}{unchanged}", failure.explain(&relative))
    })?;
    if edited == original {
        return Err(format!(
            "the edits leave `{relative}` as it was: `new` equals `old`"
        ));
    }
    let verb = match edits.len() {
        1 => "Edited".to_owned(),
        count => format!("Made {count} edits to"),
    };
    write_checked(context, &relative, &edited, &verb).await
}

pub(crate) async fn delete_file(
    context: &ToolContext<'_>,
    arguments: &str,
) -> Result<String, String> {
    let args: DeleteArgs = parse(arguments)?;
    let relative = writable(context, &args.path)?;
    let worktree = &context.workspace.worktree;
    let removed = worktree
        .remove_file(&relative)
        .await
        .map_err(|error| refused_change(error, "delete"))?;
    remove_empty_dirs_above(worktree, &removed).await;
    if lint_pending_after(&context.workspace.policy, std::slice::from_ref(&removed)) {
        context.lint_pending.store(true, Ordering::SeqCst);
    }
    let note = after_removing(context, std::slice::from_ref(&removed)).await;
    Ok(format!("Deleted `{removed}`.{note}"))
}

pub(crate) async fn move_file(
    context: &ToolContext<'_>,
    arguments: &str,
) -> Result<String, String> {
    let args: MoveArgs = parse(arguments)?;
    let from = writable(context, &args.from)?;
    let to = writable(context, &args.to)?;
    let worktree = &context.workspace.worktree;
    let (from, to) = worktree
        .rename_file(&from, &to)
        .await
        .map_err(|error| refused_change(error, "move"))?;
    remove_empty_dirs_above(worktree, &from).await;
    if lint_pending_after(&context.workspace.policy, std::slice::from_ref(&from)) {
        context.lint_pending.store(true, Ordering::SeqCst);
    }
    let note = after_removing(context, std::slice::from_ref(&from)).await;
    let report = after_writing(context, std::slice::from_ref(&to)).await;
    Ok(format!("Moved `{from}` to `{to}`.{note}\n{report}"))
}

/// Removes the directories that the removal of `relative` left empty, deepest first, up to
/// (not including) the root; through the worktree's directory handle, so nothing outside it
/// is touched whatever the tree holds by then.
async fn remove_empty_dirs_above(worktree: &Worktree, relative: &str) {
    let worktree = worktree.clone();
    let relative = relative.to_owned();
    let _ = tokio::task::spawn_blocking(move || {
        let mut dir = Path::new(&relative).parent();
        while let Some(current) = dir {
            if current.as_os_str().is_empty() || worktree.dir().remove_dir(current).is_err() {
                break;
            }
            dir = current.parent();
        }
    })
    .await;
}

/// A refused removal or move, with what to do instead.
fn refused_change(error: FileError, verb: &str) -> String {
    match error {
        FileError::NotRegular {
            kind: "a directory",
            ..
        } => format!("failed to {error}: {verb} files one at a time"),
        error => format!("failed to {error}"),
    }
}

/// Why one edit of a batch could not be applied.
#[derive(Debug)]
struct EditFailure {
    index: usize,
    kind: EditFailureKind,
}

#[derive(Debug)]
enum EditFailureKind {
    EmptyOld,
    NotFound { closest: Option<ClosestMatch> },
    Ambiguous { lines: Vec<usize> },
}

impl EditFailure {
    fn explain(&self, relative: &str) -> String {
        match &self.kind {
            EditFailureKind::EmptyOld => {
                "`old` is empty: give the exact text to replace".to_owned()
            }
            EditFailureKind::Ambiguous { lines } => {
                let shown: Vec<String> = lines.iter().take(10).map(ToString::to_string).collect();
                let more = if lines.len() > 10 { ", …" } else { "" };
                format!(
                    "`old` occurs {} times in `{relative}` (starting on lines {}{more}): include more surrounding lines to make it unique, or set `replace_all` to replace every one",
                    lines.len(),
                    shown.join(", ")
                )
            }
            EditFailureKind::NotFound { closest: None } => format!(
                "`old` was not found in `{relative}`: read the file again and copy the text exactly, including whitespace"
            ),
            EditFailureKind::NotFound {
                closest: Some(closest),
            } => {
                let hint = if closest.whitespace_only {
                    "it differs from `old` only in whitespace or indentation"
                } else {
                    "compare it with `old` character by character"
                };
                format!(
                    "`old` was not found in `{relative}`. The closest text is on lines {}-{} ({hint}):\n{}",
                    closest.first_line,
                    closest.last_line,
                    fence(
                        &format!(
                            "file {relative} lines {}-{}",
                            closest.first_line, closest.last_line
                        ),
                        &closest.text
                    )
                )
            }
        }
    }
}

/// Applies `edits` in order to `text`. A file whose every line ends with CRLF is edited with
/// plain newlines (as `read_file` shows it) and written back with CRLF.
fn apply_edits(text: &str, edits: &[Edit]) -> Result<String, EditFailure> {
    let crlf = text.contains("\r\n") && !text.replace("\r\n", "").contains('\n');
    let mut current = if crlf {
        text.replace("\r\n", "\n")
    } else {
        text.to_owned()
    };
    for (index, edit) in edits.iter().enumerate() {
        let fail = |kind| EditFailure { index, kind };
        let (old, new) = if crlf {
            (
                edit.old.replace("\r\n", "\n"),
                edit.new.replace("\r\n", "\n"),
            )
        } else {
            (edit.old.clone(), edit.new.clone())
        };
        if old.is_empty() {
            return Err(fail(EditFailureKind::EmptyOld));
        }
        let starts: Vec<usize> = current.match_indices(&old).map(|(at, _)| at).collect();
        match starts.len() {
            0 => {
                return Err(fail(EditFailureKind::NotFound {
                    closest: closest_match(&current, &old),
                }));
            }
            1 => current = current.replacen(&old, &new, 1),
            _ if edit.replace_all => current = current.replace(&old, &new),
            _ => {
                let lines = starts
                    .iter()
                    .map(|at| current[..*at].matches('\n').count() + 1)
                    .collect();
                return Err(fail(EditFailureKind::Ambiguous { lines }));
            }
        }
    }
    Ok(if crlf {
        current.replace('\n', "\r\n")
    } else {
        current
    })
}

/// The lines of a file most like some text that was not found in it.
#[derive(Debug)]
struct ClosestMatch {
    first_line: usize,
    last_line: usize,
    text: String,
    whitespace_only: bool,
}

/// Files larger than this get no closest-match search.
const CLOSEST_MATCH_FILE_LIMIT: usize = 1024 * 1024;
/// Lines of `old` compared at most.
const CLOSEST_MATCH_LINES: usize = 200;

/// The window of `text`'s lines most similar to `old` (by character-bigram overlap, line by
/// line), when it is similar enough to be worth showing.
fn closest_match(text: &str, old: &str) -> Option<ClosestMatch> {
    if text.len() > CLOSEST_MATCH_FILE_LIMIT {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let wanted: Vec<&str> = old.lines().take(CLOSEST_MATCH_LINES).collect();
    if wanted.is_empty() || lines.is_empty() {
        return None;
    }
    let span = wanted.len().min(lines.len());
    let line_grams: Vec<Vec<u32>> = lines.iter().map(|line| bigrams(line)).collect();
    let wanted_grams: Vec<Vec<u32>> = wanted.iter().map(|line| bigrams(line)).collect();
    let mut best: Option<(f64, usize)> = None;
    for start in 0..=lines.len() - span {
        let score: f64 = (0..span)
            .map(|offset| dice(&line_grams[start + offset], &wanted_grams[offset]))
            .sum::<f64>()
            / span as f64;
        if best.is_none_or(|(top, _)| score > top) {
            best = Some((score, start));
        }
    }
    let (score, start) = best?;
    let window = &lines[start..start + span];
    let squeeze = |lines: &[&str]| -> String {
        lines
            .iter()
            .flat_map(|line| line.split_whitespace())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let whitespace_only = squeeze(window) == squeeze(&wanted);
    if score < 0.5 && !whitespace_only {
        return None;
    }
    Some(ClosestMatch {
        first_line: start + 1,
        last_line: start + span,
        text: window.join("\n") + "\n",
        whitespace_only,
    })
}

/// The sorted character bigrams of a line, trimmed, as packed integers.
fn bigrams(line: &str) -> Vec<u32> {
    let chars: Vec<char> = line.trim().chars().collect();
    let mut grams: Vec<u32> = chars
        .windows(2)
        .map(|pair| (u32::from(pair[0]) << 16) ^ u32::from(pair[1]))
        .collect();
    grams.sort_unstable();
    grams
}

/// Sørensen–Dice similarity of two sorted bigram lists (1 for two empty lines).
fn dice(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    2.0 * shared as f64 / (a.len() + b.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(old: &str, new: &str) -> Edit {
        Edit {
            old: old.to_owned(),
            new: new.to_owned(),
            replace_all: false,
        }
    }

    #[test]
    fn edits_apply_in_order_and_keep_crlf() {
        let text = "fn a() {\r\n    1\r\n}\r\n\r\nfn b() {\r\n    1\r\n}\r\n";
        let edited = apply_edits(
            text,
            &[
                edit("fn a() {\n    1\n}", "fn a() {\n    2\n}"),
                edit("2", "3"),
            ],
        )
        .unwrap();
        assert_eq!(
            edited,
            "fn a() {\r\n    3\r\n}\r\n\r\nfn b() {\r\n    1\r\n}\r\n"
        );
        let all = apply_edits(
            text,
            &[Edit {
                old: "    1".to_owned(),
                new: "    0".to_owned(),
                replace_all: true,
            }],
        )
        .unwrap();
        assert_eq!(all.matches("    0\r\n").count(), 2);
        // A file with mixed line endings is matched as it is.
        let mixed = "a\r\nb\nc\n";
        assert_eq!(
            apply_edits(mixed, &[edit("b\nc", "x")]).unwrap(),
            "a\r\nx\n"
        );
    }

    #[test]
    fn a_failed_edit_names_which_and_where() {
        let text = "let total = 0;\nlet total = 0;\n";
        let failure = apply_edits(text, &[edit("x", "y"), edit("let total = 0;", "")]).unwrap_err();
        assert_eq!(failure.index, 0);
        let failure = apply_edits(text, &[edit("let total", "let sum")]).unwrap_err();
        assert!(
            matches!(&failure.kind, EditFailureKind::Ambiguous { lines } if lines == &[1, 2]),
            "{failure:?}"
        );
    }

    #[test]
    fn the_closest_match_is_found_and_whitespace_differences_said() {
        let text = "fn main() {\n    let cart = Cart::new();\n    cart.total()\n}\n";
        let closest = closest_match(text, "let cart = Cart::new();\ncart.total()").unwrap();
        assert_eq!((closest.first_line, closest.last_line), (2, 3));
        assert!(closest.whitespace_only);
        let closest = closest_match(text, "    let cart = Cart::empty();").unwrap();
        assert_eq!((closest.first_line, closest.last_line), (2, 2));
        assert!(!closest.whitespace_only);
        assert!(closest_match(text, "something else entirely").is_none());
    }
}
