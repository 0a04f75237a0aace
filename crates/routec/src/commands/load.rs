//! `routec simulate FILE --load 1x,2x,5x,10x [--traffic NAME] [--requests N]
//! [--seed S] [--format human|json] [--plot FILE.svg]`: the table compiled
//! for the profile, simulated at multiples of its qps
//! (`routec_driver::load`); the plot draws cost per 1k requests and p95
//! latency against load, simulated and predicted.

use std::path::Path;

use plotters::prelude::*;
use routec_driver::load::{self, Sweep};
use routec_render::load as render;

use super::progress::Progress;
use super::{print, report, write_atomically};
use crate::cli::{ColorChoice, OutputFormat, SimulateArgs, exit};

pub fn run(args: &SimulateArgs, loads: &str, color: ColorChoice) -> u8 {
    let factors = match load::factors(loads) {
        Ok(f) => f,
        Err(why) => {
            super::eprint(&format!("routec: --load: {why}\n"));
            return exit::USAGE;
        }
    };
    // The table compiled for the profile it is loaded with.
    let p = match super::compile(&args.file, args.traffic.as_deref(), args.slo_margin, color) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let total = args.requests.saturating_mul(factors.len() as u64);
    let progress = Progress::new("simulating", total, "requests");
    let result = load::sweep(
        &p,
        &factors,
        args.requests,
        args.seed,
        &mut progress.callback(),
    );
    drop(progress);
    let sweep = match result {
        Ok(s) => s,
        Err(failed) => return report(&failed, color),
    };
    if let Some(out) = &args.plot
        && let Err(why) = write_plot(&p, out, &sweep)
    {
        super::eprint(&format!("routec: {why}\n"));
        return exit::USAGE;
    }
    print(&match args.format {
        OutputFormat::Json => routec_render::pretty(&render::json(&sweep)),
        OutputFormat::Human => render::human(&p.source.name, &sweep),
    });
    exit::OK
}

const FONT: &str = "sans-serif";
const SIMULATED: RGBColor = RGBColor(31, 119, 180);
const PREDICTED: RGBColor = RGBColor(255, 127, 14);

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("cannot draw the plot: {e:?}")
}

/// `(load, simulated, predicted)` of one figure at every load.
type Series = Vec<(f64, f64, Option<f64>)>;

/// The SVG: cost per 1k requests and latency p95 against load (a log
/// axis), simulated and as the model predicts.
pub fn render_plot(
    title: &str,
    subtitle: &str,
    cost: &Series,
    p95: &Series,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1400, 620)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (top, body) = root.split_vertically(70);
        top.draw(&Text::new(
            title.to_owned(),
            (20, 12),
            (FONT, 24).into_font().style(FontStyle::Bold),
        ))
        .map_err(err)?;
        top.draw(&Text::new(
            subtitle.to_owned(),
            (20, 44),
            (FONT, 15).into_font().color(&RGBColor(80, 80, 80)),
        ))
        .map_err(err)?;
        let (left, right) = body.split_horizontally(700);
        panel(&left, "cost against load", "cost per 1k requests ($)", cost)?;
        panel(&right, "latency p95 against load", "latency p95 (s)", p95)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

fn panel(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    caption: &str,
    y_label: &str,
    series: &Series,
) -> Result<(), String> {
    let x0 = series.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
    let x1 = series.iter().map(|s| s.0).fold(0.0, f64::max);
    let (x0, x1) = if x0.is_finite() && x1 > x0 {
        (x0 / 1.2, x1 * 1.2)
    } else {
        (0.5, 2.0)
    };
    let y1 = series
        .iter()
        .flat_map(|s| [s.1, s.2.unwrap_or(0.0)])
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let y1 = if y1 > 0.0 { y1 * 1.15 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 20))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d((x0..x1).log_scale(), 0.0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("load (multiple of the profile's qps)")
        .y_desc(y_label)
        .x_label_formatter(&|x| format!("{}x", routec_render::round(*x, 2)))
        .label_style((FONT, 14))
        .draw()
        .map_err(err)?;
    let simulated: Vec<(f64, f64)> = series
        .iter()
        .filter(|s| s.1.is_finite())
        .map(|s| (s.0, s.1))
        .collect();
    chart
        .draw_series(LineSeries::new(
            simulated.clone(),
            SIMULATED.stroke_width(2),
        ))
        .map_err(err)?
        .label("simulated")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], SIMULATED.stroke_width(2)));
    chart
        .draw_series(
            simulated
                .iter()
                .map(|p| Circle::new(*p, 4, SIMULATED.filled())),
        )
        .map_err(err)?;
    let predicted: Vec<(f64, f64)> = series
        .iter()
        .filter_map(|s| s.2.filter(|v| v.is_finite()).map(|v| (s.0, v)))
        .collect();
    if !predicted.is_empty() {
        chart
            .draw_series(LineSeries::new(predicted, PREDICTED.stroke_width(2)))
            .map_err(err)?
            .label("predicted")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], PREDICTED.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    Ok(())
}

/// The cost and p95 series of a sweep.
pub fn series(sweep: &Sweep) -> (Series, Series) {
    let cost = sweep
        .points
        .iter()
        .map(|p| {
            (
                p.factor,
                p.report.metrics.cost_per_1k_requests,
                p.predicted.as_ref().map(|l| l.cost * 1000.0),
            )
        })
        .collect();
    let p95 = sweep
        .points
        .iter()
        .map(|p| {
            (
                p.factor,
                p.report.metrics.latency.p95,
                p.predicted.as_ref().map(|l| l.latency[1]),
            )
        })
        .collect();
    (cost, p95)
}

fn write_plot(p: &routec_driver::CompiledPolicy, out: &Path, sweep: &Sweep) -> Result<(), String> {
    let name = p
        .policy
        .name
        .clone()
        .unwrap_or_else(|| p.source.name.clone());
    let (cost, p95) = series(sweep);
    let svg = render_plot(
        &format!("{name}: cost and latency against load"),
        &format!(
            "{} simulated requests of `{}` per load (seed {}), 1x = {} qps; predicted: the compiler's model at each load",
            sweep.requests,
            sweep.traffic,
            sweep.seed,
            routec_render::round(sweep.qps, 3)
        ),
        &cost,
        &p95,
    )?;
    write_atomically(out, svg.as_bytes(), None).map_err(|e| {
        format!(
            "cannot write `{}`: {}",
            out.display(),
            routec_driver::source::io_message(&e)
        )
    })
}
