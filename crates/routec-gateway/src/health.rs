//! The per-model drift monitors in the gateway (`docs/learn.md`, "Per-model
//! latency and error drift"): each upstream attempt of a finished request
//! is counted in its table's windows (`routec_runtime::HealthMonitor`, O(1)
//! per attempt under one short lock per request, no allocation); the
//! windows are checked once per bucket (on the attempt that starts a new
//! one) and at every scrape, which sets `routec_drift_ttft_ratio`,
//! `routec_drift_latency_ratio`, `routec_drift_error_rate` and
//! `routec_drift_attempts`. A model crossing a declared threshold (on
//! enough attempts) is logged with its observed and expected figures and
//! counted in `routec_drift_model_alerts_total`, once per crossing. With
//! `=> refit` the crossing also starts a re-fit on the window's decision
//! log ([`App::refit`]), which re-estimates the models' latency from it.
//!
//! What counts, from an attempt's status: `ok` is timed (TTFT and end to
//! end) and a success; `ttft_timeout` and `timeout` are failures timed at
//! the time they took (a lower bound of the TTFT, and of the latency); a
//! `429` or `5xx` status, `connection`, `malformed` and `interrupted` (a
//! stream that broke after its first token) are failures, timed by the
//! first token when there was one. Other `4xx` statuses (the request's
//! fault, not the model's), `cooldown` and `unconfigured` (no call made)
//! and `cancelled` (a lost hedge, a client gone) are not counted.
//!
//! The clock is the process's monotonic time since start.

use std::sync::Arc;

use routec_runtime::health::{Attempt, Measure, ModelDrift};

use crate::app::{App, log};
use crate::exec::AttemptRecord;
use crate::loaded::Loaded;
use crate::metrics::{MeasureLabels, ModelLabels};

fn now(app: &App) -> f64 {
    app.started.elapsed().as_secs_f64()
}

/// What the monitors count of an attempt record (`None`: not counted).
pub fn attempt(record: &AttemptRecord) -> Option<Attempt> {
    let secs = |ms: Option<f64>| {
        ms.filter(|x| x.is_finite() && *x >= 0.0)
            .map(|x| x / 1000.0)
    };
    let ttft = secs(record.ttft_ms);
    let latency = secs(record.latency_ms);
    match record.status.as_str() {
        "ok" => Some(Attempt {
            ttft,
            latency,
            failed: false,
        }),
        "ttft_timeout" | "timeout" => Some(Attempt {
            ttft: ttft.or(latency),
            latency,
            failed: true,
        }),
        "connection" | "malformed" | "interrupted" => Some(Attempt {
            ttft,
            latency: None,
            failed: true,
        }),
        status => match status.parse::<u16>() {
            Ok(429 | 500..=599) => Some(Attempt {
                ttft,
                latency: None,
                failed: true,
            }),
            _ => None,
        },
    }
}

/// Counts the attempts of one finished request of `loaded`'s table.
pub fn observe(app: &Arc<App>, loaded: &Loaded, attempts: &[AttemptRecord]) {
    let Some(monitor) = &loaded.health else {
        return;
    };
    let t = now(app);
    let checked = {
        let mut m = monitor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut new = false;
        for record in attempts {
            if let Some(a) = attempt(record) {
                new |= m.observe(record.model_index, a, t);
            }
        }
        new.then(|| m.check(t))
    };
    if let Some(checked) = checked {
        publish(app, &checked);
    }
}

/// Checks the loaded table's windows now (at a scrape).
pub fn refresh(app: &Arc<App>) {
    let loaded = app.table.load();
    let Some(monitor) = &loaded.health else {
        return;
    };
    let checked = monitor
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .check(now(app));
    publish(app, &checked);
}

fn publish(app: &Arc<App>, checked: &[(ModelDrift, bool)]) {
    let m = &app.metrics;
    let mut refit: Option<f64> = None;
    for (s, fired) in checked {
        let model = ModelLabels {
            model: s.name.clone(),
        };
        match s.measure {
            Measure::Ttft => m.drift_ttft_ratio.get_or_create(&model).set(s.ratio()),
            Measure::Latency => m.drift_latency_ratio.get_or_create(&model).set(s.ratio()),
            Measure::Errors => m.drift_error_rate.get_or_create(&model).set(s.observed),
        };
        let labels = MeasureLabels {
            model: s.name.clone(),
            measure: s.measure.word().to_owned(),
        };
        m.drift_attempts
            .get_or_create(&labels)
            .set(i64::try_from(s.count).unwrap_or(i64::MAX));
        if !fired {
            continue;
        }
        m.drift_model_alerts.get_or_create(&labels).inc();
        let note = match s.action.as_str() {
            "alert" | "refit" => String::new(),
            other => format!(" (action `{other}` is not implemented; alerting only)"),
        };
        log(&format!("{}{note}", s.describe()));
        if s.action == "refit" {
            refit = Some(refit.map_or(s.window, |w| w.max(s.window)));
        }
    }
    if let Some(window) = refit {
        let app = app.clone();
        tokio::spawn(async move {
            let _ = app.refit(window).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Role;

    fn record(status: &str, ttft_ms: Option<f64>, latency_ms: Option<f64>) -> AttemptRecord {
        AttemptRecord {
            model: "m".into(),
            model_index: 0,
            role: Role::First,
            status: status.into(),
            start_ms: 0.0,
            ttft_ms,
            latency_ms,
            input_tokens: None,
            output_tokens: None,
            cost_usd: 0.0,
            confidence: None,
        }
    }

    #[test]
    fn attempts_count_by_their_status() {
        let ok = attempt(&record("ok", Some(120.0), Some(900.0)));
        assert_eq!(
            ok,
            Some(Attempt {
                ttft: Some(0.12),
                latency: Some(0.9),
                failed: false
            })
        );
        // A TTFT timeout is timed at the time it took: a lower bound.
        let timed_out = attempt(&record("ttft_timeout", None, Some(3000.0)));
        assert_eq!(
            timed_out,
            Some(Attempt {
                ttft: Some(3.0),
                latency: Some(3.0),
                failed: true
            })
        );
        for status in ["429", "500", "503", "connection", "malformed"] {
            let a = attempt(&record(status, None, Some(5.0))).unwrap();
            assert!(
                a.failed && a.ttft.is_none() && a.latency.is_none(),
                "{status}"
            );
        }
        let broke = attempt(&record("interrupted", Some(80.0), Some(2000.0))).unwrap();
        assert_eq!(
            (broke.failed, broke.ttft, broke.latency),
            (true, Some(0.08), None)
        );
        // The request's fault, no call, or a call nobody waited for.
        for status in [
            "400",
            "404",
            "413",
            "cooldown",
            "unconfigured",
            "cancelled",
            "pending",
        ] {
            assert_eq!(
                attempt(&record(status, Some(1.0), Some(1.0))),
                None,
                "{status}"
            );
        }
    }
}
