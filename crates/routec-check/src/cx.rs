//! The checking context: the tables being built, the diagnostics, and the
//! order of the passes. Pass 1 declares every name (items are
//! order-independent), later passes resolve bodies against those names.

use std::collections::HashMap;

use routec_syntax::ast::{self, ItemKind, Lit, LitKind, Name, SourceFile, TypeKind};
use routec_syntax::{Diagnostic, Span, diagnostic};

use crate::BUILTIN_SIGNALS;
use crate::diagnostics as d;
use crate::index::{Symbol, SymbolKind};
use crate::ir::{
    ModelId, Policy, SignalDef, SignalId, SignalSource, SignalType, SliceDef, SliceId, StrOrEnv,
    TrafficId, Value,
};
use crate::units::{self, Unit};
use routec_syntax::suggest;

/// Where a comparison was written, for the constant-comparison checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    Rule(usize),
    Slice(usize),
}

/// An atomic comparison (`Cmp`, `InSet` or `Bool` of a condition) and its span.
#[derive(Clone, Debug)]
pub(crate) struct CmpSite {
    pub cond: crate::ir::Cond,
    pub span: Span,
    pub owner: Owner,
}

/// The checking context: what the passes read and build, in four parts
/// besides the policy being built and the diagnostics.
pub(crate) struct Cx<'a> {
    pub file: &'a SourceFile,
    pub diags: Vec<Diagnostic>,
    pub p: Policy,
    /// Name lookup (pass 1).
    pub names: Names,
    /// The AST behind each id.
    pub items: Items<'a>,
    /// What the policy reads and uses, for the analyses and the lints.
    pub uses: Uses,
    /// What the passes learned about the file that later ones ask about.
    pub facts: Facts,
}

/// Names to ids, built by pass 1.
#[derive(Default)]
pub(crate) struct Names {
    pub signals: FastMap<String, SignalId>,
    pub models: FastMap<String, ModelId>,
    pub slices: FastMap<String, SliceId>,
    pub traffic: FastMap<String, TrafficId>,
    /// Per enum signal, variant name to index.
    pub variants: Vec<FastMap<String, usize>>,
}

/// The AST of what the ids name.
pub(crate) struct Items<'a> {
    /// The AST of each model, by id.
    pub models: Vec<&'a ast::Model>,
    /// The AST of each slice, by id.
    pub slices: Vec<&'a ast::Slice>,
    /// The ASTs of the rules, parallel to `p.rules`.
    pub rules: Vec<&'a ast::Rule>,
    /// The first `route` block, if any.
    pub route: Option<(&'a ast::Route, Span)>,
    /// Per file item: left out because it repeats a block that may appear
    /// once.
    pub skipped: Vec<bool>,
}

/// What the policy reads and uses.
#[derive(Default)]
pub(crate) struct Uses {
    /// Atomic comparisons of rules and slices.
    pub sites: Vec<CmpSite>,
    /// Spans of `optimize` plans in rules.
    pub optimize_spans: Vec<Span>,
    /// Whether any `for each slice` scope was written.
    pub each_slice: bool,
    /// Signals read by slices, quality tables and optimize dims (rules are
    /// collected by the route-space checks).
    pub signal_reads: Vec<bool>,
    /// Signals read by rules that can match (set by the route-space checks).
    pub reachable_reads: Vec<bool>,
}

/// Facts about the file that later passes ask about.
#[derive(Default)]
pub(crate) struct Facts {
    /// The span of the `fallback` property each model got its fallback from.
    pub fallback_spans: Vec<Option<Span>>,
    /// Models with a property that could not be resolved (lints stay quiet).
    pub model_broken: Vec<bool>,
    pub policy_name_span: Option<Span>,
    pub has_baseline: bool,
    pub objective_written: bool,
}

/// Maps keyed by names of the file: a fast fixed-seed hash (and a fixed
/// iteration order, so ties between did-you-mean candidates always go the
/// same way).
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

