//! Load: what a model sustains (`capacity`), what a provider admits (`rate
//! limit`), how a model's latency grows with the calls it serves and which
//! calls it refuses beyond them (`docs/semantics.md`, "Load").
//!
//! A model under a demand (calls, tokens and busy seconds per second, from
//! the shares a table sends it, retries, hedges, fallbacks and escalations
//! included) is, in order:
//!
//! 1. a **rate limiter** (`rate limit`): calls beyond the limit are refused
//!    (`429`), `θ₁ = max(0, 1 − L/λ)`;
//! 2. a **batched server** (`capacity`): `c` slots (continuous batching: a
//!    request holds a slot from its admission to its last token; a waiting
//!    request takes the first slot that frees) and a waiting room of
//!    [`QUEUE_PER_SLOT`]`·c` requests; a call that finds the room full is
//!    refused. It is the M/M/c/K queue with `K = c + room`; its waiting
//!    times are scaled for the service time's variability (the
//!    Allen–Cunneen factor `(1 + C_s²)/2`, fading to 1 as the queue fills:
//!    [`spread_factor`]), and the wait of a call that waits is a Gamma with
//!    the queue's conditional mean and spread;
//! 3. its **latency** at the admitted load: the declared TTFT plus that
//!    wait (the distribution is refitted through [`WAIT_KNOTS`]), or, when
//!    the model declares latency measured at loads (`latency at 30 qps
//!    ...`), that table interpolated at the admitted calls per second
//!    (then no wait is added: measured latency includes queueing).
//!
//! Refused calls cost nothing, take no time and take the fault path: a
//! retry when `429` (or `4xx`) is in the model's `retry` list, else its
//! fallback. Everything here is pure arithmetic on the declared figures.

use routec_check::ir::{Capacity, Latency, ModelDef, Policy};

use crate::model::{LatencyQuantiles, ModelLatency, norm_inv};
use crate::traffic::OutputDist;

/// The waiting room of a model with a capacity holds this many requests per
/// slot: beyond it, calls are refused.
pub const QUEUE_PER_SLOT: f64 = 1.0;
/// At most this many slots (a capacity whose slots would be more is
/// modelled with this many, slower ones).
pub const MAX_SLOTS: f64 = 100_000.0;
/// The loaded TTFT distribution is refitted through these quantiles.
pub const WAIT_KNOTS: [f64; 11] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999,
];
/// Intervals of the wait's bulk in the convolution of the declared TTFT
/// with the wait.
const WAIT_NODES: usize = 256;
/// Nodes of the moments of the declared TTFT and answer length.
const MOMENT_NODES: usize = 2000;

/// What a table asks of one model, per second.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Demand {
    /// Calls offered per second: first attempts, retries, hedged
    /// duplicates, fallbacks and escalations, refused ones included.
    pub calls: f64,
    /// Tokens (prompt and answer) of those calls, per second.
    pub tokens: f64,
    /// Seconds of service per second: each call's latency at light load
    /// (mean TTFT plus its answer's decode time), summed; by Little's law,
    /// the requests in flight.
    pub busy: f64,
}

impl Demand {
    pub fn add(&mut self, other: Demand, scale: f64) {
        self.calls += scale * other.calls;
        self.tokens += scale * other.tokens;
        self.busy += scale * other.busy;
    }
}

/// The stationary state of an M/M/c/K queue.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QueueState {
    /// The share of arrivals that find the system full (refused).
    pub blocking: f64,
    /// The probability that an admitted arrival waits.
    pub wait_probability: f64,
    /// The mean wait of an admitted arrival, in mean service times.
    pub mean_wait: f64,
    /// The squared coefficient of variation of the wait of an arrival
    /// that waits (1: exponential, as with an unbounded room; less when
    /// the room is nearly full and every wait is many departures long).
    pub wait_scv: f64,
}

