//! Editor analyses of routec policies: diagnostics, hover, completion, go to
//! definition, references, rename, formatting, symbols, semantic tokens,
//! folding, code actions, inlay hints and code lenses.
//!
//! Everything here speaks byte offsets into the document text
//! ([`routec_syntax::Span`]) and plain structs; the language server
//! (`routec-lsp`) converts them to LSP positions with
//! [`routec_syntax::LineIndex`]. This crate knows nothing of LSP.
//!
//! Two levels of work:
//! - [`Analysis::new`] parses, checks and indexes a text. It is cheap enough
//!   to run on every keystroke and never compiles or simulates.
//! - [`Figures::compute`] compiles the policy with `routec-opt` under its
//!   first traffic profile. It is heavy and belongs off the typing path; the
//!   server runs it in the background and cancels it when the text changes.
//!   [`Figures::compute_with`] takes the text of a recorded first traffic
//!   profile's file, which the caller reads (this crate does no IO).
//!
//! Architecture Invariant: every public function is total. Any text (half
//! typed, binary junk, huge) and any offset (past the end, inside a
//! multi-byte character) gives an answer, possibly empty, never a panic.
//! A property test runs every feature on random inputs and offsets.
//!
//! # Compiled figures
//!
//! The figures come from the compiler's own predictions, the ones it
//! optimized for: the cells of the request space ([`routec_opt::CellInfo`]
//! and the table's `assumed.cells`), each with its share of traffic, its
//! plan splits and its predicted metrics. Per rule they are aggregated
//! exactly as follows (`w_c` is a cell's share of all traffic):
//! - *share* of a rule: `sum w_c` over its cells;
//! - *cost per 1k* of a rule: `1000 * sum(w_c * cost_c) / sum(w_c)`, where
//!   `cost_c` is the cell's expected cost per request under its splits;
//! - *quality* of a rule: `sum(w_c * quality_c) / sum(w_c)`;
//! - *p95* of a rule: the 95th percentile of the mixture of its cells'
//!   latency distributions (weights `w_c` times each split's share), solved
//!   by the compiler's own evaluator, which the compiled result keeps
//!   (`routec_opt::Compiled::rules`), the same computation behind the
//!   overall p95 and the SLO values;
//! - *share of a model*: expected calls to it per request,
//!   `sum(w_c * split share * calls_m)` over cells and their splits, where
//!   `calls_m` is the plan estimate's expected calls to the model (cascade
//!   escalations and fallbacks included): the measure `share MODEL <= x`
//!   SLOs constrain;
//! - *share of a slice*: `sum w_c` over the cells inside the slice;
//! - SLO lines show the compiler's status for them (`assumed.slos`: value,
//!   limit, met or not) and the sensitivity the compiler computed by
//!   re-solving with the SLO tightened by one step (what `routec explain`
//!   prints), e.g. `latency p95 -100ms costs +$0.31/1k, quality +0.2%`.

mod actions;
mod complete;
mod edits;
mod folding;
mod hover;
mod nav;
mod show;
mod sim;
mod symbols;
mod text;
mod tokens;

use routec_check::Checked;
use routec_syntax::diagnostic::sort;
use routec_syntax::{Diagnostic, LineIndex, Parse, Span};

pub use edits::format_edits;
pub use sim::{
    Figures, ModelFigures, ModelLoadFigures, RECORDED_FILE, RecordedInput, RuleFigures,
    SliceFigures, SloFigures,
};
pub use symbols::workspace_symbols;
pub use tokens::{SEMANTIC_TOKEN_KINDS, SEMANTIC_TOKEN_MODIFIERS, SemanticTokenKind};

/// One parsed, checked and indexed version of a document.
#[derive(Clone, Debug)]
pub struct Analysis {
    text: String,
    line_index: LineIndex,
    parse: Parse,
    checked: Checked,
}

/// Markdown to show for a range of the text.
#[derive(Clone, Debug, PartialEq)]
pub struct Hover {
    /// What the hover is about (a name, a rule, an SLO line).
    pub range: Span,
    pub markdown: String,
}

impl Hover {
    /// The same content as plain text, for editors that cannot render
    /// markdown: code fences and emphasis removed, tables laid out in
    /// aligned columns, rules (`---`) as blank lines. Inline code keeps its
    /// backticks, which read as quotes.
    pub fn plain_text(&self) -> String {
        hover::plain_text(&self.markdown)
    }
}

/// What a completion item completes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompletionKind {
    /// An item keyword, a plan form, an operator word.
    Keyword,
    /// A property inside a block (`price`, `latency`, `timeout`, ...).
    Property,
    Signal,
    /// A value of an enum signal.
    EnumValue,
    Model,
    Slice,
    Traffic,
    /// A unit suffix after a number (`ms`, `%`, `k`, ...).
    Unit,
    /// A whole construct with placeholders (`$1`-style, LSP snippet syntax).
    Snippet,
}

