//! Code generation: the decision diagram as one function of nested blocks.
//!
//! The diagram's nodes that the walk can reach (from the root, following
//! enum and bool edges and the targets of flattened threshold trees) become
//! *units*, sorted by node index; every edge goes to a smaller index or to a
//! leaf, so the walk only ever jumps forward. Each unit and each reachable
//! leaf gets a `block`; the code of unit `p` follows the `end` of its block,
//! inside the blocks of the units below it and of every leaf:
//!
//! ```text
//! block $exit (result i32)          ;; the leaf index
//!   block $leaf_{L-1} ... block $leaf_0
//!     block $u_0 ... block $u_{U-1}
//!       br (the root)
//!     end  code of unit U-1         ;; branches to $u_q (q < U-1) or a leaf
//!     ...
//!     end  code of unit 0
//!   end  i32.const leaf_0  br $exit
//!   ...
//! end
//! ```
//!
//! A unit reads its signal (the value if present and finite, else the
//! default, recording the signal as missing or invalid) and branches: an
//! enum with `br_table` (out-of-range values take branch 0, as in the
//! runtime), a bool with `br_if`, a threshold tree with a balanced tree of
//! comparisons over its flattened cuts (the runtime's interval search).

use routec_table::{NodeRef, Table, Test};
use sha2::{Digest, Sha256};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, CustomSection, DataSection, ExportKind, ExportSection,
    Function, FunctionSection, GlobalSection, GlobalType, InstructionSink, MemArg, MemorySection,
    MemoryType, Module, Section, TypeSection, ValType,
};

use crate::layout::{
    INVALID, LEAF_RECORD, Layout, MAX_PAGES, MISSING, RESULT_CELL, RESULT_LEAF, RESULT_PLAN,
    RESULT_RULE,
};
use crate::meta::Meta;
use crate::{ABI_VERSION, CHECKSUM_SECTION, CompileError, MAX_FUNCTION_BYTES, SECTION};

/// Function indices (no imports, so these are also the definition order).
const F_ABSENT: u32 = 0;
const F_WALK: u32 = 1;
const F_HASH_KEY: u32 = 2;
const F_KEYLESS_HASH: u32 = 3;
const F_FINISH: u32 = 4;
const F_DECIDE: u32 = 5;
const F_DECIDE_HASHED: u32 = 6;
const F_ABI_VERSION: u32 = 7;
const F_SIGNAL_COUNT: u32 = 8;
const F_VALUES_PTR: u32 = 9;
const F_STATES_PTR: u32 = 10;
const F_RESULT_PTR: u32 = 11;
const F_KEY_PTR: u32 = 12;

/// Type indices.
const T_I32_F64: u32 = 0;
const T_VOID_I32: u32 = 1;
const T_I32_I64: u32 = 2;
const T_VOID_I64: u32 = 3;
const T_I32_I64_I32: u32 = 4;
const T_I32_I32: u32 = 5;
const T_I32_I32_I32: u32 = 6;

/// FNV-1a (64-bit) and the splitmix64 finalizer: `routec_runtime::key_hash`.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const MIX_1: u64 = 0xbf58_476d_1ce4_e5b9;
const MIX_2: u64 = 0x94d0_49bb_1331_11eb;

fn mem(offset: u32, align: u32) -> MemArg {
    MemArg {
        offset: u64::from(offset),
        align,
        memory_index: 0,
    }
}

/// An `i32` constant for an address or index (all below 2^31 by layout).
fn c32(x: u32) -> i32 {
    x as i32
}

fn i64c(x: u64) -> i64 {
    x as i64
}

/// What one unit tests.
#[derive(Clone, Debug)]
enum UnitTest {
    Enum(Vec<NodeRef>),
    Bool {
        if_false: NodeRef,
        if_true: NodeRef,
    },
    /// `cuts` ascending; `targets[k]` for values in `[cuts[k-1], cuts[k])`.
    Intervals {
        cuts: Vec<f64>,
        targets: Vec<NodeRef>,
    },
}

#[derive(Clone, Debug)]
struct Unit {
    signal: u32,
    test: UnitTest,
}

/// The segments `(lower bound, target)` of the threshold tree at `at` on
/// `signal` within `range`, merging neighbours with the same target:
/// exactly `routec-runtime`'s flattening (iterative, so no table can
/// overflow the stack).
fn flatten(table: &Table, at: NodeRef, signal: u32, range: (f64, f64)) -> Vec<(f64, NodeRef)> {
    let mut out: Vec<(f64, NodeRef)> = Vec::new();
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
                stack.push((at_or_above, (cut, hi)));
                stack.push((below, (lo, cut)));
            }
            continue;
        }
        if out.last().is_none_or(|last| last.1 != at) {
            out.push((lo, at));
        }
    }
    out
}

