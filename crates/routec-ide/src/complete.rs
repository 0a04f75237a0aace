//! Completion from the tokens before the cursor, so that it works on
//! half-typed text the parser could not make sense of. The context is the
//! chain of open `{` blocks (each known by the words that opened it) and the
//! words of the current statement; names and enum values come from the
//! checker's resolved policy (what could be resolved of a broken file).

use routec_check::ir::{Policy, SignalType};
use routec_syntax::Span;
use routec_syntax::lexer::{Token, lex};
use routec_syntax::words;

use crate::show;
use crate::text::clamp;
use crate::{Analysis, Completion, CompletionKind};

const ITEMS: &[(&str, &str)] = &[
    (
        "policy",
        "policy ${1:name} {\n  owner \"${2:team}\"\n  baseline ${3:large}\n}",
    ),
    (
        "signal",
        "signal ${1:name}: ${2:enum { ${3:a, b} }} from header \"${4:x-header}\" default ${5:a}",
    ),
    (
        "model",
        "model ${1:name} {\n  provider ${2:openai}\n  $0\n}",
    ),
    ("slice", "slice ${1:name} = ${2:condition}"),
    (
        "objective",
        "objective weighted { latency ${1:0.5}, cost ${2:0.3}, quality ${3:0.2} }",
    ),
    ("slo", "slo {\n  $0\n}"),
    (
        "route",
        "route {\n  when ${1:condition} => ${2:small}\n  otherwise => ${3:large}\n}",
    ),
    ("faults", "faults {\n  $0\n}"),
    ("learn", "learn {\n  $0\n}"),
    ("traffic", "traffic ${1:name} {\n  $0\n}"),
    ("test", "test \"${1:name}\" {\n  $0\n}"),
];

// The words come from the language's one table (`routec_syntax::words`).
const MODEL_PROPS: &[&str] = words::MODEL_PROPERTIES;
const POLICY_PROPS: &[&str] = words::POLICY_PROPERTIES;
const SLO_METRICS: &[&str] = words::METRICS;
const FAULT_PROPS: &[&str] = words::FAULT_SETTINGS;
const LEARN_PROPS: &[&str] = words::LEARN_SETTINGS;
const TEST_PROPS: &[&str] = words::TEST_STATEMENTS;
const SOURCES: &[&str] = words::SIGNAL_SOURCES;
/// Units of a capacity (`40 qps`), a rate limit or a load.
const LOAD_UNITS: &[(&str, &str)] = &[
    ("qps", "requests per second"),
    ("req/s", "requests per second"),
    ("req/m", "requests per minute"),
    ("tok/s", "tokens (prompt and answer) per second"),
    ("tok/m", "tokens (prompt and answer) per minute"),
];
const PLAN_FORMS: &[(&str, &str)] = &[
    (
        "cascade",
        "cascade ${1:small} -> ${2:large} accept when confidence >= ${3:70%}",
    ),
    ("split", "split { ${1:a} ${2:50%}, ${3:b} ${4:50%} }"),
    ("optimize", "optimize [${1:a}, ${2:b}] by ${3:task}"),
];
const PERCENTILES: &[&str] = words::PERCENTILES;

/// Units by what they measure.
const DURATION_UNITS: &[(&str, &str)] = &[
    ("ms", "milliseconds"),
    ("s", "seconds"),
    ("m", "minutes"),
    ("h", "hours"),
    ("d", "days"),
];
const RATIO_UNITS: &[(&str, &str)] = &[("%", "percent")];
const COUNT_UNITS: &[(&str, &str)] = &[("k", "thousand"), ("M", "million")];

#[derive(Clone, Copy, Debug, PartialEq)]
struct Tk<'s> {
    token: Token<'s>,
    span: Span,
}

impl<'s> Tk<'s> {
    fn word(&self) -> Option<&'s str> {
        match self.token {
            Token::Ident(w) => Some(w),
            _ => None,
        }
    }
}

/// A `{` block: the words of the statement that opened it.
#[derive(Debug)]
struct Frame<'s> {
    head: Vec<Tk<'s>>,
}

impl Frame<'_> {
    fn first(&self) -> &str {
        self.head.first().and_then(Tk::word).unwrap_or("")
    }
    /// The last word before the `{`.
    fn last(&self) -> &str {
        self.head.iter().rev().find_map(Tk::word).unwrap_or("")
    }
    fn words(&self) -> Vec<&str> {
        self.head.iter().filter_map(Tk::word).collect()
    }
}

