//! The routec simulator: replays a traffic profile through a decision table
//! and reports what production would see.
//!
//! Requests are drawn from the profile's declared marginals (independently,
//! as the optimizer assumes; `routec_opt::traffic`), routed by
//! [`routec_runtime::Router`] exactly as a runtime routes them (sticky splits
//! included: every request gets a random key), and their plans are executed
//! by sampling the optimizer's model (`routec_opt::model`,
//! `docs/semantics.md`): TTFT draws from the fitted quantile functions,
//! hedges, timeouts, base errors, retries with backoff, model fallbacks,
//! plan fallback chains, cascades with the confidence model, classifier
//! latency and costs, and the judge's expected cost on answered requests
//! (`learn { judge ... }`). [`simulate`] aggregates exact order statistics
//! (nearest rank) of TTFT and end-to-end latency, cost per 1k requests and
//! per success, quality, calls per model and the composite score, over all
//! requests, per slice and per rule, and evaluates every SLO.
//!
//! Quality is accumulated as the probability that each answer is good (not
//! a coin flip per answer): the same expectation with less noise. The
//! composite score compares with the baseline model run on the *same*
//! requests (same classifier latency, same fault model), so the score of a
//! slice or rule is against the baseline on that slice or rule.
//!
//! Architecture Invariant: pure and deterministic. No IO, clocks or
//! environment (`clippy.toml`); the same policy, table, profile, request
//! count and seed always give the same report, on every platform
//! (xoshiro256++ seeded by `seed`).

mod exec;
pub mod offpolicy;
pub mod pacing;
pub mod replay;
pub mod sample;
pub mod stats;

use std::fmt;

use routec_check::ir::{
    BoundDef, CostBasis, MetricDef, ModelId, ObjectiveDef, Policy, SliceId, SloScope, TrafficId,
};
use routec_opt::model;
use routec_opt::traffic::Traffic;
use routec_runtime::{Request, Router, Table};
use routec_syntax::ast::CmpOp;
use routec_table::PlanKind;

use exec::{ExecPlan, Executor, Job, ModelRt};
use sample::{RequestSampler, Rng};
use stats::{Group, Sample};
pub use stats::{Metrics, Percentiles};

/// The most requests one simulation may run (memory: 8 bytes per request
/// per group it belongs to).
pub const MAX_REQUESTS: u64 = 100_000_000;

/// Why a simulation cannot run.
#[derive(Clone, Debug, PartialEq)]
pub enum SimError {
    /// No traffic profile with this index.
    UnknownTraffic(TrafficId),
    /// The profile is a recorded file, which the simulator cannot read.
    RecordedTraffic(String),
    /// The table was not compiled from this policy.
    Mismatch(String),
    /// The table cannot be loaded by the runtime.
    Table(String),
    TooManyRequests(u64),
    /// The table has no pacing ladder (`routec_sim::pacing`).
    NoPacing,
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::UnknownTraffic(id) => write!(f, "no traffic profile number {}", id.0),
            SimError::RecordedTraffic(name) => write!(
                f,
                "traffic `{name}` is a recorded file and its records were not supplied (or it has none)"
            ),
            SimError::Mismatch(why) => {
                write!(f, "the table was not compiled from this policy: {why}")
            }
            SimError::Table(why) => write!(f, "the table cannot be loaded: {why}"),
            SimError::NoPacing => f.write_str(
                "the table has no pacing ladder: the policy declares no `spend per` SLO over all traffic, or its traffic profile no `qps`",
            ),
            SimError::TooManyRequests(n) => {
                write!(f, "{n} requests is more than the limit of {MAX_REQUESTS}")
            }
        }
    }
}

impl std::error::Error for SimError {}

/// What one slice saw.
#[derive(Clone, Debug, PartialEq)]
pub struct SliceReport {
    pub name: String,
    pub metrics: Metrics,
}

/// What one rule of the `route` block saw.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleReport {
    /// 1-based line in the source.
    pub line: u32,
    pub text: String,
    pub metrics: Metrics,
}

/// How much traffic one model saw.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelReport {
    pub name: String,
    /// Calls per request (retries, hedged duplicates, cascade escalations
    /// and fallbacks included): what `share MODEL <= X` constrains.
    pub calls: f64,
    /// The share of requests whose answer came from this model.
    pub answered: f64,
    /// The share of its calls the model refused (under a [`Load`]; 0
    /// otherwise).
    pub refused: f64,
    /// Cost per request paid to this model (USD).
    pub cost: f64,
}

