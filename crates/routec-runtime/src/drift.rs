//! The traffic-mix drift monitor: a sliding window of routed requests over
//! the table's cells, and the KL divergence in nats of the window's mix
//! from the mix the table was compiled for (`table.assumed`).
//!
//! **Bins.** The runtime knows a request's leaf (`Decision::leaf`), not
//! always its cell: the compiler merges the cells that share a rule and a
//! plan split into one leaf. A bin is a leaf, and its assumed share is the
//! sum of the assumed shares of its cells (a cell belongs to the leaf with
//! its rule and splits, exactly as the compiler built the leaves). Traffic
//! that moves between cells of one leaf is invisible; traffic that moves
//! between leaves is not.
//!
//! **Window.** `BUCKETS` time buckets of `window / BUCKETS` seconds each, in
//! a ring: counting a request is O(1) (a bucket is cleared when the ring
//! comes back to it, O(bins) once per bucket width); the window's counts are
//! summed when the divergence is asked for. Time is the caller's: any
//! monotonic seconds (the crate reads no clock). A bucket is numbered
//! `⌊now / width⌋` ([`DriftMonitor::bucket`]): processes that pass
//! wall-clock seconds agree on the buckets, so replicas can add up their
//! counts per bucket in a shared store and check the fleet's window with
//! [`DriftMonitor::check_counts`].
//!
//! **Divergence.** `KL(p || q) = Σ p_i ln(p_i / q_i)` over the bins, `p` the
//! window's shares, `q` the assumed shares smoothed toward uniform,
//! `q_i = (a_i + ε) / (1 + Kε)` with `ε = ASSUMED_FLOOR` and `K` bins, so a
//! bin the table assumed empty (a cell no recorded request fell in) costs
//! `p_i ln(p_i / ε')` instead of infinity. Bins without requests contribute 0.
//!
//! **Noise.** A window of `N` requests drawn from the assumed mix itself has
//! an expected plug-in divergence of about `(K - 1) / (2N)` nats. An alert
//! needs at least `min_requests = max(100, ⌈5 (K - 1) / threshold⌉)`
//! requests in the window, so that sampling noise alone is at most a tenth
//! of the threshold.

use routec_table::Table;

/// Time buckets in the window.
pub const BUCKETS: usize = 60;

/// The floor `ε` added to every assumed share before normalizing.
pub const ASSUMED_FLOOR: f64 = 1e-4;

/// The window when the table declares no `drift kl` monitor, seconds.
pub const DEFAULT_WINDOW: f64 = 3600.0;

/// The fewest requests an alert needs, whatever the threshold.
pub const MIN_REQUESTS: u64 = 100;

#[derive(Clone, Debug)]
struct Bucket {
    /// Bucket index + 1 (0: never used).
    epoch: u64,
    counts: Vec<u32>,
}

/// A bin whose share moved: the observed and assumed shares.
#[derive(Clone, Debug, PartialEq)]
pub struct Moved {
    /// The leaf's rule number and plan, with its cell's predicate when it
    /// has one cell (`rule 5 => small: task = code, plan = pro`), else its
    /// cell count (`rule 4 => small (20 cells)`).
    pub name: String,
    pub observed: f64,
    pub assumed: f64,
}

/// The window at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct DriftStatus {
    /// `KL(observed || assumed)`, nats (0 for an empty window).
    pub kl: f64,
    /// Requests in the window.
    pub requests: u64,
    /// The requests an alert needs.
    pub min_requests: u64,
    /// The declared threshold, nats, when the table declares one.
    pub threshold: Option<f64>,
    /// The window, seconds.
    pub window: f64,
    /// The bins whose share moved most, largest `|observed - assumed|`
    /// first (at most 3, only bins that moved).
    pub moved: Vec<Moved>,
}

impl DriftStatus {
    /// Whether the divergence is over the threshold on enough requests.
    pub fn over(&self) -> bool {
        self.threshold
            .is_some_and(|t| self.requests >= self.min_requests && self.kl > t)
    }

    /// The alert line: the divergence, the window and the bins that moved.
    pub fn describe(&self) -> String {
        let moved: Vec<String> = self
            .moved
            .iter()
            .map(|m| {
                format!(
                    "`{}` {:.1}% (assumed {:.1}%)",
                    m.name,
                    m.observed * 100.0,
                    m.assumed * 100.0
                )
            })
            .collect();
        format!(
            "traffic drift: KL(observed || assumed) = {:.3} nats over the last {} ({} requests){}; moved most: {}",
            self.kl,
            human_seconds(self.window),
            self.requests,
            self.threshold
                .map_or_else(String::new, |t| format!(", above {t} nats")),
            if moved.is_empty() {
                "nothing".to_owned()
            } else {
                moved.join(", ")
            }
        )
    }
}

