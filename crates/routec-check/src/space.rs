//! Exact analysis of the request space.
//!
//! Every signal a condition reads is a *dimension*. Enum and bool dimensions
//! are finite sets of values; numeric dimensions are cut by every threshold
//! compared against them into *atoms*: half-open integer intervals for
//! integer-valued signals (`x > 2.5` is normalised to `x >= 3`), points and
//! open intervals for continuous ones, always restricted to the signal's
//! domain (tokens `>= 0`, ratios in `0..=1`, ...). Within one dimension every
//! registered comparison is either true on a whole atom or false on it, so
//! set algebra on atoms is exact.
//!
//! A [`Region`] is a list of pairwise disjoint [`Cube`]s; a cube constrains
//! only the dimensions it lists (the others are free), so a condition over
//! two signals costs two atom sets however many dimensions the space has.
//! Union, intersection, difference and complement work on these lists and
//! never enumerate the cartesian product.
//!
//! Architecture Invariant: lowering is exact only for thresholds registered
//! with the builder; [`Space::for_policy`] registers every threshold of the
//! policy (rules, slices, `optimize ... at`, context windows).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use routec_syntax::ast::CmpOp;

/// The maps of this module have small keys (signal ids, a cube's sets):
/// a fast fixed-seed hash, not SipHash (no untrusted keys here).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

use crate::ir::{Cond, Policy, SignalId, SignalType, Value};

// ---------------------------------------------------------------- atom sets

/// A set of atoms of one dimension: a bitset, inline up to 64 atoms.
/// Larger sets share their words copy-on-write, so cloning a cube is a
/// reference count per dimension, not a copy of every bitset; they keep
/// their number of atoms, which overlap estimates and cube normalisation
/// ask for again and again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AtomSet {
    Small(u64),
    /// The words and how many bits they hold.
    Large(Arc<[u64]>, usize),
}

/// Hashes the non-zero words with their positions: a few tenants out of
/// thousands hash as a few words, not as the whole bitset (sets of one
/// dimension all have the same number of words, so equal sets hash alike).
impl std::hash::Hash for AtomSet {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            AtomSet::Small(w) => {
                state.write_u8(0);
                state.write_u64(*w);
            }
            AtomSet::Large(words, len) => {
                state.write_u8(1);
                state.write_usize(*len);
                for (i, w) in words.iter().enumerate() {
                    if *w != 0 {
                        state.write_usize(i);
                        state.write_u64(*w);
                    }
                }
            }
        }
    }
}

impl AtomSet {
    pub fn empty(n: usize) -> AtomSet {
        if n <= 64 {
            AtomSet::Small(0)
        } else {
            AtomSet::Large(Arc::from(vec![0; n.div_ceil(64)]), 0)
        }
    }

    pub fn full(n: usize) -> AtomSet {
        let word = AtomSet::full_word(n);
        if n <= 64 {
            AtomSet::Small(word(0))
        } else {
            AtomSet::Large((0..n.div_ceil(64)).map(word).collect(), n)
        }
    }

    /// Word `i` of the full set of `n` atoms.
    fn full_word(n: usize) -> impl Fn(usize) -> u64 {
        move |i| {
            if i < n / 64 {
                u64::MAX
            } else if i == n / 64 {
                (1u64 << (n % 64)) - 1
            } else {
                0
            }
        }
    }

    fn words(&self) -> &[u64] {
        match self {
            AtomSet::Small(w) => std::slice::from_ref(w),
            AtomSet::Large(ws, _) => ws,
        }
    }

    pub fn insert(&mut self, i: usize) {
        let bit = 1 << (i % 64);
        match self {
            AtomSet::Small(w) => {
                if i < 64 {
                    *w |= bit;
                }
            }
            AtomSet::Large(ws, len) => {
                if ws.get(i / 64).is_some_and(|w| w & bit == 0)
                    && let Some(w) = Arc::make_mut(ws).get_mut(i / 64)
                {
                    *w |= bit;
                    *len += 1;
                }
            }
        }
    }

    /// Whether the set holds every atom of a dimension with `n` atoms
    /// (`AtomSet::full(n).and_not(self).is_empty()`, without allocating).
    pub fn contains_all(&self, n: usize) -> bool {
        let full = AtomSet::full_word(n);
        let words = self.words();
        (0..n.div_ceil(64).max(1)).all(|i| {
            let f = full(i);
            words.get(i).map_or(f == 0, |w| f & !w == 0)
        })
    }

    pub fn contains(&self, i: usize) -> bool {
        self.words()
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        match self {
            AtomSet::Small(w) => w.count_ones() as usize,
            AtomSet::Large(_, len) => *len,
        }
    }

    pub fn first(&self) -> Option<usize> {
        self.iter().next()
    }

    pub fn last(&self) -> Option<usize> {
        let words = self.words();
        for (wi, w) in words.iter().enumerate().rev() {
            if *w != 0 {
                return Some(wi * 64 + 63 - w.leading_zeros() as usize);
            }
        }
        None
    }

    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words().iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + b)
            })
        })
    }

    /// `op` word by word. Sets of more than 64 atoms count `|self ∩ other|`
    /// first: it gives the size of the result, and when the result is one
    /// of the operands (a singleton inside a large set, disjoint sets) that
    /// operand is shared instead of allocating a copy.
    /// `meet` is `|self ∩ other|` when the caller knows it.
    fn combine(&self, other: &AtomSet, op: Op, meet: Option<usize>) -> AtomSet {
        let b = other.words();
        match self {
            AtomSet::Small(a) => AtomSet::Small(b.first().map_or(*a, |b| op.apply(*a, *b))),
            AtomSet::Large(a, la) if a.len() == b.len() => {
                let la = *la;
                let lb = other.len();
                let meet = meet.unwrap_or_else(|| self.and_count(other));
                let (shared, len) = match op {
                    Op::And if meet == lb => (Some(other), meet),
                    Op::And if meet == la => (Some(self), meet),
                    Op::And => (None, meet),
                    Op::Or if meet == lb => (Some(self), la),
                    Op::Or if meet == la => (Some(other), lb),
                    Op::Or => (None, la + lb - meet),
                    Op::AndNot if meet == 0 => (Some(self), la),
                    Op::AndNot => (None, la - meet),
                };
                if let Some(s) = shared {
                    return s.clone();
                }
                let words = a.iter().zip(b).map(|(&x, &y)| op.apply(x, y)).collect();
                AtomSet::Large(words, len)
            }
            AtomSet::Large(a, _) => {
                let words: Arc<[u64]> = a
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| b.get(i).map_or(x, |&y| op.apply(x, y)))
                    .collect();
                let len = words.iter().map(|w| w.count_ones() as usize).sum();
                AtomSet::Large(words, len)
            }
        }
    }

    pub fn and(&self, other: &AtomSet) -> AtomSet {
        self.combine(other, Op::And, None)
    }

    pub fn or(&self, other: &AtomSet) -> AtomSet {
        self.combine(other, Op::Or, None)
    }

    pub fn and_not(&self, other: &AtomSet) -> AtomSet {
        self.combine(other, Op::AndNot, None)
    }

    /// `(self.and_not(other), self.and(other))`, counting their
    /// intersection once.
    pub fn split(&self, other: &AtomSet) -> (AtomSet, AtomSet) {
        let meet = match self {
            AtomSet::Large(..) => Some(self.and_count(other)),
            AtomSet::Small(_) => None,
        };
        (
            self.combine(other, Op::AndNot, meet),
            self.combine(other, Op::And, meet),
        )
    }

    /// `|self ∩ other|` without allocating.
    pub fn and_count(&self, other: &AtomSet) -> usize {
        if let (AtomSet::Small(a), AtomSet::Small(b)) = (self, other) {
            return (a & b).count_ones() as usize;
        }
        self.words()
            .iter()
            .zip(other.words())
            .map(|(a, b)| a & b)
            .filter(|w| *w != 0)
            .map(|w| w.count_ones() as usize)
            .sum()
    }

    pub fn intersects(&self, other: &AtomSet) -> bool {
        self.words()
            .iter()
            .zip(other.words())
            .any(|(a, b)| a & b != 0)
    }

    pub fn is_subset(&self, other: &AtomSet) -> bool {
        self.words()
            .iter()
            .zip(other.words())
            .all(|(a, b)| a & !b == 0)
    }
}

