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
//! block $exit (result i32)          ;; the plan
//!   block $leaf_{L-1} ... block $leaf_0
//!     block $u_0 ... block $u_{U-1}
//!       br (the root)
//!     end  code of unit U-1         ;; branches to $u_q (q < U-1) or a leaf
//!     ...
//!     end  code of unit 0
//!   end  code of leaf 0             ;; writes the result, br $exit
//!   ...
//! end
//! (store the signal sets)
//! ```
//!
//! A unit reads its signal (the value if it is finite, else the default as
//! a constant, recording the signal as missing or invalid in a local bit
//! set) and branches: an enum with `br_table` (out-of-range values take
//! branch 0, as in the runtime), a bool with `br_if`, a threshold tree with
//! a balanced tree of comparisons over its flattened cuts (the runtime's
//! interval search). A leaf with one plan writes its result as constants; a
//! leaf that splits computes the split hash (only then) and picks its plan
//! from the shares in memory. The signal sets live in locals during the
//! walk and are stored once at its end.

use routec_table::{NodeRef, Table, Test};
use sha2::{Digest, Sha256};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, CustomSection, DataSection, ExportKind, ExportSection,
    Function, FunctionSection, GlobalSection, GlobalType, InstructionSink, MemArg, MemorySection,
    MemoryType, Module, Section, TypeSection, ValType,
};

use crate::layout::{INVALID, Layout, MAX_PAGES, MISSING, RESULT_LEAF, RESULT_PLAN, RESULT_RULE};
use crate::meta::Meta;
use crate::{ABI_VERSION, CHECKSUM_SECTION, CompileError, MAX_FUNCTION_BYTES, SECTION};

/// Function indices (no imports, so these are also the definition order).
const F_WALK: u32 = 0;
const F_HASH_KEY: u32 = 1;
const F_KEYLESS_HASH: u32 = 2;
const F_SPLIT_HASH: u32 = 3;
const F_SPLIT: u32 = 4;
const F_DECIDE: u32 = 5;
const F_DECIDE_HASHED: u32 = 6;
const F_ABI_VERSION: u32 = 7;
const F_SIGNAL_COUNT: u32 = 8;
const F_VALUES_PTR: u32 = 9;
const F_RESULT_PTR: u32 = 10;
const F_KEY_PTR: u32 = 11;

/// Type indices.
const T_WALK: u32 = 0; // (key_len i32, hash i64, hash_given i32) -> i32
const T_VOID_I32: u32 = 1;
const T_I32_I64: u32 = 2;
const T_VOID_I64: u32 = 3;
const T_I64_I32_I32_I32: u32 = 4;
const T_I32_I32: u32 = 5;
const T_I32_I32_I32: u32 = 6;
const T_SPLIT_HASH: u32 = 7; // (key_len i32, hash i64, hash_given i32) -> i64

/// FNV-1a (64-bit) and the splitmix64 finalizer: `routec_runtime::key_hash`.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const MIX_1: u64 = 0xbf58_476d_1ce4_e5b9;
const MIX_2: u64 = 0x94d0_49bb_1331_11eb;

/// `2^-53`: `(hash >> 11) * 2^-53` is `(hash >> 11) / 2^53` exactly.
const TWO_TO_MINUS_53: f64 = 1.0 / 9_007_199_254_740_992.0;

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

/// The walk's parameters and locals.
const W_LEN: u32 = 0;
const W_HASH: u32 = 1;
const W_GIVEN: u32 = 2;
const W_V: u32 = 3;
const W_PLAN: u32 = 4;
/// The first of the signal-set words: `words` missing, then `words` invalid.
const W_SETS: u32 = 5;

/// The locals holding the 64-bit words of the missing and invalid sets.
struct Sets {
    words: u32,
}

impl Sets {
    fn missing(&self, s: u32) -> u32 {
        W_SETS + s / 64
    }

    fn invalid(&self, s: u32) -> u32 {
        W_SETS + self.words + s / 64
    }
}

