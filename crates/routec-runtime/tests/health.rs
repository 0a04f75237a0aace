//! The per-model drift monitors (`routec_runtime::HealthMonitor`) on the
//! complete table with `drift ttft > 50% over 1h`, `drift latency > 50%
//! over 1h` and `drift errors > 2% over 1h`: attempts drawn from each
//! model's expected figures stay quiet over long runs; a model that slows
//! down or fails alerts within the window, once, naming itself, and the
//! others do not; too few attempts never alert; the alert re-arms. Time is
//! passed in: no clock, no sleeps.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "tests read fixtures and may fail loudly"
)]

use std::path::Path;

use routec_runtime::health::{Attempt, Measure, ModelDrift};
use routec_runtime::{HealthMonitor, Table};
use routec_table::{Drift, ModelHealth};

/// `small`: TTFT p95 250ms, end to end 4s, 0.5% errors; `medium`: 1.4s,
/// 20s, 1%; `large` declares no latency (its error rate is watched).
fn table() -> Table {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tables/complete.json");
    let mut t = Table::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
    let drift = |measure: &str, threshold: f64| Drift {
        measure: measure.into(),
        threshold,
        window: 3600.0,
        action: "alert".into(),
    };
    t.learn.drift = vec![
        drift("kl", 0.1),
        drift("ttft", 0.5),
        drift("latency", 0.5),
        drift("errors", 0.02),
    ];
    t.model_health = vec![
        ModelHealth {
            model: 0,
            ttft_p95: Some(0.25),
            latency_p95: Some(4.0),
            error_rate: 0.005,
        },
        ModelHealth {
            model: 1,
            ttft_p95: Some(1.4),
            latency_p95: Some(20.0),
            error_rate: 0.01,
        },
        ModelHealth {
            model: 2,
            ttft_p95: None,
            latency_p95: None,
            error_rate: 0.005,
        },
    ];
    t.validate().unwrap();
    t
}

/// A deterministic stream of uniform numbers in `0..1` (splitmix64).
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (((z ^ (z >> 31)) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (a, b) = (self.next(), self.next());
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    }

    /// A lognormal draw with p95 `p95` and log-spread `sigma`.
    fn lognormal(&mut self, p95: f64, sigma: f64) -> f64 {
        (p95.ln() - 1.644_853_6 * sigma + sigma * self.normal()).exp()
    }
}

/// The log-spread of `spec/support.route`'s `small` (p50 90ms, p95 250ms).
const SIGMA: f64 = 0.62;

/// One attempt of `model` drawn from its expected figures, its latencies
/// scaled by `slow` and failing with probability `rate`.
fn attempt(u: &mut Uniform, t: &Table, model: usize, slow: f64, rate: f64) -> Attempt {
    let h = &t.model_health[model];
    let failed = u.next() < rate;
    Attempt {
        ttft: h.ttft_p95.map(|p| slow * u.lognormal(p, SIGMA)),
        latency: h.latency_p95.map(|p| slow * u.lognormal(p, SIGMA)),
        failed,
    }
}

/// Runs `seconds` of one attempt per model per second from `start`,
/// checking at every new bucket; returns the alerts that fired, with the
/// time.
fn run(
    m: &mut HealthMonitor,
    u: &mut Uniform,
    t: &Table,
    start: f64,
    seconds: u32,
    shape: impl Fn(usize) -> (f64, f64),
) -> Vec<(f64, ModelDrift)> {
    let mut fired = Vec::new();
    for s in 0..seconds {
        let now = start + f64::from(s);
        for model in 0..3 {
            let (slow, rate) = shape(model);
            let a = attempt(u, t, model, slow, rate);
            if m.observe(model as u32, a, now) {
                for (status, f) in m.check(now) {
                    if f {
                        fired.push((now, status));
                    }
                }
            }
        }
    }
    fired
}

fn expected_rate(t: &Table, model: usize) -> f64 {
    t.model_health[model].error_rate
}

#[test]
fn attempts_as_expected_never_alert() {
    let t = table();
    for seed in 0..4 {
        let mut m = HealthMonitor::new(&t).unwrap();
        let mut u = Uniform(seed);
        // Twelve hours: 720 checks of each model under each monitor.
        let fired = run(&mut m, &mut u, &t, 0.0, 12 * 3600, |model| {
            (1.0, expected_rate(&t, model))
        });
        assert!(fired.is_empty(), "seed {seed}: {fired:?}");
        let status = m.status(12.0 * 3600.0);
        for s in &status {
            assert!(s.count >= s.min_count, "{s:?}");
            match s.measure {
                Measure::Ttft | Measure::Latency => {
                    assert!((s.ratio() - 1.0).abs() < 0.15, "{s:?}")
                }
                Measure::Errors => assert!(s.excess().abs() < 0.01, "{s:?}"),
            }
        }
    }
}