/// A word-wise operation of [`AtomSet::combine`].
#[derive(Clone, Copy)]
enum Op {
    And,
    Or,
    AndNot,
}

impl Op {
    fn apply(self, a: u64, b: u64) -> u64 {
        match self {
            Op::And => a & b,
            Op::Or => a | b,
            Op::AndNot => a & !b,
        }
    }
}

// ---------------------------------------------------------------- dimensions

/// Index into [`Space::dims`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DimId(pub u32);

/// One cell of a dimension.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Atom {
    /// A value of an enum (its index) or a bool (`0` false, `1` true).
    Value(usize),
    /// Integers `lo..hi`; `lo == i64::MIN` means unbounded below, `hi == None` above.
    Int { lo: i64, hi: Option<i64> },
    /// One value of a continuous dimension.
    Point(f64),
    /// The open interval between two cut points (`None` = unbounded).
    Open { lo: Option<f64>, hi: Option<f64> },
}

impl Atom {
    /// A value inside the atom, preferring the lowest meaningful one.
    pub fn representative(self) -> f64 {
        match self {
            Atom::Value(v) => v as f64,
            Atom::Int { lo, hi } => {
                if lo == i64::MIN {
                    hi.map_or(0.0, |h| if h > 0 { 0.0 } else { (h - 1) as f64 })
                } else {
                    lo as f64
                }
            }
            Atom::Point(p) => p,
            Atom::Open { lo, hi } => match (lo, hi) {
                (Some(a), Some(b)) => (a + b) / 2.0,
                (Some(a), None) => {
                    if a < 1.0 {
                        a + 1.0
                    } else {
                        a * 2.0
                    }
                }
                (None, Some(b)) => b - 1.0,
                (None, None) => 0.0,
            },
        }
    }

    /// The least upper bound of the atom (`None` = unbounded).
    pub fn sup(self) -> Option<f64> {
        match self {
            Atom::Value(v) => Some(v as f64),
            Atom::Int { hi, .. } => hi.map(|h| (h - 1) as f64),
            Atom::Point(p) => Some(p),
            Atom::Open { hi, .. } => hi,
        }
    }