/// The M/M/c/K queue with `c` servers, `room` waiting places and offered
/// load `a = λ·E[S]` Erlangs: `π_n ∝ aⁿ/n!` for `n <= c`, `π_c·(a/c)^(n−c)`
/// beyond, computed in log space (stable for `c` up to [`MAX_SLOTS`]).
pub fn mmck(c: usize, a: f64, room: usize) -> QueueState {
    let c = c.max(1);
    if a.is_nan() || a <= 0.0 {
        return QueueState {
            blocking: 0.0,
            wait_probability: 0.0,
            mean_wait: 0.0,
            wait_scv: 1.0,
        };
    }
    let k = c + room;
    let mut lp = Vec::with_capacity(k + 1);
    lp.push(0.0f64);
    let ln_a = a.ln();
    let ln_rho = (a / c as f64).ln();
    for n in 1..=k {
        let prev = lp[n - 1];
        lp.push(if n <= c {
            prev + ln_a - (n as f64).ln()
        } else {
            prev + ln_rho
        });
    }
    let max = lp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = lp.iter().map(|l| (l - max).exp()).sum();
    let p = |n: usize| (lp[n] - max).exp() / total;
    let blocking = p(k);
    let admitted = (1.0 - blocking).max(1e-300);
    let (mut waits, mut m1, mut m2) = (0.0, 0.0, 0.0);
    let r = c as f64;
    for n in c..k {
        let pn = p(n);
        waits += pn;
        // n − c + 1 departures, each at rate c / E[S]: an Erlang wait.
        let j = (n - c + 1) as f64;
        m1 += pn * j / r;
        m2 += pn * j * (j + 1.0) / (r * r);
    }
    let (c1, c2) = if waits > 0.0 {
        (m1 / waits, m2 / waits)
    } else {
        (0.0, 0.0)
    };
    QueueState {
        blocking,
        wait_probability: (waits / admitted).clamp(0.0, 1.0),
        mean_wait: m1 / admitted,
        wait_scv: if c1 > 0.0 {
            ((c2 - c1 * c1) / (c1 * c1)).clamp(1e-6, 1.0)
        } else {
            1.0
        },
    }
}

/// The TTFT of a call that waits `W` before it starts: `W + T`, `W = 0`
/// with probability `1 − p`, else a Gamma with mean `mean` and squared
/// coefficient of variation `scv` (moment-matched to the queue's mixture of
/// Erlang waits; `scv = 1` is the exponential); refitted through
/// [`WAIT_KNOTS`]. `P(W + T > t) = (1 − p)·S(t) + p·(P(W > t) + ∫₀ᵗ S(t −
/// w) dF(w))`, the integral a Stieltjes sum over [`WAIT_NODES`] intervals
/// of the wait's bulk (its mean ± 12 standard deviations), tabulated at
/// [`WAIT_GRID`] points in `ln t`; each knot is then refined by bisection
/// in its grid cell.
pub fn with_wait(base: &LatencyQuantiles, p: f64, mean: f64, scv: f64) -> LatencyQuantiles {
    if p <= 0.0 || mean <= 0.0 || !mean.is_finite() {
        return base.clone();
    }
    let p = p.min(1.0);
    let shape = 1.0 / scv.clamp(1e-6, 1.0);
    let scale = mean / shape;
    let cdf = |w: f64| gamma_p(shape, w / scale);
    let sd = mean / shape.sqrt();
    // The wait's bulk, cut into WAIT_NODES intervals whose masses are
    // computed once.
    let (bulk_lo, bulk_hi) = ((mean - 12.0 * sd).max(0.0), mean + 12.0 * sd);
    let h = (bulk_hi - bulk_lo) / WAIT_NODES as f64;
    let grid: Vec<f64> = (0..=WAIT_NODES)
        .map(|j| cdf(bulk_lo + j as f64 * h))
        .collect();
    let exceed = |t: f64| -> f64 {
        let f_t = cdf(t);
        let mut inner = 0.0;
        for j in 0..WAIT_NODES {
            let w0 = bulk_lo + j as f64 * h;
            if w0 >= t {
                break;
            }
            let (w1, f1) = if w0 + h <= t {
                (w0 + h, grid[j + 1])
            } else {
                (t, f_t)
            };
            inner += base.exceedance(t - (w0 + w1) / 2.0) * (f1 - grid[j]).max(0.0);
        }
        (1.0 - p) * base.exceedance(t) + p * ((1.0 - f_t).max(0.0) + inner)
    };
    // Tabulate in ln t, then refine each knot inside its grid cell.
    let lo = base.quantile(1e-6).ln();
    let hi = (2.0 * base.quantile(1.0 - 2.5e-5).max(bulk_hi)).ln();
    let ts: Vec<f64> = (0..=WAIT_GRID)
        .map(|i| lo + (hi - lo) * i as f64 / WAIT_GRID as f64)
        .collect();
    let values: Vec<f64> = ts.iter().map(|l| exceed(l.exp())).collect();
    let knots: Vec<(f64, f64)> = WAIT_KNOTS
        .iter()
        .map(|&u| {
            let target = 1.0 - u;
            let i = values
                .iter()
                .position(|v| *v <= target)
                .unwrap_or(WAIT_GRID);
            let (mut a, mut b) = (ts[i.saturating_sub(1)], ts[i]);
            for _ in 0..12 {
                let m = (a + b) / 2.0;
                if exceed(m.exp()) > target {
                    a = m;
                } else {
                    b = m;
                }
            }
            (u, ((a + b) / 2.0).exp())
        })
        .collect();
    LatencyQuantiles::from_quantiles(&knots).unwrap_or_else(|| base.clone())
}

