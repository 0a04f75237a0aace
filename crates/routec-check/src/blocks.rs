//! The policy header, objective, SLOs, faults, learning, traffic profiles
//! and tests.

use routec_syntax::Span;
use routec_syntax::ast::{
    self, Bound, CmpOp, ConstraintKind, CostPer, FaultPropKind, ItemKind, LearnPropKind, LitKind,
    MetricKind, ObjectiveKind, PolicyPropKind, Scope, TestPropKind, TrafficKind, TrafficPropKind,
};

use crate::cx::{Cx, FastMap, unit_of};
use crate::diagnostics as d;
use crate::index::SymbolKind;
use crate::ir::{
    BoundDef, CostBasis, Dist, DriftAction, DriftDef, ExploreDef, FaultSettings, JudgeDef,
    MetricDef, ObjectiveDef, Period, Retry, RetryOn, SignalType, SloDef, SloScope, TestDef,
    TestExpect, TrafficSource, TrafficVar, Value,
};
use crate::units::{self, Unit};
use routec_syntax::suggest;

const WEIGHT_KEYS: &[&str] = routec_syntax::words::WEIGHT_KEYS;
const PERIODS: &[&str] = routec_syntax::words::PERIODS;
const ACTIONS: &[&str] = routec_syntax::words::DRIFT_ACTIONS;

/// Where a metric is used: the forms allowed differ.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MetricUse {
    Slo,
    Objective,
    Test,
}

impl<'a> Cx<'a> {
    pub(crate) fn resolve_policy(&mut self) {
        let policy = self.live_items().find_map(|item| match &item.kind {
            ItemKind::Policy(p) => Some((p, item)),
            _ => None,
        });
        let Some((p, item)) = policy else { return };
        self.p.name = Some(p.name.text.clone());
        self.p.doc = item.doc.as_ref().map(|d| d.text.clone());
        self.p.index.add(crate::index::Symbol {
            kind: SymbolKind::Policy,
            name: p.name.text.clone(),
            def: Some(p.name.span),
            item: Some(item.span),
            doc: self.p.doc.clone(),
        });
        let mut seen: FastMap<&str, Span> = FastMap::default();
        for prop in &p.body.items {
            let key = match &prop.kind {
                PolicyPropKind::Owner(_) => "owner",
                PolicyPropKind::Baseline(_) => "baseline",
                PolicyPropKind::Error => continue,
            };
            if !self.first_property(&mut seen, prop.span, key) {
                continue;
            }
            match &prop.kind {
                PolicyPropKind::Owner(s) => self.p.owner = Some(s.value.clone()),
                PolicyPropKind::Baseline(n) => self.p.baseline = self.model_or_report(n),
                PolicyPropKind::Error => {}
            }
        }
        self.facts.policy_name_span = Some(p.name.span);
        self.facts.has_baseline = seen.contains_key("baseline");
    }

    pub(crate) fn resolve_blocks(&mut self) {
        let items: Vec<&'a ast::Item> = self.live_items().collect();
        for item in items {
            match &item.kind {
                ItemKind::Objective(o) => self.objective(o, item.span),
                ItemKind::Slo(s) => {
                    for c in &s.body.items {
                        self.constraint(c);
                    }
                }
                ItemKind::Faults(f) => {
                    let settings = self.fault_block(&f.body, true);
                    self.p.faults.defaults = settings;
                }
                ItemKind::Learn(l) => self.learn(l),
                ItemKind::Traffic(t) => self.traffic(t),
                ItemKind::Test(t) => self.test(t),
                _ => {}
            }
        }
        if !self.uses.optimize_spans.is_empty()
            && self.p.objective.is_none()
            && !self.facts.objective_written
        {
            let span = self.uses.optimize_spans[0];
            self.emit(d::missing_objective(crate::cx::keyword_span(
                span, "optimize",
            )));
        }
        if matches!(self.p.objective, Some(ObjectiveDef::Weighted { .. }))
            && !self.facts.has_baseline
            && let Some(span) = self.facts.policy_name_span
        {
            self.emit(d::missing_baseline(span));
        }
    }

    // ------------------------------------------------------------ metrics

