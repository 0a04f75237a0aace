//! `POST /v1/chat/completions`: read the request, route it with the table
//! (computing lazy signals only on the path), execute the plan, answer
//! (JSON or server-sent events) and account for the request exactly once
//! (metrics and decision log) when it ends, however it ends.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use routec_runtime::{Choice, Decision, Request, SignalValue};
use routec_table::SignalKind;
use serde_json::Value as J;

use crate::app::{App, log};
use crate::declog;
use crate::error::ApiError;
use crate::exec::{self, Ctx, Got, Role, Trace};
use crate::loaded::Loaded;
use crate::metrics::{
    AttemptLabels, ClassifierLabels, ModelLabels, RequestLabels, RuleLabels, SignalLabels,
    SliceLabels, SliceOutcomeLabels, SliceTokenLabels,
};
use crate::signals::{self, Reader};
use crate::upstream::{self, Chunk, Fault, Usage};

/// What the request is routed by.
#[derive(Clone, Debug)]
enum Target {
    /// The policy's table decided (`plan` is the plan run: the table's, or
    /// an exploration candidate's, as `Choice` says), at this pacing rung
    /// (0: the table itself).
    Routed(Decision, Choice, usize),
    /// The client named a model.
    Model(u32),
}

/// Accounts for one request when it ends; when dropped before (the client
/// went away), as `cancelled`.
struct Finalizer {
    ctx: Arc<Ctx>,
    id: String,
    requested: String,
    target: Target,
    stream: bool,
    signals: serde_json::Map<String, J>,
    prompt_tokens_known: bool,
    defaulted: Vec<String>,
    /// The slices (indices into the table's) the request belongs to.
    slices: Vec<usize>,
    time_ms: u64,
    /// Seconds from arrival to the first byte of the answer.
    first_byte: Option<f64>,
    /// The answer's text when the judge was picked to score it
    /// (`crate::judge`).
    judged: Option<String>,
    done: bool,
}

impl Finalizer {
    fn rule(&self) -> (Option<u32>, Option<String>, Option<u32>, String) {
        let table = self.ctx.loaded.table();
        match &self.target {
            Target::Routed(d, ..) => (
                Some(d.rule + 1),
                table.rules.get(d.rule as usize).map(|r| r.text.clone()),
                d.cell,
                table
                    .plans
                    .get(d.plan as usize)
                    .map_or_else(String::new, |p| p.text.clone()),
            ),
            Target::Model(m) => (
                None,
                None,
                None,
                self.ctx
                    .loaded
                    .models
                    .get(*m as usize)
                    .map_or_else(String::new, |m| m.name.clone()),
            ),
        }
    }

