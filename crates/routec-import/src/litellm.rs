//! LiteLLM proxy `config.yaml` -> policy.
//!
//! A client names a *model group* (`model_name`); the router picks one of
//! the group's deployments (`simple-shuffle`: weighted by the first
//! deployment's `weight`, else `rpm`, else `tpm`, else uniform; lower
//! `order` first) and on failure retries (`num_retries`), cools deployments
//! down (`allowed_fails`, `cooldown_time`) and falls back to other groups
//! (`fallbacks`, recursively, without LiteLLM noticing cycles). The policy:
//! one model per deployment, an enum signal `model_group` read from the
//! request's `model`, one rule per group (a split over its deployments, or
//! a chain through its fallbacks), `faults` for retries, timeouts and
//! cooldowns, context-window fallbacks as rules on `prompt_tokens`, tag
//! routing as rules on a `tag` signal, budgets as `spend per day`.
//! `docs/import.md` has the table.

use std::collections::HashMap;

use routec_syntax::{Diagnostic, Span};

use crate::doc::{Entry, Node};
use crate::ir::{
    self, Cond, FaultSet, Model, Names, Plan, Policy, Rule, Signal, SignalSource, SignalType, Value,
};
use crate::route::{Windows, guarded};
use crate::{Cx, SourceKind, closest, codes, find_cycle, quoted};

const STRATEGIES: &[&str] = &[
    "simple-shuffle",
    "least-busy",
    "usage-based-routing",
    "usage-based-routing-v2",
    "latency-based-routing",
    "cost-based-routing",
];

/// LiteLLM's defaults when only one of the cooldown settings is given.
const DEFAULT_ALLOWED_FAILS: u32 = 3;
const DEFAULT_COOLDOWN_SECONDS: f64 = 5.0;

/// Why a key the importer did not read has no routec equivalent.
pub(crate) fn reason(path: &str) -> &'static str {
    let top = path.split(['.', '[']).next().unwrap_or("");
    let last = path.rsplit('.').next().unwrap_or("");
    match top {
        "general_settings" => "proxy server settings (auth, database, logging) are outside routing",
        "environment_variables" => {
            "environment variables are set by the deployment, not the policy"
        }
        "guardrails" | "policies" | "policy_attachments" => {
            "guardrails check content; routec routes requests and has no content checks"
        }
        "mcp_servers" | "search_tools" | "sandbox_tools" => "tools servers are outside routing",
        "finetune_settings" | "files_settings" => {
            "fine-tuning and file endpoints are outside routing"
        }
        "litellm_settings" => match last {
            "callbacks"
            | "success_callback"
            | "failure_callback"
            | "json_logs"
            | "set_verbose"
            | "turn_off_message_logging" => "logging callbacks are outside routing",
            "cache" | "cache_params" => "response caching is not modelled",
            "drop_params" | "modify_params" => {
                "parameter rewriting happens in the proxy, not in routing"
            }
            _ => "a LiteLLM module setting with no routec equivalent",
        },
        "router_settings" => match last {
            "redis_host" | "redis_port" | "redis_password" => {
                "shared router state lives in the proxy's deployment (routec's proxy keeps its own)"
            }
            _ => "a router setting with no routec equivalent",
        },
        "model_list" => "a deployment setting with no routec equivalent",
        _ => "not a LiteLLM setting the importer knows",
    }
}

struct Deployment<'n> {
    item: &'n Node,
    name: String,
    weight: Option<f64>,
    rpm: Option<f64>,
    tpm: Option<f64>,
    order: Option<f64>,
    tags: Vec<String>,
    context: Option<u64>,
}

struct Group {
    source: String,
    value: String,
    span: Span,
    deployments: Vec<usize>,
}

