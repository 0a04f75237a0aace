//! `routec import`: translates the router configs teams already have
//! (LiteLLM proxy `config.yaml`, Portkey gateway configs, vLLM
//! semantic-router `config.yaml`, TensorZero `tensorzero.toml`) into a
//! formatted `.route` policy that routes the same requests to the same
//! places, and reports what those configs silently get wrong (fallback
//! cycles, unreachable fallbacks, unknown strategy names, duplicate names,
//! context-window fallbacks to smaller windows, quotas that never apply) as
//! diagnostics located in the config text.
//!
//! Architecture Invariant: pure. [`import`] takes the config text and
//! returns the policy text, the diagnostics (byte spans into the config)
//! and the report of what could not be expressed; the CLI does the IO.
//!
//! Architecture Invariant: nothing is dropped silently. Every key of the
//! input is read by the importer or listed in [`Imported::report`] with its
//! location (`doc::unused`).
//!
//! Architecture Invariant: the policy is derived from a structured
//! intermediate form ([`ir::Policy`]) and passed through the project's
//! formatter; an output that does not format is an internal error, never
//! returned.

pub mod catalog;
pub mod codes;
pub mod doc;
pub mod ir;
mod litellm;
mod portkey;
mod route;
mod semantic_router;
mod tensorzero;

use routec_syntax::{Diagnostic, Span};

pub use catalog::Catalog;
use doc::{Entry, Node, SyntaxError};

/// The largest config accepted (the same limit as a policy).
pub const MAX_CONFIG_BYTES: usize = routec_syntax::MAX_SOURCE_BYTES;

/// The routers whose configs can be imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// A LiteLLM proxy `config.yaml`.
    Litellm,
    /// A Portkey gateway config (JSON).
    Portkey,
    /// A vLLM semantic-router `config.yaml`.
    SemanticRouter,
    /// A TensorZero `tensorzero.toml`.
    Tensorzero,
}

impl SourceKind {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Litellm => "litellm",
            SourceKind::Portkey => "portkey",
            SourceKind::SemanticRouter => "semantic-router",
            SourceKind::Tensorzero => "tensorzero",
        }
    }

    fn parse(self, text: &str) -> Result<Node, SyntaxError> {
        match self {
            SourceKind::Litellm | SourceKind::SemanticRouter => doc::parse_yaml(text),
            SourceKind::Portkey => doc::parse_json(text),
            SourceKind::Tensorzero => doc::parse_toml(text),
        }
    }
}

/// What the caller supplies besides the config text.
#[derive(Debug, Default)]
pub struct Options<'a> {
    /// LiteLLM's `model_prices_and_context_window.json`, for prices and
    /// context windows.
    pub catalog: Option<&'a Catalog>,
    /// The config's file name, named in the policy's header comment.
    pub file_name: Option<String>,
}

/// A key of the input with no routec equivalent.
#[derive(Clone, Debug, PartialEq)]
pub struct Unexpressed {
    /// The dotted path of the key (`router_settings.routing_strategy`).
    pub path: String,
    pub span: Span,
    /// Why it is not expressed, or how it was approximated.
    pub reason: String,
}

/// How far the import got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A policy was produced; the diagnostics are problems of the config.
    Imported,
    /// The text could not be read as the config kind's format (not YAML,
    /// JSON or TOML; too large; nested too deep).
    Unreadable,
    /// The text is not a config of this kind.
    WrongKind,
}

/// The result of an import.
#[derive(Debug)]
pub struct Imported {
    pub outcome: Outcome,
    /// The formatted policy, when [`Outcome::Imported`].
    pub policy: Option<String>,
    /// Problems of the config, located in the config text, sorted.
    pub diagnostics: Vec<Diagnostic>,
    /// What the policy does not express, in source order.
    pub report: Vec<Unexpressed>,
    /// General notes (figures to fill in, approximations), once each.
    pub notes: Vec<String>,
}

impl Imported {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    fn failed(outcome: Outcome, diagnostic: Diagnostic) -> Imported {
        Imported {
            outcome,
            policy: None,
            diagnostics: vec![diagnostic],
            report: Vec::new(),
            notes: Vec::new(),
        }
    }
}

