//! Every feature is total: random and mutated inputs, random offsets (past
//! the end, inside multi-byte characters), never a panic.
#![expect(clippy::disallowed_methods, reason = "reads the shipped example")]

use std::path::Path;

use proptest::prelude::*;
use routec_ide::{Analysis, Simulation, workspace_symbols};
use routec_syntax::Span;

fn support() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/support.route"),
    )
    .unwrap_or_default()
}

fn every_feature(a: &Analysis, offset: usize, sim: Option<&Simulation>) {
    let _ = a.diagnostics();
    let _ = a.hover(offset, sim);
    let _ = a.completions(offset);
    let _ = a.definition(offset);
    let _ = a.references(offset, true);
    let _ = a.prepare_rename(offset);
    let _ = a.rename(offset, "renamed");
    let _ = a.format();
    let _ = a.document_symbols();
    let _ = a.semantic_tokens();
    let _ = a.folding_ranges();
    let range = Span::new(offset.saturating_sub(40), offset + 40);
    let _ = a.code_actions(range);
    if let Some(sim) = sim {
        let _ = a.inlay_hints(sim, range);
    }
    let _ = a.code_lenses();
    let _ = workspace_symbols(&[a], "a");
}

/// A mutation of the example: cut a range, insert junk.
fn mutated() -> impl Strategy<Value = String> {
    let text = support();
    let len = text.len();
    (0..len, 0..len, 0usize..40, "[ -~éλ𝄞\n{}\\[\\]$%]{0,12}").prop_map(move |(a, b, cut, junk)| {
        let mut t = text.clone();
        let a = floor(&t, a.min(b));
        let end = floor(&t, (a + cut).min(t.len()));
        t.replace_range(a..end, &junk);
        let _ = b;
        t
    })
}

fn floor(t: &str, mut i: usize) -> usize {
    while i > 0 && !t.is_char_boundary(i) {
        i -= 1;
    }
    i
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,300}", offset in 0usize..400) {
        let a = Analysis::new(&text);
        every_feature(&a, offset, None);
    }

    #[test]
    fn mutated_example_never_panics(text in mutated(), offset in 0usize..6000) {
        let a = Analysis::new(&text);
        every_feature(&a, offset, None);
    }

    #[test]
    fn binary_junk_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400), offset in 0usize..500) {
        let text = String::from_utf8_lossy(&bytes);
        let a = Analysis::new(&text);
        every_feature(&a, offset, None);
    }
}

/// With a real simulation: every byte offset of the example (many are
/// inside multi-byte characters of comments? none, but past the end too).
#[test]
fn every_offset_of_the_example_with_a_simulation() {
    let text = support();
    let a = Analysis::new(&text);
    let sim = Simulation::compute(&a, &|| false);
    assert!(sim.is_some());
    for offset in 0..=text.len() + 3 {
        every_feature(&a, offset, sim.as_ref());
    }
}

#[test]
fn huge_and_deep_inputs() {
    let deep = format!("slice s = {}a{}\n", "(".repeat(10_000), ")".repeat(10_000));
    let a = Analysis::new(&deep);
    every_feature(&a, deep.len() / 2, None);
    let big = "x".repeat(routec_syntax::MAX_SOURCE_BYTES + 1);
    let a = Analysis::new(&big);
    every_feature(&a, 5, None);
}
