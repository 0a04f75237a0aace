//! Renderers of `routec diff`: the JSON document (the one source of the
//! report; field names are documented in `docs/diff.md`), and the human and
//! markdown forms made from it.

use routec_diff::{Diff, SloDelta, SloSide, Unit};
use serde_json::{Value as Json, json};

use super::text_table;
use crate::{duration_with, finite, ms, round};

/// At most this many regions are listed in the human and markdown forms
/// (the JSON has them all).
const MAX_LISTED: usize = 40;

/// The names of the two sides, as the user gave them.
#[derive(Clone, Copy, Debug)]
pub struct Sides<'a> {
    pub old: &'a str,
    pub new: &'a str,
    pub old_traffic: Option<&'a str>,
    pub new_traffic: Option<&'a str>,
}

/// `{"old", "new", "delta"}` of one figure (already in report units).
fn pair(old: Option<f64>, new: Option<f64>, digits: i32) -> Json {
    let delta = match (old, new) {
        (Some(a), Some(b)) if a.is_finite() && b.is_finite() => finite(b - a, digits),
        _ => Json::Null,
    };
    json!({
        "old": old.map_or(Json::Null, |x| finite(x, digits)),
        "new": new.map_or(Json::Null, |x| finite(x, digits)),
        "delta": delta,
    })
}

fn unit_name(u: Unit) -> &'static str {
    match u {
        Unit::Seconds => "ms",
        Unit::Usd => "usd",
        Unit::Ratio => "ratio",
    }
}

fn in_unit(u: Unit, x: f64) -> f64 {
    match u {
        Unit::Seconds => ms(x),
        _ => round(x, 6),
    }
}

fn slo_side(u: Unit, s: &SloSide) -> Json {
    json!({
        "line": s.line,
        "value": in_unit(u, s.value),
        "limit": in_unit(u, s.limit),
        "ok": s.ok,
        "slack": in_unit(u, s.slack),
    })
}

fn slo_json(s: &SloDelta) -> Json {
    json!({
        "constraint": s.constraint,
        "old_constraint": s.old_constraint,
        "unit": unit_name(s.unit),
        "changed": s.changed(),
        "old": s.old.as_ref().map_or(Json::Null, |x| slo_side(s.unit, x)),
        "new": s.new.as_ref().map_or(Json::Null, |x| slo_side(s.unit, x)),
    })
}

/// Union of two name-keyed lists, in the new side's order then the old's.
fn union<'a>(
    old: &'a [(String, Option<f64>)],
    new: &'a [(String, Option<f64>)],
) -> Vec<(&'a str, Option<f64>, Option<f64>)> {
    let mut out = Vec::new();
    for (name, v) in new {
        let o = old.iter().find(|(n, _)| n == name);
        out.push((name.as_str(), o.and_then(|x| x.1), *v));
    }
    for (name, v) in old {
        if !new.iter().any(|(n, _)| n == name) {
            out.push((name.as_str(), *v, None));
        }
    }
    out
}

/// The request-space notes, and a word when a side's per-slice and
/// per-model breakdown could not be computed.
fn notes(d: &Diff) -> Vec<String> {
    let mut out = d.regions.notes.clone();
    for (side, p) in [("old", &d.old), ("new", &d.new)] {
        if !p.breakdown {
            out.push(format!(
                "quality per slice and calls per model are not available for the {side} policy's profile `{}`",
                p.traffic
            ));
        }
    }
    out
}

