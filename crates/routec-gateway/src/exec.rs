//! Executing a plan for one request, as `docs/semantics.md` describes it
//! (and `routec-sim` samples it): attempts with TTFT and total timeouts and
//! hedges, retries on the declared classes with backoff (and `Retry-After`
//! on 429), model fallbacks, cooldowns, plan-level fallback chains and
//! cascades scored by confidence.
//!
//! An attempt *starts* when its first token arrives. A non-streaming
//! answer (and every cascade stage but the last, which is held back until
//! it is accepted) must also *complete* within the total timeout; until
//! then retries, fallbacks and hedges may act. A streamed answer is handed
//! to the client at its first token, after which a failure ends the stream.
//!
//! Every attempt is recorded in the request's [`Trace`] exactly once, even
//! when it is cancelled (a hedge that lost, a client that went away).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use routec_table::PlanKind;
use serde::Serialize;

use crate::app::App;
use crate::loaded::Loaded;
use crate::upstream::{self, CallOptions, Chunk, ChunkStream, Fault, Usage};

/// Most models one fault path visits (as the model's `MAX_FALLBACK_DEPTH`).
pub const MAX_FALLBACK_DEPTH: usize = 8;
/// How deep plan-level chains may nest (a guard: tables are acyclic).
pub const MAX_PLAN_DEPTH: usize = 16;

/// Why an attempt was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The plan's first call.
    First,
    /// The same model again after a retryable failure.
    Retry,
    /// A model's `fallback` after its attempts failed (or it cooled down).
    Fallback,
    /// A duplicate sent after `hedge after`.
    Hedge,
    /// The next plan of an `a else b` chain.
    Chain,
    /// The next stage of a cascade.
    Escalation,
}

/// One attempt, as metrics and the decision log report it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttemptRecord {
    pub model: String,
    #[serde(skip)]
    pub model_index: u32,
    pub role: Role,
    /// `ok`, the HTTP status of a failure, `ttft_timeout`, `timeout`,
    /// `connection`, `malformed`, `cooldown`, `unconfigured`, `cancelled`,
    /// or `interrupted` (a stream that failed after its first byte).
    pub status: String,
    /// Milliseconds from the request's arrival to the attempt's start.
    pub start_ms: f64,
    pub ttft_ms: Option<f64>,
    pub latency_ms: Option<f64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cost_usd: f64,
    /// The answer's confidence, for cascade stages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

/// What happened to one request.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub attempts: Vec<AttemptRecord>,
    pub retries: u32,
    pub fallbacks: u32,
    pub hedges: u32,
    pub escalations: u32,
    /// Cascade answers whose confidence could not be computed (escalated).
    pub unscored: u32,
    /// Models that started a cooldown because of this request.
    pub cooldowns: Vec<String>,
}

/// One request being executed.
pub struct Ctx {
    pub app: Arc<App>,
    pub loaded: Arc<Loaded>,
    pub body: serde_json::Map<String, serde_json::Value>,
    /// The prompt's tokens as far as the gateway knows them (for the cost of
    /// failed attempts, which report no usage).
    pub prompt_tokens: f64,
    pub arrived: Instant,
    pub trace: Mutex<Trace>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").finish_non_exhaustive()
    }
}

/// An answer whose first token arrived.
pub struct Started {
    pub model: u32,
    pub record: usize,
    /// The chunks up to and including the first token.
    pub head: Vec<Chunk>,
    pub rest: ChunkStream,
    pub t0: Instant,
    pub ttft: Duration,
    pub deadline: Option<Instant>,
    pub usage: Usage,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

/// A whole answer.
#[derive(Debug)]
pub struct Completed {
    pub model: u32,
    pub chunks: Vec<Chunk>,
    pub confidence: Option<f64>,
}

/// What a plan produced.
#[derive(Debug)]
pub enum Got {
    Started(Started),
    Complete(Completed),
}

impl Got {
    pub fn model(&self) -> u32 {
        match self {
            Got::Started(s) => s.model,
            Got::Complete(c) => c.model,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 1e7))
}

/// The answer's confidence: a confidence the backend states (`provider
/// http`), else the geometric mean of its tokens' probabilities,
/// `exp(mean(logprob))`; `None` when neither is known.
pub fn confidence(chunks: &[Chunk]) -> Option<f64> {
    if let Some(c) = chunks.iter().find_map(|c| c.confidence) {
        return Some(c);
    }
    let (sum, n) = chunks
        .iter()
        .flat_map(|c| c.logprobs.iter())
        .filter(|x| x.is_finite())
        .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| (sum / n as f64).exp().clamp(0.0, 1.0))
}

