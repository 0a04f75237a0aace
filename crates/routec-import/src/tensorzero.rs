//! TensorZero `tensorzero.toml` -> policy.
//!
//! A request names a *function*; the gateway samples one of its variants
//! (`experimentation.candidate_variants` weights, or the variants'
//! `weight`s, else uniformly), calls the variant's model, and the model
//! tries its providers in `routing` order. On failure it moves to the
//! `fallback_variants` (or, without experimentation, to the variants of
//! weight 0). The policy: an enum signal `function` read from the request's
//! `function_name`, one rule per function splitting over its variants, one
//! routec model per (variant, provider) linked by `fallback` in routing
//! order, retries and timeouts as `faults`.

use std::collections::HashMap;

use routec_syntax::{Diagnostic, Span};

use crate::doc::{Kind, Node};
use crate::ir::{
    self, Cond, FaultSet, Model, Names, Plan, Policy, Rule, Signal, SignalSource, SignalType, Value,
};
use crate::route::{Windows, guarded};
use crate::{Cx, SourceKind, closest, codes};

pub(crate) fn reason(path: &str) -> &'static str {
    let top = path.split(['.', '[']).next().unwrap_or("");
    let last = path.rsplit('.').next().unwrap_or(path);
    match top {
        "gateway" => "gateway server settings are outside routing",
        "metrics" | "evaluations" | "optimizers" => {
            "feedback metrics and evaluations are outside routing"
        }
        "tools" => "tool definitions travel with the request, not the routing",
        "embedding_models" => "embedding models are not routed for chat",
        "object_storage" | "postgres" | "clickhouse" | "rate_limiting" | "provider_types"
        | "autopilot" => "a deployment setting with no routec equivalent",
        "functions" => match last {
            "system_template" | "user_template" | "assistant_template" | "system_schema"
            | "user_schema" | "assistant_schema" | "output_schema" | "input_wrappers"
            | "templates" | "schemas" => "prompt templates and schemas are outside routing",
            "description" => "a description (kept out of the policy)",
            "max_delay_s" => {
                "TensorZero backs off exponentially up to this delay; routec retries without a backoff here"
            }
            _ => "a function or variant setting with no routec equivalent",
        },
        "models" => "a model or provider setting with no routec equivalent",
        _ => "not a TensorZero setting the importer knows",
    }
}

/// A TensorZero model's providers in routing order, as (routec provider,
/// upstream, endpoint, api key env, timeouts, provider name).
struct Provider {
    name: String,
    provider: Option<String>,
    upstream: Option<String>,
    endpoint: Option<Value>,
    api_key: Option<String>,
    faults: FaultSet,
    params: Vec<(String, Value)>,
}

fn timeouts(node: Option<&Node>, into: &mut FaultSet) {
    let Some(t) = node else { return };
    t.mark_all();
    let ms = |a: &str, b: &str| {
        t.entry(a)
            .and_then(|e| e.value.entry(b))
            .and_then(|e| e.value.as_f64())
    };
    if let Some(x) = ms("non_streaming", "total_ms").filter(|x| *x > 0.0) {
        into.timeout = Some(into.timeout.map_or(x / 1000.0, |y| y.min(x / 1000.0)));
    }
    if let Some(x) = ms("streaming", "ttft_ms").filter(|x| *x > 0.0) {
        into.ttft_timeout = Some(into.ttft_timeout.map_or(x / 1000.0, |y| y.min(x / 1000.0)));
    }
}

