//! `routec serve POLICY.route | TABLE.json | TABLE.bin [--listen ADDR]
//! [--traffic NAME] [--decision-log PATH] [--state redis://HOST:PORT]`: the
//! gateway (`routec-gateway`).
//! A `.route` is compiled at start by the code of `routec compile`, and
//! its errors are printed as `compile` prints them (exit 1, before
//! listening); reloads compile it again off the request path.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use routec_driver::Failed;
use routec_driver::decide::{is_policy, load_router};
use routec_gateway::{Env, Loader, LocalState, Options, RedisState, SharedState};
use routec_runtime::Router;

use super::{eprint, report};
use crate::cli::{ColorChoice, exit};

pub const HELP: &str = "\
Examples:
  routec serve support.route                              compiles, listens on 127.0.0.1:8080
  routec serve support.table.bin --listen 0.0.0.0:8080
  routec serve support.route --traffic launch --decision-log decisions.jsonl
  SMALL_URL=http://vllm:8000/v1 ANTHROPIC_API_KEY=... routec serve support.route

Clients use any OpenAI SDK with base URL http://ADDR/v1 and `model` set to
the policy's name (routed by the table) or to one of its models (that model,
with its faults and fallbacks). Endpoints and keys come from the environment
variables the policy names (`env(\"...\")`); a missing one is an error at
start. Routes: POST /v1/chat/completions (JSON or `stream: true`),
GET /v1/models, /healthz, /readyz, /metrics.

State: without `--state`, cooldowns, the exploration budget's spend and the
day's spend counter are per process. With `--state redis://HOST:PORT[/DB]`
they are shared by every replica started with the same URL and prefix
(`--state-prefix`, by default `routec:` and the policy's name): a model
cooled down by one replica is skipped by the others, and the exploration
budget and `routec_spend_today_usd` count every replica's spend. Requests
never wait on Redis: each replica answers from a local copy synchronized
every 100 ms, so the sharing is eventually consistent. If Redis is
unreachable (at start or later) the gateway keeps serving on local state,
logs it once, sets `routec_state_shared` to 0, and pushes what it counted
meanwhile when Redis returns. See docs/learn.md.

Reloads on SIGHUP and when the file changes (a table that fails to compile or
load is refused and the old one keeps serving); SIGTERM and SIGINT stop
accepting and drain requests in flight. See docs/proxy.md.

Exit codes:
  0  shut down after SIGTERM or SIGINT
  1  the policy has errors
  2  usage or IO errors: an unreadable file, a file that is not a decision
     table, a missing environment variable, an address in use, a `--state`
     that is not a `redis://` URL";

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// A policy (`.route`, compiled at start) or a compiled table (`.json`, `.bin`).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The traffic profile to compile a `.route` for (default: the first declared).
    #[arg(long, value_name = "NAME")]
    pub traffic: Option<String>,
    /// Compile a `.route` with every SLO this much tighter than its limit (`5%`), as
    /// `routec compile --slo-margin` does (reloads too).
    #[arg(long, value_name = "PERCENT", value_parser = crate::cli::parse_margin)]
    pub slo_margin: Option<f64>,
    /// Append one JSON line per request to this file (recorded-traffic format).
    #[arg(long, value_name = "PATH")]
    pub decision_log: Option<PathBuf>,
    /// Require `Authorization: Bearer KEY` from clients, KEY read from this variable.
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// The header carrying the sticky-split key (else the body's `user`).
    #[arg(long, value_name = "NAME", default_value = "x-routec-key")]
    pub key_header: String,
    /// The largest request body accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    pub max_body: usize,
    /// The most requests served at once; more get 503.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_concurrency: usize,
    /// Seconds a client has to send its request headers.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = seconds)]
    pub header_timeout: f64,
    /// Seconds a client has to send its request body (else 408).
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, value_parser = seconds)]
    pub body_timeout: f64,
    /// Seconds shutdown waits for requests (and judgements) in flight.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = seconds)]
    pub drain_timeout: f64,
    /// Do not reload when the file changes (SIGHUP still reloads).
    #[arg(long)]
    pub no_watch: bool,
    /// Log the bodies of failed requests to standard error.
    #[arg(long)]
    pub log_bodies: bool,
    /// How many recent request ids `POST /v1/feedback` takes feedback for.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub feedback_ids: usize,
    /// With --state, seconds other replicas take feedback on a request
    /// this one answered (0: only this replica takes it).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600.0, value_parser = seconds)]
    pub feedback_ttl: f64,
    /// Seed exploration's random draws (`learn { explore 2% }`), so that
    /// the same requests in the same order are explored alike (experiments;
    /// by default the draws differ on every start).
    #[arg(long, value_name = "N")]
    pub explore_seed: Option<u64>,
    /// Share cooldowns and spend counters (the exploration budget, the day's
    /// spend) with the other replicas through Redis: `redis://HOST:PORT[/DB]`.
    /// Without it, state is per process.
    #[arg(long, value_name = "URL")]
    pub state: Option<String>,
    /// The prefix of the shared state's Redis keys (default: `routec:` and
    /// the policy's name).
    #[arg(long, value_name = "PREFIX", requires = "state")]
    pub state_prefix: Option<String>,
}