    fn finish(&mut self, status: StatusCode, outcome: &'static str, answered: Option<u32>) {
        if self.done {
            return;
        }
        self.done = true;
        let app = &self.ctx.app;
        let m = &app.metrics;
        let handles = &self.ctx.loaded.handles;
        let latency = self.ctx.arrived.elapsed().as_secs_f64();
        // The request is accounted for once: its trace is taken, not copied.
        let mut trace: Trace = self
            .ctx
            .trace
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        // An answer still streaming when the client left.
        for a in &mut trace.attempts {
            if a.status == "pending" {
                a.status = "cancelled".into();
                a.latency_ms = Some(a.start_ms.max(0.0).mul_add(-1.0, latency * 1000.0));
            }
        }
        // The rule's number, 0 for a named model ("direct").
        let rule_number = match &self.target {
            Target::Routed(d, ..) => d.rule + 1,
            Target::Model(_) => 0,
        };
        let rule_label = || match rule_number {
            0 => "direct".to_owned(),
            r => r.to_string(),
        };
        let rl = || RuleLabels { rule: rule_label() };
        let plan_key = match &self.target {
            Target::Routed(d, ..) => d.plan,
            Target::Model(m) => *m,
        };
        let model_name = || {
            answered
                .and_then(|a| self.ctx.loaded.models.get(a as usize))
                .map(|m| m.name.clone())
        };
        handles.request(
            m,
            (rule_number, plan_key, answered.unwrap_or(u32::MAX), outcome),
            &|| RequestLabels {
                rule: rule_label(),
                plan: self.rule().3,
                model: model_name().unwrap_or_default(),
                outcome: outcome.to_owned(),
            },
        );
        if outcome == "ok" {
            handles.request_time(m, rule_number, false, latency, &rl);
            if let Some(t) = self.first_byte {
                handles.request_time(m, rule_number, true, t, &rl);
            }
        }
        for (counter, n) in [
            (&m.retries, trace.retries),
            (&m.fallbacks, trace.fallbacks),
            (&m.hedges, trace.hedges),
            (&m.escalations, trace.escalations),
            (&m.unscored, trace.unscored),
        ] {
            if n > 0 {
                counter.get_or_create(&rl()).inc_by(u64::from(n));
            }
        }
        for name in &trace.cooldowns {
            m.cooldowns_started
                .get_or_create(&ModelLabels {
                    model: name.clone(),
                })
                .inc();
        }
        for s in &self.defaulted {
            m.defaulted
                .get_or_create(&SignalLabels { signal: s.clone() })
                .inc();
        }
        let (cost, input_tokens, output_tokens) = count_attempts(app, handles, &trace.attempts);
        crate::health::observe(app, &self.ctx.loaded, &trace.attempts);
        let slice_names: Vec<String> = self
            .slices
            .iter()
            .filter_map(|&i| self.ctx.loaded.table().slices.get(i))
            .map(|s| s.name.clone())
            .collect();
        let (mut input_billed, mut output_billed) = (0, 0);
        for a in &trace.attempts {
            input_billed += a.input_tokens.unwrap_or(0);
            output_billed += a.output_tokens.unwrap_or(0);
        }
        for name in &slice_names {
            m.slice_requests
                .get_or_create(&SliceOutcomeLabels {
                    slice: name.clone(),
                    outcome: outcome.to_owned(),
                })
                .inc();
            for (kind, n) in [("input", input_billed), ("output", output_billed)] {
                if n > 0 {
                    m.slice_tokens
                        .get_or_create(&SliceTokenLabels {
                            slice: name.clone(),
                            kind: kind.into(),
                        })
                        .inc_by(n);
                }
            }
            if cost > 0.0 {
                m.slice_cost
                    .get_or_create(&SliceLabels {
                        slice: name.clone(),
                    })
                    .inc_by(cost);
            }
        }
        let mut answer = answered_attempt(&self.ctx, answered, &trace.attempts);
        let (propensity, explored, rung) = match &self.target {
            Target::Routed(d, c, rung) => {
                if *rung == 0 {
                    answer.routed = Some((self.ctx.loaded.hash.clone(), d.leaf, d.plan));
                }
                (Some(c.propensity), c.explored, Some(*rung as u32))
            }
            Target::Model(_) => (None, false, None),
        };
        if cost > 0.0 {
            let today = crate::state::day_start(app.options.clock.now());
            app.state.add_spend(crate::state::DAY_COUNTER, today, cost);
        }
        if explored {
            crate::explore::spend(app, &rule_label(), cost);
        }
        crate::pacing::spend(app, cost);
        if let Some(dl) = &app.declog {
            let (rule, rule_text, cell, plan) = self.rule();
            let mut signals = std::mem::take(&mut self.signals);
            if !self.prompt_tokens_known
                && let Some(n) = input_tokens
                && self
                    .ctx
                    .loaded
                    .table()
                    .signals
                    .iter()
                    .any(|s| s.name == "prompt_tokens")
            {
                signals.insert("prompt_tokens".into(), J::from(n));
            }
            let line = declog::Line {
                id: self.id.clone(),
                signals,
                decision: declog::Decision {
                    time_ms: self.time_ms,
                    table: self.ctx.loaded.hash.clone(),
                    policy: self.ctx.loaded.policy.clone(),
                    requested: self.requested.clone(),
                    rule,
                    rule_text,
                    cell,
                    plan,
                    propensity,
                    explored,
                    rung: rung.filter(|_| self.ctx.loaded.pacer.is_some()),
                    model: model_name(),
                    stream: self.stream,
                    status: status.as_u16(),
                    outcome: outcome.to_owned(),
                    ttft_ms: self.first_byte.map(|t| t * 1000.0),
                    latency_ms: latency * 1000.0,
                    cost_usd: cost,
                    input_tokens,
                    output_tokens,
                    defaulted: self.defaulted.clone(),
                    slices: slice_names,
                    retries: trace.retries,
                    fallbacks: trace.fallbacks,
                    hedges: trace.hedges,
                    escalations: trace.escalations,
                    attempts: trace.attempts,
                },
            };
            if !dl.write(&line) {
                m.decision_log_dropped.inc();
                // Its feedback would have no line to join: not taken.
                return;
            }
        }
        // Feedback is taken once the request is recorded (its decision-log
        // line queued first, so the feedback line follows it); so is the
        // judge's.
        if outcome == "ok"
            && let Some(text) = self.judged.take()
        {
            crate::judge::spawn(&self.ctx, &self.id, &answer, text);
        }
        app.recent.insert(&self.id, answer);
    }
}