fn unit_of(table: &Table, index: u32) -> Option<Unit> {
    let node = table.diagram.nodes.get(index as usize)?;
    let test = match &node.test {
        Test::Enum { branches } => UnitTest::Enum(branches.clone()),
        Test::Bool { if_false, if_true } => UnitTest::Bool {
            if_false: *if_false,
            if_true: *if_true,
        },
        Test::Threshold { .. } => {
            let segments = flatten(
                table,
                NodeRef::Node(index),
                node.signal,
                (f64::NEG_INFINITY, f64::INFINITY),
            );
            UnitTest::Intervals {
                cuts: segments.iter().skip(1).map(|s| s.0).collect(),
                targets: segments.iter().map(|s| s.1).collect(),
            }
        }
    };
    Some(Unit {
        signal: node.signal,
        test,
    })
}

impl UnitTest {
    fn targets(&self) -> Vec<NodeRef> {
        match self {
            UnitTest::Enum(b) => b.clone(),
            UnitTest::Bool { if_false, if_true } => vec![*if_false, *if_true],
            UnitTest::Intervals { targets, .. } => targets.clone(),
        }
    }
}

/// The units the walk reaches and the leaves it can end in.
struct Plan {
    /// `(node index, unit)`, ascending by node index.
    units: Vec<(u32, Unit)>,
    /// Node index -> position in `units`.
    unit_at: Vec<Option<u32>>,
    /// Reachable leaves, ascending.
    leaves: Vec<u32>,
    /// Leaf index -> position in `leaves`.
    leaf_at: Vec<Option<u32>>,
}

fn plan(table: &Table) -> Plan {
    let n = table.diagram.nodes.len();
    let mut found: Vec<Option<Unit>> = vec![None; n];
    let mut leaf_seen = vec![false; table.leaves.len()];
    let mut stack = vec![table.diagram.root];
    while let Some(r) = stack.pop() {
        match r {
            NodeRef::Leaf(l) => {
                if let Some(seen) = leaf_seen.get_mut(l as usize) {
                    *seen = true;
                }
            }
            NodeRef::Node(i) => {
                let Some(slot) = found.get_mut(i as usize) else {
                    continue;
                };
                if slot.is_some() {
                    continue;
                }
                if let Some(unit) = unit_of(table, i) {
                    stack.extend(unit.test.targets());
                    *slot = Some(unit);
                }
            }
        }
    }
    let mut units = Vec::new();
    let mut unit_at = vec![None; n];
    for (i, unit) in found.into_iter().enumerate() {
        if let Some(unit) = unit {
            unit_at[i] = Some(units.len() as u32);
            units.push((i as u32, unit));
        }
    }
    let mut leaves = Vec::new();
    let mut leaf_at = vec![None; table.leaves.len()];
    for (l, seen) in leaf_seen.into_iter().enumerate() {
        if seen {
            leaf_at[l] = Some(leaves.len() as u32);
            leaves.push(l as u32);
        }
    }
    Plan {
        units,
        unit_at,
        leaves,
        leaf_at,
    }
}

impl Plan {
    /// The label depth of `target` from the code of unit `p` (or, for
    /// `p == units.len()`, from the entry), under `extra` more blocks.
    fn depth(&self, p: u32, extra: u32, target: NodeRef) -> Result<u32, CompileError> {
        let bad = || CompileError::Internal(format!("an edge from unit {p} goes backwards"));
        match target {
            NodeRef::Node(n) => {
                let q = self
                    .unit_at
                    .get(n as usize)
                    .copied()
                    .flatten()
                    .ok_or_else(bad)?;
                if q >= p {
                    return Err(bad());
                }
                Ok(p - 1 - q + extra)
            }
            NodeRef::Leaf(l) => {
                let j = self
                    .leaf_at
                    .get(l as usize)
                    .copied()
                    .flatten()
                    .ok_or_else(bad)?;
                Ok(p + j + extra)
            }
        }
    }
}

