//! Data-driven tests: every `tests/fixtures/<feature>/*.route` file is run
//! through one feature with the cursor at `$0` (removed before analysis),
//! and the result is rendered readably (the input, then the output) into an
//! insta snapshot named after the file.
#![expect(
    clippy::disallowed_methods,
    reason = "the harness reads fixture files and the shipped example"
)]
#![expect(clippy::panic, reason = "test helpers fail loudly with context")]

use std::fmt::Write as _;
use std::path::Path;
use std::sync::OnceLock;

use routec_ide::{Analysis, Figures, RecordedInput, TextEdit};
use routec_syntax::Span;

const CURSOR: &str = "$0";

/// The fixture text without the cursor marker, and the cursor's offset.
/// The marker is `$0` not followed by a digit or `.` (`$0.05` is money).
fn cursor(path: &Path) -> (String, usize) {
    let raw = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let offset = raw
        .match_indices(CURSOR)
        .map(|(i, _)| i)
        .find(|i| !raw[i + CURSOR.len()..].starts_with(|c: char| c.is_ascii_digit() || c == '.'))
        .unwrap_or_else(|| panic!("{}: no `$0` cursor", path.display()));
    let mut text = raw.clone();
    text.replace_range(offset..offset + CURSOR.len(), "");
    (text, offset)
}

fn support() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/support.route"),
        )
        .unwrap_or_else(|e| panic!("examples/support.route: {e}"))
    })
}

/// The line of `offset`, with `$0` where the cursor is.
fn cursor_line(text: &str, offset: usize) -> String {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    format!("{}$0{}", &text[start..offset], &text[offset..end])
}

fn at(a: &Analysis, span: Span) -> String {
    let lc = a.line_index().line_col(span.start as usize);
    format!("{}:{} `{}`", lc.line + 1, lc.col + 1, span.text(a.text()))
}

fn apply(text: &str, edits: &[TextEdit]) -> String {
    let mut edits = edits.to_vec();
    edits.sort_by_key(|e| std::cmp::Reverse((e.span.start, e.span.end)));
    let mut out = text.to_owned();
    for e in edits {
        out.replace_range(e.span.range(), &e.new_text);
    }
    out
}

fn simulation(a: &Analysis) -> Option<Figures> {
    Figures::compute(a, &|| false)
}

#[test]
fn hover() {
    insta::glob!("fixtures/hover/*.route", |path| {
        let (text, offset) = cursor(path);
        let a = Analysis::new(&text);
        let sim = simulation(&a);
        let mut out = format!("cursor: {}\n", cursor_line(&text, offset));
        match a.hover(offset, sim.as_ref()) {
            Some(h) => {
                let _ = write!(out, "hovered: {}\n\n{}\n", at(&a, h.range), h.markdown);
            }
            None => out.push_str("no hover\n"),
        }
        insta::assert_snapshot!(out);
    });
}

