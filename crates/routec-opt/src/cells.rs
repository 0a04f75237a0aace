//! The cell partition of the request space.
//!
//! The space has a dimension for every signal a rule or slice tests, the
//! `by` dimensions of each `optimize`, the signals of the models' quality
//! tables and, where a model lacks a capability, `has_images`/`has_tools`;
//! numeric dimensions are cut at every threshold (rules, slices, `at`
//! lists, context windows, price tiers). Each rule's region (its condition
//! minus the earlier rules) is cut into *pieces*: cubes whose relevant
//! dimensions (quality and slice dimensions, `prompt_tokens` when a model
//! has price tiers, and for an `optimize` its `by` dimensions,
//! `prompt_tokens` and the capabilities) hold a single atom.
//! Pieces with the same rule and the same atoms form a *cell*, the unit the
//! optimizer assigns and reports.

use std::collections::HashMap;
use std::sync::Arc;

use routec_check::ir::{Cond, ModelId, PlanDef, Policy, SignalId, SignalType, Value};
use routec_check::space::{Atom, AtomSet, Cube, DimId, Region, Space, SpaceBuilder, Union};
use routec_syntax::ast::CmpOp;

use crate::traffic::Traffic;

pub(crate) use routec_check::quantity::{literal as number, trim};

/// Maps keyed by the compiler's own data (no untrusted keys): a fast
/// fixed-seed hash.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// The most pieces a partition may have.
pub const MAX_PIECES: usize = 1_000_000;

/// One cube of the partition and its cell.
#[derive(Clone, Debug)]
pub struct Piece {
    pub cube: Cube,
    pub cell: usize,
    pub weight: f64,
}

/// A cell: the pieces of one rule that agree on the relevant dimensions.
#[derive(Clone, Debug)]
pub struct CellDef {
    pub rule: usize,
    /// `(dimension, atom index)` for each relevant dimension, sorted.
    pub key: Vec<(DimId, usize)>,
    /// Probability under the traffic profile.
    pub weight: f64,
    /// The mean prompt length in the cell (tokens).
    pub prompt_mean: f64,
    /// Quality of each model in the cell (`None`: no figure). It depends
    /// on the values of the quality tables' signals only, so cells share
    /// one vector per combination of those values ([`share_qualities`]).
    pub quality: Arc<[Option<f64>]>,
    /// The posterior variance of each model's quality where recorded
    /// outcomes estimated it, 0 elsewhere (a declared quality is taken as
    /// known); `None` without `slo { confidence ... }` or without outcomes
    /// in the cell. Quality floors hold at the confidence on it.
    pub quality_var: Option<Arc<[f64]>>,
    /// Cells with the same `quality_id` have the same `quality` and
    /// `quality_var`, and different ids mean different qualities.
    pub quality_id: usize,
    /// Membership in each slice.
    pub slices: Vec<bool>,
    /// For an `optimize` rule: the candidates that can serve the cell.
    pub candidates: Vec<usize>,
    /// Classifier latency paid by the cell's requests (seconds).
    pub shift: f64,
}

#[derive(Debug)]
pub struct Partition {
    pub space: Space,
    pub pieces: Vec<Piece>,
    pub cells: Vec<CellDef>,
    /// Dimensions in the order rules first use them (the diagram order).
    pub order: Vec<DimId>,
    /// For a recorded profile: the cell of each recorded request (`None`:
    /// no rule matches it).
    pub row_cells: Vec<Option<usize>>,
}

/// Recorded requests grouped by the atom they fall in on every dimension:
/// a cube's weight is the share of requests in the groups it contains.
#[derive(Debug)]
struct RowGroups {
    /// Per group: its atom on each dimension (`usize::MAX`: none).
    atoms: Vec<Vec<usize>>,
    count: Vec<f64>,
    prompt_sum: Vec<f64>,
    cell: Vec<Option<usize>>,
    /// The group of each row.
    row_group: Vec<usize>,
    total: f64,
}

