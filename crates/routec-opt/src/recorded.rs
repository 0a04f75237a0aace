//! Recorded traffic in the optimizer: the empirical mix of a recorded file
//! ([`Rows`]), and the estimates of quality (per cell and model), latency and
//! cost (per model) from its outcomes, shrunk toward the declared model
//! profiles. The estimators and constants are documented in
//! `docs/semantics.md` ("Recorded outcomes").

use routec_check::ir::{
    BoundDef, MetricDef, ModelId, Policy, SignalType, SliceId, SloScope, TrafficSource, Value,
};
use routec_syntax::{Diagnostic, FileId, Span};
use routec_traffic::{BoundTraffic, RecordError};

use crate::codes;
use crate::model::{self, LatencyQuantiles, ModelLatency};
use crate::traffic::{DEFAULT_PROMPT_TOKENS, Marginal, Traffic};

/// Pseudo-observations of the declared quality: the Beta prior of a
/// (cell, model) success rate has mean `q_declared` and this weight.
pub const QUALITY_PRIOR_WEIGHT: f64 = 20.0;
/// Pseudo-observations of a declared latency quantile and decode rate
/// (log-space weighted mean with the empirical value).
pub const LATENCY_PRIOR_WEIGHT: f64 = 20.0;
/// Pseudo-observations of the declared price (the cost factor's prior is 1).
pub const COST_PRIOR_WEIGHT: f64 = 20.0;
/// A slice used in an SLO with fewer recorded (or, in a labeled file,
/// labeled) requests than this gets warning `W0513`.
pub const MIN_LABELED_SAMPLES: usize = 30;
/// The normal score of the reported intervals (95%).
pub const INTERVAL_Z: f64 = 1.959_963_984_540_054;

/// The recorded requests as the optimizer reads them.
#[derive(Clone, Debug, PartialEq)]
pub struct Rows {
    /// Per request, per signal (indexed like `policy.signals`): the value in
    /// base units (enum variant index, bool 0/1), defaults applied.
    pub values: Vec<Vec<f64>>,
}

/// The value a recorded request without `signal` has: its declared default,
/// else [`DEFAULT_PROMPT_TOKENS`] for `prompt_tokens`, else 0 (the first
/// variant, `false`), which is also what a runtime uses.
pub fn default_value(policy: &Policy, signal: usize) -> f64 {
    let Some(s) = policy.signals.get(signal) else {
        return 0.0;
    };
    match &s.default {
        Some(v) => value_f64(v),
        None if s.name == "prompt_tokens" => DEFAULT_PROMPT_TOKENS,
        None => 0.0,
    }
}

/// A value in base units (enum index, bool 0/1).
pub fn value_f64(v: &Value) -> f64 {
    match v {
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Enum(i) => *i as f64,
        Value::Number(x) => *x,
    }
}

impl Rows {
    pub fn of(policy: &Policy, bound: &BoundTraffic) -> Rows {
        let defaults: Vec<f64> = (0..policy.signals.len())
            .map(|i| default_value(policy, i))
            .collect();
        let values = bound
            .records
            .iter()
            .map(|r| {
                defaults
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        r.values
                            .get(i)
                            .and_then(Option::as_ref)
                            .map_or(*d, value_f64)
                    })
                    .collect()
            })
            .collect();
        Rows { values }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The empirical marginal of one signal: shares per value for enums and
    /// bools; for numbers a lognormal through the median and 95th percentile
    /// of the positive values (a point when they do not spread). Consumers
    /// that need the joint distribution read the rows.
    pub fn marginal(&self, policy: &Policy, signal: usize) -> Marginal {
        let ty = policy.signals.get(signal).map(|s| &s.ty);
        let col: Vec<f64> = self
            .values
            .iter()
            .filter_map(|r| r.get(signal).copied())
            .collect();
        match ty {
            Some(SignalType::Enum(vs)) => discrete(&col, vs.len().max(1)),
            Some(SignalType::Bool) => discrete(&col, 2),
            _ => {
                fit_positive(&col).unwrap_or_else(|| Marginal::Point(default_value(policy, signal)))
            }
        }
    }
}