/// Points of the loaded TTFT's tabulated exceedance (in `ln t`), before
/// each knot is refined by bisection.
const WAIT_GRID: usize = 160;

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, nine terms: about 1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized lower incomplete gamma `P(a, x)`: the series below
/// `a + 1`, Lentz's continued fraction above, the Wilson–Hilferty normal
/// approximation for `a > 2000` (relative error below 1e-4 there).
pub fn gamma_p(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if !x.is_finite() {
        return 1.0;
    }
    if a > 2000.0 {
        let z = ((x / a).cbrt() - (1.0 - 1.0 / (9.0 * a))) / (1.0 / (9.0 * a)).sqrt();
        return crate::model::norm_cdf(z);
    }
    let front = (-x + a * x.ln() - ln_gamma(a)).exp();
    if x < a + 1.0 {
        let (mut sum, mut term, mut n) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            n += 1.0;
            term *= x / n;
            sum += term;
            if term < sum * 1e-15 {
                break;
            }
        }
        (sum * front).clamp(0.0, 1.0)
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (1.0 - front * h).clamp(0.0, 1.0)
    }
}

/// How the service time's spread scales the M/M/c/K wait: the Allen–Cunneen
/// factor `(1 + C_s²)/2` at low utilization, fading to 1 as it nears 1
/// (`+ (1 − (1 + C_s²)/2)·min(ρ, 1)^`[`SPREAD_FADE`]): a nearly full
/// waiting room makes every wait a count of departures, whatever the
/// service times' spread.
pub fn spread_factor(scv: f64, rho: f64) -> f64 {
    let ac = (1.0 + scv.max(0.0)) / 2.0;
    ac + (1.0 - ac) * rho.clamp(0.0, 1.0).powf(SPREAD_FADE)
}

/// The exponent of [`spread_factor`]'s fade, chosen against the
/// discrete-event simulation of `tests/queue.rs` (8 and 64 slots, 50% to
/// 200% utilization).
pub const SPREAD_FADE: f64 = 8.0;

/// `E[X]` and `E[X²]` of a distribution given by its quantile function, by
/// the midpoint rule in `u`.
/// The answer length's first two moments.
fn output_moments(output: &OutputDist) -> (f64, f64) {
    moments(|u| output.isf(1.0 - u))
}

fn moments(quantile: impl Fn(f64) -> f64) -> (f64, f64) {
    let (mut m1, mut m2) = (0.0, 0.0);
    for i in 0..MOMENT_NODES {
        let x = quantile((i as f64 + 0.5) / MOMENT_NODES as f64);
        m1 += x;
        m2 += x * x;
    }
    (m1 / MOMENT_NODES as f64, m2 / MOMENT_NODES as f64)
}

/// One model's load-related declarations and the figures the queue needs.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    pub capacity: Capacity,
    pub rate_limit: Capacity,
    /// The latency as declared (light load).
    pub base: ModelLatency,
    /// `latency at` rows: `(calls per second, latency)`, sorted.
    pub table: Vec<(f64, ModelLatency)>,
    /// The squared coefficient of variation of a call's service time
    /// (TTFT plus decode) under the traffic's answer lengths.
    pub scv: f64,
}

