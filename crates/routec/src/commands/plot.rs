//! `routec simulate --plot FILE.svg`: one SVG with two panels, drawn with
//! plotters (SVG backend only):
//! - the cost-quality frontier: the optimum as a quality floor sweeps
//!   (`routec_opt::Compiled::frontier`), with the policy, every single model and,
//!   for labeled traffic, the oracle marked;
//! - the latency CDF of each model on a logarithmic time axis: for a
//!   simulation, the time the answering attempt took on each model (solid)
//!   and, dashed where it differs, the end-to-end latency of the requests
//!   it answered (with the time spent before: earlier attempts, fallbacks,
//!   cascade steps, classifiers); for a replay, each model's recorded
//!   latencies (the model alone).
//!
//! Everything is labelled in the picture: titles, axis names with units,
//! a legend, and model names next to their points.

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use routec_opt::FrontierPoint;
use routec_sim::replay::Replay;
use routec_sim::{Report, Run};
use routec_traffic::BoundTraffic;

use super::progress::Progress;
use super::write_atomically;
use routec_driver::CompiledPolicy;
use routec_driver::pipeline::compile_options;

/// Quality floors between the two ends of the frontier.
pub const FRONTIER_POINTS: usize = 8;

/// What the picture shows. Costs in USD per 1k requests, quality and
/// fractions as ratios, latencies in seconds.
#[derive(Clone, Debug, Default)]
pub struct PlotData {
    pub title: String,
    /// One line under the title: where the figures come from.
    pub subtitle: String,
    /// The optimizer's frontier as it predicts it.
    pub predicted: Vec<(f64, f64)>,
    /// The same frontier's tables replayed (labeled traffic only).
    pub measured: Vec<(f64, f64)>,
    /// Label of the measured frontier, e.g. "frontier replayed on `test`".
    pub measured_label: String,
    pub predicted_label: String,
    pub policy: Option<(f64, f64)>,
    pub models: Vec<(String, f64, f64)>,
    pub oracle: Option<(f64, f64)>,
    /// Per model: latency samples in seconds (solid lines).
    pub latencies: Vec<(String, Vec<f32>)>,
    /// Per model, in the order of `latencies`: end-to-end samples drawn
    /// dashed when they differ from the model's own (empty: none).
    pub end_to_end: Vec<Vec<f32>>,
    /// The latency panel's title, and one line under it saying what the
    /// lines show.
    pub latency_title: String,
    pub latency_note: String,
    /// What the latency panel says when no model has samples.
    pub no_latency: String,
}

const FONT: &str = "sans-serif";
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("cannot draw the plot: {e:?}")
}

/// Renders the plot as SVG text.
pub fn render(data: &PlotData) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1400, 700)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (top, body) = root.split_vertically(70);
        top.draw(&Text::new(
            data.title.clone(),
            (20, 12),
            (FONT, 24).into_font().style(FontStyle::Bold),
        ))
        .map_err(err)?;
        top.draw(&Text::new(
            data.subtitle.clone(),
            (20, 44),
            (FONT, 15).into_font().color(&RGBColor(80, 80, 80)),
        ))
        .map_err(err)?;
        let (left, right) = body.split_horizontally(760);
        frontier(&left, data)?;
        latency(&right, data)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

