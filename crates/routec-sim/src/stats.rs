//! Aggregation: per-group sums and collected latencies, exact order
//! statistics, and the metrics of a group.

use routec_opt::model;

/// The nearest-rank `q`-quantile of `samples` (the `⌈q·n⌉`-th smallest),
/// found by selection; reorders `samples`. `None` when empty.
pub fn quantile(samples: &mut [f32], q: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let n = samples.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    let (_, x, _) = samples.select_nth_unstable_by(rank - 1, f32::total_cmp);
    Some(f64::from(*x))
}

/// p50, p95 and p99 in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

impl Percentiles {
    fn of(samples: &mut [f32]) -> Percentiles {
        Percentiles {
            p50: quantile(samples, 0.50).unwrap_or(0.0),
            p95: quantile(samples, 0.95).unwrap_or(0.0),
            p99: quantile(samples, 0.99).unwrap_or(0.0),
        }
    }
}

/// The metrics of a set of simulated requests. Seconds, USD, ratios.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics {
    /// How many simulated requests.
    pub requests: u64,
    /// Their share of all simulated requests.
    pub share: f64,
    pub ttft: Percentiles,
    pub latency: Percentiles,
    pub mean_ttft: f64,
    pub mean_latency: f64,
    pub cost_per_1k_requests: f64,
    /// Expected cost over expected quality; infinite when nothing succeeds.
    pub cost_per_success: f64,
    /// The expected share of good answers.
    pub quality: f64,
    /// The share of requests every plan failed.
    pub failed: f64,
    /// The composite score against the baseline over the same requests;
    /// `None` without a baseline.
    pub score: Option<f64>,
    /// Per model (indexed like `policy.models`): calls per request.
    pub calls: Vec<f64>,
}

/// Sums over one group of requests (all, a slice, a rule).
#[derive(Clone, Debug, Default)]
pub struct Group {
    pub n: u64,
    pub cost: f64,
    pub quality: f64,
    /// Sums of squares and of products, for sampling intervals.
    pub cost_sq: f64,
    pub quality_sq: f64,
    pub cost_quality: f64,
    pub calls_sq: Vec<u64>,
    pub ttft: f64,
    pub e2e: f64,
    pub failed: u64,
    pub base_cost: f64,
    pub base_quality: f64,
    pub base_e2e: f64,
    pub calls: Vec<u64>,
    pub ttfts: Vec<f32>,
    pub e2es: Vec<f32>,
}

/// One request's contribution.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub ttft: f64,
    pub e2e: f64,
    pub cost: f64,
    pub quality: f64,
    pub failed: bool,
    pub base: Option<(f64, f64, f64)>,
}

impl Group {
    pub fn new(models: usize) -> Group {
        Group {
            calls: vec![0; models],
            calls_sq: vec![0; models],
            ..Group::default()
        }
    }

    #[inline]
    pub fn add(&mut self, s: &Sample, calls: &[u32]) {
        self.n += 1;
        self.cost += s.cost;
        self.quality += s.quality;
        self.cost_sq += s.cost * s.cost;
        self.quality_sq += s.quality * s.quality;
        self.cost_quality += s.cost * s.quality;
        self.ttft += s.ttft;
        self.e2e += s.e2e;
        self.failed += u64::from(s.failed);
        if let Some((l, c, q)) = s.base {
            self.base_e2e += l;
            self.base_cost += c;
            self.base_quality += q;
        }
        for ((total, sq), c) in self.calls.iter_mut().zip(&mut self.calls_sq).zip(calls) {
            *total += u64::from(*c);
            *sq += u64::from(*c) * u64::from(*c);
        }
        self.ttfts.push(s.ttft as f32);
        self.e2es.push(s.e2e as f32);
    }