impl ModelSpec {
    pub fn new(def: &ModelDef, output: &OutputDist) -> ModelSpec {
        ModelSpec::with_output(def, output_moments(output))
    }

    /// [`ModelSpec::new`] with the answer length's first two moments
    /// (the same for every model of a policy: computed once).
    fn with_output(def: &ModelDef, (n1, n2): (f64, f64)) -> ModelSpec {
        let base = ModelLatency::of(def);
        let table: Vec<(f64, ModelLatency)> = def
            .load_latency
            .iter()
            .map(|row| (row.qps, row_latency(&def.latency, &row.latency)))
            .collect();
        // The service time's variability matters only to a model whose
        // behaviour depends on load; a policy of thousands of models
        // without load figures does not pay for it.
        let aware = !def.capacity.is_empty() || !def.rate_limit.is_empty() || !table.is_empty();
        let scv = if aware {
            let (t1, t2) = moments(|u| base.ttft.quantile(u));
            let per_token = base.decode_time(1.0);
            let mean = t1 + per_token * n1;
            let var = (t2 - t1 * t1).max(0.0) + per_token * per_token * (n2 - n1 * n1).max(0.0);
            if mean > 0.0 { var / (mean * mean) } else { 1.0 }
        } else {
            1.0
        };
        ModelSpec {
            capacity: def.capacity.clone(),
            rate_limit: def.rate_limit.clone(),
            base,
            table,
            scv,
        }
    }

    /// Whether load changes anything for this model.
    pub fn aware(&self) -> bool {
        !self.capacity.is_empty() || !self.rate_limit.is_empty() || !self.table.is_empty()
    }

    /// The model's state under `demand` (see the module docs).
    pub fn state(&self, demand: Demand) -> ModelLoad {
        let mut out = ModelLoad {
            demand,
            ..ModelLoad::default()
        };
        if !self.aware() || demand.calls <= 0.0 {
            return out;
        }
        let lambda = demand.calls;
        let tokens_per_call = demand.tokens / lambda;
        let busy_per_call = demand.busy / lambda;
        // 1. The rate limiter.
        let limit = rate_of(&self.rate_limit, tokens_per_call, busy_per_call);
        let mut passed = lambda;
        if let Some(l) = limit {
            out.limit_utilization = lambda / l;
            if lambda > l {
                out.throttle = 1.0 - l / lambda;
                passed = l;
            }
        }
        // 2. The batched server.
        let mut admitted = passed;
        let mut wait = None;
        if let Some(mu) = rate_of(&self.capacity, tokens_per_call, busy_per_call) {
            out.utilization = passed / mu;
            let slots = self
                .capacity
                .concurrent
                .unwrap_or(mu * busy_per_call)
                .clamp(1.0, MAX_SLOTS)
                .round();
            let service = slots / mu;
            let room = (QUEUE_PER_SLOT * slots).ceil().max(1.0);
            let q = mmck(slots as usize, passed * service, room as usize);
            out.throttle = 1.0 - (1.0 - out.throttle) * (1.0 - q.blocking);
            admitted = passed * (1.0 - q.blocking);
            let mean = q.mean_wait * service * spread_factor(self.scv, out.utilization);
            out.wait_probability = q.wait_probability;
            out.mean_wait = mean;
            wait = Some((q.wait_probability, mean, q.wait_scv));
        }
        out.admitted = admitted;
        // 3. Latency at the admitted load.
        out.latency = if !self.table.is_empty() {
            Some(self.at_load(admitted))
        } else {
            match wait {
                Some((p, mean, scv)) if p > 0.0 && mean > 0.0 => Some(ModelLatency {
                    ttft: with_wait(&self.base.ttft, p, mean / p, scv),
                    decode_rate: self.base.decode_rate,
                }),
                _ => None,
            }
        };
        out
    }