/// Counts `attempts` in the metrics (attempts by status, TTFT and latency,
/// tokens, cost by model): what they cost, and the answering call's input
/// and output tokens (the last successful or interrupted attempt's).
pub fn count_attempts(
    app: &App,
    handles: &crate::metrics::Handles,
    attempts: &[exec::AttemptRecord],
) -> (f64, Option<u64>, Option<u64>) {
    use crate::metrics::ModelSeries;
    let m = &app.metrics;
    let mut cost = 0.0;
    let mut input_tokens = None;
    let mut output_tokens = None;
    for a in attempts {
        let (i, name) = (a.model_index, a.model.as_str());
        if a.status == "ok" {
            handles.model_count(m, i, ModelSeries::AttemptsOk, 1, name);
        } else {
            m.attempts
                .get_or_create(&AttemptLabels {
                    model: a.model.clone(),
                    status: a.status.clone(),
                })
                .inc();
        }
        if let Some(t) = a.ttft_ms {
            handles.model_time(m, i, ModelSeries::Ttft, t / 1000.0, name);
        }
        if a.status == "ok"
            && let Some(l) = a.latency_ms
        {
            handles.model_time(m, i, ModelSeries::Latency, l / 1000.0, name);
        }
        for (series, n) in [
            (ModelSeries::InputTokens, a.input_tokens),
            (ModelSeries::OutputTokens, a.output_tokens),
        ] {
            if let Some(n) = n {
                handles.model_count(m, i, series, n, name);
            }
        }
        if a.cost_usd > 0.0 {
            handles.model_cost(m, i, a.cost_usd, name);
        }
        cost += a.cost_usd;
        if a.status == "ok" || a.status == "interrupted" {
            input_tokens = a.input_tokens.or(input_tokens);
            output_tokens = a.output_tokens.or(output_tokens);
        }
    }
    (cost, input_tokens, output_tokens)
}

/// What feedback on a request will record: the answering model and its
/// answering call's figures (the last successful or interrupted attempt of
/// that model).
fn answered_attempt(
    ctx: &Ctx,
    answered: Option<u32>,
    attempts: &[exec::AttemptRecord],
) -> crate::feedback::Answered {
    let Some(model) = answered.and_then(|a| ctx.loaded.models.get(a as usize)) else {
        return crate::feedback::Answered::default();
    };
    let call = attempts
        .iter()
        .rev()
        .find(|a| a.model == model.name && (a.status == "ok" || a.status == "interrupted"));
    crate::feedback::Answered {
        model: Some(model.name.clone()),
        latency_ms: call.and_then(|a| a.latency_ms),
        ttft_ms: call.and_then(|a| a.ttft_ms),
        input_tokens: call.and_then(|a| a.input_tokens),
        output_tokens: call.and_then(|a| a.output_tokens),
        cost_usd: call.map(|a| a.cost_usd),
        routed: None,
    }
}

impl Drop for Finalizer {
    fn drop(&mut self) {
        if !self.done {
            // 499: the client closed the request (nginx's convention).
            let status = StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST);
            self.finish(status, "cancelled", None);
        }
    }
}

/// A header value from text (invalid characters replaced).
pub fn header_text(text: &str) -> HeaderValue {
    if text.chars().all(|c| (' '..='~').contains(&c))
        && let Ok(v) = HeaderValue::from_str(text)
    {
        return v;
    }
    let clean: String = text
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    HeaderValue::from_str(&clean).unwrap_or_else(|_| HeaderValue::from_static("?"))
}

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_ROUTEC_RULE: HeaderName = HeaderName::from_static("x-routec-rule");
static X_ROUTEC_PLAN: HeaderName = HeaderName::from_static("x-routec-plan");
static X_ROUTEC_MODEL: HeaderName = HeaderName::from_static("x-routec-model");