    /// The greatest lower bound of the atom (`None` = unbounded).
    pub fn inf(self) -> Option<f64> {
        match self {
            Atom::Value(v) => Some(v as f64),
            Atom::Int { lo, .. } => (lo != i64::MIN).then_some(lo as f64),
            Atom::Point(p) => Some(p),
            Atom::Open { lo, .. } => lo,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Dim {
    pub signal: SignalId,
    pub ty: SignalType,
    pub atoms: Vec<Atom>,
}

// ---------------------------------------------------------------- builder

#[derive(Debug, Default)]
struct DimBuild {
    ty: Option<SignalType>,
    int_cuts: BTreeSet<i64>,
    float_cuts: Vec<f64>,
}

/// Registers dimensions and thresholds, then builds the atoms of a [`Space`].
#[derive(Debug, Default)]
pub struct SpaceBuilder {
    dims: Vec<(SignalId, DimBuild)>,
    by_signal: FastMap<SignalId, usize>,
}

fn floor_i64(t: f64) -> i64 {
    // `as` saturates, which is what a threshold beyond i64 wants.
    t.floor() as i64
}

fn ceil_i64(t: f64) -> i64 {
    t.ceil() as i64
}

impl SpaceBuilder {
    pub fn new() -> SpaceBuilder {
        SpaceBuilder::default()
    }

    fn entry(&mut self, signal: SignalId, ty: &SignalType) -> &mut DimBuild {
        let i = *self.by_signal.entry(signal).or_insert_with(|| {
            self.dims.push((signal, DimBuild::default()));
            self.dims.len() - 1
        });
        let d = &mut self.dims[i].1;
        if d.ty.is_none() {
            d.ty = Some(ty.clone());
        }
        d
    }

    /// Makes `signal` a dimension even if no threshold mentions it.
    pub fn dim(&mut self, signal: SignalId, ty: &SignalType) {
        self.entry(signal, ty);
    }

    /// Registers the threshold of `signal OP value` (base units).
    pub fn cut(&mut self, signal: SignalId, ty: &SignalType, op: CmpOp, value: f64) {
        if !value.is_finite() {
            self.dim(signal, ty);
            return;
        }
        let integer = ty.is_integer();
        let d = self.entry(signal, ty);
        if integer {
            match op {
                CmpOp::Gt | CmpOp::Le => {
                    d.int_cuts.insert(floor_i64(value).saturating_add(1));
                }
                CmpOp::Ge | CmpOp::Lt => {
                    d.int_cuts.insert(ceil_i64(value));
                }
                CmpOp::Eq | CmpOp::Ne => {
                    if value.fract() == 0.0 {
                        d.int_cuts.insert(floor_i64(value));
                        d.int_cuts.insert(floor_i64(value).saturating_add(1));
                    }
                }
            }
        } else if ty.is_numeric() {
            d.float_cuts.push(value);
        }
    }

    /// Registers every dimension and threshold of a condition; slices are
    /// followed through `slices` (indexed by slice id).
    pub fn add_cond(&mut self, cond: &Cond, types: &[SignalType], slices: &[&Cond]) {
        self.add_cond_depth(cond, types, slices, 0);
    }

    fn add_cond_depth(
        &mut self,
        cond: &Cond,
        types: &[SignalType],
        slices: &[&Cond],
        depth: usize,
    ) {
        if depth > MAX_LOWER_DEPTH {
            return;
        }
        match cond {
            Cond::Bool(s) | Cond::InSet { signal: s, .. } => {
                if let Some(ty) = types.get(s.index()) {
                    self.dim(*s, ty);
                }
            }
            Cond::Cmp { signal, op, value } => {
                if let Some(ty) = types.get(signal.index()) {
                    self.cut(*signal, ty, *op, *value);
                }
            }
            Cond::Slice(id) => {
                if let Some(c) = slices.get(id.index()) {
                    self.add_cond_depth(c, types, slices, depth + 1);
                }
            }
            Cond::Not(c) => self.add_cond_depth(c, types, slices, depth + 1),
            Cond::And(cs) | Cond::Or(cs) => {
                for c in cs {
                    self.add_cond_depth(c, types, slices, depth + 1);
                }
            }
            Cond::Const(_) | Cond::Unknown => {}
        }
    }

    pub fn build(self) -> Space {
        let mut dims = Vec::with_capacity(self.dims.len());
        let mut by_signal = FastMap::default();
        for (signal, b) in self.dims {
            let Some(ty) = b.ty else { continue };
            let atoms = atoms_for(&ty, &b.int_cuts, b.float_cuts);
            by_signal.insert(signal, DimId(dims.len() as u32));
            dims.push(Dim { signal, ty, atoms });
        }
        Space { dims, by_signal }
    }
}

fn atoms_for(ty: &SignalType, int_cuts: &BTreeSet<i64>, mut float_cuts: Vec<f64>) -> Vec<Atom> {
    match ty {
        SignalType::Bool => vec![Atom::Value(0), Atom::Value(1)],
        SignalType::Enum(vs) => (0..vs.len()).map(Atom::Value).collect(),
        SignalType::Int | SignalType::Tokens => {
            let lo = if matches!(ty, SignalType::Tokens) {
                0
            } else {
                i64::MIN
            };
            let mut atoms = Vec::new();
            let mut start = lo;
            for &c in int_cuts.range((lo.saturating_add(1))..) {
                atoms.push(Atom::Int {
                    lo: start,
                    hi: Some(c),
                });
                start = c;
            }
            atoms.push(Atom::Int {
                lo: start,
                hi: None,
            });
            atoms
        }
        SignalType::Ratio | SignalType::Duration | SignalType::Money => {
            let (lo, hi) = ty.domain();
            if let Some(l) = lo {
                float_cuts.push(l);
            }
            if let Some(h) = hi {
                float_cuts.push(h);
            }
            float_cuts.retain(|c| {
                c.is_finite() && lo.is_none_or(|l| *c >= l) && hi.is_none_or(|h| *c <= h)
            });
            float_cuts.sort_by(f64::total_cmp);
            float_cuts.dedup();
            let mut atoms = Vec::new();
            let mut prev: Option<f64> = None;
            for (i, &c) in float_cuts.iter().enumerate() {
                if i > 0 || lo.is_none() {
                    atoms.push(Atom::Open {
                        lo: prev,
                        hi: Some(c),
                    });
                }
                atoms.push(Atom::Point(c));
                prev = Some(c);
            }
            if hi.is_none() || float_cuts.is_empty() {
                atoms.push(Atom::Open { lo: prev, hi: None });
            }
            atoms
        }
    }
}

// ---------------------------------------------------------------- cubes and regions

/// A product of atom sets; dimensions not listed are unconstrained.
/// Invariant: listed sets are sorted by dimension, non-empty and not full.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cube {
    pub dims: Vec<(DimId, AtomSet)>,
}

impl Cube {
    /// Restricts dimension `d` to `set` (of a dimension with `size` atoms),
    /// keeping the invariant: a full set is not listed.
    pub fn set_dim(&mut self, d: DimId, set: AtomSet, size: usize) {
        let full = set.len() == size;
        match self.dims.binary_search_by_key(&d, |(k, _)| *k) {
            Ok(i) => {
                if full {
                    self.dims.remove(i);
                } else {
                    self.dims[i].1 = set;
                }
            }
            Err(i) => {
                if !full {
                    self.dims.insert(i, (d, set));
                }
            }
        }
    }

    pub fn get(&self, d: DimId) -> Option<&AtomSet> {
        self.dims
            .binary_search_by_key(&d, |(k, _)| *k)
            .ok()
            .map(|i| &self.dims[i].1)
    }
}

/// A union of pairwise disjoint cubes. The empty list is the empty region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Region {
    pub cubes: Vec<Cube>,
}

impl Region {
    pub fn empty() -> Region {
        Region { cubes: Vec::new() }
    }

