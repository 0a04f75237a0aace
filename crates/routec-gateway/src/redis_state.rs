//! State shared by gateway replicas through Redis (`routec serve --state
//! redis://HOST:PORT[/DB]`, `docs/learn.md` "State shared by replicas").
//!
//! The request path never waits on the network: every [`SharedState`]
//! method answers from a local mirror under a short lock. A background task
//! synchronizes the mirror every [`SYNC_INTERVAL`] (and soon after a
//! cooldown starts or spend is added), in one pipeline per round:
//!
//! - a cooldown started here is pushed as `PREFIX:cool:MODEL` with `SET ...
//!   PX` (the key expires when the cooldown ends, so replicas need no
//!   common clock), and every model of the loaded table is pulled with
//!   `PTTL`: a model another replica cooled down is skipped here too;
//! - a spend counter's local delta is pushed with `INCRBYFLOAT
//!   PREFIX:spend:COUNTER:PERIOD_START`, which answers the shared total;
//!   the key is created (`SET ... NX EX`, [`SPEND_TTL_SECONDS`]) with the
//!   last total this replica saw, so a Redis that restarted empty is
//!   refilled rather than started from zero.
//!
//! When a round fails (Redis unreachable, an error, no answer within
//! [`TIMEOUT`]) the deltas stay in the mirror and are pushed by the first
//! round that succeeds (rounds back off to one per 800 ms meanwhile); meanwhile the gateway serves on what it knows
//! (its own cooldowns and spend, and the last shared totals), logs the
//! outage once, and reports it in `routec_state_shared`.
//!
//! Consistency is eventual: a replica sees another's spend and cooldowns
//! one or two rounds late. A delta whose `INCRBYFLOAT` reached Redis but
//! whose answer did not (a timeout) is pushed again: spend may be counted
//! twice, never lost.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use routec_table::Cooldown;
use tokio::sync::Notify;

use crate::app::log;
use crate::state::{LocalState, SharedState, SpendMap};

/// How often the mirror is synchronized when nothing happens.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(100);

/// The least time between two rounds (events wake the task sooner than
/// [`SYNC_INTERVAL`], at most this often).
const MIN_GAP: Duration = Duration::from_millis(10);

/// The longest wait between two rounds while Redis is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The longest a round (connect, pipeline, answer) may take.
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// How long a spend key lives after its creation: longer than the longest
/// period (`month`, 30 days), so old periods expire by themselves.
pub const SPEND_TTL_SECONDS: u64 = 35 * 86_400;

/// One spend counter of one period, as this replica knows it.
#[derive(Debug, Default)]
struct Counter {
    /// The shared total at the last round that succeeded.
    shared: f64,
    /// Added here since, not yet sent.
    pending: f64,
    /// Sent in the round under way.
    pushing: f64,
}

#[derive(Debug, Default)]
struct Mirror {
    spend: SpendMap<Counter>,
    /// Cooldowns started here and not yet pushed, with their end.
    started: HashMap<String, Instant>,
    /// The models whose cooldowns are pulled (the loaded table's, and any
    /// other asked about).
    models: Vec<String>,
    /// Cooldowns in Redis (any replica's) at the last pull, with their end.
    remote: HashMap<String, Instant>,
}

/// The Redis-backed [`SharedState`]: a [`LocalState`] for this process's
/// consecutive failures and cooldowns, plus the mirror of the shared ones.
pub struct RedisState {
    local: LocalState,
    mirror: Mutex<Mirror>,
    shared: AtomicBool,
    errors: AtomicU64,
    wake: Notify,
    prefix: String,
    /// The URL without its password, for logs.
    target: String,
}

impl fmt::Debug for RedisState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisState")
            .field("target", &self.target)
            .field("prefix", &self.prefix)
            .field("shared", &self.shared.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// `url` with the password of its user info hidden.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

/// Checks a `--state` URL: `redis://HOST[:PORT][/DB]` (a user and
/// password may precede the host). The message says what is wrong.
pub fn parse_url(url: &str) -> Result<redis::Client, String> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("rediss://") {
        return Err(format!(
            "`{}`: TLS (`rediss://`) is not supported; use `redis://HOST:PORT[/DB]`",
            redacted(url)
        ));
    }
    if !lower.starts_with("redis://") || url.len() <= "redis://".len() {
        return Err(format!(
            "`{}` is not a Redis URL; expected `redis://HOST:PORT[/DB]`",
            redacted(url)
        ));
    }
    redis::Client::open(url).map_err(|e| {
        format!(
            "`{}` is not a Redis URL ({e}); expected `redis://HOST:PORT[/DB]`",
            redacted(url)
        )
    })
}

