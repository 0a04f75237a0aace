use proptest::prelude::*;

use super::*;

const TASK: SignalId = SignalId(0);
const TOKENS: SignalId = SignalId(1);
const DIFFICULTY: SignalId = SignalId(2);
const IMAGES: SignalId = SignalId(3);
const LATENCY: SignalId = SignalId(4);

fn types() -> Vec<SignalType> {
    vec![
        SignalType::Enum(vec![
            "chat".into(),
            "code".into(),
            "factual".into(),
            "reasoning".into(),
        ]),
        SignalType::Tokens,
        SignalType::Ratio,
        SignalType::Bool,
        SignalType::Duration,
    ]
}

fn cmp(signal: SignalId, op: CmpOp, value: f64) -> Cond {
    Cond::Cmp { signal, op, value }
}

fn space_for(conds: &[&Cond]) -> Space {
    let types = types();
    let mut b = SpaceBuilder::new();
    for (i, ty) in types.iter().enumerate() {
        b.dim(SignalId(i as u32), ty);
    }
    for c in conds {
        b.add_cond(c, &types, &[]);
    }
    b.build()
}

/// Evaluates a condition at a point directly, the slow obvious way.
fn eval(cond: &Cond, point: &[f64]) -> bool {
    match cond {
        Cond::Const(b) => *b,
        Cond::Bool(s) => point[s.index()] == 1.0,
        Cond::InSet { signal, values } => values.contains(&(point[signal.index()] as usize)),
        Cond::Cmp { signal, op, value } => {
            let x = point[signal.index()];
            match op {
                CmpOp::Eq => x == *value,
                CmpOp::Ne => x != *value,
                CmpOp::Lt => x < *value,
                CmpOp::Le => x <= *value,
                CmpOp::Gt => x > *value,
                CmpOp::Ge => x >= *value,
            }
        }
        Cond::Not(c) => !eval(c, point),
        Cond::And(cs) => cs.iter().all(|c| eval(c, point)),
        Cond::Or(cs) => cs.iter().any(|c| eval(c, point)),
        Cond::Slice(_) | Cond::Unknown => false,
    }
}

/// Whether a point (a value per signal) lies in the region.
fn contains(space: &Space, r: &Region, point: &[f64]) -> bool {
    r.cubes.iter().any(|c| {
        c.dims.iter().all(|(d, set)| {
            let dim = space.dim(*d);
            let x = point[dim.signal.index()];
            let atom = dim.atoms.iter().position(|a| match *a {
                Atom::Value(v) => v as f64 == x,
                Atom::Int { lo, hi } => {
                    (lo == i64::MIN || x >= lo as f64) && hi.is_none_or(|h| x < h as f64)
                }
                Atom::Point(p) => p == x,
                Atom::Open { lo, hi } => lo.is_none_or(|l| x > l) && hi.is_none_or(|h| x < h),
            });
            atom.is_some_and(|i| set.contains(i))
        })
    })
}

fn count_in(space: &Space, r: &Region, points: &[Vec<f64>]) -> usize {
    points.iter().filter(|p| contains(space, r, p)).count()
}

/// Sample points: every atom's representative and its neighbours, per dimension.
fn sample_points(space: &Space) -> Vec<Vec<f64>> {
    let mut per_dim: Vec<Vec<f64>> = vec![Vec::new(); 5];
    for dim in &space.dims {
        let vals = &mut per_dim[dim.signal.index()];
        for a in &dim.atoms {
            let x = a.representative();
            vals.push(x);
            if dim.ty.is_numeric() {
                for y in [x - 1.0, x + 1.0, x - 0.001, x + 0.001] {
                    let (lo, hi) = dim.ty.domain();
                    if lo.is_none_or(|l| y >= l) && hi.is_none_or(|h| y <= h) {
                        vals.push(if dim.ty.is_integer() { y.round() } else { y });
                    }
                }
            }
        }
        vals.sort_by(f64::total_cmp);
        vals.dedup();
    }
    // A deterministic pseudo-random selection of combinations: the full
    // product is too large for a property test.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut points = Vec::new();
    for _ in 0..1500 {
        let mut p = Vec::new();
        for vals in &per_dim {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let v = if vals.is_empty() {
                0.0
            } else {
                vals[(seed >> 33) as usize % vals.len()]
            };
            p.push(v);
        }
        points.push(p);
    }
    points
}

