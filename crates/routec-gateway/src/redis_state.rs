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
//!   refilled rather than started from zero;
//! - counts per wall-clock bucket ([`BucketSet`], the drift windows) are
//!   pushed with `HINCRBY PREFIX:win:SET:BUCKET COUNTER N` (and `EXPIRE`
//!   past the window), and the window's buckets are pulled with `HGETALL`
//!   at most once per [`WINDOW_PULL`];
//! - what a recorded request answered ([`Answered`], for feedback sent to
//!   another replica) is pushed as JSON with `SET PREFIX:answered:ID ...
//!   EX TTL`, and another replica's is looked up with `GET` when feedback
//!   names an id this process does not know ([`SharedState::recall`]).
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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use routec_table::Cooldown;
use tokio::sync::{Notify, oneshot};

use crate::app::log;
use crate::feedback::Answered;
use crate::state::{BucketCounts, BucketSet, COUNTERS, LocalState, SharedState, SpendMap};

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

/// How often a window's buckets are pulled (its counts are pushed every
/// round).
pub const WINDOW_PULL: Duration = Duration::from_secs(1);

/// The most recorded requests waiting to be pushed (during an outage);
/// the oldest are dropped beyond it (their feedback is then taken only by
/// the replica that answered).
const ANSWERED_WAITING: usize = 100_000;

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

/// One bucket of a [`BucketSet`], per counter number.
#[derive(Debug, Default)]
struct Slot {
    /// The shared totals at the last pull (or push answer).
    shared: Vec<u64>,
    /// Counted here since, not yet sent.
    pending: Vec<u64>,
    /// Sent and not yet confirmed (by the round under way, or left by a
    /// round that failed: sent again by the next).
    pushing: Vec<u64>,
}

/// `v[i]`, the vector grown with zeros to hold it.
fn at(v: &mut Vec<u64>, i: usize) -> &mut u64 {
    if v.len() <= i {
        v.resize(i + 1, 0);
    }
    &mut v[i]
}

/// A [`BucketSet`] as this replica knows it.
#[derive(Debug)]
struct Window {
    set: BucketSet,
    slots: BTreeMap<u64, Slot>,
    /// The newest bucket counted in or asked about.
    newest: u64,
    /// When its buckets were last pulled (`None`: never, so its shared
    /// counts are not known yet).
    pulled: Option<Instant>,
    /// When it was last counted in or asked about (a set unused for a
    /// window's span is dropped: the table that used it was replaced).
    used: Instant,
}

impl Window {
    fn new(set: &BucketSet) -> Window {
        Window {
            set: set.clone(),
            slots: BTreeMap::new(),
            newest: 0,
            pulled: None,
            used: Instant::now(),
        }
    }

    /// Marks `bucket` as seen and drops the buckets that left the window.
    fn touch(&mut self, bucket: u64) {
        self.used = Instant::now();
        if bucket > self.newest {
            self.newest = bucket;
            let oldest = self.oldest();
            self.slots = self.slots.split_off(&oldest);
        }
    }

    fn oldest(&self) -> u64 {
        self.newest
            .saturating_sub(self.set.buckets.saturating_sub(1))
    }

    /// How long its keys live: the window's span twice (at least a minute),
    /// so a bucket outlives the window it belongs to.
    fn ttl_seconds(&self) -> u64 {
        ((self.set.span() * 2.0).ceil() as u64).max(60)
    }
}

#[derive(Debug, Default)]
struct Mirror {
    spend: SpendMap<Counter>,
    /// Counts per wall-clock bucket, by set name.
    windows: HashMap<String, Window>,
    /// Recorded requests not yet pushed: id, JSON, TTL in seconds.
    answered: VecDeque<(String, String, u64)>,
    /// Ids asked about by feedback, with whom to answer.
    lookups: Vec<(String, oneshot::Sender<Option<Answered>>)>,
    /// A round failed since the last that succeeded: the next writes the
    /// windows' shared counts back where Redis lost them (`HSETNX`).
    refill: bool,
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

    fn window_key(&self, set: &str, bucket: u64) -> String {
        format!("{}:win:{set}:{bucket}", self.prefix)
    }

    fn answered_key(&self, id: &str) -> String {
        format!("{}:answered:{id}", self.prefix)
    }