    fn metric(&mut self, m: &ast::Metric, usage: MetricUse) -> Option<MetricDef> {
        match &m.kind {
            MetricKind::Ttft(q) | MetricKind::Latency(q) => {
                let which = if matches!(m.kind, MetricKind::Ttft(_)) {
                    "ttft"
                } else {
                    "latency"
                };
                let Some(q) = q else {
                    self.emit(d::metric_needs_percentile(m.span, which));
                    return None;
                };
                let p = self.percentile(q)?;
                Some(if which == "ttft" {
                    MetricDef::Ttft(p)
                } else {
                    MetricDef::Latency(p)
                })
            }
            MetricKind::Cost(per) => match per {
                None => {
                    if usage == MetricUse::Objective {
                        Some(MetricDef::Cost(CostBasis::PerRequests(1)))
                    } else {
                        self.emit(d::cost_needs_basis(m.span));
                        None
                    }
                }
                Some(CostPer::Success(_)) => Some(MetricDef::Cost(CostBasis::PerSuccess)),
                Some(CostPer::Requests { count, .. }) => {
                    let n = match count {
                        None => 1.0,
                        Some(c) => self.quantity(c, Unit::Count)?,
                    };
                    if n < 1.0 {
                        if let Some(c) = count {
                            self.emit(d::out_of_range(
                                c.span,
                                "the number of requests must be at least 1",
                            ));
                        }
                        return None;
                    }
                    Some(MetricDef::Cost(CostBasis::PerRequests(n as u64)))
                }
            },
            MetricKind::Quality(slice) => match slice {
                None => Some(MetricDef::Quality(None)),
                Some(s) => self
                    .slice_or_report(s)
                    .map(|id| MetricDef::Quality(Some(id))),
            },
            MetricKind::Share(model) => self.model_or_report(model).map(MetricDef::Share),
            MetricKind::Spend(period) => self.period(period).map(MetricDef::Spend),
        }
    }

    fn period(&mut self, w: &ast::Name) -> Option<Period> {
        match w.text.as_str() {
            "hour" => Some(Period::Hour),
            "day" => Some(Period::Day),
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            other => {
                let best = suggest::closest(other, PERIODS.iter().copied());
                self.emit(d::unknown_word(w, "period", PERIODS, best));
                None
            }
        }
    }

    // ------------------------------------------------------------ objective

    fn objective(&mut self, o: &ast::Objective, span: Span) {
        self.facts.objective_written = true;
        let keyword = crate::cx::keyword_span(span, "objective");
        match &o.kind {
            ObjectiveKind::Error => {}
            ObjectiveKind::Weighted(entries) => {
                let mut w: FastMap<&str, f64> = FastMap::default();
                let mut spans: Vec<(Span, f64)> = Vec::new();
                let mut seen: FastMap<&str, Span> = FastMap::default();
                let mut ok = true;
                for e in entries {
                    let key = e.key.text.as_str();
                    if !WEIGHT_KEYS.contains(&key) {
                        let best = suggest::closest(key, WEIGHT_KEYS.iter().copied());
                        self.emit(d::unknown_word(
                            &e.key,
                            "objective weight",
                            WEIGHT_KEYS,
                            best,
                        ));
                        ok = false;
                        continue;
                    }
                    if let Some(first) = seen.get(key) {
                        self.emit(d::duplicate_property(e.key.span, key, *first));
                        ok = false;
                        continue;
                    }
                    seen.insert(key, e.key.span);
                    let v = match units::classify(&e.value) {
                        Ok(units::Found::Number(v)) => Some(v),
                        Ok(units::Found::Percent(v)) => Some(v),
                        Ok(found) => {
                            self.emit(d::unit_error(
                                &e.value,
                                Unit::Number,
                                units::UnitError::Mismatch {
                                    expected: Unit::Number,
                                    found,
                                },
                            ));
                            None
                        }
                        Err(err) => {
                            self.emit(d::unit_error(&e.value, Unit::Number, err));
                            None
                        }
                    };
                    let Some(v) = v else {
                        ok = false;
                        continue;
                    };
                    if v < 0.0 {
                        self.emit(d::negative_weight(e.value.span, key));
                        ok = false;
                    }
                    w.insert(key, v);
                    spans.push((e.value.span, v));
                }
                let sum: f64 = w.values().sum();
                if ok && !entries.is_empty() && (sum - 1.0).abs() > 1e-6 {
                    self.emit(d::weights_sum(
                        keyword.cover(entries[entries.len() - 1].span),
                        sum,
                        &spans,
                    ));
                }
                let get = |k: &str| w.get(k).copied().unwrap_or(0.0);
                self.p.objective = Some(ObjectiveDef::Weighted {
                    latency: get("latency"),
                    cost: get("cost"),
                    quality: get("quality"),
                });
            }
            ObjectiveKind::Minimize(m) | ObjectiveKind::Maximize(m) => {
                let maximize = matches!(o.kind, ObjectiveKind::Maximize(_));
                let Some(metric) = self.metric(m, MetricUse::Objective) else {
                    return;
                };
                let good = match metric {
                    MetricDef::Quality(_) => maximize,
                    MetricDef::Ttft(_) | MetricDef::Latency(_) | MetricDef::Cost(_) => !maximize,
                    MetricDef::Share(_) | MetricDef::Spend(_) => false,
                };
                if !good {
                    self.emit(d::bad_objective(m.span, maximize, &metric));
                    return;
                }
                self.p.objective = Some(if maximize {
                    ObjectiveDef::Maximize(metric)
                } else {
                    ObjectiveDef::Minimize(metric)
                });
            }
        }
    }