/// What the policy's judge (`learn { judge MODEL sample ... }`) cost: each
/// answered request is judged with probability `share`, and pays that
/// share of a judge call (`docs/semantics.md`, "The judge").
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeReport {
    /// The judge model.
    pub name: String,
    /// The share of answered requests judged, at the simulated rate.
    pub share: f64,
    /// Cost per request (USD): the part of every cost figure of the report
    /// (the requests', the slices', the rules' and the baseline's) that
    /// the judge adds.
    pub cost: f64,
}

/// The load a simulation runs at (`routec_opt::Compiled::load_at`): the
/// requests per second and each model's state at them (latency at that
/// load, share of calls refused), which every attempt samples.
#[derive(Clone, Copy, Debug)]
pub struct Load<'a> {
    pub qps: f64,
    /// Per model, in declaration order.
    pub models: &'a [routec_opt::load::ModelLoad],
}

/// One SLO (one slice of a `for each slice` SLO) on the simulated traffic.
#[derive(Clone, Debug, PartialEq)]
pub struct SloReport {
    /// Index into `policy.slos`.
    pub slo: usize,
    /// The slice, for `for each slice`.
    pub slice: Option<SliceId>,
    /// The constraint, e.g. `latency p95 <= 20s` or `quality >= 75% for english`.
    pub constraint: String,
    /// In the metric's base unit (seconds, USD, ratio).
    pub value: f64,
    pub limit: f64,
    /// Whether the simulated value meets the limit.
    pub ok: bool,
    /// The value's 95% sampling interval (the limit's uncertainty included
    /// when the limit is another metric, as in parity SLOs), so a value a
    /// hair over its limit can be told from a miss.
    pub interval: (f64, f64),
    pub verdict: Verdict,
}

/// An SLO's verdict on simulated traffic, given its sampling interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Met, and the interval lies on the good side of the limit.
    Met,
    /// The limit is inside the interval: the simulation cannot tell a met
    /// SLO from a missed one (more requests narrow the interval).
    AtLimit,
    /// Missed beyond sampling error.
    Missed,
}

impl Verdict {
    /// `value` against `limit` by `op`, with `half` the combined half-width
    /// of the sampling interval of `value − limit`.
    pub fn of(value: f64, op: CmpOp, limit: f64, half: f64) -> Verdict {
        let tolerance = 1e-12 * limit.abs().max(1e-12);
        let margin = match op {
            CmpOp::Le | CmpOp::Lt => limit - value,
            CmpOp::Ge | CmpOp::Gt => value - limit,
            CmpOp::Eq => -(value - limit).abs(),
            CmpOp::Ne => (value - limit).abs(),
        };
        if compare(value, op, limit) && margin > half + tolerance {
            Verdict::Met
        } else if margin < -half - tolerance {
            Verdict::Missed
        } else {
            Verdict::AtLimit
        }
    }

    /// `met`, `at limit` or `missed` (JSON: `met`, `at_limit`, `missed`).
    pub fn key(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::AtLimit => "at_limit",
            Verdict::Missed => "missed",
        }
    }
}

/// The result of a simulation. Quantities in base units.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub traffic: String,
    pub requests: u64,
    pub seed: u64,
    pub metrics: Metrics,
    /// The baseline model on the same requests, if the policy has one.
    pub baseline: Option<Metrics>,
    pub slices: Vec<SliceReport>,
    pub rules: Vec<RuleReport>,
    pub models: Vec<ModelReport>,
    /// The judge's cost; `None` when the policy declares no judge.
    pub judge: Option<JudgeReport>,
    pub slos: Vec<SloReport>,
}

/// Simulates `requests` requests of traffic profile `traffic` through
/// `table` (compiled from `policy`) with random seed `seed`.
pub fn simulate(
    policy: &Policy,
    table: &Table,
    traffic: TrafficId,
    requests: u64,
    seed: u64,
) -> Result<Report, SimError> {
    Ok(run(policy, table, traffic, requests, seed)?.report())
}

