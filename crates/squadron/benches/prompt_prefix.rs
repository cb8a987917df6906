//! The share of each model request's prompt that repeats the same agent's previous request
//! byte for byte, over a whole `squadron demo` run: what a provider's prompt cache can serve.
//! Prints figures; asserts nothing (target: at least 90% of prompt tokens).
//!
//! `cargo bench -p squadron --bench prompt_prefix`

use std::process::Command;

fn main() {
    // `cargo bench` passes `--bench`. Test runners (`cargo test --all-targets`, nextest's
    // `--list`) run bench binaries too: list no tests and run nothing for them.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    for scenario in ["milestone", "bugfix"] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let output = Command::new(env!("CARGO_BIN_EXE_squadron"))
            .args(["demo", "--scenario", scenario, "--keep"])
            .arg(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("run squadron demo");
        let figure =
            std::fs::read_to_string(dir.path().join("prompt-prefix.txt")).unwrap_or_else(|_| {
                format!(
                    "no figure: the demo did not finish ({})\n",
                    String::from_utf8_lossy(&output.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                )
            });
        print!("{scenario}: {figure}");
    }
}
