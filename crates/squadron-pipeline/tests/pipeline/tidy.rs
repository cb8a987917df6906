//! The pipeline's source keeps its shape: every file says what it is for, and its modules
//! import each other in no cycle (shared context at the bottom, the runtime's loop on top),
//! so a change to one step never has to reason about the whole crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, by module path (`steps::merge`; a `mod.rs` is its
/// directory's module). `lib.rs` is the crate root and left out: it only lists modules.
fn modules() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("read src entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let module = module_path(&root, &path);
                if !module.is_empty() {
                    let text = std::fs::read_to_string(&path).expect("read source file");
                    files.insert(module, text);
                }
            }
        }
    }
    files
}

fn module_path(root: &Path, file: &Path) -> String {
    let relative: PathBuf = file.strip_prefix(root).expect("under src").to_path_buf();
    let mut parts: Vec<String> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts.join("::")
}

/// The identifier paths that follow `prefix` in `text` (`crate::steps::merge::x` gives
/// `["steps", "merge", "x"]`); a brace group yields one path per item.
fn paths_after(text: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let segments = identifiers(item.trim());
                if !segments.is_empty() {
                    found.push(segments);
                }
            }
        } else {
            found.push(identifiers(rest));
        }
    }
    found
}

fn identifiers(text: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut rest = text;
    loop {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        segments.push(rest[..end].to_owned());
        match rest[end..].strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    segments
}

/// The longest known module that `segments` (taken from `base`) names.
fn resolve(known: &BTreeSet<String>, base: &[String], segments: &[String]) -> Option<String> {
    (1..=segments.len()).rev().find_map(|len| {
        let mut path = base.to_vec();
        path.extend_from_slice(&segments[..len]);
        let candidate = path.join("::");
        known.contains(&candidate).then_some(candidate)
    })
}

/// Which modules each module imports.
fn imports(files: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let known: BTreeSet<String> = files.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, text) in files {
        let own: Vec<String> = module.split("::").map(str::to_owned).collect();
        let parent = &own[..own.len() - 1];
        let mut targets = BTreeSet::new();
        for segments in paths_after(text, "crate::") {
            targets.extend(resolve(&known, &[], &segments));
        }
        for segments in paths_after(text, "super::") {
            targets.extend(resolve(&known, parent, &segments));
        }
        // A directory module's re-exports name its children relatively.
        for line in text.lines() {
            let line = line.trim_start();
            let Some(used) = line
                .strip_prefix("pub(crate) use ")
                .or_else(|| line.strip_prefix("pub use "))
                .or_else(|| line.strip_prefix("use "))
            else {
                continue;
            };
            targets.extend(resolve(&known, &own, &identifiers(used)));
        }
        targets.remove(module);
        graph.insert(module.clone(), targets);
    }
    graph
}

/// A cycle in `graph`, as the modules along it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|entry| entry == node).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_owned(), Mark::Visiting);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, marks, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut marks, &mut Vec::new()))
}

#[test]
fn the_pipeline_modules_import_each_other_in_no_cycle() {
    let graph = imports(&modules());
    assert!(
        graph.contains_key("runtime") && graph["runtime"].contains("shared"),
        "the import graph was not read: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "the pipeline's modules import each other in a cycle: {}",
            cycle.join(" → ")
        );
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(node, edges)| {
        (
            node.to_owned(),
            edges.into_iter().map(str::to_owned).collect(),
        )
    })
    .collect();
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

#[test]
fn every_pipeline_file_says_what_it_is_for() {
    let missing: Vec<String> = modules()
        .into_iter()
        .filter(|(_, text)| !text.starts_with("//!"))
        .map(|(module, _)| module)
        .collect();
    assert!(
        missing.is_empty(),
        "these modules do not start with a `//!` line: {missing:?}"
    );
}
