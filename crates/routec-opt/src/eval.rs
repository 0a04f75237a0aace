//! The analytic estimate of a plan: expands faults, retries, fallbacks,
//! hedges and cascade escalations (see `docs/semantics.md`) into a mixture
//! of latency components, with its expected cost, quality and calls per
//! model.
//!
//! The answer length `N` is integrated over exactly, not by nodes: its axis
//! is cut at the lengths where some model's timeouts change (`R·(timeout −
//! cap)` and `R·timeout`), so that within a *piece* every attempt has the
//! same failure probabilities and caps; the ranges where a total
//! timeout starts to bite are cut finer ([`TRANSITION_STEP`]). A
//! component's latency is `shift + X + a·N` with `X` a model's (truncated,
//! hedged) TTFT and `N` restricted to its piece; `P(X + a·N > y)` is
//! `E_X[P(N > (y − X)/a)]`, the inner probability from the answer length's
//! CDF in closed form and the outer expectation by a quadrature in the
//! normal score of `X` ([`X_NODES`] nodes), tabulated once per distinct
//! `(model, cap, a, piece)`. TTFT survival functions are tabulated on a fine
//! log-time grid once per distinct TTFT distribution (models of the same
//! kind share them, and the tables built on them), on first use.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use routec_check::ir::{ModelId, PlanDef, Policy, Price, Rates};

use crate::model::{self, AttemptModel};
use crate::traffic::OutputDist;

/// Where a total timeout starts to fail attempts (`timeout − N/R` below the
/// TTFT cap), the answer-length axis is cut wherever the normal score of
/// the cap `timeout − N/R` in the model's TTFT distribution steps by this
/// much, down to [`TRANSITION_Z_MIN`].
pub const TRANSITION_STEP: f64 = 1.0;
/// See [`TRANSITION_STEP`].
pub const TRANSITION_Z_MIN: f64 = -3.0;
/// TTFT quadrature: this many nodes equally spaced in the normal score `z`
/// over `[−X_Z, X_Z]`, weighted by the normal density.
pub const X_NODES: usize = 25;
/// See [`X_NODES`].
pub const X_Z: f64 = 6.0;
/// Escalations in cascades add the earlier stage's TTFT as this many nodes,
/// equally spaced in `z` over `[−ESCALATION_Z, ESCALATION_Z]` with
/// normal-density weights.
pub const ESCALATION_NODES: usize = 9;
/// See [`ESCALATION_NODES`].
pub const ESCALATION_Z: f64 = 4.5;
/// Fault paths lighter than this (share of requests) stop branching: they
/// count as failed requests at the time reached.
pub const PRUNE: f64 = 1e-9;
/// A timeout probability below this counts as 0 (the cap as infinite).
const NEGLIGIBLE: f64 = 1e-12;

/// Mixtures of more parts than this share the exceedance of repeated
/// parts ([`Evaluator::mixture_quantile`]).
const DEDUPE_PARTS: usize = 16;

const GRID: usize = 4096;
const GRID_LO: f64 = -9.210_340_371_976_182; // ln 1e-4
const GRID_HI: f64 = 16.118_095_650_958_32; // ln 1e7
/// Points of a tabulated `P(X + a·N > y)`, equally spaced in `ln y`.
const KERNEL_GRID: usize = 128;
/// `ln(1 − Φ(z))` is tabulated over `[−SF_Z, SF_Z]` with this many points
/// per unit of `z`.
const SF_Z: f64 = 9.0;
const SF_PER_UNIT: usize = 512;

/// The standard normal survival `1 − Φ(z)` from a table of its logarithm
/// (relative error below 1e-6), for the inner loops of kernel tables.
#[derive(Clone, Debug)]
struct FastSf {
    ln_sf: Vec<f64>,
}

impl FastSf {
    fn new() -> FastSf {
        let n = (2.0 * SF_Z) as usize * SF_PER_UNIT + 1;
        let ln_sf = (0..n)
            .map(|i| model::norm_sf(-SF_Z + i as f64 / SF_PER_UNIT as f64).ln())
            .collect();
        FastSf { ln_sf }
    }

    fn sf(&self, z: f64) -> f64 {
        let x = (z + SF_Z) * SF_PER_UNIT as f64;
        if x.is_nan() || x <= 0.0 {
            return if z.is_nan() { 0.0 } else { 1.0 };
        }
        let last = self.ln_sf.len() - 1;
        if x >= last as f64 {
            return 0.0;
        }
        let i = x as usize;
        let f = x - i as f64;
        (self.ln_sf[i] * (1.0 - f) + self.ln_sf[i + 1] * f).exp()
    }
}

/// `P(TTFT > t)` of one model's attempt (hedging included), tabulated.
#[derive(Clone, Debug)]
struct Survival {
    s: Vec<f64>,
}

impl Survival {
    fn new(a: &AttemptModel) -> Survival {
        let step = (GRID_HI - GRID_LO) / (GRID - 1) as f64;
        let ts: Vec<f64> = (0..GRID)
            .map(|i| (GRID_LO + step * i as f64).exp())
            .collect();
        Survival {
            s: a.ttft_exceedances(&ts),
        }
    }

    fn at(&self, t: f64) -> f64 {
        if t.is_nan() || t <= 0.0 {
            return 1.0;
        }
        let x = (t.ln() - GRID_LO) / (GRID_HI - GRID_LO) * (GRID - 1) as f64;
        if x <= 0.0 {
            return self.s[0];
        }
        if x >= (GRID - 1) as f64 {
            return 0.0;
        }
        let i = x as usize;
        let f = x - i as f64;
        self.s[i] * (1.0 - f) + self.s[i + 1] * f
    }

    fn grid_t(i: usize) -> f64 {
        (GRID_LO + (GRID_HI - GRID_LO) / (GRID - 1) as f64 * i as f64).exp()
    }

    /// `P(X > y | X <= cap)`.
    fn truncated(&self, y: f64, cap: f64, s_cap: f64) -> f64 {
        if y >= cap {
            return 0.0;
        }
        if y <= 0.0 {
            return 1.0;
        }
        let norm = 1.0 - s_cap;
        if norm <= 0.0 {
            return 0.0;
        }
        ((self.at(y) - s_cap) / norm).clamp(0.0, 1.0)
    }

    /// `E[X | X <= cap]` by the trapezoid rule on the grid.
    fn truncated_mean(&self, cap: f64) -> f64 {
        let s_cap = if cap.is_finite() { self.at(cap) } else { 0.0 };
        let norm = 1.0 - s_cap;
        if norm <= 1e-300 {
            return cap.max(0.0);
        }
        let mut acc = Self::grid_t(0) * (1.0 - s_cap) / norm;
        let mut prev_t = Self::grid_t(0);
        let mut prev_v = (self.s[0] - s_cap) / norm;
        for i in 1..GRID {
            let t = Self::grid_t(i);
            let (t, v, last) = if t >= cap {
                (cap, 0.0, true)
            } else {
                (t, ((self.s[i] - s_cap) / norm).max(0.0), false)
            };
            acc += (t - prev_t) * (v + prev_v) / 2.0;
            if last {
                break;
            }
            prev_t = t;
            prev_v = v;
        }
        acc
    }

