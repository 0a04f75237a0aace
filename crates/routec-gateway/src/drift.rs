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
//! The clock is the process's monotonic time since start.

use std::sync::Arc;

use routec_runtime::DriftStatus;

use crate::app::{App, log};
use crate::loaded::Loaded;

fn now(app: &App) -> f64 {
    app.started.elapsed().as_secs_f64()
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
        if m.observe(leaf, t) {
            let (status, fired) = m.check(t);
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
        let (status, fired) = m.check(now(app));
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
