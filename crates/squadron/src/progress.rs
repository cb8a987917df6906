//! The live progress view of `squadron run` and `squadron demo`: one line per squad (issue,
//! phase, round, PR, tokens, cost), redrawn in place on a terminal and printed as a plain
//! log line per change otherwise. It writes to stdout, beside the summary; logs go to stderr.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use squadron_core::{Phase, SquadId};
use squadron_pipeline::SquadView;

/// Draws squads as they change.
#[derive(Debug)]
pub struct ProgressView {
    terminal: bool,
    lines_drawn: usize,
    shown: HashMap<SquadId, String>,
}

impl ProgressView {
    /// A view that redraws in place when stdout is a terminal.
    pub fn new() -> ProgressView {
        ProgressView {
            terminal: std::io::stdout().is_terminal(),
            lines_drawn: 0,
            shown: HashMap::new(),
        }
    }

    /// Shows the squads' current state.
    pub fn update(&mut self, squads: &[SquadView]) {
        let mut out = std::io::stdout().lock();
        if self.terminal {
            // Move up over the previous drawing and clear it, then draw every squad again.
            if self.lines_drawn > 0 {
                let _ = write!(out, "\x1b[{}A\x1b[J", self.lines_drawn);
            }
            for squad in squads {
                let _ = writeln!(out, "{}", squad_line(squad));
            }
            self.lines_drawn = squads.len();
        } else {
            for squad in squads {
                let line = squad_line(squad);
                if self.shown.get(&squad.squad) != Some(&line) {
                    let _ = writeln!(out, "{line}");
                    self.shown.insert(squad.squad.clone(), line);
                }
            }
        }
        let _ = out.flush();
    }
}

/// One squad: `ENG-1  reviewing  round 1  PR #4  12.3k tokens  $0.0412`.
pub fn squad_line(squad: &SquadView) -> String {
    let pr = squad
        .pr
        .map(|pr| format!("PR {pr}"))
        .unwrap_or_else(|| "no PR".to_owned());
    format!(
        "{:<10} {:<40} round {}  {:<8} {:>8} tokens  {}",
        squad.issue.as_str(),
        clip(&squad.phase.to_string(), PHASE_WIDTH),
        squad.round,
        pr,
        compact(squad.tokens.total()),
        squad.cost,
    )
}

/// Width of the phase column; a longer reason is cut (the summary prints it whole).
const PHASE_WIDTH: usize = 40;

/// `text` cut to `width` characters, ending in `…` when cut.
fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(width - 1).collect();
    clipped.push('…');
    clipped
}

fn compact(tokens: u64) -> String {
    match tokens {
        0..1_000 => tokens.to_string(),
        1_000..1_000_000 => format!("{:.1}k", tokens as f64 / 1_000.0),
        _ => format!("{:.1}M", tokens as f64 / 1_000_000.0),
    }
}

/// The end-of-run table: one row per squad with its outcome.
pub fn summary_table(squads: &[SquadView]) -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    table.set_header([
        "issue",
        "title",
        "outcome",
        "rounds",
        "PR",
        "merged",
        "approved by",
        "tokens",
        "cost",
    ]);
    for squad in squads {
        table.add_row([
            squad.issue.to_string(),
            squad.title.clone(),
            squad.phase.name().to_owned(),
            squad.round.to_string(),
            squad
                .pr
                .map(|pr| pr.to_string())
                .unwrap_or_else(|| "-".to_owned()),
            squad
                .merged_sha
                .as_ref()
                .map(|sha| sha.short().to_owned())
                .unwrap_or_else(|| "-".to_owned()),
            if squad.approved_by.is_empty() {
                "-".to_owned()
            } else {
                squad.approved_by.join(", ")
            },
            squad.tokens.total().to_string(),
            squad.cost.to_string(),
        ]);
    }
    table
}

/// The end-of-run summary: the table, the reason of every squad that did not merge, and
/// the counts per outcome.
pub fn summary(squads: &[SquadView]) -> String {
    format!(
        "{}\n{}{}",
        summary_table(squads),
        outcome_reasons(squads),
        outcome_counts(squads)
    )
}

/// The reason of every squad that ended without merging, one line each, for under the
/// summary table (the table keeps to the phase name).
pub fn outcome_reasons(squads: &[SquadView]) -> String {
    squads
        .iter()
        .filter_map(|squad| {
            squad
                .phase
                .detail()
                .map(|detail| format!("{} {}: {detail}\n", squad.issue, squad.phase.name()))
        })
        .collect()
}

/// `3 merged, 1 skipped, 1 needs-human`.
pub fn outcome_counts(squads: &[SquadView]) -> String {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for squad in squads {
        let name = squad.phase.name();
        match counts.iter_mut().find(|(counted, _)| *counted == name) {
            Some((_, count)) => *count += 1,
            None => counts.push((name, 1)),
        }
    }
    counts
        .iter()
        .map(|(name, count)| format!("{count} {name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether every admitted (not skipped) squad merged.
pub fn all_admitted_merged(squads: &[SquadView]) -> bool {
    squads
        .iter()
        .all(|squad| matches!(squad.phase, Phase::Merged | Phase::Skipped(_)))
}
