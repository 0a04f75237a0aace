//! `routec decide POLICY|TABLE --requests FILE.jsonl [--traffic NAME]`: the
//! batch form of `explain`, for comparing runtimes on one's own requests.
//! Each line of the requests (the recorded-traffic format, `docs/traffic.md`)
//! is routed by `routec-runtime` with its `id` as the sticky-split key; one
//! JSON object per line comes out, in the same order.

use std::path::{Path, PathBuf};

use routec_runtime::{RequestError, Router};
use routec_traffic::RecordError;
use serde::Serialize;

use super::{display_name, eprint, is_stdin, print};
use crate::cli::{ColorChoice, exit};
use crate::pipeline::{self, render_record_errors};
use crate::source::{self, io_message};

pub const HELP: &str = "\
Examples:
  routec decide support.route --requests week.jsonl
  routec decide support.table.bin --requests week.jsonl > native.jsonl
  cat week.jsonl | routec decide support.table.json --requests -

The first argument is a policy (a `.route` file, checked and compiled for
`--traffic`, by default its first profile) or a decision table written by
`routec compile` (JSON or binary). Each line of the requests is one request
in the recorded-traffic format (docs/traffic.md): `{\"id\": \"u-1\", \"signals\":
{\"task\": \"code\", \"prompt_tokens\": 900}}`; `outcomes` are allowed and
ignored. As for a live request (and unlike a recorded profile), a signal a
line omits or gives a value that does not fit takes its default. The `id` is
the sticky-split key; a line without one is decided without a key.

One JSON object per request goes to standard output, in order:
  {\"id\": \"u-1\", \"rule\": 88, \"plan\": \"small\", \"defaulted\": [\"lang\"], \"invalid\": []}
`rule` is the matching rule's line, `plan` the plan in the language's
syntax, `defaulted` the signals the decision read that took their default
(missing ones, then invalid ones) and `invalid` those that were invalid.
The wasm module's JavaScript package returns the same fields (docs/wasm.md),
so the outputs of two runtimes compare line by line.

Exit codes:
  0  every request was decided
  1  errors in the policy, or SLOs that no routing can meet
  2  usage or IO errors: an unreadable file, a table that does not load, a
     malformed line or an unknown signal in the requests (located as
     `file:line:column`; nothing is written then)";

#[derive(Debug, clap::Args)]
pub struct DecideArgs {
    /// A policy (`.route`) or a decision table (`.table.json`, `.table.bin`).
    #[arg(value_name = "POLICY|TABLE")]
    pub input: PathBuf,
    /// The requests, one JSON object a line (`-`: standard input).
    #[arg(long, value_name = "FILE.jsonl")]
    pub requests: PathBuf,
    /// The traffic profile a policy is compiled for (default: its first).
    #[arg(long, value_name = "NAME")]
    pub traffic: Option<String>,
}

/// One output line.
#[derive(Serialize)]
struct Decided<'a> {
    id: Option<&'a str>,
    rule: u32,
    plan: &'a str,
    defaulted: Vec<&'a str>,
    invalid: Vec<&'a str>,
}

/// The largest table file read, in bytes (a table is far smaller than the
/// recorded traffic it may be compiled from).
const MAX_TABLE_BYTES: u64 = 512 * 1024 * 1024;

fn is_policy(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "route")
}

