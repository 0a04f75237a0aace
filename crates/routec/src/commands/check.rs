//! `routec check FILE... [--format human|json|sarif]`

use routec_syntax::Diagnostic;

use super::{display_name, eprint, print, read};
use crate::analysis;
use crate::cli::{CheckArgs, ColorChoice, ReportFormat, exit};
use crate::render::{FileDiagnostics, human, json, sarif};

struct Checked {
    path: String,
    source: String,
    diagnostics: Vec<Diagnostic>,
}

pub fn run(args: &CheckArgs, color: ColorChoice) -> u8 {
    let mut io_failed = false;
    let mut checked = Vec::new();
    for path in &args.files {
        let name = display_name(path);
        match read(path) {
            Ok(source) => {
                let analysis::Analyzed {
                    mut diagnostics,
                    policy,
                } = analysis::analyze(&source);
                // Recorded traffic files are read too (relative to the policy).
                if !diagnostics.iter().any(Diagnostic::is_error) {
                    match crate::pipeline::recorded_diagnostics(&policy, path) {
                        Ok(more) => {
                            diagnostics.extend(more);
                            routec_syntax::diagnostic::sort(&mut diagnostics);
                        }
                        Err(message) => {
                            eprint(&format!("routec: {message}\n"));
                            io_failed = true;
                        }
                    }
                }
                checked.push(Checked {
                    path: name,
                    source,
                    diagnostics,
                });
            }
            Err(e) => {
                eprint(&format!("routec: cannot read `{name}`: {e}\n"));
                io_failed = true;
            }
        }
    }

    let files: Vec<FileDiagnostics<'_>> = checked
        .iter()
        .map(|c| FileDiagnostics {
            path: &c.path,
            source: &c.source,
            diagnostics: &c.diagnostics,
        })
        .collect();
    let report = match args.format {
        ReportFormat::Human => {
            let color = color.stdout();
            files
                .iter()
                .map(|f| human::render(f.path, f.source, f.diagnostics, color))
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
