//! The analytic estimate of a plan: expands faults, retries, fallbacks,
//! hedges and cascade escalations (see `docs/semantics.md`) into a mixture
//! of latency components, with its expected cost, quality and calls per
//! model. Exceedance probabilities of the mixture are closed form in the
//! model's TTFT survival function, which is tabulated once per model on a
//! fine log-time grid so that LP coefficients and percentiles are cheap.

use std::collections::HashMap;

use routec_check::ir::{ModelId, PlanDef, Policy};

use crate::model::{self, AttemptModel};

/// Answer lengths: this many quantile nodes of the traffic's distribution.
pub const OUTPUT_NODES: usize = 16;
/// Escalations add this many quantile nodes of the earlier stage's latency.
pub const ESCALATION_NODES: usize = 6;
/// Fault paths lighter than this (share of requests) stop branching: they
/// count as failed requests at the time reached.
pub const PRUNE: f64 = 1e-9;

const GRID: usize = 4096;
const GRID_LO: f64 = -9.210_340_371_976_182; // ln 1e-4
const GRID_HI: f64 = 16.118_095_650_958_32; // ln 1e7

/// `P(TTFT > t)` of one model's attempt (hedging included), tabulated.
#[derive(Clone, Debug)]
struct Survival {
    s: Vec<f64>,
}

impl Survival {
    fn new(a: &AttemptModel) -> Survival {
        let step = (GRID_HI - GRID_LO) / (GRID - 1) as f64;
        let s = (0..GRID)
            .map(|i| a.ttft_exceedance((GRID_LO + step * i as f64).exp()))
            .collect();
        Survival { s }
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

/// A successful answer: E2E = `shift + X + d`, TTFT = `shift + X`, with `X`
/// the model's TTFT given `X <= cap`.
#[derive(Clone, Debug, PartialEq)]
pub struct Comp {
    pub w: f64,
    pub shift: f64,
    pub d: f64,
    pub model: u32,
    pub cap: f64,
    s_cap: f64,
    pub quality: f64,
}

/// The estimate of one plan for one kind of request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanEval {
    pub comps: Vec<Comp>,
    /// Failed requests: `(share, seconds spent)`.
    pub fails: Vec<(f64, f64)>,
    /// Expected cost = `cost_fixed + cost_per_input × prompt tokens`.
    pub cost_fixed: f64,
    pub cost_per_input: f64,
    /// Expected quality.
    pub quality: f64,
    /// Expected calls per model (index by model id).
    pub calls: Vec<f64>,
    pub mean_e2e: f64,
    pub mean_ttft: f64,
}

impl PlanEval {
    pub fn cost(&self, prompt_tokens: f64) -> f64 {
        self.cost_fixed + self.cost_per_input * prompt_tokens
    }
}

/// Evaluates plans against one policy and traffic (answer lengths).
#[derive(Debug)]
pub struct Evaluator<'p> {
    policy: &'p Policy,
    attempts: Vec<AttemptModel>,
    surv: Vec<Survival>,
    /// Answer-length nodes, each of weight `1 / len`.
    out_nodes: Vec<f64>,
    means: HashMap<(u32, u64), f64>,
    quants: HashMap<(u32, u64), Vec<f64>>,
}

struct Acc {
    comps: Vec<Comp>,
    fails: Vec<(f64, f64)>,
    cost_fixed: f64,
    cost_per_input: f64,
    calls: Vec<f64>,
}

impl<'p> Evaluator<'p> {
    pub fn new(policy: &'p Policy, out_nodes: Vec<f64>) -> Evaluator<'p> {
        let attempts: Vec<AttemptModel> = (0..policy.models.len())
            .map(|i| AttemptModel::new(policy, ModelId(i as u32)))
            .collect();
        let surv = attempts.iter().map(Survival::new).collect();
        Evaluator {
            policy,
            attempts,
            surv,
            out_nodes: if out_nodes.is_empty() {
                vec![model::DEFAULT_OUTPUT_TOKENS]
            } else {
                out_nodes
            },
            means: HashMap::new(),
            quants: HashMap::new(),
        }
    }

    pub fn policy(&self) -> &'p Policy {
        self.policy
    }

    pub fn out_nodes(&self) -> &[f64] {
        &self.out_nodes
    }