    /// The `u`-quantile of `X | X <= cap`.
    fn truncated_quantile(&self, cap: f64, u: f64) -> f64 {
        let s_cap = if cap.is_finite() { self.at(cap) } else { 0.0 };
        let target = 1.0 - u * (1.0 - s_cap);
        let (mut lo, mut hi) = (GRID_LO, if cap.is_finite() { cap.ln() } else { GRID_HI });
        for _ in 0..48 {
            let mid = (lo + hi) / 2.0;
            if self.at(mid.exp()) > target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        ((lo + hi) / 2.0).exp()
    }
}

/// Nodes `(weight, z)` equally spaced in `z` over `[−z_max, z_max]` with
/// normal-density weights summing to 1.
fn z_nodes(k: usize, z_max: f64) -> Vec<(f64, f64)> {
    let k = k.max(1);
    if k == 1 {
        return vec![(1.0, 0.0)];
    }
    let h = 2.0 * z_max / (k - 1) as f64;
    let raw: Vec<(f64, f64)> = (0..k)
        .map(|i| {
            let z = -z_max + h * i as f64;
            ((-z * z / 2.0).exp(), z)
        })
        .collect();
    let total: f64 = raw.iter().map(|r| r.0).sum();
    raw.into_iter().map(|(w, z)| (w / total, z)).collect()
}

/// `P(X + a·N > y)` for one model's truncated TTFT `X` (or `X = 0`) and the
/// answer length restricted to a piece, tabulated in `ln y`.
#[derive(Clone, Debug)]
struct Kernel {
    ln_y0: f64,
    step: f64,
    v: Vec<f64>,
}

impl Kernel {
    fn at(&self, y: f64) -> f64 {
        if y.is_nan() || y <= 0.0 {
            return 1.0;
        }
        let x = (y.ln() - self.ln_y0) / self.step;
        let last = self.v.len() - 1;
        if x <= 0.0 {
            return self.v[0];
        }
        if x >= last as f64 {
            return 0.0;
        }
        let i = x as usize;
        let f = x - i as f64;
        let p = |j: isize| self.v[j.clamp(0, last as isize) as usize];
        let i = i as isize;
        let (p0, p1, p2, p3) = (p(i - 1), p(i), p(i + 1), p(i + 2));
        // Catmull–Rom.
        let v = p1
            + 0.5
                * f
                * (p2 - p0
                    + f * (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3 + f * (3.0 * (p1 - p2) + p3 - p0)));
        v.clamp(p2.min(p1), p1.max(p2))
    }
}

/// A piece of the answer-length axis: `lo < N <= hi` (`lo == hi`: exactly
/// `lo`), its probability and conditional mean.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Piece {
    lo: f64,
    hi: f64,
    mass: f64,
    mean: f64,
}

/// A successful answer: TTFT = `shift + X + at·N`, E2E = `shift + X +
/// ae·N`, with `X` the model's TTFT given `X <= cap` and `N` the answer
/// length in `(lo, hi]` (exactly `lo` when `lo == hi`).
#[derive(Clone, Debug, PartialEq)]
pub struct Comp {
    /// Share of requests.
    pub w: f64,
    pub shift: f64,
    /// Seconds per output token in the TTFT and in the E2E latency.
    pub at: f64,
    pub ae: f64,
    pub lo: f64,
    pub hi: f64,
    pub model: u32,
    pub cap: f64,
    s_cap: f64,
    pub quality: f64,
    kt: Option<u32>,
    ke: Option<u32>,
}

/// Failed requests: `w` of them, after `shift + a·N` seconds (`N` in
/// `(lo, hi]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Fail {
    pub w: f64,
    pub shift: f64,
    pub a: f64,
    pub lo: f64,
    pub hi: f64,
    k: Option<u32>,
}

/// What one request of a plan asks of and pays to one model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelUse {
    /// Expected calls, refused ones included.
    pub calls: f64,
    /// Expected answer tokens of those calls (each call's tokens are its
    /// prompt plus these; `crate::load`).
    pub tokens_out: f64,
    /// Expected seconds of service of those calls at light load
    /// (`crate::load::Demand::busy`).
    pub busy: f64,
    /// Per prompt-length segment (below the first tier, then above each,
    /// like [`PlanEval::tier_costs`]): the part of the expected cost paid
    /// to it, as `(fixed, per prompt token)`.
    pub cost: Vec<(f64, f64)>,
}

/// What a plan asks of each model it may call, by model index. Sparse: a
/// plan calls a few of the policy's models, and a policy with thousands of
/// models has thousands of distinct plans, so a dense vector per plan would
/// grow with the square of the policy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Calls(Vec<(usize, ModelUse)>);

impl Calls {
    /// The expected calls to model `m`; `None` when the plan never calls it.
    pub fn get(&self, m: usize) -> Option<&f64> {
        self.of(m).map(|u| &u.calls)
    }

    /// What the plan asks of model `m`; `None` when it never calls it.
    pub fn of(&self, m: usize) -> Option<&ModelUse> {
        self.0
            .binary_search_by_key(&m, |e| e.0)
            .ok()
            .map(|i| &self.0[i].1)
    }

    /// `(model index, expected calls)` of every model the plan calls, in
    /// model order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.0.iter().map(|(m, u)| (*m, u.calls))
    }

    /// The entry of model `m`, created with `segments` cost segments.
    fn entry(&mut self, m: usize, segments: usize) -> &mut ModelUse {
        let i = match self.0.binary_search_by_key(&m, |e| e.0) {
            Ok(i) => i,
            Err(i) => {
                let fresh = ModelUse {
                    cost: vec![(0.0, 0.0); segments],
                    ..ModelUse::default()
                };
                self.0.insert(i, (m, fresh));
                i
            }
        };
        &mut self.0[i].1
    }
}

/// The estimate of one plan for one kind of request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanEval {
    pub comps: Vec<Comp>,
    pub fails: Vec<Fail>,
    /// Expected cost = `cost_fixed + cost_per_input × prompt tokens` for
    /// prompts below every price tier's threshold.
    pub cost_fixed: f64,
    pub cost_per_input: f64,
    /// `(threshold, cost_fixed, cost_per_input)` for prompts longer than
    /// each threshold of the models' price tiers (sorted): cost is linear
    /// in the prompt length between two thresholds. Empty without tiers.
    pub tier_costs: Vec<(f64, f64, f64)>,
    /// Expected quality.
    pub quality: f64,
    /// The share of requests answered (some plan succeeded): the share a
    /// judge samples from.
    pub answered: f64,
    /// The expected answer tokens of answered requests, per request of the
    /// plan (`Σ w·N` over the answers): `answer_tokens / answered` is the
    /// mean answer length of an answered request.
    pub answer_tokens: f64,
    /// The policy's judge at the profile's rate (`None` without one).
    pub judging: Option<Arc<Judging>>,
    /// An upper bound on the variance of `quality` from the models'
    /// estimated qualities ([`PlanEval::variance_of`]; 0 without
    /// `slo { confidence ... }`).
    pub quality_var: f64,
    /// Per model the plan may call: what it asks of and pays to it.
    pub calls: Calls,
    pub mean_e2e: f64,
    pub mean_ttft: f64,
    /// The failures at fixed times: `(time, share failing at or after
    /// it)`, sorted by time.
    steps: Vec<(f64, f64)>,
}

