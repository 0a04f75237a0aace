//! Executes one plan for one sampled request by sampling the model of
//! `docs/semantics.md` (`routec_opt::model`): attempts with timeouts, base
//! errors and hedges, retries, model-level fallbacks, plan-level fallback
//! chains and cascades with the confidence model. A streamed request
//! (`stream`) is handed to the client at its first token, as the gateway
//! does: an answer that then outlives the total timeout fails the request
//! (no retry, no fallback).

use routec_check::ir::{ModelId, Policy};
use routec_opt::model::{self, AttemptModel, BASE_ERROR_RATE, MAX_FALLBACK_DEPTH};

use crate::sample::{Rng, draw_quantiles};

/// How deep plan-level chains may nest (a guard: tables are acyclic).
const MAX_PLAN_DEPTH: usize = 16;

/// One model, ready to sample.
#[derive(Clone, Debug)]
pub struct ModelRt {
    pub attempt: AttemptModel,
    pub input_price: f64,
    pub output_price: f64,
    pub request_price: f64,
    pub fallback: Option<u32>,
    /// `P(timeout)` of an attempt when the TTFT timeout is the binding cap
    /// (the common case), cached.
    p_timeout_at_ttft_cap: f64,
}

impl ModelRt {
    pub fn new(policy: &Policy, m: ModelId) -> ModelRt {
        let attempt = AttemptModel::new(policy, m);
        let def = policy.model(m);
        let p_timeout_at_ttft_cap = match attempt.ttft_timeout {
            Some(t) if t > 0.0 => attempt.ttft_exceedance(t),
            Some(_) => 1.0,
            None => 0.0,
        };
        ModelRt {
            attempt,
            input_price: def.price.input_per_token.unwrap_or(0.0),
            output_price: def.price.output_per_token.unwrap_or(0.0),
            request_price: def.price.per_request.unwrap_or(0.0),
            fallback: def.fallback.map(|f| f.0),
            p_timeout_at_ttft_cap,
        }
    }
}

/// A table plan in terms of the policy's models.
#[derive(Clone, Debug)]
pub enum ExecPlan {
    Target(u32),
    /// Indices into the executor's plans.
    Chain(Vec<u32>),
    Cascade {
        models: Vec<u32>,
        accept: f64,
    },
}

/// What a request's plan produced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    /// Seconds since the request arrived (classifiers included).
    pub ttft: f64,
    pub e2e: f64,
    /// The probability that the answer is good (0 for failed requests).
    pub quality: f64,
    /// USD.
    pub cost: f64,
    pub failed: bool,
    /// The model whose answer was returned.
    pub answered_by: Option<u32>,
}

/// The request being executed.
#[derive(Debug)]
pub struct Job<'a> {
    pub input_tokens: f64,
    pub output_tokens: f64,
    /// Per model: its quality for this request (`None`: no figure).
    pub quality: &'a [Option<f64>],
    /// Per model: calls made (retries, hedged duplicates, escalations and
    /// fallbacks included); the caller zeroes it.
    pub calls: &'a mut [u32],
    pub cost: f64,
    /// The client asked for a stream (the built-in signal `stream`).
    pub stream: bool,
}

enum Attempt {
    Ok {
        ttft: f64,
    },
    Failed {
        time: f64,
        retryable: bool,
    },
    /// A streamed answer cut by the total timeout after its first token.
    Interrupted {
        time: f64,
    },
}

enum Call {
    Answer { model: u32, ttft: f64, e2e: f64 },
    Failed { time: f64 },
    Interrupted { time: f64 },
}

/// A failed plan: the time spent, and whether nothing may follow (a
/// stream that failed after its first byte).
#[derive(Clone, Copy)]
struct Fail {
    time: f64,
    terminal: bool,
}

impl Fail {
    fn at(time: f64) -> Fail {
        Fail {
            time,
            terminal: false,
        }
    }
}

/// Executes plans; immutable, shared by every request.
#[derive(Clone, Debug)]
pub struct Executor {
    pub models: Vec<ModelRt>,
    pub plans: Vec<ExecPlan>,
}