    /// Evaluates `plan` for requests where model `m` has quality
    /// `quality[m]` (`None`: no figure, counted as 0).
    pub fn eval(&mut self, plan: &PlanDef, quality: &[Option<f64>]) -> PlanEval {
        let mut acc = Acc {
            comps: Vec::new(),
            fails: Vec::new(),
            cost_fixed: 0.0,
            cost_per_input: 0.0,
            calls: vec![0.0; self.policy.models.len()],
        };
        let k = self.out_nodes.len();
        for i in 0..k {
            let n = self.out_nodes[i];
            self.plan(plan, quality, n, 1.0 / k as f64, 0.0, &mut acc);
        }
        let mut e = PlanEval {
            cost_fixed: acc.cost_fixed,
            cost_per_input: acc.cost_per_input,
            calls: acc.calls,
            ..PlanEval::default()
        };
        for (w, t) in &acc.fails {
            e.mean_e2e += w * t;
            e.mean_ttft += w * t;
        }
        for c in &acc.comps {
            let m = self.truncated_mean(c.model, c.cap);
            e.mean_e2e += c.w * (c.shift + m + c.d);
            e.mean_ttft += c.w * (c.shift + m);
            e.quality += c.w * c.quality;
        }
        e.comps = merge_comps(acc.comps);
        e.fails = acc.fails;
        e
    }

    fn truncated_mean(&mut self, m: u32, cap: f64) -> f64 {
        let surv = &self.surv[m as usize];
        *self
            .means
            .entry((m, cap.to_bits()))
            .or_insert_with(|| surv.truncated_mean(cap))
    }

    fn escalation_nodes(&mut self, m: u32, cap: f64) -> Vec<f64> {
        let surv = &self.surv[m as usize];
        self.quants
            .entry((m, cap.to_bits()))
            .or_insert_with(|| {
                (0..ESCALATION_NODES)
                    .map(|i| {
                        surv.truncated_quantile(cap, (i as f64 + 0.5) / ESCALATION_NODES as f64)
                    })
                    .collect()
            })
            .clone()
    }

    /// Runs `plan` for a mass `w` of requests that already spent `shift`.
    fn plan(
        &mut self,
        plan: &PlanDef,
        quality: &[Option<f64>],
        n: f64,
        w: f64,
        shift: f64,
        acc: &mut Acc,
    ) {
        match plan {
            PlanDef::Target(m) => {
                let mut answers = Vec::new();
                let mut fails = Vec::new();
                self.call(*m, n, w, shift, &mut answers, &mut fails, acc);
                for mut c in answers {
                    c.quality = quality_of(quality, c.model);
                    acc.comps.push(c);
                }
                acc.fails.extend(fails);
            }
            PlanDef::Split(entries) => {
                for (m, share) in entries {
                    self.plan(&PlanDef::Target(*m), quality, n, w * share, shift, acc);
                }
            }
            PlanDef::Chain(plans) => self.chain(plans, quality, n, w, shift, acc),
            PlanDef::Cascade { stages, accept } => {
                let theta = accept.as_ref().map_or(0.0, |a| a.threshold);
                self.cascade(stages, theta, quality, n, w, shift, acc);
            }
            PlanDef::Optimize { .. } | PlanDef::Error => acc.fails.push((w, shift)),
        }
    }

    fn chain(
        &mut self,
        plans: &[PlanDef],
        quality: &[Option<f64>],
        n: f64,
        w: f64,
        shift: f64,
        acc: &mut Acc,
    ) {
        let Some((first, rest)) = plans.split_first() else {
            acc.fails.push((w, shift));
            return;
        };
        if rest.is_empty() {
            self.plan(first, quality, n, w, shift, acc);
            return;
        }
        let before = acc.fails.len();
        self.plan(first, quality, n, w, shift, acc);
        let failed: Vec<(f64, f64)> = acc.fails.drain(before..).collect();
        for (fw, ft) in merge_pairs(failed) {
            if fw < PRUNE {
                acc.fails.push((fw, ft));
            } else {
                self.chain(rest, quality, n, fw, ft, acc);
            }
        }
    }

