//! The types of the decision table. All quantities are in base units:
//! seconds, USD, tokens, ratios in `0..=1`. Indices point into the table's
//! own vectors. Enums are externally tagged so that both the JSON and the
//! binary (postcard, not self-describing) encodings can carry them; for the
//! same reason no field is ever skipped when serializing.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A compiled routing policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// The version of this format; see `SCHEMA_VERSION`.
    pub schema_version: u32,
    /// The version of the `.route` language of the source.
    pub language_version: String,
    /// The version of the routec that compiled it.
    pub compiler_version: String,
    /// `sha256:` and the hex digest of the source text.
    pub source_hash: String,
    pub policy: PolicyInfo,
    /// Every signal, built-ins first; requests are vectors indexed like this.
    pub signals: Vec<Signal>,
    pub models: Vec<Model>,
    /// The plans leaves can choose; indexed by [`Split::plan`].
    pub plans: Vec<Plan>,
    /// The rules of the `route` block, in order.
    pub rules: Vec<Rule>,
    /// The reduced decision diagram over signals.
    pub diagram: Diagram,
    /// What each terminal of the diagram decides.
    pub leaves: Vec<Leaf>,
    pub faults: Faults,
    pub learn: Learn,
    /// The traffic the table was optimized for, and what it predicts.
    pub assumed: Option<Assumed>,
    /// The policy's slices (named user segments), so a runtime can say
    /// which slices a request belongs to (schema version 2; per-slice
    /// accounting in the gateway).
    #[serde(default)]
    pub slices: Vec<Slice>,
    /// Budget pacing for `spend per PERIOD <= $X` (schema version 3): the
    /// ladder of cheaper routings the runtime steps down to when the
    /// period's spend runs ahead of the pro-rated budget. Absent without a
    /// spend SLO or a traffic `qps`.
    #[serde(default)]
    pub pacing: Option<Pacing>,
    /// Exploration's candidate plans per leaf (indices into `plans`;
    /// schema version 3): the other options of the leaf's rule that keep
    /// every SLO within its compiled slack when the declared `explore`
    /// share of the leaf's traffic goes to them (`docs/learn.md`,
    /// "Exploration and propensities"). One list per leaf with `learn {
    /// explore ... }`, empty otherwise.
    #[serde(default)]
    pub explore_candidates: Vec<Vec<u32>>,
    /// The judge scoring a sampled share of answers (`learn { judge ...
    /// }`, schema version 4; `docs/learn.md`, "Quality sampling").
    #[serde(default)]
    pub judge: Option<Judge>,
    /// What each model is expected to do, for the per-model drift
    /// monitors (`learn { drift ttft|latency|errors ... }`, schema version
    /// 4; `docs/learn.md`, "Per-model latency and error drift"): one entry
    /// per model, in model order, when the policy declares such a monitor;
    /// empty otherwise.
    #[serde(default)]
    pub model_health: Vec<ModelHealth>,
}

/// The figures a runtime compares one model's observed attempts with:
/// those of the models the table was compiled with (the declared ones, or
/// with a labeled recorded profile, as after a re-fit, the declared ones
/// re-estimated from the recorded outcomes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelHealth {
    /// Index into `models`.
    pub model: u32,
    /// The p95 of one attempt's time to first token, seconds: the declared
    /// `latency ttft` quantiles (plus the decode time of reasoning tokens),
    /// or the end-to-end quantiles of a model declared end to end only
    /// (its answer arrives at once). `None` when the model declares no
    /// latency.
    pub ttft_p95: Option<f64>,
    /// The p95 of one attempt's end-to-end latency, seconds: the declared
    /// TTFT plus the decode time of the answer lengths of the assumed
    /// traffic profile, at the profile's load. `None` when the model
    /// declares no latency, or a TTFT without a decode rate.
    pub latency_p95: Option<f64>,
    /// The expected share of failed attempts, in `0..=1`: base errors,
    /// timeouts under the model's fault settings and refusals under load,
    /// as `docs/semantics.md` models them.
    pub error_rate: f64,
}

/// A judge: a model that scores a sampled share of answers, its scores
/// written as feedback (`source` `judge`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Judge {
    /// Index into `models`: the model that grades.
    pub model: u32,
    /// The share of answers judged as a function of the request rate:
    /// points in increasing `qps`. Below the first point its share holds,
    /// above the last the last's; between two points the share is
    /// interpolated linearly in the logarithm of the rate.
    pub sample: Vec<SamplePoint>,
}

/// One point of a judge's sampling rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SamplePoint {
    /// Requests per second.
    pub qps: f64,
    /// The share of answers judged at that rate, in `0..=1`.
    pub share: f64,
}

