//! Exploration in the gateway (`learn { explore 2% budget $20 per day }`,
//! `docs/learn.md`): each routed request asks the table's
//! `routec_runtime::Explorer` (under a short lock) whether to run the
//! table's plan or an exploration candidate, with two uniform draws from
//! the process's generator and the time from `Options::clock`. An explored
//! request's actual cost is added to the budget when it ends, and feedback
//! on a request of the served table counts as an outcome of its plan in
//! its leaf (fewer outcomes, more exploration). The period's spend is kept
//! in the state's spend counter [`EXPLORE_COUNTER`]`:PERIOD` (per process with
//! `LocalState`, shared by the replicas with `--state redis://...`), keyed
//! by the explorer's period start, and fed to the explorer
//! (`Explorer::set_spent`) before each choice, so the explorer's budget
//! check sees every replica's spend as of the last synchronization. The
//! budget survives reloads; the bandit's outcome counts start over with a
//! new table (its leaves are new).

use routec_runtime::{Choice, Decision, Explorer, Request};

use crate::app::{App, lock};
use crate::loaded::Loaded;
use crate::state::EXPLORE_COUNTER;

/// The shared counter of a table's exploration budget: [`EXPLORE_COUNTER`]
/// and the budget's period (`explore:day`), so that a reload to another
/// period length, whose periods may start at the same time, counts apart.
/// Computed once per loaded table (`Loaded::explore_counter`).
pub fn counter(table: &routec_runtime::Table) -> String {
    let period = table
        .learn
        .explore
        .as_ref()
        .and_then(|e| e.period.as_deref())
        .unwrap_or("none");
    format!("{EXPLORE_COUNTER}:{period}")
}

/// Feeds the state's total for the period of `now` to `explorer`.
fn sync_spent(app: &App, counter: &str, explorer: &mut Explorer, now: f64) {
    if let Some(start) = explorer.period_start(now) {
        explorer.set_spent(app.state.spend(counter, start), now);
    }
}

/// The table's own plan for `decision` (of `table`'s leaves), not explored:
/// its probability is its split share.
pub fn unexplored(table: &routec_runtime::Table, decision: &Decision) -> Choice {
    Choice {
        plan: decision.plan,
        explored: false,
        propensity: routec_runtime::explore::split_share(table, decision.leaf, decision.plan),
    }
}

/// The plan a routed request runs, whether it explores, and the
/// probability of that choice.
pub fn choose(
    app: &App,
    loaded: &Loaded,
    request: &Request,
    decision: &Decision,
    prompt_tokens: f64,
) -> Choice {
    let Some(explorer) = &loaded.explore else {
        return unexplored(loaded.table(), decision);
    };
    let (u, v) = (app.uniform(), app.uniform());
    let now = app.options.clock.now();
    let mut e = lock(explorer);
    sync_spent(app, &loaded.explore_counter, &mut e, now);
    e.choose(request, decision, Some(prompt_tokens), u, v, now)
}

/// Counts an explored request that ended having cost `cost` (USD) against
/// the budget of the table serving now.
pub fn spend(app: &App, rule: &str, cost: f64) {
    app.metrics
        .explored
        .get_or_create(&crate::metrics::RuleLabels {
            rule: rule.to_owned(),
        })
        .inc();
    if cost > 0.0 && cost.is_finite() {
        app.metrics.explore_cost.inc_by(cost);
    }
    let loaded = app.table.load();
    if let Some(explorer) = &loaded.explore {
        let now = app.options.clock.now();
        let mut e = lock(explorer);
        match e.period_start(now) {
            Some(start) => {
                app.state.add_spend(&loaded.explore_counter, start, cost);
                sync_spent(app, &loaded.explore_counter, &mut e, now);
            }
            None => e.spend(cost, now),
        }
        if let Some(left) = e.remaining(now) {
            app.metrics.explore_budget_remaining.set(left);
        }
    }
}

/// Counts feedback on a request routed by table `hash` to `plan` in
/// `leaf`, when that table still serves.
pub fn outcome(app: &App, hash: &str, leaf: u32, plan: u32) {
    let loaded = app.table.load();
    if loaded.hash != hash {
        return;
    }
    if let Some(explorer) = &loaded.explore {
        lock(explorer).outcome(leaf, plan);
    }
}

/// Sets the budget gauge now (at a scrape: a new period refills it).
pub fn refresh(app: &App) {
    let loaded = app.table.load();
    if let Some(explorer) = &loaded.explore {
        let now = app.options.clock.now();
        let mut e = lock(explorer);
        sync_spent(app, &loaded.explore_counter, &mut e, now);
        if let Some(left) = e.remaining(now) {
            app.metrics.explore_budget_remaining.set(left);
        }
    }
}

/// Carries the period's spend from the serving table to a reloaded one.
pub fn carry(old: &Loaded, new: &Loaded) {
    if let (Some(o), Some(n)) = (&old.explore, &new.explore) {
        let from = lock(o).clone();
        lock(n).carry_budget(&from);
    }
}
