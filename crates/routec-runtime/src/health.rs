//! The per-model drift monitors: each model's observed TTFT and latency
//! p95 and error rate over a sliding window, against the figures the table
//! expects of it (`table.model_health`), for `learn { drift ttft|latency|
//! errors > P% over W => ACTION }` (`docs/learn.md`, "Per-model latency and
//! error drift").
//!
//! **Measures.** `ttft` and `latency`: the p95 of the window's attempts on
//! the model over its expected p95 (`ratio`); the monitor is over when
//! `ratio − 1` exceeds the threshold (`drift latency > 50%`: the observed
//! p95 is more than 1.5 times the expected one). `errors`: the share of the
//! window's attempts that failed, minus the expected rate, in points
//! (`drift errors > 2%`: 2 points above the expected rate). A model without
//! the expected figure (no declared latency) is not watched for that
//! measure. What an attempt is, and which count as failures, is the
//! caller's: the gateway's rules are in `docs/learn.md`.
//!
//! **Window.** Per monitor and model, `BUCKETS` time buckets of `window /
//! BUCKETS` seconds in a ring, as [`crate::DriftMonitor`]'s: an observation
//! is O(1) and allocates nothing (a bucket is cleared when the ring comes
//! back to it); the window is summed when checked. Time is the caller's
//! (any monotonic seconds). A latency bucket holds a histogram of
//! [`BINS`] bins, [`BINS_PER_OCTAVE`] per octave relative to the model's
//! expected p95, from `2^-OCTAVES` to `2^OCTAVES` times it (plus a bin
//! below and one above): the p95 read from it is the geometric middle of
//! its bin, within 4.4% of the sample's p95 inside the range. A p95 in the
//! top bin reads as its lower edge (64 times the expected one): enough to
//! alert.
//!
//! **Shared.** A monitor's bucket is numbered `⌊now / width⌋`
//! ([`HealthMonitor::bucket`]) and its counts per bucket are numbered
//! `model × slots + slot` ([`Layout`]): processes that pass wall-clock
//! seconds agree on both, so replicas can add up their counts (told by
//! [`HealthMonitor::observe_counted`]) per bucket in a shared store and
//! check the fleet's windows with [`HealthMonitor::check_counts`], as
//! [`crate::DriftMonitor::check_counts`] does for the traffic mix.
//!
//! **Noise.** The p95 of `N` draws of a lognormal with log-spread `σ` has a
//! standard error of about `2.1 σ / √N` in log space. An alert needs at
//! least `max(MIN_TIMED, ⌈(6 / ln(1 + t))²⌉)` timed attempts in the window
//! (`t` the threshold): 5 standard errors under the threshold for `σ ≈
//! 0.57` (a p95 2.5 times the p50, as in `spec/support.route`), 219 for a
//! threshold of 50%; and [`MIN_TIMED`] keeps 10 attempts above the p95 so
//! that it is not one outlier. The error rate of `N` attempts with an
//! expected rate `e` has a standard error of `√(e(1 − e)/N)`: an alert
//! needs `max(MIN_ATTEMPTS, ⌈25 e(1 − e) / t²⌉)` attempts, 5 standard
//! errors under the threshold (311 for `e = 0.5%`, `t = 2%`). The gauges
//! are reported whatever the count.

use std::ops::RangeInclusive;

use routec_table::Table;

/// Time buckets in a window.
pub const BUCKETS: usize = 60;
/// Histogram bins per octave of latency.
pub const BINS_PER_OCTAVE: usize = 8;
/// Octaves on each side of the expected p95 the histogram resolves.
pub const OCTAVES: usize = 6;
/// Bins of a latency histogram: the resolved range and one bin on each side.
pub const BINS: usize = 2 * OCTAVES * BINS_PER_OCTAVE + 2;
/// The fewest timed attempts a `ttft` or `latency` alert needs.
pub const MIN_TIMED: u64 = 200;
/// The fewest attempts an `errors` alert needs.
pub const MIN_ATTEMPTS: u64 = 100;

/// What a per-model monitor measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// Time to first token, p95.
    Ttft,
    /// End to end, p95.
    Latency,
    /// The share of failed attempts.
    Errors,
}

impl Measure {
    /// The word of the language.
    pub fn word(self) -> &'static str {
        match self {
            Measure::Ttft => "ttft",
            Measure::Latency => "latency",
            Measure::Errors => "errors",
        }
    }

    fn of(word: &str) -> Option<Measure> {
        match word {
            "ttft" => Some(Measure::Ttft),
            "latency" => Some(Measure::Latency),
            "errors" => Some(Measure::Errors),
            _ => None,
        }
    }

    /// Counts per bucket: a histogram, or attempts and failures.
    fn stride(self) -> usize {
        match self {
            Measure::Ttft | Measure::Latency => BINS,
            Measure::Errors => 2,
        }
    }
}

