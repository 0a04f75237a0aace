//! Budget pacing: which rung of a table's pacing ladder routes now
//! (`docs/learn.md`, "Budget pacing").
//!
//! `spend per PERIOD <= $B` is compiled with the ladder the table carries
//! (rung 0 the table itself, each step below it cheaper). The [`Pacer`]
//! keeps the period's spend `S` and a smoothed estimate of the spend rate,
//! and at most once per check interval picks the rung:
//!
//! - the *allowed rate* is the budget left, pro-rated over the time left in
//!   the period, less a headroom: `a = (1 − h)·max(0, B − S) / (end − now)`;
//! - the *expected rate* of rung `j` is the estimated spend rate scaled by
//!   the rungs' predicted costs per request: `r_j = r̂ · c_j / c_now`;
//! - the target is the highest rung (the least cut) with `r_j ≤ a`, else the
//!   bottom one. The pacer steps down to the target at once and up one rung
//!   per check, so a surge is met within one check and a lull does not make
//!   it oscillate.
//!
//! Pure, like [`crate::Explorer`]: the caller passes the time (seconds since
//! the Unix epoch) and each request's cost.

use routec_table::Table;

use crate::explore::period_seconds;

/// Checks per period: every minute of a day.
pub const CHECKS_PER_PERIOD: f64 = 1440.0;
/// The spend rate is smoothed over this share of the period (an
/// exponential moving average with a time constant of 30 minutes for a
/// day).
pub const SMOOTHING: f64 = 1.0 / 48.0;
/// The share of the allowed rate kept in reserve.
pub const HEADROOM: f64 = 0.05;

/// The pacing state of one table.
#[derive(Clone, Debug)]
pub struct Pacer {
    budget: f64,
    period: f64,
    /// Predicted cost per request of each rung, USD; rung 0 is the table.
    costs: Vec<f64>,
    rung: usize,
    period_index: f64,
    spent: f64,
    /// Spend since the last check, and the time of that check.
    pending: f64,
    checked: Option<f64>,
    /// The smoothed spend rate, USD per second, as if rung 0 routed.
    rate: Option<f64>,
    steps: u64,
}

/// What the pacer knows at a moment.
#[derive(Clone, Debug, PartialEq)]
pub struct PacingStatus {
    /// The rung routing now (0: the table itself).
    pub rung: usize,
    /// The rungs of the ladder, the table included.
    pub rungs: usize,
    /// USD spent in the current period.
    pub spent: f64,
    /// The period's budget, USD.
    pub budget: f64,
    /// The budget pro-rated to now: `B · elapsed / period`.
    pub pro_rated: f64,
    /// The smoothed spend rate at the current rung, USD per second (`None`
    /// before the first check).
    pub rate: Option<f64>,
    /// Rung changes since the pacer started.
    pub steps: u64,
}

impl Pacer {
    /// The pacer of a table with a pacing ladder; `Ok(None)` without one.
    /// An unknown period or a negative or non-finite budget or cost is an
    /// error (a message).
    pub fn new(table: &Table) -> Result<Option<Pacer>, String> {
        let Some(p) = &table.pacing else {
            return Ok(None);
        };
        let period = period_seconds(&p.period).ok_or_else(|| {
            format!(
                "unknown pacing period `{}` (expected hour, day, week or month)",
                p.period
            )
        })?;
        let costs: Vec<f64> = std::iter::once(p.cost_per_request)
            .chain(p.steps.iter().map(|s| s.cost_per_request))
            .collect();
        if !(p.budget >= 0.0 && p.budget.is_finite())
            || costs.iter().any(|c| !(*c >= 0.0 && c.is_finite()))
        {
            return Err("the pacing budget and costs must be non-negative amounts".into());
        }
        Ok(Some(Pacer {
            budget: p.budget,
            period,
            costs,
            rung: 0,
            period_index: f64::NAN,
            spent: 0.0,
            pending: 0.0,
            checked: None,
            rate: None,
            steps: 0,
        }))
    }

    /// The rung to route with at `now`, checking the pace first when a check
    /// interval has passed since the last one.
    pub fn rung(&mut self, now: f64) -> usize {
        self.roll(now);
        let interval = self.period / CHECKS_PER_PERIOD;
        match self.checked {
            None => self.checked = Some(now),
            Some(t) if now - t >= interval => self.check(now, now - t),
            Some(_) => {}
        }
        self.rung
    }

    /// Adds a finished request's cost (every attempt's, USD) to the spend.
    pub fn spend(&mut self, cost: f64, now: f64) {
        if !(cost > 0.0 && cost.is_finite()) {
            return;
        }
        self.roll(now);
        self.spent += cost;
        self.pending += cost;
    }

    /// The state at `now`.
    pub fn status(&mut self, now: f64) -> PacingStatus {
        self.roll(now);
        let elapsed = now - self.period_index * self.period;
        PacingStatus {
            rung: self.rung,
            rungs: self.costs.len(),
            spent: self.spent,
            budget: self.budget,
            pro_rated: self.budget * (elapsed / self.period).clamp(0.0, 1.0),
            rate: self.rate.map(|r| r * self.scale(self.rung)),
            steps: self.steps,
        }
    }

