//! vLLM semantic-router `config.yaml` (what `vllm-sr` compiles a recipe's
//! DSL into) -> policy.
//!
//! The router evaluates signals (keywords, embeddings, domain and other
//! classifiers, context length, projections), then takes the matching
//! decision of highest `priority`; its `modelRefs` are the candidates. The
//! policy: one rule per decision in priority order, its `rules` tree as the
//! condition (`AND`/`OR`/`NOT`), each signal leaf as a classifier signal
//! (bool, or the enum of a domain classifier or projection mapping),
//! `context` signals as `prompt_tokens` ranges, the candidates in order as
//! a fallback chain, `providers.defaults.default_model` as `otherwise`.
//! Configs with several `recipes` get one more signal, `recipe`, read from
//! the requested model name.

use std::collections::HashMap;

use routec_syntax::Diagnostic;

use crate::doc::Node;
use crate::ir::{
    self, Cond, FaultSet, Model, Names, Plan, Policy, Rule, Signal, SignalSource, SignalType, Value,
};
use crate::route::{Windows, guarded};
use crate::{Cx, SourceKind, closest, codes};

pub(crate) fn reason(path: &str) -> &'static str {
    let top = path.split(['.', '[']).next().unwrap_or("");
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.starts_with("plugins")) {
        return "plugins (caching, prompts, safety, tools) act on content; routec routes requests";
    }
    if parts.iter().any(|p| p.starts_with("algorithm")) {
        return "a selection algorithm over the candidates: the policy tries them in order";
    }
    match top {
        "global" | "listeners" | "version" => "router server settings are outside routing",
        "entrypoints" => "entrypoints map model names to recipes (the `recipe` signal)",
        _ => {
            if parts
                .iter()
                .any(|p| p.starts_with("signals") || p.starts_with("projections"))
            {
                "how the router computes a signal: the policy reads its outcome from a classifier"
            } else {
                "a semantic-router setting with no routec equivalent"
            }
        }
    }
}

/// `16K`, `1M`, `8192` as tokens.
fn tokens(n: &Node) -> Option<u64> {
    if let Some(x) = n.as_f64() {
        return (x >= 0.0).then_some(x as u64);
    }
    let s = n.as_str()?.trim();
    let (num, scale) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1e3),
        'm' | 'M' => (&s[..s.len() - 1], 1e6),
        _ => (s, 1.0),
    };
    let x: f64 = num.trim().parse().ok()?;
    (x >= 0.0).then(|| (x * scale).round() as u64)
}

struct Signals {
    names: Names,
    list: Vec<Signal>,
    /// (type, name) -> bool signal
    bools: HashMap<(String, String), String>,
    /// domain value -> enum value
    domains: Vec<(String, String)>,
    /// projection output -> (mapping signal, value)
    outputs: HashMap<String, (String, String)>,
    /// context signal -> (min, max)
    contexts: HashMap<String, (Option<u64>, Option<u64>)>,
}