/// The atom of dimension `dim` holding `x`.
fn atom_of(dim: &routec_check::space::Dim, x: f64) -> usize {
    dim.atoms
        .iter()
        .position(|a| match *a {
            Atom::Value(v) => x == v as f64,
            Atom::Int { lo, hi } => {
                (lo == i64::MIN || x >= lo as f64) && hi.is_none_or(|h| x < h as f64)
            }
            Atom::Point(p) => x == p,
            Atom::Open { lo, hi } => lo.is_none_or(|l| x > l) && hi.is_none_or(|h| x < h),
        })
        .unwrap_or(usize::MAX)
}

impl RowGroups {
    fn new(space: &Space, rows: &crate::recorded::Rows, prompt: Option<SignalId>) -> RowGroups {
        let mut index: HashMap<Vec<usize>, usize> = HashMap::new();
        let mut g = RowGroups {
            atoms: Vec::new(),
            count: Vec::new(),
            prompt_sum: Vec::new(),
            cell: Vec::new(),
            row_group: Vec::with_capacity(rows.len()),
            total: rows.len() as f64,
        };
        for row in &rows.values {
            let key: Vec<usize> = space
                .dims
                .iter()
                .map(|d| atom_of(d, row.get(d.signal.index()).copied().unwrap_or(0.0)))
                .collect();
            let i = *index.entry(key.clone()).or_insert_with(|| {
                g.atoms.push(key);
                g.count.push(0.0);
                g.prompt_sum.push(0.0);
                g.cell.push(None);
                g.atoms.len() - 1
            });
            g.count[i] += 1.0;
            g.prompt_sum[i] += prompt
                .and_then(|p| row.get(p.index()).copied())
                .unwrap_or(crate::traffic::DEFAULT_PROMPT_TOKENS);
            g.row_group.push(i);
        }
        g
    }

    fn contains(&self, group: usize, cube: &Cube) -> bool {
        cube.dims.iter().all(|(d, set)| {
            let a = self.atoms[group][d.0 as usize];
            a != usize::MAX && set.contains(a)
        })
    }

    /// `(share of requests, mean prompt length)` of a cube.
    fn stats(&self, cube: &Cube) -> (f64, Option<f64>) {
        let (mut n, mut p) = (0.0, 0.0);
        for g in 0..self.atoms.len() {
            if self.contains(g, cube) {
                n += self.count[g];
                p += self.prompt_sum[g];
            }
        }
        let share = if self.total > 0.0 {
            n / self.total
        } else {
            0.0
        };
        (share, (n > 0.0).then(|| p / n))
    }

    fn claim(&mut self, cube: &Cube, cell: usize) {
        for g in 0..self.atoms.len() {
            if self.cell[g].is_none() && self.contains(g, cube) {
                self.cell[g] = Some(cell);
            }
        }
    }
}

#[derive(Debug)]
pub enum PartitionError {
    /// A rule's or slice's condition could not be lowered.
    Unresolved,
    TooManyPieces(usize),
}

fn add_cond(b: &mut SpaceBuilder, cond: &Cond, policy: &Policy, types: &[SignalType]) {
    let slices: Vec<&Cond> = policy.slices.iter().map(|s| &s.cond).collect();
    b.add_cond(cond, types, &slices);
}

fn optimize_by(plan: &PlanDef) -> Option<(&[PlanDef], &[routec_check::ir::DimDef])> {
    match plan {
        PlanDef::Optimize { candidates, by } => Some((candidates, by)),
        _ => None,
    }
}

fn cond_signals(policy: &Policy, cond: &Cond, out: &mut Vec<SignalId>, depth: usize) {
    if depth > 64 {
        return;
    }
    cond.signals(out);
    let mut sl = Vec::new();
    cond.slices(&mut sl);
    for s in sl {
        if let Some(d) = policy.slices.get(s.index()) {
            cond_signals(policy, &d.cond, out, depth + 1);
        }
    }
}

