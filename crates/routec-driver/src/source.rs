//! Where policies come from ([`Source`]: a file, standard input, a git
//! revision `REV:PATH`, or an editor's unsaved buffer), and the one
//! size-bounded reader of policy and recorded traffic files: the size
//! limits, UTF-8, and error messages that name the path (`cannot read
//! `x.route`: No such file or directory`). A recorded file named by a
//! policy is resolved relative to the policy's directory
//! ([`Source::resolve`]).

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use routec_syntax::MAX_SOURCE_BYTES;

/// The path shown for standard input.
pub const STDIN_NAME: &str = "<stdin>";

/// The text of a policy and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The name as the user wrote it: a path, `<stdin>`, `REV:PATH`, or an
    /// editor's file name.
    pub name: String,
    pub text: String,
    /// The directory recorded traffic files are read from (the policy's
    /// directory; the working directory for standard input); `None` for
    /// an unsaved buffer, whose recorded files are not read.
    pub dir: Option<PathBuf>,
}

/// Why a source or a file could not be read: a usage or IO error (the
/// CLI's exit code 2), its message naming what could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadFailure(pub String);

impl fmt::Display for ReadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReadFailure {}

impl Source {
    /// An editor buffer: `path`, when the buffer is saved, gives the
    /// directory of its recorded files.
    pub fn buffer(name: impl Into<String>, text: impl Into<String>, path: Option<&Path>) -> Source {
        Source {
            name: name.into(),
            text: text.into(),
            dir: path.and_then(|p| p.is_file().then(|| parent(p))),
        }
    }

    /// A file, or standard input for `-`.
    pub fn file(path: &Path) -> Result<Source, ReadFailure> {
        let name = display_name(path);
        let text = read_file_or_stdin(path)
            .map_err(|e| ReadFailure(format!("cannot read `{name}`: {e}")))?;
        Ok(Source {
            name,
            text,
            dir: Some(if is_stdin(path) {
                PathBuf::new()
            } else {
                parent(path)
            }),
        })
    }

    /// A file, or when no file of that name exists, a git revision
    /// `REV:PATH` of the current directory's repository (read with
    /// `git cat-file`; its recorded files are read from the working tree,
    /// relative to PATH).
    pub fn file_or_revision(spec: &str) -> Result<Source, ReadFailure> {
        let path = Path::new(spec);
        if path.exists() {
            return Source::file(path);
        }
        match spec.split_once(':') {
            Some((rev, file)) if !rev.is_empty() && !file.is_empty() => Ok(Source {
                name: spec.to_owned(),
                text: read_git(spec, rev, file).map_err(ReadFailure)?,
                dir: Some(parent(Path::new(file))),
            }),
            _ => Source::file(path),
        }
    }

    /// Where a file a policy names (`traffic x = file "week.jsonl"`) is:
    /// absolute paths as they are, relative ones in [`Source::dir`].
    /// `None` for an unsaved buffer.
    pub fn resolve(&self, file: &str) -> Option<PathBuf> {
        let f = Path::new(file);
        if f.is_absolute() {
            return Some(f.to_path_buf());
        }
        self.dir.as_ref().map(|d| d.join(f))
    }
}

/// The directory of a path (`""` for a bare file name: the working
/// directory).
fn parent(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Reads a file, or standard input for `-`, with the policy size limit.
pub fn read_file_or_stdin(path: &Path) -> Result<String, ReadError> {
    if is_stdin(path) {
        read_stdin()
    } else {
        read(path)
    }
}

/// Reads a recorded traffic file ([`read_traffic`]), or standard input for
/// `-`.
pub fn read_traffic_or_stdin(path: &Path) -> Result<String, ReadError> {
    if is_stdin(path) {
        read_stdin()
    } else {
        read_traffic(path)
    }
}

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

fn git(args: &[&str]) -> Result<std::process::Output, String> {
    Command::new("git")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `git`: {}", io_message(&e)))
}

/// `git cat-file blob REV:PATH`, with errors that say which part is wrong.
fn read_git(spec: &str, rev: &str, file: &str) -> Result<String, String> {
    if rev.starts_with('-') {
        return Err(format!(
            "cannot read `{spec}`: `{rev}` is not a git revision"
        ));
    }
    let inside = git(&["rev-parse", "--is-inside-work-tree"])?;
    if !inside.status.success() {
        return Err(format!(
            "cannot read `{spec}`: no file of that name, and the current directory is not in a git repository"
        ));
    }
    let commit = git(&[
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        &format!("{rev}^{{commit}}"),
    ])?;
    if !commit.status.success() {
        return Err(format!(
            "cannot read `{spec}`: no file of that name, and `{rev}` is not a git revision"
        ));
    }
    let commit = String::from_utf8_lossy(&commit.stdout).trim().to_owned();
    let object = format!("{commit}:{file}");
    let exists = git(&["cat-file", "-e", &object])?;
    if !exists.status.success() {
        return Err(format!(
            "cannot read `{spec}`: `{file}` does not exist in revision `{rev}`"
        ));
    }
    let blob = git(&["cat-file", "blob", &object])?;
    if !blob.status.success() {
        return Err(format!(
            "cannot read `{spec}`: `{file}` is not a file in revision `{rev}`"
        ));
    }
    if blob.stdout.len() > MAX_SOURCE_BYTES {
        return Err(format!("cannot read `{spec}`: {}", ReadError::TooLarge));
    }
    String::from_utf8(blob.stdout)
        .map_err(|_| format!("cannot read `{spec}`: {}", ReadError::NotUtf8))
}

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