struct Out<'a> {
    list: Vec<Completion>,
    replace: Span,
    policy: &'a Policy,
}

impl Out<'_> {
    fn push(&mut self, label: &str, kind: CompletionKind, detail: Option<String>) {
        if self.list.iter().any(|c| c.label == label && c.kind == kind) {
            return;
        }
        self.list.push(Completion {
            label: label.to_owned(),
            kind,
            detail,
            insert_text: None,
            replace: self.replace,
        });
    }
    fn words(&mut self, words: &[&str], kind: CompletionKind) {
        for w in words {
            self.push(w, kind, None);
        }
    }
    fn snippet(&mut self, label: &str, body: &str) {
        self.list.push(Completion {
            label: label.to_owned(),
            kind: CompletionKind::Snippet,
            detail: Some(format!("{label} …")),
            insert_text: Some(body.to_owned()),
            replace: self.replace,
        });
    }
    fn models(&mut self) {
        let policy = self.policy;
        for m in &policy.models {
            self.push(&m.name, CompletionKind::Model, m.provider.clone());
        }
    }
    fn signals(&mut self, filter: impl Fn(&SignalType) -> bool) {
        let policy = self.policy;
        for s in &policy.signals {
            if filter(&s.ty) {
                self.push(
                    &s.name,
                    CompletionKind::Signal,
                    Some(show::signal_type(&s.ty)),
                );
            }
        }
    }
    fn slices(&mut self) {
        let policy = self.policy;
        for s in &policy.slices {
            self.push(&s.name, CompletionKind::Slice, None);
        }
    }
    fn traffic(&mut self) {
        let policy = self.policy;
        for t in &policy.traffic {
            self.push(&t.name, CompletionKind::Traffic, None);
        }
    }
    /// Drops candidates already written in this list (`in { a, b }`, a
    /// table, a mix, `given`), except the word being typed.
    fn drop_written(&mut self, stmt: &[Tk]) {
        let written: Vec<&str> = stmt.iter().filter_map(Tk::word).collect();
        self.list.retain(|c| !written.contains(&c.label.as_str()));
    }

    /// The values of signal `name`: enum variants, or `true`/`false`.
    fn values_of(&mut self, name: &str) {
        let policy = self.policy;
        let Some(sig) = policy.signals.iter().find(|s| s.name == name) else {
            return;
        };
        match &sig.ty {
            SignalType::Enum(vs) => {
                for v in vs {
                    self.push(v, CompletionKind::EnumValue, Some(format!("{name} value")));
                }
            }
            SignalType::Bool => self.words(&["true", "false"], CompletionKind::Keyword),
            _ => {}
        }
    }
    fn units(&mut self, units: &[(&str, &str)]) {
        for (u, d) in units {
            self.push(u, CompletionKind::Unit, Some((*d).to_owned()));
        }
    }
    /// The start of a condition: signals, slices, `not`.
    fn condition(&mut self) {
        self.signals(|_| true);
        self.slices();
        self.words(&["not"], CompletionKind::Keyword);
    }
    /// Where a plan goes: models and the plan forms.
    fn plan(&mut self) {
        self.models();
        for (label, body) in PLAN_FORMS {
            self.snippet(label, body);
        }
    }
}

pub(crate) fn completions(analysis: &Analysis, offset: usize) -> Vec<Completion> {
    let text = analysis.text();
    let offset = clamp(text, offset);
    // Completion looks back at most 1 MiB (about 25,000 lines): keeps it
    // fast on huge files; a block opened further back is not seen.
    let window = clamp(text, offset.saturating_sub(1 << 20));
    let tokens: Vec<Tk> = lex(&text[window..offset])
        .into_iter()
        .map(|(token, span)| Tk {
            token,
            span: Span::new(span.start as usize + window, span.end as usize + window),
        })
        .filter(|t| !matches!(t.token, Token::Comment(_) | Token::DocComment(_)))
        .collect();
    let mut out = Out {
        list: Vec::new(),
        replace: Span::at(offset),
        policy: analysis.policy(),
    };
    let mut tokens = tokens;
    // Inside a comment or a string: nothing.
    if let Some(last) = lex(line_before(text, offset)).last()
        && last.1.end as usize == line_before(text, offset).len()
        && matches!(
            last.0,
            Token::Comment(_) | Token::DocComment(_) | Token::UnterminatedString(_)
        )
    {
        return Vec::new();
    }
    // The partial word under the cursor.
    if let Some(last) = tokens.last().copied()
        && last.span.end as usize == offset
    {
        match last.token {
            Token::Ident(_) => {
                out.replace = last.span;
                tokens.pop();
            }
            Token::Number(n) => {
                let digits = n
                    .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
                    .unwrap_or(n.len());
                out.replace = Span::new(last.span.start as usize + digits, offset);
                let (frames, stmt) = context(&tokens[..tokens.len() - 1]);
                number_units(&mut out, &frames, &stmt);
                return out.list;
            }
            Token::Money(m) => {
                if !m.contains('/') {
                    out.units(COUNT_UNITS);
                    out.push(
                        "/Mtok",
                        CompletionKind::Unit,
                        Some("per million tokens".into()),
                    );
                    out.push("/request", CompletionKind::Unit, Some("per request".into()));
                }
                return out.list;
            }
            _ => {}
        }
    }
    let (frames, stmt) = context(&tokens);
    decide(&mut out, &frames, &stmt);
    out.list
}

