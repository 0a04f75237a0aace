//! The JSON Lines reader: one request per line, strictly shaped (unknown
//! fields, duplicate keys and wrong types are errors), every error located by
//! its 1-based line and column. Knows nothing of any policy.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::{LoggedDecision, Outcome, OutcomeEntry, Record, RecordError, SignalEntry, suggest};

/// The most errors [`parse`] reports before it stops reading.
pub const MAX_ERRORS: usize = 100;

/// The longest line read, in bytes.
pub const MAX_LINE_BYTES: usize = 1 << 20;

const RECORD_FIELDS: &[&str] = &["id", "signals", "outcomes", "decision", "feedback"];
const OUTCOME_FIELDS: &[&str] = &[
    "success",
    "score",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "cost_usd",
];
const FEEDBACK_FIELDS: &[&str] = &[
    "model",
    "source",
    "success",
    "score",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "judge_cost_usd",
];

/// Reads a whole file. Blank lines are skipped; a leading byte-order mark and
/// `\r\n` line ends are accepted. Either every line is a valid record, or the
/// errors (at most [`MAX_ERRORS`], in line order) are returned.
pub fn parse(text: &str) -> Result<Vec<Record>, Vec<RecordError>> {
    let (records, errors) = parse_all(text);
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

/// [`parse`], keeping the good records next to the errors (so that a caller
/// can bind them and report every problem at once).
pub fn parse_all(text: &str) -> (Vec<Record>, Vec<RecordError>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records: Vec<Record> = Vec::new();
    let mut errors = Vec::new();
    // The latest request line of each id, for the feedback that follows.
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(i + 1, line) {
            Ok(r) if r.feedback => {
                let target = r.id.as_ref().and_then(|id| by_id.get(id)).copied();
                match (
                    target.and_then(|t| records.get_mut(t)),
                    r.outcomes.into_iter().next(),
                ) {
                    (Some(request), Some(outcome)) => {
                        // Later feedback on the same model replaces earlier,
                        // except that a judge's score never replaces a
                        // client's feedback (`source`).
                        let client_said = |o: &OutcomeEntry| {
                            o.model == outcome.model && o.line != request.line && !o.judged
                        };
                        if !(outcome.judged && request.outcomes.iter().any(client_said)) {
                            request.outcomes.retain(|o| o.model != outcome.model);
                            request.outcomes.push(outcome);
                        }
                    }
                    _ => {
                        let mut e = RecordError::new(
                            i + 1,
                            1,
                            format!(
                                "feedback for `{}`, which no earlier line records",
                                r.id.as_deref().unwrap_or_default()
                            ),
                        );
                        e.help = Some(
                            "feedback joins the nearest earlier valid line with the same `id`"
                                .into(),
                        );
                        errors.push(e);
                    }
                }
            }
            Ok(r) => {
                if let Some(id) = &r.id {
                    by_id.insert(id.clone(), records.len());
                }
                records.push(r);
            }
            Err(mut e) => errors.append(&mut e),
        }
        if errors.len() >= MAX_ERRORS {
            errors.truncate(MAX_ERRORS);
            errors.push(RecordError::new(
                i + 1,
                1,
                format!("too many errors ({MAX_ERRORS}); stopped reading"),
            ));
            break;
        }
    }
    (records, errors)
}

/// Reads one line (without its line end) as record number `line`.
pub fn parse_line(line: usize, text: &str) -> Result<Record, Vec<RecordError>> {
    let mut cx = LineCx {
        line,
        text,
        errors: Vec::new(),
    };
    if text.len() > MAX_LINE_BYTES {
        cx.error_at(
            0,
            format!("line is longer than {MAX_LINE_BYTES} bytes"),
            None,
        );
        return Err(cx.errors);
    }
    let record = cx.record();
    match record {
        Some(r) if cx.errors.is_empty() => Ok(r),
        _ => {
            cx.errors.sort_by_key(|e| e.column);
            Err(cx.errors)
        }
    }
}

/// An object's entries in order, with duplicates kept.
struct Entries<'a>(Vec<(Key<'a>, &'a RawValue)>);