impl PlanEval {
    /// An upper bound on the variance of the plan's quality when each
    /// model's quality in the cell has variance `var[m]`: `Σ_k w_k v(m_k)`
    /// over the components (the quality is `Σ_k w_k q(m_k)`; components of
    /// one model are perfectly correlated, and `(Σ w)² ≤ Σ w` for shares
    /// summing to at most 1). For a cascade, whose escalation shares
    /// depend on the qualities, the shares are those of the means.
    pub fn variance_of(&self, var: &[f64]) -> f64 {
        self.comps
            .iter()
            .map(|c| c.w * var.get(c.model as usize).copied().unwrap_or(0.0))
            .sum()
    }

    /// The expected cost of a request with `prompt_tokens` tokens of
    /// prompt: its calls ([`PlanEval::routed_cost`]) and the judge's
    /// ([`PlanEval::judge_cost`]). What every cost and spend figure of the
    /// optimizer is made of.
    pub fn cost(&self, prompt_tokens: f64) -> f64 {
        self.routed_cost(prompt_tokens) + self.judge_cost(prompt_tokens)
    }

    /// The expected cost of the plan's own calls (attempts, duplicates,
    /// fallbacks, escalations) for a request with `prompt_tokens` tokens of
    /// prompt. Exact for a cell's mean prompt length: cells never straddle
    /// a price tier's threshold (`cells.rs` cuts there).
    pub fn routed_cost(&self, prompt_tokens: f64) -> f64 {
        match self.tier_costs.iter().rev().find(|t| prompt_tokens > t.0) {
            Some(&(_, fixed, per_input)) => fixed + per_input * prompt_tokens,
            None => self.cost_fixed + self.cost_per_input * prompt_tokens,
        }
    }

    /// The expected cost of judging a request with `prompt_tokens` tokens
    /// of prompt: `s × P(answered) × judge call cost(prompt, mean answer of
    /// an answered request)` (`docs/semantics.md`, "The judge"). Exact
    /// while the judge's input stays within one of its price tiers (the
    /// call's cost is linear in its input there); 0 without a judge.
    pub fn judge_cost(&self, prompt_tokens: f64) -> f64 {
        match &self.judging {
            Some(j) if self.answered > 0.0 => {
                let answer = self.answer_tokens / self.answered;
                j.share * self.answered * j.judge.call_cost(prompt_tokens, answer)
            }
            _ => 0.0,
        }
    }

    /// The expected cost paid to model `m` for prompts of `prompt_tokens`
    /// by the plan's calls (its part of [`PlanEval::routed_cost`]; the
    /// judge's cost is nobody's part, even when the judge is also routed).
    pub fn cost_of(&self, m: usize, prompt_tokens: f64) -> f64 {
        let segment = self
            .tier_costs
            .iter()
            .rposition(|t| prompt_tokens > t.0)
            .map_or(0, |j| j + 1);
        self.calls
            .of(m)
            .and_then(|u| u.cost.get(segment))
            .map_or(0.0, |(fixed, per)| fixed + per * prompt_tokens)
    }

    /// What one request of this plan asks of model `m` (calls, tokens,
    /// busy seconds), for prompts of `prompt_tokens`.
    pub fn demand(&self, m: usize, prompt_tokens: f64) -> crate::load::Demand {
        match self.calls.of(m) {
            Some(u) => crate::load::Demand {
                calls: u.calls,
                tokens: u.calls * prompt_tokens + u.tokens_out,
                busy: u.busy,
            },
            None => crate::load::Demand::default(),
        }
    }
}

/// The rates of `price` for prompts longer than `lower` tokens (`None`:
/// the shortest prompts) and no longer than the next threshold of any
/// model: the model's tier with the largest threshold at most `lower`.
fn segment_rates(price: &Price, lower: Option<f64>) -> Rates {
    let tier = lower.and_then(|l| price.tiers.iter().rev().find(|t| t.above <= l));
    match tier {
        Some(t) => Rates {
            input_per_token: t.input_per_token.unwrap_or(0.0),
            output_per_token: t.output_per_token.unwrap_or(0.0),
            per_request: t.per_request.unwrap_or(0.0),
        },
        None => price.rates(0.0),
    }
}

/// The policy's judge at the rate a table is compiled for: every plan's
/// answered requests are judged with probability `share`.
#[derive(Clone, Debug, PartialEq)]
pub struct Judging {
    pub judge: model::Judge,
    /// The share of answered requests judged (`Judge::share_at` the
    /// profile's `qps`).
    pub share: f64,
}

type KernelKey = (u32, u64, u64, u64, u64);

/// Evaluates plans against one policy and traffic (answer lengths).
#[derive(Debug)]
pub struct Evaluator {
    /// Per model: its fault fallback.
    fallback: Vec<Option<ModelId>>,
    /// Per model: its price.
    prices: Vec<Price>,
    attempts: Vec<AttemptModel>,
    /// Per model: its TTFT class. Models whose attempts have the same TTFT
    /// distribution (same quantiles, same hedge) share one class, and the
    /// tables below are kept per class, so a policy with thousands of
    /// deployments of a few kinds tabulates a few distributions.
    class: Vec<u32>,
    /// Per class: a model of it.
    class_model: Vec<u32>,
    /// Per class: its TTFT survival, tabulated on first use.
    surv: Vec<OnceLock<Survival>>,
    /// Every price tier's threshold (tokens), sorted, once each: the
    /// prompt-length segments costs are kept for.
    tiers: Vec<f64>,
    /// Per model: its mean TTFT at light load (the busy time of a call).
    ttft_light: Vec<f64>,
    output: OutputDist,
    means: HashMap<(u32, u64), f64>,
    xnodes: HashMap<(u32, u64), Vec<(f64, f64)>>,
    escalation: HashMap<(u32, u64), Vec<(f64, f64)>>,
    kernels: Vec<Kernel>,
    kernel_of: HashMap<KernelKey, u32>,
    fast_sf: FastSf,
    judging: Option<Arc<Judging>>,
}

struct Acc {
    comps: Vec<Comp>,
    fails: Vec<Fail>,
    /// Per prompt-length segment (below the first tier threshold, then
    /// above each).
    cost_fixed: Vec<f64>,
    cost_per_input: Vec<f64>,
    calls: Calls,
    answered: f64,
    answer_tokens: f64,
}

/// `(share, seconds spent, seconds per output token spent)`.
type Branch = (f64, f64, f64);

impl Evaluator {
    /// An evaluator for traffic with answer lengths `output` at `qps`
    /// requests per second (the profile's declared rate, which sets the
    /// judge's share; `None`: undeclared).
    pub fn new(policy: &Policy, output: OutputDist, qps: Option<f64>) -> Evaluator {
        Evaluator::with_load(policy, output, qps, &[])
    }