fn line_before(text: &str, offset: usize) -> &str {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    &text[start..offset]
}

/// The open blocks at the cursor and the tokens of the current statement
/// (since the last newline or `{` of the innermost block, or `,` inside an
/// inline list).
fn context<'s>(tokens: &[Tk<'s>]) -> (Vec<Frame<'s>>, Vec<Tk<'s>>) {
    let mut frames: Vec<Frame> = Vec::new();
    // The statement of each level: level 0 is the top level.
    let mut stmts: Vec<Vec<Tk>> = vec![Vec::new()];
    let mut brackets = 0usize;
    for t in tokens {
        match t.token {
            Token::LBrace => {
                let head = stmts.last().cloned().unwrap_or_default();
                frames.push(Frame { head });
                stmts.push(Vec::new());
            }
            Token::RBrace => {
                // A block closed on the statement's line (`enum { a, b }`)
                // stays part of the statement, braces included.
                let inner = if frames.pop().is_some() {
                    stmts.pop().unwrap_or_default()
                } else {
                    Vec::new()
                };
                if let Some(s) = stmts.last_mut() {
                    if !s.is_empty() {
                        s.push(Tk {
                            token: Token::LBrace,
                            span: t.span,
                        });
                        s.extend(inner);
                    }
                    s.push(*t);
                }
            }
            Token::Newline if brackets == 0 => {
                if let Some(s) = stmts.last_mut() {
                    s.clear();
                }
            }
            Token::Newline => {}
            _ => {
                match t.token {
                    Token::LBracket | Token::LParen => brackets += 1,
                    Token::RBracket | Token::RParen => brackets = brackets.saturating_sub(1),
                    _ => {}
                }
                if let Some(s) = stmts.last_mut() {
                    s.push(*t);
                }
            }
        }
    }
    (frames, stmts.pop().unwrap_or_default())
}

/// The units a number can take here: from the signal it is compared with
/// or given to, or from the block and statement it is in.
fn number_units(out: &mut Out, frames: &[Frame], stmt: &[Tk]) {
    let signal_units = |out: &mut Out, name: &str| -> bool {
        let Some(sig) = out.policy.signals.iter().find(|s| s.name == name) else {
            return false;
        };
        match sig.ty {
            SignalType::Duration => out.units(DURATION_UNITS),
            SignalType::Ratio => out.units(RATIO_UNITS),
            SignalType::Tokens | SignalType::Int => out.units(COUNT_UNITS),
            _ => return false,
        }
        true
    };
    // `signal < 3`, `signal: 3`, `signal 3` (a traffic constant): that signal's units.
    let n = stmt.len();
    let before_op = match stmt.last().map(|t| t.token) {
        Some(
            Token::Lt
            | Token::Le
            | Token::Gt
            | Token::Ge
            | Token::EqEq
            | Token::NotEq
            | Token::Colon,
        ) => n.checked_sub(2).and_then(|i| stmt[i].word()),
        _ => None,
    };
    if let Some(name) = before_op
        && signal_units(out, name)
    {
        return;
    }
    let first = stmt.first().and_then(Tk::word).unwrap_or("");
    let outer = frames.first().map_or("", Frame::first);
    let inner = frames.last().map_or("", Frame::first);
    match (outer, first) {
        ("model", "latency") if stmt.get(1).and_then(Tk::word) == Some("at") && n <= 2 => {
            out.units(COUNT_UNITS)
        }
        ("slo", "ttft" | "latency") | ("model", "latency") | ("faults", _) => {
            out.units(DURATION_UNITS)
        }
        ("slo", "quality" | "share") | ("model", "quality") => out.units(RATIO_UNITS),
        // `capacity 40k`: the scale; the unit is a word after a space.
        ("model", "capacity" | "rate") => out.units(COUNT_UNITS),
        ("model", "context") => {
            out.units(COUNT_UNITS);
            out.push("tokens", CompletionKind::Unit, Some("a token count".into()));
        }
        ("traffic", _) if frames.len() >= 2 => out.units(RATIO_UNITS),
        ("traffic", "qps") => out.units(COUNT_UNITS),
        ("traffic", name) if signal_units(out, name) => {}
        ("learn", "explore") if stmt.len() <= 2 => out.units(RATIO_UNITS),
        // `judge grader sample 5% above 10k qps`: shares and rates.
        ("learn", "judge") => {
            out.units(RATIO_UNITS);
            out.units(COUNT_UNITS);
        }
        // `drift latency > 50%`: a percentage (`kl` takes a bare number
        // and `nats` after a space); the window after `over` a duration.
        ("learn", "drift") if !stmt.iter().any(|t| t.word() == Some("over")) => {
            if stmt.get(1).and_then(Tk::word) != Some("kl") {
                out.units(RATIO_UNITS);
            }
        }
        ("learn", _) => out.units(DURATION_UNITS),
        _ if inner == "split" => out.units(RATIO_UNITS),
        _ => {
            out.units(RATIO_UNITS);
            out.units(DURATION_UNITS);
            out.units(COUNT_UNITS);
        }
    }
}

