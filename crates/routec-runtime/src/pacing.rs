//! Budget pacing: which rung of a table's pacing ladder routes each request
//! (`docs/learn.md`, "Budget pacing").
//!
//! `spend per PERIOD <= $B` is compiled with the ladder the table carries:
//! rung 0 the table itself, each step below it the best routing under a
//! lower cost cap, with its predicted cost per request `c_j`. Spending the
//! rest of the budget evenly over the rest of the period is the target:
//! at most once per check interval (a minute of a day) the [`Pacer`] sets
//!
//! ```text
//! c* = (1 − h) · max(0, B − S) / (T_left · λ̂ · ρ)
//! ```
//!
//! the cost per request that would spend what is left (`B − S`, less a
//! headroom `h`) over the time left (`T_left`) at the recent request rate
//! `λ̂` (an exponential moving average over a 288th of the period, five
//! minutes of a day), with `ρ` the period's ratio of actual to predicted
//! cost (how far the rungs' predictions are off on today's traffic). Each
//! request then goes to one of the two adjacent rungs around `c*`, in the
//! proportion that averages `c*` (a deterministic interleaving): above
//! the table's cost, the table; below the bottom rung's, the bottom rung.
//!
//! Spending evenly is what the ladder's shape rewards: each rung is the
//! best routing under its cap and quality grows ever more slowly with cost,
//! so a budget buys the most quality when every request gets the same
//! share. A surge is met as it happens (within one check and the rate's
//! averaging), at the cost per request the rest of the period can afford
//! at the current rate; when the surge ends the target rises again.
//!
//! Pure, like [`crate::Explorer`]: the caller passes the time (seconds since
//! the Unix epoch) and each request's cost.

use routec_table::Table;

use crate::explore::period_seconds;

/// Checks per period: every minute of a day.
pub const CHECKS_PER_PERIOD: f64 = 1440.0;
/// The request rate is averaged over this share of the period (five
/// minutes of a day).
pub const RATE_WINDOW: f64 = 1.0 / 288.0;
/// The share of the remaining budget kept in reserve.
pub const HEADROOM: f64 = 0.01;

/// The pacing state of one table.
#[derive(Clone, Debug)]
pub struct Pacer {
    budget: f64,
    period: f64,
    /// Predicted cost per request of each rung, USD; rung 0 is the table.
    costs: Vec<f64>,
    period_index: f64,
    /// Actual and predicted spend in the current period.
    spent: f64,
    predicted: f64,
    /// Requests routed in the current period, and how many had been at the
    /// last check, and its time.
    requests: f64,
    requests_at_check: f64,
    checked: Option<f64>,
    /// The averaged request rate, per second.
    rate: Option<f64>,
    /// The target cost per request (`None`: not paced yet).
    target: Option<f64>,
    /// The pair of rungs in use, the share of requests for the upper one,
    /// and the interleaving's accumulator.
    upper: usize,
    lower: usize,
    share: f64,
    carry: f64,
    last: usize,
}