/// Hovers as plain text, for editors that do not render markdown: the
/// same content without fences, emphasis or table pipes (snapshots for the
/// hovers with tables and doc comments; every hover fixture is checked).
#[test]
fn hover_plain_text() {
    insta::glob!(
        "fixtures/hover/{route_keyword,slo_each_slice,model_medium_spec_doc,rule_cascade}.route",
        |path| {
            let (text, offset) = cursor(path);
            let a = Analysis::new(&text);
            let sim = simulation(&a);
            let h = a
                .hover(offset, sim.as_ref())
                .unwrap_or_else(|| panic!("{}: no hover", path.display()));
            insta::assert_snapshot!(format!(
                "cursor: {}
\n{}\n",
                cursor_line(&text, offset),
                h.plain_text()
            ));
        }
    );
    for entry in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hover"))
            .unwrap_or_else(|e| panic!("{e}"))
    {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let (text, offset) = cursor(&path);
        let a = Analysis::new(&text);
        let sim = simulation(&a);
        if let Some(h) = a.hover(offset, sim.as_ref()) {
            let plain = h.plain_text();
            for markup in ["```", "**", "|---", "| "] {
                assert!(
                    !plain.contains(markup),
                    "{}: `{markup}` in\n{plain}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn completion() {
    insta::glob!("fixtures/completion/*.route", |path| {
        let (text, offset) = cursor(path);
        let a = Analysis::new(&text);
        let mut out = format!("cursor: {}\n", cursor_line(&text, offset));
        for c in a.completions(offset) {
            let _ = write!(out, "{:<12} {:?}", c.label, c.kind);
            if let Some(d) = &c.detail {
                let _ = write!(out, "  ({d})");
            }
            if !c.replace.is_empty() {
                let _ = write!(out, "  replaces `{}`", c.replace.text(&text));
            }
            if let Some(i) = &c.insert_text {
                let _ = write!(out, "  inserts {i:?}");
            }
            out.push('\n');
        }
        insta::assert_snapshot!(out);
    });
}

#[test]
fn references() {
    insta::glob!("fixtures/references/*.route", |path| {
        let (text, offset) = cursor(path);
        let a = Analysis::new(&text);
        let mut out = format!("cursor: {}\n", cursor_line(&text, offset));
        let _ = writeln!(
            out,
            "definition: {:?}",
            a.definition(offset).map(|s| at(&a, s))
        );
        for s in a.references(offset, true) {
            let _ = writeln!(out, "reference: {}", at(&a, s));
        }
        insta::assert_snapshot!(out);
    });
}

/// The first line of a rename fixture is `// rename to NAME`.
#[test]
fn rename() {
    insta::glob!("fixtures/rename/*.route", |path| {
        let (text, offset) = cursor(path);
        let new_name = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("// rename to "))
            .unwrap_or_else(|| panic!("{}: no `// rename to` line", path.display()))
            .trim()
            .to_owned();
        let a = Analysis::new(&text);
        let mut out = format!("cursor: {}\n", cursor_line(&text, offset));
        let _ = writeln!(out, "prepare: {:?}", a.prepare_rename(offset));
        match a.rename(offset, &new_name) {
            Ok(edits) => {
                let renamed = apply(&text, &edits);
                let before = a.diagnostics().len();
                let after = Analysis::new(&renamed).diagnostics().len();
                assert_eq!(before, after, "rename changed the diagnostics:\n{renamed}");
                let _ = write!(out, "{} edits, result:\n{renamed}", edits.len());
            }
            Err(why) => {
                let _ = writeln!(out, "refused: {why}");
            }
        }
        insta::assert_snapshot!(out);
    });
}

#[test]
fn code_actions() {
    insta::glob!("fixtures/actions/*.route", |path| {
        let (text, offset) = cursor(path);
        let a = Analysis::new(&text);
        let mut out = format!("cursor: {}\n", cursor_line(&text, offset));
        let actions = a.code_actions(Span::at(offset));
        assert!(
            !actions.is_empty(),
            "{}: no code action; diagnostics: {:?}",
            path.display(),
            a.diagnostics()
        );
        for action in actions {
            let fixed = apply(&text, &action.edits);
            let again = Analysis::new(&fixed);
            if let Some(code) = action.diagnostic_code {
                let left: Vec<_> = again
                    .diagnostics()
                    .into_iter()
                    .filter(|d| d.code == code)
                    .collect();
                assert!(
                    left.is_empty(),
                    "`{}` leaves {left:?} in\n{fixed}",
                    action.title
                );
            }
            let _ = write!(
                out,
                "\n== {} ({}, {:?}{})\n{fixed}",
                action.title,
                action.kind,
                action.diagnostic_code,
                if action.preferred { ", preferred" } else { "" }
            );
        }
        insta::assert_snapshot!(out);
    });
}

#[test]
fn support_checks_clean_and_compiles() {
    let a = Analysis::new(support());
    assert!(a.diagnostics().is_empty(), "{:?}", a.diagnostics());
    let sim = simulation(&a).expect("support.route compiles");
    assert!(sim.diagnostics().iter().all(|d| !d.is_error()));
    let share: f64 = sim.rules().iter().map(|r| r.share).sum();
    assert!((share - 1.0).abs() < 1e-6, "rule shares sum to {share}");
    assert_eq!(sim.rules().len(), a.policy().rules.len());
    assert!(Figures::compute(&a, &|| true).is_none());
}

#[test]
fn support_inlay_hints() {
    let a = Analysis::new(support());
    let sim = simulation(&a).expect("support.route compiles");
    let whole = Span::new(0, support().len());
    let hints = a.inlay_hints(&sim, whole);
    let mut out = String::new();
    for h in &hints {
        let lc = a.line_index().line_col(h.offset);
        let line = support().lines().nth(lc.line as usize).unwrap_or("");
        let _ = writeln!(out, "{}  ⟨{}⟩", line.trim(), h.label);
    }
    let _ = writeln!(out, "\nlenses:");
    for l in a.code_lenses() {
        let _ = writeln!(
            out,
            "{} -> {} at {}",
            l.title,
            l.command,
            at(&a, Span::at(l.span.start as usize))
        );
    }
    insta::assert_snapshot!(out);
    // A stale simulation gives no hints.
    let edited = Analysis::new(&format!("{}\n", support()));
    assert!(edited.inlay_hints(&sim, whole).is_empty());
}

/// While the text has errors (or its own simulation is pending), the last
/// simulated text's figures stay on the rules and SLO lines whose text is
/// unchanged, wherever they moved, marked `was`; edited items get none.
/// An edit to comments and whitespace only keeps the figures unmarked.
#[test]
fn earlier_inlay_hints_follow_unchanged_items() {
    let a = Analysis::new(support());
    let sim = simulation(&a).expect("support.route compiles");
    let render = |edited: &Analysis| {
        let mut out = String::new();
        for h in edited.earlier_inlay_hints(&a, &sim, Span::new(0, edited.text().len())) {
            let lc = edited.line_index().line_col(h.offset);
            let line = edited.text().lines().nth(lc.line as usize).unwrap_or("");
            let _ = writeln!(out, "{}  ⟨{}⟩", line.trim(), h.label);
        }
        out
    };
    // An error in the third rule (a misspelt model), two lines inserted
    // above the route block (everything below moves), an edited SLO.
    let broken = support()
        .replacen("=> search else small", "=> search else smal", 1)
        .replacen("route {\n", "// typing...\n\nroute {\n", 1)
        .replacen("latency p95 <= 20s", "latency p95 <= 15s", 1);
    let edited = Analysis::new(&broken);
    assert!(!edited.checks());
    let mut out = String::from("with an error in rule 3, an edited SLO, moved lines:\n");
    out.push_str(&render(&edited));
    // Only a comment and blank lines changed: the figures are exact.
    let comment = support().replacen("route {\n", "// a comment\n\nroute {\n", 1);
    let fresh: Vec<String> = a
        .inlay_hints(&sim, Span::new(0, support().len()))
        .into_iter()
        .map(|h| h.label)
        .collect();
    let kept: Vec<String> = Analysis::new(&comment)
        .earlier_inlay_hints(&a, &sim, Span::new(0, comment.len()))
        .into_iter()
        .map(|h| h.label)
        .collect();
    assert_eq!(kept, fresh);
    // A simulation of another text gives nothing.
    assert!(
        edited
            .earlier_inlay_hints(&edited, &sim, Span::new(0, broken.len()))
            .is_empty()
    );
    insta::assert_snapshot!(out);
}

#[test]
fn support_symbols_tokens_folding() {
    let a = Analysis::new(support());
    let mut out = String::new();
    fn tree(out: &mut String, symbols: &[routec_ide::Symbol], depth: usize) {
        for s in symbols {
            let _ = writeln!(
                out,
                "{}{:?} {} {}",
                "  ".repeat(depth),
                s.kind,
                s.name,
                s.detail.as_deref().unwrap_or("")
            );
            assert!(
                s.span.start <= s.selection.start && s.selection.end <= s.span.end,
                "{s:?}"
            );
            tree(out, &s.children, depth + 1);
        }
    }
    tree(&mut out, &a.document_symbols(), 0);
    insta::assert_snapshot!("support_symbols", out);

    let mut out = String::new();
    let mut last = 0;
    for t in a.semantic_tokens() {
        assert!(t.span.start >= last, "tokens overlap at {t:?}");
        last = t.span.end;
        assert!(!t.span.text(a.text()).contains('\n'));
        let mods: Vec<&str> = routec_ide::SEMANTIC_TOKEN_MODIFIERS
            .iter()
            .enumerate()
            .filter(|(i, _)| t.modifiers & (1 << i) != 0)
            .map(|(_, m)| *m)
            .collect();
        // Only the first 60 lines: the rest repeats the same kinds.
        if a.line_index().line_col(t.span.start as usize).line < 60 {
            let _ = writeln!(
                out,
                "{} {} {}",
                at(&a, t.span),
                t.kind.as_str(),
                mods.join(",")
            );
        }
    }
    insta::assert_snapshot!("support_tokens", out);

    let mut out = String::new();
    for f in a.folding_ranges() {
        let s = a.line_index().line_col(f.span.start as usize).line + 1;
        let e = a.line_index().line_col(f.span.end as usize).line + 1;
        let _ = writeln!(out, "{:?} lines {s}-{e}", f.kind);
    }
    insta::assert_snapshot!("support_folding", out);

    let ws = routec_ide::workspace_symbols(&[&a], "SPEC");
    let names: Vec<&str> = ws.iter().map(|w| w.symbol.name.as_str()).collect();
    assert_eq!(names, ["medium_spec"]);
}

#[test]
fn format_refuses_broken_text_and_formats_support() {
    assert_eq!(
        Analysis::new(support()).format().as_deref(),
        Some(support())
    );
    assert_eq!(Analysis::new("model {").format(), None);
}

/// Every code action offered for every diagnostic of the checker's own
/// fixtures (`tests/check/*.route`) removes that diagnostic: after applying
/// it, no diagnostic with its code and message starts where it started (its
/// offset mapped through the edits). A fix may let another diagnostic appear
/// elsewhere: removing a shadowed `otherwise` makes the rule after it the
/// shadowed one.
#[test]
fn every_fix_on_the_checker_fixtures_removes_its_diagnostic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/check");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "route"))
        .collect();
    files.sort();
    let mut applied = 0;
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let a = Analysis::new(&text);
        for d in a.diagnostics() {
            for action in a.code_actions(d.span) {
                if action.diagnostic_span != Some(d.span) || action.diagnostic_code != Some(d.code)
                {
                    continue;
                }
                let fixed = apply(&text, &action.edits);
                let line = a.line_index().line_col(d.span.start as usize).line;
                let again = Analysis::new(&fixed);
                let mapped = map_offset(d.span.start as usize, &action.edits);
                let still = again.diagnostics().into_iter().any(|x| {
                    x.code == d.code && x.message == d.message && x.span.start as usize == mapped
                });
                assert!(
                    !still,
                    "{}:{}: `{}` does not remove {} `{}`:\n{fixed}",
                    path.display(),
                    line + 1,
                    action.title,
                    d.code,
                    d.message
                );
                applied += 1;
            }
        }
    }
    assert!(applied >= 10, "only {applied} fixes applied");
}

/// Where `offset` lands after `edits`: inside a replaced span, at its start.
fn map_offset(offset: usize, edits: &[TextEdit]) -> usize {
    let mut delta: isize = 0;
    for e in edits {
        let (s, t) = (e.span.start as usize, e.span.end as usize);
        if t <= offset && !(s == t && s == offset) {
            delta += e.new_text.len() as isize - (t - s) as isize;
        } else if s <= offset && offset < t {
            return (s as isize + delta).max(0) as usize;
        }
    }
    (offset as isize + delta).max(0) as usize
}

/// An SLO no assignment can meet: the simulation carries the compiler's
/// located error and no figures; hovers and hints fall back gracefully.
#[test]
fn infeasible_slo_gives_located_compiler_diagnostics() {
    let text = support().replace("latency p95 <= 20s", "latency p95 <= 100ms");
    let a = Analysis::new(&text);
    assert!(a.checks(), "{:?}", a.diagnostics());
    let sim = simulation(&a).expect("a checked file gives a simulation");
    assert!(sim.rules().is_empty());
    let mut out = String::new();
    for d in sim.diagnostics() {
        let _ = writeln!(
            out,
            "{} {} at {}: {}",
            d.severity.as_str(),
            d.code,
            at(&a, d.span),
            d.message
        );
        if let Some(h) = &d.help {
            let _ = writeln!(out, "  help: {h}");
        }
    }
    assert!(sim.diagnostics().iter().any(|d| d.is_error()));
    let offset = text.find("latency p95 <= 100ms").unwrap_or(0);
    let hover = a
        .hover(offset, Some(&sim))
        .map(|h| h.markdown)
        .unwrap_or_default();
    let _ = writeln!(out, "\nhover:\n{hover}");
    assert!(a.inlay_hints(&sim, Span::new(0, text.len())).is_empty());
    insta::assert_snapshot!(out);
}

/// Renders a simulation: its diagnostics (located), then its hints.
fn describe_simulation(out: &mut String, a: &Analysis, sim: &Figures) {
    for d in sim.diagnostics() {
        let _ = writeln!(
            out,
            "{} {} at {}: {}",
            d.severity.as_str(),
            d.code,
            at(a, d.span),
            d.message
        );
        if let Some(h) = &d.help {
            let _ = writeln!(out, "  help: {h}");
        }
    }
    for h in a.inlay_hints(sim, Span::new(0, a.text().len())) {
        let lc = a.line_index().line_col(h.offset);
        let line = a.text().lines().nth(lc.line as usize).unwrap_or("");
        let _ = writeln!(out, "{}  ⟨{}⟩", line.trim(), h.label);
        if let Some(t) = h.tooltip.filter(|_| lc.line as usize == 0) {
            let _ = writeln!(out, "  tooltip: {t}");
        }
    }
    if let Some(r) = sim.rules().first() {
        let _ = writeln!(out, "tooltip of rule 1: {:?}", {
            let hints = a.inlay_hints(sim, r.span);
            hints.first().and_then(|h| h.tooltip.clone())
        });
    }
}

/// A recorded first profile, with the file read next to the fixture (what
/// the language server does) and without it (an untitled buffer): the
/// snapshot shows the policy, then the simulation with the records
/// (diagnostics, hints), then the one without (`W0512`, declared defaults).
#[test]
fn recorded() {
    insta::glob!("fixtures/recorded/*.route", |path| {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{e}"));
        let a = Analysis::new(&text);
        assert!(a.checks(), "{:?}", a.diagnostics());
        let file = a
            .recorded_file()
            .unwrap_or_else(|| panic!("{}: no recorded profile", path.display()));
        let input = RecordedInput {
            path_shown: file.to_owned(),
            text: std::fs::read_to_string(path.with_file_name(file)).map_err(|e| e.to_string()),
        };
        let with = Figures::compute_with(&a, Some(&input), &|| false)
            .unwrap_or_else(|| panic!("{}: no simulation", path.display()));
        let without = simulation(&a).unwrap_or_else(|| panic!("{}: no simulation", path.display()));
        assert!(
            with.diagnostics().iter().all(|d| d.code != "W0512"),
            "the file was read: no W0512"
        );
        assert!(without.diagnostics().iter().any(|d| d.code == "W0512"));
        let mut out = format!("{text}\n--- with `{file}` ---\n");
        describe_simulation(&mut out, &a, &with);
        let _ = writeln!(out, "\n--- without it (untitled) ---");
        describe_simulation(&mut out, &a, &without);
        insta::assert_snapshot!(out);
    });
}

/// The rule shares are the file's mix: 30 of the 40 recorded requests are
/// `paid`, where the declared default alone sends everything to `free`.
#[test]
fn recorded_figures_follow_the_file_mix() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recorded");
    let text = std::fs::read_to_string(dir.join("mix.route")).unwrap_or_else(|e| panic!("{e}"));
    let jsonl = std::fs::read_to_string(dir.join("mix.jsonl")).unwrap_or_else(|e| panic!("{e}"));
    let paid = jsonl.lines().filter(|l| l.contains("\"paid\"")).count() as f64
        / jsonl.lines().count() as f64;
    let a = Analysis::new(&text);
    let input = RecordedInput {
        path_shown: "mix.jsonl".into(),
        text: Ok(jsonl.clone()),
    };
    let sim = Figures::compute_with(&a, Some(&input), &|| false).expect("compiles");
    assert_eq!(sim.recorded_requests(), Some(40));
    assert!(
        (sim.rules()[0].share - paid).abs() < 1e-9,
        "{:?}",
        sim.rules()
    );
    assert!((sim.rules()[1].share - (1.0 - paid)).abs() < 1e-9);
    let slice = |name: &str| {
        sim.slices()
            .iter()
            .find(|s| s.slice == name)
            .map(|s| s.share)
    };
    assert!((slice("paid_users").unwrap_or(0.0) - paid).abs() < 1e-9);
    let declared = simulation(&a).expect("compiles");
    assert!(declared.rules()[0].share < 1e-9, "{:?}", declared.rules());
    // A hover on the rule's slice shows the recorded share.
    let offset = text.find("slice paid_users").unwrap_or(0) + "slice ".len();
    let hover = a
        .hover(offset, Some(&sim))
        .map(|h| h.markdown)
        .unwrap_or_default();
    assert!(hover.contains("75"), "{hover}");

    // A recorded profile that is not the first one is not read.
    let second = text.replace(
        "traffic week = file \"mix.jsonl\"",
        "traffic steady { qps 10 }\ntraffic week = file \"mix.jsonl\"",
    );
    let b = Analysis::new(&second);
    assert_eq!(b.recorded_file(), None);
    let sim = Figures::compute_with(&b, Some(&input), &|| false).expect("compiles");
    assert_eq!(sim.recorded_requests(), None);

    // Cancelled: nothing.
    assert!(Figures::compute_with(&a, Some(&input), &|| true).is_none());
}