fn bounds(points: impl Iterator<Item = (f64, f64)>) -> ((f64, f64), (f64, f64)) {
    let (mut x1, mut y0, mut y1) = (0.0f64, 1.0f64, 0.0f64);
    for (x, y) in points {
        if x.is_finite() && y.is_finite() {
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    if x1 <= 0.0 {
        x1 = 1.0;
    }
    if y1 < y0 {
        (y0, y1) = (0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.08).max(0.01);
    (
        (0.0, x1 * 1.12),
        ((y0 - pad).max(0.0) * 100.0, (y1 + pad).min(1.0) * 100.0),
    )
}

/// One entry of the frontier panel's legend.
enum Glyph {
    Line(RGBColor),
    Triangle(RGBColor),
    Cross(RGBColor),
    Dot(RGBColor),
}

/// The legend, drawn under the chart in two columns so it never hides a
/// point.
fn legend(
    area: &DrawingArea<SVGBackend, Shift>,
    entries: &[(String, Glyph)],
) -> Result<(), String> {
    let (width, _) = area.dim_in_pixel();
    let (mut x, mut y) = (80, 12);
    for (label, glyph) in entries {
        // Entries flow left to right and wrap; 13 pt is about 10.5 px.
        let w = 32 + (label.chars().count() as f64 * 10.5 * 0.6).ceil() as i32 + 24;
        if x > 80 && x + w > width as i32 {
            (x, y) = (80, y + 22);
        }
        match glyph {
            Glyph::Line(c) => area.draw(&PathElement::new(
                vec![(x, y), (x + 24, y)],
                ShapeStyle::from(c).stroke_width(2),
            )),
            Glyph::Triangle(c) => area.draw(&TriangleMarker::new((x + 12, y), 6, c.filled())),
            Glyph::Cross(c) => area.draw(&Cross::new((x + 12, y), 6, c.stroke_width(3))),
            Glyph::Dot(c) => area.draw(&Circle::new((x + 12, y), 6, c.filled())),
        }
        .map_err(err)?;
        area.draw(&Text::new(
            label.clone(),
            (x + 32, y - 7),
            (FONT, 13).into_font(),
        ))
        .map_err(err)?;
        x += w;
    }
    Ok(())
}

fn frontier(panel: &DrawingArea<SVGBackend, Shift>, data: &PlotData) -> Result<(), String> {
    let (_, h) = panel.dim_in_pixel();
    let (area, legend_area) = panel.split_vertically(h.saturating_sub(80));
    let area = &area;
    let mut entries = Vec::new();
    let all = data
        .predicted
        .iter()
        .chain(&data.measured)
        .copied()
        .chain(data.policy)
        .chain(data.oracle)
        .chain(data.models.iter().map(|(_, x, y)| (*x, *y)));
    let ((x0, x1), (y0, y1)) = bounds(all);
    let mut chart = ChartBuilder::on(area)
        .caption("Cost-quality frontier", (FONT, 19))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("cost per 1k requests (USD)")
        .y_desc("quality (% good answers)")
        .x_label_formatter(&|x| money(*x))
        .y_label_formatter(&|y| format!("{y:.0}%"))
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    let pct = |(x, y): (f64, f64)| (x, y * 100.0);
    let blue = RGBColor(31, 119, 180);
    if !data.predicted.is_empty() {
        line(&mut chart, data.predicted.iter().copied().map(pct), blue)?;
        entries.push((data.predicted_label.clone(), Glyph::Line(blue)));
        chart
            .draw_series(
                data.predicted
                    .iter()
                    .map(|&p| Circle::new(pct(p), 3, blue.filled())),
            )
            .map_err(err)?;
    }
    let green = RGBColor(44, 160, 44);
    if !data.measured.is_empty() {
        line(&mut chart, data.measured.iter().copied().map(pct), green)?;
        entries.push((data.measured_label.clone(), Glyph::Line(green)));
        chart
            .draw_series(
                data.measured
                    .iter()
                    .map(|&p| Rectangle::new(square(pct(p), x1 - x0, y1 - y0), green.filled())),
            )
            .map_err(err)?;
    }
    let grey = RGBColor(90, 90, 90);
    if !data.models.is_empty() {
        let at: Vec<(i32, i32)> = data
            .models
            .iter()
            .map(|(_, x, y)| chart.backend_coord(&pct((*x, *y))))
            .collect();
        let names: Vec<&str> = data.models.iter().map(|m| m.0.as_str()).collect();
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        let offsets = label_offsets(&names, &at, (xs.start, ys.start, xs.end, ys.end));
        chart
            .draw_series(data.models.iter().zip(offsets).map(|((name, x, y), off)| {
                EmptyElement::at(pct((*x, *y)))
                    + TriangleMarker::new((0, 0), 6, grey.filled())
                    + Text::new(name.clone(), off, (FONT, 12).into_font())
            }))
            .map_err(err)?;
        entries.push(("single model (all requests)".into(), Glyph::Triangle(grey)));
    }
    if let Some(o) = data.oracle {
        let orange = RGBColor(255, 127, 14);
        chart
            .draw_series(std::iter::once(
                EmptyElement::at(pct(o))
                    + Cross::new((0, 0), 7, orange.stroke_width(3))
                    + Text::new("oracle", (9, 4), (FONT, 13).into_font()),
            ))
            .map_err(err)?;
        entries.push((
            "oracle (cheapest model that succeeds)".into(),
            Glyph::Cross(orange),
        ));
    }
    if let Some(p) = data.policy {
        let red = RGBColor(214, 39, 40);
        chart
            .draw_series(std::iter::once(
                EmptyElement::at(pct(p))
                    + Circle::new((0, 0), 8, red.filled())
                    + Text::new(
                        "policy",
                        (11, 4),
                        (FONT, 14).into_font().style(FontStyle::Bold),
                    ),
            ))
            .map_err(err)?;
        entries.push(("this policy".into(), Glyph::Dot(red)));
    }
    legend(&legend_area, &entries)?;
    Ok(())
}

/// Dollars with as many decimals as the axis needs.
/// A frontier curve: the points joined by a 2px line of `color`.
fn line(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    points: impl Iterator<Item = (f64, f64)>,
    color: RGBColor,
) -> Result<(), String> {
    chart
        .draw_series(LineSeries::new(
            points,
            ShapeStyle::from(&color).stroke_width(2),
        ))
        .map_err(err)?;
    Ok(())
}

fn money(x: f64) -> String {
    if x == 0.0 {
        "$0".into()
    } else if x.abs() >= 10.0 {
        format!("${x:.0}")
    } else if x.abs() >= 0.1 {
        format!("${x:.2}")
    } else {
        format!("${x:.4}")
    }
}

/// A label's box in pixels: `(left, top, right, bottom)`.
type PxBox = (i32, i32, i32, i32);

fn overlaps(a: PxBox, b: PxBox) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// Pixel offsets of the model names (markers at pixels `at`): each takes
/// the first of a few places around its marker (right above, right below,
/// left above, left below, further up or down) whose box overlaps no
/// marker and no label placed before it, so nearby models stay readable.
fn label_offsets(names: &[&str], at: &[(i32, i32)], area: PxBox) -> Vec<(i32, i32)> {
    // plotters' SVG backend writes a 12 pt font as 9.7 px.
    const H: i32 = 11;
    let markers: Vec<PxBox> = at
        .iter()
        .map(|&(x, y)| (x - 6, y - 6, x + 6, y + 6))
        .collect();
    let mut placed: Vec<PxBox> = Vec::new();
    names
        .iter()
        .zip(at)
        .map(|(name, &(x, y))| {
            // About 0.6 em per character.
            let w = (name.chars().count() as f64 * 9.7 * 0.6).ceil() as i32;
            let mut candidates = Vec::new();
            for dy in [-13, 3, -26, 16, -39, 29] {
                candidates.extend([(8, dy), (-8 - w, dy)]);
            }
            // The fewest overlaps (ideally none), inside the plot area.
            let clashes = |&(dx, dy): &(i32, i32)| {
                let b = (x + dx, y + dy, x + dx + w, y + dy + H);
                let outside = b.0 < area.0 || b.1 < area.1 || b.2 > area.2 || b.3 > area.3;
                let n = placed
                    .iter()
                    .chain(&markers)
                    .filter(|p| overlaps(b, **p))
                    .count();
                n + if outside { 100 } else { 0 }
            };
            let (dx, dy) = candidates
                .iter()
                .copied()
                .min_by_key(clashes)
                .unwrap_or((8, -13));
            placed.push((x + dx, y + dy, x + dx + w, y + dy + H));
            (dx, dy)
        })
        .collect()
}

/// A small square around `p` in data coordinates.
fn square(p: (f64, f64), w: f64, h: f64) -> [(f64, f64); 2] {
    let (dx, dy) = (w * 0.006, h * 0.012);
    [(p.0 - dx, p.1 - dy), (p.0 + dx, p.1 + dy)]
}

/// The empirical CDF of `samples` (seconds → ms) as a step function: at
/// most about `2n` vertices, from `(min, 0)` to `(max, 1)`.
pub fn cdf_points(samples: &[f32], n: usize) -> Vec<(f64, f64)> {
    let mut sorted: Vec<f32> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    sorted.sort_by(f32::total_cmp);
    let len = sorted.len();
    let Some(&first) = sorted.first() else {
        return Vec::new();
    };
    let step = (len / n.max(1)).max(1);
    let mut out = vec![(f64::from(first) * 1000.0, 0.0)];
    let mut level = 0.0;
    let mut i = 0;
    while i < len {
        // The last sample of this stride, then every copy of its value.
        let mut j = (i + step).min(len) - 1;
        while j + 1 < len && sorted[j + 1] == sorted[j] {
            j += 1;
        }
        let x = f64::from(sorted[j]) * 1000.0;
        let f = (j + 1) as f64 / len as f64;
        out.push((x, level));
        out.push((x, f));
        level = f;
        i = j + 1;
    }
    out
}

/// A model's index (for its colour), its name, its CDF points and those of
/// its end-to-end latencies (when they differ).
type Curve<'a> = (usize, &'a String, Vec<(f64, f64)>, Option<Vec<(f64, f64)>>);

/// The time axis: from the power of ten at or below the fastest sample to
/// the slowest curve's p99.5 (so one long tail does not squash every
/// curve), in milliseconds.
fn time_range(curves: &[Curve<'_>]) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi: f64 = 0.0;
    for (_, _, own, e2e) in curves {
        for pts in std::iter::once(own).chain(e2e) {
            if let Some(&(x, _)) = pts.iter().find(|(x, _)| *x > 0.0) {
                lo = lo.min(x);
            }
            let at = pts
                .iter()
                .find(|(_, f)| *f >= 0.995)
                .or(pts.last())
                .map_or(0.0, |p| p.0);
            hi = hi.max(at);
        }
    }
    if !lo.is_finite() || lo <= 0.0 {
        lo = 1.0;
    }
    let lo = 10f64.powf(lo.log10().floor());
    let hi = (hi * 1.1).max(lo * 10.0);
    (lo, hi)
}

/// Tick marks for a logarithmic axis over `[lo, hi]`: 1, 2 and 5 times the
/// powers of ten, or only the powers of ten when the range is too wide
/// for that to stay readable.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi && ticks.len() < 100 {
        for m in [1.0, 2.0, 5.0] {
            let t = decade * m;
            if t >= lo * (1.0 - 1e-9) && t <= hi {
                ticks.push(t);
            }
        }
        decade *= 10.0;
    }
    if ticks.len() > 10 {
        ticks.retain(|t| {
            let l = t.log10();
            (l - l.round()).abs() < 1e-9
        });
    }
    ticks
}

/// A tick of the time axis (milliseconds) without trailing zeros: `200ms`,
/// `1s`, `2.5s`.
fn tick_label(ms: f64) -> String {
    let text = routec_render::duration(ms / 1000.0);
    let unit_at = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(unit_at);
    let number = if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    };
    format!("{number}{unit}")
}

