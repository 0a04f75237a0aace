//! Executes a routec decision table: [`Router::decide`] walks the decision
//! diagram for a [`Request`] and picks the plan, [`Router::explain`] says why.
//!
//! Architecture Invariant: `decide` does not allocate. A [`Request`] is
//! allocated once per router (and can be reused with [`Request::clear`]); the
//! decision is a small `Copy` value of indices into the table.
//!
//! Architecture Invariant: no compiler dependency and no async runtime; the
//! proxy and the wasm module call this crate and nothing else to route, so
//! every runtime decides identically.
//!
//! Missing or invalid signal values are replaced by the signal's declared
//! default when the diagram reads them, and the decision records which.

pub mod drift;
pub mod explore;
pub mod feedback;
pub mod health;
pub mod judge;
pub mod pacing;
mod request;
pub mod values;

use std::sync::atomic::{AtomicU64, Ordering};

pub use drift::{DriftMonitor, DriftStatus};
pub use explore::{Choice, Explorer};
pub use feedback::{Feedback, JUDGE_SOURCE, write_feedback};
pub use health::HealthMonitor;
pub use judge::Sampler;
pub use pacing::{Pacer, PacingStatus};
pub use request::{
    InvalidValue, Request, RequestError, SignalValue, fraction, key_hash, keyless_fraction,
};
pub use routec_table::{LoadError, Table};

use routec_table::{NodeRef, SignalKind, Test};

const LEAF: u32 = 1 << 31;

/// A set of signal indices (at most `routec_table::MAX_SIGNALS`... 256).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalSet([u64; 4]);

impl SignalSet {
    pub fn insert(&mut self, i: usize) {
        if let Some(word) = self.0.get_mut(i / 64) {
            *word |= 1 << (i % 64);
        }
    }

    pub fn remove(&mut self, i: usize) {
        if let Some(word) = self.0.get_mut(i / 64) {
            *word &= !(1 << (i % 64));
        }
    }

    pub fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..256).filter(|&i| self.contains(i))
    }
}

/// The outcome of routing one request: indices into the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Index into `table.plans`: the plan to execute.
    pub plan: u32,
    /// Index into `table.rules`: the rule that matched.
    pub rule: u32,
    /// Index into `table.leaves`.
    pub leaf: u32,
    /// Index into `table.assumed.cells`, when the cell is known.
    pub cell: Option<u32>,
    /// Signals the diagram read that the request did not carry.
    pub defaulted: SignalSet,
    /// Signals the diagram read whose value was invalid (and defaulted).
    pub invalid: SignalSet,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Enum {
        first: u32,
        count: u32,
    },
    Bool {
        if_false: u32,
        if_true: u32,
    },
    /// A tree of thresholds on one signal, flattened at load time into
    /// `cuts[cuts_start..][..n]` (ascending) and `edges[targets..][..=n]`: a
    /// binary search over a contiguous array instead of a pointer chase.
    Intervals {
        cuts_start: u32,
        n: u32,
        targets: u32,
    },
}

#[derive(Clone, Copy, Debug)]
struct CompactNode {
    signal: u32,
    kind: Kind,
}

#[derive(Clone, Debug)]
struct CompactLeaf {
    rule: u32,
    cell: Option<u32>,
    /// `(cumulative share, plan)`, the last share exactly 1.
    splits: Vec<(f64, u32)>,
}

/// A loaded, validated table in the compact form `decide` walks.
#[derive(Debug)]
pub struct Router {
    table: Table,
    root: u32,
    nodes: Vec<CompactNode>,
    edges: Vec<u32>,
    cuts: Vec<f64>,
    leaves: Vec<CompactLeaf>,
    defaults: Vec<f64>,
    /// Keyless split decisions so far: the index into the Weyl sequence
    /// that places them ([`request::keyless_fraction`]).
    keyless: AtomicU64,
}

impl Clone for Router {
    fn clone(&self) -> Router {
        Router {
            table: self.table.clone(),
            root: self.root,
            nodes: self.nodes.clone(),
            edges: self.edges.clone(),
            cuts: self.cuts.clone(),
            leaves: self.leaves.clone(),
            defaults: self.defaults.clone(),
            keyless: AtomicU64::new(self.keyless.load(Ordering::Relaxed)),
        }
    }
}

fn encode(r: NodeRef) -> u32 {
    match r {
        NodeRef::Node(n) => n,
        NodeRef::Leaf(l) => l | LEAF,
    }
}

impl Router {
    /// Loads a table from either encoding (JSON or binary).
    pub fn load(bytes: &[u8]) -> Result<Router, LoadError> {
        Table::from_bytes(bytes).and_then(Router::new)
    }

