//! Offline evaluation: replays the requests of a labeled recorded file
//! (`traffic NAME = file "x.jsonl"` with per-model `outcomes`) through a
//! decision table and reports the *recorded* outcome of each chosen plan:
//! no sampling, the very requests of the file (`docs/evaluation.md`).
//!
//! Each record is routed by [`routec_runtime::Router`] exactly as in
//! production: its recorded signals are set (unrecorded ones take their
//! defaults) and its `id` is the request key sticky splits hash (records
//! without an id use `line:N`), so a split cell sends each record to the
//! same side a runtime would. The chosen plan is then resolved against the
//! record's outcomes:
//! - a model: its outcome;
//! - a fallback chain `a else b`: recorded outcomes carry no faults, so the
//!   first plan of the chain answers;
//! - a cascade `a -> b accept when confidence >= X`: outcomes carry no
//!   confidence, so acceptance is replayed as a *perfect verifier*: the
//!   first model whose recorded answer succeeded is accepted, otherwise the
//!   last model answers. Every model tried is paid (cost, and latency in
//!   sequence). This is an upper bound on what the cascade can achieve;
//!   the report counts the requests it applied to.
//!
//! A model without an outcome in a record counts as a failure that cost
//! nothing and is counted in `missing` (RouterBench's published accuracies
//! count missing grades as wrong the same way). A recorded `cost_usd` is
//! used as is; without it, the recorded tokens are priced with the policy's
//! model price; without either, the call costs 0 and counts as `unpriced`.
//! With a judge (`learn { judge ... }`), every answered request (a final
//! answer with an outcome) of the policy, of each single model and of the
//! oracle also pays the judge's share of a judge call for its prompt and
//! its answer's recorded `output_tokens` (`DEFAULT_OUTPUT_TOKENS` without
//! them), at the share of the lowest rate (a recorded file declares no
//! `qps`).
//!
//! Next to the policy, every single model (all requests to it) and the
//! oracle (per request, the cheapest model by recorded cost whose answer
//! succeeded; if none did, the cheapest model) are replayed over the same
//! records. For the strong/weak pair (the best single model by accuracy and
//! the cheapest single model), `CPT(x)` is the share of strong-model calls
//! the oracle needs to recover `x` of the accuracy gap: the oracle sends to
//! the strong model only requests the strong model gets right and the weak
//! one wrong, so `CPT(x) = x · (strong-only − weak-only) / n`.

use routec_check::ir::{ModelId, Policy, Value};
use routec_opt::model;
use routec_runtime::{Decision, Request, Router, Table};
use routec_table::PlanKind;
use routec_traffic::{BoundRecord, BoundTraffic, Outcome};

use crate::SimError;
use crate::stats::{Percentiles, quantile};

/// How often (in records) the progress callback is called.
pub const PROGRESS_STEP: u64 = 4096;

/// Aggregated recorded outcomes of a set of replayed requests. USD, ratios,
/// seconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcomes {
    pub requests: u64,
    /// The share of requests whose answer succeeded (`success`, or `score`
    /// at least 0.5 without `success`).
    pub accuracy: f64,
    /// The mean `score` (an answer without one counts 1 if it succeeded,
    /// else 0).
    pub quality: f64,
    /// Total cost in USD.
    pub cost: f64,
    pub cost_per_1k_requests: f64,
    /// Total cost over successes; infinite when nothing succeeded.
    pub cost_per_success: f64,
    /// End-to-end latency over the requests whose latency was recorded for
    /// every model tried (`None` when no request had it).
    pub latency: Option<Percentiles>,
    /// Time to first token, likewise.
    pub ttft: Option<Percentiles>,
    /// How many requests had a recorded latency.
    pub timed: u64,
    /// Calls whose model had no outcome in the record.
    pub missing: u64,
    /// Calls with neither a recorded cost nor tokens to price.
    pub unpriced: u64,
}

/// One single model replayed on every request.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelReplay {
    pub name: String,
    pub outcomes: Outcomes,
    /// Under the policy: calls per request (cascade escalations included).
    pub calls: f64,
    /// Under the policy: the share of requests this model answered.
    pub answered: f64,
    /// The recorded end-to-end latencies (seconds) of this model's
    /// outcomes, in record order (for latency CDFs).
    pub latencies: Vec<f32>,
}