/// The note every import carries: where figures come from.
pub const FIGURES_NOTE: &str = "the imported config carries no latency or quality figures, so the \
checker warns that each model lacks them (W0402); add `latency ttft p50 .. p95 .., decode .. tok/s` \
and `quality ..%` (or `quality by SIGNAL { .. }`) to each model, from your own measurements or \
recorded traffic, before `routec compile` can optimize or `routec simulate` can predict";

/// The note of an import without `--catalog`.
pub const NO_CATALOG_NOTE: &str = "prices and context windows were not filled in: pass \
`--catalog model_prices_and_context_window.json` (LiteLLM's model catalog) to add them, or write \
`price input $../Mtok, output $../Mtok` and `context ..k tokens` in each model";

/// Translates a config into a policy.
pub fn import(kind: SourceKind, text: &str, options: &Options<'_>) -> Imported {
    if text.len() > MAX_CONFIG_BYTES {
        return Imported::failed(
            Outcome::Unreadable,
            Diagnostic::error(
                codes::CONFIG_SYNTAX,
                Span::new(0, 0),
                format!(
                    "the config is larger than the limit of {} MiB",
                    MAX_CONFIG_BYTES / (1024 * 1024)
                ),
            ),
        );
    }
    let root = match kind.parse(text) {
        Ok(root) => root,
        Err(e) => {
            let format = match kind {
                SourceKind::Portkey => "JSON",
                SourceKind::Tensorzero => "TOML",
                _ => "YAML",
            };
            return Imported::failed(
                Outcome::Unreadable,
                Diagnostic::error(codes::CONFIG_SYNTAX, e.span, e.message)
                    .with_help(format!("`routec import {}` reads {format}", kind.name())),
            );
        }
    };
    let mut cx = Cx::new(text, options);
    duplicate_keys(&root, &mut cx);
    let policy = match kind {
        SourceKind::Litellm => litellm::import(&mut cx, &root),
        SourceKind::Portkey => portkey::import(&mut cx, &root),
        SourceKind::SemanticRouter => semantic_router::import(&mut cx, &root),
        SourceKind::Tensorzero => tensorzero::import(&mut cx, &root),
    };
    let Some(mut policy) = policy else {
        let mut diagnostics = cx.diagnostics;
        routec_syntax::diagnostic::sort(&mut diagnostics);
        return Imported {
            outcome: Outcome::WrongKind,
            policy: None,
            diagnostics,
            report: Vec::new(),
            notes: Vec::new(),
        };
    };
    for u in doc::unused(&root) {
        let reason = match kind {
            SourceKind::Litellm => litellm::reason(&u.path),
            SourceKind::Portkey => portkey::reason(&u.path),
            SourceKind::SemanticRouter => semantic_router::reason(&u.path),
            SourceKind::Tensorzero => tensorzero::reason(&u.path),
        };
        cx.report.push(Unexpressed {
            path: u.path,
            span: u.span,
            reason: reason.to_owned(),
        });
    }
    cx.report.sort_by_key(|u| (u.span.start, u.span.end));
    cx.report
        .dedup_by(|a, b| a.path == b.path && a.span == b.span);
    cx.note(FIGURES_NOTE);
    if options.catalog.is_none() && !cx.has_prices {
        cx.note(NO_CATALOG_NOTE);
    }

    settle(&mut policy, &mut cx);
    policy.header = header(kind, options, &cx);
    let source = policy.to_source();
    let formatted = match routec_syntax::fmt::format(&source) {
        Ok(f) => f,
        Err(e) => {
            return Imported::failed(
                Outcome::Unreadable,
                Diagnostic::error(
                    codes::INTERNAL,
                    Span::new(0, 0),
                    format!("the importer produced a policy that does not format ({e})"),
                ),
            );
        }
    };
    let mut diagnostics = cx.diagnostics;
    routec_syntax::diagnostic::sort(&mut diagnostics);
    Imported {
        outcome: Outcome::Imported,
        policy: Some(formatted),
        diagnostics,
        report: cx.report,
        notes: cx.notes,
    }
}

/// `line:column` (1-based, columns in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    routec_syntax::LineIndex::new(text).line_col_human(offset.min(text.len()))
}

