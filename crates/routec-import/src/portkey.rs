//! Portkey gateway config (JSON) -> policy.
//!
//! A config is a tree of targets: a leaf calls one provider; a node has a
//! `strategy.mode` over its `targets`: `single` (the first), `loadbalance`
//! (by `weight`, default 1), `fallback` (in order, optionally only on
//! `on_status_codes`) or `conditional` (the first condition whose `query`
//! matches the request's `metadata`/`params` picks a target by `name`, else
//! `default`). The tree is flattened into a first-match list of conditions,
//! each with a split over fallback chains (Portkey's choices are
//! independent, so `a else split{b, c}` is `split{a else b, a else c}`);
//! chains inside a split become copies of the models with `fallback`.

use std::collections::HashMap;

use routec_syntax::{Diagnostic, Span};

use crate::doc::{Kind, Node};
use crate::ir::{
    self, Cond, FaultSet, Model, Names, Plan, Policy, Rule, Signal, SignalSource, SignalType, Value,
};
use crate::{Cx, SourceKind, closest, codes};

const MODES: &[&str] = &["single", "loadbalance", "fallback", "conditional"];
const OPERATORS: &[&str] = &[
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$and", "$or",
];
/// Portkey retries these statuses when `on_status_codes` is not given.
const DEFAULT_RETRY_STATUSES: &[&str] = &["429", "500", "502", "503", "504"];
/// The most alternatives (chains in a split) or rules a config may expand to.
const MAX_ALTERNATIVES: usize = 256;

pub(crate) fn reason(path: &str) -> &'static str {
    let last = path.rsplit('.').next().unwrap_or(path);
    let last = last.split('[').next().unwrap_or(last);
    match last {
        "cache" => "response caching is not modelled",
        "virtual_key" => {
            "Portkey virtual keys live in Portkey's vault: give the model `api_key env(\"NAME\")`"
        }
        "prompt_id" => "Portkey prompt templates are outside routing",
        "before_request_hooks"
        | "after_request_hooks"
        | "input_guardrails"
        | "output_guardrails" => "guardrails check content; routec routes requests",
        "forward_headers" | "custom_host_headers" => "header forwarding happens in the gateway",
        _ => "not a Portkey config key the importer knows",
    }
}

/// One way a request is served: its share and the models tried in order.
#[derive(Clone, Debug)]
struct Alt {
    weight: f64,
    chain: Vec<String>,
}

/// A first-match list: each condition with its alternatives; the last
/// condition is `True`.
type Lowered = Vec<(Cond, Vec<Alt>)>;

/// The conditions chosen so far and the weighted alternatives they pick.
type Combination = (Vec<Cond>, Vec<(f64, Vec<Alt>)>);

struct Importer<'c, 'a> {
    cx: &'c mut Cx<'a>,
    models: Vec<Model>,
    names: Names,
    faults: Vec<(String, FaultSet)>,
    /// Query path -> (signal name, literal values seen).
    signals: Vec<(String, String, Vec<Lit>)>,
    signal_names: Names,
}

#[derive(Clone, Debug, PartialEq)]
enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
}