#[test]
fn the_watched_pairs_are_the_models_with_figures() {
    let t = table();
    let m = HealthMonitor::new(&t).unwrap();
    assert_eq!(
        m.measures().collect::<Vec<_>>(),
        [Measure::Ttft, Measure::Latency, Measure::Errors]
    );
    let pairs: Vec<(String, Measure)> = m
        .status(0.0)
        .into_iter()
        .map(|s| (s.name, s.measure))
        .collect();
    let names: Vec<String> = t.models.iter().map(|m| m.name.clone()).collect();
    assert_eq!(
        pairs,
        [
            (names[0].clone(), Measure::Ttft),
            (names[1].clone(), Measure::Ttft),
            (names[0].clone(), Measure::Latency),
            (names[1].clone(), Measure::Latency),
            (names[0].clone(), Measure::Errors),
            (names[1].clone(), Measure::Errors),
            (names[2].clone(), Measure::Errors),
        ]
    );
}

#[test]
fn a_slowed_model_alerts_within_the_window_naming_itself() {
    let t = table();
    let mut m = HealthMonitor::new(&t).unwrap();
    let mut u = Uniform(7);
    let quiet = run(&mut m, &mut u, &t, 0.0, 3600, |model| {
        (1.0, expected_rate(&t, model))
    });
    assert!(quiet.is_empty(), "{quiet:?}");
    // `medium` (model 1) becomes three times slower.
    let fired = run(&mut m, &mut u, &t, 3600.0, 3600, |model| {
        (if model == 1 { 3.0 } else { 1.0 }, expected_rate(&t, model))
    });
    let mut measures: Vec<(u32, &str)> = fired
        .iter()
        .map(|(_, s)| (s.model, s.measure.word()))
        .collect();
    measures.sort_unstable();
    assert_eq!(measures, [(1, "latency"), (1, "ttft")]);
    for (at, s) in &fired {
        assert!(*at < 2.0 * 3600.0);
        assert!(s.ratio() > 1.5, "{s:?}");
        let line = s.describe();
        assert!(line.contains(&format!("`{}`", t.models[1].name)), "{line}");
        assert!(line.contains("above its expected"), "{line}");
    }
    let ttft = fired
        .iter()
        .find(|(_, s)| s.measure == Measure::Ttft)
        .unwrap();
    let line = ttft.1.describe();
    assert!(line.contains("TTFT p95"), "{line}");
    assert!(line.contains("expected 1.40s (threshold 50%)"), "{line}");
}

#[test]
fn a_failing_model_alerts_naming_itself() {
    let t = table();
    let mut m = HealthMonitor::new(&t).unwrap();
    let mut u = Uniform(11);
    // `large` (model 2, no latency declared) fails 10% of its attempts.
    let fired = run(&mut m, &mut u, &t, 0.0, 3600, |model| {
        (
            1.0,
            if model == 2 {
                0.1
            } else {
                expected_rate(&t, model)
            },
        )
    });
    assert_eq!(fired.len(), 1, "{fired:?}");
    let s = &fired[0].1;
    assert_eq!((s.model, s.measure), (2, Measure::Errors));
    assert!(s.count >= s.min_count);
    assert!(s.observed > 0.07 && s.observed < 0.13, "{s:?}");
    let line = s.describe();
    assert!(
        line.starts_with(&format!("model drift: `{}` error rate", t.models[2].name)),
        "{line}"
    );
    assert!(
        line.contains("expected 0.5% (threshold 2 points)"),
        "{line}"
    );
}

#[test]
fn too_few_attempts_never_alert() {
    let t = table();
    let mut m = HealthMonitor::new(&t).unwrap();
    // Every attempt of `small` fails and is 10 times too slow, but only
    // 99 of them: fewer than any monitor needs.
    for s in 0..99 {
        let slow = Attempt {
            ttft: Some(2.5),
            latency: Some(40.0),
            failed: true,
        };
        m.observe(0, slow, f64::from(s));
    }
    let checked = m.check(100.0);
    assert!(checked.iter().all(|(_, fired)| !fired), "{checked:?}");
    let small: Vec<&ModelDrift> = checked
        .iter()
        .map(|(s, _)| s)
        .filter(|s| s.model == 0)
        .collect();
    assert!(
        small.iter().all(|s| s.count == 99 && s.excess() > 0.9),
        "{small:?}"
    );
    assert_eq!(small[0].min_count, 219);
}

#[test]
fn an_alert_fires_once_per_crossing_and_rearms() {
    let t = table();
    let mut m = HealthMonitor::new(&t).unwrap();
    let mut u = Uniform(3);
    let failing = |model: usize| (1.0, if model == 0 { 0.2 } else { 0.0 });
    let healthy = |model: usize| (1.0, expected_rate(&t, model));
    // Failing for two hours: one alert, not one per check.
    let first = run(&mut m, &mut u, &t, 0.0, 2 * 3600, failing);
    assert_eq!(first.len(), 1, "{first:?}");
    // Healthy for two hours: the window forgets, the monitor re-arms.
    assert!(run(&mut m, &mut u, &t, 7200.0, 2 * 3600, healthy).is_empty());
    let again = run(&mut m, &mut u, &t, 14_400.0, 3600, failing);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!((again[0].1.model, again[0].1.measure), (0, Measure::Errors));
}

