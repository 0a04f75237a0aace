//! `routec explain FILE --request JSON [--key KEY] [--format human|json]`

use routec_check::ir::MetricDef;
use routec_opt::ValueSet;
use routec_runtime::{Decision, Request, RequestError, Router, SignalValue, ValueOrigin};
use serde_json::{Value as Json, json};

use super::{eprint, print};
use crate::cli::{ColorChoice, ExplainArgs, OutputFormat, exit};
use crate::pipeline::{self, Pipeline, ms, round};
use crate::source;

pub fn run(args: &ExplainArgs, color: ColorChoice) -> u8 {
    let text = match args.request.strip_prefix('@') {
        Some(path) => match source::read(std::path::Path::new(path)) {
            Ok(text) => text,
            Err(e) => {
                eprint(&format!("routec: cannot read `{path}`: {e}\n"));
                return exit::USAGE;
            }
        },
        None => args.request.clone(),
    };
    let json: Json = match serde_json::from_str(&text) {
        Ok(json) => json,
        Err(e) => {
            eprint(&format!("routec: the request is not valid JSON: {e}\n"));
            return exit::USAGE;
        }
    };
    let p = match pipeline::compile(&args.file, None, color) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let router = match Router::new(p.compiled.table.clone()) {
        Ok(r) => r,
        Err(e) => {
            eprint(&format!(
                "routec: the compiled table does not load: {e} (this is a bug in routec)\n"
            ));
            return exit::FAILURE;
        }
    };
    let mut request = match router.request_from_json(&json) {
        Ok(r) => r,
        Err(RequestError::UnknownSignal { name, .. }) => {
            let names: Vec<&str> = router
                .table()
                .signals
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            let hint = suggest(&name, &names)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_else(|| format!("; the signals are {}", names.join(", ")));
            eprint(&format!(
                "routec: unknown signal `{name}` in the request{hint}\n"
            ));
            return exit::USAGE;
        }
        Err(e) => {
            eprint(&format!("routec: {e}\n"));
            return exit::USAGE;
        }
    };
    if let Some(key) = &args.key {
        request.set_key(key);
    }
    let report = explain_json(&p, &router, &request);
    match args.format {
        OutputFormat::Json => {
            let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
            text.push('\n');
            print(&text);
        }
        OutputFormat::Human => print(&human(&report)),
    }
    exit::OK
}

/// The explanation of one request as a JSON document (see `--help`).
pub fn explain_json(p: &Pipeline, router: &Router, request: &routec_runtime::Request) -> Json {
    let table = router.table();
    let decision = router.decide(request);
    let e = router.explain(request, &decision);
    let names = |set: routec_runtime::SignalSet| -> Vec<String> {
        set.iter()
            .filter_map(|i| table.signals.get(i).map(|s| s.name.clone()))
            .collect()
    };
    let path: Vec<Json> = e
        .path
        .iter()
        .map(|s| {
            json!({
                "signal": s.signal,
                "value": s.value,
                "origin": match s.origin {
                    ValueOrigin::Request => "request",
                    ValueOrigin::Default => "default",
                    ValueOrigin::InvalidDefaulted => "invalid",
                },
                "test": s.test,
            })
        })
        .collect();
    let cell = find_cell(p, router, request, &decision);
    let predicted = cell.and_then(|c| {
        table
            .assumed
            .as_ref()
            .and_then(|a| a.cells.get(c as usize))
            .map(|c| {
                let mut m = table_metrics_json(&c.predicted);
                if let Some(obj) = m.as_object_mut() {
                    obj.insert("share".into(), json!(round(c.share, 6)));
                }
                m
            })
    });
    json!({
        "rule": e.rule_line,
        "rule_text": e.rule_text,
        "plan": e.plan,
        "splits": e.splits.iter().map(|(plan, share)| json!({"plan": plan, "share": round(*share, 6)})).collect::<Vec<_>>(),
        "cell": cell.and_then(|c| table.assumed.as_ref().and_then(|a| a.cells.get(c as usize))).map(|c| c.predicate.clone()).or(e.cell),
        "defaulted": names(decision.defaulted),
        "invalid": names(decision.invalid),
        "path": path,
        "predicted": predicted,
        "recorded": recorded_json(p, cell),
        "slos": slo_sensitivities(p),
    })
}

