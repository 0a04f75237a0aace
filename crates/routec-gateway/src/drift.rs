//! The traffic-mix drift monitor in the gateway (`docs/learn.md`): each
//! routed request is counted in its table's window
//! (`routec_runtime::DriftMonitor`, O(1) under a short lock); the window is
//! checked once per bucket (on the request that starts a new one) and at
//! every scrape, which sets `routec_drift_kl_nats` and
//! `routec_drift_window_requests`. Crossing the declared `drift kl`
//! threshold (on enough requests) logs the cells that moved most and
//! counts `routec_drift_alerts_total`, once per crossing.
//!
//! The clock is the process's monotonic time since start.

use routec_runtime::DriftStatus;

use crate::app::{App, log};
use crate::loaded::Loaded;

fn now(app: &App) -> f64 {
    app.started.elapsed().as_secs_f64()
}

/// Counts a request routed to `leaf` of `loaded`'s table.
pub fn observe(app: &App, loaded: &Loaded, leaf: u32) {
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
        publish(app, &status, fired, action.as_deref());
    }
}

/// Checks the loaded table's window now (at a scrape).
pub fn refresh(app: &App) {
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
    publish(app, &status, fired, action.as_deref());
}

fn publish(app: &App, status: &DriftStatus, fired: bool, action: Option<&str>) {
    app.metrics.drift_kl.set(status.kl);
    app.metrics
        .drift_window_requests
        .set(i64::try_from(status.requests).unwrap_or(i64::MAX));
    if fired {
        app.metrics.drift_alerts.inc();
        let note = match action {
            Some("alert") | None => String::new(),
            Some(other) => format!(" (action `{other}` is not implemented; alerting only)"),
        };
        log(&format!("{}{note}", status.describe()));
    }
}
