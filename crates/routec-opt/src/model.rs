//! The cost, latency and quality model: the single source of truth shared by
//! the optimizer's analytic estimates and the simulator's sampling.
//! `docs/semantics.md` states every formula here in prose, with a worked
//! example.
//!
//! Everything is a pure function of base units (seconds, USD, tokens,
//! ratios in `0..=1`). Samplers take a uniform number in `(0, 1)` so that
//! callers choose (and seed) the random number generator.

use routec_check::ir::{
    FaultSettings, FaultsDef, ModelDef, ModelId, PlanDef, Policy, Price, Reasoning, RetryOn,
    RuleDef, SignalId, SignalSource,
};

// ---------------------------------------------------------------- constants

/// The probability that an attempt fails with a server error (`5xx`) for
/// reasons other than a timeout: 0.5% for every model.
pub const BASE_ERROR_RATE: f64 = 0.005;

/// The log-space spread (`sigma`) assumed for a latency declared by a single
/// quantile: a lognormal with `sigma = 0.5` (p95 is 2.28 × p50).
pub const DEFAULT_SIGMA: f64 = 0.5;

/// The answer length assumed when the traffic profile has no
/// `output_tokens` distribution.
pub const DEFAULT_OUTPUT_TOKENS: f64 = 250.0;

/// The standard-normal score of p95.
pub const Z95: f64 = 1.644_853_626_951_472_2;
/// The standard-normal score of p99.
pub const Z99: f64 = 2.326_347_874_040_841;

/// Latencies are never shorter than this (seconds): keeps logarithms finite.
pub const MIN_SECONDS: f64 = 1e-6;

/// The most models a fault path visits (retries of one model count once):
/// bounds the model-level `fallback` chain.
pub const MAX_FALLBACK_DEPTH: usize = 8;

// ---------------------------------------------------------------- the standard normal

/// `erfc(x)` to about 1e-14 relative: the Taylor series of `erf` for
/// `|x| < 2.5`, a continued fraction (60 terms, evaluated backwards) beyond.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let z = x.abs();
    if z < 2.5 {
        // erf(z) = 2/√π Σ (−1)ⁿ z^(2n+1) / (n! (2n+1))
        let mut term = z;
        let mut sum = z;
        let z2 = z * z;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -z2 / n;
            sum += term / (2.0 * n + 1.0);
            if n > 200.0 {
                break;
            }
        }
        let erf = 2.0 / std::f64::consts::PI.sqrt() * sum;
        return if x >= 0.0 { 1.0 - erf } else { 1.0 + erf };
    }
    // erfc(z) = e^(−z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + ...))))
    let mut f = z;
    for k in (1..=60).rev() {
        f = z + (k as f64 / 2.0) / f;
    }
    let r = (-z * z).exp() / std::f64::consts::PI.sqrt() / f;
    if x >= 0.0 { r } else { 2.0 - r }
}

/// [`erfc`] of every element, in place, each bit for bit what [`erfc`]
/// returns: the continued fractions of [`ERFC_LANES`] arguments run side by
/// side (the same operations in the same order for each), so their
/// divisions overlap instead of waiting on one another. Tabulating a
/// survival function calls `erfc` thousands of times, mostly in the tail.
pub fn erfc_in_place(xs: &mut [f64]) {
    for chunk in xs.chunks_mut(ERFC_LANES) {
        let lanes: Option<&mut [f64; ERFC_LANES]> = chunk.try_into().ok();
        match lanes {
            // NaN fails the test and takes the scalar path.
            Some(lanes) if lanes.iter().all(|x| x.abs() >= 2.5) => {
                let z = lanes.map(f64::abs);
                let mut f = z;
                for k in (1..=60).rev() {
                    let h = k as f64 / 2.0;
                    for (f, z) in f.iter_mut().zip(&z) {
                        *f = z + h / *f;
                    }
                }
                for ((x, z), f) in lanes.iter_mut().zip(&z).zip(&f) {
                    let r = (-z * z).exp() / std::f64::consts::PI.sqrt() / f;
                    *x = if *x >= 0.0 { r } else { 2.0 - r };
                }
            }
            _ => chunk.iter_mut().for_each(|x| *x = erfc(*x)),
        }
    }
}

/// Arguments [`erfc_in_place`] evaluates together.
pub const ERFC_LANES: usize = 8;