/// Marks an attempt's record when it ends, or `cancelled` when its future
/// is dropped first.
struct RecordGuard {
    ctx: Arc<Ctx>,
    index: usize,
    t0: Instant,
    done: bool,
}

impl RecordGuard {
    fn fail(&mut self, fault: &Fault) {
        self.done = true;
        let ctx = &self.ctx;
        let Some(model) = ctx.loaded.models.get(self.model() as usize) else {
            return;
        };
        let cost = model.price.failed(ctx.prompt_tokens);
        if let Ok(mut t) = ctx.trace.lock()
            && let Some(r) = t.attempts.get_mut(self.index)
        {
            r.status = fault.label();
            r.latency_ms = Some(ms(self.t0.elapsed()));
            r.cost_usd = cost;
        }
        if !matches!(fault, Fault::Cooldown | Fault::Unconfigured) {
            let started = ctx.app.state.record(
                &model.name,
                false,
                model.faults.cooldown.as_ref(),
                Instant::now(),
            );
            if started && let Ok(mut t) = ctx.trace.lock() {
                t.cooldowns.push(model.name.clone());
            }
        }
    }

    fn model(&self) -> u32 {
        self.ctx
            .trace
            .lock()
            .ok()
            .and_then(|t| t.attempts.get(self.index).map(|r| r.model_index))
            .unwrap_or(u32::MAX)
    }
}

impl Drop for RecordGuard {
    fn drop(&mut self) {
        if !self.done {
            let cost = self
                .ctx
                .loaded
                .models
                .get(self.model() as usize)
                .map_or(0.0, |m| m.price.failed(self.ctx.prompt_tokens));
            if let Ok(mut t) = self.ctx.trace.lock()
                && let Some(r) = t.attempts.get_mut(self.index)
            {
                r.status = "cancelled".into();
                r.latency_ms = Some(ms(self.t0.elapsed()));
                r.cost_usd = cost;
            }
        }
    }
}

/// Adds a record and returns its index.
fn push_record(ctx: &Ctx, model: u32, role: Role, status: &str) -> usize {
    let name = ctx
        .loaded
        .models
        .get(model as usize)
        .map_or_else(String::new, |m| m.name.clone());
    let record = AttemptRecord {
        model: name,
        model_index: model,
        role,
        status: status.into(),
        start_ms: ms(ctx.arrived.elapsed()),
        ttft_ms: None,
        latency_ms: None,
        input_tokens: None,
        output_tokens: None,
        cost_usd: 0.0,
        confidence: None,
    };
    match ctx.trace.lock() {
        Ok(mut t) => {
            t.attempts.push(record);
            t.attempts.len() - 1
        }
        Err(_) => usize::MAX,
    }
}