fn discrete(col: &[f64], n: usize) -> Marginal {
    let mut p = vec![0.0; n];
    for v in col {
        if let Some(x) = p.get_mut(*v as usize) {
            *x += 1.0;
        }
    }
    let total: f64 = p.iter().sum();
    if total > 0.0 {
        p.iter_mut().for_each(|x| *x /= total);
    } else if let Some(x) = p.first_mut() {
        *x = 1.0;
    }
    Marginal::Discrete(p)
}

/// The `q` quantile of sorted data (linear interpolation between order
/// statistics, "type 7").
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let f = h - lo as f64;
    Some(sorted[lo] * (1.0 - f) + sorted[hi] * f)
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.retain(|x| x.is_finite());
    v.sort_by(f64::total_cmp);
    v
}

/// A lognormal through the median and 95th percentile of `col`; a point when
/// they coincide; `None` for no data.
fn fit_positive(col: &[f64]) -> Option<Marginal> {
    let s = sorted(col.to_vec());
    let p50 = quantile(&s, 0.5)?;
    let p95 = quantile(&s, 0.95)?;
    if p50 > 0.0 && p95 > p50 * (1.0 + 1e-9) {
        LatencyQuantiles::from_quantiles(&[(0.5, p50), (0.95, p95)]).map(Marginal::Continuous)
    } else {
        Some(Marginal::Point(s.iter().sum::<f64>() / s.len() as f64))
    }
}

/// The answer length of a recorded file: fitted to every outcome's
/// `output_tokens` (see [`Rows::marginal`] for the fit); `None` without any.
pub fn output_marginal(bound: &BoundTraffic) -> Option<Marginal> {
    let col: Vec<f64> = bound
        .records
        .iter()
        .flat_map(|r| r.outcomes.iter().flatten())
        .filter_map(|o| o.output_tokens.map(|t| t as f64))
        .collect();
    fit_positive(&col)
}

// ---------------------------------------------------------------- quality

/// A success rate estimated from outcomes, shrunk toward a declared one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateEstimate {
    pub declared: f64,
    /// Outcomes and successes among them.
    pub n: usize,
    pub successes: usize,
    /// The posterior mean.
    pub estimate: f64,
    /// The 95% interval (normal approximation of the Beta posterior, clipped
    /// to `0..=1`).
    pub low: f64,
    pub high: f64,
}

impl RateEstimate {
    /// The posterior's variance, `q̂(1 − q̂)/(k + n + 1)`.
    pub fn variance(&self) -> f64 {
        let weight = QUALITY_PRIOR_WEIGHT + self.n as f64;
        self.estimate * (1.0 - self.estimate) / (weight + 1.0)
    }
}

/// The Beta posterior with prior mean `declared` and weight
/// [`QUALITY_PRIOR_WEIGHT`] after `successes` of `n`.
pub fn shrink_rate(declared: f64, n: usize, successes: usize) -> RateEstimate {
    let q0 = declared.clamp(0.0, 1.0);
    let k = QUALITY_PRIOR_WEIGHT;
    let a = k * q0 + successes as f64;
    let b = k * (1.0 - q0) + (n - successes.min(n)) as f64;
    let mean = a / (a + b);
    let sd = (mean * (1.0 - mean) / (a + b + 1.0)).sqrt();
    RateEstimate {
        declared: q0,
        n,
        successes,
        estimate: mean,
        low: (mean - INTERVAL_Z * sd).max(0.0),
        high: (mean + INTERVAL_Z * sd).min(1.0),
    }
}

/// The quality of one model in one cell, from the outcomes of the recorded
/// requests in the cell.
#[derive(Clone, Debug, PartialEq)]
pub struct CellQuality {
    pub cell: usize,
    pub model: ModelId,
    pub rate: RateEstimate,
}