/// What the pacer knows at a moment.
#[derive(Clone, Debug, PartialEq)]
pub struct PacingStatus {
    /// The rung of the last request routed (0: the table itself).
    pub rung: usize,
    /// The rungs of the ladder, the table included.
    pub rungs: usize,
    /// The target cost per request, USD (`None` before the first check).
    pub target: Option<f64>,
    /// USD spent in the current period.
    pub spent: f64,
    /// The period's budget, USD.
    pub budget: f64,
    /// The budget pro-rated to now: `B · elapsed / period`.
    pub pro_rated: f64,
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
        Ok(Some(Pacer::with(p.budget, period, costs)))
    }

    /// A pacer of `budget` USD per `period` seconds over rungs of these
    /// predicted costs per request.
    fn with(budget: f64, period: f64, costs: Vec<f64>) -> Pacer {
        Pacer {
            budget,
            period,
            costs,
            period_index: f64::NAN,
            spent: 0.0,
            predicted: 0.0,
            requests: 0.0,
            requests_at_check: 0.0,
            checked: None,
            rate: None,
            target: None,
            upper: 0,
            lower: 0,
            share: 1.0,
            carry: 0.0,
            last: 0,
        }
    }

    /// The rung to route a request arriving at `now` with, checking the
    /// pace first when a check interval has passed since the last check.
    pub fn route(&mut self, now: f64) -> usize {
        self.roll(now);
        let interval = self.period / CHECKS_PER_PERIOD;
        match self.checked {
            None => self.checked = Some(now),
            Some(t) if now - t >= interval => self.check(now, now - t),
            Some(_) => {}
        }
        self.requests += 1.0;
        self.carry += self.share;
        let rung = if self.carry >= 1.0 {
            self.carry -= 1.0;
            self.upper
        } else {
            self.lower
        };
        self.predicted += self.costs[rung];
        self.last = rung;
        rung
    }

    /// Adds a finished request's cost (every attempt's, USD) to the spend.
    pub fn spend(&mut self, cost: f64, now: f64) {
        if !(cost > 0.0 && cost.is_finite()) {
            return;
        }
        self.roll(now);
        self.spent += cost;
    }

    /// The start of the period of `now`, in seconds since the Unix epoch
    /// (what a shared store keys the period's totals by).
    pub fn period_start(&self, now: f64) -> u64 {
        ((now / self.period).floor() * self.period).max(0.0) as u64
    }

    /// The predicted cost per request of `rung`, USD.
    pub fn cost(&self, rung: usize) -> f64 {
        self.costs.get(rung).copied().unwrap_or(0.0)
    }

    /// Replaces the period's totals with ones counted elsewhere: the spend,
    /// the requests routed and their predicted cost of every replica,
    /// through shared state (`routec serve --state`). Each replica then
    /// paces on the whole traffic: the rate is the total's growth, and what
    /// is left of the budget is everyone's. Values below what this pacer
    /// counted itself are ignored (a store that lost them).
    pub fn set_totals(&mut self, spent: f64, requests: f64, predicted: f64, now: f64) {
        self.roll(now);
        if spent.is_finite() && spent > self.spent {
            self.spent = spent;
        }
        if requests.is_finite() && requests > self.requests {
            self.requests = requests;
        }
        if predicted.is_finite() && predicted > self.predicted {
            self.predicted = predicted;
        }
    }

    /// The state at `now`.
    pub fn status(&mut self, now: f64) -> PacingStatus {
        self.roll(now);
        let elapsed = now - self.period_index * self.period;
        PacingStatus {
            rung: self.last,
            rungs: self.costs.len(),
            target: self.target,
            spent: self.spent,
            budget: self.budget,
            pro_rated: self.budget * (elapsed / self.period).clamp(0.0, 1.0),
        }
    }

    /// Takes over another pacer's period spend and request rate (a
    /// reloaded table keeps pacing the same budget); the next check sets
    /// the rungs of this ladder.
    pub fn carry(&mut self, from: &Pacer) {
        self.period_index = from.period_index;
        self.spent = from.spent;
        self.checked = from.checked;
        self.predicted = from.predicted;
        self.requests = from.requests;
        self.requests_at_check = from.requests_at_check;
        self.rate = from.rate;
    }

    fn roll(&mut self, now: f64) {
        let index = (now / self.period).floor();
        if index != self.period_index {
            self.period_index = index;
            self.spent = 0.0;
            self.predicted = 0.0;
            self.requests = 0.0;
            self.requests_at_check = 0.0;
        }
    }

    fn check(&mut self, now: f64, dt: f64) {
        self.checked = Some(now);
        let observed = (self.requests - self.requests_at_check).max(0.0) / dt;
        self.requests_at_check = self.requests;
        let alpha = 1.0 - (-dt / (self.period * RATE_WINDOW)).exp();
        let rate = self.rate.map_or(observed, |r| r + alpha * (observed - r));
        self.rate = Some(rate);
        // Actual over predicted cost, once the period has some of both.
        let ratio = if self.predicted > 0.0 && self.spent > 0.0 {
            (self.spent / self.predicted).clamp(0.25, 4.0)
        } else {
            1.0
        };
        let left = ((self.period_index + 1.0) * self.period - now).max(1.0);
        let target = if rate > 0.0 {
            (1.0 - HEADROOM) * (self.budget - self.spent).max(0.0) / (left * rate * ratio)
        } else {
            f64::INFINITY
        };
        self.target = Some(target);
        let bottom = self.costs.len() - 1;
        // The first rung at or under the target; the one above it shares.
        let lower = (0..=bottom)
            .find(|&j| self.costs[j] <= target)
            .unwrap_or(bottom);
        let (upper, share) = if lower == 0 || self.costs[lower] > target {
            (lower, 1.0)
        } else {
            let (hi, lo) = (self.costs[lower - 1], self.costs[lower]);
            (lower - 1, ((target - lo) / (hi - lo)).clamp(0.0, 1.0))
        };
        self.upper = upper;
        self.lower = lower;
        self.share = share;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacer(costs: &[f64], budget: f64) -> Pacer {
        Pacer::with(budget, 86_400.0, costs.to_vec())
    }

    /// Runs a day at `qps(t)` requests per second, each costing its rung's
    /// cost; returns the day's spend and the requests per rung.
    fn day(p: &mut Pacer, qps: impl Fn(f64) -> f64) -> (f64, Vec<u64>) {
        let mut per_rung = vec![0u64; p.costs.len()];
        let day0 = 20_000.0 * 86_400.0;
        let mut t = day0;
        while t < day0 + 86_400.0 {
            let r = p.route(t);
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

    /// Two replicas sharing their totals pace the whole traffic: each sees
    /// twice its own rate and spend, and together they stay under the
    /// budget; each alone (not sharing) would spend it twice.
    #[test]
    fn replicas_sharing_totals_pace_together() {
        let run = |share: bool| -> f64 {
            let mut a = pacer(&[1.0, 0.4], 1000.0);
            let mut b = pacer(&[1.0, 0.4], 1000.0);
            let day0 = 20_000.0 * 86_400.0;
            let (mut spent, mut requests, mut predicted) = (0.0, 0.0, 0.0);
            let mut t = day0;
            // Each replica gets 0.01 qps: together $1,728 a day unpaced.
            while t < day0 + 86_400.0 {
                for p in [&mut a, &mut b] {
                    if share {
                        p.set_totals(spent, requests, predicted, t);
                    }
                    let r = p.route(t);
                    let c = p.costs[r];
                    p.spend(c, t);
                    spent += c;
                    requests += 1.0;
                    predicted += c;
                }
                t += 100.0;
            }
            spent
        };
        let shared = run(true);
        assert!((900.0..=1000.0).contains(&shared), "{shared}");
        let alone = run(false);
        assert!(alone > 1500.0, "{alone}");
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