    /// The `latency at` table interpolated at `qps` calls per second:
    /// `ln t` at each of [`WAIT_KNOTS`] (and `ln` of the decode rate)
    /// linear in the load between rows, the declared latency at load 0,
    /// the last segment's slope continued beyond the last row.
    pub fn at_load(&self, qps: f64) -> ModelLatency {
        let mut rows: Vec<(f64, &ModelLatency)> = vec![(0.0, &self.base)];
        rows.extend(self.table.iter().map(|(q, l)| (*q, l)));
        let i = rows
            .iter()
            .rposition(|(q, _)| *q <= qps)
            .unwrap_or(0)
            .min(rows.len().saturating_sub(2));
        let (Some(&(q0, a)), Some(&(q1, b))) = (rows.get(i), rows.get(i + 1)) else {
            return self.base.clone();
        };
        let f = if q1 > q0 { (qps - q0) / (q1 - q0) } else { 0.0 };
        let lerp = |x: f64, y: f64| x + (y - x) * f;
        let knots: Vec<(f64, f64)> = WAIT_KNOTS
            .iter()
            .map(|&u| {
                let z = norm_inv(u);
                (u, lerp(a.ttft.ln_at_z(z), b.ttft.ln_at_z(z)).exp())
            })
            .collect();
        let ttft = LatencyQuantiles::from_quantiles(&knots).unwrap_or_else(|| b.ttft.clone());
        let decode_rate = match (a.decode_rate, b.decode_rate) {
            (Some(x), Some(y)) => Some(lerp(x.ln(), y.ln()).exp()),
            (x, y) => y.or(x),
        };
        ModelLatency { ttft, decode_rate }
    }
}

/// A row's latency: the row's figures over the declared ones (a row that
/// gives only TTFT keeps the declared decode rate).
fn row_latency(declared: &Latency, row: &Latency) -> ModelLatency {
    let mut merged = declared.clone();
    if !row.ttft.is_empty() {
        merged.ttft = row.ttft.clone();
        merged.total = Vec::new();
    }
    if !row.total.is_empty() {
        merged.total = row.total.clone();
        merged.ttft = Vec::new();
        merged.decode_rate = None;
    }
    if row.decode_rate.is_some() {
        merged.decode_rate = row.decode_rate;
    }
    ModelLatency::from_latency(&merged)
}

/// The calls per second a capacity (or limit) admits for calls of the
/// given tokens and service time: the least of its kinds; `None` when it
/// declares none.
fn rate_of(c: &Capacity, tokens_per_call: f64, busy_per_call: f64) -> Option<f64> {
    let mut out: Option<f64> = None;
    let mut take = |x: f64| {
        if x.is_finite() && x >= 0.0 {
            out = Some(out.map_or(x, |o| o.min(x)));
        }
    };
    if let Some(r) = c.requests {
        take(r);
    }
    if let Some(t) = c.tokens
        && tokens_per_call > 0.0
    {
        take(t / tokens_per_call);
    }
    if let Some(n) = c.concurrent
        && busy_per_call > 0.0
    {
        take(n / busy_per_call);
    }
    out
}

/// One model under a demand.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelLoad {
    pub demand: Demand,
    /// Offered utilization of the model's capacity (calls reaching the
    /// server over the calls per second it sustains); 0 without capacity.
    pub utilization: f64,
    /// Offered calls over the provider's rate limit; 0 without limits.
    pub limit_utilization: f64,
    /// The share of offered calls refused (rate limit, full queue).
    pub throttle: f64,
    /// Calls per second the server admits.
    pub admitted: f64,
    /// The probability that an admitted call waits for a slot, and the
    /// mean wait of admitted calls (seconds).
    pub wait_probability: f64,
    pub mean_wait: f64,
    /// The latency at this load; `None`: as declared.
    pub latency: Option<ModelLatency>,
}

impl ModelLoad {
    /// The larger of the capacity and rate-limit utilizations.
    pub fn peak_utilization(&self) -> f64 {
        self.utilization.max(self.limit_utilization)
    }
}

/// The load model of a policy under one traffic's answer lengths.
#[derive(Clone, Debug)]
pub struct LoadModel {
    pub specs: Vec<ModelSpec>,
}

impl LoadModel {
    pub fn new(policy: &Policy, output: &OutputDist) -> LoadModel {
        let moments = output_moments(output);
        LoadModel {
            specs: policy
                .models
                .iter()
                .map(|m| ModelSpec::with_output(m, moments))
                .collect(),
        }
    }

    /// Whether any model's behaviour depends on load.
    pub fn any(&self) -> bool {
        self.specs.iter().any(ModelSpec::aware)
    }

