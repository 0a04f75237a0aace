//! `routec explain FILE --request JSON [--key KEY] [--format human|json]`

use routec_driver::explain;
use routec_render::explain as render;
use serde_json::Value as Json;

use super::{eprint, print, report};
use crate::cli::{ColorChoice, ExplainArgs, OutputFormat, exit};

pub fn run(args: &ExplainArgs, color: ColorChoice) -> u8 {
    let text = match args.request.strip_prefix('@') {
        Some(path) => match routec_driver::source::read(std::path::Path::new(path)) {
            Ok(text) => text,
            Err(e) => {
                eprint(&format!("routec: cannot read `{path}`: {e}\n"));
                return exit::USAGE;
            }
        },
        None => args.request.clone(),
    };
    let json: Json = match serde_json::from_str(&text) {
        Ok(json) => json,
        Err(e) => {
            eprint(&format!("routec: the request is not valid JSON: {e}\n"));
            return exit::USAGE;
        }
    };
    let p = match super::compile(&args.file, None, None, color) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let router = match explain::router(&p) {
        Ok(r) => r,
        Err(failed) => return report(&failed, color),
    };
    let mut read = match explain::request(&router, &json) {
        Ok(r) => r,
        Err(failed) => return report(&failed, color),
    };
    if let Some(key) = &args.key {
        read.request.set_key(key);
    }
    let explanation = explain::explain(&p, &router, &read);
    match args.format {
        OutputFormat::Json => print(&routec_render::pretty(&render::json(&explanation))),
        OutputFormat::Human => print(&render::human(&explanation)),
    }
    // The decision is shown (it is what every runtime does with this
    // request), but a request with values that do not fit is a usage error.
    for invalid in &explanation.invalid_values {
        eprint(&format!("routec: {}\n", invalid.message()));
    }
    if explanation.invalid_values.is_empty() {
        exit::OK
    } else {
        exit::USAGE
    }
}
