//! Go to definition, find references and rename, over the checker's
//! [`routec_check::SymbolIndex`].

use routec_check::{SymbolId, SymbolKind};
use routec_syntax::Span;
use routec_syntax::lexer::is_reserved_word;

use crate::text::{clamp, is_identifier};
use crate::{Analysis, TextEdit};

/// The symbol whose name (definition or use) covers `offset`.
pub(crate) fn symbol_at(analysis: &Analysis, offset: usize) -> Option<SymbolId> {
    let offset = clamp(analysis.text(), offset);
    let index = &analysis.policy().index;
    index.symbol_at(offset)
}

/// The span of the name covering `offset`: a reference's or the definition's.
fn name_span_at(analysis: &Analysis, offset: usize, id: SymbolId) -> Option<Span> {
    let offset = clamp(analysis.text(), offset);
    let index = &analysis.policy().index;
    index
        .references_to(id)
        .find(|s| s.contains(offset))
        .or_else(|| {
            index
                .symbols
                .get(id.0 as usize)?
                .def
                .filter(|d| d.contains(offset))
        })
}

pub(crate) fn definition(analysis: &Analysis, offset: usize) -> Option<Span> {
    let id = symbol_at(analysis, offset)?;
    analysis.policy().index.symbols.get(id.0 as usize)?.def
}

pub(crate) fn references(
    analysis: &Analysis,
    offset: usize,
    include_declaration: bool,
) -> Vec<Span> {
    let Some(id) = symbol_at(analysis, offset) else {
        return Vec::new();
    };
    let index = &analysis.policy().index;
    let mut out = Vec::new();
    if include_declaration && let Some(def) = index.symbols.get(id.0 as usize).and_then(|s| s.def) {
        out.push(def);
    }
    out.extend(index.references_to(id));
    out.sort_by_key(|s| (s.start, s.end));
    out.dedup();
    out
}

fn describe(kind: SymbolKind) -> &'static str {
    match kind {
        SymbolKind::Signal(_) => "signal",
        SymbolKind::Model(_) => "model",
        SymbolKind::Slice(_) => "slice",
        SymbolKind::Traffic(_) => "traffic profile",
        SymbolKind::Variant(..) => "enum value",
        SymbolKind::Test(_) => "test",
        SymbolKind::Policy => "policy",
    }
}

pub(crate) fn prepare_rename(analysis: &Analysis, offset: usize) -> Result<(Span, String), String> {
    let Some(id) = symbol_at(analysis, offset) else {
        return Err("no name to rename here".to_owned());
    };
    let index = &analysis.policy().index;
    let Some(symbol) = index.symbols.get(id.0 as usize) else {
        return Err("no name to rename here".to_owned());
    };
    if symbol.def.is_none() {
        return Err(format!(
            "`{}` is built in and cannot be renamed",
            symbol.name
        ));
    }
    if matches!(symbol.kind, SymbolKind::Test(_)) {
        return Err("a test is named by its string; edit the string".to_owned());
    }
    let span =
        name_span_at(analysis, offset, id).ok_or_else(|| "no name to rename here".to_owned())?;
    Ok((span, span.text(analysis.text()).to_owned()))
}

/// Two symbols share a namespace when a use of one name could mean either:
/// signals, models, slices and traffic profiles are all plain names in
/// expressions and plans; enum values clash only within their signal.
fn same_namespace(a: SymbolKind, b: SymbolKind) -> bool {
    match (a, b) {
        (SymbolKind::Variant(sa, _), SymbolKind::Variant(sb, _)) => sa == sb,
        (SymbolKind::Variant(..), _) | (_, SymbolKind::Variant(..)) => false,
        (SymbolKind::Test(_), _) | (_, SymbolKind::Test(_)) => false,
        _ => true,
    }
}

pub(crate) fn rename(
    analysis: &Analysis,
    offset: usize,
    new_name: &str,
) -> Result<Vec<TextEdit>, String> {
    prepare_rename(analysis, offset)?;
    let id = symbol_at(analysis, offset).ok_or_else(|| "no name to rename here".to_owned())?;
    let index = &analysis.policy().index;
    let symbol = index
        .symbols
        .get(id.0 as usize)
        .ok_or_else(|| "no name to rename here".to_owned())?;
    if !is_identifier(new_name) {
        return Err(format!(
            "`{new_name}` is not a name: use letters, digits and `_`, not starting with a digit"
        ));
    }
    if is_reserved_word(new_name) {
        return Err(format!("`{new_name}` is a reserved word"));
    }
    if new_name == symbol.name {
        return Ok(Vec::new());
    }
    if let Some((b, _)) = routec_check::BUILTIN_SIGNALS
        .iter()
        .find(|(b, _)| *b == new_name)
    {
        return Err(format!("`{b}` is a built-in signal"));
    }
    if let Some(other) = index
        .symbols
        .iter()
        .find(|s| s.name == new_name && same_namespace(s.kind, symbol.kind))
    {
        return Err(format!(
            "a {} named `{new_name}` already exists",
            describe(other.kind)
        ));
    }
    let mut edits: Vec<TextEdit> = references(analysis, offset, true)
        .into_iter()
        .map(|span| TextEdit {
            span,
            new_text: new_name.to_owned(),
        })
        .collect();
    edits.sort_by_key(|e| (e.span.start, e.span.end));
    edits.dedup();
    Ok(edits)
}