    // ------------------------------------------------------------ slo

    /// A setting of the slo block (`margin`, `confidence`): a percentage
    /// within `range`, written once. Returns the value to store, or `None`
    /// after reporting why not.
    fn slo_setting(
        &mut self,
        name: &str,
        keyword: Span,
        value: &ast::Lit,
        range: std::ops::Range<f64>,
        out_of_range: &str,
        first: Option<Span>,
    ) -> Option<f64> {
        let v = self.quantity(value, Unit::Ratio)?;
        if !range.contains(&v) {
            self.emit(d::out_of_range(value.span, out_of_range));
            return None;
        }
        if let Some(first) = first {
            self.emit(d::duplicate_property(keyword, name, first));
            return None;
        }
        Some(v)
    }

    /// The slo block's `margin`: a percentage below 50%, once.
    fn slo_margin(&mut self, keyword: Span, value: &ast::Lit) {
        let first = self.p.slo_settings.margin_span;
        if let Some(v) = self.slo_setting(
            "margin",
            keyword,
            value,
            0.0..0.5,
            "an SLO margin must be below 50% (`margin 5%` compiles every SLO 5% tighter)",
            first,
        ) {
            self.p.slo_settings.margin_span = Some(keyword);
            self.p.slo_settings.margin = v;
        }
    }

    /// The slo block's `confidence`: a percentage from 50% to below 100%,
    /// once.
    fn slo_confidence(&mut self, keyword: Span, value: &ast::Lit) {
        let first = self.p.slo_settings.confidence_span;
        if let Some(v) = self.slo_setting(
            "confidence",
            keyword,
            value,
            0.5..1.0,
            "a confidence must be from 50% to below 100% (`confidence 95%`: quality floors hold with 95% probability)",
            first,
        ) {
            self.p.slo_settings.confidence_span = Some(keyword);
            self.p.slo_settings.confidence = Some(v);
        }
    }

    fn constraint(&mut self, c: &ast::Constraint) {
        match &c.kind {
            ConstraintKind::Margin { keyword, value } => {
                return self.slo_margin(*keyword, value);
            }
            ConstraintKind::Confidence { keyword, value } => {
                return self.slo_confidence(*keyword, value);
            }
            _ => {}
        }
        let ConstraintKind::Bound {
            metric,
            op,
            bound,
            scope,
        } = &c.kind
        else {
            return;
        };
        let m = self.metric(metric, MetricUse::Slo);
        let scope_def = match scope {
            None => SloScope::All,
            Some(Scope::EachSlice(span)) => {
                self.uses.each_slice = true;
                if self.p.slices.is_empty() {
                    self.emit(d::no_slices(*span));
                }
                SloScope::EachSlice
            }
            Some(Scope::Slice(name)) => match self.slice_or_report(name) {
                Some(id) => SloScope::Slice(id),
                None => return,
            },
        };
        let Some(m) = m else {
            // Still resolve names in the bound.
            if let Bound::Metric { metric, .. } = bound {
                let _ = self.metric(metric, MetricUse::Slo);
            }
            return;
        };
        if let Some(sc) = scope {
            let scope_span = match sc {
                Scope::EachSlice(s) => *s,
                Scope::Slice(n) => n.span,
            };
            let bad = matches!(
                &m,
                MetricDef::Share(_) | MetricDef::Spend(_) | MetricDef::Quality(Some(_))
            );
            if bad {
                self.emit(d::bad_scope(scope_span, &metric_word(&m)));
            }
        }
        let unit = metric_unit(&m);
        let bound_def = match bound {
            Bound::Value(lit) => match self.quantity(lit, unit) {
                Some(v) => BoundDef::Value(v),
                None => return,
            },
            Bound::Metric {
                metric: other,
                offset,
                span,
            } => {
                let Some(om) = self.metric(other, MetricUse::Slo) else {
                    return;
                };
                if metric_unit(&om) != unit
                    || std::mem::discriminant(&om) != std::mem::discriminant(&m)
                {
                    self.emit(d::metric_bound_mismatch(
                        *span,
                        &metric_word(&m),
                        &metric_word(&om),
                    ));
                    return;
                }
                let off = match offset {
                    None => 0.0,
                    Some(o) => {
                        let ounit = if unit == Unit::Ratio {
                            Unit::Ratio
                        } else {
                            unit
                        };
                        let Some(v) = self.quantity(&o.value, ounit) else {
                            return;
                        };
                        if o.negative { -v } else { v }
                    }
                };
                BoundDef::Metric {
                    metric: om,
                    offset: off,
                }
            }
        };
        let upper_is_good = !matches!(m, MetricDef::Quality(_));
        let is_upper = matches!(op, CmpOp::Lt | CmpOp::Le);
        let is_lower = matches!(op, CmpOp::Gt | CmpOp::Ge);
        if (upper_is_good && is_lower) || (!upper_is_good && is_upper) {
            self.emit(d::slo_direction(c.span, &metric_word(&m), is_lower));
        }
        if matches!(op, CmpOp::Eq | CmpOp::Ne) {
            self.emit(d::slo_equality(c.span, *op));
            return;
        }
        self.p.slos.push(SloDef {
            metric: m,
            op: *op,
            bound: bound_def,
            scope: scope_def,
            span: c.span,
        });
    }

