//! Reading policy and recorded traffic files: the size limits, UTF-8, and
//! error messages that name the path (`routec: cannot read `x.route`: No such file or directory`).

use std::fmt;
use std::io::{self, Read};
use std::path::Path;

use routec_syntax::MAX_SOURCE_BYTES;

/// The path shown for standard input.
pub const STDIN_NAME: &str = "<stdin>";

/// Why a file could not be read; displayed as the part after the path.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    NotUtf8,
    /// A policy larger than [`MAX_SOURCE_BYTES`].
    TooLarge,
    /// A recorded traffic file larger than [`routec_traffic::MAX_FILE_BYTES`].
    TrafficTooLarge,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => f.write_str(&io_message(e)),
            ReadError::NotUtf8 => f.write_str("the file is not valid UTF-8"),
            ReadError::TooLarge => write!(
                f,
                "the file is larger than the limit of {} MiB",
                MAX_SOURCE_BYTES / (1024 * 1024)
            ),
            ReadError::TrafficTooLarge => write!(
                f,
                "the file is larger than the limit of {} MiB for recorded traffic",
                routec_traffic::MAX_FILE_BYTES / (1024 * 1024)
            ),
        }
    }
}

/// An IO error's message without the `(os error N)` suffix.
pub fn io_message(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_owned(),
        _ => text,
    }
}

/// Reads a policy file, refusing files over [`MAX_SOURCE_BYTES`] and text
/// that is not UTF-8.
pub fn read(path: &Path) -> Result<String, ReadError> {
    read_with_limit(
        path,
        u64::try_from(MAX_SOURCE_BYTES).unwrap_or(u64::MAX),
        || ReadError::TooLarge,
    )
}

/// Reads a recorded traffic file (JSON Lines), refusing files over
/// [`routec_traffic::MAX_FILE_BYTES`] and text that is not UTF-8.
pub fn read_traffic(path: &Path) -> Result<String, ReadError> {
    read_with_limit(path, routec_traffic::MAX_FILE_BYTES, || {
        ReadError::TrafficTooLarge
    })
}

fn read_with_limit(
    path: &Path,
    limit: u64,
    too_large: fn() -> ReadError,
) -> Result<String, ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if meta.is_dir() {
        return Err(ReadError::Io(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        )));
    }
    if meta.len() > limit {
        return Err(too_large());
    }
    read_limited(file, limit, too_large)
}

/// Reads standard input with the same limits as a file.
pub fn read_stdin() -> Result<String, ReadError> {
    read_limited(
        io::stdin().lock(),
        u64::try_from(MAX_SOURCE_BYTES).unwrap_or(u64::MAX),
        || ReadError::TooLarge,
    )
}

fn read_limited(
    reader: impl Read,
    limit: u64,
    too_large: fn() -> ReadError,
) -> Result<String, ReadError> {
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8)
}
