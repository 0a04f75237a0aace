//! The resolved policy: every name replaced by an id, every quantity in base
//! units (seconds, USD, tokens, ratios in `0..=1`, USD per token). This is
//! what the optimizer, the simulator and the language server read; it is
//! built even from a broken file, with the broken parts left out (or marked
//! [`Cond::Unknown`] / [`PlanDef::Error`]), and it never derives `Serialize`.

use routec_syntax::Span;
use routec_syntax::ast::CmpOp;

use crate::index::SymbolIndex;

/// Index into [`Policy::signals`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignalId(pub u32);
/// Index into [`Policy::models`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelId(pub u32);
/// Index into [`Policy::slices`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SliceId(pub u32);
/// Index into [`Policy::traffic`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrafficId(pub u32);

impl SignalId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}
impl ModelId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}
impl SliceId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}
impl TrafficId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The whole resolved policy.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// The `policy NAME`, if there is exactly one policy item (the first otherwise).
    pub name: Option<String>,
    pub doc: Option<String>,
    pub owner: Option<String>,
    pub baseline: Option<ModelId>,
    /// Built-in signals first (in [`crate::BUILTIN_SIGNALS`] order), then the declared ones.
    pub signals: Vec<SignalDef>,
    pub models: Vec<ModelDef>,
    pub slices: Vec<SliceDef>,
    pub objective: Option<ObjectiveDef>,
    pub slos: Vec<SloDef>,
    /// The `slo` block's `margin` and `confidence`.
    pub slo_settings: SloSettings,
    /// The rules of the `route` block in order; `otherwise` is a rule whose
    /// condition is `Cond::Const(true)`.
    pub rules: Vec<RuleDef>,
    pub faults: FaultsDef,
    pub learn: LearnDef,
    pub traffic: Vec<TrafficDef>,
    pub tests: Vec<TestDef>,
    /// Names, definitions and references, for goto/references/rename.
    pub index: SymbolIndex,
}

/// `a OP b`.
pub fn compare(a: f64, op: CmpOp, b: f64) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
    }
}

impl Policy {
    /// Whether a request satisfies `cond`: the one evaluation of conditions
    /// on concrete values (the simulator's slices, recorded traffic's
    /// slices). `values` are in base units and indexed like
    /// [`Policy::signals`], defaults already applied (enum variant index,
    /// bool 0/1); a signal past its end has no value, and every test of it
    /// is false. Unresolved parts are false. Nesting deeper than 64 slices
    /// is false (the checker refuses cycles).
    pub fn holds(&self, cond: &Cond, values: &[f64]) -> bool {
        self.holds_at(cond, values, 0)
    }

    fn holds_at(&self, cond: &Cond, values: &[f64], depth: usize) -> bool {
        if depth > 64 {
            return false;
        }
        let value = |s: SignalId| values.get(s.index()).copied();
        match cond {
            Cond::Const(b) => *b,
            Cond::Bool(s) => value(*s).is_some_and(|v| v != 0.0),
            Cond::InSet {
                signal,
                values: set,
            } => value(*signal).is_some_and(|v| set.contains(&(v as usize))),
            Cond::Cmp {
                signal,
                op,
                value: x,
            } => value(*signal).is_some_and(|v| compare(v, *op, *x)),
            Cond::Slice(s) => self
                .slices
                .get(s.index())
                .is_some_and(|d| self.holds_at(&d.cond, values, depth + 1)),
            Cond::Not(c) => !self.holds_at(c, values, depth + 1),
            Cond::And(cs) => cs.iter().all(|c| self.holds_at(c, values, depth + 1)),
            Cond::Or(cs) => cs.iter().any(|c| self.holds_at(c, values, depth + 1)),
            Cond::Unknown => false,
        }
    }

    pub fn signal(&self, id: SignalId) -> &SignalDef {
        &self.signals[id.index()]
    }
    pub fn model(&self, id: ModelId) -> &ModelDef {
        &self.models[id.index()]
    }
    pub fn slice(&self, id: SliceId) -> &SliceDef {
        &self.slices[id.index()]
    }
    pub fn signal_by_name(&self, name: &str) -> Option<SignalId> {
        self.signals
            .iter()
            .position(|s| s.name == name)
            .map(|i| SignalId(i as u32))
    }
    pub fn model_by_name(&self, name: &str) -> Option<ModelId> {
        self.models
            .iter()
            .position(|m| m.name == name)
            .map(|i| ModelId(i as u32))
    }
    pub fn slice_by_name(&self, name: &str) -> Option<SliceId> {
        self.slices
            .iter()
            .position(|s| s.name == name)
            .map(|i| SliceId(i as u32))
    }
    /// The largest context window of any model (in tokens), if any model declares one.
    pub fn max_context(&self) -> Option<u64> {
        self.models.iter().filter_map(|m| m.context).max()
    }
}