    // ------------------------------------------------------------ faults

    fn fault_block(&mut self, body: &ast::Block<ast::FaultProp>, top: bool) -> FaultSettings {
        let mut s = FaultSettings::default();
        let mut seen: FastMap<&'static str, Span> = FastMap::default();
        let mut spans: FastMap<&'static str, Span> = FastMap::default();
        for prop in &body.items {
            let key = match &prop.kind {
                FaultPropKind::Timeout(_) => "timeout",
                FaultPropKind::TtftTimeout(_) => "ttft timeout",
                FaultPropKind::Retry { .. } => "retry",
                FaultPropKind::Cooldown { .. } => "cooldown",
                FaultPropKind::Hedge(_) => "hedge",
                FaultPropKind::For { .. } => "",
                FaultPropKind::Error => continue,
            };
            if !key.is_empty() {
                if !self.first_property(&mut seen, prop.span, key) {
                    continue;
                }
                spans.insert(key, prop.span);
            }
            match &prop.kind {
                FaultPropKind::Timeout(l) => {
                    s.timeout = self.quantity(l, Unit::Duration);
                    s.timeout_span = Some(prop.span);
                }
                FaultPropKind::TtftTimeout(l) => {
                    s.ttft_timeout = self.quantity(l, Unit::Duration);
                    s.ttft_timeout_span = Some(prop.span);
                }
                FaultPropKind::Hedge(l) => s.hedge = self.quantity(l, Unit::Duration),
                FaultPropKind::Retry { count, on, backoff } => {
                    let count = self.quantity(count, Unit::Count);
                    let mut statuses = Vec::new();
                    for l in on {
                        if let Some(r) = self.retry_on(l) {
                            statuses.push(r);
                        }
                    }
                    let backoff = backoff
                        .as_ref()
                        .and_then(|b| self.quantity(b, Unit::Duration));
                    if let Some(count) = count {
                        s.retry = Some(Retry {
                            count: count as u32,
                            on: statuses,
                            backoff,
                        });
                    }
                }
                FaultPropKind::Cooldown { duration, failures } => {
                    let dur = self.quantity(duration, Unit::Duration);
                    let n = self.quantity(failures, Unit::Count);
                    if n == Some(0.0) {
                        self.emit(d::out_of_range(
                            failures.span,
                            "a cooldown needs at least one failure",
                        ));
                    }
                    if let (Some(dur), Some(n)) = (dur, n) {
                        s.cooldown = Some((dur, n as u32));
                    }
                }
                FaultPropKind::For { model, body } => {
                    if !top {
                        self.emit(d::nested_for(model.span));
                        continue;
                    }
                    let m = self.model_or_report(model);
                    let inner = self.fault_block(body, false);
                    if let Some(m) = m {
                        self.p.faults.overrides.push((m, inner));
                    }
                }
                FaultPropKind::Error => {}
            }
        }
        if let Some(t) = s.timeout {
            for (key, v) in [("hedge", s.hedge), ("ttft timeout", s.ttft_timeout)] {
                if let (Some(v), Some(span)) = (v, spans.get(key))
                    && v >= t
                {
                    self.emit(d::fault_timing(*span, key, v, t));
                }
            }
        }
        s
    }

    fn retry_on(&mut self, l: &ast::Lit) -> Option<RetryOn> {
        match &l.kind {
            LitKind::Ident(w) if w == "timeout" => Some(RetryOn::Timeout),
            LitKind::Number { value, suffix }
                if suffix.is_empty() && value.fract() == 0.0 && (100.0..=599.0).contains(value) =>
            {
                Some(RetryOn::Status(*value as u16))
            }
            LitKind::Number { value, suffix }
                if suffix == "xx" && value.fract() == 0.0 && (1.0..=5.0).contains(value) =>
            {
                Some(RetryOn::Class(*value as u8))
            }
            _ => {
                self.emit(d::bad_retry_status(l.span));
                None
            }
        }
    }