/// The strong/weak pair and the oracle's call-performance threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Cpt {
    /// Index into [`Replay::models`]: the best single model.
    pub strong: usize,
    /// Index into [`Replay::models`]: the cheapest single model.
    pub weak: usize,
    /// Requests only the strong (weak) model got right.
    pub strong_only: u64,
    pub weak_only: u64,
    /// `CPT(50%)` and `CPT(80%)`: shares of strong-model calls.
    pub cpt50: f64,
    pub cpt80: f64,
    /// The policy's share of requests answered by the strong model.
    pub policy_strong_share: f64,
    /// The share of the strong-weak accuracy gap the policy recovers
    /// (`(acc − weak) / (strong − weak)`).
    pub policy_gap_recovered: f64,
}

/// The result of a replay.
#[derive(Clone, Debug, PartialEq)]
pub struct Replay {
    pub traffic: String,
    pub requests: u64,
    pub policy: Outcomes,
    /// Per slice of the policy: the policy's outcomes on it.
    pub slices: Vec<(String, Outcomes)>,
    /// Every model of the policy, in declaration order.
    pub models: Vec<ModelReplay>,
    pub oracle: Outcomes,
    /// Index into `models` of the best single model (highest accuracy, then
    /// lowest cost), among models with at least one outcome.
    pub best: Option<usize>,
    pub cpt: Option<Cpt>,
    /// Requests that went through a cascade (replayed with a perfect
    /// verifier) and requests whose cell was split.
    pub cascade_requests: u64,
    pub split_requests: u64,
}

/// What one replayed call or plan produced.
#[derive(Clone, Copy, Debug, Default)]
struct Call {
    success: bool,
    score: f64,
    cost: f64,
    latency: Option<f64>,
    ttft: Option<f64>,
    missing: bool,
    unpriced: bool,
    /// The answer's recorded output tokens.
    answer_tokens: Option<f64>,
}

#[derive(Clone, Debug, Default)]
struct Acc {
    n: u64,
    successes: u64,
    score: f64,
    cost: f64,
    latencies: Vec<f32>,
    ttfts: Vec<f32>,
    missing: u64,
    unpriced: u64,
}

impl Acc {
    fn add(&mut self, c: &Call, calls_missing: u64, calls_unpriced: u64) {
        self.n += 1;
        self.successes += u64::from(c.success);
        self.score += c.score;
        self.cost += c.cost;
        if let Some(l) = c.latency {
            self.latencies.push(l as f32);
        }
        if let Some(t) = c.ttft {
            self.ttfts.push(t as f32);
        }
        self.missing += calls_missing;
        self.unpriced += calls_unpriced;
    }

    fn finish(mut self) -> Outcomes {
        let n = self.n.max(1) as f64;
        let pct = |v: &mut Vec<f32>| {
            (!v.is_empty()).then(|| Percentiles {
                p50: quantile(v, 0.50).unwrap_or(0.0),
                p95: quantile(v, 0.95).unwrap_or(0.0),
                p99: quantile(v, 0.99).unwrap_or(0.0),
            })
        };
        Outcomes {
            requests: self.n,
            accuracy: self.successes as f64 / n,
            quality: self.score / n,
            cost: self.cost,
            cost_per_1k_requests: self.cost / n * 1000.0,
            cost_per_success: if self.successes == 0 {
                f64::INFINITY
            } else {
                self.cost / self.successes as f64
            },
            timed: self.latencies.len() as u64,
            latency: pct(&mut self.latencies),
            ttft: pct(&mut self.ttfts),
            missing: self.missing,
            unpriced: self.unpriced,
        }
    }
}

/// The recorded outcome of one call to `model`.
fn call(policy: &Policy, record: &BoundRecord, model: ModelId) -> Call {
    let Some(o) = record.outcome(model) else {
        return Call {
            missing: true,
            ..Call::default()
        };
    };
    let (cost, unpriced) = cost_of(policy, model, o);
    Call {
        success: o.succeeded(),
        score: o.score.unwrap_or(if o.succeeded() { 1.0 } else { 0.0 }),
        cost,
        latency: o.latency_s(),
        ttft: o.ttft_s(),
        missing: false,
        unpriced,
        answer_tokens: o.output_tokens.map(|n| n as f64),
    }
}

/// The judge of a replay: each answered request pays `share` of a judge
/// call for its prompt of `prompt_tokens` and its answer.
struct Judging {
    judge: model::Judge,
    share: f64,
    prompt_tokens: f64,
}

impl Judging {
    /// `c` with the judge's expected cost added when it is an answer.
    fn judged(judging: Option<&Judging>, mut c: Call) -> Call {
        if let Some(j) = judging.filter(|_| !c.missing) {
            let answer = c.answer_tokens.unwrap_or(model::DEFAULT_OUTPUT_TOKENS);
            c.cost += j.share * j.judge.call_cost(j.prompt_tokens, answer);
        }
        c
    }
}