fn decide(out: &mut Out, frames: &[Frame], stmt: &[Tk]) {
    let words: Vec<&str> = stmt.iter().filter_map(Tk::word).collect();
    let last_tok = stmt.last().map(|t| t.token);
    let last_word = match last_tok {
        Some(Token::Ident(w)) => w,
        _ => "",
    };
    let Some(frame) = frames.last() else {
        return top_level(out, stmt, &words, last_tok);
    };
    let outer = frames.first().map_or("", Frame::first);
    // Enum value lists: `in { a, b }`, `given { task: chat }`, tables.
    if frame.last() == "in" || frame.words().ends_with(&["not", "in"]) {
        let head = frame.words();
        if let Some(pos) = head.iter().rposition(|w| *w == "in") {
            let sig = if pos >= 1 && head[pos - 1] == "not" {
                pos.checked_sub(2).map(|i| head[i])
            } else {
                pos.checked_sub(1).map(|i| head[i])
            };
            if let Some(sig) = sig {
                out.values_of(sig);
            }
        }
        out.drop_written(stmt);
        return;
    }
    match outer {
        "policy" => match last_word {
            "baseline" => out.models(),
            _ if words.is_empty() => out.words(POLICY_PROPS, CompletionKind::Property),
            _ => {}
        },
        "model" => model_block(out, frame, stmt, &words, last_word),
        "slo" => slo_stmt(out, &words, last_word, last_tok),
        "route" => route_stmt(out, frame, stmt, &words, last_tok),
        "faults" => match last_word {
            "for" => out.models(),
            _ if words.is_empty() => out.words(FAULT_PROPS, CompletionKind::Property),
            "ttft" => out.words(&["timeout"], CompletionKind::Property),
            _ => {}
        },
        "learn" if words.is_empty() => out.words(LEARN_PROPS, CompletionKind::Property),
        "learn" if words.len() == 1 && last_word == "drift" => {
            out.words(words::DRIFT_MEASURES, CompletionKind::Keyword)
        }
        "learn" if words.first() == Some(&"drift") && last_tok == Some(Token::FatArrow) => {
            out.words(words::DRIFT_ACTIONS, CompletionKind::Keyword)
        }
        "learn" => match (words.first().copied(), last_word) {
            // `judge MODEL sample SHARE [below|at|above RATE qps], ...`
            (Some("judge"), "judge") => out.models(),
            (Some("judge"), _) if words.len() == 2 => {
                out.words(&["sample"], CompletionKind::Keyword);
            }
            _ => {}
        },
        "traffic" => {
            if frames.len() >= 2 {
                // `task { chat 55%, ... }`: the mix of one signal.
                if words.is_empty() || last_tok == Some(Token::Comma) {
                    out.values_of(frame.first());
                    out.drop_written(stmt);
                }
            } else if words.is_empty() {
                out.words(&["qps", "peak"], CompletionKind::Property);
                out.signals(|_| true);
            } else if words.len() == 1 && last_tok.is_some_and(|t| matches!(t, Token::Ident(_))) {
                out.words(&["lognormal", "uniform"], CompletionKind::Keyword);
            }
        }
        "test" => test_stmt(out, frames, frame, stmt, &words, last_tok),
        "objective" if words.is_empty() || last_tok == Some(Token::Comma) => {
            out.words(&["latency", "cost", "quality"], CompletionKind::Property)
        }
        "signal" => {} // inside `enum { ... }`: new names.
        _ => {}
    }
}