    // ------------------------------------------------------------ learn

    fn learn(&mut self, l: &ast::Learn) {
        let mut explore_seen: Option<Span> = None;
        let mut judge_seen: Option<Span> = None;
        for prop in &l.body.items {
            match &prop.kind {
                LearnPropKind::Error => {}
                LearnPropKind::Explore {
                    share,
                    budget,
                    period,
                } => {
                    let at = crate::cx::keyword_span(prop.span, "explore");
                    if let Some(first) = explore_seen {
                        self.emit(d::duplicate_property(at, "explore", first));
                        continue;
                    }
                    explore_seen = Some(at);
                    let share = self.quantity(share, Unit::Ratio);
                    let budget = match (budget, period) {
                        (Some(b), Some(p)) => {
                            let v = self.quantity(b, Unit::Money);
                            let p = self.period(p);
                            v.zip(p)
                        }
                        (Some(b), None) => {
                            self.emit(d::budget_needs_period(b.span));
                            None
                        }
                        _ => None,
                    };
                    if let Some(share) = share {
                        self.p.learn.explore = Some(ExploreDef { share, budget });
                    }
                }
                LearnPropKind::Judge { model, sample } => {
                    let at = crate::cx::keyword_span(prop.span, "judge");
                    // A second `judge` is refused, its terms still checked.
                    let first = judge_seen.replace(at);
                    if let Some(first) = first {
                        judge_seen = Some(first);
                        self.emit(d::duplicate_property(at, "judge", first));
                    }
                    let model = self.model_or_report(model);
                    let sample = self.sampling_rate(sample);
                    if first.is_none()
                        && let (Some(model), Some(sample)) = (model, sample)
                    {
                        self.p.learn.judge = Some(JudgeDef { model, sample });
                    }
                }
                LearnPropKind::Drift {
                    measure,
                    op,
                    threshold,
                    unit,
                    window,
                    action,
                } => {
                    let mut ok = true;
                    let measures = routec_syntax::words::DRIFT_MEASURES;
                    if !measures.contains(&measure.text.as_str()) {
                        let best = suggest::closest(&measure.text, measures.iter().copied());
                        self.emit(d::unknown_word(measure, "drift measure", measures, best));
                        ok = false;
                    }
                    let health = ok && measure.text != "kl";
                    let mut scale = 1.0;
                    if let Some(u) = unit {
                        match u.text.as_str() {
                            "nats" | "bits" if health => {
                                self.emit(d::drift_unit_for_health(u, &measure.text));
                                ok = false;
                            }
                            "nats" => {}
                            "bits" => scale = std::f64::consts::LN_2,
                            _ => {
                                self.emit(d::unknown_unit_word(u, &["nats", "bits"]));
                                ok = false;
                            }
                        }
                    }
                    let t = if !ok {
                        None
                    } else if health {
                        if !matches!(op, CmpOp::Gt | CmpOp::Ge) {
                            let comparison =
                                Span::new(measure.span.start as usize, threshold.span.end as usize);
                            self.emit(d::drift_operator(comparison, *op, &measure.text));
                            ok = false;
                        }
                        // A latency may exceed its declared figure by more
                        // than 100%; an error rate moves by at most 100 points.
                        let unit = if measure.text == "errors" {
                            Unit::Ratio
                        } else {
                            Unit::Multiple
                        };
                        let t = self.quantity(threshold, unit);
                        if ok && t.is_some() {
                            self.health_figures(&measure.text, measure.span);
                        }
                        t
                    } else {
                        self.quantity(threshold, Unit::Number)
                    };
                    let w = self.quantity(window, Unit::Duration);
                    let a = match action.text.as_str() {
                        "alert" => Some(DriftAction::Alert),
                        "freeze" => Some(DriftAction::Freeze),
                        "rollback" => Some(DriftAction::Rollback),
                        "refit" => Some(DriftAction::Refit),
                        other => {
                            let best = suggest::closest(other, ACTIONS.iter().copied());
                            self.emit(d::unknown_word(action, "drift action", ACTIONS, best));
                            None
                        }
                    };
                    if let (true, Some(t), Some(w), Some(a)) = (ok, t, w, a) {
                        self.p.learn.drift.push(DriftDef {
                            measure: measure.text.clone(),
                            op: *op,
                            threshold: t * scale,
                            window: w,
                            action: a,
                        });
                    }
                }
            }
        }
    }

