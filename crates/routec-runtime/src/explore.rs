//! Exploration within a budget (`learn { explore 2% budget $20 per day }`,
//! `docs/learn.md`) and the propensity of every decision.
//!
//! **Candidates.** A leaf's exploration candidates are the plans the
//! compiler put in the splits of *other* leaves of the same rule and not in
//! this leaf's splits (for an `optimize` rule, the options it chose for
//! sibling cells; for a `split`, nothing new). A leaf whose rule has no
//! other plan (`when has_images => large`) is never explored. A sibling
//! cell's plan may not serve this leaf's requests (the solver leaves an
//! option out of the cells it cannot serve), and the table does not say
//! which inputs a model supports, so per request: a candidate with a model
//! whose context window is below the request's prompt tokens is skipped,
//! and a request with images or tools is not explored.
//!
//! **Bandit.** With probability `share` (while the period's budget lasts) a
//! request of a leaf with candidates goes to a candidate drawn with
//! probability proportional to `1 / sqrt(1 + n)`, `n` the outcomes observed
//! so far for that plan in that leaf (feedback, [`Explorer::outcome`]): the
//! spread of a Beta posterior on a success rate shrinks as `1 / sqrt(n)`, so
//! the least-certain estimates are tried most, and every candidate keeps a
//! positive probability (what off-policy estimates need).
//!
//! **Propensity.** The probability with which the executed plan was
//! chosen: `share * q` for an explored request (`q` its candidate's draw
//! probability at that moment), `(1 - share) * s` for a routed one while
//! exploration is active and `s` otherwise (`s` the plan's split share in
//! the leaf; a sticky split is deterministic per key, `s` is its
//! probability over keys).
//!
//! **Budget.** Explored requests' actual cost is added with
//! [`Explorer::spend`]; when the period's spend reaches the budget,
//! exploration stops until the next period. Periods are aligned to the Unix
//! epoch (`hour`, `day` at 00:00 UTC, `week` of 7 days, `month` of 30 days).
//! The caller passes the time (seconds since the Unix epoch), so the
//! explorer is pure and tests choose the clock. Replicas sharing one budget
//! keep the period's spend elsewhere (keyed by [`Explorer::period_start`])
//! and feed its total with [`Explorer::set_spent`] before each choice.

use routec_table::{PlanKind, Table};

use crate::{Decision, Request, SignalValue};

/// What the explorer decided for one request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Choice {
    /// Index into `table.plans`: the plan to execute.
    pub plan: u32,
    /// Whether the plan is an exploration (not the table's choice).
    pub explored: bool,
    /// The probability with which `plan` was chosen, in `(0, 1]`.
    pub propensity: f64,
}

/// Seconds in a budget period named by the table (`hour`, `day`, `week`,
/// `month`).
pub fn period_seconds(name: &str) -> Option<f64> {
    match name {
        "hour" => Some(3600.0),
        "day" => Some(86_400.0),
        "week" => Some(7.0 * 86_400.0),
        "month" => Some(30.0 * 86_400.0),
        _ => None,
    }
}

/// The share of `plan` in `leaf`'s splits (0 when it is not one of them).
pub fn split_share(table: &Table, leaf: u32, plan: u32) -> f64 {
    table.leaves.get(leaf as usize).map_or(0.0, |l| {
        l.splits
            .iter()
            .filter(|s| s.plan == plan)
            .map(|s| s.share)
            .sum()
    })
}

/// The exploration state of one table.
#[derive(Clone, Debug)]
pub struct Explorer {
    share: f64,
    budget: Option<f64>,
    period: f64,
    /// Per leaf: its split plans and their shares.
    splits: Vec<Vec<(u32, f64)>>,
    /// Per leaf: candidate plans and the outcomes observed for each.
    candidates: Vec<Vec<(u32, u64)>>,
    /// Per plan: the smallest context window of the models it may call
    /// (infinite when none declares one).
    context: Vec<f64>,
    /// The `has_images` and `has_tools` signals, when the table has them.
    special_inputs: Vec<usize>,
    /// The current period (`floor(now / period)`), its spend and count.
    period_index: f64,
    spent: f64,
    explored: u64,
}