fn top_level(out: &mut Out, stmt: &[Tk], words: &[&str], last_tok: Option<Token>) {
    let first = words.first().copied().unwrap_or("");
    if stmt.is_empty() {
        for (label, body) in ITEMS {
            out.push(label, CompletionKind::Keyword, None);
            out.snippet(label, body);
        }
        return;
    }
    let last_word = match last_tok {
        Some(Token::Ident(w)) => w,
        _ => "",
    };
    match first {
        "signal" => {
            if last_tok == Some(Token::Colon) {
                out.words(words::SIGNAL_TYPES, CompletionKind::Keyword);
                out.words(&["enum"], CompletionKind::Keyword);
            } else if last_word == "from" {
                out.words(SOURCES, CompletionKind::Keyword);
            } else if last_word == "default" {
                // The enum values written on this line.
                let mut in_enum = false;
                let mut values = Vec::new();
                for t in stmt {
                    match t.token {
                        Token::Ident("enum") => in_enum = true,
                        Token::RBrace => in_enum = false,
                        Token::Ident(w) if in_enum => values.push(w),
                        _ => {}
                    }
                }
                for v in values {
                    out.push(v, CompletionKind::EnumValue, None);
                }
                if stmt.iter().any(|t| t.token == Token::Ident("bool")) {
                    out.words(&["true", "false"], CompletionKind::Keyword);
                }
            } else if words.len() >= 3 && !words.contains(&"from") {
                out.words(&["from"], CompletionKind::Keyword);
            } else if words.contains(&"from")
                && !words.contains(&"default")
                && matches!(
                    last_tok,
                    Some(Token::Str(_) | Token::Number(_) | Token::RParen)
                )
            {
                out.words(&["default"], CompletionKind::Keyword);
                if words.contains(&"classifier") {
                    // The clauses not written yet.
                    for &clause in routec_syntax::words::CLASSIFIER_CLAUSES {
                        if !words.contains(&clause) {
                            out.push(clause, CompletionKind::Keyword, None);
                        }
                    }
                }
            }
        }
        "model" => {
            if last_word == "extends" {
                out.models();
            } else if words.len() == 2 {
                out.words(&["extends"], CompletionKind::Keyword);
            }
        }
        "slice" if stmt.iter().any(|t| t.token == Token::Assign) => {
            condition_tail(out, stmt, last_tok)
        }
        "objective" => match last_word {
            "objective" => out.words(
                &["weighted", "minimize", "maximize"],
                CompletionKind::Keyword,
            ),
            "minimize" => out.words(&["cost", "latency", "ttft"], CompletionKind::Property),
            "maximize" => out.words(&["quality"], CompletionKind::Property),
            "latency" | "ttft" => out.words(PERCENTILES, CompletionKind::Property),
            _ => {}
        },
        "traffic" if last_tok == Some(Token::Assign) => {
            out.words(&["file"], CompletionKind::Keyword);
        }
        _ => {}
    }
}

/// Completion inside a condition, after what was typed of it.
fn condition_tail(out: &mut Out, stmt: &[Tk], last_tok: Option<Token>) {
    let n = stmt.len();
    match last_tok {
        Some(Token::EqEq | Token::NotEq) => {
            if let Some(sig) = n.checked_sub(2).and_then(|i| stmt[i].word()) {
                out.values_of(sig);
            }
        }
        Some(Token::Lt | Token::Le | Token::Gt | Token::Ge) => {}
        Some(Token::Ident("and" | "or" | "not" | "when")) | Some(Token::Assign | Token::LParen) => {
            out.condition()
        }
        Some(Token::Ident(w)) => {
            // After a complete operand: an operator word.
            if out.policy.signals.iter().any(|s| s.name == w) {
                out.words(&["in", "not"], CompletionKind::Keyword);
            } else {
                out.words(&["and", "or"], CompletionKind::Keyword);
            }
        }
        Some(_) => out.words(&["and", "or"], CompletionKind::Keyword),
        None => out.condition(),
    }
}

