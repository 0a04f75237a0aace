//! `routec lsp`: the language server over standard input and output
//! (`routec-lsp`), with the code lenses' commands ("Simulate", "Run tests")
//! implemented here, where the simulator and the test runner live.
//!
//! Standard output carries the protocol and nothing else: every report
//! goes back to the editor as the command's result and a
//! `window/showMessage`.

use std::path::Path;
use std::sync::Arc;

use routec_check::ir::TrafficId;
use routec_lsp::{CommandRunner, Config};

use super::eprint;
use super::simulate::{human, report_json};
use super::test::{human_file, human_summary, run_file};
use crate::analysis;
use crate::cli::{LspArgs, exit};
use crate::pipeline::{self, Pipeline, RecordedError};
use crate::render::human as render;

/// Requests simulated by the "Simulate" code lens (as `routec simulate`).
const REQUESTS: u64 = 100_000;
const SEED: u64 = 0;

pub fn run(_args: &LspArgs) -> u8 {
    let config = Config {
        commands: Some(Arc::new(Commands)),
        ..Config::default()
    };
    match routec_lsp::run_stdio(config) {
        // 1 when the client sent `exit` without `shutdown`, as LSP asks.
        Ok(ended) => ended.code(),
        Err(e) => {
            eprint(&format!(
                "routec: the language server could not start: {e}\n"
            ));
            exit::USAGE
        }
    }
}

/// "Simulate" and "Run tests" on a document's text.
#[derive(Debug)]
struct Commands;

impl CommandRunner for Commands {
    fn run(&self, command: &str, name: &str, text: &str) -> Result<String, String> {
        let p = compile(name, text)?;
        match command {
            routec_ide::COMMAND_RUN_TESTS => {
                let results = run_file(&p);
                let failed = results.iter().filter(|r| !r.passed).count();
                let passed = results.len() - failed;
                Ok(format!(
                    "{}{}",
                    human_file(&p.name, &results, false),
                    human_summary(&results, passed, failed, false)
                ))
            }
            routec_ide::COMMAND_SIMULATE => {
                if p.policy.traffic.is_empty() {
                    return Err(format!(
                        "`{}` declares no traffic profile to simulate; add a `traffic NAME {{ ... }}` block",
                        p.name
                    ));
                }
                // A recorded first profile is sampled from its file's
                // requests, as `routec simulate` does for unlabeled files.
                let run = match &p.recorded {
                    Some(bound) => routec_sim::run_recorded(
                        &p.policy,
                        &p.compiled.table,
                        TrafficId(0),
                        bound,
                        REQUESTS,
                        SEED,
                        &mut |_, _| {},
                    ),
                    None => {
                        routec_sim::run(&p.policy, &p.compiled.table, TrafficId(0), REQUESTS, SEED)
                    }
                };
                let report = run
                    .map_err(|e| format!("cannot simulate `{}`: {e}", p.name))?
                    .report();
                Ok(human(&p.name, &report, &report_json(&p.policy, &report)))
            }
            other => Err(format!("unknown command `{other}`")),
        }
    }
}

/// Checks and compiles a text; errors come back as one plain-text report.
fn compile(name: &str, text: &str) -> Result<Pipeline, String> {
    let analyzed = analysis::analyze(text);
    if analyzed.has_errors() {
        return Err(format!(
            "`{name}` has errors; fix them first:\n{}",
            render::render(name, text, &analyzed.diagnostics, false)
        ));
    }
    // The table is compiled for the first profile; when it is a recorded
    // file and the document is saved, the file beside it is read, as
    // `routec compile` does (an untitled text has no directory to read from).
    let traffic = (!analyzed.policy.traffic.is_empty()).then_some(0);
    let path = Path::new(name);
    let recorded = match traffic {
        Some(i) if path.is_file() => match pipeline::read_recorded(&analyzed.policy, path, i) {
            Ok(r) => r.map(|(_, bound)| bound),
            Err(RecordedError::Io(message)) => return Err(message),
            Err(RecordedError::Lines { path, errors }) => {
                return Err(pipeline::render_record_errors(&path, &errors));
            }
        },
        _ => None,
    };
    let options = routec_opt::CompileOptions {
        traffic: None,
        compiler_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    match routec_opt::compile_recorded(&analyzed.policy, text, &options, recorded.as_ref()) {
        Ok(compiled) => Ok(Pipeline {
            name: name.to_owned(),
            source: text.to_owned(),
            policy: analyzed.policy,
            compiled,
            traffic,
            recorded,
        }),
        Err(errors) => Err(format!(
            "`{name}` cannot be compiled:\n{}",
            render::render(name, text, &errors, false)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/support.route"
        ))
        .unwrap()
    }

    #[test]
    fn runs_the_tests_of_an_unsaved_text() {
        let out = Commands
            .run(routec_ide::COMMAND_RUN_TESTS, "support.route", &example())
            .unwrap();
        assert!(out.starts_with("running "), "{out}");
        assert!(out.contains("test result: ok."), "{out}");
    }

    #[test]
    fn simulates_under_the_first_traffic_profile() {
        let out = Commands
            .run(routec_ide::COMMAND_SIMULATE, "support.route", &example())
            .unwrap();
        assert!(out.starts_with("simulated 100000 requests of `"), "{out}");
    }

    fn traffic_fixture(file: &str) -> (String, String) {
        let path = format!(
            "{}/../../tests/traffic/cli/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        (path, text)
    }

    #[test]
    fn a_saved_policy_runs_on_its_recorded_traffic() {
        let (path, text) = traffic_fixture("unlabeled.route");
        let out = Commands
            .run(routec_ide::COMMAND_SIMULATE, &path, &text)
            .unwrap();
        assert!(
            out.starts_with("simulated 100000 requests of `sample`"),
            "{out}"
        );
        let out = Commands
            .run(routec_ide::COMMAND_RUN_TESTS, &path, &text)
            .unwrap();
        assert!(out.contains("test result: ok."), "{out}");
    }

    #[test]
    fn bad_recorded_lines_are_reported_with_their_location() {
        let (path, text) = traffic_fixture("typos.route");
        let err = Commands
            .run(routec_ide::COMMAND_SIMULATE, &path, &text)
            .unwrap_err();
        assert!(err.contains("typos.jsonl:"), "{err}");
    }

    #[test]
    fn refuses_a_text_with_errors() {
        let err = Commands
            .run(routec_ide::COMMAND_SIMULATE, "x.route", "policy {")
            .unwrap_err();
        assert!(
            err.starts_with("`x.route` has errors; fix them first:"),
            "{err}"
        );
    }
}
