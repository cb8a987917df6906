//! The files an issue says it will touch: the paths named in its "Files" and "Approach"
//! sections, so admission can keep squads that would edit the same files from running at once.
//!
//! A section is a Markdown heading (`## Files`, `### Approach`) or a label line (`Files:`,
//! `**Approach:**`, `**Files to change**`) whose words include `file`, `files`, `approach` or
//! `implementation`; it runs until the next heading or label line. Anything else in the
//! description (the why, the scenarios) names no files: a path mentioned in passing is not a
//! promise to edit it.
//!
//! People write one path many ways, so every path is brought to one form: backticks, link
//! syntax and trailing punctuation go, `./` and `/` in front go, `\` becomes `/`, `.` and `..`
//! components resolve, a line suffix (`:12`, `#L12-L20`) and a trailing glob (`src/cart/**`)
//! go. In prose a word counts as a path only when it looks like one without doubt (an
//! extension of two characters or more, a trailing `/`, or two `/`); in backticks a `/` or an
//! extension is enough.

use std::collections::BTreeSet;

/// The paths the description's "Files" and "Approach" sections name, each in its one form,
/// sorted and without repeats. Empty when it has no such section.
pub fn named_files(description: &str) -> Vec<String> {
    let mut found = BTreeSet::new();
    let mut in_section = false;
    let mut fence: Option<&str> = None;
    for line in description.lines() {
        let trimmed = line.trim();
        if let Some(marker) = fence {
            if trimmed.starts_with(marker) {
                fence = None;
            } else if in_section {
                collect(trimmed, &mut found);
            }
            continue;
        }
        if let Some(marker) = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m)) {
            fence = Some(marker);
            continue;
        }
        if let Some(title) = heading(trimmed) {
            in_section = is_files_section(title);
            continue;
        }
        if let Some(label) = label(trimmed) {
            let opens = is_files_section(label.text);
            // `First: edit src/api.rs` inside a section is content, not a new section.
            if opens || label.bold || label.rest.trim().is_empty() {
                in_section = opens;
                if opens {
                    collect(label.rest, &mut found);
                }
                continue;
            }
        }
        if in_section {
            collect(trimmed, &mut found);
        }
    }
    found.into_iter().collect()
}

/// The paths both lists name: equal ones, and where one names a directory (or a file name
/// alone) the more precise path of the other. Sorted, without repeats.
pub fn shared_files(a: &[String], b: &[String]) -> Vec<String> {
    let mut shared = BTreeSet::new();
    for left in a {
        for right in b {
            if let Some(path) = overlap(left, right) {
                shared.insert(path.to_owned());
            }
        }
    }
    shared.into_iter().collect()
}

/// The more precise of two paths when they name the same file or one lies under the other;
/// a file name alone (`cart.rs`) stands for that name in any directory.
fn overlap<'a>(a: &'a str, b: &'a str) -> Option<&'a str> {
    let under = |outer: &str, inner: &str| {
        inner.len() > outer.len()
            && inner.starts_with(outer)
            && inner.as_bytes()[outer.len()] == b'/'
    };
    let named =
        |name: &str, path: &str| !name.contains('/') && path.rsplit('/').next() == Some(name);
    if a == b {
        Some(a)
    } else if under(a, b) || named(a, b) {
        Some(b)
    } else if under(b, a) || named(b, a) {
        Some(a)
    } else {
        None
    }
}

/// The text of a Markdown heading line (`## Files` gives `Files`).
fn heading(line: &str) -> Option<&str> {
    let level = line.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &line[level..];
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    Some(rest.trim().trim_end_matches('#').trim())
}

/// A label line: its text, the rest of the line, and whether it is bold.
struct Label<'a> {
    text: &'a str,
    rest: &'a str,
    bold: bool,
}