impl Explorer {
    /// The explorer of a table with `learn { explore ... }`; `Ok(None)`
    /// without one or with a zero share. An unknown period or an invalid
    /// share or budget is an error (a message).
    pub fn new(table: &Table) -> Result<Option<Explorer>, String> {
        let Some(e) = &table.learn.explore else {
            return Ok(None);
        };
        if !(0.0..=1.0).contains(&e.share) {
            return Err(format!(
                "the exploration share must be within 0..1, got {}",
                e.share
            ));
        }
        if e.share == 0.0 {
            return Ok(None);
        }
        if let Some(b) = e.budget
            && !(b >= 0.0 && b.is_finite())
        {
            return Err(format!(
                "the exploration budget must be a non-negative amount, got {b}"
            ));
        }
        let period = match (&e.budget, &e.period) {
            (None, _) => f64::INFINITY,
            (Some(_), None) => {
                return Err("the exploration budget has no period".into());
            }
            (Some(_), Some(p)) => period_seconds(p).ok_or_else(|| {
                format!(
                    "unknown exploration budget period `{p}` (expected hour, day, week or month)"
                )
            })?,
        };
        let splits: Vec<Vec<(u32, f64)>> = table
            .leaves
            .iter()
            .map(|l| l.splits.iter().map(|s| (s.plan, s.share)).collect())
            .collect();
        // A table of schema version 3 lists each leaf's SLO-safe
        // candidates; an older one, the plans of sibling leaves.
        let candidates = if !table.explore_candidates.is_empty() {
            table
                .explore_candidates
                .iter()
                .map(|plans| plans.iter().map(|&p| (p, 0)).collect())
                .collect()
        } else {
            table
                .leaves
                .iter()
                .map(|leaf| {
                    let mut plans: Vec<u32> = table
                        .leaves
                        .iter()
                        .filter(|other| other.rule == leaf.rule)
                        .flat_map(|other| other.splits.iter().map(|s| s.plan))
                        .filter(|p| !leaf.splits.iter().any(|s| s.plan == *p))
                        .collect();
                    plans.sort_unstable();
                    plans.dedup();
                    plans.into_iter().map(|p| (p, 0)).collect()
                })
                .collect()
        };
        let context = (0..table.plans.len())
            .map(|p| {
                let mut models = Vec::new();
                plan_models(table, p as u32, &mut models, 0);
                models
                    .iter()
                    .filter_map(|&m| table.models.get(m as usize)?.context_tokens)
                    .map(|c| c as f64)
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        let special_inputs = table
            .signals
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                matches!(s.source, routec_table::Source::Builtin)
                    && (s.name == "has_images" || s.name == "has_tools")
            })
            .map(|(i, _)| i)
            .collect();
        Ok(Some(Explorer {
            context,
            special_inputs,
            share: e.share,
            budget: e.budget,
            period,
            splits,
            candidates,
            period_index: f64::NEG_INFINITY,
            spent: 0.0,
            explored: 0,
        }))
    }

    /// The declared share.
    pub fn share(&self) -> f64 {
        self.share
    }