/// One attempt on model `m`, up to its first token.
async fn attempt(
    ctx: &Arc<Ctx>,
    m: u32,
    role: Role,
    options: CallOptions,
) -> Result<Started, Fault> {
    let Some(model) = ctx.loaded.models.get(m as usize) else {
        return Err(Fault::Unconfigured);
    };
    let index = push_record(ctx, m, role, "pending");
    let t0 = Instant::now();
    let mut guard = RecordGuard {
        ctx: ctx.clone(),
        index,
        t0,
        done: false,
    };
    let f = &model.faults;
    let deadline = f.timeout.map(|t| t0 + secs(t));
    let ttft_deadline = match (f.ttft_timeout.map(|t| t0 + secs(t)), deadline) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let first = async {
        let request = upstream::build(&ctx.app.client, model, &ctx.body, options)?;
        let response = request
            .send()
            .await
            .map_err(|e| Fault::Connection(e.to_string()))?;
        if !response.status().is_success() {
            return Err(upstream::fault_of(response).await);
        }
        let mut rest = upstream::chunks(model.provider, response);
        let mut head = Vec::new();
        let mut usage = Usage::default();
        loop {
            match rest.next().await {
                Some(Ok(c)) => {
                    usage.merge(c.usage);
                    let token = c.token;
                    head.push(c);
                    if token {
                        return Ok((head, rest, usage));
                    }
                }
                Some(Err(f)) => return Err(f),
                // An answer with no token at all (an empty completion)
                // is an answer: it starts and ends here.
                None => return Ok((head, rest, usage)),
            }
        }
    };
    let got = match ttft_deadline {
        Some(d) => match tokio::time::timeout_at(d.into(), first).await {
            Ok(r) => r,
            Err(_) => {
                // The total timeout can fire first when it is the shorter.
                Err(
                    if f.ttft_timeout
                        .is_some_and(|t| deadline.is_none_or(|dl| t0 + secs(t) <= dl))
                    {
                        Fault::TtftTimeout
                    } else {
                        Fault::Timeout
                    },
                )
            }
        },
        None => first.await,
    };
    match got {
        Ok((head, rest, usage)) => {
            let ttft = t0.elapsed();
            if let Ok(mut t) = ctx.trace.lock()
                && let Some(r) = t.attempts.get_mut(index)
            {
                r.ttft_ms = Some(ms(ttft));
            }
            guard.done = true;
            Ok(Started {
                model: m,
                record: index,
                head,
                rest,
                t0,
                ttft,
                deadline,
                usage,
            })
        }
        Err(fault) => {
            guard.fail(&fault);
            Err(fault)
        }
    }
}

/// An attempt with its hedge: when no token arrived `hedge after` the
/// start, a duplicate goes to the same model; the first to produce a token
/// wins and the other is dropped (its connection closed).
async fn hedged(
    ctx: &Arc<Ctx>,
    m: u32,
    role: Role,
    options: CallOptions,
) -> Result<Started, Fault> {
    let hedge = ctx
        .loaded
        .models
        .get(m as usize)
        .and_then(|model| model.faults.hedge_after);
    let Some(after) = hedge else {
        return attempt(ctx, m, role, options).await;
    };
    let primary = attempt(ctx, m, role, options);
    tokio::pin!(primary);
    tokio::select! {
        r = &mut primary => return r,
        () = tokio::time::sleep(secs(after)) => {}
    }
    if let Ok(mut t) = ctx.trace.lock() {
        t.hedges += 1;
    }
    let secondary = attempt(ctx, m, Role::Hedge, options);
    tokio::pin!(secondary);
    tokio::select! {
        r = &mut primary => match r {
            Ok(s) => Ok(s),
            Err(_) => secondary.await,
        },
        r = &mut secondary => match r {
            Ok(s) => Ok(s),
            Err(_) => primary.await,
        },
    }
}

/// Reads the rest of a started answer within its total timeout.
pub async fn complete(ctx: &Arc<Ctx>, s: Started) -> Result<Completed, Fault> {
    let Started {
        model,
        record,
        mut head,
        mut rest,
        t0,
        deadline,
        mut usage,
        ..
    } = s;
    let mut guard = RecordGuard {
        ctx: ctx.clone(),
        index: record,
        t0,
        done: false,
    };
    let read = async {
        while let Some(c) = rest.next().await {
            let c = c?;
            usage.merge(c.usage);
            head.push(c);
        }
        Ok::<(), Fault>(())
    };
    let result = match deadline {
        Some(d) => tokio::time::timeout_at(d.into(), read)
            .await
            .unwrap_or(Err(Fault::Timeout)),
        None => read.await,
    };
    match result {
        Ok(()) => {
            let conf = confidence(&head);
            finish_ok(ctx, record, model, t0, usage, &head, conf);
            guard.done = true;
            Ok(Completed {
                model,
                chunks: head,
                confidence: conf,
            })
        }
        Err(fault) => {
            guard.fail(&fault);
            Err(fault)
        }
    }
}

