//! State shared by every request (and, through another implementation of
//! [`SharedState`], by every replica): per-model consecutive failures and
//! cooldowns, and spend counters per period.
//!
//! The hot path asks [`SharedState::available`] before each call and tells
//! [`SharedState::record`] after each attempt; spend is added with
//! [`SharedState::add_spend`] and read with [`SharedState::spend`]. All are
//! synchronous and never block on the network: [`LocalState`] is one
//! process's memory, and `crate::redis_state::RedisState` (`--state
//! redis://...`) keeps a local mirror that a background task synchronizes
//! with Redis, and answers from it.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use routec_table::Cooldown;

/// State kept per model name (names survive table reloads).
pub trait SharedState: Send + Sync + Debug {
    /// Whether `model` may be called now (it is not cooling down).
    fn available(&self, model: &str, now: Instant) -> bool;
    /// Records one attempt's result. `cooldown` is the model's setting: after
    /// `after_failures` consecutive failures the model cools down for
    /// `duration` seconds. Returns `true` when this failure started a
    /// cooldown.
    fn record(&self, model: &str, ok: bool, cooldown: Option<&Cooldown>, now: Instant) -> bool;
    /// The models cooling down at `now`.
    fn cooling(&self, now: Instant) -> Vec<String>;
    /// The models of a table just loaded: a shared implementation pulls
    /// their cooldowns from the other replicas.
    fn track(&self, _models: &[&str]) {}
    /// Adds `usd` to the spend counter `counter` (a name such as
    /// [`EXPLORE_COUNTER`]) of the period that starts at `period_start`
    /// (seconds since the Unix epoch). A negative or non-finite amount is
    /// ignored.
    fn add_spend(&self, counter: &str, period_start: u64, usd: f64);
    /// The counter's total for that period: with a shared implementation,
    /// the shared total at the last synchronization plus what this process
    /// added since (so it never lags this process's own spend).
    fn spend(&self, counter: &str, period_start: u64) -> f64;
    /// Whether the state is shared with other replicas now (`false` for
    /// [`LocalState`], and for a shared implementation while its store is
    /// unreachable).
    fn shared(&self) -> bool {
        false
    }
    /// Errors talking to the shared store since start.
    fn errors(&self) -> u64 {
        0
    }
}

/// The spend counter of the exploration budget (`learn { explore ...
/// budget $X per PERIOD }`), keyed by the explorer's period start.
pub const EXPLORE_COUNTER: &str = "explore";

/// The spend counter of every request's cost, keyed by the start of its
/// UTC day ([`day_start`]).
pub const DAY_COUNTER: &str = "day";

/// The start of the UTC day of `unix_seconds` (0 before the epoch).
pub fn day_start(unix_seconds: f64) -> u64 {
    if unix_seconds.is_finite() && unix_seconds > 0.0 {
        let s = unix_seconds as u64;
        s - s % 86_400
    } else {
        0
    }
}

/// How many periods of one counter a process keeps (the current one and a
/// few before it, for requests that end just after a period turns).
const PERIODS_KEPT: usize = 4;

/// Spend per `(counter, period start)`, pruned to the last
/// [`PERIODS_KEPT`] periods of each counter.
#[derive(Debug, Default)]
pub(crate) struct SpendMap<V> {
    pub(crate) entries: HashMap<(String, u64), V>,
}

impl<V: Default> SpendMap<V> {
    /// The entry of `(counter, period_start)`, created if need be (and the
    /// counter's oldest periods dropped beyond [`PERIODS_KEPT`]).
    pub(crate) fn entry(&mut self, counter: &str, period_start: u64) -> &mut V {
        let key = (counter.to_owned(), period_start);
        if !self.entries.contains_key(&key) {
            let mut starts: Vec<u64> = self
                .entries
                .keys()
                .filter(|(c, _)| c == counter)
                .map(|&(_, p)| p)
                .collect();
            if starts.len() >= PERIODS_KEPT {
                starts.sort_unstable();
                for old in &starts[..=starts.len() - PERIODS_KEPT] {
                    self.entries.remove(&(counter.to_owned(), *old));
                }
            }
        }
        self.entries.entry(key).or_default()
    }
}

