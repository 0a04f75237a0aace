//! `routec check FILE... [--format human|json|sarif]`

use routec_driver::Source;
use routec_driver::pipeline::{CheckOptions, CheckReport, check_report_with};
use routec_render::{FileDiagnostics, human, json, sarif};
use routec_syntax::Diagnostic;

use super::{eprint, print};
use crate::cli::{CheckArgs, ColorChoice, ReportFormat, exit};

pub fn run(args: &CheckArgs, color: ColorChoice) -> u8 {
    let mut io_failed = false;
    let mut checked: Vec<CheckReport> = Vec::new();
    for path in &args.files {
        match Source::file(path) {
            Ok(source) => {
                // Recorded traffic files are read too (relative to the policy).
                let options = CheckOptions {
                    compile: !args.no_compile,
                };
                let report = check_report_with(&source, options);
                for message in &report.unreadable {
                    eprint(&format!("routec: {message}\n"));
                    io_failed = true;
                }
                checked.push(report);
            }
            Err(e) => {
                eprint(&format!("routec: {e}\n"));
                io_failed = true;
            }
        }
    }

    let files: Vec<FileDiagnostics<'_>> = checked
        .iter()
        .map(|c| FileDiagnostics {
            files: &c.files,
            diagnostics: &c.diagnostics,
        })
        .collect();
    let report = match args.format {
        ReportFormat::Human => {
            let color = color.stdout();
            files
                .iter()
                .map(|f| human::render(f.files, f.diagnostics, color))
                .collect()
        }
        ReportFormat::Json => json::render(&files),
        ReportFormat::Sarif => sarif::render(&files),
    };
    print(&report);

    let has_errors = files
        .iter()
        .any(|f| f.diagnostics.iter().any(Diagnostic::is_error));
    if io_failed {
        exit::USAGE
    } else if has_errors {
        exit::FAILURE
    } else {
        exit::OK
    }
}
