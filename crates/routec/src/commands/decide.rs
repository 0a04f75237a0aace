//! `routec decide POLICY|TABLE --requests FILE.jsonl [--traffic NAME]`: the
//! batch form of `explain`, for comparing runtimes on one's own requests.
//! Each line of the requests (the recorded-traffic format, `docs/traffic.md`)
//! is routed by `routec-runtime` with its `id` as the sticky-split key; one
//! JSON object per line comes out, in the same order.

use std::path::PathBuf;

use routec_driver::{decide, source};

use super::{display_name, eprint, print, report};
use crate::cli::{ColorChoice, exit};

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

pub fn run(args: &DecideArgs, color: ColorChoice) -> u8 {
    let loaded = match decide::load_router(&args.input, args.traffic.as_deref()) {
        Ok(l) => l,
        Err(failed) => return report(&failed, color),
    };
    if let Some(p) = &loaded.compiled {
        super::warn(p, color);
    }
    let name = display_name(&args.requests);
    let text = match source::read_traffic_or_stdin(&args.requests) {
        Ok(text) => text,
        Err(e) => {
            eprint(&format!("routec: cannot read `{name}`: {e}\n"));
            return exit::USAGE;
        }
    };
    match decide::decide_all(&loaded.router, &name, &text) {
        Ok(decided) => {
            let mut out = String::new();
            for d in &decided {
                if let Ok(json) = serde_json::to_string(d) {
                    out.push_str(&json);
                    out.push('\n');
                }
            }
            print(&out);
            exit::OK
        }
        // Bad lines in the requests are usage errors (exit 2), located.
        Err(failed) => report(&failed, color).max(exit::USAGE),
    }
}
