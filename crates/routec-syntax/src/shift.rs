//! Moving a parsed item (and its diagnostics) to another place in the text:
//! every span it holds, however deep, moves by the same number of bytes.
//! [`crate::parser::reparse`] reuses the items of unchanged stretches of a
//! file after an edit before or inside them moved their text.
//!
//! Every AST type implements [`Shift`] by visiting each of its fields, so a
//! new span-bearing field must be visited here; a test parses the examples
//! behind a prefix and compares them with their shifted trees.

use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::span::Span;

/// Adds `delta` bytes to every span.
pub(crate) trait Shift {
    fn shift(&mut self, delta: i64);
}

impl Shift for Span {
    fn shift(&mut self, delta: i64) {
        let moved = |x: u32| u32::try_from(i64::from(x) + delta).unwrap_or(0);
        self.start = moved(self.start);
        self.end = moved(self.end);
    }
}

impl<T: Shift> Shift for Vec<T> {
    fn shift(&mut self, delta: i64) {
        self.iter_mut().for_each(|x| x.shift(delta));
    }
}

impl<T: Shift> Shift for Option<T> {
    fn shift(&mut self, delta: i64) {
        if let Some(x) = self {
            x.shift(delta);
        }
    }
}

impl<A: Shift, B: Shift> Shift for (A, B) {
    fn shift(&mut self, delta: i64) {
        self.0.shift(delta);
        self.1.shift(delta);
    }
}

impl<T: Shift> Shift for Box<T> {
    fn shift(&mut self, delta: i64) {
        (**self).shift(delta);
    }
}

impl<T: Shift> Shift for Block<T> {
    fn shift(&mut self, delta: i64) {
        self.items.shift(delta);
        self.span.shift(delta);
    }
}

impl Shift for Diagnostic {
    fn shift(&mut self, delta: i64) {
        self.span.shift(delta);
        for l in &mut self.labels {
            l.span.shift(delta);
        }
        for s in &mut self.suggestions {
            s.span.shift(delta);
        }
    }
}

/// Structs: every listed field is shifted.
macro_rules! shift_fields {
    ($($ty:ty { $($field:ident),* $(,)? })*) => {
        $(impl Shift for $ty {
            fn shift(&mut self, delta: i64) {
                $(self.$field.shift(delta);)*
            }
        })*
    };
}

shift_fields! {
    Name { span }
    Str { span }
    Item { doc, kind, span }
    Doc { span }
    Lit { span }
    Policy { name, body }
    PolicyProp { kind, span }
    Signal { name, ty, source, default }
    Type { kind, span }
    Source { kind, key, clauses, span }
    SourceClause { name, value, span }
    RateTerm { amount, unit, span }
    SampleTerm { share, at, span }
    PriceTier { op_span, threshold, unit, terms }
    Model { name, extends, body }
    ModelProp { kind, span }
    Param { key, value, span }
    PriceTerm { kind, amount, span }
    LatencyTerm { kind, span }
    Quantile { which, value, span }
    RateUnit { numerator, denominator, span }
    Quality { flat, by, adjust }
    Table { signal, entries, span }
    Entry { key, value, span }
    Slice { name, expr }
    Expr { kind, span }
    Metric { kind, span }
    Objective { kind }
    Slo { body }
    Constraint { kind, span }
    Offset { value, span }
    Route { body }
    Rule { kind, span }
    Plan { kind, span }
    Accept { measure, threshold, span }
    Dimension { signal, thresholds, span }
    Faults { body }
    FaultProp { kind, span }
    Learn { body }
    LearnProp { kind, span }
    Traffic { name, kind }
    TrafficProp { kind, span }
    Test { name, body }
    TestProp { kind, span }
}

impl Shift for ItemKind {
    fn shift(&mut self, delta: i64) {
        match self {
            ItemKind::Policy(x) => x.shift(delta),
            ItemKind::Signal(x) => x.shift(delta),
            ItemKind::Model(x) => x.shift(delta),
            ItemKind::Slice(x) => x.shift(delta),
            ItemKind::Objective(x) => x.shift(delta),
            ItemKind::Slo(x) => x.shift(delta),
            ItemKind::Route(x) => x.shift(delta),
            ItemKind::Faults(x) => x.shift(delta),
            ItemKind::Learn(x) => x.shift(delta),
            ItemKind::Traffic(x) => x.shift(delta),
            ItemKind::Test(x) => x.shift(delta),
            ItemKind::Error => {}
        }
    }
}

