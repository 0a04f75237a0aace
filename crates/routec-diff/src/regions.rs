//! Where two tables route differently: the product of their decision
//! diagrams over one request space, merged into few readable regions.

use routec_check::Policy;
use routec_check::ir::{SignalDef, SignalType};
use routec_check::quantity::{literal as number, trim};
use routec_check::space::Atom;
use routec_opt::traffic::Traffic;
use routec_table::{Leaf, NodeRef, Table, Test};

use crate::{DiffError, Side};

/// The most pieces the product of two diagrams may have.
pub const MAX_PIECES: usize = 2_000_000;

/// Above this many boxes for one change, boxes are not merged (the merge is
/// cubic in the worst case).
const MAX_MERGE: usize = 4_000;

/// Split shares closer than this are the same behaviour (LP round-off).
const SHARE_TOLERANCE: f64 = 1e-6;

/// A value of an example request, typed as a request's JSON carries it.
#[derive(Clone, Debug, PartialEq)]
pub enum ExampleValue {
    Enum(String),
    Bool(bool),
    Integer(i64),
    /// In base units (seconds, USD, ratios in `0..=1`).
    Number(f64),
}

impl ExampleValue {
    /// The value as a JSON request carries it.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ExampleValue::Enum(s) => serde_json::json!(s),
            ExampleValue::Bool(b) => serde_json::json!(b),
            ExampleValue::Integer(i) => serde_json::json!(i),
            ExampleValue::Number(x) => serde_json::json!(x),
        }
    }
}

/// An example as a JSON request keyed by signal name, the form `routec
/// explain --request` reads.
pub fn example_request(example: &[(String, ExampleValue)]) -> serde_json::Value {
    serde_json::Value::Object(
        example
            .iter()
            .map(|(name, v)| (name.clone(), v.to_json()))
            .collect(),
    )
}

/// One region of the request space whose plan changed.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    /// The region as a condition in the language's syntax, e.g.
    /// `task == code and prompt_tokens > 8k and prompt_tokens <= 32k`, or
    /// `true` for the whole space.
    pub condition: String,
    /// The old and new plans, as the tables write them (`split { ... }`
    /// when a cell is split).
    pub old: String,
    pub new: String,
    /// The share of traffic in the region under the profile.
    pub share: f64,
    /// A request inside the region: every signal the condition constrains,
    /// by name.
    pub example: Vec<(String, ExampleValue)>,
}

/// The result of [`regions`].
#[derive(Clone, Debug, PartialEq)]
pub struct Regions {
    /// Sorted by share, largest first.
    pub changed: Vec<Region>,
    /// The share of traffic routed differently.
    pub changed_share: f64,
    /// How many pieces the common refinement has.
    pub pieces: usize,
    /// The share of traffic of all pieces (1 up to round-off; a check).
    pub total_share: f64,
    /// Differences of the request spaces themselves: signals or enum values
    /// one side lacks, changed defaults.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug)]
enum Domain {
    /// The union of both sides' variants: the new side's first.
    Enum(Vec<String>),
    Bool,
    Num {
        integer: bool,
        lo: f64,
        hi: f64,
    },
}

#[derive(Clone, Debug)]
struct Dim {
    name: String,
    /// Built-in signals (`prompt_tokens`, ...) come after declared ones in
    /// conditions and examples.
    builtin: bool,
    ty: SignalType,
    domain: Domain,
    /// Per side (0 old, 1 new): the signal's index in the side's table.
    signal: [Option<usize>; 2],
    /// Per side, for enums: each union value's variant index in the side.
    values: [Vec<Option<usize>>; 2],
}

/// What one dimension of a piece allows.
/// A box of the request space and its share of traffic.
type Piece = (Vec<Con>, f64);

#[derive(Clone, Debug, PartialEq)]
enum Con {
    Set(Vec<bool>),
    /// `[lo, hi)` or `[lo, hi]`.
    Range {
        lo: f64,
        hi: f64,
        hi_incl: bool,
    },
}

struct SideView<'a> {
    table: &'a Table,
    traffic: Traffic,
    /// Table signal index -> dimension.
    dim_of: Vec<usize>,
    /// Per leaf: the canonical plan key and its display text.
    leaves: Vec<(Vec<(String, f64)>, String)>,
}

