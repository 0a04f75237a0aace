//! Shared helpers of the optimizer's integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "test helpers read fixtures and fail loudly"
)]

use std::path::PathBuf;

use routec_check::ir::Policy;
use routec_opt::{CompileOptions, Compiled};
use routec_syntax::Diagnostic;

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

pub fn check(source: &str) -> Policy {
    let parse = routec_syntax::parse(source);
    let checked = routec_check::check(&parse.file);
    let errors: Vec<_> = parse
        .diagnostics
        .iter()
        .chain(checked.diagnostics.iter())
        .filter(|d| d.is_error())
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    checked.policy
}

pub fn compile(source: &str) -> Result<Compiled, Vec<Diagnostic>> {
    let policy = check(source);
    routec_opt::compile(
        &policy,
        source,
        &CompileOptions {
            traffic: None,
            compiler_version: "test".into(),
            slo_margin: None,
        },
    )
}

pub fn examples() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(workspace().join("examples"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "route"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                read(&p),
            )
        })
        .collect();
    out.sort();
    out
}