    pub fn full() -> Region {
        Region {
            cubes: vec![Cube::default()],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.cubes.is_empty()
    }
}

/// The most cubes [`Space::witness`] examines before giving up.
pub const WITNESS_BUDGET: usize = 20_000;
/// [`Space::covered_in`] first tries a slice of a cube meeting more covers
/// than this.
const PROBE_COVERS: usize = 32;
/// The most cubes that try examines (it does not count against
/// [`WITNESS_BUDGET`]).
const PROBE_BUDGET: usize = 2_000;

/// The answer of [`Space::witness`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Witness {
    /// A cube of the region outside every cover.
    Found(Cube),
    /// The covers cover the region.
    Empty,
    /// The search exceeded [`WITNESS_BUDGET`].
    GaveUp,
}

/// Conditions deeper than this are not lowered (the parser caps depth lower).
const MAX_LOWER_DEPTH: usize = 256;

/// The partition of the request space.
#[derive(Clone, Debug, Default)]
pub struct Space {
    pub dims: Vec<Dim>,
    by_signal: FastMap<SignalId, DimId>,
}

/// One concrete request in a region: a value per constrained signal.
pub type Example = Vec<(SignalId, Value)>;

impl Space {
    /// A space with a dimension for every signal a rule, slice or quality
    /// table reads, cut at every threshold of the policy, the `optimize`
    /// thresholds and the models' context windows (on `prompt_tokens`).
    pub fn for_policy(policy: &Policy) -> Space {
        let types: Vec<SignalType> = policy.signals.iter().map(|s| s.ty.clone()).collect();
        let slices: Vec<&Cond> = policy.slices.iter().map(|s| &s.cond).collect();
        let mut b = SpaceBuilder::new();
        for rule in &policy.rules {
            b.add_cond(&rule.cond, &types, &slices);
            add_plan_dims(&mut b, &rule.plan, &types);
        }
        for s in &policy.slices {
            b.add_cond(&s.cond, &types, &slices);
        }
        for name in ["has_images", "has_tools", "stream"] {
            if let Some(id) = policy.signal_by_name(name) {
                b.dim(id, &policy.signal(id).ty);
            }
        }
        if let Some(pt) = policy.signal_by_name("prompt_tokens") {
            let ty = &policy.signal(pt).ty;
            b.dim(pt, ty);
            for m in &policy.models {
                if let Some(c) = m.context {
                    b.cut(pt, ty, CmpOp::Gt, c as f64);
                }
            }
        }
        for m in &policy.models {
            for t in [&m.quality.by, &m.quality.adjust].into_iter().flatten() {
                if let Some(ty) = types.get(t.signal.index()) {
                    b.dim(t.signal, ty);
                }
            }
        }
        b.build()
    }

    pub fn dim_of(&self, signal: SignalId) -> Option<DimId> {
        self.by_signal.get(&signal).copied()
    }

    pub fn dim(&self, d: DimId) -> &Dim {
        &self.dims[d.0 as usize]
    }

    fn size(&self, d: DimId) -> usize {
        self.dims[d.0 as usize].atoms.len()
    }

    /// A cube constraining one dimension; normalises away full sets.
    pub fn cube(&self, d: DimId, set: AtomSet) -> Region {
        if set.is_empty() {
            return Region::empty();
        }
        if set.len() == self.size(d) {
            return Region::full();
        }
        Region {
            cubes: vec![Cube {
                dims: vec![(d, set)],
            }],
        }
    }

    /// The atoms of `signal` where `signal OP value` holds, or `None` if the
    /// signal is not a dimension of this space.
    pub fn cmp_atoms(&self, signal: SignalId, op: CmpOp, value: f64) -> Option<(DimId, AtomSet)> {
        let d = self.dim_of(signal)?;
        let dim = self.dim(d);
        let mut set = AtomSet::empty(dim.atoms.len());
        for (i, atom) in dim.atoms.iter().enumerate() {
            let x = atom.representative();
            let integer_eq_miss = dim.ty.is_integer() && value.fract() != 0.0;
            let holds = match op {
                CmpOp::Eq => !integer_eq_miss && x == value,
                CmpOp::Ne => integer_eq_miss || x != value,
                CmpOp::Lt => x < value,
                CmpOp::Le => x <= value,
                CmpOp::Gt => x > value,
                CmpOp::Ge => x >= value,
            };
            if holds {
                set.insert(i);
            }
        }
        Some((d, set))
    }

    /// The region of `signal OP value`.
    pub fn cmp(&self, signal: SignalId, op: CmpOp, value: f64) -> Option<Region> {
        let (d, set) = self.cmp_atoms(signal, op, value)?;
        Some(self.cube(d, set))
    }

    /// The region where an enum or bool signal takes one of `values`.
    pub fn in_set(&self, signal: SignalId, values: &[usize]) -> Option<Region> {
        let d = self.dim_of(signal)?;
        let mut set = AtomSet::empty(self.size(d));
        for &v in values {
            if v < self.size(d) {
                set.insert(v);
            }
        }
        Some(self.cube(d, set))
    }

    /// Lowers a condition; `None` if it contains [`Cond::Unknown`], a signal
    /// that is not a dimension, or a slice cycle.
    pub fn lower(&self, cond: &Cond, slices: &[&Cond]) -> Option<Region> {
        self.lower_depth(cond, slices, 0)
    }

    fn lower_depth(&self, cond: &Cond, slices: &[&Cond], depth: usize) -> Option<Region> {
        if depth > MAX_LOWER_DEPTH {
            return None;
        }
        Some(match cond {
            Cond::Const(true) => Region::full(),
            Cond::Const(false) => Region::empty(),
            Cond::Bool(s) => self.in_set(*s, &[1])?,
            Cond::InSet { signal, values } => self.in_set(*signal, values)?,
            Cond::Cmp { signal, op, value } => self.cmp(*signal, *op, *value)?,
            Cond::Slice(id) => self.lower_depth(slices.get(id.index())?, slices, depth + 1)?,
            Cond::Not(c) => self.complement(&self.lower_depth(c, slices, depth + 1)?),
            Cond::And(cs) => {
                let mut acc = Region::full();
                for c in cs {
                    acc = self.intersect(&acc, &self.lower_depth(c, slices, depth + 1)?);
                }
                acc
            }
            Cond::Or(cs) => {
                let mut acc = Region::empty();
                for c in cs {
                    acc = self.union(&acc, &self.lower_depth(c, slices, depth + 1)?);
                }
                acc
            }
            Cond::Unknown => return None,
        })
    }

    fn cube_intersect(&self, a: &Cube, b: &Cube) -> Option<Cube> {
        let mut dims = Vec::with_capacity(a.dims.len() + b.dims.len());
        let (mut i, mut j) = (0, 0);
        while i < a.dims.len() || j < b.dims.len() {
            match (a.dims.get(i), b.dims.get(j)) {
                (Some((da, sa)), Some((db, sb))) if da == db => {
                    let s = sa.and(sb);
                    if s.is_empty() {
                        return None;
                    }
                    dims.push((*da, s));
                    i += 1;
                    j += 1;
                }
                (Some((da, sa)), Some((db, _))) if da < db => {
                    dims.push((*da, sa.clone()));
                    i += 1;
                }
                (Some(_), Some((db, sb))) | (None, Some((db, sb))) => {
                    dims.push((*db, sb.clone()));
                    j += 1;
                }
                (Some((da, sa)), None) => {
                    dims.push((*da, sa.clone()));
                    i += 1;
                }
                (None, None) => break,
            }
        }
        Some(Cube { dims })
    }

    fn cubes_intersect(a: &Cube, b: &Cube) -> bool {
        for (d, sb) in &b.dims {
            if let Some(sa) = a.get(*d)
                && !sa.intersects(sb)
            {
                return false;
            }
        }
        true
    }

