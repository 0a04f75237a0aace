//! Executes one plan for one sampled request by sampling the model of
//! `docs/semantics.md` (`routec_opt::model`): attempts with timeouts, base
//! errors and hedges, retries, model-level fallbacks, plan-level fallback
//! chains and cascades with the confidence model. A streamed request
//! (`stream`) is handed to the client at its first token, as the gateway
//! does: an answer that then outlives the total timeout fails the request
//! (no retry, no fallback).

use routec_check::ir::{ModelId, Policy, Price};
use routec_opt::load::ModelLoad;
use routec_opt::model::{self, AttemptModel, BASE_ERROR_RATE, MAX_FALLBACK_DEPTH};

use crate::sample::{Rng, draw_quantiles};

/// How deep plan-level chains may nest (a guard: tables are acyclic).
const MAX_PLAN_DEPTH: usize = 16;

/// One model, ready to sample.
#[derive(Clone, Debug)]
pub struct ModelRt {
    pub attempt: AttemptModel,
    /// Its price (a request pays the rates of its prompt's tier).
    pub price: Price,
    pub fallback: Option<u32>,
    /// `P(timeout)` of an attempt when the TTFT timeout is the binding cap
    /// (the common case), cached; `None` when the cap depends on the answer
    /// length (reasoning tokens delay the first token).
    p_timeout_at_ttft_cap: Option<f64>,
}

impl ModelRt {
    /// The model under a load (`routec_opt::load`): its latency at that
    /// load and the share of attempts it refuses.
    pub fn under(policy: &Policy, m: ModelId, load: Option<&ModelLoad>) -> ModelRt {
        let attempt = AttemptModel::new(policy, m);
        let attempt = match load {
            Some(l) => attempt.under(l),
            None => attempt,
        };
        let def = policy.model(m);
        let p_timeout_at_ttft_cap = match attempt.ttft_timeout {
            _ if def.reasoning.is_some() => None,
            Some(t) if t > 0.0 => Some(attempt.ttft_exceedance(t)),
            Some(_) => Some(1.0),
            None => Some(0.0),
        };
        ModelRt {
            attempt,
            price: def.price.clone(),
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
    /// Seconds the answering attempt took on that model (its TTFT,
    /// reasoning and decoding), without the time spent before it (earlier
    /// attempts, retries, fallbacks, cascade steps, classifiers); 0 for
    /// failed requests.
    pub answer_time: f64,
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
    /// Per model: calls refused (rate limit, full queue); the caller
    /// zeroes it.
    pub refused: &'a mut [u32],
    pub cost: f64,
    /// Per model: cost paid to it, added to (may be empty: not kept).
    pub model_cost: &'a mut [f64],
    /// The client asked for a stream (the built-in signal `stream`).
    pub stream: bool,
}

impl Job<'_> {
    fn pay(&mut self, m: u32, usd: f64) {
        self.cost += usd;
        if let Some(c) = self.model_cost.get_mut(m as usize) {
            *c += usd;
        }
    }
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
    /// Times since arrival; `own`: the answering attempt's own duration.
    Answer {
        model: u32,
        ttft: f64,
        e2e: f64,
        own: f64,
    },
    Failed {
        time: f64,
    },
    /// A streamed answer that failed after its first byte.
    Interrupted {
        time: f64,
    },
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

/// An answered plan: the model, times since arrival, the answering
/// attempt's own duration and the answer's quality.
struct Answered {
    model: u32,
    ttft: f64,
    e2e: f64,
    own: f64,
    quality: f64,
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
            Ok(a) => Outcome {
                ttft: a.ttft,
                e2e: a.e2e,
                quality: a.quality,
                cost: job.cost,
                failed: false,
                answered_by: Some(a.model),
                answer_time: a.own,
            },
            Err(Fail { time, .. }) => Outcome {
                ttft: time,
                e2e: time,
                quality: 0.0,
                cost: job.cost,
                failed: true,
                answered_by: None,
                answer_time: 0.0,
            },
        }
    }

    /// Runs one model (`Target`) for `job`: the baseline's plan.
    pub fn run_model(&self, m: u32, job: &mut Job<'_>, shift: f64, rng: &mut Rng) -> Outcome {
        let streamed = job.stream;
        match self.call(m, job, shift, rng, streamed) {
            Call::Answer {
                model,
                ttft,
                e2e,
                own,
            } => Outcome {
                ttft,
                e2e,
                quality: quality_of(job, model),
                cost: job.cost,
                failed: false,
                answered_by: Some(model),
                answer_time: own,
            },
            Call::Failed { time } | Call::Interrupted { time } => Outcome {
                ttft: time,
                e2e: time,
                quality: 0.0,
                cost: job.cost,
                failed: true,
                answered_by: None,
                answer_time: 0.0,
            },
        }
    }

