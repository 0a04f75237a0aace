//! Quality sampling in the gateway (`learn { judge MODEL sample ... }`,
//! `docs/learn.md`, "Quality sampling").
//!
//! Every request that reaches the router or names a model is counted in
//! the loaded table's rate meter ([`arrived`]); an answered request is
//! judged with the table's share at the metered rate ([`pick`], one
//! uniform draw). Once its decision-log line is queued, [`spawn`] calls the
//! judge model in the background, through the same execution as any
//! request (`exec::run_model`: the judge's faults, retries, fallback and
//! cooldown apply), never delaying the answer. The judge's reply is read
//! as a score ([`routec_runtime::judge::parse_score`]) and written as a
//! feedback line with `source` `judge` and the judge's cost; it counts as
//! an exploration outcome like client feedback. What the judge costs is
//! spent like any answer: the model's cost and token counters, the day's
//! spend, the pacing period's.
//!
//! At most [`JUDGE_CONCURRENCY`] judgements run at once; an answer picked
//! while they all run is not judged (`routec_judge_total{outcome="skipped"}`),
//! so a slow judge never piles up work. A judgement is cut at
//! [`JUDGE_TIMEOUT`] whatever the judge's own timeouts say.

use std::sync::Arc;
use std::time::{Duration, Instant};

use routec_runtime::judge::{grading_request, parse_score};
use routec_runtime::{Feedback, JUDGE_SOURCE};
use serde_json::Value as J;

use crate::app::{App, lock};
use crate::exec::{self, Ctx, Got, Trace};
use crate::feedback::Answered;
use crate::loaded::Loaded;
use crate::metrics::OutcomeLabels;
use crate::upstream::{self, Chunk};

/// The most judgements running at once.
pub const JUDGE_CONCURRENCY: usize = 64;

/// The longest a judgement may take, retries and fallbacks included.
pub const JUDGE_TIMEOUT: Duration = Duration::from_secs(120);

fn now(app: &App) -> f64 {
    app.started.elapsed().as_secs_f64()
}

/// Counts a request for the judge's rate meter.
pub fn arrived(app: &App, loaded: &Loaded) {
    if let Some(sampler) = &loaded.judge {
        lock(sampler).arrived(now(app));
    }
}

/// Whether this answered request is judged (one draw at the current share).
pub fn pick(app: &App, loaded: &Loaded) -> bool {
    let Some(sampler) = &loaded.judge else {
        return false;
    };
    let share = lock(sampler).share(now(app));
    app.metrics.judge_share.set(share);
    share > 0.0 && app.uniform() < share
}

/// The text of an answer: the first choice's content (its tool calls as
/// JSON when it has no content).
pub fn answer_text(chunks: &[Chunk]) -> String {
    let whole = upstream::aggregate(chunks, "", false);
    let message = &whole["choices"][0]["message"];
    match message.get("content") {
        Some(J::String(s)) => s.clone(),
        _ => message
            .get("tool_calls")
            .map(J::to_string)
            .unwrap_or_default(),
    }
}

fn count(app: &App, outcome: &str) {
    app.metrics
        .judge
        .get_or_create(&OutcomeLabels {
            outcome: outcome.to_owned(),
        })
        .inc();
}

/// Judges the answer `text` to request `id` (answered as `answered`
/// says, to the conversation in `ctx`'s body) in the background.
pub fn spawn(ctx: &Arc<Ctx>, id: &str, answered: &Answered, text: String) {
    let app = ctx.app.clone();
    let loaded = ctx.loaded.clone();
    let (Some(model), Some(sampler)) = (answered.model.clone(), &loaded.judge) else {
        return;
    };
    let judge = lock(sampler).model();
    let Ok(permit) = app.judge_slots.clone().try_acquire_owned() else {
        count(&app, "skipped");
        return;
    };
    let messages = ctx.body.get("messages").cloned().unwrap_or(J::Null);
    let body = grading_request(&messages, &text);
    let prompt_tokens = crate::signals::estimate_tokens(&body) as f64;
    let jctx = Arc::new(Ctx {
        app: app.clone(),
        loaded: loaded.clone(),
        body,
        prompt_tokens,
        arrived: Instant::now(),
        trace: std::sync::Mutex::new(Trace::default()),
    });
    let id = id.to_owned();
    let answered = answered.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let result = tokio::time::timeout(JUDGE_TIMEOUT, exec::run_model(&jctx, judge, true)).await;
        let trace = lock(&jctx.trace).clone();
        let (cost, ..) =
            crate::handler::count_attempts(&app, &jctx.loaded.handles, &trace.attempts);
        if cost > 0.0 {
            app.metrics.judge_cost.inc_by(cost);
            let today = crate::state::day_start(app.options.clock.now());
            app.state.add_spend(crate::state::DAY_COUNTER, today, cost);
            crate::pacing::spend(&app, cost);
        }
        let reply = match result {
            Ok(Ok(Got::Complete(c))) => answer_text(&c.chunks),
            Ok(Ok(Got::Started(_))) | Ok(Err(_)) | Err(_) => {
                count(&app, "failed");
                return;
            }
        };
        let Some(score) = parse_score(&reply) else {
            count(&app, "unscored");
            return;
        };
        let feedback = Feedback {
            model,
            score: Some(score),
            latency_ms: answered.latency_ms,
            ttft_ms: answered.ttft_ms,
            input_tokens: answered.input_tokens,
            output_tokens: answered.output_tokens,
            cost_usd: answered.cost_usd,
            source: Some(JUDGE_SOURCE.to_owned()),
            judge_cost_usd: Some(cost),
            ..Feedback::default()
        };
        if feedback.problem().is_some() {
            count(&app, "unscored");
            return;
        }
        if let Some(dl) = &app.declog
            && !dl.write_raw(feedback.line(&id))
        {
            app.metrics.decision_log_dropped.inc();
        }
        count(&app, "scored");
        if let Some((hash, leaf, plan)) = &answered.routed {
            crate::explore::outcome(&app, hash, *leaf, *plan);
        }
    });
}
