//! Document symbols (nested, from the syntax tree) and workspace symbols.

use routec_syntax::Span;
use routec_syntax::ast::{
    ConstraintKind, ItemKind, ModelPropKind, RuleKind, Signal, TrafficKind, TypeKind,
};

use crate::{Analysis, Symbol, SymbolKind, WorkspaceSymbol};

fn leaf(
    name: String,
    kind: SymbolKind,
    detail: Option<String>,
    span: Span,
    selection: Span,
) -> Symbol {
    Symbol {
        name,
        kind,
        detail,
        span,
        selection,
        children: Vec::new(),
    }
}

/// The source text of `span` on one line, shortened for a symbol's name.
fn one_line(text: &str, span: Span) -> String {
    let s: Vec<&str> = span.text(text).split_whitespace().collect();
    let mut out = s.join(" ");
    if out.chars().count() > 80 {
        out = out.chars().take(79).collect::<String>() + "…";
    }
    out
}

fn signal_type(s: &Signal) -> String {
    match &s.ty.kind {
        TypeKind::Named(n) => n.text.clone(),
        TypeKind::Enum(vs) => format!(
            "enum {{ {} }}",
            vs.iter()
                .map(|v| v.text.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub(crate) fn document_symbols(analysis: &Analysis) -> Vec<Symbol> {
    let text = analysis.text();
    let mut out = Vec::new();
    for item in &analysis.parse.file.items {
        let span = item.span;
        let keyword = Span::new(span.start as usize, span.start as usize);
        let sym = match &item.kind {
            ItemKind::Policy(p) => leaf(
                p.name.text.clone(),
                SymbolKind::Policy,
                Some("policy".into()),
                span,
                p.name.span,
            ),
            ItemKind::Signal(s) => {
                let mut sym = leaf(
                    s.name.text.clone(),
                    SymbolKind::Signal,
                    Some(signal_type(s)),
                    span,
                    s.name.span,
                );
                if let TypeKind::Enum(vs) = &s.ty.kind {
                    sym.children = vs
                        .iter()
                        .map(|v| leaf(v.text.clone(), SymbolKind::EnumValue, None, v.span, v.span))
                        .collect();
                }
                sym
            }
            ItemKind::Model(m) => {
                let provider = m.body.items.iter().find_map(|p| match &p.kind {
                    ModelPropKind::Provider(n) => Some(n.text.clone()),
                    _ => None,
                });
                let detail = match (&m.extends, provider) {
                    (Some(base), _) => Some(format!("extends {}", base.text)),
                    (None, p) => p,
                };
                leaf(
                    m.name.text.clone(),
                    SymbolKind::Model,
                    detail,
                    span,
                    m.name.span,
                )
            }
            ItemKind::Slice(s) => leaf(
                s.name.text.clone(),
                SymbolKind::Slice,
                Some(one_line(text, s.expr.span)),
                span,
                s.name.span,
            ),
            ItemKind::Objective(_) => leaf(
                "objective".into(),
                SymbolKind::Objective,
                Some(
                    one_line(text, span)
                        .trim_start_matches("objective")
                        .trim()
                        .to_owned(),
                ),
                span,
                keyword_span(text, span),
            ),
            ItemKind::Slo(slo) => {
                let mut sym = leaf(
                    "slo".into(),
                    SymbolKind::Slo,
                    None,
                    span,
                    keyword_span(text, span),
                );
                sym.children = slo
                    .body
                    .items
                    .iter()
                    .filter(|c| !matches!(c.kind, ConstraintKind::Error))
                    .map(|c| {
                        leaf(
                            one_line(text, c.span),
                            SymbolKind::Constraint,
                            None,
                            c.span,
                            c.span,
                        )
                    })
                    .collect();
                sym
            }
            ItemKind::Route(route) => {
                let mut sym = leaf(
                    "route".into(),
                    SymbolKind::Route,
                    Some(format!("{} rules", route.body.items.len())),
                    span,
                    keyword_span(text, span),
                );
                sym.children = route
                    .body
                    .items
                    .iter()
                    .filter_map(|r| {
                        let (name, plan) = match &r.kind {
                            RuleKind::When { cond, plan } => {
                                (format!("when {}", one_line(text, cond.span)), plan.span)
                            }
                            RuleKind::Otherwise { plan, .. } => ("otherwise".to_owned(), plan.span),
                            RuleKind::Error => return None,
                        };
                        Some(leaf(
                            name,
                            SymbolKind::Rule,
                            Some(one_line(text, plan)),
                            r.span,
                            r.span,
                        ))
                    })
                    .collect();
                sym
            }
            ItemKind::Faults(_) => leaf(
                "faults".into(),
                SymbolKind::Faults,
                None,
                span,
                keyword_span(text, span),
            ),
            ItemKind::Learn(_) => leaf(
                "learn".into(),
                SymbolKind::Learn,
                None,
                span,
                keyword_span(text, span),
            ),
            ItemKind::Traffic(t) => leaf(
                t.name.text.clone(),
                SymbolKind::Traffic,
                Some(match &t.kind {
                    TrafficKind::Inline(_) => "traffic".to_owned(),
                    TrafficKind::File(f) => format!("traffic from {:?}", f.value),
                }),
                span,
                t.name.span,
            ),
            ItemKind::Test(t) => leaf(
                t.name.value.clone(),
                SymbolKind::Test,
                Some("test".into()),
                span,
                t.name.span,
            ),
            ItemKind::Error => continue,
        };
        let _ = keyword;
        out.push(sym);
    }
    out
}

/// The first word of an item (its keyword), as the part to select.
fn keyword_span(text: &str, span: Span) -> Span {
    let s = span.text(text);
    let len = s
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .unwrap_or(s.len());
    Span::new(span.start as usize, span.start as usize + len)
}

/// Does `name` contain `query`, ignoring case?
fn matches_query(name: &str, query: &str) -> bool {
    name.to_lowercase().contains(&query.to_lowercase())
}

/// The named top-level symbols (policy, signals, models, slices, traffic
/// profiles, tests) of every analysis whose name contains `query`, ignoring
/// case; all of them for an empty query.
pub fn workspace_symbols(analyses: &[&Analysis], query: &str) -> Vec<WorkspaceSymbol> {
    let mut out = Vec::new();
    for (file, analysis) in analyses.iter().enumerate() {
        for mut symbol in document_symbols(analysis) {
            let named = matches!(
                symbol.kind,
                SymbolKind::Policy
                    | SymbolKind::Signal
                    | SymbolKind::Model
                    | SymbolKind::Slice
                    | SymbolKind::Traffic
                    | SymbolKind::Test
            );
            if named && matches_query(&symbol.name, query) {
                symbol.children.clear();
                out.push(WorkspaceSymbol { file, symbol });
            }
        }
    }
    out
}