fn model_block(out: &mut Out, frame: &Frame, stmt: &[Tk], words: &[&str], last_word: &str) {
    // A table inside the model: `quality by task { ... }`, `adjust by lang { ... }`.
    let head = frame.words();
    if head.first() == Some(&"quality") {
        if let Some(pos) = head.iter().rposition(|w| *w == "by")
            && let Some(sig) = head.get(pos + 1)
            && (words.is_empty() || last_word.is_empty())
        {
            out.values_of(sig);
            out.drop_written(stmt);
        }
        return;
    }
    if head.first() == Some(&"params") {
        return;
    }
    // `capacity 40 |`, `rate limit 600 |`, `latency at 30 |`: the unit.
    if matches!(stmt.last().map(|t| t.token), Some(Token::Number(_))) {
        match words {
            ["capacity", ..] => {
                out.units(LOAD_UNITS);
                out.push(
                    "concurrent",
                    CompletionKind::Unit,
                    Some("requests in flight at once".into()),
                );
            }
            ["rate", "limit", ..] => out.units(LOAD_UNITS),
            ["latency", "at"] => out.units(&LOAD_UNITS[..3]),
            _ => {}
        }
        if !out.list.is_empty() {
            return;
        }
    }
    match last_word {
        "fallback" | "extends" => out.models(),
        "by" => out.signals(|t| matches!(t, SignalType::Enum(_))),
        "quality" => out.words(&["by"], CompletionKind::Keyword),
        "latency" => {
            out.words(&["ttft", "at"], CompletionKind::Property);
            out.words(PERCENTILES, CompletionKind::Property);
        }
        "rate" => out.words(&["limit"], CompletionKind::Keyword),
        "ttft" => out.words(PERCENTILES, CompletionKind::Property),
        "price" => {
            out.words(words::PRICE_KINDS, CompletionKind::Property);
            out.words(&["for"], CompletionKind::Keyword);
        }
        "for" if words.first() == Some(&"price") => {
            out.words(&["prompts"], CompletionKind::Keyword)
        }
        "reasoning" => {}
        "provider" => out.words(words::PROVIDERS, CompletionKind::Keyword),
        "supports" => out.words(words::CAPABILITIES, CompletionKind::Keyword),
        "endpoint" | "api_key" => out.words(&["env"], CompletionKind::Keyword),
        _ if words.is_empty() => out.words(MODEL_PROPS, CompletionKind::Property),
        _ => {
            if words.first() == Some(&"quality")
                && words.contains(&"by")
                && !words.contains(&"adjust")
            {
                out.words(&["adjust"], CompletionKind::Keyword);
            }
        }
    }
}

fn slo_stmt(out: &mut Out, words: &[&str], last_word: &str, last_tok: Option<Token>) {
    match last_word {
        _ if words.is_empty() => {
            out.words(SLO_METRICS, CompletionKind::Property);
            out.words(&["margin", "confidence"], CompletionKind::Property);
        }
        "margin" | "confidence" => out.units(RATIO_UNITS),
        "ttft" | "latency" => out.words(PERCENTILES, CompletionKind::Property),
        "share" => out.models(),
        "for" => {
            if words.iter().filter(|w| **w == "for").count() == 1
                && words.first() == Some(&"quality")
                && words.len() == 2
            {
                out.slices();
            } else {
                out.words(&["each"], CompletionKind::Keyword);
                out.slices();
            }
        }
        "each" => out.words(&["slice"], CompletionKind::Keyword),
        "cost" => out.words(&["per"], CompletionKind::Keyword),
        "per" => {
            out.words(&["request", "success", "day"], CompletionKind::Keyword);
            out.push("1k requests", CompletionKind::Keyword, None);
        }
        "spend" => out.words(&["per"], CompletionKind::Keyword),
        "quality" if words.len() > 1 => out.words(&["for"], CompletionKind::Keyword),
        _ => {
            if matches!(last_tok, Some(Token::Number(_) | Token::Money(_))) {
                out.words(&["for"], CompletionKind::Keyword);
            } else if matches!(
                last_tok,
                Some(Token::Ge | Token::Le | Token::Gt | Token::Lt)
            ) && words.first() == Some(&"quality")
            {
                out.words(&["quality"], CompletionKind::Property);
            }
        }
    }
}