/// `x-request-id`, and what served the request: `x-routec-rule` (`N:
/// TEXT`, or `direct` for a named model), `x-routec-plan` and
/// `x-routec-model` (the answering model, when one answered). The values
/// are the loaded table's, written once per load.
fn routing_headers(headers: &mut HeaderMap, fin: &Finalizer, model: Option<u32>) {
    let h = &fin.ctx.loaded.headers;
    let empty = || HeaderValue::from_static("");
    headers.insert(X_REQUEST_ID.clone(), header_text(&fin.id));
    let (rule, plan) = match &fin.target {
        Target::Routed(d, ..) => (h.rules.get(d.rule as usize), h.plans.get(d.plan as usize)),
        Target::Model(m) => (None, h.models.get(*m as usize)),
    };
    headers.insert(
        X_ROUTEC_RULE.clone(),
        rule.cloned()
            .unwrap_or_else(|| HeaderValue::from_static("direct")),
    );
    headers.insert(X_ROUTEC_PLAN.clone(), plan.cloned().unwrap_or_else(empty));
    if let Some(m) = model.and_then(|m| h.models.get(m as usize)) {
        headers.insert(X_ROUTEC_MODEL.clone(), m.clone());
    }
}

/// An error answer with the routing headers.
fn error_response(fin: &mut Finalizer, error: ApiError) -> Response {
    fin.finish(error.status, "failed", None);
    let mut response = error.into_response();
    routing_headers(response.headers_mut(), fin, None);
    response
}

/// The error when every plan failed: 504 when the last failure was a
/// timeout, 503 when models were cooling down, rate limited or not
/// configured, 502 otherwise; the message lists the attempts.
fn all_failed(ctx: &Ctx, last: &Fault) -> ApiError {
    let attempts: Vec<String> = ctx
        .trace
        .lock()
        .map(|t| {
            t.attempts
                .iter()
                .map(|a| format!("{} ({}): {}", a.model, serde_plain(a.role), a.status))
                .collect()
        })
        .unwrap_or_default();
    let status = match last {
        Fault::TtftTimeout | Fault::Timeout => StatusCode::GATEWAY_TIMEOUT,
        Fault::Cooldown | Fault::Unconfigured | Fault::Status { code: 429, .. } => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::BAD_GATEWAY,
    };
    let list = if attempts.is_empty() {
        "no attempt was possible".to_owned()
    } else {
        attempts.join("; ")
    };
    ApiError::new(
        status,
        "upstream_error",
        "all_plans_failed",
        format!("every plan failed ({}); attempts: {list}", last.describe()),
    )
}

fn serde_plain(role: Role) -> &'static str {
    match role {
        Role::First => "first",
        Role::Retry => "retry",
        Role::Fallback => "fallback",
        Role::Hedge => "hedge",
        Role::Chain => "chain",
        Role::Escalation => "escalation",
    }
}

/// A signal's value written as recorded traffic writes it.
fn traffic_value(kind: &SignalKind, v: f64) -> J {
    match kind {
        SignalKind::Enum { variants } => variants
            .get(v as usize)
            .map_or(J::Null, |s| J::String(s.clone())),
        SignalKind::Bool => J::Bool(v != 0.0),
        SignalKind::Tokens | SignalKind::Int => J::from(v as i64),
        _ => serde_json::Number::from_f64(v).map_or(J::Null, J::Number),
    }
}

/// Calls a classifier: `POST url` with `{"signal", "classifier",
/// "messages", "metadata"}`, expecting `{"value": ...}` in the signal's
/// syntax within the timeout.
async fn classify(
    app: &App,
    loaded: &Loaded,
    signal: usize,
    body: &serde_json::Map<String, J>,
) -> Option<f64> {
    let s = loaded.table().signals.get(signal)?;
    let c = loaded.classifiers.get(signal)?.as_ref()?;
    let count = |outcome: &str| {
        app.metrics
            .classifier_calls
            .get_or_create(&ClassifierLabels {
                signal: s.name.clone(),
                outcome: outcome.into(),
            })
            .inc();
    };
    let Some(target) = &c.url else {
        count("unavailable");
        return None;
    };
    let request = serde_json::json!({
        "signal": s.name,
        "classifier": c.name,
        "messages": body.get("messages").cloned().unwrap_or(J::Null),
        "metadata": body.get("metadata").cloned().unwrap_or(J::Null),
    });
    let call = async {
        let r = app
            .client
            .post(target)
            .header(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            )
            .body(request.to_string())
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return Some(Err("error"));
        }
        let bytes = r
            .bytes(crate::upstream::http::MAX_ANSWER_BYTES)
            .await
            .ok()?;
        let j: J = serde_json::from_slice(&bytes).ok()?;
        Some(j.get("value").map_or(Err("invalid"), |v| {
            routec_runtime::values::read(&s.kind, v).ok_or("invalid")
        }))
    };
    match tokio::time::timeout(c.timeout, call).await {
        Err(_) => {
            count("timeout");
            None
        }
        Ok(None) => {
            count("error");
            None
        }
        Ok(Some(Err(outcome))) => {
            count(outcome);
            None
        }
        Ok(Some(Ok(v))) => {
            count("ok");
            Some(v)
        }
    }
}