/// The whole report as JSON.
pub fn json(sides: &Sides, d: &Diff) -> Json {
    let regions: Vec<Json> = d
        .regions
        .changed
        .iter()
        .map(|r| {
            json!({
                "condition": r.condition,
                "old": r.old,
                "new": r.new,
                "share": round(r.share, 6),
                "example": routec_diff::example_request(&r.example),
            })
        })
        .collect();
    let (o, n) = (&d.old.metrics, &d.new.metrics);
    let q = |a: f64, b: f64| pair(Some(ms(a)), Some(ms(b)), 3);
    let metrics = json!({
        "ttft": {"p50": q(o.ttft.p50, n.ttft.p50), "p95": q(o.ttft.p95, n.ttft.p95), "p99": q(o.ttft.p99, n.ttft.p99)},
        "latency": {"p50": q(o.latency.p50, n.latency.p50), "p95": q(o.latency.p95, n.latency.p95), "p99": q(o.latency.p99, n.latency.p99)},
        "cost_per_1k_requests": pair(Some(o.cost_per_1k_requests), Some(n.cost_per_1k_requests), 6),
        "cost_per_success": pair(Some(o.cost_per_success), Some(n.cost_per_success), 8),
        "quality": pair(Some(o.quality), Some(n.quality), 6),
        "score": pair(Some(o.score), Some(n.score), 6),
    });
    let slices: Vec<Json> = union(&d.old.slices, &d.new.slices)
        .into_iter()
        .map(|(name, a, b)| {
            let mut p = pair(a, b, 6);
            if let Some(obj) = p.as_object_mut() {
                obj.insert("slice".into(), json!(name));
            }
            p
        })
        .collect();
    let wrap = |xs: &[(String, f64)]| -> Vec<(String, Option<f64>)> {
        xs.iter().map(|(n, v)| (n.clone(), Some(*v))).collect()
    };
    let (om, nm) = (wrap(&d.old.models), wrap(&d.new.models));
    let models: Vec<Json> = union(&om, &nm)
        .into_iter()
        .map(|(name, a, b)| {
            let mut p = pair(a, b, 6);
            if let Some(obj) = p.as_object_mut() {
                obj.insert("model".into(), json!(name));
            }
            p
        })
        .collect();
    let traffic_note = match (sides.old_traffic, sides.new_traffic) {
        (a, b) if a == b => Json::Null,
        (Some(a), Some(b)) => json!(format!(
            "the old policy has no traffic profile `{b}`; it is compiled for its first, `{a}`"
        )),
        (None, Some(b)) => json!(format!(
            "the old policy declares no traffic profile; it is compiled for uniform traffic, the new one for `{b}`"
        )),
        (Some(a), None) => json!(format!(
            "the new policy declares no traffic profile; it is compiled for uniform traffic, the old one for `{a}`"
        )),
        (None, None) => Json::Null,
    };
    json!({
        "old": {"source": sides.old, "traffic": d.old.traffic},
        "new": {"source": sides.new, "traffic": d.new.traffic},
        "traffic_note": traffic_note,
        "behavior_changed": d.behavior_changed(),
        "changed_share": round(d.regions.changed_share, 6),
        "regions": regions,
        "notes": notes(d),
        "units": {"latency": "ms", "cost": "usd", "quality": "ratio", "share": "ratio"},
        "metrics": metrics,
        "slices": slices,
        "models": models,
        "slos": d.slos.iter().map(slo_json).collect::<Vec<_>>(),
    })
}

// ---------------------------------------------------------------- text forms

fn f(j: &Json) -> Option<f64> {
    j.as_f64()
}

fn s(j: &Json) -> &str {
    j.as_str().unwrap_or("")
}

fn pct(x: f64) -> String {
    let p = x * 100.0;
    if p != 0.0 && p.abs() < 0.01 {
        format!("{p:.4}%")
    } else {
        format!("{p:.2}%")
    }
}

/// Whether a larger value is better.
#[derive(Clone, Copy)]
enum Better {
    Lower,
    Higher,
}

/// One summary row: label, old, new, delta, and whether the delta is good.
struct Row {
    label: String,
    old: String,
    new: String,
    delta: String,
    good: Option<bool>,
}

/// A figure shown with `digits` decimals.
type Show<'a> = &'a dyn Fn(f64, usize) -> String;

/// The fewest decimals (from `base`, at most 4 more) that tell `a` from `b`.
fn digits_apart(a: f64, b: f64, base: usize, show: Show) -> usize {
    (base..=base + 4)
        .find(|d| show(a, *d) != show(b, *d))
        .unwrap_or(base)
}

