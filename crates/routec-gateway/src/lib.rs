//! `routec serve`: an OpenAI-compatible gateway that routes each request
//! with a compiled decision table (`routec-runtime`) and executes the
//! chosen plan against real model endpoints: fallbacks, retries, timeouts,
//! cooldowns, hedges, splits and cascades, with the semantics of
//! `docs/semantics.md`. `docs/proxy.md` is the user's guide.
//!
//! - [`app`]: shared state (the table behind `arc-swap`, reload);
//! - [`handler`]: one request, from body to answer and accounting;
//! - [`exec`]: plan execution; [`upstream`]: the provider adapters;
//! - [`signals`]: reading signals; [`loaded`]: a table resolved against
//!   the environment; [`state`]: cooldowns, spend counters, counts per
//!   wall-clock bucket (the drift window) and recorded requests for
//!   feedback, behind a trait, per process ([`LocalState`]) or shared by
//!   replicas through Redis ([`redis_state`], `--state redis://...`);
//! - [`metrics`], [`declog`]: Prometheus metrics and the decision log;
//! - [`feedback`]: `POST /v1/feedback`, outcomes written to the decision log;
//! - [`drift`]: the traffic-mix drift monitor's gauge and alerts;
//!   [`health`]: the per-model drift monitors' gauges and alerts;
//! - [`server`]: routes, tower layers, accept loop, signals, reload.
//!
//! Architecture Invariant: nothing on the request path compiles or reads a
//! file; a table is built by a [`Loader`] on a blocking thread and swapped
//! in whole, and a request keeps the table it started with.
//!
//! Architecture Invariant: every request is accounted for exactly once
//! (metrics and decision log), however it ends: answered, failed,
//! interrupted mid-stream, or abandoned by its client.

pub mod app;
pub mod declog;
pub mod drift;
pub mod error;
pub mod exec;
pub mod explore;
pub mod feedback;
pub mod handler;
pub mod health;
pub mod judge;
pub mod loaded;
pub mod metrics;
pub mod pacing;
pub mod redis_state;
pub mod server;
pub mod signals;
pub mod state;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;

pub use app::{App, Clock, Loader, Options};
pub use loaded::Env;
pub use redis_state::RedisState;
pub use state::{LocalState, SharedState};

/// A gateway that is listening.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting, drains, and waits for the server to end.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?
    }

    /// Waits for the server to end (on SIGTERM or SIGINT when started by
    /// [`start`] with `signals`).
    pub async fn wait(mut self) -> std::io::Result<()> {
        (&mut self.task)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?
    }
}

/// Loads the first table (an error is returned before anything listens),
/// binds, and serves in the background. With `signals`, SIGHUP reloads and
/// SIGTERM/SIGINT shut down gracefully.
pub async fn start(
    loader: Arc<dyn Loader>,
    options: Options,
    env: Env,
    state: Arc<dyn SharedState>,
    signals: bool,
) -> Result<Running, String> {
    let first = {
        let loader = loader.clone();
        let env = env.clone();
        tokio::task::spawn_blocking(move || app::load_table(loader.as_ref(), &env))
            .await
            .map_err(|e| e.to_string())??
    };
    // The tokenizer takes a moment to build: not on the first request.
    tokio::task::spawn_blocking(signals::warm_up);
    let listen = options.listen;
    let watch = options.watch_interval;
    let app = Arc::new(App::new(first, options, env, loader, state)?);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut background = vec![tokio::spawn(server::timer_anchor())];
    if signals {
        background.push(tokio::spawn(server::reload_on_sighup(app.clone())));
    }
    if let Some(interval) = watch {
        background.push(tokio::spawn(server::reload_on_change(
            app.clone(),
            interval,
        )));
    }
    // Registered before `start` returns: a signal sent once the caller
    // says it serves finds its handler.
    let on_signal = signals.then(server::shutdown_signal);
    let shutdown = async move {
        match on_signal {
            Some(on_signal) => {
                tokio::select! {
                    _ = stop_rx => {}
                    () = on_signal => {}
                }
            }
            None => {
                let _ = stop_rx.await;
            }
        }
    };
    let served = app.clone();
    let task = tokio::spawn(async move {
        let result = server::serve(served, listener, shutdown).await;
        for b in background {
            b.abort();
        }
        result
    });
    Ok(Running {
        addr,
        app,
        stop: Some(stop_tx),
        task,
    })
}