pub(crate) fn import(cx: &mut Cx<'_>, root: &Node) -> Option<Policy> {
    if !root.is_map() {
        cx.wrong_kind(
            root.span,
            SourceKind::Portkey,
            "expected a JSON object with `strategy` and `targets`, or a single target",
        );
        return None;
    }
    let looks = root.entries().iter().any(|e| {
        matches!(
            e.key.as_str(),
            Some(
                "strategy"
                    | "targets"
                    | "provider"
                    | "virtual_key"
                    | "override_params"
                    | "retry"
                    | "api_key"
            )
        )
    });
    if !looks {
        let hint = if root.entry("model_list").is_some() {
            " (this looks like a LiteLLM config)"
        } else {
            ""
        };
        cx.wrong_kind(
            root.span,
            SourceKind::Portkey,
            &format!("expected `strategy` and `targets`, or a target with `provider`{hint}"),
        );
        return None;
    }
    let mut im = Importer {
        cx,
        models: Vec::new(),
        names: Names::default(),
        faults: Vec::new(),
        signals: Vec::new(),
        signal_names: Names::default(),
    };
    let mut defaults = FaultSet::default();
    let lowered = im.lower(root, "", 0, &mut defaults, true)?;
    if im.models.is_empty() {
        im.cx.emit(Diagnostic::error(
            codes::NOTHING_TO_ROUTE,
            root.span,
            "the config has no target to route to",
        ));
        return None;
    }
    // Signals.
    let mut signals = Vec::new();
    let mut value_names: HashMap<(String, String), String> = HashMap::new();
    for (path, name, lits) in &im.signals {
        let (ty, default) = signal_type(lits, name, &mut value_names);
        let source = path.trim_start_matches("metadata.").to_owned();
        signals.push(Signal {
            name: name.clone(),
            doc: vec![format!("`{path}` of the request.")],
            ty,
            source: SignalSource::Metadata(source),
            default,
        });
    }
    let mut rules = Vec::new();
    let mut clones: HashMap<(String, String), String> = HashMap::new();
    let mut extra = Vec::new();
    let lowered_len = lowered.len();
    for (i, (cond, alts)) in lowered.into_iter().enumerate() {
        let cond = rename_values(cond, &value_names);
        let plan = plan_of(alts, &mut clones, &mut extra, &mut im.names, &im.faults);
        let last = i + 1 == lowered_len;
        rules.push(Rule {
            doc: Vec::new(),
            cond: if last { None } else { Some(cond) },
            plan,
            origin: None,
        });
        if last {
            break;
        }
    }
    let mut models = im.models;
    models.extend(extra);
    let mut per_model: Vec<(String, FaultSet)> = im
        .faults
        .into_iter()
        .filter(|(_, f)| *f != defaults)
        .collect();
    let copies: Vec<(String, FaultSet)> = models
        .iter()
        .filter_map(|m| {
            let base = m.extends.as_ref()?;
            let f = per_model.iter().find(|(n, _)| n == base)?;
            Some((m.name.clone(), f.1.clone()))
        })
        .collect();
    per_model.extend(copies);
    Some(Policy {
        name: "imported_portkey".into(),
        owner: None,
        header: Vec::new(),
        signals,
        models,
        slo: Vec::new(),
        rules,
        faults: ir::Faults {
            defaults,
            per_model,
        },
    })
}

fn signal_type(
    lits: &[Lit],
    name: &str,
    value_names: &mut HashMap<(String, String), String>,
) -> (SignalType, String) {
    if !lits.is_empty() && lits.iter().all(|l| matches!(l, Lit::Bool(_))) {
        return (SignalType::Bool, "false".into());
    }
    if !lits.is_empty()
        && lits
            .iter()
            .all(|l| matches!(l, Lit::Num(x) if x.fract() == 0.0))
    {
        return (SignalType::Int, "0".into());
    }
    let mut names = Names::default();
    let mut values = Vec::new();
    for l in lits {
        let raw = lit_text(l);
        if value_names.contains_key(&(name.to_owned(), raw.clone())) {
            continue;
        }
        let v = names.of(&raw);
        value_names.insert((name.to_owned(), raw), v.clone());
        values.push(v);
    }
    let other = names.fresh("other");
    values.push(other.clone());
    (SignalType::Enum(values), other)
}

fn lit_text(l: &Lit) -> String {
    match l {
        Lit::Str(s) => s.clone(),
        Lit::Num(x) => ir::number(*x),
        Lit::Bool(b) => b.to_string(),
    }
}

/// Replaces raw enum values (`"paid"`) by their identifiers.
fn rename_values(c: Cond, names: &HashMap<(String, String), String>) -> Cond {
    let map = |s: &str, v: String| names.get(&(s.to_owned(), v.clone())).cloned().unwrap_or(v);
    match c {
        Cond::Cmp(s, op, v) => {
            let v = map(&s, v);
            Cond::Cmp(s, op, v)
        }
        Cond::In(s, vs, neg) => {
            let vs = vs.into_iter().map(|v| map(&s, v)).collect();
            Cond::In(s, vs, neg)
        }
        Cond::Not(c) => Cond::Not(Box::new(rename_values(*c, names))),
        Cond::And(cs) => Cond::And(cs.into_iter().map(|c| rename_values(c, names)).collect()),
        Cond::Or(cs) => Cond::Or(cs.into_iter().map(|c| rename_values(c, names)).collect()),
        c => c,
    }
}