/// `+x`/`-x` with enough decimals not to read 0 when it is not.
fn signed(d: f64, base: usize, show: Show) -> String {
    if d == 0.0 {
        return "0".to_owned();
    }
    let digits = digits_apart(d.abs(), 0.0, base, show);
    format!(
        "{}{}",
        if d > 0.0 { "+" } else { "-" },
        show(d.abs(), digits)
    )
}

fn row(label: &str, p: &Json, show: Show, base: usize, better: Better, relative: bool) -> Row {
    let (a, b) = (f(&p["old"]), f(&p["new"]));
    let digits = match (a, b) {
        (Some(a), Some(b)) => digits_apart(a, b, base, show),
        _ => base,
    };
    let show_opt = |x: Option<f64>| x.map_or("-".to_owned(), |x| show(x, digits));
    let (delta, good) = match (a, b, f(&p["delta"])) {
        (Some(a), Some(_), Some(d)) if d != 0.0 => {
            let rel = if relative && a != 0.0 {
                format!(" ({:+.1}%)", d / a.abs() * 100.0)
            } else {
                String::new()
            };
            let good = match better {
                Better::Lower => d < 0.0,
                Better::Higher => d > 0.0,
            };
            (format!("{}{rel}", signed(d, base, show)), Some(good))
        }
        (Some(_), Some(_), _) => ("0".to_owned(), None),
        _ => ("-".to_owned(), None),
    };
    Row {
        label: label.to_owned(),
        old: show_opt(a),
        new: show_opt(b),
        delta,
        good,
    }
}

/// Milliseconds (the JSON report's unit) in the unit of their magnitude.
fn show_ms(x: f64, d: usize) -> String {
    duration_with(x / 1000.0, d)
}

fn show_usd(x: f64, d: usize) -> String {
    format!("${x:.d$}")
}

fn show_pct(x: f64, d: usize) -> String {
    format!("{:.d$}%", x * 100.0)
}

fn show_pp(x: f64, d: usize) -> String {
    format!("{:.d$} pp", x * 100.0)
}

fn show_plain(x: f64, d: usize) -> String {
    format!("{x:.d$}")
}

fn summary_rows(r: &Json) -> Vec<Row> {
    let m = &r["metrics"];
    let mut rows = Vec::new();
    for (key, name) in [("ttft", "TTFT"), ("latency", "latency")] {
        for q in ["p50", "p95", "p99"] {
            rows.push(row(
                &format!("{name} {q}"),
                &m[key][q],
                &show_ms,
                0,
                Better::Lower,
                true,
            ));
        }
    }
    rows.push(row(
        "cost per 1k requests",
        &m["cost_per_1k_requests"],
        &show_usd,
        4,
        Better::Lower,
        true,
    ));
    rows.push(row(
        "cost per success",
        &m["cost_per_success"],
        &show_usd,
        6,
        Better::Lower,
        true,
    ));
    let mut quality = row(
        "quality",
        &m["quality"],
        &show_pct,
        2,
        Better::Higher,
        false,
    );
    if let Some(d) = f(&m["quality"]["delta"])
        && d != 0.0
    {
        quality.delta = signed(d, 2, &show_pp);
    }
    rows.push(quality);
    rows.push(row(
        "composite score",
        &m["score"],
        &show_plain,
        3,
        Better::Higher,
        true,
    ));
    let slos = r["slos"].as_array().cloned().unwrap_or_default();
    let met = |side: &str| -> (usize, usize) {
        let present: Vec<&Json> = slos.iter().filter(|x| x[side].is_object()).collect();
        let ok = present.iter().filter(|x| x[side]["ok"] == true).count();
        (ok, present.len())
    };
    if !slos.is_empty() {
        let (oa, on) = met("old");
        let (na, nn) = met("new");
        let d = na as i64 - oa as i64;
        rows.push(Row {
            label: "SLOs met".to_owned(),
            old: format!("{oa}/{on}"),
            new: format!("{na}/{nn}"),
            delta: if d == 0 {
                "0".to_owned()
            } else {
                format!("{d:+}")
            },
            good: (d != 0).then_some(d > 0),
        });
    }
    rows
}