    /// An evaluator whose models are under the given loads (`loads[m]`;
    /// missing entries: idle, the declared model). `qps` is the profile's
    /// declared rate, as for [`Evaluator::new`].
    pub fn with_load(
        policy: &Policy,
        output: OutputDist,
        qps: Option<f64>,
        loads: &[crate::load::ModelLoad],
    ) -> Evaluator {
        let attempts: Vec<AttemptModel> = (0..policy.models.len())
            .map(|i| {
                let a = AttemptModel::new(policy, ModelId(i as u32));
                match loads.get(i) {
                    Some(l) => a.under(l),
                    None => a,
                }
            })
            .collect();
        let ttft_light = policy
            .models
            .iter()
            .map(|m| {
                model::ModelLatency::of(m)
                    .ttft
                    .partial_mean(0.0, f64::INFINITY)
            })
            .collect();
        let mut class = Vec::with_capacity(attempts.len());
        let mut class_model = Vec::new();
        let mut class_of: HashMap<Vec<u64>, u32> = HashMap::new();
        for (m, a) in attempts.iter().enumerate() {
            let mut key = match a.hedge {
                None => vec![0],
                Some(h) => vec![1, h.to_bits()],
            };
            a.latency.ttft.push_bits(&mut key);
            let k = *class_of.entry(key).or_insert_with(|| {
                class_model.push(m as u32);
                (class_model.len() - 1) as u32
            });
            class.push(k);
        }
        let surv = class_model.iter().map(|_| OnceLock::new()).collect();
        let mut tiers: Vec<f64> = policy
            .models
            .iter()
            .flat_map(|m| m.price.thresholds())
            .collect();
        tiers.sort_by(f64::total_cmp);
        tiers.dedup();
        Evaluator {
            fallback: policy.models.iter().map(|m| m.fallback).collect(),
            prices: policy.models.iter().map(|m| m.price.clone()).collect(),
            attempts,
            class,
            class_model,
            tiers,
            ttft_light,
            surv,
            output,
            means: HashMap::new(),
            xnodes: HashMap::new(),
            escalation: HashMap::new(),
            kernels: Vec::new(),
            kernel_of: HashMap::new(),
            fast_sf: FastSf::new(),
            judging: model::Judge::of(policy)
                .map(|judge| Judging {
                    share: judge.share_at(qps),
                    judge,
                })
                .filter(|j| j.share > 0.0)
                .map(Arc::new),
        }
    }

    /// Evaluates `plan` for requests where model `m` has quality
    /// `quality[m]` (`None`: no figure, counted as 0).
    pub fn eval(&mut self, plan: &PlanDef, quality: &[Option<f64>]) -> PlanEval {
        let acc = self.accumulate(plan, quality);
        self.finish(acc)
    }

    /// [`Evaluator::eval`] without the latency distribution: costs, calls,
    /// demand and quality only (the load's fixed point needs no more).
    pub fn eval_light(&mut self, plan: &PlanDef, quality: &[Option<f64>]) -> PlanEval {
        let acc = self.accumulate(plan, quality);
        PlanEval {
            cost_fixed: acc.cost_fixed[0],
            cost_per_input: acc.cost_per_input[0],
            tier_costs: self.tier_costs(&acc),
            quality: acc.comps.iter().map(|c| c.w * c.quality).sum(),
            answered: acc.answered,
            answer_tokens: acc.answer_tokens,
            judging: self.judging.clone(),
            calls: acc.calls,
            ..PlanEval::default()
        }
    }

    fn accumulate(&mut self, plan: &PlanDef, quality: &[Option<f64>]) -> Acc {
        let segments = self.tiers.len() + 1;
        let mut acc = Acc {
            comps: Vec::new(),
            fails: Vec::new(),
            cost_fixed: vec![0.0; segments],
            cost_per_input: vec![0.0; segments],
            calls: Calls::default(),
            answered: 0.0,
            answer_tokens: 0.0,
        };
        for piece in self.pieces(plan) {
            let before = acc.comps.len();
            self.plan(plan, quality, &piece, piece.mass, 0.0, 0.0, &mut acc);
            // The answers of this piece (answers are only ever added).
            let w: f64 = acc.comps[before..].iter().map(|c| c.w).sum();
            acc.answered += w;
            acc.answer_tokens += w * piece.mean;
        }
        acc
    }

    /// `(threshold, cost_fixed, cost_per_input)` above each tier.
    fn tier_costs(&self, acc: &Acc) -> Vec<(f64, f64, f64)> {
        self.tiers
            .iter()
            .enumerate()
            .map(|(j, &t)| (t, acc.cost_fixed[j + 1], acc.cost_per_input[j + 1]))
            .collect()
    }

    fn finish(&mut self, acc: Acc) -> PlanEval {
        let mut e = PlanEval {
            cost_fixed: acc.cost_fixed[0],
            cost_per_input: acc.cost_per_input[0],
            tier_costs: self.tier_costs(&acc),
            answered: acc.answered,
            answer_tokens: acc.answer_tokens,
            judging: self.judging.clone(),
            calls: acc.calls,
            ..PlanEval::default()
        };
        let mut comps = merge_comps(&self.output, acc.comps);
        let mut fails = merge_fails(&self.output, acc.fails);
        for f in &mut fails {
            let n = self.mean_n(f.lo, f.hi);
            e.mean_e2e += f.w * (f.shift + f.a * n);
            e.mean_ttft += f.w * (f.shift + f.a * n);
            if f.a > 0.0 && f.hi > f.lo {
                f.k = Some(self.kernel(None, 0.0, f.a, f.lo, f.hi));
            }
        }
        for c in &mut comps {
            let m = self.truncated_mean(c.model, c.cap);
            let n = self.mean_n(c.lo, c.hi);
            e.mean_e2e += c.w * (c.shift + m + c.ae * n);
            e.mean_ttft += c.w * (c.shift + m + c.at * n);
            e.quality += c.w * c.quality;
            if c.hi > c.lo {
                if c.at > 0.0 {
                    c.kt = Some(self.kernel(Some(c.model), c.cap, c.at, c.lo, c.hi));
                }
                if c.ae > 0.0 {
                    c.ke = Some(self.kernel(Some(c.model), c.cap, c.ae, c.lo, c.hi));
                }
            }
        }
        let mut steps: Vec<(f64, f64)> = fails
            .iter()
            .filter(|f| f.k.is_none())
            .map(|f| (f.shift + f.a * f.lo, f.w))
            .collect();
        steps.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut tail = 0.0;
        for st in steps.iter_mut().rev() {
            tail += st.1;
            st.1 = tail;
        }
        e.steps = steps;
        e.comps = comps;
        e.fails = fails;
        e
    }

    /// Whether the latency, cost and calls of `plan` do not depend on the
    /// models' qualities (only a cascade's acceptance does), so that
    /// [`Evaluator::requalify`] can derive its estimates for other
    /// qualities from one evaluation.
    pub fn quality_free(plan: &PlanDef) -> bool {
        match plan {
            PlanDef::Cascade { .. } => false,
            PlanDef::Chain(ps) => ps.iter().all(Self::quality_free),
            PlanDef::Optimize { candidates, .. } => candidates.iter().all(Self::quality_free),
            PlanDef::Target(_) | PlanDef::Split(_) | PlanDef::Error => true,
        }
    }

    /// `self.eval(plan, quality)` from `base = self.eval(plan, other)` for
    /// a [`Evaluator::quality_free`] plan, bit for bit: every answer's
    /// quality is its model's, and nothing else depends on it (answers
    /// merge by model, so their order does not depend on it either).
    pub fn requalify(&self, base: &PlanEval, quality: &[Option<f64>]) -> PlanEval {
        let mut e = base.clone();
        e.quality = 0.0;
        for c in &mut e.comps {
            c.quality = quality_of(quality, c.model);
            e.quality += c.w * c.quality;
        }
        e
    }

    /// `E[N | lo < N <= hi]` (`lo` when `lo == hi`).
    fn mean_n(&self, lo: f64, hi: f64) -> f64 {
        if hi <= lo {
            return lo;
        }
        let m = self.output.mass(lo, hi);
        if m <= 0.0 {
            return if hi.is_finite() { (lo + hi) / 2.0 } else { lo };
        }
        (self.output.partial_mean(lo, hi) / m).clamp(lo, hi)
    }