/// Reads the request's signals and decides; lazy signals (classifiers,
/// `prompt_tokens`) are computed only when the path tests them.
async fn route(
    app: &App,
    loaded: &Loaded,
    rung: usize,
    headers: &HeaderMap,
    body: &serde_json::Map<String, J>,
    tokenizer_openai: bool,
) -> (Request, Decision, Option<f64>) {
    let mut request = read_cheap(app, loaded, headers, body);
    let mut lazy = loaded.lazy;
    let mut prompt_tokens = None;
    let router = loaded.router_at(rung);
    while let Some(signal) = router.first_missing(&request, &lazy) {
        lazy.remove(signal);
        let value = match loaded.readers.get(signal) {
            Some(Reader::PromptTokens) => {
                let n = if tokenizer_openai {
                    count_tokens(body).await
                } else {
                    signals::estimate_tokens(body) as f64
                };
                prompt_tokens = Some(n);
                Some(n)
            }
            Some(Reader::Classifier) => classify(app, loaded, signal, body).await,
            _ => None,
        };
        if let Some(v) = value {
            request.set(signal, v);
        }
    }
    let decision = router.decide(&request);
    (request, decision, prompt_tokens)
}

/// The request's cheap signals (headers, metadata, the body's built-ins)
/// and its sticky-split key; lazy signals are left missing.
fn read_cheap(
    app: &App,
    loaded: &Loaded,
    headers: &HeaderMap,
    body: &serde_json::Map<String, J>,
) -> Request {
    let table = loaded.table();
    let mut request = loaded.router.request();
    for (i, (reader, s)) in loaded.readers.iter().zip(&table.signals).enumerate() {
        match signals::read_cheap(reader, &s.kind, headers, body) {
            Some(Ok(v)) => request.set(i, v),
            Some(Err(())) => request.set_invalid(i),
            None => {}
        }
    }
    let key = headers
        .get(&app.options.key_header)
        .and_then(|v| v.to_str().ok())
        .or_else(|| body.get("user").and_then(J::as_str))
        .filter(|k| !k.is_empty());
    if let Some(k) = key {
        request.set_key(k);
    }
    request
}

/// The request's signal values as recorded traffic writes them.
fn signals_json(loaded: &Loaded, request: &Request) -> serde_json::Map<String, J> {
    let mut out = serde_json::Map::new();
    for (i, s) in loaded.table().signals.iter().enumerate() {
        if let SignalValue::Present(v) = request.get(i) {
            let value = traffic_value(&s.kind, v);
            if !value.is_null() {
                out.insert(s.name.clone(), value);
            }
        }
    }
    out
}

/// The indices of the slices the request belongs to.
fn slices_of(loaded: &Loaded, request: &Request) -> Vec<usize> {
    (0..loaded.table().slices.len())
        .filter(|&i| loaded.router.in_slice(i, request))
        .collect()
}

/// Counts with the tokenizer; long prompts on the blocking pool.
async fn count_tokens(body: &serde_json::Map<String, J>) -> f64 {
    const INLINE_BYTES: usize = 8 << 10;
    let size: usize = signals::prompt_text(body).0.len();
    if size <= INLINE_BYTES {
        return signals::count_tokens(body) as f64;
    }
    let owned = body.clone();
    tokio::task::spawn_blocking(move || signals::count_tokens(&owned) as f64)
        .await
        .unwrap_or_else(|_| signals::estimate_tokens(body) as f64)
}

/// The request's id: the client's `x-request-id` when it sent a printable
/// one of at most 128 characters, else a new one.
pub fn request_id(app: &App, headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map_or_else(|| app.next_id(), str::to_owned)
}

/// A request refused before routing: counted by reason, answered with the
/// error and its `x-request-id` (not written to the decision log).
pub fn rejected(app: &App, reason: &str, error: ApiError, id: &str) -> Response {
    app.metrics
        .rejected
        .get_or_create(&crate::metrics::ReasonLabels {
            reason: reason.into(),
        })
        .inc();
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(X_REQUEST_ID.clone(), header_text(id));
    response
}

