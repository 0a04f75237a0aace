//! Models: properties in base units, `extends` resolved (with cycles
//! reported), fallback cycles, inline secrets.

use routec_syntax::Span;
use routec_syntax::ast::{self, LatencyTermKind, LitKind, ModelPropKind, Quantile};

use crate::cx::{Cx, FastMap};
use crate::diagnostics as d;
use crate::ir::{
    Capabilities, Capacity, Latency, LoadLatency, ModelDef, ModelId, ParamValue, Price, PriceTier,
    QualityDef, QualityTable, Quantiles, Reasoning, SignalType, StrOrEnv,
};
use crate::units::Unit;
use routec_syntax::suggest;

pub(crate) fn empty_model(m: &ast::Model, item: &ast::Item) -> ModelDef {
    ModelDef {
        name: m.name.text.clone(),
        span: m.name.span,
        doc: item.doc.as_ref().map(|d| d.text.clone()),
        extends: None,
        provider: None,
        endpoint: None,
        upstream: None,
        api_key: None,
        params: Vec::new(),
        context: None,
        price: Price::default(),
        reasoning: None,
        latency: Latency::default(),
        quality: QualityDef::default(),
        fallback: None,
        supports: None,
        capacity: Capacity::default(),
        rate_limit: Capacity::default(),
        load_latency: Vec::new(),
    }
}

/// The properties a model writes itself (before `extends` is applied).
#[derive(Default)]
struct Own {
    provider: Option<String>,
    endpoint: Option<StrOrEnv>,
    upstream: Option<String>,
    api_key: Option<StrOrEnv>,
    params: Vec<(String, ParamValue)>,
    context: Option<u64>,
    price: Option<Price>,
    /// The price tiers written, with their threshold spans (sorted into
    /// `price` once every property is read).
    tiers: Vec<(PriceTier, Span)>,
    reasoning: Option<Reasoning>,
    latency: Option<Latency>,
    quality: Option<QualityDef>,
    fallback: Option<(ModelId, Span)>,
    supports: Option<Capabilities>,
    capacity: Option<Capacity>,
    rate_limit: Option<Capacity>,
    /// `latency at LOAD ...` lines, with the span of each load.
    load_latency: Vec<(LoadLatency, Span)>,
    /// Whether a property was written but could not be resolved: then
    /// "missing" lints stay quiet.
    broken: bool,
}

const CAPABILITIES: &[&str] = routec_syntax::words::CAPABILITIES;

/// What a rate term measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LoadKind {
    Requests,
    Tokens,
    Concurrent,
}