/// A finished simulation, before reporting: keeps the samples so that any
/// metric (say `latency p90` of a slice) can be asked for.
#[derive(Debug)]
pub struct Run<'p> {
    policy: &'p Policy,
    pub traffic: String,
    pub requests: u64,
    pub seed: u64,
    qps: Option<f64>,
    all: Group,
    base: Group,
    slices: Vec<Group>,
    rules: Vec<Group>,
    rule_info: Vec<(u32, String)>,
    answered: Vec<u64>,
    /// Per model: calls refused and calls offered (under a [`Load`]).
    refused: Vec<u64>,
    offered: Vec<u64>,
    /// Per model: total cost paid to it (USD).
    model_cost: Vec<f64>,
    /// The judge, the share it samples and its total cost (USD).
    judge: Option<(String, f64)>,
    judge_cost: f64,
    /// Per model: the end-to-end latencies (seconds) of the requests it
    /// answered, for latency CDFs: from arrival, so they include the time
    /// spent before its answering attempt (classifiers, earlier attempts,
    /// retries, fallbacks, cascade steps).
    pub answered_latencies: Vec<Vec<f32>>,
    /// Per model, in the same order: the time its answering attempt took
    /// (TTFT, reasoning and decoding): the time on this model alone.
    pub answer_times: Vec<Vec<f32>>,
    weights: (f64, f64, f64),
    has_baseline: bool,
}

/// Runs a simulation (see [`simulate`]).
pub fn run<'p>(
    policy: &'p Policy,
    table: &Table,
    traffic: TrafficId,
    requests: u64,
    seed: u64,
) -> Result<Run<'p>, SimError> {
    run_with_progress(policy, table, traffic, requests, seed, &mut |_, _| {})
}

/// How often (in requests) [`run_with_progress`] reports progress.
pub const PROGRESS_STEP: u64 = 1 << 14;

/// [`run`], calling `progress(done, total)` every [`PROGRESS_STEP`]
/// requests and at the end.
pub fn run_with_progress<'p>(
    policy: &'p Policy,
    table: &Table,
    traffic: TrafficId,
    requests: u64,
    seed: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Run<'p>, SimError> {
    run_impl(policy, table, traffic, None, None, requests, seed, progress)
}

/// [`run_with_progress`] under a load: the profile at `load.qps` requests
/// per second, every attempt on a model sampling that model's state
/// (`docs/semantics.md`, "Load"): refused with its share of refusals,
/// else its latency at that load.
pub fn run_loaded<'p>(
    policy: &'p Policy,
    table: &Table,
    traffic: TrafficId,
    load: Load<'_>,
    requests: u64,
    seed: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Run<'p>, SimError> {
    run_impl(
        policy,
        table,
        traffic,
        None,
        Some(load),
        requests,
        seed,
        progress,
    )
}

/// [`run_with_progress`] for a recorded profile: requests are drawn
/// uniformly, with replacement, from the file's records (`recorded`, bound
/// to `policy`), each with all its signals (their joint distribution). A
/// declared profile ignores `recorded`.
pub fn run_recorded<'p>(
    policy: &'p Policy,
    table: &Table,
    traffic: TrafficId,
    recorded: &routec_traffic::BoundTraffic,
    requests: u64,
    seed: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Run<'p>, SimError> {
    run_impl(
        policy,
        table,
        traffic,
        Some(recorded),
        None,
        requests,
        seed,
        progress,
    )
}