/// One attempt on a model, as observed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Attempt {
    /// Seconds to the first token (a lower bound for an attempt that timed
    /// out before it), when timed.
    pub ttft: Option<f64>,
    /// Seconds end to end (a lower bound for an attempt that timed out),
    /// when timed.
    pub latency: Option<f64>,
    /// Whether it counts as a failure.
    pub failed: bool,
}

/// One model under one monitor at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelDrift {
    /// Index into `table.models`.
    pub model: u32,
    pub name: String,
    pub measure: Measure,
    /// The observed p95 (seconds) or error rate (`0..=1`); 0 for an empty
    /// window.
    pub observed: f64,
    /// The expected p95 (seconds) or error rate.
    pub expected: f64,
    /// Timed attempts (`ttft`, `latency`) or attempts (`errors`) in the
    /// window.
    pub count: u64,
    /// The count an alert needs.
    pub min_count: u64,
    /// The declared threshold: a relative excess (`0.5`) or points (`0.02`).
    pub threshold: f64,
    /// The window, seconds.
    pub window: f64,
    /// The declared action (`alert`, `refit`, ...).
    pub action: String,
}

impl ModelDrift {
    /// How far the observation is above the expectation, in the
    /// threshold's terms: `observed / expected − 1` for a p95, `observed −
    /// expected` for an error rate.
    pub fn excess(&self) -> f64 {
        match self.measure {
            Measure::Ttft | Measure::Latency if self.expected > 0.0 => {
                self.observed / self.expected - 1.0
            }
            Measure::Ttft | Measure::Latency => 0.0,
            Measure::Errors => self.observed - self.expected,
        }
    }

    /// `observed / expected` of a p95 (1 when nothing was observed).
    pub fn ratio(&self) -> f64 {
        if self.count == 0 || self.expected <= 0.0 {
            1.0
        } else {
            self.observed / self.expected
        }
    }

    /// Whether the excess is over the threshold on enough attempts.
    pub fn over(&self) -> bool {
        self.count >= self.min_count && self.excess() > self.threshold
    }

    /// The alert line: the model, what it was observed doing against what
    /// was expected of it, over which window.
    pub fn describe(&self) -> String {
        let window = crate::drift::human_seconds(self.window);
        match self.measure {
            Measure::Ttft | Measure::Latency => format!(
                "model drift: `{}` {} p95 {} over the last {window} ({} attempts), {:.0}% above its expected {} (threshold {:.0}%)",
                self.name,
                if self.measure == Measure::Ttft {
                    "TTFT"
                } else {
                    "latency"
                },
                human_time(self.observed),
                self.count,
                self.excess() * 100.0,
                human_time(self.expected),
                self.threshold * 100.0,
            ),
            Measure::Errors => format!(
                "model drift: `{}` error rate {:.1}% over the last {window} ({} attempts), {:.1} points above its expected {:.1}% (threshold {} points)",
                self.name,
                self.observed * 100.0,
                self.count,
                self.excess() * 100.0,
                self.expected * 100.0,
                trim(self.threshold * 100.0),
            ),
        }
    }
}

fn trim(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn human_time(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0}ms", s * 1000.0)
    } else {
        format!("{s:.2}s")
    }
}

/// One `drift ttft|latency|errors` monitor over every model.
#[derive(Clone, Debug)]
struct Watch {
    measure: Measure,
    threshold: f64,
    window: f64,
    width: f64,
    action: String,
    /// Per model: the expected figure, `None` when not watched.
    expected: Vec<Option<f64>>,
    /// Per model: the count an alert needs.
    min_count: Vec<u64>,
    /// `[model][bucket]`: bucket index + 1 (0: never used).
    epochs: Vec<u64>,
    /// `[model][bucket][stride]`.
    counts: Vec<u32>,
    /// Per model: over the threshold at the last check.
    alerting: Vec<bool>,
    last_epoch: u64,
}

impl Watch {
    fn epoch(&self, now: f64) -> u64 {
        (now.max(0.0) / self.width) as u64 + 1
    }

