//! The binary's one error type: every failure sorted into what the user can do about it.
//!
//! Libraries return their own typed errors; commands convert them here so the exit code and
//! the message follow the same rules everywhere.

use std::fmt;
use std::process::ExitCode;

/// How a failure should be reported and what exit code it maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The user asked for something invalid (bad URL, unknown squad): fix the input.
    User,
    /// The configuration or environment is wrong: fix the config or set a variable.
    Config,
    /// A service was unreachable or busy: trying again later may work.
    Transient,
    /// A bug in Squadron.
    Internal,
    /// Whoever read standard output went away (`squadron logs ENG-4 | head -1`): the command
    /// ends quietly and successfully, as `head` asked.
    OutputClosed,
}

impl ErrorClass {
    /// Exit codes follow sysexits(3) so scripts can tell the classes apart.
    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            ErrorClass::User => 64,      // EX_USAGE
            ErrorClass::Config => 78,    // EX_CONFIG
            ErrorClass::Transient => 75, // EX_TEMPFAIL
            ErrorClass::Internal => 70,  // EX_SOFTWARE
            ErrorClass::OutputClosed => 0,
        })
    }
}

/// A failure of a command, ready to be shown to the user.
#[derive(Debug)]
pub struct CliError {
    class: ErrorClass,
    message: String,
    hint: Option<String>,
}

impl CliError {
    /// A failure of `class` with a message naming what was wrong.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
            hint: None,
        }
    }

    /// The user gave bad input.
    pub fn user(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::User, message)
    }

    /// The configuration or environment is wrong.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Config, message)
    }

    /// A service failed in a way that may pass.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Transient, message)
    }

    /// Squadron itself failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Internal, message)
    }

    /// Standard output's reader went away.
    pub fn output_closed() -> Self {
        Self::new(ErrorClass::OutputClosed, "standard output was closed")
    }

    /// Adds what the user can do about it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// What went wrong, without the hint.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The failure's class.
    pub fn class(&self) -> ErrorClass {
        self.class
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

pub use squadron_core::error_chain;
