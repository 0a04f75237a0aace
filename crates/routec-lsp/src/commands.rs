//! The code lenses' commands, "Simulate" and "Run tests", run on the
//! document's text (saved or not) through the driver (`routec-driver`),
//! exactly as `routec simulate` and `routec test` run them, and rendered as
//! plain text by `routec-render`.

use std::path::Path;

use routec_driver::simulate::{self, Simulation};
use routec_driver::{CompiledPolicy, Failed, Source};
use routec_render::{evaluate, human, simulate as render_sim, test};

use crate::CommandRunner;

/// Requests simulated by the "Simulate" code lens (as `routec simulate`).
const REQUESTS: u64 = 100_000;
const SEED: u64 = 0;

/// "Simulate" and "Run tests" on a document's text.
#[derive(Debug, Default)]
pub struct DriverCommands;

impl CommandRunner for DriverCommands {
    fn run(&self, command: &str, name: &str, text: &str) -> Result<String, String> {
        let p = compile(name, text)?;
        match command {
            routec_ide::COMMAND_RUN_TESTS => {
                let run = routec_driver::tests::run(&p);
                let failed = run.outcomes.iter().filter(|r| !r.passed).count();
                let passed = run.outcomes.len() - failed;
                let problems: String = run.problems.iter().map(plain).collect();
                Ok(format!(
                    "{problems}{}{}",
                    test::human_file(&p.source.name, &run.outcomes, false),
                    test::human_summary(&run.outcomes, passed, failed, false)
                ))
            }
            routec_ide::COMMAND_SIMULATE => {
                // The first profile; a recorded one is sampled from its
                // file's requests, as `routec simulate` does.
                if p.policy.traffic.is_empty() {
                    return Err(format!(
                        "`{}` declares no traffic profile to simulate; add a `traffic NAME {{ ... }}` block",
                        p.source.name
                    ));
                }
                match simulate::simulate(&p, 0, REQUESTS, SEED, &mut |_, _| {}) {
                    Ok(Simulation::Sampled { report, .. }) => {
                        Ok(render_sim::human(&p.source.name, &p.policy, &report))
                    }
                    Ok(Simulation::Replayed { replay, .. }) => {
                        Ok(evaluate::human(&p.source.name, &replay))
                    }
                    Err(failed) => Err(plain(&failed)),
                }
            }
            other => Err(format!("unknown command `{other}`")),
        }
    }
}

/// A failure as plain text (no colours).
fn plain(failed: &Failed) -> String {
    match failed {
        Failed::Diagnostics { files, diagnostics } => human::render(files, diagnostics, false),
        Failed::Policy(m) | Failed::Usage(m) => format!("{m}\n"),
    }
}

/// Checks and compiles a text; errors come back as one plain-text report.
/// When the document is saved, its recorded traffic is read beside it, as
/// `routec compile` does (an untitled text has no directory to read from).
fn compile(name: &str, text: &str) -> Result<CompiledPolicy, String> {
    let source = Source::buffer(name, text, Some(Path::new(name)));
    let checked = routec_driver::check(source).map_err(|f| match f {
        Failed::Diagnostics { files, diagnostics } => format!(
            "`{name}` has errors; fix them first:\n{}",
            human::render(&files, &diagnostics, false)
        ),
        other => plain(&other),
    })?;
    routec_driver::compile(checked, None).map_err(|f| match f {
        Failed::Diagnostics { files, diagnostics }
            if diagnostics
                .iter()
                .all(|d| d.file == routec_syntax::FileId::MAIN) =>
        {
            format!(
                "`{name}` cannot be compiled:\n{}",
                human::render(&files, &diagnostics, false)
            )
        }
        other => plain(&other),
    })
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
        let out = DriverCommands
            .run(routec_ide::COMMAND_RUN_TESTS, "support.route", &example())
            .unwrap();
        assert!(out.starts_with("running "), "{out}");
        assert!(out.contains("test result: ok."), "{out}");
    }

    #[test]
    fn simulates_under_the_first_traffic_profile() {
        let out = DriverCommands
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
        let out = DriverCommands
            .run(routec_ide::COMMAND_SIMULATE, &path, &text)
            .unwrap();
        assert!(
            out.starts_with("simulated 100000 requests of `sample`"),
            "{out}"
        );
        let out = DriverCommands
            .run(routec_ide::COMMAND_RUN_TESTS, &path, &text)
            .unwrap();
        assert!(out.contains("test result: ok."), "{out}");
    }

    #[test]
    fn bad_recorded_lines_are_reported_with_their_location() {
        let (path, text) = traffic_fixture("typos.route");
        let err = DriverCommands
            .run(routec_ide::COMMAND_SIMULATE, &path, &text)
            .unwrap_err();
        assert!(err.contains("typos.jsonl:"), "{err}");
    }

    #[test]
    fn refuses_a_text_with_errors() {
        let err = DriverCommands
            .run(routec_ide::COMMAND_SIMULATE, "x.route", "policy {")
            .unwrap_err();
        assert!(
            err.starts_with("`x.route` has errors; fix them first:"),
            "{err}"
        );
    }
}