impl Cx<'_> {
    pub(crate) fn resolve_models(&mut self) {
        let items = self.items.models.clone();
        let mut own: Vec<Own> = Vec::with_capacity(items.len());
        let mut extends: Vec<Option<(ModelId, Span)>> = Vec::with_capacity(items.len());
        for m in &items {
            own.push(self.model_props(m));
            let base = m
                .extends
                .as_ref()
                .and_then(|b| self.model_or_report(b).map(|id| (id, b.span)));
            extends.push(base);
        }
        // Resolve `extends` in dependency order; a model on a cycle keeps
        // only its own properties.
        let n = items.len();
        let mut state = vec![0u8; n]; // 0 new, 1 visiting, 2 done
        let mut on_cycle = vec![false; n];
        for start in 0..n {
            let mut path: Vec<usize> = Vec::new();
            let mut cur = Some(start);
            while let Some(i) = cur {
                if state[i] == 2 {
                    break;
                }
                if state[i] == 1 {
                    // A cycle: from `i` along the path.
                    let pos = path.iter().position(|&x| x == i).unwrap_or(0);
                    let cycle: Vec<usize> = path[pos..].to_vec();
                    for &c in &cycle {
                        on_cycle[c] = true;
                    }
                    let names: Vec<&str> =
                        cycle.iter().map(|&c| items[c].name.text.as_str()).collect();
                    let at = cycle.iter().copied().min().unwrap_or(i);
                    if let Some((_, span)) = extends[at] {
                        self.emit(d::extends_cycle(
                            span,
                            &rotate(&names, cycle.iter().position(|&c| c == at).unwrap_or(0)),
                        ));
                    }
                    break;
                }
                state[i] = 1;
                path.push(i);
                cur = extends[i].map(|(b, _)| b.index());
            }
            for i in path {
                state[i] = 2;
            }
        }
        // Merge in topological order (bases first).
        let mut done = vec![false; n];
        let mut own: Vec<Option<Own>> = own.into_iter().map(Some).collect();
        self.facts.fallback_spans = vec![None; n];
        let mut broken = vec![false; n];
        for start in 0..n {
            let mut chain = vec![start];
            while let Some(&last) = chain.last() {
                match extends[last] {
                    Some((b, _))
                        if !on_cycle[last] && !done[b.index()] && !chain.contains(&b.index()) =>
                    {
                        chain.push(b.index())
                    }
                    _ => break,
                }
            }
            for &i in chain.iter().rev() {
                if done[i] {
                    continue;
                }
                done[i] = true;
                let Some(o) = own[i].take() else { continue };
                let base = match extends[i] {
                    Some((b, _)) if !on_cycle[i] => Some(b),
                    _ => None,
                };
                let mut def = match base {
                    Some(b) => {
                        let mut def = self.p.models[b.index()].clone();
                        def.name = self.p.models[i].name.clone();
                        def.span = self.p.models[i].span;
                        def.doc = self.p.models[i].doc.clone();
                        self.facts.fallback_spans[i] = self.facts.fallback_spans[b.index()];
                        broken[i] = broken[b.index()];
                        def
                    }
                    None => self.p.models[i].clone(),
                };
                def.extends = base;
                broken[i] |= o.broken || on_cycle[i];
                if let Some(v) = o.provider {
                    def.provider = Some(v);
                }
                if let Some(v) = o.endpoint {
                    def.endpoint = Some(v);
                }
                if let Some(v) = o.upstream {
                    def.upstream = Some(v);
                }
                if let Some(v) = o.api_key {
                    def.api_key = Some(v);
                }
                for (k, v) in o.params {
                    match def.params.iter_mut().find(|(key, _)| *key == k) {
                        Some(slot) => slot.1 = v,
                        None => def.params.push((k, v)),
                    }
                }
                if let Some(v) = o.context {
                    def.context = Some(v);
                }
                if let Some(v) = o.price {
                    def.price = v;
                }
                if let Some(ctx) = def.context {
                    for (tier, span) in &o.tiers {
                        if tier.above >= ctx as f64 {
                            self.emit(d::tier_beyond_context(*span, &def.name, ctx as f64));
                        }
                    }
                }
                if let Some(v) = o.reasoning {
                    def.reasoning = Some(v);
                }
                if let Some(v) = o.latency {
                    def.latency = v;
                }
                if let Some(v) = o.quality {
                    def.quality = v;
                }
                if let Some((f, span)) = o.fallback {
                    def.fallback = Some(f);
                    self.facts.fallback_spans[i] = Some(span);
                }
                if let Some(v) = o.supports {
                    def.supports = Some(v);
                }
                if let Some(v) = o.capacity {
                    def.capacity = v;
                }
                if let Some(v) = o.rate_limit {
                    def.rate_limit = v;
                }
                if !o.load_latency.is_empty() {
                    let mut rows: Vec<LoadLatency> =
                        o.load_latency.into_iter().map(|(row, _)| row).collect();
                    rows.sort_by(|a, b| a.qps.total_cmp(&b.qps));
                    def.load_latency = rows;
                }
                self.p.models[i] = def;
            }
        }
        self.facts.model_broken = broken;
        self.check_fallback_cycles();
    }

    fn check_fallback_cycles(&mut self) {
        let n = self.p.models.len();
        let mut state = vec![0u8; n];
        for start in 0..n {
            let mut path = Vec::new();
            let mut cur = Some(start);
            while let Some(i) = cur {
                if state[i] == 2 {
                    break;
                }
                if state[i] == 1 {
                    let pos = path.iter().position(|&x| x == i).unwrap_or(0);
                    let cycle: Vec<usize> = path[pos..].to_vec();
                    let at = cycle.iter().copied().min().unwrap_or(i);
                    let names: Vec<&str> = cycle
                        .iter()
                        .map(|&c| self.p.models[c].name.as_str())
                        .collect();
                    let names = rotate(&names, cycle.iter().position(|&c| c == at).unwrap_or(0));
                    if let Some(span) = self.facts.fallback_spans[at] {
                        self.emit(d::fallback_cycle(span, &names));
                    }
                    break;
                }
                state[i] = 1;
                path.push(i);
                cur = self.p.models[i].fallback.map(|f| f.index());
            }
            for i in path {
                state[i] = 2;
            }
        }
    }

    fn model_props(&mut self, m: &ast::Model) -> Own {
        let mut own = Own::default();
        let mut seen: FastMap<&'static str, Span> = FastMap::default();
        for prop in &m.body.items {
            let key = match &prop.kind {
                ModelPropKind::Provider(_) => "provider",
                ModelPropKind::Endpoint(_) => "endpoint",
                ModelPropKind::Upstream(_) => "upstream",
                ModelPropKind::ApiKey(_) => "api_key",
                ModelPropKind::Params(_) => "params",
                ModelPropKind::Context { .. } => "context",
                ModelPropKind::Price(_) => "price",
                ModelPropKind::Latency(_) => "latency",
                ModelPropKind::Quality(_) => "quality",
                ModelPropKind::Fallback(_) => "fallback",
                ModelPropKind::Supports(_) => "supports",
                ModelPropKind::Capacity(_) => "capacity",
                ModelPropKind::RateLimit { .. } => "rate limit",
                ModelPropKind::LatencyAt { load, terms } => {
                    self.latency_at(load, terms, &mut own);
                    continue;
                }
                ModelPropKind::Reasoning { .. } => "reasoning",
                ModelPropKind::PriceTier(tier) => {
                    self.price_tier(tier, &mut own);
                    continue;
                }
                ModelPropKind::Error => continue,
            };
            if !self.first_property(&mut seen, prop.span, key) {
                continue;
            }
            match &prop.kind {
                ModelPropKind::Provider(n) => own.provider = Some(n.text.clone()),
                ModelPropKind::Endpoint(lit) => match &lit.kind {
                    LitKind::String(s) => {
                        if looks_secret(s) {
                            self.emit(d::secret_like(lit.span, "endpoint"));
                        }
                        own.endpoint = Some(StrOrEnv::Str(s.clone()));
                    }
                    LitKind::Env(v) => own.endpoint = Some(StrOrEnv::Env(v.clone())),
                    _ => {
                        own.broken = true;
                        self.emit(d::expected_string_or_env(lit, "endpoint"));
                    }
                },
                ModelPropKind::Upstream(lit) => match &lit.kind {
                    LitKind::String(s) => own.upstream = Some(s.clone()),
                    _ => self.emit(d::expected_string(lit, "upstream")),
                },
                ModelPropKind::ApiKey(lit) => match &lit.kind {
                    LitKind::Env(v) => own.api_key = Some(StrOrEnv::Env(v.clone())),
                    LitKind::String(_) => {
                        let var = format!("{}_API_KEY", m.name.text.to_uppercase());
                        self.emit(d::inline_secret(lit.span, &var));
                    }
                    _ => self.emit(d::expected_env(lit)),
                },
                ModelPropKind::Params(params) => {
                    let mut keys: FastMap<&str, Span> = FastMap::default();
                    for p in params {
                        if let Some(first) = keys.get(p.key.text.as_str()) {
                            self.emit(d::duplicate_property(p.key.span, &p.key.text, *first));
                            continue;
                        }
                        keys.insert(&p.key.text, p.key.span);
                        let v = match &p.value.kind {
                            LitKind::String(s) => {
                                if looks_secret(s) {
                                    self.emit(d::secret_like(p.value.span, &p.key.text));
                                }
                                ParamValue::Str(s.clone())
                            }
                            LitKind::Number { value, suffix } => match suffix.as_str() {
                                "" => ParamValue::Number(*value),
                                "k" => ParamValue::Number(value * 1e3),
                                "M" => ParamValue::Number(value * 1e6),
                                "%" => ParamValue::Number(value / 100.0),
                                _ => match self.quantity(&p.value, Unit::Duration) {
                                    Some(v) => ParamValue::Number(v),
                                    None => continue,
                                },
                            },
                            LitKind::Money { value, .. } => ParamValue::Number(*value),
                            LitKind::Bool(b) => ParamValue::Bool(*b),
                            LitKind::Ident(w) => ParamValue::Word(w.clone()),
                            LitKind::Env(v) => ParamValue::Env(v.clone()),
                        };
                        own.params.push((p.key.text.clone(), v));
                    }
                }
                ModelPropKind::Context { size, unit } => {
                    if let Some(u) = unit
                        && u.text != "tokens"
                        && u.text != "tok"
                    {
                        self.emit(d::unknown_unit_word(u, &["tokens"]));
                    }
                    match self.quantity(size, Unit::Tokens) {
                        Some(v) if v < 1.0 => {
                            own.broken = true;
                            self.emit(d::out_of_range(
                                size.span,
                                "a context window must hold at least one token",
                            ));
                        }
                        Some(v) => own.context = Some(v as u64),
                        None => own.broken = true,
                    }
                }
                ModelPropKind::Price(terms) => own.price = Some(self.price(terms, &mut own.broken)),
                ModelPropKind::Latency(terms) => {
                    own.latency = Some(self.latency(terms, &mut own.broken))
                }
                ModelPropKind::Quality(q) => own.quality = Some(self.quality(q, &mut own.broken)),
                ModelPropKind::Fallback(n) => {
                    if let Some(id) = self.model_or_report(n) {
                        own.fallback = Some((id, n.span));
                    }
                }
                ModelPropKind::Supports(words) => {
                    let mut caps = Capabilities::default();
                    let mut ok = true;
                    for w in words {
                        match w.text.as_str() {
                            "images" => caps.images = true,
                            "tools" => caps.tools = true,
                            other => {
                                let best = suggest::closest(other, CAPABILITIES.iter().copied());
                                self.emit(d::unknown_word(w, "capability", CAPABILITIES, best));
                                ok = false;
                            }
                        }
                    }
                    // With an unknown word the capabilities are unknown:
                    // assume everything rather than report follow-up errors.
                    if ok {
                        own.supports = Some(caps);
                    }
                }
                ModelPropKind::Capacity(terms) => {
                    let mut c = self.capacity(terms, false, &mut own.broken);
                    c.span = prop.span;
                    own.capacity = Some(c);
                }
                ModelPropKind::RateLimit { terms, .. } => {
                    let mut c = self.capacity(terms, true, &mut own.broken);
                    c.span = prop.span;
                    own.rate_limit = Some(c);
                }
                ModelPropKind::Reasoning { amount, unit } => {
                    own.reasoning = self.reasoning(amount, unit.as_ref(), &mut own.broken);
                }
                ModelPropKind::LatencyAt { .. }
                | ModelPropKind::PriceTier(_)
                | ModelPropKind::Error => {}
            }
        }
        self.settle_tiers(m, &mut own);
        own
    }

    /// `capacity 40 qps, 64 concurrent, 30k tok/s` or, with `limit`,
    /// `rate limit 600 req/m, 200k tok/m`: each kind once, in base units.
    fn capacity(&mut self, terms: &[ast::RateTerm], limit: bool, broken: &mut bool) -> Capacity {
        let mut out = Capacity::default();
        let mut seen: FastMap<&'static str, Span> = FastMap::default();
        let what = if limit { "a rate limit" } else { "a capacity" };
        for t in terms {
            let Some((kind, per_second)) = self.load_unit(t, what, limit) else {
                *broken = true;
                continue;
            };
            let key = match kind {
                LoadKind::Requests => "requests per second",
                LoadKind::Tokens => "tokens per second",
                LoadKind::Concurrent => "concurrent",
            };
            if let Some(first) = seen.get(key) {
                self.emit(d::duplicate_property(t.span, key, *first));
                continue;
            }
            seen.insert(key, t.span);
            let unit = if kind == LoadKind::Concurrent {
                Unit::Count
            } else {
                Unit::Number
            };
            let Some(v) = self.quantity(&t.amount, unit) else {
                *broken = true;
                continue;
            };
            if v <= 0.0 {
                *broken = true;
                self.emit(d::out_of_range(
                    t.amount.span,
                    &format!("{what} must be positive"),
                ));
                continue;
            }
            let slot = match kind {
                LoadKind::Requests => &mut out.requests,
                LoadKind::Tokens => &mut out.tokens,
                LoadKind::Concurrent => &mut out.concurrent,
            };
            *slot = Some(v * per_second);
        }
        out
    }

    /// `latency at 30 qps ttft ...`: one row of the latency-at-load table.
    fn latency_at(&mut self, load: &ast::RateTerm, terms: &[ast::LatencyTerm], own: &mut Own) {
        let what = "a load";
        let kind = self.load_unit(load, what, true);
        let latency = self.latency(terms, &mut own.broken);
        let Some((kind, per_second)) = kind else {
            own.broken = true;
            return;
        };
        if kind != LoadKind::Requests {
            own.broken = true;
            self.emit(d::load_not_requests(
                load.span,
                "write the load the latency was measured at as `30 qps` or `1800 req/m`",
            ));
            return;
        }
        let Some(v) = self.quantity(&load.amount, Unit::Number) else {
            own.broken = true;
            return;
        };
        if v <= 0.0 {
            own.broken = true;
            self.emit(d::out_of_range(
                load.amount.span,
                "a load must be positive (the `latency` property is the latency at light load)",
            ));
            return;
        }
        let qps = v * per_second;
        if let Some((_, first)) = own.load_latency.iter().find(|(r, _)| r.qps == qps) {
            self.emit(d::duplicate_property(
                load.span,
                "latency at this load",
                *first,
            ));
            return;
        }
        own.load_latency
            .push((LoadLatency { qps, latency }, load.span));
    }

    /// A request rate (`10k qps`, `600 req/m`) in requests per second;
    /// `None` (reported) for another unit or a rate that is not positive.
    pub(crate) fn request_rate(&mut self, t: &ast::RateTerm) -> Option<f64> {
        let (kind, per_second) = self.load_unit(t, "a request rate", true)?;
        if kind != LoadKind::Requests {
            self.emit(d::load_not_requests(
                t.span,
                "write the request rate as `1k qps` or `600 req/m`",
            ));
            return None;
        }
        let v = self.quantity(&t.amount, Unit::Number)?;
        if v <= 0.0 {
            self.emit(d::out_of_range(
                t.amount.span,
                "a request rate must be positive",
            ));
            return None;
        }
        Some(v * per_second)
    }

    /// The kind of a rate term and the factor that turns its amount into a
    /// rate per second; `None` (reported) for a unit that does not fit.
    /// `rate` refuses `concurrent` (rate limits and loads are rates).
    fn load_unit(&mut self, t: &ast::RateTerm, what: &str, rate: bool) -> Option<(LoadKind, f64)> {
        let known: &[&str] = if rate {
            &["qps", "req/s", "req/m", "tok/s", "tok/m"]
        } else {
            &["qps", "concurrent", "req/s", "req/m", "tok/s", "tok/m"]
        };
        match &t.unit {
            None => {
                self.emit(d::missing_load_unit(t.amount.span, what, rate));
                None
            }
            Some(ast::LoadUnit::Word(w)) => match w.text.as_str() {
                "qps" => Some((LoadKind::Requests, 1.0)),
                "concurrent" if !rate => Some((LoadKind::Concurrent, 1.0)),
                _ => {
                    self.emit(d::unknown_unit_word(w, known));
                    None
                }
            },
            Some(ast::LoadUnit::Rate(u)) => {
                let kind = match u.numerator.text.as_str() {
                    "req" | "requests" => LoadKind::Requests,
                    "tok" | "tokens" => LoadKind::Tokens,
                    _ => {
                        self.emit(d::unknown_unit_word(&u.numerator, &["req", "tok"]));
                        return None;
                    }
                };
                let per = match u.denominator.text.as_str() {
                    "s" => 1.0,
                    "m" => 1.0 / 60.0,
                    "h" => 1.0 / 3600.0,
                    _ => {
                        self.emit(d::unknown_unit_word(&u.denominator, &["s", "m", "h"]));
                        return None;
                    }
                };
                Some((kind, per))
            }
        }
    }

    /// Reads one `price for prompts > N tokens: ...` line into `own.tiers`.
    fn price_tier(&mut self, tier: &ast::PriceTier, own: &mut Own) {
        if tier.op != ast::CmpOp::Gt {
            own.broken = true;
            self.emit(d::tier_operator(tier.op_span));
        }
        if let Some(u) = &tier.unit
            && u.text != "tokens"
            && u.text != "tok"
        {
            self.emit(d::unknown_unit_word(u, &["tokens"]));
        }
        let Some(above) = self.quantity(&tier.threshold, Unit::Tokens) else {
            own.broken = true;
            return;
        };
        let span = tier.threshold.span;
        if let Some((_, first)) = own.tiers.iter().find(|(t, _)| t.above == above) {
            let first = *first;
            let key = format!("price for prompts > {}", crate::units::tokens(above));
            self.emit(d::duplicate_property(span, &key, first));
            return;
        }
        if let Some((last, last_span)) = own.tiers.last()
            && last.above > above
        {
            let last_span = *last_span;
            self.emit(d::unsorted_thresholds(span, false, last_span));
        }
        let rates = self.price(&tier.terms, &mut own.broken);
        own.tiers.push((
            PriceTier {
                above,
                input_per_token: rates.input_per_token,
                output_per_token: rates.output_per_token,
                per_request: rates.per_request,
            },
            span,
        ));
    }

    /// Sorts the tiers into the base price, each taking the rates it does
    /// not write from the tier below.
    fn settle_tiers(&mut self, m: &ast::Model, own: &mut Own) {
        if own.tiers.is_empty() {
            return;
        }
        let Some(price) = own.price.as_mut() else {
            let at = m
                .body
                .items
                .iter()
                .find(|p| matches!(p.kind, ModelPropKind::PriceTier(_)))
                .map_or(m.name.span, |p| crate::cx::keyword_span(p.span, "price"));
            own.broken = true;
            self.emit(d::tier_without_base(at));
            own.tiers.clear();
            return;
        };
        let mut tiers: Vec<PriceTier> = own.tiers.iter().map(|(t, _)| t.clone()).collect();
        tiers.sort_by(|a, b| a.above.total_cmp(&b.above));
        let (mut input, mut output, mut request) = (
            price.input_per_token,
            price.output_per_token,
            price.per_request,
        );
        for t in &mut tiers {
            input = t.input_per_token.or(input);
            output = t.output_per_token.or(output);
            request = t.per_request.or(request);
            (t.input_per_token, t.output_per_token, t.per_request) = (input, output, request);
        }
        price.tiers = tiers;
    }

    /// `reasoning 2k tokens` or `reasoning 300% of output`.
    fn reasoning(
        &mut self,
        amount: &ast::Lit,
        unit: Option<&ast::ReasoningUnit>,
        broken: &mut bool,
    ) -> Option<Reasoning> {
        let read = match unit {
            Some(ast::ReasoningUnit::OfOutput(_)) => {
                self.quantity(amount, Unit::Multiple)
                    .map(|per_output_token| Reasoning {
                        tokens: 0.0,
                        per_output_token,
                    })
            }
            Some(ast::ReasoningUnit::Word(w)) if w.text == "tokens" || w.text == "tok" => {
                self.quantity(amount, Unit::Tokens).map(|tokens| Reasoning {
                    tokens,
                    per_output_token: 0.0,
                })
            }
            Some(ast::ReasoningUnit::Word(w)) => {
                self.emit(d::unknown_unit_word(w, &["tokens"]));
                None
            }
            None => {
                self.emit(d::missing_reasoning_unit(amount.span));
                None
            }
        };
        *broken |= read.is_none();
        read
    }

    fn price(&mut self, terms: &[ast::PriceTerm], broken: &mut bool) -> Price {
        let mut price = Price::default();
        let mut seen: FastMap<&str, Span> = FastMap::default();
        for t in terms {
            let (key, key_span) = match &t.kind {
                Some(k) => (k.text.as_str(), k.span),
                None => ("request", t.amount.span),
            };
            if let Some(first) = seen.get(key) {
                self.emit(d::duplicate_property(key_span, key, *first));
                continue;
            }
            seen.insert(key, key_span);
            match key {
                "input" | "output" => {
                    let v = self.quantity(&t.amount, Unit::PricePerToken);
                    *broken |= v.is_none();
                    if key == "input" {
                        price.input_per_token = v;
                    } else {
                        price.output_per_token = v;
                    }
                }
                "request" if t.kind.is_none() => {
                    let v = self.quantity(&t.amount, Unit::PricePerRequest);
                    *broken |= v.is_none();
                    price.per_request = v;
                }
                _ => {
                    *broken = true;
                    if let Some(k) = &t.kind {
                        let kinds = routec_syntax::words::PRICE_KINDS;
                        let best = suggest::closest(&k.text, kinds.iter().copied());
                        self.emit(d::unknown_word(k, "price kind", kinds, best));
                    }
                }
            }
        }
        price
    }

    fn latency(&mut self, terms: &[ast::LatencyTerm], broken: &mut bool) -> Latency {
        let mut lat = Latency::default();
        let mut seen: FastMap<&str, Span> = FastMap::default();
        for t in terms {
            let key = match &t.kind {
                LatencyTermKind::Ttft(_) => "ttft",
                LatencyTermKind::Total(_) => "end-to-end latency",
                LatencyTermKind::Decode { .. } => "decode",
            };
            if let Some(first) = seen.get(key) {
                self.emit(d::duplicate_property(t.span, key, *first));
                continue;
            }
            seen.insert(key, t.span);
            match &t.kind {
                LatencyTermKind::Ttft(qs) => {
                    lat.ttft = self.quantiles(qs, Unit::Duration, broken);
                }
                LatencyTermKind::Total(qs) => {
                    lat.total = self.quantiles(qs, Unit::Duration, broken);
                }
                LatencyTermKind::Decode { rate, unit } => {
                    if let Some(u) = unit {
                        let num_ok = matches!(u.numerator.text.as_str(), "tok" | "tokens");
                        let den_ok = u.denominator.text == "s";
                        if !num_ok {
                            self.emit(d::unknown_unit_word(&u.numerator, &["tok"]));
                        } else if !den_ok {
                            self.emit(d::unknown_unit_word(&u.denominator, &["s"]));
                        }
                    } else {
                        self.emit(d::missing_rate_unit(rate.span));
                    }
                    match self.quantity(rate, Unit::Number) {
                        Some(v) if v <= 0.0 => {
                            *broken = true;
                            self.emit(d::out_of_range(rate.span, "a decode rate must be positive"));
                        }
                        Some(v) => lat.decode_rate = Some(v),
                        None => *broken = true,
                    }
                }
            }
        }
        lat
    }

    /// Reads `p50 90ms p95 250ms` as sorted `(quantile, value)` pairs,
    /// reporting bad percentiles, repeats and values that decrease.
    pub(crate) fn quantiles(
        &mut self,
        qs: &[Quantile],
        unit: Unit,
        broken: &mut bool,
    ) -> Quantiles {
        let mut out: Quantiles = Vec::new();
        let mut spans: Vec<Span> = Vec::new();
        for q in qs {
            let Some(p) = self.percentile(&q.which) else {
                *broken = true;
                continue;
            };
            let Some(v) = self.quantity(&q.value, unit) else {
                *broken = true;
                continue;
            };
            if let Some(i) = out.iter().position(|(x, _)| *x == p) {
                self.emit(d::duplicate_property(q.which.span, &q.which.text, spans[i]));
                continue;
            }
            out.push((p, v));
            spans.push(q.which.span);
        }
        let mut order: Vec<usize> = (0..out.len()).collect();
        order.sort_by(|&a, &b| out[a].0.total_cmp(&out[b].0));
        for w in order.windows(2) {
            let (lo, hi) = (w[0], w[1]);
            if out[hi].1 < out[lo].1 {
                let (a, b) = (&qs_name(qs, spans[lo]), &qs_name(qs, spans[hi]));
                self.emit(d::quantiles_out_of_order(spans[hi], b, a, spans[lo]));
                *broken = true;
            }
        }
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        out
    }

    /// `p95` as `0.95`; `p999` as `0.999`.
    pub(crate) fn percentile(&mut self, which: &ast::Name) -> Option<f64> {
        let digits = which.text.strip_prefix('p').unwrap_or("");
        // `p5` and `p50` are percents; longer forms add decimals after
        // `99` (`p999` is 99.9%, `p9999` 99.99%), so `p100` is refused.
        let value = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            let n: f64 = digits.parse().ok()?;
            if digits.len() <= 2 {
                Some(n / 100.0)
            } else if digits.starts_with("99") {
                Some(n / 10f64.powi(digits.len() as i32))
            } else {
                None
            }
        } else {
            None
        };
        match value {
            Some(q) if q > 0.0 && q < 1.0 => Some(q),
            _ => {
                self.emit(d::bad_percentile(which));
                None
            }
        }
    }

    fn quality(&mut self, q: &ast::Quality, broken: &mut bool) -> QualityDef {
        let mut out = QualityDef::default();
        if let Some(flat) = &q.flat {
            out.flat = self.quantity(flat, Unit::Ratio);
            *broken |= out.flat.is_none();
        }
        if let Some(t) = &q.by {
            out.by = self.quality_table(t, Unit::Ratio, broken);
        }
        if let Some(t) = &q.adjust {
            out.adjust = self.quality_table(t, Unit::SignedRatio, broken);
        }
        out
    }

    fn quality_table(
        &mut self,
        t: &ast::Table,
        unit: Unit,
        broken: &mut bool,
    ) -> Option<QualityTable> {
        let Some(signal) = self.signal_or_report(&t.signal) else {
            *broken = true;
            return None;
        };
        self.uses.signal_reads[signal.index()] = true;
        let n = match &self.p.signals[signal.index()].ty {
            SignalType::Enum(v) => v.len(),
            other => {
                let ty = other.describe();
                self.emit(d::not_an_enum(&t.signal, ty, "a quality table"));
                *broken = true;
                return None;
            }
        };
        let mut values: Vec<Option<f64>> = vec![None; n];
        let mut seen: FastMap<&str, Span> = FastMap::default();
        for e in &t.entries {
            if let Some(first) = seen.get(e.key.text.as_str()) {
                self.emit(d::duplicate_property(e.key.span, &e.key.text, *first));
                continue;
            }
            seen.insert(&e.key.text, e.key.span);
            let Some(v) = self.variant_or_report(signal, &e.key.text, e.key.span) else {
                *broken = true;
                continue;
            };
            match self.quantity(&e.value, unit) {
                Some(x) => values[v] = Some(x),
                None => *broken = true,
            }
        }
        Some(QualityTable { signal, values })
    }
}