fn latency(area: &DrawingArea<SVGBackend, Shift>, data: &PlotData) -> Result<(), String> {
    let curves: Vec<Curve<'_>> = data
        .latencies
        .iter()
        .enumerate()
        .map(|(i, (name, s))| {
            let e2e = data
                .end_to_end
                .get(i)
                .filter(|e| !e.is_empty() && e.as_slice() != s.as_slice())
                .map(|e| cdf_points(e, 300));
            (i, name, cdf_points(s, 300), e2e)
        })
        .filter(|(_, _, pts, _)| !pts.is_empty())
        .collect();
    let (x0, x1) = time_range(&curves);
    let (_, h) = area.dim_in_pixel();
    let (note, area) = area.split_vertically(h.min(48));
    note.draw(&Text::new(
        data.latency_note.clone(),
        (20, 30),
        (FONT, 13).into_font().color(&RGBColor(80, 80, 80)),
    ))
    .map_err(err)?;
    let mut chart = ChartBuilder::on(&area)
        .caption(data.latency_title.clone(), (FONT, 19))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (x0..x1).log_scale().with_key_points(log_ticks(x0, x1)),
            0.0..100.0,
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("latency (logarithmic scale)")
        .y_desc("% of requests at or below")
        .x_label_formatter(&|x| tick_label(*x))
        .y_label_formatter(&|y| format!("{y:.0}%"))
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    if curves.is_empty() {
        chart
            .draw_series(std::iter::once(Text::new(
                data.no_latency.clone(),
                (x0 * 1.5, 55.0),
                (FONT, 15).into_font(),
            )))
            .map_err(err)?;
        return Ok(());
    }
    // Log axes cannot show 0: a zero sample sits at the axis' start.
    let clip = move |(x, f): (f64, f64)| (x.clamp(x0, x1), f * 100.0);
    for (i, name, pts, e2e) in curves {
        let c = color(i);
        let style = ShapeStyle::from(&c).stroke_width(2);
        chart
            .draw_series(LineSeries::new(pts.into_iter().map(clip), style))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        if let Some(e2e) = e2e {
            let dashed = ShapeStyle::from(&c).stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new(
                    e2e.into_iter().map(clip),
                    6,
                    4,
                    dashed,
                ))
                .map_err(err)?
                .label(format!("{name}, end to end"))
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (8, 0)], dashed)
                        + PathElement::new(vec![(12, 0), (20, 0)], dashed)
                });
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// The frontier of the compiled policy, re-solved at
/// [`FRONTIER_POINTS`] quality floors for the traffic the table was
/// compiled for (the first declared; its records when it is a file), and
/// that profile's name.
fn frontier_of(p: &CompiledPolicy) -> (Vec<FrontierPoint>, String) {
    let compiled_for = p.policy.traffic.first().map_or_else(
        || "no traffic profile".to_owned(),
        |t| format!("`{}`", t.name),
    );
    let options = compile_options(None);
    let points = p
        .compiled
        .frontier(&p.source.text, &options, FRONTIER_POINTS);
    (points, compiled_for)
}

