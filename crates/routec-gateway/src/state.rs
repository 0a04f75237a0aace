//! State shared by every request (and, through another implementation of
//! [`SharedState`], by every replica): per-model consecutive failures and
//! cooldowns, spend counters per period, counters per wall-clock bucket
//! ([`BucketSet`]: the drift windows) and, for `POST /v1/feedback`, what
//! each recorded request answered.
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
use std::ops::RangeInclusive;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use routec_table::Cooldown;
use tokio::sync::oneshot;

use crate::feedback::Answered;

/// Numbered counters per wall-clock bucket, added up by every replica:
/// bucket `n` covers `[n · width, (n + 1) · width)` seconds of Unix time,
/// so replicas agree on its boundaries; a window is the last `buckets`
/// buckets. The drift monitor's window is one (a counter per leaf), each
/// per-model monitor's another (a counter per model and histogram bin);
/// any other windowed count can be another (counters are numbered, below
/// [`COUNTERS`]).
#[derive(Clone, Debug, PartialEq)]
pub struct BucketSet {
    /// Names the counts in the shared store: it carries whatever makes
    /// them comparable (the table and the window's length), so a reload to
    /// another table or window never mixes counts.
    pub name: String,
    /// A bucket's width, seconds.
    pub width: f64,
    /// Buckets in the window.
    pub buckets: u64,
}

impl BucketSet {
    /// The window's span, seconds.
    pub fn span(&self) -> f64 {
        self.width * self.buckets as f64
    }
}

/// The counters a [`BucketSet`] may number (`0..COUNTERS`): a shared store
/// reads no counter past them.
pub const COUNTERS: usize = 65_536;

/// Counts per bucket: `(bucket number, counts by counter number)`.
pub type BucketCounts = Vec<(u64, Vec<u64>)>;

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
    /// Whether this state is shared with other replicas, reachable or not
    /// (`false` for [`LocalState`]): counts per bucket
    /// ([`count`](Self::count)) then need buckets numbered on the wall
    /// clock, and recorded requests are sent to the others
    /// ([`remember`](Self::remember)).
    fn replicated(&self) -> bool {
        false
    }
    /// Adds `n` to counter `counter` of bucket `bucket` of `set`: a shared
    /// implementation sends it to the other replicas (never on the request
    /// path); [`LocalState`] keeps nothing (the caller has its own window).
    fn count(&self, _set: &BucketSet, _bucket: u64, _counter: u32, _n: u64) {}
    /// The fleet's counts of `set` in `buckets`: the shared totals at the
    /// last synchronization plus what this process counted since. `None`
    /// when they are not known (no shared store, unreachable, or not yet
    /// read): the caller uses its own counts.
    fn counts(&self, _set: &BucketSet, _buckets: RangeInclusive<u64>) -> Option<BucketCounts> {
        None
    }
    /// Tells the other replicas what feedback on request `id` needs, for
    /// `ttl` (a shared implementation sends it off the request path).
    fn remember(&self, _id: &str, _answered: &Answered, _ttl: Duration) {}
    /// Asks the other replicas what request `id` answered: `None` when
    /// there are none to ask (no shared store, or it is unreachable), else
    /// the answer of the next synchronization (`None` inside when no
    /// replica recorded `id`).
    fn recall(&self, _id: &str) -> Option<oneshot::Receiver<Option<Answered>>> {
        None
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
