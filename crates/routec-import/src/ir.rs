//! The structured form of an imported policy, and its printing as `.route`
//! text. Importers build a [`Policy`]; [`Policy::to_source`] prints it and
//! the caller formats it with the project's formatter.
//!
//! Names are made by [`Names`]: identifiers of the language
//! (`[a-z_][a-z0-9_]*`, not a reserved word), unique, and remembered next to
//! the source's spelling so the output can say where each came from.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

/// A policy in the making.
#[derive(Debug, Default)]
pub struct Policy {
    pub name: String,
    pub owner: Option<String>,
    /// Comment lines printed before the policy (without `//`).
    pub header: Vec<String>,
    pub signals: Vec<Signal>,
    pub models: Vec<Model>,
    pub slo: Vec<String>,
    pub rules: Vec<Rule>,
    pub faults: Faults,
}

#[derive(Debug, Clone)]
pub struct Signal {
    pub name: String,
    pub doc: Vec<String>,
    pub ty: SignalType,
    pub source: SignalSource,
    /// The default, as written (`none`, `false`, `0`).
    pub default: String,
}

#[derive(Debug, Clone)]
pub enum SignalType {
    Enum(Vec<String>),
    Bool,
    Int,
}

#[derive(Debug, Clone)]
pub enum SignalSource {
    Header(String),
    Metadata(String),
    /// A classifier's name; its cost is unknown to the importer.
    Classifier(String),
}

/// A literal value of a model property or parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Env(String),
    Num(f64),
    Bool(bool),
}

