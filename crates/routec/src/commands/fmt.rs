//! `routec fmt FILE... [--check]`

use std::fs;
use std::path::Path;

use anyhow::Context;
use routec_syntax::diagnostic::sort;
use routec_syntax::fmt::{FormatError, format};

use routec_driver::source::read_file_or_stdin as read;
use routec_render::human;
use routec_syntax::SourceMap;

use super::{display_name, eprint, is_stdin, print, worst, write_atomically};
use crate::cli::{ColorChoice, FmtArgs, exit};

pub fn run(args: &FmtArgs, color: ColorChoice) -> u8 {
    let mut code = exit::OK;
    for path in &args.files {
        let file_code = format_one(path, args.check, color);
        code = worst(code, file_code);
    }
    code
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
            eprint(&human::render(
                &SourceMap::new(name.clone(), source.clone()),
                &diagnostics,
                color.stderr(),
            ));
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
    match write_in_place(path, &formatted) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprint(&format!("routec: cannot write `{name}`: {e:#}\n"));
            exit::USAGE
        }
    }
}

/// Replaces the contents of `path` without ever leaving it half-written
/// (see [`write_atomically`]), following symlinks and keeping the original's
/// permissions.
pub fn write_in_place(path: &Path, text: &str) -> anyhow::Result<()> {
    let target = fs::canonicalize(path).context("cannot resolve the path")?;
    let permissions = fs::metadata(&target)?.permissions();
    write_atomically(&target, text.as_bytes(), Some(permissions))?;
    Ok(())
}
