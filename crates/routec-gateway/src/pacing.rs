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

use crate::app::App;
use crate::loaded::Loaded;

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The rung that routes a request arriving now (0 without pacing).
pub fn rung(app: &App, loaded: &Loaded) -> usize {
    let Some(pacer) = &loaded.pacer else {
        return 0;
    };
    let rung = lock(pacer).route(app.options.clock.now());
    app.metrics
        .paced
        .get_or_create(&crate::metrics::RungLabels {
            rung: rung.to_string(),
        })
        .inc();
    rung
}

/// Adds a finished request's cost (USD) to the spend of the table serving
/// now.
pub fn spend(app: &App, cost: f64) {
    let loaded = app.table.load();
    if let Some(pacer) = &loaded.pacer {
        lock(pacer).spend(cost, app.options.clock.now());
    }
}

/// Sets the pacing gauges now (at a scrape).
pub fn refresh(app: &App) {
    let loaded = app.table.load();
    let Some(pacer) = &loaded.pacer else {
        return;
    };
    let s = lock(pacer).status(app.options.clock.now());
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