fn api_key(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<String> {
    let k = node.get("api_key_location")?;
    match k.as_str() {
        Some(s) if s.starts_with("env::") => Some(s.trim_start_matches("env::").to_owned()),
        Some(_) => {
            cx.unexpressed(path, k.span, "a key read from elsewhere than the environment: give the model `api_key env(\"NAME\")`");
            None
        }
        None => {
            k.mark_all();
            cx.unexpressed(path, k.span, "a key location with no routec equivalent");
            None
        }
    }
}

pub(crate) fn import(cx: &mut Cx<'_>, root: &Node) -> Option<Policy> {
    let Some(functions) = root.get("functions") else {
        let hint = if root.entry("model_list").is_some() {
            " (this looks like a LiteLLM config)"
        } else {
            ""
        };
        if root.entry("models").is_some() || root.entry("gateway").is_some() {
            cx.emit(
                Diagnostic::error(
                    codes::NOTHING_TO_ROUTE,
                    Span::new(0, 0),
                    "the config defines no `[functions]`: there is nothing to route",
                )
                .with_help("requests name a function; define `[functions.NAME]` with its variants"),
            );
        } else {
            cx.wrong_kind(
                root.span,
                SourceKind::Tensorzero,
                &format!("expected `[functions.NAME]` tables{hint}"),
            );
        }
        return None;
    };
    // ---------------------------------------------------------------- models
    let mut tz_models: HashMap<String, (Vec<Provider>, FaultSet)> = HashMap::new();
    let model_names: Vec<String> = root
        .get("models")
        .map(|m| {
            m.entries()
                .iter()
                .filter_map(|e| e.key.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if let Some(models) = root.get("models") {
        for e in models.entries() {
            e.key.mark();
            e.value.mark();
            let Some(name) = e.key.as_str() else { continue };
            let path = format!("models.{name}");
            let m = &e.value;
            let providers = m.get("providers");
            let defined: Vec<&str> = providers
                .map(|p| p.entries().iter().filter_map(|e| e.key.as_str()).collect())
                .unwrap_or_default();
            let mut order: Vec<(String, Span)> = Vec::new();
            match m.get("routing") {
                Some(r) => {
                    for item in r.items() {
                        item.mark();
                        let Some(p) = item.as_str() else { continue };
                        if !defined.contains(&p) {
                            let mut d = Diagnostic::error(
                                codes::UNKNOWN_REFERENCE,
                                item.span,
                                format!(
                                    "`routing` names provider `{p}`, which `[models.{name}.providers]` does not define"
                                ),
                            );
                            if let Some(c) = closest(p, &defined) {
                                d = d.with_help(format!("did you mean `{c}`?")).with_suggestion(
                                    "replace",
                                    item.span,
                                    format!("\"{c}\""),
                                );
                            }
                            cx.emit(d);
                            continue;
                        }
                        if let Some((_, first)) = order.iter().find(|(x, _)| x == p) {
                            cx.emit(
                                Diagnostic::warning(
                                    codes::UNREACHABLE,
                                    item.span,
                                    format!("provider `{p}` is listed twice in `routing`"),
                                )
                                .with_secondary(*first, "first listed here"),
                            );
                            continue;
                        }
                        order.push((p.to_owned(), item.span));
                    }
                }
                None => order.extend(defined.iter().map(|p| ((*p).to_owned(), m.span))),
            }
            let mut model_faults = FaultSet::default();
            timeouts(m.get("timeouts"), &mut model_faults);
            let mut list = Vec::new();
            for pe in providers.map(Node::entries).unwrap_or_default() {
                let Some(pname) = pe.key.as_str() else {
                    continue;
                };
                pe.key.mark();
                pe.value.mark();
                let ppath = format!("{path}.providers.{pname}");
                if !order.iter().any(|(x, _)| x == pname) {
                    cx.emit(
                        Diagnostic::warning(
                            codes::UNREACHABLE,
                            pe.key.span,
                            format!("provider `{pname}` is not in `routing`; it is never called"),
                        )
                        .with_help("add it to `routing`, or remove it"),
                    );
                    pe.value.mark_all();
                    continue;
                }
                let p = &pe.value;
                let mut f = FaultSet::default();
                timeouts(p.get("timeouts"), &mut f);
                let mut params = Vec::new();
                let mut endpoint = None;
                for k in ["api_base", "endpoint", "api_url"] {
                    if let Some(v) = p.get(k).and_then(Node::as_str) {
                        endpoint = Some(match v.strip_prefix("env::") {
                            Some(n) => Value::Env(n.to_owned()),
                            None => Value::Str(v.to_owned()),
                        });
                    }
                }
                for k in [
                    "region",
                    "deployment_id",
                    "project_id",
                    "location",
                    "api_version",
                ] {
                    if let Some(v) = p.get(k).and_then(Node::as_str) {
                        params.push((ir::ident(k), Value::Str(v.to_owned())));
                    }
                }
                let upstream = p
                    .get("model_name")
                    .or_else(|| p.get("model_id"))
                    .or_else(|| p.get("deployment_id"))
                    .and_then(Node::as_str)
                    .map(str::to_owned);
                let key = api_key(cx, p, &format!("{ppath}.api_key_location"));
                list.push(Provider {
                    name: pname.to_owned(),
                    provider: p.get("type").and_then(Node::as_str).map(ir::ident),
                    upstream,
                    endpoint,
                    api_key: key,
                    faults: f,
                    params,
                });
            }
            list.sort_by_key(|p| {
                order
                    .iter()
                    .position(|(x, _)| *x == p.name)
                    .unwrap_or(usize::MAX)
            });
            tz_models.insert(name.to_owned(), (list, model_faults));
        }
    }

    // ---------------------------------------------------------------- functions
    let mut names = Names::default();
    let mut fn_values = Names::default();
    let mut models: Vec<Model> = Vec::new();
    let mut per_model: Vec<(String, FaultSet)> = Vec::new();
    let mut windows: HashMap<String, u64> = HashMap::new();
    let mut fn_rules: Vec<(String, String, Plan, routec_syntax::Span)> = Vec::new();
    for fe in functions.entries() {
        fe.key.mark();
        fe.value.mark();
        let Some(fname) = fe.key.as_str() else {
            continue;
        };
        let fpath = format!("functions.{fname}");
        let f = &fe.value;
        f.get("type");
        let variants = f.get("variants");
        let vnames: Vec<&str> = variants
            .map(|v| v.entries().iter().filter_map(|e| e.key.as_str()).collect())
            .unwrap_or_default();
        // Which variants serve, with which weights, and which are fallbacks.
        let mut weights: Vec<(String, f64)> = Vec::new();
        let mut fallback_variants: Vec<String> = Vec::new();
        let check_ref = |cx: &mut Cx<'_>, n: &Node, v: &str| -> bool {
            if vnames.contains(&v) {
                return true;
            }
            let mut d = Diagnostic::error(
                codes::UNKNOWN_REFERENCE,
                n.span,
                format!("function `{fname}` has no variant `{v}`"),
            );
            if let Some(c) = closest(v, &vnames) {
                d = d.with_help(format!("did you mean `{c}`?"));
            }
            cx.emit(d);
            false
        };
        if let Some(x) = f.get("experimentation") {
            let ty = x.get("type").and_then(Node::as_str).unwrap_or("");
            match ty {
                "static_weights" | "static" | "uniform" => {}
                "track_and_stop" | "adaptive" => {
                    cx.unexpressed(&format!("{fpath}.experimentation.type"), x.span, "adaptive experimentation picks variants from live feedback; the policy splits uniformly over the candidates");
                }
                other => {
                    let known = ["static_weights", "uniform", "track_and_stop"];
                    let mut d = Diagnostic::error(
                        codes::UNKNOWN_STRATEGY,
                        x.entry("type").map_or(x.span, |e| e.value.span),
                        format!("unknown experimentation type `{other}`"),
                    );
                    if let Some(c) = closest(other, &known) {
                        d = d.with_help(format!("did you mean `{c}`?"));
                    }
                    cx.emit(d);
                }
            }
            if let Some(c) = x.get("candidate_variants") {
                match &c.kind {
                    Kind::Map(es) => {
                        for e in es {
                            e.key.mark();
                            e.value.mark();
                            let Some(v) = e.key.as_str() else { continue };
                            if check_ref(cx, &e.key, v) {
                                let w = if ty == "static_weights" || ty == "static" {
                                    e.value.as_f64().unwrap_or(0.0)
                                } else {
                                    1.0
                                };
                                weights.push((v.to_owned(), w));
                            }
                        }
                    }
                    Kind::Seq(items) => {
                        for i in items {
                            i.mark();
                            if let Some(v) = i.as_str()
                                && check_ref(cx, i, v)
                            {
                                weights.push((v.to_owned(), 1.0));
                            }
                        }
                    }
                    _ => cx.bad_value(c, "`candidate_variants` must be a table or a list"),
                }
            } else {
                weights.extend(vnames.iter().map(|v| ((*v).to_owned(), 1.0)));
            }
            for i in x
                .get("fallback_variants")
                .map(Node::items)
                .unwrap_or_default()
            {
                i.mark();
                if let Some(v) = i.as_str()
                    && check_ref(cx, i, v)
                    && !fallback_variants.iter().any(|x| x == v)
                {
                    fallback_variants.push(v.to_owned());
                }
            }
        } else if let Some(vs) = variants {
            let any_weight = vs
                .entries()
                .iter()
                .any(|e| e.value.entry("weight").is_some());
            for e in vs.entries() {
                let Some(v) = e.key.as_str() else { continue };
                let w = e.value.get("weight").and_then(Node::as_f64);
                match (any_weight, w) {
                    (false, _) => weights.push((v.to_owned(), 1.0)),
                    (true, Some(w)) if w > 0.0 => weights.push((v.to_owned(), w)),
                    _ => fallback_variants.push(v.to_owned()),
                }
            }
        }
        // One routec model per (variant, provider).
        let mut first_of: HashMap<String, String> = HashMap::new();
        let mut last_of: HashMap<String, String> = HashMap::new();
        for ve in variants.map(Node::entries).unwrap_or_default() {
            ve.key.mark();
            ve.value.mark();
            let Some(vname) = ve.key.as_str() else {
                continue;
            };
            let vpath = format!("{fpath}.variants.{vname}");
            let v = &ve.value;
            let vtype = v
                .get("type")
                .and_then(Node::as_str)
                .unwrap_or("chat_completion");
            if vtype != "chat_completion" {
                v.mark_all();
                cx.unexpressed(&vpath, ve.key.span.cover(v.span), format!("a `{vtype}` variant calls several models per request; routec plans call one at a time"));
                continue;
            }
            let Some(model_node) = v.get("model") else {
                cx.emit(Diagnostic::error(
                    codes::BAD_VALUE,
                    ve.key.span,
                    format!("variant `{vname}` has no `model`"),
                ));
                continue;
            };
            let Some(model_ref) = model_node.as_str() else {
                cx.bad_value(model_node, "`model` must be a string");
                continue;
            };
            let mut vf = FaultSet::default();
            timeouts(v.get("timeouts"), &mut vf);
            if let Some(r) = v.get("retries")
                && let Some(n) = r
                    .get("num_retries")
                    .and_then(Node::as_f64)
                    .filter(|n| *n >= 1.0)
            {
                vf.retry = Some((
                    n as u32,
                    vec!["429".into(), "5xx".into(), "timeout".into()],
                    None,
                ));
            }
            let mut params = Vec::new();
            for e in v.entries() {
                let Some(k) = e.key.as_str() else { continue };
                if !matches!(
                    k,
                    "temperature"
                        | "top_p"
                        | "max_tokens"
                        | "seed"
                        | "presence_penalty"
                        | "frequency_penalty"
                        | "json_mode"
                        | "reasoning_effort"
                ) {
                    continue;
                }
                let val = match &e.value.kind {
                    Kind::Str(s) => Value::Str(s.clone()),
                    Kind::Num(x, _) => Value::Num(*x),
                    Kind::Bool(b) => Value::Bool(*b),
                    _ => continue,
                };
                e.key.mark();
                e.value.mark();
                params.push((ir::ident(k), val));
            }
            v.get("weight");
            let providers: Vec<Provider>;
            let mut mf = FaultSet::default();
            if let Some((prov, upstream)) = model_ref.split_once("::") {
                providers = vec![Provider {
                    name: prov.to_owned(),
                    provider: Some(ir::ident(prov)),
                    upstream: Some(upstream.to_owned()),
                    endpoint: None,
                    api_key: None,
                    faults: FaultSet::default(),
                    params: Vec::new(),
                }];
            } else if let Some((ps, f)) = tz_models.get(model_ref) {
                mf = f.clone();
                providers = ps
                    .iter()
                    .map(|p| Provider {
                        name: p.name.clone(),
                        provider: p.provider.clone(),
                        upstream: p.upstream.clone(),
                        endpoint: p.endpoint.clone(),
                        api_key: p.api_key.clone(),
                        faults: p.faults.clone(),
                        params: p.params.clone(),
                    })
                    .collect();
            } else {
                let refs: Vec<&str> = model_names.iter().map(String::as_str).collect();
                let mut d = Diagnostic::error(
                    codes::UNKNOWN_REFERENCE,
                    model_node.span,
                    format!("model `{model_ref}` is not defined in `[models]`"),
                );
                d = match closest(model_ref, &refs) {
                    Some(c) => d.with_help(format!("did you mean `{c}`?")),
                    None => d.with_help("define `[models.NAME]`, or write `provider::model`"),
                };
                cx.emit(d);
                continue;
            }
            if providers.is_empty() {
                continue;
            }
            let mut chain: Vec<String> = Vec::new();
            let n = providers.len();
            for (i, p) in providers.iter().enumerate() {
                let base = if n == 1 {
                    format!("{fname}_{vname}")
                } else {
                    format!("{fname}_{vname}_{}", p.name)
                };
                let name = names.fresh(&base);
                let mut m = Model {
                    name: name.clone(),
                    doc: vec![format!(
                        "Function `{fname}`, variant `{vname}`: model `{model_ref}`, provider `{}`.",
                        p.name
                    )],
                    provider: p.provider.clone(),
                    upstream: p.upstream.clone(),
                    endpoint: p.endpoint.clone(),
                    api_key: p.api_key.clone(),
                    params: p
                        .params
                        .iter()
                        .cloned()
                        .chain(params.iter().cloned())
                        .collect(),
                    ..Model::default()
                };
                if let (Some(cat), Some(up)) = (cx.catalog, &p.upstream) {
                    let key = match &p.provider {
                        Some(pr) => format!("{pr}/{up}"),
                        None => up.clone(),
                    };
                    if let Some(e) = cat.lookup(&key).or_else(|| cat.lookup(up)) {
                        if let (Some(a), Some(b)) = (e.input, e.output) {
                            m.price = Some((a, b));
                            cx.has_prices = true;
                        }
                        m.context = e.context;
                        if let Some(c) = e.context {
                            windows.insert(name.clone(), c);
                        }
                    }
                }
                let _ = i;
                let mut f = vf.clone();
                for extra in [&mf, &p.faults] {
                    f.timeout = match (f.timeout, extra.timeout) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    f.ttft_timeout = match (f.ttft_timeout, extra.ttft_timeout) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                if !f.is_empty() {
                    per_model.push((name.clone(), f));
                }
                models.push(m);
                chain.push(name);
            }
            // Providers in routing order.
            for w in chain.windows(2) {
                if let Some(m) = models.iter_mut().find(|m| m.name == w[0]) {
                    m.fallback = Some(w[1].clone());
                }
            }
            first_of.insert(vname.to_owned(), chain[0].clone());
            last_of.insert(vname.to_owned(), chain[chain.len() - 1].clone());
        }
        // Fallback variants: the last provider of each candidate, then of
        // each fallback variant, continues with the next fallback variant.
        let fb: Vec<&String> = fallback_variants
            .iter()
            .filter(|v| first_of.contains_key(*v))
            .collect();
        for (i, v) in fb.iter().enumerate() {
            if let (Some(last), Some(next)) = (
                last_of.get(*v),
                fb.get(i + 1).and_then(|n| first_of.get(*n)),
            ) {
                set_fallback(&mut models, last, next);
            }
        }
        if let Some(head) = fb.first().and_then(|v| first_of.get(*v)) {
            for (v, _) in &weights {
                if fb.contains(&v) {
                    continue;
                }
                if let Some(last) = last_of.get(v) {
                    set_fallback(&mut models, last, head);
                }
            }
        }
        let entries: Vec<(String, f64)> = weights
            .iter()
            .filter_map(|(v, w)| first_of.get(v).map(|m| (m.clone(), *w)))
            .collect();
        for (v, w) in &weights {
            if *w == 0.0 && first_of.contains_key(v) && !fallback_variants.contains(v) {
                cx.emit(Diagnostic::warning(
                    codes::UNREACHABLE,
                    f.span,
                    format!("variant `{v}` has weight 0 and is no fallback: it is never sampled"),
                ));
            }
        }
        let entries: Vec<(String, f64)> = entries.into_iter().filter(|(_, w)| *w > 0.0).collect();
        let plan = match entries.len() {
            0 => match fb.first().and_then(|v| first_of.get(*v)) {
                Some(m) => Plan::Target(m.clone()),
                None => {
                    cx.unexpressed(
                        &fpath,
                        fe.key.span,
                        "the function has no variant routec can call",
                    );
                    continue;
                }
            },
            1 => Plan::Target(entries[0].0.clone()),
            _ => {
                let ws: Vec<f64> = entries.iter().map(|(_, w)| *w).collect();
                let shares = ir::shares(&ws).unwrap_or_default();
                Plan::Split(
                    entries
                        .into_iter()
                        .zip(shares)
                        .map(|((m, _), s)| (m, s))
                        .collect(),
                )
            }
        };
        fn_rules.push((fname.to_owned(), fn_values.of(fname), plan, fe.key.span));
    }
    if fn_rules.is_empty() {
        cx.emit(Diagnostic::error(
            codes::NOTHING_TO_ROUTE,
            functions.span,
            "no function has a variant routec can call",
        ));
        return None;
    }
    // Break fallback cycles among variants (a variant that is its own fallback).
    break_cycles(cx, &mut models);

    let multi = fn_rules.len() > 1;
    let mut rules = Vec::new();
    let win = Windows { by_model: &windows };
    let default_value = fn_rules[0].1.clone();
    let values: Vec<String> = fn_rules.iter().map(|(_, v, _, _)| v.clone()).collect();
    let first = fn_rules.remove(0);
    for (fname, value, plan, span) in fn_rules.into_iter().chain(std::iter::once(first.clone())) {
        let is_default = value == first.1;
        let cond = (!is_default).then(|| Cond::Cmp("function".into(), "==", value.clone()));
        let mut doc = vec![format!("function `{fname}`")];
        if is_default && multi {
            doc.push("and requests naming no function the config defines".into());
        }
        rules.extend(guarded(
            Rule {
                doc,
                cond,
                plan,
                origin: Some(span),
            },
            &win,
        ));
    }
    let mut signals = Vec::new();
    if multi {
        signals.push(Signal {
            name: "function".into(),
            doc: vec!["The TensorZero function the request calls (`function_name`).".into()],
            ty: SignalType::Enum(values),
            source: SignalSource::Metadata("function_name".into()),
            default: default_value,
        });
    }
    Some(Policy {
        name: "imported_tensorzero".into(),
        owner: None,
        header: Vec::new(),
        signals,
        models,
        slo: Vec::new(),
        rules,
        faults: ir::Faults {
            defaults: FaultSet::default(),
            per_model,
        },
    })
}

fn set_fallback(models: &mut [Model], from: &str, to: &str) {
    if from == to {
        return;
    }
    if let Some(m) = models.iter_mut().find(|m| m.name == from)
        && m.fallback.is_none()
    {
        m.fallback = Some(to.to_owned());
    }
}

/// Model-level fallbacks that loop (through fallback variants) are cut at
/// the link that closes the loop.
fn break_cycles(_cx: &mut Cx<'_>, models: &mut [Model]) {
    let index: HashMap<String, usize> = models
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.clone(), i))
        .collect();
    loop {
        let adj: Vec<Vec<usize>> = models
            .iter()
            .map(|m| {
                m.fallback
                    .as_ref()
                    .and_then(|f| index.get(f))
                    .copied()
                    .into_iter()
                    .collect()
            })
            .collect();
        let Some(cycle) = crate::find_cycle(&adj) else {
            break;
        };
        let Some(&last) = cycle.last() else { break };
        models[last].fallback = None;
    }
}
