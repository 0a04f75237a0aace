//! Warnings for what is legal but suspicious: unused definitions and
//! models missing the figures the optimizer needs.

use crate::cx::Cx;
use crate::diagnostics as d;
use crate::index::SymbolKind;
use crate::ir::{SliceId, TrafficId};

impl Cx<'_> {
    pub(crate) fn lint(&mut self) {
        // A statement that did not parse may have been the one using a
        // definition: "never used" would then be noise on top of the error.
        if has_syntax_errors(self.file) {
            return;
        }
        // Signals: read by a rule, a slice, a quality table or an optimize.
        for (i, sig) in self.p.signals.iter().enumerate() {
            if sig.builtin || self.uses.signal_reads[i] {
                continue;
            }
            self.diags.push(d::unused_signal(sig.span, &sig.name));
        }
        // Models: named anywhere but their own definition (one pass over
        // the references, not one per model).
        let mut named_elsewhere = vec![false; self.p.models.len()];
        for r in &self.p.index.references {
            if let SymbolKind::Model(id) = self.p.index.symbol(r.symbol).kind
                && let Some(m) = self.p.models.get(id.index())
                && !m.span.contains(r.span.start as usize)
            {
                named_elsewhere[id.index()] = true;
            }
        }
        // A model that only judges (`learn { judge ... }`) needs a price,
        // not a latency or a quality: nothing routes to it.
        let mut routed = vec![false; self.p.models.len()];
        let mut in_plans = Vec::new();
        for r in &self.p.rules {
            r.plan.models(&mut in_plans);
        }
        in_plans.extend(self.p.models.iter().filter_map(|m| m.fallback));
        for m in in_plans {
            if let Some(r) = routed.get_mut(m.index()) {
                *r = true;
            }
        }
        let judge = self.p.learn.judge.as_ref().map(|j| j.model.index());
        for (i, m) in self.p.models.iter().enumerate() {
            let used = named_elsewhere[i];
            let judge_only = judge == Some(i) && !routed[i];
            if !used {
                self.diags.push(d::unused_model(m.span, &m.name));
            }
            if !self.facts.model_broken.get(i).copied().unwrap_or(true) {
                let mut missing = Vec::new();
                if m.price.is_empty() {
                    missing.push("price");
                }
                if m.latency.is_empty() && !judge_only {
                    missing.push("latency");
                }
                if m.quality.is_empty() && !judge_only {
                    missing.push("quality");
                }
                if !missing.is_empty() {
                    self.diags
                        .push(d::incomplete_model(m.span, &m.name, &missing));
                }
            }
        }
        // Slices: `for each slice` uses them all.
        if !self.uses.each_slice {
            for (i, s) in self.p.slices.iter().enumerate() {
                let used = self
                    .p
                    .index
                    .find(SymbolKind::Slice(SliceId(i as u32)))
                    .is_some_and(|sym| self.p.index.is_referenced(sym));
                if !used {
                    self.diags.push(d::unused_slice(s.span, &s.name));
                }
            }
        }
        // Traffic: the first profile is what the optimizer assumes; the others
        // only matter when a test runs under them.
        for (i, t) in self.p.traffic.iter().enumerate().skip(1) {
            let used = self
                .p
                .index
                .find(SymbolKind::Traffic(TrafficId(i as u32)))
                .is_some_and(|sym| self.p.index.is_referenced(sym));
            if !used {
                self.diags.push(d::unused_traffic(t.span, &t.name));
            }
        }
    }
}

/// Whether the parser left an error node in any item or block statement
/// (its recovery works at that level).
fn has_syntax_errors(file: &routec_syntax::ast::SourceFile) -> bool {
    use routec_syntax::ast::*;
    fn faults(body: &Block<FaultProp>) -> bool {
        body.items.iter().any(|p| match &p.kind {
            FaultPropKind::Error => true,
            FaultPropKind::For { body, .. } => faults(body),
            _ => false,
        })
    }
    file.items.iter().any(|item| match &item.kind {
        ItemKind::Error => true,
        ItemKind::Policy(p) => p
            .body
            .items
            .iter()
            .any(|x| matches!(x.kind, PolicyPropKind::Error)),
        ItemKind::Model(m) => m
            .body
            .items
            .iter()
            .any(|x| matches!(x.kind, ModelPropKind::Error)),
        ItemKind::Slo(s) => s
            .body
            .items
            .iter()
            .any(|x| matches!(x.kind, ConstraintKind::Error)),
        ItemKind::Route(r) => r
            .body
            .items
            .iter()
            .any(|x| matches!(x.kind, RuleKind::Error)),
        ItemKind::Faults(f) => faults(&f.body),
        ItemKind::Learn(l) => l
            .body
            .items
            .iter()
            .any(|x| matches!(x.kind, LearnPropKind::Error)),
        ItemKind::Traffic(t) => match &t.kind {
            TrafficKind::Inline(b) => b
                .items
                .iter()
                .any(|x| matches!(x.kind, TrafficPropKind::Error)),
            TrafficKind::File(_) => false,
        },
        ItemKind::Test(t) => t
            .body
            .items
            .iter()
            .any(|x| matches!(x.kind, TestPropKind::Error)),
        ItemKind::Signal(_) | ItemKind::Slice(_) | ItemKind::Objective(_) => false,
    })
}