pub(crate) fn import(cx: &mut Cx<'_>, root: &Node) -> Option<Policy> {
    if !root.is_map()
        || (root.entry("routing").is_none()
            && root.entry("recipes").is_none()
            && root.entry("decisions").is_none())
    {
        let hint = if root.entry("model_list").is_some() {
            " (this looks like a LiteLLM config)"
        } else {
            ""
        };
        cx.wrong_kind(
            root.span,
            SourceKind::SemanticRouter,
            &format!("expected `routing.decisions`{hint}"),
        );
        return None;
    }
    let providers = root.get("providers");
    let mut names = Names::default();
    let mut models: Vec<Model> = Vec::new();
    let mut by_source: HashMap<String, String> = HashMap::new();
    let mut windows: HashMap<String, u64> = HashMap::new();
    if let Some(ps) = providers.and_then(|p| p.get("models")) {
        for (i, m) in ps.items().iter().enumerate() {
            m.mark();
            let Some(src) = m.get("name").and_then(Node::as_str) else {
                cx.emit(Diagnostic::error(
                    codes::BAD_VALUE,
                    m.span,
                    "a provider model without `name`",
                ));
                continue;
            };
            if by_source.contains_key(src) {
                cx.emit(Diagnostic::error(
                    codes::DUPLICATE_NAME,
                    m.get("name").map_or(m.span, |n| n.span),
                    format!("model `{src}` is defined twice"),
                ));
                m.mark_all();
                continue;
            }
            let name = names.of(src);
            let mut model = Model {
                name: name.clone(),
                doc: vec![format!("semantic-router model `{src}`.")],
                provider: m.get("api_format").and_then(Node::as_str).map(ir::ident),
                upstream: m
                    .get("provider_model_id")
                    .and_then(Node::as_str)
                    .map(str::to_owned),
                ..Model::default()
            };
            if let Some(b) = m.get("backend_refs") {
                let items = b.items();
                if let Some(first) = items.first() {
                    first.mark();
                    if let Some(e) = first.get("endpoint").and_then(Node::as_str) {
                        model.endpoint = Some(Value::Str(e.to_owned()));
                    }
                    first.get("name");
                    first.get("weight");
                }
                for (j, extra) in items.iter().enumerate().skip(1) {
                    extra.mark_all();
                    cx.unexpressed(
                        &format!("providers.models[{i}].backend_refs[{j}]"),
                        extra.span,
                        "a second backend of the same model: routec models have one endpoint",
                    );
                }
            }
            if let Some(p) = m.get("pricing") {
                let a = p.get("prompt_per_1m").and_then(Node::as_f64);
                let b = p.get("completion_per_1m").and_then(Node::as_f64);
                p.get("currency");
                if let (Some(a), Some(b)) = (a, b) {
                    model.price = Some((a / 1e6, b / 1e6));
                    cx.has_prices = true;
                }
            }
            by_source.insert(src.to_owned(), name);
            models.push(model);
        }
    }
    let routing = root.get("routing");
    // Context windows from the model cards.
    for r in routing
        .iter()
        .copied()
        .chain(recipe_routings(root).into_iter().map(|(_, r)| r))
    {
        for card in r.get("modelCards").map(Node::items).unwrap_or_default() {
            card.mark();
            let Some(src) = card.get("name").and_then(Node::as_str) else {
                continue;
            };
            let name = match by_source.get(src) {
                Some(n) => n.clone(),
                None => {
                    let n = names.of(src);
                    by_source.insert(src.to_owned(), n.clone());
                    models.push(Model {
                        name: n.clone(),
                        doc: vec![format!("semantic-router model card `{src}`.")],
                        ..Model::default()
                    });
                    n
                }
            };
            if let Some(w) = card.get("context_window_size").and_then(tokens) {
                windows.insert(name.clone(), w);
                if let Some(m) = models.iter_mut().find(|m| m.name == name) {
                    m.context = Some(w);
                }
                cx.has_prices = true;
            }
        }
    }
    // Variants of a model with reasoning parameters.
    let mut variants: HashMap<(String, String), String> = HashMap::new();
    let mut sig = Signals {
        names: Names::default(),
        list: Vec::new(),
        bools: HashMap::new(),
        domains: Vec::new(),
        outputs: HashMap::new(),
        contexts: HashMap::new(),
    };
    let default_model = providers
        .and_then(|p| p.get("defaults"))
        .and_then(|d| d.get("default_model"))
        .and_then(Node::as_str)
        .map(str::to_owned);

    let recipes = recipe_routings(root);
    let mut routings: Vec<(Option<String>, &Node)> = Vec::new();
    if let Some(r) = routing
        && r.entry("decisions").is_some()
    {
        routings.push((None, r));
    }
    for (name, r) in &recipes {
        routings.push((Some(name.clone()), r));
    }
    if routings.is_empty() {
        cx.emit(Diagnostic::error(
            codes::NOTHING_TO_ROUTE,
            root.span,
            "the config has no `decisions`: there is nothing to route",
        ));
        return None;
    }
    let recipe_values: Vec<(String, String)> = {
        let mut vn = Names::default();
        recipes.iter().map(|(n, _)| (n.clone(), vn.of(n))).collect()
    };
    let mut rules: Vec<Rule> = Vec::new();
    let mut catch_all: Option<Plan> = None;
    for (recipe, r) in &routings {
        declare_signals(cx, r, &mut sig);
        if let Some(s) = r.get("strategy").and_then(Node::as_str)
            && s != "priority"
        {
            cx.unexpressed("routing.strategy", r.entry("strategy").map_or(r.span, |e| e.value.span), format!("strategy `{s}` picks by classifier confidence; the policy takes decisions by priority"));
        }
        let recipe_cond = recipe
            .as_ref()
            .and_then(|n| recipe_values.iter().find(|(s, _)| s == n))
            .map(|(_, v)| Cond::Cmp("recipe".into(), "==", v.clone()));
        let decisions = r.get("decisions").map(Node::items).unwrap_or_default();
        let mut order: Vec<(f64, usize)> = Vec::new();
        let mut seen: HashMap<String, routec_syntax::Span> = HashMap::new();
        for (i, d) in decisions.iter().enumerate() {
            d.mark();
            if let Some(n) = d.get("name")
                && let Some(s) = n.as_str()
            {
                if let Some(first) = seen.get(s) {
                    cx.emit(
                        Diagnostic::error(
                            codes::DUPLICATE_NAME,
                            n.span,
                            format!("two decisions are named `{s}`"),
                        )
                        .with_secondary(*first, "first named here"),
                    );
                }
                seen.insert(s.to_owned(), n.span);
            }
            let p = d.get("priority").and_then(Node::as_f64).unwrap_or(0.0);
            order.push((p, i));
        }
        order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut done = false;
        for (p, i) in order {
            let d = &decisions[i];
            let dname = d
                .get("name")
                .and_then(Node::as_str)
                .unwrap_or("?")
                .to_owned();
            d.get("description");
            d.get("tier");
            if done {
                cx.emit(Diagnostic::warning(codes::UNREACHABLE, d.get("name").map_or(d.span, |n| n.span), format!("decision `{dname}` comes after a decision without rules, which takes every request")));
                d.mark_all();
                continue;
            }
            let cond = match d.get("rules") {
                Some(rn) => match rule_cond(cx, rn, &mut sig, 0) {
                    Some(c) => Some(c),
                    None => continue,
                },
                None => None,
            };
            let mut cands: Vec<String> = Vec::new();
            for mr in d.get("modelRefs").map(Node::items).unwrap_or_default() {
                mr.mark();
                let Some(mref) = mr.get("model") else {
                    continue;
                };
                let Some(src) = mref.as_str() else { continue };
                let Some(base) = by_source.get(src).cloned() else {
                    let known: Vec<&str> = by_source.keys().map(String::as_str).collect();
                    let mut diag = Diagnostic::error(
                        codes::UNKNOWN_REFERENCE,
                        mref.span,
                        format!(
                            "decision `{dname}` names model `{src}`, which the config does not define"
                        ),
                    );
                    if let Some(c) = closest(src, &known) {
                        diag = diag.with_help(format!("did you mean `{c}`?"));
                    }
                    cx.emit(diag);
                    continue;
                };
                let reasoning = mr.get("use_reasoning").and_then(Node::as_bool) == Some(true);
                let effort = mr
                    .get("reasoning_effort")
                    .and_then(Node::as_str)
                    .map(str::to_owned);
                let name = if reasoning {
                    let key = (base.clone(), effort.clone().unwrap_or_default());
                    match variants.get(&key) {
                        Some(n) => n.clone(),
                        None => {
                            let n = names.fresh(&format!(
                                "{base}_reasoning{}",
                                effort
                                    .as_deref()
                                    .map(|e| format!("_{e}"))
                                    .unwrap_or_default()
                            ));
                            let mut params = vec![("reasoning".to_owned(), Value::Bool(true))];
                            if let Some(e) = &effort {
                                params.push(("reasoning_effort".into(), Value::Str(e.clone())));
                            }
                            models.push(Model {
                                name: n.clone(),
                                doc: vec![format!("`{base}` with reasoning on.")],
                                extends: Some(base.clone()),
                                params,
                                ..Model::default()
                            });
                            if let Some(w) = windows.get(&base).copied() {
                                windows.insert(n.clone(), w);
                            }
                            variants.insert(key, n.clone());
                            n
                        }
                    }
                } else {
                    base
                };
                if !cands.contains(&name) {
                    cands.push(name);
                }
            }
            if cands.is_empty() {
                cx.emit(Diagnostic::error(
                    codes::NOTHING_TO_ROUTE,
                    d.get("name").map_or(d.span, |n| n.span),
                    format!("decision `{dname}` has no model to route to"),
                ));
                continue;
            }
            if let Some(a) = d.entry("algorithm") {
                let ty = a.value.get("type").and_then(Node::as_str).unwrap_or("");
                if !ty.is_empty() && ty != "static" {
                    cx.skip(
                        &format!("decisions.{dname}.algorithm"),
                        a,
                        format!("`{ty}` selection: the policy tries the candidates in order"),
                    );
                }
            }
            let plan = if cands.len() == 1 {
                Plan::Target(cands.remove(0))
            } else {
                Plan::Chain(cands)
            };
            let doc = vec![format!("decision `{dname}` (priority {})", ir::number(p))];
            let origin = Some(d.entry("name").map_or(d.span, |e| e.value.span));
            match cond {
                Some(c) => rules.push(Rule {
                    doc,
                    cond: Some(Cond::and(recipe_cond.iter().cloned().chain([c]).collect())),
                    plan,
                    origin,
                }),
                None => match &recipe_cond {
                    Some(rc) => rules.push(Rule {
                        doc,
                        cond: Some(rc.clone()),
                        plan,
                        origin,
                    }),
                    None => {
                        catch_all = Some(plan);
                        done = true;
                    }
                },
            }
        }
    }
    let otherwise = match catch_all {
        Some(p) => p,
        None => match default_model.as_deref().and_then(|d| by_source.get(d)) {
            Some(m) => Plan::Target(m.clone()),
            None => match models.first() {
                Some(m) => {
                    cx.note("the config names no `providers.defaults.default_model`: requests no decision matches go to the first model");
                    Plan::Target(m.name.clone())
                }
                None => {
                    cx.emit(Diagnostic::error(
                        codes::NOTHING_TO_ROUTE,
                        root.span,
                        "the config defines no model",
                    ));
                    return None;
                }
            },
        },
    };
    rules.push(Rule {
        doc: vec!["requests no decision matches: `providers.defaults.default_model`".into()],
        cond: None,
        plan: otherwise,
        origin: None,
    });
    let win = Windows { by_model: &windows };
    let mut all = Vec::new();
    for r in rules {
        all.extend(guarded(r, &win));
    }
    let mut signals = sig.list;
    if !sig.domains.is_empty() {
        let mut vs: Vec<String> = sig.domains.iter().map(|(_, v)| v.clone()).collect();
        let other = {
            let mut n = Names::default();
            for v in &vs {
                n.of(v);
            }
            n.fresh("other")
        };
        vs.push(other.clone());
        signals.push(Signal {
            name: "domain".into(),
            doc: vec!["The domain classifier's label.".into()],
            ty: SignalType::Enum(vs),
            source: SignalSource::Classifier("domain".into()),
            default: other,
        });
    }
    if !recipe_values.is_empty() {
        signals.push(Signal {
            name: "recipe".into(),
            doc: vec!["The recipe the requested model name selects (`entrypoints`).".into()],
            ty: SignalType::Enum(recipe_values.iter().map(|(_, v)| v.clone()).collect()),
            source: SignalSource::Metadata("model".into()),
            default: recipe_values[0].1.clone(),
        });
    }
    if signals
        .iter()
        .any(|s| matches!(s.source, SignalSource::Classifier(_)))
    {
        cx.note("semantic-router signals are computed by its classifiers: each became a `classifier` signal with `cost 0ms`; write each classifier's latency as its cost");
    }
    Some(Policy {
        name: "imported_semantic_router".into(),
        owner: None,
        header: Vec::new(),
        signals,
        models,
        slo: Vec::new(),
        rules: all,
        faults: ir::Faults {
            defaults: FaultSet::default(),
            per_model: Vec::new(),
        },
    })
}