impl<'a> Cx<'a> {
    pub fn new(file: &'a SourceFile) -> Cx<'a> {
        Cx {
            file,
            diags: Vec::new(),
            p: Policy::default(),
            names: Names::default(),
            items: Items {
                models: Vec::new(),
                slices: Vec::new(),
                rules: Vec::new(),
                route: None,
                skipped: vec![false; file.items.len()],
            },
            uses: Uses::default(),
            facts: Facts::default(),
        }
    }

    pub fn emit(&mut self, diag: Diagnostic) {
        self.diags.push(diag);
    }

    pub fn run(&mut self) {
        self.declare();
        self.resolve_signals();
        self.resolve_models();
        self.resolve_slices();
        self.resolve_policy();
        self.resolve_route();
        self.resolve_blocks();
        self.check_route_space();
        self.lint();
    }

    pub fn finish(mut self) -> (Vec<Diagnostic>, Policy) {
        self.p.index.finish();
        diagnostic::sort(&mut self.diags);
        self.diags.dedup();
        (self.diags, self.p)
    }

    /// Records the property `key` of a block at `span` as seen, reporting a
    /// second occurrence; false when it is a duplicate to skip.
    pub fn first_property<'k>(
        &mut self,
        seen: &mut FastMap<&'k str, Span>,
        span: Span,
        key: &'k str,
    ) -> bool {
        let at = keyword_span(span, key);
        if let Some(&first) = seen.get(key) {
            self.emit(d::duplicate_property(at, key, first));
            return false;
        }
        seen.insert(key, at);
        true
    }

    // ------------------------------------------------------------ lookups

    pub fn signal(&mut self, name: &Name) -> Option<SignalId> {
        let id = self.names.signals.get(&name.text).copied()?;
        self.p.index.reference(SymbolKind::Signal(id), name.span);
        Some(id)
    }

    /// Looks a signal up, reporting an unknown one.
    pub fn signal_or_report(&mut self, name: &Name) -> Option<SignalId> {
        let id = self.signal(name);
        if id.is_none() {
            let best = suggest::closest(&name.text, self.names.signals.keys().map(String::as_str));
            self.emit(d::unknown_signal(name, best));
        }
        id
    }

    pub fn model(&mut self, name: &Name) -> Option<ModelId> {
        let id = self.names.models.get(&name.text).copied()?;
        self.p.index.reference(SymbolKind::Model(id), name.span);
        Some(id)
    }

    pub fn model_or_report(&mut self, name: &Name) -> Option<ModelId> {
        let id = self.model(name);
        if id.is_none() {
            let best = suggest::closest(&name.text, self.names.models.keys().map(String::as_str));
            self.emit(d::unknown_model(name, best));
        }
        id
    }

    pub fn slice_or_report(&mut self, name: &Name) -> Option<SliceId> {
        match self.names.slices.get(&name.text).copied() {
            Some(id) => {
                self.p.index.reference(SymbolKind::Slice(id), name.span);
                Some(id)
            }
            None => {
                let best =
                    suggest::closest(&name.text, self.names.slices.keys().map(String::as_str));
                self.emit(d::unknown_slice(name, best));
                None
            }
        }
    }

    pub fn traffic_or_report(&mut self, name: &Name) -> Option<TrafficId> {
        match self.names.traffic.get(&name.text).copied() {
            Some(id) => {
                self.p.index.reference(SymbolKind::Traffic(id), name.span);
                Some(id)
            }
            None => {
                let best =
                    suggest::closest(&name.text, self.names.traffic.keys().map(String::as_str));
                self.emit(d::unknown_traffic(name, best));
                None
            }
        }
    }

    /// Resolves an enum value of `signal` written as `word` at `span`.
    pub fn variant_or_report(&mut self, signal: SignalId, word: &str, span: Span) -> Option<usize> {
        let def = &self.p.signals[signal.index()];
        let SignalType::Enum(variants) = &def.ty else {
            return None;
        };
        match self
            .names
            .variants
            .get(signal.index())
            .and_then(|m| m.get(word))
            .copied()
        {
            Some(i) => {
                self.p.index.reference(SymbolKind::Variant(signal, i), span);
                Some(i)
            }
            None => {
                let best = suggest::closest(word, variants.iter().map(String::as_str));
                let diag = d::unknown_value(span, word, &def.name, variants, best);
                self.emit(diag);
                None
            }
        }
    }

