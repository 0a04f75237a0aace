//! Recorded and labeled traffic: the JSON Lines format of
//! `traffic NAME = file "x.jsonl"` (documented in `docs/traffic.md`, schema in
//! `docs/traffic.schema.json`).
//!
//! Two steps, both pure: [`parse`] reads the text into [`Record`]s without
//! knowing any policy (shape errors: bad JSON, wrong types, unknown fields,
//! missing `signals`); [`bind`] resolves the records against a checked
//! [`Policy`] (signal names and values, model names) into [`BoundTraffic`],
//! which the optimizer and the simulator read. Every error carries its 1-based
//! line and column.
//!
//! Feedback lines (`{"id": ..., "feedback": {"model": ..., "success": ...}}`,
//! written by `routec serve` for `POST /v1/feedback` or by
//! `routec_runtime::write_feedback`) are joined by [`parse_all`] onto the
//! nearest earlier request with the same `id`, as an outcome of the model
//! they name: a decision log with feedback is labeled traffic.
//!
//! Architecture Invariant: no IO, clocks or environment (`clippy.toml`); the
//! parser never panics on any input (a property test feeds it arbitrary
//! bytes).

mod bind;
mod parse;

pub use bind::{BoundRecord, BoundTraffic, bind, read_value};
pub use parse::{MAX_ERRORS, MAX_LINE_BYTES, parse, parse_all, parse_line};

/// The largest recorded file a reader should accept, in bytes.
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// An outcome with a `score` but no `success` succeeded when
/// `score >= SUCCESS_SCORE`.
pub const SUCCESS_SCORE: f64 = 0.5;

/// One line of a recorded file, shaped but not yet bound to a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// 1-based line number in the file.
    pub line: usize,
    pub id: Option<String>,
    /// In the order written.
    pub signals: Vec<SignalEntry>,
    /// In the order written (after [`parse_all`], the outcomes of feedback
    /// lines joined onto this request follow).
    pub outcomes: Vec<OutcomeEntry>,
    /// Whether this line is feedback (`{"id": ..., "feedback": {...}}`):
    /// no signals, one outcome. [`parse_all`] joins feedback lines onto
    /// their requests and returns only requests; [`parse_line`] returns
    /// either.
    pub feedback: bool,
    /// What `routec serve` did with the request, on a decision-log line.
    pub decision: Option<LoggedDecision>,
}

/// The fields of a decision-log line's `decision` that off-policy
/// estimates read (`docs/learn.md`); the others are described by the
/// schema and not read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoggedDecision {
    /// The plan that ran, in the language's syntax.
    pub plan: String,
    /// The probability with which `plan` was chosen, in `(0, 1]`; `None`
    /// for a request that named a model (not routed by the table).
    pub propensity: Option<f64>,
    /// Whether `plan` was an exploration candidate.
    pub explored: bool,
    /// The model whose answer was returned (its feedback names it).
    pub model: Option<String>,
    /// What the request cost, USD.
    pub cost_usd: Option<f64>,
    /// End-to-end latency, milliseconds.
    pub latency_ms: Option<f64>,
}

/// One `signals` entry: a string, number or boolean, read against the
/// signal's type by [`bind`].
#[derive(Clone, Debug, PartialEq)]
pub struct SignalEntry {
    pub name: String,
    pub value: serde_json::Value,
    /// 1-based columns of the key and of the value.
    pub column: usize,
    pub value_column: usize,
}

/// One `outcomes` entry: what one model did with the request.
#[derive(Clone, Debug, PartialEq)]
pub struct OutcomeEntry {
    pub model: String,
    /// 1-based line where it was written (a feedback line's, when joined).
    pub line: usize,
    /// 1-based column of the key.
    pub column: usize,
    pub outcome: Outcome,
    /// Whether it is a judge's score (a feedback line with `source`
    /// `judge`): joined only where no client feedback on the same model
    /// is, and never replacing one.
    pub judged: bool,
}

/// What a model did with a recorded request. Every field is optional, but a
/// valid outcome has `success` or `score`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub success: Option<bool>,
    /// Graded quality in `0..=1`.
    pub score: Option<f64>,
    /// End-to-end latency, milliseconds.
    pub latency_ms: Option<f64>,
    /// Time to first token, milliseconds.
    pub ttft_ms: Option<f64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// What the call cost, USD.
    pub cost_usd: Option<f64>,
}

impl Outcome {
    /// Whether the answer was good: `success` when given, else
    /// `score >= SUCCESS_SCORE` (`false` when neither is given).
    pub fn succeeded(&self) -> bool {
        match (self.success, self.score) {
            (Some(s), _) => s,
            (None, Some(x)) => x >= SUCCESS_SCORE,
            (None, None) => false,
        }
    }

    /// End-to-end latency in seconds.
    pub fn latency_s(&self) -> Option<f64> {
        self.latency_ms.map(|x| x / 1000.0)
    }

    /// Time to first token in seconds.
    pub fn ttft_s(&self) -> Option<f64> {
        self.ttft_ms.map(|x| x / 1000.0)
    }
}

/// A located problem in a recorded file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Lowercase, user input in backticks.
    pub message: String,
    pub help: Option<String>,
}

impl RecordError {
    pub fn new(line: usize, column: usize, message: String) -> RecordError {
        RecordError {
            line,
            column,
            message,
            help: None,
        }
    }
}

impl std::fmt::Display for RecordError {
    /// `LINE:COL: message` (and `; help` when there is one).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)?;
        if let Some(h) = &self.help {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for RecordError {}

pub(crate) use routec_syntax::suggest::closest as suggest;
