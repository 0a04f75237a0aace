//! Prometheus metrics (`GET /metrics`, OpenMetrics text), through
//! `prometheus-client`. Every request is counted once, when it ends (see
//! `docs/proxy.md` for the list). No label ever carries a key, a prompt
//! or a header value; model, rule and plan labels come from the table.

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub rule: String,
    pub plan: String,
    pub model: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    pub model: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub model: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SignalLabels {
    pub signal: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassifierLabels {
    pub signal: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SliceLabels {
    pub slice: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SliceOutcomeLabels {
    pub slice: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SliceTokenLabels {
    pub slice: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabels {
    pub policy: String,
    pub hash: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FeedbackLabels {
    pub model: String,
    /// `true` or `false`: the reported success (else `score >= 0.5`).
    pub success: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
    ]
    .into_iter()
}

fn histogram() -> Histogram {
    Histogram::new(latency_buckets())
}

/// Every metric the gateway exports.
#[derive(Debug)]
pub struct Metrics {
    pub registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_latency: Family<RuleLabels, Histogram, fn() -> Histogram>,
    pub request_ttft: Family<RuleLabels, Histogram, fn() -> Histogram>,
    pub model_latency: Family<ModelLabels, Histogram, fn() -> Histogram>,
    pub model_ttft: Family<ModelLabels, Histogram, fn() -> Histogram>,
    pub attempts: Family<AttemptLabels, Counter>,
    pub tokens: Family<TokenLabels, Counter>,
    pub cost: Family<ModelLabels, Counter<f64, AtomicU64>>,
    pub slice_requests: Family<SliceOutcomeLabels, Counter>,
    pub slice_tokens: Family<SliceTokenLabels, Counter>,
    pub slice_cost: Family<SliceLabels, Counter<f64, AtomicU64>>,
    pub fallbacks: Family<RuleLabels, Counter>,
    pub retries: Family<RuleLabels, Counter>,
    pub hedges: Family<RuleLabels, Counter>,
    pub escalations: Family<RuleLabels, Counter>,
    pub unscored: Family<RuleLabels, Counter>,
    pub cooldowns_started: Family<ModelLabels, Counter>,
    pub cooling: Family<ModelLabels, Gauge>,
    pub defaulted: Family<SignalLabels, Counter>,
    pub classifier_calls: Family<ClassifierLabels, Counter>,
    pub table_info: Family<TableLabels, Gauge>,
    pub table_loaded: Gauge<f64, AtomicU64>,
    pub reloads: Family<ResultLabels, Counter>,
    pub rejected: Family<ReasonLabels, Counter>,
    pub in_flight: Gauge,
    pub decision_log_dropped: Counter,
    pub feedback: Family<FeedbackLabels, Counter>,
    pub feedback_rejected: Family<ReasonLabels, Counter>,
    /// KL(observed || assumed) of the drift window, in nats.
    pub drift_kl: Gauge<f64, AtomicU64>,
    /// Requests in the drift window.
    pub drift_window_requests: Gauge,
    pub drift_alerts: Counter,
    /// Re-fits on drift, by result (`ok`, `refused`).
    pub refits: Family<ResultLabels, Counter>,
    /// Requests sent to an exploration candidate, by the rule that matched.
    pub explored: Family<RuleLabels, Counter>,
    /// What explored requests cost, USD.
    pub explore_cost: Counter<f64, AtomicU64>,
    /// The exploration budget left in the current period, USD (only with
    /// a budget).
    pub explore_budget_remaining: Gauge<f64, AtomicU64>,
    /// Requests by the pacing rung that routed them (`spend per` ladders).
    pub paced: Family<RungLabels, Counter>,
    /// The rung of the last routed request, the period's spend and budget,
    /// the budget pro-rated to now, and the target cost per request.
    pub pacing_rung: Gauge,
    pub pacing_spend: Gauge<f64, AtomicU64>,
    pub pacing_budget: Gauge<f64, AtomicU64>,
    pub pacing_pro_rated: Gauge<f64, AtomicU64>,
    pub pacing_target: Gauge<f64, AtomicU64>,
    /// The policy's spend since 00:00 UTC, USD (the state's day counter:
    /// every replica's with `--state redis://...`).
    pub spend_today: Gauge<f64, AtomicU64>,
    /// 1 while the state is shared with other replicas, else 0.
    pub state_shared: Gauge,
    /// Errors talking to the shared state's store.
    pub state_errors: Counter,
    /// Judgements by outcome (`scored`, `unscored`, `failed`, `skipped`).
    pub judge: Family<OutcomeLabels, Counter>,
    /// What the judge's calls cost, USD.
    pub judge_cost: Counter<f64, AtomicU64>,
    /// The share of answers judged at the current request rate.
    pub judge_share: Gauge<f64, AtomicU64>,
    /// The per-model drift monitors (`crate::health`): the window's TTFT
    /// and latency p95 over the expected ones, its error rate, its
    /// attempts, and the alerts.
    pub drift_ttft_ratio: Family<ModelLabels, Gauge<f64, AtomicU64>>,
    pub drift_latency_ratio: Family<ModelLabels, Gauge<f64, AtomicU64>>,
    pub drift_error_rate: Family<ModelLabels, Gauge<f64, AtomicU64>>,
    pub drift_attempts: Family<MeasureLabels, Gauge>,
    pub drift_model_alerts: Family<MeasureLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MeasureLabels {
    pub model: String,
    /// `ttft`, `latency` or `errors`.
    pub measure: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RungLabels {
    pub rung: String,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("routec");
        let m = Metrics {
            requests: Family::default(),
            request_latency: Family::new_with_constructor(histogram),
            request_ttft: Family::new_with_constructor(histogram),
            model_latency: Family::new_with_constructor(histogram),
            model_ttft: Family::new_with_constructor(histogram),
            attempts: Family::default(),
            tokens: Family::default(),
            cost: Family::default(),
            slice_requests: Family::default(),
            slice_tokens: Family::default(),
            slice_cost: Family::default(),
            fallbacks: Family::default(),
            retries: Family::default(),
            hedges: Family::default(),
            escalations: Family::default(),
            unscored: Family::default(),
            cooldowns_started: Family::default(),
            cooling: Family::default(),
            defaulted: Family::default(),
            classifier_calls: Family::default(),
            table_info: Family::default(),
            table_loaded: Gauge::default(),
            reloads: Family::default(),
            rejected: Family::default(),
            in_flight: Gauge::default(),
            feedback: Family::default(),
            feedback_rejected: Family::default(),
            drift_kl: Gauge::default(),
            drift_window_requests: Gauge::default(),
            drift_alerts: Counter::default(),
            refits: Family::default(),
            explored: Family::default(),
            explore_cost: Counter::default(),
            explore_budget_remaining: Gauge::default(),
            judge: Family::default(),
            judge_cost: Counter::default(),
            judge_share: Gauge::default(),
            paced: Family::default(),
            pacing_rung: Gauge::default(),
            pacing_spend: Gauge::default(),
            pacing_budget: Gauge::default(),
            pacing_pro_rated: Gauge::default(),
            pacing_target: Gauge::default(),
            spend_today: Gauge::default(),
            state_shared: Gauge::default(),
            state_errors: Counter::default(),
            drift_ttft_ratio: Family::default(),
            drift_latency_ratio: Family::default(),
            drift_error_rate: Family::default(),
            drift_attempts: Family::default(),
            drift_model_alerts: Family::default(),
            decision_log_dropped: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "requests",
            "Requests answered, by rule, plan, answering model and outcome",
            m.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "End-to-end latency of answered requests, by rule",
            m.request_latency.clone(),
        );
        registry.register(
            "request_ttft_seconds",
            "Time to the first byte of the answer, by rule",
            m.request_ttft.clone(),
        );
        registry.register(
            "model_duration_seconds",
            "Latency of successful upstream attempts, by model",
            m.model_latency.clone(),
        );
        registry.register(
            "model_ttft_seconds",
            "Time to first token of upstream attempts, by model",
            m.model_ttft.clone(),
        );
        registry.register(
            "attempts",
            "Upstream attempts, by model and status (ok, an HTTP status, timeout, ...)",
            m.attempts.clone(),
        );
        registry.register(
            "tokens",
            "Tokens billed, by model and kind (input, output)",
            m.tokens.clone(),
        );
        registry.register(
            "cost_usd",
            "Cost of upstream calls in USD, by model",
            m.cost.clone(),
        );
        registry.register(
            "slice_requests",
            "Requests, once each when they end, by slice (a request is counted in every slice it belongs to) and outcome",
            m.slice_requests.clone(),
        );
        registry.register(
            "slice_tokens",
            "Tokens billed, by slice and kind (input, output)",
            m.slice_tokens.clone(),
        );
        registry.register(
            "slice_cost_usd",
            "Cost of upstream calls in USD, by slice",
            m.slice_cost.clone(),
        );
        registry.register(
            "fallbacks",
            "Fallbacks taken (model fallbacks), by rule",
            m.fallbacks.clone(),
        );
        registry.register("retries", "Retries made, by rule", m.retries.clone());
        registry.register(
            "hedges",
            "Hedged duplicates sent, by rule",
            m.hedges.clone(),
        );
        registry.register(
            "escalations",
            "Cascade escalations, by rule",
            m.escalations.clone(),
        );
        registry.register(
            "cascade_unscored",
            "Cascade answers whose confidence could not be computed (escalated), by rule",
            m.unscored.clone(),
        );
        registry.register(
            "cooldowns",
            "Cooldowns started, by model",
            m.cooldowns_started.clone(),
        );
        registry.register(
            "cooling",
            "1 while a model is cooling down",
            m.cooling.clone(),
        );
        registry.register(
            "defaulted_signals",
            "Signals that took their default (missing, invalid or unavailable), by signal",
            m.defaulted.clone(),
        );
        registry.register(
            "classifier_calls",
            "Classifier calls, by signal and outcome (ok, error, timeout, invalid, unavailable)",
            m.classifier_calls.clone(),
        );
        registry.register(
            "table_info",
            "The loaded table: 1 for its policy and source hash",
            m.table_info.clone(),
        );
        registry.register(
            "table_loaded_timestamp_seconds",
            "When the loaded table was loaded (Unix time)",
            m.table_loaded.clone(),
        );
        registry.register(
            "reloads",
            "Table reloads, by result (ok, refused)",
            m.reloads.clone(),
        );
        registry.register(
            "rejected",
            "Requests refused before routing, by reason",
            m.rejected.clone(),
        );
        registry.register("in_flight", "Requests being served", m.in_flight.clone());
        registry.register(
            "decision_log_dropped",
            "Decision log lines dropped because the writer fell behind",
            m.decision_log_dropped.clone(),
        );
        registry.register(
            "drift_kl_nats",
            "KL divergence (nats) of the drift window's traffic mix from the table's assumed mix",
            m.drift_kl.clone(),
        );
        registry.register(
            "drift_window_requests",
            "Routed requests in the drift window",
            m.drift_window_requests.clone(),
        );
        registry.register(
            "drift_alerts",
            "Times the drift window crossed the declared `drift kl` threshold",
            m.drift_alerts.clone(),
        );
        registry.register(
            "refits",
            "Re-fits on drift (`drift ... => refit`), by result: ok (swapped in) or refused",
            m.refits.clone(),
        );
        registry.register(
            "explored",
            "Requests routed to an exploration candidate (learn { explore }), by rule",
            m.explored.clone(),
        );
        registry.register(
            "explore_cost_usd",
            "What explored requests cost, USD",
            m.explore_cost.clone(),
        );
        registry.register(
            "explore_budget_remaining_usd",
            "The exploration budget left in the current period, USD",
            m.explore_budget_remaining.clone(),
        );
        registry.register(
            "paced_requests",
            "Routed requests by the pacing rung that routed them (0: the table itself)",
            m.paced.clone(),
        );
        registry.register(
            "pacing_rung",
            "The pacing rung of the last routed request (0: the table itself)",
            m.pacing_rung.clone(),
        );
        registry.register(
            "pacing_spend_usd",
            "Spend in the current pacing period, USD",
            m.pacing_spend.clone(),
        );
        registry.register(
            "pacing_budget_usd",
            "The pacing period's budget (`spend per PERIOD <= $X`), USD",
            m.pacing_budget.clone(),
        );
        registry.register(
            "pacing_pro_rated_usd",
            "The budget pro-rated to the time elapsed in the period, USD",
            m.pacing_pro_rated.clone(),
        );
        registry.register(
            "pacing_target_cost_per_request_usd",
            "The cost per request that spends the rest of the budget evenly over the rest of the period",
            m.pacing_target.clone(),
        );
        registry.register(
            "spend_today_usd",
            "The policy's spend since 00:00 UTC, USD (every replica's with --state redis://)",
            m.spend_today.clone(),
        );
        registry.register(
            "state_shared",
            "1 while cooldowns and spend are shared with other replicas (--state), else 0",
            m.state_shared.clone(),
        );
        registry.register(
            "state_errors",
            "Errors talking to the shared state's store (--state)",
            m.state_errors.clone(),
        );
        registry.register(
            "feedback",
            "Outcome feedback accepted (POST /v1/feedback), by answering model and success",
            m.feedback.clone(),
        );
        registry.register(
            "feedback_rejected",
            "Outcome feedback refused, by reason (malformed, unknown_request, no_answer, too_large, body_timeout)",
            m.feedback_rejected.clone(),
        );
        registry.register(
            "judge",
            "Answers picked for the judge (learn { judge }), by outcome: scored, unscored (no score in the reply), failed, skipped (too many judgements running)",
            m.judge.clone(),
        );
        registry.register(
            "judge_cost_usd",
            "What the judge's calls cost, USD (also in routec_cost_usd under the judge's model)",
            m.judge_cost.clone(),
        );
        registry.register(
            "judge_sample_share",
            "The share of answers the judge scores at the current request rate",
            m.judge_share.clone(),
        );
        registry.register(
            "drift_ttft_ratio",
            "Per model: the TTFT p95 of the drift window over the expected p95 (`drift ttft`)",
            m.drift_ttft_ratio.clone(),
        );
        registry.register(
            "drift_latency_ratio",
            "Per model: the end-to-end latency p95 of the drift window over the expected p95 (`drift latency`)",
            m.drift_latency_ratio.clone(),
        );
        registry.register(
            "drift_error_rate",
            "Per model: the share of failed attempts in the drift window (`drift errors`)",
            m.drift_error_rate.clone(),
        );
        registry.register(
            "drift_attempts",
            "Per model and measure: the attempts in the per-model drift window",
            m.drift_attempts.clone(),
        );
        registry.register(
            "drift_model_alerts",
            "Per model and measure: times a model crossed its declared `drift ttft|latency|errors` threshold",
            m.drift_model_alerts.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// The label strings of one counted request, built only when its series is
/// first counted ([`Handles`]).
type Labels<'a, L> = &'a dyn Fn() -> L;

/// The series one loaded table's requests count into, each taken from its
/// family the first time it is counted (so `/metrics` lists the same series
/// as counting through the families would) and kept: counting a request
/// then builds no label strings and hashes none. Indexed by the table's
/// rules and models; anything else goes through the families.
#[derive(Debug, Default)]
pub struct Handles {
    /// `requests` by rule number (0: a named model), plan (or the named
    /// model), answering model (`u32::MAX`: none) and outcome.
    requests: std::sync::Mutex<std::collections::HashMap<RequestKey, Counter>>,
    /// By rule number (0: a named model).
    rules: Vec<RuleHandles>,
    /// By model index.
    models: Vec<ModelHandles>,
}

/// A request's rule number (0: a named model), plan (or the named model),
/// answering model (`u32::MAX`: none) and outcome.
pub type RequestKey = (u32, u32, u32, &'static str);

#[derive(Debug, Default)]
struct RuleHandles {
    latency: OnceLock<Histogram>,
    ttft: OnceLock<Histogram>,
}

#[derive(Debug, Default)]
struct ModelHandles {
    attempts_ok: OnceLock<Counter>,
    ttft: OnceLock<Histogram>,
    latency: OnceLock<Histogram>,
    input_tokens: OnceLock<Counter>,
    output_tokens: OnceLock<Counter>,
    cost: OnceLock<Counter<f64, AtomicU64>>,
}

/// A model's kept series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelSeries {
    /// `attempts{status="ok"}`.
    AttemptsOk,
    Ttft,
    Latency,
    InputTokens,
    OutputTokens,
}

impl Handles {
    /// Handles for a table of `rules` rules and `models` models.
    pub fn new(rules: usize, models: usize) -> Handles {
        Handles {
            requests: std::sync::Mutex::default(),
            rules: (0..=rules).map(|_| RuleHandles::default()).collect(),
            models: (0..models).map(|_| ModelHandles::default()).collect(),
        }
    }

    /// Counts one request in `requests`.
    pub fn request(&self, m: &Metrics, key: RequestKey, labels: Labels<'_, RequestLabels>) {
        let Ok(mut map) = self.requests.lock() else {
            m.requests.get_or_create(&labels()).inc();
            return;
        };
        map.entry(key)
            .or_insert_with(|| m.requests.get_or_create_owned(&labels()))
            .inc();
    }

    /// Observes a request's latency (`ttft`: its time to first byte) under
    /// rule number `rule` (0: a named model).
    pub fn request_time(
        &self,
        m: &Metrics,
        rule: u32,
        ttft: bool,
        seconds: f64,
        labels: Labels<'_, RuleLabels>,
    ) {
        let family = if ttft {
            &m.request_ttft
        } else {
            &m.request_latency
        };
        let Some(h) = self.rules.get(rule as usize) else {
            family.get_or_create(&labels()).observe(seconds);
            return;
        };
        let cell = if ttft { &h.ttft } else { &h.latency };
        cell.get_or_init(|| family.get_or_create_owned(&labels()))
            .observe(seconds);
    }

    /// Adds `n` to one of model `model`'s counters (`AttemptsOk`,
    /// `InputTokens`, `OutputTokens`).
    pub fn model_count(&self, m: &Metrics, model: u32, series: ModelSeries, n: u64, name: &str) {
        let h = self.models.get(model as usize);
        let (cell, kind) = match series {
            ModelSeries::AttemptsOk => (h.map(|h| &h.attempts_ok), None),
            ModelSeries::InputTokens => (h.map(|h| &h.input_tokens), Some("input")),
            ModelSeries::OutputTokens => (h.map(|h| &h.output_tokens), Some("output")),
            ModelSeries::Ttft | ModelSeries::Latency => return,
        };
        let create = || match kind {
            None => m.attempts.get_or_create_owned(&AttemptLabels {
                model: name.to_owned(),
                status: "ok".into(),
            }),
            Some(kind) => m.tokens.get_or_create_owned(&TokenLabels {
                model: name.to_owned(),
                kind: kind.into(),
            }),
        };
        match cell {
            Some(c) => c.get_or_init(create).inc_by(n),
            None => create().inc_by(n),
        };
    }

    /// Observes `seconds` in one of model `model`'s histograms (`Ttft`,
    /// `Latency`).
    pub fn model_time(
        &self,
        m: &Metrics,
        model: u32,
        series: ModelSeries,
        seconds: f64,
        name: &str,
    ) {
        let labels = || ModelLabels {
            model: name.to_owned(),
        };
        let (cell, family) = match series {
            ModelSeries::Ttft => (
                self.models.get(model as usize).map(|h| &h.ttft),
                &m.model_ttft,
            ),
            ModelSeries::Latency => (
                self.models.get(model as usize).map(|h| &h.latency),
                &m.model_latency,
            ),
            _ => return,
        };
        match cell {
            Some(c) => c
                .get_or_init(|| family.get_or_create_owned(&labels()))
                .observe(seconds),
            None => family.get_or_create(&labels()).observe(seconds),
        }
    }

    /// Adds `usd` to model `model`'s `cost`.
    pub fn model_cost(&self, m: &Metrics, model: u32, usd: f64, name: &str) {
        let labels = || ModelLabels {
            model: name.to_owned(),
        };
        match self.models.get(model as usize) {
            Some(h) => h
                .cost
                .get_or_init(|| m.cost.get_or_create_owned(&labels()))
                .inc_by(usd),
            None => m.cost.get_or_create(&labels()).inc_by(usd),
        };
    }
}