/// Whether reading a body failed on the size limit.
fn over_limit(e: &axum::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// The handler of `POST /v1/chat/completions` (the server calls it
/// directly, past the router: `crate::server`).
pub async fn chat_completions(app: Arc<App>, request: axum::extract::Request) -> Response {
    let arrived = Instant::now();
    let time_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let id = request_id(&app, &headers);
    let reject = |reason: &str, e: ApiError| rejected(&app, reason, e, &id);
    // The body must arrive within the body timeout (a client trickling it
    // would hold a concurrency slot), and within the size limit.
    let limit = app.options.max_body_bytes;
    let body = tokio::time::timeout(
        app.options.body_read_timeout,
        axum::body::to_bytes(body, limit),
    )
    .await;
    let bytes = match body {
        Err(_) => {
            return reject(
                "body_timeout",
                ApiError::body_timeout(app.options.body_read_timeout),
            );
        }
        Ok(Ok(b)) => b,
        Ok(Err(e)) if over_limit(&e) => {
            return reject("too_large", ApiError::too_large(limit));
        }
        Ok(Err(e)) => {
            return reject(
                "malformed",
                ApiError::bad_request(format!("Failed to buffer the request body: {e}")),
            );
        }
    };
    let body: serde_json::Map<String, J> = match serde_json::from_slice::<J>(&bytes) {
        Ok(J::Object(o)) => o,
        Ok(_) => {
            return reject(
                "malformed",
                ApiError::bad_request("the body must be a JSON object"),
            );
        }
        Err(e) => {
            return reject(
                "malformed",
                ApiError::bad_request(format!("the body is not valid JSON: {e}")),
            );
        }
    };
    let Some(requested) = body.get("model").and_then(J::as_str).map(str::to_owned) else {
        return reject(
            "malformed",
            ApiError::bad_request("`model` is required (a string)"),
        );
    };
    if body
        .get("messages")
        .and_then(J::as_array)
        .is_none_or(Vec::is_empty)
    {
        return reject(
            "malformed",
            ApiError::bad_request("`messages` is required (a non-empty array)"),
        );
    }
    let loaded = app.table.load_full();
    let direct = loaded.by_name.get(&requested).copied();
    if requested != loaded.policy && direct.is_none() {
        let mut names = vec![loaded.policy.clone()];
        names.extend(loaded.models.iter().map(|m| m.name.clone()));
        return reject(
            "unknown_model",
            ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "model_not_found",
                format!(
                    "the model `{requested}` does not exist; valid models: {}",
                    names.join(", ")
                ),
            ),
        );
    }
    crate::judge::arrived(&app, &loaded);
    let stream = signals::is_stream(&body);
    let counting_model = direct.or(loaded.count_with);
    let openai_tokens = counting_model
        .and_then(|m| loaded.models.get(m as usize))
        .is_some_and(|m| m.openai_family);

    // `prompt_tokens` when a path read it (counted), and the prompt's size
    // for the rest (an estimate when it was not counted), computed once.
    let estimate =
        |counted: Option<f64>| counted.unwrap_or_else(|| signals::estimate_tokens(&body) as f64);
    let (target, request, defaulted, prompt_tokens, prompt_estimate) = match direct {
        // A named model is not routed, but its cheap signals are read (for
        // the slices and the decision log).
        Some(m) => (
            Target::Model(m),
            read_cheap(&app, &loaded, &headers, &body),
            Vec::new(),
            None,
            estimate(None),
        ),
        None => {
            let rung = crate::pacing::rung(&app, &loaded);
            let (request, decision, prompt_tokens) =
                route(&app, &loaded, rung, &headers, &body, openai_tokens).await;
            let table = loaded.router_at(rung).table();
            let defaulted: Vec<String> = decision
                .defaulted
                .iter()
                .chain(decision.invalid.iter())
                .filter_map(|i| table.signals.get(i).map(|s| s.name.clone()))
                .collect();
            let prompt_estimate = estimate(prompt_tokens);
            // A paced request is neither counted for drift nor explored
            // (`crate::pacing`).
            let choice = if rung == 0 {
                crate::drift::observe(&app, &loaded, decision.leaf);
                crate::explore::choose(&app, &loaded, &request, &decision, prompt_estimate)
            } else {
                crate::explore::unexplored(table, &decision)
            };
            let decision = Decision {
                plan: choice.plan,
                ..decision
            };
            (
                Target::Routed(decision, choice, rung),
                request,
                defaulted,
                prompt_tokens,
                prompt_estimate,
            )
        }
    };
    // Only the decision log writes the signals.
    let signals_json = if app.declog.is_some() {
        signals_json(&loaded, &request)
    } else {
        serde_json::Map::new()
    };
    let slices = slices_of(&loaded, &request);
    let include_usage = body
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(J::as_bool)
        .unwrap_or(false);
    let keep_logprobs = body.get("logprobs").and_then(J::as_bool).unwrap_or(false);
    let ctx = Arc::new(Ctx {
        app: app.clone(),
        loaded: loaded.clone(),
        body,
        prompt_tokens: prompt_estimate,
        arrived,
        trace: Mutex::new(Trace::default()),
    });
    let mut fin = Finalizer {
        ctx: ctx.clone(),
        id,
        requested,
        target: target.clone(),
        stream,
        signals: signals_json,
        prompt_tokens_known: prompt_tokens.is_some(),
        defaulted,
        slices,
        time_ms,
        first_byte: None,
        judged: None,
        done: false,
    };
    let result = match &target {
        Target::Routed(d, ..) => exec::run_plan(&ctx, d.plan, !stream, Role::First, 0).await,
        Target::Model(m) => exec::run_model(&ctx, *m, !stream).await,
    };
    let got = match result {
        Ok(got) => got,
        Err(fault) => {
            let error = all_failed(&ctx, &fault);
            if app.options.log_bodies {
                log(&format!(
                    "request {} failed: {}; body: {}",
                    fin.id,
                    error.message,
                    J::Object(ctx.body.clone())
                ));
            }
            return error_response(&mut fin, error);
        }
    };
    let model = got.model();
    if !stream {
        let Got::Complete(c) = got else {
            // Unreachable: non-streaming plans complete their answers.
            return error_response(
                &mut fin,
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "internal",
                    "an answer was not complete",
                ),
            );
        };
        let name = loaded
            .models
            .get(model as usize)
            .map_or("", |m| m.name.as_str());
        let body = upstream::chunk::aggregate_text(&c.chunks, name, keep_logprobs);
        fin.first_byte = Some(arrived.elapsed().as_secs_f64());
        let mut response = (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        routing_headers(response.headers_mut(), &fin, Some(model));
        if crate::judge::pick(&app, &loaded) {
            fin.judged = Some(crate::judge::answer_text(&c.chunks));
        }
        fin.finish(StatusCode::OK, "ok", Some(model));
        return response;
    }
    let mut response_headers = HeaderMap::new();
    routing_headers(&mut response_headers, &fin, Some(model));
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    fin.first_byte = Some(arrived.elapsed().as_secs_f64());
    let sse = SseState::new(ctx, fin, got, include_usage, keep_logprobs);
    let mut response = Response::new(Body::from_stream(sse.into_stream()));
    *response.headers_mut() = response_headers;
    response
}