#[expect(clippy::too_many_arguments, reason = "every way to run")]
fn run_impl<'p>(
    policy: &'p Policy,
    table: &Table,
    traffic: TrafficId,
    recorded: Option<&routec_traffic::BoundTraffic>,
    load: Option<Load<'_>>,
    requests: u64,
    seed: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Run<'p>, SimError> {
    if requests > MAX_REQUESTS {
        return Err(SimError::TooManyRequests(requests));
    }
    let def = policy
        .traffic
        .get(traffic.index())
        .ok_or(SimError::UnknownTraffic(traffic))?;
    let mut profile = Traffic::for_policy(policy, Some(&def.name))
        .map_err(|_| SimError::UnknownTraffic(traffic))?;
    if profile.records_missing {
        match recorded {
            Some(b) if !b.records.is_empty() => profile = profile.with_recorded(policy, b),
            _ => return Err(SimError::RecordedTraffic(def.name.clone())),
        }
    }
    // A labeled recorded profile: the model the table was compiled with
    // (outcome estimates; `docs/semantics.md`, "Recorded outcomes").
    let estimated = recorded
        .filter(|_| profile.rows.is_some())
        .and_then(|b| routec_opt::recorded::recorded_model(policy, &def.name, b));
    let model_policy = estimated.as_ref().map_or(policy, |e| &e.policy);
    let row_quality = estimated.as_ref().map(|e| &e.row_quality);
    let setup = Setup::new(model_policy, table, load.map(|l| l.models))?;
    let sampler = RequestSampler::new(policy, &profile);
    let router = Router::new(table.clone()).map_err(|e| SimError::Table(e.to_string()))?;

    let models = policy.models.len();
    let qps = load.map(|l| l.qps).or(profile.qps);
    let judge_share = setup.judge.as_ref().map_or(0.0, |j| j.share_at(qps));
    let mut run = Run {
        policy,
        traffic: def.name.clone(),
        requests,
        seed,
        qps,
        all: Group::new(models),
        base: Group::new(models),
        slices: vec![Group::new(models); policy.slices.len()],
        rules: vec![Group::new(models); table.rules.len()],
        rule_info: table
            .rules
            .iter()
            .map(|r| (r.line, r.text.clone()))
            .collect(),
        answered: vec![0; models],
        refused: vec![0; models],
        offered: vec![0; models],
        model_cost: vec![0.0; models],
        judge: setup.judge.as_ref().map(|j| {
            let name = policy.models.get(j.model.index()).map(|m| m.name.clone());
            (name.unwrap_or_default(), judge_share)
        }),
        judge_cost: 0.0,
        answered_latencies: vec![Vec::new(); models],
        answer_times: vec![Vec::new(); models],
        weights: match policy.objective {
            Some(ObjectiveDef::Weighted {
                latency,
                cost,
                quality,
            }) => (latency, cost, quality),
            _ => (1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0),
        },
        has_baseline: setup.baseline.is_some(),
    };
    let capacity = usize::try_from(requests).unwrap_or(0);
    run.all.ttfts.reserve_exact(capacity);
    run.all.e2es.reserve_exact(capacity);

    let mut rng = Rng::new(seed);
    let mut values = vec![0.0; policy.signals.len()];
    let mut request: Request = router.request();
    let mut quality: Vec<Option<f64>> = vec![None; models];
    let mut calls = vec![0u32; models];
    let mut refused = vec![0u32; models];
    let mut base_calls = vec![0u32; models];
    let mut base_refused = vec![0u32; models];
    let mut key = [0u8; 16];
    let zero = vec![0u32; models];
    for i in 0..requests {
        if i > 0 && i.is_multiple_of(PROGRESS_STEP) {
            progress(i, requests);
        }
        let (output_tokens, row) = sampler.draw_row(&mut rng, &mut values);
        request.clear();
        for &(p, t) in &setup.signal_map {
            request.set(t, values[p]);
        }
        request.set_key(hex_key(rng.next_u64(), &mut key));
        let decision = router.decide(&request);
        let rule = decision.rule as usize;
        let shift = setup.classifier.get(rule).copied().unwrap_or(0.0);
        setup.model_qualities(policy, &values, &mut quality);
        if let Some(q) = row.and_then(|r| row_quality.and_then(|rq| rq.get(r))) {
            quality.clone_from(q);
        }
        let input_tokens = setup.prompt.map_or(0.0, |p| values[p]);
        let stream = setup.stream.is_some_and(|s| values[s] != 0.0);
        calls.fill(0);
        refused.fill(0);
        let mut job = Job {
            input_tokens,
            output_tokens,
            quality: &quality,
            calls: &mut calls,
            refused: &mut refused,
            cost: 0.0,
            model_cost: &mut run.model_cost,
            stream,
        };
        let mut out = setup.exec.run(
            setup.plan_map[decision.plan as usize],
            &mut job,
            shift,
            &mut rng,
        );
        // The judge: an expectation, not a draw (the same seed samples the
        // same requests with or without one).
        let judged = |o: &exec::Outcome| {
            setup
                .judge
                .as_ref()
                .filter(|_| !o.failed && judge_share > 0.0)
                .map_or(0.0, |j| {
                    judge_share * j.call_cost(input_tokens, output_tokens)
                })
        };
        let judge_cost = judged(&out);
        out.cost += judge_cost;
        run.judge_cost += judge_cost;
        let base = setup.baseline.map(|b| {
            base_calls.fill(0);
            base_refused.fill(0);
            let mut job = Job {
                input_tokens,
                output_tokens,
                quality: &quality,
                calls: &mut base_calls,
                refused: &mut base_refused,
                cost: 0.0,
                model_cost: &mut [],
                stream,
            };
            let mut o = setup.exec.run_model(b, &mut job, shift, &mut rng);
            o.cost += judged(&o);
            o
        });
        let s = Sample {
            ttft: out.ttft,
            e2e: out.e2e,
            cost: out.cost,
            quality: out.quality,
            failed: out.failed,
            base: base.map(|b| (b.e2e, b.cost, b.quality)),
        };
        run.all.add(&s, &calls);
        for m in 0..models {
            run.offered[m] += u64::from(calls[m]);
            run.refused[m] += u64::from(refused[m]);
        }
        if let Some(b) = &base {
            let bs = Sample {
                ttft: b.ttft,
                e2e: b.e2e,
                cost: b.cost,
                quality: b.quality,
                failed: b.failed,
                base: None,
            };
            run.base.add(&bs, &zero);
        }
        if let Some(g) = run.rules.get_mut(rule) {
            g.add(&s, &calls);
        }
        for (i, slice) in policy.slices.iter().enumerate() {
            if policy.holds(&slice.cond, &values) {
                run.slices[i].add(&s, &calls);
            }
        }
        if let Some(m) = out.answered_by {
            run.answered[m as usize] += 1;
            if let Some(l) = run.answered_latencies.get_mut(m as usize) {
                l.push(out.e2e as f32);
            }
            if let Some(l) = run.answer_times.get_mut(m as usize) {
                l.push(out.answer_time as f32);
            }
        }
    }
    progress(requests, requests);
    Ok(run)
}