pub(crate) fn import(cx: &mut Cx<'_>, root: &Node) -> Option<Policy> {
    if !root.is_map() {
        cx.wrong_kind(
            root.span,
            SourceKind::Litellm,
            "expected a mapping with `model_list`",
        );
        return None;
    }
    let known = [
        "model_list",
        "router_settings",
        "litellm_settings",
        "general_settings",
    ];
    if !root
        .entries()
        .iter()
        .any(|e| e.key.as_str().is_some_and(|k| known.contains(&k)))
    {
        let hint = if root
            .entries()
            .iter()
            .any(|e| matches!(e.key.as_str(), Some("targets" | "strategy")))
        {
            " (this looks like a Portkey config)"
        } else if root
            .entries()
            .iter()
            .any(|e| matches!(e.key.as_str(), Some("functions" | "models")))
        {
            " (this looks like a TensorZero config)"
        } else if root
            .entries()
            .iter()
            .any(|e| matches!(e.key.as_str(), Some("routing" | "providers" | "decisions")))
        {
            " (this looks like a vLLM semantic-router config)"
        } else {
            ""
        };
        cx.wrong_kind(
            root.span,
            SourceKind::Litellm,
            &format!("expected `model_list`, `router_settings` or `litellm_settings`{hint}"),
        );
        return None;
    }
    let router = root.get("router_settings");
    let module = root.get("litellm_settings");
    let setting = |key: &str| -> Option<(&Node, String)> {
        for (section, name) in [(router, "router_settings"), (module, "litellm_settings")] {
            if let Some(v) = section.and_then(|s| s.get(key)) {
                return Some((v, format!("{name}.{key}")));
            }
        }
        None
    };

    // ---------------------------------------------------------------- deployments
    let mut names = Names::default();
    let mut groups: Vec<Group> = Vec::new();
    let mut deps: Vec<Deployment<'_>> = Vec::new();
    let mut built: Vec<(Model, FaultSet)> = Vec::new();
    let Some(list) = root.get("model_list") else {
        cx.emit(
            Diagnostic::error(
                codes::NOTHING_TO_ROUTE,
                Span::new(0, 0),
                "the config has no `model_list`: there is nothing to route",
            )
            .with_help("add the deployments under `model_list:`, each with `model_name` and `litellm_params.model`"),
        );
        return None;
    };
    if !list.is_seq() && !list.is_null() {
        cx.bad_value(list, "`model_list` must be a list of deployments");
        return None;
    }
    for (i, item) in list.items().iter().enumerate() {
        item.mark();
        let path = format!("model_list[{i}]");
        let Some(name_node) = item.get("model_name") else {
            cx.emit(Diagnostic::error(
                codes::BAD_VALUE,
                item.span,
                "deployment without `model_name`",
            ));
            item.mark_all();
            continue;
        };
        let Some(group_name) = name_node.as_str().map(str::to_owned) else {
            cx.bad_value(name_node, "`model_name` must be a string");
            item.mark_all();
            continue;
        };
        let params = item.get("litellm_params");
        let model = params
            .and_then(|p| p.get("model"))
            .and_then(Node::as_str)
            .map(str::to_owned);
        let Some(model) = model else {
            cx.emit(
                Diagnostic::error(
                    codes::BAD_VALUE,
                    name_node.span,
                    format!("deployment `{group_name}` has no `litellm_params.model`"),
                )
                .with_help(
                    "LiteLLM cannot call it: name the provider's model, such as `openai/gpt-4o`",
                ),
            );
            item.mark_all();
            cx.unexpressed(
                &path,
                item.span,
                "a deployment without a model cannot be routed to",
            );
            continue;
        };
        if group_name.contains('*') || model.contains('*') {
            item.mark_all();
            cx.unexpressed(
                &path,
                item.span,
                "wildcard model groups pass any model name through; routec routes to the models it declares",
            );
            continue;
        }
        let info = item.get("model_info");
        let mode = info
            .and_then(|i| i.get("mode"))
            .and_then(Node::as_str)
            .map(str::to_owned);
        let base = info
            .and_then(|i| i.get("base_model"))
            .and_then(Node::as_str)
            .map(str::to_owned);
        let entry = cx.catalog.and_then(|c| {
            c.lookup(base.as_deref().unwrap_or(&model))
                .or_else(|| c.lookup(&model))
        });
        let mode = mode.or_else(|| entry.and_then(|e| e.mode.clone()));
        if let Some(m) = mode
            .as_deref()
            .filter(|m| !matches!(*m, "chat" | "completion" | "responses"))
        {
            item.mark_all();
            cx.unexpressed(
                &path,
                item.span,
                format!("a `{m}` deployment: routec routes chat completions"),
            );
            continue;
        }
        let g = match groups.iter().position(|g| g.source == group_name) {
            Some(g) => g,
            None => {
                groups.push(Group {
                    value: String::new(),
                    source: group_name.clone(),
                    span: name_node.span,
                    deployments: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let d = deps.len();
        groups[g].deployments.push(d);
        let mut m = Model::default();
        let num = |n: Option<&Node>| n.and_then(Node::as_f64);
        let (provider, upstream) = match model.split_once('/') {
            Some((p, rest)) => (Some(ir::ident(p)), rest.to_owned()),
            None => (
                entry.and_then(|e| e.provider.as_deref()).map(ir::ident),
                model.clone(),
            ),
        };
        m.provider = provider;
        m.upstream = Some(upstream);
        m.doc
            .push(format!("LiteLLM deployment `{group_name}`: `{model}`."));
        let mut dep = Deployment {
            item,
            name: String::new(),
            weight: None,
            rpm: num(item.get("rpm")),
            tpm: num(item.get("tpm")),
            order: None,
            tags: Vec::new(),
            context: None,
        };
        let mut per = FaultSet::default();
        let mut price = (None, None);
        if let Some(p) = params {
            for e in p.entries() {
                let Some(k) = e.key.as_str() else { continue };
                let kpath = format!("{path}.litellm_params.{k}");
                match k {
                    "model" => {}
                    "api_key" => {
                        e.key.mark();
                        e.value.mark();
                        match e.value.as_str() {
                            Some(v) if v.starts_with("os.environ/") => {
                                m.api_key = Some(v.trim_start_matches("os.environ/").to_owned());
                            }
                            Some(v) if !v.trim().is_empty() && !v.eq_ignore_ascii_case("none") => {
                                cx.emit(
                                    Diagnostic::warning(
                                        codes::INLINE_SECRET,
                                        e.value.span,
                                        "api key written in the config",
                                    )
                                    .with_help(
                                        "read it from the environment: `api_key: os.environ/NAME`",
                                    ),
                                );
                                cx.unexpressed(&kpath, e.value.span, "an inline key is never copied into a policy; use `os.environ/NAME`");
                            }
                            _ => {}
                        }
                    }
                    "api_base" => {
                        e.key.mark();
                        e.value.mark();
                        if let Some(v) = e.value.as_str() {
                            m.endpoint = Some(match v.strip_prefix("os.environ/") {
                                Some(n) => Value::Env(n.to_owned()),
                                None => Value::Str(v.to_owned()),
                            });
                        }
                    }
                    "weight" => dep.weight = num(p.get(k)),
                    "rpm" => dep.rpm = num(p.get(k)),
                    "tpm" => dep.tpm = num(p.get(k)),
                    "order" => dep.order = num(p.get(k)),
                    "timeout" => per.timeout = num(p.get(k)).filter(|t| *t > 0.0),
                    "max_retries" => {
                        if let Some(n) = num(p.get(k)).filter(|n| *n >= 0.0) {
                            per.retry = Some((n as u32, retry_classes(), None));
                        }
                    }
                    "tags" => {
                        let v = p.get(k);
                        for t in v.map(Node::items).unwrap_or_default() {
                            t.mark();
                            if let Some(s) = t.as_str() {
                                dep.tags.push(s.to_owned());
                            }
                        }
                    }
                    "input_cost_per_token" => price.0 = num(p.get(k)),
                    "output_cost_per_token" => price.1 = num(p.get(k)),
                    _ => param(cx, &mut m, e, &kpath),
                }
            }
        }
        if let Some(info) = info {
            for e in info.entries() {
                let Some(k) = e.key.as_str() else { continue };
                match k {
                    "max_input_tokens" => {
                        dep.context = num(info.get(k)).filter(|x| *x >= 1.0).map(|x| x as u64);
                    }
                    "input_cost_per_token" => price.0 = price.0.or(num(info.get(k))),
                    "output_cost_per_token" => price.1 = price.1.or(num(info.get(k))),
                    "supports_vision" if info.get(k).and_then(Node::as_bool) == Some(true) => {
                        m.supports.push("images".into());
                        m.supports.push("tools".into());
                    }
                    "description" => {
                        if let Some(d) = info.get(k).and_then(Node::as_str) {
                            m.doc.push(d.to_owned());
                        }
                    }
                    "id" | "base_model" | "mode" => {
                        info.get(k);
                    }
                    _ => {}
                }
            }
        }
        if let Some(e) = entry {
            dep.context = dep.context.or(e.context);
            price.0 = price.0.or(e.input);
            price.1 = price.1.or(e.output);
            if e.vision && !m.supports.iter().any(|s| s == "images") {
                m.supports.push("images".into());
                m.supports.push("tools".into());
            }
        }
        if let (Some(i), Some(o)) = price {
            m.price = Some((i, o));
            cx.has_prices = true;
        } else if let Some(i) = price.0.or(price.1) {
            m.price = Some((price.0.unwrap_or(i), price.1.unwrap_or(i)));
            cx.has_prices = true;
        }
        if dep.context.is_some() {
            cx.has_prices = true;
        }
        m.context = dep.context;
        deps.push(dep);
        built.push((m, per));
    }
    finish(
        cx,
        root,
        &setting,
        &mut names,
        &mut groups,
        &mut deps,
        built,
    )
}

fn retry_classes() -> Vec<String> {
    vec!["429".into(), "5xx".into(), "timeout".into()]
}

/// A provider or generation parameter: scalars become `params`, the rest
/// is reported.
fn param(cx: &mut Cx<'_>, m: &mut Model, e: &Entry, path: &str) {
    let Some(k) = e.key.as_str() else { return };
    let v = &e.value;
    let value = match &v.kind {
        crate::doc::Kind::Str(s) => match s.strip_prefix("os.environ/") {
            Some(n) => Some(Value::Env(n.to_owned())),
            None => Some(Value::Str(s.clone())),
        },
        crate::doc::Kind::Num(x, _) => Some(Value::Num(*x)),
        crate::doc::Kind::Bool(b) => Some(Value::Bool(*b)),
        _ => None,
    };
    match value {
        Some(value) => {
            e.key.mark();
            v.mark();
            m.params.push((ir::ident(k), value));
        }
        None => {
            e.key.mark_all();
            v.mark_all();
            cx.unexpressed(
                path,
                e.key.span.cover(v.span),
                "a structured parameter: routec `params` hold single values",
            );
        }
    }
}

/// `30d`, `7d`, `24h`, `1mo` in seconds.
fn budget_seconds(text: &str) -> Option<f64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (n, unit) = t.split_at(split);
    let n: f64 = n.parse().ok()?;
    let unit_s = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        "w" => 7.0 * 86400.0,
        "mo" => 30.0 * 86400.0,
        _ => return None,
    };
    (n > 0.0).then_some(n * unit_s)
}

struct FallbackList {
    key: Span,
    targets: Vec<(usize, Span)>,
}

/// Reads a `fallbacks`-shaped list (`[{group: [a, b]}, ...]`).
fn fallback_lists(cx: &mut Cx<'_>, node: &Node, groups: &[Group]) -> HashMap<usize, FallbackList> {
    let mut out: HashMap<usize, FallbackList> = HashMap::new();
    let names: Vec<&str> = groups.iter().map(|g| g.source.as_str()).collect();
    let find = |cx: &mut Cx<'_>, n: &Node| -> Option<usize> {
        let s = n.as_str()?;
        match groups.iter().position(|g| g.source == s) {
            Some(i) => Some(i),
            None => {
                let mut d = Diagnostic::error(
                    codes::UNKNOWN_REFERENCE,
                    n.span,
                    format!("fallback names model group `{s}`, which `model_list` does not define"),
                );
                if let Some(c) = closest(s, &names) {
                    d = d
                        .with_help(format!("did you mean `{c}`?"))
                        .with_suggestion("replace", n.span, c);
                } else {
                    d = d.with_help("LiteLLM fails this fallback at request time; define the group or remove it");
                }
                cx.emit(d);
                None
            }
        }
    };
    let mut maps: Vec<&Node> = Vec::new();
    match &node.kind {
        crate::doc::Kind::Seq(items) => maps.extend(items.iter()),
        crate::doc::Kind::Map(_) => maps.push(node),
        crate::doc::Kind::Null => {}
        _ => cx.bad_value(
            node,
            "fallbacks must be a list of `{group: [fallback, ...]}`",
        ),
    }
    for m in maps {
        m.mark();
        if !m.is_map() {
            cx.bad_value(m, "a fallback entry must be `{group: [fallback, ...]}`");
            m.mark_all();
            continue;
        }
        for e in m.entries() {
            e.key.mark();
            e.value.mark();
            let Some(g) = find(cx, &e.key) else {
                e.value.mark_all();
                continue;
            };
            let mut targets = Vec::new();
            let items: Vec<&Node> = if e.value.is_seq() {
                e.value.items().iter().collect()
            } else {
                vec![&e.value]
            };
            for t in items {
                t.mark();
                let Some(ti) = find(cx, t) else { continue };
                if let Some((_, first)) = targets.iter().find(|(x, _)| *x == ti) {
                    cx.emit(
                        Diagnostic::warning(
                            codes::UNREACHABLE,
                            t.span,
                            format!(
                                "fallback `{}` is listed twice for `{}`",
                                groups[ti].source, groups[g].source
                            ),
                        )
                        .with_secondary(*first, "first listed here")
                        .with_help(
                            "the second try of the same group fails for the same reason; remove it",
                        ),
                    );
                    continue;
                }
                targets.push((ti, t.span));
            }
            if let Some(prev) = out.get(&g) {
                cx.emit(
                    Diagnostic::warning(
                        codes::UNREACHABLE,
                        e.key.span,
                        format!(
                            "fallbacks for `{}` are given twice; LiteLLM uses only the first list",
                            groups[g].source
                        ),
                    )
                    .with_secondary(prev.key, "the list LiteLLM uses")
                    .with_help("merge the two lists"),
                );
                continue;
            }
            out.insert(
                g,
                FallbackList {
                    key: e.key.span,
                    targets,
                },
            );
        }
    }
    out
}

#[expect(
    clippy::too_many_lines,
    reason = "one pass over the settings, in the order of the mapping table"
)]
fn finish<'n>(
    cx: &mut Cx<'_>,
    root: &'n Node,
    setting: &dyn Fn(&str) -> Option<(&'n Node, String)>,
    names: &mut Names,
    groups: &mut [Group],
    deps: &mut [Deployment<'n>],
    built: Vec<(Model, FaultSet)>,
) -> Option<Policy> {
    if groups.is_empty() {
        let span = root
            .entry("model_list")
            .map_or(Span::new(0, 0), |e| e.key.span);
        cx.emit(Diagnostic::error(
            codes::NOTHING_TO_ROUTE,
            span,
            "`model_list` has no chat deployment to route to",
        ));
        return None;
    }
    // Names: a deployment alone in its group takes the group's name.
    let mut values = Names::default();
    for g in groups.iter_mut() {
        g.value = values.of(&g.source);
        let n = g.deployments.len();
        for (k, &d) in g.deployments.iter().enumerate() {
            deps[d].name = if n == 1 {
                names.of(&g.source)
            } else {
                names.fresh(&format!("{}_{}", g.source, k + 1))
            };
        }
    }
    let mut models: Vec<Model> = Vec::new();
    let mut per_model: Vec<(String, FaultSet)> = Vec::new();
    let mut windows: HashMap<String, u64> = HashMap::new();
    for (d, (mut m, f)) in deps.iter().zip(built) {
        m.name = d.name.clone();
        if let Some(c) = d.context {
            windows.insert(m.name.clone(), c);
        }
        if !f.is_empty() {
            per_model.push((m.name.clone(), f));
        }
        models.push(m);
    }

    // ---------------------------------------------------------------- strategy
    let mut strategy = "simple-shuffle".to_owned();
    if let Some((v, path)) = setting("routing_strategy") {
        match v.as_str() {
            Some(s) if STRATEGIES.contains(&s) => strategy = s.to_owned(),
            Some(s) => {
                let mut d = Diagnostic::error(
                    codes::UNKNOWN_STRATEGY,
                    v.span,
                    format!("unknown routing strategy `{s}`"),
                );
                d = match closest(s, STRATEGIES) {
                    Some(c) => d
                        .with_help(format!("did you mean `{c}`?"))
                        .with_suggestion("replace", v.span, c),
                    None => d.with_help(format!("LiteLLM knows {}", STRATEGIES.join(", "))),
                };
                cx.emit(d);
                cx.unexpressed(
                    &path,
                    v.span,
                    "an unknown strategy: the policy splits traffic as `simple-shuffle` does",
                );
            }
            None => cx.bad_value(v, "`routing_strategy` must be a string"),
        }
        if strategy != "simple-shuffle" {
            cx.unexpressed(
                &path,
                v.span,
                format!(
                    "`{strategy}` picks deployments by live measurements; the policy splits traffic by weight \
                     (declare each model's latency and price and use `optimize` to let the compiler choose)"
                ),
            );
        }
    }
    let pre_call = setting("enable_pre_call_checks").and_then(|(v, _)| v.as_bool()) == Some(true);
    let tag_filtering =
        setting("enable_tag_filtering").and_then(|(v, _)| v.as_bool()) == Some(true);

    // ---------------------------------------------------------------- quotas and weights
    for g in groups.iter() {
        let first = &deps[g.deployments[0]];
        for &d in &g.deployments {
            let dep = &deps[d];
            let params = dep.item.get("litellm_params");
            for key in ["rpm", "tpm"] {
                let in_params = params.and_then(|p| p.entry(key));
                let at_item = dep.item.entry(key);
                for (entry, where_) in [(in_params, "litellm_params"), (at_item, "deployment")] {
                    let Some(entry) = entry else { continue };
                    if strategy.starts_with("usage-based") {
                        cx.unexpressed(
                            &format!("model_list.{}.{key}", g.source),
                            entry.value.span,
                            "a hard rate limit: routec has no per-model request quotas (use `slo { share MODEL <= X% }` for a capacity share)",
                        );
                    } else if !(pre_call || where_ == "litellm_params" && first.weight.is_none()) {
                        // Under simple-shuffle `rpm`/`tpm` only weight the pick,
                        // and only when read from `litellm_params`.
                        let why = if where_ == "deployment" {
                            format!(
                                "`{key}` beside `litellm_params` is neither a limit nor a weight under `{strategy}`"
                            )
                        } else {
                            format!("`{key}` is not enforced under `{strategy}`")
                        };
                        cx.emit(
                            Diagnostic::warning(codes::QUOTA_NEVER_APPLIES, entry.value.span, why)
                                .with_help("set `router_settings.enable_pre_call_checks: true` to enforce it, or use `usage-based-routing-v2`"),
                        );
                    } else if !pre_call {
                        cx.emit(
                            Diagnostic::warning(
                                codes::QUOTA_NEVER_APPLIES,
                                entry.value.span,
                                format!("`{key}` is not enforced under `{strategy}`; it only weights the pick"),
                            )
                            .with_help("set `router_settings.enable_pre_call_checks: true` to enforce it"),
                        );
                    }
                }
            }
            if d != g.deployments[0] && dep.weight.is_some() && first.weight.is_none() {
                let span = params
                    .and_then(|p| p.entry("weight"))
                    .map_or(dep.item.span, |e| e.value.span);
                cx.emit(
                    Diagnostic::warning(
                        codes::QUOTA_NEVER_APPLIES,
                        span,
                        format!("this `weight` never applies: LiteLLM reads weights only when the first deployment of `{}` has one", g.source),
                    )
                    .with_secondary(first.item.span, "the first deployment, without `weight`"),
                );
            }
        }
    }
    let weight_of = |g: &Group, d: usize| -> f64 {
        let first = &deps[g.deployments[0]];
        let dep = &deps[d];
        if strategy == "simple-shuffle" || !STRATEGIES.contains(&strategy.as_str()) {
            if first.weight.is_some() {
                return dep.weight.unwrap_or(0.0);
            }
            let p = |x: &Deployment<'_>, k: &str| {
                x.item
                    .get("litellm_params")
                    .and_then(|p| p.get(k))
                    .and_then(Node::as_f64)
            };
            if p(first, "rpm").is_some() {
                return p(dep, "rpm").unwrap_or(0.0);
            }
            if p(first, "tpm").is_some() {
                return p(dep, "tpm").unwrap_or(0.0);
            }
        }
        1.0
    };

    // ---------------------------------------------------------------- fallbacks
    let mut fallbacks: HashMap<usize, FallbackList> = HashMap::new();
    if let Some((v, _)) = setting("fallbacks") {
        fallbacks = fallback_lists(cx, v, groups);
    }
    if let Some((v, _)) = setting("default_fallbacks") {
        let targets: Vec<(usize, Span)> = v
            .items()
            .iter()
            .filter_map(|t| {
                t.mark();
                let s = t.as_str()?;
                groups
                    .iter()
                    .position(|g| g.source == s)
                    .map(|i| (i, t.span))
            })
            .collect();
        for g in 0..groups.len() {
            fallbacks.entry(g).or_insert_with(|| FallbackList {
                key: v.span,
                targets: targets.iter().filter(|(t, _)| *t != g).copied().collect(),
            });
        }
    }
    let cw_lists = match setting("context_window_fallbacks") {
        Some((v, _)) => fallback_lists(cx, v, groups),
        None => HashMap::new(),
    };
    if let Some((v, path)) = setting("content_policy_fallbacks") {
        v.mark_all();
        cx.unexpressed(
            &path,
            v.span,
            "routec cannot tell a content-policy refusal from other failures",
        );
    }
    let max_fallbacks = setting("max_fallbacks")
        .and_then(|(v, _)| v.as_f64())
        .map_or(5, |x| x.max(0.0) as usize);

    // Cycles: each fallback edge that closes one is reported once.
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); groups.len()];
    for (g, l) in &fallbacks {
        adj[*g] = l.targets.iter().map(|(t, _)| *t).collect();
    }
    let mut reported = 0;
    while let Some(cycle) = find_cycle(&adj) {
        let (Some(&last), Some(&first)) = (cycle.last(), cycle.first()) else {
            break;
        };
        let span = fallbacks
            .get(&last)
            .and_then(|l| l.targets.iter().find(|(t, _)| *t == first))
            .map_or(Span::new(0, 0), |(_, s)| *s);
        let path: Vec<String> = cycle
            .iter()
            .chain(std::iter::once(&first))
            .map(|g| quoted(&groups[*g].source))
            .collect();
        let mut d = Diagnostic::error(
            codes::FALLBACK_CYCLE,
            span,
            format!("fallback cycle: {}", path.join(" -> ")),
        )
        .with_help(format!(
            "LiteLLM follows fallbacks of fallbacks, so a failing request goes round this cycle up to `max_fallbacks` ({max_fallbacks}) times, \
             calling the same groups again; the policy tries each group once"
        ));
        for w in cycle.windows(2) {
            if let Some((_, s)) = fallbacks
                .get(&w[0])
                .and_then(|l| l.targets.iter().find(|(t, _)| *t == w[1]))
            {
                d = d.with_secondary(
                    *s,
                    format!(
                        "`{}` falls back to `{}`",
                        groups[w[0]].source, groups[w[1]].source
                    ),
                );
            }
        }
        cx.emit(d);
        adj[last].retain(|t| *t != first);
        reported += 1;
        if reported >= 20 {
            break;
        }
    }

    // ---------------------------------------------------------------- plans
    let mut clones: HashMap<(String, String), String> = HashMap::new();
    let mut extra_models: Vec<Model> = Vec::new();
    let mut extra_faults: Vec<(String, FaultSet)> = Vec::new();
    let ordered = |g: &Group| -> (Vec<usize>, Vec<usize>) {
        let mut ds = g.deployments.clone();
        ds.sort_by(|a, b| {
            let oa = deps[*a].order.unwrap_or(f64::INFINITY);
            let ob = deps[*b].order.unwrap_or(f64::INFINITY);
            oa.total_cmp(&ob)
        });
        let top = deps[ds[0]].order;
        let (head, rest): (Vec<usize>, Vec<usize>) =
            ds.iter().partition(|d| deps[**d].order == top);
        (head, rest)
    };
    // The groups a failure of `g` visits, depth first, each once.
    let chain_groups = |g: usize| -> Vec<usize> {
        let mut out = vec![g];
        let mut stack: Vec<(usize, usize, usize)> = vec![(g, 0, 0)];
        while let Some((v, i, depth)) = stack.pop() {
            let Some(l) = fallbacks.get(&v) else { continue };
            if let Some((t, _)) = l.targets.get(i) {
                stack.push((v, i + 1, depth));
                if !out.contains(t) && depth < max_fallbacks {
                    out.push(*t);
                    stack.push((*t, 0, depth + 1));
                }
            }
        }
        out
    };
    let mut plan_of = |cx: &mut Cx<'_>,
                       g: usize,
                       tail_groups: &[usize],
                       names: &mut Names|
     -> Plan {
        let (head, rest) = ordered(&groups[g]);
        let mut tail: Vec<String> = rest.iter().map(|d| deps[*d].name.clone()).collect();
        for h in tail_groups {
            let (hh, hr) = ordered(&groups[*h]);
            if hh.len() > 1 {
                cx.note("a fallback group with several deployments is tried deployment by deployment, in order (LiteLLM load-balances inside it)");
            }
            tail.extend(hh.iter().chain(&hr).map(|d| deps[*d].name.clone()));
        }
        let mut seen = Vec::new();
        tail.retain(|m| {
            let fresh = !seen.contains(m) && !head.iter().any(|d| deps[*d].name == *m);
            seen.push(m.clone());
            fresh
        });
        let head_names: Vec<String> = head.iter().map(|d| deps[*d].name.clone()).collect();
        if head.len() == 1 {
            let mut chain = head_names;
            chain.extend(tail);
            return if chain.len() == 1 {
                Plan::Target(chain.remove(0))
            } else {
                Plan::Chain(chain)
            };
        }
        let weights: Vec<f64> = head.iter().map(|d| weight_of(&groups[g], *d)).collect();
        let shares = ir::shares(&weights)
            .unwrap_or_else(|| ir::shares(&vec![1.0; head.len()]).unwrap_or_default());
        // A split cannot be followed by `else`: each entry becomes a copy of
        // its deployment whose `fallback` runs the tail (copies too).
        let mut next: Option<String> = None;
        for t in tail.iter().rev() {
            next = Some(match next {
                None => t.clone(),
                Some(n) => clone_with(
                    t,
                    &n,
                    &mut clones,
                    &mut extra_models,
                    &mut extra_faults,
                    &per_model,
                    names,
                ),
            });
        }
        let entries = head_names
            .iter()
            .zip(shares)
            .filter(|(_, s)| *s > 0)
            .map(|(m, s)| {
                let name = match &next {
                    Some(n) => clone_with(
                        m,
                        n,
                        &mut clones,
                        &mut extra_models,
                        &mut extra_faults,
                        &per_model,
                        names,
                    ),
                    None => m.clone(),
                };
                (name, s)
            })
            .collect::<Vec<_>>();
        if entries.len() == 1 {
            Plan::Target(entries[0].0.clone())
        } else {
            Plan::Split(entries)
        }
    };

    let multi = groups.len() > 1;
    let signal_name = "model_group";
    let group_cond = |g: &Group| -> Option<Cond> {
        multi.then(|| Cond::Cmp(signal_name.into(), "==", g.value.clone()))
    };

    // Tags.
    let mut tag_values = Names::default();
    let mut tags: Vec<(String, String)> = Vec::new();
    for d in deps.iter() {
        for t in &d.tags {
            if !tags.iter().any(|(s, _)| s == t) && t != "default" {
                tags.push((t.clone(), tag_values.of(t)));
            }
        }
    }
    if !tags.is_empty() && !tag_filtering {
        for d in deps.iter() {
            if let Some(e) = d.item.get("litellm_params").and_then(|p| p.entry("tags")) {
                cx.emit(
                    Diagnostic::warning(codes::QUOTA_NEVER_APPLIES, e.value.span, "deployment tags never apply")
                        .with_help("LiteLLM filters by tag only with `router_settings.enable_tag_filtering: true`"),
                );
            }
        }
        tags.clear();
    }
    let none_tag = tag_values.fresh("none");

    let mut rules: Vec<Rule> = Vec::new();
    let mut default_rules: Vec<Rule> = Vec::new();
    for gi in 0..groups.len() {
        let cg = chain_groups(gi);
        let base_cond = group_cond(&groups[gi]);
        let mut group_rules: Vec<Rule> = Vec::new();
        // Context-window fallbacks.
        if let Some(l) = cw_lists.get(&gi) {
            let own = groups[gi]
                .deployments
                .iter()
                .filter_map(|d| deps[*d].context)
                .min();
            match own {
                None => cx.unexpressed(
                    &format!("context_window_fallbacks.{}", groups[gi].source),
                    l.key,
                    "the context window of this group is unknown: pass `--catalog` or set `model_info.max_input_tokens`, then import again",
                ),
                Some(w) => {
                    let mut chain: Vec<String> = Vec::new();
                    for (t, span) in &l.targets {
                        let tw = groups[*t].deployments.iter().filter_map(|d| deps[*d].context).min();
                        if let Some(tw) = tw.filter(|tw| *tw <= w) {
                            cx.emit(
                                Diagnostic::warning(
                                    codes::SMALLER_CONTEXT_FALLBACK,
                                    *span,
                                    format!(
                                        "context-window fallback from `{}` ({w} tokens) to `{}` ({tw} tokens) cannot take the prompt either",
                                        groups[gi].source, groups[*t].source
                                    ),
                                )
                                .with_help("fall back to a model with a larger window"),
                            );
                            continue;
                        }
                        let (h, r) = ordered(&groups[*t]);
                        chain.extend(h.iter().chain(&r).map(|d| deps[*d].name.clone()));
                    }
                    chain.dedup();
                    if !chain.is_empty() {
                        let cond = Cond::and(
                            base_cond.iter().cloned().chain([Cond::Cmp("prompt_tokens".into(), ">", w.to_string())]).collect(),
                        );
                        let plan = if chain.len() == 1 { Plan::Target(chain.remove(0)) } else { Plan::Chain(chain) };
                        group_rules.push(Rule {
                            doc: vec![format!("context_window_fallbacks: `{}` holds {w} tokens", groups[gi].source)],
                            cond: Some(cond),
                            plan,
                            origin: Some(l.key),
                        });
                    }
                }
            }
        }
        // Tag routing.
        for (t, value) in &tags {
            let tagged: Vec<usize> = groups[gi]
                .deployments
                .iter()
                .copied()
                .filter(|d| deps[*d].tags.contains(t))
                .collect();
            if tagged.is_empty() {
                continue;
            }
            let names_: Vec<String> = tagged.iter().map(|d| deps[*d].name.clone()).collect();
            let plan = if names_.len() == 1 {
                Plan::Target(names_[0].clone())
            } else {
                let weights: Vec<f64> = tagged.iter().map(|d| weight_of(&groups[gi], *d)).collect();
                let shares = ir::shares(&weights)
                    .unwrap_or_else(|| ir::shares(&vec![1.0; tagged.len()]).unwrap_or_default());
                Plan::Split(names_.into_iter().zip(shares).collect())
            };
            group_rules.push(Rule {
                doc: vec![format!("tag `{t}`")],
                cond: Some(Cond::and(
                    base_cond
                        .iter()
                        .cloned()
                        .chain([Cond::Cmp("tag".into(), "==", value.clone())])
                        .collect(),
                )),
                plan,
                origin: Some(groups[gi].span),
            });
        }
        let plan = plan_of(cx, gi, &cg[1..], names);
        let mut doc = vec![format!("model group `{}`", groups[gi].source)];
        if cg.len() > 1 {
            let via: Vec<String> = cg[1..].iter().map(|g| quoted(&groups[*g].source)).collect();
            doc.push(format!("falls back to {}", via.join(", ")));
        }
        group_rules.push(Rule {
            doc,
            cond: base_cond,
            plan,
            origin: Some(groups[gi].span),
        });
        if gi == 0 {
            default_rules = group_rules;
        } else {
            rules.extend(group_rules);
        }
    }
    // The default group last; its plain rule is `otherwise`.
    if let Some(last) = default_rules.last_mut() {
        last.cond = None;
        last.doc
            .push("and requests for a model the config does not name (LiteLLM answers 400)".into());
    }
    rules.extend(default_rules);
    // Copies serve the prompts their base model serves.
    for m in &extra_models {
        if let Some(w) = m.extends.as_ref().and_then(|b| windows.get(b)).copied() {
            windows.insert(m.name.clone(), w);
        }
    }
    let mut all_rules = Vec::new();
    let win = Windows { by_model: &windows };
    for r in rules {
        all_rules.extend(guarded(r, &win));
    }

    // ---------------------------------------------------------------- signals
    let mut signals = Vec::new();
    if multi {
        signals.push(Signal {
            name: signal_name.into(),
            doc: vec!["The model group the client asked for (the request's `model`).".into()],
            ty: SignalType::Enum(groups.iter().map(|g| g.value.clone()).collect()),
            source: SignalSource::Metadata("model".into()),
            default: groups[0].value.clone(),
        });
    }
    if !tags.is_empty() {
        let mut vs: Vec<String> = tags.iter().map(|(_, v)| v.clone()).collect();
        vs.push(none_tag.clone());
        signals.push(Signal {
            name: "tag".into(),
            doc: vec!["The request's routing tag (`metadata.tags`; the first one when there are several).".into()],
            ty: SignalType::Enum(vs),
            source: SignalSource::Metadata("tags".into()),
            default: none_tag,
        });
    }

    // ---------------------------------------------------------------- faults
    let mut defaults = FaultSet::default();
    if let Some((v, _)) = setting("timeout").or_else(|| setting("request_timeout")) {
        match v.as_f64() {
            Some(t) if t > 0.0 => defaults.timeout = Some(t),
            _ => cx.bad_value(v, "a timeout must be a positive number of seconds"),
        }
    }
    if let Some((v, path)) = setting("stream_timeout") {
        cx.unexpressed(&path, v.span, "a separate timeout for streamed requests: routec has one `timeout` (and `ttft timeout`)");
    }
    let backoff = setting("retry_after")
        .and_then(|(v, _)| v.as_f64())
        .filter(|x| *x > 0.0);
    if let Some((v, _)) = setting("num_retries") {
        match v.as_f64() {
            Some(n) if n >= 0.0 && n.fract() == 0.0 => {
                if n > 0.0 {
                    defaults.retry = Some((n as u32, retry_classes(), backoff));
                }
            }
            _ => cx.bad_value(v, "`num_retries` must be a whole number"),
        }
    }
    let disabled = setting("disable_cooldowns").and_then(|(v, _)| v.as_bool()) == Some(true);
    let allowed = setting("allowed_fails").and_then(|(v, _)| v.as_f64());
    let cooldown = setting("cooldown_time").and_then(|(v, _)| v.as_f64());
    if !disabled && (allowed.is_some() || cooldown.is_some()) {
        let fails = allowed.map_or(DEFAULT_ALLOWED_FAILS, |a| a.max(0.0) as u32);
        let time = cooldown.unwrap_or(DEFAULT_COOLDOWN_SECONDS);
        if time > 0.0 {
            // LiteLLM cools a deployment down once its failures in a minute
            // exceed `allowed_fails`.
            defaults.cooldown = Some((time, fails + 1));
        }
    }
    // Copies of a deployment share its fault overrides.
    per_model.extend(extra_faults);

    // ---------------------------------------------------------------- budgets
    let mut slo = Vec::new();
    let budget = setting("max_budget");
    let duration = setting("budget_duration");
    match (budget, duration) {
        (Some((b, path)), Some((d, _))) => match (b.as_f64(), d.as_str().and_then(budget_seconds)) {
            (Some(amount), Some(secs)) if amount >= 0.0 => {
                let per_day = amount * 86400.0 / secs;
                slo.push(format!("spend per day <= ${}", ir::number((per_day * 100.0).round() / 100.0)));
                if (secs - 86400.0).abs() > 1.0 {
                    cx.unexpressed(&path, b.span.cover(d.span), "a budget over another period than a day: written as its daily average");
                }
            }
            _ => cx.bad_value(b, "`max_budget` must be a number of dollars and `budget_duration` a period such as `30d`"),
        },
        (Some((b, path)), None) => {
            cx.unexpressed(&path, b.span, "a budget without `budget_duration` never resets; routec budgets are per day");
        }
        (None, Some((d, _))) if setting("max_end_user_budget").is_none() => {
            cx.emit(
                Diagnostic::warning(codes::QUOTA_NEVER_APPLIES, d.span, "`budget_duration` without a budget never applies")
                    .with_help("set `max_budget` (dollars) next to it"),
            );
        }
        _ => {}
    }
    if let Some((v, path)) = setting("max_end_user_budget") {
        cx.unexpressed(
            &path,
            v.span,
            "a budget per end user: routec budgets the whole policy (`spend per day`)",
        );
        if let Some((d, p)) = setting("budget_duration") {
            cx.unexpressed(&p, d.span, "the period of the per-user budget");
        }
    }

    models.extend(extra_models);
    Some(Policy {
        name: "imported_litellm".into(),
        owner: None,
        header: Vec::new(),
        signals,
        models,
        slo,
        rules: all_rules,
        faults: ir::Faults {
            defaults,
            per_model,
        },
    })
}

/// A copy of model `base` that falls back to `fallback` (made once).
fn clone_with(
    base: &str,
    fallback: &str,
    clones: &mut HashMap<(String, String), String>,
    extra: &mut Vec<Model>,
    faults: &mut Vec<(String, FaultSet)>,
    per_model: &[(String, FaultSet)],
    names: &mut Names,
) -> String {
    let key = (base.to_owned(), fallback.to_owned());
    if let Some(n) = clones.get(&key) {
        return n.clone();
    }
    let name = names.fresh(&format!("{base}_then_{fallback}"));
    extra.push(Model {
        name: name.clone(),
        doc: vec![format!("`{base}`, falling back to `{fallback}`.")],
        extends: Some(base.to_owned()),
        fallback: Some(fallback.to_owned()),
        ..Model::default()
    });
    if let Some((_, f)) = per_model.iter().find(|(m, _)| m == base) {
        faults.push((name.clone(), f.clone()));
    }
    clones.insert(key, name.clone());
    name
}