impl Shift for PolicyPropKind {
    fn shift(&mut self, delta: i64) {
        match self {
            PolicyPropKind::Owner(s) => s.shift(delta),
            PolicyPropKind::Baseline(n) => n.shift(delta),
            PolicyPropKind::Error => {}
        }
    }
}

impl Shift for TypeKind {
    fn shift(&mut self, delta: i64) {
        match self {
            TypeKind::Named(n) => n.shift(delta),
            TypeKind::Enum(ns) => ns.shift(delta),
        }
    }
}

impl Shift for ModelPropKind {
    fn shift(&mut self, delta: i64) {
        match self {
            ModelPropKind::Provider(n) | ModelPropKind::Fallback(n) => n.shift(delta),
            ModelPropKind::Endpoint(l) | ModelPropKind::Upstream(l) | ModelPropKind::ApiKey(l) => {
                l.shift(delta)
            }
            ModelPropKind::Params(ps) => ps.shift(delta),
            ModelPropKind::Context { size, unit } => {
                size.shift(delta);
                unit.shift(delta);
            }
            ModelPropKind::Price(ts) => ts.shift(delta),
            ModelPropKind::Latency(ts) => ts.shift(delta),
            ModelPropKind::Quality(q) => q.shift(delta),
            ModelPropKind::Supports(ns) => ns.shift(delta),
            ModelPropKind::Capacity(ts) => ts.shift(delta),
            ModelPropKind::RateLimit { keyword, terms } => {
                keyword.shift(delta);
                terms.shift(delta);
            }
            ModelPropKind::LatencyAt { load, terms } => {
                load.shift(delta);
                terms.shift(delta);
            }
            ModelPropKind::PriceTier(t) => t.shift(delta),
            ModelPropKind::Reasoning { amount, unit } => {
                amount.shift(delta);
                unit.shift(delta);
            }
            ModelPropKind::Error => {}
        }
    }
}

impl Shift for LoadUnit {
    fn shift(&mut self, delta: i64) {
        match self {
            LoadUnit::Word(n) => n.shift(delta),
            LoadUnit::Rate(r) => r.shift(delta),
        }
    }
}

impl Shift for ReasoningUnit {
    fn shift(&mut self, delta: i64) {
        match self {
            ReasoningUnit::OfOutput(s) => s.shift(delta),
            ReasoningUnit::Word(n) => n.shift(delta),
        }
    }
}

impl Shift for LatencyTermKind {
    fn shift(&mut self, delta: i64) {
        match self {
            LatencyTermKind::Ttft(qs) | LatencyTermKind::Total(qs) => qs.shift(delta),
            LatencyTermKind::Decode { rate, unit } => {
                rate.shift(delta);
                unit.shift(delta);
            }
        }
    }
}

impl Shift for ExprKind {
    fn shift(&mut self, delta: i64) {
        match self {
            ExprKind::Atom(l) => l.shift(delta),
            ExprKind::Not(e) | ExprKind::Paren(e) => e.shift(delta),
            ExprKind::Logic { operands, .. } => operands.shift(delta),
            ExprKind::Compare { lhs, rhs, .. } => {
                lhs.shift(delta);
                rhs.shift(delta);
            }
            ExprKind::In {
                lhs, set, set_span, ..
            } => {
                lhs.shift(delta);
                set.shift(delta);
                set_span.shift(delta);
            }
            ExprKind::Error => {}
        }
    }
}

impl Shift for MetricKind {
    fn shift(&mut self, delta: i64) {
        match self {
            MetricKind::Ttft(n) | MetricKind::Latency(n) | MetricKind::Quality(n) => n.shift(delta),
            MetricKind::Cost(c) => c.shift(delta),
            MetricKind::Share(n) | MetricKind::Spend(n) => n.shift(delta),
        }
    }
}

impl Shift for CostPer {
    fn shift(&mut self, delta: i64) {
        match self {
            CostPer::Requests { count, span } => {
                count.shift(delta);
                span.shift(delta);
            }
            CostPer::Success(span) => span.shift(delta),
        }
    }
}

impl Shift for ObjectiveKind {
    fn shift(&mut self, delta: i64) {
        match self {
            ObjectiveKind::Weighted(es) => es.shift(delta),
            ObjectiveKind::Minimize(m) | ObjectiveKind::Maximize(m) => m.shift(delta),
            ObjectiveKind::Error => {}
        }
    }
}

impl Shift for ConstraintKind {
    fn shift(&mut self, delta: i64) {
        match self {
            ConstraintKind::Bound {
                metric,
                bound,
                scope,
                ..
            } => {
                metric.shift(delta);
                bound.shift(delta);
                scope.shift(delta);
            }
            ConstraintKind::Margin { keyword, value }
            | ConstraintKind::Confidence { keyword, value } => {
                keyword.shift(delta);
                value.shift(delta);
            }
            ConstraintKind::Error => {}
        }
    }
}