/// Alternatives as a plan: one chain, or a split whose entries are copies
/// of their first model falling back along the chain.
fn plan_of(
    alts: Vec<Alt>,
    clones: &mut HashMap<(String, String), String>,
    extra: &mut Vec<Model>,
    names: &mut Names,
    _faults: &[(String, FaultSet)],
) -> Plan {
    // Merge identical chains.
    let mut merged: Vec<Alt> = Vec::new();
    for a in alts {
        match merged.iter_mut().find(|m| m.chain == a.chain) {
            Some(m) => m.weight += a.weight,
            None => merged.push(a),
        }
    }
    if merged.len() == 1 {
        let mut chain = merged.remove(0).chain;
        return if chain.len() == 1 {
            Plan::Target(chain.remove(0))
        } else {
            Plan::Chain(chain)
        };
    }
    let weights: Vec<f64> = merged.iter().map(|a| a.weight).collect();
    let shares = ir::shares(&weights)
        .unwrap_or_else(|| ir::shares(&vec![1.0; merged.len()]).unwrap_or_default());
    let mut entries: Vec<(String, u32)> = Vec::new();
    for (a, s) in merged.iter().zip(shares) {
        if s == 0 {
            continue;
        }
        let mut next: Option<String> = None;
        for m in a.chain.iter().rev() {
            next = Some(match next {
                None => m.clone(),
                Some(n) => crate::route::copy_with_fallback(m, &n, clones, extra, names),
            });
        }
        let Some(head) = next else { continue };
        match entries.iter_mut().find(|(m, _)| *m == head) {
            Some(e) => e.1 += s,
            None => entries.push((head, s)),
        }
    }
    if entries.len() == 1 {
        Plan::Target(entries.remove(0).0)
    } else {
        Plan::Split(entries)
    }
}

