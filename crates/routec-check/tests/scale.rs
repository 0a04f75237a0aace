//! The front end must stay fast on large generated policies: DESIGN's budget
//! is 50 ms for parse + check of a 5,000-line policy (release build). The
//! test asserts a loose bound so that an accidental blow-up (enumerating
//! the cartesian product of the request space) fails loudly even in debug
//! builds on a busy machine; run it with `--release` to see the real figure.
#![expect(clippy::disallowed_methods, reason = "the test measures wall time")]

use std::fmt::Write as _;
use std::time::Instant;

/// A policy of about `lines` lines: enum and ratio signals, models with
/// context windows and quality tables, slices, many rules with thresholds.
pub fn generate(lines: usize) -> String {
    generate_with(lines, false)
}

/// `tenants`: rules route one tenant each (the shape of a policy generated
/// from a table of customers); otherwise rules overlap heavily and most of
/// them are shadowed (the adversarial shape for the shadowing proof).
pub fn generate_with(lines: usize, tenants: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "policy generated {{\n  owner \"gen\"\n  baseline m0\n}}");
    let enums = 12;
    let values = 8;
    for e in 0..enums {
        let vs: Vec<String> = (0..values).map(|v| format!("v{v}")).collect();
        let _ = writeln!(
            s,
            "signal e{e}: enum {{ {} }} from header \"x-e{e}\" default v0",
            vs.join(", ")
        );
    }
    if tenants {
        let ts: Vec<String> = (0..lines).map(|t| format!("t{t}")).collect();
        let _ = writeln!(
            s,
            "signal tenant: enum {{ {} }} from header \"x-tenant\" default t0",
            ts.join(", ")
        );
    }
    for r in 0..4 {
        let _ = writeln!(
            s,
            "signal r{r}: ratio from classifier \"c{r}\" cost 2ms default 50%"
        );
    }
    let models = 60;
    for m in 0..models {
        let ctx = [32, 64, 128, 200][m % 4];
        let q: Vec<String> = (0..values)
            .map(|v| format!("v{v} {}%", 50 + (v * 5 + m) % 45))
            .collect();
        let _ = writeln!(
            s,
            "model m{m} {{\n  provider openai\n  endpoint env(\"M{m}_URL\")\n  context {ctx}k tokens\n  price input ${}/Mtok, output ${}/Mtok\n  latency ttft p50 {}ms p95 {}ms p99 {}ms, decode 100 tok/s\n  quality by e0 {{ {} }}\n}}",
            0.1 + m as f64 * 0.05,
            0.2 + m as f64 * 0.1,
            100 + m,
            300 + m,
            900 + m,
            q.join(", ")
        );
    }
    for sl in 0..20 {
        let _ = writeln!(
            s,
            "slice s{sl} = e{} == v{} and r{} > {}%",
            sl % enums,
            sl % values,
            sl % 4,
            sl * 3
        );
    }
    let _ = writeln!(
        s,
        "objective weighted {{ latency 0.5, cost 0.3, quality 0.2 }}"
    );
    let _ = writeln!(
        s,
        "slo {{\n  ttft p95 <= 3s\n  quality >= 60% for each slice\n}}"
    );
    let _ = writeln!(s, "route {{\n  when prompt_tokens > 32k => m3");
    let mut i = 0;
    let mut count = s.lines().count();
    while count < lines.saturating_sub(30) {
        count += 1;
        if tenants {
            let _ = writeln!(
                s,
                "  when tenant == t{i} and prompt_tokens <= {}k => m{}",
                [8, 16, 32][i % 3],
                (i * 7) % models
            );
            i += 1;
            continue;
        }
        let e = i % enums;
        let v = (i / enums) % values;
        let t = 1 + (i * 37) % 31;
        let r = i % 4;
        let m = (i * 7) % models;
        let _ = writeln!(
            s,
            "  when e{e} == v{v} and prompt_tokens > {t}k and r{r} < {}% and e{} != v{} => m{m}",
            5 + (i * 13) % 90,
            (e + 1) % enums,
            (v + 3) % values
        );
        i += 1;
    }
    let cands: Vec<String> = (0..8).map(|m| format!("m{}", m * 4 + 3)).collect();
    let _ = writeln!(
        s,
        "  otherwise => optimize [{}] by e0, e1, prompt_tokens at [2k, 8k, 16k]\n}}",
        cands.join(", ")
    );
    let _ = writeln!(
        s,
        "traffic main {{\n  qps 100\n  prompt_tokens lognormal p50 900 p95 12k\n}}"
    );
    s
}

#[test]
fn five_thousand_lines_check_quickly() {
    let text = generate_with(5000, true);
    assert!(text.lines().count() >= 4900, "{}", text.lines().count());
    let start = Instant::now();
    let parsed = routec_syntax::parse(&text);
    let parse_time = start.elapsed();
    let checked = routec_check::check(&parsed.file);
    let total = start.elapsed();
    assert!(
        parsed.diagnostics.is_empty(),
        "{:?}",
        &parsed.diagnostics[..parsed.diagnostics.len().min(3)]
    );
    assert!(checked.policy.rules.len() > 4000);
    eprintln!(
        "5,000 lines: parse {parse_time:?}, parse + check {total:?}, {} diagnostics",
        checked.diagnostics.len()
    );
    let limit = if cfg!(debug_assertions) { 2_000 } else { 100 };
    assert!(total.as_millis() < limit, "parse + check took {total:?}");
}

/// The adversarial shape: every rule overlaps every other and most are
/// shadowed, so each needs an emptiness proof. Bounded by the witness
/// budget, not exponential.
#[test]
fn overlapping_rules_stay_bounded() {
    let text = generate_with(5000, false);
    let start = Instant::now();
    let parsed = routec_syntax::parse(&text);
    let checked = routec_check::check(&parsed.file);
    let total = start.elapsed();
    eprintln!(
        "5,000 overlapping lines: parse + check {total:?}, {} diagnostics",
        checked.diagnostics.len()
    );
    let limit = if cfg!(debug_assertions) {
        30_000
    } else {
        3_000
    };
    assert!(total.as_millis() < limit, "parse + check took {total:?}");
}