    /// Reads a literal as `unit`, reporting what is wrong with it.
    pub fn quantity(&mut self, lit: &Lit, unit: Unit) -> Option<f64> {
        match units::quantity(lit, unit) {
            Ok(v) => Some(v),
            Err(e) => {
                self.emit(d::unit_error(lit, unit, e));
                None
            }
        }
    }

    /// Reads a literal as a value of `signal` (a default, a test's `given`).
    pub fn signal_value(&mut self, signal: SignalId, lit: &Lit) -> Option<Value> {
        let ty = self.p.signals[signal.index()].ty.kind_only();
        let name = self.p.signals[signal.index()].name.clone();
        match ty {
            SignalType::Bool => match lit.kind {
                LitKind::Bool(b) => Some(Value::Bool(b)),
                _ => {
                    let found = units::classify(lit)
                        .map(|f| f.describe())
                        .unwrap_or_default();
                    self.emit(d::expected_value_of(
                        lit.span,
                        &name,
                        "`true` or `false`",
                        &found,
                    ));
                    None
                }
            },
            SignalType::Enum(_) => match &lit.kind {
                LitKind::Ident(w) => self.variant_or_report(signal, w, lit.span).map(Value::Enum),
                _ => {
                    let found = units::classify(lit)
                        .map(|f| f.describe())
                        .unwrap_or_default();
                    self.emit(d::expected_value_of(
                        lit.span,
                        &name,
                        "one of its values",
                        &found,
                    ));
                    None
                }
            },
            ty => self.quantity(lit, unit_of(&ty)).map(Value::Number),
        }
    }