impl Importer<'_, '_> {
    /// Lowers a target (or the whole config) into a first-match list.
    fn lower(
        &mut self,
        node: &Node,
        path: &str,
        depth: usize,
        faults: &mut FaultSet,
        top: bool,
    ) -> Option<Lowered> {
        node.mark();
        if depth > 16 {
            self.cx.emit(Diagnostic::error(
                codes::BAD_VALUE,
                node.span,
                "targets are nested more than 16 levels deep",
            ));
            return None;
        }
        if !node.is_map() {
            self.cx.bad_value(node, "a target must be an object");
            return None;
        }
        self.faults_of(node, path, faults);
        let strategy = node.get("strategy");
        let targets = node.get("targets");
        let Some(strategy) = strategy else {
            if let Some(t) = targets {
                self.cx.emit(
                    Diagnostic::error(codes::BAD_VALUE, t.span, "`targets` without `strategy`")
                        .with_help("add `\"strategy\": { \"mode\": \"fallback\" }` (or `loadbalance`, `conditional`, `single`)"),
                );
                return None;
            }
            let name = self.leaf(node, path, faults, top)?;
            return Some(vec![(
                Cond::True,
                vec![Alt {
                    weight: 1.0,
                    chain: vec![name],
                }],
            )]);
        };
        let mode_node = strategy.get("mode");
        let mode = mode_node.and_then(Node::as_str).unwrap_or("");
        if !MODES.contains(&mode) {
            let span = mode_node.map_or(strategy.span, |m| m.span);
            let mut d = Diagnostic::error(
                codes::UNKNOWN_STRATEGY,
                span,
                format!("unknown strategy mode `{mode}`"),
            );
            d = match closest(mode, MODES) {
                Some(c) => d.with_help(format!("did you mean `{c}`?")).with_suggestion(
                    "replace",
                    span,
                    format!("\"{c}\""),
                ),
                None => d.with_help(format!("Portkey knows {}", MODES.join(", "))),
            };
            self.cx.emit(d);
            return None;
        }
        let Some(targets) = targets.filter(|t| t.is_seq() && !t.items().is_empty()) else {
            self.cx.emit(Diagnostic::error(
                codes::NOTHING_TO_ROUTE,
                node.span,
                format!("a `{mode}` strategy needs a non-empty list of `targets`"),
            ));
            return None;
        };
        let items = targets.items();
        let tpath = |i: usize| {
            if path.is_empty() {
                format!("targets[{i}]")
            } else {
                format!("{path}.targets[{i}]")
            }
        };
        match mode {
            "single" => {
                for (i, t) in items.iter().enumerate().skip(1) {
                    self.cx.emit(Diagnostic::warning(
                        codes::UNREACHABLE,
                        t.span,
                        "`single` mode uses only the first target; this one is never called",
                    ));
                    t.mark_all();
                    self.cx
                        .unexpressed(&tpath(i), t.span, "never called in `single` mode");
                }
                let mut f = faults.clone();
                self.lower(&items[0], &tpath(0), depth + 1, &mut f, false)
            }
            "loadbalance" => {
                let mut parts = Vec::new();
                for (i, t) in items.iter().enumerate() {
                    let w = match t.get("weight") {
                        None => 1.0,
                        Some(w) => match w.as_f64() {
                            Some(x) if x >= 0.0 => x,
                            _ => {
                                self.cx
                                    .bad_value(w, "`weight` must be a number of at least 0");
                                1.0
                            }
                        },
                    };
                    if w == 0.0 {
                        self.cx.emit(Diagnostic::warning(
                            codes::UNREACHABLE,
                            t.entry("weight").map_or(t.span, |e| e.value.span),
                            "a target with weight 0 is never chosen",
                        ));
                        t.mark_all();
                        continue;
                    }
                    let mut f = faults.clone();
                    let l = self.lower(t, &tpath(i), depth + 1, &mut f, false)?;
                    parts.push((w, l));
                }
                let total: f64 = parts.iter().map(|(w, _)| w).sum();
                if parts.is_empty() || total <= 0.0 {
                    self.cx.emit(Diagnostic::error(
                        codes::NOTHING_TO_ROUTE,
                        targets.span,
                        "every target has weight 0",
                    ));
                    return None;
                }
                self.product(&parts, targets.span, |ls| {
                    ls.iter()
                        .flat_map(|(w, alts)| {
                            alts.iter().map(move |a| Alt {
                                weight: a.weight * w / total,
                                chain: a.chain.clone(),
                            })
                        })
                        .collect()
                })
            }
            "fallback" => {
                if let Some(codes_node) = strategy.get("on_status_codes") {
                    codes_node.mark_all();
                    self.cx.unexpressed(
                        &format!("{}strategy.on_status_codes", prefix(path)),
                        codes_node.span,
                        "falling back only on some statuses: the policy falls back on every failed call",
                    );
                }
                let mut parts = Vec::new();
                for (i, t) in items.iter().enumerate() {
                    let mut f = faults.clone();
                    parts.push((1.0, self.lower(t, &tpath(i), depth + 1, &mut f, false)?));
                }
                self.product(&parts, targets.span, |ls| {
                    let mut acc = vec![Alt {
                        weight: 1.0,
                        chain: Vec::new(),
                    }];
                    for (_, alts) in ls {
                        let mut next = Vec::new();
                        for a in &acc {
                            for b in alts {
                                let mut chain = a.chain.clone();
                                chain.extend(
                                    b.chain.iter().filter(|m| !a.chain.contains(m)).cloned(),
                                );
                                next.push(Alt {
                                    weight: a.weight * b.weight,
                                    chain,
                                });
                            }
                        }
                        acc = next;
                    }
                    acc
                })
            }
            _ => self.conditional(strategy, items, path, depth, faults),
        }
    }

