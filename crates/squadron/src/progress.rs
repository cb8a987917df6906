//! The live progress view of `squadron run`, `fix` and `demo`: a run header with totals and
//! one line per squad (issue, phase, who is at work, round, PR, elapsed time, tokens, cost,
//! and what a waiting squad waits for), redrawn in place by indicatif on a terminal and cut
//! to its width so no line ever wraps; printed as a plain line per change otherwise. It
//! writes to stdout, beside the summary; logs go to stderr.

use std::collections::HashMap;
use std::io::Write as _;
use std::time::Duration;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use console::{Style, measure_text_width, truncate_str};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use squadron::labels::{at_work_now, waits_briefly};
use squadron_core::{Phase, SquadId, Timestamp, TokenUsage, Usd};
use squadron_pipeline::SquadView;

use crate::format::{compact_tokens, elapsed};

/// How the view draws: decided once by the command from where stdout goes and `NO_COLOR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Look {
    /// Stdout is a terminal: redraw in place, fit the width.
    pub terminal: bool,
    /// Colour the phases (a terminal without `NO_COLOR`).
    pub color: bool,
}

impl Look {
    /// The look for stdout as it is now: a terminal redraws in colour unless `NO_COLOR` is
    /// set to anything non-empty (<https://no-color.org>).
    pub fn of_stdout() -> Look {
        let terminal = console::Term::stdout().is_term();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        let look = Look {
            terminal,
            color: terminal && !no_color,
        };
        // indicatif and comfy-table style through `console`; one switch for all of them.
        console::set_colors_enabled(look.color);
        look
    }

    /// The width to fit lines to: the terminal's, or none.
    pub fn width(self) -> Option<usize> {
        if !self.terminal {
            return None;
        }
        let (_rows, columns) = console::Term::stdout().size();
        Some(usize::from(columns).max(MIN_WIDTH))
    }
}

/// Narrower terminals are drawn as if this wide (and then cut by the terminal).
const MIN_WIDTH: usize = 20;

/// What the store knows of a squad beyond the live view: when it started and ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SquadFacts {
    /// When it was admitted.
    pub created_at: Option<Timestamp>,
    /// When it last changed: its end, once it ended.
    pub updated_at: Option<Timestamp>,
}

/// Everything one frame shows.
#[derive(Debug)]
pub struct Frame<'a> {
    /// The run's id.
    pub run: &'a str,
    /// When the run started, if known.
    pub started_at: Option<Timestamp>,
    /// The squads, in admission order.
    pub squads: &'a [SquadView],
    /// Per squad, what the store adds.
    pub facts: &'a HashMap<SquadId, SquadFacts>,
    /// The current time.
    pub now: Timestamp,
}

/// Draws squads as they change.
#[derive(Debug)]
pub struct ProgressView {
    look: Look,
    live: Option<Live>,
    /// Plain mode: what was last printed per squad, to print only changes.
    shown: HashMap<SquadId, String>,
}

/// The indicatif side of a terminal view: a header line and one line per squad.
#[derive(Debug)]
struct Live {
    multi: MultiProgress,
    header: ProgressBar,
    rows: Vec<(SquadId, ProgressBar)>,
}

impl ProgressView {
    /// A view for `look`.
    pub fn new(look: Look) -> ProgressView {
        let live = look.terminal.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(8));
            let header = multi.add(line_bar());
            Live {
                multi,
                header,
                rows: Vec::new(),
            }
        });
        ProgressView {
            look,
            live,
            shown: HashMap::new(),
        }
    }

    /// Shows `frame`: redrawn in place on a terminal, a plain line per squad whose phase,
    /// round, PR or wait changed otherwise.
    pub fn update(&mut self, frame: &Frame<'_>) {
        let width = self.look.width();
        match &mut self.live {
            Some(live) => {
                live.header.set_message(header_line(frame, width));
                for squad in frame.squads {
                    let line = squad_line(squad, frame, width, self.look.color);
                    match live.rows.iter().find(|(id, _)| id == &squad.squad) {
                        Some((_, bar)) => bar.set_message(line),
                        None => {
                            let bar = live.multi.add(line_bar());
                            bar.set_message(line);
                            live.rows.push((squad.squad.clone(), bar));
                        }
                    }
                }
            }
            None => {
                let mut out = std::io::stdout().lock();
                for squad in frame.squads {
                    let key = change_key(squad);
                    if self.shown.get(&squad.squad) != Some(&key) {
                        let _ = writeln!(out, "{}", squad_line(squad, frame, None, false));
                        self.shown.insert(squad.squad.clone(), key);
                    }
                }
                let _ = out.flush();
            }
        }
    }

    /// Leaves the last frame on screen (a terminal) so the summary follows it.
    pub fn finish(&mut self, frame: &Frame<'_>) {
        self.update(frame);
        if let Some(live) = self.live.take() {
            live.header.finish();
            for (_, bar) in &live.rows {
                bar.finish();
            }
            // indicatif fills each line to the terminal's width and leaves the cursor at the
            // end of the last one, relying on the terminal's automatic wrap for what comes
            // next; a line break makes the summary start on a line of its own everywhere.
            let _ = writeln!(std::io::stdout());
        }
    }
}