impl Shift for Bound {
    fn shift(&mut self, delta: i64) {
        match self {
            Bound::Value(l) => l.shift(delta),
            Bound::Metric {
                metric,
                offset,
                span,
            } => {
                metric.shift(delta);
                offset.shift(delta);
                span.shift(delta);
            }
        }
    }
}

impl Shift for Scope {
    fn shift(&mut self, delta: i64) {
        match self {
            Scope::EachSlice(span) => span.shift(delta),
            Scope::Slice(n) => n.shift(delta),
        }
    }
}

impl Shift for RuleKind {
    fn shift(&mut self, delta: i64) {
        match self {
            RuleKind::When { cond, plan } => {
                cond.shift(delta);
                plan.shift(delta);
            }
            RuleKind::Otherwise { keyword, plan } => {
                keyword.shift(delta);
                plan.shift(delta);
            }
            RuleKind::Error => {}
        }
    }
}

impl Shift for PlanKind {
    fn shift(&mut self, delta: i64) {
        match self {
            PlanKind::Target(n) => n.shift(delta),
            PlanKind::Chain(ps) => ps.shift(delta),
            PlanKind::Cascade { stages, accept } => {
                stages.shift(delta);
                accept.shift(delta);
            }
            PlanKind::Split(es) => es.shift(delta),
            PlanKind::Optimize {
                candidates,
                candidates_span,
                by,
            } => {
                candidates.shift(delta);
                candidates_span.shift(delta);
                by.shift(delta);
            }
            PlanKind::Error => {}
        }
    }
}

impl Shift for FaultPropKind {
    fn shift(&mut self, delta: i64) {
        match self {
            FaultPropKind::Timeout(l) | FaultPropKind::TtftTimeout(l) | FaultPropKind::Hedge(l) => {
                l.shift(delta)
            }
            FaultPropKind::Retry { count, on, backoff } => {
                count.shift(delta);
                on.shift(delta);
                backoff.shift(delta);
            }
            FaultPropKind::Cooldown { duration, failures } => {
                duration.shift(delta);
                failures.shift(delta);
            }
            FaultPropKind::For { model, body } => {
                model.shift(delta);
                body.shift(delta);
            }
            FaultPropKind::Error => {}
        }
    }
}

impl Shift for LearnPropKind {
    fn shift(&mut self, delta: i64) {
        match self {
            LearnPropKind::Explore {
                share,
                budget,
                period,
            } => {
                share.shift(delta);
                budget.shift(delta);
                period.shift(delta);
            }
            LearnPropKind::Drift {
                measure,
                threshold,
                unit,
                window,
                action,
                ..
            } => {
                measure.shift(delta);
                threshold.shift(delta);
                unit.shift(delta);
                window.shift(delta);
                action.shift(delta);
            }
            LearnPropKind::Judge { model, sample } => {
                model.shift(delta);
                sample.shift(delta);
            }
            LearnPropKind::Error => {}
        }
    }
}

impl Shift for TrafficKind {
    fn shift(&mut self, delta: i64) {
        match self {
            TrafficKind::Inline(b) => b.shift(delta),
            TrafficKind::File(s) => s.shift(delta),
        }
    }
}

impl Shift for TrafficPropKind {
    fn shift(&mut self, delta: i64) {
        match self {
            TrafficPropKind::Qps(l) | TrafficPropKind::Peak(l) => l.shift(delta),
            TrafficPropKind::Mix { signal, entries } => {
                signal.shift(delta);
                entries.shift(delta);
            }
            TrafficPropKind::Lognormal { signal, quantiles } => {
                signal.shift(delta);
                quantiles.shift(delta);
            }
            TrafficPropKind::Uniform { signal, keyword } => {
                signal.shift(delta);
                keyword.shift(delta);
            }
            TrafficPropKind::Value { signal, value } => {
                signal.shift(delta);
                value.shift(delta);
            }
            TrafficPropKind::Error => {}
        }
    }
}

impl Shift for TestPropKind {
    fn shift(&mut self, delta: i64) {
        match self {
            TestPropKind::Given(ps) => ps.shift(delta),
            TestPropKind::ExpectPlan(p) => p.shift(delta),
            TestPropKind::Under(n) => n.shift(delta),
            TestPropKind::ExpectMetric { metric, value, .. } => {
                metric.shift(delta);
                value.shift(delta);
            }
            TestPropKind::Error => {}
        }
    }
}