    /// Combines the first-match lists of several targets: every combination
    /// of their conditions (in order) with `combine` over the alternatives.
    fn product(
        &mut self,
        parts: &[(f64, Lowered)],
        span: Span,
        combine: impl Fn(&[(f64, Vec<Alt>)]) -> Vec<Alt>,
    ) -> Option<Lowered> {
        let mut acc: Vec<Combination> = vec![(Vec::new(), Vec::new())];
        for (w, l) in parts {
            let mut next = Vec::new();
            for (conds, chosen) in &acc {
                for (c, alts) in l {
                    let mut cs = conds.clone();
                    cs.push(c.clone());
                    let mut ch = chosen.clone();
                    ch.push((*w, alts.clone()));
                    next.push((cs, ch));
                }
            }
            if next.len() > MAX_ALTERNATIVES {
                self.cx.emit(Diagnostic::error(
                    codes::BAD_VALUE,
                    span,
                    format!("the nested conditions expand to more than {MAX_ALTERNATIVES} rules"),
                ));
                return None;
            }
            acc = next;
        }
        let mut out = Vec::new();
        for (conds, chosen) in acc {
            let alts = combine(&chosen);
            if alts.len() > MAX_ALTERNATIVES {
                self.cx.emit(Diagnostic::error(
                    codes::BAD_VALUE,
                    span,
                    format!(
                        "the nested targets expand to more than {MAX_ALTERNATIVES} alternatives"
                    ),
                ));
                return None;
            }
            out.push((Cond::and(conds), alts));
        }
        Some(out)
    }