/// A label line: `Files:`, `Files: a.rs, b.rs`, `**Approach:**`, `**Files**: …` or a line
/// that starts with one bold phrase (`**Files to change**`).
fn label(line: &str) -> Option<Label<'_>> {
    for strong in ["**", "__"] {
        if let Some(inner) = line.strip_prefix(strong) {
            let (text, rest) = inner.split_once(strong)?;
            let text = text.trim().trim_end_matches(':').trim();
            let rest = rest.trim_start();
            let rest = rest.strip_prefix(':').unwrap_or(rest);
            return short_label(text).then_some(Label {
                text,
                rest,
                bold: true,
            });
        }
    }
    let (text, rest) = line.split_once(':')?;
    // `Files: a.rs` labels; `- note: …` and `https://…` do not.
    let plain = text
        .chars()
        .all(|c| c.is_alphanumeric() || c == ' ' || c == '-');
    (plain && short_label(text) && !rest.starts_with("//")).then_some(Label {
        text: text.trim(),
        rest,
        bold: false,
    })
}

/// At most four words, starting with a letter: a label, not a sentence.
fn short_label(label: &str) -> bool {
    label.chars().next().is_some_and(char::is_alphabetic) && label.split_whitespace().count() <= 4
}

/// Whether a heading or label opens a section that names files.
fn is_files_section(title: &str) -> bool {
    title
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .any(|word| {
            matches!(
                word.as_str(),
                "file" | "files" | "approach" | "implementation"
            )
        })
}

/// Adds the paths one line of a section names.
fn collect(line: &str, found: &mut BTreeSet<String>) {
    let mut prose = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        prose.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('`') else {
            prose.push_str(after);
            rest = "";
            break;
        };
        if let Some(path) = normalise(after[..end].trim(), Strictness::Quoted) {
            found.insert(path);
        }
        prose.push(' ');
        rest = &after[end + 1..];
    }
    prose.push_str(rest);
    let words = prose
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '|'))
        // `[src/cart.rs](https://…)`: the link's text and target apart.
        .flat_map(|word| word.split("]("));
    for word in words {
        if let Some(path) = normalise(word, Strictness::Prose) {
            found.insert(path);
        }
    }
}

/// How sure a word must look of being a path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Strictness {
    /// In backticks: a `/` or an extension will do.
    Quoted,
    /// In running text: an extension of two characters or more, a trailing `/`, or two `/`.
    Prose,
}

/// The one form of `word` when it is a path.
fn normalise(word: &str, strictness: Strictness) -> Option<String> {
    let word = word
        .trim_start_matches(['(', '[', '<', '"', '\'', '*'])
        .trim_end_matches([')', ']', '>', '"', '\'', '*', ',', '.', ';', ':', '!', '?']);
    if word.is_empty() || word.contains("://") || word.contains('@') {
        return None;
    }
    let word = word.replace('\\', "/");
    let word = strip_line_suffix(&word);
    let trailing_slash = word.ends_with('/');
    let mut components: Vec<&str> = Vec::new();
    let mut glob = false;
    for component in word.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                components.pop()?;
            }
            _ if component.contains(['*', '?', '{', '[']) => {
                // A glob names files under what comes before it.
                glob = true;
                break;
            }
            _ => components.push(component),
        }
    }
    let last = *components.last()?;
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '+');
    if !components.iter().all(|c| c.chars().all(allowed)) {
        return None;
    }
    let slashes = word.trim_matches('/').matches('/').count();
    let path_like = match strictness {
        Strictness::Quoted => slashes > 0 || glob || trailing_slash || has_extension(last, 1),
        Strictness::Prose => slashes > 1 || glob || trailing_slash || has_extension(last, 2),
    };
    path_like.then(|| components.join("/"))
}

/// `src/cart.rs:12`, `src/cart.rs:12:5` and `src/cart.rs#L12-L20` name `src/cart.rs`.
fn strip_line_suffix(word: &str) -> &str {
    let mut word = word;
    if let Some((path, anchor)) = word.rsplit_once("#L")
        && anchor
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | 'L' | 'C'))
    {
        word = path;
    }
    while let Some((path, line)) = word.rsplit_once(':') {
        if line.is_empty() || !line.chars().all(|c| c.is_ascii_digit()) {
            break;
        }
        word = path;
    }
    word
}