#[test]
fn integer_thresholds_are_normalised() {
    let a = cmp(TOKENS, CmpOp::Gt, 100.5);
    let b = cmp(TOKENS, CmpOp::Ge, 101.0);
    let space = space_for(&[&a, &b]);
    let ra = space.lower(&a, &[]).unwrap();
    let rb = space.lower(&b, &[]).unwrap();
    assert_eq!(ra, rb);
    let ex = space.example(&ra).unwrap();
    assert_eq!(ex, vec![(TOKENS, Value::Number(101.0))]);
    // A fractional equality on an integer dimension is never true.
    let c = cmp(TOKENS, CmpOp::Eq, 2.5);
    let space = space_for(&[&c]);
    assert!(space.lower(&c, &[]).unwrap().is_empty());
    let d = cmp(TOKENS, CmpOp::Ne, 2.5);
    assert!(space.is_full(&space.lower(&d, &[]).unwrap()));
}

#[test]
fn domains_bound_the_atoms() {
    let never = cmp(TOKENS, CmpOp::Lt, 0.0);
    let always = cmp(DIFFICULTY, CmpOp::Le, 1.0);
    let space = space_for(&[&never, &always]);
    assert!(space.lower(&never, &[]).unwrap().is_empty());
    assert!(space.is_full(&space.lower(&always, &[]).unwrap()));
    let above = cmp(DIFFICULTY, CmpOp::Gt, 1.0);
    let space = space_for(&[&above]);
    assert!(space.lower(&above, &[]).unwrap().is_empty());
}

#[test]
fn enum_tests_covering_every_value_are_always_true() {
    let c = Cond::And(vec![
        Cond::InSet {
            signal: TASK,
            values: vec![0, 1, 3],
        },
        Cond::Not(Box::new(Cond::InSet {
            signal: TASK,
            values: vec![0, 1, 3],
        })),
    ]);
    let space = space_for(&[&c]);
    assert!(space.lower(&c, &[]).unwrap().is_empty());
    let all = Cond::Or(vec![
        Cond::InSet {
            signal: TASK,
            values: vec![0, 1],
        },
        Cond::InSet {
            signal: TASK,
            values: vec![2, 3],
        },
    ]);
    assert!(space.is_full(&space.lower(&all, &[]).unwrap()));
}

#[test]
fn rule_coverage_and_shadowing() {
    // The rules of support.route, without the slices.
    let rules = [
        Cond::Bool(IMAGES),
        cmp(TOKENS, CmpOp::Gt, 100_000.0),
        Cond::And(vec![
            Cond::InSet {
                signal: TASK,
                values: vec![2],
            },
            cmp(DIFFICULTY, CmpOp::Lt, 0.3),
        ]),
    ];
    let refs: Vec<&Cond> = rules.iter().collect();
    let space = space_for(&refs);
    let mut covered = Region::empty();
    for r in &rules {
        let region = space.lower(r, &[]).unwrap();
        let eff = space.subtract(&region, &covered);
        assert!(!eff.is_empty());
        covered = space.union_disjoint(&covered, &eff);
    }
    let rest = space.complement(&covered);
    assert!(!rest.is_empty());
    let ex = space.example(&rest).unwrap();
    // The example satisfies no rule.
    let mut point = vec![0.0; 5];
    for (s, v) in &ex {
        point[s.index()] = match v {
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Enum(i) => *i as f64,
            Value::Number(x) => *x,
        };
    }
    assert!(rules.iter().all(|r| !eval(r, &point)), "{ex:?}");
    // A rule inside the union of earlier ones is shadowed.
    let late = Cond::And(vec![Cond::Bool(IMAGES), cmp(TOKENS, CmpOp::Ge, 5.0)]);
    let region = space.lower(&late, &[]).unwrap();
    assert!(space.subtract(&region, &covered).is_empty());
}