struct Walker<'a> {
    dims: Vec<Dim>,
    sides: [SideView<'a>; 2],
    /// With a recorded profile on the new side: each record's value per
    /// dimension (defaults filled in); a piece's share is then the share of
    /// records inside it, exactly.
    records: Option<Vec<Vec<f64>>>,
    pieces: usize,
    total: f64,
    /// Changed pieces: `(box, old leaf, new leaf, share)`.
    changed: Vec<(Vec<Con>, u32, u32, f64)>,
}

fn mismatch(why: &str) -> DiffError {
    DiffError::Mismatch(why.to_owned())
}

fn same_kind(a: &SignalType, b: &SignalType) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn domain_of(ty: &SignalType) -> Domain {
    match ty {
        SignalType::Enum(vs) => Domain::Enum(vs.clone()),
        SignalType::Bool => Domain::Bool,
        _ => {
            let (lo, hi) = ty.domain();
            Domain::Num {
                integer: ty.is_integer(),
                lo: lo.unwrap_or(f64::NEG_INFINITY),
                hi: hi.unwrap_or(f64::INFINITY),
            }
        }
    }
}

fn full(domain: &Domain) -> Con {
    match domain {
        Domain::Enum(vs) => Con::Set(vec![true; vs.len()]),
        Domain::Bool => Con::Set(vec![true; 2]),
        Domain::Num { lo, hi, .. } => Con::Range {
            lo: *lo,
            hi: *hi,
            hi_incl: hi.is_finite(),
        },
    }
}

fn nonempty(integer: bool, lo: f64, hi: f64, hi_incl: bool) -> bool {
    let lo = if integer { lo.ceil() } else { lo };
    if hi_incl { lo <= hi } else { lo < hi }
}

const OLD: usize = 0;
const NEW: usize = 1;

impl Dim {
    /// The dimension of signal `index` of one side (`OLD` or `NEW`) alone:
    /// its domain, and for an enum its variants in that side's order.
    fn of(s: &SignalDef, side: usize, index: usize) -> Dim {
        let domain = domain_of(&s.ty);
        let values = match &domain {
            Domain::Enum(vs) => (0..vs.len()).map(Some).collect(),
            _ => Vec::new(),
        };
        let mut dim = Dim {
            name: s.name.clone(),
            builtin: s.builtin,
            ty: s.ty.clone(),
            domain,
            signal: [None, None],
            values: [Vec::new(), Vec::new()],
        };
        dim.signal[side] = Some(index);
        dim.values[side] = values;
        dim
    }
}

/// Builds the common dimensions: the new side's signals in order, then the
/// old side's that the new one lacks (or types differently).
fn dims(old: &Policy, new: &Policy) -> (Vec<Dim>, Vec<String>) {
    let mut dims: Vec<Dim> = Vec::new();
    let mut notes = Vec::new();
    for (i, s) in new.signals.iter().enumerate() {
        dims.push(Dim::of(s, NEW, i));
    }
    for (i, s) in old.signals.iter().enumerate() {
        let found = dims
            .iter()
            .position(|d| d.name == s.name && d.signal[0].is_none() && same_kind(&d.ty, &s.ty));
        let Some(d) = found else {
            if dims.iter().any(|d| d.name == s.name) {
                notes.push(format!(
                    "`{}` changed type: the two sides read it as different signals",
                    s.name
                ));
            } else {
                notes.push(format!(
                    "`{}` is not declared in the new policy, which ignores it",
                    s.name
                ));
            }
            dims.push(Dim::of(s, OLD, i));
            continue;
        };
        let dim = &mut dims[d];
        dim.signal[0] = Some(i);
        if let (Domain::Enum(union), SignalType::Enum(olds)) = (&mut dim.domain, &s.ty) {
            for v in olds {
                if !union.contains(v) {
                    union.push(v.clone());
                }
            }
            dim.values[0] = union
                .iter()
                .map(|u| olds.iter().position(|v| v == u))
                .collect();
            let n = union.len();
            dim.values[1].resize(n, None);
            if let SignalType::Enum(news) = &dim.ty {
                let added: Vec<&String> = news.iter().filter(|v| !olds.contains(v)).collect();
                let removed: Vec<&String> = olds.iter().filter(|v| !news.contains(v)).collect();
                if !added.is_empty() {
                    let (them, values) = them_values(added.len());
                    notes.push(format!(
                        "`{}` has new {values} {}: the old policy treats {them} as invalid and routes {them} as its default",
                        s.name,
                        list(&added)
                    ));
                }
                if !removed.is_empty() {
                    let (them, values) = them_values(removed.len());
                    notes.push(format!(
                        "`{}` lost {values} {}: the new policy treats {them} as invalid and routes {them} as its default",
                        s.name,
                        list(&removed)
                    ));
                }
            }
        }
        let old_default = s.default.as_ref().map(|v| value_text(&s.ty, v));
        let new_default = new
            .signals
            .get(dim.signal[1].unwrap_or(usize::MAX))
            .and_then(|n| n.default.as_ref().map(|v| value_text(&n.ty, v)));
        if old_default != new_default {
            notes.push(format!(
                "the default of `{}` changed from {} to {}: requests without it are routed as if they carried it",
                s.name,
                old_default.map_or("none".to_owned(), |d| format!("`{d}`")),
                new_default.map_or("none".to_owned(), |d| format!("`{d}`")),
            ));
        }
    }
    // Declared signals first, as a policy writes its conditions.
    dims.sort_by_key(|d| d.builtin);
    for d in &dims {
        if d.signal[0].is_none() {
            notes.push(format!(
                "`{}` is new: the old policy does not read it",
                d.name
            ));
        }
    }
    (dims, notes)
}