fn policy_name(p: &CompiledPolicy) -> String {
    p.policy
        .name
        .clone()
        .unwrap_or_else(|| p.source.name.clone())
}

/// Writes the plot of a sampled simulation: the predicted frontier, the
/// simulated policy, each single model as predicted, and the simulated
/// latencies of the requests each model answered.
pub fn write_simulation(
    p: &CompiledPolicy,
    out: &Path,
    report: &Report,
    run: &Run<'_>,
) -> Result<(), String> {
    let progress = Progress::new("plotting", 2, "steps");
    let (points, compiled_for) = frontier_of(p);
    progress.update(1, 2);
    let singles = p.compiled.single_models();
    drop(progress);
    // The models that answered a request.
    let answered: Vec<usize> = (0..p.policy.models.len())
        .filter(|&m| run.answer_times.get(m).is_some_and(|l| !l.is_empty()))
        .collect();
    let data = PlotData {
        title: format!("{}: cost, quality and latency", policy_name(p)),
        subtitle: format!(
            "policy point and latencies: {} simulated requests of `{}` (seed {}); frontier and single models: the optimizer's prediction for {compiled_for}; no oracle without labeled traffic",
            report.requests, report.traffic, report.seed
        ),
        predicted: points
            .iter()
            .map(|f| (f.cost * 1000.0, f.quality))
            .collect(),
        predicted_label: "optimal routing as the quality floor rises (predicted)".into(),
        policy: Some((report.metrics.cost_per_1k_requests, report.metrics.quality)),
        models: singles
            .iter()
            .map(|m| (m.model.clone(), m.cost * 1000.0, m.quality))
            .collect(),
        latencies: answered
            .iter()
            .map(|&m| (p.policy.models[m].name.clone(), run.answer_times[m].clone()))
            .collect(),
        end_to_end: answered
            .iter()
            .map(|&m| run.answered_latencies[m].clone())
            .collect(),
        latency_title: "Latency per answering model".into(),
        latency_note: "solid: the attempt that answered, on the model alone; dashed: end to end, with the time before it (earlier attempts, fallbacks, cascade steps)".into(),
        no_latency: "no request was answered".into(),
        ..PlotData::default()
    };
    write(out, &data)
}