/// Records a successful attempt: latency, tokens (usage, else the prompt
/// estimate and one token per content chunk), cost.
pub fn finish_ok(
    ctx: &Ctx,
    record: usize,
    model: u32,
    t0: Instant,
    usage: Usage,
    chunks: &[Chunk],
    confidence: Option<f64>,
) {
    let input = usage
        .input
        .unwrap_or(ctx.prompt_tokens.max(0.0).round() as u64);
    let output = usage
        .output
        .unwrap_or_else(|| chunks.iter().filter(|c| c.token).count() as u64);
    let cost = ctx
        .loaded
        .models
        .get(model as usize)
        .map_or(0.0, |m| m.price.call(input as f64, output as f64));
    if let Ok(mut t) = ctx.trace.lock()
        && let Some(r) = t.attempts.get_mut(record)
    {
        r.status = "ok".into();
        r.latency_ms = Some(ms(t0.elapsed()));
        r.input_tokens = Some(input);
        r.output_tokens = Some(output);
        r.cost_usd = cost;
        r.confidence = confidence;
    }
    if let Some(m) = ctx.loaded.models.get(model as usize) {
        ctx.app
            .state
            .record(&m.name, true, m.faults.cooldown.as_ref(), Instant::now());
    }
}

/// Records a streamed answer that failed after its first byte.
pub fn finish_interrupted(ctx: &Ctx, record: usize, model: u32, t0: Instant, usage: Usage) {
    let input = usage
        .input
        .unwrap_or(ctx.prompt_tokens.max(0.0).round() as u64);
    let cost = ctx.loaded.models.get(model as usize).map_or(0.0, |m| {
        m.price.call(input as f64, usage.output.unwrap_or(0) as f64)
    });
    if let Ok(mut t) = ctx.trace.lock()
        && let Some(r) = t.attempts.get_mut(record)
    {
        r.status = "interrupted".into();
        r.latency_ms = Some(ms(t0.elapsed()));
        r.input_tokens = Some(input);
        r.output_tokens = usage.output;
        r.cost_usd = cost;
    }
    if let Some(m) = ctx.loaded.models.get(model as usize) {
        ctx.app
            .state
            .record(&m.name, false, m.faults.cooldown.as_ref(), Instant::now());
    }
}

/// One call of model `m`: attempts and retries, then its fallback chain
/// (without revisiting a model, at most [`MAX_FALLBACK_DEPTH`] models).
pub async fn call(
    ctx: &Arc<Ctx>,
    m: u32,
    need_complete: bool,
    options: CallOptions,
    role: Role,
) -> Result<Got, Fault> {
    let mut visited: Vec<u32> = Vec::with_capacity(2);
    let mut current = m;
    let mut role = role;
    let mut last = Fault::Unconfigured;
    for _ in 0..MAX_FALLBACK_DEPTH {
        visited.push(current);
        let Some(model) = ctx.loaded.models.get(current as usize) else {
            return Err(last);
        };
        if !ctx.app.state.available(&model.name, Instant::now()) {
            let i = push_record(ctx, current, role, "cooldown");
            let _ = i;
            last = Fault::Cooldown;
        } else {
            let retry = model.faults.retry.as_ref();
            let retries = retry.map_or(0, |r| r.attempts);
            for n in 0..=retries {
                let result = match hedged(ctx, current, role, options).await {
                    Ok(s) if need_complete => complete(ctx, s).await.map(Got::Complete),
                    Ok(s) => Ok(Got::Started(s)),
                    Err(f) => Err(f),
                };
                match result {
                    Ok(got) => return Ok(got),
                    Err(fault) => {
                        let Some(r) = retry.filter(|r| n < retries && fault.retryable(&r.on))
                        else {
                            last = fault;
                            break;
                        };
                        let mut wait = secs(r.backoff);
                        if let Fault::Status {
                            code: 429,
                            retry_after: Some(after),
                            ..
                        } = &fault
                        {
                            wait = wait.max(*after);
                        }
                        // Nothing waits past the policy's timeouts.
                        if model.faults.timeout.is_some_and(|t| wait > secs(t)) {
                            last = fault;
                            break;
                        }
                        last = fault;
                        tokio::time::sleep(wait).await;
                        if let Ok(mut t) = ctx.trace.lock() {
                            t.retries += 1;
                        }
                        role = Role::Retry;
                    }
                }
            }
        }
        match model.fallback {
            Some(f) if !visited.contains(&f) => {
                current = f;
                role = Role::Fallback;
                if let Ok(mut t) = ctx.trace.lock() {
                    t.fallbacks += 1;
                }
            }
            _ => return Err(last),
        }
    }
    Err(last)
}