    /// `a \ b` as disjoint cubes.
    fn cube_minus(&self, a: &Cube, b: &Cube, out: &mut Vec<Cube>) {
        if !Self::cubes_intersect(a, b) {
            out.push(a.clone());
            return;
        }
        let mut rest = a.clone();
        for (d, sb) in &b.dims {
            let size = self.size(*d);
            let (outside, inside) = match rest.get(*d) {
                Some(sa) => sa.split(sb),
                None => AtomSet::full(size).split(sb),
            };
            if !outside.is_empty() {
                let mut piece = rest.clone();
                piece.set_dim(*d, outside, size);
                out.push(piece);
            }
            rest.set_dim(*d, inside, size);
        }
    }

    pub fn intersect(&self, a: &Region, b: &Region) -> Region {
        let mut cubes = Vec::new();
        for ca in &a.cubes {
            for cb in &b.cubes {
                if let Some(c) = self.cube_intersect(ca, cb) {
                    cubes.push(c);
                }
            }
        }
        self.simplify(Region { cubes })
    }

    /// A cube of `a` that no cube of `covers` touches, found depth-first
    /// (`covers` need not be disjoint). This decides `a ⊆ ∪ covers` without
    /// materialising the difference, which can fragment exponentially; the
    /// search stops early at the first witness and gives up after a budget
    /// of steps (then the caller must not conclude anything).
    pub fn witness(&self, a: &Region, covers: &[Cube]) -> Witness {
        let mut index = CoverIndex::new(self);
        for c in covers {
            index.push(c.clone());
        }
        self.witness_in(a, &index)
    }

    /// [`Space::witness`] against an index of covers, which finds the
    /// covers that meet a cube without scanning them all.
    pub fn witness_in(&self, a: &Region, index: &CoverIndex) -> Witness {
        let mut steps = 0usize;
        for cube in &a.cubes {
            let Some(relevant) = self.relevant(cube, index) else {
                continue;
            };
            if let Some(w) = self.search(cube, &relevant, &mut steps, WITNESS_BUDGET) {
                return w;
            }
        }
        Witness::Empty
    }

    /// Whether the covers cover `a`: [`Space::witness_in`]'s answer (the
    /// witness may be another one), found sooner when a cube meets many
    /// covers. Before the depth-first search over all of them, it tries
    /// the slice of the cube where one dimension takes the value fewest
    /// covers admit (a tenant no rule names, among thousands of rules that
    /// each name one): a witness there is a witness of the cube. Only when
    /// that slice is covered does the full search run, with its whole
    /// budget, so the answer is never less exact than `witness_in`'s.
    pub fn covered_in(&self, a: &Region, index: &CoverIndex) -> Witness {
        let mut steps = 0usize;
        for cube in &a.cubes {
            let Some(relevant) = self.relevant(cube, index) else {
                continue;
            };
            if relevant.len() > PROBE_COVERS
                && let Some((slice, fewer)) = self.least_covered(cube, &relevant)
            {
                let mut probe_steps = 0usize;
                if let Some(Witness::Found(w)) =
                    self.search(&slice, &fewer, &mut probe_steps, PROBE_BUDGET)
                {
                    return Witness::Found(w);
                }
            }
            if let Some(w) = self.search(cube, &relevant, &mut steps, WITNESS_BUDGET) {
                return w;
            }
        }
        Witness::Empty
    }

