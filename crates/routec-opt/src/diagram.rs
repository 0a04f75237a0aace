//! Reduction of the partition to a decision diagram: dimensions in a fixed
//! order, a test only where the leaves below differ, identical subtrees
//! shared (hash-consed), numeric dimensions as balanced binary searches
//! over their cut points, so `decide` stays logarithmic in the number of
//! intervals.
//!
//! The recursion splits the pieces by the atoms of one dimension at a time;
//! a piece that does not constrain the dimension goes to every atom's
//! bucket. Cubes are interned (each distinct cube, and each cube less one
//! dimension, is built and hashed once), so a bucket is a list of ids and
//! copying a piece into thousands of buckets (an enum of tenants) costs a
//! few bytes each.

use std::collections::HashMap;

use routec_check::ir::SignalType;
use routec_check::space::{Atom, Cube, DimId, Space};
use routec_table::{Node, NodeRef, Test};

/// The maps here have keys built by the compiler (no untrusted input): a
/// fast fixed-seed hash.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Builds the diagram of `pieces` (disjoint cubes covering the space, each
/// with a leaf) over `order`. Returns the root and the nodes (children
/// always before parents).
pub fn build(space: &Space, order: &[DimId], pieces: Vec<(Cube, u32)>) -> (NodeRef, Vec<Node>) {
    let mut b = Builder {
        space,
        order,
        nodes: Vec::new(),
        cons: FastMap::default(),
        memo: FastMap::default(),
        cubes: Vec::new(),
        ids: FastMap::default(),
        rests: FastMap::default(),
    };
    let pieces = pieces
        .into_iter()
        .map(|(cube, leaf)| (b.intern(cube), leaf))
        .collect();
    let root = b.go(pieces, 0);
    (root, b.nodes)
}

/// A piece: an interned cube and its leaf.
type Piece = (u32, u32);

struct Builder<'a> {
    space: &'a Space,
    order: &'a [DimId],
    nodes: Vec<Node>,
    cons: FastMap<(u32, TestKey), u32>,
    /// Equal lists of pieces at the same level give the same node.
    memo: FastMap<(usize, Vec<Piece>), NodeRef>,
    /// Interned cubes: equal cubes have equal ids.
    cubes: Vec<Cube>,
    ids: FastMap<Cube, u32>,
    /// `(cube, dimension)` to the cube less that dimension.
    rests: FastMap<(u32, DimId), u32>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum TestKey {
    Enum(Vec<NodeRef>),
    Bool(NodeRef, NodeRef),
    Threshold(u64, NodeRef, NodeRef),
}