/// The signals the partition gives a role, found while building its space.
struct Signals {
    /// Signals in the order rules, then slices, first read them.
    first_use: Vec<SignalId>,
    /// The signals of the models' quality tables (repeats kept).
    quality: Vec<SignalId>,
    /// `has_images` and `has_tools` where a model lacks them and a rule
    /// optimizes.
    capability: Vec<SignalId>,
    prompt: Option<SignalId>,
    images: Option<SignalId>,
    tools: Option<SignalId>,
    /// Some model has price tiers.
    tiered: bool,
}

/// Builds the partition: the request space ([`build_space`]), each rule's
/// region cut into pieces grouped in cells ([`Cutter`]), then the cells'
/// figures (weight and mean prompt length, quality, slices, candidates).
pub fn partition(policy: &Policy, traffic: &Traffic) -> Result<Partition, PartitionError> {
    let (space, signals) = build_space(policy);
    let groups = traffic
        .rows
        .as_ref()
        .map(|rows| RowGroups::new(&space, rows, signals.prompt));
    let slice_conds: Vec<&Cond> = policy.slices.iter().map(|s| &s.cond).collect();
    let order = diagram_order(&space, &signals);
    let common = common_dims(policy, &space, &signals);
    let slice_regions: Vec<Region> = policy
        .slices
        .iter()
        .map(|s| space.lower(&s.cond, &slice_conds))
        .collect::<Option<Vec<_>>>()
        .ok_or(PartitionError::Unresolved)?;

    let mut cutter = Cutter {
        policy,
        traffic,
        space: &space,
        signals: &signals,
        groups,
        masses: Masses::default(),
        pieces: Vec::new(),
        cells: Vec::new(),
        cell_of: FastMap::default(),
    };
    cutter.cut_rules(&slice_conds, &common)?;
    cutter.weigh_cells();
    let Cutter {
        groups,
        pieces,
        mut cells,
        ..
    } = cutter;

    set_qualities(policy, &space, &signals.quality, &mut cells);
    set_slices(&space, &pieces, &slice_regions, &mut cells);
    for c in &mut cells {
        if let Some((cands, _)) = optimize_by(&policy.rules[c.rule].plan) {
            c.candidates = candidates(policy, &space, &signals, c, cands);
        }
    }
    share_qualities(&mut cells);
    let row_cells = groups
        .map(|g| g.row_group.iter().map(|&i| g.cell[i]).collect())
        .unwrap_or_default();
    Ok(Partition {
        space,
        pieces,
        cells,
        order,
        row_cells,
    })
}

