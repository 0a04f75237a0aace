//! Renderers of `routec diff`: the typed report ([`DiffReport`], made once
//! from a [`Diff`] with every figure in report units and rounded as the
//! JSON shows it; field names are documented in `docs/diff.md`), its JSON
//! document, and the human and markdown forms rendered from it.

use routec_diff::{Diff, SloDelta, SloSide, Unit};
use serde::Serialize;
use serde_json::Value as Json;

use super::text_table;
use crate::{duration_with, ms, round};

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

/// The report of `routec diff`. Figures are in report units (milliseconds,
/// USD, ratios) and rounded; a figure that is not finite is `None` (JSON
/// `null`).
#[derive(Clone, Debug, Serialize)]
pub struct DiffReport {
    pub old: SideReport,
    pub new: SideReport,
    /// Why the two sides were compiled for different traffic profiles.
    pub traffic_note: Option<String>,
    pub behavior_changed: bool,
    /// The share of traffic whose plan changed.
    pub changed_share: f64,
    pub regions: Vec<RegionReport>,
    pub notes: Vec<String>,
    pub units: Units,
    pub metrics: MetricsReport,
    /// Quality per slice.
    pub slices: Vec<SliceFigure>,
    /// Calls per request, per model.
    pub models: Vec<ModelFigure>,
    pub slos: Vec<SloReport>,
}

/// One side of the comparison: its source and the profile it was compiled for.
#[derive(Clone, Debug, Serialize)]
pub struct SideReport {
    pub source: String,
    pub traffic: String,
}

/// A region of the request space whose plan changed.
#[derive(Clone, Debug, Serialize)]
pub struct RegionReport {
    /// The region as a condition in the language's syntax.
    pub condition: String,
    /// The old and new plans, in the language's syntax.
    pub old: String,
    pub new: String,
    pub share: f64,
    /// A request in the region, as `routec explain --request` takes it.
    pub example: Json,
}

/// The units of the report's figures.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Units {
    pub latency: &'static str,
    pub cost: &'static str,
    pub quality: &'static str,
    pub share: &'static str,
}

const UNITS: Units = Units {
    latency: "ms",
    cost: "usd",
    quality: "ratio",
    share: "ratio",
};

/// One figure on both sides and its change (new minus old, when both are
/// finite).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Pair {
    pub old: Option<f64>,
    pub new: Option<f64>,
    pub delta: Option<f64>,
}

/// The p50, p95 and p99 of a latency, in milliseconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct QuantilePairs {
    pub p50: Pair,
    pub p95: Pair,
    pub p99: Pair,
}

impl QuantilePairs {
    /// `("p50", p50)`, then p95 and p99.
    fn named(&self) -> impl Iterator<Item = (&'static str, &Pair)> {
        [("p50", &self.p50), ("p95", &self.p95), ("p99", &self.p99)].into_iter()
    }
}

/// The predicted figures of the whole traffic.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct MetricsReport {
    pub ttft: QuantilePairs,
    pub latency: QuantilePairs,
    pub cost_per_1k_requests: Pair,
    pub cost_per_success: Pair,
    pub quality: Pair,
    pub score: Pair,
}

/// A slice's quality on both sides.
#[derive(Clone, Debug, Serialize)]
pub struct SliceFigure {
    pub slice: String,
    #[serde(flatten)]
    pub figure: Pair,
}

/// A model's calls per request on both sides.
#[derive(Clone, Debug, Serialize)]
pub struct ModelFigure {
    pub model: String,
    #[serde(flatten)]
    pub figure: Pair,
}

/// An SLO on both sides.
#[derive(Clone, Debug, Serialize)]
pub struct SloReport {
    pub constraint: String,
    /// The old side's constraint, when its bound differs.
    pub old_constraint: Option<String>,
    /// `ms`, `usd` or `ratio`.
    pub unit: &'static str,
    pub changed: bool,
    pub old: Option<SloSideReport>,
    pub new: Option<SloSideReport>,
}

/// An SLO on one side, in its unit.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct SloSideReport {
    pub line: u32,
    pub value: f64,
    pub limit: f64,
    pub ok: bool,
    pub slack: f64,
}

/// `x` rounded to `digits` decimals, when it is finite (and stays so).
fn rounded(x: f64, digits: i32) -> Option<f64> {
    if x.is_finite() {
        Some(round(x, digits)).filter(|r| r.is_finite())
    } else {
        None
    }
}