/// A bar that is only a line of text.
fn line_bar() -> ProgressBar {
    let bar = ProgressBar::hidden();
    // `{msg}` is a valid template; the fallback is never taken.
    bar.set_style(
        ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// What a plain view prints a new line for: the figures (tokens, elapsed time) change too
/// often to be worth a line each.
fn change_key(squad: &SquadView) -> String {
    format!(
        "{}|{}|{:?}|{}",
        squad.phase,
        squad.round,
        squad.pr,
        waits_for(squad).unwrap_or_default()
    )
}

/// `4 squads · 2 ended: 1 merged, 1 skipped · 3m12s · 45.1k tokens · $0.1234 · run r-1`:
/// the totals first, so a narrow terminal cuts the run id rather than them.
pub fn header_line(frame: &Frame<'_>, width: Option<usize>) -> String {
    let totals = Totals::of(frame.squads);
    let ended = frame
        .squads
        .iter()
        .filter(|squad| squad.phase.is_terminal())
        .count();
    let mut line = format!("{} squads · {ended} ended", frame.squads.len());
    let counts = outcome_counts(
        &frame
            .squads
            .iter()
            .filter(|squad| squad.phase.is_terminal())
            .cloned()
            .collect::<Vec<_>>(),
    );
    if !counts.is_empty() {
        line.push_str(&format!(": {counts}"));
    }
    if let Some(started) = frame.started_at {
        let end = if ended == frame.squads.len() && !frame.squads.is_empty() {
            last_change(frame).unwrap_or(frame.now)
        } else {
            frame.now
        };
        line.push_str(&format!(" · {}", elapsed(end.since(started))));
    }
    line.push_str(&format!(
        " · {} tokens · {} · run {}",
        compact_tokens(totals.tokens.total()),
        totals.cost,
        frame.run
    ));
    fit(&line, width)
}

/// When the last squad changed, for a run that has ended.
fn last_change(frame: &Frame<'_>) -> Option<Timestamp> {
    frame
        .squads
        .iter()
        .filter_map(|squad| frame.facts.get(&squad.squad)?.updated_at)
        .max()
}

/// Width of the issue column; longer keys push the line right.
const ISSUE_WIDTH: usize = 8;
/// Width of the phase column: `implementing`, the longest phase name.
const PHASE_WIDTH: usize = 12;
/// Width of the column naming who is at work.
const WHO_WIDTH: usize = 13;

/// One squad:
/// `ENG-2    reviewing    reviewers     r1  #4   2m05s  12.3k  $0.0412  Add totals`; a
/// waiting squad says briefly in the who column what it waits for (`at merge gate`), so a
/// narrow terminal shows it too, and in full as its note.
pub fn squad_line(
    squad: &SquadView,
    frame: &Frame<'_>,
    width: Option<usize>,
    color: bool,
) -> String {
    let facts = frame.facts.get(&squad.squad);
    let pr = squad
        .pr
        .map_or_else(|| "-".to_owned(), |pr| format!("#{}", pr.0));
    let since = facts.and_then(|facts| {
        let start = facts.created_at?;
        let end = if squad.phase.is_terminal() {
            facts.updated_at.unwrap_or(frame.now)
        } else {
            frame.now
        };
        Some(elapsed(end.since(start)))
    });
    let note = waits_for(squad)
        .or_else(|| squad.phase.detail().map(str::to_owned))
        .unwrap_or_else(|| squad.title.clone());
    let phase = format!("{:<PHASE_WIDTH$}", squad.phase.name());
    let phase = if color {
        phase_style(&squad.phase).apply_to(phase).to_string()
    } else {
        phase
    };
    let round = if squad.round == 0 {
        String::new()
    } else {
        format!("r{}", squad.round)
    };
    let line = format!(
        "{:<ISSUE_WIDTH$} {phase} {:<WHO_WIDTH$} {round:<3} {:<5} {:>6} {:>6} {:>8}  {note}",
        squad.issue.as_str(),
        who(squad),
        pr,
        since.unwrap_or_else(|| "-".to_owned()),
        compact_tokens(squad.tokens.total()),
        squad.cost.to_string(),
    );
    fit(line.trim_end(), width)
}

/// Who is at work, or else briefly what the squad waits for.
fn who(squad: &SquadView) -> String {
    let at_work = at_work_now(&squad.phase, &squad.at_work);
    match &squad.waiting {
        Some(waiting) if at_work.is_empty() => waits_briefly(waiting),
        _ => at_work,
    }
}

/// What a waiting squad waits for, as the runtime knows it.
fn waits_for(squad: &SquadView) -> Option<String> {
    squad.waiting.as_ref().map(ToString::to_string)
}

fn phase_style(phase: &Phase) -> Style {
    match phase {
        Phase::Merged => Style::new().green(),
        Phase::NeedsHuman(_) | Phase::Failed(_) => Style::new().red(),
        Phase::Cancelled | Phase::Skipped(_) | Phase::Queued => Style::new().dim(),
        _ => Style::new().cyan(),
    }
}

/// `text` cut to `width` columns with `…`, or whole without a width.
pub fn fit(text: &str, width: Option<usize>) -> String {
    match width {
        Some(width) if measure_text_width(text) > width => {
            truncate_str(text, width, "…").into_owned()
        }
        _ => text.to_owned(),
    }
}

/// `text` broken at spaces into lines of at most `width` columns, continuation lines
/// indented by `indent` spaces; a word longer than a line is cut. Whole without a width.
pub fn wrap(text: &str, width: Option<usize>, indent: usize) -> String {
    let Some(width) = width else {
        return text.to_owned();
    };
    let indent = indent.min(width / 2);
    let mut lines: Vec<String> = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut first = true;
        for word in paragraph.split(' ') {
            let room = if first { width } else { width - indent };
            if line.is_empty() {
                line = word.to_owned();
            } else if measure_text_width(&line) + 1 + measure_text_width(word) <= room {
                line.push(' ');
                line.push_str(word);
            } else {
                lines.push(indented(&line, first, indent, room));
                first = false;
                line = word.to_owned();
            }
        }
        let room = if first { width } else { width - indent };
        lines.push(indented(&line, first, indent, room));
    }
    lines.join("\n")
}

/// One wrapped line: cut to `room`, and indented unless it is a paragraph's first.
fn indented(line: &str, first: bool, indent: usize, room: usize) -> String {
    let prefix = if first { 0 } else { indent };
    format!("{}{}", " ".repeat(prefix), fit(line, Some(room)))
}

/// The run's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Tokens of every squad.
    pub tokens: TokenUsage,
    /// Their cost.
    pub cost: Usd,
}