/// A number of seconds: finite, not negative, at most a day.
fn seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && (0.0..=86_400.0).contains(&x) => Ok(x),
        _ => Err(format!(
            "`{text}` is not a number of seconds from 0 to 86400"
        )),
    }
}

/// Compiles a `.route` (as `routec compile` does) or reads a table file
/// (as `routec decide` does), through the driver.
#[derive(Debug)]
struct FileLoader {
    path: PathBuf,
    traffic: Option<String>,
    slo_margin: Option<f64>,
    /// The router built at start, served by the first `load`.
    primed: Mutex<Option<Router>>,
    /// The compiled policy serving now (a policy's, not a table file's):
    /// what a re-fit is compared with.
    current: Mutex<Option<routec_driver::CompiledPolicy>>,
}

/// Compiles the policy at `path` as `routec compile` does (with the SLO
/// margin given on the command line, if any).
fn compile_policy(
    path: &std::path::Path,
    traffic: Option<&str>,
    slo_margin: Option<f64>,
) -> Result<routec_driver::CompiledPolicy, Failed> {
    let mut checked = routec_driver::check(routec_driver::Source::file(path)?)?;
    if let Some(margin) = slo_margin {
        checked.policy.slo_settings.margin = margin;
    }
    routec_driver::compile(checked, traffic)
}

/// Why a reload failed, as `routec compile` would print it (no colour: it
/// goes to the log).
fn failure_text(failed: &Failed) -> String {
    match failed {
        Failed::Diagnostics { files, diagnostics } => {
            routec_render::human::render(files, diagnostics, false)
        }
        Failed::Policy(m) | Failed::Usage(m) => m.clone(),
    }
}

impl Loader for FileLoader {
    fn load(&self) -> Result<Router, String> {
        if let Some(r) = self.primed.lock().ok().and_then(|mut p| p.take()) {
            return Ok(r);
        }
        if is_policy(&self.path) {
            let compiled = compile_policy(&self.path, self.traffic.as_deref(), self.slo_margin)
                .map_err(|f| failure_text(&f))?;
            let table = compiled.compiled.table.clone();
            if let Ok(mut current) = self.current.lock() {
                *current = Some(compiled);
            }
            return Router::new(table).map_err(|e| {
                format!("the compiled table does not load: {e} (this is a bug in routec)")
            });
        }
        load_router(&self.path, self.traffic.as_deref())
            .map(|l| l.router)
            .map_err(|f| failure_text(&f))
    }

    fn watched(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }

    /// Compiles the policy file with the decision log's window as the
    /// traffic (`routec_driver::refit`) and summarizes the change against
    /// the table serving now (`routec_driver::diff::compare`).
    fn refit(&self, records: String) -> Result<(Router, String), String> {
        if !is_policy(&self.path) {
            return Err("the gateway serves a compiled table; a re-fit needs the policy (`routec serve POLICY.route`)".into());
        }
        let mut checked = routec_driver::check(
            routec_driver::Source::file(&self.path).map_err(|f| failure_text(&Failed::from(f)))?,
        )
        .map_err(|f| failure_text(&f))?;
        if let Some(margin) = self.slo_margin {
            checked.policy.slo_settings.margin = margin;
        }
        let new = routec_driver::refit(
            checked,
            self.traffic.as_deref(),
            "the decision log's window",
            records,
        )
        .map_err(|f| failure_text(&f))?;
        let router = Router::new(new.compiled.table.clone()).map_err(|e| {
            format!("the re-fitted table does not load: {e} (this is a bug in routec)")
        })?;
        let mut current = self
            .current
            .lock()
            .map_err(|_| "the loader's state is poisoned".to_owned())?;
        let summary = match current.take() {
            Some(old) => match routec_driver::diff::compare(old, new) {
                Ok(compared) => {
                    let summary = compared.summary();
                    *current = Some(compared.new.policy);
                    summary
                }
                Err(e) => e,
            },
            None => {
                *current = Some(new);
                String::new()
            }
        };
        Ok((router, summary))
    }
}