/// Writes the plot of a replay: the frontier's tables replayed on the same
/// records (and as predicted), the policy, every single model and the
/// oracle as replayed, and the recorded latencies of each model.
pub fn write_replay(
    p: &CompiledPolicy,
    out: &Path,
    replay: &Replay,
    records: &BoundTraffic,
) -> Result<(), String> {
    let (points, compiled_for) = frontier_of(p);
    let progress = Progress::new("plotting", points.len() as u64, "frontier points");
    let mut measured = Vec::new();
    for (i, f) in points.iter().enumerate() {
        if let Ok(r) = routec_sim::replay::replay(
            &p.policy,
            &f.table,
            &replay.traffic,
            records,
            &mut |_, _| {},
        ) {
            measured.push((r.policy.cost_per_1k_requests, r.policy.accuracy));
        }
        progress.update(i as u64 + 1, points.len() as u64);
    }
    drop(progress);
    measured.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let data = PlotData {
        title: format!("{}: cost, quality and latency", policy_name(p)),
        subtitle: format!(
            "replay of the {} recorded requests of `{}` (recorded outcomes); the frontier's tables are optimized for {compiled_for}",
            replay.requests, replay.traffic
        ),
        predicted: points
            .iter()
            .map(|f| (f.cost * 1000.0, f.quality))
            .collect(),
        predicted_label: format!(
            "optimal routing as the quality floor rises (predicted for {compiled_for})"
        ),
        measured,
        measured_label: format!("the same tables replayed on `{}`", replay.traffic),
        policy: Some((replay.policy.cost_per_1k_requests, replay.policy.accuracy)),
        models: replay
            .models
            .iter()
            .filter(|m| m.outcomes.missing < m.outcomes.requests)
            .map(|m| {
                (
                    m.name.clone(),
                    m.outcomes.cost_per_1k_requests,
                    m.outcomes.accuracy,
                )
            })
            .collect(),
        oracle: Some((replay.oracle.cost_per_1k_requests, replay.oracle.accuracy)),
        latencies: replay
            .models
            .iter()
            .filter(|m| !m.latencies.is_empty())
            .map(|m| (m.name.clone(), m.latencies.clone()))
            .collect(),
        latency_title: "Recorded latency per model".into(),
        latency_note: format!(
            "each model's recorded latencies in `{}`: the model alone, on every request with an outcome for it",
            replay.traffic
        ),
        end_to_end: Vec::new(),
        no_latency: format!("no latency is recorded in `{}`", replay.traffic),
    };
    write(out, &data)
}