/// Reads signal `s` onto the stack as an `f64`: the value when it is finite
/// (present), otherwise its default (a constant), recording the signal as
/// missing (the value is `-inf`) or invalid (NaN, `+inf`) in `sets`.
fn read(f: &mut InstructionSink, layout: &Layout, sets: &Sets, s: u32, default: f64) {
    let bit = i64c(1u64 << (s % 64));
    f.block(BlockType::Result(ValType::F64))
        .i32_const(0)
        .f64_load(mem(layout.values + 8 * s, 3))
        .local_tee(W_V)
        .local_get(W_V)
        .f64_abs()
        .f64_const(f64::INFINITY)
        .f64_lt()
        .br_if(0)
        // Not finite: the value is still on the stack.
        .f64_const(f64::NEG_INFINITY)
        .f64_eq()
        .if_(BlockType::Empty)
        .local_get(sets.missing(s))
        .i64_const(bit)
        .i64_or()
        .local_set(sets.missing(s))
        .else_()
        .local_get(sets.invalid(s))
        .i64_const(bit)
        .i64_or()
        .local_set(sets.invalid(s))
        .end()
        .f64_const(default)
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

/// The key length that says "the request has a key, not written yet":
/// `decide` returns it, writing nothing, when the decision reaches a leaf
/// that splits, and the host calls again with the key written.
const KEY_LATER: i32 = -2;

/// Writes the result of leaf `leaf` and pushes its plan: constants for a
/// leaf with one plan; for a leaf that splits, the split hash (computed
/// only here) picks the plan among its shares (`$split`), or, when the key
/// is `KEY_LATER`, the walk returns that, writing nothing.
fn leaf_code(
    f: &mut InstructionSink,
    table: &Table,
    layout: &Layout,
    leaf: u32,
) -> Result<(), CompileError> {
    let missing = || CompileError::Internal(format!("leaf {leaf} is missing"));
    let record = table.leaves.get(leaf as usize).ok_or_else(missing)?;
    let cell = record.cell.map_or(u32::MAX, |c| c);
    // The leaf and its cell, one 8-byte word.
    let leaf_and_cell = |f: &mut InstructionSink| {
        f.i32_const(0)
            .i64_const(i64c(u64::from(leaf) | u64::from(cell) << 32))
            .i64_store(mem(RESULT_LEAF, 3));
    };
    match layout.first_split.get(leaf as usize).copied().flatten() {
        None => {
            leaf_and_cell(f);
            let plan = record.splits.first().map_or(0, |s| s.plan);
            // The plan and the rule, one 8-byte word.
            f.i32_const(0)
                .i64_const(i64c(u64::from(plan) | u64::from(record.rule) << 32))
                .i64_store(mem(RESULT_PLAN, 3))
                .i32_const(c32(plan));
        }
        Some(first) => {
            let last = first + record.splits.len() as u32 - 1;
            // A key not written yet (`KEY_LATER`; `decide_hashed` passes
            // 0): ask for it, writing nothing (the signal sets are still in
            // locals).
            f.local_get(W_LEN)
                .i32_const(KEY_LATER)
                .i32_eq()
                .if_(BlockType::Empty)
                .i32_const(KEY_LATER)
                .return_()
                .end();
            leaf_and_cell(f);
            f.local_get(W_LEN)
                .local_get(W_HASH)
                .local_get(W_GIVEN)
                .call(F_SPLIT_HASH)
                .i32_const(c32(first))
                .i32_const(c32(last))
                .call(F_SPLIT)
                .local_set(W_PLAN)
                .i32_const(0)
                .local_get(W_PLAN)
                .i32_store(mem(RESULT_PLAN, 2))
                .i32_const(0)
                .i32_const(c32(record.rule))
                .i32_store(mem(RESULT_RULE, 2))
                .local_get(W_PLAN);
        }
    }
    Ok(())
}

/// `$walk(key_len, hash, hash_given) -> i32`: walks the diagram, writes the
/// result and returns the plan. A leaf that splits takes `hash` when
/// `hash_given` is not 0, else the hash of the `key_len` bytes at `key`
/// (`KEY_LATER`: returns `KEY_LATER`, writing nothing; another negative
/// length: the keyless rule).
fn walk(table: &Table, layout: &Layout) -> Result<Function, CompileError> {
    let plan = plan(table);
    let sets = Sets {
        words: layout.signals.div_ceil(64),
    };
    let mut func = Function::new([
        (1, ValType::F64),
        (1, ValType::I32),
        (2 * sets.words, ValType::I64),
    ]);
    let f = &mut func.instructions();
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
        let default = table
            .signals
            .get(unit.signal as usize)
            .map_or(0.0, |s| s.default);
        read(f, layout, &sets, unit.signal, default);
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
                f.local_set(W_V);
                search(f, &plan, p, 0, W_V, cuts, targets, (0, cuts.len()))?;
            }
        }
    }
    let count = plan.leaves.len() as u32;
    for (j, &leaf) in plan.leaves.iter().enumerate() {
        f.end();
        leaf_code(f, table, layout, leaf)?;
        f.br(count - 1 - j as u32);
    }
    f.end().local_set(W_PLAN);
    for w in 0..sets.words {
        f.i32_const(0)
            .local_get(W_SETS + w)
            .i64_store(mem(MISSING + 8 * w, 3));
        f.i32_const(0)
            .local_get(W_SETS + sets.words + w)
            .i64_store(mem(INVALID + 8 * w, 3));
    }
    f.local_get(W_PLAN).end();
    Ok(func)
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
/// finalizer, exactly `routec_runtime::key_hash`. The FNV loop runs over a
/// byte address to an end address: one load, `xor` and `mul` per byte.
fn hash_key(layout: &Layout) -> Function {
    const LEN: u32 = 0;
    const H: u32 = 1;
    const AT: u32 = 2;
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
    f.local_tee(AT)
        .local_get(LEN)
        .i32_lt_u()
        .if_(BlockType::Empty)
        .local_get(AT)
        .local_set(LEN)
        .end();
    f.i64_const(i64c(FNV_OFFSET)).local_set(H);
    // AT runs from `key` to `key + LEN`.
    f.i32_const(c32(layout.key)).local_set(AT);
    f.local_get(LEN).local_get(AT).i32_add().local_set(LEN);
    f.block(BlockType::Empty)
        .local_get(AT)
        .local_get(LEN)
        .i32_eq()
        .br_if(0)
        .loop_(BlockType::Empty)
        .local_get(H)
        .local_get(AT)
        .i64_load8_u(mem(0, 0))
        .i64_xor()
        .i64_const(i64c(FNV_PRIME))
        .i64_mul()
        .local_set(H)
        .local_get(AT)
        .i32_const(1)
        .i32_add()
        .local_tee(AT)
        .local_get(LEN)
        .i32_ne()
        .br_if(0)
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
/// shares; `n` is the mutable global `$keyless_n`, incremented here (and
/// only here: a decision that does not split leaves it alone). This is the
/// one place the module decides it; the JS package's one place is
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

/// `$split_hash(key_len, hash, hash_given) -> i64`: the split hash of a
/// decision that reached a leaf that splits: `hash` when `hash_given` is not
/// 0 (`decide_hashed`), the keyless rule when `key_len` is negative (never
/// `KEY_LATER` here), else the hash of the key's bytes.
fn split_hash() -> Function {
    const LEN: u32 = 0;
    const HASH: u32 = 1;
    const GIVEN: u32 = 2;
    let mut func = Function::new([]);
    func.instructions()
        .local_get(GIVEN)
        .if_(BlockType::Result(ValType::I64))
        .local_get(HASH)
        .else_()
        .local_get(LEN)
        .i32_const(0)
        .i32_lt_s()
        .if_(BlockType::Result(ValType::I64))
        .call(F_KEYLESS_HASH)
        .else_()
        .local_get(LEN)
        .call(F_HASH_KEY)
        .end()
        .end()
        .end();
    func
}

/// `$split(hash, first, last) -> i32`: the plan among splits
/// `first..=last` (`shares`, `plans`) that `hash` picks, as the runtime
/// does: the first whose cumulative share exceeds `(hash >> 11) / 2^53`,
/// else the last.
fn split(layout: &Layout) -> Function {
    const HASH: u32 = 0;
    const I: u32 = 1;
    const LAST: u32 = 2;
    const U: u32 = 3;
    let mut func = Function::new([(1, ValType::F64)]);
    let f = &mut func.instructions();
    f.local_get(HASH)
        .i64_const(11)
        .i64_shr_u()
        .f64_convert_i64_u()
        .f64_const(TWO_TO_MINUS_53)
        .f64_mul()
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
        .end();
    func
}

/// `decide(key_len) -> i32`: routes the request in `values` with the
/// `key_len` bytes at `key` as its key (`KEY_LATER`: a key not written yet;
/// another negative length: no key, the keyless rule); returns the plan,
/// `KEY_LATER` (nothing written) when the decision needs a key not written
/// yet, or -1 (nothing written) when `key_len` passes the key area.
fn decide(layout: &Layout) -> Function {
    const LEN: u32 = 0;
    let mut func = Function::new([]);
    let f = &mut func.instructions();
    f.local_get(LEN);
    key_capacity(f, layout);
    f.i32_gt_s()
        .if_(BlockType::Empty)
        .i32_const(-1)
        .return_()
        .end();
    f.local_get(LEN)
        .i64_const(0)
        .i32_const(0)
        .call(F_WALK)
        .end();
    func
}

/// `decide_hashed(lo, hi) -> i32`: routes with the split hash given
/// (`hi << 32 | lo`), for hosts that compute it themselves.
fn decide_hashed() -> Function {
    let mut func = Function::new([]);
    func.instructions()
        .i32_const(0)
        .local_get(1)
        .i64_extend_i32_u()
        .i64_const(32)
        .i64_shl()
        .local_get(0)
        .i64_extend_i32_u()
        .i64_or()
        .i32_const(1)
        .call(F_WALK)
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
    types
        .ty()
        .function([ValType::I32, ValType::I64, ValType::I32], [ValType::I32]); // T_WALK
    types.ty().function([], [ValType::I32]); // T_VOID_I32
    types.ty().function([ValType::I32], [ValType::I64]); // T_I32_I64
    types.ty().function([], [ValType::I64]); // T_VOID_I64
    types
        .ty()
        .function([ValType::I64, ValType::I32, ValType::I32], [ValType::I32]); // T_I64_I32_I32_I32
    types.ty().function([ValType::I32], [ValType::I32]); // T_I32_I32
    types
        .ty()
        .function([ValType::I32, ValType::I32], [ValType::I32]); // T_I32_I32_I32
    types
        .ty()
        .function([ValType::I32, ValType::I64, ValType::I32], [ValType::I64]); // T_SPLIT_HASH

    let walk = walk(table, layout)?;
    if walk.byte_len() > MAX_FUNCTION_BYTES {
        return Err(CompileError::TooLarge(format!(
            "its decision diagram needs {} bytes of code in one function (engines accept {MAX_FUNCTION_BYTES})",
            walk.byte_len()
        )));
    }
    let bodies: [(u32, u32, Function); 12] = [
        (F_WALK, T_WALK, walk),
        (F_HASH_KEY, T_I32_I64, hash_key(layout)),
        (F_KEYLESS_HASH, T_VOID_I64, keyless_hash()),
        (F_SPLIT_HASH, T_SPLIT_HASH, split_hash()),
        (F_SPLIT, T_I64_I32_I32_I32, split(layout)),
        (F_DECIDE, T_I32_I32, decide(layout)),
        (F_DECIDE_HASHED, T_I32_I32_I32, decide_hashed()),
        (F_ABI_VERSION, T_VOID_I32, constant(ABI_VERSION)),
        (F_SIGNAL_COUNT, T_VOID_I32, constant(layout.signals)),
        (F_VALUES_PTR, T_VOID_I32, constant(layout.values)),
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
        ("result_ptr", F_RESULT_PTR),
        ("key_ptr", F_KEY_PTR),
    ] {
        exports.export(name, ExportKind::Func, index);
    }

    let mut data = DataSection::new();
    data.active(
        0,
        &ConstExpr::i32_const(c32(layout.values)),
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