fn header(kind: SourceKind, options: &Options<'_>, cx: &Cx<'_>) -> Vec<String> {
    let file = options.file_name.as_deref().unwrap_or("the config");
    let mut h = vec![format!(
        "Imported from `{file}` by `routec import {}`.",
        kind.name()
    )];
    let errors = cx.diagnostics.iter().filter(|d| d.is_error()).count();
    if errors > 0 {
        h.push(format!(
            "The config has {errors} error{} (see `routec import --check`); the policy avoids them as noted below.",
            if errors == 1 { "" } else { "s" }
        ));
    }
    if !cx.report.is_empty() {
        h.push(String::new());
        h.push("Not expressible in routec (left out of this policy):".to_owned());
        let index = routec_syntax::LineIndex::new(cx.text);
        for u in &cx.report {
            let (l, c) = index.line_col_human(u.span.start as usize);
            h.push(format!("  {l}:{c} {}: {}", u.path, u.reason));
        }
    }
    for n in &cx.notes {
        h.push(String::new());
        h.push(format!("Note: {n}."));
    }
    h
}

/// Duplicate keys in one mapping: every format's reader keeps the last one
/// silently.
fn duplicate_keys(node: &Node, cx: &mut Cx<'_>) {
    let entries = node.entries();
    for (i, e) in entries.iter().enumerate() {
        if let Some(k) = e.key.as_str()
            && let Some(first) = entries[..i].iter().find(|p| p.key.as_str() == Some(k))
        {
            first.key.mark_all();
            first.value.mark_all();
            cx.diagnostics.push(
                Diagnostic::warning(
                    codes::DUPLICATE_KEY,
                    e.key.span,
                    format!("key `{k}` is written twice; the first one is ignored"),
                )
                .with_secondary(first.key.span, "first written here")
                .with_help("merge the two, or remove the one you do not mean"),
            );
        }
    }
    for e in entries {
        duplicate_keys(&e.value, cx);
    }
    for item in node.items() {
        duplicate_keys(item, cx);
    }
}

/// What every importer shares: the config text, the diagnostics, the report.
pub(crate) struct Cx<'a> {
    pub text: &'a str,
    pub catalog: Option<&'a Catalog>,
    pub diagnostics: Vec<Diagnostic>,
    pub report: Vec<Unexpressed>,
    pub notes: Vec<String>,
    /// Whether the config itself gave any prices or context windows.
    pub has_prices: bool,
}

impl<'a> Cx<'a> {
    fn new(text: &'a str, options: &Options<'a>) -> Cx<'a> {
        Cx {
            text,
            catalog: options.catalog,
            diagnostics: Vec::new(),
            report: Vec::new(),
            notes: Vec::new(),
            has_prices: false,
        }
    }

    pub fn emit(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    /// Lists `span` (at `path`) in the report.
    pub fn unexpressed(&mut self, path: &str, span: Span, reason: impl Into<String>) {
        self.report.push(Unexpressed {
            path: path.to_owned(),
            span,
            reason: reason.into(),
        });
    }

    /// Lists an entry in the report and marks it (and all under it) read.
    pub fn skip(&mut self, path: &str, entry: &Entry, reason: impl Into<String>) {
        entry.key.mark_all();
        entry.value.mark_all();
        self.unexpressed(path, entry.key.span.cover(entry.value.span), reason);
    }

    pub fn note(&mut self, note: &str) {
        if !self.notes.iter().any(|n| n == note) {
            self.notes.push(note.to_owned());
        }
    }

    /// The diagnostic of the wrong kind of config.
    pub fn wrong_kind(&mut self, span: Span, kind: SourceKind, expected: &str) {
        self.emit(
            Diagnostic::error(
                codes::WRONG_KIND,
                span,
                format!("this is not a {} config: {expected}", kind_title(kind)),
            )
            .with_help(
                "pick the source that wrote this file: `routec import litellm|portkey|semantic-router|tensorzero`",
            ),
        );
    }

    /// A value of the wrong type for a key.
    pub fn bad_value(&mut self, node: &Node, what: &str) {
        self.emit(Diagnostic::error(
            codes::BAD_VALUE,
            node.span,
            format!("{what}, not {}", node.type_name()),
        ));
    }
}