fn write(out: &Path, data: &PlotData) -> Result<(), String> {
    let svg = render(data)?;
    write_atomically(out, svg.as_bytes(), None).map_err(|e| {
        format!(
            "cannot write `{}`: {}",
            out.display(),
            routec_driver::source::io_message(&e)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_as_durations() {
        assert_eq!(tick_label(200.0), "200ms");
        assert_eq!(tick_label(1000.0), "1s");
        assert_eq!(tick_label(2500.0), "2.5s");
        assert_eq!(tick_label(3.6e6), "1h");
    }

    #[test]
    fn log_ticks_are_one_two_five_or_decades() {
        assert_eq!(
            log_ticks(100.0, 3000.0),
            [100.0, 200.0, 500.0, 1000.0, 2000.0]
        );
        assert_eq!(
            log_ticks(10.0, 40_000_000.0),
            [10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7]
        );
    }

    #[test]
    fn cdf_points_end_at_one() {
        let pts = cdf_points(&[0.3, 0.1, 0.2], 10);
        let ms: Vec<(i64, f64)> = pts.iter().map(|(x, f)| (x.round() as i64, *f)).collect();
        assert_eq!(
            ms,
            [
                (100, 0.0),
                (100, 0.0),
                (100, 1.0 / 3.0),
                (200, 1.0 / 3.0),
                (200, 2.0 / 3.0),
                (300, 2.0 / 3.0),
                (300, 1.0)
            ]
        );
        assert!(cdf_points(&[], 10).is_empty());
    }
}
