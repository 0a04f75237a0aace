//! Every feature is total: random and mutated inputs, random offsets (past
//! the end, inside multi-byte characters), never a panic.
#![expect(clippy::disallowed_methods, reason = "reads the shipped examples")]

use std::path::Path;

use proptest::prelude::*;
use routec_ide::{Analysis, Figures, RecordedInput, TextEdit, format_edits, workspace_symbols};
use routec_syntax::Span;

fn support() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/support.route"),
    )
    .unwrap_or_default()
}

fn every_feature(a: &Analysis, offset: usize, sim: Option<&Figures>) {
    let _ = a.diagnostics();
    let _ = a.hover(offset, sim);
    let _ = a.completions(offset);
    let _ = a.definition(offset);
    let _ = a.references(offset, true);
    let _ = a.prepare_rename(offset);
    let _ = a.rename(offset, "renamed");
    let _ = a.format();
    let _ = a.format_edits();
    let _ = a.document_symbols();
    let _ = a.semantic_tokens();
    let _ = a.folding_ranges();
    let range = Span::new(offset.saturating_sub(40), offset + 40);
    let _ = a.code_actions(range);
    if let Some(sim) = sim {
        let _ = a.inlay_hints(sim, range);
        let _ = a.earlier_inlay_hints(a, sim, range);
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

/// `text` with `edits` (sorted, not overlapping) applied.
fn apply(text: &str, edits: &[TextEdit]) -> String {
    let mut out = text.to_owned();
    for e in edits.iter().rev() {
        out.replace_range(e.span.range(), &e.new_text);
    }
    out
}

/// The example with its whitespace changed at random, line by line (other
/// indentation, doubled spaces, trailing blanks, extra blank lines): what a
/// user's unformatted text looks like to the formatter.
fn respaced() -> impl Strategy<Value = String> {
    let text = support();
    proptest::collection::vec(0u8..8, 128).prop_map(move |picks| {
        let mut out = String::new();
        for (i, line) in text.lines().enumerate() {
            let pick = picks[i % picks.len()];
            let line = match pick {
                0 => format!("    {}", line.trim_start()),
                1 => line.trim_start().to_owned(),
                2 => line.replacen(' ', "   ", 2),
                3 => format!("{line}  \t"),
                4 => format!("{line}\n"),
                5 => format!("\t{line}"),
                _ => line.to_owned(),
            };
            out.push_str(&line);
            out.push('\n');
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Formatting edits applied to the text give the formatted text, and
    /// touch only whitespace; so do the edits between any two texts.
    #[test]
    fn format_edits_give_the_formatted_text(text in respaced(), other in "[ a-c\n]{0,40}") {
        let a = Analysis::new(&text);
        // The example checks; whitespace does not change that.
        prop_assert!(a.checks());
        let (Some(formatted), Some(edits)) = (a.format(), a.format_edits()) else {
            return Err(TestCaseError::fail("a text that checks formats"));
        };
        prop_assert_eq!(apply(&text, &edits), formatted);
        for e in &edits {
            prop_assert!(e.span.text(&text).trim().is_empty() && e.new_text.trim().is_empty());
        }
        prop_assert_eq!(apply(&text, &format_edits(&text, &other)), other.clone());
        prop_assert_eq!(apply(&other, &format_edits(&other, &text)), text.clone());
    }

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
    let sim = Figures::compute(&a, &|| false);
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

/// Every shipped example: its simulation's per-rule shares sum to 1, the
/// share-weighted per-rule costs add up to the compiler's overall cost, a
/// one-rule route's p95 is the compiler's overall p95 (the same mixture),
/// and every feature runs at many offsets with the simulation.
#[test]
fn simulations_of_every_example_agree_with_the_compiler() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|x| x == "route"));
    files.sort();
    assert!(files.len() >= 3);
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let a = Analysis::new(&text);
        let Some(sim) = Figures::compute(&a, &|| false) else {
            continue;
        };
        let Ok(compiled) =
            routec_opt::compile(a.policy(), &text, &routec_opt::CompileOptions::default())
        else {
            continue;
        };
        let predicted = compiled
            .table
            .assumed
            .as_ref()
            .map(|x| x.predicted.clone())
            .unwrap_or_default();
        let share: f64 = sim.rules().iter().map(|r| r.share).sum();
        assert!(
            (share - 1.0).abs() < 1e-6,
            "{}: shares sum to {share}",
            path.display()
        );
        let cost: f64 = sim.rules().iter().map(|r| r.share * r.cost_per_1k).sum();
        assert!(
            (cost - predicted.cost_per_1k_requests).abs()
                <= 1e-6 * predicted.cost_per_1k_requests.max(1.0),
            "{}: rules' cost {cost} vs overall {}",
            path.display(),
            predicted.cost_per_1k_requests
        );
        let slices = sim.slices().len();
        assert_eq!(slices, a.policy().slices.len());
        for offset in (0..text.len()).step_by(7) {
            every_feature(&a, offset, Some(&sim));
        }
    }
}

#[test]
fn a_single_rule_has_the_overall_p95() {
    let text = support();
    let start = text.find("route {").unwrap_or(0);
    let end = start + text[start..].find("\n}\n").unwrap_or(0) + 3;
    let one = format!(
        "{}route {{\n  otherwise => optimize [small, medium, large] by task, plan\n}}\n{}",
        &text[..start],
        &text[end..]
    );
    let a = Analysis::new(&one);
    assert!(a.checks(), "{:?}", a.diagnostics());
    let sim = Figures::compute(&a, &|| false).expect("compiles");
    let compiled = routec_opt::compile(a.policy(), &one, &routec_opt::CompileOptions::default())
        .expect("compiles");
    let p95 = compiled
        .table
        .assumed
        .map(|x| x.predicted.latency.p95)
        .unwrap_or_default();
    let rule = &sim.rules()[0];
    assert!((rule.share - 1.0).abs() < 1e-9);
    assert!(
        (rule.p95 - p95).abs() <= 1e-6 * p95,
        "{} vs {p95}",
        rule.p95
    );
}

fn recorded_fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/recorded")
            .join(name),
    )
    .unwrap_or_default()
}