/// The request key: 16 lowercase hex digits.
fn hex_key(x: u64, buf: &mut [u8; 16]) -> &str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in buf.iter_mut().enumerate() {
        *b = HEX[((x >> (60 - 4 * i)) & 15) as usize];
    }
    std::str::from_utf8(buf).unwrap_or("")
}

/// The links between a table and the policy it was compiled from.
struct Setup {
    /// `(policy signal, table signal)`.
    signal_map: Vec<(usize, usize)>,
    enum_signal: Vec<bool>,
    prompt: Option<usize>,
    /// The built-in `stream` signal.
    stream: Option<usize>,
    /// Table plan index → executor plan index (the same).
    plan_map: Vec<u32>,
    exec: Executor,
    /// Per table rule: the classifier latency its requests pay.
    classifier: Vec<f64>,
    baseline: Option<u32>,
    /// The policy's judge: every answered request pays its share of a
    /// judge call.
    judge: Option<model::Judge>,
}

impl Setup {
    /// Each model's quality for the request with signal `values` (policy
    /// order).
    fn model_qualities(&self, policy: &Policy, values: &[f64], quality: &mut [Option<f64>]) {
        for (q, m) in quality.iter_mut().zip(&policy.models) {
            *q = model::quality(m, |s| {
                self.enum_signal
                    .get(s.index())
                    .copied()
                    .unwrap_or(false)
                    .then(|| values.get(s.index()).map(|v| *v as usize))
                    .flatten()
            });
        }
    }

