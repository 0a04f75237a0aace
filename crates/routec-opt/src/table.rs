//! The decision-table artifact of a solution: signals, models, plans, the
//! reduced decision diagram, leaves with their splits, fault and learning
//! settings, and what the table assumed (traffic marginals, per-cell
//! predictions, SLO statuses).

use std::collections::{BTreeMap, HashMap};

use routec_check::ir::{
    self, DriftAction, ModelId, ParamValue, PlanDef, Policy, RetryOn, SignalSource, SignalType,
    StrOrEnv, Value,
};
use routec_check::space::{Atom, Cube};
use routec_table as t;

use crate::cells::{self, Partition};
use crate::compile::{CellInfo, CompileOptions, ValueSet, line_of};
use crate::eval::{Evaluator, PlanEval};
use crate::model;
use crate::optimize::{Assignment, Problem};
use crate::slos::{self, text_of};
use crate::solved::{Solved, score_weights};
use crate::traffic::{Marginal, Traffic};

/// Maps keyed by the compiler's own data: a fast fixed-seed hash.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

struct Plans {
    list: Vec<t::Plan>,
    by_text: HashMap<String, u32>,
}

impl Plans {
    fn add(&mut self, policy: &Policy, plan: &PlanDef) -> Option<u32> {
        let (text, kind) = match plan {
            PlanDef::Target(m) => (
                policy.model(*m).name.clone(),
                t::PlanKind::Target { model: m.0 },
            ),
            PlanDef::Chain(ps) => {
                let mut idx = Vec::new();
                for p in ps {
                    idx.push(self.add(policy, p)?);
                }
                let text = ps
                    .iter()
                    .map(|p| plan_text(policy, p))
                    .collect::<Vec<_>>()
                    .join(" else ");
                (text, t::PlanKind::Chain { plans: idx })
            }
            PlanDef::Cascade { stages, accept } => (
                plan_text(policy, plan),
                t::PlanKind::Cascade {
                    models: stages.iter().map(|m| m.0).collect(),
                    accept: accept.as_ref().map_or(0.0, |a| a.threshold),
                },
            ),
            PlanDef::Split(_) | PlanDef::Optimize { .. } | PlanDef::Error => return None,
        };
        if let Some(&i) = self.by_text.get(&text) {
            return Some(i);
        }
        let i = self.list.len() as u32;
        self.list.push(t::Plan {
            text: text.clone(),
            kind,
        });
        self.by_text.insert(text, i);
        Some(i)
    }

    /// The leaf splits of choosing `plan` with share `share`.
    fn splits(&mut self, policy: &Policy, plan: &PlanDef, share: f64, out: &mut Vec<t::Split>) {
        match plan {
            PlanDef::Split(es) => {
                for (m, s) in es {
                    self.splits(policy, &PlanDef::Target(*m), share * s, out);
                }
            }
            p => {
                if let Some(i) = self.add(policy, p) {
                    match out.iter_mut().find(|s| s.plan == i) {
                        Some(s) => s.share += share,
                        None => out.push(t::Split { plan: i, share }),
                    }
                }
            }
        }
    }
}

/// [`line_of`] for many offsets of one source: a binary search over the
/// newlines instead of a count from the start each time.
struct Lines(Vec<usize>);

