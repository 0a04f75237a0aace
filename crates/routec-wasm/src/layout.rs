//! The module's linear memory (ABI version 1), in bytes from address 0:
//!
//! | address | size | what |
//! |---|---|---|
//! | 0 | 4 | result: the plan (index into the table's plans) |
//! | 4 | 4 | result: the rule (index into the table's rules) |
//! | 8 | 4 | result: the leaf (index into the table's leaves) |
//! | 12 | 4 | result: the cell (index into the assumed cells), `-1` for none |
//! | 16 | 32 | missing signals the decision read: bit `s` is byte `s >> 3`, bit `s & 7` |
//! | 48 | 32 | invalid signals the decision read (same layout) |
//! | `values` (80) | 8 × n | each signal's value, `f64` little endian, in base units |
//! | `states` | n | each signal's state: 0 missing, 1 present, anything else invalid |
//! | `defaults` | 8 × n | each signal's default (data) |
//! | `leaves` | 16 × leaves | per leaf: rule, cell (`-1`: none), first split, split count (data) |
//! | `shares` | 8 × splits | each split's cumulative share, the last of a leaf exactly 1 (data) |
//! | `plans` | 4 × splits | each split's plan (data) |
//! | `key` | to the end of memory | the sticky-split key's bytes (UTF-8) |
//!
//! Everything from `defaults` to `key` is one active data segment. The
//! memory is exported and may grow (a host grows it for a long key).

use routec_table::Table;

use crate::CompileError;

/// Result slots.
pub const RESULT_PLAN: u32 = 0;
pub const RESULT_RULE: u32 = 4;
pub const RESULT_LEAF: u32 = 8;
pub const RESULT_CELL: u32 = 12;
/// The two signal sets, 256 bits each (`routec_table::MAX_SIGNALS`).
pub const MISSING: u32 = 16;
pub const INVALID: u32 = 48;
pub const VALUES: u32 = 80;
/// Bytes of one leaf record.
pub const LEAF_RECORD: u32 = 16;
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
    pub states: u32,
    pub defaults: u32,
    pub leaves: u32,
    pub shares: u32,
    pub plans: u32,
    pub key: u32,
    /// The memory's initial size, in 64 KiB pages.
    pub pages: u64,
    /// The data segment written at `defaults`.
    pub data: Vec<u8>,
}

fn align8(x: u64) -> u64 {
    x.div_ceil(8) * 8
}

impl Layout {
    /// The layout of a validated table.
    pub fn of(table: &Table) -> Result<Layout, CompileError> {
        let n = table.signals.len() as u64;
        let splits: u64 = table.leaves.iter().map(|l| l.splits.len() as u64).sum();
        let values = u64::from(VALUES);
        let states = values + 8 * n;
        let defaults = align8(states + n);
        let leaves = defaults + 8 * n;
        let shares = align8(leaves + u64::from(LEAF_RECORD) * table.leaves.len() as u64);
        let plans = shares + 8 * splits;
        let key = align8(plans + 4 * splits);
        let pages = (key + u64::from(MIN_KEY_BYTES)).div_ceil(PAGE);
        if pages > MAX_PAGES / 2 {
            return Err(CompileError::TooLarge(format!(
                "its data needs {pages} pages of memory (the limit is {})",
                MAX_PAGES / 2
            )));
        }
        let mut data = Vec::with_capacity((key - defaults) as usize);
        for s in &table.signals {
            data.extend_from_slice(&s.default.to_le_bytes());
        }
        let mut first: u32 = 0;
        for leaf in &table.leaves {
            let cell = leaf.cell.map_or(-1, |c| c as i32);
            let count = leaf.splits.len() as u32;
            for word in [leaf.rule as i32, cell, first as i32, count as i32] {
                data.extend_from_slice(&word.to_le_bytes());
            }
            first += count;
        }
        data.resize((shares - defaults) as usize, 0);
        for leaf in &table.leaves {
            for (share, _) in cumulative(leaf) {
                data.extend_from_slice(&share.to_le_bytes());
            }
        }
        for leaf in &table.leaves {
            for (_, plan) in cumulative(leaf) {
                data.extend_from_slice(&plan.to_le_bytes());
            }
        }
        data.resize((key - defaults) as usize, 0);
        // Every address is below `pages * 64 KiB`, at most 512 MiB: it fits
        // an `i32`.
        Ok(Layout {
            signals: n as u32,
            values: values as u32,
            states: states as u32,
            defaults: defaults as u32,
            leaves: leaves as u32,
            shares: shares as u32,
            plans: plans as u32,
            key: key as u32,
            pages,
            data,
        })
    }
}

/// A leaf's `(cumulative share, plan)` pairs, computed exactly as
/// `routec-runtime` does: shares added in order, the last set to 1.
pub fn cumulative(leaf: &routec_table::Leaf) -> Vec<(f64, u32)> {
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