/// The request space: a dimension for every signal a rule or slice tests,
/// each `optimize`'s `by` dimensions, the quality tables' signals, and the
/// cuts of context windows, capabilities and price tiers.
fn build_space(policy: &Policy) -> (Space, Signals) {
    let types: Vec<SignalType> = policy.signals.iter().map(|s| s.ty.clone()).collect();
    let mut b = SpaceBuilder::new();
    // Registration order = diagram order: rules first, in order.
    let mut first_use: Vec<SignalId> = Vec::new();
    for rule in &policy.rules {
        add_cond(&mut b, &rule.cond, policy, &types);
        cond_signals(policy, &rule.cond, &mut first_use, 0);
        if let Some((_, by)) = optimize_by(&rule.plan) {
            for d in by {
                let ty = &types[d.signal.index()];
                b.dim(d.signal, ty);
                first_use.push(d.signal);
                for t in &d.thresholds {
                    b.cut(d.signal, ty, CmpOp::Ge, *t);
                }
            }
        }
    }
    for s in &policy.slices {
        add_cond(&mut b, &s.cond, policy, &types);
        cond_signals(policy, &s.cond, &mut first_use, 0);
    }
    let mut quality = Vec::new();
    for m in &policy.models {
        for t in [&m.quality.by, &m.quality.adjust].into_iter().flatten() {
            b.dim(t.signal, &types[t.signal.index()]);
            quality.push(t.signal);
        }
    }
    let prompt = policy.signal_by_name("prompt_tokens");
    let images = policy.signal_by_name("has_images");
    let tools = policy.signal_by_name("has_tools");
    let any_optimize = policy.rules.iter().any(|r| optimize_by(&r.plan).is_some());
    let capability = if any_optimize {
        serving_dims(&mut b, policy, &types, [prompt, images, tools])
    } else {
        Vec::new()
    };
    // Price tiers: a cell never straddles a tier's threshold, so a plan's
    // cost at the cell's mean prompt length is exact (`PlanEval::cost`).
    let tiered = policy.models.iter().any(|m| !m.price.tiers.is_empty());
    if tiered && let Some(pt) = prompt {
        b.dim(pt, &types[pt.index()]);
        for t in policy.models.iter().flat_map(|m| m.price.thresholds()) {
            b.cut(pt, &types[pt.index()], CmpOp::Gt, t);
        }
    }
    let signals = Signals {
        first_use,
        quality,
        capability,
        prompt,
        images,
        tools,
        tiered,
    };
    (b.build(), signals)
}

/// For `optimize` rules, what decides whether a model can serve a request:
/// `prompt_tokens` cut at every context window, and `has_images` and
/// `has_tools` where a model lacks them (returned: the capability signals).
fn serving_dims(
    b: &mut SpaceBuilder,
    policy: &Policy,
    types: &[SignalType],
    [prompt, images, tools]: [Option<SignalId>; 3],
) -> Vec<SignalId> {
    if let Some(pt) = prompt {
        b.dim(pt, &types[pt.index()]);
        for m in &policy.models {
            if let Some(c) = m.context {
                b.cut(pt, &types[pt.index()], CmpOp::Gt, c as f64);
            }
        }
    }
    let lacks = |f: fn(&routec_check::ir::Capabilities) -> bool| {
        policy
            .models
            .iter()
            .any(|m| m.supports.as_ref().is_some_and(|c| !f(c)))
    };
    let mut capability = Vec::new();
    if let Some(s) = images
        && lacks(|c| c.images)
    {
        b.dim(s, &types[s.index()]);
        capability.push(s);
    }
    if let Some(s) = tools
        && lacks(|c| c.tools)
    {
        b.dim(s, &types[s.index()]);
        capability.push(s);
    }
    capability
}

/// Diagram order: first use in rules, then slices, then the rest.
fn diagram_order(space: &Space, signals: &Signals) -> Vec<DimId> {
    let mut order: Vec<DimId> = Vec::new();
    for s in signals
        .first_use
        .iter()
        .chain(signals.quality.iter())
        .chain(signals.capability.iter())
        .chain(signals.prompt.iter())
    {
        if let Some(d) = space.dim_of(*s)
            && !order.contains(&d)
        {
            order.push(d);
        }
    }
    for i in 0..space.dims.len() {
        let d = DimId(i as u32);
        if !order.contains(&d) {
            order.push(d);
        }
    }
    order
}

/// Relevant dimensions shared by every rule: the quality tables' and the
/// slices' signals.
fn common_dims(policy: &Policy, space: &Space, signals: &Signals) -> Vec<DimId> {
    let mut common: Vec<DimId> = Vec::new();
    let mut slice_sigs = Vec::new();
    for s in &policy.slices {
        cond_signals(policy, &s.cond, &mut slice_sigs, 0);
    }
    for s in signals.quality.iter().chain(slice_sigs.iter()) {
        if let Some(d) = space.dim_of(*s) {
            common.push(d);
        }
    }
    common
}