/// The router of the input: a policy compiled as `compile` does, or a table
/// loaded as runtimes do.
fn router(args: &DecideArgs, color: ColorChoice) -> Result<Router, u8> {
    let table = if is_policy(&args.input) {
        pipeline::compile(&args.input, args.traffic.as_deref(), color)?
            .compiled
            .table
    } else {
        let name = display_name(&args.input);
        if args.traffic.is_some() {
            eprint("routec: `--traffic` applies to a policy, not to a compiled table\n");
            return Err(exit::USAGE);
        }
        let bytes = read_table(&args.input).map_err(|e| {
            eprint(&format!("routec: cannot read `{name}`: {e}\n"));
            exit::USAGE
        })?;
        if bytes.starts_with(b"\0asm") {
            eprint(&format!(
                "routec: `{name}` is a WebAssembly module, not a decision table\n  = help: decide with the module through its JavaScript package or any wasm host (docs/wasm.md), or pass its policy or table here\n"
            ));
            return Err(exit::USAGE);
        }
        return Router::load(&bytes).map_err(|e| {
            eprint(&format!(
                "routec: `{name}` is not a usable decision table: {e}\n  = help: pass a `.route` policy, or a table written by `routec compile`\n"
            ));
            exit::USAGE
        });
    };
    Router::new(table).map_err(|e| {
        eprint(&format!(
            "routec: the compiled table does not load: {e} (this is a bug in routec)\n"
        ));
        exit::FAILURE
    })
}

fn read_table(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| io_message(&e))?;
    if meta.is_dir() {
        return Err("is a directory".into());
    }
    if meta.len() > MAX_TABLE_BYTES {
        return Err(format!(
            "the file is larger than the limit of {} MiB",
            MAX_TABLE_BYTES / (1024 * 1024)
        ));
    }
    std::fs::read(path).map_err(|e| io_message(&e))
}

pub fn run(args: &DecideArgs, color: ColorChoice) -> u8 {
    let router = match router(args, color) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let name = display_name(&args.requests);
    let text = match if is_stdin(&args.requests) {
        source::read_stdin()
    } else {
        source::read_traffic(&args.requests)
    } {
        Ok(text) => text,
        Err(e) => {
            eprint(&format!("routec: cannot read `{name}`: {e}\n"));
            return exit::USAGE;
        }
    };
    let records = match routec_traffic::parse(&text) {
        Ok(records) => records,
        Err(errors) => {
            eprint(&render_record_errors(&name, &errors));
            return exit::USAGE;
        }
    };
    let table = router.table();
    let names = |set: routec_runtime::SignalSet| -> Vec<&str> {
        set.iter()
            .filter_map(|i| table.signals.get(i).map(|s| s.name.as_str()))
            .collect()
    };
    let mut out = String::new();
    let mut errors = Vec::new();
    for record in &records {
        let object: serde_json::Map<String, serde_json::Value> = record
            .signals
            .iter()
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect();
        let mut request = match router.request_from_json(&serde_json::Value::Object(object)) {
            Ok(r) => r,
            Err(RequestError::UnknownSignal { name, .. }) => {
                let column = record
                    .signals
                    .iter()
                    .find(|e| e.name == name)
                    .map_or(1, |e| e.column);
                let mut error =
                    RecordError::new(record.line, column, format!("unknown signal `{name}`"));
                let names: Vec<&str> = table.signals.iter().map(|s| s.name.as_str()).collect();
                error.help = super::explain::suggest(&name, &names)
                    .map(|s| format!("did you mean `{s}`?"))
                    .or_else(|| Some(format!("the signals are {}", names.join(", "))));
                errors.push(error);
                continue;
            }
            Err(e) => {
                errors.push(RecordError::new(record.line, 1, e.to_string()));
                continue;
            }
        };
        if let Some(id) = &record.id {
            request.set_key(id);
        }
        let d = router.decide(&request);
        let mut defaulted = names(d.defaulted);
        let invalid = names(d.invalid);
        defaulted.extend(&invalid);
        let line = Decided {
            id: record.id.as_deref(),
            rule: table.rules.get(d.rule as usize).map_or(0, |r| r.line),
            plan: table
                .plans
                .get(d.plan as usize)
                .map_or("", |p| p.text.as_str()),
            defaulted,
            invalid,
        };
        if let Ok(json) = serde_json::to_string(&line) {
            out.push_str(&json);
            out.push('\n');
        }
    }
    if !errors.is_empty() {
        errors.truncate(routec_traffic::MAX_ERRORS);
        eprint(&render_record_errors(&name, &errors));
        return exit::USAGE;
    }
    print(&out);
    exit::OK
}
