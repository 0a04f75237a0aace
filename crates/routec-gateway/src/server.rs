//! The HTTP server: routes, the tower layers around them (inbound key,
//! concurrency limit, body limit), the accept loop with a header read
//! timeout, reload on SIGHUP and on file changes, and graceful shutdown on
//! SIGTERM and SIGINT.

use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router as Routes;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service;

use crate::app::{App, log};
use crate::error::ApiError;
use crate::handler;

pub use axum::http::HeaderName;

/// The routes with their layers. `POST /v1/chat/completions` is served
/// past them by [`serve`] ([`chat`]: the same checks, in the same order);
/// its route here answers other methods with 405.
pub fn routes(app: Arc<App>, limit: Arc<Semaphore>) -> Routes {
    Routes::new()
        .route(
            "/v1/chat/completions",
            post(|State(app): State<Arc<App>>, request: Request| {
                handler::chat_completions(app, request)
            }),
        )
        .route("/v1/feedback", post(crate::feedback::post_feedback))
        .route("/v1/models", get(models))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(app.options.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            (app.clone(), limit),
            concurrency_limit,
        ))
        .layer(middleware::from_fn_with_state(app.clone(), inbound_key))
        .with_state(app)
}

/// `POST /v1/chat/completions`, the request path, without the router's
/// layers (each boxes the request's future and clones the service): the
/// inbound key, then the concurrency limit, then the handler.
async fn chat(app: Arc<App>, limit: Arc<Semaphore>, request: Request) -> Response {
    if let Err(refused) = check_key(&app, &request) {
        return refused;
    }
    match admit(&app, &limit, &request) {
        Ok(guard) => {
            let response = handler::chat_completions(app, request).await;
            hold(response, guard)
        }
        Err(refused) => refused,
    }
}

/// Refuses requests over the concurrency limit with 503. The permit is
/// held until the response body ends (a stream counts while it streams).
async fn concurrency_limit(
    State((app, limit)): State<(Arc<App>, Arc<Semaphore>)>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if matches!(path, "/healthz" | "/readyz" | "/metrics") {
        return next.run(request).await;
    }
    match admit(&app, &limit, &request) {
        Ok(guard) => hold(next.run(request).await, guard),
        Err(refused) => refused,
    }
}

/// A concurrency permit for `request`, or its refusal (503).
fn admit(app: &Arc<App>, limit: &Arc<Semaphore>, request: &Request) -> Result<InFlight, Response> {
    let Ok(permit) = limit.clone().try_acquire_owned() else {
        let id = handler::request_id(app, request.headers());
        return Err(handler::rejected(
            app,
            "overloaded",
            ApiError::overloaded(),
            &id,
        ));
    };
    app.metrics.in_flight.inc();
    Ok(InFlight {
        app: app.clone(),
        _permit: permit,
    })
}

/// The response, its body holding `guard` until it ends.
fn hold(response: Response, guard: InFlight) -> Response {
    let (parts, body) = response.into_parts();
    Response::from_parts(
        parts,
        Body::new(Held {
            body,
            _guard: guard,
        }),
    )
}

struct InFlight {
    app: Arc<App>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// A response body that holds its request's concurrency permit until it
/// ends. It is the body it wraps in every other way: a whole answer keeps
/// its `content-length` (a stream wrapper would make it chunked).
struct Held {
    body: Body,
    _guard: InFlight,
}

impl http_body::Body for Held {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.app.metrics.in_flight.dec();
    }
}

/// With `--api-key-env`, every route but the probes requires
/// `Authorization: Bearer KEY`. The client's `Authorization` is never
/// forwarded upstream.
async fn inbound_key(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    match check_key(&app, &request) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused,
    }
}

