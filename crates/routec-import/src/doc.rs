//! The located configuration tree every importer reads: YAML (saphyr-parser
//! events), JSON (jsonc-parser's AST) and TOML (toml's spanned tables) all
//! become one [`Node`] type with byte spans into the config text.
//!
//! Every node remembers whether an importer read it ([`Node::used`]); after
//! translation, [`unused`] lists the keys nobody read, so nothing in the
//! input is dropped silently.
//!
//! YAML plain scalars are resolved as PyYAML (YAML 1.1, what LiteLLM reads)
//! and Go's yaml resolve them for configs: `~`/`null`/empty are null,
//! `true`/`false`/`yes`/`no`/`on`/`off` booleans, numbers may carry `_`
//! separators (`20_000`). Quoted scalars are always strings. `<<` merge keys
//! are applied. Aliases are expanded under a node budget (no "billion
//! laughs"), and nesting is bounded by [`MAX_DEPTH`].

use std::cell::Cell;
use std::collections::HashMap;

use routec_syntax::Span;
use saphyr_parser::{Event, Parser, ScalarStyle};

/// The deepest nesting of mappings and sequences accepted.
pub const MAX_DEPTH: usize = 64;
/// The most nodes one document may expand to (aliases included).
pub const MAX_NODES: usize = 2_000_000;

/// A located value of the config.
#[derive(Debug)]
pub struct Node {
    pub span: Span,
    pub kind: Kind,
    used: Cell<bool>,
}