#[derive(Debug, Default)]
struct ModelState {
    consecutive_failures: u32,
    cooling_until: Option<Instant>,
}

/// The state of one gateway process.
#[derive(Debug, Default)]
pub struct LocalState {
    models: Mutex<HashMap<String, ModelState>>,
    spend: Mutex<SpendMap<f64>>,
}

impl LocalState {
    pub fn new() -> LocalState {
        LocalState::default()
    }
}

impl SharedState for LocalState {
    fn available(&self, model: &str, now: Instant) -> bool {
        let Ok(models) = self.models.lock() else {
            return true;
        };
        models
            .get(model)
            .and_then(|s| s.cooling_until)
            .is_none_or(|until| now >= until)
    }

    fn record(&self, model: &str, ok: bool, cooldown: Option<&Cooldown>, now: Instant) -> bool {
        let Ok(mut models) = self.models.lock() else {
            return false;
        };
        let state = models.entry(model.to_owned()).or_default();
        if ok {
            state.consecutive_failures = 0;
            return false;
        }
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        match cooldown {
            Some(c) if state.consecutive_failures >= c.after_failures.max(1) => {
                state.consecutive_failures = 0;
                state.cooling_until =
                    Some(now + Duration::from_secs_f64(c.duration.clamp(0.0, 1e9)));
                true
            }
            _ => false,
        }
    }

    fn cooling(&self, now: Instant) -> Vec<String> {
        let Ok(models) = self.models.lock() else {
            return Vec::new();
        };
        let mut names: Vec<String> = models
            .iter()
            .filter(|(_, s)| s.cooling_until.is_some_and(|u| now < u))
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }

    fn add_spend(&self, counter: &str, period_start: u64, usd: f64) {
        if !(usd.is_finite() && usd > 0.0) {
            return;
        }
        if let Ok(mut spend) = self.spend.lock() {
            *spend.entry(counter, period_start) += usd;
        }
    }

    fn spend(&self, counter: &str, period_start: u64) -> f64 {
        self.spend.lock().map_or(0.0, |s| {
            s.entries
                .get(&(counter.to_owned(), period_start))
                .copied()
                .unwrap_or(0.0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_after_consecutive_failures() {
        let s = LocalState::new();
        let c = Cooldown {
            duration: 30.0,
            after_failures: 3,
        };
        let t = Instant::now();
        assert!(!s.record("a", false, Some(&c), t));
        assert!(!s.record("a", true, Some(&c), t));
        assert!(!s.record("a", false, Some(&c), t));
        assert!(!s.record("a", false, Some(&c), t));
        assert!(s.available("a", t));
        assert!(s.record("a", false, Some(&c), t));
        assert!(!s.available("a", t + Duration::from_secs(29)));
        assert_eq!(s.cooling(t), ["a"]);
        assert!(s.available("a", t + Duration::from_secs(30)));
        assert!(s.available("b", t));
    }

    #[test]
    fn spend_per_counter_and_period() {
        let s = LocalState::new();
        s.add_spend("explore", 100, 0.25);
        s.add_spend("explore", 100, 0.5);
        s.add_spend("explore", 100, f64::NAN);
        s.add_spend("explore", 100, -1.0);
        s.add_spend("day", 100, 2.0);
        assert_eq!(s.spend("explore", 100), 0.75);
        assert_eq!(s.spend("day", 100), 2.0);
        assert_eq!(s.spend("explore", 200), 0.0);
        // Old periods are dropped beyond the last few.
        for p in 1..=10 {
            s.add_spend("explore", 100 + p * 100, 1.0);
        }
        assert_eq!(s.spend("explore", 100), 0.0);
        assert_eq!(s.spend("explore", 1100), 1.0);
        assert_eq!(s.spend("day", 100), 2.0);
        assert_eq!(day_start(86_400.0 * 3.0 + 5.0), 86_400 * 3);
        assert_eq!(day_start(-1.0), 0);
    }
}