fn recipe_routings(root: &Node) -> Vec<(String, &Node)> {
    let Some(recipes) = root.entry("recipes") else {
        return Vec::new();
    };
    recipes.key.mark();
    recipes.value.mark();
    let mut out = Vec::new();
    // A list of `{name, routing}` or a mapping `name: {routing}`.
    for item in recipes.value.items() {
        item.mark();
        if let (Some(n), Some(r)) = (item.get("name").and_then(Node::as_str), item.get("routing")) {
            item.get("description");
            out.push((n.to_owned(), r));
        }
    }
    for e in recipes.value.entries() {
        e.key.mark();
        e.value.mark();
        if let (Some(n), Some(r)) = (e.key.as_str(), e.value.get("routing")) {
            out.push((n.to_owned(), r));
        }
    }
    out
}

/// Declares the signals a routing's `signals` and `projections` define.
fn declare_signals(cx: &mut Cx<'_>, routing: &Node, sig: &mut Signals) {
    if let Some(s) = routing.get("signals") {
        for e in s.entries() {
            e.key.mark();
            e.value.mark();
            let ty = e.key.as_str().unwrap_or("");
            for item in e.value.items() {
                item.mark();
                let Some(name) = item.get("name").and_then(Node::as_str) else {
                    continue;
                };
                if ty == "context" {
                    let lo = item.get("min_tokens").and_then(tokens);
                    let hi = item.get("max_tokens").and_then(tokens);
                    sig.contexts.insert(name.to_owned(), (lo, hi));
                }
                if ty == "domains" && !sig.domains.iter().any(|(s, _)| s == name) {
                    let v = ir::ident(name);
                    sig.domains.push((name.to_owned(), v));
                }
            }
        }
    }
    if let Some(p) = routing.get("projections") {
        for m in p.get("mappings").map(Node::items).unwrap_or_default() {
            m.mark();
            let Some(mname) = m.get("name").and_then(Node::as_str) else {
                continue;
            };
            let signal = sig.names.fresh(&format!("projection_{mname}"));
            let mut values = Vec::new();
            let mut vn = Names::default();
            for o in m.get("outputs").map(Node::items).unwrap_or_default() {
                o.mark();
                if let Some(on) = o.get("name").and_then(Node::as_str) {
                    let v = vn.of(on);
                    if sig.outputs.contains_key(on) {
                        cx.emit(Diagnostic::error(
                            codes::DUPLICATE_NAME,
                            o.span,
                            format!("projection output `{on}` is defined twice"),
                        ));
                    }
                    sig.outputs
                        .insert(on.to_owned(), (signal.clone(), v.clone()));
                    values.push(v);
                }
            }
            if values.is_empty() {
                continue;
            }
            let none = vn.fresh("none");
            values.push(none.clone());
            sig.list.push(Signal {
                name: signal,
                doc: vec![format!("The band of projection `{mname}`.")],
                ty: SignalType::Enum(values),
                source: SignalSource::Classifier(format!("projection:{mname}")),
                default: none,
            });
        }
    }
}