#[derive(Debug)]
pub enum Kind {
    Null,
    Bool(bool),
    /// A number, with the text it was written as.
    Num(f64, String),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` of a mapping.
#[derive(Debug)]
pub struct Entry {
    pub key: Node,
    pub value: Node,
}

impl Clone for Node {
    fn clone(&self) -> Node {
        Node {
            span: self.span,
            kind: match &self.kind {
                Kind::Null => Kind::Null,
                Kind::Bool(b) => Kind::Bool(*b),
                Kind::Num(n, t) => Kind::Num(*n, t.clone()),
                Kind::Str(s) => Kind::Str(s.clone()),
                Kind::Seq(items) => Kind::Seq(items.clone()),
                Kind::Map(entries) => Kind::Map(
                    entries
                        .iter()
                        .map(|e| Entry {
                            key: e.key.clone(),
                            value: e.value.clone(),
                        })
                        .collect(),
                ),
            },
            used: Cell::new(false),
        }
    }
}

/// Why a config text could not be read as a tree.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    pub span: Span,
    pub message: String,
}

impl Node {
    pub fn new(span: Span, kind: Kind) -> Node {
        Node {
            span,
            kind,
            used: Cell::new(false),
        }
    }

    /// Marks this node (not its children) as read.
    pub fn mark(&self) -> &Node {
        self.used.set(true);
        self
    }

    /// Marks this node and everything under it as read.
    pub fn mark_all(&self) {
        self.used.set(true);
        match &self.kind {
            Kind::Seq(items) => items.iter().for_each(Node::mark_all),
            Kind::Map(entries) => entries.iter().for_each(|e| {
                e.key.mark_all();
                e.value.mark_all();
            }),
            _ => {}
        }
    }

    pub fn used(&self) -> bool {
        self.used.get()
    }

    pub fn entries(&self) -> &[Entry] {
        match &self.kind {
            Kind::Map(e) => e,
            _ => &[],
        }
    }

    pub fn items(&self) -> &[Node] {
        match &self.kind {
            Kind::Seq(i) => i,
            _ => &[],
        }
    }

    pub fn is_map(&self) -> bool {
        matches!(self.kind, Kind::Map(_))
    }

    pub fn is_seq(&self) -> bool {
        matches!(self.kind, Kind::Seq(_))
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// The entry for `key` (the last one if written twice, as every reader
    /// of these formats keeps); marks the key as read.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        let e = self
            .entries()
            .iter()
            .rev()
            .find(|e| e.key.as_str() == Some(key))?;
        e.key.mark();
        Some(e)
    }

    /// The value for `key`, marked as read (its children are not).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| e.value.mark())
    }

    /// A scalar's text: strings as written, numbers and booleans as text.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            Kind::Num(_, t) => Some(t),
            Kind::Bool(true) => Some("true"),
            Kind::Bool(false) => Some("false"),
            _ => None,
        }
    }

    /// A number, or a string holding one (`"0.5"`, as Portkey accepts).
    pub fn as_f64(&self) -> Option<f64> {
        match &self.kind {
            Kind::Num(n, _) => Some(*n),
            Kind::Str(s) => parse_number(s.trim()),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.kind {
            Kind::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A short description of the node's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Num(..) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

/// A key that no importer read, with its dotted path.
#[derive(Clone, Debug, PartialEq)]
pub struct Unused {
    pub path: String,
    pub span: Span,
}

/// The keys (and list items) under `root` that were never read. A key whose
/// value was never looked at is listed once, without its children.
pub fn unused(root: &Node) -> Vec<Unused> {
    let mut out = Vec::new();
    walk_unused(root, "", &mut out);
    out
}

fn walk_unused(node: &Node, path: &str, out: &mut Vec<Unused>) {
    match &node.kind {
        Kind::Map(entries) => {
            for e in entries {
                let key = e.key.as_str().unwrap_or("?");
                let p = if path.is_empty() {
                    key.to_owned()
                } else {
                    format!("{path}.{key}")
                };
                if !e.key.used() || !e.value.used() {
                    out.push(Unused {
                        path: p,
                        span: e.key.span.cover(e.value.span),
                    });
                } else {
                    walk_unused(&e.value, &p, out);
                }
            }
        }
        Kind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                if item.used() {
                    walk_unused(item, &p, out);
                } else {
                    out.push(Unused {
                        path: p,
                        span: item.span,
                    });
                }
            }
        }
        _ => {}
    }
}

/// A number as YAML 1.1 and JSON write them: `_` separators, `0x`/`0o`
/// prefixes, `.inf`/`.nan` are not accepted (they are no use in a config).
pub fn parse_number(text: &str) -> Option<f64> {
    let t = text.replace('_', "");
    if t.is_empty() || t.starts_with('_') {
        return None;
    }
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(&t)),
    };
    let value = if let Some(hex) = body.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).ok().map(|v| v as f64)
    } else if let Some(oct) = body.strip_prefix("0o") {
        u64::from_str_radix(oct, 8).ok().map(|v| v as f64)
    } else if body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
    {
        body.parse::<f64>().ok()
    } else {
        None
    }?;
    value
        .is_finite()
        .then_some(if neg { -value } else { value })
}

fn resolve_plain(text: &str) -> Kind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => Kind::Null,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Kind::Bool(true),
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => {
            Kind::Bool(false)
        }
        _ => match parse_number(text) {
            Some(n) => Kind::Num(n, text.to_owned()),
            None => Kind::Str(text.to_owned()),
        },
    }
}

// ---------------------------------------------------------------- YAML

/// Byte offsets of character indices (saphyr's markers count characters).
struct CharOffsets {
    /// The byte offset of every 64th character.
    checkpoints: Vec<usize>,
    text_len: usize,
}

impl CharOffsets {
    fn new(text: &str) -> CharOffsets {
        let checkpoints = text
            .char_indices()
            .step_by(64)
            .map(|(b, _)| b)
            .collect::<Vec<_>>();
        CharOffsets {
            checkpoints,
            text_len: text.len(),
        }
    }

    fn byte(&self, text: &str, char_index: usize) -> usize {
        let Some(&start) = self.checkpoints.get(char_index / 64) else {
            return self.text_len;
        };
        let rest = char_index % 64;
        text[start..]
            .char_indices()
            .nth(rest)
            .map_or(self.text_len, |(b, _)| start + b)
    }
}

enum Frame {
    Seq {
        start: usize,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: usize,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<Node>,
    },
}

/// Parses a YAML document (the first of the stream; more are an error).
pub fn parse_yaml(text: &str) -> Result<Node, SyntaxError> {
    let offsets = CharOffsets::new(text);
    let at = |i: usize| offsets.byte(text, i);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut nodes = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            let m = e.marker();
            let b = at(m.index());
            SyntaxError {
                span: Span::new(b, b),
                message: format!("not valid YAML: {}", e.info()),
            }
        })?;
        let start = at(span.start.index());
        let end = at(span.end.index()).max(start);
        let node = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {
                continue;
            }
            Event::DocumentStart(_) => {
                if root.is_some() {
                    return Err(SyntaxError {
                        span: Span::new(start, start),
                        message: "the file holds several YAML documents; import one at a time"
                            .to_owned(),
                    });
                }
                continue;
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(SyntaxError {
                        span: Span::new(start, end),
                        message: format!("nesting is too deep: the limit is {MAX_DEPTH} levels"),
                    });
                }
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq {
                        start,
                        anchor,
                        items: Vec::new(),
                    }
                } else {
                    Frame::Map {
                        start,
                        anchor,
                        entries: Vec::new(),
                        key: None,
                    }
                });
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    start: s,
                    anchor,
                    items,
                }) => {
                    let n = Node::new(Span::new(s, end.max(s)), Kind::Seq(items));
                    remember(&mut anchors, anchor, &n);
                    n
                }
                _ => return Err(internal(start)),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    start: s,
                    anchor,
                    entries,
                    ..
                }) => {
                    let n = Node::new(Span::new(s, end.max(s)), Kind::Map(merge(entries)));
                    remember(&mut anchors, anchor, &n);
                    n
                }
                _ => return Err(internal(start)),
            },
            Event::Scalar(value, style, anchor, tag) => {
                let is_str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let kind = if style == ScalarStyle::Plain && !is_str_tag {
                    resolve_plain(&value)
                } else {
                    Kind::Str(value.into_owned())
                };
                let n = Node::new(Span::new(start, end), kind);
                remember(&mut anchors, anchor, &n);
                n
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(n) => {
                    nodes += count(n);
                    let mut copy = n.clone();
                    copy.span = Span::new(start, end);
                    copy
                }
                None => {
                    return Err(SyntaxError {
                        span: Span::new(start, end),
                        message: "alias to an unknown anchor".to_owned(),
                    });
                }
            },
        };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(SyntaxError {
                span: Span::new(start, end),
                message: format!(
                    "the document expands to more than {MAX_NODES} values (through aliases)"
                ),
            });
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push(Entry {
                    key: k,
                    value: node,
                }),
            },
        }
    }
    Ok(root.unwrap_or_else(|| Node::new(Span::new(0, 0), Kind::Null)))
}

fn internal(at: usize) -> SyntaxError {
    SyntaxError {
        span: Span::new(at, at),
        message: "not valid YAML: unbalanced collection".to_owned(),
    }
}

fn remember(anchors: &mut HashMap<usize, Node>, anchor: usize, node: &Node) {
    if anchor != 0 {
        anchors.insert(anchor, node.clone());
    }
}

fn count(node: &Node) -> usize {
    1 + match &node.kind {
        Kind::Seq(items) => items.iter().map(count).sum(),
        Kind::Map(entries) => entries
            .iter()
            .map(|e| count(&e.key) + count(&e.value))
            .sum(),
        _ => 0,
    }
}

/// Applies `<<` merge keys: the merged mappings' entries come after the
/// mapping's own, and only for keys it does not write itself.
fn merge(entries: Vec<Entry>) -> Vec<Entry> {
    if !entries.iter().any(|e| e.key.as_str() == Some("<<")) {
        return entries;
    }
    let mut own = Vec::new();
    let mut merged = Vec::new();
    for e in entries {
        if e.key.as_str() == Some("<<") {
            let sources: Vec<Node> = match e.value.kind {
                Kind::Map(_) => vec![e.value],
                Kind::Seq(items) => items,
                _ => Vec::new(),
            };
            for s in sources {
                if let Kind::Map(es) = s.kind {
                    merged.extend(es);
                }
            }
        } else {
            own.push(e);
        }
    }
    for m in merged {
        let key = m.key.as_str().map(str::to_owned);
        if !own.iter().any(|e| e.key.as_str().map(str::to_owned) == key) {
            own.push(m);
        }
    }
    own
}

// ---------------------------------------------------------------- JSON

/// Parses JSON. Comments, trailing commas, unquoted keys and single-quoted
/// strings are accepted (Portkey configs are often written as JavaScript
/// objects); nesting is bounded by [`MAX_DEPTH`].
pub fn parse_json(text: &str) -> Result<Node, SyntaxError> {
    use jsonc_parser::{CollectOptions, ParseOptions, parse_to_ast};
    let options = ParseOptions {
        allow_comments: true,
        allow_loose_object_property_names: true,
        allow_trailing_commas: true,
        allow_missing_commas: false,
        allow_single_quoted_strings: true,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    };
    let parsed = parse_to_ast(text, &CollectOptions::default(), &options).map_err(|e| {
        let r = e.range();
        SyntaxError {
            span: Span::new(r.start.min(text.len()), r.end.min(text.len())),
            message: format!("not valid JSON: {}", e.kind()),
        }
    })?;
    match parsed.value {
        Some(v) => json_node(&v, 0),
        None => Ok(Node::new(Span::new(0, 0), Kind::Null)),
    }
}

fn json_node(v: &jsonc_parser::ast::Value<'_>, depth: usize) -> Result<Node, SyntaxError> {
    use jsonc_parser::ast::{ObjectPropName, Value};
    let span = |r: jsonc_parser::common::Range| Span::new(r.start, r.end.max(r.start));
    if depth > MAX_DEPTH {
        return Err(SyntaxError {
            span: Span::new(0, 0),
            message: format!("nesting is too deep: the limit is {MAX_DEPTH} levels"),
        });
    }
    Ok(match v {
        Value::StringLit(s) => Node::new(span(s.range), Kind::Str(s.value.to_string())),
        Value::NumberLit(n) => {
            let kind = match parse_number(n.value) {
                Some(x) => Kind::Num(x, n.value.to_owned()),
                None => Kind::Str(n.value.to_owned()),
            };
            Node::new(span(n.range), kind)
        }
        Value::BooleanLit(b) => Node::new(span(b.range), Kind::Bool(b.value)),
        Value::NullKeyword(n) => Node::new(span(n.range), Kind::Null),
        Value::Array(a) => {
            if depth == MAX_DEPTH {
                return Err(too_deep(span(a.range)));
            }
            let items = a
                .elements
                .iter()
                .map(|e| json_node(e, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            Node::new(span(a.range), Kind::Seq(items))
        }
        Value::Object(o) => {
            if depth == MAX_DEPTH {
                return Err(too_deep(span(o.range)));
            }
            let mut entries = Vec::new();
            for p in &o.properties {
                let key = match &p.name {
                    ObjectPropName::String(s) => {
                        Node::new(span(s.range), Kind::Str(s.value.to_string()))
                    }
                    ObjectPropName::Word(w) => {
                        Node::new(span(w.range), Kind::Str(w.value.to_owned()))
                    }
                };
                entries.push(Entry {
                    key,
                    value: json_node(&p.value, depth + 1)?,
                });
            }
            Node::new(span(o.range), Kind::Map(entries))
        }
    })
}

fn too_deep(span: Span) -> SyntaxError {
    SyntaxError {
        span,
        message: format!("nesting is too deep: the limit is {MAX_DEPTH} levels"),
    }
}

// ---------------------------------------------------------------- TOML

/// Parses a TOML document. Tables keep the order they are written in.
pub fn parse_toml(text: &str) -> Result<Node, SyntaxError> {
    let table = toml::de::DeTable::parse(text).map_err(|e| {
        let r = e.span().unwrap_or(0..0);
        SyntaxError {
            span: Span::new(r.start.min(text.len()), r.end.min(text.len())),
            message: format!("not valid TOML: {}", e.message()),
        }
    })?;
    let span = table.span();
    Ok(toml_table(
        table.get_ref(),
        Span::new(span.start, span.end.max(span.start)),
    ))
}

fn toml_table(table: &toml::de::DeTable<'_>, span: Span) -> Node {
    let mut entries: Vec<Entry> = table
        .iter()
        .map(|(k, v)| {
            let ks = k.span();
            Entry {
                key: Node::new(
                    Span::new(ks.start, ks.end.max(ks.start)),
                    Kind::Str(k.get_ref().to_string()),
                ),
                value: toml_value(v),
            }
        })
        .collect();
    entries.sort_by_key(|e| e.key.span.start);
    Node::new(span, Kind::Map(entries))
}

fn toml_value(v: &toml::Spanned<toml::de::DeValue<'_>>) -> Node {
    use toml::de::DeValue;
    let r = v.span();
    let span = Span::new(r.start, r.end.max(r.start));
    match v.get_ref() {
        DeValue::String(s) => Node::new(span, Kind::Str(s.to_string())),
        DeValue::Integer(i) => {
            let text = i.as_str().to_owned();
            let kind = match i64::from_str_radix(&text.replace('_', ""), i.radix()).ok() {
                Some(x) => Kind::Num(x as f64, text),
                None => Kind::Str(text),
            };
            Node::new(span, kind)
        }
        DeValue::Float(f) => {
            let text = f.as_str().to_owned();
            match parse_number(&text) {
                Some(x) => Node::new(span, Kind::Num(x, text)),
                None => Node::new(span, Kind::Str(text)),
            }
        }
        DeValue::Boolean(b) => Node::new(span, Kind::Bool(*b)),
        DeValue::Datetime(d) => Node::new(span, Kind::Str(d.to_string())),
        DeValue::Array(a) => Node::new(span, Kind::Seq(a.iter().map(toml_value).collect())),
        DeValue::Table(t) => toml_table(t, span),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_spans_are_bytes() {
        let text = "é: ü\nb: [1, 2_000, yes, \"x\"]\n";
        let n = parse_yaml(text).unwrap();
        let b = n.get("b").unwrap();
        assert_eq!(b.span.text(text), "[1, 2_000, yes, \"x\"]");
        assert_eq!(b.items()[1].as_f64(), Some(2000.0));
        assert_eq!(b.items()[2].as_bool(), Some(true));
        assert_eq!(b.items()[3].as_str(), Some("x"));
        assert_eq!(n.get("é").unwrap().span.text(text), "ü");
    }

    #[test]
    fn yaml_merge_keys_and_aliases() {
        let text = "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n";
        let n = parse_yaml(text).unwrap();
        let m = n.get("m").unwrap();
        assert_eq!(m.get("x").unwrap().as_f64(), Some(1.0));
        assert_eq!(m.get("y").unwrap().as_f64(), Some(3.0));
    }

    #[test]
    fn yaml_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = parse_yaml(&text).unwrap_err();
        assert!(e.message.contains("more than"), "{e:?}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(parse_yaml(&deep).is_err());
        assert!(parse_json(&deep).is_err());
        let toml_deep = format!("a = {}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse_toml(&toml_deep).is_err());
    }

    #[test]
    fn json_and_toml_spans() {
        let text = "{\n  // c\n  strategy: {'mode': \"fallback\"},\n}";
        let n = parse_json(text).unwrap();
        let s = n.get("strategy").unwrap().get("mode").unwrap();
        assert_eq!(s.span.text(text), "\"fallback\"");
        let t = "[b]\nz = 1\n[a]\nx = \"é\"\n";
        let n = parse_toml(t).unwrap();
        assert_eq!(n.entries()[0].key.as_str(), Some("b"));
        assert_eq!(n.get("a").unwrap().get("x").unwrap().span.text(t), "\"é\"");
    }

    #[test]
    fn unused_lists_unread_keys() {
        let n = parse_yaml("a: 1\nb:\n  c: 2\n  d: 3\n").unwrap();
        n.get("a");
        n.get("b").unwrap().get("c");
        let u: Vec<String> = unused(&n).into_iter().map(|u| u.path).collect();
        assert_eq!(u, ["b.d"]);
    }
}