#[derive(Debug, Clone, Default)]
pub struct Model {
    pub name: String,
    pub doc: Vec<String>,
    pub extends: Option<String>,
    pub provider: Option<String>,
    pub endpoint: Option<Value>,
    pub upstream: Option<String>,
    pub api_key: Option<String>,
    pub params: Vec<(String, Value)>,
    /// Tokens.
    pub context: Option<u64>,
    /// Dollars per token (input, output).
    pub price: Option<(f64, f64)>,
    pub supports: Vec<String>,
    pub fallback: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Rule {
    /// Comment lines above the rule.
    pub doc: Vec<String>,
    /// `None` is `otherwise`.
    pub cond: Option<Cond>,
    pub plan: Plan,
    /// Where in the config the rule comes from (a decision, a group, a
    /// condition), for diagnostics about it.
    pub origin: Option<routec_syntax::Span>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `signal == value` (and the other comparisons); the value as written.
    Cmp(String, &'static str, String),
    In(String, Vec<String>, bool),
    /// A bool signal.
    Is(String),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    True,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Target(String),
    /// `a else b else c`
    Chain(Vec<String>),
    /// Shares in hundredths of a percent, summing to 10000.
    Split(Vec<(String, u32)>),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSet {
    /// Seconds.
    pub timeout: Option<f64>,
    pub ttft_timeout: Option<f64>,
    /// Count, classes (`429`, `5xx`, `timeout`), backoff in seconds.
    pub retry: Option<(u32, Vec<String>, Option<f64>)>,
    /// Seconds, failures.
    pub cooldown: Option<(f64, u32)>,
}

impl FaultSet {
    pub fn is_empty(&self) -> bool {
        *self == FaultSet::default()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub defaults: FaultSet,
    pub per_model: Vec<(String, FaultSet)>,
}

impl Cond {
    pub fn and(parts: Vec<Cond>) -> Cond {
        let mut flat = Vec::new();
        for p in parts {
            match p {
                Cond::True => {}
                Cond::And(inner) => flat.extend(inner),
                p => flat.push(p),
            }
        }
        match flat.len() {
            0 => Cond::True,
            1 => flat.pop().unwrap_or(Cond::True),
            _ => Cond::And(flat),
        }
    }

    fn write(&self, out: &mut String, parent: u8) {
        // Precedence: or 1, and 2, not 3.
        match self {
            Cond::Cmp(s, op, v) => {
                let _ = write!(out, "{s} {op} {v}");
            }
            Cond::In(s, vs, negated) => {
                let not = if *negated { "not " } else { "" };
                let _ = write!(out, "{s} {not}in {{ {} }}", vs.join(", "));
            }
            Cond::Is(s) => out.push_str(s),
            Cond::True => out.push_str("true"),
            Cond::Not(c) => {
                out.push_str("not ");
                c.write(out, 3);
            }
            Cond::And(cs) | Cond::Or(cs) => {
                let (word, prec) = if matches!(self, Cond::And(_)) {
                    (" and ", 2)
                } else {
                    (" or ", 1)
                };
                let paren = parent > prec;
                if paren {
                    out.push('(');
                }
                for (i, c) in cs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(word);
                    }
                    c.write(out, prec);
                }
                if paren {
                    out.push(')');
                }
            }
        }
    }

    pub fn text(&self) -> String {
        let mut s = String::new();
        self.write(&mut s, 0);
        s
    }
}

impl Plan {
    pub fn text(&self) -> String {
        match self {
            Plan::Target(m) => m.clone(),
            Plan::Chain(ms) => ms.join(" else "),
            Plan::Split(es) => format!(
                "split {{ {} }}",
                es.iter()
                    .map(|(m, s)| format!("{m} {}%", hundredths(*s)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The models the plan names, in order.
    pub fn models(&self) -> Vec<&str> {
        match self {
            Plan::Target(m) => vec![m],
            Plan::Chain(ms) => ms.iter().map(String::as_str).collect(),
            Plan::Split(es) => es.iter().map(|(m, _)| m.as_str()).collect(),
        }
    }
}

/// `1234` hundredths -> `12.34`.
fn hundredths(h: u32) -> String {
    if h.is_multiple_of(100) {
        format!("{}", h / 100)
    } else if h.is_multiple_of(10) {
        format!("{}.{}", h / 100, (h % 100) / 10)
    } else {
        format!("{}.{:02}", h / 100, h % 100)
    }
}

/// Shares from weights: hundredths of a percent that sum to exactly 10000
/// (largest remainders). `None` when the weights are not all finite and
/// non-negative or sum to zero.
pub fn shares(weights: &[f64]) -> Option<Vec<u32>> {
    let total: f64 = weights.iter().sum();
    if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || total <= 0.0 || !total.is_finite() {
        return None;
    }
    let exact: Vec<f64> = weights.iter().map(|w| w / total * 10000.0).collect();
    let mut out: Vec<u32> = exact.iter().map(|x| x.floor() as u32).collect();
    let mut left = 10000u32.saturating_sub(out.iter().sum());
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|a, b| {
        let ra = exact[*a] - exact[*a].floor();
        let rb = exact[*b] - exact[*b].floor();
        rb.total_cmp(&ra).then(a.cmp(b))
    });
    for i in order.iter().cycle() {
        if left == 0 {
            break;
        }
        out[*i] += 1;
        left -= 1;
    }
    Some(out)
}

/// A number without exponent or trailing zeros (`0.15`, `3`, `1e-7` as
/// `0.0000001`).
pub fn number(x: f64) -> String {
    let s = format!("{x:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// Seconds as a duration literal (`200ms`, `30s`).
pub fn duration(seconds: f64) -> String {
    let ms = seconds * 1000.0;
    if (ms - ms.round()).abs() < 1e-9 && ms.round() % 1000.0 != 0.0 {
        format!("{}ms", number(ms.round()))
    } else if (ms - ms.round()).abs() < 1e-9 {
        format!("{}s", number(seconds.round()))
    } else {
        format!("{}s", number(seconds))
    }
}

fn string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn value(v: &Value) -> String {
    match v {
        Value::Str(s) => string(s),
        Value::Env(n) => format!("env({})", string(n)),
        Value::Num(x) => number(*x),
        Value::Bool(b) => b.to_string(),
    }
}

fn comment_lines(out: &mut String, lines: &[String], prefix: &str, indent: &str) {
    for l in lines {
        for part in l.lines() {
            let part = part.trim_end();
            if part.is_empty() {
                let _ = writeln!(out, "{indent}{prefix}");
            } else {
                let _ = writeln!(out, "{indent}{prefix} {part}");
            }
        }
    }
}

impl Policy {
    /// The policy as `.route` text (not yet formatted).
    pub fn to_source(&self) -> String {
        let mut out = String::new();
        comment_lines(&mut out, &self.header, "//", "");
        if !self.header.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "policy {} {{", self.name);
        if let Some(o) = &self.owner {
            let _ = writeln!(out, "  owner {}", string(o));
        }
        out.push_str("}\n\n");

        for s in &self.signals {
            comment_lines(&mut out, &s.doc, "///", "");
            let ty = match &s.ty {
                SignalType::Enum(vs) => format!("enum {{ {} }}", vs.join(", ")),
                SignalType::Bool => "bool".to_owned(),
                SignalType::Int => "int".to_owned(),
            };
            let source = match &s.source {
                SignalSource::Header(h) => format!("header {}", string(h)),
                SignalSource::Metadata(m) => format!("metadata {}", string(m)),
                SignalSource::Classifier(c) => format!("classifier {} cost 0ms", string(c)),
            };
            let _ = writeln!(
                out,
                "signal {}: {ty} from {source} default {}",
                s.name, s.default
            );
        }
        if !self.signals.is_empty() {
            out.push('\n');
        }

        for m in &self.models {
            comment_lines(&mut out, &m.doc, "///", "");
            match &m.extends {
                Some(b) => {
                    let _ = writeln!(out, "model {} extends {b} {{", m.name);
                }
                None => {
                    let _ = writeln!(out, "model {} {{", m.name);
                }
            }
            if let Some(p) = &m.provider {
                let _ = writeln!(out, "  provider {p}");
            }
            if let Some(e) = &m.endpoint {
                let _ = writeln!(out, "  endpoint {}", value(e));
            }
            if let Some(u) = &m.upstream {
                let _ = writeln!(out, "  upstream {}", string(u));
            }
            if let Some(k) = &m.api_key {
                let _ = writeln!(out, "  api_key env({})", string(k));
            }
            if !m.params.is_empty() {
                let ps: Vec<String> = m
                    .params
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", value(v)))
                    .collect();
                let _ = writeln!(out, "  params {{ {} }}", ps.join(", "));
            }
            if let Some(c) = m.context {
                let _ = writeln!(out, "  context {c} tokens");
            }
            if let Some((i, o)) = m.price {
                let _ = writeln!(
                    out,
                    "  price input ${}/Mtok, output ${}/Mtok",
                    number(i * 1e6),
                    number(o * 1e6)
                );
            }
            if !m.supports.is_empty() {
                let _ = writeln!(out, "  supports {}", m.supports.join(", "));
            }
            if let Some(f) = &m.fallback {
                let _ = writeln!(out, "  fallback {f}");
            }
            out.push_str("}\n\n");
        }

        if !self.slo.is_empty() {
            out.push_str("slo {\n");
            for s in &self.slo {
                let _ = writeln!(out, "  {s}");
            }
            out.push_str("}\n\n");
        }

        out.push_str("route {\n");
        for r in &self.rules {
            comment_lines(&mut out, &r.doc, "//", "  ");
            match &r.cond {
                Some(c) => {
                    let _ = writeln!(out, "  when {} => {}", c.text(), r.plan.text());
                }
                None => {
                    let _ = writeln!(out, "  otherwise => {}", r.plan.text());
                }
            }
        }
        out.push_str("}\n");

        let faults = &self.faults;
        if !faults.defaults.is_empty() || !faults.per_model.is_empty() {
            out.push_str("\nfaults {\n");
            fault_lines(&mut out, &faults.defaults, "  ");
            for (m, f) in &faults.per_model {
                if f.is_empty() {
                    continue;
                }
                let _ = writeln!(out, "  for {m} {{");
                fault_lines(&mut out, f, "    ");
                out.push_str("  }\n");
            }
            out.push_str("}\n");
        }
        out
    }
}

fn fault_lines(out: &mut String, f: &FaultSet, indent: &str) {
    if let Some(t) = f.timeout {
        let _ = writeln!(out, "{indent}timeout {}", duration(t));
    }
    if let Some(t) = f.ttft_timeout {
        let _ = writeln!(out, "{indent}ttft timeout {}", duration(t));
    }
    if let Some((n, on, backoff)) = &f.retry {
        let _ = write!(out, "{indent}retry {n} on [{}]", on.join(", "));
        if let Some(b) = backoff {
            let _ = write!(out, " backoff {}", duration(*b));
        }
        out.push('\n');
    }
    if let Some((d, n)) = f.cooldown {
        let word = if n == 1 { "failure" } else { "failures" };
        let _ = writeln!(out, "{indent}cooldown {} after {n} {word}", duration(d));
    }
}

/// Words that cannot name anything (`grammar/route.ebnf`, RESERVED), and
/// the built-in signals.
const RESERVED: &[&str] = &[
    "and",
    "cascade",
    "else",
    "env",
    "false",
    "faults",
    "in",
    "learn",
    "model",
    "not",
    "objective",
    "optimize",
    "or",
    "otherwise",
    "policy",
    "route",
    "signal",
    "slice",
    "slo",
    "split",
    "test",
    "traffic",
    "true",
    "when",
    "prompt_tokens",
    "max_output_tokens",
    "has_images",
    "has_tools",
    "stream",
    "confidence",
];

/// An identifier of the language made from any text: lowercase ASCII
/// letters, digits and `_`; other runs become one `_`.
pub fn ident(text: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(c.to_ascii_lowercase());
        } else {
            gap = true;
        }
    }
    if out.is_empty() {
        out.push_str("unnamed");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "n_");
    }
    if RESERVED.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// Unique identifiers in one namespace.
#[derive(Debug, Default)]
pub struct Names {
    taken: HashSet<String>,
    by_source: HashMap<String, String>,
}

impl Names {
    /// A fresh identifier for `text` (`text`, then `text_2`, ...).
    pub fn fresh(&mut self, text: &str) -> String {
        let base = ident(text);
        let mut name = base.clone();
        let mut i = 2;
        while self.taken.contains(&name) {
            name = format!("{base}_{i}");
            i += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    /// The identifier of a source name, made once.
    pub fn of(&mut self, source: &str) -> String {
        if let Some(n) = self.by_source.get(source) {
            return n.clone();
        }
        let n = self.fresh(source);
        self.by_source.insert(source.to_owned(), n.clone());
        n
    }

    pub fn get(&self, source: &str) -> Option<&str> {
        self.by_source.get(source).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_sum_to_one() {
        assert_eq!(shares(&[1.0, 1.0, 1.0]).unwrap(), [3334, 3333, 3333]);
        assert_eq!(shares(&[0.7, 0.3]).unwrap(), [7000, 3000]);
        assert!(shares(&[0.0, 0.0]).is_none());
        assert_eq!(hundredths(3334), "33.34");
        assert_eq!(hundredths(7000), "70");
        assert_eq!(hundredths(7050), "70.5");
    }

    #[test]
    fn identifiers() {
        assert_eq!(ident("groq/llama-4-maverick"), "groq_llama_4_maverick");
        assert_eq!(ident("4o"), "n_4o");
        assert_eq!(ident("split"), "split_");
        assert_eq!(ident("***"), "unnamed");
        let mut n = Names::default();
        assert_eq!(n.of("A-b"), "a_b");
        assert_eq!(n.of("a.b"), "a_b_2");
        assert_eq!(n.of("A-b"), "a_b");
    }

    #[test]
    fn numbers_and_durations() {
        assert_eq!(number(0.15), "0.15");
        assert_eq!(number(1e-7), "0.0000001");
        assert_eq!(duration(0.2), "200ms");
        assert_eq!(duration(30.0), "30s");
        assert_eq!(duration(1.5), "1500ms");
        assert_eq!(duration(600.0), "600s");
    }
}
