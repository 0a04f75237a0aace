//! Budget pacing in the gateway (`spend per day <= $X` with a pacing
//! ladder in the table; `docs/learn.md`, "Budget pacing"): each request
//! asks the table's `routec_runtime::Pacer` (under a short lock) which rung
//! routes it, with the time from `Options::clock`, and every request's
//! actual cost (routed or naming a model: the budget is the policy's spend)
//! is added to the period's spend when it ends. Rung 0 is the table; a
//! request routed by a lower rung is not explored and not counted in the
//! drift window (the rung is chosen by arrival order, not by the request,
//! so the table's own requests are a fair sample of the mix). The spend
//! survives reloads.
//!
//! The period's totals (spend, requests routed, their predicted cost) are
//! counted in the shared state too ([`SPEND_COUNTER`], [`REQUESTS_COUNTER`],
//! [`PREDICTED_COUNTER`], keyed by the period's start) and fed to the pacer
//! before each decision, so with `--state redis://...` every replica paces
//! the whole traffic against the one budget.

use crate::app::{App, lock};
use crate::loaded::Loaded;

/// The shared counters of the pacing period; each is used with the
/// period's name appended (`pacing:day`, [`counters`]).
pub const SPEND_COUNTER: &str = "pacing";
pub const REQUESTS_COUNTER: &str = "pacing_requests";
pub const PREDICTED_COUNTER: &str = "pacing_predicted";

/// The names of a table's pacing counters (spend, requests, predicted
/// cost), with its pacing period, so that a reload to another period
/// length counts apart. Computed once per loaded table
/// (`Loaded::pacing_counters`).
pub fn counters(table: &routec_runtime::Table) -> [String; 3] {
    let period = table.pacing.as_ref().map_or("none", |p| p.period.as_str());
    [SPEND_COUNTER, REQUESTS_COUNTER, PREDICTED_COUNTER].map(|c| format!("{c}:{period}"))
}

/// The rung that routes a request arriving now (0 without pacing).
pub fn rung(app: &App, loaded: &Loaded) -> usize {
    let Some(pacer) = &loaded.pacer else {
        return 0;
    };
    let now = app.options.clock.now();
    let rung = {
        let mut p = lock(pacer);
        let start = pull(app, loaded, &mut p, now);
        let rung = p.route(now);
        let [_, requests, predicted] = &loaded.pacing_counters;
        app.state.add_spend(requests, start, 1.0);
        app.state.add_spend(predicted, start, p.cost(rung));
        rung
    };
    app.metrics
        .paced
        .get_or_create(&crate::metrics::RungLabels {
            rung: rung.to_string(),
        })
        .inc();
    rung
}

/// Feeds the period's shared totals to the pacer; the period's start.
fn pull(app: &App, loaded: &Loaded, p: &mut routec_runtime::Pacer, now: f64) -> u64 {
    let start = p.period_start(now);
    let state = &app.state;
    let [spent, requests, predicted] = &loaded.pacing_counters;
    p.set_totals(
        state.spend(spent, start),
        state.spend(requests, start),
        state.spend(predicted, start),
        now,
    );
    start
}

/// Adds a finished request's cost (USD) to the spend of the table serving
/// now.
pub fn spend(app: &App, cost: f64) {
    let loaded = app.table.load();
    if let Some(pacer) = &loaded.pacer {
        let now = app.options.clock.now();
        let mut p = lock(pacer);
        p.spend(cost, now);
        app.state
            .add_spend(&loaded.pacing_counters[0], p.period_start(now), cost);
    }
}

/// Sets the pacing gauges now (at a scrape).
pub fn refresh(app: &App) {
    let loaded = app.table.load();
    let Some(pacer) = &loaded.pacer else {
        return;
    };
    let now = app.options.clock.now();
    let s = {
        let mut p = lock(pacer);
        pull(app, &loaded, &mut p, now);
        p.status(now)
    };
    let m = &app.metrics;
    m.pacing_rung.set(s.rung as i64);
    m.pacing_spend.set(s.spent);
    m.pacing_budget.set(s.budget);
    m.pacing_pro_rated.set(s.pro_rated);
    if let Some(t) = s.target.filter(|t| t.is_finite()) {
        m.pacing_target.set(t);
    }
}

/// Carries the period's spend from the serving table to a reloaded one.
pub fn carry(old: &Loaded, new: &Loaded) {
    if let (Some(o), Some(n)) = (&old.pacer, &new.pacer) {
        let from = lock(o).clone();
        lock(n).carry(&from);
    }
}