    /// The covers that meet `cube`, those taking most of it first; `None`
    /// when one of them contains it.
    fn relevant<'c>(&self, cube: &Cube, index: &'c CoverIndex) -> Option<Vec<&'c Cube>> {
        // Try the covers that take most of the cube first: they settle the
        // question in a few steps, while covers that only clip the cube (a
        // free enum dimension pinned to one value) are tried last.
        let mut relevant: Vec<(f64, &Cube)> = index
            .meeting(cube)
            .into_iter()
            .map(|i| &index.cubes[i])
            .map(|c| (self.overlap(cube, c), c))
            .collect();
        if relevant.iter().any(|(f, _)| *f >= 1.0) {
            return None;
        }
        relevant.sort_by(|a, b| b.0.total_cmp(&a.0));
        Some(relevant.into_iter().map(|(_, c)| c).collect())
    }

    /// Depth-first search for a piece of `cube` outside `relevant` (sorted
    /// as [`Space::relevant`] sorts them). `None`: the cube is covered;
    /// `GaveUp` once `steps` exceeds `budget`.
    fn search(
        &self,
        cube: &Cube,
        relevant: &[&Cube],
        steps: &mut usize,
        budget: usize,
    ) -> Option<Witness> {
        let mut stack: Vec<(Cube, usize)> = vec![(cube.clone(), 0)];
        while let Some((c, mut i)) = stack.pop() {
            *steps += 1;
            if *steps > budget {
                return Some(Witness::GaveUp);
            }
            while i < relevant.len() && !Self::cubes_intersect(&c, relevant[i]) {
                i += 1;
            }
            let Some(cover) = relevant.get(i) else {
                return Some(Witness::Found(c));
            };
            let mut pieces = Vec::new();
            self.cube_minus(&c, cover, &mut pieces);
            for p in pieces.into_iter().rev() {
                stack.push((p, i + 1));
            }
        }
        None
    }

    /// The slice of `cube` where one dimension takes the atom the fewest
    /// of `covers` admit, and those covers (in their order); `None` when no
    /// slice leaves out a cover.
    fn least_covered<'c>(&self, cube: &Cube, covers: &[&'c Cube]) -> Option<(Cube, Vec<&'c Cube>)> {
        let mut best: Option<(usize, DimId, usize)> = None;
        for (k, dim) in self.dims.iter().enumerate() {
            let d = DimId(k as u32);
            let n = dim.atoms.len();
            // Per atom: the covers that admit it (those not constraining
            // `d` admit every atom).
            let mut admitting = vec![0usize; n];
            let mut free = 0usize;
            for c in covers {
                match c.get(d) {
                    Some(set) => set.iter().for_each(|a| {
                        if let Some(x) = admitting.get_mut(a) {
                            *x += 1;
                        }
                    }),
                    None => free += 1,
                }
            }
            if free == covers.len() {
                continue;
            }
            let atoms: Box<dyn Iterator<Item = usize>> = match cube.get(d) {
                Some(set) => Box::new(set.iter()),
                None => Box::new(0..n),
            };
            for a in atoms {
                let count = free + admitting.get(a).copied().unwrap_or(0);
                if best.is_none_or(|(b, _, _)| count < b) {
                    best = Some((count, d, a));
                }
            }
        }
        let (count, d, a) = best?;
        if count >= covers.len() {
            return None;
        }
        let mut set = AtomSet::empty(self.size(d));
        set.insert(a);
        let mut slice = cube.clone();
        slice.set_dim(d, set, self.size(d));
        let fewer = covers
            .iter()
            .copied()
            .filter(|c| c.get(d).is_none_or(|s| s.contains(a)))
            .collect();
        Some((slice, fewer))
    }

    /// The share of the atoms of `a` that `b` also contains (1 when
    /// `b` contains `a`), counting atoms per dimension.
    pub fn overlap(&self, a: &Cube, b: &Cube) -> f64 {
        let mut f = 1.0;
        // Both lists are sorted by dimension: walk `a` alongside `b`.
        let mut ai = 0;
        for (d, sb) in &b.dims {
            while a.dims.get(ai).is_some_and(|(k, _)| k < d) {
                ai += 1;
            }
            let sa = a.dims.get(ai).filter(|(k, _)| k == d).map(|(_, s)| s);
            let (inside, total) = match sa {
                Some(sa) => (sa.and_count(sb), sa.len()),
                None => (sb.len(), self.size(*d)),
            };
            if total > 0 {
                f *= inside as f64 / total as f64;
            }
        }
        f
    }

    pub fn subtract(&self, a: &Region, b: &Region) -> Region {
        let mut cur = a.cubes.clone();
        for cb in &b.cubes {
            if cur.is_empty() {
                break;
            }
            let mut next = Vec::with_capacity(cur.len());
            for ca in &cur {
                self.cube_minus(ca, cb, &mut next);
            }
            cur = next;
        }
        self.simplify(Region { cubes: cur })
    }

    pub fn union(&self, a: &Region, b: &Region) -> Region {
        let extra = self.subtract(b, a);
        let mut cubes = a.cubes.clone();
        cubes.extend(extra.cubes);
        self.simplify(Region { cubes })
    }

    /// `a ∪ b` when the caller knows they are disjoint.
    pub fn union_disjoint(&self, a: &Region, b: &Region) -> Region {
        let mut cubes = a.cubes.clone();
        cubes.extend(b.cubes.iter().cloned());
        self.simplify(Region { cubes })
    }

    pub fn complement(&self, a: &Region) -> Region {
        self.subtract(&Region::full(), a)
    }

    pub fn is_full(&self, a: &Region) -> bool {
        // One cube is the whole space iff every set it lists is full; no
        // need to build its complement.
        if let [cube] = a.cubes.as_slice() {
            return cube.dims.iter().all(|(d, s)| s.contains_all(self.size(*d)));
        }
        self.complement(a).is_empty()
    }

    pub fn is_subset(&self, a: &Region, b: &Region) -> bool {
        self.subtract(a, b).is_empty()
    }

    /// Merges cubes that differ in one dimension only, keeping lists short.
    /// Cubes are disjoint, so two cubes equal outside `d` have disjoint sets
    /// on `d` and their union is one cube.
    fn simplify(&self, mut r: Region) -> Region {
        if r.cubes.len() < 2 {
            return r;
        }
        loop {
            if r.cubes.iter().any(|c| c.dims.is_empty()) {
                return Region::full();
            }
            let mut dims: Vec<DimId> = r
                .cubes
                .iter()
                .flat_map(|c| c.dims.iter().map(|x| x.0))
                .collect();
            dims.sort_unstable();
            dims.dedup();
            let mut changed = false;
            for d in dims {
                let mut seen: FastMap<Vec<(DimId, AtomSet)>, usize> = FastMap::default();
                let mut keep: Vec<Cube> = Vec::with_capacity(r.cubes.len());
                for cube in r.cubes.drain(..) {
                    let Some(pos) = cube.dims.iter().position(|x| x.0 == d) else {
                        keep.push(cube);
                        continue;
                    };
                    let mut rest = cube.dims.clone();
                    let (_, set) = rest.remove(pos);
                    match seen.get(&rest) {
                        Some(&i) => {
                            let merged = keep[i].get(d).map(|s| s.or(&set));
                            match merged {
                                Some(m) => {
                                    keep[i].set_dim(d, m, self.size(d));
                                    changed = true;
                                }
                                None => keep.push(cube),
                            }
                        }
                        None => {
                            seen.insert(rest, keep.len());
                            keep.push(cube);
                        }
                    }
                }
                r.cubes = keep;
            }
            if !changed {
                return r;
            }
        }
    }

    /// A concrete request in the region: for every dimension the first cube
    /// constrains, the lowest value of its first atom. `None` if empty.
    pub fn example(&self, r: &Region) -> Option<Example> {
        let cube = r.cubes.first()?;
        Some(self.cube_example(cube))
    }

    pub fn cube_region(cube: Cube) -> Region {
        Region { cubes: vec![cube] }
    }

    pub fn cube_example(&self, cube: &Cube) -> Example {
        let mut out = Vec::new();
        for (d, set) in &cube.dims {
            let dim = self.dim(*d);
            let Some(a) = set.first().and_then(|i| dim.atoms.get(i)) else {
                continue;
            };
            let v = match (&dim.ty, a) {
                (SignalType::Bool, Atom::Value(v)) => Value::Bool(*v == 1),
                (SignalType::Enum(_), Atom::Value(v)) => Value::Enum(*v),
                (_, a) => Value::Number(a.representative()),
            };
            out.push((dim.signal, v));
        }
        out
    }

    /// The least upper bound of `signal` over the region (`None` when
    /// unbounded or the region is empty); `Some(f64::NAN)` never occurs.
    pub fn sup(&self, r: &Region, signal: SignalId) -> Option<Option<f64>> {
        if r.is_empty() {
            return None;
        }
        let Some(d) = self.dim_of(signal) else {
            return Some(None);
        };
        let dim = self.dim(d);
        let mut best: Option<f64> = Some(f64::NEG_INFINITY);
        for c in &r.cubes {
            let last = match c.get(d) {
                Some(s) => s.last(),
                None => dim.atoms.len().checked_sub(1),
            };
            let sup = last.and_then(|i| dim.atoms.get(i)).and_then(|a| a.sup());
            best = match (best, sup) {
                (Some(b), Some(s)) => Some(b.max(s)),
                _ => None,
            };
        }
        Some(best)
    }

    /// The values of a finite dimension that the region admits.
    pub fn values(&self, r: &Region, signal: SignalId) -> Vec<usize> {
        let Some(d) = self.dim_of(signal) else {
            return Vec::new();
        };
        let n = self.size(d);
        let mut acc = AtomSet::empty(n);
        for c in &r.cubes {
            match c.get(d) {
                Some(s) => acc = acc.or(s),
                None => return (0..n).collect(),
            }
        }
        acc.iter().collect()
    }
}