    /// This monitor's own counts over the window ending at `now`, summed
    /// by counter (`model × stride + slot`).
    fn own_totals(&self, now: f64) -> Vec<u64> {
        let epoch = self.epoch(now);
        let stride = self.measure.stride();
        let mut totals = vec![0u64; self.counts.len() / BUCKETS];
        for (slot, &e) in self.epochs.iter().enumerate() {
            if e == 0 || e > epoch || epoch - e >= BUCKETS as u64 {
                continue;
            }
            let m = slot / BUCKETS;
            let (Some(sum), Some(counts)) = (
                totals.get_mut(m * stride..(m + 1) * stride),
                self.counts.get(slot * stride..(slot + 1) * stride),
            ) else {
                continue;
            };
            for (s, c) in sum.iter_mut().zip(counts) {
                *s += u64::from(*c);
            }
        }
        totals
    }
}

/// One monitor's window and counters, as replicas share them: per bucket,
/// counter `model × slots + slot` (`model` an index into `table.models`),
/// the slot a histogram bin (`ttft`, `latency`: [`BINS`] slots, bins of
/// the model's expected p95) or, for `errors`, 0 for attempts and 1 for
/// failures. Counts are comparable only between monitors with the same
/// layout (measure, window and expected figures).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout<'a> {
    pub measure: Measure,
    /// The window, seconds.
    pub window: f64,
    /// A bucket's width, seconds (the window over [`BUCKETS`]).
    pub width: f64,
    /// Counters per model.
    pub slots: usize,
    /// Per model: the expected figure the bins are relative to (`None`:
    /// not watched).
    pub expected: &'a [Option<f64>],
}

impl Layout<'_> {
    /// Counters per bucket: models × slots.
    pub fn counters(&self) -> usize {
        self.expected.len() * self.slots
    }
}

/// The per-model monitors of one table.
#[derive(Clone, Debug)]
pub struct HealthMonitor {
    names: Vec<String>,
    watches: Vec<Watch>,
}

/// The histogram bin of `x` seconds against the expected p95 `p95`.
fn bin(x: f64, p95: f64) -> usize {
    if x.is_nan() || p95.is_nan() || x <= 0.0 || p95 <= 0.0 {
        return 0;
    }
    let at = ((x / p95).log2() + OCTAVES as f64) * BINS_PER_OCTAVE as f64;
    if at < 0.0 {
        0
    } else {
        ((at as usize) + 1).min(BINS - 1)
    }
}

/// The seconds bin `b` reads as (see the module docs).
fn bin_value(b: usize, p95: f64) -> f64 {
    let octave = |k: f64| p95 * (k / BINS_PER_OCTAVE as f64 - OCTAVES as f64).exp2();
    match b {
        0 => octave(0.0),
        b if b >= BINS - 1 => octave((BINS - 2) as f64),
        b => octave(b as f64 - 0.5),
    }
}

impl HealthMonitor {
    /// The monitors of `table`: the first `drift ttft`, `drift latency` and
    /// `drift errors` of its `learn` block, over the models of
    /// `table.model_health`. `None` when it declares none (or has no
    /// expected figures).
    pub fn new(table: &Table) -> Option<HealthMonitor> {
        if table.model_health.is_empty() {
            return None;
        }
        let models = table.models.len();
        let mut watches = Vec::new();
        for d in &table.learn.drift {
            let Some(measure) = Measure::of(&d.measure) else {
                continue;
            };
            if watches.iter().any(|w: &Watch| w.measure == measure)
                || !(d.window.is_finite() && d.window > 0.0)
                || !d.threshold.is_finite()
            {
                continue;
            }
            let mut expected = vec![None; models];
            for h in &table.model_health {
                if let Some(e) = expected.get_mut(h.model as usize) {
                    *e = match measure {
                        Measure::Ttft => h.ttft_p95,
                        Measure::Latency => h.latency_p95,
                        Measure::Errors => Some(h.error_rate),
                    };
                }
            }
            let t = d.threshold.max(1e-6);
            let min_count = expected
                .iter()
                .map(|e| match (measure, e) {
                    (Measure::Errors, Some(e)) => {
                        ((25.0 * e * (1.0 - e) / (t * t)).ceil() as u64).max(MIN_ATTEMPTS)
                    }
                    _ => (((6.0 / t.ln_1p()).powi(2)).ceil() as u64).max(MIN_TIMED),
                })
                .collect();
            let stride = measure.stride();
            watches.push(Watch {
                measure,
                threshold: d.threshold,
                window: d.window,
                width: d.window / BUCKETS as f64,
                action: d.action.clone(),
                expected,
                min_count,
                epochs: vec![0; models * BUCKETS],
                counts: vec![0; models * BUCKETS * stride],
                alerting: vec![false; models],
                last_epoch: 0,
            });
        }
        if watches.is_empty() {
            return None;
        }
        Some(HealthMonitor {
            names: table.models.iter().map(|m| m.name.clone()).collect(),
            watches,
        })
    }