fn plan(text: &str) -> String {
    if text.contains(' ') && !text.starts_with("split {") {
        format!("({text})")
    } else {
        text.to_owned()
    }
}

fn headline(r: &Json) -> String {
    let regions = r["regions"].as_array().map_or(0, Vec::len);
    if r["behavior_changed"] == true {
        format!(
            "{} of traffic changes plan, in {regions} region{}",
            pct(f(&r["changed_share"]).unwrap_or(0.0)),
            if regions == 1 { "" } else { "s" }
        )
    } else {
        "no behavioral change".to_owned()
    }
}

/// Whether any predicted figure differs.
fn predictions_differ(r: &Json) -> bool {
    let mut differ = false;
    let mut visit = |j: &Json| {
        if let Some(d) = f(&j["delta"])
            && d != 0.0
        {
            differ = true;
        }
        if !j["delta"].is_number() && (j["old"].is_null() != j["new"].is_null()) {
            differ = true;
        }
    };
    let m = &r["metrics"];
    for key in ["ttft", "latency"] {
        for q in ["p50", "p95", "p99"] {
            visit(&m[key][q]);
        }
    }
    for key in [
        "cost_per_1k_requests",
        "cost_per_success",
        "quality",
        "score",
    ] {
        visit(&m[key]);
    }
    for list in ["slices", "models"] {
        for x in r[list].as_array().into_iter().flatten() {
            visit(x);
        }
    }
    differ
        || r["slos"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|x| x["changed"] == true)
}

/// An SLO's text, with the old bound when it changed.
fn slo_label(x: &Json) -> String {
    match x["old_constraint"].as_str() {
        Some(old) => format!("{} (was {old})", s(&x["constraint"])),
        None => s(&x["constraint"]).to_owned(),
    }
}

fn slo_status(side: &Json) -> &'static str {
    if !side.is_object() {
        "absent"
    } else if side["ok"] == true {
        "met"
    } else {
        "missed"
    }
}

fn changed_slos(r: &Json) -> Vec<&Json> {
    r["slos"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["changed"] == true)
        .collect()
}

fn figure_rows(list: &Json, key: &str, show: Show, base: usize, delta: Show) -> Vec<Vec<String>> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            let (a, b) = (f(&x["old"]), f(&x["new"]));
            let digits = match (a, b) {
                (Some(a), Some(b)) => digits_apart(a, b, base, show),
                _ => base,
            };
            vec![
                s(&x[key]).to_owned(),
                a.map_or("-".to_owned(), |v| show(v, digits)),
                b.map_or("-".to_owned(), |v| show(v, digits)),
                f(&x["delta"]).map_or("-".to_owned(), |d| signed(d, base, delta)),
            ]
        })
        .collect()
}

/// An SLO's figure in its unit.
fn slo_show(unit: &str) -> fn(f64, usize) -> String {
    match unit {
        "ms" => show_ms,
        "usd" => |x, d| format!("${x:.d$}"),
        _ => |x, d| format!("{:.d$}%", x * 100.0),
    }
}

fn slo_base(unit: &str) -> usize {
    match unit {
        "ms" => 0,
        "usd" => 4,
        _ => 2,
    }
}

/// An SLO's old and new status and value, and its slack before and after.
fn slo_cells(x: &Json) -> [String; 3] {
    let unit = s(&x["unit"]);
    let show = slo_show(unit);
    let base = slo_base(unit);
    let pair = |key: &str| -> (String, String) {
        let (a, b) = (f(&x["old"][key]), f(&x["new"][key]));
        let digits = match (a, b) {
            (Some(a), Some(b)) => digits_apart(a, b, base, &show),
            _ => base,
        };
        let one = |v: Option<f64>| v.map_or("-".to_owned(), |v| show(v, digits));
        (one(a), one(b))
    };
    let (vo, vn) = pair("value");
    let (so, sn) = pair("slack");
    [
        format!("{} {vo}", slo_status(&x["old"])),
        format!("{} {vn}", slo_status(&x["new"])),
        format!("{so} -> {sn}"),
    ]
}