pub(crate) fn human_seconds(s: f64) -> String {
    if s >= 3600.0 && (s / 3600.0).fract() == 0.0 {
        format!("{}h", s / 3600.0)
    } else if s >= 60.0 && (s / 60.0).fract() == 0.0 {
        format!("{}m", s / 60.0)
    } else {
        format!("{s}s")
    }
}

/// The monitor of one table.
#[derive(Clone, Debug)]
pub struct DriftMonitor {
    names: Vec<String>,
    /// The table's shares per bin (summing to 1).
    assumed: Vec<f64>,
    /// Smoothed (see the module docs).
    smoothed: Vec<f64>,
    threshold: Option<f64>,
    /// The declared action (`alert`, ...).
    pub action: Option<String>,
    window: f64,
    width: f64,
    min_requests: u64,
    buckets: Vec<Bucket>,
    /// Over the threshold at the last check (alerts fire on the crossing).
    alerting: bool,
    /// The bucket of the last observation, to check once per bucket.
    last_epoch: u64,
}

impl DriftMonitor {
    /// The monitor of `table`: its bins, the assumed shares and the first
    /// `drift kl` setting of its `learn` block (else a window of
    /// [`DEFAULT_WINDOW`] and no threshold). `None` when the table carries
    /// no assumed mix.
    pub fn new(table: &Table) -> Option<DriftMonitor> {
        let assumed = table.assumed.as_ref()?;
        let k = table.leaves.len();
        if k == 0 {
            return None;
        }
        let mut shares = vec![0.0; k];
        let mut cells_of = vec![Vec::new(); k];
        for (c, cell) in assumed.cells.iter().enumerate() {
            let leaf = table
                .leaves
                .iter()
                .position(|l| l.rule == cell.rule && l.splits == cell.splits);
            if let Some(l) = leaf {
                shares[l] += cell.share.max(0.0);
                cells_of[l].push(c);
            }
        }
        let total: f64 = shares.iter().sum();
        if total <= 0.0 || !total.is_finite() {
            return None;
        }
        shares.iter_mut().for_each(|s| *s /= total);
        let names = (0..k)
            .map(|l| {
                let leaf = &table.leaves[l];
                let plan = |p: u32| table.plans.get(p as usize).map_or("", |p| p.text.as_str());
                let plans: Vec<String> = match leaf.splits.as_slice() {
                    [one] => vec![plan(one.plan).to_owned()],
                    many => many
                        .iter()
                        .map(|s| format!("{} {:.0}%", plan(s.plan), s.share * 100.0))
                        .collect(),
                };
                let base = format!("rule {} => {}", leaf.rule + 1, plans.join(" / "));
                match cells_of[l].as_slice() {
                    [c] if assumed.cells[*c].predicate == "all requests" => base,
                    [c] => format!("{base}: {}", assumed.cells[*c].predicate),
                    cs => format!("{base} ({} cells)", cs.len()),
                }
            })
            .collect();
        let eps = ASSUMED_FLOOR;
        let smoothed = shares
            .iter()
            .map(|a| (a + eps) / (1.0 + k as f64 * eps))
            .collect();
        let drift = table.learn.drift.iter().find(|d| d.measure == "kl");
        let window = drift
            .map(|d| d.window)
            .filter(|w| w.is_finite() && *w > 0.0)
            .unwrap_or(DEFAULT_WINDOW);
        let threshold = drift.map(|d| d.threshold);
        let basis = threshold.filter(|t| *t > 0.0).unwrap_or(0.1);
        let min_requests = ((5.0 * (k as f64 - 1.0) / basis).ceil() as u64).max(MIN_REQUESTS);
        Some(DriftMonitor {
            names,
            assumed: shares,
            smoothed,
            threshold,
            action: drift.map(|d| d.action.clone()),
            window,
            width: window / BUCKETS as f64,
            min_requests,
            buckets: vec![
                Bucket {
                    epoch: 0,
                    counts: vec![0; k],
                };
                BUCKETS
            ],
            alerting: false,
            last_epoch: 0,
        })
    }

    /// The bins' names and assumed shares, in leaf order.
    pub fn bins(&self) -> impl Iterator<Item = (&str, f64)> {
        self.names
            .iter()
            .map(String::as_str)
            .zip(self.assumed.iter().copied())
    }

    fn epoch(&self, now: f64) -> u64 {
        self.bucket(now) + 1
    }

    /// The number of the bucket holding `now`: `⌊now / width⌋`, the width
    /// being the window over [`BUCKETS`].
    pub fn bucket(&self, now: f64) -> u64 {
        (now.max(0.0) / self.width) as u64
    }

    /// The window, seconds.
    pub fn window(&self) -> f64 {
        self.window
    }

