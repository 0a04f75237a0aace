//! The traffic-mix drift monitor in the gateway (`docs/learn.md`): each
//! routed request is counted in its table's window
//! (`routec_runtime::DriftMonitor`, O(1) under a short lock); the window is
//! checked once per bucket (on the request that starts a new one) and at
//! every scrape, which sets `routec_drift_kl_nats` and
//! `routec_drift_window_requests`. Crossing the declared `drift kl`
//! threshold (on enough requests) logs the cells that moved most and
//! counts `routec_drift_alerts_total`, once per crossing. With `=> refit`
//! the crossing also starts a re-fit on the window's decision log
//! ([`App::refit`]).
//!
//! Without a shared state the clock is the process's monotonic time since
//! start, and the window is this process's traffic. With one (`--state
//! redis://...`) buckets are numbered on the wall clock
//! ([`Options::clock`](crate::Options)), each request is also counted in
//! the table's [`BucketSet`] (`drift:TABLE:WINDOW`, sent to the other
//! replicas by the synchronization task), and a check reads the fleet's
//! counts: the divergence, the gauges and the alert (and so the re-fit's
//! trigger; the re-fit reads this replica's decision log) are the whole
//! fleet's traffic. While Redis is unreachable a check reads the last
//! shared counts plus this process's since; before they were ever read it
//! falls back to this process's own window. Each replica keeps its own
//! once-per-crossing state, so each logs and counts a crossing of the
//! fleet's window once.

use std::sync::Arc;

use routec_runtime::{DriftMonitor, DriftStatus};
use routec_table::Table;

use crate::app::{App, log};
use crate::loaded::Loaded;
use crate::state::BucketSet;

/// The monitors' clock: the wall clock's seconds when the state is
/// shared (replicas agree on buckets), else the process's since start.
pub fn now(app: &App) -> f64 {
    if app.state.replicated() {
        app.options.clock.now()
    } else {
        app.started.elapsed().as_secs_f64()
    }
}

/// The shared counts of `table`'s drift window: named after the table
/// (its source hash and a digest of the bins and their assumed shares, so
/// a re-fit of the same source is another set) and the window's length,
/// one counter per leaf.
pub fn bucket_set(table: &Table, monitor: &DriftMonitor) -> BucketSet {
    let mut bins = String::new();
    for (name, share) in monitor.bins() {
        bins.push_str(&format!("{name}={share}\n"));
    }
    BucketSet {
        name: format!(
            "drift:{}-{:08x}:{}",
            source(table),
            routec_runtime::key_hash(bins.as_bytes()) >> 32,
            duration(monitor.window())
        ),
        width: monitor.width(),
        buckets: routec_runtime::drift::BUCKETS as u64,
    }
}

/// The first 12 hex digits of `table`'s source hash, naming its shared
/// counts.
pub fn source(table: &Table) -> String {
    let source = table
        .source_hash
        .strip_prefix("sha256:")
        .unwrap_or(&table.source_hash);
    source.chars().take(12).collect()
}

/// Checks `m` at `t`: on the fleet's counts when the shared state knows
/// them, else on this process's.
fn check(app: &App, loaded: &Loaded, m: &mut DriftMonitor, t: f64) -> (DriftStatus, bool) {
    if let Some(set) = &loaded.drift_set
        && let Some(counts) = app.state.counts(set, m.buckets_at(t))
    {
        return m.check_counts(t, counts.iter().map(|(b, c)| (*b, c.as_slice())));
    }
    m.check(t)
}

/// Counts a request routed to `leaf` of `loaded`'s table.
pub fn observe(app: &Arc<App>, loaded: &Loaded, leaf: u32) {
    let Some(monitor) = &loaded.drift else {
        return;
    };
    let t = now(app);
    let checked = {
        let mut m = monitor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(set) = &loaded.drift_set {
            app.state.count(set, m.bucket(t), leaf, 1);
        }
        if m.observe(leaf, t) {
            let (status, fired) = check(app, loaded, &mut m, t);
            Some((status, fired, m.action.clone()))
        } else {
            None
        }
    };
    if let Some((status, fired, action)) = checked {
        publish(app, loaded, &status, fired, action.as_deref());
    }
}

/// Checks the loaded table's window now (at a scrape).
pub fn refresh(app: &Arc<App>) {
    let loaded = app.table.load();
    let Some(monitor) = &loaded.drift else {
        return;
    };
    let (status, fired, action) = {
        let mut m = monitor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (status, fired) = check(app, &loaded, &mut m, now(app));
        (status, fired, m.action.clone())
    };
    publish(app, &loaded, &status, fired, action.as_deref());
}

fn publish(
    app: &Arc<App>,
    loaded: &Loaded,
    status: &DriftStatus,
    fired: bool,
    action: Option<&str>,
) {
    app.metrics.drift_kl.set(status.kl);
    app.metrics
        .drift_window_requests
        .set(i64::try_from(status.requests).unwrap_or(i64::MAX));
    if !fired {
        return;
    }
    app.metrics.drift_alerts.inc();
    let note = match action {
        Some("alert" | "refit") | None => String::new(),
        Some(other) => format!(" (action `{other}` is not implemented; alerting only)"),
    };
    log(&format!("{}{note}", status.describe()));
    if action == Some("refit") {
        let window = loaded
            .table()
            .learn
            .drift
            .iter()
            .find(|d| d.action == "refit")
            .map_or(3600.0, |d| d.window);
        let app = app.clone();
        tokio::spawn(async move {
            let _ = app.refit(window).await;
        });
    }
}

/// A window's length as the language writes it: `1h`, `30m`, `45s`, `7d`.
pub fn duration(seconds: f64) -> String {
    for (unit, size) in [("d", 86_400.0), ("h", 3600.0), ("m", 60.0)] {
        if seconds >= size && (seconds / size).fract() == 0.0 {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{}s", seconds)
}