/// The inbound key check of [`inbound_key`]: `Err` is the 401 answer.
fn check_key(app: &Arc<App>, request: &Request) -> Result<(), Response> {
    let Some(key) = &app.options.api_key else {
        return Ok(());
    };
    let path = request.uri().path();
    if matches!(path, "/healthz" | "/readyz") {
        return Ok(());
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), key.as_bytes())) {
        return Ok(());
    }
    let id = handler::request_id(app, request.headers());
    Err(handler::rejected(
        app,
        "unauthorized",
        ApiError::unauthorized(),
        &id,
    ))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn models(State(app): State<Arc<App>>) -> Response {
    let loaded = app.table.load();
    let mut data = vec![serde_json::json!({
        "id": loaded.policy, "object": "model", "created": 0, "owned_by": "routec",
    })];
    for m in &loaded.models {
        data.push(serde_json::json!({
            "id": m.name, "object": "model", "created": 0, "owned_by": "routec",
        }));
    }
    json(
        StatusCode::OK,
        serde_json::json!({"object": "list", "data": data}),
    )
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn healthz() -> Response {
    json(StatusCode::OK, serde_json::json!({"status": "alive"}))
}

/// Ready when a table is loaded and every model has an endpoint; reports
/// classifiers without an endpoint (ready: their default applies).
async fn readyz(State(app): State<Arc<App>>) -> Response {
    let loaded = app.table.load();
    let (models, classifiers) = loaded.unconfigured();
    let ready = models.is_empty();
    let body = serde_json::json!({
        "ready": ready,
        "policy": loaded.policy,
        "table": loaded.hash,
        "unconfigured_models": models,
        "classifiers_without_endpoint": classifiers,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(status, body)
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    // The cooldown gauges are read from the shared state when scraped, not
    // kept up to date on the request path: one gauge per model of the
    // loaded table (a model a reload removed disappears). Scrapes take
    // turns so one never encodes the gauges another is rewriting.
    let text = {
        let _one_at_a_time = app
            .scrape_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cooling = app.state.cooling(std::time::Instant::now());
        app.metrics.cooling.clear();
        for model in &app.table.load().models {
            app.metrics
                .cooling
                .get_or_create(&crate::metrics::ModelLabels {
                    model: model.name.clone(),
                })
                .set(i64::from(cooling.contains(&model.name)));
        }
        crate::drift::refresh(&app);
        crate::health::refresh(&app);
        crate::explore::refresh(&app);
        crate::pacing::refresh(&app);
        let m = &app.metrics;
        let today = crate::state::day_start(app.options.clock.now());
        m.spend_today
            .set(app.state.spend(crate::state::DAY_COUNTER, today));
        m.state_shared.set(i64::from(app.state.shared()));
        // The state counts its errors; the counter catches up at a scrape.
        m.state_errors
            .inc_by(app.state.errors().saturating_sub(m.state_errors.get()));
        app.metrics.encode()
    };
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Serves until `shutdown` resolves, then stops accepting and drains the
/// requests in flight for up to `drain_timeout`.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let limit = Arc::new(Semaphore::new(app.options.max_concurrency.max(1)));
    let router = routes(app.clone(), limit.clone());
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(app.options.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        log(&format!("accept failed: {e}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (app, limit, router) = (app.clone(), limit.clone(), router.clone());
                let svc = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                    let request = request.map(Body::new);
                    let (app, limit, mut router) = (app.clone(), limit.clone(), router.clone());
                    async move {
                        if request.method() == Method::POST
                            && request.uri().path() == "/v1/chat/completions"
                        {
                            return Ok::<_, Infallible>(chat(app, limit, request).await);
                        }
                        router.call(request).await
                    }
                });
                let conn = http.serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    log("shutting down: draining requests in flight");
    let deadline = tokio::time::Instant::now() + app.options.drain_timeout;
    match tokio::time::timeout_at(deadline, graceful.shutdown()).await {
        Ok(()) => log("drained"),
        Err(_) => log("drain deadline reached; closing the remaining connections"),
    }
    // Judgements in flight (`crate::judge`) hold a slot each until their
    // feedback line is queued: they get what is left of the deadline.
    let slots = crate::judge::JUDGE_CONCURRENCY;
    let judging = slots.saturating_sub(app.judge_slots.available_permits());
    if judging > 0 {
        log(&format!("waiting for {judging} judgement(s) in flight"));
        let all = u32::try_from(slots).unwrap_or(u32::MAX);
        if tokio::time::timeout_at(deadline, app.judge_slots.acquire_many(all))
            .await
            .is_err()
        {
            log("drain deadline reached; the judgements still in flight are dropped");
        }
    }
    if let Some(dl) = &app.declog {
        dl.sync();
    }
    Ok(())
}

/// How soon a timer is always due ([`timer_anchor`]).
pub const TIMER_ANCHOR: Duration = Duration::from_millis(100);

/// Keeps a timer due within [`TIMER_ANCHOR`] for as long as the server
/// runs. Tokio wakes its driver (an `eventfd` write, then one more
/// `epoll_wait`) whenever a timer is armed earlier than the driver's next
/// wake-up; with no short timer pending, each request's first timeout
/// (its TTFT or total timeout) would be such a timer: two system calls per
/// request (BENCHMARKS.md, "The gateway"). Timeouts longer than the anchor
/// then cost no wake-up; the anchor costs ten wake-ups a second.
pub async fn timer_anchor() {
    let mut tick = tokio::time::interval(TIMER_ANCHOR);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

/// Registers for SIGTERM and SIGINT now (so a signal sent as soon as the
/// caller goes on is not the default action's: the process's end), and
/// resolves on either.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let registered = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        async move {
            let (Ok(mut term), Ok(mut int)) = registered else {
                let _ = tokio::signal::ctrl_c().await;
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Registers for SIGHUP now (as [`shutdown_signal`]), and reloads on each,
/// forever.
pub fn reload_on_sighup(app: Arc<App>) -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let registered = signal(SignalKind::hangup());
        async move {
            let Ok(mut hup) = registered else {
                return;
            };
            while hup.recv().await.is_some() {
                let _ = app.reload("SIGHUP").await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        async move {
            let _ = app;
        }
    }
}

fn stamp(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Polls the watched files every `interval` and reloads when one changed
/// (modification time or length).
pub async fn reload_on_change(app: Arc<App>, interval: Duration) {
    let paths = app.loader.watched();
    let mut last: Vec<_> = paths.iter().map(stamp).collect();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now: Vec<_> = paths.iter().map(stamp).collect();
        if now != last {
            last = now;
            let _ = app.reload("file changed").await;
        }
    }
}
