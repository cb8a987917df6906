//! Exit codes as the README documents them, a closed standard output, and a store location
//! that points nowhere.

use std::process::Stdio;

use crate::status_and_logs::seed;
use crate::support::{Outcome, Sandbox};

#[test]
fn argument_errors_exit_64_and_help_exits_0() {
    let sandbox = Sandbox::new();
    for args in [
        &["status", "--no-such-flag"][..],
        &["logs"][..],
        &["no-such-command"][..],
        &[][..],
    ] {
        let outcome = sandbox.run(args, &[]);
        assert_eq!(
            outcome.code(),
            64,
            "squadron {args:?}:\n{}",
            outcome.stderr()
        );
        assert!(
            outcome.stderr().contains("Usage"),
            "squadron {args:?} says how to call it:\n{}",
            outcome.stderr()
        );
    }
    for args in [
        &["--help"][..],
        &["status", "--help"][..],
        &["--version"][..],
    ] {
        assert_eq!(sandbox.run(args, &[]).code(), 0, "squadron {args:?}");
    }
}

/// Runs `squadron <args>` with its standard output a pipe whose reader is already gone.
fn run_into_a_closed_pipe(sandbox: &Sandbox, args: &[&str]) -> Outcome {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = sandbox
        .command(args, &[])
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run squadron");
    Outcome(output)
}

#[tokio::test]
async fn a_reader_that_goes_away_ends_the_command_quietly() {
    let sandbox = Sandbox::new();
    seed(&sandbox).await;
    for args in [
        &["logs", "ENG-1"][..],
        &["logs", "ENG-1", "--json"][..],
        &["status"][..],
        &["status", "--json"][..],
        &["doctor", "--offline"][..],
        &["--help"][..],
    ] {
        let outcome = run_into_a_closed_pipe(&sandbox, args);
        assert!(
            outcome.code() == 0 || (args[0] == "doctor" && outcome.code() == 1),
            "squadron {args:?} exited {}:\n{}",
            outcome.code(),
            outcome.stderr()
        );
        assert!(
            !outcome.stderr().contains("panicked") && !outcome.stderr().contains("Broken pipe"),
            "squadron {args:?} ends quietly:\n{}",
            outcome.stderr()
        );
    }
}

#[test]
fn a_database_url_naming_a_missing_file_is_refused_by_the_commands_that_only_read() {
    let sandbox = Sandbox::new();
    let typo = sandbox.path().join("data").join("squadorn.db");
    let typo_text = typo.to_str().expect("a UTF-8 path");
    for args in [
        &["status", "--database-url", typo_text][..],
        &["logs", "ENG-1", "--database-url", typo_text][..],
    ] {
        let outcome = sandbox.run(args, &[]);
        assert_eq!(
            outcome.code(),
            64,
            "squadron {args:?}:\n{}",
            outcome.stderr()
        );
        let said = outcome.stderr();
        assert!(said.contains(typo_text), "names the path:\n{said}");
        assert!(
            said.contains("squadron run"),
            "says what creates one:\n{said}"
        );
        assert!(
            !outcome.stdout().contains("No runs yet"),
            "{}",
            outcome.stdout()
        );
    }
    // The same through the environment and through the configuration.
    let outcome = sandbox.run(&["status"], &[("DATABASE_URL", typo_text)]);
    assert_eq!(outcome.code(), 64, "{}", outcome.stderr());
    let config = sandbox.write(
        "squadron.toml",
        &format!("[store]\nsqlite_path = {typo_text:?}\n"),
    );
    let mut command = sandbox.command(
        &["status", "--config", config.to_str().expect("UTF-8")],
        &[],
    );
    command.env_remove("DATABASE_URL");
    let outcome = Outcome(command.output().expect("run squadron status"));
    assert_eq!(outcome.code(), 64, "{}", outcome.stderr());
    assert!(!typo.exists(), "no store was created at the mistyped path");
}
