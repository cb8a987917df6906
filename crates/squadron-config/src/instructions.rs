//! Project instructions: the repository's own guidance for agents (`AGENTS.md`, `CLAUDE.md`,
//! the `docs` of `.squadron.toml`, and the nested `AGENTS.md` closest to the files a squad
//! changes), read from a checkout of the base commit and cut to a size cap that says what was
//! left out.
//!
//! The checkout may hold anything an earlier squad merged, so only regular files are read
//! (never a symlink, FIFO or device, and never through a symlinked directory), each read is
//! bounded, and walks skip `.git` and dependency directories.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::repo_defaults::regular_file;

/// The instruction files read at the root and, nested, near changed files.
const INSTRUCTION_FILES: [&str; 2] = ["AGENTS.md", "CLAUDE.md"];
/// Extensions of the files a `docs` directory contributes.
const DOC_EXTENSIONS: [&str; 6] = ["md", "markdown", "txt", "rst", "adoc", "mdx"];
/// Directories never walked for nested instructions or doc files.
const SKIPPED_DIRS: [&str; 8] = [
    ".git",
    "node_modules",
    "target",
    "vendor",
    ".venv",
    "venv",
    "__pycache__",
    "dist",
];
/// Entries looked at when listing nested instruction files, so a huge tree costs little.
const WALK_LIMIT: usize = 20_000;
/// A document is cut rather than left out when at least this much room is left.
const MIN_CUT_BYTES: usize = 1024;

/// A document shown in the system prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstructionDocument {
    /// Its path from the repository root (`crates/shop/AGENTS.md`).
    pub path: String,
    /// What it says (its first part, when cut).
    pub text: String,
    /// The document's whole size, when only its first part is shown.
    pub cut_from: Option<u64>,
}

/// A document that did not fit under the cap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftOutDocument {
    /// Its path from the repository root.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// The repository's guidance for one agent's system prompt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProjectInstructions {
    /// Documents shown, most general first (root `AGENTS.md`, `CLAUDE.md`, nested
    /// `AGENTS.md`, then the other docs).
    pub documents: Vec<InstructionDocument>,
    /// Documents left out for size.
    pub left_out: Vec<LeftOutDocument>,
    /// Nested `AGENTS.md`/`CLAUDE.md` files not shown because no changed file is under them:
    /// the agent is told to read them before changing files there.
    pub elsewhere: Vec<String>,
    /// The cap, in bytes.
    pub cap_bytes: usize,
}

impl ProjectInstructions {
    /// Reads the guidance from `root` (a checkout of the base commit): the root's
    /// `AGENTS.md` and `CLAUDE.md`, the nested ones closest to each of `changed` (paths from
    /// the root), then `docs` (files or directories), all under `cap_bytes`.
    pub fn load(
        root: &Path,
        docs: &[PathBuf],
        changed: &[String],
        cap_bytes: usize,
    ) -> ProjectInstructions {
        RepositoryGuidance::read(root, docs, cap_bytes).instructions_for(changed)
    }
}

/// Nested instruction files remembered at most, so a tree full of them costs little.
const NESTED_LIMIT: usize = 200;
/// Files a `docs` directory contributes at most.
const LISTED_LIMIT: usize = 200;

/// Every document that may become guidance, read once from a checkout of the base commit
/// (each at most the cap, since no prompt shows more), so each agent's instructions can be
/// chosen later for the files it works on, without the checkout.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepositoryGuidance {
    /// The root's instruction files, in order.
    root_files: Vec<String>,
    /// Nested instruction files, sorted.
    nested: Vec<String>,
    /// The files the `docs` setting lists, in order (directories expanded).
    listed: Vec<String>,
    /// What each file holds: its first `cap_bytes` bytes and its whole size.
    contents: BTreeMap<String, (String, u64)>,
    cap_bytes: usize,
}

