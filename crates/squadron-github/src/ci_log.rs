//! Making a CI job's log fit a prompt: ANSI escapes, GitHub's per-line timestamps and its
//! workflow commands (`##[group]`, `##[error]`) turned into plain text, then the lines
//! around the first errors and the last lines kept, within a byte cap.
//!
//! Logs run to megabytes of setup chatter; what a developer reads first is the first error
//! and the end. The text stays the CI's (and so possibly the agents' code's) words: callers
//! fence it as untrusted data.

/// The default cap on an excerpt, in bytes (about three thousand tokens).
pub(crate) const EXCERPT_LIMIT: usize = 12 * 1024;

/// Lines kept before the first line of an error, and after it.
const BEFORE: usize = 8;
const AFTER: usize = 30;
/// Separate error sites shown at most, and the log's last lines always shown.
const ERROR_SITES: usize = 3;
const TAIL: usize = 30;
/// Lines shown from the start when no line looks like an error.
const HEAD: usize = 10;
/// One line is cut after this many characters.
const LINE_LIMIT: usize = 400;

/// The excerpt of `raw` (a whole log, or its downloaded head and tail) within `limit` bytes.
pub(crate) fn excerpt(raw: &str, limit: usize) -> String {
    let lines: Vec<String> = raw.lines().filter_map(clean_line).collect();
    if lines.is_empty() {
        return String::new();
    }
    let windows = windows(&lines);
    let mut shown: Vec<Section> = Vec::new();
    let mut next = 0;
    for (start, end) in windows {
        if start > next {
            shown.push(Section::Omitted(start - next));
        }
        shown.push(Section::Lines(&lines[start..end]));
        next = end;
    }
    if next < lines.len() {
        shown.push(Section::Omitted(lines.len() - next));
    }
    render(&shown, lines.len(), limit)
}

enum Section<'a> {
    Lines(&'a [String]),
    Omitted(usize),
}