/// Reads signal `s` onto the stack as an `f64`: the value when its state is
/// present (1) and it is finite, otherwise (through `$absent`, which records
/// the signal as missing or invalid) its default.
fn read(f: &mut InstructionSink, layout: &Layout, s: u32, v: u32) {
    f.block(BlockType::Result(ValType::F64))
        .i32_const(0)
        .f64_load(mem(layout.values + 8 * s, 3))
        .local_tee(v)
        .local_get(v)
        .f64_sub()
        .f64_const(0.0)
        .f64_eq()
        .i32_const(0)
        .i32_load8_u(mem(layout.states + s, 0))
        .i32_const(1)
        .i32_eq()
        .i32_and()
        .if_(BlockType::Empty)
        .local_get(v)
        .br(1)
        .end()
        .i32_const(c32(s))
        .call(F_ABSENT)
        .end();
}

/// Branches on `v` (local `v`) over `targets[a..=b]` split by `cuts`: a
/// balanced tree of `f64.lt` tests.
#[expect(
    clippy::too_many_arguments,
    reason = "the recursion carries its context"
)]
fn search(
    f: &mut InstructionSink,
    plan: &Plan,
    p: u32,
    extra: u32,
    v: u32,
    cuts: &[f64],
    targets: &[NodeRef],
    (a, b): (usize, usize),
) -> Result<(), CompileError> {
    if a == b {
        f.br(plan.depth(p, extra, targets[a])?);
        return Ok(());
    }
    let m = (a + b).div_ceil(2);
    let cut = cuts[m - 1];
    if m - 1 == a {
        f.local_get(v).f64_const(cut).f64_lt();
        f.br_if(plan.depth(p, extra, targets[a])?);
        search(f, plan, p, extra, v, cuts, targets, (m, b))
    } else if m == b {
        f.local_get(v).f64_const(cut).f64_ge();
        f.br_if(plan.depth(p, extra, targets[b])?);
        search(f, plan, p, extra, v, cuts, targets, (a, m - 1))
    } else {
        f.local_get(v).f64_const(cut).f64_lt().if_(BlockType::Empty);
        search(f, plan, p, extra + 1, v, cuts, targets, (a, m - 1))?;
        f.else_();
        search(f, plan, p, extra + 1, v, cuts, targets, (m, b))?;
        f.end().unreachable();
        Ok(())
    }
}

/// `$walk() -> i32`: clears the signal sets, walks the diagram, returns the
/// leaf.
fn walk(table: &Table, layout: &Layout) -> Result<Function, CompileError> {
    let plan = plan(table);
    const V: u32 = 0;
    let mut func = Function::new([(1, ValType::F64)]);
    let f = &mut func.instructions();
    for w in 0..layout.signals.div_ceil(64) {
        f.i32_const(0)
            .i64_const(0)
            .i64_store(mem(MISSING + 8 * w, 3));
        f.i32_const(0)
            .i64_const(0)
            .i64_store(mem(INVALID + 8 * w, 3));
    }
    let units = plan.units.len() as u32;
    f.block(BlockType::Result(ValType::I32));
    for _ in &plan.leaves {
        f.block(BlockType::Empty);
    }
    for _ in 0..units {
        f.block(BlockType::Empty);
    }
    f.br(plan.depth(units, 0, table.diagram.root)?);
    for p in (0..units).rev() {
        f.end();
        let unit = &plan.units[p as usize].1;
        read(f, layout, unit.signal, V);
        match &unit.test {
            UnitTest::Enum(branches) => {
                let depths = branches
                    .iter()
                    .map(|&b| plan.depth(p, 0, b))
                    .collect::<Result<Vec<u32>, _>>()?;
                let default = depths.first().copied().unwrap_or(0);
                f.i32_trunc_sat_f64_u().br_table(depths, default);
            }
            UnitTest::Bool { if_false, if_true } => {
                f.f64_const(0.0)
                    .f64_ne()
                    .br_if(plan.depth(p, 0, *if_true)?)
                    .br(plan.depth(p, 0, *if_false)?);
            }
            UnitTest::Intervals { cuts, targets } => {
                f.local_set(V);
                search(f, &plan, p, 0, V, cuts, targets, (0, cuts.len()))?;
            }
        }
    }
    let count = plan.leaves.len() as u32;
    for (j, &leaf) in plan.leaves.iter().enumerate() {
        f.end().i32_const(c32(leaf)).br(count - 1 - j as u32);
    }
    f.end().end();
    Ok(func)
}

