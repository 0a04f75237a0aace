//! Plans and the `route` block: targets, fallback chains, cascades, splits
//! and `optimize` resolved against the models and signals.

use routec_syntax::Span;
use routec_syntax::ast::{self, ItemKind, PlanKind, RuleKind};

use crate::cx::{Cx, FastMap, Owner, unit_of};
use crate::diagnostics as d;
use crate::ir::{AcceptDef, Cond, DimDef, PlanDef, RuleDef, SignalType};
use crate::units::Unit;
use routec_syntax::suggest;

impl<'a> Cx<'a> {
    pub(crate) fn resolve_route(&mut self) {
        let route = self.live_items().find_map(|item| match &item.kind {
            ItemKind::Route(r) => Some((r, item.span)),
            _ => None,
        });
        let Some((route, span)) = route else { return };
        self.items.route = Some((route, span));
        for rule in &route.body.items {
            let i = self.p.rules.len();
            let (cond, cond_span, plan, otherwise) = match &rule.kind {
                RuleKind::When { cond, plan } => (
                    self.lower_expr(cond, Some(Owner::Rule(i)), 0),
                    cond.span,
                    plan,
                    false,
                ),
                RuleKind::Otherwise { keyword, plan } => (Cond::Const(true), *keyword, plan, true),
                RuleKind::Error => continue,
            };
            let plan = self.lower_plan(plan, true, 0);
            self.p.rules.push(RuleDef {
                cond,
                plan,
                span: rule.span,
                cond_span,
                otherwise,
            });
            self.items.rules.push(rule);
        }
    }

    /// Resolves a plan; `in_route` plans need acceptance tests on cascades.
    pub(crate) fn lower_plan(&mut self, plan: &ast::Plan, in_route: bool, depth: usize) -> PlanDef {
        if depth > 200 {
            return PlanDef::Error;
        }
        match &plan.kind {
            PlanKind::Error => PlanDef::Error,
            PlanKind::Target(name) => match self.model_or_report(name) {
                Some(m) => PlanDef::Target(m),
                None => PlanDef::Error,
            },
            PlanKind::Chain(plans) => PlanDef::Chain(
                plans
                    .iter()
                    .map(|p| self.lower_plan(p, in_route, depth + 1))
                    .collect(),
            ),
            PlanKind::Cascade { stages, accept } => {
                let mut ids = Vec::new();
                let mut ok = true;
                let mut seen: FastMap<&str, Span> = FastMap::default();
                for s in stages {
                    if let Some(first) = seen.get(s.text.as_str()) {
                        self.emit(d::cascade_repeats(s, *first));
                    }
                    seen.insert(&s.text, s.span);
                    match self.model_or_report(s) {
                        Some(m) => ids.push(m),
                        None => ok = false,
                    }
                }
                if stages.len() < 2 {
                    self.emit(d::cascade_one_stage(plan.span));
                }
                let accept = match accept {
                    Some(a) => self.accept(a),
                    None => {
                        if in_route && stages.len() >= 2 {
                            self.emit(d::cascade_without_accept(plan.span));
                        }
                        None
                    }
                };
                if ok {
                    PlanDef::Cascade {
                        stages: ids,
                        accept,
                    }
                } else {
                    PlanDef::Error
                }
            }
            PlanKind::Split(entries) => {
                let mut out = Vec::new();
                let mut ok = true;
                let mut sum = 0.0;
                let mut seen: FastMap<&str, Span> = FastMap::default();
                for e in entries {
                    if let Some(first) = seen.get(e.key.text.as_str()) {
                        self.emit(d::duplicate_property(e.key.span, &e.key.text, *first));
                        ok = false;
                        continue;
                    }
                    seen.insert(&e.key.text, e.key.span);
                    let m = self.model_or_report(&e.key);
                    let share = self.quantity(&e.value, Unit::Ratio);
                    match (m, share) {
                        (Some(m), Some(s)) => {
                            sum += s;
                            out.push((m, s));
                        }
                        (None, Some(s)) => sum += s,
                        _ => ok = false,
                    }
                }
                if entries.len() == 1 {
                    self.emit(d::single_option(plan.span, "split"));
                }
                if ok && !entries.is_empty() && (sum - 1.0).abs() > 1e-6 {
                    self.emit(d::split_sum(plan.span, sum));
                }
                if ok && out.len() == entries.len() {
                    PlanDef::Split(out)
                } else {
                    PlanDef::Error
                }
            }
            PlanKind::Optimize {
                candidates,
                candidates_span,
                by,
            } => {
                self.uses.optimize_spans.push(plan.span);
                if candidates.is_empty() {
                    self.emit(d::empty_optimize(*candidates_span));
                } else if candidates.len() == 1 {
                    self.emit(d::single_option(*candidates_span, "optimize"));
                }
                let cands = candidates
                    .iter()
                    .map(|c| self.lower_plan(c, in_route, depth + 1))
                    .collect();
                let mut dims = Vec::new();
                let mut seen: FastMap<&str, Span> = FastMap::default();
                for dim in by {
                    if let Some(first) = seen.get(dim.signal.text.as_str()) {
                        self.emit(d::dimension_repeated(&dim.signal, *first));
                        continue;
                    }
                    seen.insert(&dim.signal.text, dim.signal.span);
                    if let Some(dd) = self.dimension(dim) {
                        dims.push(dd);
                    }
                }
                PlanDef::Optimize {
                    candidates: cands,
                    by: dims,
                }
            }
        }
    }

