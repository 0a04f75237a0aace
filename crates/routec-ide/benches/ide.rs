//! What the language server pays per change and per request, measured with
//! divan (`cargo bench -p routec-ide`); results go to BENCHMARKS.md.
//!
//! - `analysis_2000_lines`: `Analysis::new` + `diagnostics` of a generated
//!   2,000-line policy: the typing path (target: well under the 50 ms the
//!   server has from a change to published diagnostics)
//! - `semantic_tokens_2000_lines`, `completion_2000_lines`,
//!   `hover_2000_lines`: requests on the same file
//! - `simulation_support`: `Figures::compute` of the normative example
//!   (off the typing path)

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmarks")]
#![expect(clippy::disallowed_methods, reason = "reads the shipped example")]

use std::hint::black_box;

use routec_ide::{Analysis, Figures};

fn main() {
    divan::main();
}

fn policy() -> String {
    routec_conformance::generated_front_end_policy(2_000)
}

#[divan::bench(sample_count = 30)]
fn analysis_2000_lines(bencher: divan::Bencher) {
    let text = policy();
    bencher.bench(|| {
        let a = Analysis::new(black_box(&text));
        black_box(a.diagnostics().len())
    });
}

#[divan::bench(sample_count = 30)]
fn semantic_tokens_2000_lines(bencher: divan::Bencher) {
    let a = Analysis::new(&policy());
    bencher.bench(|| black_box(a.semantic_tokens().len()));
}

/// Completion at the end of the file (the longest look-back).
#[divan::bench(sample_count = 30)]
fn completion_2000_lines(bencher: divan::Bencher) {
    let text = format!("{}\nroute {{\n  when ", policy());
    let a = Analysis::new(&text);
    bencher.bench(|| black_box(a.completions(text.len()).len()));
}

/// Hover on the last name of the file.
#[divan::bench(sample_count = 30)]
fn hover_2000_lines(bencher: divan::Bencher) {
    let text = policy();
    let a = Analysis::new(&text);
    let offset = text.rfind("m0").unwrap_or(0) + 1;
    bencher.bench(|| black_box(a.hover(offset, None)));
}

#[divan::bench(sample_count = 10)]
fn simulation_support(bencher: divan::Bencher) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/support.route");
    let text = std::fs::read_to_string(path).unwrap();
    let a = Analysis::new(&text);
    bencher.bench(|| black_box(Figures::compute(&a, &|| false).is_some()));
}