/// A decision's `rules` tree as a condition.
fn rule_cond(cx: &mut Cx<'_>, n: &Node, sig: &mut Signals, depth: usize) -> Option<Cond> {
    n.mark();
    if depth > 32 {
        cx.emit(Diagnostic::error(
            codes::BAD_VALUE,
            n.span,
            "rules are nested more than 32 levels deep",
        ));
        return None;
    }
    if let Some(op) = n.get("operator") {
        let o = op.as_str().unwrap_or("").to_ascii_uppercase();
        let mut parts = Vec::new();
        for c in n.get("conditions").map(Node::items).unwrap_or_default() {
            parts.push(rule_cond(cx, c, sig, depth + 1)?);
        }
        return match o.as_str() {
            "AND" => Some(Cond::and(parts)),
            "OR" if parts.len() == 1 => parts.pop(),
            "OR" => Some(Cond::Or(parts)),
            "NOT" => {
                let inner = if parts.len() == 1 {
                    parts.pop()?
                } else {
                    Cond::Or(parts)
                };
                Some(Cond::Not(Box::new(inner)))
            }
            other => {
                let mut d = Diagnostic::error(
                    codes::UNKNOWN_STRATEGY,
                    op.span,
                    format!("unknown rule operator `{other}`"),
                );
                if let Some(c) = closest(other, &["AND", "OR", "NOT"]) {
                    d = d.with_help(format!("did you mean `{c}`?"));
                }
                cx.emit(d);
                None
            }
        };
    }
    let ty = n.get("type").and_then(Node::as_str).unwrap_or("");
    let name = n.get("name").and_then(Node::as_str).unwrap_or("");
    if ty.is_empty() || name.is_empty() {
        cx.emit(Diagnostic::error(
            codes::BAD_VALUE,
            n.span,
            "a rule needs `operator` and `conditions`, or `type` and `name`",
        ));
        return None;
    }
    match ty {
        "context" => {
            let Some((lo, hi)) = sig.contexts.get(name).copied() else {
                cx.emit(Diagnostic::error(
                    codes::UNKNOWN_REFERENCE,
                    n.span,
                    format!("no context signal is named `{name}`"),
                ));
                return None;
            };
            let mut parts = Vec::new();
            if let Some(l) = lo.filter(|l| *l > 0) {
                parts.push(Cond::Cmp("prompt_tokens".into(), ">=", l.to_string()));
            }
            if let Some(h) = hi {
                parts.push(Cond::Cmp("prompt_tokens".into(), "<=", h.to_string()));
            }
            Some(Cond::and(parts))
        }
        "projection" => match sig.outputs.get(name) {
            Some((s, v)) => Some(Cond::Cmp(s.clone(), "==", v.clone())),
            None => {
                cx.emit(Diagnostic::error(
                    codes::UNKNOWN_REFERENCE,
                    n.span,
                    format!("no projection mapping has an output named `{name}`"),
                ));
                None
            }
        },
        "domain" => {
            if !sig.domains.iter().any(|(s, _)| s == name) {
                sig.domains.push((name.to_owned(), ir::ident(name)));
            }
            let v = sig
                .domains
                .iter()
                .find(|(s, _)| s == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            Some(Cond::Cmp("domain".into(), "==", v))
        }
        _ => {
            let key = (ty.to_owned(), name.to_owned());
            let s = match sig.bools.get(&key) {
                Some(s) => s.clone(),
                None => {
                    let s = sig.names.fresh(&format!("{ty}_{name}"));
                    sig.list.push(Signal {
                        name: s.clone(),
                        doc: vec![format!("semantic-router `{ty}` signal `{name}`.")],
                        ty: SignalType::Bool,
                        source: SignalSource::Classifier(format!("{ty}:{name}")),
                        default: "false".into(),
                    });
                    sig.bools.insert(key, s.clone());
                    s
                }
            };
            Some(Cond::Is(s))
        }
    }
}