    /// A judge's `sample` terms as `(qps, share)` points in increasing
    /// rate: one share alone holds at every rate (a point at rate 0);
    /// several each name their rate, `below` first, `above` last.
    fn sampling_rate(&mut self, terms: &[ast::SampleTerm]) -> Option<Vec<(f64, f64)>> {
        let mut points = Vec::with_capacity(terms.len());
        let mut ok = true;
        let last = terms.len().saturating_sub(1);
        for (i, term) in terms.iter().enumerate() {
            let share = self.quantity(&term.share, Unit::Ratio);
            if let Some(x) = share
                && !(0.0..=1.0).contains(&x)
            {
                self.emit(d::out_of_range(
                    term.share.span,
                    "a sampled share is from 0% to 100%",
                ));
                ok = false;
            }
            let qps = match &term.at {
                None if terms.len() == 1 => Some(0.0),
                None => {
                    self.emit(d::bad_sampling(
                        term.span,
                        "with several shares, each says the rate it holds at",
                        "write each share with its rate: `judge grader sample 100% below 1k qps, 5% above 10k qps`",
                    ));
                    None
                }
                Some((position, rate)) => {
                    if terms.len() == 1 {
                        self.emit(d::bad_sampling(
                            term.span,
                            "a sampling rate by traffic needs a share at two rates or more",
                            "add a second term (`judge grader sample 100% below 1k qps, 5% above 10k qps`), or write the share alone to sample it at every rate (`judge grader sample 5%`)",
                        ));
                        ok = false;
                    } else if position.text == "below" && i != 0 {
                        self.emit(d::bad_sampling(
                            position.span,
                            "only the first term holds `below` its rate",
                            "order the terms by rate: `below` the lowest, `at` between, `above` the highest",
                        ));
                        ok = false;
                    } else if position.text == "above" && i != last {
                        self.emit(d::bad_sampling(
                            position.span,
                            "only the last term holds `above` its rate",
                            "order the terms by rate: `below` the lowest, `at` between, `above` the highest",
                        ));
                        ok = false;
                    }
                    self.request_rate(rate)
                }
            };
            match (qps, share) {
                (Some(q), Some(x)) => {
                    if let Some(&(before, _)) = points.last()
                        && q <= before
                    {
                        self.emit(d::bad_sampling(
                            term.span,
                            "the rates of a sampling rate must increase from term to term",
                            "order the terms by rate: `below` the lowest, `at` between, `above` the highest",
                        ));
                        ok = false;
                    }
                    points.push((q, x));
                }
                _ => ok = false,
            }
        }
        ok.then_some(points)
    }

    /// Warns about the models a per-model drift monitor (`ttft`,
    /// `latency`) cannot watch: those without the declared figure it
    /// compares against. `errors` needs none (the expected rate follows
    /// from the fault model, `docs/semantics.md`).
    fn health_figures(&mut self, measure: &str, span: Span) {
        let mut missing = Vec::new();
        for m in &self.p.models {
            let l = &m.latency;
            let why = match measure {
                "ttft" if l.ttft.is_empty() && l.total.is_empty() => Some("no latency"),
                "latency" if l.total.is_empty() && l.ttft.is_empty() => Some("no latency"),
                "latency" if l.total.is_empty() && l.decode_rate.is_none() => {
                    Some("no decode rate")
                }
                _ => None,
            };
            if let Some(why) = why {
                missing.push((m.name.clone(), m.span, why));
            }
        }
        for (name, at, why) in missing {
            self.emit(d::drift_unwatched(span, measure, &name, at, why));
        }
    }

    // ------------------------------------------------------------ traffic

