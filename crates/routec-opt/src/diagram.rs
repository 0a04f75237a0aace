//! Reduction of the partition to a decision diagram: dimensions in a fixed
//! order, a test only where the leaves below differ, identical subtrees
//! shared (hash-consed), numeric dimensions as balanced binary searches
//! over their cut points, so `decide` stays logarithmic in the number of
//! intervals.

use std::collections::HashMap;

use routec_check::ir::SignalType;
use routec_check::space::{Atom, Cube, DimId, Space};
use routec_table::{Node, NodeRef, Test};

/// Builds the diagram of `pieces` (disjoint cubes covering the space, each
/// with a leaf) over `order`. Returns the root and the nodes (children
/// always before parents).
pub fn build(space: &Space, order: &[DimId], pieces: Vec<(Cube, u32)>) -> (NodeRef, Vec<Node>) {
    let mut b = Builder {
        space,
        order,
        nodes: Vec::new(),
        cons: HashMap::new(),
        memo: HashMap::new(),
    };
    let root = b.go(pieces, 0);
    (root, b.nodes)
}

struct Builder<'a> {
    space: &'a Space,
    order: &'a [DimId],
    nodes: Vec<Node>,
    cons: HashMap<(u32, TestKey), u32>,
    memo: HashMap<(usize, Vec<(Cube, u32)>), NodeRef>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum TestKey {
    Enum(Vec<NodeRef>),
    Bool(NodeRef, NodeRef),
    Threshold(u64, NodeRef, NodeRef),
}

impl Builder<'_> {
    fn go(&mut self, pieces: Vec<(Cube, u32)>, level: usize) -> NodeRef {
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
            if pieces.iter().any(|p| p.0.get(d).is_some()) {
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
        let mut buckets: Vec<Vec<(Cube, u32)>> = vec![Vec::new(); n];
        for (cube, leaf) in &pieces {
            let mut rest = cube.clone();
            match rest.dims.binary_search_by_key(&d, |(k, _)| *k) {
                Ok(i) => {
                    let (_, set) = rest.dims.remove(i);
                    for a in set.iter() {
                        if let Some(b) = buckets.get_mut(a) {
                            b.push((rest.clone(), *leaf));
                        }
                    }
                }
                Err(_) => {
                    for b in buckets.iter_mut() {
                        b.push((rest.clone(), *leaf));
                    }
                }
            }
        }
        let mut children: Vec<NodeRef> = Vec::with_capacity(n);
        let mut prev: Option<(Vec<(Cube, u32)>, NodeRef)> = None;
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