/// One completion candidate.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// What the editor shows and filters on.
    pub label: String,
    pub kind: CompletionKind,
    /// A short description (a signal's type, a model's provider, ...).
    pub detail: Option<String>,
    /// The text to insert when it differs from `label`; for
    /// [`CompletionKind::Snippet`] it uses LSP snippet syntax (`${1:name}`).
    pub insert_text: Option<String>,
    /// The text the insertion replaces: the partial word before the cursor
    /// (for units, only the suffix after the digits). Empty at the cursor
    /// when there is nothing to replace.
    pub replace: Span,
}

impl Completion {
    /// The text to insert in an editor that takes only plain text: the
    /// label, the insert text, or for a [`CompletionKind::Snippet`] the
    /// snippet with every placeholder replaced by its default text
    /// (`model ${1:name} {...}` inserts `model name {...}`).
    pub fn plain_text(&self) -> String {
        match (&self.insert_text, self.kind) {
            (Some(snippet), CompletionKind::Snippet) => complete::snippet_plain_text(snippet),
            (Some(text), _) => text.clone(),
            (None, _) => self.label.clone(),
        }
    }
}

/// Replace `span` with `new_text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextEdit {
    pub span: Span,
    pub new_text: String,
}

/// What a document symbol is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SymbolKind {
    Policy,
    Signal,
    /// A value of an enum signal (a child of its signal).
    EnumValue,
    Model,
    Slice,
    Objective,
    Slo,
    /// One constraint of the `slo` block.
    Constraint,
    Route,
    /// One rule of the `route` block.
    Rule,
    Faults,
    Learn,
    Traffic,
    Test,
}

/// A document symbol, nested: an item and its parts.
#[derive(Clone, Debug, PartialEq)]
pub struct Symbol {
    pub name: String,
    pub kind: SymbolKind,
    /// A short description (a signal's type, a rule's plan, ...).
    pub detail: Option<String>,
    /// The whole item.
    pub span: Span,
    /// The part to select (the name); inside `span`.
    pub selection: Span,
    pub children: Vec<Symbol>,
}

/// A workspace symbol: a top-level symbol of one of the analyses given to
/// [`workspace_symbols`], without children.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkspaceSymbol {
    /// Index into the slice of analyses passed in.
    pub file: usize,
    pub symbol: Symbol,
}

/// One semantic token: never spans a line break; tokens are sorted and do
/// not overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SemanticToken {
    pub span: Span,
    pub kind: SemanticTokenKind,
    /// A bit set over [`SEMANTIC_TOKEN_MODIFIERS`]: bit `i` set means
    /// modifier `i`.
    pub modifiers: u32,
}

/// What a folding range folds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FoldKind {
    /// A `{ ... }` block or a bracketed list over several lines.
    Region,
    /// Consecutive comment lines.
    Comment,
}

/// A foldable range; spans start on one line and end on a later one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fold {
    pub span: Span,
    pub kind: FoldKind,
}

/// A fix or refactoring the editor can apply.
#[derive(Clone, Debug, PartialEq)]
pub struct CodeAction {
    pub title: String,
    /// An LSP code action kind: `quickfix` or `refactor.rewrite`.
    pub kind: &'static str,
    /// The code of the diagnostic this action fixes, if any.
    pub diagnostic_code: Option<&'static str>,
    /// The primary span of that diagnostic.
    pub diagnostic_span: Option<Span>,
    /// Whether this is the one obvious fix (LSP `isPreferred`).
    pub preferred: bool,
    /// Edits to this document; spans do not overlap.
    pub edits: Vec<TextEdit>,
}

/// A short label shown inline at `offset` (after a rule or an SLO line).
#[derive(Clone, Debug, PartialEq)]
pub struct InlayHint {
    pub offset: usize,
    pub label: String,
    /// A longer explanation for the hint's tooltip.
    pub tooltip: Option<String>,
}

/// The command a code lens runs.
pub const COMMAND_SIMULATE: &str = "routec.simulate";
/// The command a code lens runs.
pub const COMMAND_RUN_TESTS: &str = "routec.runTests";

/// A clickable line above an item.
#[derive(Clone, Debug, PartialEq)]
pub struct CodeLens {
    pub span: Span,
    pub title: String,
    /// [`COMMAND_SIMULATE`] or [`COMMAND_RUN_TESTS`]; the server passes the
    /// document as the argument.
    pub command: &'static str,
}