    /// The models a plan may call (fallbacks included).
    fn reachable(&self, plan: &PlanDef, out: &mut Vec<ModelId>) {
        let add = |m: ModelId, out: &mut Vec<ModelId>| {
            let mut cur = Some(m);
            for _ in 0..model::MAX_FALLBACK_DEPTH {
                let Some(c) = cur else { break };
                if out.contains(&c) {
                    break;
                }
                out.push(c);
                cur = self.fallback.get(c.index()).copied().flatten();
            }
        };
        match plan {
            PlanDef::Target(m) => add(*m, out),
            PlanDef::Split(es) => es.iter().for_each(|(m, _)| add(*m, out)),
            PlanDef::Chain(ps) => ps.iter().for_each(|p| self.reachable(p, out)),
            PlanDef::Cascade { stages, .. } => stages.iter().for_each(|m| add(*m, out)),
            PlanDef::Optimize { .. } | PlanDef::Error => {}
        }
    }

    /// The answer-length pieces of a plan: cut where a reachable model's
    /// timeouts change, transitions cut finer.
    fn pieces(&self, plan: &PlanDef) -> Vec<Piece> {
        let (lo, hi) = match &self.output {
            OutputDist::Point(v) => {
                return vec![Piece {
                    lo: *v,
                    hi: *v,
                    mass: 1.0,
                    mean: *v,
                }];
            }
            OutputDist::Quantiles(_) => (0.0, f64::INFINITY),
            OutputDist::Uniform(a, b) => (*a, *b),
        };
        let mut models = Vec::new();
        self.reachable(plan, &mut models);
        let mut cuts = vec![lo, hi];
        let z_eps = -model::norm_inv(NEGLIGIBLE);
        for m in models {
            let a = &self.attempts[m.index()];
            let Some(rate) = a.latency.decode_rate else {
                continue;
            };
            // A cap on the first-token time X that falls linearly with N:
            // `X <= limit − (reasoning tokens + per_token·N)/R`, for the
            // total timeout (`per_token` = 1 + reasoning per output token)
            // and, when reasoning grows with the answer, the TTFT timeout.
            // The answer length where the cap is `x`:
            let (fixed, per_output) = (a.reasoning.tokens, a.reasoning.per_output_token);
            let length =
                |limit: f64, x: f64, per_token: f64| (rate * (limit - x) - fixed) / per_token;
            let x_eps = a.latency.ttft.ln_at_z(z_eps).exp();
            let mut lines: Vec<(f64, f64, f64)> = Vec::new();
            if let Some(total) = a.timeout {
                // Below the start the TTFT cap binds (or the total timeout
                // cannot bite).
                let ttft_cap = a.ttft_timeout.map_or(f64::INFINITY, |t| t - fixed / rate);
                let start = if per_output > 0.0 {
                    x_eps
                } else {
                    ttft_cap.min(x_eps)
                };
                lines.push((total, 1.0 + per_output, start));
            }
            if per_output > 0.0
                && let Some(t) = a.ttft_timeout
            {
                lines.push((t, per_output, x_eps));
            }
            for (limit, per_token, c0) in lines {
                // Below `n1` the cap does not bite; beyond `n2` every
                // attempt times out. In between the cap sweeps the TTFT
                // distribution: cut where its normal score steps by
                // TRANSITION_STEP, down to TRANSITION_Z_MIN.
                let n2 = length(limit, 0.0, per_token);
                let n1 = length(limit, c0, per_token).max(0.0);
                let mut z = a.latency.ttft.z_at(c0);
                let mut transition = vec![n1, n2];
                while z > TRANSITION_Z_MIN {
                    let x = a.latency.ttft.ln_at_z(z).exp();
                    transition.push(length(limit, x, per_token));
                    z -= TRANSITION_STEP;
                }
                for c in transition {
                    if c > lo && c < hi {
                        cuts.push(c);
                    }
                }
            }
        }
        cuts.sort_by(f64::total_cmp);
        cuts.dedup();
        let mut out = Vec::new();
        for w in cuts.windows(2) {
            let (pl, ph) = (w[0], w[1]);
            let mass = self.output.mass(pl, ph);
            if mass < 1e-15 {
                continue;
            }
            out.push(Piece {
                lo: pl,
                hi: ph,
                mass,
                mean: self.mean_n(pl, ph),
            });
        }
        out
    }

    /// The TTFT survival of model `m`'s class, tabulated on first use.
    fn surv(&self, m: u32) -> &Survival {
        survival(
            &self.surv,
            &self.attempts,
            &self.class_model,
            self.class[m as usize],
        )
    }

    fn truncated_mean(&mut self, m: u32, cap: f64) -> f64 {
        let k = self.class[m as usize];
        let surv = survival(&self.surv, &self.attempts, &self.class_model, k);
        *self
            .means
            .entry((k, cap.to_bits()))
            .or_insert_with(|| surv.truncated_mean(cap))
    }

    fn nodes_of(surv: &Survival, cap: f64, k: usize, z_max: f64) -> Vec<(f64, f64)> {
        z_nodes(k, z_max)
            .into_iter()
            .map(|(w, z)| (w, surv.truncated_quantile(cap, model::norm_cdf(z))))
            .collect()
    }

    fn x_nodes(&mut self, m: u32, cap: f64) -> &[(f64, f64)] {
        let k = self.class[m as usize];
        let surv = survival(&self.surv, &self.attempts, &self.class_model, k);
        self.xnodes
            .entry((k, cap.to_bits()))
            .or_insert_with(|| Self::nodes_of(surv, cap, X_NODES, X_Z))
    }

    fn escalation_nodes(&mut self, m: u32, cap: f64) -> Vec<(f64, f64)> {
        let k = self.class[m as usize];
        let surv = survival(&self.surv, &self.attempts, &self.class_model, k);
        self.escalation
            .entry((k, cap.to_bits()))
            .or_insert_with(|| Self::nodes_of(surv, cap, ESCALATION_NODES, ESCALATION_Z))
            .clone()
    }

    /// The tabulated `P(X + a·N > y)` for `N` in `(lo, hi]`, `X` model `m`'s
    /// TTFT below `cap` (`None`: `X = 0`).
    fn kernel(&mut self, m: Option<u32>, cap: f64, a: f64, lo: f64, hi: f64) -> u32 {
        // Per class: the kernel depends on the model only through its TTFT.
        let key = (
            m.map_or(u32::MAX, |m| self.class[m as usize]),
            cap.to_bits(),
            a.to_bits(),
            lo.to_bits(),
            hi.to_bits(),
        );
        if let Some(&k) = self.kernel_of.get(&key) {
            return k;
        }
        let xs: Vec<(f64, f64)> = match m {
            Some(m) => self.x_nodes(m, cap).to_vec(),
            None => vec![(1.0, 0.0)],
        };
        let out = &self.output;
        let fast = &self.fast_sf;
        let sf = |n: f64| match out {
            OutputDist::Quantiles(q) if n > 0.0 => fast.sf(q.z_at(n)),
            _ => out.sf(n),
        };
        let s_hi = sf(hi);
        let mass = (sf(lo) - s_hi).max(1e-300);
        let g = |n: f64| -> f64 {
            if n <= lo {
                1.0
            } else if n >= hi {
                0.0
            } else {
                ((sf(n) - s_hi) / mass).clamp(0.0, 1.0)
            }
        };
        let n_top = if hi.is_finite() {
            hi
        } else {
            out.isf((out.sf(lo) * 1e-13).max(1e-300))
                .max(lo * (1.0 + 1e-9) + 1e-9)
        };
        let x_min = xs.iter().map(|x| x.1).fold(f64::INFINITY, f64::min);
        let x_max = xs.iter().map(|x| x.1).fold(0.0, f64::max);
        let y0 = (x_min + a * lo).max(1e-6);
        let y1 = (x_max + a * n_top).max(y0 * (1.0 + 1e-9));
        let (l0, l1) = (y0.ln(), y1.ln());
        let step = (l1 - l0) / (KERNEL_GRID - 1) as f64;
        let v = (0..KERNEL_GRID)
            .map(|i| {
                let y = (l0 + step * i as f64).exp();
                xs.iter().map(|&(w, x)| w * g((y - x) / a)).sum::<f64>()
            })
            .collect();
        self.kernels.push(Kernel { ln_y0: l0, step, v });
        let k = (self.kernels.len() - 1) as u32;
        self.kernel_of.insert(key, k);
        k
    }

