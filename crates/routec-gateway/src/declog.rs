//! The decision log: one JSON line per request (`--decision-log PATH`).
//! Each line is a recorded-traffic line (`docs/traffic.md`: `id` and
//! `signals`, so `traffic prod = file "decisions.jsonl"` reads it) plus a
//! `decision` object with what the gateway did: the table, rule, cell,
//! plan, every attempt, the defaulted signals and the outcome.
//!
//! Lines are written by a dedicated thread from a bounded queue; when the
//! queue is full the line is dropped and counted
//! (`routec_decision_log_dropped_total`), so a slow disk never slows
//! requests. Keys and prompts are never written.
//!
//! Feedback lines (`{"id": ..., "feedback": {...}}`, `crate::feedback`) go
//! through the same queue, after their request's line.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use serde::Serialize;

use crate::exec::AttemptRecord;

/// Lines waiting to be written before new ones are dropped.
pub const QUEUE_LINES: usize = 65_536;

/// The gateway's part of a decision-log line.
#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    /// Unix time of the request's arrival, milliseconds.
    pub time_ms: u64,
    /// The table's `source_hash`.
    pub table: String,
    pub policy: String,
    /// The `model` the client asked for.
    pub requested: String,
    /// 1-based index of the rule that matched (`null` for a request that
    /// named a model).
    pub rule: Option<u32>,
    pub rule_text: Option<String>,
    /// Index into the table's `assumed.cells`, when known.
    pub cell: Option<u32>,
    /// The plan in the language's syntax (the model's name for a request
    /// that named one).
    pub plan: String,
    /// The probability with which `plan` was chosen (the split share, and
    /// the exploration probability while exploring is on); `null` for a
    /// request that named a model.
    pub propensity: Option<f64>,
    /// Whether `plan` was an exploration candidate, not the table's choice.
    pub explored: bool,
    /// The pacing rung that routed the request (0: the table itself; a
    /// step of the ladder below it otherwise); `null` without a pacing
    /// ladder or for a request that named a model.
    pub rung: Option<u32>,
    /// The model whose answer was returned.
    pub model: Option<String>,
    pub stream: bool,
    /// The HTTP status answered.
    pub status: u16,
    /// `ok`, `failed` (every plan failed), `interrupted` (a stream failed
    /// after its first byte) or `cancelled` (the client went away).
    pub outcome: String,
    pub ttft_ms: Option<f64>,
    pub latency_ms: f64,
    pub cost_usd: f64,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// Signals the routing read that took their default (missing, invalid,
    /// or a classifier that was unavailable or failed).
    pub defaulted: Vec<String>,
    /// The policy's slices the request belongs to (by the values read,
    /// defaults for the rest).
    pub slices: Vec<String>,
    pub retries: u32,
    pub fallbacks: u32,
    pub hedges: u32,
    pub escalations: u32,
    pub attempts: Vec<AttemptRecord>,
}

/// One line.
#[derive(Clone, Debug, Serialize)]
pub struct Line {
    pub id: String,
    pub signals: serde_json::Map<String, serde_json::Value>,
    pub decision: Decision,
}

/// The writer's handle.
#[derive(Debug)]
pub struct DecisionLog {
    tx: SyncSender<Msg>,
}

#[derive(Debug)]
enum Msg {
    Line(String),
    /// Flush, then answer.
    Sync(std::sync::mpsc::Sender<()>),
}

impl DecisionLog {
    /// Opens (appending, creating) the file and starts the writer thread.
    pub fn open(path: &Path) -> std::io::Result<DecisionLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let (tx, rx) = sync_channel::<Msg>(QUEUE_LINES);
        std::thread::Builder::new()
            .name("routec-decision-log".into())
            .spawn(move || write_lines(rx, BufWriter::new(file)))?;
        Ok(DecisionLog { tx })
    }

    /// Queues a line; `false` when it was dropped.
    pub fn write(&self, line: &Line) -> bool {
        let Ok(text) = serde_json::to_string(line) else {
            return false;
        };
        match self.tx.try_send(Msg::Line(text)) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }

    /// Queues a line already written as JSON (a feedback line,
    /// `routec_runtime::Feedback::line`); `false` when it was dropped.
    pub fn write_raw(&self, line: String) -> bool {
        match self.tx.try_send(Msg::Line(line)) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }

    /// Waits until every line queued so far is written and flushed.
    pub fn sync(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        if self.tx.send(Msg::Sync(tx)).is_ok() {
            let _ = rx.recv_timeout(std::time::Duration::from_secs(10));
        }
    }
}

fn write_lines(rx: Receiver<Msg>, mut out: BufWriter<std::fs::File>) {
    let mut acks = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut ok = true;
        // Write whatever is queued, then flush once.
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Line(line) => ok &= writeln!(out, "{line}").is_ok(),
                Msg::Sync(ack) => acks.push(ack),
            }
            next = rx.try_recv().ok();
        }
        ok &= out.flush().is_ok();
        if !ok {
            eprintln!("routec serve: cannot write the decision log");
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
    let _ = out.flush();
}

/// The decision log's routed requests that arrived at or after `since_ms`
/// (Unix milliseconds), with the feedback lines on them, in the file's
/// order, as JSON Lines of recorded traffic; and how many requests. Lines
/// that are not the gateway's (not JSON, or neither a routed decision nor
/// feedback) are skipped. Reads the whole file: a re-fit is rare.
pub fn window(path: &Path, since_ms: u64) -> std::io::Result<(String, usize)> {
    use std::io::BufRead;
    let file = std::fs::File::open(path)?;
    let mut kept = std::collections::HashSet::new();
    let mut out = String::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let Some(id) = v.get("id").and_then(serde_json::Value::as_str) else {
            continue;
        };
        let keep = match (v.get("decision"), v.get("feedback")) {
            (Some(d), _) => {
                let routed = d.get("rule").is_some_and(|r| !r.is_null());
                let recent = d
                    .get("time_ms")
                    .and_then(serde_json::Value::as_u64)
                    .is_some_and(|t| t >= since_ms);
                routed && recent && kept.insert(id.to_owned())
            }
            (None, Some(_)) => kept.contains(id),
            (None, None) => false,
        };
        if keep {
            out.push_str(&line);
            out.push('\n');
        }
    }
    let requests = kept.len();
    Ok((out, requests))
}