    /// One round: push what changed here, pull the shared figures.
    async fn sync(&self, conn: &mut ConnectionManager) -> Result<(), String> {
        let now = Instant::now();
        // What to send, taken under the lock (nothing is awaited under it).
        let mut taken = self.take(now);
        let Taken {
            cooldowns,
            counters,
            models,
            pushes,
            pulls,
            answered,
            lookups,
            ..
        } = &taken;
        let mut pipe = redis::pipe();
        for (model, until) in cooldowns {
            let ms = until.saturating_duration_since(now).as_millis().max(1);
            pipe.cmd("SET")
                .arg(self.cool_key(model))
                .arg(1)
                .arg("PX")
                .arg(u64::try_from(ms).unwrap_or(u64::MAX))
                .ignore();
        }
        for (counter, start, shared, pushing) in counters {
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
        for refill in &taken.refills {
            let key = self.window_key(&refill.set, refill.bucket);
            for (counter, n) in &refill.counts {
                pipe.cmd("HSETNX").arg(&key).arg(*counter).arg(*n).ignore();
            }
            pipe.cmd("EXPIRE").arg(&key).arg(refill.ttl).ignore();
        }
        let mut increments = 0;
        for push in pushes {
            let key = self.window_key(&push.set, push.bucket);
            for (counter, n) in &push.counts {
                pipe.cmd("HINCRBY").arg(&key).arg(*counter).arg(*n);
                increments += 1;
            }
            pipe.cmd("EXPIRE").arg(&key).arg(push.ttl).ignore();
        }
        for (id, json, ttl) in answered {
            pipe.cmd("SET")
                .arg(self.answered_key(id))
                .arg(json)
                .arg("EX")
                .arg(*ttl)
                .ignore();
        }
        for model in models {
            pipe.cmd("PTTL").arg(self.cool_key(model));
        }
        for (set, bucket) in pulls {
            pipe.cmd("HGETALL").arg(self.window_key(set, *bucket));
        }
        for (id, _) in lookups {
            pipe.cmd("GET").arg(self.answered_key(id));
        }
        let expected = counters.len() + increments + models.len() + pulls.len() + lookups.len();
        let answer = if expected == 0
            && cooldowns.is_empty()
            && answered.is_empty()
            && taken.refills.is_empty()
        {
            // Nothing to say: a PING tells whether Redis is there.
            redis::cmd("PING")
                .query_async::<String>(conn)
                .await
                .map(|_| Vec::new())
        } else {
            pipe.query_async::<Vec<redis::Value>>(conn).await
        };
        let values = match answer {
            Ok(v) if v.len() == expected => v,
            Ok(v) => {
                self.restore(taken);
                return Err(format!(
                    "unexpected answer: {} values for {expected} commands",
                    v.len(),
                ));
            }
            Err(e) => {
                self.restore(taken);
                return Err(e.to_string());
            }
        };
        let pulled_at = Instant::now();
        let lookups = std::mem::take(&mut taken.lookups);
        let mut m = lock(&self.mirror);
        let mut values = values.into_iter();
        for (counter, start, _, pushing) in &taken.counters {
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
        for push in &taken.pushes {
            for (counter, n) in &push.counts {
                let total = values
                    .next()
                    .and_then(|v| redis::from_redis_value::<u64>(v).ok());
                let Some(slot) = m
                    .windows
                    .get_mut(&push.set)
                    .and_then(|w| w.slots.get_mut(&push.bucket))
                else {
                    continue;
                };
                let i = *counter as usize;
                let pushing = at(&mut slot.pushing, i);
                *pushing = pushing.saturating_sub(*n);
                match total {
                    Some(t) => *at(&mut slot.shared, i) = t,
                    None => *at(&mut slot.pending, i) += n,
                }
            }
        }
        for model in &taken.models {
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
        for (set, bucket) in &taken.pulls {
            let fields = values
                .next()
                .and_then(|v| redis::from_redis_value::<HashMap<String, u64>>(v).ok())
                .unwrap_or_default();
            let Some(w) = m.windows.get_mut(set) else {
                continue;
            };
            w.pulled = Some(pulled_at);
            if *bucket < w.oldest() {
                continue;
            }
            let slot = w.slots.entry(*bucket).or_default();
            slot.shared.clear();
            for (field, n) in fields {
                // Counter numbers only (below `COUNTERS`).
                if let Ok(i) = field.parse::<usize>()
                    && i < COUNTERS
                {
                    *at(&mut slot.shared, i) = n;
                }
            }
        }
        drop(m);
        for (_, reply) in lookups {
            let found = values
                .next()
                .and_then(|v| redis::from_redis_value::<Option<String>>(v).ok())
                .flatten()
                .and_then(|json| serde_json::from_str::<Answered>(&json).ok());
            let _ = reply.send(found);
        }
        Ok(())
    }

    /// Takes out of the mirror what a round sends.
    fn take(&self, now: Instant) -> Taken {
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
        // A set unused for its window's span (at least a minute) belongs
        // to a table that was replaced: dropped once nothing waits to go.
        m.windows.retain(|_, w| {
            let idle = now.saturating_duration_since(w.used);
            idle < Duration::from_secs_f64(w.set.span().clamp(60.0, 1e9))
                || w.slots
                    .values()
                    .any(|s| s.pending.iter().chain(&s.pushing).any(|n| *n > 0))
        });
        let mut pushes = Vec::new();
        let mut pulls = Vec::new();
        let mut refills = Vec::new();
        let refill = std::mem::take(&mut m.refill);
        for (name, w) in &mut m.windows {
            let ttl = w.ttl_seconds();
            for (bucket, slot) in &mut w.slots {
                if refill {
                    // After an outage: what the fleet had counted, for a
                    // Redis that came back empty (a no-op where it did not).
                    let known: Vec<(u32, u64)> = slot
                        .shared
                        .iter()
                        .enumerate()
                        .filter(|(_, n)| **n > 0)
                        .map(|(i, n)| (i as u32, *n))
                        .collect();
                    if !known.is_empty() {
                        refills.push(Push {
                            set: name.clone(),
                            bucket: *bucket,
                            counts: known,
                            ttl,
                        });
                    }
                }
                // What is pending joins what an interrupted round may have
                // left unconfirmed; all of it is sent.
                for (i, n) in std::mem::take(&mut slot.pending).into_iter().enumerate() {
                    if n > 0 {
                        *at(&mut slot.pushing, i) += n;
                    }
                }
                let counts: Vec<(u32, u64)> = slot
                    .pushing
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(i, n)| (i as u32, *n))
                    .collect();
                if counts.is_empty() {
                    continue;
                }
                pushes.push(Push {
                    set: name.clone(),
                    bucket: *bucket,
                    counts,
                    ttl,
                });
            }
            if w.pulled
                .is_none_or(|t| now.saturating_duration_since(t) >= WINDOW_PULL)
            {
                pulls.extend((w.oldest()..=w.newest).map(|b| (name.clone(), b)));
            }
        }
        Taken {
            cooldowns,
            counters,
            models: m.models.clone(),
            pushes,
            pulls,
            refills,
            answered: m.answered.drain(..).collect(),
            lookups: std::mem::take(&mut m.lookups),
        }
    }

    /// Puts back what a failed round took out of the mirror (a lookup is
    /// answered by dropping it: the feedback handler takes it as a miss).
    fn restore(&self, taken: Taken) {
        let mut m = lock(&self.mirror);
        for (model, until) in taken.cooldowns {
            let e = m.started.entry(model).or_insert(until);
            *e = (*e).max(until);
        }
        for (counter, start, _, _) in &taken.counters {
            let c = m.spend.entry(counter, *start);
            c.pending += c.pushing;
            c.pushing = 0.0;
        }
        // A window's unconfirmed counts stay in `pushing`: the next round
        // sends them again.
        // The older ones first, before any recorded since.
        for a in taken.answered.into_iter().rev() {
            m.answered.push_front(a);
        }
        while m.answered.len() > ANSWERED_WAITING {
            m.answered.pop_front();
        }
    }
}

/// A window's counts of one bucket, sent in a round (added, or written
/// back where missing).
#[derive(Debug)]
struct Push {
    set: String,
    bucket: u64,
    counts: Vec<(u32, u64)>,
    ttl: u64,
}

/// What one round sends.
#[derive(Debug)]
struct Taken {
    cooldowns: Vec<(String, Instant)>,
    counters: Vec<(String, u64, f64, f64)>,
    models: Vec<String>,
    pushes: Vec<Push>,
    /// `(set, bucket)` to pull.
    pulls: Vec<(String, u64)>,
    /// Shared counts to write back where missing.
    refills: Vec<Push>,
    answered: Vec<(String, String, u64)>,
    lookups: Vec<(String, oneshot::Sender<Option<Answered>>)>,
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
                lock(&s.mirror).refill = true;
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

    fn replicated(&self) -> bool {
        true
    }

    fn count(&self, set: &BucketSet, bucket: u64, counter: u32, n: u64) {
        if counter as usize >= COUNTERS {
            return;
        }
        let mut m = lock(&self.mirror);
        let w = match m.windows.get_mut(&set.name) {
            Some(w) => w,
            None => m
                .windows
                .entry(set.name.clone())
                .or_insert_with(|| Window::new(set)),
        };
        w.touch(bucket);
        if bucket < w.oldest() {
            return;
        }
        *at(
            &mut w.slots.entry(bucket).or_default().pending,
            counter as usize,
        ) += n;
        // Pushed by the next round (no hurry: counts wait for the interval).
    }

    fn counts(&self, set: &BucketSet, buckets: RangeInclusive<u64>) -> Option<BucketCounts> {
        let mut m = lock(&self.mirror);
        let w = m
            .windows
            .entry(set.name.clone())
            .or_insert_with(|| Window::new(set));
        w.touch(*buckets.end());
        // Not read yet: unknown. Unreachable since: the last shared counts
        // plus this process's.
        w.pulled?;
        Some(
            w.slots
                .range(buckets)
                .map(|(b, slot)| {
                    let len = slot
                        .shared
                        .len()
                        .max(slot.pending.len())
                        .max(slot.pushing.len());
                    let get = |v: &Vec<u64>, i: usize| v.get(i).copied().unwrap_or(0);
                    let total = (0..len)
                        .map(|i| {
                            get(&slot.shared, i) + get(&slot.pending, i) + get(&slot.pushing, i)
                        })
                        .collect();
                    (*b, total)
                })
                .collect(),
        )
    }

    fn remember(&self, id: &str, answered: &Answered, ttl: Duration) {
        let Ok(json) = serde_json::to_string(answered) else {
            return;
        };
        let mut m = lock(&self.mirror);
        m.answered
            .push_back((id.to_owned(), json, ttl.as_secs().max(1)));
        while m.answered.len() > ANSWERED_WAITING {
            m.answered.pop_front();
        }
        drop(m);
        // Pushed promptly: feedback may reach another replica soon.
        self.wake.notify_one();
    }

    fn recall(&self, id: &str) -> Option<oneshot::Receiver<Option<Answered>>> {
        if !self.shared() {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        lock(&self.mirror).lookups.push((id.to_owned(), tx));
        self.wake.notify_one();
        Some(rx)
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

    #[test]
    fn a_window_keeps_its_last_buckets() {
        let set = BucketSet {
            name: "drift:x:3m".into(),
            width: 60.0,
            buckets: 3,
        };
        let mut w = Window::new(&set);
        for b in [10, 11, 12] {
            w.touch(b);
            w.slots.entry(b).or_default();
        }
        assert_eq!(w.oldest(), 10);
        w.touch(11);
        assert_eq!(w.slots.len(), 3);
        w.touch(14);
        assert_eq!(w.slots.keys().copied().collect::<Vec<_>>(), [12]);
        assert_eq!(w.ttl_seconds(), 360);
    }

    /// Counts are kept for the next round, but a check gets `None` (its
    /// own window) until the shared counts were read once.
    #[tokio::test]
    async fn unread_shared_counts_are_unknown() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let s = RedisState::connect(&format!("redis://127.0.0.1:{port}"), "t").unwrap();
        let set = BucketSet {
            name: "drift:x:1h".into(),
            width: 60.0,
            buckets: 60,
        };
        s.count(&set, 100, 2, 1);
        s.count(&set, 100, 2, 1);
        s.count(&set, 30, 2, 1);
        // Past the counters a set may number: not kept (a pull would not
        // read it back).
        s.count(&set, 100, COUNTERS as u32, 1);
        assert!(s.counts(&set, 41..=100).is_none());
        let m = lock(&s.mirror);
        let w = &m.windows["drift:x:1h"];
        assert_eq!(w.slots.keys().copied().collect::<Vec<_>>(), [100]);
        assert_eq!(w.slots[&100].pending, [0, 0, 2]);
        drop(m);
        assert!(s.recall("req-1").is_none(), "not shared: nothing to ask");
    }
}