fn route_stmt(out: &mut Out, frame: &Frame, stmt: &[Tk], words: &[&str], last_tok: Option<Token>) {
    if frame.first() != "route" {
        // `split { a 70%, ... }`
        if frame.last() == "split" && (stmt.is_empty() || last_tok == Some(Token::Comma)) {
            out.models();
        }
        return;
    }
    if stmt.is_empty() {
        out.words(&["when", "otherwise"], CompletionKind::Keyword);
        out.snippet("when", "when ${1:condition} => ${2:plan}");
        return;
    }
    let arrow = stmt.iter().rposition(|t| t.token == Token::FatArrow);
    let Some(arrow) = arrow else {
        if words.first() == Some(&"when") {
            condition_tail(out, stmt, last_tok);
        }
        return;
    };
    // In the plan.
    let plan = &stmt[arrow + 1..];
    let pw: Vec<&str> = plan.iter().filter_map(Tk::word).collect();
    let last_word = match last_tok {
        Some(Token::Ident(w)) => w,
        _ => "",
    };
    let open_bracket = plan.iter().filter(|t| t.token == Token::LBracket).count()
        > plan.iter().filter(|t| t.token == Token::RBracket).count();
    match last_tok {
        Some(Token::FatArrow) => out.plan(),
        Some(Token::Ident("else")) => out.plan(),
        Some(Token::Arrow) | Some(Token::Ident("cascade")) => out.models(),
        Some(Token::LBracket | Token::Comma) if open_bracket => out.plan(),
        Some(Token::Ident("by")) => out.signals(|_| true),
        Some(Token::Comma) if pw.contains(&"by") => out.signals(|_| true),
        Some(Token::Ident("accept")) => out.words(&["when"], CompletionKind::Keyword),
        Some(Token::Ident("when")) if pw.contains(&"accept") => {
            out.words(&["confidence"], CompletionKind::Property)
        }
        Some(Token::RBracket) => out.words(&["by"], CompletionKind::Keyword),
        Some(Token::Ident(_))
            if pw.first() == Some(&"cascade") && !pw.contains(&"accept") && pw.len() > 1 =>
        {
            out.words(&["accept"], CompletionKind::Keyword)
        }
        Some(Token::Ident(w))
            if pw.contains(&"by")
                && out
                    .policy
                    .signals
                    .iter()
                    .any(|s| s.name == w && s.ty.is_numeric()) =>
        {
            out.words(&["at"], CompletionKind::Keyword)
        }
        Some(Token::Ident(w)) if out.policy.models.iter().any(|m| m.name == w) && !open_bracket => {
            out.words(&["else"], CompletionKind::Keyword)
        }
        _ => {
            let _ = last_word;
        }
    }
}

fn test_stmt(
    out: &mut Out,
    frames: &[Frame],
    frame: &Frame,
    stmt: &[Tk],
    words: &[&str],
    last_tok: Option<Token>,
) {
    if frames.len() >= 2 && frame.first() == "given" {
        // `given { signal: value, ... }`
        match last_tok {
            None | Some(Token::Comma) => {
                out.signals(|_| true);
                // Keys already given (the words right before a `:`).
                let given: Vec<&str> = stmt
                    .windows(2)
                    .filter(|w| w[1].token == Token::Colon)
                    .filter_map(|w| w[0].word())
                    .collect();
                out.list.retain(|c| !given.contains(&c.label.as_str()));
            }
            Some(Token::Colon) => {
                if let Some(sig) = stmt.len().checked_sub(2).and_then(|i| stmt[i].word()) {
                    out.values_of(sig);
                }
            }
            _ => {}
        }
        return;
    }
    let last_word = match last_tok {
        Some(Token::Ident(w)) => w,
        _ => "",
    };
    match last_word {
        _ if words.is_empty() => out.words(TEST_PROPS, CompletionKind::Property),
        "under" => out.traffic(),
        "expect" => {
            out.plan();
            out.words(SLO_METRICS, CompletionKind::Property);
        }
        "ttft" | "latency" => out.words(PERCENTILES, CompletionKind::Property),
        _ => {
            if words.first() == Some(&"expect") {
                match last_tok {
                    Some(Token::Arrow) | Some(Token::Ident("cascade")) => out.models(),
                    Some(Token::Ident("else")) => out.plan(),
                    _ => {}
                }
            }
        }
    }
}

/// The text a snippet inserts in an editor without snippet support: each
/// placeholder's default (nested ones resolved, the first of a choice),
/// tabstops and escapes removed, and the trailing blanks of lines that held
/// only a tabstop dropped. `model ${1:name} {\n  $0\n}` becomes
/// `model name {\n\n}`. Total: malformed snippet syntax is kept as text.
pub(crate) fn snippet_plain_text(snippet: &str) -> String {
    let chars: Vec<char> = snippet.chars().collect();
    let mut out = String::with_capacity(snippet.len());
    let mut i = 0;
    expand(&chars, &mut i, &mut out, false);
    out.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        + if snippet.ends_with('\n') { "\n" } else { "" }
}

