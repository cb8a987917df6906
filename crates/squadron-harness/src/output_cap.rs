//! Bounded tool output: every tool result the model sees is capped, keeping its head *and*
//! its tail (a test log's failure summary is at its end), with a marker saying what was cut
//! and where the whole output is kept.

use std::fmt::Write as _;

/// How much of one tool result the model is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimits {
    /// Bytes shown at most (head and tail together).
    pub max_bytes: usize,
    /// Lines shown at most (head and tail together).
    pub max_lines: usize,
}

impl Default for OutputLimits {
    /// 16 KiB and 400 lines: about 4k tokens, enough for a failing test's summary and its
    /// first errors, small enough that a few results never crowd out the task.
    fn default() -> Self {
        Self {
            max_bytes: 16 * 1024,
            max_lines: 400,
        }
    }
}

/// Whether `text` is within `limits` and can be shown whole.
pub fn fits(text: &str, limits: OutputLimits) -> bool {
    text.len() <= limits.max_bytes && text.lines().count() <= limits.max_lines
}

/// `text` cut to `limits`: its first and last lines (half the budget each) around a marker
/// naming the lines cut and `whole_at`, where the whole text can be read (`None` when it could
/// not be kept). Returns `text` unchanged when it fits.
pub fn cap(text: &str, limits: OutputLimits, whole_at: Option<&str>) -> String {
    if fits(text, limits) {
        return text.to_owned();
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let total_lines = lines.len();
    let half_lines = (limits.max_lines / 2).max(1);
    // The marker takes some of the byte budget; the rest is shared by head and tail.
    let half_bytes = limits.max_bytes.saturating_sub(400) / 2;

    let mut head = String::new();
    let mut head_lines = 0;
    for line in &lines {
        if head_lines == half_lines || head.len() + line.len() > half_bytes {
            break;
        }
        head.push_str(line);
        head_lines += 1;
    }
    if head_lines == 0 {
        // One enormous first line: keep its start.
        head.push_str(prefix_within(lines[0], half_bytes));
        head.push('\n');
    }
    let mut tail: Vec<&str> = Vec::new();
    let mut tail_bytes = 0;
    for line in lines.iter().skip(head_lines.max(1)).rev() {
        if tail.len() == half_lines || tail_bytes + line.len() > half_bytes {
            break;
        }
        tail_bytes += line.len();
        tail.push(line);
    }
    tail.reverse();
    let first_cut = head_lines.max(1) + 1;
    let last_cut = total_lines - tail.len();
    let mut out = head;
    if !out.ends_with('\n') {
        out.push('\n');
    }
    let _ = write!(
        out,
        "[… cut: lines {first_cut}-{last_cut} of {total_lines} ({} bytes in all) are not shown",
        text.len()
    );
    match whole_at {
        Some(path) => {
            let _ = writeln!(
                out,
                "; the whole output is in `{path}`: read it with read_file, e.g. {{\"path\": \"{path}\", \"offset\": {first_cut}, \"limit\": 200}} …]"
            );
        }
        None => out.push_str(" …]\n"),
    }
    for line in tail {
        out.push_str(line);
    }
    out
}

/// The longest prefix of `text` within `bytes` that ends on a character boundary.
fn prefix_within(text: &str, bytes: usize) -> &str {
    let mut end = bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_output_is_left_alone() {
        assert_eq!(
            cap("a\nb\n", OutputLimits::default(), Some("scratch:x-1.txt")),
            "a\nb\n"
        );
    }

    #[test]
    fn long_output_keeps_head_and_tail_within_the_limits() {
        let log: String = (1..=10_000).map(|n| format!("line {n}\n")).collect();
        let limits = OutputLimits::default();
        let capped = cap(&log, limits, Some("scratch:developer-1.txt"));
        assert!(capped.len() <= limits.max_bytes, "{}", capped.len());
        assert!(capped.lines().count() <= limits.max_lines + 1);
        assert!(capped.starts_with("line 1\n"));
        assert!(capped.ends_with("line 10000\n"));
        assert!(capped.contains("lines 201-9800 of 10000"), "{capped}");
        assert!(capped.contains("scratch:developer-1.txt"));
    }

    #[test]
    fn one_enormous_line_is_cut_on_a_character_boundary() {
        let line = "é".repeat(50_000);
        let capped = cap(&line, OutputLimits::default(), None);
        assert!(capped.len() <= OutputLimits::default().max_bytes);
        assert!(capped.starts_with('é'));
    }
}