    fn new(
        policy: &Policy,
        table: &Table,
        load: Option<&[routec_opt::load::ModelLoad]>,
    ) -> Result<Setup, SimError> {
        let mut signal_map = Vec::new();
        for (t, s) in table.signals.iter().enumerate() {
            let p = policy
                .signal_by_name(&s.name)
                .ok_or_else(|| SimError::Mismatch(format!("unknown signal `{}`", s.name)))?;
            signal_map.push((p.index(), t));
        }
        let model_map: Vec<u32> = table
            .models
            .iter()
            .map(|m| {
                policy
                    .model_by_name(&m.name)
                    .map(|id| id.0)
                    .ok_or_else(|| SimError::Mismatch(format!("unknown model `{}`", m.name)))
            })
            .collect::<Result<_, _>>()?;
        let model = |i: u32| -> Result<u32, SimError> {
            model_map
                .get(i as usize)
                .copied()
                .ok_or_else(|| SimError::Mismatch(format!("no model number {i}")))
        };
        let plans = table
            .plans
            .iter()
            .map(|p| {
                Ok(match &p.kind {
                    PlanKind::Target { model: m } => ExecPlan::Target(model(*m)?),
                    PlanKind::Chain { plans } => ExecPlan::Chain(plans.clone()),
                    PlanKind::Cascade { models, accept } => ExecPlan::Cascade {
                        models: models.iter().map(|m| model(*m)).collect::<Result<_, _>>()?,
                        accept: *accept,
                    },
                })
            })
            .collect::<Result<Vec<_>, SimError>>()?;
        if table.rules.len() != policy.rules.len() {
            return Err(SimError::Mismatch(format!(
                "the table has {} rules, the policy {}",
                table.rules.len(),
                policy.rules.len()
            )));
        }
        let models = (0..policy.models.len())
            .map(|m| ModelRt::under(policy, ModelId(m as u32), load.and_then(|l| l.get(m))))
            .collect();
        Ok(Setup {
            signal_map,
            enum_signal: policy
                .signals
                .iter()
                .map(|s| matches!(s.ty, routec_check::ir::SignalType::Enum(_)))
                .collect(),
            prompt: policy.signal_by_name("prompt_tokens").map(|s| s.index()),
            stream: policy.signal_by_name("stream").map(|s| s.index()),
            plan_map: (0..plans.len() as u32).collect(),
            exec: Executor { models, plans },
            classifier: (0..policy.rules.len())
                .map(|r| model::classifier_cost(policy, r))
                .collect(),
            baseline: policy.baseline.map(|b| b.0),
            judge: model::Judge::of(policy),
        })
    }
}

pub use routec_check::ir::compare;