fn qs_name(qs: &[Quantile], span: Span) -> String {
    qs.iter()
        .find(|q| q.which.span == span)
        .map(|q| q.which.text.clone())
        .unwrap_or_default()
}

fn rotate(names: &[&str], start: usize) -> Vec<String> {
    let mut out: Vec<String> = names[start..]
        .iter()
        .chain(&names[..start])
        .map(|s| (*s).to_owned())
        .collect();
    if let Some(first) = out.first().cloned() {
        out.push(first);
    }
    out
}

/// Strings that look like credentials: provider key prefixes, bearer
/// tokens, `key=` query parameters.
pub(crate) fn looks_secret(s: &str) -> bool {
    let lower = s.to_lowercase();
    const PREFIXES: &[&str] = &[
        "sk-", "sk_", "pk-", "rk-", "xoxb-", "ghp_", "gho_", "aiza", "akia", "hf_",
    ];
    let token_like = PREFIXES
        .iter()
        .any(|p| lower.starts_with(p) && s.len() >= 12);
    let in_text = [
        "api_key=",
        "apikey=",
        "key=",
        "token=",
        "secret=",
        "password=",
        "bearer ",
    ]
    .iter()
    .any(|p| lower.contains(p));
    let embedded = lower.contains("sk-") && s.len() >= 20;
    token_like || in_text || embedded
}