    /// Takes over another pacer's period spend and spend rate (a reloaded
    /// table keeps pacing the same budget). The rung starts at the top: the
    /// next check steps down at once if the pace needs it.
    pub fn carry(&mut self, from: &Pacer) {
        self.period_index = from.period_index;
        self.spent = from.spent;
        self.pending = from.pending;
        self.checked = from.checked;
        self.rate = from.rate;
    }

    /// Rung `j`'s predicted cost relative to rung 0's (1 when rung 0 is
    /// free: nothing to pace).
    fn scale(&self, j: usize) -> f64 {
        let top = self.costs[0];
        if top > 0.0 { self.costs[j] / top } else { 1.0 }
    }

    fn roll(&mut self, now: f64) {
        let index = (now / self.period).floor();
        if index != self.period_index {
            self.period_index = index;
            self.spent = 0.0;
        }
    }

    fn check(&mut self, now: f64, dt: f64) {
        self.checked = Some(now);
        // The interval's spend as if rung 0 had routed it.
        let scale = self.scale(self.rung);
        let observed = if scale > 0.0 {
            self.pending / dt / scale
        } else {
            self.rate.unwrap_or(0.0)
        };
        self.pending = 0.0;
        let alpha = 1.0 - (-dt / (self.period * SMOOTHING)).exp();
        let rate = self.rate.map_or(observed, |r| r + alpha * (observed - r));
        self.rate = Some(rate);
        let end = (self.period_index + 1.0) * self.period;
        let allowed = (1.0 - HEADROOM) * (self.budget - self.spent).max(0.0) / (end - now).max(1.0);
        let bottom = self.costs.len() - 1;
        let target = (0..=bottom)
            .find(|&j| rate * self.scale(j) <= allowed)
            .unwrap_or(bottom);
        let next = if target > self.rung {
            target
        } else if target < self.rung {
            self.rung - 1
        } else {
            self.rung
        };
        if next != self.rung {
            self.rung = next;
            self.steps += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacer(costs: &[f64], budget: f64) -> Pacer {
        Pacer {
            budget,
            period: 86_400.0,
            costs: costs.to_vec(),
            rung: 0,
            period_index: f64::NAN,
            spent: 0.0,
            pending: 0.0,
            checked: None,
            rate: None,
            steps: 0,
        }
    }

    /// Runs a day at `qps(t)` requests per second, each costing its rung's
    /// cost; returns the day's spend and the requests per rung.
    fn day(p: &mut Pacer, qps: impl Fn(f64) -> f64) -> (f64, Vec<u64>) {
        let mut per_rung = vec![0u64; p.costs.len()];
        let day0 = 20_000.0 * 86_400.0;
        let mut t = day0;
        while t < day0 + 86_400.0 {
            let r = p.rung(t);
            per_rung[r] += 1;
            p.spend(p.costs[r], t);
            t += 1.0 / qps(t - day0);
        }
        (p.status(day0 + 86_399.0).spent, per_rung)
    }

    #[test]
    fn a_day_at_the_planned_rate_is_not_paced() {
        // $1 per request at 0.01 qps: $864 a day, for a budget of $1,000.
        let mut p = pacer(&[1.0, 0.5, 0.25], 1000.0);
        let (spent, per_rung) = day(&mut p, |_| 0.01);
        assert!(spent <= 1000.0, "{spent}");
        assert_eq!(per_rung[1] + per_rung[2], 0, "{per_rung:?}");
    }

    #[test]
    fn a_surge_is_paced_under_the_budget() {
        // Three times the rate from 10:00 to 16:00: unpaced, $1,512.
        let mut p = pacer(&[1.0, 0.7, 0.4], 1000.0);
        let surge = |t: f64| {
            if (36_000.0..57_600.0).contains(&t) {
                0.03
            } else {
                0.01
            }
        };
        let (spent, per_rung) = day(&mut p, surge);
        assert!(spent <= 1000.0, "spent {spent}");
        assert!(spent >= 900.0, "spent {spent}: the budget was not used");
        assert!(per_rung[1] + per_rung[2] > 0);
        // The cheapest rung is used only as much as needed: most requests
        // stay on the top two.
        assert!(per_rung[0] + per_rung[1] > per_rung[2], "{per_rung:?}");
    }

    #[test]
    fn the_bottom_rung_serves_when_nothing_fits() {
        let mut p = pacer(&[1.0, 0.5], 10.0);
        let (spent, per_rung) = day(&mut p, |_| 0.01);
        assert!(spent > 10.0);
        assert!(per_rung[1] > per_rung[0], "{per_rung:?}");
    }

    #[test]
    fn a_new_period_starts_at_zero() {
        let mut p = pacer(&[1.0, 0.5], 100.0);
        p.spend(50.0, 86_400.0 * 3.0 + 10.0);
        assert_eq!(p.status(86_400.0 * 3.0 + 20.0).spent, 50.0);
        assert_eq!(p.status(86_400.0 * 4.0).spent, 0.0);
        assert_eq!(p.status(86_400.0 * 4.0 + 43_200.0).pro_rated, 50.0);
    }
}