/// Replaces each cell's declared quality in `part` by its estimate where
/// the cell has outcomes, and returns the estimates.
pub(crate) fn requalify(
    policy: &Policy,
    bound: &BoundTraffic,
    part: &mut crate::cells::Partition,
) -> Vec<CellQuality> {
    let mut qualities: Vec<Vec<Option<f64>>> =
        part.cells.iter().map(|c| c.quality.to_vec()).collect();
    let out = estimate_quality(policy, bound, &part.row_cells, &mut qualities);
    // `slo { confidence C }`: each estimate's posterior variance, for the
    // quality floors; models without outcomes are taken as known.
    let mut vars: Vec<Option<Vec<f64>>> = vec![None; qualities.len()];
    if policy.slo_settings.confidence.is_some() {
        for e in &out {
            let var = vars[e.cell].get_or_insert_with(|| vec![0.0; policy.models.len()]);
            if let Some(slot) = var.get_mut(e.model.index()) {
                *slot = e.rate.variance();
            }
        }
    }
    for ((c, q), var) in part.cells.iter_mut().zip(qualities).zip(vars) {
        c.quality = q.into();
        c.quality_var = var.map(Into::into);
    }
    crate::cells::share_qualities(&mut part.cells);
    out
}

/// Replaces each cell's declared quality by its estimate where the cell has
/// outcomes. `row_cells[r]` is the cell of recorded request `r`.
fn estimate_quality(
    policy: &Policy,
    bound: &BoundTraffic,
    row_cells: &[Option<usize>],
    qualities: &mut [Vec<Option<f64>>],
) -> Vec<CellQuality> {
    let models = policy.models.len();
    // (n, successes) per cell and model.
    let mut counts = vec![vec![(0usize, 0usize); models]; qualities.len()];
    for (r, cell) in bound.records.iter().zip(row_cells) {
        let Some(c) = cell.and_then(|c| counts.get_mut(c)) else {
            continue;
        };
        for (m, o) in r.outcomes.iter().enumerate() {
            if let (Some(o), Some(slot)) = (o, c.get_mut(m)) {
                slot.0 += 1;
                slot.1 += usize::from(o.succeeded());
            }
        }
    }
    let mut out = Vec::new();
    for (c, q) in qualities.iter_mut().enumerate() {
        for (m, slot) in q.iter_mut().enumerate() {
            let (n, s) = counts[c][m];
            if let (Some(declared), true) = (*slot, n > 0) {
                let rate = shrink_rate(declared, n, s);
                *slot = Some(rate.estimate);
                out.push(CellQuality {
                    cell: c,
                    model: ModelId(m as u32),
                    rate,
                });
            }
        }
    }
    out
}

// ---------------------------------------------------------------- latency and cost

/// What the outcomes changed in one model's profile.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelEstimate {
    pub model: ModelId,
    /// The quantiles estimated: `(quantile, declared seconds, estimated
    /// seconds)`; of TTFT, or of end-to-end latency for a model declared end
    /// to end only.
    pub latency: Vec<(f64, f64, f64)>,
    /// Whether `latency` is end to end (else TTFT).
    pub end_to_end: bool,
    /// Latency samples used.
    pub latency_samples: usize,
    /// `(declared, estimated)` decode rate (tokens/s) and its samples.
    pub decode_rate: Option<(f64, f64, usize)>,
    /// The factor applied to the declared prices, and its samples.
    pub cost_factor: Option<(f64, usize)>,
    /// With no declared price: the estimated price per request (USD).
    pub cost_per_request: Option<(f64, usize)>,
}

/// `exp((k ln prior + n ln data) / (k + n))`.
fn shrink_log(prior: f64, data: f64, n: usize, k: f64) -> f64 {
    let lp = prior.max(1e-6).ln();
    let ld = data.max(1e-6).ln();
    ((k * lp + n as f64 * ld) / (k + n as f64)).exp()
}

/// A recorded profile fitted to its records: the policy with its models
/// re-estimated from the outcomes, the records' mix, and what changed.
pub(crate) struct Fit {
    pub policy: Policy,
    pub traffic: Traffic,
    pub models: Vec<ModelEstimate>,
}

/// Fits the recorded profile `traffic` (selected from `policy`, its records
/// not yet supplied) to `bound`: the one way a compile and the simulator's
/// model of a labeled file adjust the declared model.
pub(crate) fn fit(policy: &Policy, traffic: Traffic, bound: &BoundTraffic) -> Fit {
    let rows = Rows::of(policy, bound);
    let (adjusted, models) = adjust_models(policy, bound, &rows);
    let traffic = traffic.with_recorded(&adjusted, bound);
    Fit {
        policy: adjusted,
        traffic,
        models,
    }
}