fn lock(m: &Mutex<Mirror>) -> MutexGuard<'_, Mirror> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RedisState {
    /// A state shared through the Redis at `url`, its keys under `prefix`
    /// (`routec:POLICY` by default in `routec serve`). Only the URL is
    /// checked here: an unreachable Redis is not an error (the gateway
    /// serves on local state and the task retries every round). Starts the
    /// synchronization task on the current Tokio runtime; it ends when the
    /// state is dropped.
    pub fn connect(url: &str, prefix: &str) -> Result<Arc<RedisState>, String> {
        let client = parse_url(url)?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "the shared state needs a Tokio runtime".to_owned())?;
        let state = Arc::new(RedisState {
            local: LocalState::new(),
            mirror: Mutex::new(Mirror::default()),
            shared: AtomicBool::new(false),
            errors: AtomicU64::new(0),
            wake: Notify::new(),
            prefix: prefix.to_owned(),
            target: redacted(url),
        });
        runtime.spawn(run(Arc::downgrade(&state), client));
        Ok(state)
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn cool_key(&self, model: &str) -> String {
        format!("{}:cool:{model}", self.prefix)
    }

    fn spend_key(&self, counter: &str, period_start: u64) -> String {
        format!("{}:spend:{counter}:{period_start}", self.prefix)
    }

    /// One round: push what changed here, pull the shared figures.
    async fn sync(&self, conn: &mut ConnectionManager) -> Result<(), String> {
        let now = Instant::now();
        // What to send, taken under the lock (nothing is awaited under it).
        let (cooldowns, counters, models) = {
            let mut m = lock(&self.mirror);
            let cooldowns: Vec<(String, Instant)> = m
                .started
                .drain()
                .filter(|(_, until)| *until > now)
                .collect();
            let mut counters = Vec::with_capacity(m.spend.entries.len());
            for ((counter, start), c) in &mut m.spend.entries {
                c.pushing += c.pending;
                c.pending = 0.0;
                counters.push((counter.clone(), *start, c.shared, c.pushing));
            }
            (cooldowns, counters, m.models.clone())
        };
        let mut pipe = redis::pipe();
        for (model, until) in &cooldowns {
            let ms = until.saturating_duration_since(now).as_millis().max(1);
            pipe.cmd("SET")
                .arg(self.cool_key(model))
                .arg(1)
                .arg("PX")
                .arg(u64::try_from(ms).unwrap_or(u64::MAX))
                .ignore();
        }
        for (counter, start, shared, pushing) in &counters {
            let key = self.spend_key(counter, *start);
            pipe.cmd("SET")
                .arg(&key)
                .arg(shared.to_string())
                .arg("NX")
                .arg("EX")
                .arg(SPEND_TTL_SECONDS)
                .ignore();
            pipe.cmd("INCRBYFLOAT").arg(&key).arg(pushing.to_string());
        }
        for model in &models {
            pipe.cmd("PTTL").arg(self.cool_key(model));
        }
        let answer = if counters.is_empty() && models.is_empty() && cooldowns.is_empty() {
            // Nothing to say: a PING tells whether Redis is there.
            redis::cmd("PING")
                .query_async::<String>(conn)
                .await
                .map(|_| Vec::new())
        } else {
            pipe.query_async::<Vec<redis::Value>>(conn).await
        };
        let values = match answer {
            Ok(v) if v.len() == counters.len() + models.len() => v,
            Ok(v) => {
                self.restore(cooldowns, &counters);
                return Err(format!(
                    "unexpected answer: {} values for {} commands",
                    v.len(),
                    counters.len() + models.len()
                ));
            }
            Err(e) => {
                self.restore(cooldowns, &counters);
                return Err(e.to_string());
            }
        };
        let pulled_at = Instant::now();
        let mut m = lock(&self.mirror);
        let mut values = values.into_iter();
        for (counter, start, _, pushing) in &counters {
            let total = values
                .next()
                .and_then(|v| redis::from_redis_value::<f64>(v).ok());
            let c = m.spend.entry(counter, *start);
            match total {
                Some(t) if t.is_finite() => {
                    c.shared = t;
                    c.pushing = 0.0;
                }
                // Not a number (a key someone else wrote): keep the delta.
                _ => {
                    c.pending += *pushing;
                    c.pushing = 0.0;
                }
            }
        }
        for model in &models {
            let ttl = values
                .next()
                .and_then(|v| redis::from_redis_value::<i64>(v).ok())
                .unwrap_or(-2);
            if ttl > 0 {
                let until = pulled_at + Duration::from_millis(ttl.unsigned_abs());
                m.remote.insert(model.clone(), until);
            } else {
                m.remote.remove(model);
            }
        }
        Ok(())
    }

    /// Puts back what a failed round took out of the mirror.
    fn restore(&self, cooldowns: Vec<(String, Instant)>, counters: &[(String, u64, f64, f64)]) {
        let mut m = lock(&self.mirror);
        for (model, until) in cooldowns {
            let e = m.started.entry(model).or_insert(until);
            *e = (*e).max(until);
        }
        for (counter, start, _, _) in counters {
            let c = m.spend.entry(counter, *start);
            c.pending += c.pushing;
            c.pushing = 0.0;
        }
    }
}

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT))
        .set_number_of_retries(0)
}