    #[expect(clippy::too_many_arguments, reason = "the recursion's state")]
    fn cascade(
        &mut self,
        stages: &[ModelId],
        theta: f64,
        quality: &[Option<f64>],
        n: f64,
        w: f64,
        shift: f64,
        acc: &mut Acc,
    ) {
        let Some((&first, rest)) = stages.split_first() else {
            acc.fails.push((w, shift));
            return;
        };
        let mut answers = Vec::new();
        let mut fails = Vec::new();
        self.call(first, n, w, shift, &mut answers, &mut fails, acc);
        if rest.is_empty() {
            for mut c in answers {
                c.quality = quality_of(quality, c.model);
                acc.comps.push(c);
            }
            acc.fails.extend(fails);
            return;
        }
        let mut escalate: Vec<(f64, f64)> = merge_pairs(fails);
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
                let nodes = self.escalation_nodes(c.model, c.cap);
                for x in nodes {
                    escalate.push((rw / ESCALATION_NODES as f64, c.shift + x + c.d));
                }
            }
        }
        for (ew, et) in escalate {
            if ew < PRUNE {
                acc.fails.push((ew, et));
            } else {
                self.cascade(rest, theta, quality, n, ew, et, acc);
            }
        }
    }

    /// One call of model `m` with retries and the model-level fallback
    /// chain: successful answers go to `answers`, exhausted paths to `fails`.
    #[expect(clippy::too_many_arguments, reason = "the recursion's state")]
    fn call(
        &mut self,
        m: ModelId,
        n: f64,
        w: f64,
        shift: f64,
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
                let exhausted = self.attempts_of(mid, n, bw, bs, answers, acc);
                let fb = self.policy.model(mid).fallback;
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
    /// exhausted paths `(share, time spent)`.
    fn attempts_of(
        &mut self,
        m: ModelId,
        n: f64,
        w: f64,
        shift: f64,
        answers: &mut Vec<Comp>,
        acc: &mut Acc,
    ) -> Vec<(f64, f64)> {
        let a = &self.attempts[m.index()];
        let def = self.policy.model(m);
        let price = &def.price;
        let d = a.latency.decode_time(n);
        let (cap, _) = a.ttft_cap(n);
        let (p_to, p_err) = a.failure(n);
        let p_ok = (1.0 - p_to - p_err).max(0.0);
        let t_to = a.timeout_time(n);
        let t_err = a.error_time();
        let hedge = a.hedge_probability();
        let full_fixed =
            n * price.output_per_token.unwrap_or(0.0) + price.per_request.unwrap_or(0.0);
        let per_input = price.input_per_token.unwrap_or(0.0);
        let s_cap = if cap.is_finite() {
            self.surv[m.index()].at(cap)
        } else {
            0.0
        };
        let mut exhausted = Vec::new();
        let mut branches = vec![(w, shift)];
        for attempt in 0..=a.retries {
            let last = attempt == a.retries;
            let mut next: Vec<(f64, f64)> = Vec::new();
            for (bw, bs) in branches {
                acc.cost_per_input += bw * (1.0 + hedge) * per_input;
                acc.cost_fixed += bw * (p_ok + hedge) * full_fixed;
                acc.calls[m.index()] += bw * (1.0 + hedge);
                if p_ok > 0.0 {
                    answers.push(Comp {
                        w: bw * p_ok,
                        shift: bs,
                        d,
                        model: m.0,
                        cap,
                        s_cap,
                        quality: 0.0,
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
        let mut p = 0.0;
        for &(w, ft) in &e.fails {
            if ft > t {
                p += w;
            }
        }
        for c in &e.comps {
            let y = t - c.shift - if ttft { 0.0 } else { c.d };
            if y >= c.cap {
                continue;
            }
            if y <= 0.0 {
                p += c.w;
                continue;
            }
            let norm = 1.0 - c.s_cap;
            if norm <= 0.0 {
                continue;
            }
            let s = self.surv[c.model as usize].at(y);
            p += c.w * ((s - c.s_cap) / norm).clamp(0.0, 1.0);
        }
        p
    }

    /// The `q`-quantile of a mixture `Σ wᵢ · planᵢ` shifted by `sᵢ` (by
    /// bisection on log-time; weights need not sum to 1, they are
    /// normalised).
    pub fn mixture_quantile(&self, parts: &[(f64, f64, &PlanEval)], q: f64, ttft: bool) -> f64 {
        let total: f64 = parts.iter().map(|p| p.0).sum();
        if total <= 0.0 {
            return 0.0;
        }
        let target = (1.0 - q) * total;
        let exceed = |t: f64| -> f64 {
            parts
                .iter()
                .map(|(w, s, e)| w * self.exceedance(e, t - s, ttft))
                .sum()
        };
        let (mut lo, mut hi) = (GRID_LO, GRID_HI);
        for _ in 0..26 {
            let mid = (lo + hi) / 2.0;
            if exceed(mid.exp()) > target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        ((lo + hi) / 2.0).exp()
    }
}

fn quality_of(quality: &[Option<f64>], m: u32) -> f64 {
    quality.get(m as usize).copied().flatten().unwrap_or(0.0)
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

/// Merges components that differ only in weight (and quality, averaged).
fn merge_comps(mut v: Vec<Comp>) -> Vec<Comp> {
    v.sort_by(|a, b| {
        (a.model, a.shift, a.d, a.cap)
            .partial_cmp(&(b.model, b.shift, b.d, b.cap))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut out: Vec<Comp> = Vec::with_capacity(v.len());
    for c in v {
        match out.last_mut() {
            Some(l) if l.model == c.model && l.shift == c.shift && l.d == c.d && l.cap == c.cap => {
                let w = l.w + c.w;
                if w > 0.0 {
                    l.quality = (l.quality * l.w + c.quality * c.w) / w;
                }
                l.w = w;
            }
            _ => out.push(c),
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
