//! The gateway's shared state: the loaded table (swapped whole on reload),
//! the upstream client, per-model state, metrics and the decision log.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use routec_runtime::Router;

use crate::declog::DecisionLog;
use crate::feedback::Recent;
use crate::loaded::{Env, Loaded};
use crate::metrics::{Metrics, ResultLabels, TableLabels};
use crate::state::SharedState;

/// Where tables come from: compiling a `.route` (the CLI's compiler) or
/// reading a table file. Called at start and on every reload, on a
/// blocking thread, never on the request path.
pub trait Loader: Send + Sync + 'static {
    /// The table, validated into a router, or why there is none (rendered
    /// for a terminal).
    fn load(&self) -> Result<Router, String>;
    /// The files whose change triggers a reload.
    fn watched(&self) -> Vec<PathBuf>;
    /// Compiles the policy again with `records` (JSON Lines of recorded
    /// traffic: the recent part of the decision log) as its traffic, for a
    /// re-fit on drift (`drift ... => refit`): the new router and a one-line
    /// summary of what changed. `Err` when the loader serves a compiled
    /// table (nothing to re-fit) or the compile fails.
    fn refit(&self, records: String) -> Result<(Router, String), String> {
        let _ = records;
        Err("the gateway serves a compiled table; a re-fit needs the policy (`routec serve POLICY.route`)".into())
    }
}

/// How the gateway serves.
#[derive(Clone, Debug)]
pub struct Options {
    pub listen: SocketAddr,
    pub decision_log: Option<PathBuf>,
    /// Larger request bodies are refused with 413.
    pub max_body_bytes: usize,
    /// More requests at once are refused with 503.
    pub max_concurrency: usize,
    /// A client must send its request headers within this time.
    pub header_read_timeout: Duration,
    /// ... and its request body within this time (else 408).
    pub body_read_timeout: Duration,
    /// How long shutdown waits for requests in flight.
    pub drain_timeout: Duration,
    /// The bearer key clients must present, when set.
    pub api_key: Option<String>,
    /// The header carrying the sticky-split key (else the body's `user`).
    pub key_header: axum::http::HeaderName,
    /// How often watched files are checked for changes (`None`: never).
    pub watch_interval: Option<Duration>,
    /// Log request bodies on failures (off by default).
    pub log_bodies: bool,
    /// How many recent request ids `POST /v1/feedback` accepts feedback for.
    pub feedback_ids: usize,
    /// With a shared state (`--state`), how long other replicas accept
    /// feedback on a request this process recorded (zero: not shared).
    pub feedback_ttl: Duration,
    /// The wall clock of exploration budget periods (the system's by
    /// default; tests set their own).
    pub clock: Clock,
    /// The seed of exploration's random draws (`None`: different on every
    /// start). With a seed and one request at a time, which requests are
    /// explored repeats exactly (tests, reproducible experiments).
    pub explore_seed: Option<u64>,
}

/// Seconds since the Unix epoch: the system clock, or a test's.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<dyn Fn() -> f64 + Send + Sync>>);

impl Clock {
    /// A clock reading `now`.
    pub fn new(now: impl Fn() -> f64 + Send + Sync + 'static) -> Clock {
        Clock(Some(Arc::new(now)))
    }

    pub fn now(&self) -> f64 {
        match &self.0 {
            Some(f) => f(),
            None => unix_seconds(SystemTime::now()),
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Clock(custom)"
        } else {
            "Clock(system)"
        })
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            decision_log: None,
            max_body_bytes: 16 << 20,
            max_concurrency: 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
            api_key: None,
            key_header: axum::http::HeaderName::from_static("x-routec-key"),
            watch_interval: Some(Duration::from_secs(1)),
            log_bodies: false,
            feedback_ids: 100_000,
            feedback_ttl: Duration::from_secs(3600),
            clock: Clock::default(),
            explore_seed: None,
        }
    }
}