    /// The group's metrics; `total` is the number of all simulated requests
    /// and `weights` the composite score's (latency, cost, quality) weights.
    pub fn metrics(&mut self, total: u64, weights: (f64, f64, f64), baseline: bool) -> Metrics {
        let n = self.n.max(1) as f64;
        let cost = self.cost / n;
        let quality = self.quality / n;
        let latency = self.e2e / n;
        let score = (baseline && self.n > 0).then(|| {
            model::composite_score(
                weights,
                (latency, cost, quality),
                (self.base_e2e / n, self.base_cost / n, self.base_quality / n),
            )
        });
        Metrics {
            requests: self.n,
            share: self.n as f64 / total.max(1) as f64,
            ttft: Percentiles::of(&mut self.ttfts),
            latency: Percentiles::of(&mut self.e2es),
            mean_ttft: self.ttft / n,
            mean_latency: latency,
            cost_per_1k_requests: cost * 1000.0,
            cost_per_success: model::cost_per_success(cost, quality),
            quality,
            failed: self.failed as f64 / n,
            score,
            calls: self.calls.iter().map(|c| *c as f64 / n).collect(),
        }
    }
}

/// The normal quantile of the two-sided 95% sampling intervals.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The 95% interval of the `q`-quantile of `samples` from order statistics:
/// the ranks `n·q ∓ z·√(n·q·(1−q))` (distribution-free: the count of
/// samples below the true quantile is binomial). Reorders `samples`.
pub fn quantile_interval(samples: &mut [f32], q: f64) -> Option<(f64, f64)> {
    let n = samples.len() as f64;
    let half = Z95 * (n * q * (1.0 - q)).sqrt();
    let lo = ((n * q - half) / n).max(0.0);
    let hi = ((n * q + half + 1.0) / n).min(1.0);
    Some((quantile(samples, lo)?, quantile(samples, hi)?))
}

/// The 95% interval of a mean from `n` samples' sum and sum of squares
/// (normal approximation).
pub fn mean_interval(n: u64, sum: f64, sum_sq: f64) -> (f64, f64) {
    let n = n.max(1) as f64;
    let mean = sum / n;
    let half = Z95 * (variance(n, sum, sum_sq) / n).sqrt();
    (mean - half, mean + half)
}

/// The sample variance from a sum and a sum of squares (never negative).
fn variance(n: f64, sum: f64, sum_sq: f64) -> f64 {
    let mean = sum / n;
    (sum_sq / n - mean * mean).max(0.0) * n / (n - 1.0).max(1.0)
}

/// The 95% interval of `E[cost] / E[quality]` by the delta method.
pub fn ratio_interval(g: &Group) -> (f64, f64) {
    let n = g.n.max(1) as f64;
    let (c, q) = (g.cost / n, g.quality / n);
    let r = model::cost_per_success(c, q);
    if !r.is_finite() || q <= 0.0 {
        return (r, r);
    }
    let var_c = variance(n, g.cost, g.cost_sq);
    let var_q = variance(n, g.quality, g.quality_sq);
    let cov = (g.cost_quality / n - c * q) * n / (n - 1.0).max(1.0);
    let var = (var_c - 2.0 * r * cov + r * r * var_q).max(0.0) / (q * q * n);
    let half = Z95 * var.sqrt();
    (r - half, r + half)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut v: Vec<f32> = (1..=100).rev().map(|x| x as f32).collect();
        assert_eq!(quantile(&mut v, 0.5), Some(50.0));
        assert_eq!(quantile(&mut v, 0.95), Some(95.0));
        assert_eq!(quantile(&mut v, 0.99), Some(99.0));
        assert_eq!(quantile(&mut v, 1.0), Some(100.0));
        assert_eq!(quantile(&mut v, 0.0), Some(1.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }

    #[test]
    fn quantile_intervals_cover_the_rank_spread() {
        // 10,000 samples 1..=10000: p95 is 9500; the rank's standard error
        // is √(10000·0.95·0.05) ≈ 21.8, so the interval is about ±43.
        let mut v: Vec<f32> = (1..=10_000).map(|x| x as f32).collect();
        let (lo, hi) = quantile_interval(&mut v, 0.95).unwrap();
        assert!((9450.0..9465.0).contains(&lo), "{lo}");
        assert!((9535.0..9550.0).contains(&hi), "{hi}");
    }

    #[test]
    fn mean_interval_is_the_standard_error() {
        // Half zeros, half ones: mean 0.5, sd 0.5, n 400: ±1.96·0.025.
        let (lo, hi) = mean_interval(400, 200.0, 200.0);
        assert!((lo - (0.5 - 0.049)).abs() < 1e-3 && (hi - (0.5 + 0.049)).abs() < 1e-3);
    }
}