    fn traffic(&mut self, t: &ast::Traffic) {
        let Some(&id) = self.names.traffic.get(&t.name.text) else {
            return;
        };
        let body = match &t.kind {
            TrafficKind::File(path) => {
                self.p.traffic[id.index()].source = TrafficSource::File(path.value.clone());
                return;
            }
            TrafficKind::Inline(b) => b,
        };
        let mut qps = None;
        let mut peak: Option<(&ast::Lit, Span, Span)> = None;
        let mut dists = Vec::new();
        let mut seen: FastMap<String, Span> = FastMap::default();
        for prop in &body.items {
            let signal_name = match &prop.kind {
                TrafficPropKind::Qps(_) => None,
                TrafficPropKind::Peak(l) => {
                    let at = crate::cx::keyword_span(prop.span, "peak");
                    if let Some((_, first, _)) = &peak {
                        self.emit(d::duplicate_property(at, "peak", *first));
                    } else {
                        peak = Some((l, at, prop.span));
                    }
                    continue;
                }
                TrafficPropKind::Mix { signal, .. }
                | TrafficPropKind::Lognormal { signal, .. }
                | TrafficPropKind::Uniform { signal, .. }
                | TrafficPropKind::Value { signal, .. } => Some(signal),
                TrafficPropKind::Error => continue,
            };
            let key = signal_name.map_or("qps".to_owned(), |n| n.text.clone());
            let key_span =
                signal_name.map_or(crate::cx::keyword_span(prop.span, "qps"), |n| n.span);
            if let Some(first) = seen.get(&key) {
                self.emit(d::duplicate_property(key_span, &key, *first));
                continue;
            }
            seen.insert(key, key_span);
            if let TrafficPropKind::Qps(l) = &prop.kind {
                qps = self.quantity(l, Unit::Number);
                continue;
            }
            let Some(name) = signal_name else { continue };
            let var = if name.text == "output_tokens" {
                TrafficVar::OutputTokens
            } else {
                match self.signal(name) {
                    Some(s) => TrafficVar::Signal(s),
                    None => {
                        let best = suggest::closest(
                            &name.text,
                            self.names
                                .signals
                                .keys()
                                .map(String::as_str)
                                .chain(["output_tokens", "qps"]),
                        );
                        self.emit(d::unknown_signal(name, best));
                        continue;
                    }
                }
            };
            let ty = match &var {
                TrafficVar::Signal(s) => self.p.signals[s.index()].ty.clone(),
                TrafficVar::OutputTokens => SignalType::Tokens,
            };
            let dist = match &prop.kind {
                TrafficPropKind::Mix { entries, .. } => {
                    let TrafficVar::Signal(s) = var else {
                        self.emit(d::not_an_enum(name, "tokens", "a traffic mix"));
                        continue;
                    };
                    let SignalType::Enum(vs) = &ty else {
                        self.emit(d::not_an_enum(name, ty.describe(), "a traffic mix"));
                        continue;
                    };
                    let mut shares = vec![0.0; vs.len()];
                    let mut ok = true;
                    let mut sum = 0.0;
                    let mut eseen: FastMap<&str, Span> = FastMap::default();
                    for e in entries {
                        if let Some(first) = eseen.get(e.key.text.as_str()) {
                            self.emit(d::duplicate_property(e.key.span, &e.key.text, *first));
                            ok = false;
                            continue;
                        }
                        eseen.insert(&e.key.text, e.key.span);
                        let v = self.variant_or_report(s, &e.key.text, e.key.span);
                        let q = self.quantity(&e.value, Unit::Ratio);
                        if let Some(q) = q {
                            sum += q;
                        }
                        match (v, q) {
                            (Some(v), Some(q)) => shares[v] = q,
                            _ => ok = false,
                        }
                    }
                    if ok && (sum - 1.0).abs() > 1e-6 {
                        self.emit(d::mix_sum(prop.span, &name.text, sum));
                    }
                    Dist::Mix(shares)
                }
                TrafficPropKind::Lognormal { quantiles, .. } => {
                    if !ty.is_numeric() || ty == SignalType::Ratio {
                        self.emit(d::bad_distribution(
                            name,
                            "lognormal",
                            ty.describe(),
                            "numeric signals such as tokens or durations",
                        ));
                        continue;
                    }
                    let mut broken = false;
                    let unit = unit_of(&ty);
                    let unit = if unit == Unit::Int {
                        Unit::Number
                    } else {
                        unit
                    };
                    let unit = if unit == Unit::Tokens {
                        Unit::Number
                    } else {
                        unit
                    };
                    let qs = self.quantiles(quantiles, unit, &mut broken);
                    if broken {
                        continue;
                    }
                    Dist::Lognormal(qs)
                }
                TrafficPropKind::Uniform { .. } => {
                    if ty != SignalType::Ratio {
                        self.emit(d::bad_distribution(
                            name,
                            "uniform",
                            ty.describe(),
                            "ratio signals",
                        ));
                        continue;
                    }
                    Dist::Uniform
                }
                TrafficPropKind::Value { value, .. } => {
                    if ty == SignalType::Bool
                        && let LitKind::Number { suffix, .. } = &value.kind
                        && suffix == "%"
                    {
                        match self.quantity(value, Unit::Ratio) {
                            Some(q) => {
                                dists.push((var, Dist::Share(q)));
                                continue;
                            }
                            None => continue,
                        }
                    }
                    let TrafficVar::Signal(s) = var else {
                        if let Some(v) = self.quantity(value, Unit::Tokens) {
                            dists.push((var, Dist::Const(Value::Number(v))));
                        }
                        continue;
                    };
                    match self.signal_value(s, value) {
                        Some(v) => Dist::Const(v),
                        None => continue,
                    }
                }
                TrafficPropKind::Qps(_) | TrafficPropKind::Peak(_) | TrafficPropKind::Error => {
                    continue;
                }
            };
            dists.push((var, dist));
        }
        if let Some((lit, at, span)) = peak {
            self.p.traffic[id.index()].peak = self.peak(lit, at, qps).map(|v| (v, span));
        }
        self.p.traffic[id.index()].source = TrafficSource::Inline { qps, dists };
    }

