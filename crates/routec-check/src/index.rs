//! The definitions and references of every name in a file, in byte offsets:
//! what the language server needs for goto definition, find references,
//! rename and document symbols.

use std::collections::HashMap;

use routec_syntax::Span;

use crate::ir::{ModelId, SignalId, SliceId, TrafficId};

/// What a symbol names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SymbolKind {
    Signal(SignalId),
    Model(ModelId),
    Slice(SliceId),
    Traffic(TrafficId),
    /// A variant of an enum signal: the signal and the variant's index.
    Variant(SignalId, usize),
    /// A `test "name"` (its span is the string's).
    Test(usize),
    Policy,
}

/// Index into [`SymbolIndex::symbols`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SymbolId(pub u32);

#[derive(Clone, Debug)]
pub struct Symbol {
    pub kind: SymbolKind,
    pub name: String,
    /// The span of the name at its definition; `None` for built-ins.
    pub def: Option<Span>,
    /// The whole defining item (for document symbols and hover).
    pub item: Option<Span>,
    pub doc: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reference {
    pub symbol: SymbolId,
    pub span: Span,
}

#[derive(Clone, Debug, Default)]
pub struct SymbolIndex {
    pub symbols: Vec<Symbol>,
    /// Every use of a symbol, in source order once [`SymbolIndex::finish`] ran.
    pub references: Vec<Reference>,
    by_kind: HashMap<SymbolKind, SymbolId, foldhash::fast::FixedState>,
}

impl SymbolIndex {
    pub(crate) fn add(&mut self, symbol: Symbol) -> SymbolId {
        let id = SymbolId(self.symbols.len() as u32);
        self.by_kind.entry(symbol.kind).or_insert(id);
        self.symbols.push(symbol);
        id
    }

    pub(crate) fn reference(&mut self, kind: SymbolKind, span: Span) {
        if let Some(symbol) = self.find(kind) {
            self.references.push(Reference { symbol, span });
        }
    }

    pub(crate) fn finish(&mut self) {
        self.references.sort_by_key(|r| (r.span.start, r.span.end));
        self.references.dedup();
    }

    pub fn symbol(&self, id: SymbolId) -> &Symbol {
        &self.symbols[id.0 as usize]
    }

    /// The symbol of a given kind, if it was defined.
    pub fn find(&self, kind: SymbolKind) -> Option<SymbolId> {
        self.by_kind.get(&kind).copied()
    }

    /// The symbol whose definition or a reference covers `offset`.
    pub fn symbol_at(&self, offset: usize) -> Option<SymbolId> {
        if let Some(r) = self.references.iter().find(|r| r.span.contains(offset)) {
            return Some(r.symbol);
        }
        self.symbols
            .iter()
            .position(|s| s.def.is_some_and(|d| d.contains(offset)))
            .map(|i| SymbolId(i as u32))
    }

    /// Every reference to `symbol`, in source order.
    pub fn references_to(&self, symbol: SymbolId) -> impl Iterator<Item = Span> + '_ {
        self.references
            .iter()
            .filter(move |r| r.symbol == symbol)
            .map(|r| r.span)
    }

    pub fn is_referenced(&self, symbol: SymbolId) -> bool {
        self.references.iter().any(|r| r.symbol == symbol)
    }
}
