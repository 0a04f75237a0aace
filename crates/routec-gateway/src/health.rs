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
//! Without a shared state the clock is the process's monotonic time since
//! start, and the windows are this process's attempts. With one (`--state
//! redis://...`), as for the traffic mix (`crate::drift`), buckets are
//! numbered on the wall clock, each counted attempt is also counted in its
//! monitor's [`BucketSet`] (`health:MEASURE:TABLE:WINDOW`, a counter per
//! model and histogram bin, or per model for attempts and failures; see
//! [`bucket_sets`]), and a check reads the fleet's counts: the gauges and
//! the alerts are the whole fleet's attempts. While Redis is unreachable a
//! check reads the last shared counts plus this process's since; before
//! they were ever read it falls back to this process's own windows. Each
//! replica keeps its own once-per-crossing state, so each logs and counts
//! a crossing of the fleet's window once. A monitor whose counters would
//! not fit a set ([`crate::state::COUNTERS`]: a policy of hundreds of models) is not
//! shared: logged once per table, its windows stay this process's.

use std::sync::Arc;

use routec_runtime::HealthMonitor;
use routec_runtime::health::{Attempt, Layout, Measure, ModelDrift};
use routec_table::Table;

use crate::app::{App, log};
use crate::drift::now;
use crate::exec::AttemptRecord;
use crate::loaded::Loaded;
use crate::metrics::{MeasureLabels, ModelLabels};
use crate::state::BucketSet;

/// The shared counts of `table`'s per-model windows, per monitor in
/// declaration order: named after the measure, the table (its source hash
/// and a digest of the models' expected figures and the histogram's bins,
/// so a re-fit that moves a model's expected p95 is another set) and the
/// window's length; counter `model × slots + slot` as
/// [`Layout`] numbers it. `Err` (what to log) for a monitor whose counters
/// would exceed `limit` (the state's [`crate::state::COUNTERS`]).
pub fn bucket_sets(
    table: &Table,
    monitor: &HealthMonitor,
    limit: usize,
) -> Vec<Result<BucketSet, String>> {
    monitor
        .layouts()
        .map(|layout| {
            let measure = layout.measure.word();
            if layout.counters() > limit {
                return Err(format!(
                    "state: the `drift {measure}` window of {} models needs {} counters per bucket, more than the {limit} a shared window holds; each replica checks its own",
                    layout.expected.len(),
                    layout.counters()
                ));
            }
            Ok(BucketSet {
                name: format!(
                    "health:{measure}:{}-{:08x}:{}",
                    crate::drift::source(table),
                    routec_runtime::key_hash(digest(table, &layout).as_bytes()) >> 32,
                    crate::drift::duration(layout.window)
                ),
                width: layout.width,
                buckets: routec_runtime::health::BUCKETS as u64,
            })
        })
        .collect()
}

/// What makes two replicas' counts of one monitor comparable: the bins'
/// layout and, per model, its name and expected figure.
fn digest(table: &Table, layout: &Layout<'_>) -> String {
    use routec_runtime::health::{BINS_PER_OCTAVE, OCTAVES};
    let mut text = format!(
        "{} {} {BINS_PER_OCTAVE} {OCTAVES}\n",
        layout.measure.word(),
        layout.slots
    );
    for (m, expected) in layout.expected.iter().enumerate() {
        let name = table.models.get(m).map_or("", |m| m.name.as_str());
        match expected {
            Some(e) => text.push_str(&format!("{name}={e}\n")),
            None => text.push_str(&format!("{name}=-\n")),
        }
    }
    text
}

/// Logs the monitors of `loaded` that are not shared (too many counters);
/// called once per table installed, with a shared state.
pub fn announce(loaded: &Loaded) {
    for set in &loaded.health_sets {
        if let Err(why) = set {
            log(why);
        }
    }
}

/// Checks `m` at `t`: each monitor on the fleet's counts when the shared
/// state knows them, else on this process's.
fn check(app: &App, loaded: &Loaded, m: &mut HealthMonitor, t: f64) -> Vec<(ModelDrift, bool)> {
    if !app.state.replicated() {
        return m.check(t);
    }
    m.check_counts(t, |monitor, buckets| {
        let set = loaded.health_sets.get(monitor)?.as_ref().ok()?;
        app.state.counts(set, buckets)
    })
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
        let replicated = app.state.replicated();
        for record in attempts {
            if let Some(a) = attempt(record) {
                new |= m.observe_counted(record.model_index, a, t, |monitor, bucket, counter| {
                    if replicated && let Some(Ok(set)) = loaded.health_sets.get(monitor) {
                        app.state.count(set, bucket, counter, 1);
                    }
                });
            }
        }
        new.then(|| check(app, loaded, &mut m, t))
    };
    if let Some(checked) = checked {
        publish(app, &checked);
    }
}

/// Checks the loaded table's windows now (at a scrape).
pub fn refresh(app: &Arc<App>) {
    // Only the loaded table's monitors have gauges: a reload that dropped
    // a model or a measure drops its series (the alert counters stay).
    let m = &app.metrics;
    m.drift_ttft_ratio.clear();
    m.drift_latency_ratio.clear();
    m.drift_error_rate.clear();
    m.drift_attempts.clear();
    let loaded = app.table.load();
    let Some(monitor) = &loaded.health else {
        return;
    };
    let checked = check(
        app,
        &loaded,
        &mut monitor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
        now(app),
    );
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

    fn table() -> Table {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/tables/complete.json");
        Table::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// A set per monitor, named after the measure, the table, its expected
    /// figures and the window; refused past the counter limit.
    #[test]
    fn each_monitor_shares_its_own_set_within_the_limit() {
        let t = table();
        let m = HealthMonitor::new(&t).unwrap();
        let sets = bucket_sets(&t, &m, crate::state::COUNTERS);
        let layouts: Vec<Layout<'_>> = m.layouts().collect();
        assert_eq!(sets.len(), layouts.len());
        let source = crate::drift::source(&t);
        for (set, layout) in sets.iter().zip(&layouts) {
            let set = set.as_ref().unwrap();
            let word = layout.measure.word();
            assert!(
                set.name.starts_with(&format!("health:{word}:{source}-")),
                "{}",
                set.name
            );
            assert!(
                set.name
                    .ends_with(&format!(":{}", crate::drift::duration(layout.window)))
            );
            assert_eq!(set.width, layout.width);
            assert_eq!(set.buckets, 60);
        }
        // Another expected figure is another set.
        let mut moved = t.clone();
        if let Some(h) = moved.model_health.first_mut() {
            h.ttft_p95 = h.ttft_p95.map(|p| p * 2.0);
            h.latency_p95 = h.latency_p95.map(|p| p * 2.0);
            h.error_rate *= 2.0;
        }
        let again = bucket_sets(&moved, &HealthMonitor::new(&moved).unwrap(), usize::MAX);
        for (a, b) in sets.iter().zip(&again) {
            assert_ne!(a.as_ref().unwrap().name, b.as_ref().unwrap().name);
        }
        // Past the limit: not shared, with what to log.
        let small = bucket_sets(&t, &m, 2 * t.models.len() - 1);
        assert!(small.iter().all(Result::is_err), "{small:?}");
        let why = small[0].as_ref().unwrap_err();
        assert!(why.contains("each replica checks its own"), "{why}");
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
