//! Snapshots of the human rendering (without colour) of every file in
//! `tests/fixtures/broken/`: the source, then the report.

#![allow(clippy::unwrap_used)]

use routec_driver::pipeline::diagnose;
use routec_render::human;
use routec_syntax::SourceMap;

#[test]
fn human_rendering() {
    insta::glob!("fixtures/broken", "*.route", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let name = format!("broken/{}", path.file_name().unwrap().to_string_lossy());
        let diags = diagnose(&source).diagnostics;
        let rendered = human::render(&SourceMap::new(name.clone(), source.clone()), &diags, false);
        insta::assert_snapshot!(format!(
            "--- {name} ---\n{source}\n--- routec check ---\n{rendered}"
        ));
    });
}