/// A file the caller could not read is error `E0516` at the declaration,
/// with no figures; an empty file is `E0515`, as in `routec check`.
#[test]
fn unreadable_or_empty_recorded_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recorded");
    let text = std::fs::read_to_string(dir.join("mix.route")).unwrap_or_else(|e| panic!("{e}"));
    let a = Analysis::new(&text);
    let decl = text.find("traffic week").unwrap_or(0);
    for (input, code, message) in [
        (
            Err("No such file or directory".to_owned()),
            "E0516",
            "cannot read the recorded traffic `/p/mix.jsonl` of profile `week`: No such file or directory",
        ),
        (
            Ok(String::new()),
            "E0515",
            "`/p/mix.jsonl`:1:1: the file has no records: a recorded profile needs at least one request",
        ),
    ] {
        let input = RecordedInput {
            path_shown: "/p/mix.jsonl".into(),
            text: input,
        };
        let sim = Figures::compute_with(&a, Some(&input), &|| false).expect("a simulation");
        let d = sim.diagnostics();
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].code, d[0].message.as_str()), (code, message));
        // At the profile's declaration (its name).
        assert!(d[0].span.start as usize >= decl, "{:?}", d[0].span);
        assert!(d[0].span.text(&text).starts_with("week"), "{:?}", d[0].span);
        assert!(d[0].is_error());
        assert!(sim.rules().is_empty());
        assert!(a.inlay_hints(&sim, Span::new(0, text.len())).is_empty());
    }
}

/// A policy whose load is modelled (`examples/capacity.route`): each model
/// that declares a capacity or rate limit gets a hint with its utilization
/// at the profile's qps, calls per request and cost; the peak warning is a
/// compiler diagnostic like the others.
#[test]
fn capacity_inlay_hints() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/capacity.route"),
    )
    .unwrap_or_else(|e| panic!("examples/capacity.route: {e}"));
    let a = Analysis::new(&text);
    let sim = simulation(&a).expect("capacity.route compiles");
    let mut out = String::new();
    describe_simulation(&mut out, &a, &sim);
    insta::assert_snapshot!(out);
}