    /// The items that were not left out as duplicates.
    pub fn live_items(&self) -> impl Iterator<Item = &'a ast::Item> + '_ {
        let file = self.file;
        file.items
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.items.skipped.get(*i).copied().unwrap_or(false))
            .map(|(_, item)| item)
    }

    // ------------------------------------------------------------ pass 1: names

    fn declare(&mut self) {
        for (name, ty) in BUILTIN_SIGNALS {
            let id = SignalId(self.p.signals.len() as u32);
            let ty = match *ty {
                "tokens" => SignalType::Tokens,
                _ => SignalType::Bool,
            };
            self.p.signals.push(SignalDef {
                name: (*name).to_owned(),
                span: Span::default(),
                doc: None,
                ty,
                source: SignalSource::Builtin,
                default: Some(match *name {
                    "prompt_tokens" => Value::Number(crate::DEFAULT_PROMPT_TOKENS),
                    "max_output_tokens" => Value::Number(0.0),
                    _ => Value::Bool(false),
                }),
                builtin: true,
            });
            self.names.signals.insert((*name).to_owned(), id);
            self.p.index.add(Symbol {
                kind: SymbolKind::Signal(id),
                name: (*name).to_owned(),
                def: None,
                item: None,
                doc: None,
            });
        }
        let file = self.file;
        let mut defs: FastMap<(&str, &str), (Span, &'static str)> = FastMap::default();
        let mut blocks: FastMap<&'static str, Span> = FastMap::default();
        for (item_index, item) in file.items.iter().enumerate() {
            let doc = item.doc.as_ref().map(|d| d.text.clone());
            let kind_name = match &item.kind {
                ItemKind::Signal(_) => "signal",
                ItemKind::Model(_) => "model",
                ItemKind::Slice(_) => "slice",
                ItemKind::Traffic(_) => "traffic",
                ItemKind::Policy(_) => "policy",
                ItemKind::Objective(_) => "objective",
                ItemKind::Route(_) => "route",
                ItemKind::Faults(_) => "faults",
                ItemKind::Learn(_) => "learn",
                ItemKind::Slo(_) | ItemKind::Test(_) | ItemKind::Error => "",
            };
            // Blocks that may appear once.
            if matches!(
                kind_name,
                "policy" | "objective" | "route" | "faults" | "learn"
            ) {
                let span = match &item.kind {
                    ItemKind::Policy(p) => p.name.span,
                    _ => keyword_span(item.span, kind_name),
                };
                if let Some(first) = blocks.get(kind_name) {
                    self.emit(d::duplicate_block(span, kind_name, *first));
                    self.items.skipped[item_index] = true;
                    continue;
                }
                blocks.insert(kind_name, span);
            }
            let name = match &item.kind {
                ItemKind::Signal(s) => &s.name,
                ItemKind::Model(m) => &m.name,
                ItemKind::Slice(s) => &s.name,
                ItemKind::Traffic(t) => &t.name,
                _ => continue,
            };
            if let Some(&id) = self.names.signals.get(&name.text)
                && kind_name == "signal"
                && self.p.signals[id.index()].builtin
            {
                self.emit(d::redefined_builtin(name));
                self.items.skipped[item_index] = true;
                continue;
            }
            // Signals and slices share the condition namespace; models and
            // traffic profiles have their own.
            let space = match kind_name {
                "signal" | "slice" => "condition",
                other => other,
            };
            let key = (space, name.text.as_str());
            if let Some((first, first_kind)) = defs.get(&key) {
                self.emit(d::duplicate_definition(name, first_kind, *first));
                self.items.skipped[item_index] = true;
                continue;
            }
            defs.insert(key, (name.span, kind_name));
            match &item.kind {
                ItemKind::Signal(s) => {
                    let id = SignalId(self.p.signals.len() as u32);
                    let ty = self.resolve_type(&s.ty, id);
                    self.p.signals.push(SignalDef {
                        name: s.name.text.clone(),
                        span: s.name.span,
                        doc: doc.clone(),
                        ty,
                        source: SignalSource::Unknown,
                        default: None,
                        builtin: false,
                    });
                    self.names.signals.insert(s.name.text.clone(), id);
                    self.p.index.add(Symbol {
                        kind: SymbolKind::Signal(id),
                        name: s.name.text.clone(),
                        def: Some(s.name.span),
                        item: Some(item.span),
                        doc,
                    });
                    if let TypeKind::Enum(variants) = &s.ty.kind {
                        let mut seen: FastMap<&str, Span> = FastMap::default();
                        let mut index = 0;
                        for v in variants {
                            if seen.insert(&v.text, v.span).is_some() {
                                continue;
                            }
                            self.p.index.add(Symbol {
                                kind: SymbolKind::Variant(id, index),
                                name: v.text.clone(),
                                def: Some(v.span),
                                item: Some(item.span),
                                doc: None,
                            });
                            index += 1;
                        }
                    }
                }
                ItemKind::Model(m) => {
                    let id = ModelId(self.items.models.len() as u32);
                    self.items.models.push(m);
                    self.names.models.insert(m.name.text.clone(), id);
                    self.p.index.add(Symbol {
                        kind: SymbolKind::Model(id),
                        name: m.name.text.clone(),
                        def: Some(m.name.span),
                        item: Some(item.span),
                        doc,
                    });
                    self.p.models.push(crate::models::empty_model(m, item));
                }
                ItemKind::Slice(s) => {
                    let id = SliceId(self.items.slices.len() as u32);
                    self.items.slices.push(s);
                    self.names.slices.insert(s.name.text.clone(), id);
                    self.p.index.add(Symbol {
                        kind: SymbolKind::Slice(id),
                        name: s.name.text.clone(),
                        def: Some(s.name.span),
                        item: Some(item.span),
                        doc: doc.clone(),
                    });
                    self.p.slices.push(SliceDef {
                        name: s.name.text.clone(),
                        span: s.name.span,
                        doc,
                        cond: crate::ir::Cond::Unknown,
                    });
                }
                ItemKind::Traffic(t) => {
                    let id = TrafficId(self.p.traffic.len() as u32);
                    self.names.traffic.insert(t.name.text.clone(), id);
                    self.p.index.add(Symbol {
                        kind: SymbolKind::Traffic(id),
                        name: t.name.text.clone(),
                        def: Some(t.name.span),
                        item: Some(item.span),
                        doc: doc.clone(),
                    });
                    self.p.traffic.push(crate::ir::TrafficDef {
                        name: t.name.text.clone(),
                        span: t.name.span,
                        doc,
                        source: crate::ir::TrafficSource::File(String::new()),
                        peak: None,
                    });
                }
                _ => {}
            }
        }
        self.uses.signal_reads = vec![false; self.p.signals.len()];
        self.names.variants = self
            .p
            .signals
            .iter()
            .map(|s| match &s.ty {
                SignalType::Enum(vs) => {
                    vs.iter().enumerate().map(|(i, v)| (v.clone(), i)).collect()
                }
                _ => FastMap::default(),
            })
            .collect();
        if !blocks.contains_key("policy") {
            self.emit(d::missing_policy());
        }
        if !blocks.contains_key("route") {
            self.emit(d::missing_route());
        }
    }

    fn resolve_type(&mut self, ty: &ast::Type, _id: SignalId) -> SignalType {
        match &ty.kind {
            TypeKind::Named(n) => match n.text.as_str() {
                "bool" => SignalType::Bool,
                "int" => SignalType::Int,
                "tokens" => SignalType::Tokens,
                "ratio" => SignalType::Ratio,
                "duration" => SignalType::Duration,
                "money" => SignalType::Money,
                other => {
                    let best = suggest::closest(other, TYPE_NAMES.iter().copied());
                    self.emit(d::unknown_type(n, best));
                    // An unknown type reads as an empty enum: no value fits,
                    // and no follow-up error mentions it.
                    SignalType::Enum(Vec::new())
                }
            },
            TypeKind::Enum(variants) => {
                let mut out: Vec<String> = Vec::new();
                let mut first: FastMap<&str, Span> = FastMap::default();
                for v in variants {
                    if let Some(f) = first.get(v.text.as_str()) {
                        self.emit(d::duplicate_variant(v, *f));
                        continue;
                    }
                    first.insert(&v.text, v.span);
                    out.push(v.text.clone());
                }
                if out.is_empty() {
                    self.emit(d::empty_enum(ty.span));
                }
                SignalType::Enum(out)
            }
        }
    }

    // ------------------------------------------------------------ signals

    fn resolve_signals(&mut self) {
        let items: Vec<&ast::Item> = self.live_items().collect();
        for item in items {
            let ItemKind::Signal(s) = &item.kind else {
                continue;
            };
            let Some(&id) = self.names.signals.get(&s.name.text) else {
                continue;
            };
            if self.p.signals[id.index()].builtin {
                continue;
            }
            let unknown_type =
                matches!(&s.ty.kind, TypeKind::Named(n) if !TYPE_NAMES.contains(&n.text.as_str()));
            let source = match &s.source {
                None => {
                    self.emit(d::missing_source(&s.name));
                    SignalSource::Unknown
                }
                Some(src) => self.resolve_source(src),
            };
            self.p.signals[id.index()].source = source;
            match &s.default {
                None => {
                    if !unknown_type {
                        let hint = default_hint(&self.p.signals[id.index()].ty);
                        self.emit(d::missing_default(&s.name, hint));
                    }
                }
                Some(lit) => {
                    let empty_enum = matches!(&self.p.signals[id.index()].ty, SignalType::Enum(v) if v.is_empty());
                    if !unknown_type && !empty_enum {
                        let v = self.signal_value(id, lit);
                        self.p.signals[id.index()].default = v;
                    }
                }
            }
        }
    }

    fn resolve_source(&mut self, src: &ast::Source) -> SignalSource {
        let kind = src.kind.text.as_str();
        let key = src.key.as_ref().map(|k| k.value.clone());
        if !matches!(kind, "header" | "metadata" | "classifier") {
            let best = suggest::closest(kind, ["header", "metadata", "classifier"]);
            self.emit(d::unknown_word(
                &src.kind,
                "signal source",
                SOURCE_WORDS,
                best,
            ));
            return SignalSource::Unknown;
        }
        let Some(key) = key else {
            self.emit(d::missing_source_key(&src.kind));
            return SignalSource::Unknown;
        };
        if kind != "classifier" {
            for clause in &src.clauses {
                if clause.name.text == "cost" {
                    self.emit(d::cost_not_classifier(clause.value.span, kind));
                } else {
                    self.emit(d::clause_not_classifier(&clause.name, kind));
                }
            }
        }
        match kind {
            "header" => SignalSource::Header(key),
            "metadata" => SignalSource::Metadata(key),
            _ => {
                let mut seen: Vec<(&str, Span)> = Vec::new();
                let mut cost = None;
                let mut endpoint = None;
                let mut timeout = None;
                for clause in &src.clauses {
                    let word = clause.name.text.as_str();
                    if !CLASSIFIER_CLAUSES.contains(&word) {
                        let best = suggest::closest(word, CLASSIFIER_CLAUSES.iter().copied());
                        self.emit(d::unknown_word(
                            &clause.name,
                            "classifier clause",
                            CLASSIFIER_CLAUSES,
                            best,
                        ));
                        continue;
                    }
                    if let Some(&(_, first)) = seen.iter().find(|(w, _)| *w == word) {
                        self.emit(d::duplicate_property(clause.span, word, first));
                        continue;
                    }
                    seen.push((word, clause.span));
                    let lit = &clause.value;
                    match word {
                        "cost" => cost = self.quantity(lit, Unit::Duration),
                        "timeout" => timeout = self.quantity(lit, Unit::Duration),
                        _ => match &lit.kind {
                            LitKind::String(s) => {
                                if crate::models::looks_secret(s) {
                                    self.emit(d::secret_like(lit.span, "endpoint"));
                                }
                                endpoint = Some(StrOrEnv::Str(s.clone()));
                            }
                            LitKind::Env(v) => endpoint = Some(StrOrEnv::Env(v.clone())),
                            _ => self.emit(d::expected_string_or_env(lit, "endpoint")),
                        },
                    }
                }
                if !seen.iter().any(|(w, _)| *w == "cost") {
                    self.emit(d::missing_classifier_cost(src.kind.span));
                }
                SignalSource::Classifier {
                    name: key,
                    cost,
                    endpoint,
                    timeout,
                }
            }
        }
    }
}

