//! `routec simulate POLICY --pace [SURGE]`: one period of the policy's
//! spend budget, paced and at each rung of its ladder alone
//! (`routec_sim::pacing`), human and JSON (`docs/learn.md`, "Budget
//! pacing").

use routec_sim::pacing::{PeriodReport, PeriodRun};
use serde_json::{Value as Json, json};

use crate::{finite, text_table};

fn run_json(r: &PeriodRun) -> Json {
    json!({
        "requests": r.requests,
        "spend_usd": finite(r.spent, 6),
        "quality": finite(r.quality, 6),
        "requests_per_rung": r.per_rung,
        "spend_by_hour_usd": r.spend_by_hour.iter().map(|x| finite(*x, 6)).collect::<Vec<_>>(),
    })
}

pub fn json(r: &PeriodReport) -> Json {
    json!({
        "constraint": r.constraint,
        "period": r.period,
        "budget_usd": finite(r.budget, 6),
        "traffic": r.traffic,
        "qps": finite(r.qps, 6),
        "surge": r.surge.map_or(Json::Null, |s| json!({
            "factor": finite(s.factor, 6),
            "from_hours": finite(s.from / 3600.0, 6),
            "to_hours": finite(s.to / 3600.0, 6),
        })),
        "seed": r.seed,
        "rung_cost_per_request_usd": r.rung_costs.iter().map(|x| finite(*x, 9)).collect::<Vec<_>>(),
        "paced": run_json(&r.paced),
        "fixed": r.fixed.iter().map(run_json).collect::<Vec<_>>(),
    })
}

/// ```text
/// pacing of `spend per day <= $600`: one day of traffic `planned` at 1 qps, with 3x from 10h to 16h (seed 0)
///   routing       requests  spend    of budget  quality
///   paced          130,060  $594.74     99.1%    81.95%
///   rung 0 alone   130,060  $902.68    150.4%    85.38%  over
///   ...
/// paced spend by hour (cumulative, and the pro-rated budget):
///   ...
/// ```
pub fn human(r: &PeriodReport) -> String {
    let surge = r.surge.map_or_else(String::new, |s| format!(", with {s}"));
    let mut out = format!(
        "pacing of `{}`: one {} of traffic `{}` at {} qps{surge} (seed {})\n",
        r.constraint,
        r.period,
        r.traffic,
        routec_sim::trim(r.qps),
        r.seed
    );
    let row = |label: String, run: &PeriodRun| {
        vec![
            label,
            thousands(run.requests),
            format!("${:.2}", run.spent),
            format!("{:.1}%", 100.0 * run.spent / r.budget.max(1e-12)),
            format!("{:.2}%", 100.0 * run.quality),
            if run.spent > r.budget { "over" } else { "" }.to_owned(),
        ]
    };
    let mut rows = vec![vec![
        "routing".to_owned(),
        "requests".to_owned(),
        "spend".to_owned(),
        "of budget".to_owned(),
        "quality".to_owned(),
        String::new(),
    ]];
    rows.push(row("paced".to_owned(), &r.paced));
    for (k, run) in r.fixed.iter().enumerate() {
        let cost = r.rung_costs.get(k).copied().unwrap_or(0.0);
        rows.push(row(
            format!("rung {k} alone (${:.4}/1k)", cost * 1000.0),
            run,
        ));
    }
    for line in text_table(&rows, 1, "  ").lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let shares: Vec<String> = r
        .paced
        .per_rung
        .iter()
        .enumerate()
        .map(|(k, n)| {
            format!(
                "rung {k} {:.1}%",
                100.0 * *n as f64 / r.paced.requests.max(1) as f64
            )
        })
        .collect();
    out.push_str(&format!("paced requests by rung: {}\n", shares.join(", ")));
    out.push_str(
        "paced spend at the end of each 24th of the period (cumulative / pro-rated budget):\n",
    );
    let marks: Vec<String> = r
        .paced
        .spend_by_hour
        .iter()
        .enumerate()
        .map(|(h, s)| format!("${:.0}/{:.0}", s, r.budget * (h + 1) as f64 / 24.0))
        .collect();
    for chunk in marks.chunks(8) {
        out.push_str(&format!("  {}\n", chunk.join("  ")));
    }
    out
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