    /// The measures watched, in declaration order.
    pub fn measures(&self) -> impl Iterator<Item = Measure> + '_ {
        self.watches.iter().map(|w| w.measure)
    }

    /// Each monitor's window and counters, in declaration order (a
    /// monitor's index in the callbacks of
    /// [`observe_counted`](Self::observe_counted) and
    /// [`check_counts`](Self::check_counts) is its position here).
    pub fn layouts(&self) -> impl Iterator<Item = Layout<'_>> + '_ {
        self.watches.iter().map(|w| Layout {
            measure: w.measure,
            window: w.window,
            width: w.width,
            slots: w.measure.stride(),
            expected: &w.expected,
        })
    }

    /// The number of the bucket of monitor `monitor` holding `now`:
    /// `⌊now / width⌋` (0 for a monitor it does not have).
    pub fn bucket(&self, monitor: usize, now: f64) -> u64 {
        self.watches.get(monitor).map_or(0, |w| w.epoch(now) - 1)
    }

    /// The buckets of monitor `monitor`'s window ending at `now`, oldest
    /// first.
    pub fn buckets_at(&self, monitor: usize, now: f64) -> RangeInclusive<u64> {
        let last = self.bucket(monitor, now);
        last.saturating_sub(BUCKETS as u64 - 1)..=last
    }

    /// Counts one attempt on `model` at `now` (seconds). O(1), no
    /// allocation. Returns `true` when a new bucket began for some monitor
    /// (the caller may [`check`](Self::check) then).
    pub fn observe(&mut self, model: u32, attempt: Attempt, now: f64) -> bool {
        self.observe_counted(model, attempt, now, |_, _, _| {})
    }

    /// [`observe`](Self::observe), telling `counted(monitor, bucket,
    /// counter)` each count it adds one to (a bucket numbered as
    /// [`bucket`](Self::bucket), a counter numbered as in [`Layout`]), for
    /// a caller that adds the counts up in a shared store. O(1), no
    /// allocation.
    pub fn observe_counted(
        &mut self,
        model: u32,
        attempt: Attempt,
        now: f64,
        mut counted: impl FnMut(usize, u64, u32),
    ) -> bool {
        let m = model as usize;
        let mut new = false;
        for (i, w) in self.watches.iter_mut().enumerate() {
            let Some(Some(expected)) = w.expected.get(m).copied() else {
                continue;
            };
            // The count to add to: a histogram bin, or attempts (slot 0;
            // slot 1 counts failures).
            let at = match w.measure {
                Measure::Ttft => attempt.ttft.map(|t| bin(t, expected)),
                Measure::Latency => attempt.latency.map(|t| bin(t, expected)),
                Measure::Errors => Some(0),
            };
            let Some(at) = at else {
                continue;
            };
            let epoch = w.epoch(now);
            let stride = w.measure.stride();
            let slot = m * BUCKETS + (epoch as usize) % BUCKETS;
            let Some(e) = w.epochs.get_mut(slot) else {
                continue;
            };
            let Some(counts) = w.counts.get_mut(slot * stride..(slot + 1) * stride) else {
                continue;
            };
            if *e != epoch {
                *e = epoch;
                counts.iter_mut().for_each(|c| *c = 0);
            }
            let counter = |s: usize| u32::try_from(m * stride + s).unwrap_or(u32::MAX);
            if let Some(c) = counts.get_mut(at) {
                *c = c.saturating_add(1);
                counted(i, epoch - 1, counter(at));
            }
            if w.measure == Measure::Errors
                && attempt.failed
                && let Some(c) = counts.get_mut(1)
            {
                *c = c.saturating_add(1);
                counted(i, epoch - 1, counter(1));
            }
            if epoch != w.last_epoch {
                new = true;
                w.last_epoch = epoch;
            }
        }
        new
    }

    /// Every watched model under every monitor, over the window ending at
    /// `now`.
    pub fn status(&self, now: f64) -> Vec<ModelDrift> {
        self.shared_status(now, |_, _| None::<Vec<(u64, Vec<u64>)>>)
    }

    /// [`status`](Self::status) on counts per bucket given by the caller
    /// where it has them: `fleet(monitor, buckets)` answers monitor
    /// `monitor`'s counts per bucket in `buckets` (`(bucket number, counts
    /// by counter number)`, the whole fleet's, read from a shared store),
    /// or `None` for this monitor's own. Buckets outside the window and
    /// counters past the monitor's are ignored.
    pub fn shared_status<I, C>(
        &self,
        now: f64,
        mut fleet: impl FnMut(usize, RangeInclusive<u64>) -> Option<I>,
    ) -> Vec<ModelDrift>
    where
        I: IntoIterator<Item = (u64, C)>,
        C: AsRef<[u64]>,
    {
        let mut out = Vec::new();
        for (i, w) in self.watches.iter().enumerate() {
            let window = self.buckets_at(i, now);
            let totals = match fleet(i, window.clone()) {
                Some(buckets) => {
                    let mut totals = vec![0u64; w.counts.len() / BUCKETS];
                    for (b, counts) in buckets {
                        if window.contains(&b) {
                            for (t, c) in totals.iter_mut().zip(counts.as_ref()) {
                                *t = t.saturating_add(*c);
                            }
                        }
                    }
                    totals
                }
                None => w.own_totals(now),
            };
            self.push_status(w, &totals, &mut out);
        }
        out
    }

    /// The statuses of `w`'s models from its window's totals by counter.
    fn push_status(&self, w: &Watch, totals: &[u64], out: &mut Vec<ModelDrift>) {
        let stride = w.measure.stride();
        for (m, expected) in w.expected.iter().enumerate() {
            let Some(expected) = *expected else {
                continue;
            };
            let sum = totals.get(m * stride..(m + 1) * stride).unwrap_or(&[]);
            let (observed, count) = match w.measure {
                Measure::Errors => {
                    let n = sum.first().copied().unwrap_or(0);
                    let failed = sum.get(1).copied().unwrap_or(0).min(n);
                    let rate = if n == 0 {
                        0.0
                    } else {
                        failed as f64 / n as f64
                    };
                    (rate, n)
                }
                Measure::Ttft | Measure::Latency => {
                    let n: u64 = sum.iter().sum();
                    (p95(sum, n, expected), n)
                }
            };
            out.push(ModelDrift {
                model: m as u32,
                name: self.names.get(m).cloned().unwrap_or_default(),
                measure: w.measure,
                observed,
                expected,
                count,
                min_count: w.min_count.get(m).copied().unwrap_or(u64::MAX),
                threshold: w.threshold,
                window: w.window,
                action: w.action.clone(),
            });
        }
    }

    /// [`status`](Self::status), each with whether it just crossed its
    /// threshold (an alert fires once per crossing and re-arms when the
    /// model falls back under it).
    pub fn check(&mut self, now: f64) -> Vec<(ModelDrift, bool)> {
        let status = self.status(now);
        self.settle(status)
    }

    /// [`check`](Self::check) on counts per bucket given by the caller, as
    /// [`shared_status`](Self::shared_status) reads them: the fleet's
    /// windows, whose crossings fire here once (each monitor keeps its own
    /// once-per-crossing state).
    pub fn check_counts<I, C>(
        &mut self,
        now: f64,
        fleet: impl FnMut(usize, RangeInclusive<u64>) -> Option<I>,
    ) -> Vec<(ModelDrift, bool)>
    where
        I: IntoIterator<Item = (u64, C)>,
        C: AsRef<[u64]>,
    {
        let status = self.shared_status(now, fleet);
        self.settle(status)
    }

    fn settle(&mut self, status: Vec<ModelDrift>) -> Vec<(ModelDrift, bool)> {
        status
            .into_iter()
            .map(|s| {
                let over = s.over();
                let fired = self
                    .watches
                    .iter_mut()
                    .find(|w| w.measure == s.measure)
                    .and_then(|w| w.alerting.get_mut(s.model as usize))
                    .is_some_and(|a| {
                        let fired = over && !*a;
                        *a = over;
                        fired
                    });
                (s, fired)
            })
            .collect()
    }
}

/// The p95 a histogram of `n` values reads as (0 when empty).
fn p95(hist: &[u64], n: u64, expected: f64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    // The rank of the p95: the smallest value with 95% at or below it.
    let rank = (n * 95).div_ceil(100).max(1);
    let mut seen = 0;
    for (b, &c) in hist.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return bin_value(b, expected);
        }
    }
    bin_value(BINS - 1, expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_bracket_their_values() {
        let p95 = 0.25;
        for x in [0.01, 0.1, 0.2, 0.25, 0.3, 1.0, 10.0] {
            let b = bin(x, p95);
            let read = bin_value(b, p95);
            assert!((read / x).ln().abs() <= (0.5f64 / 8.0) * std::f64::consts::LN_2 + 1e-12);
        }
        assert_eq!(bin(1e-6, p95), 0);
        assert_eq!(bin(1e6, p95), BINS - 1);
        assert_eq!(bin(f64::NAN, p95), 0);
        assert_eq!(bin(-1.0, p95), 0);
    }
}
