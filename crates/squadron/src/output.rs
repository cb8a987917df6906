//! Writing to standard output. A reader that goes away (`squadron logs ENG-4 | head -1`)
//! ends the command quietly with exit 0, as ripgrep does, instead of the panic `println!`
//! gives on a broken pipe.

use std::io::{self, Write};

use crate::error::CliError;

/// Writes `text` to standard output and flushes it.
///
/// # Errors
/// [`CliError::output_closed`] when the reader went away; an internal error for any other
/// failure to write.
pub fn print(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(write_error)
}

/// Writes `text` and a newline to standard output.
///
/// # Errors
/// As [`print`].
pub fn println(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(write_error)
}

/// A failed write to standard output in the binary's terms.
pub fn write_error(error: io::Error) -> CliError {
    if error.kind() == io::ErrorKind::BrokenPipe {
        CliError::output_closed()
    } else {
        CliError::internal(format!("failed to write to standard output: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;

    #[test]
    fn a_broken_pipe_is_a_quiet_end_and_other_failures_are_internal() {
        let closed = write_error(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(closed.class(), ErrorClass::OutputClosed);
        assert_eq!(closed.class().exit_code(), std::process::ExitCode::SUCCESS);
        let full = write_error(io::Error::from(io::ErrorKind::StorageFull));
        assert_eq!(full.class(), ErrorClass::Internal);
    }
}
