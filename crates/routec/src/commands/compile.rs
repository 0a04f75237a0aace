//! `routec compile FILE [-o OUT] [--format json|bin] [--traffic NAME]`

use std::path::{Path, PathBuf};

use routec_driver::source::io_message;

use super::{eprint, is_stdin, print_bytes, write_atomically};
use crate::cli::{ColorChoice, CompileArgs, TableFormat, exit};

/// Where the table goes by default: next to the policy, `NAME.route` →
/// `NAME.table.json` (or `.table.bin`).
pub fn default_output(file: &Path, format: TableFormat) -> PathBuf {
    let ext = match format {
        TableFormat::Json => "table.json",
        TableFormat::Bin => "table.bin",
        TableFormat::Wasm => "wasm",
    };
    if is_stdin(file) {
        return PathBuf::from(format!("policy.{ext}"));
    }
    file.with_extension(ext)
}

pub fn run(args: &CompileArgs, color: ColorChoice) -> u8 {
    let p = match super::compile(&args.file, args.traffic.as_deref(), args.slo_margin, color) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let table = &p.compiled.table;
    let bytes = match args.format {
        TableFormat::Json => table.to_json().into_bytes(),
        TableFormat::Bin => table.to_binary(),
        TableFormat::Wasm => match routec_wasm::compile(table) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprint(&format!(
                    "routec: cannot compile the table to WebAssembly: {e}\n"
                ));
                return exit::FAILURE;
            }
        },
    };
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.file, args.format));
    // What the table was optimized for, after it is written.
    let predicted = || {
        if let Some(predicted) = routec_driver::predicted::predicted(&p) {
            eprint(&routec_render::predicted::human(&predicted));
        }
    };
    if is_stdin(&out) {
        print_bytes(&bytes);
        predicted();
        return exit::OK;
    }
    match write_atomically(&out, &bytes, None) {
        Ok(()) => {
            let cells = table.assumed.as_ref().map_or(0, |a| a.cells.len());
            let split = table.leaves.iter().filter(|l| l.splits.len() > 1).count();
            eprint(&format!(
                "routec: wrote `{}` ({} rules, {cells} cells, {split} split leaves, {} bytes)\n",
                out.display(),
                table.rules.len(),
                bytes.len()
            ));
            predicted();
            exit::OK
        }
        Err(e) => {
            eprint(&format!(
                "routec: cannot write `{}`: {}\n",
                out.display(),
                io_message(&e)
            ));
            exit::USAGE
        }
    }
}
