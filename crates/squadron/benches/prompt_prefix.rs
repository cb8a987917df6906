//! The share of each model request's prompt that repeats the same agent's previous request
//! byte for byte, over a whole `squadron demo` run: what a provider's prompt cache can serve.
//! Prints figures; asserts nothing (target: at least 90% of prompt tokens).
//!
//! `cargo bench -p squadron --bench prompt_prefix`

use std::process::Command;

fn main() {
    for scenario in ["milestone", "bugfix"] {
        let output = Command::new(env!("CARGO_BIN_EXE_squadron"))
            .args(["demo", "--scenario", scenario])
            .env("NO_COLOR", "1")
            .output()
            .expect("run squadron demo");
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        let line = text
            .lines()
            .find(|line| line.contains("prompt prefix reuse"))
            .unwrap_or("no prompt prefix figure: the demo did not finish");
        println!("{scenario}: {line}");
    }
}