    /// Runs `plan` for a mass `w` of requests (answer lengths in `piece`)
    /// that already spent `shift + a0·N`.
    #[expect(clippy::too_many_arguments, reason = "the recursion's state")]
    fn plan(
        &mut self,
        plan: &PlanDef,
        quality: &[Option<f64>],
        piece: &Piece,
        w: f64,
        shift: f64,
        a0: f64,
        acc: &mut Acc,
    ) {
        match plan {
            PlanDef::Target(m) => {
                let mut answers = Vec::new();
                let mut fails = Vec::new();
                self.call(*m, piece, w, shift, a0, &mut answers, &mut fails, acc);
                for mut c in answers {
                    c.quality = quality_of(quality, c.model);
                    acc.comps.push(c);
                }
                push_fails(acc, piece, a0, fails);
            }
            PlanDef::Split(entries) => {
                for (m, share) in entries {
                    self.plan(
                        &PlanDef::Target(*m),
                        quality,
                        piece,
                        w * share,
                        shift,
                        a0,
                        acc,
                    );
                }
            }
            PlanDef::Chain(plans) => self.chain(plans, quality, piece, w, shift, a0, acc),
            PlanDef::Cascade { stages, accept } => {
                let theta = accept.as_ref().map_or(0.0, |a| a.threshold);
                self.cascade(stages, theta, quality, piece, (w, shift, a0), acc);
            }
            PlanDef::Optimize { .. } | PlanDef::Error => {
                push_fails(acc, piece, a0, vec![(w, shift)])
            }
        }
    }

    #[expect(clippy::too_many_arguments, reason = "the recursion's state")]
    fn chain(
        &mut self,
        plans: &[PlanDef],
        quality: &[Option<f64>],
        piece: &Piece,
        w: f64,
        shift: f64,
        a0: f64,
        acc: &mut Acc,
    ) {
        let Some((first, rest)) = plans.split_first() else {
            push_fails(acc, piece, a0, vec![(w, shift)]);
            return;
        };
        if rest.is_empty() {
            self.plan(first, quality, piece, w, shift, a0, acc);
            return;
        }
        let before = acc.fails.len();
        self.plan(first, quality, piece, w, shift, a0, acc);
        let failed: Vec<Branch> = acc
            .fails
            .drain(before..)
            .map(|f| (f.w, f.shift, f.a))
            .collect();
        for (fw, ft, fa) in merge_branches(failed) {
            if fw < PRUNE {
                push_fails(acc, piece, fa, vec![(fw, ft)]);
            } else {
                self.chain(rest, quality, piece, fw, ft, fa, acc);
            }
        }
    }

    fn cascade(
        &mut self,
        stages: &[ModelId],
        theta: f64,
        quality: &[Option<f64>],
        piece: &Piece,
        (w, shift, a0): Branch,
        acc: &mut Acc,
    ) {
        let Some((&first, rest)) = stages.split_first() else {
            push_fails(acc, piece, a0, vec![(w, shift)]);
            return;
        };
        let mut answers = Vec::new();
        let mut fails = Vec::new();
        self.call(first, piece, w, shift, a0, &mut answers, &mut fails, acc);
        if rest.is_empty() {
            for mut c in answers {
                c.quality = quality_of(quality, c.model);
                acc.comps.push(c);
            }
            push_fails(acc, piece, a0, fails);
            return;
        }
        let mut escalate: Vec<Branch> = fails.into_iter().map(|(fw, ft)| (fw, ft, a0)).collect();
        for c in answers {
            let q = quality_of(quality, c.model);
            let a = model::accept_rate(q, theta);
            let mut accepted = c.clone();
            accepted.w = c.w * a;
            accepted.quality = model::accepted_quality(q, theta);
            if accepted.w > 0.0 {
                acc.comps.push(accepted);
            }
            let rw = c.w * (1.0 - a);
            if rw > 0.0 {
                // The next stage starts when this answer ends.
                for (nw, x) in self.escalation_nodes(c.model, c.cap) {
                    escalate.push((rw * nw, c.shift + x, c.ae));
                }
            }
        }
        for b in merge_branches(escalate) {
            if b.0 < PRUNE {
                push_fails(acc, piece, b.2, vec![(b.0, b.1)]);
            } else {
                self.cascade(rest, theta, quality, piece, b, acc);
            }
        }
    }

    /// One call of model `m` with retries and the model-level fallback
    /// chain: successful answers go to `answers`, exhausted paths to `fails`
    /// as `(share, seconds spent beyond a0·N)`.
    #[expect(clippy::too_many_arguments, reason = "the recursion's state")]
    fn call(
        &mut self,
        m: ModelId,
        piece: &Piece,
        w: f64,
        shift: f64,
        a0: f64,
        answers: &mut Vec<Comp>,
        fails: &mut Vec<(f64, f64)>,
        acc: &mut Acc,
    ) {
        let mut visited = Vec::new();
        let mut pending = vec![(m, w, shift)];
        // Breadth-first along the fallback chain.
        for _depth in 0..model::MAX_FALLBACK_DEPTH {
            if pending.is_empty() {
                break;
            }
            let mut next = Vec::new();
            for (mid, bw, bs) in pending {
                visited.push(mid);
                let exhausted = self.attempts_of(mid, piece, bw, bs, a0, answers, acc);
                let fb = self.fallback.get(mid.index()).copied().flatten();
                for (ew, et) in exhausted {
                    match fb {
                        Some(f) if !visited.contains(&f) && ew >= PRUNE => next.push((f, ew, et)),
                        _ => fails.push((ew, et)),
                    }
                }
            }
            pending = next;
        }
        for (_, pw, ps) in pending {
            fails.push((pw, ps));
        }
    }