impl Analysis {
    /// Parses, checks and indexes `text`. Never compiles or simulates.
    pub fn new(text: &str) -> Analysis {
        let parse = routec_syntax::parse(text);
        let checked = routec_check::check(&parse.file);
        Analysis {
            text: text.to_owned(),
            line_index: LineIndex::new(text),
            parse,
            checked,
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn line_index(&self) -> &LineIndex {
        &self.line_index
    }

    /// The resolved policy (what could be resolved of a broken file).
    pub fn policy(&self) -> &routec_check::Policy {
        &self.checked.policy
    }

    /// The file of the first traffic profile when it is recorded
    /// (`traffic NAME = file "x.jsonl"`), as written: the caller resolves it
    /// against the policy's directory, reads it and passes it to
    /// [`Figures::compute_with`].
    pub fn recorded_file(&self) -> Option<&str> {
        match &self.policy().traffic.first()?.source {
            routec_check::ir::TrafficSource::File(file) => Some(file),
            _ => None,
        }
    }

    /// True when the file has no syntax or checker errors, so it can be
    /// compiled.
    pub fn checks(&self) -> bool {
        !self.parse.diagnostics.iter().any(Diagnostic::is_error) && !self.checked.has_errors()
    }

    /// The syntax and checker diagnostics, sorted by position. The compiler's
    /// come from [`Figures::diagnostics`].
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut all = self.parse.diagnostics.clone();
        all.extend(self.checked.diagnostics.iter().cloned());
        sort(&mut all);
        all
    }

    /// What to show when hovering `offset`. With a simulation of this same
    /// text, hovers on models, slices, rules and SLO lines add its figures.
    pub fn hover(&self, offset: usize, sim: Option<&Figures>) -> Option<Hover> {
        hover::hover(self, offset, sim.filter(|s| s.is_for(self)))
    }

    /// Completion candidates at `offset`; works on half-typed text.
    pub fn completions(&self, offset: usize) -> Vec<Completion> {
        complete::completions(self, offset)
    }

    /// The span of the definition of the name at `offset`.
    pub fn definition(&self, offset: usize) -> Option<Span> {
        nav::definition(self, offset)
    }

    /// Every use of the name at `offset`, in source order, with its
    /// definition first when `include_declaration`.
    pub fn references(&self, offset: usize, include_declaration: bool) -> Vec<Span> {
        nav::references(self, offset, include_declaration)
    }

    /// The span and current text of the name at `offset`, or why it cannot
    /// be renamed.
    pub fn prepare_rename(&self, offset: usize) -> Result<(Span, String), String> {
        nav::prepare_rename(self, offset)
    }

    /// The edits renaming the name at `offset` to `new_name` everywhere.
    /// Refuses names that are not identifiers, reserved words, built-in
    /// names, and names already used by a symbol of the same namespace.
    pub fn rename(&self, offset: usize, new_name: &str) -> Result<Vec<TextEdit>, String> {
        nav::rename(self, offset, new_name)
    }

    /// The whole text formatted, or `None` when it has syntax errors (or is
    /// already formatted text that the formatter declined).
    pub fn format(&self) -> Option<String> {
        routec_syntax::fmt::format(&self.text).ok()
    }

    /// The formatting as small edits (see [`format_edits`]): empty when the
    /// text is formatted, `None` when it cannot be formatted.
    pub fn format_edits(&self) -> Option<Vec<TextEdit>> {
        Some(format_edits(&self.text, &self.format()?))
    }

    /// The items of the file and their parts, nested.
    pub fn document_symbols(&self) -> Vec<Symbol> {
        symbols::document_symbols(self)
    }

    /// Semantic tokens of the whole text, sorted, one line each.
    pub fn semantic_tokens(&self) -> Vec<SemanticToken> {
        tokens::semantic_tokens(self)
    }

    /// Foldable blocks, lists and comment runs.
    pub fn folding_ranges(&self) -> Vec<Fold> {
        folding::folding_ranges(self)
    }

    /// Fixes for the diagnostics on the lines `range` touches.
    pub fn code_actions(&self, range: Span) -> Vec<CodeAction> {
        actions::code_actions(self, range)
    }

    /// Compiled figures after each rule and SLO line that intersects
    /// `range`. Empty when `sim` was computed for another text.
    pub fn inlay_hints(&self, sim: &Figures, range: Span) -> Vec<InlayHint> {
        if !sim.is_for(self) {
            return Vec::new();
        }
        sim::inlay_hints(self, sim, range)
    }

    /// Compiled figures after each rule and SLO line that intersects
    /// `range`, from `sim`, the simulation of `earlier`, an earlier text of
    /// this document (the last one simulated): only for the items whose
    /// text is unchanged since, labelled `was ...` unless the two texts
    /// differ only in comments and whitespace. For the editor to keep
    /// showing figures while the current text has errors or its own
    /// simulation is pending. Empty when `sim` is not `earlier`'s.
    pub fn earlier_inlay_hints(
        &self,
        earlier: &Analysis,
        sim: &Figures,
        range: Span,
    ) -> Vec<InlayHint> {
        sim::earlier_inlay_hints(self, earlier, sim, range)
    }

    /// "Simulate" and "Run tests" above the policy item.
    pub fn code_lenses(&self) -> Vec<CodeLens> {
        sim::code_lenses(self)
    }
}