/// The SSE body of a streamed answer.
struct SseState {
    ctx: Arc<Ctx>,
    fin: Finalizer,
    queue: VecDeque<Bytes>,
    live: Option<exec::Started>,
    model: u32,
    include_usage: bool,
    keep_logprobs: bool,
    /// Chunks and usage of the live answer, for its record.
    seen: Vec<Chunk>,
    usage: Usage,
}

impl SseState {
    fn new(
        ctx: Arc<Ctx>,
        fin: Finalizer,
        got: Got,
        include_usage: bool,
        keep_logprobs: bool,
    ) -> SseState {
        let model = got.model();
        let mut s = SseState {
            ctx,
            fin,
            queue: VecDeque::new(),
            live: None,
            model,
            include_usage,
            keep_logprobs,
            seen: Vec::new(),
            usage: Usage::default(),
        };
        match got {
            Got::Complete(c) => {
                for chunk in &c.chunks {
                    s.push_chunk(chunk);
                }
                s.queue.push_back(Bytes::from_static(b"data: [DONE]\n\n"));
            }
            Got::Started(mut started) => {
                let head = std::mem::take(&mut started.head);
                s.usage = started.usage;
                for chunk in &head {
                    s.push_chunk(chunk);
                }
                s.seen = head;
                s.live = Some(started);
            }
        }
        s
    }