/// The pacing of a spend budget (`docs/learn.md`, "Budget pacing").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pacing {
    /// The SLO as written, e.g. `spend per day <= $4k`.
    pub constraint: String,
    /// 1-based line of the SLO in the source.
    pub line: u32,
    /// `hour`, `day`, `week` or `month`, aligned to the Unix epoch in UTC.
    pub period: String,
    /// USD per period: the SLO's limit.
    pub budget: f64,
    /// The table's own predicted cost per request at the assumed mix, USD
    /// (step 0 of the ladder).
    pub cost_per_request: f64,
    /// The routings below the table, each cheaper than the one before:
    /// `steps[0]` is one step down. Each meets every SLO but the spend one
    /// on the assumed mix. Empty when the table is already the cheapest
    /// routing that meets them.
    pub steps: Vec<PacingStep>,
}

/// One step of the pacing ladder: the table's own rules, signals and plans
/// routed by a cheaper solution of the same problem (its leaves index the
/// table's `plans`, which list every plan of every rule).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PacingStep {
    /// The cost cap per request, USD, this step was solved under.
    pub cap: f64,
    /// Its predicted cost per request at the assumed mix, USD.
    pub cost_per_request: f64,
    /// Its predicted quality at the assumed mix.
    pub quality: f64,
    /// As the table's own fields, for this step's routing.
    pub diagram: Diagram,
    pub leaves: Vec<Leaf>,
    pub assumed: Option<Assumed>,
}