/// The synchronization task: one round per [`SYNC_INTERVAL`] or event, a
/// fresh connection after a failed round, one log line per outage.
async fn run(state: Weak<RedisState>, client: redis::Client) {
    let mut conn: Option<ConnectionManager> = None;
    let mut first = true;
    // Failed rounds in a row: while Redis is away, rounds back off.
    let mut failures: u32 = 0;
    loop {
        let Some(s) = state.upgrade() else {
            return;
        };
        if conn.is_none() {
            conn = ConnectionManager::new_lazy_with_config(client.clone(), manager_config()).ok();
        }
        let result = match conn.as_mut() {
            Some(c) => match tokio::time::timeout(TIMEOUT, s.sync(c)).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {} ms", TIMEOUT.as_millis())),
            },
            None => Err("cannot create a connection".to_owned()),
        };
        match result {
            Ok(()) => {
                failures = 0;
                let was = s.shared.swap(true, Ordering::Relaxed);
                if first {
                    log(&format!(
                        "state shared through {} (keys `{}:*`)",
                        s.target, s.prefix
                    ));
                } else if !was {
                    log(&format!(
                        "state: {} is reachable again; local changes pushed, state shared",
                        s.target
                    ));
                }
            }
            Err(e) => {
                s.errors.fetch_add(1, Ordering::Relaxed);
                failures = failures.saturating_add(1);
                conn = None;
                let was = s.shared.swap(false, Ordering::Relaxed);
                if first || was {
                    log(&format!(
                        "state: {} is unreachable ({e}); serving on local state until it returns",
                        s.target
                    ));
                }
            }
        }
        first = false;
        if failures > 0 {
            // No event hurries a retry: 200 ms, 400 ms, then every 800 ms.
            let backoff = SYNC_INTERVAL * 2u32.pow(failures.min(3));
            tokio::time::sleep(backoff.min(MAX_BACKOFF)).await;
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(SYNC_INTERVAL) => {}
            () = s.wake.notified() => {
                tokio::time::sleep(MIN_GAP).await;
            }
        }
    }
}

impl SharedState for RedisState {
    fn available(&self, model: &str, now: Instant) -> bool {
        if !self.local.available(model, now) {
            return false;
        }
        let m = lock(&self.mirror);
        m.remote.get(model).is_none_or(|until| now >= *until)
    }

    fn record(&self, model: &str, ok: bool, cooldown: Option<&Cooldown>, now: Instant) -> bool {
        let started = self.local.record(model, ok, cooldown, now);
        if started && let Some(c) = cooldown {
            let until = now + Duration::from_secs_f64(c.duration.clamp(0.0, 1e9));
            let mut m = lock(&self.mirror);
            m.started.insert(model.to_owned(), until);
            if !m.models.iter().any(|n| n == model) {
                m.models.push(model.to_owned());
            }
            drop(m);
            self.wake.notify_one();
        }
        started
    }

    fn cooling(&self, now: Instant) -> Vec<String> {
        let mut names = self.local.cooling(now);
        {
            let m = lock(&self.mirror);
            names.extend(
                m.remote
                    .iter()
                    .filter(|(_, until)| now < **until)
                    .map(|(n, _)| n.clone()),
            );
        }
        names.sort();
        names.dedup();
        names
    }

    fn track(&self, models: &[&str]) {
        let mut m = lock(&self.mirror);
        for model in models {
            if !m.models.iter().any(|n| n == model) {
                m.models.push((*model).to_owned());
            }
        }
    }

    fn add_spend(&self, counter: &str, period_start: u64, usd: f64) {
        if !(usd.is_finite() && usd > 0.0) {
            return;
        }
        lock(&self.mirror)
            .spend
            .entry(counter, period_start)
            .pending += usd;
        self.wake.notify_one();
    }

    fn spend(&self, counter: &str, period_start: u64) -> f64 {
        let mut m = lock(&self.mirror);
        // Reading a counter makes the next rounds pull it.
        let c = m.spend.entry(counter, period_start);
        c.shared + c.pending + c.pushing
    }

    fn shared(&self) -> bool {
        self.shared.load(Ordering::Relaxed)
    }

    fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(parse_url("redis://127.0.0.1:6379").is_ok());
        assert!(parse_url("redis://127.0.0.1:6379/2").is_ok());
        assert!(parse_url("redis://localhost").is_ok());
        for bad in [
            "",
            "redis://",
            "http://localhost:6379",
            "localhost:6379",
            "rediss://localhost:6379",
            "redis://localhost:notaport",
        ] {
            let e = parse_url(bad).err().unwrap_or_default();
            assert!(!e.is_empty(), "{bad}");
        }
        assert_eq!(
            redacted("redis://user:secret@host:1/0"),
            "redis://***@host:1/0"
        );
        assert_eq!(redacted("redis://host:1"), "redis://host:1");
    }
}