/// Returns `policy` with each model's latency and prices re-estimated from
/// the outcomes (models without outcomes are unchanged), and what changed.
fn adjust_models(
    policy: &Policy,
    bound: &BoundTraffic,
    rows: &Rows,
) -> (Policy, Vec<ModelEstimate>) {
    let mut adjusted = policy.clone();
    let mut estimates = Vec::new();
    let prompt = policy.signal_by_name("prompt_tokens");
    let mean_output = output_marginal(bound)
        .map(|m| match m {
            Marginal::Continuous(q) => q.partial_mean(0.0, f64::INFINITY),
            Marginal::Point(x) => x,
            _ => model::DEFAULT_OUTPUT_TOKENS,
        })
        .unwrap_or(model::DEFAULT_OUTPUT_TOKENS);
    for (mi, def) in adjusted.models.iter_mut().enumerate() {
        let outcomes: Vec<(usize, &routec_traffic::Outcome)> = bound
            .records
            .iter()
            .enumerate()
            .filter_map(|(r, rec)| {
                rec.outcomes
                    .get(mi)
                    .and_then(Option::as_ref)
                    .map(|o| (r, o))
            })
            .collect();
        if outcomes.is_empty() {
            continue;
        }
        let mut est = ModelEstimate {
            model: ModelId(mi as u32),
            latency: Vec::new(),
            end_to_end: false,
            latency_samples: 0,
            decode_rate: None,
            cost_factor: None,
            cost_per_request: None,
        };
        // Latency: TTFT samples for streaming (or undeclared) models, end to
        // end samples for models declared end to end only.
        let prior = ModelLatency::of(def);
        let end_to_end = def.latency.ttft.is_empty() && !def.latency.total.is_empty();
        let samples = sorted(
            outcomes
                .iter()
                .filter_map(|(_, o)| {
                    if end_to_end {
                        o.latency_s()
                    } else {
                        o.ttft_s()
                    }
                })
                .collect(),
        );
        if !samples.is_empty() {
            let declared = if end_to_end {
                &def.latency.total
            } else {
                &def.latency.ttft
            };
            let levels: Vec<f64> = if declared.is_empty() {
                vec![0.5, 0.95, 0.99]
            } else {
                declared.iter().map(|(q, _)| *q).collect()
            };
            let n = samples.len();
            let mut knots = Vec::new();
            for q in levels {
                let t0 = prior.ttft.quantile(q);
                let data = quantile(&samples, q).unwrap_or(t0);
                let mut t = shrink_log(t0, data, n, LATENCY_PRIOR_WEIGHT);
                if let Some(&(_, prev)) = knots.last() {
                    t = f64::max(t, prev);
                }
                knots.push((q, t));
                est.latency.push((q, t0, t));
            }
            if end_to_end {
                def.latency.total = knots;
            } else {
                def.latency.ttft = knots;
                if def.latency.decode_rate.is_none() {
                    def.latency.decode_rate = prior.decode_rate;
                }
            }
            est.end_to_end = end_to_end;
            est.latency_samples = n;
        }
        // Decode rate from outcomes with both latencies and an answer length.
        if let (false, Some(r0)) = (end_to_end, prior.decode_rate) {
            let rates = sorted(
                outcomes
                    .iter()
                    .filter_map(|(_, o)| {
                        let (l, t, n) = (o.latency_s()?, o.ttft_s()?, o.output_tokens?);
                        (l > t && n > 0).then(|| n as f64 / (l - t))
                    })
                    .collect(),
            );
            if let Some(med) = quantile(&rates, 0.5) {
                let r = shrink_log(r0, med, rates.len(), LATENCY_PRIOR_WEIGHT);
                def.latency.decode_rate = Some(r);
                est.decode_rate = Some((r0, r, rates.len()));
            }
        }
        // Cost: observed over predicted for the same tokens.
        let (mut obs, mut pred, mut n) = (0.0, 0.0, 0usize);
        for (r, o) in &outcomes {
            let Some(c) = o.cost_usd else { continue };
            let input = o.input_tokens.map(|t| t as f64).unwrap_or_else(|| {
                prompt
                    .and_then(|p| rows.values.get(*r).and_then(|v| v.get(p.index())).copied())
                    .unwrap_or(DEFAULT_PROMPT_TOKENS)
            });
            // Recorded output tokens are billed tokens (providers count
            // reasoning tokens in them); the mean answer is not.
            let output = o.output_tokens.map_or_else(
                || model::billed_output(policy.models[mi].reasoning.as_ref(), mean_output),
                |t| t as f64,
            );
            obs += c;
            pred += model::call_cost(&policy.models[mi].price, input, output);
            n += 1;
        }
        if n > 0 {
            let k = COST_PRIOR_WEIGHT;
            if pred > 0.0 {
                let f = (k + n as f64 * (obs / pred)) / (k + n as f64);
                def.price.scale(f);
                est.cost_factor = Some((f, n));
            } else if obs > 0.0 {
                let per = obs / (k + n as f64);
                def.price.per_request = Some(def.price.per_request.unwrap_or(0.0) + per);
                est.cost_per_request = Some((per, n));
            }
        }
        estimates.push(est);
    }
    (adjusted, estimates)
}