    fn conditional(
        &mut self,
        strategy: &Node,
        items: &[Node],
        path: &str,
        depth: usize,
        faults: &mut FaultSet,
    ) -> Option<Lowered> {
        // Targets by name.
        let mut by_name: HashMap<String, (usize, Span)> = HashMap::new();
        for (i, t) in items.iter().enumerate() {
            if let Some(n) = t.get("name") {
                let Some(s) = n.as_str() else {
                    self.cx.bad_value(n, "a target's `name` must be a string");
                    continue;
                };
                if let Some((_, first)) = by_name.get(s) {
                    self.cx.emit(
                        Diagnostic::error(
                            codes::DUPLICATE_NAME,
                            n.span,
                            format!("two targets are named `{s}`"),
                        )
                        .with_secondary(*first, "first named here")
                        .with_help("conditions pick a target by name; rename one"),
                    );
                    continue;
                }
                by_name.insert(s.to_owned(), (i, n.span));
            }
        }
        let names: Vec<String> = by_name.keys().cloned().collect();
        let mut referenced = vec![false; items.len()];
        let mut lowered_targets: HashMap<usize, Lowered> = HashMap::new();
        let tpath = |i: usize| format!("{}targets[{i}]", prefix(path));
        let mut resolve =
            |this: &mut Self, n: &Node, referenced: &mut Vec<bool>| -> Option<Lowered> {
                let s = n.as_str()?;
                let Some((i, _)) = by_name.get(s).copied() else {
                    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                    let mut d = Diagnostic::error(
                        codes::UNKNOWN_REFERENCE,
                        n.span,
                        format!("no target is named `{s}`"),
                    );
                    if let Some(c) = closest(s, &refs) {
                        d = d.with_help(format!("did you mean `{c}`?")).with_suggestion(
                            "replace",
                            n.span,
                            format!("\"{c}\""),
                        );
                    }
                    this.cx.emit(d);
                    return None;
                };
                referenced[i] = true;
                if let Some(l) = lowered_targets.get(&i) {
                    return Some(l.clone());
                }
                let mut f = faults.clone();
                let l = this.lower(&items[i], &tpath(i), depth + 1, &mut f, false)?;
                lowered_targets.insert(i, l.clone());
                Some(l)
            };
        let mut out: Lowered = Vec::new();
        let conditions = strategy.get("conditions");
        for (ci, c) in conditions
            .map(Node::items)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            c.mark();
            let cpath = format!("{}strategy.conditions[{ci}]", prefix(path));
            let query = c.get("query");
            let then = c.get("then");
            let (Some(query), Some(then)) = (query, then) else {
                self.cx.emit(Diagnostic::error(
                    codes::BAD_VALUE,
                    c.span,
                    "a condition needs `query` and `then`",
                ));
                c.mark_all();
                continue;
            };
            let Some(cond) = self.query(query, &cpath) else {
                continue;
            };
            let Some(target) = resolve(self, then, &mut referenced) else {
                continue;
            };
            if out.iter().any(|(prev, _)| *prev == cond) {
                self.cx.emit(Diagnostic::warning(
                    codes::UNREACHABLE,
                    query.span,
                    "an earlier condition has the same query; this one never matches",
                ));
                continue;
            }
            for (tc, alts) in target {
                out.push((Cond::and(vec![cond.clone(), tc]), alts));
            }
        }
        let default = strategy.get("default");
        let fallback_target = match default {
            Some(d) => resolve(self, d, &mut referenced)?,
            None => {
                self.cx.emit(
                    Diagnostic::warning(
                        codes::UNREACHABLE,
                        strategy.span,
                        "a conditional strategy without `default`: requests no condition matches fail",
                    )
                    .with_help("add `\"default\": \"TARGET\"`; the policy sends them to the first target"),
                );
                let mut f = faults.clone();
                referenced[0] = true;
                self.lower(&items[0], &tpath(0), depth + 1, &mut f, false)?
            }
        };
        out.extend(fallback_target);
        for (i, t) in items.iter().enumerate() {
            if !referenced[i] {
                self.cx.emit(Diagnostic::warning(
                    codes::UNREACHABLE,
                    t.get("name").map_or(t.span, |n| n.span),
                    "no condition or default names this target; it is never called",
                ));
                t.mark_all();
            }
        }
        // Stop after the first condition that always holds.
        if let Some(p) = out.iter().position(|(c, _)| *c == Cond::True) {
            out.truncate(p + 1);
        }
        if out.len() > MAX_ALTERNATIVES {
            self.cx.emit(Diagnostic::error(
                codes::BAD_VALUE,
                strategy.span,
                format!("the conditions expand to more than {MAX_ALTERNATIVES} rules"),
            ));
            return None;
        }
        Some(out)
    }

    /// A `query` object as a condition.
    fn query(&mut self, q: &Node, _path: &str) -> Option<Cond> {
        if !q.is_map() {
            self.cx.bad_value(q, "a query must be an object");
            q.mark_all();
            return None;
        }
        let mut parts = Vec::new();
        for e in q.entries() {
            e.key.mark();
            e.value.mark();
            let key = e.key.as_str().unwrap_or("");
            if key == "$and" || key == "$or" {
                let mut subs = Vec::new();
                for s in e.value.items() {
                    subs.push(self.query(s, _path)?);
                }
                if subs.is_empty() {
                    self.cx
                        .bad_value(&e.value, &format!("`{key}` needs a list of queries"));
                    return None;
                }
                parts.push(if key == "$and" {
                    Cond::and(subs)
                } else {
                    Cond::Or(subs)
                });
                continue;
            }
            if key.starts_with('$') {
                self.unknown_operator(&e.key, key);
                return None;
            }
            if !(key.starts_with("metadata.")
                || key.starts_with("params.")
                || key.starts_with("url."))
            {
                self.cx.emit(
                    Diagnostic::error(
                        codes::BAD_VALUE,
                        e.key.span,
                        format!("`{key}` is not a request field Portkey can test"),
                    )
                    .with_help("conditions read `metadata.KEY` or `params.KEY`"),
                );
                return None;
            }
            let signal = self.signal(key);
            if e.value.is_map() {
                for op in e.value.entries() {
                    op.key.mark();
                    op.value.mark_all();
                    let o = op.key.as_str().unwrap_or("");
                    parts.push(self.operator(&signal, key, o, &op.key, &op.value)?);
                }
            } else {
                e.value.mark_all();
                parts.push(self.operator(&signal, key, "$eq", &e.key, &e.value)?);
            }
        }
        Some(Cond::and(parts))
    }

    fn unknown_operator(&mut self, at: &Node, op: &str) {
        let mut d = Diagnostic::error(
            codes::UNKNOWN_STRATEGY,
            at.span,
            format!("unknown query operator `{op}`"),
        );
        d = match closest(op, OPERATORS) {
            Some(c) => d.with_help(format!("did you mean `{c}`?")).with_suggestion(
                "replace",
                at.span,
                format!("\"{c}\""),
            ),
            None => d.with_help(format!("Portkey knows {}", OPERATORS.join(", "))),
        };
        self.cx.emit(d);
    }

    fn literal(&mut self, path: &str, n: &Node) -> Option<Lit> {
        let lit = match &n.kind {
            Kind::Str(s) => Lit::Str(s.clone()),
            Kind::Num(x, _) => Lit::Num(*x),
            Kind::Bool(b) => Lit::Bool(*b),
            _ => {
                self.cx
                    .bad_value(n, "a query value must be a string, number or boolean");
                return None;
            }
        };
        if let Some(s) = self.signals.iter_mut().find(|(p, _, _)| p == path)
            && !s.2.contains(&lit)
        {
            s.2.push(lit.clone());
        }
        Some(lit)
    }

    fn operator(
        &mut self,
        signal: &str,
        path: &str,
        op: &str,
        at: &Node,
        v: &Node,
    ) -> Option<Cond> {
        let cmp = |op: &'static str, l: Lit| Cond::Cmp(signal.to_owned(), op, lit_text(&l));
        Some(match op {
            "$eq" | "$ne" => {
                let l = self.literal(path, v)?;
                match l {
                    Lit::Bool(b) => {
                        let is = Cond::Is(signal.to_owned());
                        if b == (op == "$eq") {
                            is
                        } else {
                            Cond::Not(Box::new(is))
                        }
                    }
                    l => cmp(if op == "$eq" { "==" } else { "!=" }, l),
                }
            }
            "$gt" | "$gte" | "$lt" | "$lte" => {
                let l = self.literal(path, v)?;
                if !matches!(l, Lit::Num(_)) {
                    self.cx.bad_value(v, &format!("`{op}` compares numbers"));
                    return None;
                }
                let sym = match op {
                    "$gt" => ">",
                    "$gte" => ">=",
                    "$lt" => "<",
                    _ => "<=",
                };
                cmp(sym, l)
            }
            "$in" | "$nin" => {
                if !v.is_seq() {
                    self.cx.bad_value(v, &format!("`{op}` needs a list"));
                    return None;
                }
                let mut vs = Vec::new();
                for item in v.items() {
                    vs.push(lit_text(&self.literal(path, item)?));
                }
                if vs.is_empty() {
                    // `$in []` never matches, `$nin []` always does.
                    return Some(if op == "$in" {
                        Cond::Not(Box::new(Cond::True))
                    } else {
                        Cond::True
                    });
                }
                Cond::In(signal.to_owned(), vs, op == "$nin")
            }
            _ => {
                self.unknown_operator(at, op);
                return None;
            }
        })
    }

    /// The signal of a query path, declared once.
    fn signal(&mut self, path: &str) -> String {
        if let Some((_, n, _)) = self.signals.iter().find(|(p, _, _)| p == path) {
            return n.clone();
        }
        let short = path.strip_prefix("metadata.").unwrap_or(path);
        let name = self.signal_names.fresh(short);
        self.signals
            .push((path.to_owned(), name.clone(), Vec::new()));
        name
    }

    /// `retry` and `request_timeout` of a target (inherited by its children).
    fn faults_of(&mut self, node: &Node, path: &str, faults: &mut FaultSet) {
        if let Some(r) = node.get("retry") {
            let attempts = r.get("attempts").or_else(|| r.get("count"));
            let n = attempts
                .and_then(Node::as_f64)
                .filter(|x| *x >= 0.0 && x.fract() == 0.0);
            let on: Vec<String> = match r.get("on_status_codes") {
                Some(c) => c
                    .items()
                    .iter()
                    .filter_map(|s| {
                        s.mark();
                        s.as_f64().map(ir::number)
                    })
                    .collect(),
                None => DEFAULT_RETRY_STATUSES
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
            };
            match n {
                Some(n) if n > 0.0 && !on.is_empty() => faults.retry = Some((n as u32, on, None)),
                Some(_) => {}
                None => {
                    if let Some(a) = attempts {
                        self.cx
                            .bad_value(a, "`retry.attempts` must be a whole number");
                    } else {
                        self.cx.emit(Diagnostic::error(
                            codes::BAD_VALUE,
                            r.span,
                            "`retry` without `attempts`",
                        ));
                    }
                }
            }
        }
        if let Some(t) = node.get("request_timeout") {
            match t.as_f64() {
                Some(ms) if ms > 0.0 => faults.timeout = Some(ms / 1000.0),
                _ => self.cx.bad_value(
                    t,
                    "`request_timeout` must be a positive number of milliseconds",
                ),
            }
        }
        let _ = path;
    }

    /// A leaf target as a model.
    fn leaf(&mut self, node: &Node, path: &str, faults: &FaultSet, top: bool) -> Option<String> {
        let mut m = Model::default();
        let provider = node
            .get("provider")
            .and_then(Node::as_str)
            .map(str::to_owned);
        let vk = node
            .get("virtual_key")
            .and_then(Node::as_str)
            .map(str::to_owned);
        let overrides = node.get("override_params");
        let model = overrides
            .and_then(|o| o.get("model"))
            .and_then(Node::as_str)
            .map(str::to_owned);
        let name_hint = node
            .get("name")
            .and_then(Node::as_str)
            .map(str::to_owned)
            .or_else(|| model.clone())
            .or_else(|| vk.clone())
            .or_else(|| provider.clone())
            .or_else(|| {
                node.get("prompt_id")
                    .and_then(Node::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "target".to_owned());
        m.provider = provider.as_deref().map(ir::ident);
        m.upstream = model;
        if let Some(k) = node.get("api_key")
            && k.as_str().is_some_and(|s| !s.trim().is_empty())
        {
            self.cx.emit(
                    Diagnostic::warning(codes::INLINE_SECRET, k.span, "api key written in the config")
                        .with_help("keep keys out of configs: use a Portkey virtual key, or an environment variable"),
                );
            self.cx.unexpressed(&format!("{}api_key", prefix(path)), k.span, "an inline key is never copied into a policy; give the model `api_key env(\"NAME\")`");
        }
        if let Some(h) = node.get("custom_host").and_then(Node::as_str) {
            m.endpoint = Some(Value::Str(h.to_owned()));
        }
        if let Some(o) = overrides {
            for e in o.entries() {
                let Some(k) = e.key.as_str() else { continue };
                if k == "model" {
                    continue;
                }
                let v = match &e.value.kind {
                    Kind::Str(s) => Some(Value::Str(s.clone())),
                    Kind::Num(x, _) => Some(Value::Num(*x)),
                    Kind::Bool(b) => Some(Value::Bool(*b)),
                    _ => None,
                };
                match v {
                    Some(v) => {
                        e.key.mark();
                        e.value.mark();
                        m.params.push((ir::ident(k), v));
                    }
                    None => {
                        e.key.mark_all();
                        e.value.mark_all();
                        self.cx.unexpressed(
                            &format!("{}override_params.{k}", prefix(path)),
                            e.key.span.cover(e.value.span),
                            "a structured parameter: routec `params` hold single values",
                        );
                    }
                }
            }
        }
        let _ = top;
        node.get("weight");
        node.get("name");
        let mut doc = Vec::new();
        if let Some(v) = &vk {
            doc.push(format!("Portkey virtual key `{v}`."));
        }
        m.doc = doc;
        let name = self.names.fresh(&name_hint);
        m.name = name.clone();
        if !faults.is_empty() {
            self.faults.push((name.clone(), faults.clone()));
        }
        self.models.push(m);
        Some(name)
    }
}

fn prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}.")
    }
}