impl Builder<'_> {
    fn intern(&mut self, cube: Cube) -> u32 {
        match self.ids.entry(cube) {
            std::collections::hash_map::Entry::Occupied(e) => *e.get(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let id = self.cubes.len() as u32;
                self.cubes.push(e.key().clone());
                e.insert(id);
                id
            }
        }
    }

    /// The interned cube `id` less dimension `d` (which it constrains).
    fn rest(&mut self, id: u32, d: DimId) -> u32 {
        if let Some(&r) = self.rests.get(&(id, d)) {
            return r;
        }
        let mut rest = self.cubes[id as usize].clone();
        if let Ok(i) = rest.dims.binary_search_by_key(&d, |(k, _)| *k) {
            rest.dims.remove(i);
        }
        let r = self.intern(rest);
        self.rests.insert((id, d), r);
        r
    }

    fn go(&mut self, pieces: Vec<Piece>, level: usize) -> NodeRef {
        let Some(first) = pieces.first().map(|p| p.1) else {
            return NodeRef::Leaf(0);
        };
        if pieces.iter().all(|p| p.1 == first) {
            return NodeRef::Leaf(first);
        }
        let key = (level, pieces);
        if let Some(r) = self.memo.get(&key) {
            return *r;
        }
        let (level, pieces) = key;
        // The next dimension some piece constrains.
        let mut lv = level;
        while lv < self.order.len() {
            let d = self.order[lv];
            if pieces
                .iter()
                .any(|p| self.cubes[p.0 as usize].get(d).is_some())
            {
                break;
            }
            lv += 1;
        }
        if lv >= self.order.len() {
            // Cannot happen for a partition; take the first piece.
            return NodeRef::Leaf(first);
        }
        let d = self.order[lv];
        let n = self.space.dim(d).atoms.len();
        let mut buckets: Vec<Vec<Piece>> = vec![Vec::new(); n];
        for &(id, leaf) in &pieces {
            match self.cubes[id as usize].get(d).cloned() {
                Some(set) => {
                    let rest = self.rest(id, d);
                    for a in set.iter() {
                        if let Some(b) = buckets.get_mut(a) {
                            b.push((rest, leaf));
                        }
                    }
                }
                None => {
                    for b in buckets.iter_mut() {
                        b.push((id, leaf));
                    }
                }
            }
        }
        let mut children: Vec<NodeRef> = Vec::with_capacity(n);
        let mut prev: Option<(Vec<Piece>, NodeRef)> = None;
        for bucket in buckets {
            if let Some((pb, pr)) = &prev
                && *pb == bucket
            {
                children.push(*pr);
                continue;
            }
            let r = self.go(bucket.clone(), lv + 1);
            children.push(r);
            prev = Some((bucket, r));
        }
        let r = self.test(d, &children);
        self.memo.insert((level, pieces), r);
        r
    }

    fn test(&mut self, d: DimId, children: &[NodeRef]) -> NodeRef {
        if children.iter().all(|c| *c == children[0]) {
            return children[0];
        }
        let dim = self.space.dim(d);
        let signal = dim.signal.0;
        match &dim.ty {
            SignalType::Enum(_) => self.node(signal, TestKey::Enum(children.to_vec())),
            SignalType::Bool => {
                let f = children.first().copied().unwrap_or(NodeRef::Leaf(0));
                let t = children.get(1).copied().unwrap_or(f);
                self.node(signal, TestKey::Bool(f, t))
            }
            _ => {
                // Segments of equal children with the cut before each.
                let mut segs: Vec<(f64, NodeRef)> = Vec::new();
                for (i, c) in children.iter().enumerate() {
                    if i == 0 {
                        segs.push((f64::NEG_INFINITY, *c));
                        continue;
                    }
                    if segs.last().is_some_and(|s| s.1 == *c) {
                        continue;
                    }
                    segs.push((cut_before(&dim.atoms, i), *c));
                }
                self.bst(signal, &segs)
            }
        }
    }

    fn bst(&mut self, signal: u32, segs: &[(f64, NodeRef)]) -> NodeRef {
        if segs.len() == 1 {
            return segs[0].1;
        }
        let mid = segs.len() / 2;
        let below = self.bst(signal, &segs[..mid]);
        let above = self.bst(signal, &segs[mid..]);
        if below == above {
            return below;
        }
        self.node(
            signal,
            TestKey::Threshold(segs[mid].0.to_bits(), below, above),
        )
    }

    fn node(&mut self, signal: u32, key: TestKey) -> NodeRef {
        if let Some(&i) = self.cons.get(&(signal, key.clone())) {
            return NodeRef::Node(i);
        }
        let test = match &key {
            TestKey::Enum(b) => Test::Enum {
                branches: b.clone(),
            },
            TestKey::Bool(f, t) => Test::Bool {
                if_false: *f,
                if_true: *t,
            },
            TestKey::Threshold(cut, b, a) => Test::Threshold {
                cut: f64::from_bits(*cut),
                below: *b,
                at_or_above: *a,
            },
        };
        let i = self.nodes.len() as u32;
        self.nodes.push(Node { signal, test });
        self.cons.insert((signal, key), i);
        NodeRef::Node(i)
    }
}

/// The cut separating atom `i − 1` from atom `i`: requests with a value
/// below it belong to atoms before `i`.
fn cut_before(atoms: &[Atom], i: usize) -> f64 {
    match (&atoms[i - 1], &atoms[i]) {
        (_, Atom::Int { lo, .. }) => *lo as f64,
        // `(a, p)` then `{p}`: `x < p`.
        (_, Atom::Point(p)) => *p,
        // `{p}` then `(p, b)`: `x <= p`, i.e. `x < next_up(p)`.
        (Atom::Point(p), Atom::Open { .. }) => p.next_up(),
        (_, Atom::Open { lo, .. }) => lo.map_or(f64::NEG_INFINITY, f64::next_up),
        (_, Atom::Value(v)) => *v as f64,
    }
}