/// `$absent(s) -> f64`: records signal `s` as missing (state 0) or invalid
/// (anything else: an invalid state, or present but not finite) and returns
/// its default.
fn absent(layout: &Layout) -> Function {
    const S: u32 = 0;
    const A: u32 = 1;
    let mut func = Function::new([(1, ValType::I32)]);
    let f = &mut func.instructions();
    let set_bit = |f: &mut InstructionSink, base: u32| {
        f.local_get(S)
            .i32_const(3)
            .i32_shr_u()
            .local_tee(A)
            .local_get(A)
            .i32_load8_u(mem(base, 0))
            .i32_const(1)
            .local_get(S)
            .i32_const(7)
            .i32_and()
            .i32_shl()
            .i32_or()
            .i32_store8(mem(base, 0));
    };
    f.local_get(S)
        .i32_load8_u(mem(layout.states, 0))
        .i32_eqz()
        .if_(BlockType::Empty);
    set_bit(f, MISSING);
    f.else_();
    set_bit(f, INVALID);
    f.end();
    f.local_get(S)
        .i32_const(3)
        .i32_shl()
        .f64_load(mem(layout.defaults, 3))
        .end();
    func
}

/// Pushes the size of the key area in bytes: `memory.size * 64 KiB - key`.
fn key_capacity(f: &mut InstructionSink, layout: &Layout) {
    f.memory_size(0)
        .i32_const(16)
        .i32_shl()
        .i32_const(c32(layout.key))
        .i32_sub();
}

/// `hash_key(len) -> i64`: the split hash of the `len` bytes at `key`
/// (`len` clamped to the key area; negative is 0): FNV-1a, then splitmix64's
/// finalizer, exactly `routec_runtime::key_hash`.
fn hash_key(layout: &Layout) -> Function {
    const LEN: u32 = 0;
    const H: u32 = 1;
    const I: u32 = 2;
    let mut func = Function::new([(1, ValType::I64), (1, ValType::I32)]);
    let f = &mut func.instructions();
    f.local_get(LEN)
        .i32_const(0)
        .i32_lt_s()
        .if_(BlockType::Empty)
        .i32_const(0)
        .local_set(LEN)
        .end();
    key_capacity(f, layout);
    f.local_tee(I)
        .local_get(LEN)
        .i32_lt_u()
        .if_(BlockType::Empty)
        .local_get(I)
        .local_set(LEN)
        .end();
    f.i32_const(0).local_set(I);
    f.i64_const(i64c(FNV_OFFSET)).local_set(H);
    f.block(BlockType::Empty)
        .loop_(BlockType::Empty)
        .local_get(I)
        .local_get(LEN)
        .i32_ge_u()
        .br_if(1)
        .local_get(H)
        .local_get(I)
        .i64_load8_u(mem(layout.key, 0))
        .i64_xor()
        .i64_const(i64c(FNV_PRIME))
        .i64_mul()
        .local_set(H)
        .local_get(I)
        .i32_const(1)
        .i32_add()
        .local_set(I)
        .br(0)
        .end()
        .end();
    for (shift, mul) in [(30, Some(MIX_1)), (27, Some(MIX_2)), (31, None)] {
        f.local_get(H)
            .local_get(H)
            .i64_const(shift)
            .i64_shr_u()
            .i64_xor();
        match mul {
            Some(m) => {
                f.i64_const(i64c(m)).i64_mul().local_set(H);
            }
            None => {
                f.end();
            }
        }
    }
    func
}

/// `$keyless_hash() -> i64`: THE KEYLESS RULE. The split hash of a request
/// without a key, as `routec-runtime` places it
/// (`routec_runtime::keyless_fraction`): the `n`-th keyless split decision
/// of this instance takes `n · 0x9E37_79B9_7F4A_7C15` (wrapping), a
/// low-discrepancy sequence, so keyless traffic splits by the compiled
/// shares; `n` is the mutable global `$keyless_n`, incremented here. This
/// is the one place the module decides it; the JS package's one place is
/// `KEYLESS` in `js/index.js`.
fn keyless_hash() -> Function {
    let mut func = Function::new([]);
    func.instructions()
        .global_get(G_KEYLESS_N)
        .i64_const(KEYLESS_STEP)
        .i64_mul()
        .global_get(G_KEYLESS_N)
        .i64_const(1)
        .i64_add()
        .global_set(G_KEYLESS_N)
        .end();
    func
}

/// The global counting this instance's keyless split decisions.
const G_KEYLESS_N: u32 = 0;
/// `0x9E37_79B9_7F4A_7C15` (2^64 / φ) as the `i64` wasm multiplies by.
const KEYLESS_STEP: i64 = 0x9E37_79B9_7F4A_7C15_u64 as i64;