/// The relevant dimensions of a rule with `plan`, sorted: the common ones,
/// `prompt_tokens` when a model has price tiers, and for an `optimize` its
/// `by` dimensions, `prompt_tokens` and the capabilities.
fn relevant_dims(space: &Space, signals: &Signals, common: &[DimId], plan: &PlanDef) -> Vec<DimId> {
    let mut relevant = common.to_vec();
    if signals.tiered
        && let Some(x) = signals.prompt.and_then(|p| space.dim_of(p))
    {
        relevant.push(x);
    }
    if let Some((_, by)) = optimize_by(plan) {
        for d in by {
            if let Some(x) = space.dim_of(d.signal) {
                relevant.push(x);
            }
        }
        for s in signals.prompt.iter().chain(signals.capability.iter()) {
            if let Some(x) = space.dim_of(*s) {
                relevant.push(x);
            }
        }
    }
    relevant.sort();
    relevant.dedup();
    relevant
}

/// A piece's atom on each relevant dimension (a one-atom dimension the
/// piece leaves unconstrained is atom 0).
fn cell_key(space: &Space, relevant: &[DimId], piece: &Cube) -> Vec<(DimId, usize)> {
    relevant
        .iter()
        .filter_map(|&d| {
            let n = space.dim(d).atoms.len();
            match piece.get(d) {
                Some(s) => s.first().map(|a| (d, a)),
                None if n == 1 => Some((d, 0)),
                None => None,
            }
        })
        .collect()
}

/// Cuts each rule's region into pieces and groups them into cells, weighing
/// each piece by the recorded requests in it or by the marginal masses.
struct Cutter<'a> {
    policy: &'a Policy,
    traffic: &'a Traffic,
    space: &'a Space,
    signals: &'a Signals,
    groups: Option<RowGroups>,
    masses: Masses,
    pieces: Vec<Piece>,
    cells: Vec<CellDef>,
    cell_of: FastMap<(usize, Vec<(DimId, usize)>), usize>,
}