/// A named user segment, `slice NAME = EXPR`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Slice {
    pub name: String,
    /// Membership as a decision diagram over the signals (missing and
    /// invalid values take the signal's default, as in routing): it ends
    /// in `leaf` 1 for a request in the slice and `leaf` 0 for one outside.
    pub diagram: Diagram,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInfo {
    pub name: String,
    pub owner: Option<String>,
    /// Index into `models`.
    pub baseline: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    pub name: String,
    pub kind: SignalKind,
    pub source: Source,
    /// The value used when a request does not carry the signal or carries an
    /// invalid one: `0`/`1` for bools, the variant index for enums, a number
    /// in base units otherwise.
    pub default: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SignalKind {
    Bool,
    Int,
    Tokens,
    Ratio,
    Duration,
    Money,
    Enum { variants: Vec<String> },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Source {
    /// Derived from the request itself (`prompt_tokens`, `has_images`, ...).
    Builtin,
    Header {
        name: String,
    },
    Metadata {
        key: String,
    },
    /// A classifier run before routing; `cost` is its latency in seconds.
    /// The gateway calls `endpoint` (when set) only when a request's path
    /// through the diagram tests this signal, waiting at most `timeout`
    /// seconds; without an endpoint, or on failure, the default applies.
    Classifier {
        name: String,
        cost: f64,
        /// Where the classifier is served (schema version 2).
        #[serde(default)]
        endpoint: Option<Endpoint>,
        /// Seconds the gateway waits for an answer (schema version 2).
        #[serde(default)]
        timeout: Option<f64>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub name: String,
    pub provider: Option<String>,
    pub endpoint: Option<Endpoint>,
    pub upstream: Option<String>,
    /// The environment variable holding the API key.
    pub api_key_env: Option<String>,
    pub params: BTreeMap<String, Param>,
    pub context_tokens: Option<u64>,
    /// Index into `models`: where faults go next.
    pub fallback: Option<u32>,
    /// What a call costs, for the gateway's cost accounting (schema
    /// version 2; absent prices are zero).
    #[serde(default)]
    pub price: Price,
}

/// A model's prices in USD.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// USD per input (prompt) token.
    pub input_per_token: Option<f64>,
    /// USD per output (completion) token.
    pub output_per_token: Option<f64>,
    /// USD per call.
    pub per_request: Option<f64>,
}

impl Price {
    /// The cost of one answered call.
    pub fn call(&self, input_tokens: f64, output_tokens: f64) -> f64 {
        input_tokens * self.input_per_token.unwrap_or(0.0)
            + output_tokens * self.output_per_token.unwrap_or(0.0)
            + self.per_request.unwrap_or(0.0)
    }

    /// The cost of a failed call: its input only (as `docs/semantics.md`).
    pub fn failed(&self, input_tokens: f64) -> f64 {
        input_tokens * self.input_per_token.unwrap_or(0.0)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Endpoint {
    Url {
        url: String,
    },
    /// Read from this environment variable when the runtime starts.
    Env {
        var: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Param {
    Bool(bool),
    Number(f64),
    String(String),
}

/// A plan, as the proxy executes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The plan in the language's own syntax, e.g.
    /// `cascade small -> medium accept when confidence >= 70%`.
    pub text: String,
    pub kind: PlanKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PlanKind {
    /// One model (index into `models`).
    Target { model: u32 },
    /// Try each plan in order on faults (indices into `plans`).
    Chain { plans: Vec<u32> },
    /// Try each model in order, accepting an answer whose confidence is at
    /// least `accept` (a ratio).
    Cascade { models: Vec<u32>, accept: f64 },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// 1-based line of the rule in the source.
    pub line: u32,
    /// The rule as written, e.g. `when has_images => large`.
    pub text: String,
}

/// A reduced, ordered decision diagram. Nodes only point at nodes with a
/// smaller index or at leaves, so it is acyclic by construction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Diagram {
    pub root: NodeRef,
    pub nodes: Vec<Node>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NodeRef {
    Node(u32),
    Leaf(u32),
}

/// A test of one signal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Index into `signals`.
    pub signal: u32,
    pub test: Test,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Test {
    /// One branch per variant of an enum signal, in variant order.
    Enum { branches: Vec<NodeRef> },
    /// A bool signal.
    Bool { if_false: NodeRef, if_true: NodeRef },
    /// A numeric signal: `value < cut` goes `below`, otherwise `at_or_above`.
    Threshold {
        cut: f64,
        below: NodeRef,
        at_or_above: NodeRef,
    },
}

/// What a terminal decides: the matching rule and the plan split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Leaf {
    /// Index into `rules`.
    pub rule: u32,
    /// Index into `assumed.cells` when the cell was optimized or predicted.
    pub cell: Option<u32>,
    /// One or more plans with shares summing to 1; more than one is a sticky
    /// split by the hash of the request key.
    pub splits: Vec<Split>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// Index into `plans`.
    pub plan: u32,
    pub share: f64,
}

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    pub defaults: FaultSettings,
    /// Overrides by model name.
    pub per_model: BTreeMap<String, FaultSettings>,
}

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSettings {
    /// Seconds.
    pub timeout: Option<f64>,
    /// Seconds to the first token.
    pub ttft_timeout: Option<f64>,
    pub retry: Option<Retry>,
    pub cooldown: Option<Cooldown>,
    /// Seconds after which a second request is sent.
    pub hedge_after: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    pub attempts: u32,
    /// Status codes (`429`), classes (`5xx`) or `timeout`.
    pub on: Vec<String>,
    /// Seconds.
    pub backoff: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cooldown {
    /// Seconds.
    pub duration: f64,
    pub after_failures: u32,
}

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Learn {
    pub explore: Option<Explore>,
    pub drift: Vec<Drift>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Explore {
    /// Share of traffic routed off-policy to learn.
    pub share: f64,
    /// USD per `period`.
    pub budget: Option<f64>,
    pub period: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Drift {
    /// `kl`: the KL divergence of observed traffic from `assumed`, in nats.
    pub measure: String,
    pub threshold: f64,
    /// Seconds.
    pub window: f64,
    /// `alert`, `freeze`, `rollback` or `refit`.
    pub action: String,
}

/// The traffic profile the table was optimized for, the cells with their
/// assumed shares, and the predicted metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Assumed {
    pub traffic: String,
    /// Per signal: the share of traffic in each bin, for drift detection.
    pub marginals: Vec<Marginal>,
    pub cells: Vec<Cell>,
    pub predicted: Metrics,
    pub slos: Vec<SloStatus>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Marginal {
    /// Index into `signals`.
    pub signal: u32,
    /// Bin upper bounds (exclusive) for numeric signals; empty for enums and
    /// bools, whose bins are their values in order.
    pub cuts: Vec<f64>,
    /// The share of each bin; sums to 1.
    pub shares: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cell {
    /// A readable predicate, e.g. `task = code, plan = pro, prompt_tokens in [8k, 32k)`.
    pub predicate: String,
    /// Index into `rules`.
    pub rule: u32,
    /// The assumed share of all traffic.
    pub share: f64,
    pub splits: Vec<Split>,
    pub predicted: Metrics,
}

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Seconds.
    pub ttft: Quantiles,
    /// Seconds, end to end.
    pub latency: Quantiles,
    /// USD per 1,000 requests.
    pub cost_per_1k_requests: f64,
    /// USD per successful answer.
    pub cost_per_success: f64,
    /// Expected share of good answers, `0..=1`.
    pub quality: f64,
    /// The composite score against the baseline; above 1 beats it.
    pub score: f64,
}

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Quantiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SloStatus {
    /// The constraint as written.
    pub constraint: String,
    /// 1-based line in the source.
    pub line: u32,
    pub value: f64,
    pub limit: f64,
    pub ok: bool,
    /// The change of the objective per unit of tightening, when known.
    pub dual: Option<f64>,
}