#[test]
fn timeouts_count_as_at_least_their_time() {
    let t = table();
    let mut m = HealthMonitor::new(&t).unwrap();
    // 300 attempts of `small`: 90% on time, 10% timed out at 2s (eight
    // times its expected TTFT p95) before their first token.
    for s in 0..300u32 {
        let a = if s % 10 == 0 {
            Attempt {
                ttft: Some(2.0),
                latency: Some(2.0),
                failed: true,
            }
        } else {
            Attempt {
                ttft: Some(0.1),
                latency: Some(1.0),
                failed: false,
            }
        };
        m.observe(0, a, f64::from(s));
    }
    let ttft = m
        .status(300.0)
        .into_iter()
        .find(|s| s.model == 0 && s.measure == Measure::Ttft)
        .unwrap();
    assert!(ttft.over(), "{ttft:?}");
    assert!(ttft.observed > 1.8 && ttft.observed < 2.2, "{ttft:?}");
}

#[test]
fn no_monitor_without_expected_figures_or_per_model_drift() {
    let mut t = table();
    t.model_health.clear();
    assert!(HealthMonitor::new(&t).is_none());
    let mut t = table();
    t.learn.drift.retain(|d| d.measure == "kl");
    assert!(HealthMonitor::new(&t).is_none());
}

/// Two monitors of one table, fed wall-clock seconds, number their buckets
/// and counters alike: their counts added per monitor and bucket (as
/// replicas add them in a shared store) give the fleet's windows, on which
/// `check_counts` agrees with `check` of one monitor that saw every
/// attempt, and alerts where neither replica's own window has enough
/// attempts; buckets outside the window are ignored.
#[test]
fn counts_added_per_bucket_give_the_fleets_windows() {
    let t = table();
    let (mut a, mut b, mut all) = (
        HealthMonitor::new(&t).unwrap(),
        HealthMonitor::new(&t).unwrap(),
        HealthMonitor::new(&t).unwrap(),
    );
    let layouts: Vec<(f64, usize)> = a.layouts().map(|l| (l.width, l.counters())).collect();
    assert_eq!(layouts, [(60.0, 3 * 98), (60.0, 3 * 98), (60.0, 3 * 2)]);
    let noon = 1_796_558_400.0;
    assert_eq!(a.bucket(0, noon), (noon / 60.0) as u64);
    assert_eq!(a.buckets_at(2, noon).count(), 60);
    let mut fleet: std::collections::BTreeMap<(usize, u64), Vec<u64>> = Default::default();
    let mut u = Uniform(5);
    // `small` (0) three times slower than declared, `large` (2) failing a
    // fifth of its attempts: 400 attempts each, 200 per replica, under
    // the 219 and 311 an alert needs.
    for i in 0..400u32 {
        let now = noon + f64::from(i) * 5.0;
        for model in [0usize, 2] {
            let (slow, rate) = if model == 0 { (3.0, 0.0) } else { (1.0, 0.2) };
            let at = attempt(&mut u, &t, model, slow, rate);
            let m = if i % 2 == 0 { &mut a } else { &mut b };
            m.observe_counted(model as u32, at, now, |monitor, bucket, counter| {
                let counts = fleet
                    .entry((monitor, bucket))
                    .or_insert_with(|| vec![0; layouts[monitor].1]);
                counts[counter as usize] += 1;
            });
            all.observe(model as u32, at, now);
        }
    }
    let now = noon + 2000.0;
    let own = a.check(now);
    assert!(
        own.iter().all(|(s, fired)| !fired && s.count <= 200),
        "{own:?}"
    );
    // An old bucket, past the window, does not count.
    let old = a.bucket(0, now) - 60;
    fleet.insert((0, old), vec![1000; layouts[0].1]);
    let view = |monitor: usize, buckets: std::ops::RangeInclusive<u64>| {
        Some(
            fleet
                .range((monitor, *buckets.start())..=(monitor, *buckets.end()))
                .map(|((_, b), c)| (*b, c.as_slice()))
                .collect::<Vec<_>>(),
        )
    };
    let shared = a.check_counts(now, view);
    assert_eq!(shared, all.check(now));
    let fired: Vec<(u32, Measure, u64)> = shared
        .iter()
        .filter(|(_, fired)| *fired)
        .map(|(s, _)| (s.model, s.measure, s.count))
        .collect();
    assert_eq!(
        fired,
        [
            (0, Measure::Ttft, 400),
            (0, Measure::Latency, 400),
            (2, Measure::Errors, 400)
        ]
    );
    // Once per crossing, per monitor; a monitor without the fleet's
    // counts checks its own.
    assert!(a.check_counts(now, view).iter().all(|(_, f)| !f));
    assert_eq!(b.check_counts(now, view), shared);
    let partial = b.shared_status(now, |monitor, buckets| {
        if monitor == 2 {
            None
        } else {
            view(monitor, buckets)
        }
    });
    let errors: Vec<u64> = partial
        .iter()
        .filter(|s| s.measure == Measure::Errors)
        .map(|s| s.count)
        .collect();
    assert_eq!(errors, [200, 0, 200]);
}