// ---------------------------------------------------------------- the model for simulation

/// The model a labeled recorded profile was compiled with, for simulators
/// that draw the file's requests: the policy with latency and prices
/// re-estimated ([`adjust_models`]) and, per recorded request, each model's
/// quality: the estimate of the request's cell ([`estimate_quality`], the
/// same cells `compile` uses), `None` where the model has no figure.
#[derive(Clone, Debug)]
pub struct RecordedModel {
    pub policy: Policy,
    /// Per record, per model.
    pub row_quality: Vec<Vec<Option<f64>>>,
}

/// [`RecordedModel`] of the recorded profile `name`; `None` when the file
/// has no outcomes (the declared model is the model), the profile is not
/// recorded, or the request space cannot be partitioned.
pub fn recorded_model(policy: &Policy, name: &str, bound: &BoundTraffic) -> Option<RecordedModel> {
    if bound.labeled() == 0 {
        return None;
    }
    let traffic = crate::traffic::Traffic::for_policy(policy, Some(name)).ok()?;
    if !traffic.records_missing {
        return None;
    }
    let Fit {
        policy: adjusted,
        traffic,
        ..
    } = fit(policy, traffic, bound);
    let rows = traffic
        .rows
        .clone()
        .unwrap_or_else(|| Rows::of(&adjusted, bound));
    let mut part = crate::cells::partition(&adjusted, &traffic).ok()?;
    requalify(&adjusted, bound, &mut part);
    let qualities: Vec<Vec<Option<f64>>> = part.cells.iter().map(|c| c.quality.to_vec()).collect();
    let row_quality = part
        .row_cells
        .iter()
        .zip(&rows.values)
        .map(|(cell, values)| match cell.and_then(|c| qualities.get(c)) {
            Some(q) => q.clone(),
            None => adjusted
                .models
                .iter()
                .map(|m| {
                    model::quality(m, |s| {
                        match adjusted.signals.get(s.index()).map(|d| &d.ty) {
                            Some(SignalType::Enum(_) | SignalType::Bool) => {
                                values.get(s.index()).map(|v| *v as usize)
                            }
                            _ => None,
                        }
                    })
                })
                .collect(),
        })
        .collect();
    Some(RecordedModel {
        policy: adjusted,
        row_quality,
    })
}

// ---------------------------------------------------------------- conditions and the sample check

/// The slices an SLO judges: its scope, and the slices of quality metrics on
/// either side.
fn slo_slices(policy: &Policy, slo: &routec_check::ir::SloDef) -> Vec<SliceId> {
    let mut out = Vec::new();
    match slo.scope {
        SloScope::All => {}
        SloScope::EachSlice => out.extend((0..policy.slices.len()).map(|i| SliceId(i as u32))),
        SloScope::Slice(s) => out.push(s),
    }
    if let MetricDef::Quality(Some(s)) = slo.metric {
        out.push(s);
    }
    if let BoundDef::Metric {
        metric: MetricDef::Quality(Some(s)),
        ..
    } = slo.bound
    {
        out.push(s);
    }
    out.sort();
    out.dedup();
    out
}

