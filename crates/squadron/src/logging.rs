//! Log set-up: human-readable on a terminal, JSON lines otherwise, filtered like `RUST_LOG`.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::error::CliError;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable when stderr is a terminal, JSON otherwise.
    Auto,
    /// Human-readable lines.
    Human,
    /// One JSON object per line, with the current span's fields (run, squad, issue, role, phase).
    Json,
}

/// Installs the global subscriber. `filter` follows `RUST_LOG` syntax (e.g.
/// `info,squadron_linear=debug`); without one, `default` applies.
pub fn init(format: LogFormat, filter: Option<&str>, default: &str) -> Result<(), CliError> {
    let filter = match filter {
        Some(directives) => EnvFilter::try_new(directives).map_err(|error| {
            CliError::config(format!("log filter `{directives}` is not valid: {error}"))
                .with_hint("use RUST_LOG syntax, e.g. `info` or `warn,squadron=debug`")
        })?,
        None => EnvFilter::new(default),
    };
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Human => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        // A closed stderr must not turn into a panic (the default reports write failures
        // with `eprintln!`, which panics on a broken pipe).
        .log_internal_errors(false);
    let result = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_span_events(FmtSpan::NONE)
            .try_init()
    } else {
        builder.compact().try_init()
    };
    result.map_err(|error| CliError::internal(format!("failed to install the logger: {error}")))
}