/// `$finish(leaf, hash) -> i32`: writes the result of `leaf` and returns
/// its plan, choosing among a split's plans by `hash` as the runtime does:
/// the first whose cumulative share exceeds `(hash >> 11) / 2^53`, else the
/// last.
fn finish(layout: &Layout) -> Function {
    const LEAF: u32 = 0;
    const HASH: u32 = 1;
    const REC: u32 = 2;
    const I: u32 = 3;
    const LAST: u32 = 4;
    const PLAN: u32 = 5;
    const U: u32 = 6;
    let mut func = Function::new([(4, ValType::I32), (1, ValType::F64)]);
    let f = &mut func.instructions();
    f.local_get(LEAF)
        .i32_const(c32(LEAF_RECORD.trailing_zeros()))
        .i32_shl()
        .local_set(REC);
    f.i32_const(0)
        .local_get(REC)
        .i32_load(mem(layout.leaves, 2))
        .i32_store(mem(RESULT_RULE, 2));
    f.i32_const(0)
        .local_get(LEAF)
        .i32_store(mem(RESULT_LEAF, 2));
    f.i32_const(0)
        .local_get(REC)
        .i32_load(mem(layout.leaves + 4, 2))
        .i32_store(mem(RESULT_CELL, 2));
    f.local_get(REC)
        .i32_load(mem(layout.leaves + 8, 2))
        .local_tee(I)
        .local_get(REC)
        .i32_load(mem(layout.leaves + 12, 2))
        .i32_add()
        .i32_const(1)
        .i32_sub()
        .local_set(LAST);
    f.local_get(HASH)
        .i64_const(11)
        .i64_shr_u()
        .f64_convert_i64_u()
        .f64_const((1u64 << 53) as f64)
        .f64_div()
        .local_set(U);
    f.block(BlockType::Empty)
        .loop_(BlockType::Empty)
        .local_get(I)
        .local_get(LAST)
        .i32_ge_u()
        .br_if(1)
        .local_get(U)
        .local_get(I)
        .i32_const(3)
        .i32_shl()
        .f64_load(mem(layout.shares, 3))
        .f64_lt()
        .br_if(1)
        .local_get(I)
        .i32_const(1)
        .i32_add()
        .local_set(I)
        .br(0)
        .end()
        .end();
    f.local_get(I)
        .i32_const(2)
        .i32_shl()
        .i32_load(mem(layout.plans, 2))
        .local_set(PLAN);
    f.i32_const(0)
        .local_get(PLAN)
        .i32_store(mem(RESULT_PLAN, 2));
    f.local_get(PLAN).end();
    func
}

/// `decide(key_len) -> i32`: routes the request in `values`/`states` with
/// the `key_len` bytes at `key` as its key (negative: no key, the keyless
/// rule); returns the plan, or -1 (nothing written) when `key_len` passes
/// the key area.
fn decide(layout: &Layout) -> Function {
    const LEN: u32 = 0;
    const LEAF: u32 = 1;
    const HASH: u32 = 2;
    let mut func = Function::new([(1, ValType::I32), (1, ValType::I64)]);
    let f = &mut func.instructions();
    f.local_get(LEN);
    key_capacity(f, layout);
    f.i32_gt_s()
        .if_(BlockType::Empty)
        .i32_const(-1)
        .return_()
        .end();
    f.call(F_WALK).local_tee(LEAF);
    f.i32_const(c32(LEAF_RECORD.trailing_zeros()))
        .i32_shl()
        .i32_load(mem(layout.leaves + 12, 2))
        .i32_const(1)
        .i32_gt_u()
        .if_(BlockType::Empty)
        .local_get(LEN)
        .i32_const(0)
        .i32_lt_s()
        .if_(BlockType::Result(ValType::I64))
        .call(F_KEYLESS_HASH)
        .else_()
        .local_get(LEN)
        .call(F_HASH_KEY)
        .end()
        .local_set(HASH)
        .end();
    f.local_get(LEAF).local_get(HASH).call(F_FINISH).end();
    func
}

/// `decide_hashed(lo, hi) -> i32`: routes with the split hash given
/// (`hi << 32 | lo`), for hosts that compute it themselves.
fn decide_hashed() -> Function {
    let mut func = Function::new([]);
    func.instructions()
        .call(F_WALK)
        .local_get(1)
        .i64_extend_i32_u()
        .i64_const(32)
        .i64_shl()
        .local_get(0)
        .i64_extend_i32_u()
        .i64_or()
        .call(F_FINISH)
        .end();
    func
}