/// Warning `W0513` for each slice judged by an SLO that has fewer than
/// [`MIN_LABELED_SAMPLES`] recorded requests in the profile `name` (in a
/// labeled file: labeled requests, i.e. with at least one outcome).
pub fn sample_warnings(
    policy: &Policy,
    name: &str,
    span: Span,
    bound: &BoundTraffic,
) -> Vec<Diagnostic> {
    let rows = Rows::of(policy, bound);
    let labeled = bound.labeled() > 0;
    let mut out = Vec::new();
    let mut warned: Vec<SliceId> = Vec::new();
    for slo in &policy.slos {
        for s in slo_slices(policy, slo) {
            if warned.contains(&s) {
                continue;
            }
            let Some(def) = policy.slices.get(s.index()) else {
                continue;
            };
            let count = rows
                .values
                .iter()
                .zip(&bound.records)
                .filter(|(v, r)| (!labeled || r.is_labeled()) && policy.holds(&def.cond, v))
                .count();
            if count < MIN_LABELED_SAMPLES {
                warned.push(s);
                let what = if labeled {
                    "labeled requests"
                } else {
                    "recorded requests"
                };
                out.push(
                    Diagnostic::warning(
                        codes::FEW_RECORDED_SAMPLES,
                        slo.span,
                        format!(
                            "slice `{}` has {count} {what} in traffic `{name}`, fewer than the {MIN_LABELED_SAMPLES} needed to judge this slo",
                            def.name
                        ),
                    )
                    .with_label(format!("judged on {count} {what}"))
                    .with_secondary(span, format!("`{name}` is recorded here"))
                    .with_help(format!(
                        "record more requests of `{}`, or treat its figures as the declared profile's",
                        def.name
                    )),
                );
            }
        }
    }
    out
}

/// Parses the text of a recorded file and binds it to `policy`: the bound
/// records, or every problem in line order (shape errors and binding errors
/// of the good lines; at most `routec_traffic::MAX_ERRORS`, then a note
/// that the rest was not checked). A file without records is an error.
pub fn load(policy: &Policy, text: &str) -> Result<BoundTraffic, Vec<RecordError>> {
    let (records, mut errors) = routec_traffic::parse_all(text);
    let bound = routec_traffic::bind(policy, &records);
    if errors.is_empty() && records.is_empty() {
        errors.push(RecordError::new(
            1,
            1,
            "the file has no records: a recorded profile needs at least one request".into(),
        ));
    }
    match bound {
        Ok(bound) if errors.is_empty() => Ok(bound),
        bound => {
            if let Err(more) = bound {
                errors.extend(more);
            }
            errors.retain(|e| !e.message.starts_with("too many errors"));
            errors.sort_by_key(|e| (e.line, e.column));
            if errors.len() >= routec_traffic::MAX_ERRORS {
                errors.truncate(routec_traffic::MAX_ERRORS);
                let line = errors.last().map_or(1, |e| e.line);
                errors.push(RecordError::new(
                    line,
                    1,
                    format!(
                        "too many errors ({}); the rest of the file was not checked",
                        routec_traffic::MAX_ERRORS
                    ),
                ));
            }
            Err(errors)
        }
    }
}

/// Error `E0515` for each bad line of a recorded file: located in `file`
/// (whose text is `text`) at the line and column of the problem, with a
/// secondary label at the declaration of the profile `name` (`span`, in the
/// policy).
pub fn line_diagnostics(
    file: FileId,
    text: &str,
    (name, span): (&str, Span),
    errors: &[RecordError],
) -> Vec<Diagnostic> {
    located(file, text, errors)
        .into_iter()
        .map(|d| {
            d.with_secondary_in(
                FileId::MAIN,
                span,
                format!("the recorded traffic of `{name}`"),
            )
        })
        .collect()
}

/// Error `E0515` for each bad line of a file in the recorded-traffic
/// format, located in `file` (whose text is `text`) at the problem's line
/// and column.
pub fn located(file: FileId, text: &str, errors: &[RecordError]) -> Vec<Diagnostic> {
    errors
        .iter()
        .map(|e| {
            let at = offset_of(text, e.line, e.column);
            let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
            let end = if text[at..end].contains('\n') {
                at
            } else {
                end
            };
            let d = Diagnostic::error(
                codes::BAD_RECORDED_LINE,
                Span::new(at, end),
                e.message.clone(),
            )
            .in_file(file);
            match &e.help {
                Some(h) => d.with_help(h.clone()),
                None => d,
            }
        })
        .collect()
}