pub fn run(args: &ServeArgs, color: ColorChoice) -> u8 {
    // A policy is compiled (its warnings and errors printed) as `routec
    // compile` does; a table is read and validated as `routec decide` does.
    let primed = if is_policy(&args.file) {
        match super::compile(&args.file, args.traffic.as_deref(), args.slo_margin, color) {
            Ok(p) => match Router::new(p.compiled.table.clone()) {
                Ok(r) => (r, Some(p)),
                Err(e) => {
                    return report(
                        &Failed::Policy(format!(
                            "the compiled table does not load: {e} (this is a bug in routec)"
                        )),
                        color,
                    );
                }
            },
            Err(code) => return code,
        }
    } else if args.slo_margin.is_some() {
        return report(
            &Failed::Usage("`--slo-margin` applies to a policy, not to a compiled table".into()),
            color,
        );
    } else {
        match load_router(&args.file, args.traffic.as_deref()) {
            Ok(l) => (l.router, None),
            Err(failed) => return report(&failed, color),
        }
    };
    let (primed, current) = primed;
    if let Some(url) = &args.state
        && let Err(e) = routec_gateway::redis_state::parse_url(url)
    {
        eprint(&format!("routec: --state: {e}\n"));
        return exit::USAGE;
    }
    let prefix = args
        .state_prefix
        .clone()
        .unwrap_or_else(|| format!("routec:{}", primed.table().policy.name));
    let api_key = match &args.api_key_env {
        Some(var) => match std::env::var(var) {
            Ok(k) if !k.is_empty() => Some(k),
            _ => {
                eprint(&format!(
                    "routec: --api-key-env: environment variable `{var}` is not set\n"
                ));
                return exit::USAGE;
            }
        },
        None => None,
    };
    let Ok(key_header) = axum_header(&args.key_header) else {
        eprint(&format!(
            "routec: --key-header: `{}` is not a header name\n",
            args.key_header
        ));
        return exit::USAGE;
    };
    let options = Options {
        listen: args.listen,
        decision_log: args.decision_log.clone(),
        max_body_bytes: args.max_body,
        max_concurrency: args.max_concurrency,
        header_read_timeout: Duration::from_secs_f64(args.header_timeout.max(0.1)),
        body_read_timeout: Duration::from_secs_f64(args.body_timeout.max(0.1)),
        drain_timeout: Duration::from_secs_f64(args.drain_timeout),
        api_key,
        key_header,
        watch_interval: (!args.no_watch).then_some(Duration::from_secs(1)),
        log_bodies: args.log_bodies,
        feedback_ids: args.feedback_ids,
        feedback_ttl: Duration::from_secs_f64(args.feedback_ttl),
        clock: routec_gateway::Clock::default(),
        explore_seed: args.explore_seed,
    };
    let loader = Arc::new(FileLoader {
        path: args.file.clone(),
        traffic: args.traffic.clone(),
        slo_margin: args.slo_margin,
        primed: Mutex::new(Some(primed)),
        current: Mutex::new(current),
    });
    let env: Env = Arc::new(|name: &str| std::env::var(name).ok());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprint(&format!("routec: cannot start the runtime: {e}\n"));
            return exit::USAGE;
        }
    };
    let state_url = args.state.clone();
    runtime.block_on(async move {
        let state: Arc<dyn SharedState> = match &state_url {
            Some(url) => match RedisState::connect(url, &prefix) {
                Ok(s) => s,
                Err(e) => {
                    eprint(&format!("routec: --state: {e}\n"));
                    return exit::USAGE;
                }
            },
            None => Arc::new(LocalState::new()),
        };
        let running = match routec_gateway::start(loader, options, env, state, true).await {
            Ok(r) => r,
            Err(e) => {
                eprint(&format!("routec: {e}\n"));
                return exit::USAGE;
            }
        };
        eprint(&format!(
            "routec: serving `{}` on http://{} (table {})\n",
            running.app.table.load().policy,
            running.addr,
            running.app.table.load().hash
        ));
        match running.wait().await {
            Ok(()) => exit::OK,
            Err(e) => {
                eprint(&format!("routec: {e}\n"));
                exit::USAGE
            }
        }
    })
}

fn axum_header(name: &str) -> Result<routec_gateway::server::HeaderName, ()> {
    routec_gateway::server::HeaderName::try_from(name.to_ascii_lowercase()).map_err(|_| ())
}
