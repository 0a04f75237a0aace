//! `W0601`: a `timeout` or `ttft timeout` that cuts a share of a routed
//! model's answers under the traffic profile, located on the statement.
//! Snapshots show each fixture's `faults` block next to the warnings; one
//! share is checked against numeric integration of the model.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use routec_opt::codes::TIMEOUT_CUTS_ANSWERS;
use routec_opt::model::LatencyQuantiles;

fn render(source: &str, ds: &[routec_syntax::Diagnostic]) -> String {
    let line_of = |off: u32| source[..off as usize].matches('\n').count() + 1;
    let mut out = String::new();
    for d in ds.iter().filter(|d| d.code == TIMEOUT_CUTS_ANSWERS) {
        out.push_str(&format!(
            "{}[{}]: {}\n  --> line {}: {}\n",
            d.severity.as_str(),
            d.code,
            d.message,
            line_of(d.span.start),
            d.span.text(source).trim()
        ));
        if let Some(l) = &d.label {
            out.push_str(&format!("  label: {l}\n"));
        }
        if let Some(h) = &d.help {
            out.push_str(&format!("  help: {h}\n"));
        }
    }
    if out.is_empty() {
        out.push_str("no warning\n");
    }
    out
}

#[test]
fn timeout_fixtures() {
    insta::glob!("timeouts/*.route", |path| {
        let source = common::read(path);
        let compiled = common::compile(&source).unwrap();
        let faults: String = source
            .lines()
            .skip_while(|l| !l.starts_with("faults {"))
            .take_while(|l| !l.starts_with('}'))
            .collect::<Vec<_>>()
            .join("\n");
        insta::assert_snapshot!(format!(
            "{faults}\n}}\n\n{}",
            render(&source, &compiled.diagnostics)
        ));
    });
}

/// `timeout 10s`, decode 100 tok/s: an attempt is cut when `X + N/100 >
/// 10`, so the share is `E_N[P(X > 10 − N/100)]` (1 where `N ≥ 1000`).
#[test]
fn the_share_is_the_models_timeout_probability_over_the_answer_lengths() {
    let source = common::read(
        &common::workspace().join("crates/routec-opt/tests/timeouts/long_answers.route"),
    );
    let compiled = common::compile(&source).unwrap();
    let warning = compiled
        .diagnostics
        .iter()
        .find(|d| d.code == TIMEOUT_CUTS_ANSWERS)
        .unwrap();
    let ttft = LatencyQuantiles::from_quantiles(&[(0.5, 0.1), (0.95, 0.3)]).unwrap();
    let out = LatencyQuantiles::from_quantiles(&[(0.5, 200.0), (0.95, 1000.0)]).unwrap();
    let k = 200_000;
    let share: f64 = (0..k)
        .map(|i| {
            let n = out.quantile((i as f64 + 0.5) / k as f64);
            let cap = 10.0 - n / 100.0;
            if cap <= 0.0 {
                1.0
            } else {
                ttft.exceedance(cap)
            }
        })
        .sum::<f64>()
        / k as f64;
    let shown = format!("{:.2}%", share * 100.0);
    assert!(
        warning
            .message
            .contains(&format!("cuts {shown} of `m`'s answers")),
        "{} (exact share {share})",
        warning.message
    );
}