    /// Queues a chunk as the client gets it: the upstream's text as it
    /// came, unless it carries usage or log-probabilities the client did
    /// not ask for (the gateway asks for both); then without them.
    fn push_chunk(&mut self, c: &Chunk) {
        if c.no_choices && !self.include_usage {
            return;
        }
        let mut out = Vec::with_capacity(c.text.len() + 8);
        out.extend_from_slice(b"data: ");
        if (c.has_usage && !self.include_usage) || (c.has_logprobs && !self.keep_logprobs) {
            let json = c.json();
            let chunk = ClientChunk {
                json: &json,
                usage: self.include_usage,
                logprobs: self.keep_logprobs,
            };
            // JSON values into a vector: writing cannot fail.
            let _ = serde_json::to_writer(&mut out, &chunk);
        } else {
            out.extend_from_slice(c.text.as_bytes());
        }
        out.extend_from_slice(b"\n\n");
        self.queue.push_back(Bytes::from(out));
    }

    fn into_stream(self) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
        futures_util::stream::unfold(self, |mut s| async move {
            loop {
                if let Some(b) = s.queue.pop_front() {
                    return Some((Ok(b), s));
                }
                let Some(live) = s.live.as_mut() else {
                    if !s.fin.done {
                        if crate::judge::pick(&s.ctx.app, &s.ctx.loaded) {
                            s.fin.judged = Some(crate::judge::answer_text(&s.seen));
                        }
                        s.fin.finish(StatusCode::OK, "ok", Some(s.model));
                    }
                    return None;
                };
                let next = match live.deadline {
                    Some(d) => tokio::time::timeout_at(d.into(), live.rest.next())
                        .await
                        .unwrap_or(Some(Err(Fault::Timeout))),
                    None => live.rest.next().await,
                };
                match next {
                    Some(Ok(c)) => {
                        s.usage.merge(c.usage);
                        s.push_chunk(&c);
                        s.seen.push(c);
                    }
                    None => {
                        if let Some(live) = s.live.take() {
                            exec::finish_ok(
                                &s.ctx,
                                live.record,
                                live.model,
                                live.t0,
                                s.usage,
                                &s.seen,
                                None,
                            );
                        }
                        s.queue.push_back(Bytes::from_static(b"data: [DONE]\n\n"));
                    }
                    Some(Err(fault)) => {
                        if let Some(live) = s.live.take() {
                            exec::finish_interrupted(
                                &s.ctx,
                                live.record,
                                live.model,
                                live.t0,
                                s.usage,
                            );
                        }
                        let e = ApiError::new(
                            StatusCode::BAD_GATEWAY,
                            "upstream_error",
                            "stream_interrupted",
                            format!(
                                "the upstream failed after the answer began: {}",
                                fault.describe()
                            ),
                        );
                        s.queue
                            .push_back(Bytes::from(format!("data: {}\n\n", e.body())));
                        s.fin.finish(StatusCode::OK, "interrupted", Some(s.model));
                    }
                }
            }
        })
    }
}

/// A chunk as the client gets it, written from the upstream's without
/// copying it: without `usage` unless the client asked for it, and without
/// the choices' `logprobs` unless it asked for them (the gateway may have
/// asked for them for a cascade the client knows nothing of).
struct ClientChunk<'a> {
    json: &'a J,
    usage: bool,
    logprobs: bool,
}

impl serde::Serialize for ClientChunk<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(o) = self.json.as_object() else {
            return self.json.serialize(s);
        };
        let mut map = s.serialize_map(None)?;
        for (k, v) in o {
            match (k.as_str(), v) {
                ("usage", _) if !self.usage => {}
                ("choices", J::Array(choices)) if !self.logprobs => {
                    map.serialize_entry(k, &WithoutLogprobs(choices))?;
                }
                _ => map.serialize_entry(k, v)?,
            }
        }
        map.end()
    }
}

/// Choices without their `logprobs`.
struct WithoutLogprobs<'a>(&'a [J]);

impl serde::Serialize for WithoutLogprobs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for choice in self.0 {
            match choice.as_object() {
                Some(o) => seq.serialize_element(&Without(o, "logprobs"))?,
                None => seq.serialize_element(choice)?,
            }
        }
        seq.end()
    }
}

/// An object without one of its keys.
struct Without<'a>(&'a serde_json::Map<String, J>, &'static str);

impl serde::Serialize for Without<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        for (k, v) in self.0.iter().filter(|(k, _)| *k != self.1) {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}