    /// The attempts on one model (first try and retries); returns the
    /// exhausted paths `(share, time spent beyond a0·N)`.
    #[expect(clippy::too_many_arguments, reason = "the recursion's state")]
    fn attempts_of(
        &mut self,
        m: ModelId,
        piece: &Piece,
        w: f64,
        shift: f64,
        a0: f64,
        answers: &mut Vec<Comp>,
        acc: &mut Acc,
    ) -> Vec<(f64, f64)> {
        let a = &self.attempts[m.index()];
        let price = &self.prices[m.index()];
        // Within a piece the caps and failure probabilities do not depend
        // on N (transition pieces: taken at the piece's mean).
        let n = piece.mean;
        let rate = a.latency.decode_time(1.0);
        // Reasoning decodes before the first token: a constant and a share
        // of the answer's length.
        let pre_fixed = a.latency.decode_time(a.reasoning.tokens);
        let pre_per_token = a.latency.decode_time(a.reasoning.per_output_token);
        let billed = model::billed_output(Some(&a.reasoning), n);
        let (mut cap, _) = a.ttft_cap(n);
        let mut p_to = a.timeout_probability(n).clamp(0.0, 1.0);
        if cap > 0.0 && p_to < NEGLIGIBLE {
            p_to = 0.0;
            cap = f64::INFINITY;
        }
        let p_err = model::BASE_ERROR_RATE.min(1.0 - p_to);
        let p_ok = (1.0 - p_to - p_err).max(0.0);
        let t_to = a.timeout_time(n);
        let t_err = a.error_time();
        let hedge = a.hedge_probability();
        // Per prompt-length segment: the price of a full answer (billed
        // output and the per-request price) and of an input token.
        let (full_fixed, per_input): (Vec<f64>, Vec<f64>) = std::iter::once(None)
            .chain(self.tiers.iter().map(|&t| Some(t)))
            .map(|lower| {
                let r = segment_rates(price, lower);
                (
                    billed * r.output_per_token + r.per_request,
                    r.input_per_token,
                )
            })
            .unzip();
        let s_cap = if cap.is_finite() {
            self.surv(m.0).at(cap)
        } else {
            0.0
        };
        // Refused attempts (`crate::load`): no cost, no time.
        let throttle = a.throttle;
        let retry_throttled = a.retry_throttled;
        let service = self.ttft_light[m.index()] + pre_fixed + n * (rate + pre_per_token);
        let mut exhausted = Vec::new();
        let mut branches = vec![(w, shift)];
        for attempt in 0..=a.retries {
            let last = attempt == a.retries;
            let mut next: Vec<(f64, f64)> = Vec::new();
            for (bw, bs) in branches {
                let offered = bw;
                // The admitted share of this branch.
                let bw = if throttle > 0.0 {
                    let fw = offered * throttle;
                    if retry_throttled && !last && fw >= PRUNE {
                        next.push((fw, bs + a.backoff));
                    } else if fw > 0.0 {
                        exhausted.push((fw, bs));
                    }
                    offered * (1.0 - throttle)
                } else {
                    offered
                };
                // Offered calls: refused ones, admitted ones and their
                // hedged duplicates.
                let calls = if throttle > 0.0 {
                    offered - bw + bw * (1.0 + hedge)
                } else {
                    bw * (1.0 + hedge)
                };
                let used = acc.calls.entry(m.index(), full_fixed.len());
                used.calls += calls;
                used.tokens_out += calls * billed;
                used.busy += calls * service;
                for (j, (fixed, input)) in full_fixed.iter().zip(&per_input).enumerate() {
                    acc.cost_per_input[j] += bw * (1.0 + hedge) * input;
                    acc.cost_fixed[j] += bw * (p_ok + hedge) * fixed;
                    let paid = &mut used.cost[j];
                    paid.0 += bw * (p_ok + hedge) * fixed;
                    paid.1 += bw * (1.0 + hedge) * input;
                }
                if p_ok > 0.0 {
                    answers.push(Comp {
                        w: bw * p_ok,
                        shift: bs + pre_fixed,
                        at: a0 + pre_per_token,
                        ae: a0 + rate + pre_per_token,
                        lo: piece.lo,
                        hi: piece.hi,
                        model: m.0,
                        cap,
                        s_cap,
                        quality: 0.0,
                        kt: None,
                        ke: None,
                    });
                }
                for (p, t, retry) in [
                    (p_to, t_to, a.retry_timeouts),
                    (p_err, t_err, a.retry_errors),
                ] {
                    let fw = bw * p;
                    if fw <= 0.0 {
                        continue;
                    }
                    if retry && !last && fw >= PRUNE {
                        next.push((fw, bs + t + a.backoff));
                    } else {
                        exhausted.push((fw, bs + t));
                    }
                }
            }
            branches = merge_pairs(next);
            if branches.is_empty() {
                break;
            }
        }
        merge_pairs(exhausted)
    }

    /// `P(L > t)` of an evaluated plan, end to end or to the first token.
    pub fn exceedance(&self, e: &PlanEval, t: f64, ttft: bool) -> f64 {
        // Failures at fixed times: those after `t`.
        let i = e.steps.partition_point(|s| s.0 <= t);
        let mut p = e.steps.get(i).map_or(0.0, |s| s.1);
        for f in &e.fails {
            if let Some(k) = f.k {
                p += f.w * self.kernels[k as usize].at(t - f.shift);
            }
        }
        for c in &e.comps {
            let y = t - c.shift;
            let (a, k) = if ttft { (c.at, c.kt) } else { (c.ae, c.ke) };
            let s = match k {
                Some(k) => self.kernels[k as usize].at(y),
                None => self.surv(c.model).truncated(y - a * c.lo, c.cap, c.s_cap),
            };
            p += c.w * s;
        }
        p
    }