/// A figure as the JSON shows it: `None` (null) when not finite.
fn num(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// One figure (already in report units) on both sides.
fn pair(old: Option<f64>, new: Option<f64>, digits: i32) -> Pair {
    let delta = match (old, new) {
        (Some(a), Some(b)) if a.is_finite() && b.is_finite() => rounded(b - a, digits),
        _ => None,
    };
    Pair {
        old: old.and_then(|x| rounded(x, digits)),
        new: new.and_then(|x| rounded(x, digits)),
        delta,
    }
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

fn slo_side(u: Unit, s: &SloSide) -> SloSideReport {
    SloSideReport {
        line: s.line,
        value: in_unit(u, s.value),
        limit: in_unit(u, s.limit),
        ok: s.ok,
        slack: in_unit(u, s.slack),
    }
}

fn slo_report(s: &SloDelta) -> SloReport {
    SloReport {
        constraint: s.constraint.clone(),
        old_constraint: s.old_constraint.clone(),
        unit: unit_name(s.unit),
        changed: s.changed(),
        old: s.old.as_ref().map(|x| slo_side(s.unit, x)),
        new: s.new.as_ref().map(|x| slo_side(s.unit, x)),
    }
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

/// Why the sides were compiled for different profiles (`None`: they were not).
fn traffic_note(sides: &Sides) -> Option<String> {
    match (sides.old_traffic, sides.new_traffic) {
        (a, b) if a == b => None,
        (Some(a), Some(b)) => Some(format!(
            "the old policy has no traffic profile `{b}`; it is compiled for its first, `{a}`"
        )),
        (None, Some(b)) => Some(format!(
            "the old policy declares no traffic profile; it is compiled for uniform traffic, the new one for `{b}`"
        )),
        (Some(a), None) => Some(format!(
            "the new policy declares no traffic profile; it is compiled for uniform traffic, the old one for `{a}`"
        )),
        (None, None) => None,
    }
}

/// The report of a comparison.
pub fn report(sides: &Sides, d: &Diff) -> DiffReport {
    let regions = d
        .regions
        .changed
        .iter()
        .map(|r| RegionReport {
            condition: r.condition.clone(),
            old: r.old.clone(),
            new: r.new.clone(),
            share: round(r.share, 6),
            example: routec_diff::example_request(&r.example),
        })
        .collect();
    let (o, n) = (&d.old.metrics, &d.new.metrics);
    let q = |a: f64, b: f64| pair(Some(ms(a)), Some(ms(b)), 3);
    let metrics = MetricsReport {
        ttft: QuantilePairs {
            p50: q(o.ttft.p50, n.ttft.p50),
            p95: q(o.ttft.p95, n.ttft.p95),
            p99: q(o.ttft.p99, n.ttft.p99),
        },
        latency: QuantilePairs {
            p50: q(o.latency.p50, n.latency.p50),
            p95: q(o.latency.p95, n.latency.p95),
            p99: q(o.latency.p99, n.latency.p99),
        },
        cost_per_1k_requests: pair(
            Some(o.cost_per_1k_requests),
            Some(n.cost_per_1k_requests),
            6,
        ),
        cost_per_success: pair(Some(o.cost_per_success), Some(n.cost_per_success), 8),
        quality: pair(Some(o.quality), Some(n.quality), 6),
        score: pair(Some(o.score), Some(n.score), 6),
    };
    let slices = union(&d.old.slices, &d.new.slices)
        .into_iter()
        .map(|(name, a, b)| SliceFigure {
            slice: name.to_owned(),
            figure: pair(a, b, 6),
        })
        .collect();
    let wrap = |xs: &[(String, f64)]| -> Vec<(String, Option<f64>)> {
        xs.iter().map(|(n, v)| (n.clone(), Some(*v))).collect()
    };
    let (om, nm) = (wrap(&d.old.models), wrap(&d.new.models));
    let models = union(&om, &nm)
        .into_iter()
        .map(|(name, a, b)| ModelFigure {
            model: name.to_owned(),
            figure: pair(a, b, 6),
        })
        .collect();
    DiffReport {
        old: SideReport {
            source: sides.old.to_owned(),
            traffic: d.old.traffic.clone(),
        },
        new: SideReport {
            source: sides.new.to_owned(),
            traffic: d.new.traffic.clone(),
        },
        traffic_note: traffic_note(sides),
        behavior_changed: d.behavior_changed(),
        changed_share: round(d.regions.changed_share, 6),
        regions,
        notes: notes(d),
        units: UNITS,
        metrics,
        slices,
        models,
        slos: d.slos.iter().map(slo_report).collect(),
    }
}

/// The report as one JSON document (keys sorted).
pub fn json(report: &DiffReport) -> Json {
    serde_json::to_value(report).unwrap_or(Json::Null)
}

// ---------------------------------------------------------------- text forms

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

fn row(label: &str, p: &Pair, show: Show, base: usize, better: Better, relative: bool) -> Row {
    let (a, b) = (p.old, p.new);
    let digits = match (a, b) {
        (Some(a), Some(b)) => digits_apart(a, b, base, show),
        _ => base,
    };
    let show_opt = |x: Option<f64>| x.map_or("-".to_owned(), |x| show(x, digits));
    let (delta, good) = match (a, b, p.delta) {
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

fn summary_rows(r: &DiffReport) -> Vec<Row> {
    let m = &r.metrics;
    let mut rows = Vec::new();
    for (quantiles, name) in [(&m.ttft, "TTFT"), (&m.latency, "latency")] {
        for (q, p) in quantiles.named() {
            rows.push(row(
                &format!("{name} {q}"),
                p,
                &show_ms,
                0,
                Better::Lower,
                true,
            ));
        }
    }
    rows.push(row(
        "cost per 1k requests",
        &m.cost_per_1k_requests,
        &show_usd,
        4,
        Better::Lower,
        true,
    ));
    rows.push(row(
        "cost per success",
        &m.cost_per_success,
        &show_usd,
        6,
        Better::Lower,
        true,
    ));
    let mut quality = row("quality", &m.quality, &show_pct, 2, Better::Higher, false);
    if let Some(d) = m.quality.delta
        && d != 0.0
    {
        quality.delta = signed(d, 2, &show_pp);
    }
    rows.push(quality);
    rows.push(row(
        "composite score",
        &m.score,
        &show_plain,
        3,
        Better::Higher,
        true,
    ));
    let slos = &r.slos;
    let met = |side: fn(&SloReport) -> Option<&SloSideReport>| -> (usize, usize) {
        let present: Vec<&SloSideReport> = slos.iter().filter_map(side).collect();
        let ok = present.iter().filter(|x| x.ok).count();
        (ok, present.len())
    };
    if !slos.is_empty() {
        let (oa, on) = met(|x| x.old.as_ref());
        let (na, nn) = met(|x| x.new.as_ref());
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

fn headline(r: &DiffReport) -> String {
    let regions = r.regions.len();
    if r.behavior_changed {
        format!(
            "{} of traffic changes plan, in {regions} region{}",
            pct(num(r.changed_share).unwrap_or(0.0)),
            if regions == 1 { "" } else { "s" }
        )
    } else {
        "no behavioral change".to_owned()
    }
}

/// Whether any predicted figure differs.
fn predictions_differ(r: &DiffReport) -> bool {
    let differs = |p: &Pair| {
        p.delta.is_some_and(|d| d != 0.0)
            || (p.delta.is_none() && p.old.is_none() != p.new.is_none())
    };
    let m = &r.metrics;
    let quantiles = [&m.ttft, &m.latency]
        .into_iter()
        .flat_map(|q| q.named().map(|(_, p)| p));
    let totals = [
        &m.cost_per_1k_requests,
        &m.cost_per_success,
        &m.quality,
        &m.score,
    ];
    let lists = r
        .slices
        .iter()
        .map(|x| &x.figure)
        .chain(r.models.iter().map(|x| &x.figure));
    quantiles.chain(totals).chain(lists).any(differs) || r.slos.iter().any(|x| x.changed)
}

/// An SLO's text, with the old bound when it changed.
fn slo_label(x: &SloReport) -> String {
    match &x.old_constraint {
        Some(old) => format!("{} (was {old})", x.constraint),
        None => x.constraint.clone(),
    }
}

fn slo_status(side: Option<&SloSideReport>) -> &'static str {
    match side {
        None => "absent",
        Some(s) if s.ok => "met",
        Some(_) => "missed",
    }
}

fn changed_slos(r: &DiffReport) -> Vec<&SloReport> {
    r.slos.iter().filter(|x| x.changed).collect()
}

/// Rows of named figures: name, old, new, delta.
fn figure_rows<'a>(
    list: impl Iterator<Item = (&'a str, &'a Pair)>,
    show: Show,
    base: usize,
    delta: Show,
) -> Vec<Vec<String>> {
    list.map(|(name, x)| {
        let (a, b) = (x.old, x.new);
        let digits = match (a, b) {
            (Some(a), Some(b)) => digits_apart(a, b, base, show),
            _ => base,
        };
        vec![
            name.to_owned(),
            a.map_or("-".to_owned(), |v| show(v, digits)),
            b.map_or("-".to_owned(), |v| show(v, digits)),
            x.delta.map_or("-".to_owned(), |d| signed(d, base, delta)),
        ]
    })
    .collect()
}

fn slice_rows(r: &DiffReport) -> Vec<Vec<String>> {
    let list = r.slices.iter().map(|x| (x.slice.as_str(), &x.figure));
    figure_rows(list, &show_pct, 2, &show_pp)
}

fn model_rows(r: &DiffReport) -> Vec<Vec<String>> {
    let list = r.models.iter().map(|x| (x.model.as_str(), &x.figure));
    figure_rows(list, &show_plain, 4, &show_plain)
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
fn slo_cells(x: &SloReport) -> [String; 3] {
    let show = slo_show(x.unit);
    let base = slo_base(x.unit);
    let pair = |key: fn(&SloSideReport) -> f64| -> (String, String) {
        let side = |s: &Option<SloSideReport>| s.as_ref().and_then(|s| num(key(s)));
        let (a, b) = (side(&x.old), side(&x.new));
        let digits = match (a, b) {
            (Some(a), Some(b)) => digits_apart(a, b, base, &show),
            _ => base,
        };
        let one = |v: Option<f64>| v.map_or("-".to_owned(), |v| show(v, digits));
        (one(a), one(b))
    };
    let (vo, vn) = pair(|s| s.value);
    let (so, sn) = pair(|s| s.slack);
    [
        format!("{} {vo}", slo_status(x.old.as_ref())),
        format!("{} {vn}", slo_status(x.new.as_ref())),
        format!("{so} -> {sn}"),
    ]
}

/// The human report; `color` adds ANSI colours (green better, red worse).
pub fn human(r: &DiffReport, color: bool) -> String {
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
        r.old.source, r.new.source, r.new.traffic
    ));
    if let Some(note) = &r.traffic_note {
        out.push_str(&format!("note: {note}\n"));
    }
    for note in &r.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    let regions = &r.regions;
    if !regions.is_empty() {
        out.push_str("\nchanged regions (share of traffic, condition, old -> new plan):\n");
        for x in regions.iter().take(MAX_LISTED) {
            out.push_str(&format!(
                "  {:>8}  {}\n            {} -> {}\n            e.g. {}\n",
                pct(num(x.share).unwrap_or(0.0)),
                x.condition,
                plan(&x.old),
                plan(&x.new),
                x.example
            ));
        }
        if regions.len() > MAX_LISTED {
            let rest: f64 = regions[MAX_LISTED..]
                .iter()
                .filter_map(|x| num(x.share))
                .sum();
            out.push_str(&format!(
                "  ... and {} more regions ({} of traffic); see --format json\n",
                regions.len() - MAX_LISTED,
                pct(rest)
            ));
        }
    }
    if !r.behavior_changed && !predictions_differ(r) {
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
    let slices = slice_rows(r);
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
    models.extend(model_rows(r));
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
pub fn markdown(r: &DiffReport) -> String {
    let mut out = format!("### routec diff: {}\n\n", md_code(&r.new.source));
    let head = headline(r);
    let mut chars = head.chars();
    let capitalized: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    out.push_str(&format!(
        "**{capitalized}** (against {}, traffic {})\n\n",
        md_code(&r.old.source),
        md_code(&r.new.traffic)
    ));
    if let Some(note) = &r.traffic_note {
        out.push_str(&format!("> {note}\n\n"));
    }
    for note in &r.notes {
        out.push_str(&format!("> {note}\n\n"));
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
    let regions = &r.regions;
    if !regions.is_empty() {
        out.push_str(&format!(
            "\n<details><summary>Changed regions ({}, {} of traffic)</summary>\n\n",
            regions.len(),
            pct(num(r.changed_share).unwrap_or(0.0))
        ));
        let rows: Vec<Vec<String>> = regions
            .iter()
            .take(MAX_LISTED)
            .map(|x| {
                vec![
                    pct(num(x.share).unwrap_or(0.0)),
                    md_code(&x.condition),
                    md_code(&x.old),
                    md_code(&x.new),
                    md_code(&x.example.to_string()),
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
    let slices = slice_rows(r);
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
        &model_rows(r),
    ));
    out.push_str("\n</details>\n");
    let slos = changed_slos(r);
    let all = r.slos.len();
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
