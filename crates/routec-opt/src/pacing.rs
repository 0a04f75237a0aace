//! The pacing ladder of a spend budget (`docs/learn.md`, "Budget pacing").
//!
//! `spend per PERIOD <= $X` is compiled as an SLO at the profile's `qps`;
//! real traffic can run above it. So that the runtime can pace the budget
//! rather than break it or stop serving, the table carries a short ladder of
//! cheaper routings: the same problem solved again under a cap on the mean
//! cost per request, at caps evenly spaced from the table's own cost down to
//! the *floor*, the cheapest routing that keeps the latency, TTFT, share,
//! cost, spend and capacity rows. Above the cheapest routing that meets
//! every SLO, a step keeps every row and the policy's own objective (one cap
//! is moved onto that routing); below it, the quality floors and parities
//! give way and the step maximizes quality under its cap. Each step is
//! therefore the best routing its cap allows; `routec_runtime::Pacer`
//! chooses among them.

use routec_check::ir::{BoundDef, MetricDef};
use routec_table as t;

use crate::compile::{CompileOptions, line_of};
use crate::objective;
use crate::optimize::{self, RowKind};
use crate::slos;
use crate::solved::Solved;
use crate::table;

/// Steps evenly spaced in cost below the table (one more may be added at
/// the cheapest routing that meets every SLO).
pub const EVEN_STEPS: usize = 4;

/// A step whose cost is within this share of the step above it is dropped:
/// it would not pace anything.
const MIN_STEP: f64 = 0.01;

/// The ladder of the first whole-traffic `spend per` SLO, when the profile
/// declares a `qps` (without one the SLO has no row: spend cannot be
/// predicted). `None` without such an SLO, or when `cancelled()` turns
/// true (the caller checks it again).
pub(crate) fn ladder(
    s: &Solved,
    source: &str,
    options: &CompileOptions,
    plans: &[t::Plan],
    cancelled: &dyn Fn() -> bool,
) -> Option<t::Pacing> {
    let policy = &s.policy;
    let (k, period, budget) = s.problem.rows.iter().enumerate().find_map(|(k, row)| {
        let slo = policy.slos.get(row.slo)?;
        let (MetricDef::Spend(period), BoundDef::Value(x)) = (&slo.metric, &slo.bound) else {
            return None;
        };
        let whole = row.slice.is_none() && row.terms.iter().all(|t| t.scope.is_none());
        let upper = matches!(row.kind, RowKind::Linear { sign, .. } if sign > 0.0);
        (whole && upper).then_some((k, *period, *x))
    })?;
    let row = &s.problem.rows[k];
    // USD per period for a mean cost of 1 USD per request: `qps × seconds`.
    let scale = row.terms.first().map(|t| t.scale).filter(|x| *x > 0.0)?;
    let part = &s.part;
    let cost = |a: &optimize::Assignment| optimize::row_value(part, &s.coefs[k], a) / scale;
    let space = s.space();
    let top = cost(&s.assign);
    let cheapest_cost = space.coefs(None, |_, k, _| k);
    // Below the SLOs: every row but the quality floors and parities
    // (latency, TTFT, share, cost, spend and capacity rows are kept), the
    // most quality per cap.
    let kept: Vec<usize> = (0..s.coefs.len())
        .filter(|&r| {
            s.problem.rows.get(r).is_none_or(|row| {
                !matches!(
                    policy.slos.get(row.slo).map(|slo| &slo.metric),
                    Some(MetricDef::Quality(_))
                )
            })
        })
        .collect();
    let relaxed_coefs: Vec<Vec<Vec<f64>>> = kept.iter().map(|&r| s.coefs[r].clone()).collect();
    let relaxed_rhs: Vec<f64> = kept.iter().map(|&r| s.rhs[r]).collect();
    let relaxed_k = kept.iter().position(|&r| r == k)?;
    let most_quality = space.coefs(None, |_, k, q| 1e-9 * k - q);
    let within = space
        .linear(&s.coefs, &s.rhs, &cheapest_cost)
        .map(|a| cost(&a))
        .unwrap_or(top)
        .min(top);
    let floor = space
        .linear(&relaxed_coefs, &relaxed_rhs, &cheapest_cost)
        .map(|a| cost(&a))
        .unwrap_or(within)
        .min(within);
    // Caps evenly spaced from the table's cost to the floor; the one
    // nearest the cheapest routing that meets every SLO moves onto it when
    // within half a step (so the ladder has the last step that gives no
    // SLO up), else that cost is one more cap.
    let spacing = (top - floor) / EVEN_STEPS as f64;
    let mut caps: Vec<f64> = (1..=EVEN_STEPS).map(|j| top - spacing * j as f64).collect();
    if within < top - MIN_STEP * top && within > floor + MIN_STEP * top {
        match caps
            .iter_mut()
            .find(|c| (**c - within).abs() <= spacing / 2.0)
        {
            Some(c) => *c = within,
            None => caps.push(within),
        }
        caps.sort_by(|a, b| b.total_cmp(a));
    }
    let mut steps: Vec<t::PacingStep> = Vec::new();
    let mut above = top;
    for cap in caps {
        if cancelled() || top - floor <= MIN_STEP * top {
            break;
        }
        // The last cap is the floor itself: leave the solver room for its
        // own rounding.
        let cap = cap.max(floor + 1e-9 * top.max(1e-12));
        let solved = if cap >= within {
            let mut rhs = s.rhs.clone();
            rhs[k] = rhs[k].min(cap * scale);
            objective::solve(&space, &s.goal, &s.coefs, &rhs)
        } else {
            let mut rhs = relaxed_rhs.clone();
            rhs[relaxed_k] = rhs[relaxed_k].min(cap * scale);
            space.linear(&relaxed_coefs, &rhs, &most_quality)
        };
        let Ok(a) = solved else {
            continue;
        };
        let c = cost(&a);
        if c > above * (1.0 - MIN_STEP) {
            continue;
        }
        above = c;
        let no_duals = vec![None; s.rhs.len()];
        let rung = table::build(s, source, options, &a, &no_duals);
        // Every rule's plans are listed first, so a step's plans are the
        // table's (a step that needed another could not share them).
        if rung.plans != plans {
            continue;
        }
        let quality = rung.assumed.as_ref().map_or(0.0, |x| x.predicted.quality);
        steps.push(t::PacingStep {
            cap,
            cost_per_request: c,
            quality,
            diagram: rung.diagram,
            leaves: rung.leaves,
            assumed: rung.assumed,
        });
    }
    let slo = &policy.slos[row.slo];
    Some(t::Pacing {
        constraint: slos::text_of(source, slo.span),
        line: line_of(source, slo.span.start),
        period: table::period_name(period).to_string(),
        budget,
        cost_per_request: top,
        steps,
    })
}