impl Cutter<'_> {
    /// Cuts every rule's region (its condition minus the earlier rules').
    fn cut_rules(&mut self, slice_conds: &[&Cond], common: &[DimId]) -> Result<(), PartitionError> {
        let (policy, space) = (self.policy, self.space);
        // The earlier rules' union, as `Space::union` would build it, so that
        // each rule meets only the cubes it overlaps.
        let mut taken = Union::new(space);
        let shifts = crate::model::classifier_costs(policy);
        for (ri, rule) in policy.rules.iter().enumerate() {
            let cond = space
                .lower(&rule.cond, slice_conds)
                .ok_or(PartitionError::Unresolved)?;
            let region = taken.take(space, &cond);
            let relevant = relevant_dims(space, self.signals, common, &rule.plan);
            let shift = shifts.get(ri).copied().unwrap_or(0.0);
            for cube in &region.cubes {
                for piece in self.split(cube, &relevant)? {
                    self.add_piece(ri, shift, &relevant, piece);
                }
            }
        }
        Ok(())
    }

    /// Expands the relevant dimensions of `cube` into single atoms.
    fn split(&self, cube: &Cube, relevant: &[DimId]) -> Result<Vec<Cube>, PartitionError> {
        let mut partial: Vec<Cube> = vec![cube.clone()];
        for &d in relevant {
            let n = self.space.dim(d).atoms.len();
            let mut next = Vec::new();
            for c in &partial {
                let set = c.get(d).cloned().unwrap_or_else(|| AtomSet::full(n));
                for a in set.iter() {
                    let mut s = AtomSet::empty(n);
                    s.insert(a);
                    let mut nc = c.clone();
                    nc.set_dim(d, s, n);
                    next.push(nc);
                }
            }
            partial = next;
            if self.pieces.len() + partial.len() > MAX_PIECES {
                return Err(PartitionError::TooManyPieces(
                    self.pieces.len() + partial.len(),
                ));
            }
        }
        Ok(partial)
    }

    /// Adds a piece of rule `rule` to its cell (a new one for a new key).
    fn add_piece(&mut self, rule: usize, shift: f64, relevant: &[DimId], piece: Cube) {
        let key = cell_key(self.space, relevant, &piece);
        let weight = match &self.groups {
            Some(g) => g.stats(&piece).0,
            None => self.masses.weight(self.space, self.traffic, &piece),
        };
        let cells = &mut self.cells;
        let idx = *self.cell_of.entry((rule, key.clone())).or_insert_with(|| {
            cells.push(CellDef {
                rule,
                key,
                weight: 0.0,
                prompt_mean: 0.0,
                quality: Arc::from([]),
                quality_var: None,
                quality_id: 0,
                slices: Vec::new(),
                candidates: Vec::new(),
                shift,
            });
            cells.len() - 1
        });
        if let Some(g) = self.groups.as_mut() {
            g.claim(&piece, idx);
        }
        self.pieces.push(Piece {
            cube: piece,
            cell: idx,
            weight,
        });
    }

    /// Each cell's weight (its pieces') and mean prompt length (weighted by
    /// its pieces; the first piece's when they weigh nothing).
    fn weigh_cells(&mut self) {
        let mut prompt_acc = vec![(0.0, 0.0, None::<f64>); self.cells.len()];
        for p in &self.pieces {
            let c = &mut self.cells[p.cell];
            c.weight += p.weight;
            let pm = self
                .groups
                .as_ref()
                .and_then(|g| g.stats(&p.cube).1)
                .unwrap_or_else(|| {
                    self.masses
                        .prompt_mean(self.space, self.traffic, self.signals.prompt, &p.cube)
                });
            let acc = &mut prompt_acc[p.cell];
            acc.0 += p.weight * pm;
            acc.1 += p.weight;
            if acc.2.is_none() {
                acc.2 = Some(pm);
            }
        }
        for (c, (s, w, first)) in self.cells.iter_mut().zip(prompt_acc) {
            c.prompt_mean = if w > 0.0 { s / w } else { first.unwrap_or(0.0) };
        }
    }
}

/// Quality vectors, one per combination of the quality signals' values.
fn set_qualities(policy: &Policy, space: &Space, quality: &[SignalId], cells: &mut [CellDef]) {
    let mut quality_signals = quality.to_vec();
    quality_signals.sort();
    quality_signals.dedup();
    let mut qualities: FastMap<Vec<Option<usize>>, Arc<[Option<f64>]>> = FastMap::default();
    for c in cells {
        let value_of = |sig: SignalId| -> Option<usize> {
            let d = space.dim_of(sig)?;
            let (_, a) = c.key.iter().find(|(k, _)| *k == d)?;
            match space.dim(d).atoms.get(*a)? {
                Atom::Value(v) => Some(*v),
                _ => None,
            }
        };
        let values: Vec<Option<usize>> = quality_signals.iter().map(|s| value_of(*s)).collect();
        c.quality = qualities
            .entry(values)
            .or_insert_with_key(|values| {
                let value_of = |sig: SignalId| {
                    let i = quality_signals.binary_search(&sig).ok()?;
                    values.get(i).copied().flatten()
                };
                policy
                    .models
                    .iter()
                    .map(|m| crate::model::quality(m, value_of))
                    .collect()
            })
            .clone();
    }
}

/// Each cell's membership in each slice, from its first piece.
fn set_slices(space: &Space, pieces: &[Piece], slice_regions: &[Region], cells: &mut [CellDef]) {
    let first_piece: FastMap<usize, usize> = pieces
        .iter()
        .enumerate()
        .rev()
        .map(|(i, p)| (p.cell, i))
        .collect();
    for (ci, c) in cells.iter_mut().enumerate() {
        let piece = first_piece.get(&ci).map(|&i| &pieces[i].cube);
        c.slices = slice_regions
            .iter()
            .map(|r| {
                piece.is_some_and(|cube| {
                    !space
                        .intersect(
                            &Region {
                                cubes: vec![cube.clone()],
                            },
                            r,
                        )
                        .is_empty()
                })
            })
            .collect();
    }
}