fn constant(x: u32) -> Function {
    let mut func = Function::new([]);
    func.instructions().i32_const(c32(x)).end();
    func
}

/// The whole module.
pub fn module(table: &Table, layout: &Layout, meta: &Meta) -> Result<Vec<u8>, CompileError> {
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], [ValType::F64]); // T_I32_F64
    types.ty().function([], [ValType::I32]); // T_VOID_I32
    types.ty().function([ValType::I32], [ValType::I64]); // T_I32_I64
    types.ty().function([], [ValType::I64]); // T_VOID_I64
    types
        .ty()
        .function([ValType::I32, ValType::I64], [ValType::I32]); // T_I32_I64_I32
    types.ty().function([ValType::I32], [ValType::I32]); // T_I32_I32
    types
        .ty()
        .function([ValType::I32, ValType::I32], [ValType::I32]); // T_I32_I32_I32

    let walk = walk(table, layout)?;
    if walk.byte_len() > MAX_FUNCTION_BYTES {
        return Err(CompileError::TooLarge(format!(
            "its decision diagram needs {} bytes of code in one function (engines accept {MAX_FUNCTION_BYTES})",
            walk.byte_len()
        )));
    }
    let bodies: [(u32, u32, Function); 13] = [
        (F_ABSENT, T_I32_F64, absent(layout)),
        (F_WALK, T_VOID_I32, walk),
        (F_HASH_KEY, T_I32_I64, hash_key(layout)),
        (F_KEYLESS_HASH, T_VOID_I64, keyless_hash()),
        (F_FINISH, T_I32_I64_I32, finish(layout)),
        (F_DECIDE, T_I32_I32, decide(layout)),
        (F_DECIDE_HASHED, T_I32_I32_I32, decide_hashed()),
        (F_ABI_VERSION, T_VOID_I32, constant(ABI_VERSION)),
        (F_SIGNAL_COUNT, T_VOID_I32, constant(layout.signals)),
        (F_VALUES_PTR, T_VOID_I32, constant(layout.values)),
        (F_STATES_PTR, T_VOID_I32, constant(layout.states)),
        (F_RESULT_PTR, T_VOID_I32, constant(RESULT_PLAN)),
        (F_KEY_PTR, T_VOID_I32, constant(layout.key)),
    ];
    let mut functions = FunctionSection::new();
    let mut code = CodeSection::new();
    for (i, (index, ty, body)) in bodies.iter().enumerate() {
        debug_assert_eq!(i as u32, *index);
        functions.function(*ty);
        code.function(body);
    }

    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: layout.pages,
        maximum: Some(MAX_PAGES),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });

    let mut globals = GlobalSection::new();
    globals.global(
        GlobalType {
            val_type: ValType::I64,
            mutable: true,
            shared: false,
        },
        &ConstExpr::i64_const(0),
    );

    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    for (name, index) in [
        ("decide", F_DECIDE),
        ("decide_hashed", F_DECIDE_HASHED),
        ("hash_key", F_HASH_KEY),
        ("abi_version", F_ABI_VERSION),
        ("signal_count", F_SIGNAL_COUNT),
        ("values_ptr", F_VALUES_PTR),
        ("states_ptr", F_STATES_PTR),
        ("result_ptr", F_RESULT_PTR),
        ("key_ptr", F_KEY_PTR),
    ] {
        exports.export(name, ExportKind::Func, index);
    }

    let mut data = DataSection::new();
    data.active(
        0,
        &ConstExpr::i32_const(c32(layout.defaults)),
        layout.data.iter().copied(),
    );

    let meta = meta.to_json();
    let mut module = Module::new();
    module.section(&CustomSection {
        name: SECTION.into(),
        data: meta.as_slice().into(),
    });
    module
        .section(&types)
        .section(&functions)
        .section(&memories)
        .section(&globals)
        .section(&exports)
        .section(&code)
        .section(&data);
    let mut bytes = module.finish();
    // Last, the SHA-256 of every byte before it: a host that has the bytes
    // refuses a corrupt module (a flipped constant would still validate).
    let digest = Sha256::digest(&bytes);
    CustomSection {
        name: CHECKSUM_SECTION.into(),
        data: digest.as_slice().into(),
    }
    .append_to(&mut bytes);
    Ok(bytes)
}