/// The line ranges to show: around the first error sites, and the tail; merged where they
/// touch.
fn windows(lines: &[String]) -> Vec<(usize, usize)> {
    let count = lines.len();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let mut sites = 0;
    for (index, line) in lines.iter().enumerate() {
        if sites == ERROR_SITES {
            break;
        }
        if ranges.last().is_some_and(|&(_, end)| index < end) || !is_error_line(line) {
            continue;
        }
        ranges.push((index.saturating_sub(BEFORE), (index + AFTER).min(count)));
        sites += 1;
    }
    if ranges.is_empty() {
        ranges.push((0, HEAD.min(count)));
    }
    ranges.push((count.saturating_sub(TAIL), count));
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Writes the sections, keeping within `limit`: the tail gets up to a third of it, the
/// sections before it the rest, in order; what does not fit is said to be omitted.
fn render(sections: &[Section<'_>], total_lines: usize, limit: usize) -> String {
    let omitted_any = sections.iter().any(|s| matches!(s, Section::Omitted(_)));
    let header = if omitted_any {
        format!("[excerpt of a {total_lines}-line log: the first errors and the end]\n")
    } else {
        String::new()
    };
    let tail_index = sections
        .iter()
        .rposition(|s| matches!(s, Section::Lines(_)))
        .unwrap_or(0);
    let body_limit = limit.saturating_sub(header.len() + 64);
    let tail_budget = body_limit / 3;
    let mut out = header;
    let mut used = 0;
    for (index, section) in sections.iter().enumerate() {
        match section {
            Section::Omitted(count) => {
                let marker = format!("[… {count} lines omitted …]\n");
                used += marker.len();
                out.push_str(&marker);
            }
            Section::Lines(lines) if index == tail_index => {
                let budget = body_limit
                    .saturating_sub(used)
                    .max(tail_budget.min(body_limit));
                let kept = keep_last(lines, budget);
                if kept < lines.len() {
                    out.push_str(&format!("[… {} lines omitted …]\n", lines.len() - kept));
                }
                for line in &lines[lines.len() - kept..] {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            Section::Lines(lines) => {
                let budget = body_limit.saturating_sub(tail_budget).saturating_sub(used);
                let kept = keep_first(lines, budget);
                for line in &lines[..kept] {
                    used += line.len() + 1;
                    out.push_str(line);
                    out.push('\n');
                }
                if kept < lines.len() {
                    let marker = format!("[… {} lines omitted …]\n", lines.len() - kept);
                    used += marker.len();
                    out.push_str(&marker);
                }
            }
        }
    }
    truncate_at_char(&mut out, limit);
    out
}

fn keep_first(lines: &[String], budget: usize) -> usize {
    let mut used = 0;
    lines
        .iter()
        .take_while(|line| {
            used += line.len() + 1;
            used <= budget
        })
        .count()
}

fn keep_last(lines: &[String], budget: usize) -> usize {
    let mut used = 0;
    lines
        .iter()
        .rev()
        .take_while(|line| {
            used += line.len() + 1;
            used <= budget
        })
        .count()
}

fn truncate_at_char(text: &mut String, limit: usize) {
    if text.len() > limit {
        let mut cut = limit;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
}

/// One log line as plain text, or `None` for lines that carry nothing (`##[endgroup]`,
/// debug output).
pub(crate) fn clean_line(line: &str) -> Option<String> {
    let line = strip_ansi(line);
    // A progress bar redraws its line with carriage returns; what shows is the last draw.
    let line = line.trim_end_matches('\r');
    let line = line.rsplit('\r').next().unwrap_or(line);
    let line = strip_timestamp(line);
    let line = match line.strip_prefix("##[") {
        Some(command) => {
            let (name, rest) = command.split_once(']')?;
            match name {
                "endgroup" | "debug" => return None,
                "error" => format!("Error: {rest}"),
                "warning" => format!("Warning: {rest}"),
                "notice" => format!("Notice: {rest}"),
                _ => rest.to_owned(),
            }
        }
        None => line.to_owned(),
    };
    Some(cut_line(line))
}

fn cut_line(line: String) -> String {
    match line.char_indices().nth(LINE_LIMIT) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

/// GitHub Actions stamps every line: `2026-01-01T00:00:05.1234567Z `.
fn strip_timestamp(line: &str) -> &str {
    let bytes = line.as_bytes();
    let looks_stamped = bytes.len() > 20
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T';
    if !looks_stamped {
        return line;
    }
    // The stamp is ASCII and at most 35 bytes long; a line that is only a stamp has its
    // trailing space and nothing after it.
    match bytes.windows(2).take(40).position(|pair| pair == b"Z ") {
        Some(at) => &line[at + 2..],
        None => line,
    }
}

/// `text` without ANSI escape sequences (CSI colours and cursor moves, OSC titles and
/// links, two-byte escapes) and without other control characters but tabs and carriage
/// returns.
pub(crate) fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                            chars.next();
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\u{9b}' => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            '\t' | '\r' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Whether a line looks like where a failure is reported, across the usual tools (compilers,
/// test runners, Python tracebacks, GitHub's own `##[error]`).
fn is_error_line(line: &str) -> bool {
    let trimmed = line.trim_start();
    let lower = trimmed.to_ascii_lowercase();
    lower.starts_with("error")
        || lower.starts_with("fail")
        || lower.starts_with("traceback")
        || lower.starts_with("npm err!")
        || line.starts_with("E   ")
        || lower.contains("panicked at")
        || lower.contains("assertionerror")
        || lower.contains("assertion failed")
        || (lower.contains(" failed") && !lower.contains(" 0 failed"))
        || trimmed.starts_with('✗')
        || trimmed.starts_with('✕')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_escapes_of_every_kind_are_removed() {
        assert_eq!(
            strip_ansi(
                "\u{1b}[31;1mFAIL\u{1b}[0m \u{1b}]8;;http://x\u{7}link\u{1b}]8;;\u{1b}\\ ok\u{1b}M\u{9b}2K!"
            ),
            "FAIL link ok!"
        );
    }

    #[test]
    fn github_stamps_and_workflow_commands_become_plain_text() {
        assert_eq!(
            clean_line("2026-01-01T00:00:05.1234567Z ##[error]Process completed with exit code 1."),
            Some("Error: Process completed with exit code 1.".to_owned())
        );
        assert_eq!(
            clean_line("2026-01-01T00:00:05.1234567Z ##[group]Run make test"),
            Some("Run make test".to_owned())
        );
        assert_eq!(
            clean_line("2026-01-01T00:00:05.1234567Z ##[endgroup]"),
            None
        );
        assert_eq!(
            clean_line("Downloading 10%\rDownloading 50%\rDownloading 100%\r"),
            Some("Downloading 100%".to_owned())
        );
        assert_eq!(
            clean_line("2026 was a year"),
            Some("2026 was a year".to_owned())
        );
        assert_eq!(
            clean_line("2026-01-01T00:00:05.1234567Z "),
            Some(String::new())
        );
    }

    #[test]
    fn a_short_log_is_kept_whole() {
        let log = "Run make test\nok 1\nok 2\n";
        assert_eq!(excerpt(log, EXCERPT_LIMIT), log);
    }

    #[test]
    fn the_first_error_and_the_end_survive_a_long_log() {
        let mut log = String::new();
        for index in 0..2000 {
            log.push_str(&format!(
                "2026-01-01T00:00:05.0000000Z remote: Counting objects: {index}\n"
            ));
        }
        log.push_str("2026-01-01T00:00:06.0000000Z \u{1b}[31mFAIL: test_total (tests.test_cart.CartTest)\u{1b}[0m\n");
        log.push_str("2026-01-01T00:00:06.0000000Z AssertionError: 7 != 6\n");
        for index in 0..500 {
            log.push_str(&format!("2026-01-01T00:00:06.0000000Z teardown {index}\n"));
        }
        log.push_str("2026-01-01T00:00:07.0000000Z ##[error]Process completed with exit code 1.\n");
        let text = excerpt(&log, EXCERPT_LIMIT);
        assert!(text.len() <= EXCERPT_LIMIT);
        assert!(text.contains("FAIL: test_total"), "{text}");
        assert!(text.contains("AssertionError: 7 != 6"));
        assert!(text.contains("Error: Process completed with exit code 1."));
        assert!(!text.contains('\u{1b}'));
        assert!(text.contains("lines omitted"));
        assert!(
            !text.contains("Counting objects: 10\n"),
            "setup noise dropped"
        );
    }

    #[test]
    fn a_huge_error_site_is_cut_to_the_cap_keeping_the_tail() {
        let mut log = String::from("error: the first of many\n");
        for index in 0..5000 {
            log.push_str(&format!("error: cascade {index} {}\n", "x".repeat(300)));
        }
        log.push_str("the very last line\n");
        let text = excerpt(&log, 4096);
        assert!(text.len() <= 4096, "{}", text.len());
        assert!(text.contains("error: the first of many"));
        assert!(text.ends_with("the very last line\n"), "{text}");
    }

    #[test]
    fn a_log_of_one_giant_line_is_cut() {
        let text = excerpt(&"y".repeat(1_000_000), EXCERPT_LIMIT);
        assert!(text.len() < LINE_LIMIT + 8);
    }

    #[test]
    fn a_passing_summary_is_not_an_error() {
        assert!(!is_error_line("== 12 passed, 0 failed in 0.3s =="));
        assert!(is_error_line("test result: FAILED. 3 passed; 1 failed"));
        assert!(is_error_line("E       AssertionError: assert 7 == 6"));
        assert!(is_error_line("error[E0308]: mismatched types"));
        assert!(is_error_line("thread 'main' panicked at src/lib.rs:3:5:"));
    }

    #[test]
    fn a_typical_actions_log_reads_as_a_developer_would_want_it() {
        let mut log = String::new();
        let stamp = "2026-01-01T00:00:05.0000000Z";
        for line in [
            "Requested labels: ubuntu-latest",
            "##[group]Run actions/checkout@v4",
            "with:",
            "  repository: acme/shop",
            "##[endgroup]",
        ] {
            log.push_str(&format!("{stamp} {line}\n"));
        }
        for percent in 0..=100 {
            log.push_str(&format!(
                "{stamp} remote: Counting objects: {percent}% ({percent}/100)\n"
            ));
        }
        for line in [
            "##[group]Run python -m pytest",
            "\u{1b}[36;1mpython -m pytest\u{1b}[0m",
            "##[endgroup]",
            "============================= test session starts ==============================",
            "collected 3 items",
            "",
            "tests/test_cart.py \u{1b}[32m.\u{1b}[0m\u{1b}[31mF\u{1b}[0m\u{1b}[32m.\u{1b}[0m",
            "",
            "=================================== FAILURES ===================================",
            "__________________________________ test_total __________________________________",
            "",
            "    def test_total():",
            ">       assert total([1, 2, 3]) == 6",
            "E       assert 7 == 6",
            "E        +  where 7 = total([1, 2, 3])",
            "",
            "tests/test_cart.py:5: AssertionError",
            "=========================== short test summary info ============================",
            "FAILED tests/test_cart.py::test_total - assert 7 == 6",
            "========================= 1 failed, 2 passed in 0.04s ==========================",
            "##[error]Process completed with exit code 1.",
            "Post job cleanup.",
            "Cleaning up orphan processes",
        ] {
            log.push_str(&format!("{stamp} {line}\n"));
        }
        insta::assert_snapshot!(excerpt(&log, EXCERPT_LIMIT));
    }
}
