//! `routec test FILE... [--format human|json]`: runs the `test` blocks
//! (`routec_driver::tests`) and prints a cargo-test-like report.

use routec_render::test::{JsonReport, human_file, human_summary};

use super::{print, report, worst};
use crate::cli::{ColorChoice, OutputFormat, TestArgs, exit};

pub fn run(args: &TestArgs, color: ColorChoice) -> u8 {
    let mut outcomes = Vec::new();
    let mut errors = Vec::new();
    let mut code = exit::OK;
    let paint = color.stdout() && args.format == OutputFormat::Human;
    for path in &args.files {
        let p = match super::compile(path, None, args.slo_margin, color) {
            Ok(p) => p,
            Err(c) => {
                errors.push(super::display_name(path));
                code = worst(code, c);
                continue;
            }
        };
        let run = routec_driver::tests::run(&p);
        for problem in &run.problems {
            // The tests it stopped fail; the problem is said beside them.
            report(problem, color);
        }
        if args.format == OutputFormat::Human {
            print(&human_file(&p.source.name, &run.outcomes, paint));
        }
        outcomes.extend(run.outcomes);
    }
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    let passed = outcomes.len() - failed;
    match args.format {
        OutputFormat::Human => print(&human_summary(&outcomes, passed, failed, paint)),
        OutputFormat::Json => print(&routec_render::pretty(&JsonReport {
            tests: &outcomes,
            passed,
            failed,
            errors: &errors,
        })),
    }
    if failed > 0 {
        code = worst(code, exit::FAILURE);
    }
    code
}