/// The pronoun and noun for `n` enum values.
fn them_values(n: usize) -> (&'static str, &'static str) {
    if n == 1 {
        ("it", "value")
    } else {
        ("them", "values")
    }
}

fn list(vs: &[&String]) -> String {
    vs.iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn value_text(ty: &SignalType, v: &routec_check::ir::Value) -> String {
    use routec_check::ir::Value;
    match (ty, v) {
        (SignalType::Enum(vs), Value::Enum(i)) => vs.get(*i).cloned().unwrap_or_default(),
        (_, Value::Bool(b)) => b.to_string(),
        (ty, Value::Number(x)) => number(ty, *x),
        (_, Value::Enum(i)) => i.to_string(),
    }
}

/// A leaf's plans as `(plan text, share)` sorted by text, and its display.
fn leaf_key(table: &Table, leaf: &Leaf) -> (Vec<(String, f64)>, String) {
    let named: Vec<(String, f64)> = leaf
        .splits
        .iter()
        .map(|s| {
            let text = table
                .plans
                .get(s.plan as usize)
                .map_or_else(|| "?".to_owned(), |p| p.text.clone());
            (text, s.share)
        })
        .collect();
    let display = match named.as_slice() {
        [(text, _)] => text.clone(),
        _ => format!(
            "split {{ {} }}",
            named
                .iter()
                .map(|(t, s)| format!("{} {}%", paren(t), trim((s * 1e4).round() / 100.0)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut key = named;
    key.sort_by(|a, b| a.0.cmp(&b.0));
    (key, display)
}

/// A plan text inside a list: parenthesized when it has spaces.
fn paren(text: &str) -> String {
    if text.contains(' ') {
        format!("({text})")
    } else {
        text.to_owned()
    }
}

fn same_plans(a: &[(String, f64)], b: &[(String, f64)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.0 == y.0 && (x.1 - y.1).abs() <= SHARE_TOLERANCE)
}

/// Compares the two tables over the whole request space (see the crate
/// documentation).
pub fn regions(old: &Side, new: &Side) -> Result<Regions, DiffError> {
    let (dims, notes) = dims(old.policy, new.policy);
    let sides = [view(old, 0, &dims)?, view(new, 1, &dims)?];
    let records = new
        .recorded
        .map(|bound| record_values(&dims, new, old, bound));
    let mut w = Walker {
        dims,
        sides,
        records,
        pieces: 0,
        total: 0.0,
        changed: Vec::new(),
    };
    let mut bx: Vec<Con> = w.dims.iter().map(|d| full(&d.domain)).collect();
    let roots = [w.sides[0].table.diagram.root, w.sides[1].table.diagram.root];
    let all: Vec<u32> = match &w.records {
        Some(r) => (0..r.len() as u32).collect(),
        None => Vec::new(),
    };
    w.walk(roots, &mut bx, &all)?;

    // Group the changed pieces by change, merge each group's boxes.
    let mut groups: Vec<((String, String), Vec<Piece>)> = Vec::new();
    for (bx, a, b, share) in std::mem::take(&mut w.changed) {
        let key = (
            w.sides[0].leaves[a as usize].1.clone(),
            w.sides[1].leaves[b as usize].1.clone(),
        );
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.1.push((bx, share)),
            None => groups.push((key, vec![(bx, share)])),
        }
    }
    let mut changed = Vec::new();
    let mut changed_share = 0.0;
    for ((old_plan, new_plan), boxes) in groups {
        for (bx, share) in merge(boxes) {
            changed_share += share;
            changed.push(Region {
                condition: w.condition(&bx),
                old: old_plan.clone(),
                new: new_plan.clone(),
                share,
                example: w.example(&bx),
            });
        }
    }
    changed.sort_by(|a, b| {
        b.share
            .total_cmp(&a.share)
            .then_with(|| a.condition.cmp(&b.condition))
            .then_with(|| a.old.cmp(&b.old))
            .then_with(|| a.new.cmp(&b.new))
    });
    Ok(Regions {
        changed,
        changed_share,
        pieces: w.pieces,
        total_share: w.total,
        notes,
    })
}

/// Each record's value per dimension: the recorded value, else the
/// side's default (the new side's, or the old side's for its own signals).
fn record_values(
    dims: &[Dim],
    new: &Side,
    old: &Side,
    bound: &routec_traffic::BoundTraffic,
) -> Vec<Vec<f64>> {
    let default = |side: &Side, sig: usize| -> f64 {
        side.compiled
            .table
            .signals
            .get(sig)
            .map_or(0.0, |s| s.default)
    };
    bound
        .records
        .iter()
        .map(|r| {
            dims.iter()
                .map(|dim| match (dim.signal[1], dim.signal[0]) {
                    (Some(sig), _) => match r.values.get(sig).and_then(Option::as_ref) {
                        Some(routec_check::ir::Value::Bool(b)) => f64::from(u8::from(*b)),
                        Some(routec_check::ir::Value::Enum(i)) => *i as f64,
                        Some(routec_check::ir::Value::Number(x)) => *x,
                        None => default(new, sig),
                    },
                    (None, Some(sig)) => {
                        // Only the old side reads it: its default, in the
                        // union's numbering for enums.
                        let v = default(old, sig);
                        match &dim.domain {
                            Domain::Enum(_) => dim.values[0]
                                .iter()
                                .position(|x| *x == Some(v as usize))
                                .map_or(v, |u| u as f64),
                            _ => v,
                        }
                    }
                    (None, None) => 0.0,
                })
                .collect()
        })
        .collect()
}

fn view<'a>(side: &Side<'a>, s: usize, dims: &[Dim]) -> Result<SideView<'a>, DiffError> {
    let table = &side.compiled.table;
    if table.signals.len() != side.policy.signals.len() {
        return Err(mismatch("a table was not compiled from its policy"));
    }
    let traffic = Traffic::for_policy(side.policy, side.traffic)
        .map_err(|name| DiffError::Mismatch(format!("no traffic profile is named `{name}`")))?;
    let mut dim_of = vec![usize::MAX; table.signals.len()];
    for (d, dim) in dims.iter().enumerate() {
        if let Some(i) = dim.signal[s]
            && let Some(slot) = dim_of.get_mut(i)
        {
            *slot = d;
        }
    }
    if dim_of.contains(&usize::MAX) {
        return Err(mismatch("a signal has no dimension"));
    }
    let leaves = table.leaves.iter().map(|l| leaf_key(table, l)).collect();
    Ok(SideView {
        table,
        traffic,
        dim_of,
        leaves,
    })
}

impl Walker<'_> {
    /// Whether a record's value lies in a constraint.
    fn in_con(&self, d: usize, con: &Con, row: u32) -> bool {
        let Some(v) = self
            .records
            .as_ref()
            .and_then(|r| r.get(row as usize))
            .and_then(|r| r.get(d))
        else {
            return false;
        };
        match con {
            Con::Set(allowed) => allowed.get(*v as usize).copied().unwrap_or(false),
            Con::Range { lo, hi, hi_incl } => *v >= *lo && (*v < *hi || (*hi_incl && *v <= *hi)),
        }
    }

    /// The rows of `rows` inside `con` on dimension `d`.
    fn rows_in(&self, d: usize, con: &Con, rows: &[u32]) -> Vec<u32> {
        if self.records.is_none() {
            return Vec::new();
        }
        rows.iter()
            .copied()
            .filter(|r| self.in_con(d, con, *r))
            .collect()
    }

    fn walk(
        &mut self,
        refs: [NodeRef; 2],
        bx: &mut Vec<Con>,
        rows: &[u32],
    ) -> Result<(), DiffError> {
        for s in 0..2 {
            let NodeRef::Node(n) = refs[s] else {
                continue;
            };
            let table = self.sides[s].table;
            let node = table
                .diagram
                .nodes
                .get(n as usize)
                .ok_or_else(|| mismatch("a diagram node is out of range"))?;
            let sig = node.signal as usize;
            let d = *self.sides[s]
                .dim_of
                .get(sig)
                .ok_or_else(|| mismatch("a diagram signal is out of range"))?;
            let saved = bx[d].clone();
            let mut next = refs;
            match (&node.test, &saved) {
                (
                    Test::Threshold {
                        cut,
                        below,
                        at_or_above,
                    },
                    Con::Range { lo, hi, hi_incl },
                ) => {
                    let integer = matches!(self.dims[d].domain, Domain::Num { integer: true, .. });
                    let (blo, bhi, bincl) = if *cut < *hi || (*cut == *hi && *hi_incl) {
                        (*lo, *cut, false)
                    } else {
                        (*lo, *hi, *hi_incl)
                    };
                    if nonempty(integer, blo, bhi, bincl) {
                        bx[d] = Con::Range {
                            lo: blo,
                            hi: bhi,
                            hi_incl: bincl,
                        };
                        next[s] = *below;
                        let inside = self.rows_in(d, &bx[d], rows);
                        self.walk(next, bx, &inside)?;
                    }
                    let alo = lo.max(*cut);
                    if nonempty(integer, alo, *hi, *hi_incl) {
                        bx[d] = Con::Range {
                            lo: alo,
                            hi: *hi,
                            hi_incl: *hi_incl,
                        };
                        next[s] = *at_or_above;
                        let inside = self.rows_in(d, &bx[d], rows);
                        self.walk(next, bx, &inside)?;
                    }
                }
                (Test::Enum { branches }, Con::Set(allowed)) => {
                    let default = table.signals.get(sig).map_or(0, |x| x.default as usize);
                    let mut targets: Vec<(NodeRef, Vec<bool>)> = Vec::new();
                    for (u, ok) in allowed.iter().enumerate() {
                        if !ok {
                            continue;
                        }
                        let variant = self.dims[d].values[s].get(u).copied().flatten();
                        let Some(&target) = branches
                            .get(variant.unwrap_or(default))
                            .or_else(|| branches.first())
                        else {
                            return Err(mismatch("an enum test has no branches"));
                        };
                        match targets.iter_mut().find(|t| t.0 == target) {
                            Some(t) => t.1[u] = true,
                            None => {
                                let mut set = vec![false; allowed.len()];
                                set[u] = true;
                                targets.push((target, set));
                            }
                        }
                    }
                    for (target, set) in targets {
                        bx[d] = Con::Set(set);
                        next[s] = target;
                        let inside = self.rows_in(d, &bx[d], rows);
                        self.walk(next, bx, &inside)?;
                    }
                }
                (Test::Bool { if_false, if_true }, Con::Set(allowed)) => {
                    for (v, target) in [(0, *if_false), (1, *if_true)] {
                        if allowed.get(v).copied().unwrap_or(false) {
                            let mut set = vec![false; allowed.len()];
                            set[v] = true;
                            bx[d] = Con::Set(set);
                            next[s] = target;
                            let inside = self.rows_in(d, &bx[d], rows);
                            self.walk(next, bx, &inside)?;
                        }
                    }
                }
                _ => return Err(mismatch("a diagram test does not fit its signal's type")),
            }
            bx[d] = saved;
            return Ok(());
        }
        let (NodeRef::Leaf(a), NodeRef::Leaf(b)) = (refs[0], refs[1]) else {
            return Err(mismatch("the diagram walk ended on a node"));
        };
        self.pieces += 1;
        if self.pieces > MAX_PIECES {
            return Err(DiffError::TooManyPieces);
        }
        let (Some(la), Some(lb)) = (
            self.sides[0].leaves.get(a as usize),
            self.sides[1].leaves.get(b as usize),
        ) else {
            return Err(mismatch("a diagram leaf is out of range"));
        };
        let differs = !same_plans(&la.0, &lb.0);
        let share = match &self.records {
            Some(all) if !all.is_empty() => rows.len() as f64 / all.len() as f64,
            _ => self.share(bx),
        };
        self.total += share;
        if differs {
            self.changed.push((bx.clone(), a, b, share));
        }
        Ok(())
    }

    /// The side whose traffic profile describes a dimension: the new one
    /// when it reads the signal.
    fn source(&self, d: usize) -> Option<(usize, usize)> {
        let dim = &self.dims[d];
        dim.signal[1]
            .map(|i| (1, i))
            .or_else(|| dim.signal[0].map(|i| (0, i)))
    }

    /// The share of traffic in a box: the product of its dimensions'
    /// marginal masses (the profile's independent marginals, as the
    /// optimizer weighs its cells).
    fn share(&self, bx: &[Con]) -> f64 {
        let mut w = 1.0;
        for (d, con) in bx.iter().enumerate() {
            let dim = &self.dims[d];
            if *con == full(&dim.domain) {
                continue;
            }
            let Some((s, sig)) = self.source(d) else {
                continue;
            };
            let Some(m) = self.sides[s].traffic.marginals.get(sig) else {
                continue;
            };
            let mass = match (con, &dim.domain) {
                (Con::Set(allowed), Domain::Enum(_)) => allowed
                    .iter()
                    .enumerate()
                    .filter(|(_, ok)| **ok)
                    .filter_map(|(u, _)| dim.values[s].get(u).copied().flatten())
                    .map(|i| m.atom(&Atom::Value(i)))
                    .sum(),
                (Con::Set(allowed), _) => allowed
                    .iter()
                    .enumerate()
                    .filter(|(_, ok)| **ok)
                    .map(|(v, _)| m.atom(&Atom::Value(v)))
                    .sum(),
                (Con::Range { lo, hi, hi_incl }, Domain::Num { integer: true, .. }) => {
                    let lo = if lo.is_finite() {
                        lo.ceil() as i64
                    } else {
                        i64::MIN
                    };
                    let hi = hi.is_finite().then(|| {
                        if *hi_incl {
                            hi.floor() as i64 + 1
                        } else {
                            hi.ceil() as i64
                        }
                    });
                    m.atom(&Atom::Int { lo, hi })
                }
                (Con::Range { lo, hi, hi_incl }, _) => {
                    let open = m.atom(&Atom::Open {
                        lo: lo.is_finite().then_some(*lo),
                        hi: hi.is_finite().then_some(*hi),
                    });
                    let at_lo = if lo.is_finite() {
                        m.atom(&Atom::Point(*lo))
                    } else {
                        0.0
                    };
                    let at_hi = if *hi_incl && hi.is_finite() && hi > lo {
                        m.atom(&Atom::Point(*hi))
                    } else {
                        0.0
                    };
                    open + at_lo + at_hi
                }
            };
            w *= mass;
        }
        w
    }

    /// The box as a condition in the language's syntax.
    fn condition(&self, bx: &[Con]) -> String {
        let mut parts = Vec::new();
        for (d, con) in bx.iter().enumerate() {
            let dim = &self.dims[d];
            if *con == full(&dim.domain) {
                continue;
            }
            let name = &dim.name;
            match (con, &dim.domain) {
                (Con::Set(allowed), Domain::Enum(vs)) => {
                    let yes: Vec<&str> = vs
                        .iter()
                        .zip(allowed)
                        .filter(|(_, ok)| **ok)
                        .map(|(v, _)| v.as_str())
                        .collect();
                    let no: Vec<&str> = vs
                        .iter()
                        .zip(allowed)
                        .filter(|(_, ok)| !**ok)
                        .map(|(v, _)| v.as_str())
                        .collect();
                    parts.push(match (yes.as_slice(), no.as_slice()) {
                        ([one], _) => format!("{name} == {one}"),
                        (_, [one]) => format!("{name} != {one}"),
                        _ if yes.len() <= no.len() => {
                            format!("{name} in {{ {} }}", yes.join(", "))
                        }
                        _ => format!("{name} not in {{ {} }}", no.join(", ")),
                    });
                }
                (Con::Set(allowed), _) => {
                    if allowed.get(1).copied().unwrap_or(false) {
                        parts.push(name.clone());
                    } else {
                        parts.push(format!("not {name}"));
                    }
                }
                (
                    Con::Range { lo, hi, hi_incl },
                    Domain::Num {
                        integer,
                        lo: dl,
                        hi: dh,
                    },
                ) => {
                    parts.extend(range_condition(
                        name,
                        &dim.ty,
                        *integer,
                        (*dl, *dh),
                        *lo,
                        *hi,
                        *hi_incl,
                    ));
                }
                (Con::Range { .. }, _) => {}
            }
        }
        if parts.is_empty() {
            "true".to_owned()
        } else {
            parts.join(" and ")
        }
    }

    /// A request inside the box: each constrained signal's value, the
    /// side's default when the box holds it.
    fn example(&self, bx: &[Con]) -> Vec<(String, ExampleValue)> {
        let mut out = Vec::new();
        for (d, con) in bx.iter().enumerate() {
            let dim = &self.dims[d];
            if *con == full(&dim.domain) {
                continue;
            }
            let default = self
                .source(d)
                .and_then(|(s, sig)| self.sides[s].table.signals.get(sig))
                .map(|x| x.default);
            let value = match (con, &dim.domain) {
                (Con::Set(allowed), Domain::Enum(vs)) => {
                    let (s, _) = self.source(d).unwrap_or((1, 0));
                    let default_u = default
                        .and_then(|x| dim.values[s].iter().position(|v| *v == Some(x as usize)));
                    let u = default_u
                        .filter(|u| allowed.get(*u).copied().unwrap_or(false))
                        .or_else(|| allowed.iter().position(|ok| *ok))
                        .unwrap_or(0);
                    ExampleValue::Enum(vs.get(u).cloned().unwrap_or_default())
                }
                (Con::Set(allowed), _) => {
                    ExampleValue::Bool(allowed.get(1).copied().unwrap_or(false))
                }
                (Con::Range { lo, hi, hi_incl }, Domain::Num { integer, .. }) => {
                    let inside = |x: f64| {
                        x >= *lo
                            && (x < *hi || (*hi_incl && x <= *hi))
                            && (!integer || x.fract() == 0.0)
                    };
                    let v = match default.filter(|x| inside(*x)) {
                        Some(x) => x,
                        None if *integer => {
                            if lo.is_finite() {
                                lo.ceil()
                            } else if hi.is_finite() {
                                if *hi_incl {
                                    hi.floor()
                                } else {
                                    hi.ceil() - 1.0
                                }
                            } else {
                                0.0
                            }
                        }
                        None => nice(*lo, *hi, *hi_incl, matches!(dim.ty, SignalType::Ratio)),
                    };
                    if *integer {
                        ExampleValue::Integer(v as i64)
                    } else {
                        ExampleValue::Number(v)
                    }
                }
                (Con::Range { lo, .. }, _) => ExampleValue::Number(*lo),
            };
            out.push((dim.name.clone(), value));
        }
        out
    }
}

/// A round number in `[lo, hi)` (or `[lo, hi]`): the interval's middle at
/// the coarsest precision that stays inside.
fn nice(lo: f64, hi: f64, hi_incl: bool, ratio: bool) -> f64 {
    let inside = |x: f64| x >= lo && (x < hi || (hi_incl && x <= hi));
    let first = if ratio { 1 } else { 0 };
    for k in first..=12 {
        let scale = 10f64.powi(k);
        let v = if hi.is_finite() {
            ((lo + hi) / 2.0 * scale).round() / scale
        } else {
            (lo * scale).ceil() / scale
        };
        if inside(v) {
            return v;
        }
    }
    lo
}

/// Whether `a` is written shorter than `b`: `x > 0.3` rather than
/// `x >= 0.30000000000000004`.
fn shorter(a: f64, b: f64) -> bool {
    format!("{a}").len() < format!("{b}").len()
}

fn range_condition(
    name: &str,
    ty: &SignalType,
    integer: bool,
    (dl, dh): (f64, f64),
    lo: f64,
    hi: f64,
    hi_incl: bool,
) -> Vec<String> {
    let n = |x: f64| number(ty, x);
    let has_lo = lo > dl;
    let has_hi = hi < dh || (!hi_incl && hi.is_finite());
    if integer {
        let lo_i = lo.ceil();
        let hi_x = if hi_incl { hi.floor() + 1.0 } else { hi.ceil() };
        if has_lo && has_hi && hi_x == lo_i + 1.0 {
            return vec![format!("{name} == {}", n(lo_i))];
        }
        let mut out = Vec::new();
        if has_lo {
            out.push(if n(lo_i - 1.0).len() < n(lo_i).len() {
                format!("{name} > {}", n(lo_i - 1.0))
            } else {
                format!("{name} >= {}", n(lo_i))
            });
        }
        if has_hi {
            out.push(if n(hi_x - 1.0).len() < n(hi_x).len() {
                format!("{name} <= {}", n(hi_x - 1.0))
            } else {
                format!("{name} < {}", n(hi_x))
            });
        }
        return out;
    }
    if has_lo && has_hi && !hi_incl && hi == lo.next_up() {
        return vec![format!("{name} == {}", n(lo))];
    }
    let mut out = Vec::new();
    if has_lo {
        let below = lo.next_down();
        out.push(if shorter(below, lo) {
            format!("{name} > {}", n(below))
        } else {
            format!("{name} >= {}", n(lo))
        });
    }
    if has_hi {
        out.push(if hi_incl {
            format!("{name} <= {}", n(hi))
        } else {
            let below = hi.next_down();
            if shorter(below, hi) {
                format!("{name} <= {}", n(below))
            } else {
                format!("{name} < {}", n(hi))
            }
        });
    }
    out
}

/// Two boxes as one, when they differ in one dimension only and their
/// values there join (any two enum sets; two adjacent ranges).
fn join(a: &[Con], b: &[Con]) -> Option<Vec<Con>> {
    let mut differing = None;
    for (d, (x, y)) in a.iter().zip(b).enumerate() {
        if x != y {
            if differing.is_some() {
                return None;
            }
            differing = Some(d);
        }
    }
    let d = differing?;
    let joined = match (&a[d], &b[d]) {
        (Con::Set(x), Con::Set(y)) => Con::Set(x.iter().zip(y).map(|(p, q)| *p || *q).collect()),
        (
            Con::Range {
                lo: alo,
                hi: ahi,
                hi_incl: aincl,
            },
            Con::Range {
                lo: blo,
                hi: bhi,
                hi_incl: bincl,
            },
        ) => {
            if ahi == blo && !aincl {
                Con::Range {
                    lo: *alo,
                    hi: *bhi,
                    hi_incl: *bincl,
                }
            } else if bhi == alo && !bincl {
                Con::Range {
                    lo: *blo,
                    hi: *ahi,
                    hi_incl: *aincl,
                }
            } else {
                return None;
            }
        }
        _ => return None,
    };
    let mut out = a.to_vec();
    out[d] = joined;
    Some(out)
}

/// Merges boxes pairwise until no two join.
fn merge(mut boxes: Vec<Piece>) -> Vec<Piece> {
    if boxes.len() > MAX_MERGE {
        return boxes;
    }
    loop {
        let mut found = None;
        'search: for i in 0..boxes.len() {
            for j in i + 1..boxes.len() {
                if let Some(m) = join(&boxes[i].0, &boxes[j].0) {
                    found = Some((i, j, m));
                    break 'search;
                }
            }
        }
        let Some((i, j, m)) = found else {
            return boxes;
        };
        let share = boxes[i].1 + boxes[j].1;
        boxes[i] = (m, share);
        boxes.remove(j);
    }
}
