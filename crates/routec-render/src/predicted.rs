//! What `routec compile` prints after writing a table: the figures the
//! table was optimized for, in a few lines ([`human`]).

use routec_driver::explain::SloUnit;
use routec_driver::predicted::Predicted;

use crate::{duration, text_table};

/// A value of an SLO's unit: a duration, dollars, or a percentage.
fn figure(unit: SloUnit, x: f64) -> String {
    match unit {
        SloUnit::Seconds => duration(x),
        SloUnit::Usd => money(x),
        SloUnit::Ratio => format!("{:.2}%", x * 100.0),
    }
}

/// Dollars: four decimals below $10 (costs per request are small), two
/// above.
fn money(x: f64) -> String {
    let sign = if x < 0.0 { "-" } else { "" };
    if x.abs() >= 10.0 {
        format!("{sign}${:.2}", x.abs())
    } else if x.abs() >= 0.01 || x == 0.0 {
        format!("{sign}${:.4}", x.abs())
    } else {
        format!("{sign}${:.6}", x.abs())
    }
}

/// The predicted figures in a few lines:
///
/// ```text
/// predicted for traffic `launch`: ttft p95 2.83s, latency p95 10.7s, $1.6801/1k requests, $0.002112/success, quality 79.57%, score 1.42
/// quality per slice: english 80.06% (55.0%), non_english 78.41% (45.0%)
/// SLOs:
///   met  ttft p95 <= 3s   2.83s  slack 174ms  binding: ttft p95 -100ms costs +$0.31/1k, quality -0.1%
/// ```
pub fn human(p: &Predicted) -> String {
    let m = &p.metrics;
    let cps = if m.cost_per_success.is_finite() {
        format!(", {}/success", money(m.cost_per_success))
    } else {
        String::new()
    };
    let mut out = format!(
        "predicted for traffic `{}`: ttft p95 {}, latency p95 {}, {}/1k requests{cps}, quality {:.2}%, score {:.2}\n",
        p.traffic,
        duration(m.ttft.p95),
        duration(m.latency.p95),
        money(m.cost_per_1k_requests),
        m.quality * 100.0,
        m.score,
    );
    if !p.slices.is_empty() {
        let slices: Vec<String> = p
            .slices
            .iter()
            .map(|s| {
                format!(
                    "{} {:.2}% ({:.1}% of traffic)",
                    s.name,
                    s.quality * 100.0,
                    s.share * 100.0
                )
            })
            .collect();
        out.push_str(&format!("quality per slice: {}\n", slices.join(", ")));
    }
    if !p.slos.is_empty() {
        out.push_str("SLOs (predicted value, slack):\n");
        let rows: Vec<Vec<String>> = p
            .slos
            .iter()
            .map(|s| {
                vec![
                    if s.slo.ok { "met" } else { "MISSED" }.to_owned(),
                    s.slo.constraint.clone(),
                    figure(s.slo.unit, s.slo.value),
                    format!("slack {}", figure(s.slo.unit, s.slack)),
                ]
            })
            .collect();
        // The price of tightening a binding SLO follows its row.
        for (line, s) in text_table(&rows, 2, "  ").lines().zip(&p.slos) {
            out.push_str(line);
            if let Some(t) = &s.slo.tightening {
                out.push_str(&format!("  binding: {t}"));
            }
            out.push('\n');
        }
    }
    out
}