/// The standard normal CDF `Φ(z)`.
pub fn norm_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// The standard normal survival `1 − Φ(z)`, accurate in the upper tail.
pub fn norm_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The standard normal quantile `Φ⁻¹(u)` for `u` in `(0, 1)` (Acklam's
/// rational approximation refined by one Halley step against [`norm_cdf`],
/// so `norm_cdf(norm_inv(u)) ≈ u` to about 1e-9). Clamps `u` to
/// `[1e-15, 1 − 1e-15]`.
pub fn norm_inv(u: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = if u.is_nan() {
        0.5
    } else {
        u.clamp(1e-15, 1.0 - 1e-15)
    };
    let plow = 0.024_25;
    let x = if p < plow {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - plow {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    // One Halley step.
    let e = norm_cdf(x) - p;
    let pdf = (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    if pdf > 0.0 {
        let step = e / pdf;
        x - step / (1.0 + x * step / 2.0)
    } else {
        x
    }
}

// ---------------------------------------------------------------- latency distributions

/// A latency distribution fitted to declared quantiles: `ln t` is piecewise
/// linear in the standard-normal score `z` through the knots
/// `(Φ⁻¹(q), ln t_q)`. Below the first knot the first segment's slope is
/// extended (for `p50 p95 p99`: below p50 the p50–p95 slope, mirrored);
/// beyond the last knot the last segment's slope (beyond p99 the p95–p99
/// slope). With exactly two knots it is a lognormal; with one knot a
/// lognormal of spread [`DEFAULT_SIGMA`].
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyQuantiles {
    /// `(z, ln seconds)`, strictly increasing in `z`, non-decreasing in `ln t`.
    knots: Vec<(f64, f64)>,
    /// The slope below the first knot and beyond the last one.
    slope_low: f64,
    slope_high: f64,
}

/// Segments flatter than this (log-seconds per unit of `z`) are steepened so
/// the distribution stays continuous and invertible.
const MIN_SLOPE: f64 = 1e-6;

impl LatencyQuantiles {
    /// Appends the bits of every parameter: two distributions with the same
    /// bits are the same distribution (for sharing tables between models).
    pub fn push_bits(&self, out: &mut Vec<u64>) {
        for (z, l) in &self.knots {
            out.push(z.to_bits());
            out.push(l.to_bits());
        }
        out.push(self.slope_low.to_bits());
        out.push(self.slope_high.to_bits());
    }

    /// Fits declared `(quantile in 0..1, seconds)` pairs. `None` when there
    /// is no usable pair.
    pub fn from_quantiles(quantiles: &[(f64, f64)]) -> Option<LatencyQuantiles> {
        let mut knots: Vec<(f64, f64)> = quantiles
            .iter()
            .filter(|(q, t)| *q > 0.0 && *q < 1.0 && t.is_finite())
            .map(|&(q, t)| (norm_inv(q), t.max(MIN_SECONDS).ln()))
            .collect();
        knots.sort_by(|a, b| a.0.total_cmp(&b.0));
        knots.dedup_by(|a, b| (a.0 - b.0).abs() < 1e-12);
        if knots.is_empty() {
            return None;
        }
        // Keep ln t non-decreasing with a minimal slope.
        for i in 1..knots.len() {
            let min = knots[i - 1].1 + MIN_SLOPE * (knots[i].0 - knots[i - 1].0);
            if knots[i].1 < min {
                knots[i].1 = min;
            }
        }
        let (slope_low, slope_high) = if knots.len() == 1 {
            (DEFAULT_SIGMA, DEFAULT_SIGMA)
        } else {
            let n = knots.len();
            let s = |a: (f64, f64), b: (f64, f64)| ((b.1 - a.1) / (b.0 - a.0)).max(MIN_SLOPE);
            (s(knots[0], knots[1]), s(knots[n - 2], knots[n - 1]))
        };
        Some(LatencyQuantiles {
            knots,
            slope_low,
            slope_high,
        })
    }

    /// A lognormal with median `p50` seconds and log-space spread `sigma`.
    pub fn lognormal(p50: f64, sigma: f64) -> LatencyQuantiles {
        LatencyQuantiles {
            knots: vec![(0.0, p50.max(MIN_SECONDS).ln())],
            slope_low: sigma.max(MIN_SLOPE),
            slope_high: sigma.max(MIN_SLOPE),
        }
    }

    /// `ln t` at the standard-normal score `z`.
    pub fn ln_at_z(&self, z: f64) -> f64 {
        let first = self.knots[0];
        let last = self.knots[self.knots.len() - 1];
        if z <= first.0 {
            return first.1 + self.slope_low * (z - first.0);
        }
        if z >= last.0 {
            return last.1 + self.slope_high * (z - last.0);
        }
        for w in self.knots.windows(2) {
            let (a, b) = (w[0], w[1]);
            if z <= b.0 {
                return a.1 + (b.1 - a.1) * (z - a.0) / (b.0 - a.0);
            }
        }
        last.1
    }

    /// The standard-normal score of `t` seconds (the inverse of [`Self::ln_at_z`]).
    pub fn z_at(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return f64::NEG_INFINITY;
        }
        if t == f64::INFINITY {
            return f64::INFINITY;
        }
        let l = t.ln();
        let first = self.knots[0];
        let last = self.knots[self.knots.len() - 1];
        if l <= first.1 {
            return first.0 + (l - first.1) / self.slope_low;
        }
        if l >= last.1 {
            return last.0 + (l - last.1) / self.slope_high;
        }
        for w in self.knots.windows(2) {
            let (a, b) = (w[0], w[1]);
            if l <= b.1 {
                return a.0 + (b.0 - a.0) * (l - a.1) / (b.1 - a.1);
            }
        }
        last.0
    }

    /// The latency (seconds) at quantile `u` in `(0, 1)`.
    pub fn quantile(&self, u: f64) -> f64 {
        self.ln_at_z(norm_inv(u)).exp()
    }

    /// `P(L <= t)`.
    pub fn cdf(&self, t: f64) -> f64 {
        norm_cdf(self.z_at(t))
    }

    /// The exceedance `P(L > t)`, accurate in the tail.
    pub fn exceedance(&self, t: f64) -> f64 {
        norm_sf(self.z_at(t))
    }

    /// [`Self::exceedance`] at each of `ts` (bit for bit), faster.
    pub fn exceedances(&self, ts: &[f64]) -> Vec<f64> {
        let mut v: Vec<f64> = ts
            .iter()
            .map(|&t| self.z_at(t) / std::f64::consts::SQRT_2)
            .collect();
        erfc_in_place(&mut v);
        v.iter_mut().for_each(|x| *x *= 0.5);
        v
    }

    /// Draws a latency from a uniform number `u` in `(0, 1)` (inverse CDF).
    pub fn sample(&self, u: f64) -> f64 {
        self.quantile(u)
    }

    /// The median.
    pub fn p50(&self) -> f64 {
        self.ln_at_z(0.0).exp()
    }

    /// The partial mean `E[L; lo < L <= hi]` (`hi` may be infinite), in
    /// closed form: on a segment where `ln t = α + β z`,
    /// `∫ e^(α + β z) φ(z) dz = e^(α + β²/2) (Φ(z₁ − β) − Φ(z₀ − β))`.
    pub fn partial_mean(&self, lo: f64, hi: f64) -> f64 {
        let za = if lo <= 0.0 {
            f64::NEG_INFINITY
        } else {
            self.z_at(lo)
        };
        let zb = self.z_at(hi);
        if zb <= za {
            return 0.0;
        }
        // Segment boundaries in z and the line of each segment.
        let n = self.knots.len();
        let mut bounds = Vec::with_capacity(n + 2);
        bounds.push(f64::NEG_INFINITY);
        bounds.extend(self.knots.iter().map(|k| k.0));
        bounds.push(f64::INFINITY);
        let mut total = 0.0;
        for i in 0..bounds.len() - 1 {
            let (c0, c1) = (bounds[i].max(za), bounds[i + 1].min(zb));
            if c1 <= c0 {
                continue;
            }
            // The line through this segment: slope and a point on it.
            let (beta, z0, l0) = if i == 0 {
                (self.slope_low, self.knots[0].0, self.knots[0].1)
            } else if i == n {
                (self.slope_high, self.knots[n - 1].0, self.knots[n - 1].1)
            } else {
                let (a, b) = (self.knots[i - 1], self.knots[i]);
                ((b.1 - a.1) / (b.0 - a.0), a.0, a.1)
            };
            let alpha = l0 - beta * z0;
            let (x0, x1) = (c0 - beta, c1 - beta);
            let p = if x0 > 0.0 {
                norm_sf(x0) - norm_sf(x1)
            } else {
                norm_cdf(x1) - norm_cdf(x0)
            };
            total += (alpha + beta * beta / 2.0).exp() * p.max(0.0);
        }
        total
    }
}

/// The latency profile of one model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelLatency {
    /// Time to first token. For a model declared with end-to-end quantiles
    /// only (`latency p50 ...`), this is the end-to-end distribution and
    /// `decode_rate` is `None`: TTFT = E2E.
    pub ttft: LatencyQuantiles,
    /// Tokens per second after the first token; `None`: the whole answer
    /// arrives with the first token.
    pub decode_rate: Option<f64>,
}

/// The latency assumed for a model that declares none: TTFT p50 1s, lognormal
/// with [`DEFAULT_SIGMA`], decoding at 50 tok/s (a pessimistic default; the
/// checker warns about models without figures).
pub const UNKNOWN_TTFT_P50: f64 = 1.0;
/// See [`UNKNOWN_TTFT_P50`].
pub const UNKNOWN_DECODE_RATE: f64 = 50.0;

impl ModelLatency {
    pub fn of(model: &ModelDef) -> ModelLatency {
        ModelLatency::from_latency(&model.latency)
    }

    /// The latency profile of declared figures (`latency ...`, or one
    /// `latency at` row).
    pub fn from_latency(l: &routec_check::ir::Latency) -> ModelLatency {
        if let Some(ttft) = LatencyQuantiles::from_quantiles(&l.ttft) {
            return ModelLatency {
                ttft,
                decode_rate: l.decode_rate.filter(|r| *r > 0.0),
            };
        }
        if let Some(total) = LatencyQuantiles::from_quantiles(&l.total) {
            return ModelLatency {
                ttft: total,
                decode_rate: None,
            };
        }
        ModelLatency {
            ttft: LatencyQuantiles::lognormal(UNKNOWN_TTFT_P50, DEFAULT_SIGMA),
            decode_rate: Some(l.decode_rate.unwrap_or(UNKNOWN_DECODE_RATE)),
        }
    }

    /// The decode time of `output_tokens`: `output_tokens / rate`, or 0 for
    /// end-to-end-only models.
    pub fn decode_time(&self, output_tokens: f64) -> f64 {
        match self.decode_rate {
            Some(r) => output_tokens.max(0.0) / r,
            None => 0.0,
        }
    }

    /// End-to-end latency for a given TTFT: `ttft + output_tokens / rate`.
    pub fn e2e(&self, ttft: f64, output_tokens: f64) -> f64 {
        ttft + self.decode_time(output_tokens)
    }
}

// ---------------------------------------------------------------- cost and quality

/// The USD cost of one successful call:
/// `input × input price + output × output price + per-request price`, at
/// the rates of the price tier of `input_tokens` (the rates of the longest
/// tier whose threshold the prompt exceeds, else the base rates).
/// `output_tokens` are the billed output tokens: the answer's and the
/// reasoning tokens ([`billed_output`]).
pub fn call_cost(price: &Price, input_tokens: f64, output_tokens: f64) -> f64 {
    let r = price.rates(input_tokens);
    input_tokens * r.input_per_token + output_tokens * r.output_per_token + r.per_request
}

/// The USD cost of a failed attempt: its input tokens only (the per-request
/// price and output are not charged), at the prompt's tier.
pub fn failed_attempt_cost(price: &Price, input_tokens: f64) -> f64 {
    input_tokens * price.rates(input_tokens).input_per_token
}

/// The output tokens billed for an answer of `output_tokens`: the answer
/// plus the model's reasoning tokens (`reasoning 2k tokens`: 2000 more;
/// `reasoning 300% of output`: 3 × the answer more).
pub fn billed_output(reasoning: Option<&Reasoning>, output_tokens: f64) -> f64 {
    output_tokens + reasoning.map_or(0.0, |r| r.for_answer(output_tokens))
}

// ---------------------------------------------------------------- the judge

/// The prompt tokens a judge call adds to the conversation it grades: its
/// grading instructions (`learn { judge ... }`; `docs/semantics.md`, "The
/// judge"). A judge call's input is the request's prompt, its answer and
/// these.
pub const JUDGE_PROMPT_TOKENS: f64 = 160.0;

/// The output tokens of one judge call: a score, not an essay.
pub const JUDGE_OUTPUT_TOKENS: f64 = 4.0;

/// A policy's judge (`learn { judge MODEL sample ... }`): the model that
/// scores a sampled share of answered requests, and what that costs. It
/// adds cost only: no latency (it runs after the answer), no quality, no
/// calls counted in `share MODEL`.
#[derive(Clone, Debug, PartialEq)]
pub struct Judge {
    pub model: ModelId,
    /// The judge model's price.
    pub price: Price,
    /// The sampling rate: `(requests per second, share)` points.
    sample: Vec<routec_table::SamplePoint>,
}

impl Judge {
    /// The judge `policy` declares, if any.
    pub fn of(policy: &Policy) -> Option<Judge> {
        let j = policy.learn.judge.as_ref()?;
        Some(Judge {
            model: j.model,
            price: policy.models.get(j.model.index())?.price.clone(),
            sample: j
                .sample
                .iter()
                .map(|&(qps, share)| routec_table::SamplePoint { qps, share })
                .collect(),
        })
    }

    /// The share of answered requests judged at `qps` requests per second
    /// (`routec_table::sample_share`); without a rate (`None`), the share
    /// at the lowest rate: the first point's.
    pub fn share_at(&self, qps: Option<f64>) -> f64 {
        routec_table::sample_share(&self.sample, qps.unwrap_or(0.0)).clamp(0.0, 1.0)
    }

    /// The USD cost of judging one answered request: one call of the judge
    /// with `prompt + answer + JUDGE_PROMPT_TOKENS` input tokens and
    /// `JUDGE_OUTPUT_TOKENS` output tokens, at the judge's price (its price
    /// tier that of that input).
    pub fn call_cost(&self, prompt_tokens: f64, answer_tokens: f64) -> f64 {
        call_cost(
            &self.price,
            prompt_tokens + answer_tokens + JUDGE_PROMPT_TOKENS,
            JUDGE_OUTPUT_TOKENS,
        )
    }
}

/// The quality (probability of a good answer) of `model` for a request
/// whose signals have the given values (`values[signal]` = the enum index,
/// `None` when unknown): `table[by value] + adjust[adjust value]`, clamped
/// to `[0, 1]`; `None` when the model has no figure for the request.
pub fn quality(model: &ModelDef, value_of: impl Fn(SignalId) -> Option<usize>) -> Option<f64> {
    let q = &model.quality;
    let by = q.by.as_ref().and_then(|t| value_of(t.signal));
    let adj = q.adjust.as_ref().and_then(|t| value_of(t.signal));
    q.for_values(by, adj)
}

// ---------------------------------------------------------------- cascades

/// The shape `k = q / (1 − q)` of a stage's confidence `C`, with
/// `P(C <= c) = c^k` (so `E[C] = k / (k + 1) = q`). `q` is clamped to
/// `[1e-6, 1 − 1e-6]`.
pub fn confidence_shape(q: f64) -> f64 {
    let q = q.clamp(1e-6, 1.0 - 1e-6);
    q / (1.0 - q)
}

/// The share of a stage's answers accepted at threshold `theta`: `1 − θ^k`.
pub fn accept_rate(q: f64, theta: f64) -> f64 {
    let k = confidence_shape(q);
    1.0 - theta.clamp(0.0, 1.0).powf(k)
}

/// The quality of an accepted answer, `E[C | C >= θ] =
/// (k/(k+1)) (1 − θ^(k+1)) / (1 − θ^k)`; `1` when nothing is accepted
/// (`θ = 1`, the limit).
pub fn accepted_quality(q: f64, theta: f64) -> f64 {
    let k = confidence_shape(q);
    let t = theta.clamp(0.0, 1.0);
    let den = 1.0 - t.powf(k);
    if den <= 1e-15 {
        return 1.0;
    }
    ((k / (k + 1.0)) * (1.0 - t.powf(k + 1.0)) / den).clamp(0.0, 1.0)
}

/// Draws a stage's confidence from a uniform `u` in `(0, 1)`: `u^(1/k)`.
/// The answer is good with probability equal to its confidence.
pub fn sample_confidence(q: f64, u: f64) -> f64 {
    u.clamp(0.0, 1.0).powf(1.0 / confidence_shape(q))
}

// ---------------------------------------------------------------- faults

/// The fault settings in force for one model: the defaults with the
/// model's override fields replacing them field by field.
pub fn fault_settings(faults: &FaultsDef, model: ModelId) -> FaultSettings {
    let mut s = faults.defaults.clone();
    for (m, o) in &faults.overrides {
        if *m == model {
            if o.timeout.is_some() {
                s.timeout = o.timeout;
                s.timeout_span = o.timeout_span;
            }
            if o.ttft_timeout.is_some() {
                s.ttft_timeout = o.ttft_timeout;
                s.ttft_timeout_span = o.ttft_timeout_span;
            }
            if o.retry.is_some() {
                s.retry = o.retry.clone();
            }
            if o.cooldown.is_some() {
                s.cooldown = o.cooldown;
            }
            if o.hedge.is_some() {
                s.hedge = o.hedge;
            }
        }
    }
    s
}

/// What one attempt of a model does, for a given answer length.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptModel {
    pub latency: ModelLatency,
    /// Seconds to the first token after which the attempt is abandoned.
    pub ttft_timeout: Option<f64>,
    /// Seconds end to end after which the attempt is abandoned.
    pub timeout: Option<f64>,
    /// Seconds after which a duplicate request is sent if no token arrived.
    pub hedge: Option<f64>,
    /// How many retries (of the same model) follow a retryable failure.
    pub retries: u32,
    /// Whether a timeout is retried (`timeout` in the retry list).
    pub retry_timeouts: bool,
    /// Whether a base error is retried (`5xx` or a `5NN` code in the list).
    pub retry_errors: bool,
    /// Seconds waited before each retry.
    pub backoff: f64,
    /// The share of attempts refused by the model's rate limit or full
    /// queue (`429`, no cost, no time): 0 unless load is modelled
    /// (`crate::load`).
    pub throttle: f64,
    /// Whether a refused attempt is retried (`429` or `4xx` in the list).
    pub retry_throttled: bool,
    /// Hidden reasoning tokens decoded before the answer's first token.
    pub reasoning: Reasoning,
}

impl AttemptModel {
    pub fn new(policy: &Policy, model: ModelId) -> AttemptModel {
        let s = fault_settings(&policy.faults, model);
        let latency = ModelLatency::of(policy.model(model));
        let (retries, retry_timeouts, retry_errors, backoff) = match &s.retry {
            Some(r) => (
                r.count,
                r.on.iter().any(|o| matches!(o, RetryOn::Timeout)),
                r.on.iter().any(|o| match o {
                    RetryOn::Class(c) => *c == 5,
                    RetryOn::Status(code) => (500..600).contains(code),
                    RetryOn::Timeout => false,
                }),
                r.backoff.unwrap_or(0.0),
            ),
            None => (0, false, false, 0.0),
        };
        let retry_throttled = s.retry.as_ref().is_some_and(|r| {
            r.on.iter()
                .any(|o| matches!(o, RetryOn::Class(4) | RetryOn::Status(429)))
        });
        AttemptModel {
            latency,
            ttft_timeout: s.ttft_timeout,
            timeout: s.timeout,
            hedge: s.hedge,
            retries,
            retry_timeouts,
            retry_errors,
            backoff,
            throttle: 0.0,
            retry_throttled,
            reasoning: policy.model(model).reasoning.unwrap_or_default(),
        }
    }

    /// The attempt under a load (`crate::load`): the latency at that load
    /// and the share of attempts refused.
    pub fn under(mut self, load: &crate::load::ModelLoad) -> AttemptModel {
        if let Some(l) = &load.latency {
            self.latency = l.clone();
        }
        self.throttle = load.throttle.clamp(0.0, 1.0);
        self
    }

    /// The seconds spent decoding reasoning tokens before the first token
    /// of an answer of `output_tokens`: `reasoning tokens / rate` (0 for a
    /// model without a decode rate, whose declared quantiles include it).
    pub fn reasoning_time(&self, output_tokens: f64) -> f64 {
        self.latency
            .decode_time(self.reasoning.for_answer(output_tokens))
    }

    /// `P(TTFT > t)` of the attempt, hedging included: with a hedge after
    /// `X`, the first token arrives at `min(T₁, X + T₂)` with `T₁, T₂`
    /// independent draws, so `P(TTFT > t) = S(t) · S(t − X)` for `t > X`.
    pub fn ttft_exceedance(&self, t: f64) -> f64 {
        let s = self.latency.ttft.exceedance(t);
        match self.hedge {
            Some(x) if t > x => s * self.latency.ttft.exceedance(t - x),
            _ => s,
        }
    }

    /// [`Self::ttft_exceedance`] at each of `ts` (bit for bit), faster.
    pub fn ttft_exceedances(&self, ts: &[f64]) -> Vec<f64> {
        let mut s = self.latency.ttft.exceedances(ts);
        if let Some(x) = self.hedge {
            let later: Vec<f64> = ts.iter().filter(|&&t| t > x).map(|t| t - x).collect();
            let second = self.latency.ttft.exceedances(&later);
            let at = ts.iter().zip(s.iter_mut()).filter(|(t, _)| **t > x);
            for ((_, s), s2) in at.zip(second) {
                *s *= s2;
            }
        }
        s
    }

    /// The probability that the duplicate of a hedged request is sent:
    /// `P(T₁ > X)`.
    pub fn hedge_probability(&self) -> f64 {
        match self.hedge {
            Some(x) => self.latency.ttft.exceedance(x),
            None => 0.0,
        }
    }

    /// The largest first-token time `X` (the model's TTFT distribution,
    /// before reasoning) a successful attempt can have for `output_tokens`:
    /// `min(ttft timeout − reasoning time, timeout − reasoning time −
    /// decode time)`, and which timeout fires beyond it (`true`: the TTFT
    /// timeout). The answer's first token arrives at `X + reasoning time`.
    pub fn ttft_cap(&self, output_tokens: f64) -> (f64, bool) {
        let d = self.latency.decode_time(output_tokens);
        let pre = self.reasoning_time(output_tokens);
        let by_total = self.timeout.map_or(f64::INFINITY, |t| t - pre - d);
        let by_ttft = self.ttft_timeout.map_or(f64::INFINITY, |t| t - pre);
        if by_ttft <= by_total {
            (by_ttft, true)
        } else {
            (by_total, false)
        }
    }

    /// The probability that the attempt times out: `P(TTFT > cap)`, the
    /// union of `TTFT > ttft timeout` and `E2E > timeout`.
    pub fn timeout_probability(&self, output_tokens: f64) -> f64 {
        let (cap, _) = self.ttft_cap(output_tokens);
        if cap.is_infinite() {
            0.0
        } else if cap <= 0.0 {
            1.0
        } else {
            self.ttft_exceedance(cap)
        }
    }

    /// The seconds a timed-out attempt costs: the timeout that fires.
    pub fn timeout_time(&self, output_tokens: f64) -> f64 {
        let (_, ttft_fires) = self.ttft_cap(output_tokens);
        if ttft_fires {
            self.ttft_timeout.unwrap_or(0.0)
        } else {
            self.timeout.unwrap_or(0.0)
        }
    }

    /// The seconds a base error costs: the model's median TTFT (the error
    /// arrives when the first token would have).
    pub fn error_time(&self) -> f64 {
        self.latency.ttft.p50()
    }

    /// The per-attempt failure probability `min(1, base + P(timeout))` and
    /// its split `(timeouts, base errors)`.
    pub fn failure(&self, output_tokens: f64) -> (f64, f64) {
        let to = self.timeout_probability(output_tokens).clamp(0.0, 1.0);
        let base = BASE_ERROR_RATE.min(1.0 - to);
        (to, base)
    }

    /// Draws the TTFT of one attempt (hedge included) from two uniforms.
    pub fn sample_ttft(&self, u1: f64, u2: f64) -> f64 {
        let t1 = self.latency.ttft.sample(u1);
        match self.hedge {
            Some(x) if t1 > x => t1.min(x + self.latency.ttft.sample(u2)),
            _ => t1,
        }
    }
}

// ---------------------------------------------------------------- classifiers

/// The classifier signals a rule reads: its condition (slices followed)
/// and, for an `optimize`, its `by` dimensions.
pub fn rule_signals(policy: &Policy, rule: &RuleDef) -> Vec<SignalId> {
    let mut out = Vec::new();
    let mut conds = vec![&rule.cond];
    let mut seen_slices = Vec::new();
    while let Some(c) = conds.pop() {
        c.signals(&mut out);
        let mut slices = Vec::new();
        c.slices(&mut slices);
        for s in slices {
            if !seen_slices.contains(&s) && s.index() < policy.slices.len() {
                seen_slices.push(s);
                conds.push(&policy.slice(s).cond);
            }
        }
    }
    plan_signals(&rule.plan, &mut out);
    out.sort();
    out.dedup();
    out
}

fn plan_signals(plan: &PlanDef, out: &mut Vec<SignalId>) {
    match plan {
        PlanDef::Optimize { by, candidates } => {
            out.extend(by.iter().map(|d| d.signal));
            candidates.iter().for_each(|c| plan_signals(c, out));
        }
        PlanDef::Chain(ps) => ps.iter().for_each(|c| plan_signals(c, out)),
        _ => {}
    }
}

/// The classifier latency (seconds) paid by a request that matches rule
/// `rule` (0-based): every classifier signal read by that rule or by any
/// earlier rule (they were evaluated first), each counted once.
pub fn classifier_cost(policy: &Policy, rule: usize) -> f64 {
    classifier_costs(policy).get(rule).copied().unwrap_or(0.0)
}

/// [`classifier_cost`] for every rule, in one pass.
pub fn classifier_costs(policy: &Policy) -> Vec<f64> {
    let mut read: Vec<SignalId> = Vec::new();
    let mut total = 0.0;
    let mut out = Vec::with_capacity(policy.rules.len());
    for r in &policy.rules {
        for s in rule_signals(policy, r) {
            if !read.contains(&s) {
                read.push(s);
                if let SignalSource::Classifier { cost, .. } = &policy.signal(s).source {
                    total += cost.unwrap_or(0.0);
                }
            }
        }
        out.push(total);
    }
    out
}

// ---------------------------------------------------------------- the composite score

/// The most one ratio of the composite score counts: a routing ten times
/// cheaper (faster, better) than the baseline scores as well as a free
/// (instant, perfect) one, so a free or nearly free model keeps the score
/// finite and meaningful.
pub const SCORE_RATIO_CAP: f64 = 10.0;

/// The `weighted` objective's composite score against the baseline:
/// `S = a·min(L_base/L, 10) + b·min(C_base/C, 10) + g·min(Q/Q_base, 10)`
/// ([`SCORE_RATIO_CAP`]). A ratio `0/0` (a free routing against a free
/// baseline, say) is 1 (no change); `x/0` with `x > 0` is the cap.
pub fn composite_score(
    weights: (f64, f64, f64),
    (latency, cost, quality): (f64, f64, f64),
    (base_latency, base_cost, base_quality): (f64, f64, f64),
) -> f64 {
    let ratio = |num: f64, den: f64| {
        if !num.is_finite() || !den.is_finite() || num < 0.0 || den < 0.0 {
            1.0
        } else if den > 0.0 {
            (num / den).min(SCORE_RATIO_CAP)
        } else if num > 0.0 {
            SCORE_RATIO_CAP
        } else {
            1.0
        }
    };
    weights.0 * ratio(base_latency, latency)
        + weights.1 * ratio(base_cost, cost)
        + weights.2 * ratio(quality, base_quality)
}

/// Cost per success: expected cost divided by expected quality (infinite
/// when no answer is good).
pub fn cost_per_success(cost: f64, quality: f64) -> f64 {
    if quality > 0.0 {
        cost / quality
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-12)
    }

    #[test]
    fn erfc_values() {
        assert!(close(erfc(1.0), 0.157_299_207_050_285_13, 1e-13));
        assert!(close(erfc(3.0), 2.209_049_699_858_544e-5, 1e-12));
        assert!(close(erfc(-0.5), 1.520_499_877_813_046_5, 1e-13));
        assert!(close(erfc(2.4999), 4.070_9e-4, 1e-3));
    }

    #[test]
    fn normal_roundtrip() {
        for &u in &[1e-6, 0.01, 0.05, 0.3, 0.5, 0.7, 0.95, 0.99, 0.999_9] {
            let z = norm_inv(u);
            assert!((norm_cdf(z) - u).abs() < 1e-9 * u.max(1e-3), "{u}");
        }
        assert!(close(norm_inv(0.95), Z95, 1e-7));
        assert!(close(norm_inv(0.99), Z99, 1e-7));
        assert!(norm_inv(0.5).abs() < 1e-9);
    }

    #[test]
    fn latency_hits_declared_quantiles() {
        let l =
            LatencyQuantiles::from_quantiles(&[(0.5, 0.09), (0.95, 0.25), (0.99, 0.6)]).unwrap();
        assert!(close(l.quantile(0.5), 0.09, 1e-6));
        assert!(close(l.quantile(0.95), 0.25, 1e-6));
        assert!(close(l.quantile(0.99), 0.6, 1e-6));
        assert!((l.cdf(0.25) - 0.95).abs() < 1e-7);
        assert!((l.exceedance(0.6) - 0.01).abs() < 1e-8);
        // Below p50 mirrors the p50–p95 slope.
        let s = (0.25f64.ln() - 0.09f64.ln()) / Z95;
        assert!(close(
            l.quantile(0.05),
            (0.09f64.ln() - s * Z95).exp(),
            1e-6
        ));
        // Beyond p99 extends the p95–p99 slope.
        let s2 = (0.6f64.ln() - 0.25f64.ln()) / (Z99 - Z95);
        let z = norm_inv(0.999);
        assert!(close(
            l.quantile(0.999),
            (0.6f64.ln() + s2 * (z - Z99)).exp(),
            1e-6
        ));
    }

    #[test]
    fn two_quantiles_are_a_lognormal() {
        let l = LatencyQuantiles::from_quantiles(&[(0.5, 1.0), (0.95, 3.0)]).unwrap();
        let sigma = 3.0f64.ln() / Z95;
        for &u in &[0.01, 0.2, 0.5, 0.8, 0.999] {
            assert!(close(l.quantile(u), (sigma * norm_inv(u)).exp(), 1e-9));
        }
        assert!(close(l.cdf(2.0), norm_cdf(2.0f64.ln() / sigma), 1e-9));
    }

    #[test]
    fn partial_means_integrate_the_quantile_function() {
        let l = LatencyQuantiles::from_quantiles(&[(0.5, 0.6), (0.95, 1.4), (0.99, 2.5)]).unwrap();
        // Midpoint rule in u over (F(lo), F(hi)).
        let numeric = |lo: f64, hi: f64| {
            let (ua, ub) = (l.cdf(lo), l.cdf(hi));
            let k = 200_000;
            (0..k)
                .map(|i| l.quantile(ua + (ub - ua) * (i as f64 + 0.5) / k as f64))
                .sum::<f64>()
                * (ub - ua)
                / k as f64
        };
        for &(lo, hi) in &[(0.0, 0.6), (0.3, 1.0), (1.0, 2.0), (1.4, 2.5), (2.5, 1e9)] {
            let exact = l.partial_mean(lo, hi);
            assert!(close(exact, numeric(lo, hi), 1e-4), "{lo} {hi}");
        }
        let whole = l.partial_mean(0.0, f64::INFINITY);
        let parts = l.partial_mean(0.0, 1.0) + l.partial_mean(1.0, f64::INFINITY);
        assert!(close(whole, parts, 1e-12));
        // A lognormal's mean is e^(μ + σ²/2).
        let ln = LatencyQuantiles::lognormal(2.0, 0.8);
        assert!(close(
            ln.partial_mean(0.0, f64::INFINITY),
            2.0 * 0.32f64.exp(),
            1e-12
        ));
    }

    #[test]
    fn cdf_and_quantile_are_inverse() {
        let l = LatencyQuantiles::from_quantiles(&[(0.5, 0.6), (0.95, 1.4), (0.99, 2.5)]).unwrap();
        for &t in &[0.1, 0.6, 1.0, 2.0, 5.0] {
            assert!(close(l.quantile(l.cdf(t)), t, 1e-6), "{t}");
        }
        assert_eq!(l.exceedance(0.0), 1.0);
        assert_eq!(l.cdf(0.0), 0.0);
    }

    #[test]
    fn costs() {
        let p = Price {
            input_per_token: Some(3e-6),
            output_per_token: Some(15e-6),
            per_request: None,
            tiers: Vec::new(),
        };
        assert!(close(call_cost(&p, 1000.0, 100.0), 0.0045, 1e-12));
        assert!(close(failed_attempt_cost(&p, 1000.0), 0.003, 1e-12));
        let s = Price {
            per_request: Some(0.001),
            ..Price::default()
        };
        assert!(close(call_cost(&s, 1000.0, 100.0), 0.001, 1e-12));
    }

    #[test]
    fn cascade_formulas() {
        // q = 0.8: k = 4; accept at 0.7: 1 - 0.7^4.
        assert!(close(confidence_shape(0.8), 4.0, 1e-9));
        assert!(close(accept_rate(0.8, 0.7), 1.0 - 0.7f64.powi(4), 1e-9));
        let aq = accepted_quality(0.8, 0.7);
        let expect = 0.8 * (1.0 - 0.7f64.powi(5)) / (1.0 - 0.7f64.powi(4));
        assert!(close(aq, expect, 1e-9));
        assert!(aq > 0.8);
        // θ = 0 accepts everything at the mean quality.
        assert!(close(accepted_quality(0.8, 0.0), 0.8, 1e-9));
        assert!(close(accept_rate(0.8, 0.0), 1.0, 1e-9));
        // Sampling matches the CDF: P(C <= 0.7) = 0.7^k.
        let c = sample_confidence(0.8, 0.7f64.powi(4));
        assert!(close(c, 0.7, 1e-9));
    }

    #[test]
    fn hedging_shortens_the_tail() {
        let mut a = AttemptModel {
            latency: ModelLatency {
                ttft: LatencyQuantiles::from_quantiles(&[(0.5, 0.6), (0.95, 1.4), (0.99, 2.5)])
                    .unwrap(),
                decode_rate: Some(60.0),
            },
            ttft_timeout: Some(3.0),
            timeout: Some(30.0),
            hedge: None,
            retries: 1,
            retry_timeouts: true,
            retry_errors: true,
            backoff: 0.2,
            throttle: 0.0,
            retry_throttled: false,
            reasoning: Reasoning::default(),
        };
        let plain = a.ttft_exceedance(2.0);
        a.hedge = Some(1.5);
        let hedged = a.ttft_exceedance(2.0);
        let s = a.latency.ttft.exceedance(2.0) * a.latency.ttft.exceedance(0.5);
        assert!(close(hedged, s, 1e-12));
        assert!(hedged < plain);
        assert!(close(
            a.hedge_probability(),
            a.latency.ttft.exceedance(1.5),
            1e-12
        ));
        // 250 tokens decode in ~4.2s: the TTFT timeout binds.
        assert_eq!(a.ttft_cap(250.0), (3.0, true));
        // 1800 tokens take 30s: the total timeout binds.
        let (cap, ttft) = a.ttft_cap(1800.0);
        assert!(!ttft && cap <= 0.0);
        assert_eq!(a.timeout_probability(1800.0), 1.0);
        let (to, base) = a.failure(1800.0);
        assert_eq!((to, base), (1.0, 0.0));
    }

    proptest::proptest! {
        /// The batched `erfc` and exceedances are the scalar ones, bit for
        /// bit (tables of them are written into compiled tables), whatever
        /// mixes of lanes on either side of the series/fraction switch.
        #[test]
        fn batched_erfc_is_erfc(
            xs in proptest::collection::vec(
                proptest::prop_oneof![
                    -40.0f64..40.0,
                    -3.0f64..3.0,
                    proptest::sample::select(vec![
                        2.5, -2.5, 2.499_999, 0.0, -0.0, f64::INFINITY,
                        f64::NEG_INFINITY, f64::NAN, 1e-300, 27.3,
                    ]),
                ],
                0..40,
            ),
            hedge in proptest::option::of(0.01f64..5.0),
        ) {
            let mut batch = xs.clone();
            erfc_in_place(&mut batch);
            for (x, b) in xs.iter().zip(&batch) {
                proptest::prop_assert_eq!(erfc(*x).to_bits(), b.to_bits(), "{}", x);
            }
            let a = AttemptModel {
                latency: ModelLatency {
                    ttft: LatencyQuantiles::from_quantiles(&[(0.5, 0.6), (0.95, 1.4), (0.99, 2.5)])
                        .unwrap(),
                    decode_rate: Some(60.0),
                },
                ttft_timeout: None,
                timeout: None,
                hedge,
                retries: 0,
                retry_timeouts: false,
                retry_errors: false,
                backoff: 0.0,
                throttle: 0.0,
                retry_throttled: false,
                reasoning: routec_check::ir::Reasoning::default(),
            };
            let ts: Vec<f64> = xs.iter().map(|x| x.abs() / 4.0).collect();
            for (t, e) in ts.iter().zip(a.ttft_exceedances(&ts)) {
                proptest::prop_assert_eq!(a.ttft_exceedance(*t).to_bits(), e.to_bits(), "{}", t);
            }
        }
    }

    #[test]
    fn composite() {
        let s = composite_score((0.6, 0.3, 0.1), (1.0, 1.0, 0.9), (1.0, 1.0, 0.9));
        assert!(close(s, 1.0, 1e-12));
        let s = composite_score((1.0, 0.0, 0.0), (0.5, 1.0, 0.9), (1.0, 1.0, 0.9));
        assert!(close(s, 2.0, 1e-12));
    }
}
