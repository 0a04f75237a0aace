//! The subcommands. Each returns its exit code (see [`crate::cli::exit`]).

pub mod check;
pub mod fmt;

use std::io::{self, Write};
use std::path::Path;

use crate::source::{self, ReadError, STDIN_NAME};

/// `-` stands for standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The name of a path as the user wrote it (standard input as `<stdin>`).
pub fn display_name(path: &Path) -> String {
    if is_stdin(path) {
        STDIN_NAME.to_owned()
    } else {
        path.display().to_string()
    }
}

/// Reads a file, or standard input for `-`.
pub fn read(path: &Path) -> Result<String, ReadError> {
    if is_stdin(path) {
        source::read_stdin()
    } else {
        source::read(path)
    }
}

/// Writes to standard output; a closed pipe is not an error worth reporting.
pub fn print(text: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Writes to standard error.
pub fn eprint(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}