impl Executor {
    /// Runs plan `plan` for `job`, starting `shift` seconds after arrival.
    pub fn run(&self, plan: u32, job: &mut Job<'_>, shift: f64, rng: &mut Rng) -> Outcome {
        let result = self.plan(plan, job, shift, rng, 0);
        match result {
            Ok((model, ttft, e2e, quality)) => Outcome {
                ttft,
                e2e,
                quality,
                cost: job.cost,
                failed: false,
                answered_by: Some(model),
            },
            Err(Fail { time, .. }) => Outcome {
                ttft: time,
                e2e: time,
                quality: 0.0,
                cost: job.cost,
                failed: true,
                answered_by: None,
            },
        }
    }

    /// Runs one model (`Target`) for `job`: the baseline's plan.
    pub fn run_model(&self, m: u32, job: &mut Job<'_>, shift: f64, rng: &mut Rng) -> Outcome {
        let streamed = job.stream;
        match self.call(m, job, shift, rng, streamed) {
            Call::Answer { model, ttft, e2e } => Outcome {
                ttft,
                e2e,
                quality: quality_of(job, model),
                cost: job.cost,
                failed: false,
                answered_by: Some(model),
            },
            Call::Failed { time } | Call::Interrupted { time } => Outcome {
                ttft: time,
                e2e: time,
                quality: 0.0,
                cost: job.cost,
                failed: true,
                answered_by: None,
            },
        }
    }

    /// `Ok((answering model, ttft, e2e, quality))` or the failure.
    fn plan(
        &self,
        plan: u32,
        job: &mut Job<'_>,
        shift: f64,
        rng: &mut Rng,
        depth: usize,
    ) -> Result<(u32, f64, f64, f64), Fail> {
        let Some(p) = self.plans.get(plan as usize) else {
            return Err(Fail::at(shift));
        };
        if depth > MAX_PLAN_DEPTH {
            return Err(Fail::at(shift));
        }
        let streamed = job.stream;
        match p {
            ExecPlan::Target(m) => match self.call(*m, job, shift, rng, streamed) {
                Call::Answer { model, ttft, e2e } => Ok((model, ttft, e2e, quality_of(job, model))),
                Call::Failed { time } => Err(Fail::at(time)),
                Call::Interrupted { time } => Err(Fail {
                    time,
                    terminal: true,
                }),
            },
            ExecPlan::Chain(plans) => {
                let mut at = shift;
                for &p in plans {
                    match self.plan(p, job, at, rng, depth + 1) {
                        Ok(done) => return Ok(done),
                        Err(f) if f.terminal => return Err(f),
                        Err(f) => at = f.time,
                    }
                }
                Err(Fail::at(at))
            }
            ExecPlan::Cascade { models, accept } => {
                let mut at = shift;
                let last = models.len().saturating_sub(1);
                for (i, &m) in models.iter().enumerate() {
                    // Every stage but the last is held back until accepted.
                    match self.call(m, job, at, rng, streamed && i == last) {
                        Call::Answer { model, ttft, e2e } => {
                            let q = quality_of(job, model);
                            if i == last {
                                return Ok((model, ttft, e2e, q));
                            }
                            // The answer is good with probability equal to
                            // its confidence: an accepted answer contributes
                            // its confidence (the conditional expectation).
                            let c = model::sample_confidence(q, rng.uniform());
                            if c >= *accept {
                                return Ok((model, ttft, e2e, c));
                            }
                            at = e2e;
                        }
                        Call::Failed { time } => at = time,
                        Call::Interrupted { time } => {
                            return Err(Fail {
                                time,
                                terminal: true,
                            });
                        }
                    }
                }
                Err(Fail::at(at))
            }
        }
    }

