//! The file tools: read, list, search, write and edit, all confined to the worktree.

use std::fmt::Write as _;
use std::path::Path;

use globset::{Glob, GlobMatcher};
use ignore::WalkBuilder;
use regex::RegexBuilder;
use serde::Deserialize;

use crate::confine::ConfinedPath;
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

fn read_text(path: &ConfinedPath) -> Result<String, String> {
    let bytes = std::fs::read(path.absolute())
        .map_err(|error| format!("failed to read `{}`: {error}", path.relative()))?;
    if bytes.iter().take(8192).any(|byte| *byte == 0) {
        return Err(format!(
            "`{}` is a binary file; only text files can be read",
            path.relative()
        ));
    }
    String::from_utf8(bytes).map_err(|_| {
        format!(
            "`{}` is not UTF-8 text; only text files can be read",
            path.relative()
        )
    })
}

pub(crate) fn read_file(context: &ToolContext<'_>, arguments: &str) -> Result<String, String> {
    let args: ReadArgs = parse(arguments)?;
    let path = resolve(context, &args.path)?;
    if path.absolute().is_dir() {
        return Err(format!(
            "`{}` is a directory: use list_files",
            path.relative()
        ));
    }
    let text = read_text(&path)?;
    let total = text.lines().count();
    let start = args.start_line.unwrap_or(1).max(1);
    let end = args.end_line.unwrap_or(total).min(total);
    if total > 0 && start > total {
        return Err(format!(
            "`{}` has {total} lines; start_line {start} is past the end",
            path.relative()
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
    let mut label = format!("file {} lines {start}-{last} of {total}", path.relative());
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

pub(crate) fn list_files(context: &ToolContext<'_>, arguments: &str) -> Result<String, String> {
    let args: ListArgs = parse(arguments)?;
    let dir = resolve(context, args.path.as_deref().unwrap_or("."))?;
    if !dir.absolute().is_dir() {
        return Err(format!(
            "`{}` is not a directory",
            args.path.unwrap_or_default()
        ));
    }
    let matcher = glob_matcher(args.glob.as_deref())?;
    let mut listed = String::new();
    let mut count = 0;
    let mut more = false;
    for (relative, _) in walk(context.workspace.worktree.root(), dir.absolute()) {
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
}

pub(crate) fn search_code(context: &ToolContext<'_>, arguments: &str) -> Result<String, String> {
    let args: SearchArgs = parse(arguments)?;
    let regex = RegexBuilder::new(&args.pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|error| format!("invalid regular expression: {error}"))?;
    let dir = resolve(context, args.path.as_deref().unwrap_or("."))?;
    let matcher = glob_matcher(args.glob.as_deref())?;
    let mut found = String::new();
    let mut count = 0;
    'files: for (relative, absolute) in walk(context.workspace.worktree.root(), dir.absolute()) {
        if matcher
            .as_ref()
            .is_some_and(|matcher| !matcher.is_match(&relative))
        {
            continue;
        }
        if absolute
            .metadata()
            .map_or(true, |meta| meta.len() > SEARCH_FILE_LIMIT)
        {
            continue;
        }
        let Ok(bytes) = std::fs::read(&absolute) else {
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
}

/// Checks the agent may write `path`, writes `content`, records QA's files, and runs the
/// guardrails.
async fn write_checked(
    context: &ToolContext<'_>,
    path: &ConfinedPath,
    content: &str,
    verb: &str,
) -> Result<String, String> {
    let workspace = context.workspace;
    check_write(
        context.role,
        context.write_scope,
        path.relative(),
        &workspace.policy.test_globs,
        &workspace.qa_files,
    )
    .map_err(|refusal| format!("refused: failed to {refusal}"))?;
    if let Some(parent) = path.absolute().parent() {
        std::fs::create_dir_all(parent).map_err(|error| {
            format!(
                "failed to create the directory of `{}`: {error}",
                path.relative()
            )
        })?;
    }
    std::fs::write(path.absolute(), content)
        .map_err(|error| format!("failed to write `{}`: {error}", path.relative()))?;
    if context.role == squadron_core::Role::Qa {
        workspace.qa_files.insert(path.relative());
    }
    let report = after_write(workspace, path.relative()).await;
    Ok(format!(
        "{verb} `{}` ({} bytes).\n{report}",
        path.relative(),
        content.len()
    ))
}

pub(crate) async fn write_file(
    context: &ToolContext<'_>,
    arguments: &str,
) -> Result<String, String> {
    let args: WriteArgs = parse(arguments)?;
    let path = resolve(context, &args.path)?;
    if path.absolute().is_dir() {
        return Err(format!("`{}` is a directory", path.relative()));
    }
    write_checked(context, &path, &args.content, "Wrote").await
}

pub(crate) async fn edit_file(
    context: &ToolContext<'_>,
    arguments: &str,
) -> Result<String, String> {
    let args: EditArgs = parse(arguments)?;
    let path = resolve(context, &args.path)?;
    if args.old.is_empty() {
        return Err("`old` is empty: give the exact text to replace".to_owned());
    }
    // Check permission before revealing anything about the file's contents.
    check_write(
        context.role,
        context.write_scope,
        path.relative(),
        &context.workspace.policy.test_globs,
        &context.workspace.qa_files,
    )
    .map_err(|refusal| format!("refused: failed to {refusal}"))?;
    if !path.absolute().is_file() {
        return Err(format!(
            "`{}` does not exist: use write_file to create it",
            path.relative()
        ));
    }
    let text = read_text(&path)?;
    match text.matches(&args.old).count() {
        1 => {
            let edited = text.replacen(&args.old, &args.new, 1);
            write_checked(context, &path, &edited, "Edited").await
        }
        0 => Err(format!(
            "`old` was not found in `{}` (0 matches): read the file again and copy the text exactly, including whitespace",
            path.relative()
        )),
        many => Err(format!(
            "`old` occurs {many} times in `{}`: it must occur exactly once; include more surrounding lines to make it unique",
            path.relative()
        )),
    }
}