/// Whether a file name ends in an extension of at least `min` characters holding a letter
/// (`cart.rs`, `.gitignore`; not `12.50` or `v1.2`).
fn has_extension(name: &str, min: usize) -> bool {
    let Some((_, extension)) = name.rsplit_once('.') else {
        return false;
    };
    extension.len() >= min
        && extension.len() <= 10
        && extension.chars().all(|c| c.is_ascii_alphanumeric())
        && extension.chars().any(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(description: &str) -> Vec<String> {
        named_files(description)
    }

    #[test]
    fn reads_the_files_and_approach_sections_only() {
        let description = "\
People want totals. Touches `ledger/ignored.py` in passing.

## Files
- `ledger/totals.py`
- tests/test_totals.py (new)

## Approach
Reuse `format_cents` from ledger/money.py, e.g. as in the summary.

## Acceptance criteria
Mentions ledger/other.py, which is not a promise.
";
        assert_eq!(
            files(description),
            [
                "ledger/money.py",
                "ledger/totals.py",
                "tests/test_totals.py"
            ]
        );
    }

    #[test]
    fn reads_label_lines_bold_or_plain_and_stops_at_the_next_label() {
        let description = "\
**Files to change:**
* src/cart.rs
**Testing:**
* src/not_this.rs
Files: src/lib.rs, `Cargo.toml`
First: edit src/api.rs
Testing:
src/neither.rs
";
        assert_eq!(
            files(description),
            ["Cargo.toml", "src/api.rs", "src/cart.rs", "src/lib.rs"]
        );
    }

    #[test]
    fn one_path_written_many_ways_has_one_form() {
        let description = "\
### Files
- `./src/cart.rs`
- /src/cart.rs:42
- [src/cart.rs](https://github.com/acme/shop/blob/main/src/cart.rs)
- src\\cart.rs
- src/./lib/../cart.rs#L10-L20
- (src/cart.rs).
- src/payments/**
- `src/checkout/`
";
        assert_eq!(
            files(description),
            ["src/cart.rs", "src/checkout", "src/payments"]
        );
    }

    #[test]
    fn prose_needs_a_clear_path_and_backticks_a_plausible_one() {
        let description = "\
## Approach
Use and/or, i.e. 12.50 cents and v1.2, call `parse_amount` and `split(x)`;
see crates/core/src and `main.c` and `bin/run`.
";
        assert_eq!(files(description), ["bin/run", "crates/core/src", "main.c"]);
    }

    #[test]
    fn code_blocks_in_a_section_count_and_headings_in_code_do_not() {
        let description = "\
## Files
```
src/a.rs
# not a heading
src/b.rs
```
## Why
src/c.rs
";
        assert_eq!(files(description), ["src/a.rs", "src/b.rs"]);
    }

    #[test]
    fn no_section_names_no_files() {
        assert!(files("Add `ledger/money.py` with parse_amount.").is_empty());
    }

    #[test]
    fn shared_files_match_equal_paths_directories_and_bare_names() {
        let list = |paths: &[&str]| paths.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            shared_files(&list(&["src/cart.rs"]), &list(&["src/cart.rs", "src/x.rs"])),
            ["src/cart.rs"]
        );
        assert_eq!(
            shared_files(&list(&["src/payments"]), &list(&["src/payments/card.rs"])),
            ["src/payments/card.rs"]
        );
        assert_eq!(
            shared_files(&list(&["cart.rs"]), &list(&["src/cart.rs"])),
            ["src/cart.rs"]
        );
        assert!(shared_files(&list(&["src/cart"]), &list(&["src/cart.rs"])).is_empty());
        assert!(shared_files(&list(&["src/a.rs"]), &list(&["lib/a.rs"])).is_empty());
    }
}