    /// The answer, or the failure.
    fn plan(
        &self,
        plan: u32,
        job: &mut Job<'_>,
        shift: f64,
        rng: &mut Rng,
        depth: usize,
    ) -> Result<Answered, Fail> {
        let Some(p) = self.plans.get(plan as usize) else {
            return Err(Fail::at(shift));
        };
        if depth > MAX_PLAN_DEPTH {
            return Err(Fail::at(shift));
        }
        let streamed = job.stream;
        match p {
            ExecPlan::Target(m) => match self.call(*m, job, shift, rng, streamed) {
                Call::Answer {
                    model,
                    ttft,
                    e2e,
                    own,
                } => Ok(Answered {
                    model,
                    ttft,
                    e2e,
                    own,
                    quality: quality_of(job, model),
                }),
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
                        Call::Answer {
                            model,
                            ttft,
                            e2e,
                            own,
                        } => {
                            let q = quality_of(job, model);
                            let answered = |quality| Answered {
                                model,
                                ttft,
                                e2e,
                                own,
                                quality,
                            };
                            if i == last {
                                return Ok(answered(q));
                            }
                            // The answer is good with probability equal to
                            // its confidence: an accepted answer contributes
                            // its confidence (the conditional expectation).
                            let c = model::sample_confidence(q, rng.uniform());
                            if c >= *accept {
                                return Ok(answered(c));
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
                        // Reasoning decodes before the answer's first token.
                        let ttft = ttft + rt.attempt.reasoning_time(job.output_tokens);
                        let decode = rt.attempt.latency.decode_time(job.output_tokens);
                        return Call::Answer {
                            model: current,
                            ttft: at + ttft,
                            e2e: at + ttft + decode,
                            own: ttft + decode,
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

    /// One attempt: refused (under load), else TTFT (hedged), then
    /// timeout, base error or success, with the probabilities of
    /// `AttemptModel::failure`.
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
        let rates = rt.price.rates(job.input_tokens);
        let billed = model::billed_output(Some(&a.reasoning), n);
        let full = job.input_tokens * rates.input_per_token
            + billed * rates.output_per_token
            + rates.per_request;
        if let Some(c) = job.calls.get_mut(m as usize) {
            *c += 1;
        }
        // Refused at admission (`429`): no cost, no time.
        if a.throttle > 0.0 && rng.uniform() < a.throttle {
            if let Some(r) = job.refused.get_mut(m as usize) {
                *r += 1;
            }
            return Attempt::Failed {
                time: 0.0,
                retryable: a.retry_throttled,
            };
        }
        let t1 = draw_quantiles(&a.latency.ttft, rng);
        let ttft = match a.hedge {
            Some(x) if t1 > x => {
                // The duplicate is sent and paid in full.
                if let Some(c) = job.calls.get_mut(m as usize) {
                    *c += 1;
                }
                job.pay(m, full);
                t1.min(x + draw_quantiles(&a.latency.ttft, rng))
            }
            _ => t1,
        };
        // The attempt's input is always paid.
        job.pay(m, job.input_tokens * rates.input_per_token);
        // A streamed attempt only has to produce its first token (after
        // its reasoning) within the TTFT timeout, capped by the total; the
        // total timeout then bounds the stream, after the first byte
        // reached the client.
        let pre = a.reasoning_time(n);
        let (cap, ttft_binds) = if streamed {
            let by_ttft = a.ttft_timeout.map_or(f64::INFINITY, |t| t - pre);
            let by_total = a.timeout.map_or(f64::INFINITY, |t| t - pre);
            if by_ttft <= by_total {
                (by_ttft, true)
            } else {
                (by_total, false)
            }
        } else {
            a.ttft_cap(n)
        };
        if ttft > cap || cap <= 0.0 {
            // The timeout that fires.
            let time = if streamed {
                if ttft_binds {
                    a.ttft_timeout
                } else {
                    a.timeout
                }
                .unwrap_or(0.0)
            } else {
                a.timeout_time(n)
            };
            return Attempt::Failed {
                time,
                retryable: a.retry_timeouts,
            };
        }
        // P(base error | no timeout) so that P(base error) = min(0.5%, 1 − P(timeout)).
        let p_to = if cap.is_infinite() {
            0.0
        } else {
            match rt.p_timeout_at_ttft_cap {
                Some(p) if ttft_binds => p,
                _ => a.ttft_exceedance(cap),
            }
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
            if ttft + pre + decode > total {
                // The reasoning and the answer's tokens produced before the
                // cut are paid.
                let share = if decode > 0.0 {
                    ((total - ttft - pre) / decode).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let paid = (billed - n) + n * share;
                job.pay(m, paid * rates.output_per_token + rates.per_request);
                return Attempt::Interrupted { time: total };
            }
        }
        job.pay(m, billed * rates.output_per_token + rates.per_request);
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