/// A growing list of cubes with, per dimension and atom, the bitset of
/// cubes that admit the atom, so that the cubes meeting a query cube are
/// found with a few word operations per query atom instead of a scan.
#[derive(Clone, Debug)]
pub struct CoverIndex {
    pub cubes: Vec<Cube>,
    /// `admits[d][a]`: cubes that constrain `d` and contain atom `a`.
    admits: Vec<Vec<Vec<u64>>>,
    /// `constrains[d]`: cubes that constrain `d`.
    constrains: Vec<Vec<u64>>,
}

fn set_bit(words: &mut Vec<u64>, i: usize) {
    if words.len() <= i / 64 {
        words.resize(i / 64 + 1, 0);
    }
    words[i / 64] |= 1 << (i % 64);
}

fn clear_bit(words: &mut [u64], i: usize) {
    if let Some(w) = words.get_mut(i / 64) {
        *w &= !(1 << (i % 64));
    }
}

impl CoverIndex {
    pub fn new(space: &Space) -> CoverIndex {
        CoverIndex {
            cubes: Vec::new(),
            admits: space
                .dims
                .iter()
                .map(|d| vec![Vec::new(); d.atoms.len()])
                .collect(),
            constrains: vec![Vec::new(); space.dims.len()],
        }
    }

    pub fn push(&mut self, cube: Cube) {
        let i = self.cubes.len();
        for (d, set) in &cube.dims {
            let d = d.0 as usize;
            if let Some(c) = self.constrains.get_mut(d) {
                set_bit(c, i);
            }
            for a in set.iter() {
                if let Some(words) = self.admits.get_mut(d).and_then(|x| x.get_mut(a)) {
                    set_bit(words, i);
                }
            }
        }
        self.cubes.push(cube);
    }

    /// Removes the cubes pushed after the first `len`, as if they had
    /// never been pushed (so callers can extend the index for one query
    /// instead of cloning it).
    pub fn truncate(&mut self, len: usize) {
        while self.cubes.len() > len {
            let i = self.cubes.len() - 1;
            if let Some(cube) = self.cubes.pop() {
                for (d, set) in &cube.dims {
                    let d = d.0 as usize;
                    if let Some(c) = self.constrains.get_mut(d) {
                        clear_bit(c, i);
                    }
                    for a in set.iter() {
                        if let Some(words) = self.admits.get_mut(d).and_then(|x| x.get_mut(a)) {
                            clear_bit(words, i);
                        }
                    }
                }
            }
        }
    }

    /// Indices of the cubes that meet `q`, in insertion order.
    pub fn meeting(&self, q: &Cube) -> Vec<usize> {
        meeting_bits(self.cubes.len(), &self.constrains, &self.admits, q).collect()
    }
}

/// The indices below `n` of the cubes that meet `q`, in order, from the
/// bitsets of a cover index: per dimension, the cubes that constrain it
/// (`constrains[d]`) and, per atom, the cubes that admit it
/// (`admits[d][atom]`). A cube meets `q` when, on every dimension `q`
/// constrains, it leaves the dimension free or admits one of `q`'s atoms.
fn meeting_bits(
    n: usize,
    constrains: &[Vec<u64>],
    admits: &[Vec<Vec<u64>>],
    q: &Cube,
) -> impl Iterator<Item = usize> + use<> {
    let words = n.div_ceil(64);
    let mut ok = vec![u64::MAX; words];
    if let Some(last) = ok.last_mut()
        && !n.is_multiple_of(64)
    {
        *last = (1u64 << (n % 64)) - 1;
    }
    for (d, set) in &q.dims {
        let d = d.0 as usize;
        let Some(cons) = constrains.get(d) else {
            continue;
        };
        // Cubes that constrain `d` and admit one of the query's atoms.
        let mut admitted = vec![0u64; words];
        for a in set.iter() {
            if let Some(ws) = admits.get(d).and_then(|x| x.get(a)) {
                for (x, w) in admitted.iter_mut().zip(ws) {
                    *x |= w;
                }
            }
        }
        for (k, x) in ok.iter_mut().enumerate() {
            let c = cons.get(k).copied().unwrap_or(0);
            *x &= !c | admitted[k];
        }
    }
    ok.into_iter().enumerate().flat_map(|(k, mut w)| {
        std::iter::from_fn(move || {
            (w != 0).then(|| {
                let i = k * 64 + w.trailing_zeros() as usize;
                w &= w - 1;
                i
            })
        })
    })
}

/// The union of a sequence of regions, kept as the very list of cubes that
/// repeated [`Space::union`] builds (the same cubes in the same order), so
/// that [`Union::subtract_from`] gives exactly what [`Space::subtract`]
/// gives against it, at a cost that grows with the cubes a region meets
/// rather than with the whole union. The cell partition takes each rule's
/// region out of the earlier rules' union this way.
///
/// `Space::union(a, b)` is `simplify(a ++ (b \ a))`: passes over the
/// dimensions in order, each merging the cubes that agree on every other
/// dimension into the first of them, repeated until a whole round merges
/// nothing. `a` came out of the same process, so in the first pass over a
/// dimension no two of its cubes merge; only new cubes and cubes that
/// changed since can. The union keeps, per dimension, its cubes by their
/// other dimensions, and revisits only the changed ones, in list order, as
/// the passes would.
///
/// Architecture Invariant: `union.add(r)` leaves `union.region()` equal
/// (cube for cube) to `space.union(&before, &r)`; a property test checks it
/// against `Space::union` and `Space::subtract` on random sequences.
#[derive(Clone, Debug)]
pub struct Union {
    /// By position in the list; `None` once merged into an earlier cube.
    cubes: Vec<Option<Cube>>,
    /// The union is the whole space.
    full: bool,
    /// Per dimension: the cubes that constrain it, by their other
    /// dimensions. An entry whose cube has since changed is stale; entries
    /// are checked when found.
    rests: Vec<FastMap<Vec<(DimId, AtomSet)>, usize>>,
    /// Per dimension: positions of cubes that constrain it and whose other
    /// dimensions changed (or that are new) since they were last entered.
    dirty: Vec<BTreeSet<usize>>,
    /// Per dimension and atom: positions of the cubes that constrain the
    /// dimension and contain the atom (merged-away cubes included).
    admits: Vec<Vec<Vec<u64>>>,
    /// Per dimension: positions of the cubes that constrain it.
    constrains: Vec<Vec<u64>>,
}