    /// `peak 3x` (a multiple of `qps`) or `peak 2400` (requests per
    /// second), in requests per second; it needs `qps` and may not be
    /// below it.
    fn peak(&mut self, lit: &ast::Lit, keyword: Span, qps: Option<f64>) -> Option<f64> {
        let Some(qps) = qps else {
            self.emit(d::peak_needs_qps(keyword));
            return None;
        };
        let value = match &lit.kind {
            LitKind::Number { value, suffix } if suffix == "x" => value * qps,
            _ => self.quantity(lit, Unit::Number)?,
        };
        if value < qps {
            self.emit(d::out_of_range(
                lit.span,
                "a peak must be at least the profile's `qps` (write a multiple such as `3x`, or requests per second)",
            ));
            return None;
        }
        Some(value)
    }

    // ------------------------------------------------------------ tests

    fn test(&mut self, t: &ast::Test) {
        let mut def = TestDef {
            name: t.name.value.clone(),
            span: t.name.span,
            given: Vec::new(),
            under: None,
            expect: None,
        };
        let mut given_span: Option<Span> = None;
        let mut under_span: Option<Span> = None;
        let mut expect_span: Option<(Span, bool)> = None;
        for prop in &t.body.items {
            let (key, is_plan) = match &prop.kind {
                TestPropKind::Given(_) => ("given", false),
                TestPropKind::Under(_) => ("under", false),
                TestPropKind::ExpectPlan(_) => ("expect", true),
                TestPropKind::ExpectMetric { .. } => ("expect", false),
                TestPropKind::Error => continue,
            };
            let at = crate::cx::keyword_span(prop.span, key);
            let first = match key {
                "given" => given_span,
                "under" => under_span,
                _ => expect_span.map(|e| e.0),
            };
            if let Some(first) = first {
                self.emit(d::duplicate_property(at, key, first));
                continue;
            }
            match key {
                "given" => given_span = Some(at),
                "under" => under_span = Some(at),
                _ => expect_span = Some((at, is_plan)),
            }
            match &prop.kind {
                TestPropKind::Given(params) => {
                    let mut seen: FastMap<&str, Span> = FastMap::default();
                    for p in params {
                        if let Some(first) = seen.get(p.key.text.as_str()) {
                            self.emit(d::duplicate_property(p.key.span, &p.key.text, *first));
                            continue;
                        }
                        seen.insert(&p.key.text, p.key.span);
                        let Some(s) = self.signal_or_report(&p.key) else {
                            continue;
                        };
                        if let Some(v) = self.signal_value(s, &p.value) {
                            def.given.push((s, v));
                        }
                    }
                }
                TestPropKind::Under(n) => def.under = self.traffic_or_report(n),
                TestPropKind::ExpectPlan(plan) => {
                    def.expect = Some(TestExpect::Plan(self.lower_plan(plan, false, 0)));
                }
                TestPropKind::ExpectMetric { metric, op, value } => {
                    if let Some(m) = self.metric(metric, MetricUse::Test)
                        && let Some(v) = self.quantity(value, metric_unit(&m))
                    {
                        def.expect = Some(TestExpect::Metric {
                            metric: m,
                            op: *op,
                            value: v,
                        });
                    }
                }
                TestPropKind::Error => {}
            }
        }
        match expect_span {
            None => self.emit(d::test_without_expect(t.name.span)),
            Some((span, true)) => {
                if let Some(u) = under_span {
                    self.emit(d::test_mixes_forms(span, u, "an expected plan", "`under`"));
                }
            }
            Some((span, false)) => {
                if let Some(g) = given_span {
                    self.emit(d::test_mixes_forms(
                        span,
                        g,
                        "an expected metric",
                        "`given`",
                    ));
                } else if under_span.is_none() {
                    self.emit(d::test_metric_without_under(span));
                }
            }
        }
        self.p.tests.push(def);
    }
}

/// The unit of a metric's values.
fn metric_unit(m: &MetricDef) -> Unit {
    match m {
        MetricDef::Ttft(_) | MetricDef::Latency(_) => Unit::Duration,
        MetricDef::Cost(_) | MetricDef::Spend(_) => Unit::Money,
        MetricDef::Quality(_) | MetricDef::Share(_) => Unit::Ratio,
    }
}

/// The metric as a user writes its head word.
pub(crate) fn metric_word(m: &MetricDef) -> String {
    match m {
        MetricDef::Ttft(_) => "ttft".into(),
        MetricDef::Latency(_) => "latency".into(),
        MetricDef::Cost(_) => "cost".into(),
        MetricDef::Quality(_) => "quality".into(),
        MetricDef::Share(_) => "share".into(),
        MetricDef::Spend(_) => "spend".into(),
    }
}