impl Run<'_> {
    fn group(&mut self, scope: Option<SliceId>) -> Option<&mut Group> {
        match scope {
            None => Some(&mut self.all),
            Some(s) => self.slices.get_mut(s.index()),
        }
    }

    /// The group `metric` is measured on: `scope`'s, or the slice a metric
    /// names (`quality for S`); `None` when it saw no request.
    fn measured(&mut self, metric: &MetricDef, scope: Option<SliceId>) -> Option<&mut Group> {
        let scope = match metric {
            MetricDef::Quality(Some(s)) => Some(*s),
            _ => scope,
        };
        self.group(scope).filter(|g| g.n > 0)
    }

    /// The simulated value of `metric` over all requests or one slice, in
    /// base units; `None` when the scope saw no request (or, for spend, the
    /// profile has no `qps`). A metric naming a slice (`quality for S`)
    /// uses that slice.
    pub fn value(&mut self, metric: &MetricDef, scope: Option<SliceId>) -> Option<f64> {
        let qps = self.qps;
        let g = self.measured(metric, scope)?;
        let n = g.n as f64;
        match metric {
            MetricDef::Ttft(q) => stats::quantile(&mut g.ttfts, *q),
            MetricDef::Latency(q) => stats::quantile(&mut g.e2es, *q),
            MetricDef::Cost(CostBasis::PerRequests(k)) => Some(g.cost / n * *k as f64),
            MetricDef::Cost(CostBasis::PerSuccess) => {
                Some(model::cost_per_success(g.cost / n, g.quality / n))
            }
            MetricDef::Quality(_) => Some(g.quality / n),
            MetricDef::Share(m) => g.calls.get(m.index()).map(|c| *c as f64 / n),
            MetricDef::Spend(period) => qps.map(|qps| qps * period.seconds() * g.cost / n),
        }
    }

    /// The 95% sampling interval of [`Run::value`] (same scope rules).
    pub fn interval(&mut self, metric: &MetricDef, scope: Option<SliceId>) -> Option<(f64, f64)> {
        let qps = self.qps;
        let g = self.measured(metric, scope)?;
        let scaled = |(lo, hi): (f64, f64), k: f64| (lo * k, hi * k);
        match metric {
            MetricDef::Ttft(q) => stats::quantile_interval(&mut g.ttfts, *q),
            MetricDef::Latency(q) => stats::quantile_interval(&mut g.e2es, *q),
            MetricDef::Cost(CostBasis::PerRequests(k)) => Some(scaled(
                stats::mean_interval(g.n, g.cost, g.cost_sq),
                *k as f64,
            )),
            MetricDef::Cost(CostBasis::PerSuccess) => Some(stats::ratio_interval(g)),
            MetricDef::Quality(_) => Some(stats::mean_interval(g.n, g.quality, g.quality_sq)),
            MetricDef::Share(m) => {
                let (sum, sq) = (*g.calls.get(m.index())?, *g.calls_sq.get(m.index())?);
                Some(stats::mean_interval(g.n, sum as f64, sq as f64))
            }
            MetricDef::Spend(period) => qps.map(|qps| {
                scaled(
                    stats::mean_interval(g.n, g.cost, g.cost_sq),
                    qps * period.seconds(),
                )
            }),
        }
    }

    /// Every SLO's status on the simulated traffic, one per slice for
    /// `for each slice`. Scopes that saw no request, and spend without a
    /// `qps`, are left out.
    pub fn slos(&mut self) -> Vec<SloReport> {
        let policy = self.policy;
        let mut out = Vec::new();
        for (i, slo) in policy.slos.iter().enumerate() {
            let scopes: Vec<(Option<SliceId>, bool)> = match &slo.scope {
                SloScope::EachSlice => (0..policy.slices.len())
                    .map(|s| (Some(SliceId(s as u32)), true))
                    .collect(),
                SloScope::Slice(s) => vec![(Some(*s), false)],
                SloScope::All => vec![(None, false)],
            };
            for (scope, each) in scopes {
                let Some(value) = self.value(&slo.metric, scope) else {
                    continue;
                };
                let (lo, hi) = self.interval(&slo.metric, scope).unwrap_or((value, value));
                let limit = match &slo.bound {
                    BoundDef::Value(x) => Some((*x, 0.0)),
                    BoundDef::Metric { metric, offset } => {
                        let (llo, lhi) = self.interval(metric, scope).unwrap_or((0.0, 0.0));
                        self.value(metric, scope)
                            .map(|v| (v + offset, (lhi - llo).max(0.0) / 2.0))
                    }
                };
                let Some((limit, limit_half)) = limit else {
                    continue;
                };
                // The half-width of value − limit on the side that matters:
                // the interval's side toward the limit.
                let value_half = if value <= limit {
                    hi - value
                } else {
                    value - lo
                };
                let half = value_half.max(0.0).hypot(limit_half);
                let slice_name = scope
                    .filter(|_| each)
                    .and_then(|s| policy.slices.get(s.index()))
                    .map(|s| s.name.as_str());
                out.push(SloReport {
                    slo: i,
                    slice: scope.filter(|_| each),
                    constraint: describe_slo(policy, i, slice_name),
                    value,
                    limit,
                    ok: compare(value, slo.op, limit),
                    interval: (lo, hi),
                    verdict: Verdict::of(value, slo.op, limit, half),
                });
            }
        }
        out
    }

    /// The full report.
    pub fn report(&mut self) -> Report {
        let total = self.all.n;
        let (w, b) = (self.weights, self.has_baseline);
        let metrics = self.all.metrics(total, w, b);
        let baseline = b.then(|| self.base.metrics(total, w, false));
        let slices = self
            .slices
            .iter_mut()
            .zip(&self.policy.slices)
            .map(|(g, s)| SliceReport {
                name: s.name.clone(),
                metrics: g.metrics(total, w, b),
            })
            .collect();
        let rules = self
            .rules
            .iter_mut()
            .zip(&self.rule_info)
            .map(|(g, (line, text))| RuleReport {
                line: *line,
                text: text.clone(),
                metrics: g.metrics(total, w, b),
            })
            .collect();
        let models = self
            .policy
            .models
            .iter()
            .enumerate()
            .map(|(i, m)| ModelReport {
                name: m.name.clone(),
                calls: metrics.calls.get(i).copied().unwrap_or(0.0),
                answered: self.answered[i] as f64 / total.max(1) as f64,
                refused: if self.offered[i] > 0 {
                    self.refused[i] as f64 / self.offered[i] as f64
                } else {
                    0.0
                },
                cost: self.model_cost[i] / total.max(1) as f64,
            })
            .collect();
        let judge = self.judge.as_ref().map(|(name, share)| JudgeReport {
            name: name.clone(),
            share: *share,
            cost: self.judge_cost / total.max(1) as f64,
        });
        let slos = self.slos();
        Report {
            traffic: self.traffic.clone(),
            requests: self.requests,
            seed: self.seed,
            metrics,
            baseline,
            slices,
            rules,
            models,
            judge,
            slos,
        }
    }
}