/// The byte offset of a 1-based line and 1-based character column, clamped
/// to the text.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let start = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum::<usize>();
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    text[start..line_end]
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(line_end, |(i, _)| start + i)
}

/// What `routec check` (and the editor) report for the recorded file of
/// traffic profile `traffic`, given its text and its [`FileId`] in the
/// caller's source map: the bound records and `W0513` for slices with too
/// few samples, or `E0515` for each bad line, located in the file (no
/// records). `None` when the profile is not a recorded file.
pub fn file_diagnostics(
    policy: &Policy,
    traffic: usize,
    file: FileId,
    text: &str,
) -> Option<(Option<BoundTraffic>, Vec<Diagnostic>)> {
    let def = policy.traffic.get(traffic)?;
    if !matches!(def.source, TrafficSource::File(_)) {
        return None;
    }
    Some(match load(policy, text) {
        Ok(bound) => {
            let warnings = sample_warnings(policy, &def.name, def.span, &bound);
            (Some(bound), warnings)
        }
        Err(errors) => (
            None,
            line_diagnostics(file, text, (&def.name, def.span), &errors),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_outcomes_stay_near_the_declared_quality() {
        // 2 failures out of 2 barely move a declared 90%.
        let r = shrink_rate(0.9, 2, 0);
        assert!((r.estimate - 18.0 / 22.0).abs() < 1e-12, "{r:?}");
        assert!(r.estimate > 0.8);
        assert!(r.low < r.estimate && r.estimate < r.high);
        // No outcomes: exactly the declared value.
        assert_eq!(shrink_rate(0.9, 0, 0).estimate, 0.9);
    }

    #[test]
    fn many_outcomes_follow_the_data() {
        let r = shrink_rate(0.9, 10_000, 3_000);
        assert!((r.estimate - 0.3).abs() < 0.002, "{r:?}");
        assert!(r.high - r.low < 0.02, "{r:?}");
        // Halfway at n = QUALITY_PRIOR_WEIGHT.
        let h = shrink_rate(0.8, QUALITY_PRIOR_WEIGHT as usize, 0);
        assert!((h.estimate - 0.4).abs() < 1e-12, "{h:?}");
    }

    #[test]
    fn intervals_narrow_as_samples_grow_and_stay_in_range() {
        let mut last = f64::INFINITY;
        for n in [0usize, 10, 100, 1000] {
            let r = shrink_rate(0.5, n, n / 2);
            let w = r.high - r.low;
            assert!(w < last, "{n}: {w}");
            last = w;
        }
        let top = shrink_rate(1.0, 50, 50);
        assert!(top.high <= 1.0 && top.low >= 0.0 && top.estimate == 1.0);
    }

    #[test]
    fn latency_and_cost_shrink_in_log_space() {
        // One sample of 1s against a declared 100ms moves it a little.
        let one = shrink_log(0.1, 1.0, 1, LATENCY_PRIOR_WEIGHT);
        assert!(one > 0.1 && one < 0.12, "{one}");
        let many = shrink_log(0.1, 1.0, 100_000, LATENCY_PRIOR_WEIGHT);
        assert!((many - 1.0).abs() < 0.001, "{many}");
    }

    #[test]
    fn type_7_quantiles() {
        let s = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&s, 0.5), Some(3.0));
        assert_eq!(quantile(&s, 0.0), Some(1.0));
        assert_eq!(quantile(&s, 1.0), Some(5.0));
        assert_eq!(quantile(&s, 0.95), Some(4.8));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn output_lengths_fit_a_lognormal_or_a_point() {
        let point = fit_positive(&[250.0, 250.0]);
        assert_eq!(point, Some(Marginal::Point(250.0)));
        let Some(Marginal::Continuous(q)) = fit_positive(&[100.0, 200.0, 300.0, 1000.0]) else {
            panic!("expected a lognormal");
        };
        assert!((q.quantile(0.5) - 250.0).abs() < 1e-6);
        assert_eq!(fit_positive(&[]), None);
    }
}