    /// One call of model `m`: attempts and retries, then its fallback chain
    /// (without revisiting a model, at most `MAX_FALLBACK_DEPTH` models).
    fn call(&self, m: u32, job: &mut Job<'_>, shift: f64, rng: &mut Rng, streamed: bool) -> Call {
        let mut visited = [u32::MAX; MAX_FALLBACK_DEPTH];
        let mut at = shift;
        let mut current = m;
        for depth in 0..MAX_FALLBACK_DEPTH {
            visited[depth] = current;
            let Some(rt) = self.models.get(current as usize) else {
                return Call::Failed { time: at };
            };
            let retries = rt.attempt.retries;
            for attempt in 0..=retries {
                match self.attempt(current, rt, job, rng, streamed) {
                    Attempt::Ok { ttft } => {
                        let decode = rt.attempt.latency.decode_time(job.output_tokens);
                        return Call::Answer {
                            model: current,
                            ttft: at + ttft,
                            e2e: at + ttft + decode,
                        };
                    }
                    Attempt::Interrupted { time } => return Call::Interrupted { time: at + time },
                    Attempt::Failed { time, retryable } => {
                        at += time;
                        if !(retryable && attempt < retries) {
                            break;
                        }
                        at += rt.attempt.backoff;
                    }
                }
            }
            match rt.fallback {
                Some(f) if !visited[..=depth].contains(&f) => current = f,
                _ => return Call::Failed { time: at },
            }
        }
        Call::Failed { time: at }
    }

    /// One attempt: TTFT (hedged), then timeout, base error or success,
    /// with the probabilities of `AttemptModel::failure`.
    fn attempt(
        &self,
        m: u32,
        rt: &ModelRt,
        job: &mut Job<'_>,
        rng: &mut Rng,
        streamed: bool,
    ) -> Attempt {
        let a = &rt.attempt;
        let n = job.output_tokens;
        let full = job.input_tokens * rt.input_price + n * rt.output_price + rt.request_price;
        if let Some(c) = job.calls.get_mut(m as usize) {
            *c += 1;
        }
        let t1 = draw_quantiles(&a.latency.ttft, rng);
        let ttft = match a.hedge {
            Some(x) if t1 > x => {
                // The duplicate is sent and paid in full.
                if let Some(c) = job.calls.get_mut(m as usize) {
                    *c += 1;
                }
                job.cost += full;
                t1.min(x + draw_quantiles(&a.latency.ttft, rng))
            }
            _ => t1,
        };
        // The attempt's input is always paid.
        job.cost += job.input_tokens * rt.input_price;
        // A streamed attempt only has to produce its first token within
        // the TTFT timeout (capped by the total); the total timeout then
        // bounds the stream, after the first byte reached the client.
        let (cap, ttft_binds) = if streamed {
            match (a.ttft_timeout, a.timeout) {
                (Some(t), Some(total)) if total < t => (total, false),
                (Some(t), _) => (t, true),
                (None, Some(total)) => (total, false),
                (None, None) => (f64::INFINITY, true),
            }
        } else {
            a.ttft_cap(n)
        };
        if ttft > cap || cap <= 0.0 {
            return Attempt::Failed {
                time: if streamed { cap } else { a.timeout_time(n) },
                retryable: a.retry_timeouts,
            };
        }
        // P(base error | no timeout) so that P(base error) = min(0.5%, 1 − P(timeout)).
        let p_to = if cap.is_infinite() {
            0.0
        } else if ttft_binds {
            rt.p_timeout_at_ttft_cap
        } else {
            a.ttft_exceedance(cap)
        };
        let p_err = BASE_ERROR_RATE.min(1.0 - p_to);
        if p_err > 0.0 && rng.uniform() * (1.0 - p_to) < p_err {
            return Attempt::Failed {
                time: a.error_time(),
                retryable: a.retry_errors,
            };
        }
        if streamed && let Some(total) = a.timeout {
            let decode = a.latency.decode_time(n);
            if ttft + decode > total {
                // The tokens produced before the cut are paid.
                let share = if decode > 0.0 {
                    ((total - ttft) / decode).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                job.cost += n * share * rt.output_price + rt.request_price;
                return Attempt::Interrupted { time: total };
            }
        }
        job.cost += n * rt.output_price + rt.request_price;
        Attempt::Ok { ttft }
    }
}

fn quality_of(job: &Job<'_>, model: u32) -> f64 {
    job.quality
        .get(model as usize)
        .copied()
        .flatten()
        .unwrap_or(0.0)
}
