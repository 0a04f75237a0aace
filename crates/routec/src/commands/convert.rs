//! `routec convert FORMAT INPUT [-o OUT] [--split train|test|all]`: turns
//! public per-query evaluation data into recorded traffic (JSON Lines, one
//! request per line with its signals and per-model outcomes;
//! `docs/traffic.md`, `docs/evaluation.md`). The conversion is
//! `routec_driver::convert`; this writes its lines and a summary.

use routec_driver::convert::{self, Format};

use super::{eprint, print, report, write_atomically};
use crate::cli::{ColorChoice, ConvertArgs, ConvertFormat, Split, exit};

pub fn run(args: &ConvertArgs, color: ColorChoice) -> u8 {
    let format = match args.format {
        ConvertFormat::Routerbench => Format::Routerbench,
        ConvertFormat::RoutellmMmlu => Format::RoutellmMmlu,
        ConvertFormat::RoutellmGsm8k => Format::RoutellmGsm8k,
    };
    let split = match args.split {
        Split::All => convert::Split::All,
        Split::Train => convert::Split::Train,
        Split::Test => convert::Split::Test,
    };
    let converted = match convert::convert(format, &args.inputs, split) {
        Ok(c) => c,
        Err(failed) => return report(&failed, color),
    };
    let text = converted.text();
    match &args.output {
        Some(out) if out.as_os_str() != "-" => {
            if let Err(e) = write_atomically(out, text.as_bytes(), None) {
                eprint(&format!("routec: cannot write `{}`: {e}\n", out.display()));
                return exit::USAGE;
            }
        }
        _ => print(&text),
    }
    let values: Vec<&str> = converted.values.iter().map(String::as_str).collect();
    eprint(&format!(
        "routec: {} requests written ({} read, {} dropped); models: {}; enum values: {}\n",
        converted.lines.len(),
        converted.read,
        converted.dropped,
        converted.models.join(", "),
        values.join(", "),
    ));
    exit::OK
}
