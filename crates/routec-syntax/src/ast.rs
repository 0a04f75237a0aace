//! The abstract syntax tree. Every node carries the byte span it was parsed
//! from. The parser accepts a superset of the language (any word where a
//! keyword-like value is expected, any unit suffix on a number); the checker
//! rejects the rest with located diagnostics. Nodes that could not be parsed
//! are `Error` variants, so a broken file still yields a usable tree.
//!
//! The AST does not derive `Serialize`: it is not a boundary format.

use crate::span::Span;

/// A name as written, with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Name {
    pub text: String,
    pub span: Span,
}

/// A string literal, unescaped.
#[derive(Clone, Debug, PartialEq)]
pub struct Str {
    pub value: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SourceFile {
    pub items: Vec<Item>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The `///` comment lines right above the item, without the slashes.
    pub doc: Option<Doc>,
    pub kind: ItemKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Doc {
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    Policy(Policy),
    Signal(Signal),
    Model(Model),
    Slice(Slice),
    Objective(Objective),
    Slo(Slo),
    Route(Route),
    Faults(Faults),
    Learn(Learn),
    Traffic(Traffic),
    Test(Test),
    /// An item that could not be parsed; its diagnostic was already reported.
    Error,
}

/// A `{ ... }` block of newline-separated statements.
#[derive(Clone, Debug, PartialEq)]
pub struct Block<T> {
    pub items: Vec<T>,
    /// From `{` to `}` inclusive.
    pub span: Span,
}

// ---------------------------------------------------------------- literals

#[derive(Clone, Debug, PartialEq)]
pub struct Lit {
    pub kind: LitKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LitKind {
    /// A number with its unit suffix as written (`""`, `"ms"`, `"k"`, `"%"`, `"xx"`).
    /// `value` is the number before the suffix, sign applied.
    Number {
        value: f64,
        suffix: String,
    },
    /// `$0.05/Mtok`: the amount (scale `k`/`M` applied) and the denominator after `/`.
    Money {
        value: f64,
        per: Option<String>,
    },
    String(String),
    Bool(bool),
    /// A bare word: an enum value, or a name in an expression.
    Ident(String),
    /// `env("NAME")`.
    Env(String),
}

// ---------------------------------------------------------------- policy

#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub name: Name,
    pub body: Block<PolicyProp>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PolicyProp {
    pub kind: PolicyPropKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PolicyPropKind {
    Owner(Str),
    Baseline(Name),
    Error,
}

// ---------------------------------------------------------------- signal

/// `signal NAME: TYPE from SOURCE default VALUE`
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    pub name: Name,
    pub ty: Type,
    pub source: Option<Source>,
    pub default: Option<Lit>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Type {
    pub kind: TypeKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TypeKind {
    /// `bool`, `int`, `tokens`, `ratio`, `duration`, `money`, or an unknown word.
    Named(Name),
    /// `enum { a, b, c }`
    Enum(Vec<Name>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    /// `header`, `metadata`, `classifier`, or an unknown word.
    pub kind: Name,
    /// The header name, metadata key or classifier name.
    pub key: Option<Str>,
    /// `cost DURATION`, `endpoint env("URL")`, `timeout DURATION`, ... in
    /// the order written (classifiers only; the checker says which are known).
    pub clauses: Vec<SourceClause>,
    pub span: Span,
}

/// One `WORD VALUE` clause of a signal source, e.g. `cost 4ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceClause {
    pub name: Name,
    pub value: Lit,
    pub span: Span,
}

impl Source {
    /// The first clause called `word`.
    pub fn clause(&self, word: &str) -> Option<&SourceClause> {
        self.clauses.iter().find(|c| c.name.text == word)
    }
}

// ---------------------------------------------------------------- model

/// `model NAME [extends BASE] { ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub name: Name,
    pub extends: Option<Name>,
    pub body: Block<ModelProp>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelProp {
    pub kind: ModelPropKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ModelPropKind {
    /// `provider openai`
    Provider(Name),
    /// `endpoint "https://..."` or `endpoint env("URL")`
    Endpoint(Lit),
    /// `upstream "meta-llama/Llama-3.1-8B-Instruct"`
    Upstream(Lit),
    /// `api_key env("KEY")`
    ApiKey(Lit),
    /// `params { quantization: "fp8", speculative_tokens: 2 }`
    Params(Vec<Param>),
    /// `context 128k tokens`: the amount and the unit word.
    Context {
        size: Lit,
        unit: Option<Name>,
    },
    /// `price input $0.05/Mtok, output $0.08/Mtok` or `price $0.001/request`
    Price(Vec<PriceTerm>),
    /// `latency ttft p50 90ms p95 250ms p99 600ms, decode 170 tok/s` or
    /// `latency p50 60ms p95 150ms p99 300ms`
    Latency(Vec<LatencyTerm>),
    /// `quality by task { chat 84%, ... } adjust by lang { ja -9% }` or `quality 80%`
    Quality(Quality),
    /// `fallback medium`
    Fallback(Name),
    /// `supports images, tools`: capabilities; a model without the property
    /// is assumed to support everything.
    Supports(Vec<Name>),
    /// `capacity 40 qps, 64 concurrent, 30k tok/s`: what the deployment
    /// sustains.
    Capacity(Vec<RateTerm>),
    /// `rate limit 600 req/m, 200k tok/m`: the provider's limits (requests
    /// beyond them are refused with `429`); the span is `rate limit`'s.
    RateLimit {
        keyword: Span,
        terms: Vec<RateTerm>,
    },
    /// `latency at 30 qps ttft p50 150ms p95 500ms, decode 140 tok/s`: the
    /// latency measured at a load.
    LatencyAt {
        load: RateTerm,
        terms: Vec<LatencyTerm>,
    },
    /// `price for prompts > 128k tokens: input $2.50/Mtok, output $10/Mtok`:
    /// the rates of requests whose prompt is longer than the threshold.
    PriceTier(PriceTier),
    /// `reasoning 2k tokens` or `reasoning 300% of output`: hidden
    /// reasoning tokens a model bills and decodes before its answer.
    Reasoning {
        amount: Lit,
        unit: Option<ReasoningUnit>,
    },
    Error,
}

/// `40 qps`, `64 concurrent`, `30k tok/s`, `600 req/m`: an amount and its
/// unit (a word, or a rate written as two words around a slash).
#[derive(Clone, Debug, PartialEq)]
pub struct RateTerm {
    pub amount: Lit,
    pub unit: Option<LoadUnit>,
    pub span: Span,
}

/// The unit of a [`RateTerm`].
#[derive(Clone, Debug, PartialEq)]
pub enum LoadUnit {
    /// `qps`, `concurrent`.
    Word(Name),
    /// `tok/s`, `req/m`.
    Rate(RateUnit),
}

/// `price for prompts > 128k tokens: input $2.50/Mtok, output $10/Mtok`
#[derive(Clone, Debug, PartialEq)]
pub struct PriceTier {
    /// The comparison as written (the checker accepts only `>`).
    pub op: CmpOp,
    pub op_span: Span,
    /// The prompt length, and its unit word (`tokens`).
    pub threshold: Lit,
    pub unit: Option<Name>,
    pub terms: Vec<PriceTerm>,
}

/// What a `reasoning` amount counts.
#[derive(Clone, Debug, PartialEq)]
pub enum ReasoningUnit {
    /// `of output`: a ratio of the answer's length.
    OfOutput(Span),
    /// A unit word: `tokens`, or a mistake the checker reports.
    Word(Name),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub key: Name,
    pub value: Lit,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PriceTerm {
    /// `input`, `output`, or `None` for a flat price such as `$0.001/request`.
    pub kind: Option<Name>,
    pub amount: Lit,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LatencyTerm {
    pub kind: LatencyTermKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LatencyTermKind {
    /// `ttft p50 90ms p95 250ms p99 600ms`
    Ttft(Vec<Quantile>),
    /// `p50 60ms p95 150ms`: end-to-end latency.
    Total(Vec<Quantile>),
    /// `decode 170 tok/s`: the rate and its unit words (`tok`, `s`).
    Decode { rate: Lit, unit: Option<RateUnit> },
}

/// `p95 250ms`
#[derive(Clone, Debug, PartialEq)]
pub struct Quantile {
    /// `p50`, `p95`, `p99`, ... as written.
    pub which: Name,
    pub value: Lit,
    pub span: Span,
}

/// `tok/s`: a rate unit written as two words around a slash.
#[derive(Clone, Debug, PartialEq)]
pub struct RateUnit {
    pub numerator: Name,
    pub denominator: Name,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Quality {
    /// `quality 80%`: one figure for every request.
    pub flat: Option<Lit>,
    /// `by task { chat 84%, ... }`
    pub by: Option<Table>,
    /// `adjust by lang { ja -9% }`
    pub adjust: Option<Table>,
}

/// `by SIGNAL { value figure, ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub signal: Name,
    pub entries: Vec<Entry>,
    pub span: Span,
}

/// `chat 84%` in a table; `key: value` pairs use [`Param`].
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: Name,
    pub value: Lit,
    pub span: Span,
}

// ---------------------------------------------------------------- slice

/// `slice NAME = EXPR`
#[derive(Clone, Debug, PartialEq)]
pub struct Slice {
    pub name: Name,
    pub expr: Expr,
}

// ---------------------------------------------------------------- expressions

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogicOp {
    And,
    Or,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A bare word or literal used as a condition: a bool signal, a slice, `true`.
    Atom(Lit),
    Not(Box<Expr>),
    /// `a and b and c` or `a or b`: two or more operands, flat so that long
    /// chains do not nest (`and` binds tighter than `or`).
    Logic {
        op: LogicOp,
        operands: Vec<Expr>,
    },
    /// `task == factual`, `prompt_tokens > 100k`
    Compare {
        lhs: Lit,
        op: CmpOp,
        rhs: Lit,
    },
    /// `plan in { pro, enterprise }`, `plan not in { free }`
    In {
        lhs: Lit,
        negated: bool,
        set: Vec<Lit>,
        set_span: Span,
    },
    /// `( expr )`
    Paren(Box<Expr>),
    Error,
}

// ---------------------------------------------------------------- metrics

/// A measurable figure of the traffic: used by objectives, SLOs and tests.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub kind: MetricKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum MetricKind {
    /// `ttft p95`
    Ttft(Option<Name>),
    /// `latency p95`
    Latency(Option<Name>),
    /// `cost`, `cost per 1k requests`, `cost per request`, `cost per success`
    Cost(Option<CostPer>),
    /// `quality`, `quality for SLICE`
    Quality(Option<Name>),
    /// `share MODEL`
    Share(Name),
    /// `spend per day`: the period word.
    Spend(Name),
}

#[derive(Clone, Debug, PartialEq)]
pub enum CostPer {
    /// `per 1k requests` (count present) or `per request` (count absent).
    Requests { count: Option<Lit>, span: Span },
    /// `per success`
    Success(Span),
}

// ---------------------------------------------------------------- objective

#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    pub kind: ObjectiveKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ObjectiveKind {
    /// `weighted { latency 0.6, cost 0.3, quality 0.1 }`
    Weighted(Vec<Entry>),
    /// `minimize cost`, `minimize latency p95`
    Minimize(Metric),
    /// `maximize quality`
    Maximize(Metric),
    Error,
}

// ---------------------------------------------------------------- slo

#[derive(Clone, Debug, PartialEq)]
pub struct Slo {
    pub body: Block<Constraint>,
}

/// `METRIC CMP BOUND [for each slice | for SLICE]`
#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    pub kind: ConstraintKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ConstraintKind {
    Bound {
        metric: Metric,
        op: CmpOp,
        bound: Bound,
        scope: Option<Scope>,
    },
    /// `margin 5%`: every SLO is compiled this much tighter than its limit.
    Margin {
        keyword: Span,
        value: Lit,
    },
    /// `confidence 95%`: quality floors hold at this confidence where
    /// recorded outcomes give the quality estimates' uncertainty.
    Confidence {
        keyword: Span,
        value: Lit,
    },
    Error,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Bound {
    /// `3s`, `$5`, `75%`
    Value(Lit),
    /// `quality for english - 5%`
    Metric {
        metric: Metric,
        offset: Option<Offset>,
        span: Span,
    },
}

/// `- 5%` or `+ 5%` after a metric.
#[derive(Clone, Debug, PartialEq)]
pub struct Offset {
    pub negative: bool,
    pub value: Lit,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Scope {
    /// `for each slice`
    EachSlice(Span),
    /// `for SLICE`
    Slice(Name),
}

// ---------------------------------------------------------------- route

#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    pub body: Block<Rule>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub kind: RuleKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RuleKind {
    /// `when EXPR => PLAN`
    When {
        cond: Expr,
        plan: Plan,
    },
    /// `otherwise => PLAN`; the span is the keyword's.
    Otherwise {
        keyword: Span,
        plan: Plan,
    },
    Error,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub kind: PlanKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PlanKind {
    /// `large`
    Target(Name),
    /// `a else b else c`: fault fallback, two or more plans.
    Chain(Vec<Plan>),
    /// `cascade a -> b accept when confidence >= 70%`; the acceptance test is
    /// optional in `expect` clauses of tests.
    Cascade {
        stages: Vec<Name>,
        accept: Option<Accept>,
    },
    /// `split { a 70%, b 30% }`
    Split(Vec<Entry>),
    /// `optimize [plans] by dims`
    Optimize {
        candidates: Vec<Plan>,
        candidates_span: Span,
        by: Vec<Dimension>,
    },
    Error,
}

/// `accept when confidence >= 70%`
#[derive(Clone, Debug, PartialEq)]
pub struct Accept {
    /// The signal word, `confidence`.
    pub measure: Name,
    pub op: CmpOp,
    pub threshold: Lit,
    pub span: Span,
}

/// `task` or `prompt_tokens at [2k, 8k, 32k]` in an `optimize ... by` list.
#[derive(Clone, Debug, PartialEq)]
pub struct Dimension {
    pub signal: Name,
    pub thresholds: Vec<Lit>,
    pub span: Span,
}

// ---------------------------------------------------------------- faults

/// `faults { ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    pub body: Block<FaultProp>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FaultProp {
    pub kind: FaultPropKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FaultPropKind {
    /// `timeout 30s`
    Timeout(Lit),
    /// `ttft timeout 3s`
    TtftTimeout(Lit),
    /// `retry 1 on [429, 5xx, timeout] backoff 200ms`
    Retry {
        count: Lit,
        on: Vec<Lit>,
        backoff: Option<Lit>,
    },
    /// `cooldown 30s after 3 failures`
    Cooldown {
        duration: Lit,
        failures: Lit,
    },
    /// `hedge after 1.5s`
    Hedge(Lit),
    /// `for MODEL { ... }`: overrides for one model.
    For {
        model: Name,
        body: Block<FaultProp>,
    },
    Error,
}

// ---------------------------------------------------------------- learn

#[derive(Clone, Debug, PartialEq)]
pub struct Learn {
    pub body: Block<LearnProp>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LearnProp {
    pub kind: LearnPropKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LearnPropKind {
    /// `explore 2% budget $20 per day`
    Explore {
        share: Lit,
        budget: Option<Lit>,
        period: Option<Name>,
    },
    /// `drift kl > 0.1 nats over 1h => alert`
    Drift {
        measure: Name,
        op: CmpOp,
        threshold: Lit,
        unit: Option<Name>,
        window: Lit,
        action: Name,
    },
    /// `judge grader sample 100% below 1k qps, 5% above 10k qps`, or
    /// `judge grader sample 5%`
    Judge {
        model: Name,
        sample: Vec<SampleTerm>,
    },
    Error,
}

/// One term of a judge's sampling rate: a share, and the request rate it
/// holds at (`5% above 10k qps`); a lone share holds at every rate.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleTerm {
    pub share: Lit,
    /// `below`, `at` or `above`, and the rate.
    pub at: Option<(Name, RateTerm)>,
    pub span: Span,
}

// ---------------------------------------------------------------- traffic

/// `traffic NAME { ... }` or `traffic NAME = file "path.jsonl"`
#[derive(Clone, Debug, PartialEq)]
pub struct Traffic {
    pub name: Name,
    pub kind: TrafficKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TrafficKind {
    Inline(Block<TrafficProp>),
    File(Str),
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrafficProp {
    pub kind: TrafficPropKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TrafficPropKind {
    /// `qps 800`
    Qps(Lit),
    /// `peak 3x` (a multiple of `qps`) or `peak 2400` (requests per second):
    /// the load the policy must survive.
    Peak(Lit),
    /// `task { chat 55%, code 20% }`: the mix of an enum signal.
    Mix {
        signal: Name,
        entries: Vec<Entry>,
    },
    /// `prompt_tokens lognormal p50 900 p95 12k`
    Lognormal {
        signal: Name,
        quantiles: Vec<Quantile>,
    },
    /// `difficulty uniform`
    Uniform {
        signal: Name,
        keyword: Span,
    },
    /// `has_images 3%`: the share of requests where a bool signal is true,
    /// or a constant value for any signal.
    Value {
        signal: Name,
        value: Lit,
    },
    Error,
}

// ---------------------------------------------------------------- tests

/// `test "name" { ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct Test {
    pub name: Str,
    pub body: Block<TestProp>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TestProp {
    pub kind: TestPropKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TestPropKind {
    /// `given { has_images: true, task: chat }`
    Given(Vec<Param>),
    /// `expect PLAN`
    ExpectPlan(Plan),
    /// `under TRAFFIC`
    Under(Name),
    /// `expect METRIC CMP VALUE`
    ExpectMetric {
        metric: Metric,
        op: CmpOp,
        value: Lit,
    },
    Error,
}