/// The human report; `color` adds ANSI colours (green better, red worse).
pub fn human(r: &Json, color: bool) -> String {
    let paint = |text: &str, code: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    out.push_str(&paint(&headline(r), "1"));
    out.push('\n');
    out.push_str(&format!(
        "compared {} (old) with {} (new) under traffic `{}`\n",
        s(&r["old"]["source"]),
        s(&r["new"]["source"]),
        s(&r["new"]["traffic"])
    ));
    if let Some(note) = r["traffic_note"].as_str() {
        out.push_str(&format!("note: {note}\n"));
    }
    for note in r["notes"].as_array().into_iter().flatten() {
        out.push_str(&format!("note: {}\n", s(note)));
    }
    let regions = r["regions"].as_array().cloned().unwrap_or_default();
    if !regions.is_empty() {
        out.push_str("\nchanged regions (share of traffic, condition, old -> new plan):\n");
        for x in regions.iter().take(MAX_LISTED) {
            out.push_str(&format!(
                "  {:>8}  {}\n            {} -> {}\n            e.g. {}\n",
                pct(f(&x["share"]).unwrap_or(0.0)),
                s(&x["condition"]),
                plan(s(&x["old"])),
                plan(s(&x["new"])),
                x["example"]
            ));
        }
        if regions.len() > MAX_LISTED {
            let rest: f64 = regions[MAX_LISTED..]
                .iter()
                .filter_map(|x| f(&x["share"]))
                .sum();
            out.push_str(&format!(
                "  ... and {} more regions ({} of traffic); see --format json\n",
                regions.len() - MAX_LISTED,
                pct(rest)
            ));
        }
    }
    if !r["behavior_changed"].as_bool().unwrap_or(false) && !predictions_differ(r) {
        return out;
    }
    out.push_str("\npredicted (old -> new):\n");
    let mut rows = vec![vec![
        "metric".to_owned(),
        "old".to_owned(),
        "new".to_owned(),
        "delta".to_owned(),
    ]];
    let mut goods = vec![None];
    for x in summary_rows(r) {
        rows.push(vec![x.label, x.old, x.new, x.delta]);
        goods.push(x.good);
    }
    let rendered = text_table(&rows, 1, "  ");
    for (line, good) in rendered.lines().zip(goods) {
        match good {
            Some(true) => out.push_str(&paint(line, "32")),
            Some(false) => out.push_str(&paint(line, "31")),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    let slices = figure_rows(&r["slices"], "slice", &show_pct, 2, &show_pp);
    if !slices.is_empty() {
        out.push_str("\nquality per slice:\n");
        let mut rows = vec![vec![
            "slice".into(),
            "old".into(),
            "new".into(),
            "delta".into(),
        ]];
        rows.extend(slices);
        out.push_str(&text_table(&rows, 1, "  "));
    }
    let mut models = vec![vec![
        "model".into(),
        "old".into(),
        "new".into(),
        "delta".into(),
    ]];
    models.extend(figure_rows(
        &r["models"],
        "model",
        &show_plain,
        4,
        &show_plain,
    ));
    out.push_str("\ncalls per request:\n");
    out.push_str(&text_table(&models, 1, "  "));
    let slos = changed_slos(r);
    if !slos.is_empty() {
        out.push_str("\nSLOs whose status or slack changed:\n");
        let mut rows = vec![vec![
            "SLO".into(),
            "old".into(),
            "new".into(),
            "slack old -> new".into(),
        ]];
        for x in slos {
            let [old, new, slack] = slo_cells(x);
            rows.push(vec![slo_label(x), old, new, slack]);
        }
        out.push_str(&text_table(&rows, 4, "  "));
    }
    out
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn md_code(text: &str) -> String {
    format!("`{}`", md_cell(text))
}

fn md_table(header: &[&str], right: &[bool], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n|", header.join(" | "));
    for r in right {
        out.push_str(if *r { " ---: |" } else { " --- |" });
    }
    out.push('\n');
    for row in rows {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out
}

/// The markdown report, made to be posted as a pull-request comment.
pub fn markdown(r: &Json) -> String {
    let mut out = format!("### routec diff: {}\n\n", md_code(s(&r["new"]["source"])));
    let head = headline(r);
    let mut chars = head.chars();
    let capitalized: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    out.push_str(&format!(
        "**{capitalized}** (against {}, traffic {})\n\n",
        md_code(s(&r["old"]["source"])),
        md_code(s(&r["new"]["traffic"]))
    ));
    if let Some(note) = r["traffic_note"].as_str() {
        out.push_str(&format!("> {note}\n\n"));
    }
    for note in r["notes"].as_array().into_iter().flatten() {
        out.push_str(&format!("> {}\n\n", s(note)));
    }
    let summary: Vec<Vec<String>> = summary_rows(r)
        .into_iter()
        .map(|x| {
            let mark = match x.good {
                Some(true) => " :white_check_mark:",
                Some(false) => " :warning:",
                None => "",
            };
            vec![x.label, x.old, x.new, format!("{}{mark}", x.delta)]
        })
        .collect();
    out.push_str(&md_table(
        &["metric", "old", "new", "delta"],
        &[false, true, true, true],
        &summary,
    ));
    let regions = r["regions"].as_array().cloned().unwrap_or_default();
    if !regions.is_empty() {
        out.push_str(&format!(
            "\n<details><summary>Changed regions ({}, {} of traffic)</summary>\n\n",
            regions.len(),
            pct(f(&r["changed_share"]).unwrap_or(0.0))
        ));
        let rows: Vec<Vec<String>> = regions
            .iter()
            .take(MAX_LISTED)
            .map(|x| {
                vec![
                    pct(f(&x["share"]).unwrap_or(0.0)),
                    md_code(s(&x["condition"])),
                    md_code(s(&x["old"])),
                    md_code(s(&x["new"])),
                    md_code(&x["example"].to_string()),
                ]
            })
            .collect();
        out.push_str(&md_table(
            &["share", "region", "old", "new", "example request"],
            &[true, false, false, false, false],
            &rows,
        ));
        if regions.len() > MAX_LISTED {
            out.push_str(&format!(
                "\n... and {} more regions (`routec diff --format json` lists them all).\n",
                regions.len() - MAX_LISTED
            ));
        }
        out.push_str("\n</details>\n");
    }
    let slices = figure_rows(&r["slices"], "slice", &show_pct, 2, &show_pp);
    if !slices.is_empty() {
        out.push_str("\n<details><summary>Quality per slice</summary>\n\n");
        out.push_str(&md_table(
            &["slice", "old", "new", "delta"],
            &[false, true, true, true],
            &slices,
        ));
        out.push_str("\n</details>\n");
    }
    out.push_str("\n<details><summary>Calls per request, per model</summary>\n\n");
    out.push_str(&md_table(
        &["model", "old", "new", "delta"],
        &[false, true, true, true],
        &figure_rows(&r["models"], "model", &show_plain, 4, &show_plain),
    ));
    out.push_str("\n</details>\n");
    let slos = changed_slos(r);
    let all = r["slos"].as_array().map_or(0, Vec::len);
    if all > 0 {
        out.push_str(&format!(
            "\n<details><summary>SLOs ({} of {all} changed status or slack)</summary>\n\n",
            slos.len()
        ));
        if slos.is_empty() {
            out.push_str("No SLO changed.\n");
        } else {
            let rows: Vec<Vec<String>> = slos
                .iter()
                .map(|x| {
                    let [old, new, slack] = slo_cells(x);
                    vec![md_code(&slo_label(x)), old, new, slack]
                })
                .collect();
            out.push_str(&md_table(
                &["SLO", "old", "new", "slack"],
                &[false, false, false, true],
                &rows,
            ));
        }
        out.push_str("\n</details>\n");
    }
    out.push_str(
        "\n<sub>Predicted by the routec compiler's analytic model; regions are exact.</sub>\n",
    );
    out
}