// ---------------------------------------------------------------- signals

#[derive(Clone, Debug, PartialEq)]
pub enum SignalType {
    Bool,
    Int,
    Tokens,
    /// A share in `0..=1`, written as a percentage.
    Ratio,
    /// Seconds.
    Duration,
    /// USD.
    Money,
    /// The variants in declaration order; a value is an index into this list.
    Enum(Vec<String>),
}

impl SignalType {
    /// The type as a user writes it (`enum` for enums).
    pub fn describe(&self) -> &'static str {
        match self {
            SignalType::Bool => "bool",
            SignalType::Int => "int",
            SignalType::Tokens => "tokens",
            SignalType::Ratio => "ratio",
            SignalType::Duration => "duration",
            SignalType::Money => "money",
            SignalType::Enum(_) => "enum",
        }
    }

    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            SignalType::Int
                | SignalType::Tokens
                | SignalType::Ratio
                | SignalType::Duration
                | SignalType::Money
        )
    }

    /// Integer-valued types: their comparisons are normalised to integer bounds.
    pub fn is_integer(&self) -> bool {
        matches!(self, SignalType::Int | SignalType::Tokens)
    }

    /// The values a signal of this type can take, as a closed or half-open
    /// range of base units (`None` = unbounded).
    pub fn domain(&self) -> (Option<f64>, Option<f64>) {
        match self {
            SignalType::Tokens | SignalType::Duration | SignalType::Money => (Some(0.0), None),
            SignalType::Ratio => (Some(0.0), Some(1.0)),
            SignalType::Int => (None, None),
            SignalType::Bool => (Some(0.0), Some(1.0)),
            SignalType::Enum(v) => (Some(0.0), Some(v.len().saturating_sub(1) as f64)),
        }
    }

    /// The type without its enum variants: cheap to copy around when only
    /// the kind of the type matters.
    pub fn kind_only(&self) -> SignalType {
        match self {
            SignalType::Enum(_) => SignalType::Enum(Vec::new()),
            other => other.clone(),
        }
    }

    pub fn variant(&self, name: &str) -> Option<usize> {
        match self {
            SignalType::Enum(v) => v.iter().position(|x| x == name),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum SignalSource {
    Builtin,
    Header(String),
    Metadata(String),
    /// A classifier and the latency it adds (seconds) when a reachable rule reads it.
    Classifier {
        name: String,
        cost: Option<f64>,
        /// Where the gateway calls it (`endpoint "..."` or `env("...")`).
        endpoint: Option<StrOrEnv>,
        /// How long the gateway waits for it (seconds).
        timeout: Option<f64>,
    },
    /// The source could not be resolved (already reported).
    Unknown,
}

/// A value of a signal: the default, a test's `given`, a traffic constant.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Bool(bool),
    /// An index into the enum's variants.
    Enum(usize),
    /// A number in base units.
    Number(f64),
}

#[derive(Clone, Debug)]
pub struct SignalDef {
    pub name: String,
    /// The name's span; empty for built-ins.
    pub span: Span,
    pub doc: Option<String>,
    pub ty: SignalType,
    pub source: SignalSource,
    pub default: Option<Value>,
    pub builtin: bool,
}

// ---------------------------------------------------------------- models

#[derive(Clone, Debug, PartialEq)]
pub enum StrOrEnv {
    Str(String),
    Env(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    Str(String),
    Number(f64),
    Bool(bool),
    Word(String),
    Env(String),
}

/// Prices in USD: the base rates, and the rates of longer prompts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Price {
    pub input_per_token: Option<f64>,
    pub output_per_token: Option<f64>,
    pub per_request: Option<f64>,
    /// `price for prompts > N tokens: ...`, sorted by threshold, each
    /// threshold once. A tier's rates are complete: a rate the tier does
    /// not write is the one of the tier below (or the base rate).
    pub tiers: Vec<PriceTier>,
}

/// The rates of requests whose prompt is longer than `above` tokens (the
/// whole request, as providers bill them: Gemini 1.5 Pro's input costs
/// $2.50/Mtok for every token of a prompt over 128k).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PriceTier {
    /// Tokens: the tier applies when `prompt_tokens > above`.
    pub above: f64,
    pub input_per_token: Option<f64>,
    pub output_per_token: Option<f64>,
    pub per_request: Option<f64>,
}