    /// Builds a router from a table, validating it first.
    pub fn new(table: Table) -> Result<Router, LoadError> {
        table.validate().map_err(LoadError::Invalid)?;
        let mut edges = Vec::new();
        let mut cuts = Vec::new();
        let nodes = (0..table.diagram.nodes.len())
            .map(|i| {
                let n = &table.diagram.nodes[i];
                CompactNode {
                    signal: n.signal,
                    kind: match &n.test {
                        Test::Enum { branches } => {
                            let first = edges.len() as u32;
                            edges.extend(branches.iter().map(|&b| encode(b)));
                            Kind::Enum {
                                first,
                                count: branches.len() as u32,
                            }
                        }
                        Test::Bool { if_false, if_true } => Kind::Bool {
                            if_false: encode(*if_false),
                            if_true: encode(*if_true),
                        },
                        Test::Threshold { .. } => {
                            let mut segments = Vec::new();
                            flatten(
                                &table,
                                NodeRef::Node(i as u32),
                                n.signal,
                                (f64::NEG_INFINITY, f64::INFINITY),
                                &mut segments,
                            );
                            let cuts_start = cuts.len() as u32;
                            let targets = edges.len() as u32;
                            cuts.extend(segments.iter().skip(1).map(|s| s.0));
                            edges.extend(segments.iter().map(|s| s.1));
                            Kind::Intervals {
                                cuts_start,
                                n: segments.len().saturating_sub(1) as u32,
                                targets,
                            }
                        }
                    },
                }
            })
            .collect();
        let leaves = table
            .leaves
            .iter()
            .map(|l| {
                let mut total = 0.0;
                let mut splits: Vec<(f64, u32)> = l
                    .splits
                    .iter()
                    .map(|s| {
                        total += s.share;
                        (total, s.plan)
                    })
                    .collect();
                if let Some(last) = splits.last_mut() {
                    last.0 = 1.0;
                }
                CompactLeaf {
                    rule: l.rule,
                    cell: l.cell,
                    splits,
                }
            })
            .collect();
        let defaults = table.signals.iter().map(|s| s.default).collect();
        Ok(Router {
            root: encode(table.diagram.root),
            nodes,
            edges,
            cuts,
            leaves,
            defaults,
            table,
            keyless: AtomicU64::new(0),
        })
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    /// An empty request for this table: every signal missing.
    pub fn request(&self) -> Request {
        Request::new(self.table.signals.len())
    }

    /// Routes one request. Does not allocate.
    ///
    /// A split leaf sends a request with a key ([`Request::set_key`]) to the
    /// plan whose cumulative share first exceeds the key's position
    /// ([`key_hash`], [`fraction`]): the same key, the same plan. A request
    /// without a key takes the position of this router's next keyless
    /// decision in a low-discrepancy sequence ([`keyless_fraction`]), so
    /// keyless traffic still splits by the compiled shares (not sticky;
    /// thread-safe: one relaxed atomic increment per keyless split).
    pub fn decide(&self, request: &Request) -> Decision {
        let mut defaulted = SignalSet::default();
        let mut invalid = SignalSet::default();
        let mut at = self.root;
        // The diagram is acyclic with children below parents, so this ends
        // within `nodes.len()` steps; the bound is a guard, not a limit.
        for _ in 0..=self.nodes.len() {
            if at & LEAF != 0 {
                break;
            }
            let Some(node) = self.nodes.get(at as usize) else {
                break;
            };
            let signal = node.signal as usize;
            let value = match request.get(signal) {
                SignalValue::Present(v) => v,
                SignalValue::Missing => {
                    defaulted.insert(signal);
                    self.defaults.get(signal).copied().unwrap_or(0.0)
                }
                SignalValue::Invalid => {
                    invalid.insert(signal);
                    self.defaults.get(signal).copied().unwrap_or(0.0)
                }
            };
            at = self.branch(node.kind, value).0;
        }
        let leaf_index = at & !LEAF;
        let Some(leaf) = self.leaves.get(leaf_index as usize) else {
            // Unreachable for a validated table; route to the first plan.
            return Decision {
                plan: 0,
                rule: 0,
                leaf: 0,
                cell: None,
                defaulted,
                invalid,
            };
        };
        let plan = match leaf.splits.as_slice() {
            [(_, plan)] => *plan,
            splits => {
                let u = request.key_fraction().unwrap_or_else(|| {
                    request::keyless_fraction(self.keyless.fetch_add(1, Ordering::Relaxed))
                });
                splits
                    .iter()
                    .find(|(cumulative, _)| u < *cumulative)
                    .or(splits.last())
                    .map_or(0, |&(_, plan)| plan)
            }
        };
        Decision {
            plan,
            rule: leaf.rule,
            leaf: leaf_index,
            cell: leaf.cell,
            defaulted,
            invalid,
        }
    }

    /// The first signal of `lazy` that the path of `request` through the
    /// diagram tests while the request does not carry it, if any. A gateway
    /// computes expensive signals (classifiers, token counts) only when this
    /// names them: set the value (or leave it missing to take the default),
    /// remove it from `lazy`, and ask again until `None`; then [`decide`]
    /// walks exactly the path these answers chose. Does not allocate and,
    /// unlike `decide`, never advances the keyless split sequence.
    ///
    /// [`decide`]: Router::decide
    pub fn first_missing(&self, request: &Request, lazy: &SignalSet) -> Option<usize> {
        let mut at = self.root;
        for _ in 0..=self.nodes.len() {
            if at & LEAF != 0 {
                return None;
            }
            let node = self.nodes.get(at as usize)?;
            let signal = node.signal as usize;
            let value = match request.get(signal) {
                SignalValue::Present(v) => v,
                SignalValue::Missing if lazy.contains(signal) => return Some(signal),
                SignalValue::Missing | SignalValue::Invalid => {
                    self.defaults.get(signal).copied().unwrap_or(0.0)
                }
            };
            at = self.branch(node.kind, value).0;
        }
        None
    }

    /// Whether `request` belongs to slice `slice` of the table (a named
    /// user segment, `table.slices[slice]`): its diagram is walked with the
    /// values `decide` uses (a missing or invalid signal takes its
    /// default). Does not allocate; `false` for a slice the table lacks.
    pub fn in_slice(&self, slice: usize, request: &Request) -> bool {
        let Some(diagram) = self.table.slices.get(slice).map(|s| &s.diagram) else {
            return false;
        };
        let mut at = diagram.root;
        // Children are below their parents: at most one step per node.
        for _ in 0..=diagram.nodes.len() {
            let NodeRef::Node(n) = at else { break };
            let Some(node) = diagram.nodes.get(n as usize) else {
                return false;
            };
            let signal = node.signal as usize;
            let value = match request.get(signal) {
                SignalValue::Present(v) => v,
                SignalValue::Missing | SignalValue::Invalid => {
                    self.defaults.get(signal).copied().unwrap_or(0.0)
                }
            };
            at = match &node.test {
                Test::Enum { branches } => {
                    // As `decide`: a value outside the variants takes the first.
                    let i = if value >= 0.0 && (value as usize) < branches.len() {
                        value as usize
                    } else {
                        0
                    };
                    match branches.get(i) {
                        Some(b) => *b,
                        None => return false,
                    }
                }
                Test::Bool { if_false, if_true } => {
                    if value != 0.0 {
                        *if_true
                    } else {
                        *if_false
                    }
                }
                Test::Threshold {
                    cut,
                    below,
                    at_or_above,
                } => {
                    if value >= *cut {
                        *at_or_above
                    } else {
                        *below
                    }
                }
            };
        }
        at == NodeRef::Leaf(1)
    }

    /// The child a node sends `value` to, and which branch that is (the
    /// enum variant, 0/1 for bools, the interval index for thresholds).
    fn branch(&self, kind: Kind, value: f64) -> (u32, usize) {
        match kind {
            Kind::Enum { first, count } => {
                let i = if value >= 0.0 && (value as u32) < count {
                    value as u32
                } else {
                    0
                };
                let next = self
                    .edges
                    .get((first + i) as usize)
                    .copied()
                    .unwrap_or(LEAF);
                (next, i as usize)
            }
            Kind::Bool { if_false, if_true } => {
                if value != 0.0 {
                    (if_true, 1)
                } else {
                    (if_false, 0)
                }
            }
            Kind::Intervals {
                cuts_start,
                n,
                targets,
            } => {
                let start = cuts_start as usize;
                let cuts = self.cuts.get(start..start + n as usize).unwrap_or(&[]);
                let k = cuts.partition_point(|&c| c <= value);
                let next = self
                    .edges
                    .get(targets as usize + k)
                    .copied()
                    .unwrap_or(LEAF);
                (next, k)
            }
        }
    }

    /// Why `decision` was taken for `request`: the path through the diagram,
    /// the rule, the cell and the split. Allocates; call it on demand.
    pub fn explain(&self, request: &Request, decision: &Decision) -> Explanation {
        let mut path = Vec::new();
        let mut at = self.root;
        for _ in 0..=self.nodes.len() {
            if at & LEAF != 0 {
                break;
            }
            let Some(node) = self.nodes.get(at as usize) else {
                break;
            };
            let signal = node.signal as usize;
            let (value, origin) = match request.get(signal) {
                SignalValue::Present(v) => (v, ValueOrigin::Request),
                SignalValue::Missing => (self.defaults[signal], ValueOrigin::Default),
                SignalValue::Invalid => (self.defaults[signal], ValueOrigin::InvalidDefaulted),
            };
            let def = &self.table.signals[signal];
            let shown = self.show_value(signal, value);
            let (next, taken) = self.branch(node.kind, value);
            let test = match node.kind {
                Kind::Enum { .. } | Kind::Bool { .. } => format!("{} = {shown}", def.name),
                Kind::Intervals { cuts_start, n, .. } => {
                    let start = cuts_start as usize;
                    let cuts = &self.cuts[start..start + n as usize];
                    let lower = taken
                        .checked_sub(1)
                        .map(|i| self.show_value(signal, cuts[i]));
                    let upper = cuts.get(taken).map(|&c| self.show_value(signal, c));
                    match (lower, upper) {
                        (Some(lo), Some(hi)) => format!("{} = {shown} in [{lo}, {hi})", def.name),
                        (Some(lo), None) => format!("{} = {shown} >= {lo}", def.name),
                        (None, Some(hi)) => format!("{} = {shown} < {hi}", def.name),
                        (None, None) => format!("{} = {shown}", def.name),
                    }
                }
            };
            path.push(Step {
                signal: def.name.clone(),
                value: shown,
                origin,
                test,
            });
            at = next;
        }
        let leaf = &self.table.leaves[decision.leaf as usize];
        let rule = &self.table.rules[decision.rule as usize];
        let splits = leaf
            .splits
            .iter()
            .map(|s| (self.table.plans[s.plan as usize].text.clone(), s.share))
            .collect();
        let cell = decision.cell.and_then(|c| {
            self.table
                .assumed
                .as_ref()
                .and_then(|a| a.cells.get(c as usize))
                .map(|c| c.predicate.clone())
        });
        Explanation {
            rule_line: rule.line,
            rule_text: rule.text.clone(),
            plan: self.table.plans[decision.plan as usize].text.clone(),
            splits,
            cell,
            path,
        }
    }

    /// A value of a signal as the language writes it.
    pub fn show_value(&self, signal: usize, value: f64) -> String {
        let Some(def) = self.table.signals.get(signal) else {
            return value.to_string();
        };
        match &def.kind {
            SignalKind::Enum { variants } => variants
                .get(value.max(0.0) as usize)
                .cloned()
                .unwrap_or_else(|| value.to_string()),
            SignalKind::Bool => (value != 0.0).to_string(),
            SignalKind::Ratio => format!("{}%", trim(value * 100.0)),
            SignalKind::Duration => format!("{}ms", trim(value * 1000.0)),
            SignalKind::Money => format!("${}", trim(value)),
            SignalKind::Int | SignalKind::Tokens => trim(value),
        }
    }
}

/// Appends the segments `(lower bound, target)` of the threshold tree at
/// `at` on `signal`, restricted to `[range.0, range.1)`, merging neighbours
/// with the same target. The first segment's bound is `range.0`. Iterative,
/// so that no table, however deep, can overflow the stack while loading.
fn flatten(table: &Table, at: NodeRef, signal: u32, range: (f64, f64), out: &mut Vec<(f64, u32)>) {
    let mut stack = vec![(at, range)];
    while let Some((at, (lo, hi))) = stack.pop() {
        if let NodeRef::Node(n) = at
            && let Some(node) = table.diagram.nodes.get(n as usize)
            && node.signal == signal
            && let Test::Threshold {
                cut,
                below,
                at_or_above,
            } = node.test
        {
            if cut <= lo {
                stack.push((at_or_above, (lo, hi)));
            } else if cut >= hi {
                stack.push((below, (lo, hi)));
            } else {
                // Below first: the stack is last in, first out.
                stack.push((at_or_above, (cut, hi)));
                stack.push((below, (lo, cut)));
            }
            continue;
        }
        let target = encode(at);
        if out.last().is_none_or(|last| last.1 != target) {
            out.push((lo, target));
        }
    }
}

fn trim(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// Where the value a step tested came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueOrigin {
    Request,
    /// The request did not carry the signal.
    Default,
    /// The request carried an invalid value; the default was used.
    InvalidDefaulted,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub signal: String,
    pub value: String,
    pub origin: ValueOrigin,
    /// The test as taken, e.g. `prompt_tokens = 500 < 2000`.
    pub test: String,
}

/// Why a decision was taken.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    /// 1-based line of the matching rule.
    pub rule_line: u32,
    pub rule_text: String,
    /// The chosen plan in the language's syntax.
    pub plan: String,
    /// Every plan of the leaf with its share (one entry unless split).
    pub splits: Vec<(String, f64)>,
    /// The optimizer's cell, as a readable predicate.
    pub cell: Option<String>,
    /// The tests taken through the diagram.
    pub path: Vec<Step>,
}