/// The outcome-based quality estimates of a cell (recorded profiles with
/// outcomes only): per model, the declared quality, the shrunk estimate and
/// its 95% interval, from how many outcomes (`docs/semantics.md`).
fn recorded_json(p: &Pipeline, cell: Option<u32>) -> Json {
    let (Some(est), Some(cell)) = (&p.compiled.recorded, cell) else {
        return Json::Null;
    };
    let models: Vec<Json> = est
        .quality
        .iter()
        .filter(|q| q.cell == cell as usize)
        .map(|q| {
            json!({
                "model": p.policy.model(q.model).name,
                "declared": round(q.rate.declared, 6),
                "estimate": round(q.rate.estimate, 6),
                "low": round(q.rate.low, 6),
                "high": round(q.rate.high, 6),
                "outcomes": q.rate.n,
                "successes": q.rate.successes,
            })
        })
        .collect();
    json!({"traffic": est.profile, "requests": est.requests, "labeled": est.labeled, "quality": models})
}

/// The closest name within a small edit distance.
pub fn suggest<'a>(name: &str, names: &[&'a str]) -> Option<&'a str> {
    names
        .iter()
        .map(|n| (strsim::levenshtein(n, name), *n))
        .filter(|(d, n)| *d <= 2.max(n.len().min(name.len()) / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// The optimizer's cell of a request: the leaf's, or (for leaves that merge
/// several cells of a fixed rule) the cell of the rule whose box holds the
/// request's values (defaults applied).
fn find_cell(p: &Pipeline, router: &Router, request: &Request, d: &Decision) -> Option<u32> {
    if d.cell.is_some() {
        return d.cell;
    }
    let table = router.table();
    let value = |policy_signal: usize| -> Option<f64> {
        let name = &p.policy.signals.get(policy_signal)?.name;
        let i = table.signals.iter().position(|s| &s.name == name)?;
        Some(match request.get(i) {
            SignalValue::Present(v) => v,
            _ => table.signals[i].default,
        })
    };
    let holds = |signal: usize, set: &ValueSet| -> bool {
        let Some(v) = value(signal) else {
            return false;
        };
        match set {
            ValueSet::Values(vs) => vs.iter().any(|x| *x as f64 == v),
            ValueSet::Ranges(rs) => rs.iter().any(|(lo, lo_in, hi, hi_in)| {
                lo.is_none_or(|l| if *lo_in { v >= l } else { v > l })
                    && hi.is_none_or(|h| if *hi_in { v <= h } else { v < h })
            }),
        }
    };
    p.compiled
        .cells()
        .iter()
        .position(|c| {
            c.rule == d.rule as usize
                && c.boxes
                    .iter()
                    .any(|b| b.iter().all(|(signal, set)| holds(*signal, set)))
        })
        .map(|c| c as u32)
}

/// The table's SLO statuses with what tightening each would cost.
pub fn slo_sensitivities(p: &Pipeline) -> Vec<Json> {
    let Some(assumed) = &p.compiled.table.assumed else {
        return Vec::new();
    };
    assumed
        .slos
        .iter()
        .zip(p.compiled.slos())
        .map(|(s, row)| {
            let tightening = row.tightening.as_ref().map(ToString::to_string);
            let metric = p.policy.slos.get(row.slo).map(|d| &d.metric);
            let (value, limit, unit) = in_unit(metric, s.value, s.limit);
            json!({
                "constraint": s.constraint,
                "line": s.line,
                "value": value,
                "limit": limit,
                "unit": unit,
                "ok": s.ok,
                "binding": tightening.is_some(),
                "tightening": tightening,
            })
        })
        .collect()
}

/// Latencies in milliseconds, the rest as they are.
pub fn in_unit(metric: Option<&MetricDef>, value: f64, limit: f64) -> (f64, f64, &'static str) {
    match metric {
        Some(MetricDef::Ttft(_) | MetricDef::Latency(_)) => (ms(value), ms(limit), "ms"),
        Some(MetricDef::Cost(_) | MetricDef::Spend(_)) => (round(value, 6), round(limit, 6), "usd"),
        _ => (round(value, 6), round(limit, 6), "ratio"),
    }
}

/// A table's predicted metrics in report units (milliseconds, USD).
pub fn table_metrics_json(m: &routec_table::Metrics) -> Json {
    json!({
        "ttft": {"p50": ms(m.ttft.p50), "p95": ms(m.ttft.p95), "p99": ms(m.ttft.p99)},
        "latency": {"p50": ms(m.latency.p50), "p95": ms(m.latency.p95), "p99": ms(m.latency.p99)},
        "cost_per_1k_requests": round(m.cost_per_1k_requests, 6),
        "cost_per_success": round(m.cost_per_success, 8),
        "quality": round(m.quality, 6),
        "score": round(m.score, 6),
    })
}

fn s(j: &Json) -> String {
    match j {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// The short human explanation.
pub fn human(r: &Json) -> String {
    let mut out = String::new();
    out.push_str(&format!("plan:  {}\n", s(&r["plan"])));
    out.push_str(&format!(
        "rule:  line {}: {}\n",
        r["rule"],
        s(&r["rule_text"])
    ));
    if let Some(cell) = r["cell"].as_str() {
        out.push_str(&format!("cell:  {cell}\n"));
    }
    if let Some(splits) = r["splits"].as_array()
        && splits.len() > 1
    {
        let parts: Vec<String> = splits
            .iter()
            .map(|x| {
                format!(
                    "{} {:.1}%",
                    s(&x["plan"]),
                    x["share"].as_f64().unwrap_or(0.0) * 100.0
                )
            })
            .collect();
        out.push_str(&format!(
            "split: {} (sticky by the request key)\n",
            parts.join(", ")
        ));
    }
    if let Some(path) = r["path"].as_array() {
        out.push_str("why:\n");
        for step in path {
            let origin = match step["origin"].as_str() {
                Some("default") => "  (not in the request: default)",
                Some("invalid") => "  (invalid in the request: default)",
                _ => "",
            };
            out.push_str(&format!("  {}{origin}\n", s(&step["test"])));
        }
    }
    let p = &r["predicted"];
    if p.is_object() {
        out.push_str(&format!(
            "predicted for this cell ({:.2}% of traffic): ttft p95 {:.0}ms, latency p95 {:.0}ms, ${:.3}/1k requests, quality {:.1}%\n",
            p["share"].as_f64().unwrap_or(0.0) * 100.0,
            p["ttft"]["p95"].as_f64().unwrap_or(0.0),
            p["latency"]["p95"].as_f64().unwrap_or(0.0),
            p["cost_per_1k_requests"].as_f64().unwrap_or(0.0),
            p["quality"].as_f64().unwrap_or(0.0) * 100.0,
        ));
    }
    if let Some(models) = r["recorded"]["quality"].as_array()
        && !models.is_empty()
    {
        out.push_str(&format!(
            "quality from the outcomes recorded in `{}` (95% interval):\n",
            s(&r["recorded"]["traffic"])
        ));
        for m in models {
            let pct = |k: &str| m[k].as_f64().unwrap_or(0.0) * 100.0;
            out.push_str(&format!(
                "  {}: {:.1}% [{:.1}%, {:.1}%] from {}/{} successes (declared {:.1}%)\n",
                s(&m["model"]),
                pct("estimate"),
                pct("low"),
                pct("high"),
                m["successes"],
                m["outcomes"],
                pct("declared"),
            ));
        }
    }
    if let Some(slos) = r["slos"].as_array() {
        let binding: Vec<&Json> = slos.iter().filter(|x| x["binding"] == true).collect();
        if !binding.is_empty() {
            out.push_str("binding SLOs (what tightening costs):\n");
            for x in binding {
                out.push_str(&format!(
                    "  {}: {}\n",
                    s(&x["constraint"]),
                    s(&x["tightening"])
                ));
            }
        }
    }
    out
}
