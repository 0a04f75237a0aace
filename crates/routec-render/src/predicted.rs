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
    if let Some(j) = &p.judge {
        out.push_str(&format!(
            "judge {}: {:.1}% of answers, {}/1k requests (in the cost above)\n",
            j.model,
            j.share * 100.0,
            money(j.cost_per_request * 1000.0)
        ));
    }
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
    if let Some(ladder) = &p.pacing {
        out.push_str(&pacing(ladder));
    }
    out
}

/// The pacing ladder: each rung's predicted cost and quality, and the SLOs
/// it gives up.
///
/// ```text
/// pacing of `spend per day <= $600` (line 50): 2 steps below the table
///   rung  $/1k requests  quality  gives up
///   0     $6.9444        85.36%
///   1     $2.0138        78.00%
///   2     $0.5083        69.65%   quality >= 78%
/// ```
fn pacing(ladder: &routec_driver::predicted::PacingLadder) -> String {
    let below = ladder.rungs.len().saturating_sub(1);
    let mut out = format!(
        "pacing of `{}` (line {}): {}\n",
        ladder.constraint,
        ladder.line,
        match below {
            0 => "no cheaper routing to step down to".to_owned(),
            1 => "1 step below the table".to_owned(),
            n => format!("{n} steps below the table"),
        }
    );
    if below == 0 {
        return out;
    }
    out.push_str("  rung  $/1k requests  quality  gives up\n");
    for (k, (cost, quality, missed)) in ladder.rungs.iter().enumerate() {
        let line = format!(
            "  {k:<4}  {:>13}  {:>7}  {}",
            money(cost * 1000.0),
            format!("{:.2}%", quality * 100.0),
            missed.join(", ")
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