#[test]
fn sup_and_values() {
    let a = cmp(TOKENS, CmpOp::Le, 8000.0);
    let b = Cond::InSet {
        signal: TASK,
        values: vec![1, 2],
    };
    let space = space_for(&[&a, &b]);
    let r = space
        .lower(&Cond::And(vec![a.clone(), b.clone()]), &[])
        .unwrap();
    assert_eq!(space.sup(&r, TOKENS), Some(Some(8000.0)));
    assert_eq!(space.values(&r, TASK), vec![1, 2]);
    assert_eq!(space.sup(&Region::full(), TOKENS), Some(None));
    assert_eq!(space.sup(&Region::empty(), TOKENS), None);
}

#[test]
fn atom_sets_beyond_one_word() {
    let mut s = AtomSet::empty(200);
    s.insert(3);
    s.insert(130);
    assert_eq!(s.iter().collect::<Vec<_>>(), vec![3, 130]);
    assert_eq!(s.last(), Some(130));
    let full = AtomSet::full(200);
    assert_eq!(full.len(), 200);
    assert_eq!(full.and_not(&s).len(), 198);
    assert!(s.is_subset(&full));
}

#[test]
fn many_thresholds_stay_fast_and_exact() {
    let conds: Vec<Cond> = (0..300)
        .map(|i| {
            Cond::And(vec![
                Cond::InSet {
                    signal: TASK,
                    values: vec![i % 4],
                },
                cmp(TOKENS, CmpOp::Gt, f64::from(i as u32) * 100.0),
            ])
        })
        .collect();
    let refs: Vec<&Cond> = conds.iter().collect();
    let space = space_for(&refs);
    let mut covered = Region::empty();
    let mut shadowed = 0;
    for c in &conds {
        let r = space.lower(c, &[]).unwrap();
        let eff = space.subtract(&r, &covered);
        if eff.is_empty() {
            shadowed += 1;
        }
        covered = space.union_disjoint(&covered, &eff);
    }
    // Rule i is `task == i%4 and tokens > 100 i`: every rule after the first
    // four is inside the earlier rule with the same task and a lower threshold.
    assert_eq!(shadowed, 296);
    assert!(covered.cubes.len() <= 8, "{}", covered.cubes.len());
}

fn arb_cond() -> impl Strategy<Value = Cond> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Cond::Const),
        Just(Cond::Bool(IMAGES)),
        proptest::collection::vec(0usize..4, 0..4).prop_map(|mut values| {
            values.sort_unstable();
            values.dedup();
            Cond::InSet {
                signal: TASK,
                values,
            }
        }),
        (0usize..6, -2.0f64..300.0).prop_map(|(op, v)| cmp(
            TOKENS,
            op_of(op),
            (v * 2.0).round() / 2.0
        )),
        (0usize..6, -0.2f64..1.2).prop_map(|(op, v)| cmp(
            DIFFICULTY,
            op_of(op),
            (v * 10.0).round() / 10.0
        )),
        (0usize..6, 0.0f64..5.0).prop_map(|(op, v)| cmp(LATENCY, op_of(op), v.round())),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| Cond::Not(Box::new(c))),
            proptest::collection::vec(inner.clone(), 1..3).prop_map(Cond::And),
            proptest::collection::vec(inner, 1..3).prop_map(Cond::Or),
        ]
    })
}