/// The rates that apply to one request, in USD (missing rates are 0).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    pub input_per_token: f64,
    pub output_per_token: f64,
    pub per_request: f64,
}

impl Price {
    pub fn is_empty(&self) -> bool {
        self.input_per_token.is_none()
            && self.output_per_token.is_none()
            && self.per_request.is_none()
            && self.tiers.is_empty()
    }

    /// The rates of a request with `prompt_tokens` tokens of input: the
    /// tier with the largest threshold below the prompt length, else the
    /// base rates.
    pub fn rates(&self, prompt_tokens: f64) -> Rates {
        match self.tiers.iter().rev().find(|t| prompt_tokens > t.above) {
            Some(t) => Rates {
                input_per_token: t.input_per_token.unwrap_or(0.0),
                output_per_token: t.output_per_token.unwrap_or(0.0),
                per_request: t.per_request.unwrap_or(0.0),
            },
            None => Rates {
                input_per_token: self.input_per_token.unwrap_or(0.0),
                output_per_token: self.output_per_token.unwrap_or(0.0),
                per_request: self.per_request.unwrap_or(0.0),
            },
        }
    }

    /// The prompt lengths where the rates change (the tiers' thresholds).
    pub fn thresholds(&self) -> impl Iterator<Item = f64> + '_ {
        self.tiers.iter().map(|t| t.above)
    }

    /// Every rate, base and tiers, multiplied by `factor`.
    pub fn scale(&mut self, factor: f64) {
        let scale = |r: &mut Option<f64>| {
            if let Some(v) = r {
                *v *= factor;
            }
        };
        scale(&mut self.input_per_token);
        scale(&mut self.output_per_token);
        scale(&mut self.per_request);
        for t in &mut self.tiers {
            scale(&mut t.input_per_token);
            scale(&mut t.output_per_token);
            scale(&mut t.per_request);
        }
    }
}

/// Hidden reasoning tokens a model generates before its answer (`reasoning
/// 2k tokens`, `reasoning 300% of output`): billed as output and decoded
/// before the first token of the answer. For an answer of `n` tokens the
/// model reasons `tokens + per_output_token × n` tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reasoning {
    pub tokens: f64,
    pub per_output_token: f64,
}

impl Reasoning {
    /// The reasoning tokens of an answer of `output_tokens` tokens.
    pub fn for_answer(&self, output_tokens: f64) -> f64 {
        if self.per_output_token == 0.0 {
            return self.tokens;
        }
        self.tokens + self.per_output_token * output_tokens.max(0.0)
    }
}

/// `(quantile in 0..1, seconds)`, sorted by quantile.
pub type Quantiles = Vec<(f64, f64)>;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Latency {
    /// Time to first token.
    pub ttft: Quantiles,
    /// End-to-end latency, for backends that do not stream tokens.
    pub total: Quantiles,
    /// Tokens per second.
    pub decode_rate: Option<f64>,
}

impl Latency {
    pub fn is_empty(&self) -> bool {
        self.ttft.is_empty() && self.total.is_empty() && self.decode_rate.is_none()
    }
}

/// Per-value figures of one enum signal; `None` where the table has no entry.
#[derive(Clone, Debug, PartialEq)]
pub struct QualityTable {
    pub signal: SignalId,
    pub values: Vec<Option<f64>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct QualityDef {
    /// `quality 80%`
    pub flat: Option<f64>,
    /// `quality by task { ... }`
    pub by: Option<QualityTable>,
    /// `adjust by lang { ... }`: additive, missing entries are 0.
    pub adjust: Option<QualityTable>,
}

impl QualityDef {
    pub fn is_empty(&self) -> bool {
        self.flat.is_none() && self.by.is_none()
    }

