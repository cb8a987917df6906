//! The `squadron` command: parses arguments, sets up logging, runs one subcommand and maps
//! its outcome to an exit code.

mod cli;
mod commands;
mod context;
mod error;
mod format;
mod hand_reverts;
mod interrupt;
mod logging;
mod membership;
mod output;
mod progress;
mod runtime_lease;
mod squad_claims;
mod wiring;

use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command};
use crate::error::CliError;

fn main() -> ExitCode {
    // Test builds arm the runtime's failpoints from `FAILPOINTS`; the guard lives until exit.
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return argument_error(&error),
    };
    // Commands that draw live progress on a terminal keep the log to warnings unless asked,
    // so log lines do not tear the redrawn progress; elsewhere the log is the progress.
    let default_filter = if cli.command.shows_progress() && std::io::stdout().is_terminal() {
        "warn"
    } else {
        "info"
    };
    if let Err(error) = logging::init(
        cli.global.log_format,
        cli.global.log.as_deref(),
        default_filter,
    ) {
        tell_error(&error);
        return error.class().exit_code();
    }
    // Every HTTP client in the process uses rustls with the ring provider; installing it
    // fails only when it is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let error = CliError::internal(format!("failed to start the async runtime: {error}"));
            tell_error(&error);
            return error.class().exit_code();
        }
    };
    let outcome = runtime.block_on(dispatch(cli));
    // Blocking work left behind by a stopped command (a file written for a cancelled step)
    // gets a moment to end; the process does not wait on it indefinitely.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match outcome {
        Ok(code) => code,
        Err(error) => {
            tell_error(&error);
            error.class().exit_code()
        }
    }
}

/// Tells the user what failed on stderr; nothing when stdout's reader went away, which is
/// no failure. A stderr that cannot be written to is ignored rather than panicked on.
fn tell_error(error: &CliError) {
    if error.class() != error::ErrorClass::OutputClosed {
        let _ = writeln!(std::io::stderr(), "error: {error}");
    }
}

/// Prints what clap found wrong with the arguments (or the help or version asked for) and
/// picks the exit code: 0 for help and version, 64 (bad input) for anything else, as the
/// README documents, instead of clap's own 2.
fn argument_error(error: &clap::Error) -> ExitCode {
    // A closed stdout while printing help is no failure; there is nothing left to tell.
    let _ = error.print();
    if error.use_stderr() {
        error::ErrorClass::User.exit_code()
    } else {
        ExitCode::SUCCESS
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode, CliError> {
    let global = cli.global;
    match cli.command {
        Command::Doctor(args) => commands::doctor::run(&global, &args).await,
        Command::Run(args) => commands::run::run(&global, &args).await,
        Command::Status(args) => commands::status::run(&global, &args).await,
        Command::Logs(args) => commands::logs::run(&global, &args).await,
        Command::Metrics(args) => commands::metrics::run(&global, &args).await,
        Command::Revert(args) => commands::revert::run(&global, &args).await,
        Command::ResumeLane(args) => commands::resume_lane::run(&global, &args).await,
        Command::Plan(args) => commands::plan::run(&global, &args).await,
        Command::Fix(args) => commands::fix::run(&global, &args).await,
        #[cfg(feature = "demo")]
        Command::Demo(args) => commands::demo::run(&global, &args).await,
        Command::Serve(args) => commands::serve::run(&global, &args).await,
    }
}