// ---------------------------------------------------------------- describing SLOs

/// An SLO in the language's syntax, from the resolved policy (for `for each
/// slice`, the given slice replaces `each slice`).
pub fn describe_slo(policy: &Policy, slo: usize, slice: Option<&str>) -> String {
    let Some(def) = policy.slos.get(slo) else {
        return String::new();
    };
    let mut text = format!(
        "{} {} {}",
        describe_metric(policy, &def.metric),
        def.op.as_str(),
        match &def.bound {
            BoundDef::Value(x) => describe_value(&def.metric, *x),
            BoundDef::Metric { metric, offset } => {
                let m = describe_metric(policy, metric);
                if *offset < 0.0 {
                    format!("{m} - {}", describe_value(metric, -offset))
                } else if *offset > 0.0 {
                    format!("{m} + {}", describe_value(metric, *offset))
                } else {
                    m
                }
            }
        }
    );
    match (&def.scope, slice) {
        (SloScope::EachSlice, Some(s)) => text.push_str(&format!(" for {s}")),
        (SloScope::EachSlice, None) => text.push_str(" for each slice"),
        (SloScope::Slice(s), _) => {
            if let Some(d) = policy.slices.get(s.index()) {
                text.push_str(&format!(" for {}", d.name));
            }
        }
        (SloScope::All, _) => {}
    }
    text
}

/// A metric in the language's syntax: `latency p95`, `quality for english`.
pub fn describe_metric(policy: &Policy, metric: &MetricDef) -> String {
    let pct = |q: f64| format!("p{}", trim(q * 100.0));
    match metric {
        MetricDef::Ttft(q) => format!("ttft {}", pct(*q)),
        MetricDef::Latency(q) => format!("latency {}", pct(*q)),
        MetricDef::Cost(CostBasis::PerRequests(1)) => "cost per request".into(),
        MetricDef::Cost(CostBasis::PerRequests(n)) => format!("cost per {} requests", count(*n)),
        MetricDef::Cost(CostBasis::PerSuccess) => "cost per success".into(),
        MetricDef::Quality(None) => "quality".into(),
        MetricDef::Quality(Some(s)) => match policy.slices.get(s.index()) {
            Some(d) => format!("quality for {}", d.name),
            None => "quality".into(),
        },
        MetricDef::Share(m) => match policy.models.get(m.index()) {
            Some(d) => format!("share {}", d.name),
            None => "share".into(),
        },
        MetricDef::Spend(p) => format!(
            "spend per {}",
            match p {
                routec_check::ir::Period::Hour => "hour",
                routec_check::ir::Period::Day => "day",
                routec_check::ir::Period::Week => "week",
                routec_check::ir::Period::Month => "month",
            }
        ),
    }
}

fn count(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// A value of `metric` as the language writes it: `250ms`, `3s`, `$5`, `75%`.
pub fn describe_value(metric: &MetricDef, x: f64) -> String {
    match metric {
        // In the unit of its magnitude: `250ms`, `3s`, `12.5m`, `8.9474h`.
        MetricDef::Ttft(_) | MetricDef::Latency(_) => match x.abs() {
            a if a < 1.0 => format!("{}ms", trim(x * 1000.0)),
            a if a < 60.0 => format!("{}s", trim(x)),
            a if a < 3600.0 => format!("{}m", trim(x / 60.0)),
            a if a < 86_400.0 => format!("{}h", trim(x / 3600.0)),
            _ => format!("{}d", trim(x / 86_400.0)),
        },
        MetricDef::Cost(_) | MetricDef::Spend(_) => format!("${}", trim(x)),
        MetricDef::Quality(_) | MetricDef::Share(_) => format!("{}%", trim(x * 100.0)),
    }
}

/// A number with at most four decimals and no trailing zeros.
pub fn trim(x: f64) -> String {
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_are_described_in_the_unit_of_their_magnitude() {
        let latency = MetricDef::Latency(0.95);
        let cases = [
            (0.25, "250ms"),
            (3.0, "3s"),
            (90.0, "1.5m"),
            (32_210.518, "8.9474h"),
            (172_800.0, "2d"),
        ];
        for (x, text) in cases {
            assert_eq!(describe_value(&latency, x), text);
        }
    }
}