    /// The quality for a request with the given value of `by` (if the table
    /// has one) and of `adjust`, clamped to `0..=1`; `None` when the model
    /// has no figure for it.
    pub fn for_values(&self, by_value: Option<usize>, adjust_value: Option<usize>) -> Option<f64> {
        let base = match (&self.by, by_value) {
            (Some(t), Some(v)) => t.values.get(v).copied().flatten()?,
            (Some(_), None) => return None,
            (None, _) => self.flat?,
        };
        let adj = match (&self.adjust, adjust_value) {
            (Some(t), Some(v)) => t.values.get(v).copied().flatten().unwrap_or(0.0),
            _ => 0.0,
        };
        Some((base + adj).clamp(0.0, 1.0))
    }
}

/// What a deployment sustains (`capacity`), or a provider's limits (`rate
/// limit`), in base units: per second.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Capacity {
    /// Requests per second.
    pub requests: Option<f64>,
    /// Tokens (prompt and answer) per second.
    pub tokens: Option<f64>,
    /// Requests in flight at once (`capacity` only).
    pub concurrent: Option<f64>,
    /// The property's span (empty when not written).
    pub span: Span,
}

impl Capacity {
    pub fn is_empty(&self) -> bool {
        self.requests.is_none() && self.tokens.is_none() && self.concurrent.is_none()
    }
}

/// The latency a model was measured at under a load: `latency at 30 qps
/// ttft p50 150ms ...`.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadLatency {
    /// Calls per second to the model.
    pub qps: f64,
    pub latency: Latency,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub images: bool,
    pub tools: bool,
}

#[derive(Clone, Debug)]
pub struct ModelDef {
    pub name: String,
    pub span: Span,
    pub doc: Option<String>,
    /// The base model; every property below already includes the inherited ones.
    pub extends: Option<ModelId>,
    pub provider: Option<String>,
    pub endpoint: Option<StrOrEnv>,
    pub upstream: Option<String>,
    pub api_key: Option<StrOrEnv>,
    /// Generation parameters; a derived model's params override the base's by key.
    pub params: Vec<(String, ParamValue)>,
    /// Context window in tokens; `None` for backends without one.
    pub context: Option<u64>,
    pub price: Price,
    /// Hidden reasoning tokens; `None`: the model does not reason.
    pub reasoning: Option<Reasoning>,
    pub latency: Latency,
    pub quality: QualityDef,
    pub fallback: Option<ModelId>,
    /// `None`: the model supports every kind of input.
    pub supports: Option<Capabilities>,
    /// What the deployment sustains; empty: unlimited.
    pub capacity: Capacity,
    /// The provider's rate limits; empty: none.
    pub rate_limit: Capacity,
    /// Latency measured at loads, sorted by load (the `latency` property is
    /// the latency at light load).
    pub load_latency: Vec<LoadLatency>,
}

impl ModelDef {
    /// Whether the model's latency or admission depends on load: it
    /// declares a capacity, a rate limit or latency at a load.
    pub fn load_aware(&self) -> bool {
        !self.capacity.is_empty() || !self.rate_limit.is_empty() || !self.load_latency.is_empty()
    }
}

// ---------------------------------------------------------------- conditions

/// A resolved condition over signals.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    Const(bool),
    /// A bool signal is true.
    Bool(SignalId),
    /// An enum signal takes one of these variants (indices, sorted, unique).
    InSet {
        signal: SignalId,
        values: Vec<usize>,
    },
    /// A numeric signal compared with a value in base units. `op` is never
    /// `Eq`/`Ne` for continuous types unless the user wrote it.
    Cmp {
        signal: SignalId,
        op: CmpOp,
        value: f64,
    },
    Slice(SliceId),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    /// A part that could not be resolved (already reported): analyses that
    /// need the exact condition skip it.
    Unknown,
}

impl Cond {
    pub fn has_unknown(&self) -> bool {
        match self {
            Cond::Unknown => true,
            Cond::Not(c) => c.has_unknown(),
            Cond::And(cs) | Cond::Or(cs) => cs.iter().any(Cond::has_unknown),
            _ => false,
        }
    }

    /// Every signal the condition reads directly (not through slices).
    pub fn signals(&self, out: &mut Vec<SignalId>) {
        match self {
            Cond::Bool(s) | Cond::InSet { signal: s, .. } | Cond::Cmp { signal: s, .. } => {
                out.push(*s)
            }
            Cond::Not(c) => c.signals(out),
            Cond::And(cs) | Cond::Or(cs) => cs.iter().for_each(|c| c.signals(out)),
            Cond::Const(_) | Cond::Slice(_) | Cond::Unknown => {}
        }
    }

    /// Every slice the condition names directly.
    pub fn slices(&self, out: &mut Vec<SliceId>) {
        match self {
            Cond::Slice(s) => out.push(*s),
            Cond::Not(c) => c.slices(out),
            Cond::And(cs) | Cond::Or(cs) => cs.iter().for_each(|c| c.slices(out)),
            _ => {}
        }
    }
}