/// A key and, when it has no escapes, its text inside the line (to locate it).
struct Key<'a> {
    text: Cow<'a, str>,
    borrowed: Option<&'a str>,
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key {
                    text: Cow::Borrowed(v),
                    borrowed: Some(v),
                })
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key {
                    text: Cow::Owned(v.to_owned()),
                    borrowed: None,
                })
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<Key<'de>>()? {
                    let v: &'de RawValue = map.next_value()?;
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

struct LineCx<'a> {
    line: usize,
    text: &'a str,
    errors: Vec<RecordError>,
}

/// What a JSON value is, for messages.
fn describe(raw: &RawValue) -> &'static str {
    match raw.get().trim_start().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

impl<'a> LineCx<'a> {
    /// The byte offset of `part` (a slice of this line) in the line.
    fn offset_of(&self, part: &str) -> usize {
        let start = self.text.as_ptr() as usize;
        let p = part.as_ptr() as usize;
        if p >= start && p <= start + self.text.len() {
            p - start
        } else {
            0
        }
    }

    /// The 1-based column (in characters) of a byte offset.
    fn column(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.text
            .get(..offset)
            .map_or(offset, |s| s.chars().count())
            + 1
    }

    fn error_at(&mut self, offset: usize, message: String, help: Option<String>) {
        let column = self.column(offset);
        let mut e = RecordError::new(self.line, column, message);
        e.help = help;
        self.errors.push(e);
    }

    /// The offset of a key (its opening quote), or of its value if escaped.
    fn key_offset(&self, key: &Key<'_>, value: &RawValue) -> usize {
        match key.borrowed {
            Some(k) => self.offset_of(k).saturating_sub(1),
            None => self.offset_of(value.get()),
        }
    }