impl RepositoryGuidance {
    /// Reads the candidates from `root` (a checkout of the base commit): the root's
    /// `AGENTS.md` and `CLAUDE.md`, every nested one, and `docs` (files or directories).
    pub fn read(root: &Path, docs: &[PathBuf], cap_bytes: usize) -> RepositoryGuidance {
        let root_files: Vec<String> = INSTRUCTION_FILES
            .iter()
            .filter(|file| safe_regular_file(root, file))
            .map(|file| (*file).to_owned())
            .collect();
        let mut nested = nested_instruction_files(root);
        nested.truncate(NESTED_LIMIT);
        let mut listed: Vec<String> = Vec::new();
        for doc in docs {
            let relative = doc.to_string_lossy().trim_start_matches("./").to_owned();
            let files = if safe_regular_file(root, &relative) {
                vec![relative]
            } else if safe_dir(root, &relative) {
                doc_files(root, &relative)
            } else {
                Vec::new()
            };
            for file in files {
                let known = root_files.contains(&file) || nested.contains(&file);
                if !known && !listed.contains(&file) && listed.len() < LISTED_LIMIT {
                    listed.push(file);
                }
            }
        }
        let contents = root_files
            .iter()
            .chain(&nested)
            .chain(&listed)
            .filter_map(|path| read_bounded(root, path, cap_bytes).map(|read| (path.clone(), read)))
            .collect();
        RepositoryGuidance {
            root_files,
            nested,
            listed,
            contents,
            cap_bytes,
        }
    }

    /// The instructions for an agent working on `changed` (paths from the root): the root's
    /// instruction files, the nested ones closest to the changed files, then the listed docs,
    /// under the cap.
    pub fn instructions_for(&self, changed: &[String]) -> ProjectInstructions {
        let mut instruction_files = self.root_files.clone();
        let mut nearest: Vec<String> = changed
            .iter()
            .filter_map(|changed| self.closest_instructions(changed))
            .collect();
        nearest.sort();
        nearest.dedup();
        instruction_files.extend(nearest);

        let mut budget = Budget {
            room: self.cap_bytes,
            contents: &self.contents,
            instructions: ProjectInstructions {
                cap_bytes: self.cap_bytes,
                ..ProjectInstructions::default()
            },
        };
        // The instruction files come first and are cut when they must be: they are written
        // for agents. The other docs are shown whole while they fit, then cut into the room
        // left, so one long document does not crowd out several short ones.
        for path in &instruction_files {
            budget.take(path, true);
        }
        let deferred: Vec<&String> = self
            .listed
            .iter()
            .filter(|path| !budget.take(path, false))
            .collect();
        for path in deferred {
            budget.take(path, true);
        }
        let mut instructions = budget.instructions;
        let shown: Vec<&str> = instructions
            .documents
            .iter()
            .map(|doc| doc.path.as_str())
            .chain(instructions.left_out.iter().map(|doc| doc.path.as_str()))
            .collect();
        instructions.elsewhere = self
            .nested
            .iter()
            .filter(|path| !shown.contains(&path.as_str()))
            .cloned()
            .collect();
        // Documents in the order they were listed, whatever pass took them.
        let order: Vec<&String> = instruction_files.iter().chain(&self.listed).collect();
        instructions
            .documents
            .sort_by_key(|doc| order.iter().position(|path| **path == doc.path));
        instructions
    }

    /// The nested instruction file closest to `changed`, walking up from its directory to
    /// (not including) the root; `None` when only the root has one.
    fn closest_instructions(&self, changed: &str) -> Option<String> {
        let path = Path::new(changed);
        if !path
            .components()
            .all(|part| matches!(part, Component::Normal(_)))
        {
            return None;
        }
        let mut dir = path.parent();
        while let Some(current) = dir {
            if current.as_os_str().is_empty() {
                return None;
            }
            for file in INSTRUCTION_FILES {
                let candidate = format!("{}/{file}", current.to_string_lossy());
                if self.nested.contains(&candidate) {
                    return Some(candidate);
                }
            }
            dir = current.parent();
        }
        None
    }
}

/// The room left under the cap, and what was taken so far.
struct Budget<'a> {
    room: usize,
    contents: &'a BTreeMap<String, (String, u64)>,
    instructions: ProjectInstructions,
}

impl Budget<'_> {
    /// Takes `path` whole when it fits; otherwise, when `or_cut`, its first part (or notes
    /// it as left out when too little room is left). Returns whether it was dealt with.
    fn take(&mut self, path: &str, or_cut: bool) -> bool {
        let Some((text, bytes)) = self.contents.get(path) else {
            // Unreadable or not text: nothing to show, nothing to note.
            return true;
        };
        if text.len() as u64 == *bytes && text.len() <= self.room {
            self.room -= text.len();
            self.instructions.documents.push(InstructionDocument {
                path: path.to_owned(),
                text: text.clone(),
                cut_from: None,
            });
        } else if !or_cut {
            return false;
        } else if self.room >= MIN_CUT_BYTES {
            let text = cut_at_line(text, self.room);
            self.room -= text.len();
            self.instructions.documents.push(InstructionDocument {
                path: path.to_owned(),
                text,
                cut_from: Some(*bytes),
            });
        } else {
            self.instructions.left_out.push(LeftOutDocument {
                path: path.to_owned(),
                bytes: *bytes,
            });
        }
        true
    }
}