/// Expands snippet text from `chars[*i]` into `out`, up to the end, or up
/// to an unescaped `}` when `nested` (left unconsumed).
fn expand(chars: &[char], i: &mut usize, out: &mut String, nested: bool) {
    while let Some(&c) = chars.get(*i) {
        match c {
            '\\' if matches!(chars.get(*i + 1), Some('$' | '}' | '\\' | ',' | '|')) => {
                if let Some(&next) = chars.get(*i + 1) {
                    out.push(next);
                }
                *i += 2;
            }
            '}' if nested => return,
            '$' => {
                let start = *i;
                if !tabstop(chars, i, out) {
                    // Not snippet syntax: keep the `$` as text.
                    *i = start + 1;
                    out.push('$');
                }
            }
            c => {
                out.push(c);
                *i += 1;
            }
        }
    }
}

/// Reads a tabstop or placeholder at `chars[*i]` (a `$`) and writes its
/// default text; false (with `*i` unspecified) when it is not one.
fn tabstop(chars: &[char], i: &mut usize, out: &mut String) -> bool {
    *i += 1;
    let digits = |i: &mut usize| {
        let start = *i;
        while chars.get(*i).is_some_and(char::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    if digits(i) {
        return true; // `$1`, `$0`
    }
    if chars.get(*i) != Some(&'{') {
        return false;
    }
    *i += 1;
    if !digits(i) {
        return false;
    }
    match chars.get(*i) {
        Some('}') => {
            *i += 1;
            true
        }
        Some(':') => {
            *i += 1;
            let mut inner = String::new();
            expand(chars, i, &mut inner, true);
            if chars.get(*i) != Some(&'}') {
                return false;
            }
            *i += 1;
            out.push_str(&inner);
            true
        }
        Some('|') => {
            // A choice: the first option.
            *i += 1;
            let mut first = String::new();
            let mut done = false;
            while let Some(&c) = chars.get(*i) {
                *i += 1;
                match c {
                    '\\' => {
                        if let Some(&next) = chars.get(*i) {
                            if !done {
                                first.push(next);
                            }
                            *i += 1;
                        }
                    }
                    ',' => done = true,
                    '|' if chars.get(*i) == Some(&'}') => {
                        *i += 1;
                        out.push_str(&first);
                        return true;
                    }
                    c if !done => first.push(c),
                    _ => {}
                }
            }
            false
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_become_their_default_text() {
        for (snippet, plain) in [
            (
                "model ${1:name} {\n  provider ${2:openai}\n  $0\n}",
                "model name {\n  provider openai\n\n}",
            ),
            (
                "signal ${1:name}: ${2:enum { ${3:a, b} }} from header \"${4:x-header}\" default ${5:a}",
                "signal name: enum { a, b } from header \"x-header\" default a",
            ),
            ("when ${1:condition} => ${2:plan}", "when condition => plan"),
            ("${1|fast,slow|} \\$5 \\} \\\\", "fast $5 } \\"),
            ("${1} and ${2:${3:deep}}$0", " and deep"),
            // Not snippet syntax: kept as written.
            ("$ ${x} ${1:open", "$ ${x} ${1:open"),
        ] {
            assert_eq!(snippet_plain_text(snippet), plain, "{snippet}");
        }
        for (_, body) in ITEMS.iter().chain(PLAN_FORMS) {
            let plain = snippet_plain_text(body);
            assert!(!plain.contains('$'), "{body} -> {plain}");
        }
    }

    #[test]
    fn snippets_cover_the_word_table_and_parse() {
        let labels = |l: &[(&'static str, &'static str)]| -> Vec<&'static str> {
            l.iter().map(|(w, _)| *w).collect()
        };
        assert_eq!(labels(ITEMS), words::ITEMS);
        assert_eq!(labels(PLAN_FORMS), words::PLAN_FORMS);
        for (_, body) in ITEMS {
            let plain = snippet_plain_text(body);
            let parse = routec_syntax::parse(&plain);
            assert!(
                parse.diagnostics.is_empty(),
                "{plain}: {:?}",
                parse.diagnostics
            );
        }
        for (_, body) in PLAN_FORMS {
            let plain = format!("route {{\n  otherwise => {}\n}}", snippet_plain_text(body));
            let parse = routec_syntax::parse(&plain);
            assert!(
                parse.diagnostics.is_empty(),
                "{plain}: {:?}",
                parse.diagnostics
            );
        }
    }
}