    /// Reads an object's entries; reports duplicates. `what` names the object
    /// in messages.
    fn entries(&mut self, raw: &'a str, what: &str) -> Option<Vec<(Key<'a>, &'a RawValue)>> {
        match serde_json::from_str::<Entries<'a>>(raw) {
            Ok(Entries(entries)) => {
                let mut seen: Vec<&str> = Vec::new();
                let mut dups = Vec::new();
                for (k, v) in &entries {
                    if seen.contains(&k.text.as_ref()) {
                        dups.push((self.key_offset(k, v), k.text.to_string()));
                    } else {
                        seen.push(k.text.as_ref());
                    }
                }
                for (at, name) in dups {
                    self.error_at(at, format!("duplicate key `{name}` in {what}"), None);
                }
                Some(entries)
            }
            Err(e) => {
                // Only reached for the line itself (nested values were
                // already checked as JSON): locate the syntax error.
                let base = self.offset_of(raw);
                let msg = json_message(&e);
                let col = e.column().saturating_sub(1);
                let at = if e.line() <= 1 { base + col } else { base };
                self.error_at(at, msg, None);
                None
            }
        }
    }

    /// Reads the fields of a decision that off-policy estimates read
    /// (`plan`, `propensity`, `explored`, `model`, `cost_usd`,
    /// `latency_ms`), checking their types; the others are the schema's.
    fn decision(&mut self, raw: &'a RawValue) -> Option<LoggedDecision> {
        let entries = self.entries(raw.get(), "`decision`")?;
        let mut d = LoggedDecision::default();
        let mut plan = None;
        for (k, v) in entries {
            match k.text.as_ref() {
                "plan" => match serde_json::from_str::<String>(v.get()) {
                    Ok(p) => plan = Some(p),
                    Err(_) => self.wrong_type(v, "`plan`", "a plan (a string)"),
                },
                "propensity" => match serde_json::from_str::<Option<f64>>(v.get()) {
                    Ok(None) => {}
                    Ok(Some(p)) if p > 0.0 && p <= 1.0 => d.propensity = Some(p),
                    Ok(Some(p)) => {
                        let at = self.offset_of(v.get());
                        self.error_at(
                            at,
                            format!("`propensity` must be within (0, 1], got {p}"),
                            Some("the probability with which the plan was chosen".into()),
                        );
                    }
                    Err(_) => self.wrong_type(v, "`propensity`", "a number or null"),
                },
                "explored" => match serde_json::from_str::<bool>(v.get()) {
                    Ok(b) => d.explored = b,
                    Err(_) => self.wrong_type(v, "`explored`", "a boolean"),
                },
                "model" => match serde_json::from_str::<Option<String>>(v.get()) {
                    Ok(m) => d.model = m,
                    Err(_) => self.wrong_type(v, "`model`", "a model's name or null"),
                },
                "cost_usd" => {
                    d.cost_usd = self.number(v, "`cost_usd`", "a number >= 0", |x| x >= 0.0)
                }
                "latency_ms" => {
                    d.latency_ms = self.number(v, "`latency_ms`", "a number >= 0", |x| x >= 0.0);
                }
                _ => {}
            }
        }
        match plan {
            Some(p) => d.plan = p,
            None => {
                let at = self.offset_of(raw.get());
                self.error_at(
                    at,
                    "the `decision` has no `plan`".into(),
                    Some("a decision-log line records the plan that ran, as `routec serve` writes it".into()),
                );
            }
        }
        Some(d)
    }

    fn record(&mut self) -> Option<Record> {
        // The whole line must be valid JSON before its shape is looked at.
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(self.text) {
            let at = self.byte_of_column(e.column());
            self.error_at(at, json_message(&e), None);
            return None;
        }
        let text = self.text;
        if !text.trim_start().starts_with('{') {
            let raw: Option<&RawValue> = serde_json::from_str(text).ok();
            let got = raw.map_or("not an object", describe);
            let at = text.len() - text.trim_start().len();
            self.error_at(
                at,
                format!("a record is a JSON object, got {got}"),
                Some("write one object per line: {\"signals\": {...}, \"outcomes\": {...}}".into()),
            );
            return None;
        }
        let entries = self.entries(text, "the record")?;
        let mut id = None;
        let mut signals = None;
        let mut outcomes = Vec::new();
        let mut feedback = None;
        let mut decision = None;
        for (k, v) in &entries {
            match k.text.as_ref() {
                "id" => match serde_json::from_str::<String>(v.get()) {
                    Ok(s) => id = Some(s),
                    Err(_) => self.wrong_type(v, "`id`", "a string"),
                },
                "signals" => signals = self.signals(v),
                "outcomes" => outcomes = self.outcomes(v).unwrap_or_default(),
                "feedback" => feedback = self.feedback(v),
                // What `routec serve` did with the request (a decision-log
                // line): read by off-policy estimates, not by the compiler.
                "decision" => {
                    if describe(v) == "an object" {
                        decision = self.decision(v);
                    } else {
                        self.wrong_type(v, "`decision`", "an object");
                    }
                }
                other => {
                    let at = self.key_offset(k, v);
                    self.unknown_field(at, other, "a record", RECORD_FIELDS);
                }
            }
        }
        if entries.iter().any(|(k, _)| k.text == "feedback") {
            for (k, v) in &entries {
                let name = k.text.as_ref();
                if matches!(name, "signals" | "outcomes" | "decision") {
                    let at = self.key_offset(k, v);
                    self.error_at(
                        at,
                        format!("`{name}` does not belong on a feedback line"),
                        Some(
                            "a feedback line is `{\"id\": ..., \"feedback\": {...}}`, after its request's line"
                                .into(),
                        ),
                    );
                }
            }
            if id.is_none() {
                let at = text.len() - text.trim_start().len();
                self.error_at(
                    at,
                    "a feedback line needs the `id` of its request".into(),
                    Some("write `\"id\": \"req-...\"`, the request's `x-request-id`".into()),
                );
            }
            return Some(Record {
                line: self.line,
                id,
                signals: Vec::new(),
                outcomes: feedback.into_iter().collect(),
                feedback: true,
                decision: None,
            });
        }
        if !entries.iter().any(|(k, _)| k.text == "signals") {
            let at = text.len() - text.trim_start().len();
            self.error_at(
                at,
                "missing field `signals`".into(),
                Some("every record has a `signals` object, which may be empty: `{}`".into()),
            );
        }
        Some(Record {
            line: self.line,
            id,
            signals: signals.unwrap_or_default(),
            outcomes,
            feedback: false,
            decision,
        })
    }

    /// The byte offset of serde_json's 1-based column on this line.
    fn byte_of_column(&self, column: usize) -> usize {
        // serde_json counts columns in bytes.
        column.saturating_sub(1).min(self.text.len())
    }

    fn wrong_type(&mut self, v: &RawValue, what: &str, expected: &str) {
        let at = self.offset_of(v.get());
        self.error_at(
            at,
            format!("{what} must be {expected}, got {}", describe(v)),
            None,
        );
    }

    fn unknown_field(&mut self, at: usize, name: &str, within: &str, known: &[&str]) {
        let help = match suggest(name, known.iter().copied()) {
            Some(s) => Some(format!("did you mean `{s}`?")),
            None => Some(format!(
                "the fields of {within} are {}",
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
        self.error_at(at, format!("unknown field `{name}` in {within}"), help);
    }

    fn signals(&mut self, v: &'a RawValue) -> Option<Vec<SignalEntry>> {
        if !v.get().starts_with('{') {
            self.wrong_type(v, "`signals`", "an object of signal values");
            return None;
        }
        let entries = self.entries(v.get(), "`signals`")?;
        let mut out = Vec::new();
        for (k, val) in entries {
            let column = self.column(self.key_offset(&k, val));
            let value_column = self.column(self.offset_of(val.get()));
            let value: serde_json::Value = match serde_json::from_str(val.get()) {
                Ok(x) => x,
                Err(_) => continue,
            };
            match value {
                serde_json::Value::String(_)
                | serde_json::Value::Number(_)
                | serde_json::Value::Bool(_) => out.push(SignalEntry {
                    name: k.text.into_owned(),
                    value,
                    column,
                    value_column,
                }),
                _ => self.wrong_type(
                    val,
                    &format!("signal `{}`", k.text),
                    "a string, a number or a boolean",
                ),
            }
        }
        Some(out)
    }

    fn outcomes(&mut self, v: &'a RawValue) -> Option<Vec<OutcomeEntry>> {
        if !v.get().starts_with('{') {
            self.wrong_type(v, "`outcomes`", "an object keyed by model name");
            return None;
        }
        let entries = self.entries(v.get(), "`outcomes`")?;
        let mut out = Vec::new();
        for (k, val) in entries {
            let column = self.column(self.key_offset(&k, val));
            if !val.get().starts_with('{') {
                self.wrong_type(val, &format!("the outcome of `{}`", k.text), "an object");
                continue;
            }
            let within = format!("the outcome of `{}`", k.text);
            if let Some(Read { outcome, .. }) = self.outcome(val, &within, false) {
                out.push(OutcomeEntry {
                    model: k.text.into_owned(),
                    line: self.line,
                    column,
                    outcome,
                    judged: false,
                });
            }
        }
        Some(out)
    }

    /// A `feedback` object: an outcome naming its model.
    fn feedback(&mut self, v: &'a RawValue) -> Option<OutcomeEntry> {
        if !v.get().starts_with('{') {
            self.wrong_type(v, "`feedback`", "an object");
            return None;
        }
        let Read {
            model,
            outcome,
            judged,
        } = self.outcome(v, "the feedback", true)?;
        let (model, column) = model?;
        Some(OutcomeEntry {
            model,
            line: self.line,
            column,
            outcome,
            judged,
        })
    }

    /// The fields of an outcome (and, for `feedback`, its `model` with the
    /// column of its value, and whether it is a judge's: its `source` is
    /// `judge`; absent, the client's; any other value is an error, as is a
    /// `judge_cost_usd` without the judge's `source`).
    fn outcome(&mut self, v: &'a RawValue, within: &str, feedback: bool) -> Option<Read> {
        let entries = self.entries(v.get(), within)?;
        let mut o = Outcome::default();
        let mut model = None;
        let mut judged = false;
        // Reported after the outcome's own problems.
        let mut bad_source = None;
        let before = self.errors.len();
        for (k, val) in &entries {
            let field = k.text.as_ref();
            let what = format!("`{field}`");
            match field {
                "model" if feedback => match serde_json::from_str::<String>(val.get()) {
                    Ok(m) if !m.is_empty() => {
                        model = Some((m, self.column(self.offset_of(val.get()))));
                    }
                    Ok(_) => {
                        let at = self.offset_of(val.get());
                        self.error_at(
                            at,
                            "`model` is empty".into(),
                            Some("name the model whose answer is judged".into()),
                        );
                    }
                    Err(_) => self.wrong_type(val, "`model`", "a model's name (a string)"),
                },
                "success" => match serde_json::from_str::<bool>(val.get()) {
                    Ok(b) => o.success = Some(b),
                    Err(_) => self.wrong_type(val, &what, "a boolean"),
                },
                "score" => {
                    o.score = self.number(val, &what, "a number from 0 to 1", |x| {
                        (0.0..=1.0).contains(&x)
                    })
                }
                "source" if feedback => match serde_json::from_str::<String>(val.get()) {
                    Ok(s) if s == routec_runtime::JUDGE_SOURCE => judged = true,
                    _ => bad_source = Some(self.offset_of(val.get())),
                },
                "judge_cost_usd" if feedback => {
                    self.number(val, &what, "a number >= 0", |x| x >= 0.0);
                }
                "latency_ms" | "ttft_ms" | "cost_usd" => {
                    let x = self.number(val, &what, "a number >= 0", |x| x >= 0.0);
                    match field {
                        "latency_ms" => o.latency_ms = x,
                        "ttft_ms" => o.ttft_ms = x,
                        _ => o.cost_usd = x,
                    }
                }
                "input_tokens" | "output_tokens" => {
                    // A whole number (`12.0` too, as JSON Schema's `integer`).
                    let x = match serde_json::from_str::<f64>(val.get()) {
                        Ok(n) if n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_992.0 => {
                            Some(n as u64)
                        }
                        _ => {
                            self.wrong_type(val, &what, "a whole number of tokens >= 0");
                            None
                        }
                    };
                    if field == "input_tokens" {
                        o.input_tokens = x;
                    } else {
                        o.output_tokens = x;
                    }
                }
                other => {
                    let at = self.key_offset(k, val);
                    let known = if feedback {
                        FEEDBACK_FIELDS
                    } else {
                        OUTCOME_FIELDS
                    };
                    self.unknown_field(at, other, within, known);
                }
            }
        }
        if feedback && !entries.iter().any(|(k, _)| k.text == "model") {
            let at = self.offset_of(v.get());
            self.error_at(
                at,
                "the feedback has no `model`".into(),
                Some("name the model whose answer is judged: `\"model\": \"small\"`".into()),
            );
        }
        if o.success.is_none() && o.score.is_none() && self.errors.len() == before {
            let at = self.offset_of(v.get());
            self.error_at(
                at,
                format!("{within} has neither `success` nor `score`"),
                Some("add `\"success\": true|false` or `\"score\": 0..1`".into()),
            );
        }
        if let Some(at) = bad_source {
            self.error_at(
                at,
                format!("`source` is `{}` or absent", routec_runtime::JUDGE_SOURCE),
                Some(
                    "leave `source` out for the client's feedback; `\"source\": \"judge\"` marks a judge's score"
                        .into(),
                ),
            );
        }
        if feedback
            && !judged
            && let Some((k, val)) = entries.iter().find(|(k, _)| k.text == "judge_cost_usd")
        {
            let at = self.key_offset(k, val);
            self.error_at(
                at,
                "`judge_cost_usd` belongs to a judge's feedback".into(),
                Some("add `\"source\": \"judge\"`, or leave the judge's cost out".into()),
            );
        }
        Some(Read {
            model,
            outcome: o,
            judged,
        })
    }

    fn number(
        &mut self,
        v: &RawValue,
        what: &str,
        expected: &str,
        ok: impl Fn(f64) -> bool,
    ) -> Option<f64> {
        match serde_json::from_str::<f64>(v.get()) {
            Ok(x) if x.is_finite() && ok(x) => Some(x),
            Ok(x) => {
                let at = self.offset_of(v.get());
                self.error_at(at, format!("{what} must be {expected}, got {x}"), None);
                None
            }
            Err(_) => {
                self.wrong_type(v, what, expected);
                None
            }
        }
    }
}

/// What [`LineCx::outcome`] read: a feedback's `model` (with the column of
/// its value), the outcome, and whether a judge reported it.
struct Read {
    model: Option<(String, usize)>,
    outcome: Outcome,
    judged: bool,
}

/// serde_json's message without its " at line L column C" suffix.
fn json_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    let msg = match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    };
    let msg = match msg.as_str() {
        "expected ident" | "expected value" => "expected a JSON value".to_string(),
        _ => msg,
    };
    format!("invalid JSON: {msg}")
}
