//! `routec fmt FILE... [--check]`

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use routec_syntax::diagnostic::sort;
use routec_syntax::fmt::{FormatError, format};

use super::{display_name, eprint, is_stdin, print, read};
use crate::cli::{ColorChoice, FmtArgs, exit};
use crate::render::human;

pub fn run(args: &FmtArgs, color: ColorChoice) -> u8 {
    let mut code = exit::OK;
    for path in &args.files {
        let file_code = format_one(path, args.check, color);
        code = worst(code, file_code);
    }
    code
}

/// Usage and IO errors outrank policy failures.
fn worst(a: u8, b: u8) -> u8 {
    if a == exit::USAGE || b == exit::USAGE {
        exit::USAGE
    } else {
        a.max(b)
    }
}

fn format_one(path: &Path, check: bool, color: ColorChoice) -> u8 {
    let name = display_name(path);
    let source = match read(path) {
        Ok(source) => source,
        Err(e) => {
            eprint(&format!("routec: cannot read `{name}`: {e}\n"));
            return exit::USAGE;
        }
    };
    let formatted = match format(&source) {
        Ok(formatted) => formatted,
        Err(FormatError::Syntax(mut diagnostics)) => {
            sort(&mut diagnostics);
            eprint(&human::render(&name, &source, &diagnostics, color.stderr()));
            eprint(&format!(
                "routec: not formatting `{name}`: fix its syntax errors first\n"
            ));
            return exit::FAILURE;
        }
        Err(e @ FormatError::MeaningChanged(_)) => {
            eprint(&format!(
                "routec: cannot format `{name}`: {e}; the file is left as it was (this is a bug in routec)\n"
            ));
            return exit::FAILURE;
        }
    };

    if check {
        if formatted != source {
            print(&format!("{name}\n"));
            return exit::FAILURE;
        }
        return exit::OK;
    }
    if is_stdin(path) {
        print(&formatted);
        return exit::OK;
    }
    if formatted == source {
        return exit::OK;
    }
    match write_atomically(path, &formatted) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprint(&format!("routec: cannot write `{name}`: {e:#}\n"));
            exit::USAGE
        }
    }
}

/// Replaces the contents of `path` without ever leaving it half-written:
/// writes a temporary file in the same directory, then renames it over the
/// original (following symlinks, and keeping the original's permissions).
pub fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let target = fs::canonicalize(path).context("cannot resolve the path")?;
    let permissions = fs::metadata(&target)?.permissions();
    let dir = target
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();

    let mut attempt = 0u32;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(
            ".{file_name}.routec-fmt-{}-{attempt}.tmp",
            std::process::id()
        ));
        match File::create_new(&tmp) {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 16 => {
                attempt += 1;
            }
            Err(e) => {
                return Err(e).context(format!(
                    "cannot create a temporary file in `{}`",
                    dir.display()
                ));
            }
        }
    };
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::set_permissions(&tmp, permissions))
        .and_then(|()| fs::rename(&tmp, &target));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e.into());
    }
    Ok(())
}