fn cost_of(policy: &Policy, model: ModelId, o: &Outcome) -> (f64, bool) {
    if let Some(c) = o.cost_usd {
        return (c, false);
    }
    match (
        policy.models.get(model.index()),
        o.input_tokens,
        o.output_tokens,
    ) {
        (Some(m), i, out) if (i.is_some() || out.is_some()) && !m.price.is_empty() => (
            model::call_cost(&m.price, i.unwrap_or(0) as f64, out.unwrap_or(0) as f64),
            false,
        ),
        _ => (0.0, true),
    }
}

/// The links between the table and the policy the replay needs.
struct Links {
    /// `(policy signal, table signal)`.
    signals: Vec<(usize, usize)>,
    /// Table model index → policy model.
    models: Vec<ModelId>,
}

impl Links {
    fn new(policy: &Policy, table: &Table) -> Result<Links, SimError> {
        let mut signals = Vec::new();
        for (t, s) in table.signals.iter().enumerate() {
            let p = policy
                .signal_by_name(&s.name)
                .ok_or_else(|| SimError::Mismatch(format!("unknown signal `{}`", s.name)))?;
            signals.push((p.index(), t));
        }
        let models = table
            .models
            .iter()
            .map(|m| {
                policy
                    .model_by_name(&m.name)
                    .ok_or_else(|| SimError::Mismatch(format!("unknown model `{}`", m.name)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Links { signals, models })
    }

    fn model(&self, table_model: u32) -> Option<ModelId> {
        self.models.get(table_model as usize).copied()
    }
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Enum(i) => *i as f64,
        Value::Number(x) => *x,
    }
}

/// Executes table plan `plan` on a record; `tried` gets one entry per model
/// call (policy model index). Returns the final answer's call with the
/// summed cost and sequential latency.
fn execute(
    policy: &Policy,
    table: &Table,
    links: &Links,
    record: &BoundRecord,
    plan: u32,
    tried: &mut Vec<(ModelId, Call)>,
    depth: usize,
) -> Option<Call> {
    let kind = &table.plans.get(plan as usize)?.kind;
    match kind {
        PlanKind::Target { model } => {
            let m = links.model(*model)?;
            let c = call(policy, record, m);
            tried.push((m, c));
            Some(c)
        }
        PlanKind::Chain { plans } => {
            // Faults are not recorded: the first plan answers.
            let first = *plans.first()?;
            if depth > 16 {
                return None;
            }
            execute(policy, table, links, record, first, tried, depth + 1)
        }
        PlanKind::Cascade { models, .. } => {
            let mut total = Call::default();
            let mut elapsed = Some(0.0);
            let mut last = None;
            for (i, &tm) in models.iter().enumerate() {
                let m = links.model(tm)?;
                let c = call(policy, record, m);
                tried.push((m, c));
                total.cost += c.cost;
                let final_answer = c.success || i + 1 == models.len();
                if final_answer {
                    total.ttft = elapsed.zip(c.ttft).map(|(e, t)| e + t);
                }
                elapsed = elapsed.zip(c.latency).map(|(e, l)| e + l);
                last = Some(c);
                if final_answer {
                    break;
                }
            }
            let last = last?;
            Some(Call {
                success: last.success,
                score: last.score,
                cost: total.cost,
                latency: elapsed,
                ttft: total.ttft,
                missing: last.missing,
                unpriced: last.unpriced,
                answer_tokens: last.answer_tokens,
            })
        }
    }
}

/// Replays every record of `traffic` (named `name`) through `table`,
/// compiled from `policy`. `progress(done, total)` is called every
/// [`PROGRESS_STEP`] records and at the end.
pub fn replay(
    policy: &Policy,
    table: &Table,
    name: &str,
    traffic: &BoundTraffic,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Replay, SimError> {
    let links = Links::new(policy, table)?;
    let router = Router::new(table.clone()).map_err(|e| SimError::Table(e.to_string()))?;
    let total = traffic.records.len() as u64;
    let mut tally = Tally::new(policy, traffic.records.len());
    let mut request: Request = router.request();
    let mut values = vec![0.0; policy.signals.len()];
    let mut tried = Vec::new();
    let judge = model::Judge::of(policy);
    let share = judge.as_ref().map_or(0.0, |j| j.share_at(None));
    let mut judging = judge.filter(|_| share > 0.0).map(|judge| Judging {
        judge,
        share,
        prompt_tokens: 0.0,
    });
    // The prompt's length: recorded, else its declared default.
    let prompt = policy.signal_by_name("prompt_tokens").map(|s| {
        let default = match &policy.signal(s).default {
            Some(Value::Number(x)) => *x,
            _ => routec_check::DEFAULT_PROMPT_TOKENS,
        };
        (s.index(), default)
    });
    for (i, record) in traffic.records.iter().enumerate() {
        set_request(&mut request, &mut values, table, &links, record);
        if let (Some(j), Some((p, default))) = (judging.as_mut(), prompt) {
            j.prompt_tokens = match record.values.get(p) {
                Some(Some(v)) => number(v),
                _ => default,
            };
        }
        let decision = router.decide(&request);
        tally.count_plan(table, &decision);
        tried.clear();
        let out =
            execute(policy, table, &links, record, decision.plan, &mut tried, 0).unwrap_or(Call {
                missing: true,
                ..Call::default()
            });
        let out = Judging::judged(judging.as_ref(), out);
        tally.add_policy(policy, out, &tried, &values);
        tally.add_singles(policy, record, judging.as_ref());
        let done = i as u64 + 1;
        if done.is_multiple_of(PROGRESS_STEP) {
            progress(done, total);
        }
    }
    progress(total, total);
    Ok(tally.finish(policy, name, total))
}

/// Sets `request` to what a runtime would see of `record`: its recorded
/// signals and its key (its `id`, else `line:N`). `values` gets what the
/// slices see: the recorded values, else the table's defaults.
fn set_request(
    request: &mut Request,
    values: &mut [f64],
    table: &Table,
    links: &Links,
    record: &BoundRecord,
) {
    request.clear();
    values.fill(0.0);
    for &(p, t) in &links.signals {
        match record.values.get(p) {
            Some(Some(v)) => {
                request.set(t, number(v));
                values[p] = number(v);
            }
            _ => values[p] = table.signals.get(t).map_or(0.0, |s| s.default),
        }
    }
    let key = match &record.id {
        Some(id) => id.clone(),
        None => format!("line:{}", record.line),
    };
    request.set_key(&key);
}

/// The replay's running totals: the policy's (overall and per slice), each
/// single model's and the oracle's.
struct Tally {
    all: Acc,
    slices: Vec<Acc>,
    singles: Vec<Acc>,
    oracle: Acc,
    /// Per model, under the policy: calls, and requests it answered.
    calls: Vec<u64>,
    answered: Vec<u64>,
    cascade_requests: u64,
    split_requests: u64,
    /// Per model: which requests it got right (for the strong/weak pair).
    right: Vec<Vec<bool>>,
}

impl Tally {
    fn new(policy: &Policy, records: usize) -> Tally {
        let models = policy.models.len();
        Tally {
            all: Acc::default(),
            slices: vec![Acc::default(); policy.slices.len()],
            singles: vec![Acc::default(); models],
            oracle: Acc::default(),
            calls: vec![0u64; models],
            answered: vec![0u64; models],
            cascade_requests: 0,
            split_requests: 0,
            right: vec![Vec::with_capacity(records); models],
        }
    }

    /// Counts a decision's split cell and cascade plan.
    fn count_plan(&mut self, table: &Table, decision: &Decision) {
        if table
            .leaves
            .get(decision.leaf as usize)
            .is_some_and(|l| l.splits.len() > 1)
        {
            self.split_requests += 1;
        }
        if matches!(
            table.plans.get(decision.plan as usize).map(|p| &p.kind),
            Some(PlanKind::Cascade { .. })
        ) {
            self.cascade_requests += 1;
        }
    }

    /// Adds the policy's answer `out` to a request whose slices read
    /// `values`, after the calls `tried`.
    fn add_policy(
        &mut self,
        policy: &Policy,
        out: Call,
        tried: &[(ModelId, Call)],
        values: &[f64],
    ) {
        let missing = tried.iter().filter(|(_, c)| c.missing).count() as u64;
        let unpriced = tried.iter().filter(|(_, c)| c.unpriced).count() as u64;
        // A latency counts only if every model tried had one.
        let out = if tried.iter().all(|(_, c)| c.latency.is_some()) {
            out
        } else {
            Call {
                latency: None,
                ttft: None,
                ..out
            }
        };
        self.all.add(&out, missing, unpriced);
        for (s, acc) in self.slices.iter_mut().enumerate() {
            if policy
                .slices
                .get(s)
                .is_some_and(|d| policy.holds(&d.cond, values))
            {
                acc.add(&out, missing, unpriced);
            }
        }
        for (m, _) in tried {
            self.calls[m.index()] += 1;
        }
        if let Some((m, _)) = tried.last() {
            self.answered[m.index()] += 1;
        }
    }

    /// Adds `record` to every single model, and to the oracle.
    fn add_singles(&mut self, policy: &Policy, record: &BoundRecord, judging: Option<&Judging>) {
        let mut best: Option<Call> = None;
        let mut cheapest: Option<Call> = None;
        for (m, acc) in self.singles.iter_mut().enumerate() {
            let c = Judging::judged(judging, call(policy, record, ModelId(m as u32)));
            acc.add(&c, u64::from(c.missing), u64::from(c.unpriced));
            self.right[m].push(c.success);
            if c.missing {
                continue;
            }
            if c.success && best.is_none_or(|b| c.cost < b.cost) {
                best = Some(c);
            }
            if cheapest.is_none_or(|b| c.cost < b.cost) {
                cheapest = Some(c);
            }
        }
        let o = best.or(cheapest).unwrap_or(Call {
            missing: true,
            ..Call::default()
        });
        self.oracle
            .add(&o, u64::from(o.missing), u64::from(o.unpriced));
    }

    /// The report of `total` replayed requests of traffic `name`.
    fn finish(self, policy: &Policy, name: &str, total: u64) -> Replay {
        let n = total.max(1) as f64;
        let models: Vec<ModelReplay> = self
            .singles
            .into_iter()
            .enumerate()
            .map(|(m, acc)| ModelReplay {
                name: policy.models[m].name.clone(),
                latencies: acc.latencies.clone(),
                outcomes: acc.finish(),
                calls: self.calls[m] as f64 / n,
                answered: self.answered[m] as f64 / n,
            })
            .collect();
        let (best, cheapest) = best_and_cheapest(&models);
        let policy_out = self.all.finish();
        let cpt = cpt(&self.right, &models, best, cheapest, &policy_out, n);
        Replay {
            traffic: name.to_owned(),
            requests: total,
            policy: policy_out,
            slices: self
                .slices
                .into_iter()
                .zip(&policy.slices)
                .map(|(acc, s)| (s.name.clone(), acc.finish()))
                .collect(),
            models,
            oracle: self.oracle.finish(),
            best,
            cpt,
            cascade_requests: self.cascade_requests,
            split_requests: self.split_requests,
        }
    }
}

/// Among the models with at least one outcome: the best (highest accuracy,
/// then lowest cost) and the cheapest.
fn best_and_cheapest(models: &[ModelReplay]) -> (Option<usize>, Option<usize>) {
    let labeled = |m: &ModelReplay| m.outcomes.missing < m.outcomes.requests;
    let best = models
        .iter()
        .enumerate()
        .filter(|(_, m)| labeled(m))
        .min_by(|(_, a), (_, b)| {
            b.outcomes
                .accuracy
                .total_cmp(&a.outcomes.accuracy)
                .then(a.outcomes.cost.total_cmp(&b.outcomes.cost))
        })
        .map(|(i, _)| i);
    let cheapest = models
        .iter()
        .enumerate()
        .filter(|(_, m)| labeled(m))
        .min_by(|(_, a), (_, b)| a.outcomes.cost.total_cmp(&b.outcomes.cost))
        .map(|(i, _)| i);
    (best, cheapest)
}

/// The call-performance threshold of the strong/weak pair (`None` when
/// they are one model or the strong one is not better on `n` requests).
fn cpt(
    right: &[Vec<bool>],
    models: &[ModelReplay],
    strong: Option<usize>,
    weak: Option<usize>,
    policy: &Outcomes,
    n: f64,
) -> Option<Cpt> {
    let (Some(s), Some(w)) = (strong, weak) else {
        return None;
    };
    if s == w {
        return None;
    }
    let strong_only = right[s]
        .iter()
        .zip(&right[w])
        .filter(|(a, b)| **a && !**b)
        .count() as u64;
    let weak_only = right[s]
        .iter()
        .zip(&right[w])
        .filter(|(a, b)| !**a && **b)
        .count() as u64;
    let gap = strong_only as f64 - weak_only as f64;
    let (acc_s, acc_w) = (models[s].outcomes.accuracy, models[w].outcomes.accuracy);
    (gap > 0.0).then(|| Cpt {
        strong: s,
        weak: w,
        strong_only,
        weak_only,
        cpt50: 0.5 * gap / n,
        cpt80: 0.8 * gap / n,
        policy_strong_share: models[s].answered,
        policy_gap_recovered: (policy.accuracy - acc_w) / (acc_s - acc_w),
    })
}