pub(crate) const TYPE_NAMES: &[&str] = routec_syntax::words::SIGNAL_TYPES;
/// The clauses a `classifier` source takes.
pub(crate) const CLASSIFIER_CLAUSES: &[&str] = routec_syntax::words::CLASSIFIER_CLAUSES;
const SOURCE_WORDS: &[&str] = routec_syntax::words::SIGNAL_SOURCES;

/// The unit of a numeric signal's values.
pub(crate) fn unit_of(ty: &SignalType) -> Unit {
    match ty {
        SignalType::Tokens => Unit::Tokens,
        SignalType::Ratio => Unit::Ratio,
        SignalType::Duration => Unit::Duration,
        SignalType::Money => Unit::Money,
        _ => Unit::Int,
    }
}

fn default_hint(ty: &SignalType) -> String {
    match ty {
        SignalType::Bool => "default false".into(),
        SignalType::Enum(v) => format!("default {}", v.first().map_or("...", String::as_str)),
        SignalType::Ratio => "default 50%".into(),
        SignalType::Duration => "default 0s".into(),
        SignalType::Money => "default $0".into(),
        SignalType::Int | SignalType::Tokens => "default 0".into(),
    }
}

/// The span of an item's leading keyword (items start with it).
pub(crate) fn keyword_span(item: Span, keyword: &str) -> Span {
    Span::new(item.start as usize, item.start as usize + keyword.len())
}