fn op_of(i: usize) -> CmpOp {
    [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ][i % 6]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Lowering agrees with direct evaluation, and the set algebra agrees
    /// with the boolean algebra, on every sample point.
    #[test]
    fn lowering_matches_evaluation(a in arb_cond(), b in arb_cond()) {
        let space = space_for(&[&a, &b]);
        let ra = space.lower(&a, &[]).unwrap();
        let rb = space.lower(&b, &[]).unwrap();
        let union = space.union(&ra, &rb);
        let inter = space.intersect(&ra, &rb);
        let diff = space.subtract(&ra, &rb);
        let comp = space.complement(&ra);
        let points = sample_points(&space);
        for p in &points {
            let (ea, eb) = (eval(&a, p), eval(&b, p));
            prop_assert_eq!(contains(&space, &ra, p), ea, "a at {:?}", p);
            prop_assert_eq!(contains(&space, &union, p), ea || eb);
            prop_assert_eq!(contains(&space, &inter, p), ea && eb);
            prop_assert_eq!(contains(&space, &diff, p), ea && !eb);
            prop_assert_eq!(contains(&space, &comp, p), !ea);
        }
        // Disjointness: a point lies in at most one cube.
        for r in [&ra, &union, &diff, &comp] {
            for p in &points {
                let n = r.cubes.iter().filter(|c| contains(&space, &Region { cubes: vec![(*c).clone()] }, p)).count();
                prop_assert!(n <= 1);
            }
        }
        // Examples lie in their region.
        if let Some(ex) = space.example(&diff) {
            let mut p = vec![0.0, 0.0, 0.5, 0.0, 0.0];
            for (s, v) in ex {
                p[s.index()] = match v {
                    Value::Bool(b) => f64::from(u8::from(b)),
                    Value::Enum(i) => i as f64,
                    Value::Number(x) => x,
                };
            }
            prop_assert!(contains(&space, &diff, &p));
        }
        prop_assert_eq!(count_in(&space, &ra, &points) + count_in(&space, &comp, &points), points.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// The depth-first witness search agrees with the materialised
    /// difference, and its witness lies outside every cover.
    #[test]
    fn witness_matches_difference(a in arb_cond(), covers in proptest::collection::vec(arb_cond(), 0..4)) {
        let mut all: Vec<&Cond> = vec![&a];
        all.extend(covers.iter());
        let space = space_for(&all);
        let ra = space.lower(&a, &[]).unwrap();
        let mut union = Region::empty();
        let mut cubes = Vec::new();
        for c in &covers {
            let r = space.lower(c, &[]).unwrap();
            union = space.union(&union, &r);
            cubes.extend(r.cubes);
        }
        let diff = space.subtract(&ra, &union);
        match space.witness(&ra, &cubes) {
            Witness::Empty => prop_assert!(diff.is_empty()),
            Witness::Found(w) => {
                prop_assert!(!diff.is_empty());
                let wr = Space::cube_region(w);
                let inside = space.intersect(&wr, &union);
                prop_assert!(inside.is_empty());
                let within = space.is_subset(&wr, &ra);
                prop_assert!(within);
            }
            Witness::GaveUp => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    /// With many covers (so the probe of the least covered slice runs),
    /// `covered_in` agrees with the materialised difference and with
    /// `witness_in`, and its witness lies in the region, outside every
    /// cover.
    #[test]
    fn covered_in_matches_difference(
        a in arb_cond(),
        covers in proptest::collection::vec(arb_cond(), 30..70),
    ) {
        let mut all: Vec<&Cond> = vec![&a];
        all.extend(covers.iter());
        let space = space_for(&all);
        let ra = space.lower(&a, &[]).unwrap();
        let mut union = Region::empty();
        let mut index = CoverIndex::new(&space);
        for c in &covers {
            let r = space.lower(c, &[]).unwrap();
            union = space.union(&union, &r);
            for cube in r.cubes {
                index.push(cube);
            }
        }
        let diff = space.subtract(&ra, &union);
        let exact = space.witness_in(&ra, &index);
        match space.covered_in(&ra, &index) {
            Witness::Empty => {
                prop_assert!(diff.is_empty());
                prop_assert_eq!(exact, Witness::Empty);
            }
            Witness::Found(w) => {
                prop_assert!(!diff.is_empty());
                prop_assert!(!matches!(exact, Witness::Empty));
                let wr = Space::cube_region(w);
                prop_assert!(space.intersect(&wr, &union).is_empty());
                prop_assert!(space.is_subset(&wr, &ra));
            }
            Witness::GaveUp => prop_assert_ne!(exact, Witness::Empty),
        }
    }
}

/// A region of 2,000 single-value covers over a 2,001-value enum: the one
/// value left is found by the probe, and the full cover by the search.
#[test]
fn covered_in_finds_the_value_no_cover_names() {
    let n = 2_001;
    let tenant = SignalType::Enum((0..n).map(|i| format!("t{i}")).collect());
    let mut b = SpaceBuilder::new();
    b.dim(SignalId(0), &tenant);
    let space = b.build();
    let mut index = CoverIndex::new(&space);
    for v in 0..n - 1 {
        for c in space.in_set(SignalId(0), &[v]).unwrap().cubes {
            index.push(c);
        }
    }
    let Witness::Found(w) = space.covered_in(&Region::full(), &index) else {
        panic!("not found");
    };
    assert_eq!(
        space.cube_example(&w),
        vec![(SignalId(0), Value::Enum(n - 1))]
    );
    for c in space.in_set(SignalId(0), &[n - 1]).unwrap().cubes {
        index.push(c);
    }
    assert_eq!(space.covered_in(&Region::full(), &index), Witness::Empty);
}

/// A set of `n` atoms built bit by bit, the reference for the word-wise
/// operations (which share operands and keep a cached size).
fn set_of(n: usize, bits: &[usize]) -> AtomSet {
    let mut s = AtomSet::empty(n);
    for &b in bits {
        if b < n {
            s.insert(b);
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `and`, `or`, `and_not` and `contains_all` of sets of more than one
    /// word agree with the same operations on the atoms, and a result that
    /// shares an operand equals (and hashes as) the set built from scratch.
    #[test]
    fn large_atom_sets_match_their_atoms(
        n in 65usize..300,
        a in proptest::collection::vec(0usize..300, 0..40),
        b in proptest::collection::vec(0usize..300, 0..40),
        full_a in any::<bool>(),
    ) {
        let sa = if full_a { AtomSet::full(n) } else { set_of(n, &a) };
        let sb = set_of(n, &b);
        let xa: BTreeSet<usize> = sa.iter().collect();
        let xb: BTreeSet<usize> = sb.iter().collect();
        let cases = [
            (sa.and(&sb), xa.intersection(&xb).copied().collect::<Vec<_>>()),
            (sa.or(&sb), xa.union(&xb).copied().collect()),
            (sa.and_not(&sb), xa.difference(&xb).copied().collect()),
            (sb.and(&sa), xa.intersection(&xb).copied().collect()),
            (sb.or(&sa), xa.union(&xb).copied().collect()),
            (sb.and_not(&sa), xb.difference(&xa).copied().collect()),
        ];
        for (got, want) in cases {
            prop_assert_eq!(got.iter().collect::<Vec<_>>(), want.clone());
            prop_assert_eq!(got.len(), want.len());
            prop_assert_eq!(got.is_empty(), want.is_empty());
            prop_assert_eq!(&got, &set_of(n, &want));
            prop_assert_eq!(got.contains_all(n), want.len() == n);
        }
        prop_assert_eq!(sa.and_count(&sb), xa.intersection(&xb).count());
        prop_assert_eq!(sa.split(&sb), (sa.and_not(&sb), sa.and(&sb)));
        prop_assert_eq!(sb.split(&sa), (sb.and_not(&sa), sb.and(&sa)));
    }
}

#[test]
fn truncating_a_cover_index_forgets_the_cubes() {
    let n = 100;
    let dims = vec![Dim {
        signal: TASK,
        ty: SignalType::Enum((0..n).map(|i| format!("t{i}")).collect()),
        atoms: (0..n).map(Atom::Value).collect(),
    }];
    let space = Space {
        dims,
        by_signal: FastMap::default(),
    };
    let cube = |bits: &[usize]| Cube {
        dims: vec![(DimId(0), set_of(n, bits))],
    };
    let mut index = CoverIndex::new(&space);
    index.push(cube(&[1, 2]));
    index.push(Cube::default());
    let queries = [cube(&[1]), cube(&[3, 70]), cube(&[99])];
    let before: Vec<Vec<usize>> = queries.iter().map(|q| index.meeting(q)).collect();
    index.push(cube(&[3, 99]));
    index.push(cube(&[70]));
    assert_eq!(index.meeting(&queries[1]), vec![1, 2, 3]);
    index.truncate(2);
    let after: Vec<Vec<usize>> = queries.iter().map(|q| index.meeting(q)).collect();
    assert_eq!(before, after);
    assert_eq!(index.cubes.len(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The incremental union is, cube for cube, what repeated
    /// `Space::union` builds, and subtracting it is `Space::subtract`, as
    /// the cell partition uses them: each region less the earlier ones,
    /// then added to them.
    #[test]
    fn incremental_union_is_the_union(conds in proptest::collection::vec(arb_cond(), 1..12)) {
        let refs: Vec<&Cond> = conds.iter().collect();
        let space = space_for(&refs);
        let mut taken = Region::empty();
        let mut union = Union::new(&space);
        for c in &conds {
            let r = space.lower(c, &[]).unwrap();
            let region = space.subtract(&r, &taken);
            prop_assert_eq!(&union.subtract_from(&space, &r), &region);
            taken = space.union(&taken, &region);
            let mut added = union.clone();
            added.add(&space, &region);
            prop_assert_eq!(&added.region(), &taken);
            prop_assert_eq!(&union.take(&space, &r), &region);
            prop_assert_eq!(&union.region(), &taken);
            // Adding a region that overlaps the union is `Space::union` too.
            let overlapping = space.union(&taken, &r);
            let mut copy = union.clone();
            copy.add(&space, &r);
            prop_assert_eq!(copy.region(), overlapping);
        }
    }
}

/// Regions that merge along several dimensions, in the shape of a policy
/// generated from a table of customers (an enum of 200 values, so sets of
/// more than one word): the incremental union matches `Space::union`.
#[test]
fn incremental_union_merges_like_the_union() {
    let types = vec![
        SignalType::Enum((0..200).map(|i| format!("t{i}")).collect()),
        SignalType::Tokens,
        SignalType::Enum(vec!["a".into(), "b".into(), "c".into()]),
    ];
    let (tenant, tokens, tier) = (SignalId(0), SignalId(1), SignalId(2));
    let mut conds = Vec::new();
    for i in 0..200usize {
        let mut values = vec![i, (i * 7) % 200, (i + 1) % 200];
        values.sort_unstable();
        values.dedup();
        conds.push(Cond::And(vec![
            Cond::InSet {
                signal: tenant,
                values,
            },
            cmp(tokens, CmpOp::Le, [8000.0, 16000.0, 32000.0][i % 3]),
            Cond::Not(Box::new(Cond::InSet {
                signal: tier,
                values: vec![i % 3],
            })),
        ]));
    }
    let mut b = SpaceBuilder::new();
    for c in &conds {
        b.add_cond(c, &types, &[]);
    }
    let space = b.build();
    let mut taken = Region::empty();
    let mut union = Union::new(&space);
    for c in &conds {
        let r = space.lower(c, &[]).unwrap();
        let region = space.subtract(&r, &taken);
        taken = space.union(&taken, &region);
        assert_eq!(union.take(&space, &r), region);
        assert_eq!(union.region(), taken);
    }
    assert!(taken.cubes.len() < 200, "{}", taken.cubes.len());
}