/// On a labeled recorded file, the figures are the ones `compile_recorded`
/// optimized for: a one-rule route's p95 is the compiler's overall p95 (the
/// mixture is rebuilt with the re-estimated models and the records' mix),
/// and the share-weighted rule costs add up to its overall cost.
#[test]
fn recorded_figures_agree_with_compile_recorded() {
    let text = recorded_fixture("labeled.route");
    let start = text.find("route {").unwrap_or(0);
    let end = start + text[start..].find("\n}\n").unwrap_or(0) + 3;
    let one = format!(
        "{}route {{\n  otherwise => optimize [small, large] by tier\n}}\n{}",
        &text[..start],
        &text[end..]
    );
    let jsonl = recorded_fixture("labeled.jsonl");
    for source in [text, one] {
        let a = Analysis::new(&source);
        assert!(a.checks(), "{:?}", a.diagnostics());
        let input = RecordedInput {
            path_shown: "labeled.jsonl".into(),
            text: Ok(jsonl.clone()),
        };
        let sim = Figures::compute_with(&a, Some(&input), &|| false).expect("compiles");
        let bound = routec_opt::recorded::load(a.policy(), &jsonl).expect("binds");
        let compiled = routec_opt::compile_recorded(
            a.policy(),
            &source,
            &routec_opt::CompileOptions::default(),
            Some(&bound),
        )
        .expect("compiles");
        let predicted = compiled
            .table
            .assumed
            .map(|x| x.predicted)
            .unwrap_or_default();
        let cost: f64 = sim.rules().iter().map(|r| r.share * r.cost_per_1k).sum();
        assert!(
            (cost - predicted.cost_per_1k_requests).abs()
                <= 1e-6 * predicted.cost_per_1k_requests.max(1.0),
            "{cost} vs {}",
            predicted.cost_per_1k_requests
        );
        if let [rule] = sim.rules() {
            let p95 = predicted.latency.p95;
            assert!((rule.share - 1.0).abs() < 1e-9);
            assert!(
                (rule.p95 - p95).abs() <= 1e-6 * p95,
                "{} vs {p95}",
                rule.p95
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any recorded text (junk, cut or mutated lines) gives figures or
    /// located errors at the declaration, never a panic.
    #[test]
    fn any_recorded_text_never_panics(
        cut in 0usize..4000,
        junk in "\\PC{0,200}",
        offset in 0usize..2000,
    ) {
        let text = recorded_fixture("mix.route");
        let a = Analysis::new(&text);
        let jsonl = recorded_fixture("labeled.jsonl");
        let cut = floor(&jsonl, cut.min(jsonl.len()));
        let input = RecordedInput {
            path_shown: "x.jsonl".into(),
            text: Ok(format!("{}{junk}\n{}", &jsonl[..cut], &jsonl[cut..])),
        };
        let sim = Figures::compute_with(&a, Some(&input), &|| false);
        prop_assert!(sim.is_some());
        if let Some(sim) = &sim {
            prop_assert!(sim.diagnostics().iter().all(|d| d.code != "W0512"));
            every_feature(&a, offset, Some(sim));
        }
    }
}
