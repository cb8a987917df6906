//! `squadron demo` on a terminal, as a person sees it: run under a pseudo-terminal 80 and
//! 200 columns wide and replayed through a terminal emulator, no line may wrap, every
//! squad's progress line is drawn once (redraws replace frames instead of stacking them),
//! and the final screen shows every squad's outcome and the run totals. `NO_COLOR` turns
//! every colour off.

use std::fs::File;
use std::io::Read;
use std::process::{Command, Stdio};

use nix::pty::{Winsize, openpty};

/// Enough rows that nothing of the demo scrolls off the emulated screen.
const ROWS: u16 = 120;

/// Runs the milestone demo under a pseudo-terminal `columns` wide with `vars` set, and
/// returns its exit code and everything it wrote to the terminal.
fn demo_on_a_terminal(columns: u16, vars: &[(&str, &str)]) -> (Option<i32>, Vec<u8>) {
    let size = Winsize {
        ws_row: ROWS,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(Some(&size), None).expect("open a pseudo-terminal");
    let home = tempfile::tempdir().expect("a scratch home");
    let mut command = Command::new(env!("CARGO_BIN_EXE_squadron"));
    command
        .arg("demo")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("TERM", "xterm-256color")
        .envs(vars.iter().copied())
        .stdin(Stdio::from(
            pty.slave.try_clone().expect("share the terminal"),
        ))
        .stdout(Stdio::from(
            pty.slave.try_clone().expect("share the terminal"),
        ))
        .stderr(Stdio::from(pty.slave));
    let mut child = command.spawn().expect("start squadron demo");
    // The command holds the terminal's other end until dropped; without that, reading
    // would never see the end.
    drop(command);
    let mut master = File::from(pty.master);
    let mut written = Vec::new();
    let mut buffer = [0_u8; 8192];
    loop {
        match master.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => written.extend_from_slice(&buffer[..read]),
            // Linux answers EIO once the last holder of the other end has gone.
            Err(_) => break,
        }
    }
    let status = child.wait().expect("wait for the demo");
    (status.code(), written)
}

/// The screen a terminal `columns` wide shows after `written`.
fn screen(columns: u16, written: &[u8]) -> vt100::Parser {
    let rows = std::num::NonZeroU16::new(ROWS).expect("rows");
    let columns = std::num::NonZeroU16::new(columns).expect("columns");
    let mut parser = vt100::Parser::new(rows, columns, 0);
    parser.process(written);
    parser
}

/// How every line the demo prints on a terminal begins. A row that begins otherwise is the
/// spill-over of a line wider than the terminal.
const LINE_STARTS: [&str; 12] = [
    "ENG-",
    "4 squads",
    "┌",
    "│",
    "╞",
    "├",
    "└",
    "  ",
    "demo `",
    "nothing is kept",
    "report:",
    "bare repository:",
];

fn check_screen(columns: u16, written: &[u8]) -> Vec<String> {
    let parser = screen(columns, written);
    let screen = parser.screen();
    let contents = screen.contents();
    let rows: Vec<String> = screen.rows(0, columns).collect();
    for (index, row) in rows.iter().enumerate() {
        if row.trim().is_empty() {
            continue;
        }
        assert!(
            LINE_STARTS.iter().any(|start| row.starts_with(start)),
            "row {index} is the end of a line wider than {columns} columns: {row:?}\n{contents}"
        );
        // indicatif fills its lines to the last column and lets the terminal wrap to the
        // next; every other line must end before the edge.
        let live = row.starts_with("ENG-") && !row.contains(": ") || row.starts_with("4 squads ·");
        let index = u16::try_from(index).expect("row index");
        assert!(
            live || !screen.row_wrapped(index),
            "row {index} wrapped: {row:?}\n{contents}"
        );
    }
    // One progress line per squad: the frames were redrawn in place, not stacked.
    for issue in ["ENG-2", "ENG-3", "ENG-4", "ENG-5"] {
        let progress: Vec<&String> = rows
            .iter()
            .filter(|row| row.starts_with(&format!("{issue:<8} ")))
            .collect();
        assert_eq!(
            progress.len(),
            1,
            "{issue} has one progress line:\n{contents}"
        );
        let outcome = if issue == "ENG-5" {
            "skipped"
        } else {
            "merged"
        };
        assert!(
            progress[0].contains(outcome),
            "{issue}: {}\n{contents}",
            progress[0]
        );
        let row = rows
            .iter()
            .find(|row| row.starts_with(&format!("│ {issue} ")))
            .unwrap_or_else(|| panic!("a summary row for {issue}:\n{contents}"));
        assert!(row.contains(outcome), "{row}\n{contents}");
    }
    let header = rows
        .iter()
        .filter(|row| row.starts_with("4 squads · 4 ended: 3 merged, 1 skipped"))
        .count();
    assert_eq!(
        header, 1,
        "one run header with the final counts:\n{contents}"
    );
    let totals = rows
        .iter()
        .find(|row| row.starts_with("4 squads: 3 merged, 1 skipped"))
        .unwrap_or_else(|| panic!("a totals line:\n{contents}"));
    assert!(
        totals.contains(" tokens · $") && totals.trim_end().ends_with('s'),
        "the totals name tokens, cost and duration: {totals}"
    );
    rows
}

#[test]
fn at_80_columns_no_line_wraps_and_the_final_screen_shows_outcomes_and_totals() {
    let (code, written) = demo_on_a_terminal(80, &[]);
    let text = String::from_utf8_lossy(&written);
    assert_eq!(code, Some(0), "{text}");
    let rows = check_screen(80, &written);
    assert!(
        text.contains("\u{1b}[32m"),
        "merged squads are green on a colour terminal:\n{}",
        rows.join("\n")
    );
}

#[test]
fn at_200_columns_lines_use_the_width_and_no_color_turns_colours_off() {
    let (code, written) = demo_on_a_terminal(200, &[("NO_COLOR", "1")]);
    let text = String::from_utf8_lossy(&written);
    assert_eq!(code, Some(0), "{text}");
    let rows = check_screen(200, &written);
    let contents = rows.join("\n");
    // At 200 columns the skip reason of ENG-5 shows in its progress line.
    let skipped = rows
        .iter()
        .find(|line| line.starts_with("ENG-5    "))
        .expect("a progress line for ENG-5");
    assert!(
        skipped.contains("no acceptance criteria"),
        "at 200 columns the skip reason shows: {skipped}"
    );
    for colour in ["\u{1b}[31m", "\u{1b}[32m", "\u{1b}[36m", "\u{1b}[2m"] {
        assert!(
            !text.contains(colour),
            "NO_COLOR leaves no colour codes:\n{contents}"
        );
    }
}