type PlanFuture<'a> = Pin<Box<dyn Future<Output = Result<Got, Fault>> + Send + 'a>>;

/// Runs plan `plan` of the table.
pub fn run_plan(
    ctx: &Arc<Ctx>,
    plan: u32,
    need_complete: bool,
    role: Role,
    depth: usize,
) -> PlanFuture<'_> {
    Box::pin(async move {
        let Some(p) = ctx.loaded.table().plans.get(plan as usize) else {
            return Err(Fault::Unconfigured);
        };
        if depth > MAX_PLAN_DEPTH {
            return Err(Fault::Unconfigured);
        }
        let plain = CallOptions { logprobs: false };
        match &p.kind {
            PlanKind::Target { model } => call(ctx, *model, need_complete, plain, role).await,
            PlanKind::Chain { plans } => {
                let mut last = Fault::Unconfigured;
                let mut role = role;
                for &p in plans {
                    match run_plan(ctx, p, need_complete, role, depth + 1).await {
                        Ok(got) => return Ok(got),
                        Err(f) => last = f,
                    }
                    role = Role::Chain;
                }
                Err(last)
            }
            PlanKind::Cascade { models, accept } => {
                let mut last = Fault::Unconfigured;
                let mut role = role;
                let n = models.len();
                for (i, &m) in models.iter().enumerate() {
                    if i + 1 == n {
                        return call(ctx, m, need_complete, plain, role).await;
                    }
                    match call(ctx, m, true, CallOptions { logprobs: true }, role).await {
                        Ok(Got::Complete(c)) => match c.confidence {
                            Some(x) if x >= *accept => return Ok(Got::Complete(c)),
                            Some(_) => {}
                            None => {
                                if let Ok(mut t) = ctx.trace.lock() {
                                    t.unscored += 1;
                                }
                            }
                        },
                        Ok(started) => return Ok(started),
                        Err(f) => last = f,
                    }
                    if let Ok(mut t) = ctx.trace.lock() {
                        t.escalations += 1;
                    }
                    role = Role::Escalation;
                }
                Err(last)
            }
        }
    })
}

/// Runs one model directly (a request that names a model): the same
/// call, with its faults and fallbacks.
pub async fn run_model(ctx: &Arc<Ctx>, model: u32, need_complete: bool) -> Result<Got, Fault> {
    call(
        ctx,
        model,
        need_complete,
        CallOptions { logprobs: false },
        Role::First,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(logprobs: Vec<f64>) -> Chunk {
        Chunk {
            logprobs,
            ..Chunk::written(&serde_json::Value::Null, true, Usage::default())
        }
    }

    #[test]
    fn confidence_is_the_geometric_mean_probability() {
        let c = confidence(&[chunk(vec![0.5f64.ln()]), chunk(vec![0.5f64.ln()])]).unwrap();
        assert!((c - 0.5).abs() < 1e-12);
        let c = confidence(&[chunk(vec![0.0, 0.25f64.ln()])]).unwrap();
        assert!((c - 0.5).abs() < 1e-12);
        assert_eq!(confidence(&[chunk(vec![])]), None);
        let mut stated = chunk(vec![]);
        stated.confidence = Some(0.9);
        assert_eq!(confidence(&[stated]), Some(0.9));
    }
}