/// The candidates of an `optimize` that can serve cell `c` (all of them
/// when none can): every model a candidate calls has a quality figure in
/// the cell, a context window for its shortest prompt and the
/// capabilities its requests need.
fn candidates(
    policy: &Policy,
    space: &Space,
    signals: &Signals,
    c: &CellDef,
    cands: &[PlanDef],
) -> Vec<usize> {
    let atom_of = |sig: Option<SignalId>| -> Option<Atom> {
        let d = space.dim_of(sig?)?;
        let (_, a) = c.key.iter().find(|(k, _)| *k == d)?;
        space.dim(d).atoms.get(*a).copied()
    };
    let min_prompt = atom_of(signals.prompt).and_then(|a| a.inf()).unwrap_or(0.0);
    let needs = |sig: Option<SignalId>| matches!(atom_of(sig), Some(Atom::Value(1)));
    let (img, tool) = (needs(signals.images), needs(signals.tools));
    let quality = &c.quality;
    let serves = |plan: &PlanDef| {
        let mut ms: Vec<ModelId> = Vec::new();
        plan.models(&mut ms);
        !ms.is_empty()
            && ms.iter().all(|m| {
                let def = policy.model(*m);
                quality[m.index()].is_some()
                    && def.context.is_none_or(|ctx| (ctx as f64) >= min_prompt)
                    && def
                        .supports
                        .as_ref()
                        .is_none_or(|s| (!img || s.images) && (!tool || s.tools))
            })
    };
    let serving: Vec<usize> = (0..cands.len()).filter(|&i| serves(&cands[i])).collect();
    if serving.is_empty() {
        (0..cands.len()).collect()
    } else {
        serving
    }
}

/// Numbers the cells' distinct quality vectors (`quality_id`, in order of
/// first use) and makes equal vectors one shared vector.
pub(crate) fn share_qualities(cells: &mut [CellDef]) {
    type Shared = (usize, Arc<[Option<f64>]>);
    let mut ids: HashMap<Vec<u64>, Shared> = HashMap::new();
    let mut by_ptr: HashMap<*const [Option<f64>], usize> = HashMap::new();
    for c in cells {
        // Cells already sharing a vector share its id without rehashing it
        // (cells with variances are keyed by both vectors).
        let plain = c.quality_var.is_none();
        if let (true, Some(&id)) = (plain, by_ptr.get(&Arc::as_ptr(&c.quality))) {
            c.quality_id = id;
            continue;
        }
        let bits: Vec<u64> = c
            .quality
            .iter()
            .map(|q| q.map_or(u64::MAX, f64::to_bits))
            .chain(
                c.quality_var
                    .iter()
                    .flat_map(|v| v.iter().map(|x| x.to_bits())),
            )
            .collect();
        let next = ids.len();
        let (id, shared) = ids
            .entry(bits)
            .or_insert_with(|| (next, c.quality.clone()))
            .clone();
        if plain {
            by_ptr.insert(Arc::as_ptr(&c.quality), id);
        }
        c.quality = shared;
        c.quality_id = id;
    }
}

/// The marginal masses of atom sets and the mean prompt length of
/// prompt-length sets, each computed once: pieces repeat the same sets (a
/// set of thousands of tenants in every piece of an `otherwise`).
#[derive(Default)]
struct Masses {
    mass: FastMap<(DimId, AtomSet), f64>,
    prompt: FastMap<Option<AtomSet>, f64>,
}