    /// The width of a bucket, seconds.
    pub fn width(&self) -> f64 {
        self.width
    }

    /// The bins, whose indexes are the leaves'.
    pub fn len(&self) -> usize {
        self.assumed.len()
    }

    /// Whether the monitor has no bin (never: a table without leaves has
    /// no monitor).
    pub fn is_empty(&self) -> bool {
        self.assumed.is_empty()
    }

    /// The buckets of the window ending at `now`, oldest first.
    pub fn buckets_at(&self, now: f64) -> std::ops::RangeInclusive<u64> {
        let last = self.bucket(now);
        last.saturating_sub(BUCKETS as u64 - 1)..=last
    }

    /// Counts one request routed to `leaf` at `now` (seconds). Returns
    /// `true` when a new bucket began (the caller may [`check`](Self::check)
    /// then: once per bucket width).
    pub fn observe(&mut self, leaf: u32, now: f64) -> bool {
        let epoch = self.epoch(now);
        let slot = (epoch as usize) % BUCKETS;
        let Some(bucket) = self.buckets.get_mut(slot) else {
            return false;
        };
        if bucket.epoch != epoch {
            bucket.epoch = epoch;
            bucket.counts.iter_mut().for_each(|c| *c = 0);
        }
        if let Some(c) = bucket.counts.get_mut(leaf as usize) {
            *c = c.saturating_add(1);
        }
        let new = epoch != self.last_epoch;
        self.last_epoch = epoch;
        new
    }

    /// The window ending at `now`, from this monitor's own counts.
    pub fn status(&self, now: f64) -> DriftStatus {
        let epoch = self.epoch(now);
        let k = self.assumed.len();
        let mut counts = vec![0u64; k];
        for b in &self.buckets {
            if b.epoch != 0 && b.epoch <= epoch && epoch - b.epoch < BUCKETS as u64 {
                for (sum, c) in counts.iter_mut().zip(&b.counts) {
                    *sum += u64::from(*c);
                }
            }
        }
        self.status_of(&counts)
    }

    /// The window ending at `now` from counts per bucket given by the
    /// caller (`(bucket number, counts per bin)`: the whole fleet's, read
    /// from a shared store); buckets outside the window and bins past the
    /// table's are ignored.
    pub fn shared_status<'c>(
        &self,
        now: f64,
        buckets: impl IntoIterator<Item = (u64, &'c [u64])>,
    ) -> DriftStatus {
        let window = self.buckets_at(now);
        let mut counts = vec![0u64; self.assumed.len()];
        for (b, per_bin) in buckets {
            if window.contains(&b) {
                for (sum, c) in counts.iter_mut().zip(per_bin) {
                    *sum = sum.saturating_add(*c);
                }
            }
        }
        self.status_of(&counts)
    }

    fn status_of(&self, counts: &[u64]) -> DriftStatus {
        let n: u64 = counts.iter().sum();
        let mut kl = 0.0;
        let mut moved = Vec::new();
        if n > 0 {
            for (i, &c) in counts.iter().enumerate() {
                let p = c as f64 / n as f64;
                if c > 0 {
                    kl += p * (p / self.smoothed[i]).ln();
                }
                let delta = (p - self.assumed[i]).abs();
                if delta > 0.0 {
                    moved.push((delta, i, p));
                }
            }
        }
        moved.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        DriftStatus {
            kl: kl.max(0.0),
            requests: n,
            min_requests: self.min_requests,
            threshold: self.threshold,
            window: self.window,
            moved: moved
                .into_iter()
                .take(3)
                .map(|(_, i, p)| Moved {
                    name: self.names[i].clone(),
                    observed: p,
                    assumed: self.assumed[i],
                })
                .collect(),
        }
    }

    /// The window ending at `now`, and whether it just crossed the
    /// threshold (an alert fires once per crossing; it re-arms when the
    /// divergence falls back under the threshold).
    pub fn check(&mut self, now: f64) -> (DriftStatus, bool) {
        let status = self.status(now);
        self.settle(status)
    }

    /// [`check`](Self::check) on counts per bucket given by the caller, as
    /// [`shared_status`](Self::shared_status) reads them: the fleet's
    /// window, whose crossing fires here once (each monitor keeps its own
    /// once-per-crossing state).
    pub fn check_counts<'c>(
        &mut self,
        now: f64,
        buckets: impl IntoIterator<Item = (u64, &'c [u64])>,
    ) -> (DriftStatus, bool) {
        let status = self.shared_status(now, buckets);
        self.settle(status)
    }

    fn settle(&mut self, status: DriftStatus) -> (DriftStatus, bool) {
        let over = status.over();
        let fired = over && !self.alerting;
        self.alerting = over;
        (status, fired)
    }
}
