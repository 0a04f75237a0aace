//! The subcommands. Each returns its exit code (see [`crate::cli::exit`]).

pub mod check;
pub mod compile;
pub mod convert;
pub mod decide;
pub mod diff;
pub mod explain;
pub mod fmt;
pub mod import;
pub mod load;
pub mod lsp;
pub mod plot;
pub mod progress;
pub mod serve;
pub mod simulate;
pub mod test;

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use routec_driver::Failed;
pub use routec_driver::source::{display_name, is_stdin};
use routec_render::human;

use crate::cli::{ColorChoice, exit};

/// Renders why a step failed to standard error and returns its exit code:
/// located diagnostics (exit 1) or a usage or IO error (exit 2).
pub fn report(failed: &Failed, color: ColorChoice) -> u8 {
    match failed {
        Failed::Diagnostics { files, diagnostics } => {
            eprint(&human::render(files, diagnostics, color.stderr()));
            exit::FAILURE
        }
        Failed::Policy(message) => {
            eprint(&format!("routec: {message}\n"));
            exit::FAILURE
        }
        Failed::Usage(message) => {
            eprint(&format!("routec: {message}\n"));
            exit::USAGE
        }
    }
}

/// Prints a compiled policy's warnings (the checker's and the compiler's)
/// to standard error.
pub fn warn(p: &routec_driver::CompiledPolicy, color: ColorChoice) {
    eprint(&human::render(&p.files, &p.warnings, color.stderr()));
}

/// Writes to standard output; a closed pipe is not an error worth reporting.
pub fn print(text: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The exit code of several files: usage and IO errors outrank policy
/// failures, which outrank success.
pub fn worst(a: u8, b: u8) -> u8 {
    use crate::cli::exit;
    if a == exit::USAGE || b == exit::USAGE {
        exit::USAGE
    } else {
        a.max(b)
    }
}

/// Writes to standard error.
pub fn eprint(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// Writes `bytes` to `path` (created or replaced) without ever exposing a
/// partial file: a temporary file in the target directory is written,
/// synced, given `permissions` (if any) and renamed over `path`; on any
/// failure it is removed.
pub fn write_atomically(
    path: &Path,
    bytes: &[u8],
    permissions: Option<fs::Permissions>,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let mut attempt = 0u32;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(
            ".{file_name}.routec-{}-{attempt}.tmp",
            std::process::id()
        ));
        match File::create_new(&tmp) {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => attempt += 1,
            Err(e) => return Err(e),
        }
    };
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| match permissions {
            Some(p) => fs::set_permissions(&tmp, p),
            None => Ok(()),
        })
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

/// Writes bytes to standard output; a closed pipe is not an error.
pub fn print_bytes(bytes: &[u8]) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(bytes).and_then(|()| out.flush());
}

/// Reads, checks and compiles the policy at `path` for traffic profile
/// `traffic` (the first declared when `None`), with `slo_margin` (when
/// given) instead of the `slo` block's margin, printing the warnings to
/// standard error; on failure, renders why and returns the exit code.
pub fn compile(
    path: &Path,
    traffic: Option<&str>,
    slo_margin: Option<f64>,
    color: ColorChoice,
) -> Result<routec_driver::CompiledPolicy, u8> {
    let source = routec_driver::Source::file(path).map_err(|e| report(&e.into(), color))?;
    let compiled = routec_driver::check(source).and_then(|mut checked| {
        if let Some(margin) = slo_margin {
            checked.policy.slo_settings.margin = margin;
        }
        routec_driver::compile(checked, traffic)
    });
    match compiled {
        Ok(p) => {
            warn(&p, color);
            Ok(p)
        }
        Err(failed) => Err(report(&failed, color)),
    }
}