impl Lines {
    fn new(source: &str) -> Lines {
        Lines(
            source
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }

    fn of(&self, offset: u32) -> u32 {
        self.0.partition_point(|&i| i < offset as usize) as u32 + 1
    }
}

/// A plan in the language's syntax.
pub fn plan_text(policy: &Policy, plan: &PlanDef) -> String {
    let name = |m: &ModelId| policy.model(*m).name.clone();
    match plan {
        PlanDef::Target(m) => name(m),
        PlanDef::Chain(ps) => ps
            .iter()
            .map(|p| plan_text(policy, p))
            .collect::<Vec<_>>()
            .join(" else "),
        PlanDef::Cascade { stages, accept } => {
            let chain = stages.iter().map(name).collect::<Vec<_>>().join(" -> ");
            match accept {
                Some(a) => format!(
                    "cascade {chain} accept when {} {} {}%",
                    a.measure,
                    cmp_text(a.op),
                    cells::trim(a.threshold * 100.0)
                ),
                None => format!("cascade {chain}"),
            }
        }
        PlanDef::Split(es) => format!(
            "split {{ {} }}",
            es.iter()
                .map(|(m, s)| format!("{} {}%", name(m), cells::trim(s * 100.0)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        PlanDef::Optimize { candidates, .. } => format!(
            "optimize [{}]",
            candidates
                .iter()
                .map(|p| plan_text(policy, p))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        PlanDef::Error => "?".to_string(),
    }
}

fn cmp_text(op: routec_syntax::ast::CmpOp) -> &'static str {
    use routec_syntax::ast::CmpOp::*;
    match op {
        Eq => "==",
        Ne => "!=",
        Lt => "<",
        Le => "<=",
        Gt => ">",
        Ge => ">=",
    }
}

fn value_f64(v: &Value) -> f64 {
    match v {
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Enum(i) => *i as f64,
        Value::Number(x) => *x,
    }
}

fn fault_settings(f: &ir::FaultSettings) -> t::FaultSettings {
    t::FaultSettings {
        timeout: f.timeout,
        ttft_timeout: f.ttft_timeout,
        retry: f.retry.as_ref().map(|r| t::Retry {
            attempts: r.count,
            on: r
                .on
                .iter()
                .map(|o| match o {
                    RetryOn::Status(s) => s.to_string(),
                    RetryOn::Class(c) => format!("{c}xx"),
                    RetryOn::Timeout => "timeout".to_string(),
                })
                .collect(),
            backoff: r.backoff.unwrap_or(0.0),
        }),
        cooldown: f.cooldown.map(|(d, n)| t::Cooldown {
            duration: d,
            after_failures: n,
        }),
        hedge_after: f.hedge,
    }
}

pub(crate) fn period_name(p: ir::Period) -> &'static str {
    match p {
        ir::Period::Hour => "hour",
        ir::Period::Day => "day",
        ir::Period::Week => "week",
        ir::Period::Month => "month",
    }
}

/// The splits of every cell under an assignment.
fn cell_splits(
    policy: &Policy,
    part: &Partition,
    p: &Problem,
    a: &Assignment,
    plans: &mut Plans,
) -> Vec<Vec<t::Split>> {
    part.cells
        .iter()
        .enumerate()
        .map(|(c, cell)| {
            let rule = &policy.rules[cell.rule];
            let mut out = Vec::new();
            for (o, x) in a[c].iter().enumerate() {
                if *x <= 0.0 {
                    continue;
                }
                let plan = match (&rule.plan, p.options[c][o].candidate) {
                    (PlanDef::Optimize { candidates, .. }, Some(i)) => &candidates[i],
                    (plan, _) => plan,
                };
                plans.splits(policy, plan, *x, &mut out);
            }
            if out.is_empty() {
                // Unreachable for a checked policy; keep the table valid.
                if let Some(i) = policy
                    .baseline
                    .and_then(|b| plans.add(policy, &PlanDef::Target(b)))
                {
                    out.push(t::Split {
                        plan: i,
                        share: 1.0,
                    });
                }
            }
            let total: f64 = out.iter().map(|s| s.share).sum();
            if total > 0.0 {
                out.iter_mut().for_each(|s| s.share /= total);
            }
            out
        })
        .collect()
}

struct MetricsCx<'a> {
    part: &'a Partition,
    p: &'a Problem,
    ev: &'a Evaluator,
    weights: (f64, f64, f64),
}

impl MetricsCx<'_> {
    /// Metrics of a set of cells under `a`; `quantiles` reuses known
    /// latency quantiles (they do not depend on prompt lengths).
    fn metrics(
        &self,
        cellset: &[usize],
        a: &Assignment,
        quantiles: Option<(t::Quantiles, t::Quantiles)>,
    ) -> t::Metrics {
        let mut parts: Vec<(f64, f64, &PlanEval)> = Vec::new();
        let (mut w, mut l, mut k, mut q) = (0.0, 0.0, 0.0, 0.0);
        let (mut bl, mut bk, mut bq) = (0.0, 0.0, 0.0);
        for &c in cellset {
            let cell = &self.part.cells[c];
            // Cells without traffic are still described by their own figures.
            let cw = if cellset.len() == 1 {
                cell.weight.max(1e-300)
            } else {
                cell.weight
            };
            if cw <= 0.0 {
                continue;
            }
            w += cw;
            for (o, x) in a[c].iter().enumerate() {
                if *x <= 0.0 {
                    continue;
                }
                // Evals of one latency: one part key for the mixture.
                let eval = self.p.options[c][o].eval;
                let e = &self.p.evals[self.p.latency_of[eval]];
                parts.push((cw * x, cell.shift, e));
                let (ll, kk, qq) = self.p.lcq(self.part, c, self.p.options[c][o].eval);
                l += cw * x * ll;
                k += cw * x * kk;
                q += cw * x * qq;
            }
            if let Some(b) = self.p.baseline[c] {
                let (ll, kk, qq) = self.p.lcq(self.part, c, b);
                bl += cw * ll;
                bk += cw * kk;
                bq += cw * qq;
            }
        }
        if w <= 0.0 {
            return t::Metrics::default();
        }
        let quant = |ttft: bool| t::Quantiles {
            p50: self.ev.mixture_quantile(&parts, 0.5, ttft),
            p95: self.ev.mixture_quantile(&parts, 0.95, ttft),
            p99: self.ev.mixture_quantile(&parts, 0.99, ttft),
        };
        let (ttft, latency) = quantiles.unwrap_or_else(|| (quant(true), quant(false)));
        let (l, k, q) = (l / w, k / w, q / w);
        let score = if bl > 0.0 {
            model::composite_score(self.weights, (l, k, q), (bl / w, bk / w, bq / w))
        } else {
            0.0
        };
        let cps = model::cost_per_success(k, q);
        t::Metrics {
            ttft,
            latency,
            cost_per_1k_requests: k * 1000.0,
            cost_per_success: if cps.is_finite() { cps } else { 0.0 },
            quality: q,
            score,
        }
    }
}

/// The decision table of assignment `a` (the solution, or a frontier
/// point's) with the SLO rows' `duals` (empty: none).
pub(crate) fn build(
    s: &Solved,
    source: &str,
    options: &CompileOptions,
    a: &Assignment,
    duals: &[Option<f64>],
) -> t::Table {
    let policy = &s.policy;
    let mut plans = Plans {
        list: Vec::new(),
        by_text: HashMap::new(),
    };
    // Every rule's plans first, in order, so indices read naturally.
    for rule in &policy.rules {
        match &rule.plan {
            PlanDef::Optimize { candidates, .. } => {
                for c in candidates {
                    let mut v = Vec::new();
                    plans.splits(policy, c, 1.0, &mut v);
                }
            }
            plan => {
                let mut v = Vec::new();
                plans.splits(policy, plan, 1.0, &mut v);
            }
        }
    }
    let splits = cell_splits(policy, &s.part, &s.problem, a, &mut plans);
    let (leaves, cell_leaf) = leaves(&s.part, &splits);
    let explore_candidates = explore_candidates(s, a, &mut plans, &cell_leaf, leaves.len());
    let pieces: Vec<(Cube, u32)> = s
        .part
        .pieces
        .iter()
        .map(|pc| (pc.cube.clone(), cell_leaf[pc.cell]))
        .collect();
    let (root, nodes) = crate::diagram::build(&s.part.space, &s.part.order, pieces);
    let lines = Lines::new(source);
    t::Table {
        schema_version: t::SCHEMA_VERSION,
        language_version: t::LANGUAGE_VERSION.to_string(),
        compiler_version: options.compiler_version.clone(),
        source_hash: t::source_hash(source),
        policy: t::PolicyInfo {
            name: policy.name.clone().unwrap_or_else(|| "policy".to_string()),
            owner: policy.owner.clone(),
            baseline: policy.baseline.map(|b| b.0),
        },
        signals: signals(policy),
        models: models(policy),
        plans: plans.list,
        rules: policy
            .rules
            .iter()
            .map(|r| t::Rule {
                line: lines.of(r.span.start),
                text: text_of(source, r.span),
            })
            .collect(),
        diagram: t::Diagram { root, nodes },
        leaves,
        faults: faults(policy),
        learn: learn(policy),
        assumed: Some(assumed(s, source, a, &splits, duals)),
        slices: slices(s),
        pacing: None,
        explore_candidates,
        judge: judge(policy),
        model_health: model_health(s),
    }
}

/// Exploration's candidates per leaf (`docs/learn.md`, "Exploration and
/// propensities"): the options of the leaf's `optimize` rule, other than
/// its own split plans, that every cell of the leaf can run and that keep
/// every row of the problem (SLOs as compiled, capacities) within its
/// slack under `a` when the declared `explore` share of the cell goes to
/// them. A row's slack is shared among the cells in proportion to their
/// weight, so all of them exploring at once stay within it: the row is
/// linear in the shares, and moving share `e` of cell `c` to option `o`
/// changes it by `w_c · e · (k_o − Σ x k)`, which must not exceed
/// `w_c · slack / W`. Empty without `learn { explore ... }`.
fn explore_candidates(
    s: &Solved,
    a: &Assignment,
    plans: &mut Plans,
    cell_leaf: &[u32],
    leaves: usize,
) -> Vec<Vec<u32>> {
    let policy = &s.policy;
    let Some(share) = policy
        .learn
        .explore
        .as_ref()
        .map(|e| e.share)
        .filter(|x| *x > 0.0)
    else {
        return Vec::new();
    };
    let part = &s.part;
    let total: f64 = part.cells.iter().map(|c| c.weight).sum::<f64>();
    let total = if total > 0.0 { total } else { 1.0 };
    let slack: Vec<f64> = s
        .coefs
        .iter()
        .zip(&s.rhs)
        .map(|(row, rhs)| (rhs - crate::optimize::row_value(part, row, a)).max(0.0))
        .collect();
    let mut per_leaf: Vec<Option<Vec<u32>>> = vec![None; leaves];
    for (c, cell) in part.cells.iter().enumerate() {
        let mut safe = Vec::new();
        if let PlanDef::Optimize { candidates, .. } = &policy.rules[cell.rule].plan {
            for (o, opt) in s.problem.options[c].iter().enumerate() {
                let Some(i) = opt.candidate else { continue };
                if a[c].get(o).is_some_and(|x| *x > 0.0) {
                    continue;
                }
                let mut v = Vec::new();
                plans.splits(policy, &candidates[i], 1.0, &mut v);
                let [one] = v.as_slice() else { continue };
                let keeps = s
                    .coefs
                    .iter()
                    .zip(&slack)
                    .zip(&s.rhs)
                    .all(|((row, sl), rhs)| {
                        let Some(k) = row.get(c) else { return true };
                        let now: f64 = a[c].iter().zip(k).map(|(x, k)| x * k).sum();
                        let change = share * (k.get(o).copied().unwrap_or(0.0) - now);
                        change <= sl / total + 1e-9 * rhs.abs().max(1.0)
                    });
                if keeps {
                    safe.push(one.plan);
                }
            }
        }
        let leaf = cell_leaf[c] as usize;
        per_leaf[leaf] = Some(match per_leaf[leaf].take() {
            None => safe,
            Some(before) => before.into_iter().filter(|p| safe.contains(p)).collect(),
        });
    }
    per_leaf
        .into_iter()
        .map(|plans| {
            let mut plans = plans.unwrap_or_default();
            plans.sort_unstable();
            plans.dedup();
            plans
        })
        .collect()
}

/// Each slice as a diagram over the partition: the cells are refined by
/// every slice's tests, so each piece is wholly in or out of a slice
/// (leaf 1 or 0), and the diagram keeps only the tests that decide it.
fn slices(s: &Solved) -> Vec<t::Slice> {
    let part = &s.part;
    s.policy
        .slices
        .iter()
        .enumerate()
        .map(|(i, slice)| {
            let pieces: Vec<(Cube, u32)> = part
                .pieces
                .iter()
                .map(|pc| {
                    let inside = part
                        .cells
                        .get(pc.cell)
                        .and_then(|c| c.slices.get(i))
                        .copied()
                        .unwrap_or(false);
                    (pc.cube.clone(), u32::from(inside))
                })
                .collect();
            let (root, nodes) = crate::diagram::build(&part.space, &part.order, pieces);
            t::Slice {
                name: slice.name.clone(),
                diagram: t::Diagram { root, nodes },
            }
        })
        .collect()
}

fn signals(policy: &Policy) -> Vec<t::Signal> {
    policy
        .signals
        .iter()
        .map(|s| t::Signal {
            name: s.name.clone(),
            kind: match &s.ty {
                SignalType::Bool => t::SignalKind::Bool,
                SignalType::Int => t::SignalKind::Int,
                SignalType::Tokens => t::SignalKind::Tokens,
                SignalType::Ratio => t::SignalKind::Ratio,
                SignalType::Duration => t::SignalKind::Duration,
                SignalType::Money => t::SignalKind::Money,
                SignalType::Enum(vs) => t::SignalKind::Enum {
                    variants: vs.clone(),
                },
            },
            source: match &s.source {
                SignalSource::Header(h) => t::Source::Header { name: h.clone() },
                SignalSource::Metadata(k) => t::Source::Metadata { key: k.clone() },
                SignalSource::Classifier {
                    name,
                    cost,
                    endpoint,
                    timeout,
                } => t::Source::Classifier {
                    name: name.clone(),
                    cost: cost.unwrap_or(0.0),
                    endpoint: endpoint.as_ref().map(endpoint_of),
                    timeout: *timeout,
                },
                SignalSource::Builtin | SignalSource::Unknown => t::Source::Builtin,
            },
            default: s.default.as_ref().map_or(0.0, value_f64),
        })
        .collect()
}

fn models(policy: &Policy) -> Vec<t::Model> {
    policy
        .models
        .iter()
        .map(|m| t::Model {
            name: m.name.clone(),
            provider: m.provider.clone(),
            endpoint: m.endpoint.as_ref().map(endpoint_of),
            upstream: m.upstream.clone(),
            api_key_env: match &m.api_key {
                Some(StrOrEnv::Env(v)) => Some(v.clone()),
                _ => None,
            },
            params: m
                .params
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        match v {
                            ParamValue::Str(s) | ParamValue::Word(s) => t::Param::String(s.clone()),
                            ParamValue::Number(x) => t::Param::Number(*x),
                            ParamValue::Bool(b) => t::Param::Bool(*b),
                            ParamValue::Env(v) => t::Param::String(format!("env(\"{v}\")")),
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            context_tokens: m.context,
            fallback: m.fallback.map(|f| f.0),
            price: t::Price {
                input_per_token: m.price.input_per_token,
                output_per_token: m.price.output_per_token,
                per_request: m.price.per_request,
            },
        })
        .collect()
}

fn endpoint_of(e: &StrOrEnv) -> t::Endpoint {
    match e {
        StrOrEnv::Str(u) => t::Endpoint::Url { url: u.clone() },
        StrOrEnv::Env(v) => t::Endpoint::Env { var: v.clone() },
    }
}

/// One leaf per (rule, splits), with the cell when only one cell uses it;
/// and each cell's leaf.
fn leaves(part: &Partition, splits: &[Vec<t::Split>]) -> (Vec<t::Leaf>, Vec<u32>) {
    let mut leaf_of: FastMap<(usize, Vec<(u32, u64)>), u32> = FastMap::default();
    let mut leaves: Vec<t::Leaf> = Vec::new();
    let mut leaf_cells: Vec<Vec<usize>> = Vec::new();
    let mut cell_leaf = Vec::with_capacity(part.cells.len());
    for (c, cell) in part.cells.iter().enumerate() {
        let key = (
            cell.rule,
            splits[c]
                .iter()
                .map(|s| (s.plan, s.share.to_bits()))
                .collect(),
        );
        let l = *leaf_of.entry(key).or_insert_with(|| {
            leaves.push(t::Leaf {
                rule: cell.rule as u32,
                cell: None,
                splits: splits[c].clone(),
            });
            leaf_cells.push(Vec::new());
            (leaves.len() - 1) as u32
        });
        leaf_cells[l as usize].push(c);
        cell_leaf.push(l);
    }
    for (l, cs) in leaf_cells.iter().enumerate() {
        if cs.len() == 1 {
            leaves[l].cell = Some(cs[0] as u32);
        }
    }
    (leaves, cell_leaf)
}

/// What the table was optimized for: the traffic's marginals, each cell's
/// share, splits and predicted figures, the overall prediction and the SLO
/// statuses.
fn assumed(
    s: &Solved,
    source: &str,
    a: &Assignment,
    splits: &[Vec<t::Split>],
    duals: &[Option<f64>],
) -> t::Assumed {
    let (policy, part, p) = (&s.policy, &s.part, &s.problem);
    let mcx = MetricsCx {
        part,
        p,
        ev: &s.ev,
        weights: score_weights(policy),
    };
    type Mix = Vec<(usize, u64, u64)>;
    let mut quantile_memo: FastMap<Mix, (t::Quantiles, t::Quantiles)> = FastMap::default();
    let cells: Vec<t::Cell> = part
        .cells
        .iter()
        .enumerate()
        .map(|(c, cell)| {
            let key: Vec<(usize, u64, u64)> = a[c]
                .iter()
                .enumerate()
                .filter(|(_, x)| **x > 0.0)
                .map(|(o, x)| (p.options[c][o].eval, x.to_bits(), cell.shift.to_bits()))
                .collect();
            let known = quantile_memo.get(&key).cloned();
            let m = mcx.metrics(&[c], a, known);
            quantile_memo
                .entry(key)
                .or_insert_with(|| (m.ttft.clone(), m.latency.clone()));
            t::Cell {
                predicate: cells::predicate(policy, &part.space, &cell.key),
                rule: cell.rule as u32,
                share: cell.weight,
                splits: splits[c].clone(),
                predicted: m,
            }
        })
        .collect();
    let all: Vec<usize> = (0..part.cells.len()).collect();
    let slos = p
        .rows
        .iter()
        .zip(slos::statuses(s, a))
        .enumerate()
        .map(|(k, (row, st))| t::SloStatus {
            constraint: slos::slo_label(policy, source, row),
            line: line_of(source, policy.slos[row.slo].span.start),
            value: st.value,
            limit: st.limit,
            ok: st.ok,
            dual: duals.get(k).copied().flatten(),
        })
        .collect();
    t::Assumed {
        traffic: s
            .traffic
            .name
            .clone()
            .unwrap_or_else(|| "uniform".to_string()),
        marginals: part
            .space
            .dims
            .iter()
            .map(|dim| marginal(dim, &s.traffic))
            .collect(),
        cells,
        predicted: mcx.metrics(&all, a, None),
        slos,
    }
}

fn faults(policy: &Policy) -> t::Faults {
    t::Faults {
        defaults: fault_settings(&policy.faults.defaults),
        per_model: policy
            .faults
            .overrides
            .iter()
            .map(|(m, f)| (policy.model(*m).name.clone(), fault_settings(f)))
            .collect(),
    }
}

fn learn(policy: &Policy) -> t::Learn {
    t::Learn {
        explore: policy.learn.explore.as_ref().map(|e| t::Explore {
            share: e.share,
            budget: e.budget.map(|b| b.0),
            period: e.budget.map(|b| period_name(b.1).to_string()),
        }),
        drift: policy
            .learn
            .drift
            .iter()
            .map(|d| t::Drift {
                measure: d.measure.clone(),
                threshold: d.threshold,
                window: d.window,
                action: match d.action {
                    DriftAction::Alert => "alert",
                    DriftAction::Freeze => "freeze",
                    DriftAction::Rollback => "rollback",
                    DriftAction::Refit => "refit",
                }
                .to_string(),
            })
            .collect(),
    }
}

/// `learn { judge MODEL sample ... }`.
fn judge(policy: &Policy) -> Option<t::Judge> {
    policy.learn.judge.as_ref().map(|j| t::Judge {
        model: j.model.0,
        sample: j
            .sample
            .iter()
            .map(|&(qps, share)| t::SamplePoint { qps, share })
            .collect(),
    })
}

/// The share of each bin of a dimension: from the recorded requests when
/// the profile is recorded, else from the signal's marginal.
fn marginal(dim: &routec_check::space::Dim, traffic: &Traffic) -> t::Marginal {
    let signal = dim.signal.0;
    let m = &traffic.marginals[dim.signal.index()];
    let column: Option<Vec<f64>> = traffic.rows.as_ref().map(|rows| {
        rows.values
            .iter()
            .filter_map(|r| r.get(dim.signal.index()).copied())
            .collect()
    });
    let share = |ok: &dyn Fn(f64) -> bool| -> Option<f64> {
        let col = column.as_ref()?;
        let n = col.len().max(1) as f64;
        Some(col.iter().filter(|x| ok(**x)).count() as f64 / n)
    };
    if !dim.ty.is_numeric() {
        return t::Marginal {
            signal,
            cuts: Vec::new(),
            shares: dim
                .atoms
                .iter()
                .map(|a| match a {
                    Atom::Value(v) => share(&|x| x == *v as f64).unwrap_or_else(|| m.atom(a)),
                    _ => m.atom(a),
                })
                .collect(),
        };
    }
    // Bins between the finite cut points of the atoms.
    let mut cuts: Vec<f64> = Vec::new();
    for a in &dim.atoms {
        match a {
            Atom::Int { hi: Some(h), .. } => cuts.push(*h as f64),
            Atom::Open { hi: Some(h), .. } => cuts.push(*h),
            _ => {}
        }
    }
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let (lo, hi) = dim.ty.domain();
    cuts.retain(|c| lo.is_none_or(|l| *c > l) && hi.is_none_or(|h| *c < h));
    let mut shares = Vec::with_capacity(cuts.len() + 1);
    let mut prev: Option<f64> = None;
    for c in cuts.iter().copied().map(Some).chain(std::iter::once(None)) {
        let p = share(&|x| prev.is_none_or(|l| x >= l) && c.is_none_or(|h| x < h))
            .unwrap_or_else(|| interval_mass(m, prev, c));
        shares.push(p);
        prev = c;
    }
    let total: f64 = shares.iter().sum();
    if total > 0.0 {
        shares.iter_mut().for_each(|s| *s /= total);
    }
    t::Marginal {
        signal,
        cuts,
        shares,
    }
}

fn interval_mass(m: &Marginal, lo: Option<f64>, hi: Option<f64>) -> f64 {
    // `[lo, hi)` as an open interval plus the point `lo`.
    let open = m.atom(&Atom::Open { lo, hi });
    let point = lo.map_or(0.0, |l| m.atom(&Atom::Point(l)));
    open + point
}

/// The optimizer's cells as [`CellInfo`]s: boxes, examples and figures.
pub(crate) fn cell_infos(s: &Solved, table: &t::Table) -> Vec<CellInfo> {
    let (policy, part, p, a) = (&s.policy, &s.part, &s.problem, &s.assign);
    let mut boxes: Vec<Vec<Vec<(usize, ValueSet)>>> = vec![Vec::new(); part.cells.len()];
    let mut examples: Vec<Vec<Vec<(usize, f64)>>> = vec![Vec::new(); part.cells.len()];
    for pc in &part.pieces {
        let mut b = Vec::new();
        for (d, set) in &pc.cube.dims {
            let dim = part.space.dim(*d);
            let vs = if dim.ty.is_numeric() {
                ValueSet::Ranges(
                    set.iter()
                        .map(|i| match dim.atoms[i] {
                            Atom::Int { lo, hi } => (
                                (lo != i64::MIN).then_some(lo as f64),
                                true,
                                hi.map(|h| h as f64),
                                false,
                            ),
                            Atom::Point(x) => (Some(x), true, Some(x), true),
                            Atom::Open { lo, hi } => (lo, false, hi, false),
                            Atom::Value(v) => (Some(v as f64), true, Some(v as f64), true),
                        })
                        .collect(),
                )
            } else {
                ValueSet::Values(set.iter().collect())
            };
            b.push((dim.signal.index(), vs));
        }
        boxes[pc.cell].push(b);
        examples[pc.cell].push(
            cells::example(&part.space, &pc.cube)
                .into_iter()
                .map(|(s, v)| (s.index(), value_f64(&v)))
                .collect(),
        );
    }
    let cells_out = table.assumed.as_ref().map(|x| &x.cells);
    part.cells
        .iter()
        .enumerate()
        .map(|(c, cell)| {
            let (mut k, mut q) = (0.0, 0.0);
            for (o, x) in a[c].iter().enumerate() {
                let e = &p.evals[p.options[c][o].eval];
                k += x * e.cost(cell.prompt_mean);
                q += x * e.quality;
            }
            CellInfo {
                rule: cell.rule,
                predicate: cells::predicate(policy, &part.space, &cell.key),
                weight: cell.weight,
                splits: cells_out
                    .and_then(|cs| cs.get(c))
                    .map(|x| x.splits.clone())
                    .unwrap_or_default(),
                boxes: std::mem::take(&mut boxes[c]),
                examples: std::mem::take(&mut examples[c]),
                cost: k,
                quality: q,
            }
        })
        .collect()
}

/// Answer lengths the per-model figures average over: the midpoints of
/// `HEALTH_POINTS` equal-probability slices of the profile's distribution.
const HEALTH_POINTS: usize = 200;

/// The figures the per-model drift monitors compare with (`docs/learn.md`,
/// "Per-model latency and error drift"), one entry per model; none without
/// a `drift ttft`, `drift latency` or `drift errors` monitor.
///
/// Each figure is of one attempt under the selected profile: its answer
/// lengths (`output_tokens`, [`HEALTH_POINTS`] equal-probability points)
/// and, when load is modelled, the model's latency and refusals at the
/// profile's `qps`. The p95s solve `P(T > t) = 5%` for `T = X + f(n)`
/// (`X` the declared TTFT with hedging, `f(n)` the decode time of the
/// reasoning, and for end to end also of the answer), ignoring the
/// truncation by timeouts (so slightly above the p95 of successful
/// attempts). The error rate is `throttle + (1 − throttle)(timeouts +
/// base errors)`, averaged over the answer lengths.
fn model_health(s: &Solved) -> Vec<t::ModelHealth> {
    let policy = &s.policy;
    if !policy.learn.drift.iter().any(|d| d.measure != "kl") {
        return Vec::new();
    }
    let output = s.traffic.output_dist();
    let lengths: Vec<f64> = (0..HEALTH_POINTS)
        .map(|k| output.isf((k as f64 + 0.5) / HEALTH_POINTS as f64))
        .collect();
    (0..policy.models.len())
        .map(|i| {
            let id = ModelId(i as u32);
            let mut attempt = model::AttemptModel::new(policy, id);
            if let Some(load) = s.load.get(i) {
                attempt = attempt.under(load);
            }
            let l = &policy.model(id).latency;
            let declared = !l.ttft.is_empty() || !l.total.is_empty();
            let decodes = !l.total.is_empty() || l.decode_rate.is_some();
            let ttft_p95 =
                declared.then(|| p95_of_sum(&attempt, &lengths, |n| attempt.reasoning_time(n)));
            let latency_p95 = (declared && decodes).then(|| {
                p95_of_sum(&attempt, &lengths, |n| {
                    attempt.reasoning_time(n) + attempt.latency.decode_time(n)
                })
            });
            let mut failures = 0.0;
            for &n in &lengths {
                let (timeouts, base) = attempt.failure(n);
                failures += timeouts + base;
            }
            let failures = failures / lengths.len() as f64;
            let throttle = attempt.throttle;
            t::ModelHealth {
                model: i as u32,
                ttft_p95: ttft_p95.filter(|x| x.is_finite() && *x > 0.0),
                latency_p95: latency_p95.filter(|x| x.is_finite() && *x > 0.0),
                error_rate: (throttle + (1.0 - throttle) * failures).clamp(0.0, 1.0),
            }
        })
        .collect()
}

/// The `t` with `P(X + f(n) > t) = 5%`, `X` the attempt's TTFT (hedge
/// included) and `n` uniform over `lengths`; the declared p95 itself when
/// `f` is 0 and there is no hedge.
fn p95_of_sum(attempt: &model::AttemptModel, lengths: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let shifts: Vec<f64> = lengths.iter().map(|&n| f(n).max(0.0)).collect();
    if attempt.hedge.is_none() && shifts.iter().all(|&d| d == 0.0) {
        return attempt.latency.ttft.quantile(0.95);
    }
    let exceed = |t: f64| -> f64 {
        shifts
            .iter()
            .map(|&d| attempt.ttft_exceedance((t - d).max(model::MIN_SECONDS)))
            .sum::<f64>()
            / shifts.len() as f64
    };
    // Bracket the answer, then bisect in log time (exceedance decreases).
    let mut lo = model::MIN_SECONDS;
    let mut hi = attempt.latency.ttft.quantile(0.95).max(model::MIN_SECONDS)
        + shifts.iter().copied().fold(0.0, f64::max);
    let mut grow = 0;
    while exceed(hi) > 0.05 && grow < 60 {
        hi *= 2.0;
        grow += 1;
    }
    for _ in 0..100 {
        let mid = (lo * hi).sqrt();
        if exceed(mid) > 0.05 {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi / lo < 1.0 + 1e-9 {
            break;
        }
    }
    hi
}