    /// The `q`-quantile of a mixture `Σ wᵢ · planᵢ` shifted by `sᵢ` (weights
    /// need not sum to 1, they are normalised): the root of the mixture's
    /// exceedance in log-time, by the Illinois method.
    pub fn mixture_quantile(&self, parts: &[(f64, f64, &PlanEval)], q: f64, ttft: bool) -> f64 {
        let total: f64 = parts.iter().map(|p| p.0).sum();
        if total <= 0.0 {
            return 0.0;
        }
        let target = (1.0 - q) * total;
        // A large mixture repeats its (plan, shift) pairs (cells of one
        // rule): each distinct pair's exceedance is computed once per step,
        // then weighted and summed part by part, in order, as before.
        let mut index: HashMap<(usize, u64), usize, foldhash::fast::FixedState> =
            HashMap::default();
        let mut distinct: Vec<(f64, &PlanEval)> = Vec::new();
        let keys: Vec<usize> = if parts.len() > DEDUPE_PARTS {
            parts
                .iter()
                .map(|(_, s, e)| {
                    let key = (std::ptr::from_ref(*e) as usize, s.to_bits());
                    *index.entry(key).or_insert_with(|| {
                        distinct.push((*s, e));
                        distinct.len() - 1
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut values = vec![0.0; distinct.len()];
        let mut f = |lt: f64| -> f64 {
            let t = lt.exp();
            if keys.is_empty() {
                return parts
                    .iter()
                    .map(|(w, s, e)| w * self.exceedance(e, t - s, ttft))
                    .sum::<f64>()
                    - target;
            }
            for (v, (s, e)) in values.iter_mut().zip(&distinct) {
                *v = self.exceedance(e, t - s, ttft);
            }
            parts
                .iter()
                .zip(&keys)
                .map(|((w, _, _), &k)| w * values[k])
                .sum::<f64>()
                - target
        };
        let (mut a, mut b) = (GRID_LO, GRID_HI);
        let (mut fa, mut fb) = (f(a), f(b));
        if fa <= 0.0 {
            return a.exp();
        }
        if fb > 0.0 {
            return b.exp();
        }
        // A few bisections first: exceedances have flat stretches.
        for _ in 0..8 {
            let m = (a + b) / 2.0;
            let fm = f(m);
            if fm > 0.0 {
                (a, fa) = (m, fm);
            } else {
                (b, fb) = (m, fm);
            }
        }
        let mut side = 0;
        for _ in 0..60 {
            if b - a < 1e-7 {
                break;
            }
            let mut m = (a * fb - b * fa) / (fb - fa);
            if !(m > a && m < b) {
                m = (a + b) / 2.0;
            }
            let fm = f(m);
            if fm > 0.0 {
                (a, fa) = (m, fm);
                if side == 1 {
                    fb /= 2.0;
                }
                side = 1;
            } else {
                (b, fb) = (m, fm);
                if side == -1 {
                    fa /= 2.0;
                }
                side = -1;
            }
            if fm == 0.0 {
                return m.exp();
            }
        }
        ((a + b) / 2.0).exp()
    }
}

fn quality_of(quality: &[Option<f64>], m: u32) -> f64 {
    quality.get(m as usize).copied().flatten().unwrap_or(0.0)
}

fn push_fails(acc: &mut Acc, piece: &Piece, a: f64, fails: Vec<(f64, f64)>) {
    for (w, shift) in fails {
        acc.fails.push(Fail {
            w,
            shift,
            a,
            lo: piece.lo,
            hi: piece.hi,
            k: None,
        });
    }
}

/// Merges `(share, time)` pairs with equal times (sorted by time).
fn merge_pairs(mut v: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    v.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(v.len());
    for (w, t) in v {
        match out.last_mut() {
            Some(last) if (last.1 - t).abs() <= 1e-12 * t.abs().max(1.0) => last.0 += w,
            _ => out.push((w, t)),
        }
    }
    out
}

/// Merges branches with equal times and decode coefficients.
fn merge_branches(mut v: Vec<Branch>) -> Vec<Branch> {
    v.sort_by(|a, b| {
        (a.2, a.1)
            .partial_cmp(&(b.2, b.1))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut out: Vec<Branch> = Vec::with_capacity(v.len());
    for (w, t, a) in v {
        match out.last_mut() {
            Some(last) if last.2 == a && (last.1 - t).abs() <= 1e-12 * t.abs().max(1.0) => {
                last.0 += w
            }
            _ => out.push((w, t, a)),
        }
    }
    out
}

/// The survival table of TTFT class `k`, tabulated on first use from a model
/// of the class.
fn survival<'a>(
    surv: &'a [OnceLock<Survival>],
    attempts: &[AttemptModel],
    class_model: &[u32],
    k: u32,
) -> &'a Survival {
    surv[k as usize].get_or_init(|| Survival::new(&attempts[class_model[k as usize] as usize]))
}

/// Whether `x / mx` and `y / my` agree (densities over adjacent pieces).
fn same_density(x: f64, mx: f64, y: f64, my: f64) -> bool {
    (x * my - y * mx).abs() <= 1e-10 * (x * my).abs().max((y * mx).abs())
}

/// Merges components that differ only in weight (and quality, averaged), or
/// in their answer-length piece when the pieces are adjacent and the
/// component has the same share of each.
fn merge_comps(output: &OutputDist, mut v: Vec<Comp>) -> Vec<Comp> {
    let key = |c: &Comp| (c.model, c.shift, c.at, c.ae, c.cap, c.quality, c.lo);
    v.sort_by(|a, b| {
        key(a)
            .partial_cmp(&key(b))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let same = |a: &Comp, b: &Comp| {
        a.model == b.model
            && a.shift == b.shift
            && a.at == b.at
            && a.ae == b.ae
            && a.cap == b.cap
            && a.quality == b.quality
    };
    // Same piece: add up.
    let mut summed: Vec<Comp> = Vec::with_capacity(v.len());
    for c in v {
        match summed.last_mut() {
            Some(l) if same(l, &c) && l.lo == c.lo && l.hi == c.hi => l.w += c.w,
            _ => summed.push(c),
        }
    }
    // Adjacent pieces with the same density: one piece.
    let mut out: Vec<Comp> = Vec::with_capacity(summed.len());
    let mut last_mass = 0.0;
    for c in summed {
        let m = out_mass(output, c.lo, c.hi);
        match out.last_mut() {
            Some(l)
                if same(l, &c)
                    && l.hi == c.lo
                    && c.hi > c.lo
                    && l.hi > l.lo
                    && same_density(l.w, last_mass, c.w, m) =>
            {
                l.hi = c.hi;
                l.w += c.w;
                last_mass += m;
            }
            _ => {
                out.push(c);
                last_mass = m;
            }
        }
    }
    out
}

fn out_mass(output: &OutputDist, lo: f64, hi: f64) -> f64 {
    if hi > lo { output.mass(lo, hi) } else { 1.0 }
}

/// Merges failures with equal times (`a = 0`) or equal `(shift, a)` and
/// the same piece.
fn merge_fails(output: &OutputDist, mut v: Vec<Fail>) -> Vec<Fail> {
    for f in &mut v {
        if f.a == 0.0 || f.hi <= f.lo {
            f.shift += f.a * f.lo;
            f.a = 0.0;
            f.lo = 0.0;
            f.hi = 0.0;
        }
    }
    v.sort_by(|a, b| {
        (a.a, a.shift, a.lo)
            .partial_cmp(&(b.a, b.shift, b.lo))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut summed: Vec<Fail> = Vec::with_capacity(v.len());
    for f in v {
        match summed.last_mut() {
            Some(l)
                if l.a == f.a
                    && (l.shift - f.shift).abs() <= 1e-12 * f.shift.abs().max(1.0)
                    && l.lo == f.lo
                    && l.hi == f.hi =>
            {
                l.w += f.w
            }
            _ => summed.push(f),
        }
    }
    let mut out: Vec<Fail> = Vec::with_capacity(summed.len());
    let mut last_mass = 0.0;
    for f in summed {
        let m = out_mass(output, f.lo, f.hi);
        match out.last_mut() {
            Some(l)
                if l.a == f.a
                    && f.a > 0.0
                    && l.shift == f.shift
                    && l.hi == f.lo
                    && same_density(l.w, last_mass, f.w, m) =>
            {
                l.hi = f.hi;
                l.w += f.w;
                last_mass += m;
            }
            _ => {
                out.push(f);
                last_mass = m;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LatencyQuantiles;

    #[test]
    fn survival_table_matches_the_model() {
        let a = AttemptModel {
            latency: model::ModelLatency {
                ttft: LatencyQuantiles::from_quantiles(&[(0.5, 0.6), (0.95, 1.4), (0.99, 2.5)])
                    .unwrap(),
                decode_rate: Some(60.0),
            },
            ttft_timeout: None,
            timeout: None,
            hedge: None,
            retries: 0,
            retry_timeouts: false,
            retry_errors: false,
            backoff: 0.0,
            throttle: 0.0,
            retry_throttled: false,
            reasoning: routec_check::ir::Reasoning::default(),
        };
        let s = Survival::new(&a);
        for &t in &[0.1, 0.6, 1.4, 2.5, 4.0] {
            assert!((s.at(t) - a.ttft_exceedance(t)).abs() < 2e-4, "{t}");
        }
        let q = s.truncated_quantile(f64::INFINITY, 0.95);
        assert!((q - 1.4).abs() < 5e-3, "{q}");
        // Mean of a lognormal-ish around 0.6s median: between p50 and p95.
        let m = s.truncated_mean(f64::INFINITY);
        assert!(m > 0.6 && m < 1.4, "{m}");
        let m2 = s.truncated_mean(1.0);
        assert!(m2 < 1.0 && m2 < m);
    }
}