    /// The candidate plans of `leaf` (indices into `table.plans`).
    pub fn candidates(&self, leaf: u32) -> impl Iterator<Item = u32> + '_ {
        self.candidates
            .get(leaf as usize)
            .into_iter()
            .flatten()
            .map(|&(p, _)| p)
    }

    fn roll(&mut self, now: f64) {
        let index = if self.period.is_finite() {
            (now / self.period).floor()
        } else {
            0.0
        };
        if index != self.period_index {
            self.period_index = index;
            self.spent = 0.0;
            self.explored = 0;
        }
    }

    /// The budget left in the period of `now` (`None` without a budget).
    pub fn remaining(&mut self, now: f64) -> Option<f64> {
        self.roll(now);
        self.budget.map(|b| (b - self.spent).max(0.0))
    }

    /// Explored requests in the period of `now` and their spend.
    pub fn period_totals(&mut self, now: f64) -> (u64, f64) {
        self.roll(now);
        (self.explored, self.spent)
    }

    /// Chooses the plan of `request`, which `decide` routed as `decision`.
    /// `prompt_tokens` is the request's prompt size when known (the
    /// signal's value, or the caller's estimate). `u` and `v` are
    /// independent uniform draws in `[0, 1)` (the caller's random source):
    /// `u` decides whether to explore, `v` which candidate.
    pub fn choose(
        &mut self,
        request: &Request,
        decision: &Decision,
        prompt_tokens: Option<f64>,
        u: f64,
        v: f64,
        now: f64,
    ) -> Choice {
        self.roll(now);
        let special = self
            .special_inputs
            .iter()
            .any(|&i| matches!(request.get(i), SignalValue::Present(x) if x != 0.0));
        let tokens = prompt_tokens.unwrap_or(0.0);
        let context = &self.context;
        let fits = |plan: u32| !special && context.get(plan as usize).is_none_or(|&c| tokens <= c);
        let leaf = decision.leaf as usize;
        let share_of = |plan: u32| -> f64 {
            self.splits.get(leaf).map_or(1.0, |s| {
                s.iter().filter(|(p, _)| *p == plan).map(|(_, sh)| sh).sum()
            })
        };
        let s = share_of(decision.plan);
        let all = self.candidates.get(leaf).map_or(&[][..], Vec::as_slice);
        // At most a handful of plans per rule: a fixed buffer, no allocation.
        let mut buf = [(0u32, 0u64); 16];
        let mut k = 0;
        for &c in all {
            if k < buf.len() && fits(c.0) {
                buf[k] = c;
                k += 1;
            }
        }
        let candidates = &buf[..k];
        let budget_left = self.budget.is_none_or(|b| self.spent < b);
        if candidates.is_empty() || !budget_left {
            return Choice {
                plan: decision.plan,
                explored: false,
                propensity: s,
            };
        }
        if u >= self.share {
            return Choice {
                plan: decision.plan,
                explored: false,
                propensity: (1.0 - self.share) * s,
            };
        }
        let weight = |n: u64| 1.0 / (1.0 + n as f64).sqrt();
        let total: f64 = candidates.iter().map(|&(_, n)| weight(n)).sum();
        let target = v.clamp(0.0, 1.0) * total;
        let mut cumulative = 0.0;
        let Some(&(mut chosen)) = candidates.last() else {
            return Choice {
                plan: decision.plan,
                explored: false,
                propensity: s,
            };
        };
        for &c in candidates {
            cumulative += weight(c.1);
            if target < cumulative {
                chosen = c;
                break;
            }
        }
        self.explored += 1;
        Choice {
            plan: chosen.0,
            explored: true,
            propensity: self.share * weight(chosen.1) / total,
        }
    }

    /// Takes over `from`'s period, spend and explored count (a reloaded
    /// table keeps the budget already spent).
    pub fn carry_budget(&mut self, from: &Explorer) {
        self.period_index = from.period_index;
        self.spent = from.spent;
        self.explored = from.explored;
    }

    /// The start of the budget period of `now`, in whole seconds since the
    /// Unix epoch (`None` without a budget, or for a time before the
    /// epoch): the key under which a caller keeps the period's spend
    /// outside the explorer (replicas sharing one budget).
    pub fn period_start(&self, now: f64) -> Option<u64> {
        if !self.period.is_finite() || !now.is_finite() || now < 0.0 {
            return None;
        }
        let start = (now / self.period).floor() * self.period;
        Some(start as u64)
    }

    /// Sets the spend of the period of `now` to `total`, a figure kept
    /// outside the explorer: replicas sharing one budget keep the period's
    /// spend in a shared counter and feed its total here before each
    /// [`Explorer::choose`]. A negative or non-finite total is ignored.
    pub fn set_spent(&mut self, total: f64, now: f64) {
        self.roll(now);
        if total.is_finite() && total >= 0.0 {
            self.spent = total;
        }
    }

    /// Adds an explored request's actual cost to the period of `now`.
    pub fn spend(&mut self, cost: f64, now: f64) {
        self.roll(now);
        if cost.is_finite() && cost > 0.0 {
            self.spent += cost;
        }
    }

    /// Counts an observed outcome (feedback) of `plan` in `leaf`, which makes
    /// it less likely to be explored there again.
    pub fn outcome(&mut self, leaf: u32, plan: u32) {
        if let Some(c) = self
            .candidates
            .get_mut(leaf as usize)
            .and_then(|cs| cs.iter_mut().find(|(p, _)| *p == plan))
        {
            c.1 = c.1.saturating_add(1);
        }
    }
}

/// The models `plan` may call, through chains and cascades (depth-capped).
fn plan_models(table: &Table, plan: u32, out: &mut Vec<u32>, depth: u32) {
    if depth > 16 {
        return;
    }
    match table.plans.get(plan as usize).map(|p| &p.kind) {
        Some(PlanKind::Target { model }) => out.push(*model),
        Some(PlanKind::Cascade { models, .. }) => out.extend(models),
        Some(PlanKind::Chain { plans }) => {
            for &p in plans {
                plan_models(table, p, out, depth + 1);
            }
        }
        None => {}
    }
}