impl Masses {
    /// The probability of a cube: the product of its constrained
    /// dimensions' marginal masses.
    fn weight(&mut self, space: &Space, traffic: &Traffic, cube: &Cube) -> f64 {
        let mut w = 1.0;
        for (d, set) in &cube.dims {
            let p = *self.mass.entry((*d, set.clone())).or_insert_with(|| {
                let dim = space.dim(*d);
                let m = &traffic.marginals[dim.signal.index()];
                set.iter().map(|a| m.atom(&dim.atoms[a])).sum()
            });
            w *= p;
        }
        w
    }

    fn prompt_mean(
        &mut self,
        space: &Space,
        traffic: &Traffic,
        prompt: Option<SignalId>,
        cube: &Cube,
    ) -> f64 {
        let set = prompt
            .and_then(|pt| space.dim_of(pt))
            .and_then(|d| cube.get(d).cloned());
        *self
            .prompt
            .entry(set)
            .or_insert_with(|| prompt_mean(space, traffic, prompt, cube))
    }
}

fn prompt_mean(space: &Space, traffic: &Traffic, prompt: Option<SignalId>, cube: &Cube) -> f64 {
    let Some(pt) = prompt else {
        return crate::traffic::DEFAULT_PROMPT_TOKENS;
    };
    let m = &traffic.marginals[pt.index()];
    let Some(d) = space.dim_of(pt) else {
        return m.mean_in(&Atom::Int { lo: 0, hi: None });
    };
    let dim = space.dim(d);
    let set = cube
        .get(d)
        .cloned()
        .unwrap_or_else(|| AtomSet::full(dim.atoms.len()));
    let (mut s, mut w) = (0.0, 0.0);
    let mut first = None;
    for a in set.iter() {
        let atom = &dim.atoms[a];
        let p = m.atom(atom);
        let mean = m.mean_in(atom);
        first.get_or_insert(mean);
        s += p * mean;
        w += p;
    }
    if w > 0.0 { s / w } else { first.unwrap_or(0.0) }
}

/// A readable predicate for a cell: `task = code, plan = pro,
/// prompt_tokens in [8k, 32k)`; dimensions with a single atom are left out.
pub fn predicate(policy: &Policy, space: &Space, key: &[(DimId, usize)]) -> String {
    let mut parts = Vec::new();
    for &(d, a) in key {
        let dim = space.dim(d);
        if dim.atoms.len() <= 1 {
            continue;
        }
        let name = &policy.signal(dim.signal).name;
        let Some(atom) = dim.atoms.get(a) else {
            continue;
        };
        let text = match (&dim.ty, atom) {
            (SignalType::Enum(vs), Atom::Value(v)) => {
                format!("{name} = {}", vs.get(*v).map_or("?", |s| s.as_str()))
            }
            (SignalType::Bool, Atom::Value(v)) => {
                format!("{name} = {}", if *v == 1 { "true" } else { "false" })
            }
            (ty, Atom::Int { lo, hi }) => {
                let lo = if *lo == i64::MIN {
                    "-inf".to_string()
                } else {
                    number(ty, *lo as f64)
                };
                let hi = hi.map_or("inf".to_string(), |h| number(ty, h as f64));
                format!("{name} in [{lo}, {hi})")
            }
            (ty, Atom::Point(p)) => format!("{name} = {}", number(ty, *p)),
            (ty, Atom::Open { lo, hi }) => {
                let lo = lo.map_or("-inf".to_string(), |l| number(ty, l));
                let hi = hi.map_or("inf".to_string(), |h| number(ty, h));
                format!("{name} in ({lo}, {hi})")
            }
            (_, Atom::Value(v)) => format!("{name} = {v}"),
        };
        parts.push(text);
    }
    if parts.is_empty() {
        "all requests".to_string()
    } else {
        parts.join(", ")
    }
}

/// A concrete request inside a cube (the lowest meaningful value of each
/// constrained dimension).
pub fn example(space: &Space, cube: &Cube) -> Vec<(SignalId, Value)> {
    space.cube_example(cube)
}