fn rest_without(cube: &Cube, d: DimId) -> Vec<(DimId, AtomSet)> {
    cube.dims.iter().filter(|(k, _)| *k != d).cloned().collect()
}

impl Union {
    /// The empty union over the dimensions of `space`.
    pub fn new(space: &Space) -> Union {
        let n = space.dims.len();
        Union {
            cubes: Vec::new(),
            full: false,
            rests: (0..n).map(|_| FastMap::default()).collect(),
            dirty: vec![BTreeSet::new(); n],
            admits: space
                .dims
                .iter()
                .map(|d| vec![Vec::new(); d.atoms.len()])
                .collect(),
            constrains: vec![Vec::new(); n],
        }
    }

    /// The union as a region.
    pub fn region(&self) -> Region {
        if self.full {
            return Region::full();
        }
        Region {
            cubes: self.cubes.iter().flatten().cloned().collect(),
        }
    }

    /// The cubes of the union that meet `q`, in list order.
    fn meeting(&self, q: &Cube) -> Vec<usize> {
        meeting_bits(self.cubes.len(), &self.constrains, &self.admits, q)
            .filter(|&i| self.cubes.get(i).is_some_and(Option::is_some))
            .collect()
    }

    /// `space.subtract(a, &self.region())`, subtracting only the cubes
    /// that meet `a` (the others leave every piece of `a` as it is).
    pub fn subtract_from(&self, space: &Space, a: &Region) -> Region {
        if self.full {
            return Region::empty();
        }
        let mut positions: Vec<usize> = a.cubes.iter().flat_map(|c| self.meeting(c)).collect();
        positions.sort_unstable();
        positions.dedup();
        let cubes = positions
            .iter()
            .filter_map(|&i| self.cubes[i].clone())
            .collect();
        space.subtract(a, &Region { cubes })
    }

    /// Makes the union `space.union(&self.region(), r)`.
    pub fn add(&mut self, space: &Space, r: &Region) {
        if self.full {
            return;
        }
        let extra = self.subtract_from(space, r);
        self.append(space, extra);
    }

    /// What a rule takes of the request space when the union holds the
    /// earlier rules: `a` less the union (as [`Union::subtract_from`]), which
    /// is then added to the union (as [`Union::add`] would, without
    /// subtracting it a second time: it is disjoint from the union and
    /// already simplified).
    pub fn take(&mut self, space: &Space, a: &Region) -> Region {
        let region = self.subtract_from(space, a);
        if !self.full {
            self.append(space, region.clone());
        }
        region
    }

    /// Appends `extra` (disjoint from the union, as `Space::subtract`
    /// returns it) and merges as `Space::union` does.
    fn append(&mut self, space: &Space, extra: Region) {
        if extra.cubes.iter().any(|c| c.dims.is_empty()) {
            // `r` is the whole space and the union was empty.
            self.full = true;
            return;
        }
        for cube in extra.cubes {
            let i = self.cubes.len();
            for (d, set) in &cube.dims {
                let k = d.0 as usize;
                self.dirty[k].insert(i);
                set_bit(&mut self.constrains[k], i);
                for a in set.iter() {
                    if let Some(words) = self.admits[k].get_mut(a) {
                        set_bit(words, i);
                    }
                }
            }
            self.cubes.push(Some(cube));
        }
        // With fewer than two cubes `Space::union` does not simplify (and
        // there is nothing to merge).
        if self.cubes.iter().flatten().nth(1).is_some() {
            self.settle(space);
        }
    }

    /// Whether position `y` is a live cube constraining `d` whose other
    /// dimensions are `rest`.
    fn is_entry(&self, y: usize, d: DimId, rest: &[(DimId, AtomSet)]) -> bool {
        self.cubes[y].as_ref().is_some_and(|c| {
            c.get(d).is_some()
                && c.dims.len() == rest.len() + 1
                && c.dims
                    .iter()
                    .filter(|(k, _)| *k != d)
                    .zip(rest)
                    .all(|(a, b)| a == b)
        })
    }

    /// The merge passes of [`Space::simplify`] over the changed cubes.
    fn settle(&mut self, space: &Space) {
        loop {
            let mut changed = false;
            for k in 0..self.dirty.len() {
                let d = DimId(k as u32);
                let size = space.size(d);
                let todo = std::mem::take(&mut self.dirty[k]);
                for x in todo {
                    let Some(rest) = self.cubes[x]
                        .as_ref()
                        .filter(|c| c.get(d).is_some())
                        .map(|c| rest_without(c, d))
                    else {
                        continue;
                    };
                    let other = self.rests[k]
                        .get(&rest)
                        .copied()
                        .filter(|&y| y != x && self.is_entry(y, d, &rest));
                    let Some(y) = other else {
                        self.rests[k].insert(rest, x);
                        continue;
                    };
                    // The first of the two in the list takes the other.
                    let (keep, gone) = (x.min(y), x.max(y));
                    let Some(gone_set) = self.cubes[gone].take().and_then(|c| c.get(d).cloned())
                    else {
                        continue;
                    };
                    let Some(cube) = self.cubes[keep].as_mut() else {
                        continue;
                    };
                    let Some(merged) = cube.get(d).map(|s| s.or(&gone_set)) else {
                        continue;
                    };
                    cube.set_dim(d, merged, size);
                    changed = true;
                    if cube.dims.is_empty() {
                        self.full = true;
                        return;
                    }
                    if cube.get(d).is_some() {
                        for a in gone_set.iter() {
                            if let Some(words) = self.admits[k].get_mut(a) {
                                set_bit(words, keep);
                            }
                        }
                        self.rests[k].insert(rest, keep);
                    } else {
                        clear_bit(&mut self.constrains[k], keep);
                    }
                    for (e, _) in &cube.dims {
                        if *e != d {
                            self.dirty[e.0 as usize].insert(keep);
                        }
                    }
                }
            }
            if !changed {
                return;
            }
        }
    }
}

fn add_plan_dims(b: &mut SpaceBuilder, plan: &crate::ir::PlanDef, types: &[SignalType]) {
    match plan {
        crate::ir::PlanDef::Optimize { candidates, by } => {
            for dim in by {
                if let Some(ty) = types.get(dim.signal.index()) {
                    b.dim(dim.signal, ty);
                    for t in &dim.thresholds {
                        b.cut(dim.signal, ty, CmpOp::Ge, *t);
                    }
                }
            }
            for c in candidates {
                add_plan_dims(b, c, types);
            }
        }
        crate::ir::PlanDef::Chain(ps) => ps.iter().for_each(|p| add_plan_dims(b, p, types)),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