    fn accept(&mut self, a: &ast::Accept) -> Option<AcceptDef> {
        let measures = routec_syntax::words::ACCEPT_MEASURES;
        if !measures.contains(&a.measure.text.as_str()) {
            let best = suggest::closest(&a.measure.text, measures.iter().copied());
            self.emit(d::unknown_word(
                &a.measure,
                "acceptance measure",
                measures,
                best,
            ));
            return None;
        }
        let threshold = self.quantity(&a.threshold, Unit::Ratio)?;
        Some(AcceptDef {
            measure: a.measure.text.clone(),
            op: a.op,
            threshold,
        })
    }

    fn dimension(&mut self, dim: &ast::Dimension) -> Option<DimDef> {
        let signal = self.signal_or_report(&dim.signal)?;
        self.uses.signal_reads[signal.index()] = true;
        let ty = self.p.signals[signal.index()].ty.kind_only();
        match ty {
            SignalType::Enum(_) | SignalType::Bool => {
                if let (Some(first), Some(last)) = (dim.thresholds.first(), dim.thresholds.last()) {
                    self.emit(d::thresholds_on_finite(
                        first.span.cover(last.span),
                        &dim.signal.text,
                        ty.describe(),
                    ));
                }
                Some(DimDef {
                    signal,
                    thresholds: Vec::new(),
                })
            }
            ty => {
                if dim.thresholds.is_empty() {
                    self.emit(d::dimension_needs_thresholds(&dim.signal, ty.describe()));
                    return None;
                }
                let unit = unit_of(&ty);
                let mut ts: Vec<(f64, Span)> = Vec::new();
                for t in &dim.thresholds {
                    if let Some(v) = self.quantity(t, unit) {
                        ts.push((v, t.span));
                    }
                }
                for w in ts.windows(2) {
                    if w[1].0 <= w[0].0 {
                        let repeated = w[1].0 == w[0].0;
                        self.emit(d::unsorted_thresholds(w[1].1, repeated, w[0].1));
                        break;
                    }
                }
                let mut thresholds: Vec<f64> = ts.into_iter().map(|(v, _)| v).collect();
                thresholds.sort_by(f64::total_cmp);
                thresholds.dedup();
                Some(DimDef { signal, thresholds })
            }
        }
    }
}

/// The models a plan names directly (not inside `optimize`), with spans:
/// the ones that must each serve every request the rule sends.
pub(crate) fn direct_targets<'p>(plan: &'p ast::Plan, out: &mut Vec<&'p ast::Name>) {
    match &plan.kind {
        PlanKind::Target(n) => out.push(n),
        PlanKind::Chain(ps) => ps.iter().for_each(|p| direct_targets(p, out)),
        PlanKind::Cascade { stages, .. } => out.extend(stages.iter()),
        PlanKind::Split(es) => out.extend(es.iter().map(|e| &e.key)),
        PlanKind::Optimize { .. } | PlanKind::Error => {}
    }
}

/// The `optimize` plans inside a plan (top level or in a chain).
pub(crate) fn optimizes(plan: &ast::Plan) -> Vec<&ast::Plan> {
    match &plan.kind {
        PlanKind::Optimize { .. } => vec![plan],
        PlanKind::Chain(ps) => ps.iter().flat_map(optimizes).collect(),
        _ => Vec::new(),
    }
}