/// Every instruction file below the root (not at it), sorted, within the walk limit.
fn nested_instruction_files(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    walk(root, "", &mut 0, &mut |relative, name| {
        if INSTRUCTION_FILES.contains(&name) && relative.contains('/') {
            found.push(relative.to_owned());
        }
    });
    found.sort();
    found
}

/// The documentation files of a `docs` directory, sorted.
fn doc_files(root: &Path, dir: &str) -> Vec<String> {
    let mut found = Vec::new();
    walk(root, dir, &mut 0, &mut |relative, name| {
        let documentation = Path::new(name)
            .extension()
            .and_then(|ext| ext.to_str())
            .is_some_and(|ext| DOC_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()));
        if documentation {
            found.push(relative.to_owned());
        }
    });
    found.sort();
    found
}

/// Calls `visit(relative path, file name)` for every regular file under `dir`, never
/// following symlinks or entering skipped directories, and stopping after [`WALK_LIMIT`]
/// entries.
fn walk(root: &Path, dir: &str, seen: &mut usize, visit: &mut dyn FnMut(&str, &str)) {
    let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        *seen += 1;
        if *seen > WALK_LIMIT {
            return;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let relative = if dir.is_empty() {
            name.clone()
        } else {
            format!("{dir}/{name}")
        };
        // `file_type` does not follow symlinks.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && !SKIPPED_DIRS.contains(&name.as_str()) {
            walk(root, &relative, seen, visit);
        } else if kind.is_file() {
            visit(&relative, &name);
        }
    }
}

/// Whether every component of `relative` below `root` is a real directory and the last one a
/// regular file: nothing on the way is a symlink.
fn safe_regular_file(root: &Path, relative: &str) -> bool {
    safe_parents(root, relative) && regular_file(&root.join(relative))
}

fn safe_dir(root: &Path, relative: &str) -> bool {
    safe_parents(root, relative)
        && std::fs::symlink_metadata(root.join(relative)).is_ok_and(|meta| meta.is_dir())
}

fn safe_parents(root: &Path, relative: &str) -> bool {
    let path = Path::new(relative);
    let mut current = root.to_path_buf();
    let parts: Vec<_> = path.components().collect();
    if parts.is_empty()
        || !parts
            .iter()
            .all(|part| matches!(part, Component::Normal(_)))
    {
        return false;
    }
    for part in &parts[..parts.len() - 1] {
        current.push(part);
        let is_dir = std::fs::symlink_metadata(&current).is_ok_and(|meta| meta.is_dir());
        if !is_dir {
            return false;
        }
    }
    true
}

/// Reads at most `limit` bytes of `relative` (a regular file, checked again), returning the
/// text read and the file's whole size; `None` for an unreadable or non-text file.
fn read_bounded(root: &Path, relative: &str, limit: usize) -> Option<(String, u64)> {
    if !safe_regular_file(root, relative) {
        return None;
    }
    let file = File::open(root.join(relative)).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(limit as u64).read_to_end(&mut bytes).ok()?;
    if bytes.contains(&0) {
        return None;
    }
    // A cut may fall inside a character; keep the valid prefix.
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let valid = error.utf8_error().valid_up_to();
            let bytes = error.into_bytes();
            if (bytes.len() as u64) < meta.len() && bytes.len() - valid < 4 {
                String::from_utf8(bytes[..valid].to_vec()).ok()?
            } else {
                return None;
            }
        }
    };
    Some((text, meta.len()))
}

/// The longest prefix of `text` within `room` bytes that ends at a line end (or at a
/// character boundary when the first line alone is longer).
fn cut_at_line(text: &str, room: usize) -> String {
    let mut end = room.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let prefix = &text[..end];
    match prefix.rfind('\n') {
        Some(newline) if newline > 0 => prefix[..=newline].to_owned(),
        _ => prefix.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_fall_on_line_ends() {
        assert_eq!(cut_at_line("one\ntwo\nthree\n", 9), "one\ntwo\n");
        assert_eq!(cut_at_line("ééé", 3), "é");
    }
}