/// Everything requests share.
pub struct App {
    pub table: ArcSwap<Loaded>,
    pub client: crate::upstream::client::Client,
    pub state: Arc<dyn SharedState>,
    pub metrics: Metrics,
    pub declog: Option<DecisionLog>,
    pub options: Options,
    pub env: Env,
    pub loader: Arc<dyn Loader>,
    /// The last recorded requests, for their feedback.
    pub recent: Recent,
    /// Permits for judgements running (`crate::judge`).
    pub judge_slots: Arc<tokio::sync::Semaphore>,
    ids: AtomicU64,
    id_prefix: String,
    reload_lock: tokio::sync::Mutex<()>,
    /// Held while `/metrics` refreshes the cooldown gauges and encodes.
    pub scrape_lock: std::sync::Mutex<()>,
    pub started: Instant,
    /// The state of the uniform draws of exploration (splitmix64).
    draws: AtomicU64,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

/// Locks `m`, whatever a panicking holder left behind (the state under
/// the gateway's short locks stays consistent between statements).
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Logs a line to standard error (the gateway's only log sink).
pub fn log(message: &str) {
    eprintln!("routec serve: {message}");
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Loads, validates and resolves a table (blocking).
pub fn load_table(loader: &dyn Loader, env: &Env) -> Result<Loaded, String> {
    let router = loader.load()?;
    Loaded::new(router, env, SystemTime::now()).map_err(|errors| errors.join("\n"))
}

impl App {
    /// Builds the state around a first table.
    pub fn new(
        loaded: Loaded,
        options: Options,
        env: Env,
        loader: Arc<dyn Loader>,
        state: Arc<dyn SharedState>,
    ) -> Result<App, String> {
        let egress = crate::upstream::egress::Egress::from_env(|var| env(var))?;
        if let Some(summary) = egress.summary() {
            log(summary);
        }
        let client = crate::upstream::client::Client::new(egress)
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let declog = match &options.decision_log {
            Some(path) => Some(
                DecisionLog::open(path)
                    .map_err(|e| format!("cannot open `{}`: {e}", path.display()))?,
            ),
            None => None,
        };
        let options_feedback_ids = options.feedback_ids;
        let recent = if state.replicated() {
            Recent::shared(options_feedback_ids, state.clone(), options.feedback_ttl)
        } else {
            Recent::new(options_feedback_ids)
        };
        let options_explore_seed = options.explore_seed;
        let now = SystemTime::now();
        let nanos = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let prefix = routec_runtime::key_hash(format!("{}-{nanos}", std::process::id()).as_bytes());
        let app = App {
            metrics: Metrics::new(),
            table: ArcSwap::from_pointee(loaded),
            client,
            state,
            declog,
            options,
            env,
            loader,
            recent,
            judge_slots: Arc::new(tokio::sync::Semaphore::new(crate::judge::JUDGE_CONCURRENCY)),
            ids: AtomicU64::new(0),
            id_prefix: format!("{:08x}", prefix >> 32),
            reload_lock: tokio::sync::Mutex::new(()),
            scrape_lock: std::sync::Mutex::new(()),
            started: Instant::now(),
            draws: AtomicU64::new(options_explore_seed.unwrap_or(prefix ^ (nanos as u64))),
        };
        app.publish_table(None);
        Ok(app)
    }

    /// A new request id: `req-PREFIX-N` (unique per process; the prefix is
    /// random per start).
    pub fn next_id(&self) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        format!("req-{}-{n}", self.id_prefix)
    }

    /// A uniform draw in `[0, 1)` (splitmix64 over a shared counter:
    /// lock-free, not cryptographic).
    pub fn uniform(&self) -> f64 {
        let mut z = self
            .draws
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn publish_table(&self, previous: Option<TableLabels>) {
        let loaded = self.table.load();
        let names: Vec<&str> = loaded.models.iter().map(|m| m.name.as_str()).collect();
        self.state.track(&names);
        if self.state.replicated() {
            crate::health::announce(&loaded);
        }
        if let Some(old) = previous {
            self.metrics.table_info.remove(&old);
        }
        self.metrics
            .table_info
            .get_or_create(&TableLabels {
                policy: loaded.policy.clone(),
                hash: loaded.hash.clone(),
            })
            .set(1);
        self.metrics
            .table_loaded
            .set(unix_seconds(loaded.loaded_at));
    }

    /// Re-fits the table on the decision log's last `window` seconds of
    /// routed requests (`drift ... => refit`, `docs/learn.md` "Re-fit on
    /// drift"), off the request path: the loader compiles the policy with
    /// them as its traffic, and the new table is swapped in only when it
    /// meets every SLO there (a compile that cannot is refused with its
    /// errors). One at a time; while a reload or re-fit runs, another is
    /// skipped. Counted in `routec_refits_total{result}` and logged, with
    /// the change's summary.
    pub async fn refit(self: &Arc<App>, window: f64) -> Result<(), String> {
        let Ok(_one_at_a_time) = self.reload_lock.try_lock() else {
            return Err("a reload or re-fit is already running".into());
        };
        let app = self.clone();
        let result = tokio::task::spawn_blocking(move || app.refit_blocking(window))
            .await
            .map_err(|e| format!("the re-fit task failed: {e}"))
            .and_then(|r| r);
        let outcome = if result.is_ok() { "ok" } else { "refused" };
        self.metrics
            .refits
            .get_or_create(&ResultLabels {
                result: outcome.into(),
            })
            .inc();
        match result {
            Ok((loaded, summary, requests)) => {
                let hash = loaded.hash.clone();
                self.install(loaded);
                log(&format!(
                    "re-fit on drift: swapped in the table re-fitted on the last {} ({requests} routed requests; table {hash}); {summary}",
                    crate::drift::duration(window)
                ));
                Ok(())
            }
            Err(e) => {
                log(&format!(
                    "re-fit on drift refused; the table keeps serving: {e}"
                ));
                Err(e)
            }
        }
    }

    /// The re-fit's work: the window's lines, the compile, the SLO check.
    fn refit_blocking(&self, window: f64) -> Result<(Loaded, String, usize), String> {
        let Some(path) = &self.options.decision_log else {
            return Err(
                "a re-fit reads the decision log, and the gateway writes none (--decision-log)"
                    .into(),
            );
        };
        if let Some(dl) = &self.declog {
            dl.sync();
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let since = now_ms.saturating_sub((window * 1000.0) as u64);
        let (records, requests) = crate::declog::window(path, since)
            .map_err(|e| format!("cannot read the decision log `{}`: {e}", path.display()))?;
        if requests == 0 {
            return Err("no routed request in the window".into());
        }
        let (router, summary) = self.loader.refit(records)?;
        let missed: Vec<String> = router
            .table()
            .assumed
            .iter()
            .flat_map(|a| a.slos.iter())
            .filter(|s| !s.ok)
            .map(|s| format!("`{}`", s.constraint))
            .collect();
        if !missed.is_empty() {
            return Err(format!(
                "the re-fitted table misses {} on the window's traffic",
                missed.join(", ")
            ));
        }
        let loaded = Loaded::new(router, &self.env, SystemTime::now())
            .map_err(|errors| errors.join("\n"))?;
        Ok((loaded, summary, requests))
    }

    /// Swaps `loaded` in for the serving table (its exploration and pacing
    /// spend carried over).
    fn install(&self, loaded: Loaded) {
        let old = self.table.load();
        let previous = TableLabels {
            policy: old.policy.clone(),
            hash: old.hash.clone(),
        };
        crate::explore::carry(&old, &loaded);
        crate::pacing::carry(&old, &loaded);
        self.table.store(Arc::new(loaded));
        self.publish_table(Some(previous));
    }

    /// Compiles or reads the table again (off the request path) and swaps
    /// it in; a table that fails is refused, logged and counted, and the
    /// old one keeps serving. Requests in flight keep the table they
    /// started with.
    pub async fn reload(self: &Arc<App>, why: &str) -> Result<(), String> {
        let _one_at_a_time = self.reload_lock.lock().await;
        let loader = self.loader.clone();
        let env = self.env.clone();
        let result = tokio::task::spawn_blocking(move || load_table(loader.as_ref(), &env))
            .await
            .map_err(|e| format!("the reload task failed: {e}"))
            .and_then(|r| r);
        match result {
            Ok(loaded) => {
                let hash = loaded.hash.clone();
                self.install(loaded);
                self.metrics
                    .reloads
                    .get_or_create(&ResultLabels {
                        result: "ok".into(),
                    })
                    .inc();
                log(&format!("reloaded ({why}): table {hash}"));
                Ok(())
            }
            Err(e) => {
                self.metrics
                    .reloads
                    .get_or_create(&ResultLabels {
                        result: "refused".into(),
                    })
                    .inc();
                log(&format!(
                    "reload ({why}) refused; the previous table keeps serving:\n{e}"
                ));
                Err(e)
            }
        }
    }
}
