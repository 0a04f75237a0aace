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
//!    times are scaled by the Allen–Cunneen factor `(1 + C_s²)/2` for the
//!    service time's variability, and the wait of a call that waits is
//!    exponential with the queue's conditional mean;
//! 3. its **latency** at the admitted load: the declared TTFT plus that
//!    wait (the distribution is refitted through [`WAIT_KNOTS`]), or, when
//!    the model declares latency measured at loads (`latency at 30 qps
//!    ...`), that table interpolated at the admitted calls per second
//!    (then no wait is added: measured latency includes queueing).
//!
//! Refused calls cost nothing, take no time and take the fault path: a
//! retry when `429` (or `4xx`) is in the model's `retry` list, else its
//! fallback. Everything here is pure arithmetic on the declared figures.

use routec_check::ir::{Capacity, Latency, ModelDef, ModelId, Policy};

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
/// Nodes of the convolution of the declared TTFT with the wait.
const WAIT_NODES: usize = 96;
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
    let (mut waits, mut wait_sum) = (0.0, 0.0);
    for n in c..k {
        let pn = p(n);
        waits += pn;
        // n − c + 1 departures, each at rate c / E[S].
        wait_sum += pn * (n - c + 1) as f64 / c as f64;
    }
    QueueState {
        blocking,
        wait_probability: (waits / admitted).clamp(0.0, 1.0),
        mean_wait: wait_sum / admitted,
    }
}

/// The TTFT of a call that waits `W` before it starts: `W + T`, `W = 0`
/// with probability `1 − p`, else exponential with mean `mean`; refitted
/// through [`WAIT_KNOTS`]. `P(W + T > t) = (1 − p)·S(t) + p·(e^(−t/m) +
/// ∫₀ᵗ S(t − w) e^(−w/m)/m dw)`, the integral by the midpoint rule in
/// `v = 1 − e^(−w/m)`.
pub fn with_wait(base: &LatencyQuantiles, p: f64, mean: f64) -> LatencyQuantiles {
    if p <= 0.0 || mean <= 0.0 || !mean.is_finite() {
        return base.clone();
    }
    let p = p.min(1.0);
    let exceed = |t: f64| -> f64 {
        let tail = (-t / mean).exp();
        let v_star = 1.0 - tail;
        let h = v_star / WAIT_NODES as f64;
        let mut inner = 0.0;
        for j in 0..WAIT_NODES {
            let v = (j as f64 + 0.5) * h;
            let w = -mean * (1.0 - v).ln();
            inner += base.exceedance(t - w);
        }
        (1.0 - p) * base.exceedance(t) + p * (tail + inner * h)
    };
    let lo = base.quantile(1e-6).ln();
    let knots: Vec<(f64, f64)> = WAIT_KNOTS
        .iter()
        .map(|&u| {
            let target = 1.0 - u;
            // P(W + T > 2x) <= P(T > x) + P(W > x): each below (1 − u)/4.
            let quarter = (1.0 - u) / 4.0;
            let hi_t = 2.0 * base.quantile(1.0 - quarter).max(-mean * quarter.ln());
            let (mut a, mut b) = (lo, hi_t.ln());
            for _ in 0..44 {
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

/// `E[X]` and `E[X²]` of a distribution given by its quantile function, by
/// the midpoint rule in `u`.
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
    /// The mean TTFT at light load (seconds).
    pub ttft_mean: f64,
    /// The squared coefficient of variation of a call's service time
    /// (TTFT plus decode) under the traffic's answer lengths.
    pub scv: f64,
}

impl ModelSpec {
    pub fn new(def: &ModelDef, output: &OutputDist) -> ModelSpec {
        let base = ModelLatency::of(def);
        let (t1, t2) = moments(|u| base.ttft.quantile(u));
        let (n1, n2) = moments(|u| output.isf(1.0 - u));
        let per_token = base.decode_time(1.0);
        let mean = t1 + per_token * n1;
        let var = (t2 - t1 * t1).max(0.0) + per_token * per_token * (n2 - n1 * n1).max(0.0);
        let scv = if mean > 0.0 { var / (mean * mean) } else { 1.0 };
        let table = def
            .load_latency
            .iter()
            .map(|row| (row.qps, row_latency(&def.latency, &row.latency)))
            .collect();
        ModelSpec {
            capacity: def.capacity.clone(),
            rate_limit: def.rate_limit.clone(),
            base,
            table,
            ttft_mean: t1,
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
            let mean = q.mean_wait * service * (1.0 + self.scv) / 2.0;
            out.wait_probability = q.wait_probability;
            out.mean_wait = mean;
            wait = Some((q.wait_probability, mean));
        }
        out.admitted = admitted;
        // 3. Latency at the admitted load.
        out.latency = if !self.table.is_empty() {
            Some(self.at_load(admitted))
        } else {
            match wait {
                Some((p, mean)) if p > 0.0 && mean > 0.0 => Some(ModelLatency {
                    ttft: with_wait(&self.base.ttft, p, mean / p),
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
    let def = ModelDef {
        latency: merged,
        ..placeholder()
    };
    ModelLatency::of(&def)
}

fn placeholder() -> ModelDef {
    ModelDef {
        name: String::new(),
        span: Default::default(),
        doc: None,
        extends: None,
        provider: None,
        endpoint: None,
        upstream: None,
        api_key: None,
        params: Vec::new(),
        context: None,
        price: Default::default(),
        latency: Default::default(),
        quality: Default::default(),
        fallback: None,
        supports: None,
        capacity: Capacity::default(),
        rate_limit: Capacity::default(),
        load_latency: Vec::new(),
    }
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
        LoadModel {
            specs: policy
                .models
                .iter()
                .map(|m| ModelSpec::new(m, output))
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

    /// The light-load mean TTFT of model `m`.
    pub fn ttft_mean(&self, m: ModelId) -> f64 {
        self.specs.get(m.index()).map_or(0.0, |s| s.ttft_mean)
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
    fn overload_refuses_the_excess() {
        // Far beyond capacity the refused share tends to 1 − 1/ρ.
        let q = mmck(200, 600.0, 200);
        assert!((q.blocking - 2.0 / 3.0).abs() < 0.01, "{}", q.blocking);
    }

    #[test]
    fn waiting_shifts_the_ttft() {
        let base = LatencyQuantiles::from_quantiles(&[(0.5, 0.1), (0.95, 0.3)]).unwrap();
        assert_eq!(with_wait(&base, 0.0, 1.0), base);
        // Everyone waits an exponential with mean 1s: the median of
        // W + T is about ln 2 + 0.1.
        let l = with_wait(&base, 1.0, 1.0);
        let m = l.quantile(0.5);
        assert!(m > 0.7 && m < 0.85, "{m}");
        // p99 of W alone is ln 100 = 4.6s.
        let p99 = l.quantile(0.99);
        assert!(p99 > 4.6 && p99 < 5.0, "{p99}");
    }
}
