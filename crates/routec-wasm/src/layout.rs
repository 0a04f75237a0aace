//! The module's linear memory (ABI version 2), in bytes from address 0:
//!
//! | address | size | what |
//! |---|---|---|
//! | 0 | 4 | result: the plan (index into the table's plans) |
//! | 4 | 4 | result: the rule (index into the table's rules) |
//! | 8 | 4 | result: the leaf (index into the table's leaves) |
//! | 12 | 4 | result: the cell (index into the assumed cells), `-1` for none |
//! | 16 | 32 | missing signals the decision read: bit `s` is byte `s >> 3`, bit `s & 7` |
//! | 48 | 32 | invalid signals the decision read (same layout) |
//! | `values` (80) | 8 × n | each signal's value, `f64` little endian, in base units: finite is present, `-inf` missing, anything else (NaN, `+inf`) invalid; `-inf` initially |
//! | `shares` | 8 × splits | each split's cumulative share, the last of a leaf exactly 1 (data) |
//! | `plans` | 4 × splits | each split's plan (data) |
//! | `key` | to the end of memory | the sticky-split key's bytes (UTF-8) |
//!
//! `shares` and `plans` hold the splits of the leaves with more than one
//! plan only, leaf by leaf (a leaf with one plan is constants in the code,
//! as are the defaults). Everything from `values` to `key` is one active
//! data segment. The memory is exported and may grow (a host grows it for a
//! long key).

use routec_table::{Leaf, Table};

use crate::CompileError;

/// Result slots.
pub const RESULT_PLAN: u32 = 0;
pub const RESULT_RULE: u32 = 4;
pub const RESULT_LEAF: u32 = 8;
/// The two signal sets, 256 bits each (`routec_table::MAX_SIGNALS`).
pub const MISSING: u32 = 16;
pub const INVALID: u32 = 48;
pub const VALUES: u32 = 80;
/// The key area is at least this large before the host grows the memory.
pub const MIN_KEY_BYTES: u32 = 4096;
/// The most pages the memory may grow to (1 GiB): keeps every address an
/// `i32` and bounds what a host can be made to allocate.
pub const MAX_PAGES: u64 = 16_384;
const PAGE: u64 = 65_536;

/// Where everything is, for one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub signals: u32,
    pub values: u32,
    pub shares: u32,
    pub plans: u32,
    pub key: u32,
    /// Per leaf, the index of its first split in `shares` and `plans`
    /// when it has more than one plan.
    pub first_split: Vec<Option<u32>>,
    /// The memory's initial size, in 64 KiB pages.
    pub pages: u64,
    /// The data segment written at `values`.
    pub data: Vec<u8>,
}

fn align8(x: u64) -> u64 {
    x.div_ceil(8) * 8
}

/// Whether a leaf picks among several plans by the split hash.
pub fn splits(leaf: &Leaf) -> bool {
    leaf.splits.len() > 1
}

impl Layout {
    /// The layout of a validated table.
    pub fn of(table: &Table) -> Result<Layout, CompileError> {
        let n = table.signals.len() as u64;
        let split: u64 = table
            .leaves
            .iter()
            .filter(|l| splits(l))
            .map(|l| l.splits.len() as u64)
            .sum();
        let values = u64::from(VALUES);
        let shares = values + 8 * n;
        let plans = shares + 8 * split;
        let key = align8(plans + 4 * split);
        let pages = (key + u64::from(MIN_KEY_BYTES)).div_ceil(PAGE);
        if pages > MAX_PAGES / 2 {
            return Err(CompileError::TooLarge(format!(
                "its data needs {pages} pages of memory (the limit is {})",
                MAX_PAGES / 2
            )));
        }
        let mut data = Vec::with_capacity((key - values) as usize);
        for _ in 0..n {
            data.extend_from_slice(&f64::NEG_INFINITY.to_le_bytes());
        }
        let mut first_split = Vec::with_capacity(table.leaves.len());
        let mut first: u32 = 0;
        for leaf in &table.leaves {
            if splits(leaf) {
                first_split.push(Some(first));
                first += leaf.splits.len() as u32;
                for (share, _) in cumulative(leaf) {
                    data.extend_from_slice(&share.to_le_bytes());
                }
            } else {
                first_split.push(None);
            }
        }
        for leaf in table.leaves.iter().filter(|l| splits(l)) {
            for (_, plan) in cumulative(leaf) {
                data.extend_from_slice(&plan.to_le_bytes());
            }
        }
        data.resize((key - values) as usize, 0);
        // Every address is below `pages * 64 KiB`, at most 512 MiB: it fits
        // an `i32`.
        Ok(Layout {
            signals: n as u32,
            values: values as u32,
            shares: shares as u32,
            plans: plans as u32,
            key: key as u32,
            first_split,
            pages,
            data,
        })
    }
}

/// A leaf's `(cumulative share, plan)` pairs, computed exactly as
/// `routec-runtime` does: shares added in order, the last set to 1.
pub fn cumulative(leaf: &Leaf) -> Vec<(f64, u32)> {
    let mut total = 0.0;
    let mut out: Vec<(f64, u32)> = leaf
        .splits
        .iter()
        .map(|s| {
            total += s.share;
            (total, s.plan)
        })
        .collect();
    if let Some(last) = out.last_mut() {
        last.0 = 1.0;
    }
    out
}