fn kind_title(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Litellm => "LiteLLM proxy",
        SourceKind::Portkey => "Portkey gateway",
        SourceKind::SemanticRouter => "vLLM semantic-router",
        SourceKind::Tensorzero => "TensorZero",
    }
}

/// The closest of `candidates` to `word`, for did-you-mean.
pub(crate) fn closest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(s, _)| *s >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Finds a cycle in a graph given as adjacency lists over `0..n`; returns
/// the nodes of the first cycle found, in order.
pub(crate) fn find_cycle(adj: &[Vec<usize>]) -> Option<Vec<usize>> {
    // Iterative DFS with colours: 0 white, 1 grey, 2 black.
    let n = adj.len();
    let mut colour = vec![0u8; n];
    for start in 0..n {
        if colour[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        colour[start] = 1;
        while let Some(&mut (v, ref mut i)) = stack.last_mut() {
            if let Some(&w) = adj[v].get(*i) {
                *i += 1;
                if colour[w] == 1 {
                    let pos = stack.iter().position(|(x, _)| *x == w).unwrap_or(0);
                    return Some(stack[pos..].iter().map(|(x, _)| *x).collect());
                }
                if colour[w] == 0 {
                    colour[w] = 1;
                    stack.push((w, 0));
                }
            } else {
                colour[v] = 2;
                stack.pop();
            }
        }
    }
    None
}

/// A name's source text for messages: `` `x` ``.
pub(crate) fn quoted(s: &str) -> String {
    format!("`{s}`")
}

/// Drops the rules the checker proves never apply (shadowed by earlier
/// rules, or with a condition that never holds): the source router never
/// uses them either, so each becomes a warning located at its origin in the
/// config, and the policy checks without those errors.
fn settle(policy: &mut ir::Policy, cx: &mut Cx<'_>) {
    use routec_syntax::ast::ItemKind;
    for _ in 0..16 {
        let text = policy.to_source();
        let parsed = routec_syntax::parse(&text);
        let checked = routec_check::check(&parsed.file);
        let Some(route) = parsed.file.items.iter().find_map(|i| match &i.kind {
            ItemKind::Route(r) => Some(r),
            _ => None,
        }) else {
            return;
        };
        let spans: Vec<Span> = route.body.items.iter().map(|r| r.span).collect();
        if spans.len() != policy.rules.len() {
            return;
        }
        let mut dead: Vec<(usize, bool)> = checked
            .diagnostics
            .iter()
            .filter(|d| d.code == "E0303" || d.code == "E0302")
            .filter_map(|d| {
                let i = spans
                    .iter()
                    .position(|s| s.contains(d.span.start as usize))?;
                Some((i, d.code == "E0302"))
            })
            .collect();
        if dead.is_empty() {
            return;
        }
        dead.sort_unstable();
        dead.dedup_by_key(|(i, _)| *i);
        for &(i, never_true) in dead.iter().rev() {
            let rule = policy.rules.remove(i);
            // A rule split by prompt length documents only its first part.
            let what = rule
                .doc
                .first()
                .or_else(|| {
                    policy.rules[..i]
                        .iter()
                        .rev()
                        .find(|r| {
                            r.origin == rule.origin && r.origin.is_some() && !r.doc.is_empty()
                        })
                        .and_then(|r| r.doc.first())
                })
                .map(|d| format!("(part of) {d}"))
                .unwrap_or_else(|| format!("the route to `{}`", rule.plan.text()));
            let why = if never_true {
                "its condition can never hold"
            } else {
                "earlier routes take every request it admits"
            };
            match rule.origin {
                Some(span) => cx.emit(
                    Diagnostic::warning(codes::UNREACHABLE, span, format!("{what} never applies: {why}"))
                        .with_help("the imported policy leaves it out; reorder or narrow the earlier routes if it should apply"),
                ),
                None => cx.note(&format!("{what} never applies ({why}); the policy leaves it out")),
            }
            if rule.cond.is_none()
                && let Some(prev) = policy.rules.get_mut(i.saturating_sub(1))
                && i > 0
            {
                // The earlier rules cover everything: the last of them is
                // the `otherwise` now.
                prev.cond = None;
            }
        }
    }
}
