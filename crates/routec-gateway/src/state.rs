//! Per-model state shared by every request (and, through another
//! implementation of [`SharedState`], by every replica): consecutive
//! failures and cooldowns.
//!
//! The hot path asks [`SharedState::available`] before each call and tells
//! [`SharedState::record`] after each attempt; both are synchronous and must
//! not block on the network. A shared implementation (Redis, issue 13)
//! keeps a local mirror that a background task synchronizes, and answers
//! from it.

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
}
