//! Conditions: resolving `when` and `slice` expressions to [`Cond`], with
//! types, units and enum values checked, and slice cycles reported.

use routec_syntax::Span;
use routec_syntax::ast::{CmpOp, Expr, ExprKind, Lit, LitKind, LogicOp};

use crate::cx::{CmpSite, Cx, Owner, unit_of};
use crate::diagnostics as d;
use crate::ir::{Cond, SignalId, SignalType, SliceId};
use crate::units::{self, Unit};
use routec_syntax::suggest;

/// Deeper expressions were already refused by the parser.
const MAX_DEPTH: usize = 200;

impl Cx<'_> {
    pub(crate) fn resolve_slices(&mut self) {
        let items = self.items.slices.clone();
        for (i, s) in items.iter().enumerate() {
            let cond = self.lower_expr(&s.expr, Some(Owner::Slice(i)), 0);
            let mut read = Vec::new();
            cond.signals(&mut read);
            for sig in read {
                self.uses.signal_reads[sig.index()] = true;
            }
            self.p.slices[i].cond = cond;
        }
        // Slice cycles: a slice whose expansion reaches itself becomes unknown.
        let n = self.p.slices.len();
        let mut state = vec![0u8; n];
        for start in 0..n {
            self.slice_dfs(start, &mut state, &mut Vec::new());
        }
    }

    fn slice_dfs(&mut self, i: usize, state: &mut [u8], path: &mut Vec<usize>) {
        if state[i] == 2 {
            return;
        }
        if state[i] == 1 {
            let pos = path.iter().position(|&x| x == i).unwrap_or(0);
            let cycle: Vec<usize> = path[pos..].to_vec();
            let mut names: Vec<String> = cycle
                .iter()
                .map(|&c| self.p.slices[c].name.clone())
                .collect();
            names.push(self.p.slices[i].name.clone());
            self.emit(d::slice_cycle(self.p.slices[i].span, &names));
            for c in cycle {
                self.p.slices[c].cond = Cond::Unknown;
            }
            return;
        }
        state[i] = 1;
        path.push(i);
        let mut next = Vec::new();
        self.p.slices[i].cond.slices(&mut next);
        for s in next {
            self.slice_dfs(s.index(), state, path);
        }
        path.pop();
        state[i] = 2;
    }

    pub(crate) fn lower_expr(&mut self, e: &Expr, owner: Option<Owner>, depth: usize) -> Cond {
        if depth > MAX_DEPTH {
            return Cond::Unknown;
        }
        match &e.kind {
            ExprKind::Error => Cond::Unknown,
            ExprKind::Paren(inner) => self.lower_expr(inner, owner, depth + 1),
            ExprKind::Not(inner) => Cond::Not(Box::new(self.lower_expr(inner, owner, depth + 1))),
            ExprKind::Logic { op, operands } => {
                let cs = operands
                    .iter()
                    .map(|o| self.lower_expr(o, owner, depth + 1))
                    .collect();
                match op {
                    LogicOp::And => Cond::And(cs),
                    LogicOp::Or => Cond::Or(cs),
                }
            }
            ExprKind::Atom(lit) => self.lower_atom(lit, owner),
            ExprKind::Compare { lhs, op, rhs } => {
                let cond = self.lower_compare(lhs, *op, rhs, e.span);
                self.site(&cond, e.span, owner);
                cond
            }
            ExprKind::In {
                lhs,
                negated,
                set,
                set_span,
            } => {
                let cond = self.lower_in(lhs, set, *set_span);
                let cond = if *negated && cond != Cond::Unknown {
                    Cond::Not(Box::new(cond))
                } else {
                    cond
                };
                self.site(&cond, e.span, owner);
                cond
            }
        }
    }

    fn site(&mut self, cond: &Cond, span: Span, owner: Option<Owner>) {
        if let Some(owner) = owner
            && !cond.has_unknown()
        {
            self.uses.sites.push(CmpSite {
                cond: cond.clone(),
                span,
                owner,
            });
        }
    }

    fn lower_atom(&mut self, lit: &Lit, owner: Option<Owner>) -> Cond {
        match &lit.kind {
            LitKind::Bool(b) => Cond::Const(*b),
            LitKind::Ident(w) => {
                if let Some(&id) = self.names.signals.get(w) {
                    self.uses.signal_reads[id.index()] = true;
                    self.p
                        .index
                        .reference(crate::index::SymbolKind::Signal(id), lit.span);
                    let def = &self.p.signals[id.index()];
                    if def.ty == SignalType::Bool {
                        let cond = Cond::Bool(id);
                        self.site(&cond, lit.span, owner);
                        cond
                    } else {
                        let example = comparison_example(&def.name, &def.ty);
                        let ty = def.ty.describe();
                        self.emit(d::signal_not_a_condition(lit.span, w, ty, &example));
                        Cond::Unknown
                    }
                } else if let Some(&id) = self.names.slices.get(w) {
                    self.p
                        .index
                        .reference(crate::index::SymbolKind::Slice(id), lit.span);
                    Cond::Slice(SliceId(id.0))
                } else {
                    let candidates = self
                        .names
                        .signals
                        .iter()
                        .filter(|(_, id)| self.p.signals[id.index()].ty == SignalType::Bool)
                        .map(|(n, _)| n.as_str())
                        .chain(self.names.slices.keys().map(String::as_str));
                    let best = suggest::closest(w, candidates);
                    self.emit(d::unknown_name(lit.span, w, best));
                    Cond::Unknown
                }
            }
            _ => {
                let found = units::classify(lit)
                    .map(|f| f.describe())
                    .unwrap_or_default();
                self.emit(d::literal_not_a_condition(lit.span, &found));
                Cond::Unknown
            }
        }
    }

    /// Finds which side of a comparison is the signal.
    fn compare_sides<'l>(
        &mut self,
        lhs: &'l Lit,
        op: CmpOp,
        rhs: &'l Lit,
    ) -> Option<(SignalId, Span, CmpOp, &'l Lit)> {
        let as_signal = |cx: &Self, lit: &Lit| match &lit.kind {
            LitKind::Ident(w) => cx.names.signals.get(w).copied(),
            _ => None,
        };
        if let Some(id) = as_signal(self, lhs) {
            self.uses.signal_reads[id.index()] = true;
            return Some((id, lhs.span, op, rhs));
        }
        if let Some(id) = as_signal(self, rhs) {
            self.uses.signal_reads[id.index()] = true;
            return Some((id, rhs.span, flip(op), lhs));
        }
        match (&lhs.kind, &rhs.kind) {
            (LitKind::Ident(w), _) | (_, LitKind::Ident(w)) => {
                let span = if matches!(lhs.kind, LitKind::Ident(_)) {
                    lhs.span
                } else {
                    rhs.span
                };
                let best = suggest::closest(w, self.names.signals.keys().map(String::as_str));
                self.emit(d::unknown_signal_at(span, w, best));
            }
            _ => self.emit(d::comparison_without_signal(lhs.span.cover(rhs.span))),
        }
        None
    }

    fn lower_compare(&mut self, lhs: &Lit, op: CmpOp, rhs: &Lit, _span: Span) -> Cond {
        let Some((signal, signal_span, op, value)) = self.compare_sides(lhs, op, rhs) else {
            return Cond::Unknown;
        };
        self.p
            .index
            .reference(crate::index::SymbolKind::Signal(signal), signal_span);
        let def = &self.p.signals[signal.index()];
        let name = def.name.clone();
        match def.ty.kind_only() {
            SignalType::Bool => {
                if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    self.emit(d::bad_operator(signal_span, op, &name, "bool"));
                    return Cond::Unknown;
                }
                let LitKind::Bool(b) = value.kind else {
                    let found = units::classify(value)
                        .map(|f| f.describe())
                        .unwrap_or_default();
                    self.emit(d::expected_value_of(
                        value.span,
                        &name,
                        "`true` or `false`",
                        &found,
                    ));
                    return Cond::Unknown;
                };
                if b == (op == CmpOp::Eq) {
                    Cond::Bool(signal)
                } else {
                    Cond::Not(Box::new(Cond::Bool(signal)))
                }
            }
            SignalType::Enum(_) => {
                if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    self.emit(d::bad_operator(signal_span, op, &name, "enum"));
                    return Cond::Unknown;
                }
                let LitKind::Ident(w) = &value.kind else {
                    let found = units::classify(value)
                        .map(|f| f.describe())
                        .unwrap_or_default();
                    self.emit(d::expected_value_of(
                        value.span,
                        &name,
                        "one of its values",
                        &found,
                    ));
                    return Cond::Unknown;
                };
                let Some(v) = self.variant_or_report(signal, w, value.span) else {
                    return Cond::Unknown;
                };
                let cond = Cond::InSet {
                    signal,
                    values: vec![v],
                };
                if op == CmpOp::Eq {
                    cond
                } else {
                    Cond::Not(Box::new(cond))
                }
            }
            ty => {
                // Thresholds may be negative (the comparison is then
                // reported as constant), so tokens read as whole numbers.
                let unit = match unit_of(&ty) {
                    Unit::Tokens => Unit::Int,
                    u => u,
                };
                match self.quantity(value, unit) {
                    Some(v) => Cond::Cmp {
                        signal,
                        op,
                        value: v,
                    },
                    None => Cond::Unknown,
                }
            }
        }
    }

    fn lower_in(&mut self, lhs: &Lit, set: &[Lit], _set_span: Span) -> Cond {
        let LitKind::Ident(w) = &lhs.kind else {
            let found = units::classify(lhs)
                .map(|f| f.describe())
                .unwrap_or_default();
            self.emit(d::in_without_signal(lhs.span, &found));
            return Cond::Unknown;
        };
        let name = routec_syntax::ast::Name {
            text: w.clone(),
            span: lhs.span,
        };
        let Some(signal) = self.signal_or_report(&name) else {
            return Cond::Unknown;
        };
        self.uses.signal_reads[signal.index()] = true;
        let ty = self.p.signals[signal.index()].ty.kind_only();
        if !matches!(ty, SignalType::Enum(_)) {
            self.emit(d::not_an_enum(&name, ty.describe(), "`in`"));
            return Cond::Unknown;
        }
        let mut values = Vec::new();
        let mut ok = true;
        for v in set {
            match &v.kind {
                LitKind::Ident(word) => match self.variant_or_report(signal, word, v.span) {
                    Some(i) => values.push(i),
                    None => ok = false,
                },
                _ => {
                    let found = units::classify(v).map(|f| f.describe()).unwrap_or_default();
                    self.emit(d::expected_value_of(v.span, w, "one of its values", &found));
                    ok = false;
                }
            }
        }
        if !ok {
            return Cond::Unknown;
        }
        values.sort_unstable();
        values.dedup();
        Cond::InSet { signal, values }
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        other => other,
    }
}

fn comparison_example(name: &str, ty: &SignalType) -> String {
    match ty {
        SignalType::Enum(v) => format!("{name} == {}", v.first().map_or("...", String::as_str)),
        SignalType::Ratio => format!("{name} >= 50%"),
        SignalType::Duration => format!("{name} > 1s"),
        SignalType::Money => format!("{name} > $1"),
        _ => format!("{name} > 1000"),
    }
}