impl Totals {
    /// Sums `squads`.
    pub fn of(squads: &[SquadView]) -> Totals {
        squads.iter().fold(Totals::default(), |mut totals, squad| {
            totals.tokens += squad.tokens;
            totals.cost += squad.cost;
            totals
        })
    }
}

/// Below this width the table counts approvals instead of naming the approvers.
const APPROVER_NAMES_WIDTH: usize = 140;

/// The end-of-run table: one row per squad with its outcome, fitted to `width` (the title,
/// last, wraps within its column).
pub fn summary_table(squads: &[SquadView], width: Option<usize>) -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    let names = width.is_none_or(|width| width >= APPROVER_NAMES_WIDTH);
    if let Some(width) = width {
        table
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(u16::try_from(width).unwrap_or(u16::MAX));
    }
    table.set_header([
        "issue",
        "outcome",
        "rounds",
        "PR",
        "merged",
        if names { "approved by" } else { "approvals" },
        "tokens",
        "cost",
        "title",
    ]);
    for squad in squads {
        table.add_row([
            squad.issue.to_string(),
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
            match (names, squad.approved_by.len()) {
                (_, 0) => "-".to_owned(),
                (true, _) => squad.approved_by.join(", "),
                (false, count) => count.to_string(),
            },
            compact_tokens(squad.tokens.total()),
            squad.cost.to_string(),
            squad.title.clone(),
        ]);
    }
    table
}

/// The end-of-run summary: the table, the reason of every squad that did not merge, and
/// a totals line (`4 squads: 3 merged, 1 skipped · 45.1k tokens · $0.1234 · 3m12s`).
pub fn summary(squads: &[SquadView], duration: Option<Duration>, width: Option<usize>) -> String {
    let totals = Totals::of(squads);
    let mut last = format!(
        "{} squads: {} · {} tokens · {}",
        squads.len(),
        outcome_counts(squads),
        compact_tokens(totals.tokens.total()),
        totals.cost
    );
    if let Some(duration) = duration {
        last.push_str(&format!(" · {}", elapsed(duration)));
    }
    format!(
        "{}\n{}{}",
        summary_table(squads, width),
        outcome_reasons(squads, width),
        wrap(&last, width, 2)
    )
}