    /// Every model idle: the declared model.
    pub fn idle(&self) -> Vec<ModelLoad> {
        vec![ModelLoad::default(); self.specs.len()]
    }

    /// Every model's state under its demand.
    pub fn state(&self, demand: &[Demand]) -> Vec<ModelLoad> {
        self.specs
            .iter()
            .enumerate()
            .map(|(m, s)| s.state(demand.get(m).copied().unwrap_or_default()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-12)
    }

    #[test]
    fn mm1k_matches_its_closed_form() {
        // M/M/1/K: π_n = (1 − ρ) ρⁿ / (1 − ρ^(K+1)).
        for &rho in &[0.3, 0.8, 1.5] {
            let k = 5;
            let q = mmck(1, rho, k - 1);
            let pk = (1.0 - rho) * rho.powi(k as i32) / (1.0 - rho.powi(k as i32 + 1));
            assert!(close(q.blocking, pk, 1e-9), "{rho}");
        }
    }

    #[test]
    fn a_large_room_is_erlang_c() {
        // Erlang C for c = 4, a = 3: P(wait) and the mean wait
        // C / (c − a) in service times.
        let (c, a) = (4usize, 3.0f64);
        let mut sum = 0.0;
        let mut term = 1.0;
        for n in 0..c {
            if n > 0 {
                term *= a / n as f64;
            }
            sum += term;
        }
        let last = term * a / c as f64 * c as f64 / (c as f64 - a);
        let erlang_c = last / (sum + last);
        let q = mmck(c, a, 2000);
        assert!(q.blocking < 1e-12);
        assert!(close(q.wait_probability, erlang_c, 1e-9));
        assert!(close(q.mean_wait, erlang_c / (c as f64 - a), 1e-9));
    }

    #[test]
    fn incomplete_gamma() {
        // P(1, x) = 1 − e^(−x); P(3, x) = 1 − e^(−x)(1 + x + x²/2).
        for &x in &[0.1, 1.0, 2.5, 7.0] {
            assert!(close(gamma_p(1.0, x), 1.0 - (-x).exp(), 1e-12), "{x}");
            let p3 = 1.0 - (-x).exp() * (1.0 + x + x * x / 2.0);
            assert!(close(gamma_p(3.0, x), p3, 1e-10), "{x}");
        }
        assert!(close(ln_gamma(5.0), 24f64.ln(), 1e-13));
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-13
        ));
        // Wilson–Hilferty (used beyond a = 2000) against the series.
        let (a, x) = (1500.0f64, 1540.0f64);
        let z = ((x / a).cbrt() - (1.0 - 1.0 / (9.0 * a))) / (1.0 / (9.0 * a)).sqrt();
        let wh = crate::model::norm_cdf(z);
        assert!((gamma_p(a, x) - wh).abs() < 1e-4, "{} {wh}", gamma_p(a, x));
    }

    #[test]
    fn a_full_room_waits_about_its_length() {
        // Twice the capacity: the room is nearly always full, so a wait is
        // about `room` departures long with a small spread.
        let q = mmck(10, 20.0, 10);
        assert!(q.wait_scv < 0.2, "{}", q.wait_scv);
        assert!((q.mean_wait - 1.0).abs() < 0.1, "{}", q.mean_wait);
    }

    #[test]
    fn overload_refuses_the_excess() {
        // Far beyond capacity the refused share tends to 1 − 1/ρ.
        let q = mmck(200, 600.0, 200);
        assert!((q.blocking - 2.0 / 3.0).abs() < 0.01, "{}", q.blocking);
    }

    #[test]
    fn waiting_shifts_the_ttft() {
        let base = LatencyQuantiles::from_quantiles(&[(0.5, 0.1), (0.95, 0.3)]).unwrap();
        assert_eq!(with_wait(&base, 0.0, 1.0, 1.0), base);
        // Everyone waits an exponential with mean 1s: the median of
        // W + T is about ln 2 + 0.1.
        let l = with_wait(&base, 1.0, 1.0, 1.0);
        let m = l.quantile(0.5);
        assert!(m > 0.7 && m < 0.85, "{m}");
        // p99 of W alone is ln 100 = 4.6s.
        let p99 = l.quantile(0.99);
        assert!(p99 > 4.6 && p99 < 5.0, "{p99}");
    }
}