#[derive(Clone, Debug)]
pub struct SliceDef {
    pub name: String,
    pub span: Span,
    pub doc: Option<String>,
    pub cond: Cond,
}

// ---------------------------------------------------------------- plans and rules

#[derive(Clone, Debug, PartialEq)]
pub struct AcceptDef {
    /// The measure word, `confidence`.
    pub measure: String,
    pub op: CmpOp,
    /// A ratio in `0..=1`.
    pub threshold: f64,
}

/// One `by` dimension of an `optimize`: thresholds in base units, sorted,
/// unique (empty for enum and bool dimensions).
#[derive(Clone, Debug, PartialEq)]
pub struct DimDef {
    pub signal: SignalId,
    pub thresholds: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PlanDef {
    Target(ModelId),
    /// Fault fallback: try each plan in turn.
    Chain(Vec<PlanDef>),
    Cascade {
        stages: Vec<ModelId>,
        accept: Option<AcceptDef>,
    },
    /// Shares in `0..=1`.
    Split(Vec<(ModelId, f64)>),
    Optimize {
        candidates: Vec<PlanDef>,
        by: Vec<DimDef>,
    },
    /// Could not be resolved (already reported).
    Error,
}

impl PlanDef {
    /// Every model the plan may send a request to.
    pub fn models(&self, out: &mut Vec<ModelId>) {
        match self {
            PlanDef::Target(m) => out.push(*m),
            PlanDef::Chain(ps) => ps.iter().for_each(|p| p.models(out)),
            PlanDef::Cascade { stages, .. } => out.extend(stages.iter().copied()),
            PlanDef::Split(es) => out.extend(es.iter().map(|e| e.0)),
            PlanDef::Optimize { candidates, .. } => candidates.iter().for_each(|p| p.models(out)),
            PlanDef::Error => {}
        }
    }