/// The reason of every squad that ended without merging, one paragraph each, for under the
/// summary table (the table keeps to the phase name).
pub fn outcome_reasons(squads: &[SquadView], width: Option<usize>) -> String {
    squads
        .iter()
        .filter_map(|squad| {
            squad.phase.detail().map(|detail| {
                let text = format!("{} {}: {detail}", squad.issue, squad.phase.name());
                format!("{}\n", wrap(&text, width, 2))
            })
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

#[cfg(test)]
mod tests {
    use squadron_core::gate::GateBlocker;
    use squadron_core::{IssueKey, PrNumber, Role, RunId, SquadKind};
    use squadron_pipeline::Waiting;

    use super::*;

    const MINUTE: i64 = 60_000;

    fn squad(issue: &str, title: &str, phase: Phase) -> SquadView {
        SquadView {
            run: RunId::from("run-1"),
            squad: SquadId::from(format!("run-1-{}", issue.to_lowercase())),
            issue: IssueKey::from(issue),
            kind: SquadKind::Feature,
            title: title.to_owned(),
            phase,
            round: 0,
            pr: None,
            pr_url: None,
            merged_sha: None,
            approved_by: Vec::new(),
            tokens: TokenUsage::default(),
            cost: Usd::ZERO,
            time_to_merge: None,
            blocked_by: Vec::new(),
            at_work: Vec::new(),
            waiting: None,
        }
    }

    /// A run as it stands mid-way: one squad per thing a person may see.
    fn mid_run() -> Vec<SquadView> {
        let mut implementing = squad("ENG-1", "Add totals to the invoice", Phase::Implementing);
        implementing.at_work = vec![Role::Developer, Role::Qa];
        implementing.tokens.prompt = 12_345;
        implementing.cost = Usd::from_micros(41_200);
        let mut reviewing = squad("ENG-2", "Round prices half-up", Phase::Reviewing);
        reviewing.at_work = vec![Role::QaSpecialist];
        reviewing.round = 1;
        reviewing.pr = Some(PrNumber(4));
        reviewing.tokens.prompt = 30_100;
        reviewing.cost = Usd::from_micros(98_700);
        let mut approved = squad("ENG-3", "Show the currency", Phase::Approved);
        approved.round = 2;
        approved.pr = Some(PrNumber(5));
        approved.waiting = Some(Waiting::Gate(vec![GateBlocker::CheckPending {
            name: "ci".to_owned(),
        }]));
        let mut queued = squad("ENG-4", "Export as CSV", Phase::Queued);
        queued.waiting = Some(Waiting::Blockers(vec![IssueKey::from("ENG-1")]));
        let skipped = squad(
            "ENG-5",
            "Make it faster",
            Phase::Skipped("the issue has no acceptance criteria as Gherkin scenarios".to_owned()),
        );
        vec![implementing, reviewing, approved, queued, skipped]
    }

    fn frame_text(squads: &[SquadView], width: usize) -> String {
        let facts: HashMap<SquadId, SquadFacts> = squads
            .iter()
            .enumerate()
            .map(|(index, squad)| {
                let facts = SquadFacts {
                    created_at: Some(Timestamp::from_millis(
                        i64::try_from(index).unwrap() * MINUTE,
                    )),
                    updated_at: Some(Timestamp::from_millis(5 * MINUTE)),
                };
                (squad.squad.clone(), facts)
            })
            .collect();
        let frame = Frame {
            run: "run-1",
            started_at: Some(Timestamp::from_millis(0)),
            squads,
            facts: &facts,
            now: Timestamp::from_millis(7 * MINUTE + 5_000),
        };
        let mut lines = vec![header_line(&frame, Some(width))];
        lines.extend(
            squads
                .iter()
                .map(|squad| squad_line(squad, &frame, Some(width), false)),
        );
        for line in &lines {
            assert!(
                measure_text_width(line) <= width,
                "wider than {width}: {line}"
            );
        }
        lines.join("\n")
    }

    #[test]
    fn each_line_says_who_is_at_work_and_what_a_waiting_squad_waits_for_within_80_columns() {
        insta::assert_snapshot!(frame_text(&mid_run(), 80));
    }

    #[test]
    fn a_wide_terminal_shows_the_whole_line() {
        insta::assert_snapshot!(frame_text(&mid_run(), 200));
    }
}
