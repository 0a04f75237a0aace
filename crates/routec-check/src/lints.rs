//! Warnings for what is legal but suspicious: unused definitions and
//! models missing the figures the optimizer needs.

use crate::cx::Cx;
use crate::diagnostics as d;
use crate::index::SymbolKind;
use crate::ir::{ModelId, SliceId, TrafficId};

impl Cx<'_> {
    pub(crate) fn lint(&mut self) {
        // Signals: read by a rule, a slice, a quality table or an optimize.
        for (i, sig) in self.p.signals.iter().enumerate() {
            if sig.builtin || self.signal_reads[i] {
                continue;
            }
            self.diags.push(d::unused_signal(sig.span, &sig.name));
        }
        // Models: named anywhere but their own definition.
        for (i, m) in self.p.models.iter().enumerate() {
            let used = self
                .p
                .index
                .find(SymbolKind::Model(ModelId(i as u32)))
                .is_some_and(|sym| {
                    self.p
                        .index
                        .references
                        .iter()
                        .any(|r| r.symbol == sym && !m.span.contains(r.span.start as usize))
                });
            if !used {
                self.diags.push(d::unused_model(m.span, &m.name));
            }
            if !self.model_broken.get(i).copied().unwrap_or(true) {
                let mut missing = Vec::new();
                if m.price.is_empty() {
                    missing.push("price");
                }
                if m.latency.is_empty() {
                    missing.push("latency");
                }
                if m.quality.is_empty() {
                    missing.push("quality");
                }
                if !missing.is_empty() {
                    self.diags
                        .push(d::incomplete_model(m.span, &m.name, &missing));
                }
            }
        }
        // Slices: `for each slice` uses them all.
        if !self.each_slice_used {
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