    pub fn has_error(&self) -> bool {
        match self {
            PlanDef::Error => true,
            PlanDef::Chain(ps) => ps.iter().any(PlanDef::has_error),
            PlanDef::Optimize { candidates, .. } => candidates.iter().any(PlanDef::has_error),
            _ => false,
        }
    }
}

#[derive(Clone, Debug)]
pub struct RuleDef {
    pub cond: Cond,
    pub plan: PlanDef,
    /// The whole rule.
    pub span: Span,
    /// The condition's span, or the `otherwise` keyword's.
    pub cond_span: Span,
    pub otherwise: bool,
}

// ---------------------------------------------------------------- objective and SLOs

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CostBasis {
    /// `cost per N requests`: the number of requests (1 for `per request`).
    PerRequests(u64),
    PerSuccess,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Hour,
    Day,
    Week,
    Month,
}

impl Period {
    pub fn seconds(self) -> f64 {
        match self {
            Period::Hour => 3600.0,
            Period::Day => 86_400.0,
            Period::Week => 604_800.0,
            Period::Month => 2_592_000.0,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum MetricDef {
    /// A quantile in `0..1` of the time to first token.
    Ttft(f64),
    /// A quantile of end-to-end latency.
    Latency(f64),
    Cost(CostBasis),
    Quality(Option<SliceId>),
    Share(ModelId),
    Spend(Period),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ObjectiveDef {
    /// Normalised weights as written (they sum to 1 when the file checks).
    Weighted {
        latency: f64,
        cost: f64,
        quality: f64,
    },
    Minimize(MetricDef),
    Maximize(MetricDef),
}

#[derive(Clone, Debug, PartialEq)]
pub enum SloScope {
    All,
    EachSlice,
    Slice(SliceId),
}

#[derive(Clone, Debug, PartialEq)]
pub enum BoundDef {
    /// In the metric's base unit.
    Value(f64),
    /// Another metric plus an offset in the metric's unit (`quality for B - 5%`).
    Metric { metric: MetricDef, offset: f64 },
}

/// How tightly the optimizer compiles the SLOs: the `slo` block's `margin`
/// and `confidence`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SloSettings {
    /// `margin 5%`: each SLO is compiled this share tighter than its limit,
    /// on its bad side: a latency, cost, spend or upper share limit times
    /// `1 − margin`; a quality floor `q` as `1 − (1 − q)·(1 − margin)` (the
    /// failure rate it allows, times `1 − margin`); a lower share limit times
    /// `1 + margin`. 0 when not declared.
    pub margin: f64,
    pub margin_span: Option<Span>,
    /// `confidence 95%`: a quality floor is compiled on each recorded
    /// quality estimate's lower bound at this confidence instead of its
    /// posterior mean (docs/semantics.md, "Recorded traffic"). `None` when
    /// not declared.
    pub confidence: Option<f64>,
    pub confidence_span: Option<Span>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SloDef {
    pub metric: MetricDef,
    pub op: CmpOp,
    pub bound: BoundDef,
    pub scope: SloScope,
    pub span: Span,
}

// ---------------------------------------------------------------- faults and learning

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryOn {
    /// One HTTP status code.
    Status(u16),
    /// A class such as `5xx`: the first digit.
    Class(u8),
    Timeout,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Retry {
    pub count: u32,
    pub on: Vec<RetryOn>,
    pub backoff: Option<f64>,
}

/// Fault settings; durations in seconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultSettings {
    pub timeout: Option<f64>,
    pub ttft_timeout: Option<f64>,
    /// Where `timeout` and `ttft timeout` are written (the statement).
    pub timeout_span: Option<Span>,
    pub ttft_timeout_span: Option<Span>,
    pub retry: Option<Retry>,
    /// `cooldown D after N failures`
    pub cooldown: Option<(f64, u32)>,
    pub hedge: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultsDef {
    pub defaults: FaultSettings,
    /// Per-model overrides: only the fields written are `Some`.
    pub overrides: Vec<(ModelId, FaultSettings)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriftAction {
    Alert,
    Freeze,
    Rollback,
    /// Recompile against the recent decision log and swap the table in when
    /// it meets every SLO there (`docs/learn.md`, "Re-fit on drift").
    Refit,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DriftDef {
    /// `kl` (the traffic mix), or per model `ttft`, `latency` (p95 over
    /// the declared p95) or `errors` (error rate over the expected one).
    pub measure: String,
    pub op: CmpOp,
    /// Nats for `kl`; for `ttft` and `latency` the relative excess
    /// (`0.5`: 50% over the declared p95); for `errors` the excess in
    /// points as a fraction (`0.02`: 2 points over the expected rate).
    pub threshold: f64,
    /// Seconds.
    pub window: f64,
    pub action: DriftAction,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExploreDef {
    pub share: f64,
    pub budget: Option<(f64, Period)>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LearnDef {
    pub explore: Option<ExploreDef>,
    pub drift: Vec<DriftDef>,
    pub judge: Option<JudgeDef>,
}

/// `judge MODEL sample ...`: the model that scores a sampled share of
/// answers.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeDef {
    pub model: ModelId,
    /// `(requests per second, share)` in increasing rate; one point at
    /// rate 0 for a share at every rate (the table's `judge.sample`, whose
    /// `share_at` says the share at a rate).
    pub sample: Vec<(f64, f64)>,
}

// ---------------------------------------------------------------- traffic

#[derive(Clone, Debug, PartialEq)]
pub enum TrafficVar {
    Signal(SignalId),
    /// `output_tokens`: traffic-only, the length of answers.
    OutputTokens,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Dist {
    /// Shares per enum variant (index), `0` where not written.
    Mix(Vec<f64>),
    /// Quantiles `(q, value in base units)`, sorted.
    Lognormal(Quantiles),
    /// Uniform over the signal's domain (ratio-like signals).
    Uniform,
    /// The share of requests where a bool signal is true.
    Share(f64),
    /// Every request has this value.
    Const(Value),
}

#[derive(Clone, Debug, PartialEq)]
pub enum TrafficSource {
    Inline {
        qps: Option<f64>,
        dists: Vec<(TrafficVar, Dist)>,
    },
    File(String),
}

#[derive(Clone, Debug)]
pub struct TrafficDef {
    pub name: String,
    pub span: Span,
    pub doc: Option<String>,
    pub source: TrafficSource,
    /// `peak ...`: the requests per second the policy must survive, and the
    /// statement's span.
    pub peak: Option<(f64, Span)>,
}

// ---------------------------------------------------------------- tests

#[derive(Clone, Debug, PartialEq)]
pub enum TestExpect {
    Plan(PlanDef),
    Metric {
        metric: MetricDef,
        op: CmpOp,
        value: f64,
    },
}

#[derive(Clone, Debug)]
pub struct TestDef {
    pub name: String,
    pub span: Span,
    pub given: Vec<(SignalId, Value)>,
    pub under: Option<TrafficId>,
    pub expect: Option<TestExpect>,
}
